"""The decoder fine-tune (`melodex train timbre-decoder`): the encoder, diffusion model and vibrato head stay as
they were, the new floor is stored and used, a stopped run resumes to the same weights, and the band-energy
term hears a band's loss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_timbre_model
from melodex.errors import MelodexError
from melodex.timbre import hn
from melodex.timbre.autoencoder import N_FEATURES
from melodex.timbre.model import WEIGHT_FILES, TimbreModel
from melodex.timbre.notes import DESCRIPTORS, NoteDataset
from melodex.train.timbre import TimbreTrainOptions, export_weights
from melodex.train.timbre_decoder import DecoderTrainOptions, band_energy_loss, train_decoder


def _note_set(source: int, rng: np.random.Generator, floor_db: float = -160.0) -> NoteDataset:
    rows = [(p, pitch, v) for p in (0, 40) for pitch in (48, 60, 72) for v in (40, 120)]
    n = len(rows)
    t = np.arange(hn.N_FRAMES) / hn.FRAME_RATE
    spectrum = np.linspace(-20, -120, hn.N_HARMONICS)[None, :] + rng.normal(0, 3, (n, hn.N_HARMONICS))
    harmonics = spectrum[:, None, :] - 30 * t[None, :, None]
    return NoteDataset(
        harmonics_db=np.maximum(harmonics, floor_db).astype(np.float16),
        noise_db=rng.uniform(-130, -60, (n, hn.N_FRAMES, hn.N_NOISE_BANDS)).astype(np.float16),
        cents=rng.normal(0, 0.5, (n, hn.N_FRAMES)).astype(np.float16),
        stretch=np.zeros(n), attack_s=rng.uniform(0.005, 0.2, n),
        program=np.array([r[0] for r in rows]), pitch=np.array([r[1] for r in rows]),
        velocity=np.array([r[2] for r in rows]), source=np.full(n, source),
        descriptors=np.abs(rng.normal(1.0, 0.5, (n, len(DESCRIPTORS)))).astype(np.float32),
    )


def _setup(folder: Path, floor_db: float = -160.0) -> tuple[Path, Path]:
    cache, weights = folder / "cache", folder / "weights"
    cache.mkdir()
    rng = np.random.default_rng(0)
    _note_set(0, rng, floor_db).save(cache / "notes_FluidR3_GM_step4.npz")
    _note_set(1, rng, floor_db).save(cache / "notes_TimGM6mb_step6.npz")
    model = tiny_timbre_model()
    export_weights(model.autoencoder, model.denoiser, 1.0, TimbreTrainOptions(out_dir=weights), {})
    return cache, weights


def test_decoder_fine_tune_keeps_the_latents_and_resumes(tmp_path):
    cache, weights = _setup(tmp_path)
    straight = train_decoder(DecoderTrainOptions(cache_dir=cache, weights_dir=weights, out_dir=tmp_path / "a",
                                                 steps=3, batch=4))
    assert straight is not None
    config = json.loads((straight / "config.json").read_text())
    assert config["autoencoder"]["floor_db"] == -140.0
    assert (straight / WEIGHT_FILES[1]).read_bytes() == (weights / WEIGHT_FILES[1]).read_bytes()
    before, after = load_file(weights / WEIGHT_FILES[0]), load_file(straight / WEIGHT_FILES[0])
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    model = TimbreModel.load(straight)  # SHA-256s written and checked
    assert model.autoencoder.config.floor_db == -140.0

    (cache / "decoder.ckpt").unlink()
    options = DecoderTrainOptions(cache_dir=cache, weights_dir=weights, out_dir=tmp_path / "b", steps=3, batch=4)
    assert train_decoder(DecoderTrainOptions(**{**options.__dict__, "stop_step": 2})) is None
    resumed = train_decoder(options)
    assert resumed is not None
    again = load_file(resumed / WEIGHT_FILES[0])
    assert all(torch.allclose(after[k], again[k], atol=1e-6) for k in after)


def test_a_note_set_with_the_old_floor_is_refused(tmp_path):
    cache, weights = _setup(tmp_path, floor_db=hn.NOISE_FLOOR_DB)
    with pytest.raises(MelodexError, match="timbre-data"):
        train_decoder(DecoderTrainOptions(cache_dir=cache, weights_dir=weights, out_dir=tmp_path / "a", steps=1))


def test_band_energy_loss_hears_a_missing_top_band():
    pitch = torch.tensor([48, 60])
    features = torch.full((2, N_FEATURES, hn.N_FRAMES), -140.0)
    features[:, : hn.N_HARMONICS] = torch.linspace(-20, -100, hn.N_HARMONICS)[None, :, None]
    assert float(band_energy_loss(features, features, pitch)) == 0.0
    dull = features.clone()
    f0 = 440 * 2 ** ((pitch.float() - 69) / 12)
    high = torch.arange(1, hn.N_HARMONICS + 1)[None, :] * f0[:, None] > 4000
    dull[:, : hn.N_HARMONICS] = torch.where(high[:, :, None], -140.0, dull[:, : hn.N_HARMONICS])
    assert float(band_energy_loss(dull, features, pitch)) > 0.1
