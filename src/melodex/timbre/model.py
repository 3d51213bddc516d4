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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
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
from melodex.timbre.schedulers import DDIMScheduler, alpha_sigma
from melodex.timbre.vibrato import VibratoConfig, VibratoHead

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights" / "timbre"
WEIGHT_FILES = ("autoencoder.safetensors", "diffusion.safetensors")
VIBRATO_FILE = "vibrato.safetensors"  # optional: weights folders from before it load without vibrato


class TimbreModelError(MelodexError):
    """Timbre weights that are missing, altered, or from an unknown version."""


@dataclass(frozen=True)
class GenerationOptions:
    cfg: float = 3.0
    steps: int = 20
    seed: int = 0
    # What guidance pushes away from. True: the bare instrument (its name and family, no other words),
    # so cfg scales what the words ask for and an instrument without words sounds as trained. False:
    # no text and no family, which also scales what sets the instrument apart from all the others
    # (wind and string attacks came out twice as slow as the training notes' at cfg 3).
    guide_words: bool = True
    # Guidance rescale (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed"),
    # on the predicted clean latent: the guided one is scaled to the per-note std of the text-conditioned
    # one and mixed with the plain guided one by this weight; 0 is plain classifier-free guidance.
    rescale: float = 0.0
    # Dynamic thresholding of the predicted clean latent (Saharia et al. 2022), in units of the diffusion
    # latent (unit variance in training): a note whose 99.5th-percentile |latent| passes this is scaled
    # back into it at every step. None leaves the prediction alone.
    clean_limit: float | None = None
    # At most this many dB louder (`note_level_db`, a bound on the peak) than the same note made without
    # guidance: the words ask for a timbre, not for a level, and at high cfg some notes came out 10-130x
    # louder than their instrument unguided. Costs one unguided diffusion run more; None: no limit.
    level_limit_db: float | None = 6.0
    # Add the vibrato head's modulation (weights that have one). False: notes as before the head, which is
    # how a project made before it re-makes its timbres.
    vibrato: bool = True
    # Add the head's detune (a second harmonic bank) for notes it finds detuned, if the head predicts one.
    # False: one bank, as before 2026-11-30, which is how a project made before it re-makes its timbres.
    detune: bool = True
    # A SoundFont name: each note is that SoundFont's recording of the program, pitch and velocity, changed
    # by what the words change in the decoded note (`timbre.transform`) instead of synthesised from the
    # decoded note. None: synthesised (every note before 2026-12-02).
    carrier: str | None = None

def guided_prediction(
    v: torch.Tensor, v_reference: torch.Tensor, sample: torch.Tensor, t: torch.Tensor, cfg: float, rescale: float
) -> torch.Tensor:
    """Classifier-free guidance of v from `v_reference` towards `v`, with guidance rescale `rescale`.

    Lin et al. rescale v itself; here the clean latent it predicts is rescaled, which is what the decoder
    hears (v-space rescale at 16 steps left more notes loud: see docs/RESULTS.md).
    """
    guided = v_reference + cfg * (v - v_reference)
    if rescale == 0.0:
        return guided
    alpha, sigma = alpha_sigma(t)
    clean, clean_guided = alpha * sample - sigma * v, alpha * sample - sigma * guided
    dims = tuple(range(1, v.dim()))
    std, std_guided = clean.std(dim=dims, keepdim=True), clean_guided.std(dim=dims, keepdim=True)
    matched = clean_guided * (std / std_guided.clamp_min(1e-8))
    clean_guided = rescale * matched + (1 - rescale) * clean_guided
    return (alpha * sample - clean_guided) / sigma


# Share of the spectrum each noise band covers: a band's level is a spectral density, so the noise's std
# is the root of the bands' squared levels weighted by these (within 2x of the synthesised std).
_NOISE_BAND_SHARE = np.diff(hn.NOISE_EDGES) / (hn.SAMPLE_RATE / 2)


def note_level_db(params: hn.HNParams) -> float:
    """A bound on the note's peak in dB: the loudest frame's partial amplitudes summed (they can meet in
    phase) plus four standard deviations of its noise."""
    harmonic = params.harmonics.astype(np.float64).sum(1)
    noise = np.sqrt((params.noise.astype(np.float64) ** 2 * _NOISE_BAND_SHARE).sum(1))
    return float(20 * np.log10((harmonic + 4 * noise).max() + 1e-20))


def level_limited(params: hn.HNParams, unguided: hn.HNParams, limit_db: float) -> hn.HNParams:
    """`params` turned down to at most `limit_db` above `unguided` (same shape of sound, lower level)."""
    excess = note_level_db(params) - note_level_db(unguided) - limit_db
    if excess <= 0:
        return params
    gain = 10 ** (-excess / 20)
    return replace(params, harmonics=params.harmonics * gain, noise=params.noise * gain)


def instrument_text(program: int, text: str) -> str:
    """The text the model was trained on: descriptors, then the instrument's name."""
    from melodex.timbre.notes import simple_name

    name = simple_name(program)
    text = text.strip()
    return name if not text else (text if name in text.lower() else f"{text} {name}")


@dataclass(frozen=True)
class TimbreRequest:
    """One instrument to generate: its notes share one seed's noise, so they sound alike across keys."""

    program: int
    text: str
    pitches: tuple[int, ...]
    velocities: tuple[int, ...]
    seed: int = 0
    text_b: str | None = None  # with `mix`, moves the text towards this one
    mix: float = 0.0


GeneratedNote = tuple[int, int, np.ndarray, torch.Tensor, torch.Tensor]  # pitch, velocity, audio, noise, latent


class TimbreModel:
    """Autoencoder + diffusion denoiser + sampler; makes instrument sample sets from text."""

    def __init__(
        self,
        autoencoder: NoteAutoencoder,
        denoiser: TimbreDenoiser,
        latent_scale: float,
        version: str = "dev",
        vibrato: VibratoHead | None = None,
    ) -> None:
        self.autoencoder = autoencoder.eval()
        self.denoiser = denoiser.eval()
        self.vibrato = vibrato.eval() if vibrato is not None else None  # None: decoded notes keep no vibrato
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
        names = [*WEIGHT_FILES, VIBRATO_FILE] if VIBRATO_FILE in config["sha256"] else list(WEIGHT_FILES)
        for name in names:
            digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
            if digest != config["sha256"][name]:
                raise TimbreModelError(f"{folder / name} does not match its SHA-256: reinstall the weights")
        autoencoder = NoteAutoencoder(AutoencoderConfig(**config["autoencoder"]))
        autoencoder.load_state_dict(load_file(folder / "autoencoder.safetensors"))
        denoiser = TimbreDenoiser(DiffusionConfig(**config["diffusion"]))
        denoiser.load_state_dict(load_file(folder / "diffusion.safetensors"))
        vibrato = None
        if VIBRATO_FILE in names:
            vibrato = VibratoHead(VibratoConfig(**config["vibrato"]))
            vibrato.load_state_dict(load_file(folder / VIBRATO_FILE))
        return cls(autoencoder, denoiser, float(config["latent_scale"]), str(config.get("version", "dev")), vibrato)

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
        reference_text: torch.Tensor | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(initial noise, final latent in autoencoder units) for a batch of notes.

        `reference_text` embeds each note's bare instrument, what `options.guide_words` guides from.
        With guidance, the guided and unguided predictions come from one forward pass over a batch
        twice as large: half the calls, which is what a model this small spends its time on.
        """
        noise, latent, _ = self._sample(text_embedding, family, pitch, velocity, options, noise, reference_text,
                                        progress, unguided=False)
        return noise, latent

    @torch.no_grad()
    def _sample(
        self,
        text_embedding: torch.Tensor,
        family: torch.Tensor,
        pitch: torch.Tensor,
        velocity: torch.Tensor,
        options: GenerationOptions,
        noise: torch.Tensor | None,
        reference_text: torch.Tensor | None,
        progress: Callable[[float], None] | None,
        unguided: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """`sample_latents`, and with `unguided` (and guidance) also the latents the same noise gives at
        cfg 1 (what the level limit compares with): that second trajectory rides in the same forward
        passes, a third of their batch, so the two runs cost 16 calls instead of 32 (the calls, not the
        batch, are what this small model spends its time on)."""
        config = self.denoiser.config
        batch = len(pitch)
        if noise is None:
            generator = torch.Generator().manual_seed(options.seed)
            noise = torch.randn(batch, config.latent_channels, config.latent_steps, generator=generator)
        scheduler = DDIMScheduler(options.steps)
        cond = TimbreCondition(text_embedding, family, pitch, velocity)
        if options.guide_words:
            if reference_text is None:
                raise TimbreModelError("guidance from the bare instrument needs its text embedding")
            both = TimbreCondition(
                torch.cat([text_embedding, reference_text]), family.repeat(2), pitch.repeat(2), velocity.repeat(2)
            )
        else:
            both = TimbreCondition(
                text_embedding.repeat(2, 1),
                torch.cat([family, torch.full_like(family, N_FAMILIES)]),
                pitch.repeat(2),
                velocity.repeat(2),
                torch.arange(2 * batch) < batch,
            )
        plain = noise.clone() if unguided and options.cfg != 1.0 else None
        if plain is not None:
            keep = both.text_keep
            both = TimbreCondition(
                torch.cat([both.text, text_embedding]) if both.text is not None else None,
                torch.cat([both.family, family]), torch.cat([both.pitch, pitch]),
                torch.cat([both.velocity, velocity]),
                None if keep is None else torch.cat([keep, torch.ones(batch, dtype=torch.bool)]),
            )
        sample = noise.clone()
        for step, t in enumerate(scheduler.timesteps):
            if progress is not None:
                progress(step / len(scheduler.timesteps))
            if options.cfg != 1.0:
                rows = [sample, sample] if plain is None else [sample, sample, plain]
                predicted = self.denoiser(torch.cat(rows), t, both)
                v, v_reference = predicted[: 2 * batch].chunk(2)
                v = guided_prediction(v, v_reference, sample, t, options.cfg, options.rescale)
                if plain is not None:
                    plain = scheduler.step(predicted[2 * batch :], t, plain, options.clean_limit)
            else:
                v = self.denoiser(sample, t, cond)
            sample = scheduler.step(v, t, sample, options.clean_limit)
        return noise, sample * self.latent_scale, None if plain is None else plain * self.latent_scale

    @torch.no_grad()
    def decode(
        self,
        latent: torch.Tensor,
        pitch: torch.Tensor,
        velocity: torch.Tensor,
        vibrato: bool = True,
        program: torch.Tensor | None = None,
        detune: bool = True,
    ) -> list[hn.HNParams]:
        """HN parameters of each latent: the decoder's frames, plus the vibrato head's modulation and detune
        if loaded and asked for (`program`, each note's GM program, helps it; None: unknown)."""
        conditions = note_conditions(pitch, velocity)
        features = self.autoencoder.denormalise(self.autoencoder.decode(latent, conditions))
        floor = self.autoencoder.config.floor_db
        params = [params_from_features(f.numpy(), int(p), floor) for f, p in zip(features, pitch, strict=True)]
        if self.vibrato is None or not (vibrato or detune):
            return params
        found, spread = self.vibrato.modulation(latent, conditions, program)
        return [replace(p, vibrato=v if vibrato else p.vibrato, detune=d if detune else p.detune)
                for p, v, d in zip(params, found, spread, strict=True)]

    def generate_notes(
        self,
        program: int,
        text: str,
        pitches: list[int],
        velocities: list[int],
        options: GenerationOptions,
        text_b: str | None = None,
        mix: float = 0.0,
    ) -> list[GeneratedNote]:
        """[(pitch, velocity, audio, initial noise, latent)]; `mix` moves the text towards `text_b`.

        Every note of a set shares the seed's noise, so one timbre sounds alike across its keys.
        """
        request = TimbreRequest(program, text, tuple(pitches), tuple(velocities), options.seed, text_b, mix)
        return self.generate_many([request], options)[0]

    def generate_many(self, requests: list[TimbreRequest], options: GenerationOptions) -> list[list[GeneratedNote]]:
        """`generate_notes` for several instruments at once: one text-embedding call, one diffusion run
        over every note of every request, and the notes synthesised on two threads. Each request's seed
        replaces `options.seed`, so a request sounds the same alone or in company."""
        return self._generate(requests, options)[0]

    def _generate(
        self, requests: list[TimbreRequest], options: GenerationOptions,
        progress: Callable[[float], None] | None = None,
    ) -> tuple[list[list[GeneratedNote]], list[list[hn.HNParams]]]:
        """`generate_many`'s notes, and per request the HN parameters each note was synthesised from."""
        limited = options.level_limit_db is not None and options.cfg != 1.0
        # Where the time goes with the shipped model (3 tracks, 16 steps, cfg 4, the unguided run riding in
        # the guided one's passes): the progress reported.
        phases = (0.0, 0.55, 0.55, 1.0)

        def phase(index: int) -> Callable[[float], None] | None:
            if progress is None:
                return None
            low, high = phases[index], phases[index + 1]
            return lambda fraction: progress(low + (high - low) * fraction)

        for request in requests:
            if not 0 <= request.program < DRUM_PROGRAM:
                raise TimbreModelError(f"program {request.program} is not a pitched GM program 0-127")
            if not request.pitches or not request.velocities:
                raise TimbreModelError("ask for at least one pitch and one velocity")
        texts = [instrument_text(r.program, r.text) for r in requests]
        blends = [(i, instrument_text(r.program, r.text_b)) for i, r in enumerate(requests)
                  if r.text_b is not None and r.mix != 0.0]
        names = [instrument_text(r.program, "") for r in requests] if options.guide_words or options.carrier else []
        vectors = self.text_embedding(texts + [text for _, text in blends] + names)
        embeddings = vectors[: len(requests)].clone()
        for row, (i, _) in enumerate(blends):
            mix = requests[i].mix
            embeddings[i] = torch.nn.functional.normalize(
                (1 - mix) * embeddings[i] + mix * vectors[len(requests) + row], dim=-1
            )
        config = self.denoiser.config
        keys, owner, noises, seeds = [], [], [], []
        for i, request in enumerate(requests):
            generator = torch.Generator().manual_seed(request.seed)
            shared = torch.randn(1, config.latent_channels, config.latent_steps, generator=generator)
            request_keys = [(p, v) for v in request.velocities for p in request.pitches]
            keys += request_keys
            owner += [i] * len(request_keys)
            seeds += [request.seed + k for k in range(len(request_keys))]  # the noise part of each note
            noises.append(shared.expand(len(request_keys), -1, -1))
        rows = torch.tensor(owner)
        pitch = torch.tensor([p for p, _ in keys])
        velocity = torch.tensor([v for _, v in keys])
        family = torch.tensor([requests[i].program // 8 for i in owner], dtype=torch.long)
        reference = vectors[len(texts) + len(blends) :][rows] if options.guide_words else None
        noise, latents, unguided = self._sample(
            embeddings[rows], family, pitch, velocity, options, torch.cat(noises), reference, phase(0), limited
        )
        programs = torch.tensor([requests[i].program for i in owner])
        params = self.decode(latents, pitch, velocity, options.vibrato, programs, options.detune)
        if unguided is not None and options.level_limit_db is not None:
            params = [level_limited(p, u, options.level_limit_db)
                      for p, u in zip(params, self.decode(unguided, pitch, velocity, False, detune=False),
                                      strict=True)]
        synthesis = phase(2)
        recordings: list[np.ndarray] = []
        bare: list[hn.HNParams] = []
        if options.carrier is not None:
            from melodex.soundfont import loaded_soundfont

            bare_text = vectors[len(texts) + len(blends) :][rows]
            _, bare_latents = self.sample_latents(bare_text, family, pitch, velocity, replace(options, cfg=1.0),
                                                  torch.cat(noises), bare_text)
            bare = self.decode(bare_latents, pitch, velocity, False, detune=False)
            synth = loaded_soundfont(options.carrier)
            release_s = hn.NOTE_FRAMES / hn.SAMPLE_RATE - hn.HOLD_S
            # Recorded here, on this thread: FluidSynth synths borrowing one SoundFont are not shared.
            recordings = [synth.render_note(requests[owner[n]].program, p, v, hn.HOLD_S, release_s,
                                            hn.SAMPLE_RATE)[: hn.NOTE_FRAMES] for n, (p, v) in enumerate(keys)]

        def make(n: int) -> np.ndarray:
            if recordings:
                from melodex.timbre.transform import transform

                return transform(recordings[n], params[n], bare[n])
            return hn.synthesize(params[n], seed=seeds[n], tuned=True)

        with ThreadPoolExecutor(max_workers=2) as pool:  # numpy releases the GIL: both cores synthesise
            audio = []
            for done, note in enumerate(pool.map(make, range(len(params)))):
                audio.append(note)
                if synthesis is not None:
                    synthesis((done + 1) / len(params))
        notes: list[list[GeneratedNote]] = [[] for _ in requests]
        made: list[list[hn.HNParams]] = [[] for _ in requests]
        for n, i in enumerate(owner):
            notes[i].append((keys[n][0], keys[n][1], audio[n], noise[n], latents[n]))
            made[i].append(params[n])
        return notes, made

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
        request = TimbreRequest(program, text, tuple(pitches), tuple(velocities), seed, text_b, mix)
        return self.generate_samplesets([request], GenerationOptions(cfg=cfg, steps=steps), sample_rate)[0]

    def generate_samplesets(
        self, requests: list[TimbreRequest], options: GenerationOptions, sample_rate: int = hn.SAMPLE_RATE,
        progress: Callable[[float], None] | None = None,
    ) -> list[SampleSet]:
        """One sample set per request (pitched programs), all generated in one batch (`generate_many`);
        `progress` hears the share done (diffusion steps, then synthesis)."""
        release_start = round(hn.HOLD_S * sample_rate)
        divisor = gcd(sample_rate, hn.SAMPLE_RATE)
        sets = []
        for request, generated, params in zip(requests, *self._generate(requests, options, progress), strict=True):
            notes: dict[tuple[int, int], NoteSample] = {}
            # The loop holds whole vibrato cycles of the notes that have one.
            rates = [p.vibrato.rate_hz if p.vibrato.depth_cents > 0 else 0.0 for p in params]
            for (pitch, velocity, audio, noise, latent), rate in zip(generated, rates, strict=True):
                if sample_rate != hn.SAMPLE_RATE:
                    up, down = sample_rate // divisor, hn.SAMPLE_RATE // divisor
                    audio = scipy.signal.resample_poly(audio, up, down).astype(np.float32)
                notes[(pitch, velocity)] = note_sample(
                    audio, pitch, release_start, sample_rate, initial_noise=noise.numpy(), latent=latent.numpy(),
                    vibrato_hz=rate,
                )
            settings: dict[str, float | int | str] = {"cfg": options.cfg, "steps": options.steps, "seed": request.seed}
            if options.level_limit_db is not None:  # sets made before 2026-11-30 have no limit
                settings["level_limit_db"] = options.level_limit_db
            if self.vibrato is not None and options.vibrato:
                settings["vibrato"] = 1  # made with the vibrato head: the same seed without it sounds steadier
            if self.vibrato is not None and self.vibrato.config.detune and options.detune:
                settings["detune"] = 1  # detuned notes have a second bank: without it they do not beat
            if request.text_b is not None:
                settings.update(text_b=request.text_b, mix=request.mix)
            sets.append(
                SampleSet(
                    program=request.program,
                    is_drum=False,
                    sample_rate=sample_rate,
                    notes=notes,
                    text=request.text,
                    source=f"timbre-model {self.version}",
                    settings=settings,
                )
            )
        return sets


def family_index(program: int) -> int:
    return N_FAMILIES - 1 if program == DRUM_PROGRAM else program // 8


assert len(GM_FAMILIES) == N_FAMILIES - 1
