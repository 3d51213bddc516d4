"""The timbre pipeline (inference only): text + instrument -> latents -> HN parameters -> a SampleSet.

    model = TimbreModel.load()                      # shipped weights, SHA-256 checked
    kit = model.generate_sampleset(24, "bright, plucky", pitches=[48, 60, 72], velocities=[60, 110])

Steps: 1. embed the timbre text (frozen MiniLM) with the instrument's name; 2. run the diffusion sampler
from seeded noise with classifier-free guidance; 3. decode latents to HN frames; 4. additive + noise
synthesis; 5. wrap each note with its sustain loop and release. Drums are not modelled here: a drum
sample set is SoundFont one-shots (see `soundfont_sampleset`), because a kit's hits are short
transients that recorded samples reproduce exactly and HN parameters do not.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import scipy.signal
import torch
from safetensors.torch import load_file

from melodex.errors import MelodexError
from melodex.instruments import GM_FAMILIES
from melodex.score import DRUM_PROGRAM
from melodex.timbre import hn
from melodex.timbre.autoencoder import AutoencoderConfig, NoteAutoencoder, note_conditions, params_from_features
from melodex.timbre.diffusion import N_FAMILIES, DiffusionConfig, TimbreCondition, TimbreDenoiser
from melodex.timbre.sampleset import NoteSample, SampleSet, note_sample, soundfont_sampleset
from melodex.timbre.schedulers import DDIMScheduler

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights" / "timbre"
WEIGHT_FILES = ("autoencoder.safetensors", "diffusion.safetensors")


class TimbreModelError(MelodexError):
    """Timbre weights that are missing, altered, or from an unknown version."""


@dataclass(frozen=True)
class GenerationOptions:
    cfg: float = 3.0
    steps: int = 20
    seed: int = 0


def instrument_text(program: int, text: str) -> str:
    """The text the model was trained on: descriptors, then the instrument's name."""
    from melodex.timbre.notes import simple_name

    name = simple_name(program)
    text = text.strip()
    return name if not text else (text if name in text.lower() else f"{text} {name}")


class TimbreModel:
    """Autoencoder + diffusion denoiser + sampler; makes instrument sample sets from text."""

    def __init__(
        self, autoencoder: NoteAutoencoder, denoiser: TimbreDenoiser, latent_scale: float, version: str = "dev"
    ) -> None:
        self.autoencoder = autoencoder.eval()
        self.denoiser = denoiser.eval()
        self.latent_scale = latent_scale  # latents are divided by this so diffusion sees unit variance
        self.version = version

    @classmethod
    def load(cls, directory: str | Path | None = None) -> TimbreModel:
        """Rebuild both models from config.json and check every weight file's SHA-256 (never unpickles)."""
        folder = Path(directory) if directory is not None else WEIGHTS_DIR
        config_path = folder / "config.json"
        if not config_path.is_file():
            raise TimbreModelError(f"no timbre weights in {folder}: run `melodex train timbre` or reinstall")
        config = json.loads(config_path.read_text())
        if config.get("format") != 1:
            raise TimbreModelError(f"{config_path} has format {config.get('format')!r}; this Melodex reads 1")
        for name in WEIGHT_FILES:
            digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
            if digest != config["sha256"][name]:
                raise TimbreModelError(f"{folder / name} does not match its SHA-256: reinstall the weights")
        autoencoder = NoteAutoencoder(AutoencoderConfig(**config["autoencoder"]))
        autoencoder.load_state_dict(load_file(folder / "autoencoder.safetensors"))
        denoiser = TimbreDenoiser(DiffusionConfig(**config["diffusion"]))
        denoiser.load_state_dict(load_file(folder / "diffusion.safetensors"))
        return cls(autoencoder, denoiser, float(config["latent_scale"]), str(config.get("version", "dev")))

    # -- generation -----------------------------------------------------------------------------

    def text_embedding(self, texts: list[str]) -> torch.Tensor:
        from melodex.text import embed

        return torch.from_numpy(embed(texts))

    @torch.no_grad()
    def sample_latents(
        self,
        text_embedding: torch.Tensor,
        family: torch.Tensor,
        pitch: torch.Tensor,
        velocity: torch.Tensor,
        options: GenerationOptions,
        noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(initial noise, final latent in autoencoder units) for a batch of notes."""
        config = self.denoiser.config
        batch = len(pitch)
        if noise is None:
            generator = torch.Generator().manual_seed(options.seed)
            noise = torch.randn(batch, config.latent_channels, config.latent_steps, generator=generator)
        scheduler = DDIMScheduler(options.steps)
        cond = TimbreCondition(text_embedding, family, pitch, velocity)
        uncond = TimbreCondition(None, torch.full_like(family, N_FAMILIES), pitch, velocity)
        sample = noise.clone()
        for t in scheduler.timesteps:
            v = self.denoiser(sample, t, cond)
            if options.cfg != 1.0:
                v_uncond = self.denoiser(sample, t, uncond)
                v = v_uncond + options.cfg * (v - v_uncond)
            sample = scheduler.step(v, t, sample)
        return noise, sample * self.latent_scale

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, pitch: torch.Tensor, velocity: torch.Tensor) -> list[hn.HNParams]:
        features = self.autoencoder.denormalise(self.autoencoder.decode(latent, note_conditions(pitch, velocity)))
        return [params_from_features(f.numpy(), int(p)) for f, p in zip(features, pitch, strict=True)]

    def generate_notes(
        self,
        program: int,
        text: str,
        pitches: list[int],
        velocities: list[int],
        options: GenerationOptions,
        text_b: str | None = None,
        mix: float = 0.0,
    ) -> list[tuple[int, int, np.ndarray, torch.Tensor, torch.Tensor]]:
        """[(pitch, velocity, audio, initial noise, latent)]; `mix` moves the text towards `text_b`.

        Every note of a set shares the seed's noise, so one timbre sounds alike across its keys.
        """
        if not 0 <= program < DRUM_PROGRAM:
            raise TimbreModelError(f"program {program} is not a pitched GM program 0-127")
        keys = [(p, v) for v in velocities for p in pitches]
        if not keys:
            raise TimbreModelError("ask for at least one pitch and one velocity")
        embedding = self.text_embedding([instrument_text(program, text)])
        if text_b is not None and mix != 0.0:
            other = self.text_embedding([instrument_text(program, text_b)])
            embedding = torch.nn.functional.normalize((1 - mix) * embedding + mix * other, dim=-1)
        config = self.denoiser.config
        generator = torch.Generator().manual_seed(options.seed)
        shared = torch.randn(1, config.latent_channels, config.latent_steps, generator=generator)
        pitch = torch.tensor([p for p, _ in keys])
        velocity = torch.tensor([v for _, v in keys])
        family = torch.full((len(keys),), program // 8, dtype=torch.long)
        noise, latents = self.sample_latents(
            embedding.expand(len(keys), -1), family, pitch, velocity, options, shared.expand(len(keys), -1, -1)
        )
        notes = []
        for i, params in enumerate(self.decode(latents, pitch, velocity)):
            audio = hn.synthesize(params, seed=options.seed + i, tuned=True)
            notes.append((keys[i][0], keys[i][1], audio, noise[i], latents[i]))
        return notes

    def generate_sampleset(
        self,
        program: int,
        text: str,
        pitches: list[int],
        velocities: list[int],
        cfg: float = 3.0,
        steps: int = 20,
        seed: int = 0,
        text_b: str | None = None,
        mix: float = 0.0,
        sample_rate: int = hn.SAMPLE_RATE,
    ) -> SampleSet:
        """A sample set for `program` sounding like `text`; DRUM_PROGRAM gives SoundFont one-shots.

        Notes are synthesised at 44.1 kHz and resampled when another `sample_rate` is asked for.
        """
        if program == DRUM_PROGRAM:
            return soundfont_sampleset(program, list(pitches), list(velocities), sample_rate=sample_rate)
        options = GenerationOptions(cfg=cfg, steps=steps, seed=seed)
        notes: dict[tuple[int, int], NoteSample] = {}
        release_start = round(hn.HOLD_S * sample_rate)
        divisor = gcd(sample_rate, hn.SAMPLE_RATE)
        for pitch, velocity, audio, noise, latent in self.generate_notes(
            program, text, list(pitches), list(velocities), options, text_b, mix
        ):
            if sample_rate != hn.SAMPLE_RATE:
                up, down = sample_rate // divisor, hn.SAMPLE_RATE // divisor
                audio = scipy.signal.resample_poly(audio, up, down).astype(np.float32)
            notes[(pitch, velocity)] = note_sample(
                audio, pitch, release_start, sample_rate, initial_noise=noise.numpy(), latent=latent.numpy()
            )
        settings: dict[str, float | int | str] = {"cfg": cfg, "steps": steps, "seed": seed}
        if text_b is not None:
            settings.update(text_b=text_b, mix=mix)
        return SampleSet(
            program=program,
            is_drum=False,
            sample_rate=sample_rate,
            notes=notes,
            text=text,
            source=f"timbre-model {self.version}",
            settings=settings,
        )


def family_index(program: int) -> int:
    return N_FAMILIES - 1 if program == DRUM_PROGRAM else program // 8


assert len(GM_FAMILIES) == N_FAMILIES - 1
