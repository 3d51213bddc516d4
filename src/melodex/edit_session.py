"""A project opened for editing: the session an edit reads, and saving its take as a new version."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from melodex import brief as brief_mod
from melodex import pipeline
from melodex.errors import MelodexError
from melodex.export import export_take
from melodex.files import output_dir
from melodex.production.mastering import Levels
from melodex.production.settings import MixSettings
from melodex.project import Project
from melodex.project_files import ProjectError
from melodex.project_lock import writing
from melodex.render_audio import StageProgress, perform_and_produce
from melodex.score import Score
from melodex.timbre.sampleset import SampleSet
from melodex.tokens import decode


@dataclass
class Draft:
    """What an edit reads and changes: a take with the brief and options it was made with, in memory
    (`melodex.Song`'s edits). An edit leaves its new take in `take`."""

    take: pipeline.Take
    brief: brief_mod.Brief
    options: pipeline.GenerateOptions
    progress: pipeline.Progress | None = None  # hears (stage, share done) as an edit runs: compose, timbres, ...
    pipe: pipeline.Models | None = None  # the models to edit with; None: `pipeline.shipped()`
    made: int = 1  # how many versions the song has had: a new seed is counted from it
    request: dict | None = None  # the edit request being run (`edit_requests`), recorded in the new version

    @property
    def score(self) -> Score:
        return self.take.score

    @property
    def models(self) -> pipeline.Models:
        return self.pipe or pipeline.shipped()

    def stage(self, name: str) -> AbstractContextManager[StageProgress]:
        """A stage of an edit, reported to `progress` (the stages of `pipeline.generate`)."""
        return pipeline.StageClock(self.progress).stage(name)

    def next_seed(self, seed: int | None) -> int:
        return next_seed(self.made, seed)


@dataclass(kw_only=True)
class Session(Draft):
    """A project opened at one version: an edit saves its take as a new version and re-exports the files."""

    project: Project
    version_id: str
    rerendered: bool = False  # the version's audio was pruned: `take` holds it played again, not yet stored

    def next_seed(self, seed: int | None) -> int:
        return next_seed(len(self.project.history), seed)


def locate_project(path: str | Path) -> Path:
    """A project from its own path or from the output folder that holds song.melodex."""
    path = Path(path)
    if str(path) in ("", "."):
        path = Path.cwd()
    if (path / "project.json").exists():
        return path
    if (path / "song.melodex" / "project.json").exists():
        return path / "song.melodex"
    if path.name and path.with_suffix(".melodex").exists():
        return path.with_suffix(".melodex")
    raise ProjectError(f"no Melodex project at {path}: pass the folder `melodex generate -o` wrote, or its "
                       "song.melodex")


def open_session(path: str | Path, version: str | None = None, progress: pipeline.Progress | None = None) -> Session:
    """The project at `version` (default: the current one). A version whose audio was pruned is played again
    here, a "render" stage `progress` hears (the whole song: seconds, as long as generate's render)."""
    project = Project.open(locate_project(path))
    version_id = project.resolve(version)
    stored = project.load_version(version_id)
    where = project.path / "versions" / version_id / "version.json"
    try:
        brief = brief_mod.Brief.from_json(project.meta["brief"])
    except MelodexError as exc:  # a brief of a shape this Melodex cannot read (BriefError): say which file
        raise ProjectError(f"{project.path / 'project.json'} is damaged (its brief: {exc})") from exc
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ProjectError(f"{project.path / 'project.json'} is damaged (its brief: {exc!r})") from exc
    raw = stored.settings.get("options", {})
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise ProjectError(f"{where} is damaged (its options are not a table)")
    raw = dict(raw)
    raw["formats"] = tuple(raw.get("formats") or ("wav",))
    if raw.get("instruments"):
        raw["instruments"] = tuple(raw["instruments"])
    raw.setdefault("scale_lock", 0.0)  # a project from before the scale lock keeps composing without it
    raw.setdefault("timbre_vibrato", False)  # and one from before the vibrato head re-makes its timbres steady
    raw.setdefault("timbre_detune", False)  # and one from before the detune with one harmonic bank
    raw.setdefault("arrangement", "flat")  # and one from before song forms was composed in one flat pass
    try:
        options = pipeline.GenerateOptions(**raw)
        score = decode(stored.events)
    except (MelodexError, TypeError, ValueError, IndexError) as exc:
        raise ProjectError(f"{where} is damaged ({exc})") from exc
    stems, mix = stored.stems, stored.mix
    if stored.pruned:
        with pipeline.StageClock(progress).stage("render") as report:
            stems, mix = replay(score, stored.samplesets, stored.settings, stored.sample_rate, where, report)
    take = pipeline.Take(score=score, events=stored.events, samplesets=stored.samplesets,
                         timbres=stored.timbres, stems=stems, mix=mix,
                         sample_rate=stored.sample_rate, settings=stored.settings)
    return Session(take=take, brief=brief, options=options, project=project, version_id=version_id,
                   rerendered=stored.pruned)


def replay(score: Score, samplesets: dict[int, SampleSet], settings: dict, sample_rate: int,
           where: Path, progress: StageProgress | None = None) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """The stems and mix of a version whose audio was pruned, played again from its score and sample sets
    with its recorded mix settings and levels (so it sits at the level it had)."""
    try:
        mix = MixSettings(**settings["mix"])
        levels = Levels.from_json(settings["levels"]) if "levels" in settings else None
    except (KeyError, TypeError, ValueError) as exc:
        raise ProjectError(f"{where} is damaged (its mix settings: {exc!r}); its audio was pruned, so it cannot "
                           "be played again: check out another version") from exc
    if levels is not None and len(levels.stems) != len(score.tracks):
        levels = None
    stems, mixed, _, _ = perform_and_produce(score, samplesets, mix, sample_rate, levels, progress=progress)
    return stems, mixed


def check_out(session: Session, report: StageProgress | None = None) -> str:
    """Make the session's version current and re-export the files beside the project (`melodex checkout`).

    The files first: a refused export changes nothing. A pruned version's re-rendered audio is stored
    back into it, so it is whole again. Call with the project's write lock held (`editing`).
    """
    export_take(session.take, session.project.path.parent, session.options.export, report)
    session.project.checkout(session.version_id)
    if session.rerendered:
        session.project.restore_audio(session.version_id, session.take.stems, session.take.mix)
        session.rerendered = False
    return session.version_id


def undo_target(project: Project) -> str:
    """The version `undo` checks out: the one the current version was made from.

    Undo, redo and checkout are not edit requests run by `apply`: an edit makes a new version from the current
    one and records its request there (and works on an in-memory `Draft`, where undo is just `Song.parent`);
    these make an existing version current and write no version. The CLI and the studio share this rule.
    """
    parent = project.parent_of(project.current)
    if parent is None:
        raise MelodexError("nothing to undo: this is the first version")
    return parent


def redo_target(project: Project) -> str:
    """The version `redo` checks out (undoing the last undo): the newest one made from the current version."""
    children = project.children_of(project.current)
    if not children:
        raise MelodexError(f"nothing to redo: no version was made from version {project.current}")
    return children[-1]


@contextmanager
def editing(path: str | Path, version: str | None = None,
            progress: pipeline.Progress | None = None) -> Iterator[Session]:
    """A session holding the project's write lock for the whole edit (what the CLI and the studio use).

    Another writer waits (MELODEX_LOCK_WAIT, 30 s), then gets "the project is being edited by another melodex process".
    Editing without it (`open_session` and an edit) is still safe: the commit itself takes the lock.
    """
    folder = locate_project(path)
    with writing(folder):
        yield open_session(folder, version, progress)


def save(session: Draft, take: pipeline.Take, edit: str) -> str:
    """Store the edited take as a new version and re-export the files beside the project; returns its id.
    A `Draft` (no project) keeps the take in memory instead and returns the edit's label.

    Stems and sample sets the edit kept (the very arrays of the version it started from) are linked
    from that version rather than encoded again. The version and the files are written under the
    project's write lock, so two writers never interleave them.
    """
    if not isinstance(session, Session):
        session.take = take
        return edit
    unchanged = pipeline.shared_files(take, session.take)
    folder = session.project.path.parent
    output_dir(output_dir(folder) / "stems", inside=folder)  # refused before the version is saved, not after
    with writing(session.project.path), session.stage("write") as report:
        record = pipeline.take_to_version(take, edit, session.version_id, session.request)
        version = session.project.save_version(record, unchanged)
        report(0.5)
        export_take(take, session.project.path.parent, session.options.export,
                             lambda f: report(0.5 + f / 2))
    return version


def next_seed(n_versions: int, seed: int | None) -> int:
    """The seed of an edit's new material: the one given, else a new one from the count of versions so far."""
    return seed if seed is not None else 1000 + n_versions
