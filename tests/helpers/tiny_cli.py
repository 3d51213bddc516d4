"""The real `melodex` command in a subprocess, with the tests' tiny random-weight models (fast, offline).

    python tiny_cli.py ARGS...            one command, exactly as `melodex ARGS...` (exit status and output)
    python tiny_cli.py --batch CASES.json each argv list in the file, one after the other in this process;
                                          prints one JSON line per case: {"args", "code", "out", "err",
                                          "traceback", "seconds"}

A case "has a traceback" when an exception escapes `melodex.cli.main`, which in the real command prints one.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
import traceback

import torch

from melodex import pipeline
from melodex.structure.model import StructureConfig, StructureModel


def use_tiny_models() -> None:
    torch.manual_seed(0)
    model = StructureModel(StructureConfig.tiny())
    model.eval()
    tiny = pipeline.Models(model, None, "tests run without a timbre model")
    pipeline.shipped = lambda: tiny  # type: ignore[assignment]


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
