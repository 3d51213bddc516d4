"""A script run through `run_script` exits with main's status, and bad input is one line, not a traceback."""

from __future__ import annotations

import pytest

from melodex.errors import MelodexError, run_script


def test_a_script_exits_with_its_status_and_a_failure_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        run_script(lambda: 0)
    assert done.value.code == 0

    def bad() -> int:
        raise MelodexError("--works needs at least 2")

    with pytest.raises(SystemExit) as failed:
        run_script(bad)
    assert failed.value.code == 2
    assert capsys.readouterr().err == "error: --works needs at least 2\n"
