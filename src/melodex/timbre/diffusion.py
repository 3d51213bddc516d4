"""Timbre diffusion: a small transformer that denoises a note latent given text, family, pitch and velocity.

The latent is the autoencoder's (channels x 16 steps), treated as 16 tokens. Conditioning (frozen MiniLM
sentence embedding of the timbre text, GM family, pitch, velocity, diffusion time) enters every block
through adaptive layer norm. Text and family are dropped in training (learned null embeddings), which
gives classifier-free guidance at inference; pitch and velocity are always given.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from melodex.text import EMBED_DIM

N_FAMILIES = 17  # 16 GM families + drums; index N_FAMILIES is "no family" (dropped)


@dataclass(frozen=True)
class DiffusionConfig:
    latent_channels: int = 8
    latent_steps: int = 16
    width: int = 96
    layers: int = 3
    heads: int = 4
    text_dim: int = EMBED_DIM

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def sinusoid(x: torch.Tensor, dim: int, scale: float) -> torch.Tensor:
    """(batch,) -> (batch, dim) sinusoidal features of x * scale."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = x.float()[:, None] * scale * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


@dataclass(frozen=True)
class TimbreCondition:
    """What a note is asked to be. `text` is the pooled MiniLM embedding, or None for 'no text'."""

    text: torch.Tensor | None  # (batch, text_dim)
    family: torch.Tensor  # (batch,) long, N_FAMILIES for none
    pitch: torch.Tensor  # (batch,)
    velocity: torch.Tensor  # (batch,)
    text_keep: torch.Tensor | None = None  # (batch,) bool; False uses the null text embedding


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.modulation = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond)[:, None, :].chunk(6, dim=-1)
        h = self.norm1(x) * (1 + scale1) + shift1
        x = x + gate1 * self.attn(h, h, h, need_weights=False)[0]
        h = self.norm2(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


class TimbreDenoiser(nn.Module):
    """Predicts v for latents (batch, channels, steps) at diffusion time t in [0, 1]."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.latent_in = nn.Linear(config.latent_channels, w)
        self.position = nn.Parameter(torch.randn(config.latent_steps, w) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.text_proj = nn.Sequential(nn.Linear(config.text_dim, w), nn.SiLU(), nn.Linear(w, w))
        self.null_text = nn.Parameter(torch.zeros(config.text_dim))
        self.family = nn.Embedding(N_FAMILIES + 1, w)
        self.note_proj = nn.Linear(2 * w, w)
        self.blocks = nn.ModuleList(Block(w, config.heads) for _ in range(config.layers))
        self.norm_out = nn.LayerNorm(w, elementwise_affine=False)
        self.out = nn.Linear(w, config.latent_channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def condition_vector(self, t: torch.Tensor, condition: TimbreCondition) -> torch.Tensor:
        batch = len(condition.pitch)
        if condition.text is None:
            text = self.null_text.expand(batch, -1)
        else:
            text = condition.text
            if condition.text_keep is not None:
                text = torch.where(condition.text_keep[:, None], text, self.null_text.expand(batch, -1))
        w = self.config.width
        note = torch.cat(
            [sinusoid(condition.pitch, w, 1.0), sinusoid(condition.velocity, w, 0.1)], dim=-1
        )
        return (
            self.time_mlp(sinusoid(t.expand(batch), w, 1000.0))
            + self.text_proj(text)
            + self.family(condition.family)
            + self.note_proj(note)
        )

    def forward(self, latent: torch.Tensor, t: torch.Tensor, condition: TimbreCondition) -> torch.Tensor:
        cond = nn.functional.silu(self.condition_vector(t, condition))
        x = self.latent_in(latent.transpose(1, 2)) + self.position
        for block in self.blocks:
            x = block(x, cond)
        return self.out(self.norm_out(x)).transpose(1, 2)
