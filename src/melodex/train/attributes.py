"""Training the implied-attribute head on the corpus captions (explicit values masked out).

    .venv/bin/python -m melodex.train.attributes [--works 4000] [--out src/melodex/weights/attributes]

Validation is split by work. Prints held-out accuracy / error against the majority (or median)
baseline, so it is plain whether the head learned anything beyond the prior.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from melodex.attributes import METER_CLASSES, MODES, WEIGHTS, AttributeHead, mask_explicit, save_head
from melodex.data.corpus import Corpus, load_corpus
from melodex.text import embed


def targets(attributes: dict) -> tuple[int, int, float, float]:
    meter = attributes.get("meter", "4/4")
    bpm = float(attributes.get("tempo_bpm") or 100.0)
    # An assigned tempo is the builder's guess per style, not the source's: it carries no signal.
    log_bpm = np.log2(bpm) if not attributes.get("tempo_assigned", True) else float("nan")
    density = max(float(attributes.get("note_density") or 1.0), 0.25)
    return (MODES.index(attributes.get("mode", "major")) if attributes.get("mode") in MODES else 0,
            METER_CLASSES.index(meter) if meter in METER_CLASSES else len(METER_CLASSES) - 1,
            log_bpm, float(np.log(density)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=None, help="dataset folder (default: the committed one)")
    parser.add_argument("--works", type=int, default=4000, help="works sampled for training + validation")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    corpus = load_corpus(args.corpus)
    train, valid = corpus.split(valid_fraction=0.15, seed=args.seed)
    rng = np.random.default_rng(args.seed)

    def sample(part: Corpus, n: int) -> tuple[list[str], np.ndarray]:
        picks = rng.choice(len(part), size=min(n, len(part)), replace=False)
        texts, rows = [], []
        for position in picks:
            attributes = part.attributes(int(position))
            captions = part[int(position)].captions
            for caption in rng.choice(captions, size=min(2, len(captions)), replace=False):
                texts.append(mask_explicit(str(caption)))
                rows.append(targets(attributes))
        return texts, np.array(rows, dtype=np.float64)

    train_texts, train_y = sample(train, int(args.works * 0.85))
    valid_texts, valid_y = sample(valid, int(args.works * 0.15))
    print(f"{len(train_texts)} training captions, {len(valid_texts)} held-out (by work); e.g. {train_texts[0]!r}")
    x_train = torch.from_numpy(np.concatenate([embed(train_texts[i:i + 256])
                                               for i in range(0, len(train_texts), 256)]))
    x_valid = torch.from_numpy(np.concatenate([embed(valid_texts[i:i + 256])
                                               for i in range(0, len(valid_texts), 256)]))
    print(f"embedded in {time.perf_counter() - start:.0f} s")
    head = AttributeHead()
    # Start the regressions at the corpus means so the linear part only learns the deviations.
    y = torch.from_numpy(train_y)
    bpm_known = ~torch.isnan(y[:, 2])
    with torch.no_grad():
        head.log_bpm.bias.fill_(float(y[bpm_known, 2].mean()))
        head.log_density.bias.fill_(float(y[:, 3].mean()))
    optimizer = torch.optim.AdamW(head.parameters(), lr=3e-3, weight_decay=1e-3)
    for _ in range(600):
        out = head(x_train)
        loss = (torch.nn.functional.cross_entropy(out["mode"], y[:, 0].long())
                + torch.nn.functional.cross_entropy(out["meter"], y[:, 1].long())
                + torch.nn.functional.mse_loss(out["log_bpm"][bpm_known], y[bpm_known, 2].float())
                + torch.nn.functional.mse_loss(out["log_density"], y[:, 3].float()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    head.eval()
    with torch.no_grad():
        out = head(x_valid)
    v = torch.from_numpy(valid_y)
    metrics = {}
    for name, column in (("mode", 0), ("meter", 1)):
        accuracy = float((out[name].argmax(-1) == v[:, column].long()).float().mean())
        majority = float(np.bincount(train_y[:, column].astype(int)).argmax())
        baseline = float((v[:, column] == majority).float().mean())
        metrics[f"{name}_accuracy"], metrics[f"{name}_majority_baseline"] = round(accuracy, 3), round(baseline, 3)
    known = ~torch.isnan(v[:, 2])
    bpm_error = float((out["log_bpm"][known] - v[known, 2]).abs().mean())
    bpm_baseline = float((float(np.nanmedian(train_y[:, 2])) - v[known, 2]).abs().mean())
    metrics["bpm_mean_abs_octaves"] = round(bpm_error, 3)
    metrics["bpm_median_baseline_octaves"] = round(bpm_baseline, 3)
    density_error = float((out["log_density"] - v[:, 3]).abs().mean())
    metrics["density_mean_abs_log"] = round(density_error, 3)
    metrics["density_median_baseline_log"] = round(float(np.abs(np.median(train_y[:, 3]) - valid_y[:, 3]).mean()), 3)
    metrics["train_captions"], metrics["valid_captions"] = len(train_texts), len(valid_texts)
    metrics["seconds"] = round(time.perf_counter() - start, 1)
    for key, value in metrics.items():
        print(f"{key:>30}: {value}")
    save_head(head, args.out, {"data": "melodex corpus captions, explicit values masked", **metrics})
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
