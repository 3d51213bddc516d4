"""Writing a song bar by bar under its form: the model writes what is new, the form copies what repeats.

`write_song` is `generate_score` with a `SongForm` (see `melodex.structure.form`): for every bar it first
settles the chords (copied from the bar the form names, given by the user, or written by the model, opening
on the tonic or dominant where the form cadences), then forces the copied layers' events into their
canonical places while the model writes the other layers' notes around them, as infilling does. A bar
whose every layer is copied costs one batched forward pass and no sampling. Inference only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from melodex.errors import MelodexError
from melodex.score import Key, Score
from melodex.structure.form import LAYERS, ROLE_LAYER, TONIC, SongForm
from melodex.structure.generate import (
    DEFAULT_DRUM_TEMPERATURE,
    MAX_EVENTS,
    DecodingOptions,
    Sampler,
    Writer,
    _kind_mask,
    check_plan,
    note_before,
    track_group,
)
from melodex.tokens import (
    BAR,
    BOS,
    CHORD,
    CHORD_QUALITIES,
    EOS,
    F_CHORD,
    F_KIND,
    F_METER,
    F_POS,
    F_TRACK,
    FIELDS,
    MAX_POSITIONS,
    MAX_TRACKS,
    METER,
    NO_CHORD,
    NOTE,
    ROLES,
    SECTION,
    Plan,
    decode,
    meter_positions,
    validate,
)

_N_QUALITIES = len(CHORD_QUALITIES)
_SOME_CHORD = np.arange(NO_CHORD + 1) < NO_CHORD


@dataclass(frozen=True)
class SongResult:
    score: Score
    events: np.ndarray
    sampled_events: int  # events the model chose (the rest were copied by the form)


def cadence_chords(key: Key, kind: str) -> np.ndarray:
    """Mask over chord values allowed on a cadence bar: the tonic triad (and its seventh), or also the dominant."""
    mask = np.zeros(NO_CHORD + 1, dtype=bool)
    tonic_quality = ("maj", "maj7", "6") if key.mode == "major" else ("min", "min7")
    for quality in tonic_quality:
        mask[key.tonic * _N_QUALITIES + CHORD_QUALITIES.index(quality)] = True
    if kind != TONIC:
        dominant = (key.tonic + 7) % 12
        for quality in ("maj", "7", "sus4"):
            mask[dominant * _N_QUALITIES + CHORD_QUALITIES.index(quality)] = True
    return mask


def _canonical(rows: list[np.ndarray]) -> list[np.ndarray]:
    """Body events in the grammar's order: by position, chords before notes, then track, then pitch."""
    return sorted(rows, key=lambda r: (int(r[F_POS]), 0 if r[F_KIND] == CHORD else 1, int(r[F_TRACK]), int(r[3])))


def write_song(model, text: str, plan: Plan, form: SongForm, options: DecodingOptions = DecodingOptions(), *,
               max_events: int = MAX_EVENTS, chords: Mapping[int, Sequence[int]] | None = None,
               progress: Callable[[float], None] | None = None) -> SongResult:
    """Write a whole arrangement for `text` under `plan` (which must fix the sections) and `form`.

    `chords` maps bars to the chord values (`melodex.tokens.chord_value`) the user asked for, one or more per
    bar splitting it evenly: those bars play exactly those chords, and copies of other bars give way to
    them. `progress` hears the share of bars written. Drum notes are drawn at `options.drum_temperature`, or at
    DEFAULT_DRUM_TEMPERATURE when that is None. The other arguments are `generate_score`'s.
    """
    if plan.sections is None:
        raise MelodexError("a song needs its sections planned: give the plan's sections (a form)")
    check_plan(plan)
    if form.n_bars != plan.n_bars:
        raise MelodexError(f"the form covers {form.n_bars} bars but the plan has {plan.n_bars}")
    asked = {bar: tuple(values) for bar, values in (chords or {}).items() if values}
    for bar, values in asked.items():
        if not 0 <= bar < form.n_bars or not all(0 <= v < NO_CHORD for v in values):
            raise MelodexError(f"chords {values} on bar {bar}: not chords of the vocabulary inside the piece")
    if options.drum_temperature is None:
        options = replace(options, drum_temperature=DEFAULT_DRUM_TEMPERATURE)
    torch.manual_seed(options.seed)
    writer = Writer(model, text, plan, options, max_events + 1)
    sampler = Sampler(model, writer.rows, options)
    song = _SongWriter(writer, sampler, form, asked, max_events, progress)
    song.run()
    events = np.stack(writer.events)
    validate(events, plan)
    return SongResult(decode(events), events, song.sampled)


class _SongWriter:
    def __init__(self, writer: Writer, sampler: Sampler, form: SongForm, chords: dict[int, tuple[int, ...]],
                 max_events: int, progress: Callable[[float], None] | None = None) -> None:
        self.writer, self.sampler, self.form, self.chords = writer, sampler, form, chords
        self.progress = progress
        self.max_events = max_events
        self.bodies: dict[int, list[np.ndarray]] = {}  # each bar's CHORD and NOTE events, as written
        self.bar_lengths: dict[int, int] = {}
        self.sampled = 0

    # -- the piece ----------------------------------------------------------------------------

    def run(self) -> None:
        writer = self.writer
        start = np.zeros(len(FIELDS), dtype=np.int64)
        start[F_KIND] = BOS
        writer.feed(start[None])
        while writer.state.phase in ("header", "tracks"):  # tempo, meter, key, tracks, then the first BAR
            self._sample(_kind_mask(writer.state, self._budget()))
        while True:
            state = writer.state
            if state.kind_mask()[SECTION] and state.bars - 1 in state._section_starts:
                self._sample(self._only(SECTION))
            closing = self._body(state.bars - 1)
            writer.feed(closing[None])
            if self.progress is not None:
                self.progress(min(1.0, state.bars / max(self.form.n_bars, 1)))
            if closing[F_KIND] == EOS:
                return

    def _budget(self) -> int:
        return self.max_events - len(self.writer.events)

    def _only(self, *kinds: int) -> np.ndarray:
        mask = self.writer.state.kind_mask()
        allowed = np.zeros_like(mask)
        allowed[list(kinds)] = True
        return mask & allowed

    def _sample(self, kind_mask: np.ndarray, field_masks: dict[int, np.ndarray] | None = None) -> np.ndarray:
        row = self.writer.propose(self.sampler, kind_mask, field_masks)
        self.writer.feed(row[None])
        self.sampled += 1
        return row

    # -- one bar ------------------------------------------------------------------------------

    def _body(self, bar: int) -> np.ndarray:
        """Write bar `bar`'s body; returns the event that closes it (the next BAR or EOS), not yet fed."""
        state = self.writer.state
        first_event = len(self.writer.events)
        length = state.bar_positions
        self.bar_lengths[bar] = length
        copies = {layer: src for layer, src in self.form.copies(bar).items()
                  if self.bar_lengths.get(src) == length and src in self.bodies}
        layer_of = [ROLE_LAYER[ROLES[r]] for r in state.track_roles]
        if "drums" in copies:  # a groove is a whole bar: a bar whose drums stop early is not looped
            source = copies["drums"]  # else the bar before it, else the first whole bar written since
            candidates = (source, source - 1, *range(source + 1, bar))
            groove = next((src for src in candidates if src in self.bodies and self.bar_lengths.get(src) == length
                           and self._drums_fill(src, layer_of, length)), None)
            if groove is None:
                del copies["drums"]
            else:
                copies["drums"] = groove
        if bar in self.chords and self._chords_of(copies.get("chords")) != self.chords[bar]:
            for layer in ("chords", "bass", "harmony", "melody"):  # the user's chord wins over the copy
                copies.pop(layer, None)
        forced: list[np.ndarray] = []
        for layer, src in copies.items():
            for row in self.bodies[src]:
                is_chord = row[F_KIND] == CHORD
                if (layer == "chords" and is_chord) or (not is_chord and layer_of[int(row[F_TRACK])] == layer):
                    forced.append(row)
        if "chords" not in copies:
            forced += self._opening_chord(bar)
        writes_chords = "chords" not in copies and bar not in self.chords
        later_chords = self._later_chords(bar) if writes_chords else None
        chord_free = later_chords is not None
        forced = _canonical(forced)
        free_tracks = np.array([t < len(layer_of) and layer_of[t] not in copies for t in range(MAX_TRACKS)])
        if not free_tracks.any() and not chord_free:
            rows = np.stack(forced) if forced else np.zeros((0, len(FIELDS)), dtype=np.int64)
            if len(rows):
                self.writer.feed(rows)  # nothing to choose: one forward pass for the whole bar
        else:
            for fixed in forced:
                self._notes_before(fixed, free_tracks)
                self.writer.feed(np.asarray(fixed)[None])
        closing = self._free_until_bar_end(free_tracks, later_chords)
        self.bodies[bar] = [np.asarray(r) for r in self.writer.events[first_event:]
                            if r[F_KIND] in (CHORD, NOTE)]
        return closing

    def _later_chords(self, bar: int) -> np.ndarray | None:
        """The chords the model may change to after bar `bar`'s first one (None: it holds). A cadence keeps its
        chord set for the whole bar, so a section ends on what its cadence asked for, and the piece's last
        bar holds its tonic (the model sometimes moved off it within the bar: last chord tonic 88%)."""
        state = self.writer.state
        cadence = self.form.cadences.get(bar)
        if cadence is None or bar == 0 or state.key < 0:
            return _SOME_CHORD
        if cadence == TONIC:
            return None
        return cadence_chords(Key.from_index(state.key), cadence) & _SOME_CHORD

    def _drums_fill(self, bar: int, layer_of: list[str], length: int) -> bool:
        """Whether bar `bar`'s drums play into its last quarter (a groove to loop, not a bar cut short)."""
        positions = [int(r[F_POS]) for r in self.bodies.get(bar, [])
                     if r[F_KIND] == NOTE and layer_of[int(r[F_TRACK])] == "drums"]
        return bool(positions) and max(positions) >= length * 3 // 4

    def _chords_of(self, bar: int | None) -> tuple[int, ...]:
        rows = self.bodies.get(bar, []) if bar is not None else []
        return tuple(int(r[F_CHORD]) for r in rows if r[F_KIND] == CHORD)

    def _opening_chord(self, bar: int) -> list[np.ndarray]:
        """The bar's first chord at its downbeat: the user's, or the model's (within the cadence's chords)."""
        state = self.writer.state
        if bar in self.chords:
            values = self.chords[bar]
            rows = []
            for k, value in enumerate(values):
                row = np.zeros(len(FIELDS), dtype=np.int64)
                row[F_KIND], row[F_POS], row[F_CHORD] = CHORD, k * state.bar_positions // len(values), value
                rows.append(row)
            return rows
        allowed = np.ones(NO_CHORD + 1, dtype=bool)
        allowed[NO_CHORD] = False
        cadence = self.form.cadences.get(bar)
        if cadence is not None and state.key >= 0:
            allowed = cadence_chords(Key.from_index(state.key), cadence)
        at_downbeat = np.zeros(MAX_POSITIONS, dtype=bool)
        at_downbeat[0] = True
        row = self.writer.propose(self.sampler, self._only(CHORD), {F_POS: at_downbeat, F_CHORD: allowed})
        self.sampled += 1
        return [row]  # fed by the caller, in its canonical place (first)

    def _notes_before(self, fixed: np.ndarray, free_tracks: np.ndarray) -> None:
        """Let the model add notes of free tracks that sort before the forced event `fixed`."""
        writer = self.writer
        kind = int(fixed[F_KIND])
        if not free_tracks.any():
            return
        while self._budget() > 8:
            kind_mask = self._only(NOTE, kind)
            if not kind_mask[NOTE]:
                return
            limit = int(fixed[F_POS]) + 1 if kind == NOTE else int(fixed[F_POS])
            pos_mask = np.arange(MAX_POSITIONS) < limit
            track_mask = self._unstack(free_tracks).copy()
            if kind == NOTE:
                track_mask[int(fixed[F_TRACK])] = True  # choosing the forced note's track lets it come
            row = note_before(writer, self.sampler, kind_mask, pos_mask, track_mask, fixed)
            if row is None:
                return
            writer.feed(row[None])
            self.sampled += 1

    def _unstack(self, tracks: np.ndarray) -> np.ndarray:
        """`tracks` without a line (melody, lead, counter, bass) that already has two notes on the current
        position: a run of stacked notes climbs the grammar's pitch mask to a cluster (the rejection in
        `Writer.propose` lets one through whenever the model insists)."""
        events, (pos, track, _) = self.writer.events, self.writer.state.last_note
        if track < 0 or track_group(self.writer.state.track_roles[track]) != 0:
            return tracks
        run = 0
        for row in reversed(events):
            if row[F_KIND] != NOTE or int(row[F_POS]) != pos or int(row[F_TRACK]) != track:
                break
            run += 1
        if run < 2:
            return tracks
        tracks = tracks.copy()
        tracks[track] = False
        return tracks

    def _free_positions(self, free_tracks: np.ndarray) -> np.ndarray:
        """Positions where a note of a free track may come next (at the current one, only later tracks may)."""
        state = self.writer.state
        positions = state.field_mask(NOTE, F_POS).copy()
        here = state.last_pos
        if 0 <= here < len(positions) and positions[here]:
            positions[here] = bool((state.field_mask(NOTE, F_TRACK, {F_POS: here}) & free_tracks).any())
        return positions

    def _free_until_bar_end(self, free_tracks: np.ndarray, chords: np.ndarray | None) -> np.ndarray:
        """The model writes free tracks' notes (and chords among `chords`, None: none) until it closes the bar."""
        writer = self.writer
        while True:
            kind_mask = _kind_mask(writer.state, self._budget())
            if chords is None:
                kind_mask[CHORD] = False
            if not free_tracks.any():
                kind_mask[NOTE] = False
            close = kind_mask[BAR] or kind_mask[EOS]
            if not close and not kind_mask.any():
                raise MelodexError("the grammar left no way to close the bar")
            free_now = self._unstack(free_tracks)
            positions = self._free_positions(free_now) if kind_mask[NOTE] else None
            if not free_now.any():  # the only free line is full here: it may go on at a later position
                free_now = free_tracks
            if positions is not None and not positions.any():
                kind_mask[NOTE] = False
            only_closing = not (kind_mask[NOTE] or kind_mask[CHORD])
            if only_closing:
                row = np.zeros(len(FIELDS), dtype=np.int64)
                row[F_KIND] = BAR if kind_mask[BAR] else EOS
                return row  # no choice left: no model step
            # (never "no chord": it would not survive the Score)
            masks = {F_TRACK: free_now, F_CHORD: _SOME_CHORD if chords is None else chords}
            if positions is not None:
                masks[F_POS] = positions
            row = writer.propose(self.sampler, kind_mask, masks)
            self.sampled += 1
            if row[F_KIND] in (BAR, EOS):
                return row
            writer.feed(row[None])


__all__ = ["LAYERS", "SongResult", "cadence_chords", "write_song"]


# -- edits that follow the form -------------------------------------------------------------------------


def _bar_spans(events: np.ndarray) -> list[tuple[int, int]]:
    """(first body event, end) index ranges of every bar's body (after its BAR and bar-head events)."""
    kinds = events[:, F_KIND]
    bars = np.flatnonzero(kinds == BAR)
    ends = [*bars[1:], int(np.flatnonzero(kinds == EOS)[0])]
    spans = []
    for start, end in zip(bars, ends, strict=True):
        body = start + 1
        while body < end and events[body, F_KIND] not in (CHORD, NOTE):
            body += 1
        spans.append((int(body), int(end)))
    return spans


def rewrite_bars(events: np.ndarray, bodies: Mapping[int, list[np.ndarray]]) -> np.ndarray:
    """`events` with the bodies (CHORD and NOTE events) of some bars replaced, in canonical order."""
    spans = _bar_spans(events)
    pieces, cursor = [], 0
    for bar in sorted(bodies):
        start, end = spans[bar]
        pieces += [events[cursor:start], *([np.stack(_canonical(list(bodies[bar])))] if bodies[bar] else [])]
        cursor = end
    pieces.append(events[cursor:])
    out = np.concatenate(pieces).astype(events.dtype)
    validate(out)
    return out


def copy_bars(events: np.ndarray, source: tuple[int, int], target_start: int, tracks: Sequence[int],
              chords: bool = False) -> np.ndarray:
    """Bars source[0]:source[1] of `tracks` (and their chords, if `chords`) copied over the bars from
    `target_start` on; the target bars keep their other tracks' notes."""
    spans = _bar_spans(events)
    chosen = set(tracks)
    bodies: dict[int, list[np.ndarray]] = {}
    for offset, bar in enumerate(range(*source)):
        target = target_start + offset
        if target >= len(spans) or target == bar:
            continue

        def moves(row: np.ndarray) -> bool:
            return bool((row[F_KIND] == CHORD and chords) or (row[F_KIND] == NOTE and int(row[F_TRACK]) in chosen))

        kept = [r for r in events[slice(*spans[target])] if not moves(r)]
        bodies[target] = kept + [r for r in events[slice(*spans[bar])] if moves(r)]
    return rewrite_bars(events, bodies)


def set_chords(events: np.ndarray, bars: range, progression: Sequence[Sequence[int]]) -> np.ndarray:
    """The chords of `bars` replaced by `progression` (chord values per bar, cycled; several split a bar)."""
    if not progression or not all(progression):
        raise MelodexError("give at least one chord for every bar of the progression")
    spans = _bar_spans(events)
    positions = _bar_positions(events)
    bodies: dict[int, list[np.ndarray]] = {}
    for k, bar in enumerate(bars):
        values = progression[k % len(progression)]
        rows = [r for r in events[slice(*spans[bar])] if r[F_KIND] != CHORD]
        for j, value in enumerate(values):
            row = np.zeros(events.shape[1], dtype=events.dtype)
            row[F_KIND], row[F_POS], row[F_CHORD] = CHORD, j * positions[bar] // len(values), value
            rows.append(row)
        bodies[bar] = rows
    return rewrite_bars(events, bodies)


def _bar_positions(events: np.ndarray) -> list[int]:
    """Each bar's length in positions, following the meter events."""
    lengths: list[int] = []
    meter = int(events[2, F_METER])
    for row in events[4:]:
        if row[F_KIND] == METER:
            meter = int(row[F_METER])
            if lengths:
                lengths[-1] = meter_positions(meter)
        elif row[F_KIND] == BAR:
            lengths.append(meter_positions(meter))
    return lengths
