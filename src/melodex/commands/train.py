"""`melodex train` commands: train the models on this machine."""

import typer

from melodex.train.structure_cli import structure_command
from melodex.train.timbre_cli import register as register_timbre

train_app = typer.Typer(help="Train Melodex's models on this machine (CPU, resumable).", no_args_is_help=True)
train_app.command("structure")(structure_command)
register_timbre(train_app)


def register(app: typer.Typer) -> None:
    """Add this family's commands to the app."""
    app.add_typer(train_app, name="train")
