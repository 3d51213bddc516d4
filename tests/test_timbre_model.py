"""Timbre pipeline logic with tiny random-weight models (no shipped weights needed), plus the sampler."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from melodex.timbre import hn
from melodex.timbre.autoencoder import AutoencoderConfig, NoteAutoencoder
from melodex.timbre.diffusion import DiffusionConfig, TimbreDenoiser
from melodex.timbre.model import GenerationOptions, TimbreModel, TimbreModelError, TimbreRequest
from melodex.timbre.schedulers import DDIMScheduler, alpha_sigma


def _fake_embedding(texts: list[str]) -> torch.Tensor:
    """A fixed random unit vector per text: the logic tests need distinct texts, not MiniLM."""
    rows = []
    for text in texts:
        seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
        vector = torch.randn(384, generator=torch.Generator().manual_seed(seed))
        rows.append(torch.nn.functional.normalize(vector, dim=0))
    return torch.stack(rows)


def tiny_model() -> TimbreModel:
    torch.manual_seed(0)
    autoencoder = NoteAutoencoder(AutoencoderConfig(width=16, latent_channels=4))
    denoiser = TimbreDenoiser(DiffusionConfig(latent_channels=4, width=32, layers=2, heads=2))
    with torch.no_grad():
        for parameter in denoiser.parameters():  # zero-initialised outputs would make CFG a no-op
            parameter.normal_(0.0, 0.2)
        autoencoder.feature_mean.fill_(-60.0)
        autoencoder.feature_std.fill_(10.0)
    model = TimbreModel(autoencoder, denoiser, latent_scale=1.0)
    model.text_embedding = _fake_embedding  # type: ignore[method-assign]
    return model


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
