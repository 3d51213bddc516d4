"""Project files: versions round-trip, edits never overwrite, damage and unknown formats are clear errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import soundfile as sf

from melodex.project import Project, TrackTimbre, Version
from melodex.project_audio import BLOCK_FRAMES
from melodex.project_files import PROJECT_VERSION, ProjectError
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


def _own_files(folder) -> set[str]:
    """The files of a version folder no other version links to."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.stat().st_nlink == 1}


def test_edits_make_new_versions_and_share_unchanged_files(tmp_path) -> None:
    project = Project.create(tmp_path / "song", "p", {}, {})
    v1 = project.save_version(make_version(0))
    edited = make_version(0, parent=v1)
    edited.stems[1] = edited.stems[1][::-1].copy()
    edited.edit = "regen track 1"
    v2 = project.save_version(edited)
    assert project.version_ids() == ["0001", "0002"] and project.current == v2
    record = json.loads((project.path / "versions" / v2 / "version.json").read_text())
    own = _own_files(project.path / "versions" / v2)
    assert {f"audio/{b}.flac" for b in record["audio"]["stems/1.flac"]} <= own
    assert not {f"audio/{b}.flac" for b in record["audio"]["stems/0.flac"]} & own  # linked from 0001
    project.checkout("1")
    assert Project.open(project.path).current == "0001"
    np.testing.assert_array_equal(project.load_version("0001").stems[1], project.load_version().stems[1])


def long_version(stem: np.ndarray, parent: str | None = None) -> Version:
    version = make_version(0, parent)
    version.stems = {0: stem, 1: stem * 0.5}
    version.mix = stem * 0.25
    return version


def test_an_edit_of_a_few_bars_stores_only_the_blocks_it_changed(tmp_path) -> None:
    rng = np.random.default_rng(3)
    stem = (rng.standard_normal((4 * BLOCK_FRAMES, 2)) * 0.1).astype(np.float32)
    project = Project.create(tmp_path / "song", "p", {}, {})
    v1 = project.save_version(long_version(stem))
    edited = stem.copy()
    edited[BLOCK_FRAMES + 10: BLOCK_FRAMES + 500] *= 0.5  # a short change inside the second block
    v2 = project.save_version(long_version(edited, v1))
    own = _own_files(project.path / "versions" / v2)
    assert sorted(own) == sorted({"version.json", "events.npy"} | {
        f"audio/{b}.flac" for name, blocks in
        json.loads((project.path / "versions" / v2 / "version.json").read_text())["audio"].items()
        for b in blocks[1:2]})  # the second block of each of the 3 signals, nothing else
    assert len(own) == 2 + 3
    loaded = project.load_version(v2)
    np.testing.assert_allclose(loaded.stems[0], edited, atol=1e-6)
    np.testing.assert_allclose(loaded.mix, edited * 0.25, atol=1e-6)


def test_prune_drops_old_audio_keeps_recipes_and_never_touches_the_current_version(tmp_path) -> None:
    rng = np.random.default_rng(4)
    stem = (rng.standard_normal((2 * BLOCK_FRAMES, 2)) * 0.1).astype(np.float32)
    project = Project.create(tmp_path / "song", "p", {}, {})
    v1 = project.save_version(long_version(stem))
    v2 = project.save_version(long_version(stem[::-1].copy(), v1))
    v3 = project.save_version(long_version(stem, v2))  # the same audio as v1: shares every block with it
    current = project.path / "versions" / v3
    before = {p: p.read_bytes() for p in current.rglob("*") if p.is_file()}
    v2_size = sum(p.stat().st_size for p in (project.path / "versions" / v2 / "audio").iterdir())
    pruned, freed = project.prune()
    assert pruned == [v1, v2] and freed == v2_size  # v1's blocks live on in v3
    assert {p: p.read_bytes() for p in current.rglob("*") if p.is_file()} == before
    old = project.load_version(v1)
    assert old.pruned and old.stems == {} and len(old.mix) == 0
    assert old.events.shape == (2, 13) and 0 in old.samplesets  # the recipe stays
    assert not list((project.path / "versions" / v1 / "audio").iterdir())
    assert project.prune() == ([], 0)
    project.restore_audio(v1, {0: stem, 1: stem * 0.5}, stem * 0.25)
    restored = Project.open(project.path).load_version(v1)
    assert not restored.pruned
    np.testing.assert_allclose(restored.stems[1], stem * 0.5, atol=1e-6)
    assert project.current == v3


def test_a_format_1_project_with_whole_stem_files_is_read_and_edited(tmp_path) -> None:
    project = Project.create(tmp_path / "song", "p", {}, {})
    v1 = project.save_version(make_version(0))
    folder = project.path / "versions" / v1
    record = json.loads((folder / "version.json").read_text())
    for name, blocks in record.pop("audio").items():  # back to the format 1 layout: one file per signal
        audio = np.concatenate([sf.read(folder / "audio" / f"{b}.flac", dtype="float32")[0] for b in blocks])
        sf.write(folder / name, audio, 8000, format="FLAC", subtype="PCM_24")
        record["checksums"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    for block in (folder / "audio").iterdir():
        record["checksums"].pop(f"audio/{block.name}")
        block.unlink()
    (folder / "audio").rmdir()
    (folder / "version.json").write_text(json.dumps(record))
    meta = json.loads((project.path / "project.json").read_text())
    (project.path / "project.json").write_text(json.dumps({**meta, "format": 1}))
    old = Project.open(project.path)
    np.testing.assert_allclose(old.load_version().stems[0], make_version(0).stems[0], atol=1e-5)
    edited = make_version(0, parent=v1)
    v2 = old.save_version(edited, unchanged={"stems/0.flac"})
    assert (old.path / "versions" / v2 / "stems" / "0.flac").stat().st_nlink == 2  # the whole file, linked
    assert json.loads((old.path / "project.json").read_text())["format"] == PROJECT_VERSION
    np.testing.assert_allclose(Project.open(old.path).load_version(v2).stems[1], edited.stems[1], atol=1e-5 * 2)
    own = sum(p.stat().st_size for p in [folder / "mix.flac", folder / "stems" / "1.flac"])  # stem 0 is shared
    assert old.prune() == ([v1], own)


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
    block = next((project.path / "versions" / "0001" / "audio").iterdir())
    block.write_bytes(block.read_bytes()[:-10])
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
