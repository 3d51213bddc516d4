"""Song-level measures of a score, as a listener hears them: does the chorus come back, does the groove hold,
does the bass sit on the roots, do the parts agree on the chords, does the tune have motifs, does it start and
end at home.

Every measure is a plain function of a `Score` (its sections and chord symbols) and returns a share or a
similarity in [0, 1], or None where the piece has nothing to measure (no drums, no repeated section...).
`song_report` runs them all on a Score or on any MIDI file: a file without chord symbols has one chord per
bar estimated from its notes (`melodex.data.chords`), and its key estimated from its pitch classes.
The same code measures generated songs, the training accompaniment and real songs (scripts/eval_song.py).
Why one file of ~530 lines: the measures share their bar, chord and drum readers, and keeping them
together keeps every reference (generated, training, real) measured by literally the same lines.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from melodex.data.chords import SYMBOL_INTERVALS, estimate_bar_chords
from melodex.data.drums import (
    BACKBEAT_STYLES,
    FOUR_ON_THE_FLOOR_STYLES,
    ON_BEAT,
    has_backbeat,
    has_four_on_the_floor,
)
from melodex.score import DUR, PITCH, START, TPQ, ChordSymbol, Key, Score, Section, Track

SIXTEENTH, EIGHTH = TPQ // 4, TPQ // 2
HARMONY_ROLES = frozenset(("harmony", "accompaniment", "pad"))
MELODY_ROLES = ("melody", "lead")
LEAP = 5  # semitones: a fourth or more
MOTIF = 4  # intervals per motif n-gram
METRICS = (
    "section_similarity", "repetition", "drum_consistency", "backbeat", "four_on_the_floor", "bass_root_at_changes",
    "bass_root_per_bar", "chord_tones_harmony", "chord_tones_pitched", "clashes", "motif_recurrence",
    "leaps", "tonic_start", "tonic_end", "tonic_section_ends", "tonic_bars", "chord_changes", "walking_bass",
    "swing", "bossa_bass",
)
# Styles of the prompt parser whose idiom the rows below judge (`brief_styles.STYLES` names).
JAZZ_STYLES = frozenset(("jazz", "big band"))  # walk and swing
BOSSA_STYLES = frozenset(("bossa nova",))
# What each row of the table is, in a listener's words (scripts/eval_song.py and `melodex eval` print these).
DESCRIPTIONS = {
    "section_similarity": "same-name sections alike (Jaccard of track, onset, pitch)",
    "repetition": "4-bar blocks heard before (best Jaccard vs an earlier block)",
    "drum_consistency": "drums, bar vs next bar in a section (Jaccard of 16th slot, drum)",
    "backbeat": "drum bars with snare/clap on beats 2 and 4 (backbeat styles)",
    "four_on_the_floor": "drum bars with a kick on every beat (house/techno)",
    "bass_root_at_changes": "bass's first note at a chord change is the root",
    "bass_root_per_bar": "bass's first note in a bar is the chord root",
    "chord_tones_harmony": "harmony/pad notes that are tones of the chord",
    "chord_tones_pitched": "notes of all pitched parts that are chord tones",
    "clashes": "eighth-grid points where two parts clash a semitone apart",
    "motif_recurrence": "melody interval 4-grams that recur",
    "leaps": "melody intervals of 5+ semitones",
    "tonic_start": "first chord is the tonic",
    "tonic_end": "last chord is the tonic",
    "tonic_section_ends": "sections ending on the tonic",
    "tonic_bars": "bars on the tonic chord",
    "chord_changes": "bar lines where the chord changes (harmonic motion)",
    "walking_bass": "four-beat bars whose bass walks: a new note on every beat (jazz)",
    "swing": "off-beat eighths played swung (2/3 of the beat) rather than straight (jazz)",
    "bossa_bass": "four-beat bars with bass on 1 and 3 and an anticipation on 2+ or 4+ (bossa nova)",
}


# -- helpers --------------------------------------------------------------------------------------


def _base_name(section: Section) -> str:
    """'verse 2' and 'verse' are the same section of the form."""
    return re.sub(r"\s*\d+$", "", section.name.strip().lower())


def _bars(score: Score) -> list[int]:
    return score.bar_starts(score.bar_count())


def _chord_at(chords: list[ChordSymbol], ticks: list[int], tick: int) -> ChordSymbol | None:
    index = bisect.bisect_right(ticks, tick) - 1
    return chords[index] if index >= 0 else None


def chord_tones(chord: ChordSymbol) -> frozenset[int]:
    intervals = SYMBOL_INTERVALS.get(chord.quality, SYMBOL_INTERVALS["maj"])
    return frozenset((chord.root + i) % 12 for i in intervals)


def is_tonic(chord: ChordSymbol | None, key: Key) -> bool:
    """The chord on the key's tonic with the key's third (C, C7, Cmaj7 in C major; Am, Am7 in A minor)."""
    if chord is None or chord.root != key.tonic:
        return False
    third = 3 if key.mode == "minor" else 4
    return third in SYMBOL_INTERVALS.get(chord.quality, SYMBOL_INTERVALS["maj"])


def _beats(score: Score, bar_start: int) -> tuple[int, int]:
    """(beats in the bar, ticks per beat): compound meters count dotted beats (6/8 has two)."""
    meter = score.meter_at(bar_start)
    unit = TPQ * 4 // meter.denominator
    if meter.denominator >= 8 and meter.numerator % 3 == 0 and meter.numerator > 3:
        return meter.numerator // 3, unit * 3
    return meter.numerator, unit


def _drum_tracks(score: Score) -> list[Track]:
    return [t for t in score.tracks if t.is_drum and len(t.notes)]


def _drum_notes(score: Score) -> np.ndarray:
    drums = _drum_tracks(score)
    return np.concatenate([t.notes for t in drums]) if drums else np.zeros((0, 4), dtype=np.int64)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _jaccard(a: set, b: set) -> float | None:
    union = a | b
    return len(a & b) / len(union) if union else None


# -- form ------------------------------------------------------------------------------------------


def _content(score: Score, lo: int, hi: int, grid: int = SIXTEENTH) -> set[tuple[int, int, int]]:
    """(track, onset from `lo` on the grid, pitch) of every note starting in [lo, hi)."""
    out = set()
    for index, track in enumerate(score.tracks):
        notes = track.notes[(track.notes[:, START] >= lo) & (track.notes[:, START] < hi)]
        out |= {(index, int(s), int(p)) for s, p in zip((notes[:, START] - lo) // grid, notes[:, PITCH],
                                                          strict=True)}
    return out


def section_similarity(score: Score, grid: int = SIXTEENTH) -> float | None:
    """How much a repeated section is the same music: for each section name that occurs more than once
    ("chorus", "chorus 2"), the Jaccard index between each later occurrence and the first of their sets of
    (track, onset within the section on a 16th grid, pitch), over the bars both have; the mean over all
    such pairs. A listener hears 1.0 as "the chorus came back", ~0 as a new tune under the same name.
    None when no section name repeats."""
    bars = _bars(score)
    groups: dict[str, list[Section]] = {}
    for section in score.sections:
        if section.start_bar < len(bars) - 1:
            groups.setdefault(_base_name(section), []).append(section)

    def content(section: Section, n_bars: int) -> set[tuple[int, int, int]]:
        return _content(score, bars[section.start_bar], bars[min(section.start_bar + n_bars, len(bars) - 1)], grid)

    similarities = []
    for occurrences in groups.values():
        first = occurrences[0]
        for later in occurrences[1:]:
            n_bars = min(first.n_bars, later.n_bars)
            value = _jaccard(content(first, n_bars), content(later, n_bars))
            if value is not None:
                similarities.append(value)
    return _mean(similarities)


def repetition(score: Score, block: int = 4) -> float | None:
    """How much of the piece is music heard before, whatever its sections are called: for each block of
    `block` bars (aligned to multiples of `block`) after the first, the best Jaccard index of its
    (track, onset in the block, pitch) set against any earlier block; the mean over blocks with notes.
    Measures real songs without section labels the way `section_similarity` measures labelled ones.
    None for pieces under two blocks."""
    bars = _bars(score)
    blocks = [_content(score, bars[b], bars[min(b + block, len(bars) - 1)]) for b in range(0, len(bars) - 1, block)]
    values = []
    for index in range(1, len(blocks)):
        if blocks[index]:
            values.append(max((_jaccard(blocks[index], earlier) or 0.0) for earlier in blocks[:index]))
    return _mean(values)


# -- drums -----------------------------------------------------------------------------------------


def drum_consistency(score: Score) -> float | None:
    """Whether the groove holds: the Jaccard index of the sets of (16th slot, drum) of each bar and the next
    bar of the same section (the whole piece when it has no sections), averaged over bar pairs where either
    bar has drums. A steady loop with a fill every 8 bars hears as ~0.8-0.9; drums that change every bar
    as < 0.4. None without drums."""
    drums = _drum_notes(score)
    if not len(drums):
        return None
    bars = _bars(score)
    spans = [(s.start_bar, min(s.end_bar, len(bars) - 1)) for s in score.sections] or [(0, len(bars) - 1)]

    def pattern(bar: int) -> set[tuple[int, int]]:
        inside = drums[(drums[:, START] >= bars[bar]) & (drums[:, START] < bars[bar + 1])]
        return {(int(s), int(p)) for s, p in zip((inside[:, START] - bars[bar]) // SIXTEENTH, inside[:, PITCH],
                                                 strict=True)}

    values = []
    for first, last in spans:
        for bar in range(first, last - 1):
            value = _jaccard(pattern(bar), pattern(bar + 1))
            if value is not None:
                values.append(value)
    return _mean(values)


def _drum_bars(score: Score) -> list[tuple[int, int, int, np.ndarray]]:
    """(bar start, beats, beat ticks, drum notes) of every bar where the drums play."""
    drums = _drum_notes(score)
    out = []
    for lo, hi in pairwise(_bars(score)):
        inside = drums[(drums[:, START] >= lo) & (drums[:, START] < hi)]
        if len(inside):
            n_beats, beat = _beats(score, lo)
            out.append((lo, n_beats, beat, inside))
    return out


def backbeat_share(score: Score) -> float | None:
    """The share of bars with drums (in two- or four-beat meters) that have a snare, side stick or clap on
    the backbeat: beats 2 and 4 (beat 2 in two-beat bars). What makes pop and rock drums sound like pop and
    rock. None when no such bar has drums."""
    hits = []
    for lo, n_beats, beat, notes in _drum_bars(score):
        if n_beats not in (2, 4):
            continue
        hits.append(has_backbeat(notes, lo, n_beats, beat))
    return _mean([float(h) for h in hits])


def four_on_the_floor_share(score: Score) -> float | None:
    """The share of four-beat bars with drums that have a kick on every beat: the house/techno pulse.
    None when no four-beat bar has drums."""
    hits = []
    for lo, n_beats, beat, notes in _drum_bars(score):
        if n_beats != 4:
            continue
        hits.append(has_four_on_the_floor(notes, lo, n_beats, beat))
    return _mean([float(h) for h in hits])


# -- idioms ----------------------------------------------------------------------------------------


def _onset_in(onsets: np.ndarray, tick: int) -> bool:
    return bool(np.any(np.abs(onsets - tick) <= ON_BEAT))


def _bass_bars(score: Score) -> list[tuple[int, int, np.ndarray]]:
    """(bar start, beat ticks, bass onsets in the bar) of every four-beat bar where the bass plays."""
    bass = _bass(score)
    if bass is None:
        return []
    onsets = np.unique(bass.notes[:, START])
    out = []
    for lo, hi in pairwise(_bars(score)):
        n_beats, beat = _beats(score, lo)
        inside = onsets[(onsets >= lo - ON_BEAT) & (onsets < hi - ON_BEAT)]
        if n_beats == 4 and len(inside):
            out.append((lo, beat, inside))
    return out


def walking_bass_share(score: Score) -> float | None:
    """The share of four-beat bars with bass in which the bass starts a note on every beat, mostly in
    quarters (at most six onsets: a rock bass's eighths are not a walk): a walking line, the sound of a
    jazz rhythm section. None without such bars."""
    return _mean([float(len(onsets) <= 6 and all(_onset_in(onsets, lo + b * beat) for b in range(4)))
                  for lo, beat, onsets in _bass_bars(score)])


def bossa_bass_share(score: Score) -> float | None:
    """The share of four-beat bars with bass that have the bossa nova bass: notes on beats 1 and 3 and an
    anticipation on the off-beat before 3 or before the next bar (2+ or 4+)."""
    return _mean([float(_onset_in(onsets, lo) and _onset_in(onsets, lo + 2 * beat)
                        and (_onset_in(onsets, lo + 3 * beat // 2) or _onset_in(onsets, lo + 7 * beat // 2)))
                  for lo, beat, onsets in _bass_bars(score)])


def swing_share(score: Score, least: int = 8) -> float | None:
    """Of the onsets (every part) that split a beat in two, the share played swung: at two thirds of the
    beat (a triplet eighth) rather than at the half. None with fewer than `least` such onsets (a piece
    in quarters and longer notes neither swings nor not)."""
    swung = straight = 0
    for track in score.tracks:
        for tick in np.unique(track.notes[:, START]):
            _, beat = _beats(score, int(tick))
            if beat != TPQ:
                continue
            inside = int(tick) % beat
            swung += abs(inside - 2 * beat // 3) <= SIXTEENTH // 4
            straight += abs(inside - beat // 2) <= SIXTEENTH // 4
    return swung / (swung + straight) if swung + straight >= least else None


# -- harmony ---------------------------------------------------------------------------------------


def _bass(score: Score) -> Track | None:
    """The bass part: the first track with role bass (the lowest pitched part of a plain MIDI file is
    read as bass by `melodex.midi`)."""
    return next((t for t in score.tracks if t.role == "bass" and not t.is_drum and len(t.notes)), None)


def bass_root_at_changes(score: Score, chords: list[ChordSymbol]) -> float | None:
    """At each chord change (a new root, and the first chord), whether the bass's first note from there
    until the next change is the chord's root (any octave). The root under a new chord is what makes a
    listener hear the change. None without a bass part or chords."""
    bass = _bass(score)
    if bass is None or not chords:
        return None
    changes = [c for i, c in enumerate(chords) if i == 0 or c.root != chords[i - 1].root]
    onsets = bass.notes[:, START]
    hits = []
    for chord, after in zip(changes, [*[c.tick for c in changes[1:]], None], strict=True):
        first = int(np.searchsorted(onsets, chord.tick - ON_BEAT))
        if first < len(onsets) and (after is None or onsets[first] < after):
            hits.append(float(bass.notes[first, PITCH] % 12 == chord.root))
    return _mean(hits)


def bass_root_per_bar(score: Score, chords: list[ChordSymbol]) -> float | None:
    """The share of bars whose first bass note is the root of the chord sounding there. None without a bass
    part or chords."""
    bass = _bass(score)
    if bass is None or not chords:
        return None
    ticks = [c.tick for c in chords]
    onsets = bass.notes[:, START]
    hits = []
    for lo, hi in pairwise(_bars(score)):
        first = int(np.searchsorted(onsets, lo))
        if first < len(onsets) and onsets[first] < hi:
            chord = _chord_at(chords, ticks, int(onsets[first]))
            if chord is not None:
                hits.append(float(bass.notes[first, PITCH] % 12 == chord.root))
    return _mean(hits)


def chord_tone_share(score: Score, chords: list[ChordSymbol], roles: frozenset[str] | None = None) -> float | None:
    """The share of notes (of parts with the given roles; all pitched parts when None) whose pitch class is
    a tone of the chord sounding at the note's onset. Harmony parts off the chord blur it. None without
    chords or such notes."""
    if not chords:
        return None
    ticks = [c.tick for c in chords]
    hits = []
    for track in score.tracks:
        if track.is_drum or (roles is not None and track.role not in roles):
            continue
        for start, pitch in zip(track.notes[:, START], track.notes[:, PITCH], strict=True):
            chord = _chord_at(chords, ticks, int(start))
            if chord is not None:
                hits.append(float(pitch % 12 in chord_tones(chord)))
    return _mean(hits)


def clash_share(score: Score) -> float | None:
    """On the eighth-note grid, the share of points where two or more pitched parts sound at which two
    different parts are a semitone apart (a minor second, major seventh or minor ninth between them): the
    rub a listener hears as a wrong note. None when parts never sound together."""
    parts = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    if len(parts) < 2:
        return None
    n_points = max(t.end_tick for t in parts) // EIGHTH + 1
    sounding = np.zeros((n_points, len(parts), 12), dtype=bool)
    for index, track in enumerate(parts):
        first = -(-track.notes[:, START] // EIGHTH)  # the first grid point at or after the onset
        last = -(-(track.notes[:, START] + track.notes[:, DUR]) // EIGHTH)  # points before the note-off
        for a, b, pitch in zip(first, last, track.notes[:, PITCH], strict=True):
            sounding[a:b, index, pitch % 12] = True
    active = sounding.any(axis=2)
    together = active.sum(axis=1) >= 2
    if not together.any():
        return None
    counts = sounding.sum(axis=1).astype(np.int64)  # (points, 12): parts sounding each pitch class
    upper = np.roll(sounding, -1, axis=2)  # pitch class + 1
    # Pairs of different parts a semitone apart: all pairs minus a part against itself.
    cross = counts * np.roll(counts, -1, axis=1) - (sounding & upper).sum(axis=1)
    clash = (cross > 0).any(axis=1)
    return float(clash[together].mean())


# -- melody ----------------------------------------------------------------------------------------


def melody_line(score: Score) -> np.ndarray:
    """The tune's pitches in order: the melody (or lead) part, else the highest non-bass pitched part by
    mean pitch; at each onset its highest note (the skyline)."""
    track = next((t for t in score.tracks if t.role in MELODY_ROLES and len(t.notes)), None)
    if track is None:
        candidates = [t for t in score.tracks if not t.is_drum and t.role != "bass" and len(t.notes)]
        if not candidates:
            return np.zeros(0, dtype=np.int64)
        track = max(candidates, key=lambda t: float(t.notes[:, PITCH].mean()))
    notes = track.notes  # sorted by start, then pitch: the last of each onset is the highest
    last_of_onset = np.r_[notes[1:, START] != notes[:-1, START], True]
    return notes[last_of_onset, PITCH]


def motif_recurrence(score: Score, n: int = MOTIF) -> float | None:
    """The share of the melody's interval n-grams (n intervals, n + 1 notes, transposition-free) that occur
    more than once in the piece: motifs that come back, the way a listener recognises a tune. Folk tunes
    ~0.5, reels ~0.66. None for melodies of fewer than 2n notes."""
    intervals = np.diff(melody_line(score))
    if len(intervals) < 2 * n:
        return None
    grams = [tuple(intervals[i : i + n]) for i in range(len(intervals) - n + 1)]
    counts = Counter(grams)
    return float(np.mean([counts[g] > 1 for g in grams]))


def leap_share(score: Score, leap: int = LEAP) -> float | None:
    """The share of the melody's intervals (repeated notes included) of `leap` semitones or more: real
    tunes move mostly by step (~11% leaps); a melody of leaps sounds random. None under two notes."""
    intervals = np.abs(np.diff(melody_line(score)))
    return float(np.mean(intervals >= leap)) if len(intervals) else None


# -- tonic -------------------------------------------------------------------------------------------


def bar_line_chords(score: Score, chords: list[ChordSymbol]) -> list[ChordSymbol | None]:
    """The chord sounding at each bar line of `score` (None before the first chord)."""
    ticks = [c.tick for c in chords]
    return [_chord_at(chords, ticks, lo) for lo in _bars(score)[:-1]]


def tonic_measures(score: Score, chords: list[ChordSymbol], key: Key) -> dict[str, float | None]:
    """Whether the harmony establishes the key: the first and last chords are the tonic (1.0 / 0.0), the
    share of sections whose last chord is the tonic (None without sections), and the share of bars whose
    chord at the bar line is the tonic."""
    if not chords:
        return dict.fromkeys(("tonic_start", "tonic_end", "tonic_section_ends", "tonic_bars"))
    bars = _bars(score)
    ticks = [c.tick for c in chords]
    section_ends = [float(is_tonic(_chord_at(chords, ticks, bars[min(s.end_bar, len(bars) - 1)] - 1), key))
                    for s in score.sections if s.start_bar < len(bars) - 1]
    on_bars = bar_line_chords(score, chords)
    return {
        "tonic_start": float(is_tonic(chords[0], key)),
        "tonic_end": float(is_tonic(chords[-1], key)),
        "tonic_section_ends": _mean(section_ends),
        "tonic_bars": _mean([float(is_tonic(c, key)) for c in on_bars if c is not None]),
    }


def chord_changes(score: Score, chords: list[ChordSymbol]) -> float | None:
    """The share of bar lines (after the first bar) where the chord sounding differs from the one at the
    bar line before: 0 is one chord held all piece (the plan a listener hears as static), 1 a new chord
    every bar."""
    if not chords:
        return None
    names = [(c.root, c.quality) if c is not None else None for c in bar_line_chords(score, chords)]
    pairs = [(a, b) for a, b in pairwise(names) if a is not None and b is not None]
    return _mean([float(a != b) for a, b in pairs])


# -- one report ----------------------------------------------------------------------------------------


def estimated_key(score: Score) -> Key:
    """The Krumhansl-Kessler key of the pitched notes' duration-weighted pitch classes."""
    from melodex.reference import key_from_pitch_classes

    pitched = [t.notes for t in score.tracks if not t.is_drum and len(t.notes)]
    if not pitched:
        return score.key
    notes = np.concatenate(pitched)
    return key_from_pitch_classes(np.bincount(notes[:, PITCH] % 12, weights=notes[:, DUR], minlength=12))[0]


def _as_score(song: Score | str | Path | bytes) -> tuple[Score, bool]:
    """(score, whether it came from a file)."""
    from melodex.midi import read_midi, read_midi_bytes

    if isinstance(song, Score):
        return song, False
    if isinstance(song, bytes):
        return read_midi_bytes(song), True
    return read_midi(song), True


def song_report(song: Score | str | Path | bytes, style: str | None = None, key: Key | None = None,
                chords: str = "auto") -> dict[str, Any]:
    """Every song measure of a Score or MIDI file (a path or its bytes), as {metric: value or None}.

    `style` (a prompt style name) decides where backbeat and four on the floor count: with a style only
    the rows its groove calls for are reported; with None (a real song of unknown style) both are.
    `key`: the key the tonic rows measure against; default the score's own for a Score, the Krumhansl
    estimate for a MIDI file (plain MIDI files rarely declare one). `chords`: "score" (the chord
    symbols), "estimated" (one per bar from the notes), or "auto" (the symbols when there are any).
    """
    score, from_file = _as_score(song)
    if chords not in ("auto", "score", "estimated"):
        raise ValueError(f"chords={chords!r}: use 'auto', 'score' or 'estimated'")
    plan = score.chords if chords == "score" or (chords == "auto" and score.chords) else estimate_bar_chords(score)
    home = key or (estimated_key(score) if from_file else score.key)
    report: dict[str, Any] = {
        "section_similarity": section_similarity(score),
        "repetition": repetition(score),
        "drum_consistency": drum_consistency(score),
        "backbeat": backbeat_share(score) if style is None or style in BACKBEAT_STYLES else None,
        "four_on_the_floor": (four_on_the_floor_share(score) if style is None or style in FOUR_ON_THE_FLOOR_STYLES
                              else None),
        "bass_root_at_changes": bass_root_at_changes(score, plan),
        "bass_root_per_bar": bass_root_per_bar(score, plan),
        "chord_tones_harmony": chord_tone_share(score, plan, HARMONY_ROLES),
        "chord_tones_pitched": chord_tone_share(score, plan),
        "clashes": clash_share(score),
        "motif_recurrence": motif_recurrence(score),
        "leaps": leap_share(score),
        **tonic_measures(score, plan, home),
        "chord_changes": chord_changes(score, plan),
        "walking_bass": walking_bass_share(score) if style is None or style in JAZZ_STYLES else None,
        "swing": swing_share(score) if style is None or style in JAZZ_STYLES else None,
        "bossa_bass": bossa_bass_share(score) if style is None or style in BOSSA_STYLES else None,
    }
    return report


def summarise(reports: list[dict[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """Per metric over a set of songs: n (songs with a value), mean, median and quartiles."""
    out: dict[str, dict[str, float | int | None]] = {}
    for name in METRICS:
        values = np.array([r[name] for r in reports if r.get(name) is not None], dtype=np.float64)
        if len(values):
            q1, median, q3 = np.percentile(values, [25, 50, 75])
            out[name] = {"n": len(values), "mean": float(values.mean()), "median": float(median),
                         "q1": float(q1), "q3": float(q3)}
        else:
            out[name] = {"n": 0, "mean": None, "median": None, "q1": None, "q3": None}
    return out
