"""Committed project files: one written by an earlier Melodex (format 1) opens, plays and takes edits without
losing a byte of its history; damaged ones (tests/fixtures/hostile) are each one clear error naming the file and the
problem, and leave the project as it was. Every test works on a copy: the committed files are never opened."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import tiny_pipeline
from melodex import edit
from melodex.project import Project
from melodex.project_files import PROJECT_VERSION, ProjectError

DATA = Path(__file__).parent / "fixtures"
FORMAT_1 = DATA / "projects" / "format-1" / "song.melodex"
HOSTILE = DATA / "hostile"


def tree(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under `folder` (the write lock's own files aside: they are not the project)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith((".lock", ".writer"))}


@pytest.fixture
def old(tmp_path) -> Path:
    shutil.copytree(FORMAT_1, tmp_path / "out" / "song.melodex")
    return tmp_path / "out" / "song.melodex"


def test_a_format_1_project_opens_and_plays_as_it_was_made(old) -> None:
    before = tree(old)
    project = Project.open(old)
    assert project.meta["format"] == 1
    assert [(h["id"], h["parent"], h["edit"]) for h in project.history] == [
        ("0001", None, "generate"), ("0002", "0001", "set tempo 200 BPM")]
    assert project.current == "0002"
    for version, bpm in (("0001", 240), ("0002", 200)):
        session = edit.open_session(old, version)
        assert session.score.bpm == bpm and session.score.bar_count() == 1
        assert session.take.sample_rate == 8000 and set(session.take.stems) == {0}
        mix, rate = sf.read(old / "versions" / version / "mix.flac", dtype="float32")
        assert rate == 8000
        np.testing.assert_array_equal(session.take.mix, mix)
        assert {int(n[2]) for n in session.score.tracks[0].notes} == {60}
    assert tree(old) == before  # reading an old project writes nothing


def test_edits_on_a_format_1_project_add_format_2_versions_and_lose_nothing(old) -> None:
    before = tree(old / "versions")
    v3 = edit.apply(old, edit.Transpose(2))  # re-renders with new sample-set notes; no model needed
    with edit.editing(old) as session:
        session.pipe = tiny_pipeline()
        v4 = edit.apply(session, edit.Regen(bars="1", seed=3))
    with edit.editing(old, "0001") as session:
        v5 = edit.check_out(session)
    project = Project.open(old)
    assert project.meta["format"] == PROJECT_VERSION
    assert [(h["id"], h["parent"]) for h in project.history] == [
        ("0001", None), ("0002", "0001"), (v3, "0002"), (v4, v3)]
    assert v5 == "0001" and project.current == "0001"
    assert {k: v for k, v in tree(old / "versions").items() if k.startswith(("0001/", "0002/"))} == before
    assert project.history[2]["request"] == {"edit": "transpose", "semitones": 2}
    assert {int(n[2]) for n in edit.open_session(old, v3).score.tracks[0].notes} == {62}
    np.testing.assert_array_equal(edit.open_session(old, "0002").take.mix,
                                  sf.read(FORMAT_1 / "versions" / "0002" / "mix.flac", dtype="float32")[0])
    exported, _ = sf.read(old.parent / "mix.wav", dtype="float32")  # the checkout re-exported version 0001
    assert len(exported) == len(edit.open_session(old, "0001").take.mix)


# What each damaged file's error names, besides the file.
DAMAGED_PROJECT = {
    "brief-wrong-shape": "its brief: brief version None",
    "current-is-a-number": "current: Input should be a valid string",
    "current-not-listed": "the current version 0007 is not in the history",
    "deep-dict": "nested too deeply",
    "deep-nesting": "nested too deeply",
    "empty": "Expecting value",
    "format-99": "has project format 99; this Melodex reads formats 1, 2: upgrade Melodex",
    "format-is-text": "format: Input should be a valid integer",
    "history-is-a-dict": "history: Input should be a valid list",
    "list": "the top level: Input should be a valid dictionary",
    "missing-history": "history: Field required",
    "not-utf8": "not UTF-8 text at byte 25",
    "null": "the top level: Input should be a valid dictionary",
    "parent-not-listed": "a version's parent is not listed before it",
    "prompt-is-a-list": "prompt: Input should be a valid string",
    "truncated": "Expecting ',' delimiter",
    "unicode-digit-id": "current: String should match pattern",
    "unknown-key": "surprise: Extra inputs are not permitted",
}
DAMAGED_VERSION = {
    "checksums-absolute": "'/etc/passwd' is not a file a version holds",
    "checksums-traversal": "'../../../../etc/passwd' is not a file a version holds",
    "deep-nesting": "nested too deeply",
    "not-utf8": "not UTF-8 text at byte 0",
    "null": "the top level: Input should be a valid dictionary",
    "options-not-a-table": "its options are not a table",
    "options-unknown": "unexpected keyword argument 'warp_drive'",
    "sample-rate-zero": "sample_rate: Input should be greater than or equal to 1000",
    "timbres-bad-key": "timbre keys are track numbers, not '../x'",
    "unknown-key": "surprise: Extra inputs are not permitted",
}
DAMAGED_AUDIO = {
    "missing-stem": "stems/0.flac",
    "flipped-byte": "mix.flac",
}


def test_every_committed_damage_has_its_expected_message() -> None:
    assert set(DAMAGED_PROJECT) == {p.stem for p in (HOSTILE / "project").iterdir()}
    assert set(DAMAGED_VERSION) == {p.stem for p in (HOSTILE / "version").glob("*.json")}


def one_version(old: Path) -> Path:
    """The old project cut to version 0001, as the damaged project.json files (which list only it) describe."""
    shutil.rmtree(old / "versions" / "0002")
    meta = json.loads((old / "project.json").read_text())
    meta["history"], meta["current"] = meta["history"][:1], "0001"
    (old / "project.json").write_text(json.dumps(meta))
    return old


@pytest.mark.parametrize(("kind", "damage", "expected"),
                         [("project", k, v) for k, v in DAMAGED_PROJECT.items()]
                         + [("version", k, v) for k, v in DAMAGED_VERSION.items()]
                         + [("audio", k, v) for k, v in DAMAGED_AUDIO.items()],
                         ids=lambda x: x if x in ("project", "version", "audio") or x in DAMAGED_AUDIO
                         or x in DAMAGED_PROJECT or x in DAMAGED_VERSION else "")
def test_a_damaged_project_is_one_clear_error_and_stays_as_it_was(old, kind, damage, expected) -> None:
    old = one_version(old)
    version = old / "versions" / "0001"
    if kind == "project":
        shutil.copyfile(HOSTILE / "project" / f"{damage}.json", old / "project.json")
        named = old if damage == "format-99" else old / "project.json"  # a format is the project's, not a file's
    elif kind == "version":
        source = HOSTILE / "version" / f"{damage}.json"
        if damage.startswith(("checksums-", "sample-", "timbres-", "options-", "unknown-")):  # see its README
            record, patch = json.loads((version / "version.json").read_text()), json.loads(source.read_text())
            record["settings"] = {**record["settings"], **patch.pop("settings", {})}
            (version / "version.json").write_text(json.dumps({**record, **patch}))
        else:
            shutil.copyfile(source, version / "version.json")
        named = version / "version.json"
    elif damage == "missing-stem":
        (version / "stems" / "0.flac").unlink()
        named = version
    else:
        data = bytearray((version / "mix.flac").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (version / "mix.flac").write_bytes(bytes(data))
        named = version
    before = tree(old)
    with pytest.raises(ProjectError) as caught:
        edit.apply(old, edit.SetTempo(120))
    message = str(caught.value)
    assert str(named) in message and expected in message, message
    assert tree(old) == before
