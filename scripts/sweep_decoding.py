"""Decoding settings of the structure model against real music: the classifier two-sample test for each
(guidance, top-p, scale lock, temperature), on disjoint sets of held-out pitched works, so a setting chosen on
one set can be checked on the others. Also which statistic gives generated scores away (accuracy without it,
and with it alone).

The held-out pitched works are ordered by collection, so the sets differ in kind: A = works 0-119 (Airds
airs, a few multi-part works), B = 120-239 (Essen ballads), C = 240-359 (Essen, Erk), and T = 360 to the end
(388 works: Essen Han and Lux, O'Neill's, Ryan's, multi-part works). A, B and C were used to choose the
decoding settings; T is the test set, kept out of every choice since 2026-11-30 (`--sets T` only to report).

    .venv/bin/python scripts/sweep_decoding.py --settings 1.5/0.95/2/1.0,1.5/0.95/1/1.1 --sets A,B,C
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from eval_structure import HELDOUT_SETS, generated_vs_real, heldout_set, mean_two_sample_accuracy

from melodex.data.corpus import load_corpus
from melodex.structure.generate import DEFAULT_PRESENCE_BIAS, DEFAULT_REGISTER_BIAS, DecodingOptions, generate_score
from melodex.structure.model import StructureModel, load_model

Stats = dict[str, float]


def accuracy(real: list[Stats], fake: list[Stats], names: list[str]) -> float:
    """Two-sample accuracy on the statistics `names`, averaged over 5 shuffles of the folds."""
    pick = lambda rows: [{k: row[k] for k in names} | {"_": 0.0} for row in rows]  # noqa: E731
    return mean_two_sample_accuracy(pick(real), pick(fake))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="src/melodex/weights/structure")
    parser.add_argument("--settings", default="1.5/0.95/2/1.0,1.5/0.95/1/1.0,1.5/0.95/1/1.1,1.5/0.95/1.5/1.1",
                        help="comma-separated guidance/top_p/scale_lock/temperature[/register_bias]")
    parser.add_argument("--works", type=int, default=120, help="at most this many works per set (the first)")
    parser.add_argument("--sets", default="A,B", help="comma-separated sets among A, B, C (tuning) and T (test)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--uncalibrated", action="store_true",
                        help="leave out the checkpoint's calibration (as before 2026-11-30)")
    parser.add_argument("--prompts", type=int, default=0,
                        help="also the share of notes in key over the first N shipped prompts (8 bars, seed 0), "
                             "composed as the product does (held-out real music: 0.978)")
    args = parser.parse_args()
    if args.works < 6:
        parser.error("--works must be at least 6 (the two-sample test uses 5 folds)")
    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    _, valid = load_corpus(None).split(0.05, seed=0)
    unknown = [name for name in args.sets.split(",") if name not in HELDOUT_SETS]
    if unknown:
        parser.error(f"--sets: unknown set {unknown[0]!r}; use A, B, C or T")
    sets = {name: heldout_set(valid, name)[:args.works] for name in args.sets.split(",")}
    print("| guidance / top-p / lock / temperature | set | two-sample accuracy | most telling statistic "
          "(accuracy without it / with it alone) |")
    print("|---|---|---|---|")
    for setting in args.settings.split(","):
        values = [float(v) for v in setting.split("/")]
        guidance, top_p, key_bias, temperature = values[:4]
        register_bias = values[4] if len(values) > 4 else DEFAULT_REGISTER_BIAS
        for label, works in sets.items():
            t0 = time.perf_counter()
            real, fake = generated_vs_real(model, works, guidance, top_p, key_bias, temperature, DEFAULT_PRESENCE_BIAS,
                                           register_bias, not args.uncalibrated)
            names = sorted(real[0])
            full = accuracy(real, fake, names)
            without = {name: accuracy(real, fake, [k for k in names if k != name]) for name in names}
            telling = min(without, key=lambda k: without[k])
            alone = accuracy(real, fake, [telling])
            gap = {k: (np.mean([r[k] for r in real]), np.mean([f[k] for f in fake])) for k in names}
            print(f"| {setting} | {label} ({len(real)} works) | **{full:.3f}** | {telling} "
                  f"({without[telling]:.3f} / {alone:.3f}; real {gap[telling][0]:.2f}, generated "
                  f"{gap[telling][1]:.2f}) |", flush=True)
            print(f"<!-- {time.perf_counter() - t0:.0f} s; means real/generated: "
                  + ", ".join(f"{k} {a:.3f}/{b:.3f}" for k, (a, b) in gap.items()) + " -->", flush=True)
        if args.prompts:
            share = prompts_in_key(model, args.prompts, guidance, top_p, key_bias, temperature, register_bias,
                                   not args.uncalibrated)
            print(f"| {setting} | first {args.prompts} shipped prompts | notes in key **{share:.3f}** | |", flush=True)


def prompts_in_key(model: StructureModel, n: int, guidance: float, top_p: float, key_bias: float,
                   temperature: float, register_bias: float, calibrated: bool) -> float:
    """Share of pitched notes in the declared key over the first `n` prompts of data/eval/prompts.txt, each cut
    to 8 bars and composed as `pipeline.compose` does (seed 0) under the given decoding setting."""
    from melodex.evaluate.listen import read_prompts, shorten
    from melodex.pipeline import GenerateOptions, energy_level, read_brief

    in_key = total = 0
    for prompt in read_prompts(Path("data/eval/prompts.txt"))[:n]:
        brief = shorten(read_brief(prompt, GenerateOptions()), 8)
        score, _ = generate_score(model, brief.prompt, brief.plan(), options=DecodingOptions(guidance=guidance,
                                  temperature=temperature, top_p=top_p, seed=0, mode=brief.implied_mode,
                                  style=brief.style, energy=energy_level(brief), key_bias=key_bias,
                                  register_bias=register_bias, calibrated=calibrated))
        for track in score.tracks:
            if not track.is_drum and len(track.notes):
                in_key += int(np.isin(track.notes[:, 2] % 12, score.key.scale).sum())
                total += len(track.notes)
    return in_key / max(total, 1)


if __name__ == "__main__":
    main()
