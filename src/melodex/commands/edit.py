"""Project editing commands: each one makes a new version; `history`, `checkout` and `undo` move between them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from melodex.commands import output
from melodex.commands.progress import stage_bars
from melodex.export import ExportOptions, export_take

if TYPE_CHECKING:
    from melodex.edit import Session
    from melodex.edit_requests import EditRequest
    from melodex.pipeline import Progress

console = Console()

PROJECT = typer.Argument(..., help="The project: the folder `melodex generate -o` wrote, or its song.melodex.")
SEED = typer.Option(None, min=0, max=2**31 - 1,
                    help="Seed for the new material (0-2147483647); default: a new one from the version count.")


# click reads any argument that starts with "-" as an option, so `transpose P -1` was refused with "No such
# option: -1". These commands have no options of their own (only --help), so an unknown "-..." can only be a
# number given as a plain argument: it is passed on to be parsed and range-checked like any other value (a typo
# such as `--bogus` is then refused as "not a valid integer/float" instead).
NEGATIVE_NUMBERS = {"ignore_unknown_options": True}


def register(app: typer.Typer) -> None:
    for command in (regen, rechord, retimbre, variation, extend, rerender, set_tempo, transpose, history, checkout,
                    undo, redo, diff, prune, export):
        settings = NEGATIVE_NUMBERS if command in (set_tempo, transpose) else None
        app.command(name=command.__name__.replace("_", "-"), context_settings=settings)(command)


@contextmanager
def _editing(project: Path, version: str | None = None, progress: Progress | None = None) -> Iterator[Session]:
    """The project opened for one edit, its write lock held until the command ends (`progress` hears a pruned
    version played again)."""
    from melodex.edit import editing

    with editing(project, version, progress) as session:
        yield session


def _session(project: Path, version: str | None = None, progress: Progress | None = None) -> Session:
    from melodex.edit import open_session

    return open_session(project, version, progress)


def _apply(project: Path, build: Callable[[], EditRequest]) -> None:
    """Build the edit request (a request that cannot be is a usage error), run it on the project with its
    stages drawn as progress bars, then say what it made."""
    from melodex.edit_requests import apply
    from melodex.errors import MelodexError

    try:
        request = build()
    except MelodexError as exc:
        raise typer.BadParameter(str(exc)) from exc
    with stage_bars() as progress, _editing(project, progress=progress) as session:
        version = apply(session, request, progress)
        console.print(f"version {version}: {session.project.history[-1]['edit']}")
        console.print(f"files updated in {session.project.path.parent}")


def regen(
    project: Path = PROJECT,
    section: str = typer.Argument(None, help="Section to rewrite, e.g. chorus or 'verse 2'. Or use --bars."),
    bars: str = typer.Option(None, help="Bars to rewrite, counted from 1, inclusive: 5:8, or one bar: 3."),
    track: list[str] = typer.Option(None, help="Only these tracks (number from 1, role or instrument); repeatable."),
    only: bool = typer.Option(False, "--only", help="Rewrite only this occurrence of a repeated section "
                              "(e.g. 'chorus 2') and unlink it from the others."),
    seed: int = SEED,
) -> None:
    """Rewrite the notes of one section (or bars), optionally of some tracks only; everything else stays.

    A section that repeats is rewritten with its repeats (a repeated chorus stays the same music): use
    --only to rewrite one occurrence on its own. Every sample of audio outside the rewritten bars stays
    exactly as it was. Examples:
      melodex regen out/song chorus
      melodex regen out/song "chorus 2" --only
      melodex regen out/song --bars 9:12 --track bass
    """
    from melodex.edit_requests import Regen

    _apply(project, lambda: Regen(section, bars, tuple(track or ()), only, seed))


def rechord(
    project: Path = PROJECT,
    section: str = typer.Argument(..., help="Section to give new chords, e.g. chorus or 'verse 2'."),
    chords: list[str] = typer.Argument(..., help='Chords, one a bar, cycled over the section: "Am F C G"; '
                                       '"Am F | C G" for two a bar (at most 4); roman numerals ("vi IV I V") in '
                                       "the song's key. Chords outside the key are played as written; more bars "
                                       "of chords than the section has, or a word that is no chord, is refused "
                                       "and the project stays as it was."),
    seed: int = SEED,
) -> None:
    """Give a section (and its repeats) new chords and rewrite its pitched parts around them.

    Drums stay; every sample outside the section and its repeats stays exactly as it was. Example:
      melodex rechord out/song chorus "Am F C G"
    """
    from melodex.edit_requests import Rechord

    _apply(project, lambda: Rechord(section, " ".join(chords), seed))


def retimbre(
    project: Path = PROJECT,
    track: str = typer.Argument(..., help="Track: number from 1 (as the stem files count), role or "
                               "instrument (e.g. 1, bass, piano)."),
    text: str = typer.Argument(..., help='The new sound in words, e.g. "brighter, more distorted".'),
    seed: int = SEED,
) -> None:
    """Give one track a new sound from words; its notes and every other track's sound stay."""
    from melodex.edit_requests import Retimbre

    _apply(project, lambda: Retimbre(track, text, seed))


def variation(
    project: Path = PROJECT,
    strength: float = typer.Option(0.3, help="0.1 changes a few bars, 0.5 half the song, 1 writes it anew."),
    seed: int = SEED,
) -> None:
    """Same plan (form, tempo, key, band), new material: from a subtle change to a new song."""
    from melodex.edit_requests import Variation

    _apply(project, lambda: Variation(strength, seed))


def extend(
    project: Path = PROJECT,
    bars: int = typer.Option(None, help="How many bars to add at the end (default 8)."),
    duration: float = typer.Option(None, help="Seconds to add at the end instead: bars follow from the song's "
                                   "tempo and meter at its end."),
    seed: int = SEED,
) -> None:
    """Continue the song by N bars (or about N seconds), written as a continuation of what is there."""
    from melodex.edit_requests import Extend

    _apply(project, lambda: Extend(bars, duration, seed))


def rerender(
    project: Path = PROJECT,
    cfg: float = typer.Option(None, help="Timbre guidance: ~1.5 loose (film), ~4 clear (social), ~8.5 literal."),
    steps: int = typer.Option(None, help="Timbre diffusion steps."),
) -> None:
    """Re-make every timbre from the same starting noise at another guidance or step count; notes stay."""
    from melodex.edit_requests import Rerender

    _apply(project, lambda: Rerender(cfg, steps))


def set_tempo(project: Path = PROJECT, bpm: float = typer.Argument(..., help="New tempo, 20-300 BPM.")) -> None:
    """Play the same notes at another tempo."""
    from melodex.edit_requests import SetTempo

    _apply(project, lambda: SetTempo(bpm))


def transpose(project: Path = PROJECT,
              semitones: int = typer.Argument(..., min=-12, max=12,
                                              help="Semitones up (positive) or down (negative), -12 to 12.")) -> None:
    """Move the whole song to another key (drums stay)."""
    from melodex.edit_requests import Transpose

    _apply(project, lambda: Transpose(semitones))


def history(project: Path = PROJECT) -> None:
    """List every version of the project; the current one is marked."""
    from melodex.edit import locate_project
    from melodex.project import Project

    opened = Project.open(locate_project(project))
    table = Table(title=f"{opened.path.name}: {opened.meta['prompt'][:60]}")
    for column in ("", "version", "from", "edit"):
        table.add_column(column)
    for entry in opened.history:
        mark = "*" if entry["id"] == opened.current else ""
        table.add_row(mark, entry["id"], entry["parent"] or "-", entry["edit"])
    console.print(table)


def checkout(project: Path = PROJECT, version: str = typer.Argument(..., help="Version number, e.g. 3.")) -> None:
    """Make an earlier version current (nothing is deleted; the next edit branches from it)."""
    from melodex import pipeline
    from melodex.edit import check_out

    with stage_bars() as progress, _editing(project, version, progress) as session:
        with pipeline.StageClock(progress).stage("write") as report:
            check_out(session, report)
        console.print(f"version {session.version_id} is current; files updated in {session.project.path.parent}")


def undo(project: Path = PROJECT) -> None:
    """Go back to the version the current one was made from."""
    from melodex.edit import locate_project, undo_target
    from melodex.project import Project

    checkout(project, undo_target(Project.open(locate_project(project))))


def redo(project: Path = PROJECT) -> None:
    """Undo the last undo: go forward to the newest version made from the current one."""
    from melodex.edit import locate_project, redo_target
    from melodex.project import Project

    checkout(project, redo_target(Project.open(locate_project(project))))


def diff(project: Path = PROJECT,
         a: str = typer.Argument(None, help="First version (default: the current one's parent)."),
         b: str = typer.Argument(None, help="Second version (default: the current one).")) -> None:
    """What changed between two versions: notes per track and bar, timbres, and where the audio differs."""
    from melodex.edit import diff as diff_versions
    from melodex.edit import diff_pair, locate_project
    from melodex.project import Project

    opened = Project.open(locate_project(project))
    first, second = diff_pair(opened, a, b)
    console.print(f"{first} -> {second}")
    for line in diff_versions(opened, first, second):
        console.print(f"  {line}")


def prune(project: Path = PROJECT) -> None:
    """Free disk: drop the rendered audio of every version but the current one, keep what re-renders it.

    Scores, sample sets and settings stay, so `checkout`, `undo`, `diff` and edits still work on a pruned
    version: its audio is played again when needed (checking it out stores it again). Audio the current
    version shares is kept; the current version is not touched.
    """
    from melodex.edit import locate_project
    from melodex.project import Project

    opened = Project.open(locate_project(project))
    pruned, freed = opened.prune()
    if not pruned:
        console.print(f"nothing to prune: only the current version ({opened.current}) has audio")
        return
    console.print(f"pruned the audio of {len(pruned)} version(s) ({', '.join(pruned)}): {freed / 1e6:.1f} MB "
                  f"freed; version {opened.current} (current) untouched")


@output.with_output_options(output.EXPORT_RATE)
def export(
    project: Path = PROJECT,
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write into (made if missing)."),
    version: str = typer.Option(None, help="Version to export (default: current)."),
    section: str = typer.Option(None, help="Only this section (e.g. chorus), as a seamless loop: its tail rings "
                                "into its start."),
    export: ExportOptions = None,  # type: ignore[assignment]  # the output options, see with_output_options
) -> None:
    """Write a version's mix, stems and MIDI to a folder, in the formats and quality you need.

    Examples:
      melodex export out/song -o delivery --format wav,mp3 --bit-depth 16 --sample-rate 48000
      melodex export out/song -o loops --section chorus --stems dry --click
    """
    from melodex import pipeline

    options = replace(export, section=section)  # checked before anything is read or written
    notes: list[str] = []
    with stage_bars() as progress:
        session = _session(project, version, progress)  # a reader: exporting elsewhere does not lock the project
        if section is not None:
            session.score.section(section)  # an unknown section is an error before any file is written
        with pipeline.StageClock(progress).stage("write") as report:
            files = export_take(session.take, out, options, report, notes)
    for name, path in files.items():
        console.print(f"  {name:<28} {path}")
    for note in notes:
        console.print(f"note: {note}", style="yellow")
