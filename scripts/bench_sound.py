"""Time the sound of a song apart from composing it: sample sets + render of the 60 s four-track
synthwave of `bench_pipeline.py` (issue 15, point 6: target < 2 s on 2 cores).

    .venv/bin/python scripts/bench_sound.py [--runs 3] [--profile OUT.prof] [--serial]
        [--save OUT.npz] [--compare REF.npz]

The score is composed once (seed 0), then the timbres and render stages run `runs` times in this process
(the first run loads the timbre model and the text encoder). Prints wall and CPU seconds per run and the
load average, since other jobs on a 2-core machine inflate wall times. `--serial` runs every thread pool's
work inline, so a profile charges each function its own CPU (in a pool it shows as a lock's wait);
`--save` keeps the last run's mix and stems, `--compare` prints how far this run's are from saved ones
(max abs difference, loudness), to show a speed-up leaves the sound as it was. With `--profile` the last
run's CPU is also printed by stage (`STAGES`). Under `--serial` the drum kit's text encoder runs on the
main thread with two torch threads, which costs it far more than beside the timbre model in a real render.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from concurrent.futures import Future
from typing import Any

import numpy as np
import torch

from melodex import pipeline
from melodex.production.loudness import integrated_lufs
from melodex.production.settings import mix_settings_from_text
from melodex.render_audio import make_samplesets, perform_and_produce

PROMPT = "warm synthwave, 100 BPM, F minor, intro 4 bars, verse 8, chorus 8, outro 5"  # 25 bars = 60 s


# (what, the profiled function as "file.py:function"); indented rows are part of the row above.
STAGES = [
    ("sample sets", "render_audio.py:make_samplesets"),
    ("  timbre model", "model.py:generate_samplesets"),
    ("    harmonic-plus-noise synthesis", "hn.py:synthesize"),
    ("  drum kit", "drumkit.py:drum_sampleset"),
    ("render", "render_audio.py:perform_and_produce"),
    ("  sampler", "render_audio.py:perform_tracks"),
    ("  stem chains", "mix.py:_process_stem"),
    ("    their loudness (K-weighted)", "loudness.py:integrated_lufs"),
    ("  placement", "effects.py:place"),
    ("  shared reverb", "effects.py:shared_reverb"),
    ("  master: cleaning (DC, clicks)", "mastering.py:clean_part"),
    ("  master", "mastering.py:master"),
    ("    oversampled peaks", "loudness.py:oversampled_peak"),
    ("    K-weighting", "loudness.py:k_energy"),
    ("    glue gain", "mastering.py:glue_gain"),
    ("    limiter gain", "mastering.py:limiter_gain"),
]


def print_stages(profile: cProfile.Profile) -> None:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for name, where in STAGES:
        seconds = sum(row[3] for (path, _, function), row in stats.items()
                      if f"{os.path.basename(path)}:{function}" == where)
        print(f"{seconds:7.3f} CPU-s  {name}")


class InlinePool:
    """A stand-in for ThreadPoolExecutor that does the work in the calling thread (`--serial`)."""

    def __init__(self, max_workers: int | None = None) -> None:
        pass

    def __enter__(self) -> InlinePool:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def map(self, fn: Any, *iterables: Any) -> list:
        return list(map(fn, *iterables))

    def submit(self, fn: Any, *args: Any) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future


def run_serially() -> None:
    import melodex.production.effects
    import melodex.production.mastering
    import melodex.production.mix
    import melodex.render_audio
    import melodex.timbre.model

    for module in (melodex.production.effects, melodex.production.mastering, melodex.production.mix,
                   melodex.render_audio, melodex.timbre.model):
        if hasattr(module, "ThreadPoolExecutor"):
            module.ThreadPoolExecutor = InlinePool  # type: ignore[attr-defined]


def compare(reference: str, mix: np.ndarray, stems: dict[int, np.ndarray], sample_rate: int) -> None:
    saved = np.load(reference)
    print(f"against {reference}: mix max abs difference {np.abs(mix - saved['mix']).max():.3g}, "
          f"loudness {integrated_lufs(mix, sample_rate):.4f} against {integrated_lufs(saved['mix'], sample_rate):.4f} "
          f"LUFS; stems' max abs difference "
          + ", ".join(f"{np.abs(stems[i] - saved[f'stem{i}']).max():.3g}" for i in sorted(stems)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", default=None, help="write a cProfile (CPU time) of the last run here")
    parser.add_argument("--serial", action="store_true", help="run the thread pools' work inline")
    parser.add_argument("--save", default=None, help="write the last run's mix and stems here (.npz)")
    parser.add_argument("--compare", default=None, help="compare the last run's mix and stems with a --save")
    args = parser.parse_args()
    if args.serial:
        run_serially()
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
        stems, master, _, _ = perform_and_produce(score, {i: s for i, (s, _) in made.items()}, mix, options.sample_rate)
        total_wall, total_cpu = time.perf_counter() - wall, time.process_time() - cpu
        if profile:
            profile.disable()
            profile.dump_stats(args.profile)
            print_stages(profile)
        print(f"run {run}: sample sets {sets_wall:.2f} s ({sets_cpu:.2f} CPU-s), render {total_wall - sets_wall:.2f} s "
              f"({total_cpu - sets_cpu:.2f} CPU-s), sum {total_wall:.2f} s wall / {total_cpu:.2f} CPU-s; "
              f"load average {os.getloadavg()[0]:.2f}; peak {abs(master).max():.3f}")
    if args.save:
        np.savez(args.save, mix=master, **{f"stem{i}": stem for i, stem in stems.items()})
    if args.compare:
        compare(args.compare, master, stems, options.sample_rate)


if __name__ == "__main__":
    main()
