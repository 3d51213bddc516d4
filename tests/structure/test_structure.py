"""Structure model: shapes, learning, KV cache, CFG, exact plans, infilling, determinism, checkpoints.

Why one file (~520 lines): the seam is the network and its kernels (model.py, kernels.py, harmony.py) against
decoding (generate.py), but both halves run on the same module-scoped tiny model and its variants (`tiny`,
`with_roles`, `chatty`) and `batch_of`; tests/structure is not a package, so a conftest.py of its own would
take the module name `conftest` that other tests import tests/conftest.py's models by, and split files would
build the models twice or import them from each other.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from melodex.errors import MelodexError
from melodex.score import DRUM_PROGRAM, Key, Score
from melodex.structure.conditioning import build_memory, controls_from_plan
from melodex.structure.generate import (
    MAX_INTERVAL,
    REGISTER_AFTER,
    REGISTER_REACH,
    DecodingOptions,
    generate_score,
    infill,
)
from melodex.structure.harmony import harmony_context, note_roles
from melodex.structure.model import StructureConfig, StructureModel, load_model, with_role_embedding
from melodex.tokens import encode
from melodex.tokens_grammar import Plan, validate
from melodex.tokens_vocabulary import F_KIND, F_TRACK, FIELDS, MAX_POSITIONS, NOTE, TokenError, bar_and_position
from test_tokens import make_score

WEIGHTS = Path(__file__).resolve().parents[2] / "src" / "melodex" / "weights" / "structure"
PLAN = Plan(bpm=97, meter=(4, 4), key=Key(5, "minor"),
            tracks=((0, "melody"), (33, "bass"), (DRUM_PROGRAM, "drums")),
            sections=(("intro", 2), ("verse", 3), ("chorus", 2)))


@pytest.fixture(scope="module")
def tiny() -> StructureModel:
    torch.manual_seed(0)
    model = StructureModel(StructureConfig.tiny())
    model.eval()
    return model


def batch_of(score_events: np.ndarray, model: StructureModel, n: int = 2):  # type: ignore[no-untyped-def]
    events = torch.from_numpy(score_events).long()[None].expand(n, -1, -1).contiguous()
    bars = torch.from_numpy(bar_and_position(score_events)[0]).long()[None].expand(n, -1).contiguous()
    memory = build_memory(model, ["dark piano"] * n, [controls_from_plan(PLAN)] * n)
    return events, bars, memory


def test_forward_shapes_and_loss(tiny: StructureModel) -> None:
    events, bars, memory = batch_of(encode(make_score()), tiny)
    hidden = tiny.hidden(events, bars, memory)
    assert hidden.shape == (2, events.shape[1], tiny.config.d_model)
    loss, parts = tiny.loss(events, bars, memory)
    assert torch.isfinite(loss) and loss.item() > 1.0
    assert {"kind", "pitch", "pos", "dur", "nll"} <= set(parts)


def test_loss_decreases_on_a_tiny_batch() -> None:
    torch.manual_seed(1)
    model = StructureModel(StructureConfig.tiny())
    events, bars, memory = batch_of(encode(make_score()), model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        memory = build_memory(model, ["dark piano"] * 2, [controls_from_plan(PLAN)] * 2)
        loss, _ = model.loss(events, bars, memory)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.6 * first


def test_kv_cache_matches_full_recompute(tiny: StructureModel) -> None:
    events, bars, memory = batch_of(encode(make_score())[:60], tiny, n=1)
    with torch.no_grad():
        full = tiny.hidden(events, bars, memory)
    cache = tiny.new_cache(1, 80, memory, quantized=False)
    prefix = tiny.step(events[:, :20], bars[:, :20], cache)
    torch.testing.assert_close(prefix, full[:, 19], atol=1e-4, rtol=1e-4)
    for t in range(20, 60):
        step = tiny.step(events[:, t:t + 1], bars[:, t:t + 1], cache)
        torch.testing.assert_close(step, full[:, t], atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def with_roles(tiny: StructureModel) -> StructureModel:
    """The tiny model with note-role tables, filled with random values (zero tables would test nothing)."""
    torch.manual_seed(3)
    model = with_role_embedding(tiny)
    assert model.role_embed_in is not None and model.role_embed_out is not None
    with torch.no_grad():
        model.role_embed_in.weight.normal_(0, 0.5)
        model.role_embed_out.weight.normal_(0, 0.5)
    return model.eval()


def test_role_tables_start_at_zero_and_change_nothing_until_trained(tiny: StructureModel) -> None:
    events, bars, memory = batch_of(encode(make_score()), tiny, n=1)
    upgraded = with_role_embedding(tiny)
    with torch.no_grad():
        assert torch.equal(upgraded.loss(events, bars, memory)[0], tiny.loss(events, bars, memory)[0])
    _, a = generate_score(tiny, "dark piano", PLAN, DecodingOptions(seed=4), max_events=700)
    _, b = generate_score(upgraded, "dark piano", PLAN, DecodingOptions(seed=4), max_events=700)
    assert np.array_equal(a, b)


def test_note_roles_name_each_notes_track(with_roles: StructureModel) -> None:
    events = torch.from_numpy(encode(make_score())).long()[None]
    roles = note_roles(events, harmony_context(events).track_roles)[0]
    notes = events[0, :, F_KIND] == NOTE
    assert bool((roles[~notes] == -1).all()) and bool((roles[notes] >= 0).all())
    assert len(set(roles[notes].tolist())) > 1  # the example's tracks play different roles


def test_kv_cache_with_roles_matches_full_recompute(with_roles: StructureModel) -> None:
    events, bars, memory = batch_of(encode(make_score())[:60], with_roles, n=1)
    roles = note_roles(events, harmony_context(events).track_roles)
    with torch.no_grad():
        full = with_roles.hidden(events, bars, memory)
        assert not torch.allclose(full, without_role_input(with_roles).hidden(events, bars, memory), atol=1e-3)
    cache = with_roles.new_cache(1, 80, memory, quantized=False)
    for t in range(60):
        step = with_roles.step(events[:, t:t + 1], bars[:, t:t + 1], cache, roles[:, t:t + 1])
        torch.testing.assert_close(step, full[:, t], atol=1e-4, rtol=1e-4)


def without_role_input(model: StructureModel) -> StructureModel:
    """A copy of `model` whose trunk-input role table (the one `hidden` reads) is zero."""
    off = copy.deepcopy(model)
    assert off.role_embed_in is not None
    with torch.no_grad():
        off.role_embed_in.weight.zero_()
    return off


def test_a_model_with_role_tables_writes_the_plan_exactly(with_roles: StructureModel) -> None:
    score, _ = generate_score(with_roles, "dark piano", PLAN, DecodingOptions(seed=2), max_events=700)
    assert [s.n_bars for s in score.sections] == [2, 3, 2]
    assert [(t.program, t.role) for t in score.tracks] == list(PLAN.tracks)


def test_int8_decoding_stays_close_to_float(tiny: StructureModel) -> None:
    events, bars, memory = batch_of(encode(make_score())[:60], tiny, n=1)
    exact, quantized = tiny.new_cache(1, 80, memory, quantized=False), tiny.new_cache(1, 80, memory)
    a = torch.cat([tiny.step(events[:, t:t + 1], bars[:, t:t + 1], exact) for t in range(60)])
    b = torch.cat([tiny.step(events[:, t:t + 1], bars[:, t:t + 1], quantized) for t in range(60)])
    assert not torch.equal(a, b)  # the int8 path is really taken
    assert float((a - b).norm() / a.norm()) < 0.02


def test_guidance_changes_the_logits(tiny: StructureModel) -> None:
    events, bars, _ = batch_of(encode(make_score())[:30], tiny, n=2)
    memory = build_memory(tiny, ["dark piano"] * 2, [controls_from_plan(PLAN)] * 2, torch.tensor([True, False]))
    with torch.no_grad():
        logits = tiny.kind_head(tiny.hidden(events, bars, memory)[:, -1])
    assert not torch.allclose(logits[0], logits[1])
    guided = logits[1] + 3.0 * (logits[0] - logits[1])
    assert not torch.allclose(guided, logits[0])


@pytest.mark.parametrize("seed", range(3))
def test_random_weights_still_obey_the_plan_exactly(tiny: StructureModel, seed: int) -> None:
    plan = PLAN if seed != 1 else Plan(bpm=140, meter=(6, 8), key=Key(9, "minor"),
                                       tracks=((40, "melody"), (24, "accompaniment")), sections=(("A", 2), ("B", 2)))
    score, events = generate_score(tiny, "a test", plan, options=DecodingOptions(seed=seed), max_events=700)
    validate(events, plan)
    assert score.bpm == plan.bpm and (score.meter.numerator, score.meter.denominator) == plan.meter
    assert score.key == plan.key
    assert [(t.program, t.role) for t in score.tracks] == list(plan.tracks or ())
    assert [(s.name.split(" ")[0], s.n_bars) for s in score.sections] == list(plan.sections or ())
    assert score.bar_count() == plan.n_bars
    assert len(events) <= 700


def test_free_form_generation_ends_within_the_budget(tiny: StructureModel) -> None:
    score, events = generate_score(tiny, "anything", None, options=DecodingOptions(seed=4), max_events=200)
    assert len(events) <= 200 and events[-1, F_KIND] == 2  # EOS
    validate(events)
    for track in score.tracks:
        assert (track.program == DRUM_PROGRAM) == (track.role == "drums")


def test_generation_is_deterministic_by_seed(tiny: StructureModel) -> None:
    _, a = generate_score(tiny, "a test", PLAN, options=DecodingOptions(seed=7), max_events=500)
    _, b = generate_score(tiny, "a test", PLAN, options=DecodingOptions(seed=7), max_events=500)
    _, c = generate_score(tiny, "a test", PLAN, options=DecodingOptions(seed=8), max_events=500)
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_infilling_keeps_everything_outside_the_span(tiny: StructureModel) -> None:
    original = encode(make_score())
    plan = Plan(tracks=((0, "melody"), (DRUM_PROGRAM, "drums"), (33, "bass")))
    score, events = infill(tiny, original, options=DecodingOptions(seed=3), bars=(2, 5), tracks=[0], text="x",
                           plan=plan)
    validate(events, plan)
    bars_before, _ = bar_and_position(original)
    bars_after, _ = bar_and_position(events)

    def outside_or_kept(ev: np.ndarray, bars: np.ndarray) -> np.ndarray:
        regenerated = (ev[:, F_KIND] == NOTE) & (ev[:, F_TRACK] == 0) & (bars >= 2) & (bars < 5)
        return ev[~regenerated]

    np.testing.assert_array_equal(outside_or_kept(original, bars_before), outside_or_kept(events, bars_after))
    assert score.bar_count() == 8
    new_notes = events[(events[:, F_KIND] == NOTE) & (events[:, F_TRACK] == 0) & (bars_after >= 2) & (bars_after < 5)]
    old_notes = original[(original[:, F_KIND] == NOTE) & (original[:, F_TRACK] == 0) & (bars_before >= 2)
                         & (bars_before < 5)]
    assert new_notes.shape != old_notes.shape or not np.array_equal(new_notes, old_notes)


def test_infill_rejects_bad_spans(tiny: StructureModel) -> None:
    events = encode(make_score())
    with pytest.raises(MelodexError, match="bars"):
        infill(tiny, events, bars=(6, 12), tracks=[0])
    with pytest.raises(MelodexError, match="tracks"):
        infill(tiny, events, bars=(0, 2), tracks=[5])


def test_checkpoint_round_trip_and_corruption(tiny: StructureModel, tmp_path: Path) -> None:
    tiny.save(tmp_path / "ckpt", metadata={"step": 3})
    loaded = load_model(tmp_path / "ckpt")
    assert loaded.config == tiny.config
    for (name, a), (_, b) in zip(tiny.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    _, first = generate_score(tiny, "a test", PLAN, options=DecodingOptions(seed=2), max_events=400)
    _, second = generate_score(loaded, "a test", PLAN, options=DecodingOptions(seed=2), max_events=400)
    np.testing.assert_array_equal(first, second)
    weights = tmp_path / "ckpt" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(MelodexError, match="SHA-256"):
        load_model(tmp_path / "ckpt")
    with pytest.raises(MelodexError, match="no structure checkpoint"):
        load_model(tmp_path / "missing")


@pytest.mark.parametrize("make_plan, message", [
    (lambda: Plan(bpm=0), "BPM"),
    (lambda: Plan(n_bars=2000), "bars"),
    (lambda: Plan(tracks=((200, "melody"),)), "program"),
    (lambda: Plan(tracks=((0, "drums"),)), "drums"),
    (lambda: Plan(tracks=((0, "singer"),)), "role"),
    (lambda: Plan(meter=(7, 3)), "meter"),
    (lambda: Plan(sections=(("verse", 0),)), "bars"),
    (lambda: Plan(sections=(("versus", 4),)), "section"),
    (lambda: Plan(sections=(("verse", 4),), n_bars=9), "add up"),
])
def test_bad_plans_are_clear_errors(tiny: StructureModel, make_plan, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TokenError, match=message):
        generate_score(tiny, "x", make_plan(), max_events=100)


def test_too_small_a_budget_is_refused(tiny: StructureModel) -> None:
    with pytest.raises(MelodexError, match="max_events"):
        generate_score(tiny, "x", Plan(n_bars=300), max_events=50)


@pytest.mark.parametrize("seed", range(3))
def test_a_tight_budget_still_closes_a_long_plan(tiny: StructureModel, seed: int) -> None:
    # Without sections every bar head may take an optional SECTION: once the budget only fits the closing
    # BARs, those must not be spent on it (a 476-bar corpus plan once ran out of cache this way).
    plan = Plan(bpm=100, meter=(3, 8), key=Key(10, "major"), tracks=((40, "melody"), (42, "bass")), n_bars=120)
    score, events = generate_score(tiny, "x", plan, options=DecodingOptions(seed=seed), max_events=300)
    validate(events, plan)
    assert score.bar_count() == 120 and len(events) <= 300


def test_a_model_stuck_on_stacked_notes_does_not_climb_to_the_top(tiny: StructureModel) -> None:
    # Tilt the tiny model to always stack another note on the previous one (same position, same track) while
    # it wants low pitches: the grammar then only lets the pitch climb, which once ran melodies up to 127.
    model = StructureModel(StructureConfig.tiny())
    model.load_state_dict(tiny.state_dict())
    with torch.no_grad():
        model.field_heads[FIELDS.index("pitch")].bias[:] = torch.where(torch.arange(128) < 72, 0.0, -12.0)
        model.field_heads[FIELDS.index("pos")].bias[:] = -2.0 * torch.arange(MAX_POSITIONS)  # earliest allowed
        model.kind_head.bias[NOTE] += 4.0
    plan = Plan(bpm=100, meter=(4, 4), key=Key(0, "major"), tracks=((73, "melody"),), n_bars=4)
    score, _ = generate_score(model, "x", plan, options=DecodingOptions(seed=0), max_events=400)
    assert int(score.tracks[0].notes[:, 2].max()) < 90


def test_interval_calibration_is_read_from_the_checkpoint_and_keeps_melodies_stepwise(chatty: StructureModel,
                                                                                       tmp_path: Path) -> None:
    """An interval table that allows only steps of one or two semitones is loaded from config.json and obeyed by
    the melody (notes in writing order); the harmony track and `calibrated=False` leap; a malformed table is
    refused."""
    import json

    chatty.save(tmp_path / "ckpt")
    config = tmp_path / "ckpt" / "config.json"
    table = np.full(2 * MAX_INTERVAL + 1, -20.0)
    table[MAX_INTERVAL + np.array([-2, -1, 1, 2])] = 0.0
    meta = json.loads(config.read_text())
    meta["decoding"] = {"interval_bias": table.tolist()}
    config.write_text(json.dumps(meta))
    model = load_model(tmp_path / "ckpt")
    assert model.interval_bias is not None
    plan = Plan(bpm=97, meter=(4, 4), key=Key(2, "major"), tracks=((0, "melody"), (48, "harmony")), n_bars=4)

    def largest_step(score: Score, track: int) -> int:
        notes = score.tracks[track].notes
        return int(np.abs(np.diff(notes[np.lexsort((notes[:, 2], notes[:, 0])), 2])).max())

    steps = {}
    for calibrated in (True, False):
        score, events = generate_score(model, "a test", plan, options=DecodingOptions(seed=2, calibrated=calibrated),
                                       max_events=700)
        validate(events, plan)
        steps[calibrated] = largest_step(score, 0), largest_step(score, 1)
    assert steps[True][0] <= 2 and steps[False][0] > 4
    assert steps[True][1] > 4  # not melody-like: untouched
    meta["decoding"] = {"interval_bias": [0.0] * 24}
    config.write_text(json.dumps(meta))
    with pytest.raises(MelodexError, match="interval_bias"):
        load_model(tmp_path / "ckpt")


def test_stack_bias_is_read_from_the_checkpoint_and_keeps_melody_like_tracks_single_line(
        tiny: StructureModel, tmp_path: Path) -> None:
    """A model tilted to stack notes (earliest position first) writes chords on every track; the checkpoint's
    stack bias takes them out of the melody and the bass but leaves the harmony track's; `calibrated=False`
    plays without it; a positive bias (which rejection cannot apply) is refused."""
    import json

    model = StructureModel(StructureConfig.tiny())
    model.load_state_dict(tiny.state_dict())
    with torch.no_grad():
        model.field_heads[FIELDS.index("pos")].bias[:] = -2.0 * torch.arange(MAX_POSITIONS)
        model.kind_head.bias[NOTE] += 4.0
    model.save(tmp_path / "ckpt")
    config = tmp_path / "ckpt" / "config.json"
    meta = json.loads(config.read_text())
    meta["decoding"] = {"stack_bias": -20.0}
    config.write_text(json.dumps(meta))
    model = load_model(tmp_path / "ckpt")
    assert model.stack_bias == -20.0
    plan = Plan(bpm=100, meter=(4, 4), key=Key(0, "major"), tracks=((73, "melody"), (0, "harmony"), (33, "bass")),
                n_bars=4)

    def stacked(score: Score, track: int) -> int:
        onsets = score.tracks[track].notes[:, 0]
        return len(onsets) - len(np.unique(onsets))

    counts = {}
    for calibrated in (True, False):
        score, events = generate_score(model, "x", plan, options=DecodingOptions(seed=0, calibrated=calibrated),
                                       max_events=500)
        validate(events, plan)
        counts[calibrated] = [stacked(score, t) for t in range(3)]
    assert counts[False][0] >= 3 and counts[False][2] >= 3
    assert counts[True][0] == 0 and counts[True][2] == 0
    assert counts[True][1] >= 3  # harmony may play chords
    meta["decoding"] = {"stack_bias": 1.5}
    config.write_text(json.dumps(meta))
    with pytest.raises(MelodexError, match="stack_bias"):
        load_model(tmp_path / "ckpt")


SHIPPED_PLAN = Plan(bpm=100, meter=(4, 4), key=Key(7, "major"), tracks=((73, "melody"), (0, "accompaniment"),
                    (33, "bass"), (DRUM_PROGRAM, "drums")), sections=(("verse", 4), ("chorus", 4)))


def shipped_model() -> StructureModel:
    if not (WEIGHTS / "model.safetensors").exists():
        pytest.skip("no structure weights shipped yet")
    return load_model(WEIGHTS)


@pytest.mark.slow
def test_shipped_weights_obey_the_plan() -> None:
    score, events = generate_score(shipped_model(), "bright folk tune with piano, bass and drums", SHIPPED_PLAN,
                                   options=DecodingOptions(seed=0))
    validate(events, SHIPPED_PLAN)
    assert score.bar_count() == 8 and score.bpm == 100 and score.key == Key(7, "major")
    assert [(s.name.split(" ")[0], s.n_bars) for s in score.sections] == [("verse", 4), ("chorus", 4)]
    for track in score.tracks:
        assert len(track.notes) >= 4, f"track {track.program} is (nearly) silent"


def in_key_share(score: Score, key: Key) -> float:
    pitched = np.concatenate([t.notes[:, 2] for t in score.tracks if not t.is_drum and len(t.notes)])
    return float(np.isin(pitched % 12, key.scale).mean())


@pytest.mark.slow
def test_shipped_weights_write_mostly_in_key_without_the_scale_lock() -> None:
    """The model alone (chance 0.58; held-out real music 0.98; the model ~0.94 over validation plans)."""
    score, _ = generate_score(shipped_model(), "bright folk tune with piano, bass and drums", SHIPPED_PLAN,
                              options=DecodingOptions(seed=0, key_bias=0.0, calibrated=False, register_bias=0.0,
                              temperature=1.0))
    assert in_key_share(score, Key(7, "major")) > 0.75


@pytest.mark.slow
def test_shipped_weights_with_the_default_scale_lock_stay_in_key() -> None:
    score, _ = generate_score(shipped_model(), "bright folk tune with piano, bass and drums", SHIPPED_PLAN,
                              options=DecodingOptions(seed=0))
    assert in_key_share(score, Key(7, "major")) > 0.9


def test_presence_bias_lets_every_asked_for_track_play(tiny: StructureModel) -> None:
    """Random weights leave some of six tracks silent over four bars; the presence bias does not."""
    plan = Plan(bpm=97, meter=(4, 4), key=Key(5, "minor"), sections=(("verse", 4),),
                tracks=((0, "melody"), (33, "bass"), (40, "counter"), (41, "counter"), (42, "counter"),
                        (DRUM_PROGRAM, "drums")))
    silent = {}
    for bias in (0.0, 20.0):
        silent[bias] = 0
        for seed in (0, 2, 4):
            score, events = generate_score(tiny, "x", plan, options=DecodingOptions(seed=seed, presence_bias=bias),
                                           max_events=900)
            validate(events, plan)
            silent[bias] += sum(len(t.notes) == 0 for t in score.tracks)
    assert silent[0.0] >= 3
    assert silent[20.0] == 0


def test_scale_lock_moves_random_weights_into_the_key(tiny: StructureModel) -> None:
    """Random weights pick pitches with no regard for the key; a strong lock leaves only scale notes."""
    shares = {}
    for bias in (0.0, 20.0):
        score, events = generate_score(tiny, "a test", PLAN, options=DecodingOptions(seed=2, key_bias=bias),
                                       max_events=700)
        validate(events, PLAN)
        shares[bias] = in_key_share(score, PLAN.key)
    assert shares[0.0] < 0.85
    assert shares[20.0] == 1.0
    with pytest.raises(MelodexError, match="key_bias"):
        generate_score(tiny, "a test", PLAN, options=DecodingOptions(seed=2, key_bias=-1.0), max_events=700)


@pytest.fixture(scope="module")
def chatty(tiny: StructureModel) -> StructureModel:
    """The tiny model tilted to write plenty of notes."""
    model = StructureModel(StructureConfig.tiny())
    model.load_state_dict(tiny.state_dict())
    with torch.no_grad():
        model.kind_head.bias[NOTE] += 4.0
    model.eval()
    return model


def test_register_bias_keeps_a_melody_near_its_register(chatty: StructureModel) -> None:
    """Random weights wander over the keyboard; a strong register bias keeps the melody within REGISTER_REACH
    of its median so far, while the harmony track (not melody-like) is left to roam."""
    plan = Plan(bpm=97, meter=(4, 4), key=Key(5, "minor"), tracks=((0, "melody"), (48, "harmony")), n_bars=4)

    def spread(score: Score, track: int) -> int:
        notes = score.tracks[track].notes
        pitches = notes[np.argsort(notes[:, 0], kind="stable"), 2]
        return max(abs(int(p) - int(np.median(pitches[:i]))) for i, p in enumerate(pitches) if i >= REGISTER_AFTER)

    spreads = {}
    for bias in (0.0, 20.0):
        score, events = generate_score(chatty, "a test", plan, options=DecodingOptions(seed=2, register_bias=bias),
                                       max_events=700)
        validate(events, plan)
        spreads[bias] = spread(score, 0), spread(score, 1)
    assert spreads[0.0][0] > REGISTER_REACH + 6
    assert spreads[20.0][0] <= REGISTER_REACH + 1  # the median of the notes so far, rounded down
    assert spreads[20.0][1] > REGISTER_REACH + 6
    with pytest.raises(MelodexError, match="register_bias"):
        generate_score(chatty, "a test", plan, options=DecodingOptions(seed=2, register_bias=-1.0), max_events=700)


def test_degree_calibration_is_read_from_the_checkpoint_and_steers_the_degrees(chatty: StructureModel,
                                                                                 tmp_path: Path) -> None:
    """A calibration table that leaves only the tonic and the fifth (melody-like tracks, major) is loaded from
    config.json and obeyed; `calibrated=False` plays the model without it; a malformed table is refused."""
    import json

    chatty.save(tmp_path / "ckpt")
    config = tmp_path / "ckpt" / "config.json"
    table = np.zeros((2, 2, 12))
    table[0, 0] = -20.0
    table[0, 0, [0, 7]] = 0.0
    meta = json.loads(config.read_text())
    meta["decoding"] = {"degree_bias": table.tolist()}
    config.write_text(json.dumps(meta))
    model = load_model(tmp_path / "ckpt")
    assert model.degree_bias is not None and model.degree_bias.shape == (2, 2, 12)
    plan = Plan(bpm=97, meter=(4, 4), key=Key(2, "major"), tracks=((0, "melody"), (48, "harmony")), n_bars=4)
    degrees = {}
    for calibrated in (True, False):
        score, _ = generate_score(model, "a test", plan, options=DecodingOptions(seed=2, key_bias=0.0,
                                  calibrated=calibrated), max_events=700)
        degrees[calibrated] = [set(((t.notes[:, 2] - 2) % 12).tolist()) for t in score.tracks]
    assert degrees[True][0] and degrees[True][0] <= {0, 7}
    assert len(degrees[False][0] - {0, 7}) >= 2
    assert len(degrees[True][1] - {0, 7}) >= 2  # the harmony track is in the other group: untouched
    meta["decoding"] = {"degree_bias": [[0.0] * 12]}
    config.write_text(json.dumps(meta))
    with pytest.raises(MelodexError, match="degree_bias"):
        load_model(tmp_path / "ckpt")


def test_training_resumes_from_its_last_checkpoint_and_records_each_session(tmp_path: Path) -> None:
    """A tiny run trains, stops on its time limit with a checkpoint, and a second call resumes from that
    step (not from 0), keeping the first session's options and recording the resumed session's own."""
    from melodex.train.structure import TrainOptions, train

    options = TrainOptions(run_dir=tmp_path / "run", minutes=0.05, max_steps=40, batch_size=2, window=64,
                           valid_works=4, validate_every=2, tiny=True)
    first = train(options, progress=False)
    assert first["step"] >= 1 and (tmp_path / "run" / "last" / "model.safetensors").exists()
    second = train(replace(options, max_steps=80), progress=False)
    assert second["step"] > first["step"]
    assert second["options"]["max_steps"] == "40"
    assert second["resumed"] == [{"at_step": first["step"], "options": {**second["options"], "max_steps": "80"},
                                  "world_size": 1, "device": "cpu"}]
    assert load_model(tmp_path / "run" / "last") is not None
