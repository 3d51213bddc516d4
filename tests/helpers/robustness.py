"""Crash and concurrency probes of the real CLI (tiny models): kill -9 at random moments and at the commit's
crash points, and two processes editing one project at once. The tests run a few rounds; run it as a script
for the measured targets (docs/RESULTS.md):

    python tests/helpers/robustness.py kills 100     # edits killed; then history, export, next edit
    python tests/helpers/robustness.py pairs 20      # two edits (or an edit and a checkout) at once
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

HELPERS = Path(__file__).parent
TINY_CLI = HELPERS / "tiny_cli.py"
PROMPT = "lo-fi piano, bass and drums, 100 BPM, C minor, intro 1 bar, verse 2 bars, chorus 2 bars"
EDITS = [["regen", "{p}", "chorus"], ["retimbre", "{p}", "1", "brighter"], ["transpose", "{p}", "{step}"],
         ["set-tempo", "{p}", "110"], ["variation", "{p}", "--strength", "0.5"], ["checkout", "{p}", "1"]]
CRASH_POINTS = ["version-written", "version-published", None]  # None: a random moment


def env(**extra: str) -> dict[str, str]:
    import melodex

    src = str(Path(melodex.__file__).parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
            "COLUMNS": "200", **extra}


def make_project(folder: Path) -> Path:
    sys.path.insert(0, str(HELPERS))
    from melodex import pipeline
    from tiny_cli import use_tiny_models

    use_tiny_models()
    pipeline.generate(PROMPT, folder, pipeline.GenerateOptions(seed=1, renderer="soundfont", sample_rate=16000))
    return folder


def edit_args(edit: list[str], folder: Path, step: int) -> list[str]:
    """One of EDITS for `folder`; a transpose moves by `step` (callers alternate its sign: always up reaches
    MIDI pitch 127 after a few dozen edits, and a refused transpose there would read as a broken project)."""
    return [a.replace("{p}", str(folder)).replace("{step}", str(step)) for a in edit]


def cli(args: list[str], **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(TINY_CLI), *args], env=env(**extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def batch(cases: list[list[str]]) -> list[dict]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(cases, handle)
    try:
        done = subprocess.run([sys.executable, str(TINY_CLI), "--batch", handle.name], env=env(),
                              capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(handle.name)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def leftovers(folder: Path) -> list[str]:
    """Temporary files and folders anywhere in the output folder (the lock's own files excepted)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*")
                  if not p.name.endswith((".lock", ".writer")))


def unreadable_exports(folder: Path) -> list[str]:
    bad = []
    for wav in [folder / "mix.wav", *sorted((folder / "stems").glob("*.wav"))]:
        try:
            sf.info(str(wav))
        except Exception:
            bad.append(wav.name)
    return bad


def kill_round(folder: Path, rng: random.Random, point: str | None, check_step: int = 1) -> dict:
    """One edit killed (at `point`, or after a random delay); then history, the next edit (`transpose
    check_step`), and the files. Callers alternate the step's sign (see `edit_args`); a transpose killed in
    the round goes the other way, so the two cancel when both land."""
    edit = edit_args(rng.choice(EDITS if point is None else EDITS[:5]), folder, -check_step)
    process = cli(edit, **({"MELODEX_KILL_AT": point} if point else {}))
    if point is None:
        time.sleep(rng.uniform(0.5, 6.0))
        process.kill()
    _, err = process.communicate(timeout=600)
    killed = process.returncode == -9
    after = batch([["history", str(folder)], ["transpose", str(folder), str(check_step)]])
    history, next_edit = after if len(after) == 2 else ({}, {})
    return {"edit": edit[0], "point": point or "random", "killed": killed, "check_step": check_step,
            "traceback": "Traceback" in err or any(r.get("traceback") for r in after),
            "history_ok": history.get("code") == 0, "next_edit_ok": next_edit.get("code") == 0,
            "next_edit_err": next_edit.get("err", "")[-300:], "leftovers": leftovers(folder),
            "unreadable": unreadable_exports(folder)}


def pair_round(folder: Path, rng: random.Random, step: int = 1) -> dict:
    """Two processes at once: two edits, or an edit and a checkout started a moment later (transposes by
    `step` and `-step`)."""
    first = edit_args(rng.choice(EDITS[:5]), folder, step)
    second = edit_args(rng.choice(EDITS), folder, -step)
    before = len(json.loads((folder / "song.melodex" / "project.json").read_text())["history"])
    one = cli(first)
    time.sleep(rng.uniform(0.0, 2.0))
    two = cli(second)
    results = [(one, *one.communicate(timeout=600)), (two, *two.communicate(timeout=600))]
    meta = json.loads((folder / "song.melodex" / "project.json").read_text())
    ids = {h["id"] for h in meta["history"]}
    made = [m for _, out, _ in results for m in re.findall(r"version (\d{4}):", out)]
    busy = sum("being edited by another melodex process" in err for _, _, err in results)
    return {"edits": [first[0], second[0]], "codes": [p.returncode for p, _, _ in results],
            "traceback": any("Traceback" in err for _, _, err in results), "busy": busy,
            "made": made, "lost": [m for m in made if m not in ids],
            "history_grew_by": len(meta["history"]) - before,
            "errors": [err.strip()[-200:] for p, _, err in results if p.returncode != 0]}


def main() -> None:
    what, count = sys.argv[1], int(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_project(Path(tmp) / "song")
        rounds = []
        for index in range(count):
            if what == "kills":
                rounds.append(kill_round(folder, rng, CRASH_POINTS[index % len(CRASH_POINTS)],
                                         check_step=1 if index % 2 == 0 else -1))
            else:
                rounds.append(pair_round(folder, rng, step=1 if index % 2 == 0 else -1))
            print(json.dumps(rounds[-1]), flush=True)
    if what == "kills":
        killed = [r for r in rounds if r["killed"]]
        print(f"kills: {len(killed)} of {len(rounds)} edits killed "
              f"({sum(r['point'] != 'random' for r in killed)} at a crash point); "
              f"projects that could not be edited after: {sum(not r['next_edit_ok'] for r in rounds)}; "
              f"history failures: {sum(not r['history_ok'] for r in rounds)}; "
              f"rounds with temp files after the next open: {sum(bool(r['leftovers']) for r in rounds)}; "
              f"unreadable exports: {sum(bool(r['unreadable']) for r in rounds)}; "
              f"tracebacks: {sum(r['traceback'] for r in rounds)}")
    else:
        print(f"pairs: {len(rounds)}; tracebacks: {sum(r['traceback'] for r in rounds)}; "
              f"lost versions: {sum(len(r['lost']) for r in rounds)}; versions made: "
              f"{sum(len(r['made']) for r in rounds)}; told 'being edited': {sum(r['busy'] for r in rounds)}")


if __name__ == "__main__":
    main()
