"""Writing scores with the structure model: guided, grammar-constrained sampling, and infilling.

Every field of every event is sampled through the `DecodingState` masks, so whatever the `Plan`
fixes (tempo, meter, key, instruments, sections and their bar counts) is obeyed exactly; a budget of
`max_events` closes the piece (BARs, required SECTIONs, EOS) before it runs out, so decoding always
ends. Classifier-free guidance runs the conditional and unconditional rows as one batch of two.
Inference only: nothing here imports training code.

Why one file of ~600 lines: the options, the `Sampler` (logits to a choice), the `Writer` (one sequence's
grammar state and cache) and the flat and infilling loops are one decoding step seen from four sides; each
part is read with the others open, and the network's kernels already live in `structure.kernels`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from melodex.errors import MelodexError
from melodex.score import DRUM_PROGRAM, ROLES, Key, Score
from melodex.structure.conditioning import build_memory, controls_from_plan
from melodex.structure.model import MAX_INTERVAL, StructureModel
from melodex.tokens import (
    BAR,
    CHORD,
    EOS,
    F_CHORD,
    F_DUR,
    F_KIND,
    F_PITCH,
    F_POS,
    F_PROGRAM,
    F_ROLE,
    F_TRACK,
    F_VEL,
    FIELDS,
    KIND_FIELDS,
    KINDS,
    MAX_POSITIONS,
    MAX_TRACKS,
    METER,
    NOTE,
    SECTION,
    TEMPO,
    TRACK,
    DecodingState,
    Plan,
    TokenError,
    decode,
    validate,
)

DEFAULT_GUIDANCE = 1.5
# Temperature, scale lock and register bias were chosen together with the checkpoint's scale-degree
# calibration (`StructureModel.degree_bias`) by scripts/sweep_decoding.py on two sets of held-out works and
# by the notes-in-key rate on the shipped prompts (docs/RESULTS.md, "Structure model: calibrated decoding");
# the interval and stack calibration came later, fitted on training works (docs/RESULTS.md, session 12).
DEFAULT_TEMPERATURE = 1.1
# Scale lock: nats taken off the logit of every pitch outside the key's scale (pitched tracks only), after
# the CFG mix and before temperature. 0 plays the model as trained (with its calibration). With the shipped
# calibration, 1 puts 0.971 of the notes in key on the first 40 shipped prompts (held-out real music 0.978;
# `scripts/sweep_decoding.py --prompts 40`).
DEFAULT_KEY_BIAS = 1.0
# Every track plays: from the second bar on, while some track has not played a note, NOTE events and
# that track's index get these extra nats (the model alone left ~6% of asked-for tracks silent in 8 bars).
DEFAULT_PRESENCE_BIAS = 3.0
# Register: a note of a melody-like track (melody, lead, counter, bass) more than REGISTER_REACH semitones from
# the median of that track's notes so far loses this many nats per semitone beyond. The model steps like real
# tunes but drifts: its melodies span more (a few notes an octave away from the rest) where real ones return.
DEFAULT_REGISTER_BIAS = 1.0
# Drum notes (instrument, length, velocity) are drawn cooler than the rest: at the shared temperature the model
# spreads a kit over toms, crashes and claps where grooves sit on kick, snare and hats. Chosen on the tuning
# prompts (scripts/eval_song.py --drum-temperature; docs/RESULTS.md, "Songs").
DEFAULT_DRUM_TEMPERATURE = 0.6
REGISTER_REACH = 9
REGISTER_AFTER = 4  # notes a track writes before its register counts
_MELODIC_ROLES = frozenset(ROLES.index(role) for role in ("melody", "lead", "counter", "bass"))


def track_group(role_index: int) -> int:
    """The track group of a role, as the register bias and the scale-degree calibration see it: 0 for a
    melody-like line (melody, lead, counter, bass), 1 for the rest (chords, pads, accompaniment)."""
    return 0 if role_index in _MELODIC_ROLES else 1

_PITCHES = np.arange(128)
MAX_EVENTS = 4000
MAX_DRAWS = 8  # draws of one event before a stacked note's pitch is taken as the grammar leaves it
# What the budget lets through once only the closing events fit. Not SECTION: where the plan needs one, the
# grammar offers nothing else (and the count in `_closing_needed` has it); an optional one would spend an event.
_CLOSING = (BAR, EOS)
_DRUM_ROLE = np.array([role == "drums" for role in ROLES])


@functools.cache
def _in_scale(key_index: int) -> np.ndarray:
    """Which of the 128 MIDI pitches belong to the scale of key `key_index` (computed once per key)."""
    in_scale = np.isin(np.arange(128) % 12, Key.from_index(key_index).scale)
    in_scale.setflags(write=False)
    return in_scale


def check_plan(plan: Plan) -> None:
    """Reject plans the grammar would accept but no piece can satisfy, with a message saying what to fix."""
    for program, role in plan.tracks or ():
        if not 0 <= program <= DRUM_PROGRAM:
            raise TokenError(f"instrument program {program} is unknown: use a GM program 0-127 or {DRUM_PROGRAM} "
                             "for drums")
        if role not in ROLES:
            raise TokenError(f"track role {role!r} is not one of {', '.join(ROLES)}")
        if (program == DRUM_PROGRAM) != (role == "drums"):
            raise TokenError(f"program {program} cannot play the {role} role: drums go with program "
                             f"{DRUM_PROGRAM} and only there")
    for name, n_bars in plan.sections or ():
        if n_bars < 1:
            raise TokenError(f"section {name!r} has {n_bars} bars; every section needs at least one")
    plan.section_starts()  # unknown section names raise here


@dataclass(frozen=True)
class DecodingOptions:
    """How the structure model writes: everything besides the model, the text and the plan that decides the
    events. The same options always give the same events.

    `guidance` 1.0 disables CFG (one row), 0.0 is unconditional. `key_bias` is the scale lock (see
    DEFAULT_KEY_BIAS; 0 = off), `presence_bias` nudges silent tracks in (DEFAULT_PRESENCE_BIAS; 0 = off),
    `register_bias` keeps melody-like tracks near their register so far (DEFAULT_REGISTER_BIAS; 0 = off).
    `drum_temperature` draws drum notes cooler (None: at `temperature`; `write_song` then takes
    DEFAULT_DRUM_TEMPERATURE). `calibrated` False leaves out the checkpoint's calibration
    (`StructureModel.degree_bias`, `interval_bias`, `stack_bias`); `quantized` False decodes with float32 block
    weights (for measuring the int8 path; see `Int8Linear`). `mode`, `style` and `energy` are the controls
    the model is conditioned on besides the text (None: left to the model).
    """

    guidance: float = DEFAULT_GUIDANCE
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = 0.95
    seed: int = 0
    key_bias: float = DEFAULT_KEY_BIAS
    presence_bias: float = DEFAULT_PRESENCE_BIAS
    register_bias: float = DEFAULT_REGISTER_BIAS
    drum_temperature: float | None = None
    calibrated: bool = True
    quantized: bool = True
    mode: str | None = None
    style: str | None = None
    energy: int | None = None


class Sampler:
    """Turns the model's per-field logits into choices: CFG mix, grammar mask, temperature, top-p."""

    def __init__(self, model: StructureModel, memory_rows: int, options: DecodingOptions) -> None:
        temperature, top_p, drum_temperature = options.temperature, options.top_p, options.drum_temperature
        key_bias, presence_bias, register_bias = options.key_bias, options.presence_bias, options.register_bias
        if temperature < 0 or not 0 < top_p <= 1:
            raise MelodexError(f"temperature {temperature} must be >= 0 and top_p {top_p} in (0, 1]")
        if drum_temperature is not None and drum_temperature < 0:
            raise MelodexError(f"drum temperature {drum_temperature} must be >= 0")
        self.drum_temperature = temperature if drum_temperature is None else drum_temperature
        for name, value in (("key_bias", key_bias), ("presence_bias", presence_bias),
                            ("register_bias", register_bias)):
            if not 0 <= value <= 20:
                raise MelodexError(f"{name} {value} must be between 0 (off) and 20 nats")
        self.model, self.rows, self.guidance = model, memory_rows, options.guidance
        self.temperature, self.top_p = temperature, top_p
        self.key_bias, self.presence_bias, self.register_bias = key_bias, presence_bias, register_bias
        calibrated = options.calibrated
        self.degree_bias = model.degree_bias if calibrated else None
        self.stack_bias = model.stack_bias if calibrated else 0.0
        self.interval_bias = model.interval_bias if calibrated else None
        self._degree_rows: dict[tuple[int, int], np.ndarray] = {}
        self.rng = np.random.default_rng(options.seed)

    def field_bias(self, state: DecodingState, field_index: int, chosen: dict[int, int]) -> np.ndarray | None:
        """Additive logits for one field of a NOTE: the scale lock on its pitch, the presence bias on its
        track (None: no bias)."""
        if field_index == F_PITCH:
            return self.pitch_bias(state, chosen[F_TRACK])
        if field_index == F_TRACK:
            return self.track_bias(state)
        return None

    def pitch_bias(self, state: DecodingState, track: int) -> np.ndarray | None:
        """Additive logits over the 128 pitches of a note on `track`: the calibration's scale degrees and
        intervals, the scale lock and the register (None: no bias)."""
        if track in state.drum_tracks:
            return None
        bias = None
        group = track_group(state.track_roles[track])
        if self.degree_bias is not None and state.key >= 0:
            bias = self._degrees(state.key, group)
        if self.key_bias != 0 and state.key >= 0:
            lock = np.where(_in_scale(state.key), 0.0, -self.key_bias)
            bias = lock if bias is None else bias + lock
        last = state.track_last_pitch.get(track)
        if self.interval_bias is not None and group == 0 and last is not None:
            leap = self.interval_bias[np.clip(_PITCHES - last, -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL]
            bias = leap if bias is None else bias + leap
        counts = state.track_pitches.get(track)
        if self.register_bias != 0 and counts is not None and state.track_notes[track] >= REGISTER_AFTER and group == 0:
            median = int(np.searchsorted(np.cumsum(counts), (state.track_notes[track] + 1) / 2))
            far = np.maximum(np.abs(_PITCHES - median) - REGISTER_REACH, 0) * -self.register_bias
            bias = far if bias is None else bias + far
        return bias

    def _degrees(self, key_index: int, group: int) -> np.ndarray:
        """The calibration's nats for each of the 128 pitches, in key `key_index`, for track group `group`."""
        row = self._degree_rows.get((key_index, group))
        if row is None:
            assert self.degree_bias is not None
            key = Key.from_index(key_index)
            table = self.degree_bias[0 if key.mode == "major" else 1, group]
            row = self._degree_rows[(key_index, group)] = table[(_PITCHES - key.tonic) % 12]
        return row

    def _mix(self, logits: torch.Tensor) -> np.ndarray:
        # Row 0 is conditional, row 1 unconditional (numpy: the same float32 arithmetic, fewer op calls).
        rows = logits.numpy()
        return rows[1] + self.guidance * (rows[0] - rows[1]) if self.rows == 2 else rows[0]

    def _silent(self, state: DecodingState) -> list[int]:
        if self.presence_bias == 0 or state.bars < 2:
            return []
        return [t for t in range(state.n_tracks) if state.track_notes.get(t, 0) == 0]

    def kind_bias(self, state: DecodingState) -> np.ndarray | None:
        """Extra nats for NOTE while a track is still silent (see DEFAULT_PRESENCE_BIAS)."""
        if not self._silent(state):
            return None
        bias = np.zeros(len(KINDS))
        bias[NOTE] = self.presence_bias
        return bias

    def track_bias(self, state: DecodingState) -> np.ndarray | None:
        silent = self._silent(state)
        if not silent:
            return None
        bias = np.zeros(MAX_TRACKS)
        bias[silent] = self.presence_bias
        return bias

    def refuses_stacked_note(self, state: DecodingState, field_index: int, chosen: dict[int, int],
                             logits: torch.Tensor, mask: np.ndarray, bias: np.ndarray | None) -> bool:
        """Whether to draw the event again at this field: it is the pitch of a note stacked on the previous
        one, and the draw refuses it (see `keeps_stacked_pitch` and `Writer.propose`)."""
        if field_index != F_PITCH or not _stacked(state, chosen):
            return False
        melody_like = track_group(state.track_roles[chosen[F_TRACK]]) == 0
        return not self.keeps_stacked_pitch(logits, mask, bias, self.stack_bias if melody_like else 0.0)

    def keeps_stacked_pitch(self, logits: torch.Tensor, mask: np.ndarray, bias: np.ndarray | None,
                            penalty: float = 0.0) -> bool:
        """Whether a note stacked above the previous one stands: drawn true with the probability the model
        gives the pitches the grammar leaves it, times exp(`penalty`) (the calibration's stack bias, <= 0, on
        melody-like tracks), so a stacked event's probability is the model's times exp(penalty) (see
        `Writer.propose`). Greedy decoding (temperature 0) keeps its argmax and ignores the penalty."""
        scores = self._mix(logits) if bias is None else self._mix(logits) + bias
        if self.temperature == 0:
            return bool(mask[int(np.argmax(scores))])
        probs = np.exp((scores - scores.max()) / self.temperature)
        return bool(self.rng.random() * probs.sum() < probs[mask].sum() * np.exp(penalty))

    def field_temperature(self, state: DecodingState, field_index: int, chosen: dict[int, int]) -> float:
        """The temperature of one field: the drums' for a drum note's instrument, length and velocity."""
        if field_index in (F_PITCH, F_DUR, F_VEL) and chosen.get(F_TRACK) in state.drum_tracks:
            return self.drum_temperature
        return self.temperature

    def choose(self, logits: torch.Tensor, mask: np.ndarray, bias: np.ndarray | None = None,
               temperature: float | None = None) -> int:
        temperature = self.temperature if temperature is None else temperature
        if not mask.any():
            raise TokenError("the grammar left no choice here (a plan the decoder cannot satisfy)")
        scores = self._mix(logits)
        if bias is not None:
            scores = scores + bias
        allowed = np.flatnonzero(mask)
        if len(allowed) == 1:
            return int(allowed[0])
        values = scores[allowed].astype(np.float64)
        if temperature == 0:
            return int(allowed[int(np.argmax(values))])
        values = (values - values.max()) / temperature
        probs = np.exp(values)
        probs /= probs.sum()
        if self.top_p < 1:
            order = np.argsort(-probs)
            ranked = probs[order]
            keep = np.cumsum(ranked) - ranked < self.top_p
            probs = np.zeros_like(probs)
            probs[order[keep]] = ranked[keep]
        # Inverse-CDF draw: what Generator.choice(p=...) does, without its per-call validation.
        cdf = np.cumsum(probs)
        return int(allowed[np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right")])


class Writer:
    """One sequence being written: the grammar state, the model's KV cache and the hidden state."""

    def __init__(self, model: StructureModel, text: str, plan: Plan, options: DecodingOptions,
                 capacity: int) -> None:
        self.model = model
        guidance = options.guidance
        controls = controls_from_plan(plan, mode=options.mode, style=options.style, energy=options.energy)
        # Row 0 is conditional, row 1 (only with guidance other than 1) unconditional.
        keep = [True] if guidance == 1.0 else [False] if guidance == 0.0 else [True, False]
        self.rows = len(keep) if guidance != 0.0 else 1
        texts, control_rows = [text] * self.rows, [controls] * self.rows
        model.eval()
        with torch.inference_mode():
            self.memory = build_memory(model, texts, control_rows, torch.tensor(keep))
        self.cache = model.new_cache(self.rows, capacity, self.memory, options.quantized)
        self.state = DecodingState(plan)
        self.events: list[np.ndarray] = []
        self.hidden: torch.Tensor | None = None

    def feed(self, rows: np.ndarray) -> None:
        """Push events through the grammar and the model (one forward pass for all of them)."""
        bars, roles = [], []
        for row in rows:
            self.state.push(row)
            self.events.append(np.asarray(row, dtype=np.int64))
            bars.append(max(self.state.bars - 1, 0))
            roles.append(self.state.track_roles[row[F_TRACK]] if row[F_KIND] == NOTE else -1)
        events = torch.from_numpy(np.asarray(rows, dtype=np.int64)).reshape(1, -1, len(FIELDS))
        bar_ids = torch.tensor(bars, dtype=torch.long)[None]
        role_ids = torch.tensor(roles, dtype=torch.long)[None].expand(self.rows, -1)
        self.hidden = self.model.step(events.expand(self.rows, -1, -1), bar_ids.expand(self.rows, -1), self.cache,
                                      role_ids)

    @torch.inference_mode()
    def propose(self, sampler: Sampler, kind_mask: np.ndarray,
                field_masks: dict[int, np.ndarray] | None = None) -> np.ndarray:
        """Sample one event: kind, then each field in order, each through the grammar's mask.

        A note on the same position and track as the previous one must sit above it, so the grammar's pitch
        mask may leave only pitches the model does not want (it then climbs to 127 in a run of stacked notes).
        Such a note stands with the probability the model gives the allowed pitches, else the whole event
        is drawn again: rejection sampling of the masked joint distribution. The last of MAX_DRAWS draws
        may not stack at all (a model stuck in clusters would otherwise keep one after every refusal).
        """
        for draw in range(MAX_DRAWS):
            row = self._draw(sampler, kind_mask, field_masks, last_draw=draw == MAX_DRAWS - 1)
            if row is not None:
                return row
        raise AssertionError("the last draw is always kept")

    def _draw(self, sampler: Sampler, kind_mask: np.ndarray, field_masks: dict[int, np.ndarray] | None,
              last_draw: bool) -> np.ndarray | None:
        assert self.hidden is not None
        model, h, state = self.model, self.hidden, self.state
        if last_draw:
            kind_mask = _unstacked(kind_mask, ~_stack_free_positions(state).any(), NOTE)
        kind = sampler.choose(model.kind_head(h), kind_mask, sampler.kind_bias(state))
        row = np.zeros(len(FIELDS), dtype=np.int64)
        row[F_KIND] = kind
        chosen: dict[int, int] = {}
        fields = KIND_FIELDS[kind]
        if fields:
            base = h + model.choice_embedding(F_KIND, kind)
            for field_index in fields:
                mask = state.field_mask(kind, field_index, chosen)
                if field_masks and field_index in field_masks:
                    mask = mask & field_masks[field_index]
                if field_index == F_ROLE:  # a drum kit plays the drums role, and nothing else does
                    mask = mask & (_DRUM_ROLE if chosen[F_PROGRAM] == DRUM_PROGRAM else ~_DRUM_ROLE)
                if last_draw and kind == NOTE and field_index == F_POS:
                    mask = _unstacked(mask, ~_stack_free_positions(state)[state.last_note[0]], state.last_note[0])
                if last_draw and kind == NOTE and field_index == F_TRACK and chosen[F_POS] == state.last_note[0]:
                    mask = _unstacked(mask, True, state.last_note[1])
                logits = field_logits(model, base, field_index, state, chosen)
                bias = sampler.field_bias(state, field_index, chosen)
                if not last_draw and sampler.refuses_stacked_note(state, field_index, chosen, logits, mask, bias):
                    return None
                value = sampler.choose(logits, mask, bias, sampler.field_temperature(state, field_index, chosen))
                chosen[field_index] = row[field_index] = value
                base = with_choice(model, base, state, field_index, value)
        return row


def with_choice(model: StructureModel, base: torch.Tensor, state: DecodingState, field_index: int,
                value: int) -> torch.Tensor:
    """The heads' input once `value` is chosen for `field_index`: its embedding, and for a note's track the
    track's role (a model with `role_embedding`)."""
    base = base + model.choice_embedding(field_index, value)
    if field_index == F_TRACK and model.role_embed_out is not None:
        base = base + model.role_choice(torch.tensor(state.track_roles[value]))
    return base


def field_logits(model: StructureModel, base: torch.Tensor, field_index: int, state: DecodingState,
                 chosen: dict[int, int]) -> torch.Tensor:
    """The model's logits for one field of the event being written, with its harmony heads' terms."""
    logits = model.field_logits(base, field_index)
    if model.harmony is None or field_index not in (F_PITCH, F_CHORD):
        return logits
    rows = base.shape[0]
    track = chosen.get(F_TRACK, 0)
    role = state.track_roles[track] if track < len(state.track_roles) else 0
    context = [torch.full((rows,), value, dtype=torch.long) for value in (state.chord, state.key, role)]
    return logits + model.harmony_logits(base, field_index, *context)


def _unstacked(mask: np.ndarray, drop: bool | np.bool_, index: int) -> np.ndarray:
    """`mask` without `index` when `drop`, unless that would leave no choice at all."""
    if not drop or index < 0 or not mask[index] or mask.sum() == 1:
        return mask
    mask = mask.copy()
    mask[index] = False
    return mask


def _stack_free_positions(state: DecodingState) -> np.ndarray:
    """Positions where a note can be written without stacking on the previous note (empty outside a bar)."""
    positions = state.field_mask(NOTE, F_POS) if state.kind_mask()[NOTE] else np.zeros(MAX_POSITIONS, dtype=bool)
    last_pos, last_track, _ = state.last_note
    if 0 <= last_pos < len(positions) and positions[last_pos]:
        tracks = state.field_mask(NOTE, F_TRACK, {F_POS: last_pos})
        positions[last_pos] = tracks.sum() > (1 if tracks[last_track] else 0)
    return positions


def _stacked(state: DecodingState, chosen: dict[int, int]) -> bool:
    """Whether the note being written shares position and track with the previous note (so must go above it)."""
    last_pos, last_track, _ = state.last_note
    return (chosen.get(F_POS), chosen.get(F_TRACK)) == (last_pos, last_track)


def _closing_needed(state: DecodingState) -> int:
    """Events still required to finish the plan: BARs, SECTIONs that must open, and EOS."""
    plan = state.plan
    if plan.n_bars is None:
        return 1
    starts = state._section_starts
    sections = sum(1 for bar in starts if bar >= state.bars)
    if state.phase == "bar_head" and state.bars - 1 in starts and SECTION not in state.head_done:
        sections += 1
    return plan.n_bars - state.bars + sections + 1


def _kind_mask(state: DecodingState, budget_left: int) -> np.ndarray:
    mask = state.kind_mask()
    if budget_left <= _closing_needed(state) + 1 and state.phase in ("bar_head", "body"):
        closing = np.zeros_like(mask)
        closing[list(_CLOSING) if state.plan.n_bars is not None else [EOS]] = True
        if (mask & closing).any():
            return mask & closing
    return mask


def generate_score(model: StructureModel, text: str, plan: Plan | None = None,
                   options: DecodingOptions = DecodingOptions(), *, max_events: int = MAX_EVENTS,
                   progress: Callable[[float], None] | None = None) -> tuple[Score, np.ndarray]:
    """Write a whole arrangement for `text` that obeys `plan` exactly, decoded as `options` say; returns
    (Score, events).

    Plan fields left None are chosen by the model; at most `max_events` events. The same arguments always
    give the same result. `progress` hears the share of the plan's bars written so far (when the plan fixes
    the bar count).
    """
    plan = plan or Plan()
    check_plan(plan)
    minimum = 4 + len(plan.tracks or (1,)) + (plan.n_bars or 1) + len(plan.sections or ()) + 1
    if max_events < minimum:
        raise MelodexError(f"max_events {max_events} cannot hold this plan; it needs at least {minimum}")
    torch.manual_seed(options.seed)
    writer = Writer(model, text, plan, options, max_events + 1)
    sampler = Sampler(model, writer.rows, options)
    first = np.zeros(len(FIELDS), dtype=np.int64)
    first[F_KIND] = 1  # BOS: the only way to start
    writer.feed(first[None])
    bars_done = 0
    while writer.state.phase != "done":
        row = writer.propose(sampler, _kind_mask(writer.state, max_events - len(writer.events)))
        writer.feed(row[None])
        if progress is not None and plan.n_bars and writer.state.bars != bars_done:
            bars_done = writer.state.bars
            progress(min(1.0, bars_done / (plan.n_bars + 1)))
    events = np.stack(writer.events)
    validate(events, plan)
    return decode(events), events


def infill(model: StructureModel, events: np.ndarray, bars: tuple[int, int], tracks: Sequence[int],
           text: str = "", plan: Plan | None = None, options: DecodingOptions = DecodingOptions(), *,
           max_new_events: int = 2000,
           progress: Callable[[float], None] | None = None) -> tuple[Score, np.ndarray]:
    """Rewrite the notes of `tracks` in bars [a, b) (0-based, b exclusive), keeping every other event,
    decoded as `options` say.

    The model writes in the usual order while the kept events (bar heads, chords, the other tracks'
    notes) are forced in their canonical places: at each step it may add a note of a chosen track that
    sorts before the next kept event, or let that event come. Events outside the span are untouched.
    """
    events = np.asarray(events, dtype=np.int64)
    validate(events, plan)
    first, end = bars
    kinds = events[:, F_KIND]
    n_bars = int((kinds == BAR).sum())
    if not 0 <= first < end <= n_bars:
        raise MelodexError(f"bars ({first}, {end}) are not a span inside the piece's {n_bars} bars")
    header_tracks = int((kinds == TRACK).sum())
    tracks = sorted(set(tracks))
    if not tracks or min(tracks) < 0 or max(tracks) >= header_tracks:
        raise MelodexError(f"tracks {tracks} are not tracks of this piece (0-{header_tracks - 1})")
    bar_events = np.flatnonzero(kinds == BAR)
    start = int(bar_events[first])
    stop = int(bar_events[end]) if end < n_bars else int(np.flatnonzero(kinds == EOS)[0])
    regen = set(tracks)
    kept = [row for row in events[start + 1:stop] if not (row[F_KIND] == NOTE and row[F_TRACK] in regen)]
    kept.append(events[stop])  # the barrier: the next bar line, or EOS
    capacity = len(events) + max_new_events + 1
    writer = Writer(model, text, plan or Plan(), options, capacity)
    sampler = Sampler(model, writer.rows, options)
    writer.feed(events[: start + 1])
    new_events = 0
    for done, fixed in enumerate(kept):
        if progress is not None:
            progress(done / len(kept))  # the kept events are the span's landmarks, spread through it
        while True:
            kind = int(fixed[F_KIND])
            if kind in (METER, TEMPO, SECTION) or new_events >= max_new_events:
                break  # bar-head events follow their BAR directly; the budget is spent
            kind_mask = writer.state.kind_mask()
            allowed = np.zeros_like(kind_mask)
            allowed[[NOTE, kind]] = True
            kind_mask &= allowed
            if not kind_mask[NOTE]:
                break
            limit = {NOTE: int(fixed[F_POS]) + 1, CHORD: int(fixed[F_POS])}.get(kind, 10**6)
            pos_mask = np.arange(MAX_POSITIONS) < limit
            track_mask = np.isin(np.arange(MAX_TRACKS), tracks)
            if kind == NOTE:
                track_mask = track_mask.copy()
                track_mask[int(fixed[F_TRACK])] = True  # choosing the kept note's track lets it come
            row = note_before(writer, sampler, kind_mask, pos_mask, track_mask, fixed)
            if row is None:
                break
            writer.feed(row[None])
            new_events += 1
        writer.feed(np.asarray(fixed)[None])
    out = np.concatenate([np.stack(writer.events), events[stop + 1:]])
    validate(out, plan)
    return decode(out), out


def note_before(writer: Writer, sampler: Sampler, kind_mask: np.ndarray, pos_mask: np.ndarray,
                track_mask: np.ndarray, fixed: np.ndarray) -> np.ndarray | None:
    """A new note of a track in `track_mask` that sorts before the kept event `fixed`, or None if the model
    lets `fixed` come; a refused stacked note is drawn again, as in `Writer.propose`."""
    row: np.ndarray | None = None
    for draw in range(MAX_DRAWS):
        row, redraw = _propose_before(writer, sampler, kind_mask, pos_mask, track_mask, fixed,
                                      last_draw=draw == MAX_DRAWS - 1)
        if not redraw:
            break
    return row


def _propose_before(writer: Writer, sampler: Sampler, kind_mask: np.ndarray, pos_mask: np.ndarray,
                    track_mask: np.ndarray, fixed: np.ndarray,
                    last_draw: bool) -> tuple[np.ndarray | None, bool]:
    """(A new note of a chosen track that sorts before `fixed`, or None if the model lets `fixed` come;
    whether to draw again: a stacked note's pitch was refused as in `Writer.propose`)."""
    state = writer.state
    model, h = writer.model, writer.hidden
    assert h is not None
    with torch.inference_mode():
        kind = sampler.choose(model.kind_head(h), kind_mask, sampler.kind_bias(state))
        if kind != NOTE:
            return None, False
        fixed_kind = int(fixed[F_KIND])
        pos_allowed = state.field_mask(NOTE, F_POS) & pos_mask
        if not pos_allowed.any():
            return None, False
        base = h + model.choice_embedding(F_KIND, NOTE)
        row = np.zeros(len(FIELDS), dtype=np.int64)
        row[F_KIND] = NOTE
        chosen: dict[int, int] = {}
        for field_index in KIND_FIELDS[NOTE]:
            if field_index == F_POS:
                mask = pos_allowed
            else:
                mask = state.field_mask(NOTE, field_index, chosen)
                if field_index == F_TRACK:
                    mask = mask & track_mask
                    if fixed_kind == NOTE and chosen[F_POS] == int(fixed[F_POS]):
                        mask &= np.arange(len(mask)) <= int(fixed[F_TRACK])
                    elif fixed_kind == NOTE:  # the kept note's track only stands for "let it come" at its position
                        mask[int(fixed[F_TRACK])] = False
                    if last_draw and chosen[F_POS] == state.last_note[0]:  # as in Writer._draw: no stacking
                        mask = _unstacked(mask, True, state.last_note[1])
            if not mask.any():
                return None, False
            logits = field_logits(model, base, field_index, state, chosen)
            bias = sampler.field_bias(state, field_index, chosen)
            if not last_draw and sampler.refuses_stacked_note(state, field_index, chosen, logits, mask, bias):
                return None, True
            value = sampler.choose(logits, mask, bias, sampler.field_temperature(state, field_index, chosen))
            if field_index == F_TRACK and fixed_kind == NOTE and value == int(fixed[F_TRACK]) \
                    and chosen[F_POS] == int(fixed[F_POS]):
                return None, False  # the model wants the kept note here
            chosen[field_index] = row[field_index] = value
            base = with_choice(model, base, state, field_index, value)
    return row, False
