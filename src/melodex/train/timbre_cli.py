"""`melodex train timbre` and `melodex train timbre-data`: thin shells over `melodex.train.timbre`."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def register(train_app: typer.Typer) -> None:
    """Add the timbre commands to the `train` command group."""

    @train_app.command("timbre-data")
    def timbre_data(
        cache: Path = typer.Option(None, help="where the note dataset is kept (default .cache/timbre)"),
    ) -> None:
        """Render and analyse the SoundFont note dataset (reused if already built)."""
        from melodex.timbre.notes import build_note_dataset
        from melodex.train.timbre import CACHE

        def report(name: str, done: int, total: int) -> None:
            if done % 500 == 0:
                typer.echo(f"{name} {done}/{total}")

        dataset = build_note_dataset(cache or CACHE, progress=report)
        typer.echo(f"{len(dataset)} notes in {cache or CACHE}")

    @train_app.command("timbre")
    def timbre(
        autoencoder_steps: int = typer.Option(3000, help="autoencoder optimiser steps"),
        diffusion_steps: int = typer.Option(8000, help="diffusion optimiser steps"),
        out: Path = typer.Option(None, help="weights folder (default: the shipped src/melodex/weights/timbre)"),
        cache: Path = typer.Option(None, help="dataset and checkpoint folder (default .cache/timbre)"),
        threads: int = typer.Option(1, help="CPU threads for torch"),
        latent_channels: int = typer.Option(8, help="latent channels of the autoencoder (and the diffusion)"),
        autoencoder_width: int = typer.Option(64, help="conv channels of the autoencoder"),
        text_dropout: float = typer.Option(0.10, help="share of diffusion steps with text dropped, family kept"),
        vibrato_steps: int = typer.Option(12000, help="vibrato head optimiser steps"),
        autoencoder_batch: int = typer.Option(32, help="notes per autoencoder step, summed over all processes"),
        diffusion_batch: int = typer.Option(64, help="notes per diffusion step, summed over all processes"),
        device: str = typer.Option("auto", help="cpu, cuda (mixed precision) or auto (CUDA when there is a GPU)"),
        stop_step: int = typer.Option(0, help="stop the autoencoder or diffusion stage under way at this step "
                                              "(checkpointed: run again to go on); 0: run every stage to its end"),
        log_every: int = typer.Option(100, help="log the losses every this many steps"),
    ) -> None:
        """Train (or resume) the timbre autoencoder and diffusion model, write the weights, then train the
        vibrato head for them (`timbre-vibrato`).

        A stage whose checkpoint in the cache has reached its step count is reused, so a cache folder
        holding the note set and `autoencoder.ckpt` trains only a new diffusion model.
        On N processes (DistributedDataParallel, gloo on CPU, nccl on CUDA; rank 0 writes the cache and weights):
                  torchrun --standalone --nproc_per_node=N -m melodex.cli train timbre
        """
        from melodex.timbre.autoencoder import AutoencoderConfig
        from melodex.timbre.diffusion import DiffusionConfig
        from melodex.timbre.model import WEIGHTS_DIR
        from melodex.train.timbre import CACHE, TimbreTrainOptions, train_timbre

        options = TimbreTrainOptions(
            cache_dir=cache or CACHE,
            out_dir=out or WEIGHTS_DIR,
            autoencoder_steps=autoencoder_steps,
            diffusion_steps=diffusion_steps,
            vibrato_steps=vibrato_steps,
            autoencoder_batch=autoencoder_batch,
            diffusion_batch=diffusion_batch,
            threads=threads,
            text_dropout=text_dropout,
            device=device,
            stop_step=stop_step,
            log_every=log_every,
            autoencoder=AutoencoderConfig(width=autoencoder_width, latent_channels=latent_channels),
            diffusion=DiffusionConfig(latent_channels=latent_channels),
        )
        written = train_timbre(options)
        if os.environ.get("RANK", "0") != "0":
            return  # rank 0 reports
        if written is None:
            typer.echo(f"stopped at step {stop_step}, checkpointed in {options.cache_dir}: run again to go on")
        else:
            typer.echo(f"timbre weights written to {written}")

    @train_app.command("timbre-vibrato")
    def timbre_vibrato(
        steps: int = typer.Option(12000, help="optimiser steps (batch 64)"),
        weights: Path = typer.Option(None, help="weights folder with the frozen autoencoder; vibrato.safetensors "
                                                "and its SHA-256 are added to it (default: the shipped one)"),
        cache: Path = typer.Option(None, help="note dataset and checkpoint folder (default .cache/timbre)"),
        threads: int = typer.Option(1, help="CPU threads for torch"),
    ) -> None:
        """Train (or resume) the vibrato head on the frozen autoencoder's latents (about a minute on one core),
        with its detune MLP (about 3 minutes more). A stored head without detune is kept as it is and only the
        detune MLP is trained.

        The autoencoder and diffusion weights are not changed, so the diffusion model needs no retraining.
        """
        from melodex.errors import MelodexError
        from melodex.timbre.model import WEIGHTS_DIR
        from melodex.train.timbre import CACHE
        from melodex.train.timbre_vibrato import VibratoTrainOptions, train_vibrato

        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise MelodexError("the vibrato head trains on one process (a few minutes): run "
                               "`melodex train timbre-vibrato` without torchrun")

        options = VibratoTrainOptions(cache_dir=cache or CACHE, weights_dir=weights or WEIGHTS_DIR, steps=steps,
                                      threads=threads)
        typer.echo(f"vibrato head added to {train_vibrato(options)}")

    @train_app.command("timbre-decoder")
    def timbre_decoder(
        out: Path = typer.Option(..., help="weights folder to write (the starting weights copied, the decoder new)"),
        weights: Path = typer.Option(None, help="starting weights folder (default: the shipped one)"),
        steps: int = typer.Option(6000, help="optimiser steps"),
        floor_db: float = typer.Option(-140.0, help="the decoder's level floor in dB (the shipped one: -100)"),
        band_weight: float = typer.Option(1.0, help="weight of the band-energy term against the feature L1"),
        learning_rate: float = typer.Option(3e-4, help="peak learning rate (cosine)"),
        cache: Path = typer.Option(None, help="note dataset and checkpoint folder (default .cache/timbre)"),
        threads: int = typer.Option(1, help="CPU threads for torch"),
        stop_step: int = typer.Option(0, help="stop at this step (checkpointed: run again to go on); 0: to the end"),
        pitch_steps: str = typer.Option("4,6", help="semitones between rendered pitches, FluidR3_GM,TimGM6mb "
                                                    "(wider: a smaller note set, built sooner)"),
    ) -> None:
        """Fine-tune (or resume) the autoencoder's decoder alone, its encoder frozen: every latent, the diffusion
        model and the vibrato head stay as they are (copied), only what the decoder makes of a latent changes."""
        import json

        from melodex.timbre.model import WEIGHTS_DIR
        from melodex.train.timbre import CACHE
        from melodex.train.timbre_decoder import DecoderTrainOptions, train_decoder

        try:
            fluid_step, tim_step = (int(part) for part in pitch_steps.split(","))
        except ValueError:
            raise typer.BadParameter(f"--pitch-steps wants two whole numbers like 4,6, not {pitch_steps!r}") from None
        cache_dir = cache or CACHE
        log_path = cache_dir / "decoder_log.jsonl"

        def log(record: dict) -> None:
            with log_path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            typer.echo(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()))

        options = DecoderTrainOptions(cache_dir=cache_dir, weights_dir=weights or WEIGHTS_DIR, out_dir=out,
                                      steps=steps, floor_db=floor_db, band_weight=band_weight,
                                      learning_rate=learning_rate, threads=threads, stop_step=stop_step,
                                      pitch_steps=(fluid_step, tim_step))
        written = train_decoder(options, log)
        if written is None:
            typer.echo(f"stopped at step {stop_step}, checkpointed in {cache_dir}: run again to go on")
        else:
            typer.echo(f"timbre weights with the new decoder written to {written}")
