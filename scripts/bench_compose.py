"""Composition time of a 60 s four-track song: the flat decoding of before against the song form, in turns.

Each arrangement composes the same prompt (brief -> structure model, no audio) `--runs` times, alternating,
after one warm-up each; prints the best and median seconds and the events the model sampled.

    .venv/bin/python scripts/bench_compose.py --runs 3 [--old-checkpoint DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

PROMPT = "warm synthwave, 100 BPM, F minor, intro 4 bars, verse 8, chorus 8, verse 4, outro 1"  # 25 bars = 60 s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--old-checkpoint", type=Path, help="structure weights for the flat run (default: shipped)")
    args = parser.parse_args()
    from melodex import pipeline
    from melodex.structure.model import load_model

    shipped = pipeline.shipped().structure
    old = load_model(args.old_checkpoint) if args.old_checkpoint else shipped
    setups = {"flat": (old, pipeline.GenerateOptions(arrangement="flat")),
              "song": (shipped, pipeline.GenerateOptions(arrangement="song"))}
    times: dict[str, list[float]] = {name: [] for name in setups}
    events: dict[str, int] = {}
    for run in range(args.runs + 1):
        for name, (model, options) in setups.items():
            brief = pipeline.read_brief(PROMPT, options)
            started = time.perf_counter()
            score, ev = pipeline.compose(brief, options, run, model)
            seconds = time.perf_counter() - started
            if run:
                times[name].append(seconds)
            events[name] = len(ev)
    print(f"prompt: {PROMPT} ({brief.n_bars} bars, {brief.duration_seconds:.1f} s, {len(score.tracks)} tracks)")
    for name, values in times.items():
        print(f"{name}: best {min(values):.2f} s, median {statistics.median(values):.2f} s, "
              f"{events[name]} events (last run)")
    print(f"song / flat (median): {statistics.median(times['song']) / statistics.median(times['flat']):.2f}")


if __name__ == "__main__":
    main()
