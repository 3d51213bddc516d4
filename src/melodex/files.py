"""Writing files so that a crash leaves the old file or the new one, never half of one.

Every file Melodex writes beside a project (mix, stems, MIDI) and inside it (project.json) goes to a
hidden temporary name in the same folder, is flushed to disk, and is renamed over the final name. A
rename replaces a symlink instead of writing through it, so a link planted in an output folder cannot
send audio outside it. Leftover temporaries of a killed process end in TEMP_SUFFIX and are removed the
next time the project is opened.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from melodex.errors import MelodexError

TEMP_SUFFIX = ".melodex-tmp"
# Fault injection for the crash tests: MELODEX_KILL_AT=<point> kills the process with SIGKILL when it
# reaches that point (see `crash_point`). Unset in normal use.
KILL_AT_ENV = "MELODEX_KILL_AT"


def crash_point(name: str) -> None:
    """Die here, as a power cut or `kill -9` would, when MELODEX_KILL_AT names this point."""
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(folder: Path) -> None:
    """Make a rename or new entry in `folder` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def temp_name(path: Path) -> Path:
    """A fresh hidden name beside `path`, created empty with the usual permissions (umask applies)."""
    while True:
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return candidate


def write_atomic(path: Path, write: Callable[[Path], Any]) -> Path:
    """Call write(temp) and rename the temporary file over `path` once it is complete and on disk."""
    path = Path(path)
    tmp = temp_name(path)
    try:
        write(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return path


def write_json_atomic(path: Path, data: Any) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2), encoding="utf-8"))


def output_dir(folder: Path, inside: Path | None = None) -> Path:
    """Make sure `folder` is a folder that can be written (made if missing); a clear error otherwise.

    With `inside`, `folder` must not be a symlink leading out of `inside` (a planted `stems` link).
    """
    folder = Path(folder)
    if inside is not None and folder.is_symlink() and not folder.resolve().is_relative_to(Path(inside).resolve()):
        raise MelodexError(f"{folder} is a link to {folder.resolve()}, outside {inside}: Melodex does not write "
                           "through it; remove the link")
    if folder.exists() and not folder.is_dir():
        raise MelodexError(f"cannot write into {folder}: it is a file, not a folder; choose a folder with -o")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MelodexError(f"cannot create the folder {folder}: {exc.strerror or exc}") from exc
    if not os.access(folder, os.W_OK):
        raise MelodexError(f"cannot write into {folder}: permission denied")
    return folder


def temporaries(folder: Path) -> list[Path]:
    """Leftover temporary files of `write_atomic` in `folder` (not recursive; none through a symlink)."""
    found = []
    with contextlib.suppress(OSError):
        if folder.is_dir() and not folder.is_symlink():
            found = [entry for entry in folder.iterdir() if entry.name.startswith(".")
                     and entry.name.endswith(TEMP_SUFFIX) and not entry.is_dir()]
    return found
