"""Drum patterns from Debian's hydrogen-data (.h2song) and lmms-common (.mmp/.mmpz) as drum-track Scores.

Hydrogen songs hold named patterns and a pattern sequence; LMMS projects hold beat/bassline
patterns and song-editor tracks that play drum samples. Each non-empty pattern becomes a work, and
so does each whole song's drum part. Instruments are mapped to General MIDI drum notes from their
names (hydrogen) or sample file names (LMMS); instruments no rule recognises are skipped and counted.
LMMS's audio beat loops (samples/beats/*.ogg) and synth presets hold no note data and are not used.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np

from melodex.data.convert import Converted
from melodex.score import DRUM_PROGRAM, MAX_BPM, MIN_BPM, TPQ, Score, Tempo, TimeSignature, Track

SOURCE_TPQ = 48  # both hydrogen and LMMS count 48 ticks per quarter note (192 per 4/4 bar)
HIT_TICKS = TPQ // 4  # drum hits have no length in these formats; a sixteenth note is written
MIN_SONG_NOTES = 16

# Name fragments -> GM drum note, first match wins (so "snare rim" is found before "snare").
DRUM_RULES: tuple[tuple[str, int], ...] = (
    (r"rim|stick", 37),
    (r"foot|pedal", 44),
    (r"(?<![a-z])hat.?o|hihat.?o|\bhh.?o|open", 46),
    (r"(?<![a-z])hats?|hihat|lighthat|\bhh\b", 42),
    (r"kick|kik|bass.?drum|\bbd\b|bassdrum|\bk 8bit|boom", 36),
    (r"snare|snr|\bsn\b|\bsd\b|\bs 8bit", 38),
    (r"clap", 39),
    (r"floor|tom.?l|low.?tom|tom_low|tom 3", 41),
    (r"tom.?m|mid.?tom|tom_mid|tom 2", 45),
    (r"tom.?h|hi.?tom|tom_hi|tom 1|tom", 48),
    (r"ride.?bell|\bbell\b", 53),
    (r"ride", 51),
    (r"crash|cymbal|cym", 49),
    (r"splash", 55),
    (r"china", 52),
    (r"cowbell", 56),
    (r"tamb", 54),
    (r"shaker|maraca", 70),
    (r"cabasa", 69),
    (r"clav", 75),
    (r"conga.?l|cga1", 64),
    (r"conga|cga", 63),
    (r"bongo", 60),
    (r"wood|block", 76),
    (r"triangle", 81),
    (r"agogo", 67),
    (r"timbale", 65),
    (r"guiro", 73),
)
DRUM_NAMES = {
    36: "kick",
    37: "side stick",
    38: "snare",
    39: "hand clap",
    41: "low tom",
    42: "closed hi-hat",
    44: "pedal hi-hat",
    45: "mid tom",
    46: "open hi-hat",
    48: "high tom",
    49: "crash",
    51: "ride",
    52: "china",
    53: "ride bell",
    54: "tambourine",
    55: "splash",
    56: "cowbell",
    60: "bongo",
    63: "conga",
    64: "low conga",
    65: "timbale",
    67: "agogo",
    69: "cabasa",
    70: "shaker",
    73: "guiro",
    75: "claves",
    76: "wood block",
    81: "triangle",
}
STYLE_WORDS = (
    ("reggaeton", "reggaeton"),
    ("reggae", "reggae"),
    ("jazz", "jazz"),
    ("diddley", "rock and roll"),
    ("808", "electronic"),
    ("house", "house"),
    ("crunk", "hip hop"),
    ("hiphop", "hip hop"),
    ("georgyporgy", "pop"),
    ("club", "club"),
    ("progress", "progressive"),
    ("trance", "trance"),
    ("c64", "chiptune"),
    ("80s", "80s rock"),
    ("rock", "rock"),
)


def drum_note(name: str) -> int | None:
    """GM drum note for an instrument or sample name, or None if no rule recognises it."""
    # Sample paths keep their folder ("drumsynth/misc_hats/sleepy_1.ds" is a hi-hat), not the suffix.
    lowered = str(Path(name).with_suffix("")) if "/" in name else name
    lowered = lowered.lower().replace("_", " ").replace("-", " ")
    for pattern, note in DRUM_RULES:
        if re.search(pattern, lowered):
            return note
    return None


def drum_sources(hydrogen_dir: Path, lmms_dir: Path) -> list[tuple[str, str, Path]]:
    """(collection, kind, path) of every drum source file installed, in a fixed order."""
    found: list[tuple[str, str, Path]] = []
    for path in sorted((hydrogen_dir / "demo_songs").glob("*.h2song")):
        found.append(("hydrogen", "hydrogen", path))
    for pattern in ("*.mmp", "*.mmpz", "*.mpt"):
        for path in sorted((lmms_dir / "projects").rglob(pattern)):
            found.append(("lmms", "lmms", path))
    return found


def _style(*names: str) -> str:
    text = " ".join(names).lower()
    for word, style in STYLE_WORDS:
        if word in text:
            return style
    return ""


def _pattern_kind(name: str) -> str:
    return "drum fill" if re.search(r"fill|break|roll|end|intro", name.lower()) else "drum pattern"


def _meter_for(length_ticks: int) -> TimeSignature:
    for denominator in (4, 8, 16):
        unit = TPQ * 4 // denominator
        if length_ticks % unit == 0 and 1 <= length_ticks // unit <= 32:
            return TimeSignature(length_ticks // unit, denominator)
    return TimeSignature(4, 4)


def _drum_score(hits: list[tuple[int, int, int]], bpm: float, meters: list[TimeSignature], length: int) -> Score:
    """A one-track drum Score from (tick, GM note, velocity) hits; `length` is the whole span in ticks."""
    notes = np.array([[t, HIT_TICKS, n, v] for t, n, v in hits], dtype=np.int64).reshape(-1, 4)
    if len(notes):
        order = np.lexsort((notes[:, 2], notes[:, 0]))
        notes = notes[order]
        keep = np.ones(len(notes), dtype=bool)
        keep[1:] = (notes[1:, 0] != notes[:-1, 0]) | (notes[1:, 2] != notes[:-1, 2])
        notes = notes[keep]
    score = Score(
        tracks=[Track(program=DRUM_PROGRAM, role="drums", name="drums", notes=notes)],
        tempos=[Tempo(float(min(MAX_BPM, max(MIN_BPM, bpm))))],
        time_signatures=meters,
    )
    n_bars = 1
    while score.bar_starts(n_bars)[-1] < length:
        n_bars += 1
    score.n_bars = n_bars
    return score


def _converted(score: Score, facts: dict[str, Any]) -> Converted:
    return Converted(
        score,
        {
            "tempo_source": "source",
            "key_source": "none",
            "meter": str(score.meter),
            "program_sources": ["source"],
            **facts,
        },
    )


def _meta(title: str, style: str, score: Score) -> dict[str, Any]:
    used = sorted({int(n) for n in score.tracks[0].notes[:, 2]})
    return {
        "title": title,
        "style": style,
        "composer": "",
        "origin": "",
        "rhythm_field": "",
        "drum_instruments": [DRUM_NAMES.get(n, f"drum {n}") for n in used],
    }


# -- hydrogen --------------------------------------------------------------------------------------


def parse_hydrogen(path: Path) -> Iterator[tuple[str, dict[str, Any], Converted]]:
    """Works of one .h2song: each non-empty pattern, then the whole song in pattern-sequence order."""
    root = ElementTree.parse(path).getroot()
    bpm = float(root.findtext("bpm") or 120)
    song_name = root.findtext("name") or path.stem
    instruments: dict[str, int | None] = {}
    for instrument in root.iter("instrument"):
        if instrument.find("id") is not None and instrument.find("name") is not None:
            instruments[instrument.findtext("id") or ""] = drum_note(instrument.findtext("name") or "")
    genre = _style(path.stem, song_name)
    patterns: dict[str, tuple[list[tuple[int, int, int]], int, TimeSignature]] = {}
    unmapped = 0
    for pattern in root.iter("pattern"):
        name = pattern.findtext("name") or f"pattern {len(patterns) + 1}"
        size = int(pattern.findtext("size") or 192) * TPQ // SOURCE_TPQ
        hits = []
        for note in pattern.iter("note"):
            drum = instruments.get(note.findtext("instrument") or "")
            if drum is None:
                unmapped += 1
                continue
            tick = int(float(note.findtext("position") or 0)) * TPQ // SOURCE_TPQ
            velocity = max(1, min(127, round(float(note.findtext("velocity") or 0.8) * 127)))
            if tick < size:
                hits.append((tick, drum, velocity))
        patterns[name] = (hits, size, _meter_for(size))
    for name, (hits, size, meter) in patterns.items():
        if not hits:
            continue
        score = _drum_score(hits, bpm, [meter], size)
        style = f"{genre} {_pattern_kind(name)}".strip()
        yield (
            f"hydrogen/{path.name}#{name}",
            _meta(name, style, score),
            _converted(score, {"skipped_unpitched": unmapped}),
        )
    # The whole song: each sequence column plays its patterns together for the longest one's length.
    song_hits: list[tuple[int, int, int]] = []
    meters: list[TimeSignature] = []
    tick = 0
    for group in root.iter("group"):
        ids = [p.text or "" for p in group.iter("patternID") if (p.text or "") in patterns]
        if not ids:
            continue
        length = max(patterns[i][1] for i in ids)
        meter = _meter_for(length)
        if not meters or (meters[-1].numerator, meters[-1].denominator) != (meter.numerator, meter.denominator):
            meters.append(TimeSignature(meter.numerator, meter.denominator, tick))
        for pattern_id in ids:
            song_hits.extend((tick + t, n, v) for t, n, v in patterns[pattern_id][0])
        tick += length
    if len(song_hits) >= MIN_SONG_NOTES and meters:
        score = _drum_score(song_hits, bpm, meters, tick)
        yield (
            f"hydrogen/{path.name}#song",
            _meta(song_name, f"{genre} drum part".strip(), score),
            _converted(score, {"skipped_unpitched": unmapped}),
        )


# -- LMMS ------------------------------------------------------------------------------------------


def read_lmms(path: Path) -> ElementTree.Element:
    """The XML of an LMMS project; .mmpz is zlib-compressed behind a 4-byte length header."""
    data = path.read_bytes()
    if path.suffix == ".mmpz":
        data = zlib.decompress(data[4:])
    return ElementTree.fromstring(data)


def _lmms_drum(track: ElementTree.Element) -> int | None:
    """GM drum note of an LMMS instrument track, from its sample file or name; None if not a drum."""
    sample = track.find(".//audiofileprocessor")
    if sample is not None:
        src = sample.get("src", "")
        if not re.match(r"(drums|drumsynth)/", src):
            return None
        return drum_note(src) or drum_note(track.get("name", ""))
    plugin = track.find("instrumenttrack/instrument")
    if plugin is not None and plugin.get("name") == "kicker":
        return 36 if re.search(r"kick|bd|drum", track.get("name", "").lower()) else None
    return None


def _lmms_hits(pattern: ElementTree.Element, drum: int, offset: int) -> list[tuple[int, int, int]]:
    hits = []
    for note in pattern.iter("note"):
        tick = offset + int(float(note.get("pos", 0))) * TPQ // SOURCE_TPQ
        volume = float(note.get("vol", 100))
        hits.append((tick, drum, max(1, min(127, round(volume / 200 * 127 + 16)))))
    return hits


def parse_lmms(path: Path) -> Iterator[tuple[str, dict[str, Any], Converted]]:
    """Works of one LMMS project: each beat/bassline pattern with drum notes, then the song's drums."""
    root = read_lmms(path)
    head = root.find("head")
    bpm = float(head.get("bpm", 140)) if head is not None else 140.0
    numerator = int(head.get("timesig_numerator", 4)) if head is not None else 4
    denominator = int(head.get("timesig_denominator", 4)) if head is not None else 4
    try:
        meter = TimeSignature(numerator, denominator)
    except ValueError:
        meter = TimeSignature(4, 4)
    song = root.find("song/trackcontainer")
    if song is None:
        return
    genre = _style(path.stem)
    bar = meter.bar_ticks
    beat_tracks = [t for t in song.findall("track") if t.get("type") == "1"]
    skipped = 0
    # LMMS keeps every beat-editor instrument in the first beat track's container, each with one
    # pattern per beat track (at position index * 192, or simply the index-th pattern).
    containers = [c for b in beat_tracks if (c := b.find("bbtrack/trackcontainer")) is not None]
    instruments = [i for c in containers for i in c.findall("track")]
    skipped = 0
    for index, beat in enumerate(beat_tracks):
        name = beat.get("name", f"beat {index}")
        hits: list[tuple[int, int, int]] = []
        length = bar
        for instrument in instruments:
            patterns = instrument.findall("pattern")
            chosen = [p for p in patterns if int(float(p.get("pos", -1))) == index * 192]
            if not chosen and index < len(patterns):
                chosen = [patterns[index]]
            drum = _lmms_drum(instrument)
            for pattern in chosen:
                if drum is None:
                    skipped += len(pattern.findall("note"))
                    continue
                length = max(length, int(pattern.get("steps", 16)) * TPQ // 4)
                hits.extend(_lmms_hits(pattern, drum, 0))
        hits = [h for h in hits if h[0] < length]
        if hits:
            score = _drum_score(hits, bpm, [meter], length)
            style = f"{genre} {_pattern_kind(name)}".strip()
            yield (
                f"lmms/{path.name}#{name}~{index}",
                _meta(name, style, score),
                _converted(score, {"skipped_unpitched": skipped}),
            )
    song_hits: list[tuple[int, int, int]] = []
    end = 0
    for track in song.findall("track"):
        if track.get("type") != "0":
            continue
        drum = _lmms_drum(track)
        if drum is None:
            continue
        for pattern in track.findall("pattern"):
            offset = int(float(pattern.get("pos", 0))) * TPQ // SOURCE_TPQ
            pattern_hits = _lmms_hits(pattern, drum, offset)
            song_hits.extend(pattern_hits)
            if pattern_hits:
                end = max(end, max(h[0] for h in pattern_hits) + HIT_TICKS)
    if len(song_hits) >= MIN_SONG_NOTES:
        score = _drum_score(song_hits, bpm, [meter], end)
        yield (
            f"lmms/{path.name}#song",
            _meta(path.stem, f"{genre} drum part".strip(), score),
            _converted(score, {"skipped_unpitched": skipped}),
        )


def convert_drum_file(path: Path, collection: str, relpath: str) -> Iterator[tuple[str, dict[str, Any], Converted]]:
    """Works of one drum source file (hydrogen or LMMS), as (id, metadata, converted score)."""
    if collection == "hydrogen":
        yield from parse_hydrogen(path)
    else:
        yield from parse_lmms(path)


# -- grooves -----------------------------------------------------------------------------------------

KICKS = frozenset((35, 36))
BACKBEAT_DRUMS = frozenset((37, 38, 39, 40))  # side stick, snares, hand clap
ON_BEAT = TPQ // 8  # a hit within a 32nd of the beat is on it
# Styles of the prompt parser whose grooves have a backbeat, or four on the floor (`brief.STYLES`): the
# structure model's own styles, and the named styles it plays as one of them, by what a listener expects
# of the named style (drum and bass has its snare on 2 and 4 although the model plays it as house; trap and
# dubstep are half-time, with the snare on 3, so neither set holds them).
BACKBEAT_STYLES = frozenset(("pop", "rock", "funk", "hip hop", "lo-fi", "synthwave", "country", "blues",
                             "chiptune", "drum and bass", "metal", "punk", "k-pop", "ballad", "soul"))
FOUR_ON_THE_FLOOR_STYLES = frozenset(("house", "trance", "techno"))


def hits_on(notes: np.ndarray, drums: frozenset[int], tick: int) -> bool:
    """Whether one of `drums` starts within a 32nd of `tick` (notes: rows of start, duration, pitch, velocity)."""
    onsets = notes[np.isin(notes[:, 2], list(drums)), 0]
    return bool(np.any(np.abs(onsets - tick) <= ON_BEAT))


def has_backbeat(notes: np.ndarray, lo: int, n_beats: int, beat: int) -> bool:
    """A snare, side stick or clap on beats 2 and 4 (beat 2 in two-beat bars) of the bar starting at `lo`."""
    return n_beats in (2, 4) and all(hits_on(notes, BACKBEAT_DRUMS, lo + b * beat) for b in range(1, n_beats, 2))


def has_four_on_the_floor(notes: np.ndarray, lo: int, n_beats: int, beat: int) -> bool:
    """A kick on every beat of the four-beat bar starting at `lo`."""
    return n_beats == 4 and all(hits_on(notes, KICKS, lo + b * beat) for b in range(4))


def fits_style(notes: np.ndarray, bar_ticks: int, style: str) -> bool:
    """Whether one bar of drums (ticks from the bar's start) is a groove of `style`: backbeat styles want the
    backbeat and a kick on the one, house four on the floor; other styles take no loop from the bank."""
    n_beats = bar_ticks // TPQ
    if style in BACKBEAT_STYLES:
        return has_backbeat(notes, 0, n_beats, TPQ) and hits_on(notes, KICKS, 0)
    if style in FOUR_ON_THE_FLOOR_STYLES:
        return has_four_on_the_floor(notes, 0, n_beats, TPQ)
    return False
