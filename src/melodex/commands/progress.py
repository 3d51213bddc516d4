"""The progress bars of long commands: one rich bar per pipeline stage, fed by its stage callbacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

# What each stage of `pipeline.generate` and of an edit is doing, in the words the bar shows.
STAGES = {"brief": "reading the prompt", "reference": "listening to the reference",
          "compose": "composing (structure model)", "timbres": "making timbres", "render": "playing and mixing",
          "write": "writing files"}


@contextmanager
def stage_bars() -> Iterator[Callable[[str, float], None]]:
    """A callback for `pipeline.generate` / `edit.Session.progress` that draws its stages on stderr.

    The bars are transient and drawn only on a terminal: a log file or a pipe gets the results alone.
    """
    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description:<30}"), BarColumn(), TaskProgressColumn(),
                  TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal) as bars:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, fraction: float) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(STAGES.get(stage, stage), total=1.0)
            bars.update(tasks[stage], completed=fraction)

        yield progress
