"""The committed dataset in data/corpus/: intact, as big as reported, and quick to load."""

from __future__ import annotations

import time

import pytest

from melodex.data.corpus import DEFAULT_CORPUS_DIR, load_corpus
from melodex.score import ROLES

pytestmark = pytest.mark.slow

# Floors just under the counts of the committed build (docs/DATASET.md has the exact numbers).
MIN_WORKS = 15_000
MIN_NOTES = 2_050_000
MIN_WORKS_PER_COLLECTION = {
    "essenFolksong": 8_000,
    "oneills1850": 1_900,
    "ryansMammoth": 1_000,
    "airdsAirs": 1_100,
    "palestrina": 1_250,
    "bach": 350,
    "monteverdi": 80,
    "trecento": 90,
    "hydrogen": 90,
    "lmms": 50,
}


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(DEFAULT_CORPUS_DIR)


def test_committed_counts_reach_the_reported_floors(corpus) -> None:
    manifest = corpus.manifest
    assert manifest["totals"]["works"] == len(corpus) >= MIN_WORKS
    assert manifest["totals"]["notes"] >= MIN_NOTES
    assert manifest["limit_per_collection"] is None
    for name, floor in MIN_WORKS_PER_COLLECTION.items():
        assert manifest["collections"][name]["works"] >= floor, name
    for name, stat in manifest["collections"].items():
        # failures are counted and explained, never silently dropped
        assert len(stat["first_errors"]) == min(stat["failures"], 5), name


def test_every_score_builds_quickly_and_matches_its_attributes(corpus) -> None:
    started = time.perf_counter()
    notes = 0
    for score, attributes, captions in corpus:
        notes += score.n_notes
        assert score.n_notes == attributes["n_notes"]
        assert score.n_bars == attributes["n_bars"]
        assert 4 <= len(captions) <= 6
        assert all(t.role in ROLES for t in score.tracks)
    seconds = time.perf_counter() - started
    assert notes == corpus.manifest["totals"]["notes"]
    assert seconds < 120, f"building every Score took {seconds:.0f} s"


def test_split_keeps_five_percent_of_works_for_validation(corpus) -> None:
    train, valid = corpus.split()
    assert len(valid) == round(0.05 * len(corpus))
    assert not set(train.ids) & set(valid.ids)
