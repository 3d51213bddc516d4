"""The `melodex` command: a thin shell that builds options and calls library functions.

Each command family lives in its own `commands/` module with a `register(app)` function, so the
shell stays small and every family can be read on its own.
"""

from __future__ import annotations

import importlib
import sys

import typer

from melodex.errors import MelodexError

app = typer.Typer(
    name="melodex",
    help=(
        "Melodex: an offline AI music studio. Type a prompt, get a track, its stems, its MIDI and a "
        "project you can keep editing.\n\n"
        "Start with:  melodex generate \"warm synthwave, 100 BPM, F minor, intro 4 bars, verse 8, chorus 8\" -o out"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command families, in the order `--help` lists them. A module missing here is a bug, not optional.
COMMAND_MODULES = ("render", "data", "train")

for _name in COMMAND_MODULES:
    importlib.import_module(f"melodex.commands.{_name}").register(app)


def main() -> None:
    """Entry point: run the app, turning every expected failure into one clear line and exit 1."""
    try:
        app(standalone_mode=False)
    except MelodexError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
