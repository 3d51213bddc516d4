"""The `.melodex` project's files as they are on disk: their schemas, and reading them without trusting them.

Every JSON file is validated against its schema before it is trusted: a missing, huge, non-UTF-8,
malformed, too deeply nested or wrongly shaped file is a `ProjectError` naming what is wrong. What the
files mean, and how versions are written, is `melodex.project`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from melodex.errors import MelodexError
from melodex.project_audio import AUDIO_DIR

PROJECT_VERSION = 2  # 2: audio as shared blocks (versions/N/audio/), versions may be pruned
READ_FORMATS = (1, 2)
MAX_JSON_BYTES = 16 << 20  # a project.json or version.json larger than this is not one
VERSION_ID = re.compile(r"[0-9]{4,6}")
VERSION_FILE = re.compile(r"events\.npy|mix\.flac|stems/[0-9]{1,3}\.flac|timbre/[0-9]{1,3}\.npz"
                          r"|audio/[0-9a-f]{64}\.flac")
SIGNAL_NAME = re.compile(r"mix\.flac|stems/[0-9]{1,3}\.flac")


class ProjectError(MelodexError):
    """A project that is missing, damaged, of an unknown version, or asked for something it lacks."""


class ProjectBusy(ProjectError):
    """Another process (or thread) is writing the project."""


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class HistoryEntry(_Schema):
    """A version as project.json's history lists it; its version.json says the same and more (`VersionFile`)."""

    id: str = Field(pattern=f"^{VERSION_ID.pattern}$")
    parent: str | None = Field(pattern=f"^{VERSION_ID.pattern}$")
    edit: str = Field(max_length=10_000)
    request: dict[str, Any] | None = None  # the edit request (`melodex.edit_requests`); absent before them
    created: float


class ProjectFile(_Schema):
    """project.json."""

    format: int
    prompt: str = Field(max_length=100_000)
    brief: dict[str, Any]
    models: dict[str, Any]
    current: str | None = Field(pattern=f"^{VERSION_ID.pattern}$")
    history: list[HistoryEntry] = Field(max_length=100_000)
    created: float


class TimbreRecord(_Schema):
    text: str = Field(max_length=10_000)
    renderer: str = Field(pattern="^(timbre|drumkit|soundfont)$")
    seed: int
    cfg: float = 0.0
    steps: int = 0


class VersionFile(HistoryEntry):
    """versions/NNNN/version.json: its history entry's fields, then the version's own."""

    sample_rate: int = Field(ge=1000, le=384_000)
    settings: dict[str, Any]
    timbres: dict[str, TimbreRecord]
    checksums: dict[str, str]
    scales: dict[str, float] = Field(default_factory=dict)
    audio: dict[str, list[str]] = Field(default_factory=dict)  # "mix.flac", "stems/N.flac" -> block names
    pruned: bool = False  # its audio was dropped (`melodex prune`); it is re-rendered from the rest

    @field_validator("audio")
    @classmethod
    def _signals(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, blocks in value.items():
            if not SIGNAL_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a signal a version holds (mix.flac or stems/N.flac)")
            if not all(re.fullmatch(r"[0-9a-f]{64}", b) for b in blocks):
                raise ValueError(f"the blocks of {name} are not SHA-256 names")
        return value

    @model_validator(mode="after")
    def _complete(self) -> VersionFile:
        for name, blocks in self.audio.items():
            if any(self.checksums.get(f"{AUDIO_DIR}/{b}.flac") != b for b in blocks):
                raise ValueError(f"a block of {name} is not in the checksums under its own name")
        if not self.pruned and "mix.flac" not in self.checksums and "mix.flac" not in self.audio:
            raise ValueError("a version has events.npy and mix.flac")
        return self

    @field_validator("timbres")
    @classmethod
    def _track_keys(cls, value: dict[str, TimbreRecord]) -> dict[str, TimbreRecord]:
        bad = [k for k in value if not re.fullmatch(r"[0-9]{1,3}", k)]
        if bad:
            raise ValueError(f"timbre keys are track numbers, not {bad[0]!r}")
        return value

    @field_validator("checksums")
    @classmethod
    def _file_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            if not VERSION_FILE.fullmatch(name):
                raise ValueError(f"{name!r} is not a file a version holds")
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"the checksum of {name} is not a SHA-256")
        if "events.npy" not in value:
            raise ValueError("a version has events.npy and mix.flac")
        return value


def _problem(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "the top level"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def read_json_file(path: Path) -> Any:
    """The JSON in `path`; ProjectError for a missing, huge, non-UTF-8, malformed or too deeply nested file."""
    if path.is_symlink():
        raise ProjectError(f"{path} is a symbolic link: a project holds its own files; replace it with the file")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise ProjectError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_JSON_BYTES:
        raise ProjectError(f"{path} is over {MAX_JSON_BYTES >> 20} MB: it is not a Melodex project file")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{path} is damaged (not UTF-8 text at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{path} is damaged ({exc})") from exc
    except RecursionError as exc:
        raise ProjectError(f"{path} is damaged (nested too deeply to be a project file)") from exc


def validated(path: Path, schema: type[_Schema], data: Any) -> dict:
    try:
        return schema.model_validate(data).model_dump()
    except ValidationError as exc:
        raise ProjectError(f"{path} is damaged ({_problem(exc)})") from exc
    except RecursionError as exc:
        raise ProjectError(f"{path} is damaged (nested too deeply to be a project file)") from exc


def read_version_file(folder: Path) -> dict:
    """A version's validated version.json."""
    path = folder / "version.json"
    record = validated(path, VersionFile, read_json_file(path))
    if record["id"] != folder.name:
        raise ProjectError(f"{path} is damaged (it says it is version {record['id']}, in folder {folder.name})")
    return record
