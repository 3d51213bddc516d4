"""How tests/data/projects/format-1/song.melodex was made: by Melodex at commit 4b8c16f, the last one writing
project format 1 (whole stem files, before shared audio blocks), with the tests' tiny random-weight structure
model, its notes set to one pitch and velocity so the sample set stays small (8 kHz, 1 bar, ~450 KB):

    git archive 4b8c16f src tests/helpers | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/src .venv/bin/python tests/data/projects/make_format_1.py /tmp/old/out
    PYTHONPATH=/tmp/old/src .venv/bin/python /tmp/old/tests/helpers/tiny_cli.py set-tempo /tmp/old/out 200
    cp -r /tmp/old/out/song.melodex tests/data/projects/format-1/

Version 0001 is the generated bar at 240 BPM, 0002 its `set-tempo 200` (sharing 0001's sample set). Run with
today's Melodex it would write format 2: the files are kept as they were made, never regenerated.
"""

from __future__ import annotations

import sys

import torch

from melodex import pipeline
from melodex.song import Pipeline
from melodex.structure.model import StructureConfig, StructureModel
from melodex.tokens import encode


def main(out: str) -> None:
    torch.manual_seed(0)
    model = StructureModel(StructureConfig.tiny())
    model.eval()
    tiny = Pipeline(model, None, "tests run without a timbre model")
    pipeline.shipped = lambda: tiny  # type: ignore[assignment]  # the 4b8c16f API took no models
    composed = pipeline.compose

    def compose(*args, **kwargs):  # type: ignore[no-untyped-def]
        score, _ = composed(*args, **kwargs)
        for track in score.tracks:
            track.notes[:, 2] = 60
            track.notes[:, 3] = 80
        return score, encode(score)

    pipeline.compose = compose  # type: ignore[assignment]
    pipeline.generate("solo piano, 240 BPM, C major, verse 1 bar", out,
                      pipeline.GenerateOptions(seed=1, renderer="soundfont", sample_rate=8000))


if __name__ == "__main__":
    main(sys.argv[1])
