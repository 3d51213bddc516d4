"""Training of the timbre models: note dataset -> autoencoder -> latents + captions -> diffusion -> weights.

Each stage checkpoints to the cache every few minutes and resumes where it stopped, so the run can be
interrupted and restarted at will. Shipped weights are safetensors + config.json with SHA-256s.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from safetensors.torch import save_file

from melodex.timbre import hn
from melodex.timbre.autoencoder import (
    ATTACK,
    STRETCH,
    AutoencoderConfig,
    NoteAutoencoder,
    audible_mask,
    note_conditions,
)
from melodex.timbre.diffusion import N_FAMILIES, DiffusionConfig, TimbreCondition, TimbreDenoiser
from melodex.timbre.model import WEIGHT_FILES, WEIGHTS_DIR
from melodex.timbre.notes import NoteDataset, build_note_dataset, caption, descriptor_labels
from melodex.timbre.schedulers import alpha_sigma
from melodex.timbre.vibrato import VibratoConfig
from melodex.train import distributed

CACHE = Path(__file__).resolve().parents[3] / ".cache" / "timbre"
CAPTIONS_PER_NOTE = 6
Log = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TimbreTrainOptions:
    cache_dir: Path = CACHE
    out_dir: Path = WEIGHTS_DIR
    autoencoder_steps: int = 3000
    diffusion_steps: int = 8000
    vibrato_steps: int = 12000
    autoencoder_batch: int = 32  # global batches, summed over the processes under torchrun
    diffusion_batch: int = 64
    learning_rate: float = 1e-3
    kl_weight: float = 1e-4
    text_dropout: float = 0.10  # share of steps with the text dropped but the family kept (CFG contrast)
    checkpoint_minutes: float = 3.0
    threads: int = 1
    seed: int = 0
    device: str = "auto"  # cpu, cuda or auto (see melodex.train.distributed)
    stop_step: int = 0  # the autoencoder or diffusion stage under way stops (checkpointed) at this step; 0: never
    log_every: int = 100
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)


def note_features(dataset: NoteDataset, floor_db: float = hn.NOISE_FLOOR_DB) -> np.ndarray:
    """(n, N_FRAMES, N_FEATURES) float32 features, as `autoencoder.features_from_params` makes them (levels
    clipped at `floor_db`; the default is what the encoder reads)."""
    n = len(dataset)
    const = np.ones((n, hn.N_FRAMES, 1), dtype=np.float32)
    return np.concatenate(
        [
            np.maximum(dataset.harmonics_db.astype(np.float32), floor_db),
            np.maximum(dataset.noise_db.astype(np.float32), floor_db),
            dataset.cents.astype(np.float32)[:, :, None],
            const * np.log10(dataset.stretch.astype(np.float32) + 1e-6)[:, None, None],
            const * np.log10(dataset.attack_s.astype(np.float32))[:, None, None],
        ],
        axis=2,
    )


def validation_split(n: int, seed: int = 0, fraction: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cut = max(1, int(n * fraction))
    return np.sort(order[cut:]), np.sort(order[:cut])


def _progress(world: distributed.World) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"), TimeRemainingColumn(), disable=not world.is_main,
    )


class Checkpoint:
    """A resumable training state in the cache (torch tensors only, loaded with weights_only=True).

    Every rank resumes from it; only rank 0 writes it. The state records the world size of the session
    that wrote it and of each session before (`sessions`): the data of a step depends only on the step,
    so a stage started on 2 processes goes on on 1 or 8.
    """

    def __init__(self, path: Path, minutes: float, world: distributed.World | None = None) -> None:
        self.path = path
        self.every = minutes * 60
        self.last = time.monotonic()
        self.world = world or distributed.World()
        self.sessions: list[dict] = []

    def load(self) -> dict | None:
        return torch.load(self.path, weights_only=True, map_location="cpu") if self.path.exists() else None

    def resume(self, model: torch.nn.Module, optimiser: torch.optim.Optimizer) -> tuple[int, dict | None]:
        """(step to go on from, the whole saved state): loads model and optimiser if a checkpoint exists."""
        state = self.load()
        step = 0 if state is None else int(state["step"])
        if state is not None:
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
        self.sessions = [*(state or {}).get("sessions", []), {"at_step": step, **self.world.record()}]
        return step, state

    def save(self, state: dict, force: bool = False) -> None:
        if self.world.is_main and (force or time.monotonic() - self.last > self.every):
            tmp = self.path.with_suffix(".tmp")
            torch.save({**state, **self.world.record(), "sessions": self.sessions}, tmp)
            tmp.replace(self.path)
            self.last = time.monotonic()


def _stopped(step: int, total: int, options: TimbreTrainOptions) -> bool:
    return step >= total or bool(options.stop_step and step >= options.stop_step)


class AutoencoderObjective(torch.nn.Module):
    """A batch's reconstruction L1 (a mean over audible values) and KL as one forward, for DDP to wrap."""

    def __init__(self, model: NoteAutoencoder) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, x: torch.Tensor, pitch: torch.Tensor, velocity: torch.Tensor, noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        conditions = note_conditions(pitch, velocity)
        mean, logvar = self.model.encode(x, conditions)
        recon = self.model.decode(mean + noise * (0.5 * logvar).exp(), conditions)
        mask = audible_mask(pitch.cpu()).to(x.device)[:, :, None]
        l1 = ((recon - x).abs() * mask).sum() / (mask.sum() * x.shape[-1])
        kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).mean()
        return l1, kl


def autoencoder_loss(
    model: NoteAutoencoder, x: torch.Tensor, pitch: torch.Tensor, velocity: torch.Tensor, kl_weight: float,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(total loss, reconstruction L1) on normalised features; inaudible partials are not scored."""
    if noise is None:
        noise = torch.randn(len(x), model.config.latent_channels, model.config.latent_steps, device=x.device)
    l1, kl = AutoencoderObjective(model)(x, pitch, velocity, noise)
    return l1 + kl_weight * kl, l1


def train_autoencoder(
    dataset: NoteDataset, options: TimbreTrainOptions, log: Log, world: distributed.World | None = None
) -> NoteAutoencoder | None:
    """Train (or resume) the autoencoder; None when `options.stop_step` stopped it before its last step.

    Under torchrun each rank reconstructs its share of the global batch (`distributed.Shard`), with the
    reparameterisation noise of each position drawn from that position's generator, so the ranks together
    take the step one process takes.
    """
    world = world or distributed.World()
    torch.manual_seed(options.seed)
    features = torch.from_numpy(note_features(dataset))
    train_rows, valid_rows = validation_split(len(dataset), options.seed)
    model = NoteAutoencoder(options.autoencoder)
    flat = features[train_rows].reshape(-1, features.shape[-1])
    model.feature_mean.copy_(flat.mean(0))
    model.feature_std.copy_(flat.std(0).clamp(min=1.0))
    for column in (STRETCH, ATTACK):  # constant per note: normalise by the spread between notes
        model.feature_std[column] = flat[:, column].std().clamp(min=0.1)
    x_all = model.normalise(features)
    model.to(world.device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=options.learning_rate, weight_decay=1e-4)
    checkpoint = Checkpoint(options.cache_dir / "autoencoder.ckpt", options.checkpoint_minutes, world)
    step, _ = checkpoint.resume(model, optimiser)
    pitch, velocity = torch.from_numpy(dataset.pitch), torch.from_numpy(dataset.velocity)
    shard = distributed.Shard(len(train_rows), options.autoencoder_batch, options.seed, world)
    latent_shape = (options.autoencoder.latent_channels, options.autoencoder.latent_steps)
    objective, scaler = world.wrap(AutoencoderObjective(model)), world.grad_scaler()
    model.train()
    with _progress(world) as bar:
        task = bar.add_task("autoencoder", total=options.autoencoder_steps, completed=step, info="")
        while not _stopped(step, options.autoencoder_steps, options):
            lr = options.learning_rate * 0.5 * (1 + np.cos(np.pi * step / options.autoencoder_steps))
            for group in optimiser.param_groups:
                group["lr"] = float(lr)
            positions = shard.positions(step)
            rows = torch.from_numpy(train_rows[[shard.index(p) for p in positions]])
            noise = torch.from_numpy(np.stack([shard.rng(p).standard_normal(latent_shape) for p in positions]))
            # The L1 is a mean over audible values, which differ per note: scaled by this rank's share of the
            # global batch's, so that DDP's average of the ranks' gradients is the global batch's gradient.
            scored = float(audible_mask(pitch[rows]).sum())
            share = scored * world.size / float(world.sum(torch.tensor([scored]))[0])
            device = world.device
            with world.autocast():
                l1, kl = objective(x_all[rows].to(device), pitch[rows].to(device), velocity[rows].to(device),
                                   noise.float().to(device))
            loss = l1 * share + options.kl_weight * kl
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimiser)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimiser)
            scaler.update()
            step += 1
            global_l1 = float(world.sum((l1.detach() * share).float().cpu()[None])[0]) / world.size
            if world.is_main and (step % options.log_every == 0 or step == options.autoencoder_steps):
                with torch.no_grad():
                    model.eval()
                    v = torch.from_numpy(valid_rows)
                    _, valid_l1 = autoencoder_loss(model, x_all[v].to(device), pitch[v].to(device),
                                                   velocity[v].to(device), 0.0)
                    model.train()
                log({"stage": "autoencoder", "step": step, "l1": global_l1, "valid_l1": float(valid_l1)})
                bar.update(task, completed=step, info=f"l1 {global_l1:.3f} valid {float(valid_l1):.3f}")
            checkpoint.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step})
        checkpoint.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step}, True)
    return model.eval() if step >= options.autoencoder_steps else None


@torch.no_grad()
def encode_notes(model: NoteAutoencoder, dataset: NoteDataset) -> torch.Tensor:
    device = model.feature_mean.device
    x = model.normalise(torch.from_numpy(note_features(dataset)).to(device))
    conditions = note_conditions(torch.from_numpy(dataset.pitch), torch.from_numpy(dataset.velocity)).to(device)
    return torch.cat([model.encode(x[i : i + 256], conditions[i : i + 256])[0] for i in range(0, len(x), 256)]).cpu()


def caption_embeddings(dataset: NoteDataset, options: TimbreTrainOptions) -> tuple[list[list[str]], torch.Tensor]:
    """CAPTIONS_PER_NOTE captions per note and their MiniLM embeddings (n, CAPTIONS_PER_NOTE, 384), cached."""
    from melodex.text import embed

    rng = np.random.default_rng(options.seed)
    labels = descriptor_labels(dataset)
    captions = [
        [caption(int(program), labels[i], rng) for _ in range(CAPTIONS_PER_NOTE)]
        for i, program in enumerate(dataset.program)
    ]
    flat = [c for row in captions for c in row]
    key = hashlib.sha256("\n".join(flat).encode()).hexdigest()[:16]
    path = options.cache_dir / f"captions_{key}.npy"
    if path.exists():
        vectors = np.load(path)
    else:
        unique = sorted(set(flat))
        table: dict[str, np.ndarray] = {}
        for i in range(0, len(unique), 512):
            chunk = unique[i : i + 512]
            table.update(zip(chunk, embed(chunk), strict=True))
        vectors = np.stack([table[c] for c in flat]).astype(np.float32)
        np.save(path, vectors)
    return captions, torch.from_numpy(vectors).reshape(len(dataset), CAPTIONS_PER_NOTE, -1)


class DiffusionObjective(torch.nn.Module):
    """The denoiser's v-prediction error on a batch as one forward of tensors, for DDP to wrap."""

    def __init__(self, model: TimbreDenoiser) -> None:
        super().__init__()
        self.model = model

    def forward(self, xt: torch.Tensor, t: torch.Tensor, target: torch.Tensor, text: torch.Tensor,
                family: torch.Tensor, pitch: torch.Tensor, velocity: torch.Tensor,
                keep_text: torch.Tensor) -> torch.Tensor:
        pred = self.model(xt, t, TimbreCondition(text, family, pitch, velocity, keep_text))
        return torch.mean((pred.float() - target) ** 2)


def train_diffusion(
    latents: torch.Tensor, texts: torch.Tensor, dataset: NoteDataset, options: TimbreTrainOptions, log: Log,
    world: distributed.World | None = None,
) -> TimbreDenoiser | None:
    """Train (or resume) the diffusion model on the notes' latents; its EMA weights, or None when
    `options.stop_step` stopped it before its last step. Each rank trains on its share of the global batch,
    each position's caption, condition dropout, time and noise drawn from that position's generator."""
    world = world or distributed.World()
    device = world.device
    torch.manual_seed(options.seed)
    model = TimbreDenoiser(options.diffusion).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=options.learning_rate * 0.5, weight_decay=1e-4)
    checkpoint = Checkpoint(options.cache_dir / "diffusion.ckpt", options.checkpoint_minutes, world)
    step, state = checkpoint.resume(model, optimiser)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if state is not None and "ema" in state:
        ema = {k: v.to(device) for k, v in state["ema"].items()}
    family = torch.from_numpy(dataset.program // 8).long()
    pitch, velocity = torch.from_numpy(dataset.pitch), torch.from_numpy(dataset.velocity)
    shard = distributed.Shard(len(latents), options.diffusion_batch, options.seed + 1, world)
    latent_shape = tuple(latents.shape[1:])
    objective, scaler = world.wrap(DiffusionObjective(model)), world.grad_scaler()
    model.train()
    with _progress(world) as bar:
        task = bar.add_task("diffusion", total=options.diffusion_steps, completed=step, info="")
        running: float | None = None
        while not _stopped(step, options.diffusion_steps, options):
            warm = min(1.0, step / 500)
            lr = options.learning_rate * 0.5 * warm * 0.5 * (1 + np.cos(np.pi * step / options.diffusion_steps))
            for group in optimiser.param_groups:
                group["lr"] = float(lr)
            positions = shard.positions(step)
            rows = torch.tensor([shard.index(p) for p in positions], dtype=torch.long)
            draws = [shard.rng(p) for p in positions]
            pick = torch.tensor([int(r.integers(CAPTIONS_PER_NOTE)) for r in draws], dtype=torch.long)
            u, t = (torch.tensor([r.random() for r in draws], dtype=torch.float64) for _ in range(2))
            noise = torch.from_numpy(np.stack([r.standard_normal(latent_shape) for r in draws])).float()
            # Condition dropout: both text and family (the CFG unconditional), or one of them.
            text_end = 0.15 + options.text_dropout
            keep_text = u >= text_end
            fam = torch.where((u < 0.15) | ((u >= text_end) & (u < text_end + 0.05)), N_FAMILIES, family[rows])
            x0 = latents[rows]
            alpha, sigma = alpha_sigma(t.float())
            xt = alpha[:, None, None] * x0 + sigma[:, None, None] * noise
            target = alpha[:, None, None] * noise - sigma[:, None, None] * x0
            with world.autocast():
                loss = objective(*(v.to(device) for v in (xt, t.float(), target, texts[rows, pick], fam, pitch[rows],
                                                          velocity[rows], keep_text)))
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimiser)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimiser)
            scaler.update()
            with torch.no_grad():
                for name, value in model.state_dict().items():
                    ema[name].lerp_(value, 1 - 0.999 if step > 1000 else 1.0)
            batch_loss = float(world.sum(loss.detach().float().cpu()[None])[0]) / world.size
            running = batch_loss if running is None else 0.98 * running + 0.02 * batch_loss
            step += 1
            if world.is_main and (step % options.log_every == 0 or step == options.diffusion_steps):
                log({"stage": "diffusion", "step": step, "loss": running, "batch_loss": batch_loss})
                bar.update(task, completed=step, info=f"loss {running:.4f}")
            state = {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step, "ema": ema}
            checkpoint.save(state)
        checkpoint.save(
            {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step, "ema": ema}, True
        )
    if step < options.diffusion_steps:
        return None
    model.load_state_dict(ema)
    return model.eval()


def export_weights(
    autoencoder: NoteAutoencoder, denoiser: TimbreDenoiser, latent_scale: float, options: TimbreTrainOptions,
    extra: dict,
) -> Path:
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous().cpu() for k, v in autoencoder.state_dict().items()}, out / WEIGHT_FILES[0])
    save_file({k: v.contiguous().cpu() for k, v in denoiser.state_dict().items()}, out / WEIGHT_FILES[1])
    config = {
        "format": 1,
        "version": time.strftime("%Y%m%d-%H%M"),
        "autoencoder": autoencoder.config.to_dict(),
        "diffusion": denoiser.config.to_dict(),
        "latent_scale": latent_scale,
        "sha256": {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in WEIGHT_FILES},
        **extra,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out


def train_timbre(options: TimbreTrainOptions) -> Path | None:
    """Run (or resume) every stage, the vibrato head last, and write the shipped weights to `options.out_dir`;
    None when `options.stop_step` stopped a stage (run again to go on).

    Under `torchrun --nproc_per_node=N` the autoencoder and the diffusion train with DistributedDataParallel,
    each rank on its share of every global batch; rank 0 alone builds the note set and caption cache first,
    writes checkpoints, the log and the weights, and trains the vibrato head (a few minutes) while the other
    ranks wait.
    """
    # Rank 0 may render the whole note set (an hour or more) while the others wait for it.
    world = distributed.init(options.device, wait_minutes=240)
    try:
        return _train_timbre(options, world)
    finally:
        distributed.shutdown(world)


def _train_timbre(options: TimbreTrainOptions, world: distributed.World) -> Path | None:
    torch.set_num_threads(options.threads)
    options.cache_dir.mkdir(parents=True, exist_ok=True)
    log_path = options.cache_dir / "train_log.jsonl"
    started = time.time()

    def log(record: dict) -> None:
        if world.is_main:
            with log_path.open("a") as handle:
                row = {**record, **world.record(), "elapsed_s": round(time.time() - started, 1)}
                handle.write(json.dumps(row) + "\n")

    with world.main_first():
        dataset = build_note_dataset(options.cache_dir, progress=lambda name, d, n: None)
    autoencoder = train_autoencoder(dataset, options, log, world)
    if autoencoder is None:
        return None
    latents = encode_notes(autoencoder, dataset)
    latent_scale = float(latents.std())
    with world.main_first():
        _, texts = caption_embeddings(dataset, options)
    denoiser = train_diffusion(latents / latent_scale, texts, dataset, options, log, world)
    if denoiser is None:
        return None
    out = options.out_dir
    if world.is_main:
        extra = {
            "training": {
                "notes": len(dataset),
                "autoencoder_steps": options.autoencoder_steps,
                "diffusion_steps": options.diffusion_steps,
                "wall_time_s_this_run": round(time.time() - started),
                **world.record(),
            }
        }
        out = export_weights(autoencoder, denoiser, latent_scale, options, extra)
        from melodex.train.timbre_vibrato import VibratoTrainOptions, train_vibrato  # it imports this module

        # The vibrato head reads this autoencoder's latents, so it is trained again for it.
        head = VibratoConfig(latent_channels=options.autoencoder.latent_channels,
                             latent_steps=options.autoencoder.latent_steps, detune=True)
        vibrato = VibratoTrainOptions(cache_dir=options.cache_dir, weights_dir=out, steps=options.vibrato_steps,
                                      threads=options.threads, seed=options.seed, config=head)
        train_vibrato(vibrato, log)
    world.barrier()
    return out
