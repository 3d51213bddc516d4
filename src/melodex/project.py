"""The `.melodex` project: everything needed to regenerate any part of a track without losing the rest.

A project is a directory (zip it to share):

    song.melodex/
      project.json                 schema version, prompt, brief, models, current version, history
      versions/0001/version.json   parent, edit, seeds, options, per-track timbre settings, checksums
      versions/0001/events.npy     the structure tokens (compound events)
      versions/0001/timbre/N.npz   track N's sample set with its initial noise and final latents
      versions/0001/stems/N.flac   track N's rendered stem
      versions/0001/mix.flac       the mastered mix

Every edit writes a new version directory; nothing is overwritten. A version is written into a hidden
temporary directory and renamed into place, and project.json is replaced atomically after that, so a
crash or Ctrl-C leaves either the old project or the new one, never half of one. Files a version does
not change are hard-linked from its parent, so history costs little disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf

from melodex.errors import MelodexError
from melodex.timbre.sampleset import SampleSet

PROJECT_VERSION = 1
SUFFIX = ".melodex"


class ProjectError(MelodexError):
    """A project that is missing, damaged, of an unknown version, or asked for something it lacks."""


@dataclass(frozen=True)
class TrackTimbre:
    """How one track's sound was made: enough to re-make or vary it."""

    text: str
    renderer: str  # "timbre" (diffusion sample set) or "soundfont"
    seed: int
    cfg: float = 0.0
    steps: int = 0


@dataclass
class Version:
    """One state of the song. `events` is the score; stems and mix are float32 (frames, 2)."""

    events: np.ndarray
    timbres: dict[int, TrackTimbre]
    samplesets: dict[int, SampleSet]
    stems: dict[int, np.ndarray]
    mix: np.ndarray
    sample_rate: int
    settings: dict = field(default_factory=dict)  # seeds, guidance, temperature, mix settings, ...
    edit: str = "generate"  # what made this version, in words
    parent: str | None = None
    id: str = ""
    created: float = 0.0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Project:
    """A project directory on disk. Open with `Project.open`, make with `Project.create`."""

    def __init__(self, path: Path, meta: dict):
        self.path = path
        self.meta = meta

    # -- life cycle -------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, prompt: str, brief: dict, models: dict[str, dict]) -> Project:
        path = Path(path)
        if path.suffix != SUFFIX:
            path = path.with_suffix(SUFFIX)
        if path.exists():
            raise ProjectError(f"{path} already exists: choose another name or open it to edit")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        (tmp / "versions").mkdir()
        meta = {"format": PROJECT_VERSION, "prompt": prompt, "brief": brief, "models": models,
                "current": None, "history": [], "created": time.time()}
        _write_json_atomic(tmp / "project.json", meta)
        os.rename(tmp, path)
        return cls(path, meta)

    @classmethod
    def open(cls, path: str | Path) -> Project:
        path = Path(path)
        if not path.exists() and path.with_suffix(SUFFIX).exists():
            path = path.with_suffix(SUFFIX)
        meta_path = path / "project.json"
        if not meta_path.is_file():
            raise ProjectError(f"{path} is not a Melodex project (no project.json): check the path")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ProjectError(f"{meta_path} is damaged ({exc}); earlier versions are in {path / 'versions'}") from exc
        if meta.get("format") != PROJECT_VERSION:
            raise ProjectError(f"{path} has project format {meta.get('format')!r}; this Melodex reads format "
                               f"{PROJECT_VERSION}: upgrade Melodex")
        return cls(path, meta)

    # -- history ----------------------------------------------------------------------------------

    @property
    def current(self) -> str:
        if not self.meta["current"]:
            raise ProjectError(f"{self.path} has no versions yet")
        return str(self.meta["current"])

    @property
    def history(self) -> list[dict]:
        return list(self.meta["history"])

    def version_ids(self) -> list[str]:
        return [h["id"] for h in self.meta["history"]]

    def resolve(self, version: str | None) -> str:
        """A version id from 'current', '3', '0003', or None (current)."""
        if version is None or version == "current":
            return self.current
        ids = self.version_ids()
        if version.isdigit() and f"{int(version):04d}" in ids:
            return f"{int(version):04d}"
        if version in ids:
            return version
        raise ProjectError(f"no version {version!r} in {self.path.name} (versions: {', '.join(ids) or 'none'})")

    def parent_of(self, version: str) -> str | None:
        """The version `version` was made from (None for the first)."""
        target = self.resolve(version)
        return next(h["parent"] for h in self.meta["history"] if h["id"] == target)

    def checkout(self, version: str) -> str:
        """Make `version` current. History is kept: the next edit branches from it."""
        target = self.resolve(version)
        self.meta["current"] = target
        _write_json_atomic(self.path / "project.json", self.meta)
        return target

    # -- versions ---------------------------------------------------------------------------------

    def save_version(self, version: Version, unchanged: Collection[str] = ()) -> str:
        """Write a new version and make it current; returns its id.

        `unchanged` names files ("stems/2.flac", "timbre/0.npz") the caller knows are the parent's very
        arrays: they are hard-linked from the parent without encoding them again. Audio files are encoded
        on two threads (the encoders release the GIL).
        """
        ids = self.version_ids()
        new_id = f"{len(ids) + 1:04d}"
        versions = self.path / "versions"
        parent_dir = versions / version.parent if version.parent else None
        tmp = Path(tempfile.mkdtemp(prefix=f".{new_id}.", dir=versions))
        try:
            (tmp / "timbre").mkdir()
            (tmp / "stems").mkdir()
            np.save(tmp / "events.npy", np.asarray(version.events, dtype=np.int32))
            parent_record = self._record(parent_dir) if parent_dir is not None and unchanged else {}
            scales: dict[str, float] = {}
            jobs: list[Callable[[], None]] = []
            for track, sampleset in version.samplesets.items():
                name = f"timbre/{track}.npz"
                if not self._link_unchanged(tmp, name, parent_dir, unchanged):
                    jobs.append(partial(self._store, tmp, name, parent_dir, sampleset.save))
            audio = {f"stems/{track}.flac": stem for track, stem in version.stems.items()}
            audio["mix.flac"] = version.mix
            for name, signal in audio.items():
                if self._link_unchanged(tmp, name, parent_dir, unchanged):
                    scales[name] = float(parent_record.get("scales", {}).get(name, 1.0))
                else:
                    jobs.append(partial(self._store_audio_into, scales, tmp, name, signal, version.sample_rate,
                                        parent_dir))
            with ThreadPoolExecutor(max_workers=2) as pool:
                for job in [pool.submit(j) for j in jobs]:
                    job.result()
            files = sorted(p for p in tmp.rglob("*") if p.is_file())
            record = {
                "id": new_id,
                "parent": version.parent,
                "edit": version.edit,
                "created": time.time(),
                "sample_rate": version.sample_rate,
                "settings": version.settings,
                "timbres": {str(k): vars(v) for k, v in version.timbres.items()},
                "checksums": {str(p.relative_to(tmp)): _sha256(p) for p in files},
                "scales": dict(sorted(scales.items())),
            }
            _write_json_atomic(tmp / "version.json", record)
            os.rename(tmp, versions / new_id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.meta["history"].append({"id": new_id, "parent": version.parent, "edit": version.edit,
                                     "created": record["created"]})
        self.meta["current"] = new_id
        _write_json_atomic(self.path / "project.json", self.meta)
        return new_id

    @staticmethod
    def _record(folder: Path) -> dict:
        try:
            return json.loads((folder / "version.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ProjectError(f"version {folder.name} is damaged ({exc})") from exc

    @staticmethod
    def _link_unchanged(folder: Path, name: str, parent_dir: Path | None, unchanged: Collection[str]) -> bool:
        previous = parent_dir / name if parent_dir is not None else None
        if name not in unchanged or previous is None or not previous.is_file():
            return False
        os.link(previous, folder / name)
        return True

    def _store_audio_into(self, scales: dict[str, float], folder: Path, name: str, audio: np.ndarray,
                          sample_rate: int, parent_dir: Path | None) -> None:
        scales[name] = self._store_audio(folder, name, audio, sample_rate, parent_dir)

    @staticmethod
    def _store(folder: Path, name: str, parent_dir: Path | None, write: Callable[[Path], None]) -> None:
        """Write folder/name; if the parent version has the very same bytes, hard-link to them instead."""
        target = folder / name
        write(target)
        previous = parent_dir / name if parent_dir is not None else None
        if previous is not None and previous.is_file() and _sha256(previous) == _sha256(target):
            target.unlink()
            os.link(previous, target)

    def _store_audio(self, folder: Path, name: str, audio: np.ndarray, sample_rate: int,
                     parent_dir: Path | None) -> float:
        """FLAC 24-bit; audio louder than full scale is stored scaled down, and the scale recorded.

        The scale is a power of two, so an edit that changes the peak a little keeps the same scale and
        the untouched samples stay bit-identical across versions.
        """
        audio = np.asarray(audio, dtype=np.float32)
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        scale = 1.0 if peak < 1.0 else float(2.0 ** np.ceil(np.log2(peak * 1.0001)))
        self._store(folder, name, parent_dir,
                    lambda p: sf.write(p, audio / scale, sample_rate, format="FLAC", subtype="PCM_24"))
        return scale

    def load_version(self, version: str | None = None) -> Version:
        version_id = self.resolve(version)
        folder = self.path / "versions" / version_id
        try:
            record = json.loads((folder / "version.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ProjectError(f"version {version_id} of {self.path.name} is damaged ({exc})") from exc
        for name, digest in record["checksums"].items():
            file = folder / name
            if not file.is_file() or _sha256(file) != digest:
                raise ProjectError(f"{file} is missing or damaged (checksum mismatch); "
                                   f"check out another version with `melodex checkout`")
        events = np.load(folder / "events.npy", allow_pickle=False)
        samplesets = {int(p.stem): SampleSet.load(p) for p in (folder / "timbre").glob("*.npz")}
        scales = record.get("scales", {})

        def read(name: str) -> np.ndarray:
            return sf.read(folder / name, dtype="float32", always_2d=True)[0] * np.float32(scales.get(name, 1.0))

        stems = {int(p.stem): read(f"stems/{p.name}") for p in (folder / "stems").glob("*.flac")}
        mix = read("mix.flac")
        timbres = {int(k): TrackTimbre(**v) for k, v in record["timbres"].items()}
        return Version(events=events, timbres=timbres, samplesets=samplesets, stems=stems, mix=mix,
                       sample_rate=int(record["sample_rate"]), settings=record["settings"], edit=record["edit"],
                       parent=record["parent"], id=version_id, created=record["created"])
