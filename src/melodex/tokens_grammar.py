"""The structure model's grammar: which event may follow which, given a `Plan` of hard constraints.

The same grammar validates whole sequences (`validate`) and, through `DecodingState`, masks what the
model may write next, so a decoded sequence is always a valid one. Layout:

    BOS TEMPO METER KEY TRACK+  ( BAR [METER] [TEMPO] [SECTION] (CHORD | NOTE)* )+  EOS
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from melodex.score import DRUM_PROGRAM, MAX_BARS, MAX_BPM, MIN_BPM, ROLES, Key
from melodex.tokens_vocabulary import (
    BAR,
    BOS,
    CHORD,
    DRUM_PITCHES,
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
    FIELDS,
    KEY,
    KIND_FIELDS,
    KINDS,
    MAX_TRACKS,
    METER,
    NO_CHORD,
    NOTE,
    PAD,
    SECTION,
    SECTION_NAMES,
    TEMPO,
    TRACK,
    TokenError,
    meter_index,
    meter_positions,
    section_base_name,
)


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
