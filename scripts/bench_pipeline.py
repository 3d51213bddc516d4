"""End-to-end speed and memory: a 60 s track from a prompt, then regenerating one 8-bar section.

Run in a fresh process so model loading is counted:

    .venv/bin/python scripts/bench_pipeline.py [--renderer timbre|soundfont] [--runs 1]

Prints wall seconds per stage (including loading the models, which happens inside the first stage that
needs them), the total, peak memory (max RSS) and the regen time. Targets: < 10 s, < 2 GB, regen < 3 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import torch

from melodex import edit, pipeline

PROMPT = ("warm synthwave, 100 BPM, F minor, intro 4 bars, verse 8, chorus 8, outro 5")  # 25 bars = 60 s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--renderer", default="timbre", choices=("timbre", "soundfont"))
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(2)
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            start, cpu = time.perf_counter(), time.process_time()
            result = pipeline.generate(PROMPT, Path(tmp) / "song",
                                       pipeline.GenerateOptions(seed=run, renderer=args.renderer))
            total, cpu = time.perf_counter() - start, time.process_time() - cpu
            stages = ", ".join(f"{k} {v:.2f}" for k, v in result.seconds.items())
            print(f"run {run}: {result.score.duration_seconds:.1f} s of music, {len(result.score.tracks)} tracks, "
                  f"{result.score.n_notes} notes")
            print(f"  generate: {total:.2f} s total ({stages}); {cpu:.2f} CPU-s")
            timbres_render = result.seconds["timbres"] + result.seconds["render"]
            timbres_render_cpu = result.cpu_seconds["timbres"] + result.cpu_seconds["render"]
            print(f"  sample sets + render (target < 3 s): {timbres_render:.2f} s wall, {timbres_render_cpu:.2f} CPU-s "
                  f"(timbres {result.cpu_seconds['timbres']:.2f}, render {result.cpu_seconds['render']:.2f} CPU-s); "
                  f"load average {os.getloadavg()[0]:.2f}")
            session = edit.open_session(Path(tmp) / "song")
            start, cpu = time.perf_counter(), time.process_time()
            edit.regen(session, edit.bars_of_section(session.score, "verse"), list(range(len(session.score.tracks))),
                       seed=run + 100, label="bench regen verse")
            print(f"  regen verse (8 bars, all tracks): {time.perf_counter() - start:.2f} s; "
                  f"{time.process_time() - cpu:.2f} CPU-s")
    print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
