"""Timbre guidance at high cfg: notes that blow up, and text control, for plain guidance and its remedies.

    PYTHONPATH=src .venv/bin/python scripts/eval_guidance.py [--cfgs 1 2 4 6 8.5 10] [--json out.json]

A fixed grid (GRID_PROGRAMS x GRID_TEXTS x GRID_PITCHES, velocity 90, seed = the program's index, 16
steps as the pipeline renders) is generated at every cfg with each guidance variant. A note blows up when
its peak is more than BLOW_UP (4) times the loudest note of its program at cfg 1 (no guidance: the model as
trained), over all texts and pitches: words may make a note brighter or shorter, but no word asks for an
instrument 12 dB louder than anything it plays unguided; the mix then has to turn the whole track down
for that one key. Also printed: the old measure (peak above 1.0, where notes peak near 0.07), the median
over notes of peak / the same note's peak at cfg 1, and the text-control separations of
`evaluate.text_control` (quick set: 4 programs, pitches 55/67, seed 0) with the same options, and the
seconds the grid took (diffusion + decode + synthesis of 180 notes on one thread).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from melodex.timbre import evaluate
from melodex.timbre.model import GenerationOptions, TimbreModel, TimbreRequest

# piano, e-piano, organ, nylon guitar, fingered bass, violin, strings, trumpet, clarinet, flute,
# square lead, warm pad
GRID_PROGRAMS = (0, 4, 16, 24, 33, 40, 48, 56, 71, 73, 80, 89)
GRID_TEXTS = ("bright", "dark", "warm", "plucky", "pad-like sustained")
GRID_PITCHES = (48, 60, 72)
STEPS = 16  # the pipeline's timbre_steps
BLOW_UP = 4.0  # x the program's loudest cfg-1 note (12 dB)
CONTROL_PROGRAMS = (0, 24, 80, 89)  # eval_timbre --quick
SEPARATIONS = (  # (label, words, measure) from evaluate.CONTRASTS
    ("bright/dark centroid", ("bright", "dark"), "centroid_hz"),
    ("bright/warm centroid", ("bright", "warm"), "centroid_hz"),
    ("plucky/pad sustain", ("plucky", "pad-like sustained"), "sustain"),
)


def variants(rescale: float, limit: float, level_db: float) -> dict[str, GenerationOptions]:
    plain = GenerationOptions(steps=STEPS, rescale=0.0, clean_limit=None, level_limit_db=None)
    return {
        "plain cfg": plain,  # the sampler before level_limit_db
        f"rescale {rescale:g}": replace(plain, rescale=rescale),
        f"threshold {limit:g}": replace(plain, clean_limit=limit),
        f"level limit {level_db:g} dB": replace(plain, level_limit_db=level_db),  # the default at 6
        f"rescale {rescale:g} + level limit {level_db:g} dB": replace(plain, rescale=rescale, level_limit_db=level_db),
    }


def grid_peaks(model: TimbreModel, options: GenerationOptions) -> np.ndarray:
    """(programs, texts, pitches) peak |sample| of the grid's notes."""
    requests = [TimbreRequest(program, text, GRID_PITCHES, (90,), seed=i)
                for i, program in enumerate(GRID_PROGRAMS) for text in GRID_TEXTS]
    peaks = [[float(np.abs(audio).max()) for _, _, audio, _, _ in notes]
             for notes in model.generate_many(requests, options)]
    return np.array(peaks).reshape(len(GRID_PROGRAMS), len(GRID_TEXTS), len(GRID_PITCHES))


def separations(model: TimbreModel, cfgs: tuple[float, ...], options: GenerationOptions) -> dict[str, list[float]]:
    """Per SEPARATIONS label, the geometric mean over programs of first word / second word, per cfg."""
    rows = evaluate.text_control(model, cfgs, programs=CONTROL_PROGRAMS, seeds=(0,), options=options)
    out = {}
    for label, words, measure in SEPARATIONS:
        out[label] = [float(np.exp(np.mean([np.log(max(r.ratio, 1e-6)) for r in rows
                                            if r.words == words and r.measure == measure and r.cfg == cfg])))
                      for cfg in cfgs]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--cfgs", type=float, nargs="+", default=[1.0, 2.0, 4.0, 6.0, 8.5, 10.0])
    parser.add_argument("--rescale", type=float, default=0.7, help="guidance rescale weight to compare")
    parser.add_argument("--limit", type=float, default=3.0, help="clean-latent threshold to compare")
    parser.add_argument("--level-db", type=float, default=6.0, help="level limit (dB over unguided) to compare")
    parser.add_argument("--only", nargs="*", default=None, help="variant names to run (default: all)")
    parser.add_argument("--no-control", action="store_true", help="skip the text-control separations")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = TimbreModel.load(args.weights)
    cfgs = tuple(args.cfgs)
    every = variants(args.rescale, args.limit, args.level_db)
    chosen = {k: v for k, v in every.items() if args.only is None or k in args.only}
    reference = grid_peaks(model, replace(every["plain cfg"], cfg=1.0))
    loudest = reference.max(axis=(1, 2))
    n = reference.size
    print(f"grid: {len(GRID_PROGRAMS)} programs x {len(GRID_TEXTS)} texts x {len(GRID_PITCHES)} pitches = {n} notes, "
          f"{STEPS} steps; cfg-1 peaks median {np.median(reference):.3f}, max {reference.max():.3f}")
    print(f"blown up: peak > {BLOW_UP:g} x the program's loudest cfg-1 note; '>1.0': peak above 1.0; "
          "ratio: median peak / the same note's cfg-1 peak")
    results: dict[str, dict[str, object]] = {}
    for name, options in chosen.items():
        print(f"== {name}")
        control = None if args.no_control else separations(model, cfgs, options)
        table: dict[str, object] = {}
        for k, cfg in enumerate(cfgs):
            started = time.perf_counter()
            peaks = grid_peaks(model, replace(options, cfg=cfg))
            seconds = time.perf_counter() - started
            blown = peaks > BLOW_UP * loudest[:, None, None]
            worst = np.unravel_index(int(np.argmax(peaks / loudest[:, None, None])), peaks.shape)
            row: dict[str, object] = {
                "blown_up": int(blown.sum()),
                "above_1": int((peaks > 1.0).sum()),
                "median_peak_ratio": float(np.median(peaks / reference)),
                "max_over_loudest": float((peaks / loudest[:, None, None]).max()),
                "worst": f"{GRID_PROGRAMS[worst[0]]} '{GRID_TEXTS[worst[1]]}' {GRID_PITCHES[worst[2]]}",
                "grid_seconds": seconds,
            }
            cells = ""
            if control is not None:
                row.update({label: values[k] for label, values in control.items()})
                cells = "  " + "  ".join(f"{label} {values[k]:5.2f}" for label, values in control.items())
            print(f"cfg {cfg:4g}: blown up {row['blown_up']:3d}/{n}  >1.0 {row['above_1']:3d}  "
                  f"ratio {row['median_peak_ratio']:5.2f}  max {row['max_over_loudest']:6.1f}x "
                  f"({row['worst']}) {seconds:4.1f} s{cells}", flush=True)
            table[f"{cfg:g}"] = row
        results[name] = table
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
