"""The `.melodex` project: everything needed to regenerate any part of a track without losing the rest.

A project is a directory (zip it to share):

    song.melodex/
      project.json                 schema version, prompt, brief, models, current version, history
      versions/0001/version.json   parent, edit, seeds, options, per-track timbre settings, checksums
      versions/0001/events.npy     the structure tokens (compound events)
      versions/0001/timbre/N.npz   track N's sample set with its initial noise and final latents
      versions/0001/audio/H.flac   the rendered stems and mastered mix, as blocks named by their SHA-256

Every edit writes a new version directory; nothing is overwritten. Changes are committed like a
database's: one writer at a time holds an advisory lock (`writing`: a file `.song.melodex.lock` beside
the project; readers never take it); the new version's id is claimed from what is on disk under that
lock; its files and folder are flushed to disk before the rename that publishes it; project.json is
replaced atomically after that. A process killed at any moment leaves the old project or the new one,
and what it leaves behind (a published version project.json does not list yet, a temporary folder) is
put right the next time the project is opened (`Project.open`, `_recover`). Audio blocks and sample
sets a version shares with an earlier one are hard-linked from it (`project_audio`), so history costs
little disk, and `prune` drops old versions' audio while keeping what re-renders it. Every JSON file is
validated against its schema before it is trusted. Format 1 projects (whole stem files, stems/N.flac and
mix.flac) are read as they are; a project written to is format 2. The files' schemas and their
readers are `project_files`, the write lock `project_lock`, the shared audio blocks `project_audio`.

Why `Project` stays one class (~490 lines): its writers are the steps of one commit protocol (claim
the id under the lock, write and flush the folder, rename it, replace project.json) and its readers
rely on the recovery that `open` runs for a commit that protocol left half done; split, each half
would have to restate what the other guarantees.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from melodex.files import crash_point, fsync_dir, fsync_file, output_dir, temporaries, write_json_atomic
from melodex.project_audio import AUDIO_DIR, known_blocks, place_block, read_signal, store_signal
from melodex.project_files import (
    PROJECT_VERSION,
    READ_FORMATS,
    SIGNAL_NAME,
    VERSION_ID,
    ProjectBusy,
    ProjectError,
    ProjectFile,
    VersionFile,
    read_json_file,
    read_version_file,
    validated,
)
from melodex.project_lock import writing
from melodex.timbre.sampleset import SampleSet

SUFFIX = ".melodex"
ASIDE = "aside"  # incomplete versions found on open are moved into song.melodex/aside/, never deleted

log = logging.getLogger("melodex.project")


# -- the project ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackTimbre:
    """How one track's sound was made: enough to re-make or vary it."""

    text: str
    renderer: str  # "timbre" (diffusion sample set), "drumkit" (a kit chosen by the words) or "soundfont"
    seed: int
    cfg: float = 0.0
    steps: int = 0


@dataclass
class Rendering:
    """A song's notes and their sound: `events` is the score as tokens, then each track's timbre and the
    sample set it was played from, a stem per track and the mix (float32 (frames, 2)). A `Version` is one as
    the project stores it, a `pipeline.Take` one with its score decoded."""

    events: np.ndarray
    timbres: dict[int, TrackTimbre]
    samplesets: dict[int, SampleSet]
    stems: dict[int, np.ndarray]
    mix: np.ndarray
    sample_rate: int
    settings: dict[str, Any]  # seeds, guidance, temperature, mix settings, ...


@dataclass
class Version(Rendering):
    """One state of the song, as the project stores it: its rendering, what made it and from which version."""

    settings: dict[str, Any] = field(default_factory=dict)
    edit: str = "generate"  # what made this version, in words
    request: dict[str, Any] | None = None  # and the edit request that made it (`melodex.edit_requests`), if any
    parent: str | None = None
    id: str = ""
    created: float = 0.0
    pruned: bool = False  # its audio was pruned: stems is empty and mix has no frames until it is re-rendered


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version_dirs(versions: Path) -> list[Path]:
    """The published version folders on disk (listed in project.json or not), oldest first."""
    try:
        entries = list(versions.iterdir())
    except OSError:
        return []
    return sorted((p for p in entries if VERSION_ID.fullmatch(p.name)), key=lambda p: int(p.name))


def _size_mb(path: Path) -> float:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6
        return path.lstat().st_size / 1e6
    return 0.0


class Project:
    """A project directory on disk. Open with `Project.open`, make with `Project.create`."""

    def __init__(self, path: Path, meta: dict):
        self.path = path
        self.meta = meta
        self.recovered: list[str] = []  # what opening it put right (see `_recover`)

    # -- life cycle -------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, prompt: str, brief: dict, models: dict[str, dict],
               first: Version | None = None) -> Project:
        """A new project at `path` (".melodex" added), with `first` as version 0001 if given.

        The project, first version included, is written in a hidden folder and renamed into place, so a
        killed `generate` leaves no project or a whole one. A project with no versions at `path` (left by
        an older Melodex killed while generating) is replaced.
        """
        path = Path(path)
        if path.suffix != SUFFIX:
            path = path.with_suffix(SUFFIX)
        output_dir(path.parent)
        with writing(path):
            cls.check_new(path)
            cls._remove_create_temps(path)
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
            try:
                (tmp / "versions").mkdir()
                meta = {"format": PROJECT_VERSION, "prompt": prompt, "brief": brief, "models": models,
                        "current": None, "history": [], "created": time.time()}
                if first is not None:
                    record = cls._write_version(tmp / "versions", "0001", first, ())
                    meta["history"] = [cls._entry(record)]
                    meta["current"] = "0001"
                write_json_atomic(tmp / "project.json", meta)
                fsync_dir(tmp)
                if path.exists():  # an empty project (check_new let it through)
                    shutil.rmtree(path)
                os.rename(tmp, path)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            fsync_dir(path.parent)
        return cls(path, meta)

    @classmethod
    def check_new(cls, path: Path) -> None:
        """Raise unless a project can be created at `path`: nothing there, or a project with no versions."""
        if not (path.exists() or path.is_symlink()):
            return
        out = path.parent
        if path.is_symlink() or not path.is_dir():
            raise ProjectError(f"{path} already exists and is not a Melodex project: choose another -o folder")
        try:
            existing = cls.open(path, recover=False)
        except ProjectError as exc:
            raise ProjectError(f"{path} already exists and is not a readable project ({exc}): choose another "
                               "-o folder") from exc
        if existing.meta["history"] or _version_dirs(path / "versions"):
            raise ProjectError(f"{out} already holds a project ({path.name} already exists): choose another -o "
                               "folder, or edit that project with `melodex regen`/`retimbre`")

    @staticmethod
    def _create_temps(path: Path) -> list[Path]:
        """Hidden folders a killed `create` left beside the project."""
        with contextlib.suppress(OSError):
            return [entry for entry in path.parent.iterdir() if entry.name.startswith(f".{path.name}.")
                    and entry.is_dir() and not entry.is_symlink()]
        return []

    @classmethod
    def _remove_create_temps(cls, path: Path) -> None:
        for entry in cls._create_temps(path):  # the caller holds the lock: no create is running
            shutil.rmtree(entry, ignore_errors=True)

    @classmethod
    def open(cls, path: str | Path, recover: bool = True) -> Project:
        """Open and validate a project; with `recover`, put right what a killed writer left (see `_recover`)."""
        path = Path(path)
        if not path.exists() and path.name and path.with_suffix(SUFFIX).exists():
            path = path.with_suffix(SUFFIX)
        meta_path = path / "project.json"
        if not meta_path.is_file():
            raise ProjectError(f"{path} is not a Melodex project (no project.json): check the path")
        for inner in (meta_path, path / "versions"):
            if inner.is_symlink():
                raise ProjectError(f"{inner} is a symbolic link: a project holds its own files, so Melodex does "
                                   "not follow it; replace the link with the real file or folder")
        raw = read_json_file(meta_path)
        if isinstance(raw, dict) and raw.get("format") not in READ_FORMATS and isinstance(raw.get("format"), int):
            raise ProjectError(f"{path} has project format {raw.get('format')!r}; this Melodex reads formats "
                               f"{', '.join(map(str, READ_FORMATS))}: upgrade Melodex")
        meta = validated(meta_path, ProjectFile, raw)
        if meta["format"] not in READ_FORMATS:
            raise ProjectError(f"{path} has project format {meta['format']!r}; this Melodex reads formats "
                               f"{', '.join(map(str, READ_FORMATS))}: upgrade Melodex")
        cls._check_history(meta_path, meta)
        project = cls(path, meta)
        if recover:
            project._recover()
        return project

    @staticmethod
    def _check_history(meta_path: Path, meta: dict) -> None:
        ids = [h["id"] for h in meta["history"]]
        problem = None
        if len(set(ids)) != len(ids):
            problem = "a version is listed twice"
        elif any(h["parent"] is not None and h["parent"] not in ids[:i] for i, h in enumerate(meta["history"])):
            problem = "a version's parent is not listed before it"
        elif meta["current"] is not None and meta["current"] not in ids:
            problem = f"the current version {meta['current']} is not in the history"
        elif meta["current"] is None and ids:
            problem = "it has versions but no current one"
        if problem:
            raise ProjectError(f"{meta_path} is damaged ({problem})")

    def _reload(self) -> None:
        """Read project.json again (another process may have committed since): call under the lock."""
        self.meta = Project.open(self.path, recover=False).meta

    # -- recovery ---------------------------------------------------------------------------------

    def _leftovers(self) -> bool:
        versions = self.path / "versions"
        listed = set(self.version_ids())
        with contextlib.suppress(OSError):
            if any(p.name.startswith(".") for p in versions.iterdir()):
                return True
            if any(p.name.startswith(".") and p.is_file() for p in self.path.iterdir()):
                return True
        if any(p.name not in listed for p in _version_dirs(versions)):
            return True
        return bool(temporaries(self.path.parent) or temporaries(self.path.parent / "stems")
                    or self._create_temps(self.path))

    def _recover(self) -> None:
        """Put right what a killed writer left, if no writer is at work now (else leave it: it may be theirs).

        A published version project.json does not list is adopted (and made current, as its edit would
        have) when it is complete and its checksums hold; an incomplete one is moved into aside/. Temporary
        folders and files (inside the project and beside it) are removed. Each repair is logged and kept
        in `self.recovered`.
        """
        if not self._leftovers():
            return
        try:
            with writing(self.path, wait=0):
                self._reload()
                self._recover_locked()
        except ProjectBusy:
            return
        except OSError as exc:  # a read-only project can still be read
            log.warning("could not tidy %s (%s); it is read as it is", self.path, exc.strerror or exc)

    def _recover_locked(self) -> None:
        versions = self.path / "versions"
        notes: list[str] = []
        leftovers = [p for p in versions.iterdir() if p.name.startswith(".")]
        leftovers += [p for p in self.path.iterdir() if p.name.startswith(".") and p.is_file()]
        leftovers += temporaries(self.path.parent) + temporaries(self.path.parent / "stems")
        leftovers += self._create_temps(self.path)
        if leftovers:
            size = sum(_size_mb(p) for p in leftovers)
            for entry in leftovers:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        entry.unlink()
            notes.append(f"removed {len(leftovers)} temporary file(s) ({size:.1f} MB) an interrupted write left")
        listed = set(self.version_ids())
        changed = False
        for folder in _version_dirs(versions):
            if folder.name in listed:
                continue
            problem = self._incomplete(folder, listed)
            if problem is None:
                record = read_version_file(folder)
                self.meta["history"].append(self._entry(record))
                self.meta["current"] = folder.name
                listed.add(folder.name)
                changed = True
                notes.append(f"version {folder.name} ({record['edit']}) was complete but unlisted after an "
                             "interrupted edit: it is now in the history and current")
            else:
                aside = self.path / ASIDE
                aside.mkdir(exist_ok=True)
                target = aside / folder.name
                suffix = 1
                while target.exists():
                    target, suffix = aside / f"{folder.name}-{suffix}", suffix + 1
                os.rename(folder, target)
                notes.append(f"version folder {folder.name} was incomplete ({problem}): moved to {target}")
        if changed:
            write_json_atomic(self.path / "project.json", self.meta)
        fsync_dir(versions)
        for note in notes:
            log.warning("%s: %s", self.path, note)
        self.recovered += notes

    def _incomplete(self, folder: Path, listed: Collection[str]) -> str | None:
        """Why an unlisted version folder cannot be adopted (None: it can)."""
        try:
            record = read_version_file(folder)
            self._check_files(folder, record)
        except ProjectError as exc:
            return str(exc)
        if record["parent"] is not None and record["parent"] not in listed:
            return f"its parent {record['parent']} is not in the history"
        return None

    # -- history ----------------------------------------------------------------------------------

    @property
    def current(self) -> str:
        if not self.meta["current"]:
            raise ProjectError(f"{self.path} has no versions yet: make one with `melodex generate`")
        return str(self.meta["current"])

    @property
    def history(self) -> list[dict]:
        return list(self.meta["history"])

    def version_ids(self) -> list[str]:
        return [h["id"] for h in self.meta["history"]]

    def resolve(self, version: str | None) -> str:
        """A version id from 'current', '3', '0003', or None (current). Only ASCII digits are numbers."""
        if version is None or version == "current":
            return self.current
        ids = self.version_ids()
        text = version.strip()
        if re.fullmatch(r"[0-9]{1,6}", text) and f"{int(text):04d}" in ids:
            return f"{int(text):04d}"
        if text in ids:
            return text
        shown = version.encode("utf-8", "backslashreplace").decode("utf-8")
        raise ProjectError(f"no version {shown!r} in {self.path.name} (versions: {', '.join(ids) or 'none'}): "
                           "give a version number such as 3")

    def parent_of(self, version: str) -> str | None:
        """The version `version` was made from (None for the first)."""
        target = self.resolve(version)
        return next(h["parent"] for h in self.meta["history"] if h["id"] == target)

    def children_of(self, version: str) -> list[str]:
        """The versions made from `version`, oldest first (redo goes forward to the newest)."""
        target = self.resolve(version)
        return [h["id"] for h in self.meta["history"] if h["parent"] == target]

    def checkout(self, version: str) -> str:
        """Make `version` current. History is kept: the next edit branches from it."""
        with writing(self.path):
            self._reload()
            target = self.resolve(version)
            self.meta["current"] = target
            write_json_atomic(self.path / "project.json", self.meta)
        return target

    # -- versions ---------------------------------------------------------------------------------

    def save_version(self, version: Version, unchanged: Collection[str] = ()) -> str:
        """Write a new version and make it current; returns its id.

        Under the write lock: project.json is read again, the id is the next after every version on
        disk (listed or not), and the version is published by a rename once its files are on disk.
        `unchanged` names files ("stems/2.flac", "timbre/0.npz") the caller knows are the parent's very
        arrays: they are hard-linked from the parent without encoding them again. Audio files are
        encoded on two threads (the encoders release the GIL).
        """
        with writing(self.path):
            self._reload()
            versions = self.path / "versions"
            on_disk = [int(p.name) for p in _version_dirs(versions)] + [int(i) for i in self.version_ids()]
            new_id = f"{max(on_disk, default=0) + 1:04d}"
            if version.parent is not None and version.parent not in self.version_ids():
                raise ProjectError(f"version {version.parent} (the edit's parent) is not in {self.path.name}")
            record = self._write_version(versions, new_id, version, unchanged)
            crash_point("version-published")
            self.meta["history"].append(self._entry(record))
            self.meta["current"] = new_id
            self.meta["format"] = PROJECT_VERSION  # a format 1 project now holds a version in blocks
            write_json_atomic(self.path / "project.json", self.meta)
        return new_id

    @staticmethod
    def _entry(record: dict) -> dict:
        entry = {"id": record["id"], "parent": record["parent"], "edit": record["edit"], "created": record["created"]}
        return {**entry, "request": record["request"]} if record.get("request") is not None else entry

    @classmethod
    def _write_version(cls, versions: Path, new_id: str, version: Version, unchanged: Collection[str]) -> dict:
        """Write versions/new_id (via a hidden folder, flushed, then renamed); returns its record."""
        parent_dir = versions / version.parent if version.parent else None
        tmp = Path(tempfile.mkdtemp(prefix=f".{new_id}.", dir=versions))
        try:
            (tmp / "timbre").mkdir()
            (tmp / "stems").mkdir()
            np.save(tmp / "events.npy", np.asarray(version.events, dtype=np.int32))
            parent_record = read_version_file(parent_dir) if parent_dir is not None and unchanged else {}
            scales: dict[str, float] = {}
            jobs: list[Callable[[], None]] = []
            for track, sampleset in version.samplesets.items():
                name = f"timbre/{track}.npz"
                if not cls._link_unchanged(tmp, name, parent_dir, unchanged):
                    jobs.append(partial(cls._store, tmp, name, parent_dir, sampleset.save))
            (tmp / AUDIO_DIR).mkdir()
            known = known_blocks(versions)
            blocks: dict[str, list[str]] = {}
            audio = {f"stems/{track}.flac": stem for track, stem in version.stems.items()}
            audio["mix.flac"] = version.mix
            for name, signal in audio.items():
                kept = parent_record.get("audio", {}).get(name) if name in unchanged else None
                if kept is not None and all(place_block(tmp, b, known) for b in kept):
                    blocks[name] = list(kept)
                    scales[name] = float(parent_record.get("scales", {}).get(name, 1.0))
                elif cls._link_unchanged(tmp, name, parent_dir, unchanged):  # a format 1 parent's whole file
                    scales[name] = float(parent_record.get("scales", {}).get(name, 1.0))
                else:
                    jobs.append(partial(cls._store_signal_into, scales, blocks, tmp, name, signal,
                                        version.sample_rate, known))
            with ThreadPoolExecutor(max_workers=2) as pool:
                for job in [pool.submit(j) for j in jobs]:
                    job.result()
            files = sorted(p for p in tmp.rglob("*") if p.is_file())
            record = {
                "id": new_id,
                "parent": version.parent,
                "edit": version.edit,
                **({"request": version.request} if version.request is not None else {}),
                "created": time.time(),
                "sample_rate": version.sample_rate,
                "settings": version.settings,
                "timbres": {str(k): vars(v) for k, v in version.timbres.items()},
                "checksums": {str(p.relative_to(tmp)): _sha256(p) for p in files},
                "scales": dict(sorted(scales.items())),
                "audio": dict(sorted(blocks.items())),
            }
            for file in files:
                fsync_file(file)
            write_json_atomic(tmp / "version.json", record)
            for folder in (tmp / "timbre", tmp / "stems", tmp / AUDIO_DIR, tmp):
                fsync_dir(folder)
            crash_point("version-written")
            os.rename(tmp, versions / new_id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(versions)
        return record

    @staticmethod
    def _link_unchanged(folder: Path, name: str, parent_dir: Path | None, unchanged: Collection[str]) -> bool:
        previous = parent_dir / name if parent_dir is not None else None
        if name not in unchanged or previous is None or not previous.is_file() or previous.is_symlink():
            return False
        os.link(previous, folder / name)
        return True

    @staticmethod
    def _store_signal_into(scales: dict[str, float], blocks: dict[str, list[str]], folder: Path, name: str,
                           audio: np.ndarray, sample_rate: int, known: dict[str, Path]) -> None:
        scales[name], blocks[name] = store_signal(folder, audio, sample_rate, known)

    @staticmethod
    def _store(folder: Path, name: str, parent_dir: Path | None, write: Callable[[Path], None]) -> None:
        """Write folder/name; if the parent version has the very same bytes, hard-link to them instead."""
        target = folder / name
        write(target)
        previous = parent_dir / name if parent_dir is not None else None
        if (previous is not None and previous.is_file() and not previous.is_symlink()
                and _sha256(previous) == _sha256(target)):
            target.unlink()
            os.link(previous, target)

    @staticmethod
    def _check_files(folder: Path, record: dict) -> None:
        for name, digest in record["checksums"].items():
            file = folder / name
            if file.is_symlink() or not file.is_file() or _sha256(file) != digest:
                raise ProjectError(f"{file} is missing or damaged (checksum mismatch); "
                                   f"check out another version with `melodex checkout`")

    def load_version(self, version: str | None = None) -> Version:
        version_id = self.resolve(version)
        folder = self.path / "versions" / version_id
        if folder.is_symlink():
            raise ProjectError(f"{folder} is a symbolic link: a project holds its own files; replace it")
        record = read_version_file(folder)
        self._check_files(folder, record)
        files = record["checksums"]
        try:
            events = np.load(folder / "events.npy", allow_pickle=False)
            samplesets = {int(Path(n).stem): SampleSet.load(folder / n) for n in files if n.startswith("timbre/")}
            scales, blocks = record["scales"], record["audio"]

            def read(name: str) -> np.ndarray:
                if name in blocks:
                    return read_signal(folder, blocks[name], scales.get(name, 1.0))
                return sf.read(folder / name, dtype="float32", always_2d=True)[0] * np.float32(scales.get(name, 1.0))

            signals = [n for n in [*files, *blocks] if SIGNAL_NAME.fullmatch(n)]
            stems = {int(Path(n).stem): read(n) for n in sorted(set(signals)) if n.startswith("stems/")}
            mix = read("mix.flac") if "mix.flac" in signals else np.zeros((0, 2), dtype=np.float32)
        except (OSError, ValueError, KeyError, sf.LibsndfileError) as exc:
            raise ProjectError(f"version {version_id} of {self.path.name} is damaged ({exc}); check out another "
                               "version with `melodex checkout`") from exc
        timbres = {int(k): TrackTimbre(**v) for k, v in record["timbres"].items()}
        return Version(events=events, timbres=timbres, samplesets=samplesets, stems=stems, mix=mix,
                       sample_rate=int(record["sample_rate"]), settings=record["settings"], edit=record["edit"],
                       request=record.get("request"), parent=record["parent"], id=version_id,
                       created=record["created"], pruned=record["pruned"])


    # -- disk -------------------------------------------------------------------------------------

    def prune(self) -> tuple[list[str], int]:
        """Drop the rendered audio of every version but the current one; returns (versions pruned, bytes freed).

        What re-renders a version stays: its score, sample sets, settings and recorded levels. Its
        version.json is rewritten first (no longer listing the audio), then the files go, so a crash
        leaves unlisted files that the next prune removes, never a version that lists missing ones.
        Only files no other version links to free space; the current version is not touched.
        """
        pruned: list[str] = []
        freed = 0
        with writing(self.path):
            self._reload()
            current = self.current
            for version_id in self.version_ids():
                if version_id == current:
                    continue
                folder = self.path / "versions" / version_id
                if folder.is_symlink() or not folder.is_dir():
                    continue
                record = read_version_file(folder)
                audio = [n for n in record["checksums"] if n.startswith((f"{AUDIO_DIR}/", "stems/", "mix."))]
                if record["pruned"] and not audio and not self._audio_files(folder):
                    continue
                if not record["pruned"] or audio:
                    record.update(pruned=True, audio={}, scales={},
                                  checksums={n: d for n, d in record["checksums"].items() if n not in audio})
                    write_json_atomic(folder / "version.json", record)
                for file in self._audio_files(folder):
                    with contextlib.suppress(OSError):
                        info = file.lstat()
                        file.unlink()
                        freed += info.st_size if info.st_nlink == 1 else 0
                fsync_dir(folder)
                pruned.append(version_id)
        return pruned, freed

    @staticmethod
    def _audio_files(folder: Path) -> list[Path]:
        """A version folder's rendered audio on disk, listed in its version.json or not."""
        files = [folder / "mix.flac"] if (folder / "mix.flac").exists() else []
        for sub in (folder / AUDIO_DIR, folder / "stems"):
            if sub.is_dir() and not sub.is_symlink():
                files += [p for p in sub.iterdir() if p.is_file() or p.is_symlink()]
        return files

    def restore_audio(self, version_id: str, stems: dict[int, np.ndarray], mix: np.ndarray) -> None:
        """Store re-rendered audio in a pruned version (checking it out makes it whole again).

        The blocks are written (or linked from versions that hold them) before version.json lists them;
        a crash in between leaves a pruned version with unlisted blocks, as before.
        """
        with writing(self.path):
            self._reload()
            folder = self.path / "versions" / self.resolve(version_id)
            record = read_version_file(folder)
            if not record["pruned"]:
                return
            (folder / AUDIO_DIR).mkdir(exist_ok=True)
            known = known_blocks(self.path / "versions")
            scales: dict[str, float] = {}
            blocks: dict[str, list[str]] = {}
            signals = {f"stems/{track}.flac": stem for track, stem in stems.items()}
            signals["mix.flac"] = mix
            for name, signal in signals.items():
                scales[name], blocks[name] = store_signal(folder, signal, record["sample_rate"], known)
            names = {f"{AUDIO_DIR}/{b}.flac" for listed in blocks.values() for b in listed}
            for name in names:
                fsync_file(folder / name)
            fsync_dir(folder / AUDIO_DIR)
            record.update(pruned=False, scales=dict(sorted(scales.items())), audio=dict(sorted(blocks.items())),
                          checksums={**record["checksums"], **{n: Path(n).stem for n in sorted(names)}})
            write_json_atomic(folder / "version.json", validated(folder / "version.json", VersionFile, record))
