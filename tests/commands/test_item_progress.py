"""Commands over many items (batch, eval, sweep) draw the stages of the item being made with real fractions,
fed by the pipeline's stage callbacks as `melodex generate`'s bars are, under the bar over the items."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from melodex.cli import app
from melodex.commands.progress import item_bars

PROMPT = "calm piano with drums, 90 BPM, A minor, verse 1, chorus 1"


class Recorder:
    def __init__(self) -> None:
        self.fractions: dict[str, list[float]] = defaultdict(list)

    def __call__(self, stage: str, fraction: float) -> None:
        self.fractions[stage].append(fraction)

    def check(self, stages: tuple[str, ...]) -> None:
        assert tuple(self.fractions) == stages
        for stage, seen in self.fractions.items():
            assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen), (stage, seen)
        assert any(0.0 < f < 1.0 for f in self.fractions["render"]), self.fractions["render"]


def test_eval_reports_the_stages_of_each_prompt(tiny_models, tmp_path: Path, monkeypatch) -> None:
    from melodex.evaluate import listen

    monkeypatch.setattr(listen, "evaluate_take", lambda *args: {})  # the measures are not what is checked here
    recorder = Recorder()
    options = listen.EvalOptions(bars=2, renderer="soundfont", real=4, sample_rate=16000)
    listen.run_eval([PROMPT], tmp_path, options, stages=recorder)
    recorder.check(("compose", "timbres", "render"))


def test_sweep_reports_the_stages_of_each_cell(tiny_models) -> None:
    from melodex import pipeline
    from melodex.evaluate.sweep import render_cell

    recorder = Recorder()
    brief = pipeline.read_brief("bright piano, 120 BPM, C major, 1 bar", pipeline.GenerateOptions())
    render_cell(brief, None, 1.0, 2, 0, "social", recorder)
    recorder.check(("compose", "timbres", "render"))
    assert len(recorder.fractions["timbres"]) > 2  # the timbre model's steps, not only 0 and 1


def test_the_commands_pass_their_stage_bars_on(tmp_path: Path, monkeypatch) -> None:
    from melodex.evaluate import listen, report, sweep

    heard: dict[str, Any] = {}

    def run_eval(prompts: list[str], folder: Path, options: Any, progress: Any, **kwargs: Any) -> list:
        heard["eval"] = kwargs["stages"]
        return []

    def run_sweep(prompt: str, folder: Path, options: Any, progress: Any, stages: Any) -> list:
        heard["sweep"] = stages
        return []

    monkeypatch.setattr(listen, "run_eval", run_eval)
    monkeypatch.setattr(listen, "load_or_make_reference", lambda *args: {})
    monkeypatch.setattr(listen, "load_or_make_song_reference", lambda *args: {})
    monkeypatch.setattr(report, "write_report", lambda *args: {"errors": []})
    monkeypatch.setattr(report, "summary_markdown", lambda summary: [])
    monkeypatch.setattr(sweep, "run_sweep", run_sweep)
    monkeypatch.setattr(sweep, "write_sweep_report", lambda *args: [])
    monkeypatch.setattr(sweep, "sweep_table", lambda cells: [])
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"{PROMPT}\n")
    runner = CliRunner()
    assert runner.invoke(app, ["eval", "-o", str(tmp_path / "eval"), "--prompts", str(prompts)]).exit_code == 0
    assert runner.invoke(app, ["sweep", PROMPT, "-o", str(tmp_path / "sweep")]).exit_code == 0
    assert callable(heard["eval"]) and callable(heard["sweep"])


def test_item_bars_start_each_items_stages_afresh() -> None:
    with item_bars("tracks") as (items, stages):
        stages("compose", 0.5)
        items(1, 2, "x" * 60)  # a long description is cut, the finished item's stage bars go
        stages("compose", 0.2)  # the next item's bar starts again, never backwards from 0.5
        stages("render", 1.0)  # (drawn only on a terminal: here the calls must simply hold)


def test_sweep_says_it_renders_the_held_out_music_before_its_first_cell(tmp_path: Path, monkeypatch) -> None:
    from melodex.evaluate import sweep

    class Stop(Exception):
        pass

    def reference(folder: Path, n: int, bars: int | None, progress: Any) -> dict:
        progress(1, n)
        raise Stop

    heard: list[tuple[int, int, str]] = []
    monkeypatch.setattr(sweep, "load_or_make_reference", reference)
    with pytest.raises(Stop):
        sweep.run_sweep("bright piano, 120 BPM", tmp_path, sweep.SweepOptions(real=4), lambda *a: heard.append(a))
    assert heard == [(1, 4, "rendering held-out real music")]
