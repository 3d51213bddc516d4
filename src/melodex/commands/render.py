"""`melodex render` commands (being written)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this family's commands to the app."""
