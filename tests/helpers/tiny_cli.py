"""The real `melodex` command in a subprocess, with the tests' tiny random-weight models (fast, offline).

    python tiny_cli.py ARGS...            one command, exactly as `melodex ARGS...` (exit status and output)
    python tiny_cli.py --batch CASES.json each argv list in the file, one after the other in this process;
                                          prints one JSON line per case: {"args", "code", "out", "err",
                                          "traceback", "seconds"}

A case "has a traceback" when an exception escapes `melodex.cli.main`, which in the real command prints one.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import write_tiny_weights
from melodex import pipeline


def use_tiny_models() -> None:
    """Run on the tiny models: the weights folder $MELODEX_WEIGHTS names (a test's, inherited), or one written
    for this process and the commands it starts, removed when it exits."""
    if os.environ.get(pipeline.WEIGHTS_ENV):
        return
    folder = Path(tempfile.mkdtemp(prefix="melodex-tiny-weights-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ[pipeline.WEIGHTS_ENV] = str(write_tiny_weights(folder))


def run(args: list[str]) -> dict:
    from melodex import cli

    out, err = io.StringIO(), io.StringIO()
    code, trace = 0, ""
    started = time.monotonic()
    sys.argv = ["melodex", *args]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            code, trace = 1, traceback.format_exc()
    return {"args": args, "code": code, "out": out.getvalue(), "err": err.getvalue(), "traceback": trace,
            "seconds": round(time.monotonic() - started, 3)}


def main() -> None:
    use_tiny_models()
    if sys.argv[1:2] == ["--batch"]:
        with open(sys.argv[2], encoding="utf-8") as handle:
            cases = json.load(handle)
        for args in cases:
            print(json.dumps(run(args), ensure_ascii=True), flush=True)
        return
    from melodex import cli

    sys.argv = ["melodex", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
