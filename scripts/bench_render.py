"""Measure the SoundFont reference renderer's speed (x real time) on a 60 s four-track score and on
real works from the committed MIDI corpus.

    .venv/bin/python scripts/bench_render.py [--soundfont NAME] [--repeats 3]

Times are the best of `repeats` runs, wall clock and this process's CPU time; the machine's load
average is printed too, since other jobs on a 2-core machine slow wall-clock numbers down.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from melodex.midi import read_midi
from melodex.score import DRUM_PROGRAM, TPQ, Score, Tempo, Track
from melodex.soundfont import SoundFontSynth

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "midi"


def sixty_second_score() -> Score:
    """30 bars of 4/4 at 120 BPM: piano melody in eighths, bass in quarters, a rock beat, pad chords."""
    rng = np.random.default_rng(0)
    bars = 30

    def part(program: int, role: str, low: int, high: int, step: int, chord: int = 1) -> Track:
        n = bars * 4 * TPQ // step
        starts = np.repeat(np.arange(n) * step, chord)
        pitches = rng.integers(low, high, n * chord)
        notes = np.stack([starts, np.full(n * chord, step), pitches, rng.integers(60, 110, n * chord)], axis=1)
        return Track(program, role=role, notes=notes)

    # A rock beat: closed hi-hat on eighths, kick on 1 and 3, snare on 2 and 4, a crash every 8 bars.
    hits = [(e * TPQ // 2, 42) for e in range(bars * 8)]
    hits += [(b * TPQ, 36 if b % 2 == 0 else 38) for b in range(bars * 4)]
    hits += [(bar * 4 * TPQ, 49) for bar in range(0, bars, 8)]
    drums = Track(DRUM_PROGRAM, role="drums", notes=[[t, TPQ // 4, p, 100] for t, p in hits])
    return Score(
        tracks=[
            part(0, "melody", 60, 84, TPQ // 2),
            part(33, "bass", 33, 48, TPQ),
            drums,
            part(89, "pad", 55, 72, 4 * TPQ, chord=3),
        ],
        tempos=[Tempo(120.0)],
    )


def best_of(repeats: int, job) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        job()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soundfont", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores)")
    began = time.perf_counter()
    synth = SoundFontSynth(args.soundfont)
    print(f"SoundFont {synth.path.name} loaded in {time.perf_counter() - began:.2f} s")

    works = [("60 s four-track score", sixty_second_score())]
    for name in ("bach_bwv66_6.mid", "foster_brown_hair.mid"):
        works.append((name, read_midi(CORPUS / name)))

    print(
        f"{'work':28s} {'tracks':>6s} {'notes':>6s} {'audio s':>8s} {'mix xRT':>8s} {'cpu xRT':>8s} {'stems xRT':>9s}"
    )
    for name, score in works:
        seconds = synth.render_length(score) / 44100
        wall, cpu = best_of(args.repeats, lambda score=score: synth.render(score))
        stems_wall, _ = best_of(args.repeats, lambda score=score: synth.render_stems(score))
        print(
            f"{name:28s} {len(score.tracks):6d} {score.n_notes:6d} {seconds:8.1f} "
            f"{seconds / wall:8.0f} {seconds / cpu:8.0f} {seconds / stems_wall:9.0f}"
        )
    note_wall, _ = best_of(args.repeats, lambda: [synth.render_note(p, 60, 100, 1.0) for p in range(0, 128, 8)])
    print(f"render_note (1 s held + 1 s release): {note_wall / 16 * 1000:.1f} ms per note")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
