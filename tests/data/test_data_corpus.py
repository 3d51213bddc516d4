"""The corpus dataset: a tiny real build round-trips through disk, splits by work, and refuses damage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("music21")

from melodex.data.build import BuildOptions, build_corpus
from melodex.data.corpus import CorpusError, load_corpus
from melodex.score import DRUM_PROGRAM, ROLES

TINY_COLLECTIONS = ("bach", "oneills1850", "nottingham-dataset", "palestrina", "hydrogen")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset built from one source file of each of a few collections (real music21 parsing)."""
    root = tmp_path_factory.mktemp("tiny-corpus")
    options = BuildOptions(
        out_dir=root / "corpus", cache_dir=root / "cache", jobs=1, limit=1, collections=TINY_COLLECTIONS
    )
    result = build_corpus(options)
    assert result.tasks_run > 0
    return options.out_dir


def test_tiny_build_counts_every_collection(tiny: Path) -> None:
    manifest = json.loads((tiny / "manifest.json").read_text())
    assert set(manifest["collections"]) == set(TINY_COLLECTIONS)
    for name, stat in manifest["collections"].items():
        assert stat["works"] >= 1, name
        assert stat["failures"] == 0, stat["first_errors"]
        assert stat["provenance"]["version"] and stat["licence"]
    corpus = load_corpus(tiny)
    assert len(corpus) == manifest["totals"]["works"]
    assert sum(w.score.n_notes for w in corpus) == manifest["totals"]["notes"]


def test_round_trip_matches_direct_conversion(tiny: Path) -> None:
    from music21 import corpus as m21corpus

    from melodex.data.convert import convert_music21

    corpus = load_corpus(tiny)
    index = next(i for i, work_id in enumerate(corpus.ids) if work_id.startswith("bach/"))
    score, attributes, captions = corpus[index]
    path = Path(m21corpus.getWork(attributes["source"].split("/", 1)[1], fileExtensions=(".mxl",)))
    direct = convert_music21(m21corpus.parse(str(path)), "bach").score
    assert len(score.tracks) == len(direct.tracks) >= 4
    for loaded, expected in zip(score.tracks, direct.tracks, strict=True):
        np.testing.assert_array_equal(loaded.notes, expected.notes)
        assert (loaded.program, loaded.role, loaded.name) == (expected.program, expected.role, expected.name)
    assert score.tempos == direct.tempos
    assert score.time_signatures == direct.time_signatures
    assert score.key == direct.key
    assert score.n_bars == direct.n_bars
    assert 4 <= len(captions) <= 6


def test_works_are_well_formed(tiny: Path) -> None:
    corpus = load_corpus(tiny)
    for score, attributes, captions in corpus:
        assert score.n_notes == attributes["n_notes"] > 0
        assert score.n_bars == attributes["n_bars"] > 0
        assert all(t.role in ROLES for t in score.tracks)
        assert 4 <= len(captions) <= 6 and len(set(captions)) == len(captions)
        assert str(round(attributes["tempo_bpm"])) in captions[0]
        if attributes["part_kind"] == "drum pattern":
            assert all(t.program == DRUM_PROGRAM for t in score.tracks)
            assert attributes["chords_source"] == "none"
        else:
            assert attributes["tonic"] in captions[0]
            assert attributes["chords_source"] in ("source", "estimated")
            # every pitched work carries a per-bar chord estimate
            assert corpus.estimated_chords(corpus.ids.index(attributes["id"]))
    sources = {a["chords_source"] for a in (corpus.attributes(i) for i in range(len(corpus)))}
    assert "source" in sources  # the Nottingham tunes carry chord symbols


def test_split_is_by_work_deterministic_and_disjoint(tiny: Path) -> None:
    corpus = load_corpus(tiny)
    train, valid = corpus.split(valid_fraction=0.2, seed=0)
    again_train, again_valid = load_corpus(tiny).split(valid_fraction=0.2, seed=0)
    assert train.ids == again_train.ids and valid.ids == again_valid.ids
    assert not set(train.ids) & set(valid.ids)
    assert sorted(train.ids + valid.ids) == sorted(corpus.ids)
    assert len(valid) == round(0.2 * len(corpus))
    other_train, _ = corpus.split(valid_fraction=0.2, seed=1)
    assert other_train.ids != train.ids
    # A subset builds the same Score as the full corpus does.
    first_valid = valid[0]
    full = corpus[corpus.ids.index(valid.ids[0])]
    np.testing.assert_array_equal(first_valid.score.tracks[0].notes, full.score.tracks[0].notes)


def test_damaged_file_is_a_clear_error(tiny: Path, tmp_path: Path) -> None:
    copy = tmp_path / "corpus"
    shutil.copytree(tiny, copy)
    notes = copy / "notes.npz"
    data = bytearray(notes.read_bytes())
    data[len(data) // 2] ^= 0xFF
    notes.write_bytes(bytes(data))
    with pytest.raises(CorpusError, match="damaged"):
        load_corpus(copy)


def test_unknown_version_is_a_clear_error(tiny: Path, tmp_path: Path) -> None:
    copy = tmp_path / "corpus"
    shutil.copytree(tiny, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["version"] = 99
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorpusError, match="version 99"):
        load_corpus(copy)
    with pytest.raises(CorpusError, match="no corpus"):
        load_corpus(tmp_path / "nowhere")


def test_cli_info_and_help(tiny: Path) -> None:
    from typer.testing import CliRunner

    from melodex.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["data", "info", "--path", str(tiny)])
    assert result.exit_code == 0, result.output
    assert "bach" in result.output and "total" in result.output
    help_text = runner.invoke(app, ["data", "build", "--help"]).output
    assert "--limit" in help_text and "picks up where it stopped" in " ".join(help_text.split())


def test_rebuild_from_cache_is_identical(tiny: Path, tmp_path: Path) -> None:
    """The second run parses nothing and writes byte-identical files (the resume path)."""
    options = BuildOptions(
        out_dir=tmp_path / "again", cache_dir=tiny.parent / "cache", jobs=1, limit=1, collections=TINY_COLLECTIONS
    )
    result = build_corpus(options)
    assert result.tasks_run == 0
    for name in ("works.jsonl.gz", "notes.npz"):
        assert (tmp_path / "again" / name).read_bytes() == (tiny / name).read_bytes()
