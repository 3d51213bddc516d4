"""Timbre: notes analysed as harmonics + noise, a latent autoencoder over them, and a text-conditioned
latent diffusion model that generates an instrument's sample set (see `sampleset.SampleSet`).

`melodex.timbre.TimbreModel` is imported lazily, so reading a SampleSet does not load the models.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("TimbreModel", "GenerationOptions"):
        from melodex.timbre import model

        return getattr(model, name)
    raise AttributeError(f"module 'melodex.timbre' has no attribute {name!r}")
