"""Project files: versions round-trip, edits never overwrite, damage and unknown formats are clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from melodex.project import Project, ProjectError, TrackTimbre, Version
from melodex.timbre.sampleset import NoteSample, SampleSet


def make_version(seed: int = 0, parent: str | None = None) -> Version:
    rng = np.random.default_rng(seed)
    note = NoteSample(audio=rng.standard_normal(2000).astype(np.float32) * 0.1, loop_start=500, loop_end=900,
                      release_start=1500, sustain_level=0.5, release_s=0.01,
                      initial_noise=np.ones(8, np.float32), latent=np.zeros(8, np.float32))
    sampleset = SampleSet(program=0, is_drum=False, sample_rate=8000, notes={(60, 80): note})
    stems = {0: (rng.standard_normal((8000, 2)) * 0.1).astype(np.float32),
             1: (rng.standard_normal((8000, 2)) * 1.5).astype(np.float32)}  # louder than full scale
    return Version(events=np.arange(26, dtype=np.int32).reshape(2, 13), timbres={0: TrackTimbre("warm", "timbre", 7)},
                   samplesets={0: sampleset}, stems=stems, mix=stems[0] * 0.5, sample_rate=8000,
                   settings={"seed": seed}, edit="generate", parent=parent)


def test_versions_round_trip(tmp_path) -> None:
    project = Project.create(tmp_path / "song", "a prompt", {"bpm": 100}, {"structure": {"sha256": "x"}})
    assert project.path.name == "song.melodex"
    first = make_version()
    v1 = project.save_version(first)
    loaded = Project.open(tmp_path / "song").load_version()
    assert loaded.id == v1 == "0001"
    np.testing.assert_array_equal(loaded.events, first.events)
    assert loaded.timbres == first.timbres
    for track, stem in first.stems.items():
        np.testing.assert_allclose(loaded.stems[track], stem, atol=1e-5 * max(1.0, np.abs(stem).max()))
    note = loaded.samplesets[0].notes[(60, 80)]
    np.testing.assert_array_equal(note.initial_noise, np.ones(8))


def test_edits_make_new_versions_and_share_unchanged_files(tmp_path) -> None:
    project = Project.create(tmp_path / "song", "p", {}, {})
    v1 = project.save_version(make_version(0))
    edited = make_version(0, parent=v1)
    edited.stems[1] = edited.stems[1][::-1].copy()
    edited.edit = "regen track 1"
    v2 = project.save_version(edited)
    assert project.version_ids() == ["0001", "0002"] and project.current == v2
    unchanged = project.path / "versions" / v2 / "stems" / "0.flac"
    changed = project.path / "versions" / v2 / "stems" / "1.flac"
    assert unchanged.stat().st_nlink == 2 and changed.stat().st_nlink == 1
    project.checkout("1")
    assert Project.open(project.path).current == "0001"
    np.testing.assert_array_equal(project.load_version("0001").stems[1], project.load_version().stems[1])


def test_failed_write_leaves_project_untouched(tmp_path, monkeypatch) -> None:
    project = Project.create(tmp_path / "song", "p", {}, {})
    project.save_version(make_version(0))
    before = (project.path / "project.json").read_text()

    def broken_write(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing audio

    monkeypatch.setattr(sf, "write", broken_write)
    with pytest.raises(KeyboardInterrupt):
        project.save_version(make_version(1, parent="0001"))
    assert (project.path / "project.json").read_text() == before
    assert sorted(p.name for p in (project.path / "versions").iterdir()) == ["0001"]


def test_damage_and_unknown_versions_are_clear(tmp_path) -> None:
    project = Project.create(tmp_path / "song", "p", {}, {})
    project.save_version(make_version(0))
    stem = project.path / "versions" / "0001" / "stems" / "0.flac"
    stem.write_bytes(stem.read_bytes()[:-10])
    with pytest.raises(ProjectError, match="damaged"):
        project.load_version()
    with pytest.raises(ProjectError, match="no version"):
        project.resolve("7")
    meta = json.loads((project.path / "project.json").read_text())
    (project.path / "project.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(ProjectError, match="format 99"):
        Project.open(project.path)
    (project.path / "project.json").write_text("{not json")
    with pytest.raises(ProjectError, match="damaged"):
        Project.open(project.path)
    with pytest.raises(ProjectError, match="not a Melodex project"):
        Project.open(tmp_path / "nowhere")
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(project.path, "p", {}, {})
