"""`melodex brief`: show what a prompt is understood to ask for (and later `generate`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from melodex import brief as brief_mod
from melodex.commands import output
from melodex.commands.progress import stage_bars
from melodex.export import ExportOptions

console = Console()


def register(app: typer.Typer) -> None:
    app.command(name="generate")(generate)
    app.command(name="brief")(brief)


@output.with_output_options(output.MAKING_RATE)
def generate(
    prompt: str = typer.Argument(..., help='What you want, e.g. "warm synthwave, 100 BPM, F minor, verse 8".'),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for mix, stems/, song.mid and song.melodex."),
    seed: int = typer.Option(0, min=0, max=2**31 - 1,
                             help="Same seed + same options = same audio (0-2147483647). Change it for another take."),
    preset: output.Preset = typer.Option(output.Preset("social"),
                                         help="How literally the sound follows the words: film (CFG ~1.5, loose), "
                                         "social (~4, clear), design (~8.5, literal and extreme). At any CFG a note "
                                         "is kept within 6 dB of its level without guidance."),
    cfg: float = typer.Option(None, help="Timbre guidance; overrides the preset. Try several values side by side."),
    steps: int = typer.Option(16, help="Timbre diffusion steps: fewer is faster, more is cleaner."),
    guidance: float = typer.Option(None, help="Structure model guidance (how strongly notes follow the prompt)."),
    temperature: float = typer.Option(None, help="Structure sampling temperature: lower is safer, higher is wilder "
                                      "(default 1.1, measured closest to real music)."),
    scale_lock: float = typer.Option(None, "--scale-lock", help="How firmly notes stay in the key: nats taken off "
                                     "every out-of-key pitch (0 = off; default 1, measured to match real music's "
                                     "~98% notes in key)."),
    renderer: output.Renderer = output.RENDERER,
    bpm: int = typer.Option(None, help="Tempo 20-300; wins over the prompt."),
    key: str = typer.Option(None, help="Key like 'F minor' or 'Bb'; wins over the prompt."),
    meter: str = typer.Option(None, help="Meter like 3/4 or 6/8; wins over the prompt."),
    instruments: str = typer.Option(None, help="Comma-separated band, e.g. 'piano, upright bass, drums'."),
    bars: int = typer.Option(None, help="Length in bars; a form in the prompt wins over it."),
    duration: float = typer.Option(None, help="Length in seconds (bars follow from tempo and meter); a form in "
                                   "the prompt wins over it."),
    chords: str = output.CHORDS,
    reference: Path = typer.Option(None, help="A recording (WAV/FLAC) of a tune: its tempo, key and melody "
                                   "are heard and the arrangement is built around it."),
    export: ExportOptions = None,  # type: ignore[assignment]  # the output options, see with_output_options
) -> None:
    """Make a track from a prompt: mix, one stem per track, MIDI, and an editable project.

    Say the form explicitly for the best results ("intro 4 bars, verse 8, chorus 8"): explicit tempo, key,
    meter, form and instruments are obeyed exactly. Run `melodex brief PROMPT` first to see what will be
    understood. Then edit the project: `melodex regen`, `retimbre`, `variation`, `history`.
    """
    from melodex.files import output_dir
    from melodex.pipeline import GenerateOptions
    from melodex.pipeline import generate as run
    from melodex.project_lock import writing

    options = GenerateOptions(
        seed=seed, preset=preset.value, guidance=guidance, temperature=temperature, scale_lock=scale_lock,
        timbre_cfg=cfg, timbre_steps=steps, renderer=renderer.value, bpm=bpm, key=key, meter=meter, bars=bars,
        duration=duration, chords=chords,
        instruments=tuple(s.strip() for s in instruments.split(",") if s.strip()) if instruments else None,
        reference=str(reference) if reference else None, **export.generate_fields(),
    )
    with stage_bars() as progress, writing(output_dir(out) / "song.melodex"):  # a second generate there waits
        result = run(prompt, out, options, progress)
    console.print(f"[bold]{result.score.summary()}[/bold]")
    for name, path in result.files.items():
        console.print(f"  {name:<28} {path}")
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    console.print(f"time: {sum(result.seconds.values()):.1f} s ({timing}); peak memory {result.peak_memory_mb:.0f} MB")
    for note in result.notes:
        console.print(f"note: {note}", style="yellow")


def brief(
    prompt: str = typer.Argument(..., help='What you want, e.g. "warm synthwave, 100 BPM, F minor, verse 8".'),
    bpm: int = typer.Option(None, help="Tempo in BPM (20-300); wins over the prompt."),
    key: str = typer.Option(None, help="Key such as 'F minor', 'Bb major' or 'C#m'; wins over the prompt."),
    meter: str = typer.Option(None, help="Meter such as 4/4, 3/4 or 6/8; wins over the prompt."),
    instruments: str = typer.Option(None, help="Comma-separated band, e.g. 'piano, upright bass, drums'."),
    bars: int = typer.Option(None, help="Length in bars; a form in the prompt wins over it."),
    duration: float = typer.Option(None, help="Length in seconds; a form in the prompt wins over it."),
    chords: str = output.CHORDS,
    json_out: bool = typer.Option(False, "--json", help="Print the Brief as JSON instead of a table."),
) -> None:
    """Show what Melodex understood from a prompt, and where each value came from.

    Explicit values in the prompt (BPM, key, meter, form like 'intro 4 bars, verse 8', 'AABA 8 bars each',
    a length in bars or seconds, instruments) are obeyed exactly. What the prompt leaves out comes from
    its style (keywords like 'synthwave', 'reel', 'lo-fi', or else the nearest style by meaning).
    Use this before `generate` when the result did not follow your prompt.
    """
    parsed = brief_mod.parse(prompt)
    parsed = brief_mod.with_overrides(
        parsed, bpm=bpm, key=key, meter=meter, bars=bars, duration=duration, chords=chords,
        instruments=[s.strip() for s in instruments.split(",") if s.strip()] if instruments else None,
    )
    if json_out:
        import json

        typer.echo(json.dumps(parsed.to_json(), indent=2))
        return
    table = Table(title="What Melodex understood", show_lines=False)
    table.add_column("what")
    table.add_column("value")
    table.add_column("from", style="dim")
    for row in parsed.describe():
        table.add_row(*row)
    console.print(table)
    for note in parsed.notes:
        console.print(f"note: {note}", style="yellow")
