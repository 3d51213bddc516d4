"""kill -9 in the suite: real CLI edits (tiny models) killed inside the publish window by the fault-injection
hook and at a random moment, then history, the exports and the next edit must work and no temporary file may
remain after the next open; and two processes editing one project at once lose no version and print no
traceback. `python tests/helpers/robustness.py kills 100` / `pairs 20` run the same rounds for the targets."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from melodex import pipeline
from robustness import CRASH_POINTS, PROMPT, kill_round, pair_round


@pytest.fixture(scope="module")
def song(tiny_models_module, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("crash") / "song"
    pipeline.generate(PROMPT, folder, pipeline.GenerateOptions(seed=1, renderer="soundfont", sample_rate=16000))
    return folder


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_an_edit_killed_at_any_moment_leaves_an_editable_project(song, point) -> None:
    check_step = 1 if CRASH_POINTS.index(point) % 2 == 0 else -1  # as the script does: no drift to pitch 127
    result = kill_round(song, random.Random(7), point, check_step)
    assert result["killed"] or point is None, "the fault-injection point was not reached"
    assert not result["traceback"]
    assert result["history_ok"] and result["next_edit_ok"], result["next_edit_err"]
    assert result["leftovers"] == [], "temporary files remain after the next open"
    assert result["unreadable"] == []


def test_two_processes_editing_one_project_lose_no_version(song) -> None:
    rng = random.Random(3)
    for step in (1, -1):
        result = pair_round(song, rng, step)
        assert not result["traceback"], result["errors"]
        assert result["lost"] == [] and result["history_grew_by"] == len(result["made"])
        assert all(code == 0 for code in result["codes"]) or result["busy"], result["errors"]
