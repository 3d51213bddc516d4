"""`melodex train timbre` and `melodex train timbre-data`: thin shells over `melodex.train.timbre`."""

from __future__ import annotations

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
    ) -> None:
        """Train (or resume) the timbre autoencoder and diffusion model, write the weights, then train the
        vibrato head for them (`timbre-vibrato`).

        A stage whose checkpoint in the cache has reached its step count is reused, so a cache folder
        holding the note set and `autoencoder.ckpt` trains only a new diffusion model.
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
            threads=threads,
            text_dropout=text_dropout,
            autoencoder=AutoencoderConfig(width=autoencoder_width, latent_channels=latent_channels),
            diffusion=DiffusionConfig(latent_channels=latent_channels),
        )
        typer.echo(f"timbre weights written to {train_timbre(options)}")

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
        from melodex.timbre.model import WEIGHTS_DIR
        from melodex.train.timbre import CACHE, VibratoTrainOptions, train_vibrato

        options = VibratoTrainOptions(cache_dir=cache or CACHE, weights_dir=weights or WEIGHTS_DIR, steps=steps,
                                      threads=threads)
        typer.echo(f"vibrato head added to {train_vibrato(options)}")
