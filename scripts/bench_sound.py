"""Time the sound of a song apart from composing it: sample sets + render of the 60 s four-track
synthwave of `bench_pipeline.py` (issue 15, point 6: target < 2 s on 2 cores).

    .venv/bin/python scripts/bench_sound.py [--runs 3] [--profile OUT.prof]

The score is composed once (seed 0), then the timbres and render stages run `runs` times in this process
(the first run loads the timbre model and the text encoder). Prints wall and CPU seconds per run and the
load average, since other jobs on a 2-core machine inflate wall times.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import time

import torch

from melodex import pipeline
from melodex.production.settings import mix_settings_from_text
from melodex.render_audio import make_samplesets, perform_and_produce

PROMPT = "warm synthwave, 100 BPM, F minor, intro 4 bars, verse 8, chorus 8, outro 5"  # 25 bars = 60 s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", default=None, help="write a cProfile (CPU time) of the last run here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    options = pipeline.GenerateOptions(seed=0)
    models = pipeline.shipped()
    brief = pipeline.read_brief(PROMPT, options)
    score, _ = pipeline.compose(brief, options, pipeline.seed_for(0, "compose"), models.structure)
    texts = {i: pipeline.timbre_text(brief, track.program) for i, track in enumerate(score.tracks)}
    seeds = {i: pipeline.seed_for(0, "timbre", i) for i in texts}
    mix = mix_settings_from_text(" ".join(brief.texture) + " " + brief.style)
    print(f"{score.duration_seconds:.1f} s, {len(score.tracks)} tracks, {score.n_notes} notes")
    for run in range(args.runs):
        profile = cProfile.Profile(time.process_time) if args.profile and run == args.runs - 1 else None
        if profile:
            profile.enable()
        wall, cpu = time.perf_counter(), time.process_time()
        made = make_samplesets(score, texts, seeds, options.render_options(), models.timbre)
        sets_wall, sets_cpu = time.perf_counter() - wall, time.process_time() - cpu
        _, master, _, _ = perform_and_produce(score, {i: s for i, (s, _) in made.items()}, mix, options.sample_rate)
        total_wall, total_cpu = time.perf_counter() - wall, time.process_time() - cpu
        if profile:
            profile.disable()
            profile.dump_stats(args.profile)
        print(f"run {run}: sample sets {sets_wall:.2f} s ({sets_cpu:.2f} CPU-s), render {total_wall - sets_wall:.2f} s "
              f"({total_cpu - sets_cpu:.2f} CPU-s), sum {total_wall:.2f} s wall / {total_cpu:.2f} CPU-s; "
              f"load average {os.getloadavg()[0]:.2f}; peak {abs(master).max():.3f}")


if __name__ == "__main__":
    main()
