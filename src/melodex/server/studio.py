"""What the studio does to projects: the thin layer between HTTP requests and melodex.pipeline / melodex.edit.

Every project lives in its own folder under `<data>/projects/<id>/` (exactly what `melodex generate -o`
writes: mix, stems/, song.mid, song.melodex/). Ids are made here and checked on every request, so a
request can only ever name a folder this module created. Versions are immutable, so what the page shows
of a version (WAV, stems, MIDI, notes as JSON, spectrogram) is exported once into `<data>/cache/`.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from melodex import brief as brief_mod
from melodex import edit, pipeline
from melodex.errors import MelodexError
from melodex.export import ExportOptions, export_take
from melodex.instruments import program_name
from melodex.project import Project
from melodex.project_files import ProjectBusy, ProjectError
from melodex.project_lock import writing
from melodex.score import DUR, MAX_BARS, PITCH, START, VEL, Score
from melodex.server.jobs import Job, JobStore, Progress
from melodex.tokens import decode
from melodex.tokens_vocabulary import SECTION_NAMES

PROJECT_ID = re.compile(r"[a-z0-9]{12}")
SAMPLE_RATES = (16000, 22050, 24000, 32000, 44100, 48000)
# Single letters (A, B, ...) only make a form as "AABA 8 bars each", so the form builder offers the words.
FORM_SECTIONS = tuple(name for name in SECTION_NAMES[1:] if len(name) > 1)
PROJECT_FILE = "song.melodex"
SPECTROGRAM_ROWS = 256
SPECTROGRAM_MAX_COLUMNS = 1600
SPECTROGRAM_RANGE_DB = 80.0
CACHE_BYTES = 256 << 20  # previews and zips kept under <data>/cache/; the least recently used go first


class NotFound(MelodexError):
    """A project, version, job or file that does not exist (HTTP 404)."""


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


class Studio:
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

    def session(self, pid: str, version: str | None = None) -> edit.Session:
        return edit.open_session(self.ready_folder(pid), self.resolve(pid, version))

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
        session = self.session(pid)
        score = session.score
        if kind == "regen":
            self._regen_target(session, params)
        elif kind == "retimbre":
            edit.pick_tracks(score, [params["track"]])
        elif kind == "rechord":
            score.section(params["section"])  # an unknown one names the sections there are
            edit.chord_progression([params["chords"]])
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
        return {"generate": self.run_generate, "regen": self.run_regen, "rechord": self.run_rechord,
                "retimbre": self.run_retimbre,
                "rerender": self.run_rerender, "variation": self.run_variation, "extend": self.run_extend,
                "tempo": self.run_tempo, "transpose": self.run_transpose}

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
            session = self.session(job.project)
            session.progress = progress  # the edit's stages, as the CLI's bars show them
            version = change(session)
        self._preview(job.project, version, progress)
        return {"version": version, "edit": Project.open(session.project.path).history[-1]["edit"]}

    @staticmethod
    def _seed(session: edit.Session, seed: int | None) -> int:
        return edit.next_seed(len(session.project.history), seed)

    @staticmethod
    def _regen_target(session: edit.Session, params: dict[str, Any]) -> tuple[tuple[int, int], list[int], str]:
        return edit.regen_target(session.score, params.get("section"), params.get("bars"), params.get("tracks"))

    def run_regen(self, job: Job, progress: Progress) -> dict[str, Any]:
        def change(session: edit.Session) -> str:
            span, tracks, label = self._regen_target(session, job.params)
            seed = self._seed(session, job.params.get("seed"))
            section = job.params.get("section")
            if section is not None:  # with its linked repeats, as `melodex regen SECTION` and the API do
                return edit.regen_section(session, section, tracks, seed, label)
            return edit.regen(session, span, tracks, seed, label)

        return self._edit(job, progress, change)

    def run_rechord(self, job: Job, progress: Progress) -> dict[str, Any]:
        def change(session: edit.Session) -> str:
            section, chords = job.params["section"], job.params["chords"]
            return edit.rechord(session, section, [chords], self._seed(session, job.params.get("seed")),
                                f"rechord {section} {chords}")

        return self._edit(job, progress, change)

    def run_retimbre(self, job: Job, progress: Progress) -> dict[str, Any]:
        def change(session: edit.Session) -> str:
            (index,) = edit.pick_tracks(session.score, [job.params["track"]])[:1]
            return edit.retimbre(session, index, job.params["text"], self._seed(session, job.params.get("seed")))

        return self._edit(job, progress, change)

    def run_rerender(self, job: Job, progress: Progress) -> dict[str, Any]:
        return self._edit(job, progress, lambda s: edit.rerender(s, job.params.get("cfg"), job.params.get("steps")))

    def run_variation(self, job: Job, progress: Progress) -> dict[str, Any]:
        return self._edit(job, progress, lambda s: edit.variation(s, job.params["strength"],
                                                                  self._seed(s, job.params.get("seed"))))

    def run_extend(self, job: Job, progress: Progress) -> dict[str, Any]:
        return self._edit(job, progress, lambda s: edit.extend(s, job.params["bars"],
                                                               self._seed(s, job.params.get("seed"))))

    def run_tempo(self, job: Job, progress: Progress) -> dict[str, Any]:
        return self._edit(job, progress, lambda s: edit.set_tempo(s, job.params["bpm"]))

    def run_transpose(self, job: Job, progress: Progress) -> dict[str, Any]:
        return self._edit(job, progress, lambda s: edit.transpose(s, job.params["semitones"]))

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
        project = self.open_project(pid)
        parent = project.parent_of(project.current)
        if parent is None:
            raise Busy("nothing to undo: this is the first version")
        return self.checkout(pid, parent)

    def redo(self, pid: str) -> str:
        """Undo the last undo: go forward to the newest version made from the current one (as `melodex redo`)."""
        project = self.open_project(pid)
        children = project.children_of(project.current)
        if not children:
            raise Busy(f"nothing to redo: no version was made from version {project.current}")
        return self.checkout(pid, children[-1])

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

    # -- what the page shows of a version ---------------------------------------------------------

    def version_dir(self, pid: str, version: str | None) -> Path:
        """The exported files of a version (mix.wav, stems/, song.mid, score.json, spectrogram.png)."""
        vid = self.resolve(pid, version)
        target = self.cache_dir / pid / vid
        if (target / "spectrogram.png").is_file():
            with contextlib.suppress(OSError):
                os.utime(target)  # recently used: kept longest
            return target
        return self._preview(pid, vid, None)

    def trim_cache(self, keep: Path | None = None) -> int:
        """Delete the least recently used previews and zips until the cache is under `cache_bytes`; bytes freed.

        Versions never change, so anything deleted is exported again when it is asked for."""
        entries = [p for d in self.cache_dir.iterdir() if d.is_dir() for p in d.iterdir() if not p.name.startswith(".")]

        def size(path: Path) -> int:
            with contextlib.suppress(OSError):
                return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() \
                    else path.stat().st_size
            return 0

        def used(path: Path) -> float:
            with contextlib.suppress(OSError):
                return path.stat().st_mtime
            return 0.0

        sizes = {p: size(p) for p in entries}
        total, freed = sum(sizes.values()), 0
        for entry in sorted(entries, key=used):
            if total <= self.cache_bytes:
                break
            if keep is not None and (entry == keep or keep.is_relative_to(entry)):
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
            total -= sizes[entry]
            freed += sizes[entry]
        return freed

    def _preview(self, pid: str, vid: str, progress: Progress | None) -> Path:
        target = self.cache_dir / pid / vid
        if (target / "spectrogram.png").is_file():
            return target
        if progress:
            progress("preview", 0.0)
        target.parent.mkdir(parents=True, exist_ok=True)
        session = edit.open_session(self.ready_folder(pid), vid)
        tmp = Path(tempfile.mkdtemp(prefix=f".{vid}.", dir=target.parent))
        try:
            export_take(session.take, tmp)
            (tmp / "score.json").write_text(json.dumps(score_view(session, vid)))
            spectrogram_png(session.take.mix, session.take.sample_rate, tmp / "spectrogram.png")
            try:
                os.rename(tmp, target)
            except OSError:  # another request exported it first: theirs is the same
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.trim_cache(keep=target)
        if progress:
            progress("preview", 1.0)
        return target

    def stem_file(self, pid: str, version: str | None, index: int) -> Path:
        """Track `index`'s stem (0-based, as the API counts tracks; the file names count from 1)."""
        folder = self.version_dir(pid, version) / "stems"
        tracks = len(json.loads((folder.parent / "score.json").read_text())["tracks"])
        found = sorted(folder.glob(f"{index + 1:02d}-*.wav")) if 0 <= index < tracks else []
        if not found:
            raise NotFound(f"no stem {index} in this version (tracks 0-{tracks - 1})")
        return found[0]

    def mix_file(self, pid: str, version: str | None, fmt: str) -> Path:
        """The version's mix as WAV, FLAC or MP3 (made once, with its tempo and key tags)."""
        from melodex.export import key_tag, write_audio

        folder = self.version_dir(pid, version)
        path = folder / f"mix.{fmt}"
        if not path.is_file():
            session = edit.open_session(self.ready_folder(pid), folder.name)
            score = session.score
            write_audio(path, session.take.mix, session.take.sample_rate,
                        tags={"bpm": f"{score.bpm:g}", "key": key_tag(score.key)})
        return path

    def export_zip(self, pid: str, version: str | None, options: ExportOptions) -> Path:
        """A version exported as `melodex export` would with these options, zipped (made once per options)."""
        vid = self.resolve(pid, version)
        key = hashlib.sha256(json.dumps(asdict(options), sort_keys=True).encode()).hexdigest()[:16]
        target = self.cache_dir / pid / f"export-{vid}-{key}.zip"
        if not target.is_file():
            session = self.session(pid, vid)
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f".export-{vid}.", dir=target.parent) as tmp:
                export_take(session.take, Path(tmp) / "out", options)  # an unknown section: refused, nothing kept
                _zip_once(target, Path(tmp) / "out", f"{pid}-{vid}")
            self.trim_cache(keep=target)
        else:
            with contextlib.suppress(OSError):
                os.utime(target)  # recently used: kept longest
        return target

    def stems_zip(self, pid: str, version: str | None) -> Path:
        folder = self.version_dir(pid, version)
        return _zip_once(folder / "stems.zip", folder / "stems", f"{pid}-{folder.name}-stems")

    def project_zip(self, pid: str) -> Path:
        """The whole project folder (files of the current version + song.melodex with every version)."""
        project = self.open_project(pid)
        name = f"project-{project.current}-{len(project.history)}.zip"
        with self.editing(pid, wait=False):
            archive = _zip_once(self.cache_dir / pid / name, self.folder(pid), f"melodex-{pid}")
        self.trim_cache(keep=archive)
        return archive


def _zip_once(target: Path, source: Path, root: str) -> Path:
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                archive.write(path, f"{root}/{path.relative_to(source)}")
    os.replace(tmp, target)
    return target


def score_view(session: edit.Session, vid: str) -> dict[str, Any]:
    """The notes of a version in seconds, for the piano roll and the section timeline."""
    score: Score = session.score
    bar_ticks = np.array(score.bar_starts(), dtype=np.int64)
    bar_seconds = score.seconds_at(bar_ticks)
    tracks = []
    for index, track in enumerate(score.tracks):
        notes = track.notes
        starts = score.seconds_at(notes[:, START]) if len(notes) else np.zeros(0)
        ends = score.seconds_at(notes[:, START] + notes[:, DUR]) if len(notes) else np.zeros(0)
        rows = np.stack([np.round(starts, 4), np.round(ends - starts, 4), notes[:, PITCH], notes[:, VEL]], axis=1)
        timbre = session.take.timbres.get(index)
        tracks.append({"index": index, "role": track.role, "program": track.program,
                       "instrument": program_name(track.program), "is_drum": track.is_drum,
                       "timbre": timbre.text if timbre else "", "renderer": timbre.renderer if timbre else "",
                       "notes": rows.tolist()})
    sections = [{"name": s.name, "start_bar": s.start_bar, "n_bars": s.n_bars,
                 "start": round(float(bar_seconds[min(s.start_bar, len(bar_seconds) - 1)]), 4),
                 "end": round(float(bar_seconds[min(s.end_bar, len(bar_seconds) - 1)]), 4)}
                for s in score.sections]
    return {"version": vid, "bpm": score.bpm, "meter": str(score.meter), "key": str(score.key),
            "n_bars": score.bar_count(), "duration": round(len(session.take.mix) / session.take.sample_rate, 4),
            "sample_rate": session.take.sample_rate, "bar_lines": np.round(bar_seconds, 4).tolist(),
            "sections": sections, "tracks": tracks, "changed_bars": _changed_bars(session, vid)}


def _changed_bars(session: edit.Session, vid: str) -> list[int]:
    """The 0-based bars whose notes this version changed from the one it was made from (for the timeline)."""
    parent = session.project.parent_of(vid)
    if parent is None:
        return []
    try:
        events = np.load(session.project.path / "versions" / parent / "events.npy", allow_pickle=False)
        before = decode(events)
    except (OSError, ValueError):
        return []  # a damaged parent only loses the marks, never the view
    return sorted({bar for bars in edit.changed_bars(before, session.score) for bar in bars})


def spectrogram_png(mix: np.ndarray, sample_rate: int, path: Path) -> None:
    """A log-frequency, dB-scaled spectrogram of the mix (30 Hz to Nyquist), written as a PNG."""
    try:
        from matplotlib import colormaps
        from matplotlib.image import imsave
    except ImportError as exc:
        raise MelodexError("the spectrogram needs matplotlib: pip install 'melodex[server]'") from exc
    mono = np.nan_to_num(np.asarray(mix, dtype=np.float32))
    mono = mono.mean(axis=1) if mono.ndim == 2 else mono
    n_fft = 2048 if sample_rate > 24000 else 1024
    hop = max(n_fft // 8, int(np.ceil(len(mono) / SPECTROGRAM_MAX_COLUMNS)))
    padded = np.pad(mono, (n_fft // 2, n_fft // 2))
    n_frames = max(1, 1 + (len(padded) - n_fft) // hop)
    frames = np.lib.stride_tricks.as_strided(padded, (n_frames, n_fft), (padded.strides[0] * hop,
                                                                          padded.strides[0]), writeable=False)
    window = np.hanning(n_fft).astype(np.float32)
    # scaled so a full-scale sine peaks near 0 dB: silence then stays dark instead of being stretched
    power = (np.abs(np.fft.rfft(frames * window, axis=1)) / (window.sum() / 2)) ** 2
    bin_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    rows_hz = np.geomspace(30.0, sample_rate / 2, SPECTROGRAM_ROWS)
    # each row takes the strongest bin in its band, so low notes don't vanish between log-spaced rows
    edges = np.searchsorted(bin_hz, np.sqrt(rows_hz[:-1] * rows_hz[1:]))
    edges = np.concatenate([[np.searchsorted(bin_hz, 30.0)], edges, [len(bin_hz)]])
    edges = np.minimum(edges, len(bin_hz) - 1)
    rows = np.stack([power[:, lo:max(hi, lo + 1)].max(axis=1) for lo, hi in itertools.pairwise(edges.tolist())])
    db = 10 * np.log10(rows + 1e-12)
    top = max(float(db.max()), -40.0)
    db = np.clip((db - (top - SPECTROGRAM_RANGE_DB)) / SPECTROGRAM_RANGE_DB, 0.0, 1.0)
    imsave(path, db[::-1], cmap=colormaps["magma"], vmin=0.0, vmax=1.0, format="png")

