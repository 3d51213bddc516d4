"""The `melodex train structure` command: a thin shell over `melodex.train.structure.train`."""

from __future__ import annotations

from pathlib import Path

import typer


def structure_command(
    run_dir: Path = typer.Option(None, "--run-dir", help="Checkpoints and log.jsonl (default runs/structure)."),
    corpus: Path = typer.Option(None, "--corpus", help="Corpus directory (default: the committed data/corpus)."),
    minutes: float = typer.Option(120.0, help="Stop after this many minutes (resume by running again)."),
    max_steps: int = typer.Option(500, help="Length of the learning-rate schedule in steps."),
    lr: float = typer.Option(8e-4, "--lr", help="Peak learning rate (after a 30-step warm-up; cosine to a tenth "
                             "of it). Lower it to fine-tune shipped weights."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data stream (examples and augmentations); a new "
                             "run from --init takes another seed to see other draws."),
    batch_size: int = typer.Option(8, help="Windows per step, summed over all processes under torchrun."),
    window: int = typer.Option(512, help="Events per training window (the header is always kept in front)."),
    threads: int = typer.Option(1, help="CPU threads per process (one leaves the other core to other jobs)."),
    device: str = typer.Option("auto", help="cpu, cuda (mixed precision) or auto (CUDA when there is a GPU)."),
    stop_step: int = typer.Option(0, "--stop-step", help="Stop when the run reaches this step (0: only "
                                  "--minutes stops it)."),
    tiny: bool = typer.Option(False, help="Train a debug-sized model."),
    init: Path = typer.Option(None, "--init", help="Start a new run from these weights (a checkpoint directory, "
                              "e.g. src/melodex/weights/structure) with a fresh optimizer and schedule. "
                              "Ignored when the run directory already has a checkpoint to resume."),
    log_every: int = typer.Option(10, help="Write the training loss to log.jsonl every this many steps."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar (for logs)."),
    ship_weights: bool = typer.Option(False, "--ship", help="Then copy the best checkpoint into the package "
                                      "weights if its validation NLL is better than the shipped one's."),
) -> None:
    """Train the structure model on the corpus; resumes from the last checkpoint automatically.

    Example:  melodex train structure --minutes 60
    On N processes (DistributedDataParallel, gloo on CPU, nccl on CUDA; rank 0 writes the run directory):
              torchrun --standalone --nproc_per_node=N -m melodex.cli train structure --minutes 60
    """
    import os

    from melodex.train.structure import DEFAULT_RUN_DIR, TrainOptions, ship, train

    options = TrainOptions(run_dir=run_dir or DEFAULT_RUN_DIR, corpus_dir=corpus, minutes=minutes,
                           max_steps=max_steps, batch_size=batch_size, window=window, threads=threads, tiny=tiny,
                           init=init, device=device, stop_step=stop_step, lr=lr, seed=seed,
                           log_every=log_every)
    state = train(options, progress=not no_progress)
    if os.environ.get("RANK", "0") != "0":
        return  # rank 0 reports and ships
    best = state["best_val_nll"]
    typer.echo(f"step {state['step']}, {state['events_seen']} events seen, "
               f"best validation NLL {best if best is None else round(best, 4)} at step {state['best_step']}")
    if ship_weights:
        weights = Path(__file__).resolve().parents[1] / "weights" / "structure"
        copied = ship(options.run_dir, weights)
        typer.echo(f"shipped to {weights}" if copied else "not shipped: the shipped weights are as good or better")
