"""`melodex brief`: show what a prompt is understood to ask for (and later `generate`)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from melodex import brief as brief_mod

console = Console()


def register(app: typer.Typer) -> None:
    app.command(name="brief")(brief)


def brief(
    prompt: str = typer.Argument(..., help='What you want, e.g. "warm synthwave, 100 BPM, F minor, verse 8".'),
    bpm: int = typer.Option(None, help="Tempo in BPM (20-300); wins over the prompt."),
    key: str = typer.Option(None, help="Key such as 'F minor', 'Bb major' or 'C#m'; wins over the prompt."),
    meter: str = typer.Option(None, help="Meter such as 4/4, 3/4 or 6/8; wins over the prompt."),
    instruments: str = typer.Option(None, help="Comma-separated band, e.g. 'piano, upright bass, drums'."),
    bars: int = typer.Option(None, help="Length in bars when the prompt gives no form."),
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
        parsed, bpm=bpm, key=key, meter=meter, bars=bars,
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
