"""The `melodex` command: a thin shell that builds options and calls library functions.

Each command family lives in its own `commands/` module with a `register(app)` function, so the
shell stays small and every family can be read on its own.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from melodex.errors import MelodexError

app = typer.Typer(
    name="melodex",
    help=(
        "Melodex: an offline AI music studio. Type a prompt, get a track, its stems, its MIDI and a "
        "project you can keep editing.\n\n"
        "Start with:  melodex generate \"warm synthwave, 100 BPM, F minor, intro 4 bars, verse 8, chorus 8\" -o out"
        "\n\n"
        "One writer at a time: a command that changes a project another melodex process is editing says it is "
        "waiting for that process, waits up to 30 s (MELODEX_LOCK_WAIT=SECONDS sets how long), then stops with "
        "\"being edited by another melodex process (pid N)\". Reading commands never wait."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command families, in the order `--help` lists them.
COMMAND_MODULES = ("compose", "batch", "edit", "render", "evaluate", "data", "train", "serve")

for _name in COMMAND_MODULES:
    importlib.import_module(f"melodex.commands.{_name}").register(app)


def _version(shown: bool) -> None:
    if shown:
        import melodex

        typer.echo(f"melodex {melodex.__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Melodex: an offline AI music studio."""


def _show_repairs() -> None:
    """What opening a project put right (an edit a crash left unlisted, temporary files) is said on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("note: %(message)s"))
    logger = logging.getLogger("melodex.project")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def main() -> None:
    """Entry point: every expected failure becomes one clear line and exit status 1, never a traceback."""
    _show_repairs()
    try:
        app()  # click handles usage errors itself (exit 2) in standalone mode
    except MelodexError as exc:
        message = str(exc).encode("utf-8", "backslashreplace").decode("utf-8")  # no surrogate breaks the print
        typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
