"""The progress bars of long commands: one rich bar per pipeline stage, fed by its stage callbacks, and for a
command over many items (batch, eval, sweep) a bar over the items with the stage bars of the one being made."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# What each stage of `pipeline.generate` and of an edit is doing, in the words the bar shows.
STAGES = {"brief": "reading the prompt", "reference": "listening to the reference",
          "compose": "composing (structure model)", "timbres": "making timbres", "render": "playing and mixing",
          "write": "writing files"}

StageReport = Callable[[str, float], None]  # (stage, share done), as pipeline.Progress
ItemReport = Callable[[int, int, str], None]  # (items done, items in all, what)


def _bars(*columns: object) -> Progress:
    """Transient bars on stderr, drawn only on a terminal: a log file or a pipe gets the results alone."""
    console = Console(stderr=True)
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)  # type: ignore[arg-type]


def _stage_report(bars: Progress, tasks: dict[str, TaskID], indent: str = "") -> StageReport:
    def progress(stage: str, fraction: float) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(f"{indent}{STAGES.get(stage, stage)}", total=1.0)
        bars.update(tasks[stage], completed=fraction)

    return progress


@contextmanager
def stage_bars() -> Iterator[StageReport]:
    """A callback for `pipeline.generate` / `edit.Session.progress` that draws its stages."""
    with _bars(SpinnerColumn(), TextColumn("{task.description:<30}"), BarColumn(), TaskProgressColumn(),
               TimeElapsedColumn()) as bars:
        yield _stage_report(bars, {})


@contextmanager
def item_bars(what: str) -> Iterator[tuple[ItemReport, StageReport]]:
    """Callbacks for a run over items: `items(done, total, about)` moves the items bar (and clears the stage
    bars, so the next item's start afresh), `stages(stage, fraction)` draws the current item's stages under it."""
    with _bars(TextColumn("{task.description:<42}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
               TimeRemainingColumn()) as bars:
        task = bars.add_task(what, total=None)
        stage_tasks: dict[str, TaskID] = {}

        def items(done: int, total: int, about: str) -> None:
            about = about if len(about) <= 40 else about[:37] + "..."
            bars.update(task, completed=done, total=total, description=f"{what} {done}/{total}: {about}")
            for stage_task in stage_tasks.values():
                bars.remove_task(stage_task)
            stage_tasks.clear()

        yield items, _stage_report(bars, stage_tasks, indent="  ")
