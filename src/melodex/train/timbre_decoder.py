"""Fine-tuning of the timbre autoencoder's decoder alone, to a deeper level floor and a band-energy loss.

The encoder is frozen, so every latent (the diffusion model's, the vibrato head's inputs, a project's stored
ones) means what it meant: only what the decoder makes of it changes, and the diffusion model and vibrato
head are copied unchanged. Why: the shipped decoder learned levels clipped at -100 dB, so the partials above
4 kHz of quiet notes and of every release fell silent (piano 60: the 4-12 kHz band 101 dB under the note's
peak 0.12 s into the release, FluidR3's 54 dB), and an L1 over partial levels in dB lets the weak partials
that carry a band's energy drift; the band-energy term scores what is heard, energy per octave and frame.
`melodex train timbre-decoder`, resumable, one thread.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from melodex.errors import MelodexError
from melodex.timbre import hn
from melodex.timbre.autoencoder import CENTS, NoteAutoencoder, audible_mask, note_conditions
from melodex.timbre.model import VIBRATO_FILE, WEIGHT_FILES, WEIGHTS_DIR, TimbreModel
from melodex.timbre.notes import build_note_dataset
from melodex.train.timbre import CACHE, Checkpoint, Log, note_features, validation_split

# Octaves from 250 Hz, split at 12 kHz: the 4-12 kHz band is two of them.
LOSS_BANDS_HZ = (0.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 12000.0, hn.SAMPLE_RATE / 2)
BAND_RANGE_DB = 90.0  # a frame's band this far under the note's loudest band is not scored (inaudible)
BAND_DB_UNIT = 20.0  # dB per unit of loss, about a low partial's level spread (feature_std) between notes
LEVEL_RANGE_DB = 100.0  # partial and noise levels this far under the note's loudest level are not scored


@dataclass(frozen=True)
class DecoderTrainOptions:
    cache_dir: Path = CACHE
    weights_dir: Path = WEIGHTS_DIR  # starting weights: their encoder is frozen, diffusion and vibrato copied
    out_dir: Path = CACHE / "decoder_weights"
    steps: int = 6000
    batch: int = 32
    learning_rate: float = 3e-4
    floor_db: float = -140.0  # the decoder's new level floor (the encoder keeps reading -100)
    band_weight: float = 1.0  # of the band-energy term, against the feature L1
    checkpoint_minutes: float = 3.0
    threads: int = 1
    seed: int = 0
    log_every: int = 100
    stop_step: int = 0  # stop (checkpointed) at this step; 0: run to the end
    # Semitones between the rendered pitches of FluidR3_GM and TimGM6mb (the full set: 4 and 6, ~7,170 notes).
    # Wider steps make a smaller set, rendered and analysed sooner (every program and velocity still in it).
    pitch_steps: tuple[int, int] = (4, 6)


def band_maps(pitch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, N_HARMONICS, bands) which loss band each audible partial falls in (harmonic positions), and
    (N_NOISE_BANDS, bands) each noise band's share of the spectrum in each loss band (by its centre)."""
    edges = torch.tensor(LOSS_BANDS_HZ)
    f0 = 440.0 * 2 ** ((pitch.float() - 69) / 12)
    freqs = torch.arange(1, hn.N_HARMONICS + 1, dtype=torch.float32)[None, :] * f0[:, None]
    band = (torch.bucketize(freqs, edges, right=True) - 1).clamp(0, len(LOSS_BANDS_HZ) - 2)
    partials = torch.nn.functional.one_hot(band, len(LOSS_BANDS_HZ) - 1).float()
    partials = partials * audible_mask(pitch)[:, : hn.N_HARMONICS, None]
    centres = torch.from_numpy(hn.NOISE_CENTRES).float()
    noise_band = (torch.bucketize(centres, edges, right=True) - 1).clamp(0, len(LOSS_BANDS_HZ) - 2)
    share = torch.from_numpy(np.diff(hn.NOISE_EDGES) / (hn.SAMPLE_RATE / 2)).float()
    noise = torch.nn.functional.one_hot(noise_band, len(LOSS_BANDS_HZ) - 1).float() * share[:, None]
    return partials, noise


def band_energy_db(features: torch.Tensor, partials: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """(batch, bands, frames) dB energy per loss band and frame of unnormalised features (batch, N_FEATURES,
    frames): partial powers A^2 / 2 plus the noise bands' power (level^2 times their share of the spectrum)."""
    harmonic = 10 ** (features[:, : hn.N_HARMONICS] / 10) / 2
    noisy = 10 ** (features[:, hn.N_HARMONICS : CENTS] / 10)
    energy = torch.einsum("bkt,bkn->bnt", harmonic, partials) + torch.einsum("bkt,kn->bnt", noisy, noise)
    return 10 * torch.log10(energy + 1e-16)


def band_energy_loss(decoded: torch.Tensor, target: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
    """Mean |band energy difference| in BAND_DB_UNITs over the bands within BAND_RANGE_DB of each target
    note's loudest (both sides clipped there, so silence matches silence)."""
    partials, noise = band_maps(pitch.cpu())
    want = band_energy_db(target, partials, noise)
    got = band_energy_db(decoded, partials, noise)
    floor = want.amax(dim=(1, 2), keepdim=True) - BAND_RANGE_DB
    return (torch.maximum(got, floor) - torch.maximum(want, floor)).abs().mean() / BAND_DB_UNIT


def decoder_loss(
    model: NoteAutoencoder, latent: torch.Tensor, target: torch.Tensor, pitch: torch.Tensor,
    velocity: torch.Tensor, band_weight: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, feature L1 over audible values, band-energy term) for normalised target features.

    Levels are scored in dB (BAND_DB_UNITs), both sides clipped LEVEL_RANGE_DB under the note's loudest
    level; pitch, stretch and attack in normalised units as the autoencoder was trained. In normalised
    units a high partial's dB counted 8x a fundamental's (feature_std 3 dB against 25, measured on the
    -100 dB floor), and the first 300 steps to the deeper floor spent themselves on levels 100 dB down.
    """
    decoded = model.decode(latent, note_conditions(pitch, velocity))
    mask = audible_mask(pitch)[:, :, None]
    std, mean = model.feature_std[None, :, None], model.feature_mean[None, :, None]
    decoded_db, target_db = decoded * std + mean, target * std + mean
    floor = target_db[:, :CENTS].amax(dim=(1, 2), keepdim=True) - LEVEL_RANGE_DB
    level = (torch.maximum(decoded_db[:, :CENTS], floor) - torch.maximum(target_db[:, :CENTS], floor)).abs()
    error = torch.cat([level / BAND_DB_UNIT, (decoded[:, CENTS:] - target[:, CENTS:]).abs()], dim=1)
    l1 = (error * mask).sum() / (mask.sum() * target.shape[-1])
    bands = band_energy_loss(decoded_db, target_db, pitch)
    return l1 + band_weight * bands, l1, bands


def train_decoder(options: DecoderTrainOptions, log: Log | None = None) -> Path | None:
    """Fine-tune (or resume) the decoder of `options.weights_dir`'s autoencoder and write a whole weights
    folder to `options.out_dir`; None when `options.stop_step` stopped it first."""
    torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    options.cache_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    source = TimbreModel.load(options.weights_dir)
    model = source.autoencoder
    model.config = replace(model.config, floor_db=options.floor_db)
    dataset = build_note_dataset(options.cache_dir, pitch_steps=options.pitch_steps)
    stored = float(min(dataset.harmonics_db.min(), dataset.noise_db.min()))
    if stored > options.floor_db:
        raise MelodexError(f"the note set in {options.cache_dir} stops at {stored:.0f} dB, above the floor asked for "
                           f"({options.floor_db:.0f} dB): it was built before 2026-12-08; delete its notes_*.npz "
                           "and run `melodex train timbre-data` again")
    pitch, velocity = torch.from_numpy(dataset.pitch), torch.from_numpy(dataset.velocity)
    conditions = note_conditions(pitch, velocity)
    with torch.no_grad():  # the frozen encoder's posteriors, once: the encoder reads the -100 dB floor
        x_in = model.normalise(torch.from_numpy(note_features(dataset)))
        parts = [model.encode(x_in[i : i + 256], conditions[i : i + 256]) for i in range(0, len(x_in), 256)]
        means, stds = torch.cat([m for m, _ in parts]), torch.cat([(0.5 * v).exp() for _, v in parts])
        del x_in
    target = model.normalise(torch.from_numpy(note_features(dataset, options.floor_db)))
    train_rows, valid_rows = validation_split(len(dataset), options.seed)
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    trained = [*model.decoder_in.parameters(), *model.decoder.parameters()]
    optimiser = torch.optim.AdamW(trained, lr=options.learning_rate, weight_decay=1e-4)
    checkpoint = Checkpoint(options.cache_dir / "decoder.ckpt", options.checkpoint_minutes)
    step, _ = checkpoint.resume(model, optimiser)
    v = torch.from_numpy(valid_rows)

    def validate() -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            _, l1, bands = decoder_loss(model, means[v], target[v], pitch[v], velocity[v], options.band_weight)
        model.train()
        return float(l1), float(bands)

    if step == 0 and log is not None:
        first_l1, first_bands = validate()
        log({"stage": "decoder", "step": 0, "valid_l1": first_l1, "valid_band": first_bands})
    model.train()
    while step < options.steps and not (options.stop_step and step >= options.stop_step):
        lr = options.learning_rate * 0.5 * (1 + np.cos(np.pi * step / options.steps))
        for group in optimiser.param_groups:
            group["lr"] = float(lr)
        rng = np.random.default_rng([options.seed, step])  # a step's batch depends on the step alone: resumable
        rows = torch.from_numpy(train_rows[rng.integers(0, len(train_rows), options.batch)])
        noise = torch.from_numpy(rng.standard_normal((len(rows), *means.shape[1:]))).float()
        latent = means[rows] + noise * stds[rows]
        loss, batch_l1, batch_bands = decoder_loss(model, latent, target[rows], pitch[rows], velocity[rows],
                                                   options.band_weight)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimiser.step()
        step += 1
        if log is not None and (step % options.log_every == 0 or step == options.steps):
            valid_l1, valid_bands = validate()
            log({"stage": "decoder", "step": step, "l1": batch_l1.item(), "band": batch_bands.item(),
                 "valid_l1": valid_l1, "valid_band": valid_bands, "elapsed_s": round(time.time() - started, 1)})
        checkpoint.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step})
    checkpoint.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step}, True)
    if step < options.steps:
        return None
    record = {"notes": len(dataset), "steps": step, "wall_time_s_this_run": round(time.time() - started),
              "validation": dict(zip(("l1", "band"), validate(), strict=True))}
    return export_decoder(model.eval(), options, record)


def export_decoder(model: NoteAutoencoder, options: DecoderTrainOptions, record: dict) -> Path:
    """`options.weights_dir` copied to `options.out_dir` with this autoencoder, its config and SHA-256s."""
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    config = json.loads((options.weights_dir / "config.json").read_text())
    for name in (WEIGHT_FILES[1], VIBRATO_FILE):
        if name in config["sha256"]:
            shutil.copyfile(options.weights_dir / name, out / name)
    save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()}, out / WEIGHT_FILES[0])
    config["autoencoder"] = model.config.to_dict()
    config["sha256"][WEIGHT_FILES[0]] = hashlib.sha256((out / WEIGHT_FILES[0]).read_bytes()).hexdigest()
    config["decoder_training"] = {
        "from_version": config.get("version"), "floor_db": options.floor_db, "band_weight": options.band_weight,
        "learning_rate": options.learning_rate, "batch": options.batch, **record,
    }
    config["version"] = time.strftime("%Y%m%d-%H%M")
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out
