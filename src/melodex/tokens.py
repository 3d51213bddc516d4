"""The structure model's language: a `Score` as a sequence of compound events, and its grammar.

One event is one generation step: a vector of fields (kind, position, track, pitch, duration, ...),
as in Compound Word / Octuple, so a note costs one step instead of four. Layout:

    BOS TEMPO METER KEY TRACK+  ( BAR [METER] [TEMPO] [SECTION] (CHORD | NOTE)* )+  EOS

Time inside a bar is counted in positions of 1/12 quarter note, which holds 16ths, 32nds and
triplets exactly. Tempo is an exact integer BPM (never binned), so a request for 97 BPM is obeyed.
The same grammar validates sequences and, through `DecodingState`, masks what may come next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from melodex.errors import MelodexError
from melodex.score import (
    DRUM_PROGRAM,
    MAX_BARS,
    MAX_BPM,
    MIN_BPM,
    ROLES,
    TPQ,
    ChordSymbol,
    Key,
    Score,
    Section,
    Tempo,
    TimeSignature,
    Track,
)

POSITIONS_PER_QUARTER = 12
TICKS_PER_POSITION = TPQ // POSITIONS_PER_QUARTER
MAX_POSITIONS = 192  # longest bar: 16 quarter notes
MAX_TRACKS = 16

KINDS = ("PAD", "BOS", "EOS", "TEMPO", "METER", "KEY", "TRACK", "BAR", "SECTION", "CHORD", "NOTE")
PAD, BOS, EOS, TEMPO, METER, KEY, TRACK, BAR, SECTION, CHORD, NOTE = range(len(KINDS))

FIELDS = (
    "kind", "pos", "track", "pitch", "dur", "vel", "tempo", "meter", "key", "program", "role", "section",
    "chord",
)
(F_KIND, F_POS, F_TRACK, F_PITCH, F_DUR, F_VEL, F_TEMPO, F_METER, F_KEY, F_PROGRAM, F_ROLE, F_SECTION,
 F_CHORD) = range(len(FIELDS))

SECTION_NAMES = (
    "-",  # a gap: bars that belong to no named section
    "intro", "verse", "pre-chorus", "chorus", "post-chorus", "bridge", "breakdown", "build", "drop",
    "solo", "interlude", "outro", "coda", "A", "B", "C", "D", "E",
)
CHORD_QUALITIES = ("maj", "min", "dim", "aug", "sus2", "sus4", "7", "maj7", "min7", "m7b5", "dim7", "6")
NO_CHORD = 12 * len(CHORD_QUALITIES)

DUR_VALUES = np.array(
    [*range(1, 49), *range(54, 97, 6), *range(108, 193, 12), *range(216, 385, 24)], dtype=np.int64
)  # in positions: exact up to a whole note, then coarser
VEL_VALUES = np.array([*range(8, 121, 8), 127], dtype=np.int64)
METERS = tuple(
    (num, den)
    for den in (1, 2, 4, 8, 16)
    for num in range(1, 17)
    if num * 4 * POSITIONS_PER_QUARTER % den == 0 and num * 4 * POSITIONS_PER_QUARTER // den <= MAX_POSITIONS
)
DRUM_PITCHES = range(27, 88)

FIELD_SIZES = {
    "kind": len(KINDS),
    "pos": MAX_POSITIONS,
    "track": MAX_TRACKS,
    "pitch": 128,
    "dur": len(DUR_VALUES),
    "vel": len(VEL_VALUES),
    "tempo": MAX_BPM - MIN_BPM + 1,
    "meter": len(METERS),
    "key": 24,
    "program": DRUM_PROGRAM + 1,
    "role": len(ROLES),
    "section": len(SECTION_NAMES),
    "chord": NO_CHORD + 1,
}
# Which fields each kind carries; the others are 0 and carry no meaning (models mask them).
KIND_FIELDS: dict[int, tuple[int, ...]] = {
    PAD: (), BOS: (), EOS: (), BAR: (),
    TEMPO: (F_TEMPO,),
    METER: (F_METER,),
    KEY: (F_KEY,),
    TRACK: (F_PROGRAM, F_ROLE),
    SECTION: (F_SECTION,),
    CHORD: (F_POS, F_CHORD),
    NOTE: (F_POS, F_TRACK, F_PITCH, F_DUR, F_VEL),
}
FIELD_USE = np.zeros((len(KINDS), len(FIELDS)), dtype=bool)
for _kind, _fields in KIND_FIELDS.items():
    FIELD_USE[_kind, [F_KIND, *_fields]] = True


class TokenError(MelodexError):
    """A score cannot be written as tokens, or a token sequence breaks the grammar."""


def meter_positions(meter_index: int) -> int:
    num, den = METERS[meter_index]
    return num * 4 * POSITIONS_PER_QUARTER // den


def meter_index(numerator: int, denominator: int) -> int:
    try:
        return METERS.index((numerator, denominator))
    except ValueError:
        raise TokenError(
            f"meter {numerator}/{denominator} is not supported (use a lower number 1-16 over 1, 2, 4, 8 or 16, "
            f"at most 16 quarter notes per bar)"
        ) from None


def _meter_for_positions(positions: int) -> int:
    """The plainest meter whose bar is `positions` long (for pickups and cut bars)."""
    for den in (4, 8, 16, 2, 1):
        num, rem = divmod(positions * den, 4 * POSITIONS_PER_QUARTER)
        if rem == 0 and (num, den) in METERS:
            return METERS.index((num, den))
    raise TokenError(f"a bar of {positions}/48 whole notes has no meter in the vocabulary")


def section_base_name(name: str) -> str:
    """'verse 2' -> 'verse': repeated sections share one token and are numbered on decoding."""
    base = re.sub(r"\s+\d+$", "", name)
    if base not in SECTION_NAMES:
        raise TokenError(f"section name {name!r} is not one of: {', '.join(SECTION_NAMES[1:])}")
    return base


def chord_value(chord: ChordSymbol) -> int:
    if chord.quality not in CHORD_QUALITIES:
        raise TokenError(f"chord quality {chord.quality!r} is not one of {', '.join(CHORD_QUALITIES)}")
    return chord.root * len(CHORD_QUALITIES) + CHORD_QUALITIES.index(chord.quality)


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


# -- grammar ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Hard constraints for decoding: whatever is set here is obeyed exactly."""

    bpm: int | None = None
    meter: tuple[int, int] | None = None
    key: Key | None = None
    tracks: tuple[tuple[int, str], ...] | None = None  # (program, role) per track
    sections: tuple[tuple[str, int], ...] | None = None  # (name, n_bars) in order
    n_bars: int | None = None
    mode: str | None = None  # "major" or "minor": with no key, the model picks a key of this mode

    def __post_init__(self) -> None:
        if self.sections is not None:
            total = sum(n for _, n in self.sections)
            if self.n_bars is not None and self.n_bars != total:
                raise TokenError(f"the sections add up to {total} bars but {self.n_bars} bars were asked for")
            object.__setattr__(self, "n_bars", total)
        if self.n_bars is not None and not 1 <= self.n_bars <= MAX_BARS:
            raise TokenError(f"{self.n_bars} bars: a piece must have 1-{MAX_BARS} bars")
        if self.meter is not None:
            meter_index(*self.meter)
        if self.bpm is not None and not MIN_BPM <= self.bpm <= MAX_BPM:
            raise TokenError(f"tempo {self.bpm} BPM is outside {MIN_BPM}-{MAX_BPM}")
        if self.mode is not None and self.mode not in ("major", "minor"):
            raise TokenError(f"mode {self.mode!r} is not major or minor")
        if self.tracks is not None and not 1 <= len(self.tracks) <= MAX_TRACKS:
            raise TokenError(f"{len(self.tracks)} tracks: a piece needs 1-{MAX_TRACKS}")

    def section_starts(self) -> dict[int, str]:
        starts: dict[int, str] = {}
        bar = 0
        for name, n in self.sections or ():
            starts[bar] = section_base_name(name)
            bar += n
        return starts


def _mask(size: int, allowed: range | list[int] | tuple[int, ...] | None = None) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    if allowed is None:
        mask[:] = True
    else:
        mask[list(allowed)] = True
    return mask


@dataclass
class DecodingState:
    """Where a sequence is in the grammar; gives the masks of what may come next.

    Use: `kind_mask()` for the next event's kind, then `field_mask(kind, field, chosen)` for each of
    that kind's fields in `KIND_FIELDS` order, then `push(event)`.
    """

    plan: Plan = field(default_factory=Plan)
    n_events: int = 0
    phase: str = "start"  # start, header, tracks, bar_head, body, done
    n_tracks: int = 0
    drum_tracks: set[int] = field(default_factory=set)
    bars: int = 0
    bar_positions: int = 0
    meter: int = 0
    last_kind: int = PAD
    last_note: tuple[int, int, int] = (-1, -1, -1)  # pos, track, pitch of the previous note
    last_pos: int = 0
    chord_pos: int = -1
    head_done: set[int] = field(default_factory=set)  # kinds seen in this bar's head
    key: int = -1  # the header's key index, once written
    track_notes: dict[int, int] = field(default_factory=dict)  # notes written so far, per track
    track_roles: list[int] = field(default_factory=list)  # role index of each track, in header order
    track_pitches: dict[int, np.ndarray] = field(default_factory=dict)  # per track, notes so far per MIDI pitch
    track_last_pitch: dict[int, int] = field(default_factory=dict)  # per track, the pitch of its latest note
    chord: int = NO_CHORD  # the chord value sounding: the latest CHORD event's (it lasts across bar lines)

    def __post_init__(self) -> None:
        self._section_starts = self.plan.section_starts()

    # What may follow, as a kind mask.
    def kind_mask(self) -> np.ndarray:
        return _mask(len(KINDS), self._allowed_kinds())

    def _allowed_kinds(self) -> list[int]:
        plan = self.plan
        if self.phase == "start":
            return [BOS]
        if self.phase == "done":
            return [PAD]
        if self.phase == "header":
            return [[TEMPO], [METER], [KEY]][self.n_events - 1]
        if self.phase == "tracks":
            if plan.tracks is not None:
                return [TRACK] if self.n_tracks < len(plan.tracks) else [BAR]
            return [TRACK, BAR] if 0 < self.n_tracks < MAX_TRACKS else ([TRACK] if self.n_tracks == 0 else [BAR])
        can_close = [] if plan.n_bars is not None and self.bars < plan.n_bars else [EOS]
        can_open = [] if self.bars >= (plan.n_bars or MAX_BARS) else [BAR]
        events = [k for k, low in ((CHORD, self._chord_low()), (NOTE, self._note_low())) if low < self.bar_positions]
        if self.phase == "bar_head":
            head: list[int] = []
            if plan.meter is None and not self.head_done & {METER, TEMPO, SECTION}:
                head.append(METER)
            if plan.bpm is None and not self.head_done & {TEMPO, SECTION}:
                head.append(TEMPO)
            must_section = self.bars - 1 in self._section_starts
            if must_section:
                return [*head, SECTION] if SECTION not in self.head_done else [*events, BAR, *can_close]
            if plan.sections is None and SECTION not in self.head_done:
                head.append(SECTION)
            return head + events + can_open + can_close
        return events + can_open + can_close

    def _chord_low(self) -> int:
        """First position a chord may take: chords open their position, before its notes."""
        if self.phase != "body":
            return 0
        return max(self.chord_pos + 1, self.last_pos + (1 if self.last_kind == NOTE else 0))

    def _top_pitch(self, track: int) -> int:
        return DRUM_PITCHES.stop - 1 if track in self.drum_tracks else 127

    def _note_low(self) -> int:
        """First position a note may take: past the current one once its last track is full."""
        if self.phase != "body":
            return 0
        last_pos, last_track, last_pitch = self.last_note
        if (last_pos == self.last_pos and last_track == self.n_tracks - 1
                and last_pitch >= self._top_pitch(last_track)):
            return self.last_pos + 1
        return self.last_pos

    def field_mask(self, kind: int, field_index: int, chosen: dict[int, int] | None = None) -> np.ndarray:
        """Mask over one field's values for an event of `kind`, given the fields already chosen."""
        chosen = chosen or {}
        size = FIELD_SIZES[FIELDS[field_index]]
        plan = self.plan
        if field_index == F_TEMPO:
            return _mask(size, [plan.bpm - MIN_BPM] if plan.bpm is not None else None)
        if field_index == F_METER:
            if plan.meter is not None:
                return _mask(size, [meter_index(*plan.meter)])
            if kind == METER and self.phase != "header":
                mask = _mask(size)
                mask[self.meter] = False  # a change must change something
                return mask
            return _mask(size)
        if field_index == F_KEY:
            if plan.key is None and plan.mode is not None:
                return _mask(size, range(0 if plan.mode == "major" else 1, size, 2))  # index = tonic * 2 + mode
            return _mask(size, [plan.key.index] if plan.key is not None else None)
        if field_index in (F_PROGRAM, F_ROLE):
            if plan.tracks is None:
                return _mask(size)
            program, role = plan.tracks[self.n_tracks]
            return _mask(size, [program] if field_index == F_PROGRAM else [ROLES.index(role)])
        if field_index == F_SECTION:
            wanted = self._section_starts.get(self.bars - 1)
            if wanted is not None:
                return _mask(size, [SECTION_NAMES.index(wanted)])
            return _mask(size)
        if field_index == F_POS:
            low = self._chord_low() if kind == CHORD else self._note_low()
            return _mask(size, range(low, self.bar_positions))
        if field_index == F_CHORD:
            return _mask(size)
        if field_index == F_TRACK:
            pos = chosen.get(F_POS, -1)
            last_pos, last_track, last_pitch = self.last_note
            low = last_track if pos == last_pos else 0
            if pos == last_pos and last_pitch >= self._top_pitch(last_track):
                low += 1  # that track has no higher pitch left at this position
            return _mask(size, range(low, self.n_tracks))
        if field_index == F_PITCH:
            pos, track = chosen.get(F_POS, -1), chosen.get(F_TRACK, -1)
            last_pos, last_track, last_pitch = self.last_note
            low = last_pitch + 1 if (pos, track) == (last_pos, last_track) else 0
            allowed = range(max(low, DRUM_PITCHES.start), DRUM_PITCHES.stop) if track in self.drum_tracks \
                else range(low, 128)
            return _mask(size, allowed)
        if field_index in (F_DUR, F_VEL):
            return _mask(size)
        raise TokenError(f"field {FIELDS[field_index]} is not part of {KINDS[kind]} events")

    def push(self, event: np.ndarray | list[int]) -> None:
        """Advance past one event (assumed allowed; `validate` checks)."""
        kind = int(event[F_KIND])
        self.n_events += 1
        if kind == BOS:
            self.phase = "header"
        elif kind == TEMPO and self.phase == "header":
            pass
        elif kind == METER and self.phase == "header":
            self.meter = int(event[F_METER])
        elif kind == KEY:
            self.key = int(event[F_KEY])
            self.phase = "tracks"
        elif kind == TRACK:
            if event[F_PROGRAM] == DRUM_PROGRAM:
                self.drum_tracks.add(self.n_tracks)
            self.track_roles.append(int(event[F_ROLE]))
            self.n_tracks += 1
        elif kind == BAR:
            self.bars += 1
            self.phase = "bar_head"
            self.head_done = set()
            self.bar_positions = meter_positions(self.meter)
            self.last_pos, self.last_note, self.chord_pos = 0, (-1, -1, -1), -1
        elif kind in (METER, TEMPO, SECTION):
            self.head_done.add(kind)
            if kind == METER:
                self.meter = int(event[F_METER])
                self.bar_positions = meter_positions(self.meter)
        elif kind == CHORD:
            self.phase = "body"
            self.last_pos = self.chord_pos = int(event[F_POS])
            self.chord = int(event[F_CHORD])
        elif kind == NOTE:
            self.phase = "body"
            self.last_pos = int(event[F_POS])
            self.last_note = (self.last_pos, int(event[F_TRACK]), int(event[F_PITCH]))
            track = int(event[F_TRACK])
            self.track_notes[track] = self.track_notes.get(track, 0) + 1
            self.track_pitches.setdefault(track, np.zeros(128, dtype=np.int64))[int(event[F_PITCH])] += 1
            self.track_last_pitch[track] = int(event[F_PITCH])
        elif kind == EOS:
            self.phase = "done"
        self.last_kind = kind

    def check(self, event: np.ndarray | list[int]) -> str | None:
        """Why `event` may not come next, or None if it may."""
        kind = int(event[F_KIND])
        if not 0 <= kind < len(KINDS) or not self.kind_mask()[kind]:
            allowed = ", ".join(KINDS[k] for k in np.flatnonzero(self.kind_mask()))
            return f"{KINDS[kind] if 0 <= kind < len(KINDS) else kind} cannot come here (allowed: {allowed})"
        chosen: dict[int, int] = {}
        for field_index in KIND_FIELDS[kind]:
            value = int(event[field_index])
            mask = self.field_mask(kind, field_index, chosen)
            if not 0 <= value < len(mask) or not mask[value]:
                return f"{KINDS[kind]} {FIELDS[field_index]}={value} is not allowed here"
            chosen[field_index] = value
        return None


def validate(events: np.ndarray, plan: Plan | None = None) -> None:
    """Raise TokenError naming the first event that breaks the grammar (or the plan)."""
    events = np.asarray(events)
    if events.ndim != 2 or events.shape[1] != len(FIELDS):
        raise TokenError(f"token events must be an (n, {len(FIELDS)}) array, got shape {events.shape}")
    state = DecodingState(plan or Plan())
    for index, event in enumerate(events):
        problem = state.check(event)
        if problem:
            raise TokenError(f"event {index}: {problem}")
        state.push(event)
    if state.phase != "done":
        raise TokenError("the sequence ends before EOS")


def bar_and_position(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bar index (counting BAR events) and in-bar position of every event, for position embeddings."""
    events = np.asarray(events)
    bars = np.cumsum(events[:, F_KIND] == BAR) - 1
    return np.maximum(bars, 0), np.where(FIELD_USE[events[:, F_KIND], F_POS], events[:, F_POS], 0)
