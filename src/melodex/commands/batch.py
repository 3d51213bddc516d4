"""`melodex batch`: a thin shell over `melodex.batch.run_batch`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from melodex.commands import output
from melodex.commands.progress import item_bars
from melodex.errors import MelodexError
from melodex.export import ExportOptions
from melodex.fanout import RAY_HELP

console = Console()


def register(app: typer.Typer) -> None:
    app.command(name="batch")(batch)


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise MelodexError(f"--seeds {text!r}: give whole numbers separated by commas, e.g. 0,1,2") from exc


@output.with_output_options(output.MAKING_RATE)
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
    export: ExportOptions = None,  # type: ignore[assignment]  # generate's output options (with_output_options)
) -> None:
    """Make many tracks: every prompt of a file with every seed, each exactly as `melodex generate` makes it.

    In this process by default; `--ray local` runs one track per core on this machine, `--ray ADDRESS`
    on a Ray cluster. A track that fails is recorded with its error and the rest go on.

    Examples:

        melodex batch prompts.txt -o out/cues --seeds 0,1

        melodex batch prompts.txt -o out/cues --ray local

        melodex batch prompts.txt -o out/cues --format wav,mp3 --stems dry --lufs -16 --click
    """
    from melodex.batch import run_batch
    from melodex.evaluate.listen import read_prompts
    from melodex.pipeline import GenerateOptions

    options = GenerateOptions(preset=preset.value, timbre_cfg=cfg, timbre_steps=steps, renderer=renderer.value,
                              bars=bars, duration=duration, **export.generate_fields())  # before any folder
    prompt_list = read_prompts(prompts)
    with item_bars("tracks") as (report, stages):
        results = run_batch(prompt_list, out, options, _seeds(seeds), ray, report, stages)
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
