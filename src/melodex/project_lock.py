"""One writer at a time for a `.melodex` project: an advisory lock beside the project.

The lock is the kernel's (flock, through filelock): a killed holder releases it, readers never take it,
and a second writer waits a while, then is told which process holds the project.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from melodex.errors import MelodexError
from melodex.project_files import ProjectBusy, ProjectError

LOCK_WAIT_ENV = "MELODEX_LOCK_WAIT"
# How long a second writer waits for the first, in seconds. 30 s, not a few: on a loaded machine a
# short edit's commit and exports can take that long, and a writer told to retry is worse than one served.
LOCK_WAIT_S = 30.0

log = logging.getLogger("melodex.project")  # the project's logger: the CLI shows its warnings as "note:"


def lock_path(project: str | Path) -> Path:
    """The lock file of a project: beside it, so that a project being created can be locked too."""
    resolved = Path(project).resolve()
    return resolved.parent / f".{resolved.name}.lock"


@contextlib.contextmanager
def writing(project: str | Path, wait: float | None = None) -> Iterator[None]:
    """Hold the project's write lock for the block; re-entrant within a thread.

    A second writer (another process, or another thread) says once that it is waiting (a warning
    on the `melodex.project` log, "note:" on the CLI's stderr), waits up to `wait` seconds (default
    lock_wait()), then gets ProjectBusy naming the holder's pid. Readers never take the lock. The
    lock is the kernel's (flock): a killed holder releases it.
    """
    path = lock_path(project)
    timeout = lock_wait() if wait is None else wait
    try:
        lock = FileLock(path, is_singleton=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if timeout <= 0:
                raise
            log.warning("waiting up to %g s for the other melodex process (pid %s) editing %s to finish "
                        "(%s sets how long)", timeout, _holder(path), Path(project).name, LOCK_WAIT_ENV)
            lock.acquire(timeout=timeout)
    except Timeout:
        raise ProjectBusy(f"the project {Path(project).name} is being edited by another melodex process "
                          f"(pid {_holder(path)}): wait for it to finish, then try again") from None
    except OSError as exc:
        raise ProjectError(f"cannot lock {project} for writing ({exc.strerror or exc}): is its folder "
                           "writable?") from exc
    try:
        if lock.lock_counter == 1:
            with contextlib.suppress(OSError):
                _pid_file(path).write_text(f"{os.getpid()}\n")
        yield
    finally:
        lock.release()


def lock_wait() -> float:
    """How long a second writer waits: MELODEX_LOCK_WAIT seconds if set (read at each wait), else LOCK_WAIT_S."""
    text = os.environ.get(LOCK_WAIT_ENV, "").strip()
    if not text:
        return LOCK_WAIT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:  # also refuses nan and inf
        raise MelodexError(f"{LOCK_WAIT_ENV}={text!r}: give the seconds a second writer waits for the project, "
                           "0 (do not wait) to 86400")
    return seconds


def _pid_file(lock: Path) -> Path:
    return lock.with_name(lock.name.removesuffix(".lock") + ".writer")


def _holder(lock: Path) -> str:
    try:
        text = _pid_file(lock).read_text().strip()
    except OSError:
        return "unknown"
    return text if text.isascii() and text.isdigit() else "unknown"
