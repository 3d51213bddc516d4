"""Samplers for timbre diffusion, separate from the model: one protocol (`set_timesteps`, `timesteps`, `step`).

The model predicts v (velocity) on a continuous cosine schedule: x_t = alpha_t x0 + sigma_t noise with
alpha_t = cos(pi t / 2), sigma_t = sin(pi t / 2), t in [0, 1]. DDIM walks from t = 1 to 0 in `steps`
deterministic steps, so a seed fixes the result.
"""

from __future__ import annotations

import itertools
import math
from typing import Protocol

import torch


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.cos(0.5 * math.pi * t), torch.sin(0.5 * math.pi * t)


class Scheduler(Protocol):
    timesteps: torch.Tensor

    def set_timesteps(self, steps: int) -> None: ...

    def step(self, model_output: torch.Tensor, t: torch.Tensor, sample: torch.Tensor) -> torch.Tensor: ...


class DDIMScheduler:
    """Deterministic DDIM on the cosine v-prediction schedule."""

    def __init__(self, steps: int = 20) -> None:
        self.timesteps = torch.empty(0)
        self._next: dict[float, float] = {}
        self.set_timesteps(steps)

    def set_timesteps(self, steps: int) -> None:
        if steps < 1:
            raise ValueError("at least one sampling step is needed")
        grid = torch.linspace(1.0, 0.0, steps + 1)
        self.timesteps = grid[:-1]
        self._next = {float(a): float(b) for a, b in itertools.pairwise(grid)}

    def step(
        self, model_output: torch.Tensor, t: torch.Tensor, sample: torch.Tensor, clean_limit: float | None = None
    ) -> torch.Tensor:
        """The sample at the next (smaller) timestep, given the model's v prediction at t.

        `clean_limit` thresholds the predicted clean sample as `threshold_clean` does; the predicted noise
        is kept, as in diffusers' DDIM.
        """
        alpha, sigma = alpha_sigma(t)
        alpha_next, sigma_next = alpha_sigma(torch.tensor(self._next[float(t)]))
        clean = alpha * sample - sigma * model_output
        noise = sigma * sample + alpha * model_output
        if clean_limit is not None:
            clean = threshold_clean(clean, clean_limit)
        return alpha_next * clean + sigma_next * noise


def threshold_clean(clean: torch.Tensor, limit: float, quantile: float = 0.995) -> torch.Tensor:
    """Dynamic thresholding (Saharia et al. 2022, Imagen) with the range [-limit, limit] in place of [-1, 1]:
    each sample whose `quantile` of |value| is s > limit is clipped to [-s, s] and scaled by limit / s."""
    flat = clean.abs().flatten(1)
    s = torch.quantile(flat, quantile, dim=1).clamp_min(limit).view(-1, *([1] * (clean.dim() - 1)))
    return torch.maximum(torch.minimum(clean, s), -s) * (limit / s)
