"""Timbre pipeline logic with tiny random-weight models (no shipped weights needed), plus the sampler."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import fake_text_embedding as _fake_embedding
from conftest import tiny_timbre_model as tiny_model
from melodex.timbre import hn
from melodex.timbre.diffusion import TimbreCondition
from melodex.timbre.model import (
    GenerationOptions,
    TimbreModel,
    TimbreModelError,
    TimbreRequest,
    guided_prediction,
    level_limited,
    note_level_db,
)
from melodex.timbre.schedulers import DDIMScheduler, alpha_sigma, threshold_clean


def test_ddim_with_a_perfect_denoiser_returns_the_clean_latent() -> None:
    clean = torch.randn(3, 4, 16)
    noise = torch.randn(3, 4, 16)
    for steps in (1, 2, 7):
        scheduler = DDIMScheduler(steps)
        sample = noise.clone()
        for t in scheduler.timesteps:
            alpha, sigma = alpha_sigma(t)
            # the exact v for this sample: x_t = alpha x0 + sigma eps with eps implied by x_t
            eps = (sample - alpha * clean) / sigma
            sample = scheduler.step(alpha * eps - sigma * clean, t, sample)
        torch.testing.assert_close(sample, clean, atol=1e-4, rtol=1e-4)


def test_sampleset_shapes_seed_determinism_and_cfg() -> None:
    model = tiny_model()
    kwargs = {"program": 0, "text": "bright", "pitches": [60], "velocities": [64, 110], "steps": 2}
    first = model.generate_sampleset(**kwargs, cfg=3.0, seed=5)
    again = model.generate_sampleset(**kwargs, cfg=3.0, seed=5)
    other_seed = model.generate_sampleset(**kwargs, cfg=3.0, seed=6)
    no_guidance = model.generate_sampleset(**kwargs, cfg=1.0, seed=5)
    assert sorted(first.notes) == [(60, 64), (60, 110)]
    note = first.notes[(60, 110)]
    assert note.audio.shape == (hn.NOTE_FRAMES,) and note.audio.dtype == np.float32
    assert note.latent is not None and note.latent.shape == (4, 16)
    assert note.initial_noise is not None and note.initial_noise.shape == (4, 16)
    assert note.release_start == round(hn.HOLD_S * hn.SAMPLE_RATE)
    np.testing.assert_array_equal(note.audio, again.notes[(60, 110)].audio)
    assert not np.allclose(note.latent, other_seed.notes[(60, 110)].latent)
    assert not np.allclose(note.latent, no_guidance.notes[(60, 110)].latent)
    assert first.settings["cfg"] == 3.0 and first.text == "bright"


def test_a_batch_of_instruments_sounds_as_each_made_alone() -> None:
    model = tiny_model()
    requests = [
        TimbreRequest(0, "bright", (60, 64), (90,), seed=1),
        TimbreRequest(24, "warm", (55,), (60, 100), seed=2, text_b="bright", mix=0.5),
        TimbreRequest(80, "", (48,), (90,), seed=3),
    ]
    options = GenerationOptions(cfg=3.0, steps=3)
    together = model.generate_samplesets(requests, options)
    for request, batched in zip(requests, together, strict=True):
        alone = model.generate_samplesets([request], options)[0]
        assert sorted(batched.notes) == sorted(alone.notes) and batched.program == request.program
        for key, note in alone.notes.items():
            np.testing.assert_allclose(batched.notes[key].audio, note.audio, atol=1e-4)


def test_words_guidance_leaves_an_instrument_without_words_as_unguided() -> None:
    """Guidance pushes from the bare instrument, so with no words cfg changes nothing; guiding from
    nothing (no text, no family) does change it."""
    model = tiny_model()
    kwargs = {"program": 40, "text": "", "pitches": [60], "velocities": [90], "steps": 3, "seed": 4}
    plain = model.generate_sampleset(**kwargs, cfg=1.0).notes[(60, 90)].latent
    words = model.generate_sampleset(**kwargs, cfg=4.0).notes[(60, 90)].latent
    np.testing.assert_allclose(words, plain, atol=1e-5)
    request = TimbreRequest(40, "", (60,), (90,), seed=4)
    from_nothing = model.generate_samplesets([request], GenerationOptions(cfg=4.0, steps=3, guide_words=False))
    assert not np.allclose(from_nothing[0].notes[(60, 90)].latent, plain)


def test_interpolation_endpoints_are_the_two_timbres() -> None:
    model = tiny_model()
    kwargs = {"program": 24, "pitches": [55], "velocities": [90], "steps": 2, "seed": 1}
    warm = model.generate_sampleset(text="warm", **kwargs).notes[(55, 90)].latent
    bright = model.generate_sampleset(text="bright", **kwargs).notes[(55, 90)].latent
    start = model.generate_sampleset(text="warm", text_b="bright", mix=0.0, **kwargs).notes[(55, 90)].latent
    end = model.generate_sampleset(text="warm", text_b="bright", mix=1.0, **kwargs).notes[(55, 90)].latent
    half = model.generate_sampleset(text="warm", text_b="bright", mix=0.5, **kwargs).notes[(55, 90)].latent
    np.testing.assert_allclose(start, warm, atol=1e-6)
    np.testing.assert_allclose(end, bright, atol=1e-5)
    assert not np.allclose(half, warm) and not np.allclose(half, bright)


def test_weights_round_trip_and_a_changed_file_is_refused(tmp_path) -> None:
    from melodex.train.timbre import TimbreTrainOptions, export_weights

    model = tiny_model()
    export_weights(model.autoencoder, model.denoiser, 1.0, TimbreTrainOptions(out_dir=tmp_path), {})
    loaded = TimbreModel.load(tmp_path)
    loaded.text_embedding = _fake_embedding  # type: ignore[method-assign]
    kwargs = {"program": 0, "text": "dark", "pitches": [60], "velocities": [90], "steps": 2, "seed": 3}
    np.testing.assert_array_equal(
        loaded.generate_sampleset(**kwargs).notes[(60, 90)].audio,
        model.generate_sampleset(**kwargs).notes[(60, 90)].audio,
    )
    weights = tmp_path / "diffusion.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(TimbreModelError, match="SHA-256"):
        TimbreModel.load(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "format": 99}))
    with pytest.raises(TimbreModelError, match="format"):
        TimbreModel.load(tmp_path)


def test_drum_programs_are_refused_by_the_pitched_model() -> None:
    with pytest.raises(TimbreModelError):
        tiny_model().generate_notes(128, "", [36], [100], GenerationOptions())


def test_guidance_rescale_keeps_the_std_of_the_text_conditioned_clean_latent() -> None:
    """Rescale 1 gives a clean-latent prediction with the per-note std of the text-conditioned one; rescale
    0 is plain classifier-free guidance, whose std grows with cfg."""
    model = tiny_model()
    sample = torch.randn(3, 4, 16, generator=torch.Generator().manual_seed(0))
    t = torch.tensor(0.6)
    words, bare = _fake_embedding(["bright piano", "dark piano", "plucky piano"]), _fake_embedding(["piano"] * 3)
    notes = (torch.zeros(3, dtype=torch.long), torch.tensor([48, 60, 72]), torch.full((3,), 90))
    v = model.denoiser(sample, t, TimbreCondition(words, *notes))
    v_reference = model.denoiser(sample, t, TimbreCondition(bare, *notes))
    alpha, sigma = alpha_sigma(t)
    clean_std = (alpha * sample - sigma * v).std(dim=(1, 2))
    plain = guided_prediction(v, v_reference, sample, t, 8.5, 0.0)
    torch.testing.assert_close(plain, v_reference + 8.5 * (v - v_reference))
    assert torch.all((alpha * sample - sigma * plain).std(dim=(1, 2)) > 1.5 * clean_std)
    rescaled = guided_prediction(v, v_reference, sample, t, 8.5, 1.0)
    torch.testing.assert_close((alpha * sample - sigma * rescaled).std(dim=(1, 2)), clean_std)


def test_a_note_far_louder_than_unguided_is_turned_down_to_the_limit() -> None:
    rng = np.random.default_rng(0)
    frames = hn.N_FRAMES
    quiet = hn.HNParams(60, rng.uniform(0, 0.01, (frames, hn.N_HARMONICS)), rng.uniform(0, 0.01, (frames, 32)),
                        np.zeros(frames), 0.0, 0.01)
    loud = replace(quiet, harmonics=quiet.harmonics * 30, noise=quiet.noise * 3)
    limited = level_limited(loud, quiet, 6.0)
    assert note_level_db(loud) - note_level_db(quiet) > 20
    assert abs(note_level_db(limited) - note_level_db(quiet) - 6.0) < 1e-6
    gain = limited.harmonics / loud.harmonics  # one gain for partials and noise: the same sound, quieter
    np.testing.assert_allclose(gain, gain[0, 0])
    np.testing.assert_allclose(limited.noise / loud.noise, gain[0, 0])
    assert level_limited(quiet, loud, 6.0) is quiet
    # the bound really bounds: the synthesised peak is below it
    assert np.abs(hn.synthesize(loud)).max() <= 10 ** (note_level_db(loud) / 20)


def test_level_limit_holds_in_generation_and_none_is_plain_guidance() -> None:
    model = tiny_model()
    request = TimbreRequest(0, "bright", (48, 72), (90,), seed=2)
    unguided = model.generate_many([request], GenerationOptions(cfg=1.0, steps=3))[0]
    plain = model.generate_many([request], GenerationOptions(cfg=12.0, steps=3, level_limit_db=None))[0]
    limited = model.generate_many([request], GenerationOptions(cfg=12.0, steps=3, level_limit_db=0.0))[0]
    for (p, v, _, _, quiet), (_, _, audio, _, latent), (_, _, audio_limited, _, latent_limited) in zip(
        unguided, plain, limited, strict=True
    ):
        torch.testing.assert_close(latent_limited, latent)  # the limit acts on the decoded level only
        bound = note_level_db(model.decode(quiet[None], torch.tensor([p]), torch.tensor([v]))[0])
        assert np.abs(audio_limited).max() <= 10 ** (bound / 20) + 1e-6
        assert np.abs(audio_limited).max() <= np.abs(audio).max() + 1e-6


def test_threshold_scales_an_out_of_range_clean_latent_back_and_leaves_others() -> None:
    inside = torch.randn(1, 4, 16).clamp(-2, 2)
    outside = inside * 10
    torch.testing.assert_close(threshold_clean(inside, 3.0), inside)
    scaled = threshold_clean(outside, 3.0)
    assert scaled.abs().max() <= 3.0 + 1e-5
    assert torch.quantile(scaled.abs().flatten(), 0.995) <= 3.0 + 1e-5
