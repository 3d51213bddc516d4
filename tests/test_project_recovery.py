"""Recovery on open: what a killed writer leaves (an unlisted version, temporary folders and files, a project
with no versions) is put right the next time the project is opened, and the next edit works."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from melodex.errors import MelodexError
from melodex.export import write_audio
from melodex.files import TEMP_SUFFIX
from melodex.project import ASIDE, Project

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from project_writer import make_version
from test_project_lock import WRITER, writer_env


def run_writer(project: Path, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = writer_env(**({"MELODEX_KILL_AT": kill_at} if kill_at else {}))
    return subprocess.run([sys.executable, str(WRITER), str(project), *args], env=env, capture_output=True,
                          text=True, timeout=120)


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*") if not p.name.endswith((".lock", ".writer")))


@pytest.fixture
def project(tmp_path) -> Project:
    return Project.create(tmp_path / "song", "p", {}, {}, first=make_version(0))


def test_killed_after_the_publishing_rename_the_version_is_adopted(project) -> None:
    killed = run_writer(project.path, "save", "1", kill_at="version-published")
    assert killed.returncode == -9
    assert json.loads((project.path / "project.json").read_text())["history"][-1]["id"] == "0001"
    reopened = Project.open(project.path)
    assert reopened.version_ids() == ["0001", "0002"] and reopened.current == "0002"
    assert any("0002" in note for note in reopened.recovered)
    reopened.load_version("0002")
    assert reopened.save_version(make_version(5, parent="0002")) == "0003"


def test_killed_before_the_rename_the_temporary_folder_is_removed(project) -> None:
    killed = run_writer(project.path, "save", "1", kill_at="version-written")
    assert killed.returncode == -9
    assert leftovers(project.path)  # the hidden folder of the version being written
    reopened = Project.open(project.path)
    assert leftovers(project.path) == []
    assert reopened.version_ids() == ["0001"] and reopened.recovered
    assert reopened.save_version(make_version(5, parent="0001")) == "0002"


def test_an_incomplete_unlisted_version_is_moved_aside_and_its_id_not_reused(project) -> None:
    orphan = project.path / "versions" / "0002"
    shutil.copytree(project.path / "versions" / "0001", orphan)
    record = json.loads((orphan / "version.json").read_text())
    (orphan / "version.json").write_text(json.dumps({**record, "id": "0002", "parent": "0001"}))
    (orphan / "audio" / f"{record['audio']['mix.flac'][0]}.flac").write_bytes(b"half a file")  # a copy, not a link
    reopened = Project.open(project.path)
    assert reopened.version_ids() == ["0001"]
    assert (project.path / ASIDE / "0002" / "version.json").is_file()
    assert "incomplete" in reopened.recovered[0]
    assert reopened.save_version(make_version(5, parent="0001")) == "0002"


def test_a_killed_create_leaves_nothing_and_generate_can_write_there_again(tmp_path) -> None:
    target = tmp_path / "out" / "song.melodex"
    killed = run_writer(target, "create", kill_at="version-written")
    assert killed.returncode == -9 and not target.exists()
    assert [p for p in (tmp_path / "out").iterdir() if p.is_dir()]  # the hidden folder it was writing
    created = Project.create(target, "p", {}, {}, first=make_version(0))
    assert created.version_ids() == ["0001"]
    assert [p.name for p in (tmp_path / "out").iterdir() if p.is_dir()] == ["song.melodex"]


def test_a_project_left_without_versions_can_be_generated_into_again(tmp_path) -> None:
    empty = Project.create(tmp_path / "song", "p", {}, {})  # what an older Melodex left when killed
    Project.check_new(empty.path)  # no error: nothing to lose
    again = Project.create(empty.path, "p2", {}, {}, first=make_version(1))
    assert Project.open(again.path).meta["prompt"] == "p2"
    with pytest.raises(MelodexError, match="already holds a project"):
        Project.check_new(again.path)


def test_export_temporaries_are_removed_on_open_and_exports_replace_links(project, tmp_path) -> None:
    out = project.path.parent
    stray = out / f".mix.wav.1234abcd{TEMP_SUFFIX}"
    stray.write_bytes(b"x" * 1000)
    (out / "stems").mkdir()
    (out / "stems" / f".00-melody.wav.00000000{TEMP_SUFFIX}").write_bytes(b"x")
    Project.open(project.path)
    assert not stray.exists() and not list((out / "stems").iterdir())
    outside = tmp_path / "outside.wav"
    outside.write_bytes(b"keep me")
    (out / "mix.wav").symlink_to(outside)
    write_audio(out / "mix.wav", np.zeros((100, 2), np.float32), 8000)
    assert outside.read_bytes() == b"keep me" and not (out / "mix.wav").is_symlink()


def test_exports_do_not_write_through_a_stems_link_out_of_the_folder(tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "stems").symlink_to(elsewhere)
    from melodex.files import output_dir

    with pytest.raises(MelodexError, match="does not write through it"):
        output_dir(out / "stems", inside=out)
    with pytest.raises(MelodexError, match="is a file, not a folder"):
        output_dir(Path("/dev/null"))
