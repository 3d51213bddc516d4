"""The studio's job queue: FIFO order, queue positions, failures, and what a restart keeps."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from melodex.errors import MelodexError
from melodex.server import ServerOptions, create_app
from melodex.server.jobs import INTERRUPTED, JobStore, Worker


def wait(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_jobs_run_one_at_a_time_in_submission_order(tmp_path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    release = threading.Event()
    ran: list[str] = []
    running_together = []

    def handler(job, progress):
        running_together.append(sum(1 for j in store.jobs() if j.status == "running"))
        progress("work", 0.5)
        if job.params["name"] == "first":
            release.wait(10)
        ran.append(job.params["name"])
        return {"name": job.params["name"]}

    names = ["first", "second", "third", "fourth"]
    jobs = [store.submit("p", "work", {"name": n}) for n in names]
    assert [j.queue_position for j in jobs] == [1, 2, 3, 4]
    worker = Worker(store, {"work": handler}, poll_seconds=0.01)
    worker.start()
    try:
        wait(lambda: store.get(jobs[0].id).stage == "work")
        running = store.get(jobs[0].id)
        assert running.queue_position is None and running.stage == "work" and running.fraction == 0.5
        assert [store.get(j.id).queue_position for j in jobs[1:]] == [1, 2, 3]
        late = store.submit("p", "work", {"name": "fifth"})
        assert late.queue_position == 4
        release.set()
        wait(lambda: store.get(late.id).status == "done")
    finally:
        release.set()
        assert worker.stop()
    assert ran == [*names, "fifth"]
    assert running_together == [1] * 5
    assert store.get(jobs[2].id).result == {"name": "third"} and store.get(jobs[2].id).fraction == 1.0


def test_failures_keep_the_worker_alive_and_say_why(tmp_path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")

    def refuse(job, progress):
        raise MelodexError("no section named 'bridge'")

    def crash(job, progress):
        raise ZeroDivisionError("division by zero")

    worker = Worker(store, {"refuse": refuse, "crash": crash, "ok": lambda job, progress: {"ok": True}},
                    poll_seconds=0.01)
    first, second, third, fourth = (store.submit("p", kind, {}) for kind in ("refuse", "crash", "mystery", "ok"))
    worker.start()
    try:
        wait(lambda: store.get(fourth.id).status == "done")
    finally:
        worker.stop()
    assert store.get(first.id).error == "no section named 'bridge'"
    assert store.get(second.id).error.startswith("internal error: ZeroDivisionError")
    assert store.get(third.id).status == "failed" and "unknown job kind" in store.get(third.id).error


def test_restart_keeps_finished_jobs_and_fails_interrupted_ones(tmp_path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    store.add_project("abcdef123456", "piano", {"prompt": "piano"})
    finished, cut_short, waiting = (store.submit("abcdef123456", "work", {"n": n}) for n in range(3))
    assert store.claim_next().id == finished.id
    store.finish(finished.id, {"version": "0001"})
    assert store.claim_next().id == cut_short.id  # running when the process "dies"
    store.progress(cut_short.id, "compose", 0.4)
    store.close()

    reopened = JobStore(path)
    assert reopened.interrupted == 1
    assert reopened.get(finished.id).status == "done" and reopened.get(finished.id).result == {"version": "0001"}
    failed = reopened.get(cut_short.id)
    assert failed.status == "failed" and failed.error == INTERRUPTED and failed.finished is not None
    assert failed.error.startswith("interrupted")
    queued = reopened.get(waiting.id)
    assert queued.status == "queued" and queued.queue_position == 1  # still waits; runs when a worker starts
    assert reopened.project("abcdef123456")["prompt"] == "piano"
    assert [j.id for j in reopened.jobs()] == [waiting.id, cut_short.id, finished.id]


def test_updates_after_close_are_dropped_not_raised(tmp_path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    job = store.submit("p", "work", {})
    store.close()
    store.progress(job.id, "late", 1.0)  # a job thread that outlived shutdown must not crash
    store.finish(job.id, {})
    assert store.claim_next() is None


def test_damaged_store_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(MelodexError, match="damaged"):
        JobStore(path)


@pytest.mark.slow
def test_server_restart_keeps_projects_and_reports_interrupted_jobs(tiny_models, tmp_path) -> None:
    data = tmp_path / "data"
    options = ServerOptions(data_dir=data, cpu_threads=None)
    with TestClient(create_app(options), base_url="http://127.0.0.1") as client:
        made = client.post("/api/projects", json={"prompt": "solo piano, 100 BPM, 2 bars", "renderer": "soundfont",
                                                  "sample_rate": 16000}).json()
        deadline = time.monotonic() + 180
        while client.get(f"/api/jobs/{made['job']['id']}").json()["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.2)
    # a job that was running when the process died (the store says so, nothing finished it)
    store = JobStore(data / "jobs.sqlite3")
    stuck = store.submit(made["project"], "regen", {"section": None, "bars": "1:1"})
    store.claim_next()
    store.close()

    with TestClient(create_app(options), base_url="http://127.0.0.1") as client:
        projects = client.get("/api/projects").json()
        assert [(p["id"], p["state"]) for p in projects] == [(made["project"], "ready")]
        summary = client.get(f"/api/projects/{made['project']}").json()
        assert summary["current"] == "0001"
        job = client.get(f"/api/jobs/{stuck.id}").json()
        assert job["status"] == "failed" and job["error"].startswith("interrupted")
        assert client.get(f"/api/jobs/{made['job']['id']}").json()["result"]["version"] == "0001"
        audio = client.get(f"/api/projects/{made['project']}/versions/1/mix.wav")
        assert audio.status_code == 200 and len(audio.content) > 1000


def test_cancel_a_queued_job_and_a_running_one_before_it_writes(tmp_path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    started = threading.Event()
    wrote: list[str] = []

    def handler(job, progress):
        started.set()
        for step in range(1000):  # composing: cancellable at every report
            progress("compose", step / 1000)
            time.sleep(0.01)
        progress("write", 0.5)
        wrote.append(job.id)
        return {}

    running, queued = store.submit("p", "work", {}), store.submit("p", "work", {})
    worker = Worker(store, {"work": handler}, poll_seconds=0.01)
    worker.start()
    try:
        assert started.wait(10)
        assert worker.cancel(queued.id) and store.get(queued.id).status == "failed"
        assert worker.cancel(running.id)
        wait(lambda: store.get(running.id).status == "failed")
        assert store.get(running.id).error == store.get(queued.id).error == "cancelled"
        assert not worker.cancel(running.id)  # finished: nothing to cancel
    finally:
        assert worker.stop()
    assert wrote == []
