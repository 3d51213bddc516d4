"""The structure model's language: a `Score` as a sequence of compound events, and back.

    BOS TEMPO METER KEY TRACK+  ( BAR [METER] [TEMPO] [SECTION] (CHORD | NOTE)* )+  EOS

The fields and their values are `melodex.tokens_vocabulary`; what may follow what is
`melodex.tokens_grammar`, which `decode` runs first so a broken sequence is refused, not guessed at.
"""

from __future__ import annotations

import numpy as np

from melodex.score import MAX_BARS, MIN_BPM, ROLES, ChordSymbol, Key, Score, Section, Tempo, TimeSignature, Track
from melodex.tokens_grammar import DecodingState, Plan, validate
from melodex.tokens_vocabulary import (
    BAR,
    BOS,
    CHORD,
    CHORD_QUALITIES,
    DRUM_PITCHES,
    DUR_VALUES,
    EOS,
    F_CHORD,
    F_DUR,
    F_KEY,
    F_KIND,
    F_METER,
    F_PITCH,
    F_POS,
    F_PROGRAM,
    F_ROLE,
    F_SECTION,
    F_TEMPO,
    F_TRACK,
    F_VEL,
    FIELD_SIZES,
    FIELD_USE,
    FIELDS,
    KEY,
    KIND_FIELDS,
    KINDS,
    MAX_POSITIONS,
    MAX_TRACKS,
    METER,
    METERS,
    NO_CHORD,
    NOTE,
    POSITIONS_PER_QUARTER,
    SECTION,
    SECTION_NAMES,
    TEMPO,
    TICKS_PER_POSITION,
    TRACK,
    VEL_VALUES,
    TokenError,
    bar_and_position,
    chord_value,
    meter_index,
    meter_positions,
    section_base_name,
)

# The structure package (lead-owned) imports these from here; new code imports them from where they live.
__all__ = [
    "BAR",
    "BOS",
    "CHORD",
    "CHORD_QUALITIES",
    "EOS",
    "FIELDS",
    "FIELD_SIZES",
    "FIELD_USE",
    "F_CHORD",
    "F_DUR",
    "F_KEY",
    "F_KIND",
    "F_METER",
    "F_PITCH",
    "F_POS",
    "F_PROGRAM",
    "F_ROLE",
    "F_TRACK",
    "F_VEL",
    "KEY",
    "KINDS",
    "KIND_FIELDS",
    "MAX_POSITIONS",
    "MAX_TRACKS",
    "METER",
    "METERS",
    "NOTE",
    "NO_CHORD",
    "POSITIONS_PER_QUARTER",
    "ROLES",
    "SECTION",
    "SECTION_NAMES",
    "TEMPO",
    "TRACK",
    "DecodingState",
    "Plan",
    "TokenError",
    "bar_and_position",
    "decode",
    "encode",
    "meter_index",
    "meter_positions",
    "section_base_name",
    "validate",
]


def _meter_for_positions(positions: int) -> int:
    """The plainest meter whose bar is `positions` long (for pickups and cut bars)."""
    for den in (4, 8, 16, 2, 1):
        num, rem = divmod(positions * den, 4 * POSITIONS_PER_QUARTER)
        if rem == 0 and (num, den) in METERS:
            return METERS.index((num, den))
    raise TokenError(f"a bar of {positions}/48 whole notes has no meter in the vocabulary")


def _nearest(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.abs(values[None, :] - np.asarray(x)[:, None]).argmin(axis=1)


def _event(kind: int, **fields: int) -> list[int]:
    row = [0] * len(FIELDS)
    row[F_KIND] = kind
    for name, value in fields.items():
        row[FIELDS.index(name)] = int(value)
    return row


# -- encoding -----------------------------------------------------------------------------------


def encode(score: Score) -> np.ndarray:
    """Score -> (n_events, n_fields) int32 array. Times are quantised to the 1/12-quarter grid."""
    if not score.tracks:
        raise TokenError("the score has no tracks")
    if len(score.tracks) > MAX_TRACKS:
        raise TokenError(f"the score has {len(score.tracks)} tracks; at most {MAX_TRACKS} fit")
    n_bars = score.bar_count()
    if n_bars > MAX_BARS:
        raise TokenError(f"the score has {n_bars} bars; at most {MAX_BARS} fit")
    starts = score.bar_starts(n_bars)
    bar_starts = np.array(starts[:-1])

    first_meter = meter_index(score.meter.numerator, score.meter.denominator)
    events = [
        _event(BOS),
        _event(TEMPO, tempo=round(score.bpm) - MIN_BPM),
        _event(METER, meter=first_meter),
        _event(KEY, key=score.key.index),
    ]
    events += [_event(TRACK, program=t.program, role=ROLES.index(t.role)) for t in score.tracks]

    # Per-bar lists of (pos, order, track, pitch, row) so events sort canonically inside a bar.
    per_bar: list[list[tuple[int, int, int, int, list[int]]]] = [[] for _ in range(n_bars)]

    bar_lengths = (np.diff(starts) // TICKS_PER_POSITION).astype(np.int64)

    def locate(ticks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bars = np.clip(np.searchsorted(bar_starts, ticks, side="right") - 1, 0, n_bars - 1)
        pos = np.round((ticks - bar_starts[bars]) / TICKS_PER_POSITION).astype(np.int64)
        spill = pos >= bar_lengths[bars]  # rounded onto the next bar line
        last_bar = bars == n_bars - 1
        pos = np.where(spill, np.where(last_bar, bar_lengths[bars] - 1, 0), pos)
        bars = np.where(spill & ~last_bar, bars + 1, bars)
        return bars, pos

    for track_index, track in enumerate(score.tracks):
        notes = track.notes
        if not len(notes):
            continue
        bars, pos = locate(notes[:, 0])
        durs = DUR_VALUES[_nearest(DUR_VALUES, np.maximum(1, np.round(notes[:, 1] / TICKS_PER_POSITION)))]
        vels = _nearest(VEL_VALUES, notes[:, 3])
        seen: set[tuple[int, int, int]] = set()
        for bar, p, pitch, dur_index, vel in zip(
            bars.tolist(), pos.tolist(), notes[:, 2].tolist(), _nearest(DUR_VALUES, durs).tolist(),
            vels.tolist(), strict=True,
        ):
            if track.is_drum and pitch not in DRUM_PITCHES:
                continue  # outside the GM drum map: no sound to give it
            if (bar, p, pitch) in seen:
                continue  # a unison doubling in one part plays once
            seen.add((bar, p, pitch))
            row = _event(NOTE, pos=p, track=track_index, pitch=pitch, dur=dur_index, vel=vel)
            per_bar[bar].append((p, 1, track_index, pitch, row))

    if score.chords:
        chord_ticks = np.array([c.tick for c in score.chords])
        bars, pos = locate(chord_ticks)
        last: dict[tuple[int, int], int] = {}
        for chord, bar, p in zip(score.chords, bars.tolist(), pos.tolist(), strict=True):
            last[(bar, p)] = chord_value(chord)  # two chords on one position: the later one wins
        for (bar, p), value in last.items():
            per_bar[bar].append((p, 0, 0, 0, _event(CHORD, pos=p, chord=value)))

    section_at = {s.start_bar: section_base_name(s.name) for s in score.sections if s.start_bar < n_bars}
    for s in score.sections:
        if s.end_bar < n_bars and s.end_bar not in section_at:
            section_at[s.end_bar] = "-"

    tempo_at = {}
    for tempo in score.tempos[1:]:
        bar = int(np.searchsorted(bar_starts, tempo.tick, side="right") - 1)
        tempo_at[bar] = round(tempo.bpm) - MIN_BPM

    current_meter = first_meter
    current_tempo = events[1][F_TEMPO]
    for bar in range(n_bars):
        events.append(_event(BAR))
        length = (starts[bar + 1] - starts[bar]) // TICKS_PER_POSITION
        signature = score.meter_at(starts[bar])
        wanted = meter_index(signature.numerator, signature.denominator)
        if meter_positions(wanted) != length:
            wanted = _meter_for_positions(length)
        if wanted != current_meter:
            events.append(_event(METER, meter=wanted))
            current_meter = wanted
        if bar in tempo_at and tempo_at[bar] != current_tempo:
            events.append(_event(TEMPO, tempo=tempo_at[bar]))
            current_tempo = tempo_at[bar]
        if bar in section_at:
            events.append(_event(SECTION, section=SECTION_NAMES.index(section_at[bar])))
        per_bar[bar].sort(key=lambda e: e[:4])
        events.extend(e[4] for e in per_bar[bar])
    events.append(_event(EOS))
    return np.array(events, dtype=np.int32)


# -- decoding -----------------------------------------------------------------------------------


def decode(events: np.ndarray) -> Score:
    """Token events -> Score. The sequence is validated first; a broken one raises TokenError."""
    events = np.asarray(events)
    validate(events)
    tempo = events[1, F_TEMPO] + MIN_BPM
    meter = events[2, F_METER]
    key = Key.from_index(int(events[3, F_KEY]))
    tracks: list[Track] = []
    notes: list[list[list[int]]] = []
    tempos = [Tempo(float(tempo))]
    signatures = [TimeSignature(*METERS[meter])]
    chords: list[ChordSymbol] = []
    section_starts: list[tuple[str, int]] = []
    bar = -1
    bar_tick = 0
    bar_length = 0
    for row in events[4:]:
        kind = int(row[F_KIND])
        if kind == TRACK:
            tracks.append(Track(program=int(row[F_PROGRAM]), role=ROLES[row[F_ROLE]]))
            notes.append([])
        elif kind == BAR:
            bar += 1
            bar_tick += bar_length
            bar_length = meter_positions(meter) * TICKS_PER_POSITION
        elif kind == METER:
            meter = int(row[F_METER])
            bar_length = meter_positions(meter) * TICKS_PER_POSITION
            signatures.append(TimeSignature(*METERS[meter], tick=bar_tick))
        elif kind == TEMPO:
            tempos.append(Tempo(float(row[F_TEMPO] + MIN_BPM), tick=bar_tick))
        elif kind == SECTION:
            section_starts.append((SECTION_NAMES[row[F_SECTION]], bar))
        elif kind == CHORD:
            tick = bar_tick + int(row[F_POS]) * TICKS_PER_POSITION
            if row[F_CHORD] != NO_CHORD:
                root, quality = divmod(int(row[F_CHORD]), len(CHORD_QUALITIES))
                chords.append(ChordSymbol(tick, root, CHORD_QUALITIES[quality]))
        elif kind == NOTE:
            notes[row[F_TRACK]].append([
                bar_tick + int(row[F_POS]) * TICKS_PER_POSITION,
                int(DUR_VALUES[row[F_DUR]]) * TICKS_PER_POSITION,
                int(row[F_PITCH]),
                int(VEL_VALUES[row[F_VEL]]),
            ])
    for track, track_notes in zip(tracks, notes, strict=True):
        track.notes = np.array(track_notes, dtype=np.int64).reshape(-1, 4)
        track.__post_init__()
    n_bars = bar + 1
    sections = _name_sections(section_starts, n_bars)
    return Score(
        tracks=tracks, tempos=tempos, time_signatures=_dedupe_signatures(signatures), key=key,
        sections=sections, chords=chords, n_bars=n_bars,
    )


def _dedupe_signatures(signatures: list[TimeSignature]) -> list[TimeSignature]:
    out: list[TimeSignature] = []
    for signature in signatures:
        if out and out[-1].tick == signature.tick:
            out[-1] = signature
        elif not out or (out[-1].numerator, out[-1].denominator) != (signature.numerator, signature.denominator):
            out.append(signature)
    return out


def _name_sections(starts: list[tuple[str, int]], n_bars: int) -> list[Section]:
    sections: list[Section] = []
    counts: dict[str, int] = {}
    for i, (name, start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else n_bars
        if name == "-":
            continue
        counts[name] = counts.get(name, 0) + 1
        label = name if counts[name] == 1 else f"{name} {counts[name]}"
        sections.append(Section(label, start, end - start))
    return sections
