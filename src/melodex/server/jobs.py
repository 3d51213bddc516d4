"""The studio's job queue: jobs kept in SQLite under the data folder, run one at a time, oldest first.

A job is one call of a library function (generate, regen, retimbre, ...) with its JSON parameters.
The store outlives the process: finished jobs and their results are still there after a restart,
and a job that was running when the process died is reported as failed ("interrupted"), never lost.
Queued jobs stay queued across a restart and run when the worker starts again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from melodex.errors import MelodexError

log = logging.getLogger("melodex.server")

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
INTERRUPTED = "interrupted: the server stopped while this job was running; submit it again"
CANCELLED = "cancelled"
# A running job can be cancelled until it starts writing: a cancelled edit leaves the project as it was.
UNSTOPPABLE_STAGES = ("write", "preview")


class JobCancelled(MelodexError):
    """A running job was asked to stop; raised from its progress callback."""
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- submission order: the queue is FIFO on this
    id TEXT UNIQUE NOT NULL,
    project TEXT NOT NULL,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT NOT NULL DEFAULT '',
    fraction REAL NOT NULL DEFAULT 0,
    error TEXT,
    result TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_by_project ON jobs (project, seq);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    prompt TEXT NOT NULL,
    request TEXT NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Job:
    """One queued, running or finished call. `queue_position` is 1 for the next job to run, None unless queued."""

    id: str
    seq: int
    project: str
    kind: str
    params: dict[str, Any]
    status: str
    stage: str
    fraction: float
    error: str | None
    result: dict[str, Any] | None
    created: float
    started: float | None
    finished: float | None
    queue_position: int | None = None

    @property
    def active(self) -> bool:
        return self.status in (QUEUED, RUNNING)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "project": self.project, "kind": self.kind, "params": self.params,
                "status": self.status, "stage": self.stage, "fraction": round(self.fraction, 3),
                "error": self.error, "result": self.result, "created": self.created, "started": self.started,
                "finished": self.finished, "queue_position": self.queue_position}


class JobStore:
    """Jobs and project records in one SQLite file. Safe to share between the worker and request threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise MelodexError(f"the job store {self.path} is damaged ({exc}): move it away and restart") from exc
        if version not in (0, SCHEMA_VERSION):
            raise MelodexError(f"the job store {self.path} has schema {version}; this Melodex reads "
                               f"{SCHEMA_VERSION}: upgrade Melodex or move the data folder away")
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._lock = threading.Lock()
        self.closed = False
        self.interrupted = self._fail_interrupted()

    def _fail_interrupted(self) -> int:
        """Jobs left 'running' by a process that died: they did not finish, so say so."""
        with self._lock:
            cursor = self._db.execute("UPDATE jobs SET status=?, error=?, finished=? WHERE status=?",
                                      (FAILED, INTERRUPTED, time.time(), RUNNING))
            return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self._db.close()

    # -- projects ---------------------------------------------------------------------------------

    def add_project(self, project: str, prompt: str, request: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT INTO projects (id, prompt, request, created) VALUES (?, ?, ?, ?)",
                             (project, prompt, json.dumps(request), time.time()))

    def projects(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT id, prompt, request, created FROM projects ORDER BY created DESC")
            return [{"id": r[0], "prompt": r[1], "request": json.loads(r[2]), "created": r[3]} for r in rows]

    def project(self, project: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT id, prompt, request, created FROM projects WHERE id=?",
                                   (project,)).fetchone()
        return None if row is None else {"id": row[0], "prompt": row[1], "request": json.loads(row[2]),
                                         "created": row[3]}

    # -- jobs -------------------------------------------------------------------------------------

    def submit(self, project: str, kind: str, params: dict[str, Any]) -> Job:
        job_id = uuid.uuid4().hex[:16]
        with self._lock:
            self._db.execute("INSERT INTO jobs (id, project, kind, params, status, created) VALUES (?, ?, ?, ?, ?, ?)",
                             (job_id, project, kind, json.dumps(params), QUEUED, time.time()))
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id=?", (job_id,)).fetchone()
            return None if row is None else self._job(row)

    def jobs(self, project: str | None = None, limit: int = 100) -> list[Job]:
        """Newest first."""
        with self._lock:
            if project is None:
                rows = self._db.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY seq DESC LIMIT ?", (limit,))
            else:
                rows = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE project=? ORDER BY seq DESC LIMIT ?",
                                        (project, limit))
            return [self._job(row) for row in rows.fetchall()]

    def claim_next(self) -> Job | None:
        """Mark the oldest queued job running and return it (None when the queue is empty)."""
        with self._lock:
            if self.closed:
                return None
            row = self._db.execute("SELECT id FROM jobs WHERE status=? ORDER BY seq LIMIT 1", (QUEUED,)).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE jobs SET status=?, started=? WHERE id=? AND status=?",
                             (RUNNING, time.time(), row[0], QUEUED))
        return self.get(row[0])

    def cancel_queued(self, job_id: str) -> bool:
        """Cancel a job that has not started; False if it is running or finished."""
        with self._lock:
            cursor = self._db.execute("UPDATE jobs SET status=?, error=?, finished=? WHERE id=? AND status=?",
                                      (FAILED, CANCELLED, time.time(), job_id, QUEUED))
            return cursor.rowcount == 1

    def delete_project(self, project: str) -> None:
        """Forget a project and its finished jobs."""
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE project=?", (project,))
            self._db.execute("DELETE FROM projects WHERE id=?", (project,))

    def progress(self, job_id: str, stage: str, fraction: float) -> None:
        self._update("UPDATE jobs SET stage=?, fraction=? WHERE id=?", (stage, float(fraction), job_id))

    def finish(self, job_id: str, result: dict[str, Any]) -> None:
        self._update("UPDATE jobs SET status=?, result=?, fraction=1, finished=? WHERE id=?",
                     (DONE, json.dumps(result), time.time(), job_id))

    def fail(self, job_id: str, error: str) -> None:
        self._update("UPDATE jobs SET status=?, error=?, finished=? WHERE id=?", (FAILED, error, time.time(), job_id))

    def _update(self, sql: str, args: tuple) -> None:
        with self._lock:
            if self.closed:  # a job that outlived shutdown: the next start reports it as interrupted
                log.warning("job store closed; dropped update %s", args[-1])
                return
            self._db.execute(sql, args)

    def _job(self, row: tuple) -> Job:
        (seq, job_id, project, kind, params, status, stage, fraction, error, result, created, started,
         finished) = row
        position = None
        if status == QUEUED:
            ahead = self._db.execute("SELECT COUNT(*) FROM jobs WHERE status=? AND seq<?", (QUEUED, seq)).fetchone()
            position = int(ahead[0]) + 1
        return Job(job_id, seq, project, kind, json.loads(params), status, stage, fraction, error,
                   json.loads(result) if result else None, created, started, finished, position)


_COLUMNS = "seq, id, project, kind, params, status, stage, fraction, error, result, created, started, finished"

Progress = Callable[[str, float], None]
Handler = Callable[[Job, Progress], dict[str, Any]]


class Worker:
    """One thread that runs queued jobs one at a time, in submission order."""

    def __init__(self, store: JobStore, handlers: Mapping[str, Handler], poll_seconds: float = 0.5,
                 on_start: Callable[[], None] | None = None) -> None:
        self.store = store
        self.handlers = dict(handlers)
        self.poll_seconds = poll_seconds
        self.on_start = on_start
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current: str | None = None
        self._cancelled: set[str] = set()

    def cancel(self, job_id: str) -> bool:
        """Stop a queued job, or the running one at its next progress report before it writes; False if the
        job is finished (or unknown)."""
        if self.store.cancel_queued(job_id):
            return True
        if job_id == self.current:
            self._cancelled.add(job_id)
            return True
        return False

    def _report(self, job: Job) -> Progress:
        def report(stage: str, fraction: float) -> None:
            if job.id in self._cancelled and stage not in UNSTOPPABLE_STAGES:
                raise JobCancelled(CANCELLED)
            self.store.progress(job.id, stage, fraction)

        return report

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="melodex-jobs", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the worker to stop after its current job; True if it stopped within `timeout`."""
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        if self.on_start:
            self.on_start()
        while not self._stop.is_set():
            job = self.store.claim_next()
            if job is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            self.run_one(job)

    def run_one(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        self.current = job.id
        try:
            if handler is None:
                raise MelodexError(f"unknown job kind {job.kind!r}")
            result = handler(job, self._report(job))
        except MelodexError as exc:
            self.store.fail(job.id, str(exc))
        except Exception as exc:  # a bug, not bad input: keep the worker alive and say what happened
            log.exception("job %s (%s) crashed", job.id, job.kind)
            self.store.fail(job.id, f"internal error: {type(exc).__name__}: {exc}")
        else:
            self.store.finish(job.id, result)
        finally:
            self.current = None
            self._cancelled.discard(job.id)
