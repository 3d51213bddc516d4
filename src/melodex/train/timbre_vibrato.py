"""Training of the timbre model's vibrato head on a frozen autoencoder, added to shipped weights.

It is the last stage of `melodex train timbre` (on rank 0 alone under torchrun) and its own command,
`melodex train timbre-vibrato`, since a head can be retrained without touching the other weights.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from melodex.timbre import hn_analysis
from melodex.timbre.autoencoder import NoteAutoencoder, note_conditions
from melodex.timbre.model import (
    VIBRATO_FILE,
    WEIGHT_FILES,
    WEIGHTS_DIR,
    GenerationOptions,
    TimbreModel,
    instrument_text,
)
from melodex.timbre.notes import NoteDataset, build_note_dataset
from melodex.timbre.vibrato import UNKNOWN_PROGRAM, VibratoConfig, VibratoHead, vibrato_loss
from melodex.train.timbre import (
    CACHE,
    CAPTIONS_PER_NOTE,
    Checkpoint,
    Log,
    TimbreTrainOptions,
    caption_embeddings,
    note_features,
    validation_split,
)


@dataclass(frozen=True)
class VibratoTrainOptions:
    cache_dir: Path = CACHE
    weights_dir: Path = WEIGHTS_DIR  # holds the frozen autoencoder; vibrato.safetensors is added here
    steps: int = 12000
    batch: int = 64
    learning_rate: float = 2e-3
    generated_share: float = 0.25  # of rows that read a diffusion-generated latent of the note
    generated_draws: int = 3  # diffusion latents made per note (captions and noise differ)
    program_dropout: float = 0.1  # share of rows whose GM program is hidden (UNKNOWN_PROGRAM)
    checkpoint_minutes: float = 3.0
    threads: int = 1
    seed: int = 0
    config: VibratoConfig = field(default_factory=lambda: VibratoConfig(detune=True))
    # A head without detune in `weights_dir` is kept as it is and only the detune MLP is trained: trained
    # jointly, the head's vibrato moved (generated "bright" flutes at cfg 4 with vibrato: 6/6 -> 3/6).
    keep_vibrato: bool = True


def vibrato_targets(dataset: NoteDataset, detune: bool = True) -> np.ndarray:
    """(n, 3) analysed depth (cents), rate (Hz), onset delay (s) of every note's pitch curve; with `detune`
    (n, 5): and `hn_analysis.estimate_detune`'s cents and mix of its partials (about 2 minutes on one core)."""
    found = [hn_analysis.estimate_vibrato(dataset.cents[i].astype(np.float64)) for i in range(len(dataset))]
    target = np.array([[v.depth_cents, v.rate_hz, v.delay_s] for v in found], dtype=np.float32)
    if not detune:
        return target
    spread = [hn_analysis.estimate_detune(dataset.params(i).harmonics, int(dataset.pitch[i]), float(dataset.stretch[i]))
              for i in range(len(dataset))]
    return np.concatenate([target, np.array([[d.cents, d.mix] for d in spread], dtype=np.float32)], 1)


@torch.no_grad()
def _posteriors(model: NoteAutoencoder, dataset: NoteDataset) -> tuple[torch.Tensor, torch.Tensor]:
    x = model.normalise(torch.from_numpy(note_features(dataset)))
    conditions = note_conditions(torch.from_numpy(dataset.pitch), torch.from_numpy(dataset.velocity))
    parts = [model.encode(x[i : i + 256], conditions[i : i + 256]) for i in range(0, len(x), 256)]
    return torch.cat([m for m, _ in parts]), torch.cat([v for _, v in parts])


@torch.no_grad()
def generated_latents(
    model: TimbreModel, dataset: NoteDataset, options: VibratoTrainOptions, draw: int = 0
) -> torch.Tensor:
    """One diffusion latent per note, made as generation makes them: from one of the note's training captions,
    its family, pitch and velocity, guided (cfg 3, 20 steps) from the bare instrument. Each `draw` is another
    caption and noise. Cached per diffusion weights and draw, since each takes ~2 minutes on one core."""
    seed = options.seed + draw
    digest = hashlib.sha256((options.weights_dir / WEIGHT_FILES[1]).read_bytes()).hexdigest()[:16]
    path = options.cache_dir / f"vibrato_generated_latents_{digest}_{seed}.npy"
    if path.exists():
        return torch.from_numpy(np.load(path))
    _, texts = caption_embeddings(dataset, TimbreTrainOptions(cache_dir=options.cache_dir, seed=options.seed))
    names = model.text_embedding([instrument_text(program, "") for program in range(128)])
    rng = np.random.default_rng(seed)
    pick = torch.from_numpy(rng.integers(0, CAPTIONS_PER_NOTE, len(dataset)))
    program = torch.from_numpy(dataset.program).long()
    pitch, velocity = torch.from_numpy(dataset.pitch), torch.from_numpy(dataset.velocity)
    generator = torch.Generator().manual_seed(seed)
    config = model.denoiser.config
    latents = []
    for start in range(0, len(dataset), 512):
        rows = torch.arange(start, min(start + 512, len(dataset)))
        noise = torch.randn(len(rows), config.latent_channels, config.latent_steps, generator=generator)
        _, latent = model.sample_latents(texts[rows, pick[rows]], program[rows] // 8, pitch[rows], velocity[rows],
                                         GenerationOptions(), noise, names[program[rows]])
        latents.append(latent)
    out = torch.cat(latents)
    np.save(path, out.numpy())
    return out


def train_vibrato(options: VibratoTrainOptions, log: Log | None = None) -> Path:
    """Train (or resume) the vibrato head on the frozen autoencoder's latents, then add its weights and
    SHA-256 to `options.weights_dir`/config.json (the autoencoder and diffusion files are not touched).

    Three quarters of a batch read a latent drawn from the note's posterior (mean + std noise), a quarter a
    latent the diffusion model generated for the note's caption, pitch and velocity: trained on encoder
    latents alone, the head gave only half the generated violins a vibrato.
    """
    torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    started = time.time()
    dataset = build_note_dataset(options.cache_dir, progress=lambda name, d, n: None)
    model = TimbreModel.load(options.weights_dir)
    mean, logvar = _posteriors(model.autoencoder, dataset)
    generated = torch.stack([generated_latents(model, dataset, options, d) for d in range(options.generated_draws)])
    target = torch.from_numpy(vibrato_targets(dataset, options.config.detune))
    conditions = note_conditions(torch.from_numpy(dataset.pitch), torch.from_numpy(dataset.velocity))
    programs = torch.from_numpy(dataset.program).long()
    train_rows, valid_rows = validation_split(len(dataset), options.seed)
    torch.manual_seed(options.seed)  # again: building the text encoder for `generated_latents` draws from it
    head = VibratoHead(options.config)
    # One checkpoint per autoencoder: a head trained on another autoencoder's latents must not be resumed.
    autoencoder_digest = hashlib.sha256((options.weights_dir / WEIGHT_FILES[0]).read_bytes()).hexdigest()[:16]
    kind = "vibrato_detune_mlp" if options.config.detune else "vibrato"  # their layers differ
    kept: dict[str, torch.Tensor] = {}
    if options.keep_vibrato and options.config.detune and model.vibrato is not None and not model.vibrato.config.detune:
        kept = model.vibrato.state_dict()
        head.load_state_dict(kept, strict=False)  # the detune MLP is new
        kind += "_on_" + hashlib.sha256((options.weights_dir / VIBRATO_FILE).read_bytes()).hexdigest()[:16]
    trained = [p for n, p in head.named_parameters() if not kept or n.startswith("detune_")]
    optimiser = torch.optim.AdamW(trained, lr=options.learning_rate, weight_decay=1e-4)
    checkpoint = Checkpoint(options.cache_dir / f"{kind}_{autoencoder_digest}.ckpt", options.checkpoint_minutes)
    step, _ = checkpoint.resume(head, optimiser)
    rng = np.random.default_rng(options.seed + step)
    std = (0.5 * logvar).exp()
    valid = torch.from_numpy(valid_rows)
    while step < options.steps:
        lr = options.learning_rate * 0.5 * (1 + np.cos(np.pi * step / options.steps))
        for group in optimiser.param_groups:
            group["lr"] = float(lr)
        rows = torch.from_numpy(rng.choice(train_rows, options.batch))
        latent = mean[rows] + torch.randn_like(mean[rows]) * std[rows]
        drawn = generated[torch.randint(0, len(generated), (len(rows),)), rows]
        latent = torch.where(torch.rand(len(rows), 1, 1) < options.generated_share, drawn, latent)
        known = torch.rand(len(rows)) >= options.program_dropout
        program = torch.where(known, programs[rows], UNKNOWN_PROGRAM)
        loss, _ = vibrato_loss(head, latent, conditions[rows], program, target[rows])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        step += 1
        if step % 250 == 0 or step == options.steps:
            with torch.no_grad():
                _, parts = vibrato_loss(head, mean[valid], conditions[valid], programs[valid], target[valid])
            if log is not None:
                log({"stage": "vibrato", "step": step, "loss": float(loss.detach()),
                     **{f"valid_{k}": v for k, v in parts.items()}})
            checkpoint.save({"model": head.state_dict(), "optimiser": optimiser.state_dict(), "step": step})
    checkpoint.save({"model": head.state_dict(), "optimiser": optimiser.state_dict(), "step": step}, True)
    with torch.no_grad():
        _, parts = vibrato_loss(head, mean[valid], conditions[valid], programs[valid], target[valid])
        _, from_generated = vibrato_loss(head, generated[0, valid], conditions[valid], programs[valid], target[valid])
    parts.update({f"generated_{k}": v for k, v in from_generated.items()})

    out = options.weights_dir
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, out / VIBRATO_FILE)
    config = json.loads((out / "config.json").read_text())
    config["vibrato"] = options.config.to_dict()
    config["sha256"][VIBRATO_FILE] = hashlib.sha256((out / VIBRATO_FILE).read_bytes()).hexdigest()
    config["vibrato_training"] = {
        "notes": len(dataset),
        "notes_with_vibrato": int((target[:, 0] > 0).sum()),
        **({"notes_with_detune": int((target[:, 3] > 0).sum())} if options.config.detune else {}),
        **({"vibrato_kept_from": kind.split("_on_")[1]} if kept else {}),
        "steps": options.steps,
        "generated_share": options.generated_share,
        "generated_draws": options.generated_draws,
        "program_dropout": options.program_dropout,
        "wall_time_s_this_run": round(time.time() - started),
        "validation": {k: round(v, 4) for k, v in parts.items()},
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out
