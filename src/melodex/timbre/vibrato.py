"""The vibrato head: a note's latent + pitch and velocity -> its vibrato depth, rate and onset delay, and
(heads trained since 2026-11-30) its detune: two oscillators' spread in cents and level ratio.

The autoencoder decodes the slow pitch curve only (an L1 on an oscillation of random phase learns its
mean: flat), so this small MLP predicts the phase-free parameters that `hn.synthesize` adds back. It
reads the frozen autoencoder's latent, so diffusion-generated notes get vibrato without retraining, and
the note's GM program when it is known: from the latent alone, words such as "bright" moved generated
violins far enough that it gave them none. The decoder's single harmonic bank cannot beat either, so
the detune is predicted here the same way (`hn_analysis.estimate_detune` targets).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from melodex.timbre import hn

MAX_DEPTH_CENTS = 50.0
UNKNOWN_PROGRAM = 128
MAX_DELAY_S = 0.3  # the fade is over by 0.5 s, before a sample set's sustain loop starts (0.55 s)


@dataclass(frozen=True)
class VibratoConfig:
    latent_channels: int = 8
    latent_steps: int = 16
    width: int = 256
    layers: int = 3
    program_dim: int = 16  # GM program embedding (UNKNOWN_PROGRAM when not given)
    detune: bool = False  # a second MLP of the same shape for the detune (presence, cents, mix); older heads: none

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class VibratoHead(nn.Module):
    """(latent, conditions) -> raw outputs (batch, 4 or 7): vibrato presence logit, depth, rate, delay, and
    with `config.detune` detune presence logit, cents, mix (see `amounts`, `detune_amounts`).

    The detune has its own MLP and program embedding, so a head trained before it keeps its vibrato
    exactly (trained on shared layers, generated "bright" flutes at cfg 4 lost theirs: 6/6 -> 3/6)."""

    def __init__(self, config: VibratoConfig) -> None:
        super().__init__()
        self.config = config
        self.program, self.net = self._mlp(config, 4)
        if config.detune:
            self.detune_program, self.detune_net = self._mlp(config, 3)

    @staticmethod
    def _mlp(config: VibratoConfig, outputs: int) -> tuple[nn.Embedding, nn.Sequential]:
        layers: list[nn.Module] = []
        width_in = config.latent_channels * config.latent_steps + 2 + config.program_dim
        for _ in range(config.layers):
            layers += [nn.Linear(width_in, config.width), nn.GELU()]
            width_in = config.width
        layers.append(nn.Linear(width_in, outputs))
        return nn.Embedding(UNKNOWN_PROGRAM + 1, config.program_dim), nn.Sequential(*layers)

    def forward(
        self, latent: torch.Tensor, conditions: torch.Tensor, program: torch.Tensor | None = None
    ) -> torch.Tensor:
        if program is None:
            program = torch.full((len(latent),), UNKNOWN_PROGRAM, dtype=torch.long)
        program = program.long()
        raw = self.net(torch.cat([latent.flatten(1), conditions, self.program(program)], dim=1))
        if not self.config.detune:
            return raw
        detune = self.detune_net(torch.cat([latent.flatten(1), conditions, self.detune_program(program)], dim=1))
        return torch.cat([raw, detune], dim=1)

    @staticmethod
    def amounts(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(presence probability, depth cents, rate Hz, delay s), each (batch,), in their ranges."""
        low, high = hn.VIBRATO_RATES
        return (
            torch.sigmoid(raw[:, 0]),
            MAX_DEPTH_CENTS * torch.sigmoid(raw[:, 1]),
            low + (high - low) * torch.sigmoid(raw[:, 2]),
            MAX_DELAY_S * torch.sigmoid(raw[:, 3]),
        )

    @staticmethod
    def detune_amounts(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(detune presence probability, cents, mix), each (batch,), from a detune head's raw outputs."""
        low, high = hn.DETUNE_RANGE
        return torch.sigmoid(raw[:, 4]), low + (high - low) * torch.sigmoid(raw[:, 5]), torch.sigmoid(raw[:, 6])

    @torch.no_grad()
    @torch.no_grad()
    def modulation(
        self, latent: torch.Tensor, conditions: torch.Tensor, program: torch.Tensor | None = None
    ) -> tuple[list[hn.Vibrato], list[hn.Detune]]:
        """One `hn.Vibrato` and one `hn.Detune` per note, from one forward pass: none where the head thinks
        it less likely than not (and no detune from a head without one)."""
        raw = self(latent, conditions, program)
        present, depth, rate, delay = self.amounts(raw)
        vibratos = [hn.Vibrato(float(d), float(r), float(s)) if p >= 0.5 else hn.Vibrato()
                    for p, d, r, s in zip(present, depth, rate, delay, strict=True)]
        if not self.config.detune:
            return vibratos, [hn.Detune()] * len(latent)
        present, cents, mix = self.detune_amounts(raw)
        detunes = [hn.Detune(float(c), float(m)) if p >= 0.5 else hn.Detune()
                   for p, c, m in zip(present, cents, mix, strict=True)]
        return vibratos, detunes


def vibrato_loss(
    head: VibratoHead, latent: torch.Tensor, conditions: torch.Tensor, program: torch.Tensor | None,
    target: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Presence as a classification; depth (cents / 10), rate (Hz) and delay (s / 0.1) by L1 where present.

    `target` (batch, 3) holds each note's analysed depth, rate and delay (depth 0: no vibrato); a detune
    head's (batch, 5) adds the detune's cents (0: none) and mix, learnt the same way (cents / 2, mix / 0.1).
    """
    raw = head(latent, conditions, program)
    present, depth, rate, delay = head.amounts(raw)
    has = (target[:, 0] > 0).float()
    bce = nn.functional.binary_cross_entropy(present.clamp(1e-6, 1 - 1e-6), has)
    count = has.sum().clamp(min=1.0)
    depth_l1 = ((depth - target[:, 0]).abs() / 10 * has).sum() / count
    rate_l1 = ((rate - target[:, 1]).abs() * has).sum() / count
    delay_l1 = ((delay - target[:, 2]).abs() / 0.1 * has).sum() / count
    total = bce + depth_l1 + rate_l1 + delay_l1
    parts = {"bce": float(bce.detach()), "depth_cents": 10 * float(depth_l1.detach()),
             "rate_hz": float(rate_l1.detach()), "delay_s": 0.1 * float(delay_l1.detach())}
    if head.config.detune:
        detuned, cents, mix = head.detune_amounts(raw)
        has = (target[:, 3] > 0).float()
        detune_bce = nn.functional.binary_cross_entropy(detuned.clamp(1e-6, 1 - 1e-6), has)
        count = has.sum().clamp(min=1.0)
        cents_l1 = ((cents - target[:, 3]).abs() / 2 * has).sum() / count
        mix_l1 = ((mix - target[:, 4]).abs() / 0.1 * has).sum() / count
        total = total + detune_bce + cents_l1 + mix_l1
        parts.update(detune_bce=float(detune_bce.detach()), detune_cents=2 * float(cents_l1.detach()),
                     detune_mix=0.1 * float(mix_l1.detach()))
    return total, parts
