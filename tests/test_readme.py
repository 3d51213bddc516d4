"""The README's Python example runs as written (tiny random-weight models stand in for the shipped ones)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"

pytestmark = pytest.mark.slow


def test_python_example_runs(tiny_models, tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    printed = capsys.readouterr().out
    assert "compose 100%" in printed and "out/lofi/mix.wav" in printed
    from melodex.project import Project

    history = Project.open(tmp_path / "out/lofi/song.melodex").history
    assert [h["edit"] for h in history] == ["generate", "new chorus melody"]
    history = Project.open(tmp_path / "out/synthwave-api/song.melodex").history
    assert [h["edit"] for h in history] == ["generate", "regen chorus"]
