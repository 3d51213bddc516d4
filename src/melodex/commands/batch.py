"""`melodex batch`: a thin shell over `melodex.batch.run_batch`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from melodex.commands import output
from melodex.commands.progress import STAGES
from melodex.errors import MelodexError
from melodex.fanout import RAY_HELP

console = Console()


def register(app: typer.Typer) -> None:
    app.command(name="batch")(batch)


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise MelodexError(f"--seeds {text!r}: give whole numbers separated by commas, e.g. 0,1,2") from exc


def batch(
    prompts: Path = typer.Argument(..., help="Prompt file: one prompt per line; blank lines and # comments skipped."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for one sub-folder per track and results.csv "
                             "(run again to resume: finished tracks are skipped)."),
    seeds: str = typer.Option("0", help="Seeds, comma-separated: each prompt is made once per seed."),
    ray: str = typer.Option(None, "--ray", help=RAY_HELP),
    preset: output.Preset = output.PRESET,
    cfg: float = typer.Option(None, help="Timbre guidance; overrides the preset."),
    steps: int = typer.Option(16, help="Timbre diffusion steps."),
    renderer: output.Renderer = output.RENDERER,
    bars: int = typer.Option(None, help="Length in bars; a form in the prompt wins over it."),
    duration: float = typer.Option(None, help="Length in seconds; a form in the prompt wins over it."),
    formats: str = typer.Option("wav", "--format", help="Mix formats, comma-separated: wav, flac, mp3."),
) -> None:
    """Make many tracks: every prompt of a file with every seed, each exactly as `melodex generate` makes it.

    In this process by default; `--ray local` runs one track per core on this machine, `--ray ADDRESS`
    on a Ray cluster. A track that fails is recorded with its error and the rest go on.

    Examples:

        melodex batch prompts.txt -o out/cues --seeds 0,1

        melodex batch prompts.txt -o out/cues --ray local
    """
    from melodex.batch import run_batch
    from melodex.evaluate.listen import read_prompts
    from melodex.export import parse_formats
    from melodex.pipeline import GenerateOptions

    options = GenerateOptions(preset=preset.value, timbre_cfg=cfg, timbre_steps=steps, renderer=renderer.value,
                              bars=bars, duration=duration,
                              formats=parse_formats(formats))  # checked here, before any folder is made
    prompt_list = read_prompts(prompts)
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("tracks", total=None)
        stage_tasks: dict[str, TaskID] = {}

        def report(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=f"tracks {done}/{total}: {what[:40]}")
            for stage_task in stage_tasks.values():  # the next track's stages start afresh
                bar.remove_task(stage_task)
            stage_tasks.clear()

        def stage(name: str, fraction: float) -> None:
            """The stages of the track being made, as `melodex generate` draws them."""
            if name not in stage_tasks:
                stage_tasks[name] = bar.add_task(f"  {STAGES.get(name, name)}", total=1.0)
            bar.update(stage_tasks[name], completed=fraction)

        results = run_batch(prompt_list, out, options, _seeds(seeds), ray, report, stage)
    table = Table(title=f"melodex batch: {out}")
    for column in ("prompt", "seed", "files", "seconds", "error"):
        table.add_column(column)
    for r in results:
        shown = f"{r.item}/ ({len(r.files)})" if r.files else ""
        table.add_row(r.prompt, str(r.seed), shown, f"{r.seconds:.1f}", r.error or "")
    console.print(table)
    failed = sum(r.error is not None for r in results)
    console.print(f"{len(results) - failed} of {len(results)} tracks in {out} (table: {out / 'results.csv'})"
                  + (f"; {failed} failed, run again to retry them" if failed else ""))
