"""One writer at a time for a `.melodex` project: an advisory lock beside the project.

The lock is the kernel's (flock): a killed holder releases it, readers never take it, and a second
writer waits a while, then is told which process holds the project. The lock file holds the holder's
pid and is removed when the holder finishes, so a finished command leaves only the user's files in the
folder (a producer drags that folder into a DAW); a killed holder's file is taken over by the next writer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from melodex.errors import MelodexError
from melodex.project_files import ProjectBusy, ProjectError

try:
    import fcntl
except ImportError:  # Windows: filelock's msvcrt lock, which removes its file on release
    fcntl = None  # type: ignore[assignment]

LOCK_WAIT_ENV = "MELODEX_LOCK_WAIT"
# How long a second writer waits for the first, in seconds. 30 s, not a few: on a loaded machine a
# short edit's commit and exports can take that long, and a writer told to retry is worse than one served.
LOCK_WAIT_S = 30.0
POLL_S = 0.05

log = logging.getLogger("melodex.project")  # the project's logger: the CLI shows its warnings as "note:"


class _Held(threading.local):
    """The locks this thread holds: path -> [descriptor, depth]. Per thread, so threads take turns."""

    def __init__(self) -> None:
        self.locks: dict[Path, list[int]] = {}


_held = _Held()


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
    lock is the kernel's (flock): a killed holder releases it. The lock file is removed on release.
    """
    path = lock_path(project)
    timeout = lock_wait() if wait is None else wait
    held = _held.locks.get(path)
    if held is not None:
        held[1] += 1
        try:
            yield
        finally:
            held[1] -= 1
        return
    if fcntl is None:
        with _filelock_writing(project, path, timeout):
            yield
        return
    try:
        fd = _acquire(project, path, timeout)
    except OSError as exc:
        raise ProjectError(f"cannot lock {project} for writing ({exc.strerror or exc}): is its folder "
                           "writable?") from exc
    _held.locks[path] = [fd, 1]
    try:
        yield
    finally:
        del _held.locks[path]
        _release(path, fd)
        with contextlib.suppress(OSError):  # the pid file of Melodex before 2026-12-08
            _legacy_pid_file(path).unlink(missing_ok=True)


def _acquire(project: str | Path, path: Path, timeout: float) -> int:
    """Lock `path`'s file and write this pid into it; ProjectBusy after `timeout` seconds of waiting."""
    deadline = None
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if deadline is None:
                if timeout <= 0:
                    raise _busy(project, path) from None
                log.warning("waiting up to %g s for the other melodex process (pid %s) editing %s to finish "
                            "(%s sets how long)", timeout, _holder(path), Path(project).name, LOCK_WAIT_ENV)
                deadline = time.monotonic() + timeout
            elif time.monotonic() >= deadline:
                raise _busy(project, path) from None
            time.sleep(POLL_S)
            continue
        except BaseException:
            os.close(fd)
            raise
        # The holder before us removes the file while it still holds it; a lock taken on a removed (or
        # replaced) file guards nothing, so open the name again.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        return fd


def _release(path: Path, fd: int) -> None:
    """Remove the lock file while still holding it (so no waiter can take a lock on a removed file), then unlock."""
    try:
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False)):
                path.unlink()
    finally:
        os.close(fd)  # closing the only descriptor drops the flock


@contextlib.contextmanager
def _filelock_writing(project: str | Path, path: Path, timeout: float) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(path, thread_local=True)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if timeout <= 0:
                raise
            log.warning("waiting up to %g s for the other melodex process editing %s to finish (%s sets how "
                        "long)", timeout, Path(project).name, LOCK_WAIT_ENV)
            lock.acquire(timeout=timeout)
    except Timeout:
        raise _busy(project, path) from None
    except OSError as exc:
        raise ProjectError(f"cannot lock {project} for writing ({exc.strerror or exc}): is its folder "
                           "writable?") from exc
    fd = -1
    _held.locks[path] = [fd, 1]
    try:
        yield
    finally:
        del _held.locks[path]
        lock.release()


def _busy(project: str | Path, path: Path) -> ProjectBusy:
    return ProjectBusy(f"the project {Path(project).name} is being edited by another melodex process "
                       f"(pid {_holder(path)}): wait for it to finish, then try again")


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


def _legacy_pid_file(lock: Path) -> Path:
    return lock.with_name(lock.name.removesuffix(".lock") + ".writer")


def _holder(lock: Path) -> str:
    """The pid the holder wrote into the lock file ("unknown" in the instant before it has)."""
    try:
        text = lock.read_text().strip()
    except OSError:
        return "unknown"
    return text if text.isascii() and text.isdigit() else "unknown"
