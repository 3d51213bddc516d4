"""A synthetic note set and caption cache in a folder, for timing `melodex train timbre` without rendering.

The trainer's compute does not depend on what the notes sound like, so random HN frames (the helper of
tests/train/test_train_timbre_distributed.py) and fixed random caption vectors stand in for the rendered set:
    .venv/bin/python scripts/timbre_bench_notes.py DIR --programs 40
    melodex train timbre --cache DIR --out DIR/weights --device cpu --autoencoder-steps 20 --stop-step 30
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the conftest the test module imports
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "train"))

import melodex.text
from melodex.timbre.notes import build_note_dataset
from melodex.train.timbre import TimbreTrainOptions, caption_embeddings
from test_train_timbre_distributed import _fake_embed, _note_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--programs", type=int, default=40, help="GM programs per file (12 notes each, 2 files)")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    half = tuple(range(args.programs))
    _note_set(0, half, rng).save(args.folder / "notes_FluidR3_GM_step4.npz")
    _note_set(1, tuple(range(64, 64 + args.programs)), rng).save(args.folder / "notes_TimGM6mb_step6.npz")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(melodex.text, "embed", _fake_embed)
        dataset = build_note_dataset(args.folder)
        caption_embeddings(dataset, TimbreTrainOptions(cache_dir=args.folder))
    print(f"{len(dataset)} notes in {args.folder}")


if __name__ == "__main__":
    main()
