"""Reading and writing Standard MIDI Files as `Score`s, through symusic.

A Melodex file is clean in a DAW and still keeps everything a `Score` holds. Tracks are named after
their instrument and start with their volume (CC7) and pan (CC10) as the mix places them; the marker
lane holds the sections as a producer names them ("Intro", "Verse 1", "Chorus") and, if asked, the
chords; the key is a key signature. What only Melodex needs (track roles, exact tempos, the form, the
chord symbols, the bar count) travels as one sequencer-specific meta event (FF 7F) at the start of the
first track: manufacturer id 0x7D (non-commercial), the bytes "melodex", then JSON (`META_FORMAT`).
DAWs ignore it. Files from before it (format 1: "melodex:1", "track:...", "section:..." markers) still
read. Plain third-party MIDI reads too: roles are guessed and the key defaults to C major.

Why reading and writing stay in one file (~540 lines): they are the two halves of one format and
lean on each other's helpers. Reading matches tracks back to the meta event by `track_label`, which
writing names them with; writing keeps a tempo exact in the meta event only where `_bpm_from_mspq`
(reading's rounding) would not give it back; `META_FORMAT`, the marker labels and the key signature's
sharps are defined once for both. A change to the format is a change to this one file.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from melodex.errors import MelodexError
from melodex.instruments import program_name
from melodex.score import (
    DRUM_PROGRAM,
    DUR,
    PITCH,
    PITCH_CLASSES,
    ROLES,
    START,
    TPQ,
    VEL,
    ChordSymbol,
    Key,
    Score,
    ScoreError,
    Section,
    Tempo,
    TimeSignature,
    Track,
)

FORMAT_VERSION = 1
# Format 1 (read only): marker prefixes; every such file starts with "melodex:1".
MELODEX, TRACK, SECTION, CHORD, BARS, EXACT_TEMPO = "melodex:", "track:", "section:", "chord:", "n_bars:", "tempo:"
# Format 2: the sequencer-specific meta event's payload is META_PREFIX + JSON with "format": META_FORMAT.
META_FORMAT = 2
META_PREFIX = b"\x7dmelodex"
_META_EVENT = re.compile(rb"\xff\x7f([\x80-\xff]{0,3}[\x00-\x7f])" + re.escape(META_PREFIX))
REEXPORT = "re-export it from your DAW or notation program"
MAX_READ_BARS = 4096  # ~2.7 hours at 4/4 and 100 BPM
GM_BASSES = range(32, 40)  # General MIDI's bass family: acoustic, electric, fretless, slap, synth


class MidiError(MelodexError):
    """A MIDI file cannot be read or written; the message names the file and what to do."""


@dataclass(frozen=True)
class _TrackEntry:
    """One Melodex track as its marker describes it (empty tracks have no MIDI notes to carry them)."""

    program: int
    n_notes: int
    role: str
    name: str


# -- reading ----------------------------------------------------------------------------------------


def read_midi(path: str | Path) -> Score:
    """Read a MIDI file into a Score at TPQ ticks per quarter.

    Raises MidiError, one clear line, for anything that is not a readable MIDI file with notes.
    """
    path = Path(path)
    if not path.exists():
        raise MidiError(f"{path} does not exist")
    if not path.is_file():
        raise MidiError(f"{path} is not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MidiError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return read_midi_bytes(data, name=path.name)


def read_midi_bytes(data: bytes, name: str = "the MIDI data") -> Score:
    """Like `read_midi`, from the bytes of a file; `name` is used in error messages."""
    import symusic

    if len(data) < 14:
        raise MidiError(f"{name} is not a readable MIDI file (too short for a MIDI header): {REEXPORT}")
    if not data.startswith(b"MThd"):
        what = "a text file" if _looks_like_text(data) else "no MIDI header"
        raise MidiError(f"{name} is not a readable MIDI file ({what}): {REEXPORT}")
    try:
        raw: Any = symusic.Score.from_midi(data)
    except Exception as exc:  # symusic raises RuntimeError/ValueError with its parser's message
        raise MidiError(f"{name} is not a readable MIDI file ({_reason(str(exc))}): {REEXPORT}") from exc
    if raw.tpq <= 0:
        raise MidiError(f"{name} is not a readable MIDI file (SMPTE time division is not supported): {REEXPORT}")
    if raw.tpq != TPQ:
        raw = raw.resample(TPQ, min_dur=1)
    if raw.note_num() == 0:
        raise MidiError(f"{name} has no notes: nothing to read")
    meta = _read_meta(data, name)
    try:
        score = _to_score(raw, name) if meta is None else _meta_score(raw, meta, name)
    except ScoreError as exc:
        raise MidiError(f"{name}: {exc}") from exc
    _check_length(score, name)
    return score


def _looks_like_text(data: bytes) -> bool:
    sample = data[:512]
    return all(32 <= b < 127 or b in (9, 10, 13) for b in sample)


def _reason(message: str) -> str:
    message = message.removeprefix("MiniMidi: ").removesuffix(": iostream error").strip()
    lowered = message.lower()
    if any(word in lowered for word in ("chunk length", "unexpected end", "eof", "out of range")):
        return "truncated track chunk"
    if "mthd" in lowered or "header" in lowered:
        return "bad MIDI header"
    return message or "unknown parser error"


def _to_score(raw: Any, name: str) -> Score:
    markers = [(int(m.time), str(m.text)) for m in raw.markers]
    version = next((text[len(MELODEX) :] for _, text in markers if text.startswith(MELODEX)), None)
    if version is not None and version != str(FORMAT_VERSION):
        raise MidiError(f"{name} was written by a newer Melodex (format {version}); upgrade Melodex to read it")

    try:
        tempos = _tempos(raw, markers, name)
    except ValueError as exc:
        raise _malformed(name, next((t for _, t in markers if t.startswith(EXACT_TEMPO)), "")) from exc
    meters = _time_signatures(raw, name)
    key = _key(raw)
    raw_tracks = [t for t in raw.tracks if len(t.notes)]
    tracks = None
    if version is not None:
        try:
            tracks = _melodex_tracks(raw_tracks, markers)
        except ValueError as exc:
            raise _malformed(name, next((t for _, t in markers if t.startswith(TRACK)), "")) from exc
    if tracks is None:
        tracks = _plain_tracks(raw_tracks)

    score = Score(tracks=tracks, tempos=tempos, time_signatures=meters, key=key)
    for tick, text in markers:
        try:
            if text.startswith(SECTION):
                section_name, start_bar, n_bars = text[len(SECTION) :].rsplit(":", 2)
                score.sections.append(Section(section_name, int(start_bar), int(n_bars)))
            elif text.startswith(CHORD):
                score.chords.append(_parse_chord(tick, text[len(CHORD) :]))
            elif text.startswith(BARS):
                score.n_bars = int(text[len(BARS) :])
        except ValueError as exc:  # ScoreError is a ValueError too
            raise _malformed(name, text) from exc
    score.sections.sort(key=lambda s: s.start_bar)
    score.chords.sort(key=lambda c: c.tick)
    return score


def _read_meta(data: bytes, name: str) -> dict | None:
    """The Melodex meta event's JSON, or None when the file has none (not ours, or re-saved by a DAW)."""
    found = _META_EVENT.search(data)
    if found is None:
        return None
    length = 0
    for byte in found.group(1):
        length = (length << 7) | (byte & 0x7F)
    start = found.end()
    payload = data[start : start + length - len(META_PREFIX)]
    try:
        meta = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MidiError(f"{name} has a damaged Melodex meta event ({exc}): {REEXPORT}") from exc
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        version = meta.get("format") if isinstance(meta, dict) else None
        raise MidiError(f"{name} was written by a newer Melodex (format {version}); upgrade Melodex to read it")
    return meta


def _meta_score(raw: Any, meta: dict, name: str) -> Score:
    """A Melodex file from its meta event: tracks, exact tempos, form, chords and bar count."""
    try:
        exact = {int(tick): float(bpm) for tick, bpm in meta.get("tempos", [])}
        entries = [_TrackEntry(int(t["program"]), int(t["notes"]), str(t["role"]), str(t["name"]))
                   for t in meta["tracks"]]
        sections = [Section(str(n), int(a), int(b)) for n, a, b in meta.get("sections", [])]
        chords = [_parse_chord(int(tick), str(symbol)) for tick, symbol in meta.get("chords", [])]
        n_bars = meta.get("n_bars")
    except (KeyError, TypeError, ValueError) as exc:
        raise MidiError(f"{name} has a malformed Melodex meta event ({exc}): {REEXPORT}") from exc
    raw_tracks = [t for t in raw.tracks if len(t.notes)]
    tracks = _matched_tracks(raw_tracks, entries, track_label)
    if tracks is None:
        tracks = _plain_tracks(raw_tracks)
    score = Score(tracks=tracks, tempos=_tempos_from(raw, exact, name), time_signatures=_time_signatures(raw, name),
                  key=_key(raw), sections=sorted(sections, key=lambda s: s.start_bar),
                  chords=sorted(chords, key=lambda c: c.tick), n_bars=int(n_bars or 0))
    return score


def _check_length(score: Score, name: str) -> None:
    """Refuse a file longer than MAX_READ_BARS before anything works bar by bar or renders it (a tiny
    file can place one note hours in)."""
    end = max((t.end_tick for t in score.tracks), default=0)
    shortest = min(s.bar_ticks for s in score.time_signatures)
    bars = max(score.n_bars or 0, max((s.end_bar for s in score.sections), default=0), end // max(shortest, 1))
    if bars > MAX_READ_BARS:
        raise MidiError(f"{name} reaches bar {bars:,} or beyond; Melodex reads at most {MAX_READ_BARS:,} bars: "
                        "trim the file")


def _malformed(name: str, text: str) -> MidiError:
    return MidiError(f"{name} has a malformed Melodex marker {text[:60]!r}: {REEXPORT}")


def _tempos(raw: Any, markers: list[tuple[int, str]], name: str) -> list[Tempo]:
    exact = {}
    for _, text in markers:
        if text.startswith(EXACT_TEMPO):
            tick_text, bpm_text = text[len(EXACT_TEMPO) :].split(":")
            exact[int(tick_text)] = float(bpm_text)
    return _tempos_from(raw, exact, name)


def _tempos_from(raw: Any, exact: dict[int, float], name: str) -> list[Tempo]:
    """The file's tempo events, each at its exact BPM where the file records one."""
    by_tick: dict[int, float] = {}
    for event in raw.tempos:
        tick = int(event.time)
        by_tick[tick] = exact.get(tick, _bpm_from_mspq(int(event.mspq)))  # the last event at a tick wins
    by_tick.setdefault(0, 120.0)  # the MIDI default when a file sets no tempo at its start
    tempos = []
    for tick, bpm in sorted(by_tick.items()):
        try:
            tempos.append(Tempo(bpm, tick))
        except ScoreError as exc:
            raise MidiError(f"{name}: at tick {tick}, {exc}; fix the tempo and re-export") from exc
    return tempos


def _bpm_from_mspq(mspq: int) -> float:
    """The shortest decimal BPM that encodes to this microseconds-per-quarter, so 97 BPM reads as 97.0."""
    if mspq <= 0:
        return math.inf
    qpm = 60_000_000 / mspq
    for digits in range(7):
        candidate = round(qpm, digits)
        if candidate > 0 and _mspq(candidate) == mspq:
            return float(candidate)
    return qpm


def _mspq(bpm: float) -> int:
    return max(1, min(0xFFFFFF, round(60_000_000 / bpm)))


def _time_signatures(raw: Any, name: str) -> list[TimeSignature]:
    by_tick: dict[int, tuple[int, int]] = {}
    for event in raw.time_signatures:
        by_tick[int(event.time)] = (int(event.numerator), int(event.denominator))
    by_tick.setdefault(0, (4, 4))
    meters = []
    for tick, (numerator, denominator) in sorted(by_tick.items()):
        try:
            meters.append(TimeSignature(numerator, denominator, tick))
        except ScoreError as exc:
            raise MidiError(f"{name}: at tick {tick}, {exc}; fix the time signature and re-export") from exc
    return meters


def _key(raw: Any) -> Key:
    for event in raw.key_signatures:
        sharps, minor = int(event.key), int(event.tonality)
        if -7 <= sharps <= 7 and minor in (0, 1):
            major_tonic = (sharps * 7) % 12
            return Key((major_tonic + 9) % 12, "minor") if minor else Key(major_tonic, "major")
    return Key(0, "major")


def _sharps(key: Key) -> int:
    major_tonic = key.tonic if key.mode == "major" else (key.tonic + 3) % 12
    sharps = (major_tonic * 7) % 12
    # Spelled as PITCH_CLASSES spells the tonic: Db major (5 flats) not C#, F# major but Eb minor.
    if sharps > 6 or (sharps == 6 and key.mode == "minor"):
        sharps -= 12
    return sharps


def _parse_chord(tick: int, symbol: str) -> ChordSymbol:
    root = max((pc for pc in PITCH_CLASSES if symbol.startswith(pc)), key=len, default=None)
    if root is None:
        raise ScoreError(f"chord symbol {symbol!r} does not start with a pitch class")
    quality = symbol[len(root) :] or "maj"
    return ChordSymbol(tick, PITCH_CLASSES.index(root), quality)


def _notes(raw_track: Any) -> np.ndarray:
    columns = raw_track.notes.numpy()
    notes = np.stack([columns["time"], columns["duration"], columns["pitch"], columns["velocity"]], axis=1).astype(
        np.int64
    )
    # Zero-length notes (drum hits written as on+off at one tick) keep one tick so they still sound.
    notes[:, DUR] = np.maximum(notes[:, DUR], 1)
    notes[:, VEL] = np.clip(notes[:, VEL], 1, 127)
    notes[:, START] = np.maximum(notes[:, START], 0)
    return notes


def _apply_sustain(notes: np.ndarray, raw_track: Any) -> np.ndarray:
    """Hold notes released under the sustain pedal until the pedal lifts (or the key is struck again)."""
    pedals = [(int(p.time), int(p.time) + int(p.duration)) for p in raw_track.pedals]
    if not pedals or len(notes) == 0:
        return notes
    notes = notes.copy()
    ends = notes[:, START] + notes[:, DUR]
    for down, up in pedals:
        held = (ends >= down) & (ends < up)
        ends[held] = up
    # A re-struck key cuts the pedalled note: never overlap the next note of the same pitch.
    order = np.lexsort((notes[:, START], notes[:, PITCH]))
    for a, b in itertools.pairwise(order):
        if notes[a, PITCH] == notes[b, PITCH] and ends[a] > notes[b, START] >= notes[a, START] + notes[a, DUR]:
            ends[a] = notes[b, START]
    notes[:, DUR] = np.maximum(ends - notes[:, START], 1)
    return notes


def _plain_tracks(raw_tracks: list[Any]) -> list[Track]:
    """Tracks of a file Melodex did not write: roles from "role|name" track names when present,
    otherwise guessed. Drum kits are drums and GM bass programs bass; of the other parts the highest
    (by mean pitch) is the melody, the lowest the bass (if there is none yet), the rest harmony."""
    parts = []
    for raw_track in raw_tracks:
        notes = _notes(raw_track)
        if not raw_track.is_drum:
            notes = _apply_sustain(notes, raw_track)
        program = DRUM_PROGRAM if raw_track.is_drum else int(raw_track.program)
        label = str(raw_track.name).strip()
        role, _, track_name = label.partition("|")
        if not (track_name and role in ROLES):
            role, track_name = "", label
        parts.append((program, role, track_name, notes))
    for i, (program, role, track_name, notes) in enumerate(parts):
        if not role and program != DRUM_PROGRAM and program in GM_BASSES:
            parts[i] = (program, "bass", track_name, notes)
    unnamed = sorted(
        (i for i, (program, role, _, _) in enumerate(parts) if program != DRUM_PROGRAM and not role),
        key=lambda i: float(parts[i][3][:, PITCH].mean()),
    )
    has_bass = any(role == "bass" for _, role, _, _ in parts)
    tracks = []
    for i, (program, role, track_name, notes) in enumerate(parts):
        if not role:
            if program == DRUM_PROGRAM:
                role = "drums"
            elif i == unnamed[-1]:
                role = "melody"
            elif i == unnamed[0] and not has_bass:
                role = "bass"
            else:
                role = "harmony"
        tracks.append(Track(program, role=role, name=track_name, notes=notes))
    return tracks


def _melodex_tracks(raw_tracks: list[Any], markers: list[tuple[int, str]]) -> list[Track] | None:
    """Rebuild a format-1 file's tracks, empty ones included, from its track markers."""
    entries = []
    for _, text in markers:
        if text.startswith(TRACK):
            index, program, n_notes, label = text[len(TRACK) :].split(":", 3)
            role, _, track_name = label.partition("|")
            entries.append((int(index), _TrackEntry(int(program), int(n_notes), role, track_name)))
    entries.sort(key=lambda e: e[0])
    return _matched_tracks(raw_tracks, [e for _, e in entries], lambda e: f"{e.role}|{e.name}")


def _matched_tracks(raw_tracks: list[Any], entries: list[_TrackEntry],
                    label: Any) -> list[Track] | None:
    """The tracks `entries` describe, empty ones included, with the notes of the raw tracks named `label(entry)`.

    Returns None when the notes no longer match the entries (say the file was edited in a DAW);
    the tracks are then read like any other file's.
    """
    raw_by_entry = iter(raw_tracks)
    tracks = []
    for entry in entries:
        notes = np.zeros((0, 4), dtype=np.int64)
        if entry.n_notes:
            raw_track = next(raw_by_entry, None)
            if raw_track is None or str(raw_track.name) != label(entry):
                return None
            notes = _notes(raw_track)
        if len(notes) != entry.n_notes:
            return None
        tracks.append(Track(entry.program, role=entry.role, name=entry.name, notes=notes))
    if next(raw_by_entry, None) is not None:
        return None
    return tracks


# -- writing ----------------------------------------------------------------------------------------


def write_midi(score: Score, path: str | Path, chord_markers: bool = False) -> None:
    """Write a Score as a type-1 MIDI file at TPQ ticks per quarter, keeping everything it holds."""
    path = Path(path)
    if not path.parent.is_dir():
        raise MidiError(f"cannot write {path}: the folder {path.parent} does not exist")
    data = midi_bytes(score, chord_markers)
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise MidiError(f"cannot write {path}: {exc.strerror or exc}") from exc


def track_label(track: Track | _TrackEntry) -> str:
    """A track's name in a DAW: its own name, or its instrument's ("Lead 2 (sawtooth)")."""
    return track.name or program_name(track.program)


def section_labels(sections: list[Section]) -> list[str]:
    """Section names as a producer writes them: "Intro", "Verse 1", "Verse 2", "Chorus" (numbered when repeated)."""
    counts: dict[str, int] = {}
    for section in sections:
        counts[section.name] = counts.get(section.name, 0) + 1
    seen: dict[str, int] = {}
    labels = []
    for section in sections:
        seen[section.name] = seen.get(section.name, 0) + 1
        title = section.name[:1].upper() + section.name[1:]
        labels.append(f"{title} {seen[section.name]}" if counts[section.name] > 1 else title)
    return labels


def midi_bytes(score: Score, chord_markers: bool = False) -> bytes:
    """The bytes of the MIDI file `write_midi` writes; `chord_markers` also puts the chords in the marker lane."""
    import symusic

    raw: Any = symusic.Score(TPQ)
    raw.tempos = [symusic.Tempo(t.tick, mspq=_mspq(t.bpm)) for t in score.tempos]
    raw.time_signatures = [symusic.TimeSignature(m.tick, m.numerator, m.denominator) for m in score.time_signatures]
    raw.key_signatures = [symusic.KeySignature(0, _sharps(score.key), int(score.key.mode == "minor"))]

    markers = []
    if score.sections:
        bar_starts = score.bar_starts(max(s.end_bar for s in score.sections))
        for section, label in zip(score.sections, section_labels(score.sections), strict=True):
            markers.append((bar_starts[min(section.start_bar, len(bar_starts) - 1)], label))
    if chord_markers:
        markers.extend((chord.tick, chord.name(score.key)) for chord in score.chords)
    raw.markers = [symusic.TextMeta(tick, text) for tick, text in sorted(markers, key=lambda m: m[0])]

    placement = _placement(score)
    for index, track in enumerate(score.tracks):
        raw.tracks.append(_raw_track(track, index, placement[index]))
    try:
        data = bytes(raw.dumps_midi())
    except Exception as exc:  # symusic raises on values MIDI cannot hold
        raise MidiError(f"cannot encode the score as MIDI: {exc}") from exc
    return _with_meta(data, _meta(score))


def _meta(score: Score) -> dict:
    return {
        "format": META_FORMAT,
        "n_bars": score.n_bars,
        "tempos": [[t.tick, t.bpm] for t in score.tempos if _bpm_from_mspq(_mspq(t.bpm)) != t.bpm],
        "tracks": [{"program": t.program, "role": t.role, "name": t.name, "notes": len(t.notes)} for t in score.tracks],
        "sections": [[s.name, s.start_bar, s.n_bars] for s in score.sections],
        "chords": [[c.tick, str(c)] for c in score.chords],
    }


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _with_meta(data: bytes, meta: dict) -> bytes:
    """`data` with the meta event as the first event of its first track chunk (header and length updated)."""
    start = data.index(b"MTrk")
    length = int.from_bytes(data[start + 4 : start + 8], "big")
    payload = META_PREFIX + json.dumps(meta, separators=(",", ":")).encode()
    event = b"\x00\xff\x7f" + _varlen(len(payload)) + payload
    header = b"MTrk" + (length + len(event)).to_bytes(4, "big")
    return data[:start] + header + event + data[start + 8 :]


def _placement(score: Score) -> list[tuple[int, int]]:
    """(CC7 volume, CC10 pan) per track: the level and pan the production gives its role."""
    from melodex.production.mix import track_placement

    placed = track_placement([t.role for t in score.tracks], [t.program for t in score.tracks])
    # General MIDI volume is 40 log10(cc / 127) dB; the lead sits at 100, the usual default.
    return [(int(np.clip(round(100 * 10 ** (level_db / 40)), 0, 127)), int(np.clip(round(64 + 63.5 * pan), 0, 127)))
            for level_db, pan in placed]


def _raw_track(track: Track, index: int, placement: tuple[int, int]) -> Any:
    import symusic

    notes = np.asarray(track.notes, dtype=np.int64)
    label = track_label(track)
    if len(notes):
        if notes[:, PITCH].min() < 0 or notes[:, PITCH].max() > 127:
            raise MidiError(f"track {index + 1} ({label}) has pitches outside MIDI 0-127")
        if notes[:, START].min() < 0 or notes[:, DUR].min() < 0:
            raise MidiError(f"track {index + 1} ({label}) has notes before the start or of negative length")
        if (notes[:, START] + notes[:, DUR]).max() >= 2**31:
            raise MidiError(f"track {index + 1} ({label}) is too long for a MIDI file")
    is_drum = track.program == DRUM_PROGRAM
    raw_track: Any = symusic.Track(label, 0 if is_drum else track.program, is_drum)
    volume, pan = placement
    raw_track.controls = [symusic.ControlChange(0, 7, volume), symusic.ControlChange(0, 10, pan)]
    raw_track.notes = symusic.Note.from_numpy(
        notes[:, START].astype(np.int32),
        notes[:, DUR].astype(np.int32),
        notes[:, PITCH].astype(np.int8),
        # Velocity 0 would be read as a note-off: the quietest note MIDI can hold is 1.
        np.clip(notes[:, VEL], 1, 127).astype(np.int8),
    )
    return raw_track
