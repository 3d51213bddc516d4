"""Turn one parsed music21 work into a melodex `Score` plus the facts its attributes are made from.

Offsets become ticks at TPQ, ties are merged into single notes, grace notes and unpitched
elements are skipped and counted, a pickup bar is padded to a full bar so bar lines fall on
downbeats, and odd-length bars inside a piece become short meter changes so the bar grid stays
true to the source.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from melodex.data import sources
from melodex.data.chords import SYMBOL_INTERVALS, quality_from_pitch_classes
from melodex.score import (
    MAX_BPM,
    MIN_BPM,
    MODES,
    PITCH,
    START,
    TPQ,
    ChordSymbol,
    Key,
    Score,
    Section,
    Tempo,
    TimeSignature,
    Track,
)

DEFAULT_VELOCITY = 80
MAJOR_MODES = {"major", "ionian", "lydian", "mixolydian"}
MINOR_MODES = {"minor", "aeolian", "dorian", "phrygian", "locrian"}

# music21 chordKind -> our chord quality; kinds not listed fall back to the chord's pitch classes.
CHORD_KINDS = {
    "major": "maj",
    "minor": "min",
    "diminished": "dim",
    "augmented": "aug",
    "dominant-seventh": "7",
    "dominant": "7",
    "major-seventh": "maj7",
    "minor-seventh": "min7",
    "half-diminished": "m7b5",
    "diminished-seventh": "dim7",
    "major-sixth": "6",
    "minor-sixth": "min",
    "dominant-ninth": "7",
    "dominant-11th": "7",
    "dominant-13th": "7",
    "major-ninth": "maj7",
    "minor-ninth": "min7",
    "suspended-fourth": "sus4",
    "suspended-second": "sus2",
    "suspended-fourth-seventh": "7",
    "power": "maj",
    "augmented-seventh": "aug",
    "minor-major-seventh": "min",
}


@dataclass
class Converted:
    """A converted work: the score and the facts (source mode, what was estimated, ...) behind it."""

    score: Score
    facts: dict[str, Any] = field(default_factory=dict)


def _ticks(quarters: float | Fraction) -> int:
    return round(float(quarters) * TPQ)


def _bar_signature(length_ticks: int) -> TimeSignature | None:
    """A meter whose bar is `length_ticks` long (for odd bars), or None if none is writable."""
    for denominator in (4, 8, 16, 32):
        unit = TPQ * 4 // denominator
        if length_ticks % unit == 0 and 1 <= length_ticks // unit <= 32:
            return TimeSignature(length_ticks // unit, denominator)
    return None


@dataclass(frozen=True)
class _Bar:
    start: int
    length: int
    nominal: TimeSignature


def _measure_grid(part: Any, shift: int) -> tuple[list[_Bar], list[int]]:
    """Bars of the first part: complementary short measures (a section's last bar and the next
    pickup) are joined into one bar; returns the bars and the bar indices where a double or repeat
    bar line starts a new section."""
    from music21 import meter

    measures = list(part.getElementsByClass("Measure"))
    bars: list[_Bar] = []
    boundaries: list[int] = []
    nominal = TimeSignature(4, 4)
    pending_start, pending = 0, 0
    for index, measure in enumerate(measures):
        signature = measure.timeSignature
        if isinstance(signature, meter.TimeSignature):
            changed = TimeSignature(int(signature.numerator), int(signature.denominator))
            if changed != nominal and pending:
                bars.append(_Bar(pending_start, pending, nominal))
                pending = 0
            nominal = changed
        start = _ticks(measure.offset) + (shift if index > 0 else 0)
        if index + 1 < len(measures):
            length = _ticks(measures[index + 1].offset) + shift - start
        else:
            length = _ticks(measure.duration.quarterLength) + (shift if index == 0 else 0)
        if index == 0:
            start = 0
        if length <= 0:
            continue
        full = nominal.bar_ticks
        if pending and pending + length == full:
            bars.append(_Bar(pending_start, full, nominal))
            pending = 0
        elif pending and pending + length < full:
            pending += length
        else:
            if pending:
                bars.append(_Bar(pending_start, pending, nominal))
                pending = 0
            if length < full and index > 0:
                pending_start, pending = start, length
            else:
                bars.append(_Bar(start, length, nominal))
        right = measure.rightBarline
        next_left = measures[index + 1].leftBarline if index + 1 < len(measures) else None
        ends_part = right is not None and (
            getattr(right, "type", "") in ("double", "final", "light-heavy", "heavy-light", "light-light")
            or type(right).__name__ == "Repeat"
        )
        ends_part = ends_part or type(next_left).__name__ == "Repeat"
        if ends_part and index + 1 < len(measures):
            # The new part starts at the next full bar: a pickup stays with the bar it leads into.
            boundaries.append(len(bars) + (1 if pending else 0))
    if pending:
        bars.append(_Bar(pending_start, pending, nominal))
    return bars, boundaries


def _meters_from_bars(bars: list[_Bar]) -> tuple[list[TimeSignature], int]:
    """Meter map: the nominal meter, with a short meter change for each odd bar except the last."""
    meters: list[TimeSignature] = []
    unwritable = 0
    for index, bar in enumerate(bars):
        is_last = index == len(bars) - 1
        wanted = bar.nominal
        if bar.length != bar.nominal.bar_ticks and not is_last:
            odd = _bar_signature(bar.length)
            if odd is None:
                unwritable += 1
            else:
                wanted = odd
        current = meters[-1] if meters else None
        if current is None or (current.numerator, current.denominator) != (wanted.numerator, wanted.denominator):
            meters.append(TimeSignature(wanted.numerator, wanted.denominator, bar.start))
    if not meters:
        meters = [TimeSignature(4, 4)]
    return meters, unwritable


def _part_notes(part: Any, shift: int, facts: dict[str, Any]) -> tuple[np.ndarray, list[tuple[int, Any]]]:
    """Notes of one part as an (n, 4) array with ties merged, plus its chord symbols (tick, object)."""
    from music21 import chord, dynamics, harmony, note, percussion, roman

    rows: list[list[int]] = []
    open_ties: dict[int, int] = {}  # MIDI pitch -> row index of the note a tie is extending
    symbols: list[tuple[int, Any]] = []
    velocity = DEFAULT_VELOCITY
    for element in part.flatten():
        if isinstance(element, dynamics.Dynamic):
            scalar = element.volumeScalar
            if scalar is not None:
                velocity = max(1, min(127, round(scalar * 127)))
            continue
        if isinstance(element, harmony.ChordSymbol) and not isinstance(element, roman.RomanNumeral):
            symbols.append((_ticks(element.offset) + shift, element))
            continue
        if not isinstance(element, note.GeneralNote) or isinstance(element, note.Rest):
            continue
        if isinstance(element, note.Unpitched | percussion.PercussionChord):
            facts["skipped_unpitched"] += 1
            continue
        if element.duration.isGrace:
            facts["skipped_grace"] += 1
            continue
        start = _ticks(element.offset) + shift
        duration = _ticks(element.duration.quarterLength)
        if duration <= 0:
            facts["skipped_grace"] += 1
            continue
        if isinstance(element, roman.RomanNumeral):
            symbols.append((start, element))
        sounding: Any = element  # a Note or Chord from here on
        members: list[Any] = list(sounding.notes) if isinstance(element, chord.Chord) else [sounding]
        if sounding.volume.velocityIsRelative is False and sounding.volume.velocity is not None:
            note_velocity = int(sounding.volume.velocity)
        else:
            note_velocity = velocity
        for member in members:
            if isinstance(member, note.Unpitched):
                facts["skipped_unpitched"] += 1
                continue
            midi = int(member.pitch.midi)
            if not 0 <= midi <= 127:
                facts["skipped_out_of_range"] += 1
                continue
            tie = member.tie if member.tie is not None else getattr(element, "tie", None)
            tie_type = tie.type if tie is not None else None
            held = open_ties.get(midi)
            if held is not None and tie_type in ("continue", "stop"):
                row = rows[held]
                row[1] = max(row[1], start + duration - row[0])
                if tie_type == "stop":
                    del open_ties[midi]
                facts["merged_ties"] += 1
                continue
            open_ties.pop(midi, None)
            rows.append([start, duration, midi, note_velocity])
            if tie_type in ("start", "continue"):
                open_ties[midi] = len(rows) - 1
    notes = np.array(rows, dtype=np.int64).reshape(-1, 4)
    if len(notes):
        # Voices inside one staff can double a note; keep one per (start, pitch), the longest.
        order = np.lexsort((-notes[:, 1], notes[:, PITCH], notes[:, START]))
        notes = notes[order]
        keep = np.ones(len(notes), dtype=bool)
        keep[1:] = (notes[1:, START] != notes[:-1, START]) | (notes[1:, PITCH] != notes[:-1, PITCH])
        facts["duplicates_dropped"] += int((~keep).sum())
        notes = notes[keep]
    return notes, symbols


def _chord_symbol(tick: int, element: Any) -> ChordSymbol | None:
    from music21 import harmony

    if isinstance(element, harmony.NoChord):
        return None
    try:
        root = element.root()
    except Exception:  # music21 raises several types for chords it cannot spell
        return None
    if root is None:
        return None
    root_pc = int(root.pitchClass)
    kind = getattr(element, "chordKind", None)
    quality = CHORD_KINDS.get(kind or "")
    if quality is None:
        pcs = {int(p.pitchClass) for p in element.pitches}
        quality = quality_from_pitch_classes(pcs, root_pc) if pcs else "maj"
    assert quality in SYMBOL_INTERVALS
    return ChordSymbol(max(0, tick), root_pc, quality)


def _key(stream: Any, facts: dict[str, Any]) -> Key:
    """Key from the source's key (with mode) or key signature; otherwise music21's key analysis."""
    from music21 import key as m21key

    flat = stream.flatten()
    signatures = list(flat.getElementsByClass(m21key.KeySignature))
    facts["key_changes"] = max(0, len({k.sharps for k in signatures}) - 1)
    first = signatures[0] if signatures else None
    if isinstance(first, m21key.Key) and first.mode:
        mode = first.mode.lower()
        if mode in MAJOR_MODES | MINOR_MODES:
            facts["mode"] = mode
            facts["key_source"] = "source"
            return Key(int(first.tonic.pitchClass), "major" if mode in MAJOR_MODES else "minor")
    try:
        analysed = stream.analyze("key")
    except Exception:  # an empty or unpitched stream has no key to find
        facts["mode"] = "major"
        facts["key_source"] = "default"
        return Key(0, "major")
    candidates = [analysed, *getattr(analysed, "alternateInterpretations", [])]
    if first is not None:
        # The key signature fixes the tonic pair; analysis only decides major or relative minor.
        allowed = {(int(first.asKey(m).tonic.pitchClass), m) for m in MODES}
        fitting = [k for k in candidates if (int(k.tonic.pitchClass), k.mode) in allowed]
        chosen = max(fitting, key=lambda k: k.correlationCoefficient) if fitting else first.asKey("major")
        facts["key_source"] = "signature, mode estimated"
    else:
        chosen = analysed
        facts["key_source"] = "estimated"
    facts["mode"] = chosen.mode
    return Key(int(chosen.tonic.pitchClass), chosen.mode if chosen.mode in MODES else "major")


def _tempos(stream: Any, shift: int, facts: dict[str, Any], fallback: float) -> list[Tempo]:
    from music21 import tempo

    marks: dict[int, float] = {}
    for mark in stream.flatten().getElementsByClass(tempo.MetronomeMark):
        try:
            bpm = mark.getQuarterBPM()
        except Exception:  # a mark with text music21 cannot turn into a number
            bpm = None
        if bpm is None or bpm <= 0:
            continue
        tick = max(0, _ticks(mark.offset) + shift) if mark.offset > 0 else 0
        marks.setdefault(tick, float(min(MAX_BPM, max(MIN_BPM, round(bpm, 2)))))
    if not marks:
        facts["tempo_source"] = "assigned"
        return [Tempo(fallback)]
    facts["tempo_source"] = "source"
    ticks = sorted(marks)
    tempos = [Tempo(marks[ticks[0]], 0)] + [Tempo(marks[t], t) for t in ticks[1:]]
    # Drop marks that repeat the tempo already in force (music21 copies them into every part).
    kept = [tempos[0]]
    for mark in tempos[1:]:
        if mark.bpm != kept[-1].bpm:
            kept.append(mark)
    return kept


def _sections(bars: list[_Bar], boundaries: list[int], tracks: list[Track]) -> list[Section]:
    """Sections between double/repeat bar lines: equal music gets the same letter (A, B, A, ...)."""
    cuts = sorted({b for b in boundaries if 0 < b < len(bars)})
    if not cuts or len(cuts) > 11:
        return []
    edges = [0, *cuts, len(bars)]
    if any(edges[i + 1] - edges[i] < 2 for i in range(len(edges) - 1)):
        return []
    melody = tracks[0].notes
    names: list[str] = []
    seen: dict[bytes, str] = {}
    for lo, hi in itertools.pairwise(edges):
        start = bars[lo].start
        end = bars[hi].start if hi < len(bars) else bars[-1].start + bars[-1].length
        inside = (melody[:, START] >= start) & (melody[:, START] < end)
        content = (melody[inside] - np.array([start, 0, 0, 0])).tobytes()
        if content not in seen:
            seen[content] = chr(ord("A") + len(seen))
        names.append(seen[content])
    return [Section(n, lo, hi - lo) for n, (lo, hi) in zip(names, itertools.pairwise(edges), strict=True)]


def _roles(tracks: list[Track]) -> None:
    """Top voice melody, bottom voice bass, the others harmony (by mean pitch, not score order)."""
    if len(tracks) == 1:
        tracks[0].role = "melody"
        return
    means = [float(t.notes[:, PITCH].mean()) for t in tracks]
    order = np.argsort(means)
    for track in tracks:
        track.role = "harmony"
    tracks[int(order[-1])].role = "melody"
    tracks[int(order[0])].role = "bass"


def convert_music21(stream: Any, collection: str, rhythm: str = "", roman_analysis: bool = False) -> Converted:
    """Convert a music21 Score (or single Part) into a melodex Score with the facts behind it.

    `roman_analysis` marks a Roman-numeral analysis (.rntxt): its chords become a harmony track.
    """
    from music21 import instrument
    from music21 import stream as m21stream

    source = sources.collection(collection)
    facts: dict[str, Any] = {
        "skipped_grace": 0,
        "skipped_unpitched": 0,
        "skipped_out_of_range": 0,
        "merged_ties": 0,
        "duplicates_dropped": 0,
        "empty_parts": 0,
    }
    parts = list(stream.parts) if isinstance(stream, m21stream.Score) else [stream]
    if not parts:
        raise ValueError("the work has no parts")
    measures = list(parts[0].getElementsByClass("Measure"))
    shift = 0
    if measures:
        first = measures[0]
        padding = float(first.paddingLeft or 0)
        bar_quarters = float(first.barDuration.quarterLength) if first.timeSignature or padding else 0
        if 0 < padding < bar_quarters:
            shift = _ticks(padding)
    facts["pickup_ticks"] = shift

    tracks: list[Track] = []
    chord_symbols: list[ChordSymbol] = []
    part_names: list[str] = []
    for part in parts:
        notes, symbols = _part_notes(part, shift, facts)
        for tick, element in symbols:
            symbol = _chord_symbol(tick, element)
            if symbol is not None:
                chord_symbols.append(symbol)
        if not len(notes):
            facts["empty_parts"] += 1
            continue
        source_instrument = part.getInstrument(returnDefault=False)
        name = str(part.partName or getattr(source_instrument, "instrumentName", "") or "")
        source_program = getattr(source_instrument, "midiProgram", None)
        if source.vocal and source_program == 0:
            source_program = None  # MusicXML exports default to piano when no instrument was set
        if isinstance(source_instrument, instrument.Vocalist):
            program, program_source = (source_program or sources.CHOIR), "vocal part"
        elif source_program is None and sources.is_voice_name(name):
            program, program_source = sources.CHOIR, "vocal part"
        elif source_program is not None:
            program, program_source = int(source_program), "source"
        else:
            program, program_source = sources.program_for_part(name, source)
        if roman_analysis:
            program, program_source = sources.PIANO, "assigned"
        tracks.append(Track(program=program, name=name, notes=notes))
        part_names.append(program_source)
    if not tracks:
        raise ValueError("the work has no pitched notes")
    _roles(tracks)
    if roman_analysis:
        for track in tracks:
            track.role = "harmony"
    # A chord symbol repeated in every part (music21 copies some) counts once.
    chord_symbols = sorted(set(chord_symbols), key=lambda c: (c.tick, c.root, c.quality))

    bars, boundaries = _measure_grid(parts[0], shift) if measures else ([], [])
    if bars:
        meters, facts["unwritable_odd_bars"] = _meters_from_bars(bars)
    else:
        from music21 import meter

        found = stream.flatten().getElementsByClass(meter.TimeSignature)
        first_ts = found[0] if len(found) else None
        meters = (
            [TimeSignature(int(first_ts.numerator), int(first_ts.denominator))] if first_ts else [TimeSignature(4, 4)]
        )
        facts["unwritable_odd_bars"] = 0
    nominal = bars[min(1, len(bars) - 1)].nominal if bars else meters[0]
    facts["meter"] = str(nominal)
    facts["meter_changes"] = len({(b.nominal.numerator, b.nominal.denominator) for b in bars}) - 1 if bars else 0
    facts["program_sources"] = part_names

    key = _key(stream, facts)
    fallback = sources.typical_tempo(source, rhythm, nominal.numerator, nominal.denominator)
    tempos = _tempos(stream, shift, facts, fallback)
    score = Score(
        tracks=tracks,
        tempos=tempos,
        time_signatures=meters,
        key=key,
        chords=chord_symbols,
    )
    notes_end = max(t.end_tick for t in tracks)
    n_bars = len(bars)
    if bars:
        # Notes that ring past the last measure line (fermatas, encoding slips) get their own bars.
        while score.bar_starts(n_bars)[-1] < notes_end:
            n_bars += 1
    score.n_bars = n_bars or len(score.bar_starts()) - 1
    score.sections = _sections(bars, boundaries, tracks) if bars else []
    return Converted(score, facts)
