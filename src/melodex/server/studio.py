"""What the studio does to projects: the thin layer between HTTP requests and melodex.pipeline / melodex.edit.

Every project lives in its own folder under `<data>/projects/<id>/` (exactly what `melodex generate -o`
writes: mix, stems/, song.mid, song.melodex/). Ids are made here and checked on every request, so a
request can only ever name a folder this module created. What the page shows of a version (WAV, stems,
MIDI, notes as JSON, spectrogram, export zips) never changes, so it lives apart, in version_files.py.
"""

from __future__ import annotations

import re
import secrets
import shutil
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from melodex import brief as brief_mod
from melodex import edit, export, pipeline
from melodex.errors import MelodexError
from melodex.project import Project
from melodex.project_files import ProjectBusy, ProjectError
from melodex.project_lock import writing
from melodex.score import MAX_BARS
from melodex.server.jobs import Job, JobStore, Progress
from melodex.server.version_files import CACHE_BYTES, NotFound, VersionFiles, zip_once
from melodex.tokens_vocabulary import SECTION_NAMES

PROJECT_ID = re.compile(r"[a-z0-9]{12}")
SAMPLE_RATES = export.SAMPLE_RATES  # as the CLI's generate offers them
# Single letters (A, B, ...) only make a form as "AABA 8 bars each", so the form builder offers the words.
FORM_SECTIONS = tuple(name for name in SECTION_NAMES[1:] if len(name) > 1)
PROJECT_FILE = "song.melodex"


class Busy(MelodexError):
    """The project is not in a state that allows this now (HTTP 409)."""


@dataclass(frozen=True)
class FormSection:
    name: str
    bars: int


def prompt_with_form(prompt: str, form: list[FormSection]) -> str:
    """The form builder's sections written into the prompt, where the Brief reads forms exactly."""
    if not form:
        return prompt
    for section in form:
        if section.name not in FORM_SECTIONS:
            raise MelodexError(f"section {section.name!r} is not one of {', '.join(FORM_SECTIONS)}")
        if not 1 <= section.bars <= MAX_BARS:
            raise MelodexError(f"section {section.name} has {section.bars} bars: use 1-{MAX_BARS}")
    stated = brief_mod.parse_form(prompt).sections
    if stated:
        said = ", ".join(f"{name} {bars}" for name, bars in stated)
        raise MelodexError(f"the prompt already gives a form ({said}): remove it from the prompt or clear the "
                           "form builder")
    written = ", ".join(f"{s.name} {s.bars} bars" for s in form)
    return f"{prompt.strip().rstrip('.,;')}, {written}" if prompt.strip() else written


def options_to_json(options: pipeline.GenerateOptions) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(options).items()}


def options_from_json(data: dict[str, Any]) -> pipeline.GenerateOptions:
    known = {f.name for f in fields(pipeline.GenerateOptions)}
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
    return pipeline.GenerateOptions(**values)


class Studio(VersionFiles):
    """Projects under one data folder, and the job handlers that change them."""

    def __init__(self, data_dir: str | Path, store: JobStore, cache_bytes: int = CACHE_BYTES) -> None:
        self.cache_bytes = cache_bytes
        self.data_dir = Path(data_dir).resolve()
        self.projects_dir = self.data_dir / "projects"
        self.cache_dir = self.data_dir / "cache"
        self.projects_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.store = store
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- where things are -------------------------------------------------------------------------

    def folder(self, pid: str) -> Path:
        """The folder of a project this studio made; anything else is a 404, never a path on disk."""
        if not PROJECT_ID.fullmatch(pid) or self.store.project(pid) is None:
            raise NotFound(f"no project {pid!r}: list projects with GET /api/projects")
        folder = (self.projects_dir / pid).resolve()
        if folder.parent != self.projects_dir:  # belt and braces: the id pattern already forbids this
            raise NotFound(f"no project {pid!r}")
        return folder

    def state(self, pid: str) -> dict[str, Any]:
        """ready / queued / generating / failed, from the files and the generate job."""
        folder = self.folder(pid)
        if (folder / PROJECT_FILE / "project.json").is_file():
            return {"state": "ready", "error": None}
        generate = next((j for j in self.store.jobs(pid, limit=1000) if j.kind == "generate"), None)
        if generate is None or generate.status == "failed":
            return {"state": "failed", "error": generate.error if generate else "no generate job"}
        if generate.status == "done":
            return {"state": "failed", "error": f"the project's files are gone from {self.projects_dir}"}
        return {"state": "generating" if generate.status == "running" else "queued", "error": None}

    def ready_folder(self, pid: str) -> Path:
        state = self.state(pid)
        if state["state"] == "failed":
            raise Busy(f"project {pid} has no music: its generation failed ({state['error']})")
        if state["state"] != "ready":
            raise Busy(f"project {pid} is still {state['state']}: wait for its job to finish")
        return self.folder(pid)

    def open_project(self, pid: str) -> Project:
        return Project.open(self.ready_folder(pid) / PROJECT_FILE)

    def resolve(self, pid: str, version: str | None) -> str:
        project = self.open_project(pid)
        try:
            return project.resolve(version)
        except ProjectError as exc:
            raise NotFound(str(exc)) from exc

    def session(self, pid: str, version: str | None = None, progress: Progress | None = None) -> edit.Session:
        """The project at `version`; `progress` hears a pruned version played again."""
        return edit.open_session(self.ready_folder(pid), self.resolve(pid, version), progress)

    @contextmanager
    def editing(self, pid: str, wait: bool):
        """One writer per project: the worker waits for it, a checkout request is refused while it is held."""
        with self._locks_guard:
            lock = self._locks.setdefault(pid, threading.Lock())
        if not lock.acquire(blocking=wait):
            raise Busy(f"project {pid} is being changed by a job: try again when it finishes")
        try:
            # and the project's own lock, which `melodex` commands and the Python API take too
            folder = self.folder(pid)
            folder.mkdir(parents=True, exist_ok=True)
            with writing(folder / PROJECT_FILE, wait=None if wait else 0):
                yield
        except ProjectBusy as exc:
            raise Busy(str(exc)) from exc
        finally:
            lock.release()

    # -- requests that queue jobs -----------------------------------------------------------------

    def create(self, prompt: str, form: list[FormSection], options: pipeline.GenerateOptions) -> tuple[str, Job,
                                                                                                     brief_mod.Brief]:
        """Check the prompt and controls now (so mistakes are a 400, not a failed job), then queue generate."""
        if options.sample_rate not in SAMPLE_RATES:
            raise MelodexError(f"sample rate {options.sample_rate}: use one of {', '.join(map(str, SAMPLE_RATES))}")
        full_prompt = prompt_with_form(prompt, form)
        brief = pipeline.read_brief(full_prompt, options)
        pid = secrets.token_hex(6)
        self.store.add_project(pid, prompt, {"prompt": full_prompt, "form": [asdict(s) for s in form],
                                             "options": options_to_json(options)})
        job = self.store.submit(pid, "generate", {"prompt": full_prompt, "options": options_to_json(options)})
        return pid, job, brief

    def submit_edit(self, pid: str, kind: str, params: dict[str, Any]) -> Job:
        """Queue an edit of the current version after checking it against that version's score, so a request
        the song cannot take is a 400 now, not a failed job later. (Jobs queued before it may still change
        the song; the job checks again when it runs.)"""
        score = self.session(pid).score
        request = edit.request_from_json({"edit": kind, **params})  # a body the edit cannot take is refused
        if isinstance(request, edit.Regen):
            edit.regen_target(score, request.section, request.bars, request.tracks)
        elif kind == "retimbre":
            edit.pick_tracks(score, [params["track"]])
        elif kind == "rechord":
            edit.chord_progression(params["chords"], score, params["section"])  # names the sections there are
            if all(t.is_drum for t in score.tracks):
                raise MelodexError("this song has no pitched tracks to follow new chords")
        elif kind == "extend" and score.bar_count() + params["bars"] > MAX_BARS:
            room = MAX_BARS - score.bar_count()
            raise MelodexError(f"extending by {params['bars']} bars would make {score.bar_count() + params['bars']} "
                               f"bars, over the {MAX_BARS} a song can have: this one can grow by at most {room}")
        elif kind == "transpose":
            score.transposed(params["semitones"])  # refuses a shift that pushes notes outside MIDI 0-127
        return self.store.submit(pid, kind, params)

    # -- job handlers (run by the worker, one at a time) ------------------------------------------

    def handlers(self) -> dict[str, Any]:
        return {"generate": self.run_generate, **dict.fromkeys(edit.REQUESTS, self.run_edit)}

    def run_generate(self, job: Job, progress: Progress) -> dict[str, Any]:
        folder = self.folder(job.project)
        with self.editing(job.project, wait=True):
            result = pipeline.generate(job.params["prompt"], folder, options_from_json(job.params["options"]),
                                       progress)
        version = Project.open(folder / PROJECT_FILE).current
        self._preview(job.project, version, progress)
        return {"version": version, "summary": result.score.summary(), "notes": list(result.notes),
                "seconds": {k: round(v, 2) for k, v in result.seconds.items()}}

    def _edit(self, job: Job, progress: Progress, change) -> dict[str, Any]:
        """Open the current version, make one edit (a new version), and export its preview."""
        with self.editing(job.project, wait=True):
            session = self.session(job.project, progress=progress)
            session.progress = progress  # the edit's stages, as the CLI's bars show them
            version = change(session)
        self._preview(job.project, version, progress)
        return {"version": version, "edit": Project.open(session.project.path).history[-1]["edit"]}

    def run_edit(self, job: Job, progress: Progress) -> dict[str, Any]:
        """Run the job's edit request (its kind and body, as `submit_edit` checked them) on the current version."""
        request = edit.request_from_json({"edit": job.kind, **job.params})
        return self._edit(job, progress, lambda session: edit.apply(session, request))

    # -- requests answered at once ----------------------------------------------------------------

    def checkout(self, pid: str, version: str) -> str:
        """Make a version current and re-export the project's files (as `melodex checkout`)."""
        if any(j.active for j in self.store.jobs(pid, limit=1000)):
            raise Busy(f"project {pid} has queued or running jobs: check out a version when they finish")
        with self.editing(pid, wait=False):
            session = self.session(pid, version)
            edit.check_out(session)
        return session.version_id

    def delete(self, pid: str) -> None:
        """Remove a project: its folder, its cached views and its jobs. Refused while a job of it is queued or
        running (cancel those first)."""
        folder = self.folder(pid)
        if any(j.active for j in self.store.jobs(pid, limit=1000)):
            raise Busy(f"project {pid} has queued or running jobs: cancel them (POST /api/jobs/<id>/cancel) first")
        with self.editing(pid, wait=False):
            shutil.rmtree(self.cache_dir / pid, ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)
            self.store.delete_project(pid)

    def prune(self, pid: str) -> tuple[list[str], int, str]:
        """Drop the audio of every version but the current one (as `melodex prune`); returns (versions pruned,
        bytes freed, the current version). A pruned version is played again when it is asked for."""
        if any(j.active for j in self.store.jobs(pid, limit=1000)):
            raise Busy(f"project {pid} has queued or running jobs: prune when they finish")
        project = self.open_project(pid)
        with self.editing(pid, wait=False):
            pruned, freed = project.prune()
        return pruned, freed, project.current

    def undo(self, pid: str) -> str:
        """Go back to the version the current one was made from (as `melodex undo`)."""
        project = self.open_project(pid)
        try:
            version = edit.undo_target(project)
        except MelodexError as exc:  # nothing to undo: a conflict with the project's state, as a busy one is
            raise Busy(str(exc)) from exc
        return self.checkout(pid, version)

    def redo(self, pid: str) -> str:
        """Undo the last undo: go forward to the newest version made from the current one (as `melodex redo`)."""
        project = self.open_project(pid)
        try:
            version = edit.redo_target(project)
        except MelodexError as exc:
            raise Busy(str(exc)) from exc
        return self.checkout(pid, version)

    def diff(self, pid: str, a: str | None, b: str | None) -> tuple[str, str, list[str]]:
        """What changed between versions a and b (defaults: the current version and its parent)."""
        project = self.open_project(pid)
        first, second = edit.diff_pair(project, a and self.resolve(pid, a), b and self.resolve(pid, b))
        return first, second, edit.diff(project, first, second)

    def summary(self, pid: str) -> dict[str, Any]:
        record = self.store.project(pid)
        if record is None or not PROJECT_ID.fullmatch(pid):
            raise NotFound(f"no project {pid!r}: list projects with GET /api/projects")
        out: dict[str, Any] = {"id": pid, "prompt": record["prompt"], "request": record["request"],
                               "created": record["created"], **self.state(pid),
                               "jobs": [j.to_json() for j in self.store.jobs(pid, limit=20)]}
        if out["state"] != "ready":
            return out
        project = self.open_project(pid)
        brief = brief_mod.Brief.from_json(project.meta["brief"])
        out.update(current=project.current, history=project.history,
                   brief=[{"what": w, "value": v, "source": s} for w, v, s in brief.describe()],
                   brief_notes=list(brief.notes))
        return out

    def project_zip(self, pid: str) -> Path:
        """The whole project folder (files of the current version + song.melodex with every version)."""
        project = self.open_project(pid)
        name = f"project-{project.current}-{len(project.history)}.zip"
        with self.editing(pid, wait=False):
            archive = zip_once(self.cache_dir / pid / name, self.folder(pid), f"melodex-{pid}")
        self.trim_cache(keep=archive)
        return archive
