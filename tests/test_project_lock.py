"""One writer at a time: the project lock across processes and threads; readers never wait."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import melodex
import melodex.project_lock as project_lock
from melodex.errors import MelodexError
from melodex.project import Project
from melodex.project_files import ProjectBusy
from melodex.project_lock import writing

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from project_writer import make_version

WRITER = Path(__file__).parent / "helpers" / "project_writer.py"


def writer_env(**extra: str) -> dict[str, str]:
    src = str(Path(melodex.__file__).parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]), **extra}


def start_holder(project: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, str(WRITER), str(project), "hold", str(seconds)],
                              stdout=subprocess.PIPE, text=True, env=writer_env())
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


@pytest.fixture
def project(tmp_path) -> Project:
    return Project.create(tmp_path / "song", "p", {}, {}, first=make_version(0))


def test_a_second_process_waits_briefly_then_is_told_who_holds_the_project(project, monkeypatch) -> None:
    holder = start_holder(project.path, 30)
    try:
        started = time.monotonic()
        busy = rf"being edited by another melodex process \(pid {holder.pid}\)"
        with pytest.raises(ProjectBusy, match=busy), writing(project.path, wait=0.5):
            pass
        assert 0.4 < time.monotonic() - started < 5
        monkeypatch.setenv("MELODEX_LOCK_WAIT", "0.2")
        with pytest.raises(ProjectBusy, match=busy):
            project.save_version(make_version(1, parent="0001"))
        # readers never block, and the refused edit changed nothing
        reopened = Project.open(project.path)
        assert reopened.version_ids() == ["0001"]
        assert sorted(p.name for p in (project.path / "versions").iterdir()) == ["0001"]
    finally:
        holder.kill()
        holder.wait()


def test_a_second_process_says_once_that_it_waits_and_is_served_when_the_first_finishes(project) -> None:
    holder = start_holder(project.path, 60)
    waiter = subprocess.Popen([sys.executable, str(WRITER), str(project.path), "save", "1"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=writer_env(MELODEX_LOCK_WAIT="60"))
    try:
        assert waiter.stderr is not None
        said = waiter.stderr.readline()  # blocks until the waiter has found the lock held
        holder.kill()  # the first writer ends (a killed holder releases the lock, like one that finishes)
        _, rest = waiter.communicate(timeout=60)
    finally:
        for process in (holder, waiter):
            process.kill()
            process.wait()
    assert waiter.returncode == 0, said + rest
    assert said.startswith("waiting up to 60 s for the other melodex process") and "MELODEX_LOCK_WAIT" in said, said
    assert f"(pid {holder.pid})" in said and "waiting" not in rest, said + rest
    assert Project.open(project.path).version_ids() == ["0001", "0002"]


def test_the_wait_defaults_to_long_enough_for_a_loaded_machine_and_a_bad_setting_is_refused(monkeypatch) -> None:
    monkeypatch.delenv("MELODEX_LOCK_WAIT", raising=False)
    assert project_lock.lock_wait() >= 30
    monkeypatch.setenv("MELODEX_LOCK_WAIT", "2.5")
    assert project_lock.lock_wait() == 2.5
    for bad in ("soon", "-1", "nan", "inf"):
        monkeypatch.setenv("MELODEX_LOCK_WAIT", bad)
        with pytest.raises(MelodexError, match=f"MELODEX_LOCK_WAIT='{bad}'"):
            project_lock.lock_wait()


def test_a_killed_holder_releases_the_lock(project) -> None:
    holder = start_holder(project.path, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with writing(project.path, wait=2):
        pass
    assert project.save_version(make_version(1, parent="0001")) == "0002"


def test_threads_take_turns_and_the_lock_is_reentrant(project) -> None:
    order: list[str] = []

    def other() -> None:
        with writing(project.path, wait=10):
            order.append("other")

    with writing(project.path), writing(project.path):  # re-entrant in one thread
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        order.append("first")
    thread.join(5)
    assert order == ["first", "other"]


def test_two_processes_saving_at_once_lose_no_version(project) -> None:
    env = writer_env(MELODEX_LOCK_WAIT="60")
    writers = [subprocess.Popen([sys.executable, str(WRITER), str(project.path), "save", "3"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [w.communicate(timeout=120) for w in writers]
    assert [w.returncode for w in writers] == [0, 0], results
    assert not any("Traceback" in err for _, err in results)
    reopened = Project.open(project.path)
    assert reopened.version_ids() == [f"{i:04d}" for i in range(1, 8)]
    assert sorted(p.name for p in (project.path / "versions").iterdir()) == reopened.version_ids()
    for version in reopened.version_ids():
        reopened.load_version(version)  # every one complete, checksums hold


def test_a_checkout_that_read_the_project_before_an_edit_keeps_that_edit(project) -> None:
    stale = Project.open(project.path)  # read before the edit below
    Project.open(project.path).save_version(make_version(1, parent="0001"))
    stale.checkout("1")
    reopened = Project.open(project.path)
    assert reopened.version_ids() == ["0001", "0002"] and reopened.current == "0001"


def test_the_lock_file_goes_when_the_writer_finishes_and_a_killed_writers_is_taken_over(project) -> None:
    """A finished writer leaves only the project: the lock file (and the .writer pid file of earlier
    versions) stayed beside the mix, in the folder a producer drags into a DAW."""
    lock = project_lock.lock_path(project.path)
    legacy = lock.with_name(".song.melodex.writer")
    legacy.write_text("12345\n")
    with writing(project.path), writing(project.path):
        assert lock.read_text().strip() == str(os.getpid())  # the holder's pid is in the lock file itself
    assert sorted(p.name for p in project.path.parent.iterdir()) == ["song.melodex"]
    holder = start_holder(project.path, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert lock.read_text().strip() == str(holder.pid)  # a killed holder leaves its file ...
    assert project.save_version(make_version(1, parent="0001")) == "0002"  # ... which the next writer takes
    assert sorted(p.name for p in project.path.parent.iterdir()) == ["song.melodex"]


def test_removing_the_lock_file_on_release_never_lets_two_writers_in(project) -> None:
    """A waiter can lock the file its holder has just removed; it must open the name again, or two hold it."""
    counter = project.path.parent / "counter"
    counter.write_text("0")
    inside: list[int] = []

    def bump() -> None:
        for _ in range(40):
            with writing(project.path, wait=30):
                inside.append(1)
                assert len(inside) == 1, "two writers at once"
                counter.write_text(str(int(counter.read_text()) + 1))
                inside.pop()

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert counter.read_text() == "160"
    assert not project_lock.lock_path(project.path).exists()
