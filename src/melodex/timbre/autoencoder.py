"""The note autoencoder: HN frames of a note <-> a short latent sequence (the space timbre diffusion works in).

Input per frame: partial levels (dB), noise-band levels (dB), pitch deviation, and the note's stretch
and attack as constant channels. A strided 1-D conv encoder maps 128 frames to 16 latent steps of a few
channels (a small VAE: the KL term keeps the space smooth for diffusion); the decoder mirrors it. Both
know the note's pitch and velocity, so the latent carries timbre rather than what is already given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from melodex.timbre import hn

N_FEATURES = hn.N_HARMONICS + hn.N_NOISE_BANDS + 3  # + cents, log stretch, log attack
CENTS = hn.N_HARMONICS + hn.N_NOISE_BANDS
STRETCH, ATTACK = CENTS + 1, CENTS + 2


@dataclass(frozen=True)
class AutoencoderConfig:
    width: int = 64
    latent_channels: int = 8
    downsamples: int = 3  # 128 frames -> 16 latent steps
    blocks: int = 1  # residual blocks at each resolution
    # The decoder's levels reach down to here (dB, absolute); lower is silence. The encoder reads levels
    # down to hn.NOISE_FLOOR_DB (-100) whatever this is, so a decoder fine-tuned to a deeper floor
    # (`melodex train timbre-decoder`) reads the latents every earlier model and project made. At -100 the
    # partials above 4 kHz of a piano fell silent within 0.1 s of the release (they sit at -60 to -110 dB).
    floor_db: float = hn.NOISE_FLOOR_DB

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def latent_steps(self) -> int:
        return hn.N_FRAMES // 2**self.downsamples


def note_conditions(pitch: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
    """(batch, 2) scaled pitch and velocity, the conditions every timbre model receives."""
    return torch.stack([(pitch.float() - 60) / 24, (velocity.float() - 80) / 40], dim=-1)


def features_from_params(params: hn.HNParams, floor_db: float = hn.NOISE_FLOOR_DB) -> np.ndarray:
    """(N_FRAMES, N_FEATURES) unnormalised features of one note, levels clipped at `floor_db` (the
    encoder's input: the default)."""
    harm = np.maximum(20 * np.log10(np.maximum(params.harmonics, 1e-9)), floor_db)
    noise = np.maximum(20 * np.log10(np.maximum(params.noise, 1e-9)), floor_db)
    const = np.ones((hn.N_FRAMES, 1))
    return np.concatenate(
        [
            harm,
            noise,
            params.cents[:, None],
            const * np.log10(params.stretch + 1e-6),
            const * np.log10(params.attack_s),
        ],
        axis=1,
    ).astype(np.float32)


def params_from_features(features: np.ndarray, pitch: int, floor_db: float = hn.NOISE_FLOOR_DB) -> hn.HNParams:
    """Inverse of `features_from_params`: levels under `floor_db` + 5 dB are silence."""
    harm_db = features[:, : hn.N_HARMONICS]
    noise_db = features[:, hn.N_HARMONICS : CENTS]
    silent = floor_db + 5
    return hn.HNParams(
        pitch=pitch,
        harmonics=np.where(harm_db > silent, 10 ** (harm_db / 20), 0.0).astype(np.float32),
        noise=np.where(noise_db > silent, 10 ** (noise_db / 20), 0.0).astype(np.float32),
        cents=np.clip(features[:, CENTS], -100, 100).astype(np.float32),
        stretch=float(max(0.0, 10 ** float(np.mean(features[:, STRETCH])) - 1e-6)),
        attack_s=float(np.clip(10 ** float(np.mean(features[:, ATTACK])), 0.0005, 1.0)),
    )


def audible_mask(pitch: torch.Tensor) -> torch.Tensor:
    """(batch, N_FEATURES) 1 where a feature matters: partials above TOP_HZ are never synthesised."""
    f0 = 440.0 * 2 ** ((pitch.float() - 69) / 12)
    k = torch.arange(1, hn.N_HARMONICS + 1, dtype=torch.float32)
    partials = (k[None, :] * f0[:, None] < hn.TOP_HZ).float()
    return torch.cat([partials, torch.ones(len(pitch), N_FEATURES - hn.N_HARMONICS)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(8, width)
        self.conv1 = nn.Conv1d(width, width, 3, padding=1)
        self.conv2 = nn.Conv1d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(nn.functional.gelu(self.conv1(nn.functional.gelu(self.norm(x)))))


class NoteAutoencoder(nn.Module):
    """Features (batch, N_FEATURES, N_FRAMES) <-> latents (batch, latent_channels, latent_steps)."""

    feature_mean: torch.Tensor
    feature_std: torch.Tensor

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        # Per-feature normalisation, measured on the training notes and shipped with the weights.
        self.register_buffer("feature_mean", torch.zeros(N_FEATURES))
        self.register_buffer("feature_std", torch.ones(N_FEATURES))
        enc: list[nn.Module] = [nn.Conv1d(N_FEATURES + 2, w, 3, padding=1)]
        for _ in range(config.downsamples):
            enc += [ResBlock(w) for _ in range(config.blocks)]
            enc += [nn.Conv1d(w, w, 4, stride=2, padding=1)]
        enc += [ResBlock(w), nn.GroupNorm(8, w), nn.GELU(), nn.Conv1d(w, 2 * config.latent_channels, 1)]
        self.encoder = nn.Sequential(*enc)
        self.decoder_in = nn.Conv1d(config.latent_channels + 2, w, 3, padding=1)
        dec: list[nn.Module] = [ResBlock(w)]
        for _ in range(config.downsamples):
            dec += [nn.Upsample(scale_factor=2, mode="linear"), nn.Conv1d(w, w, 3, padding=1)]
            dec += [ResBlock(w) for _ in range(config.blocks)]
        dec += [nn.GroupNorm(8, w), nn.GELU(), nn.Conv1d(w, N_FEATURES, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    def normalise(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, frames, N_FEATURES) raw -> (batch, N_FEATURES, frames) normalised."""
        return ((features - self.feature_mean) / self.feature_std).transpose(1, 2)

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2) * self.feature_std + self.feature_mean

    def _with_conditions(self, x: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, conditions[:, :, None].expand(-1, -1, x.shape[-1])], dim=1)

    def encode(self, x: torch.Tensor, conditions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-variance) of the latent for normalised features x."""
        mean, logvar = self.encoder(self._with_conditions(x, conditions)).chunk(2, dim=1)
        return mean, logvar.clamp(-12, 6)

    def decode(self, latent: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """Normalised features (batch, N_FEATURES, N_FRAMES)."""
        return self.decoder(self.decoder_in(self._with_conditions(latent, conditions)))
