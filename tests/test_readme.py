"""The README's Python examples run as written: the three lines with the shipped weights (the promise is that
they make a track), the longer example with tiny random-weight models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import soundfile as sf

from melodex.project import Project

README = Path(__file__).parents[1] / "README.md"

pytestmark = pytest.mark.slow


def python_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 2, "the README's Python examples: the three lines, then the longer one"
    return blocks


def run(block: str) -> dict:
    names: dict = {}
    exec(compile(block, str(README), "exec"), names)
    return names


def test_three_lines_make_a_track_with_the_shipped_weights(tmp_path, monkeypatch) -> None:
    block = python_blocks()[0]
    assert len(block.strip().splitlines()) == 3
    monkeypatch.chdir(tmp_path)
    song = run(block)["song"]
    assert song.notes == ()  # nothing fell back: the shipped structure and timbre models made it
    assert {t.renderer for i, t in song.take.timbres.items() if not song.score.tracks[i].is_drum} == {"timbre"}
    folder = tmp_path / "out/synthwave-api"
    assert [h["edit"] for h in Project.open(folder / "song.melodex").history] == ["generate", "regen chorus"]
    mix, rate = sf.read(folder / "mix.wav")
    assert 20 * 4 * 60 / 100 <= len(mix) / rate < 20 * 4 * 60 / 100 + 10  # 20 bars of 4/4 at 100 BPM, and a tail
    stems = [p.name for p in (folder / "stems").iterdir() if not p.stem.endswith("-reverb")]  # and the reverb return
    assert len(stems) == len(song.score.tracks)


def test_the_longer_example_runs(tiny_models, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    run(python_blocks()[1])
    printed = capsys.readouterr().out
    assert "compose 100%" in printed and "out/lofi/mix.wav" in printed
    history = Project.open(tmp_path / "out/lofi/song.melodex").history
    assert [h["edit"] for h in history] == ["generate", "new chorus melody"]
