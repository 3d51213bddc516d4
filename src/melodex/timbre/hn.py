"""Harmonic-plus-noise (HN) notes: the representation, and fast additive resynthesis.

A note is a fixed grid of `N_FRAMES` frames (hop `HOP` at 44.1 kHz, 1.49 s): per frame the amplitudes
of `N_HARMONICS` partials, the level of `N_NOISE_BANDS` mel-spaced noise bands and a pitch deviation in
cents (vibrato, tuning), plus per-note partial stretch (piano inharmonicity), attack time, a phase-free
`Vibrato` (depth, rate, onset delay) and a phase-free `Detune` (cents, level ratio). `synthesize` adds a
sample-level onset ramp (attacks), a faded-in sinusoid of the vibrato's depth and rate (a model decodes
only the slow cents curve), its phase from the seed, the stretched partials (piano), and detuned pads as
a second harmonic bank, its partials' phases from the seed (no detune is the one bank, sample for sample
as before). Measuring all of this from a recording is `hn_analysis`. The decoder is vectorised numpy:
about 0.03 s per second of audio (one core).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.signal

SAMPLE_RATE = 44100
HOP = 512
N_FRAMES = 128
NOTE_FRAMES = HOP * N_FRAMES  # 65536 samples = 1.486 s: 1.0 s held, then the release
HOLD_S = 1.0
N_HARMONICS = 80
N_NOISE_BANDS = 32
TOP_HZ = 19000.0  # partials above are left out: inaudible for most, and alias-prone when vibrato bends up
NOISE_FLOOR_DB = -100.0
AMP_FLOOR = 1e-6
NOISE_NFFT = 1024
NOISE_HOP = 256


def midi_hz(pitch: float) -> float:
    return float(440.0 * 2 ** ((pitch - 69) / 12))


FRAME_RATE = SAMPLE_RATE / HOP  # 86.1 frames per second
VIBRATO_RATES = (3.0, 9.0)  # Hz searched for a vibrato
VIBRATO_FADE_S = 0.2  # the depth grows from 0 over this long, from the onset delay on
DETUNE_RANGE = (1.0, 30.0)  # cents searched for a detune (two oscillators this far apart)


@dataclass(frozen=True)
class Vibrato:
    """A note's pitch modulation, phase-free: depth (peak cents of the sinusoid), rate (Hz), and the onset
    delay (s) after which the depth fades in over VIBRATO_FADE_S. Depth 0 is no vibrato."""

    depth_cents: float = 0.0
    rate_hz: float = 0.0
    delay_s: float = 0.0


@dataclass(frozen=True)
class Detune:
    """Two oscillators `cents` apart, the second at `mix` of the first's level (0-1), phase-free, as the
    partials of a detuned or chorused pad beat. Cents 0 is one oscillator (one harmonic bank)."""

    cents: float = 0.0
    mix: float = 0.0


@dataclass(frozen=True)
class HNParams:
    """One note in harmonic-plus-noise form (linear amplitudes; noise as white-noise std per band).

    `cents` is the frame-rate pitch curve; `vibrato`, when it has depth, is added to it at synthesis
    (the autoencoder decodes only the slow curve: an oscillation of random phase averages out to flat).
    """

    pitch: int
    harmonics: np.ndarray  # (N_FRAMES, N_HARMONICS) sinusoid amplitudes
    noise: np.ndarray  # (N_FRAMES, N_NOISE_BANDS) std of the band-limited white noise
    cents: np.ndarray  # (N_FRAMES,) pitch deviation from `pitch`
    stretch: float  # B in f_k = k f0 sqrt(1 + B k^2)
    attack_s: float  # onset to 90% of the first peak
    vibrato: Vibrato = Vibrato()
    detune: Detune = Detune()


def _mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10 ** (mel / 2595.0) - 1.0)


NOISE_EDGES = _mel_to_hz(np.linspace(0.0, float(_mel(SAMPLE_RATE / 2)), N_NOISE_BANDS + 1))
NOISE_CENTRES = np.sqrt(np.maximum(NOISE_EDGES[:-1], 20.0) * NOISE_EDGES[1:])


def partial_ratios(stretch: float) -> np.ndarray:
    k = np.arange(1, N_HARMONICS + 1, dtype=np.float64)
    return k * np.sqrt(1.0 + max(stretch, 0.0) * k**2)



def vibrato_cents(vibrato: Vibrato, n_samples: int, seed: int = 0) -> np.ndarray:
    """(n_samples,) cents at the audio rate: a sinusoid of the vibrato's depth and rate, faded in after
    its delay (players start a note steady, then let the vibrato grow), its phase drawn from `seed`."""
    if vibrato.depth_cents <= 0 or vibrato.rate_hz <= 0:
        return np.zeros(n_samples)
    t = np.arange(n_samples) / SAMPLE_RATE
    phase = np.random.default_rng([seed, 1]).uniform(0, 2 * np.pi)  # not the noise's stream: noise is as before
    grown = np.clip((t - vibrato.delay_s) / VIBRATO_FADE_S, 0.0, 1.0)
    fade = grown * grown * (3 - 2 * grown)
    return vibrato.depth_cents * fade * np.sin(2 * np.pi * vibrato.rate_hz * t + phase)


def _harmonic_sum(
    f0: float, bend: np.ndarray, ratios: np.ndarray, harmonics: np.ndarray, offset: np.ndarray | None = None
) -> np.ndarray:
    """Sum of the partials, their amplitudes linear between frames: the additive half of `synthesize`.

    Only partials that are ever audible and ever below the top frequency are computed. Phases are
    accumulated and reduced to one cycle in float64 (exact over 80 partials x 1.5 s), then the sines
    and the sums run in float32. Amplitudes are linear within each hop, so each hop's sum is two
    dot products per sample (frame amplitude and its slope), done for all hops at once by matmul
    instead of expanding every partial's amplitude to every sample.
    """
    limit = min(TOP_HZ, 0.48 * SAMPLE_RATE)
    lowest, highest = ratios * f0 * bend.min(), ratios * f0 * bend.max()
    keep = (harmonics.max(0) > AMP_FLOOR) & (lowest < limit)
    if not keep.any():
        return np.zeros(NOTE_FRAMES)
    ratios, amps = ratios[keep], harmonics[:, keep].astype(np.float32)
    base_phase = np.cumsum(f0 * bend) / SAMPLE_RATE  # cycles of the (unstretched) fundamental
    base_phase -= base_phase[0]
    phase = np.multiply.outer(base_phase, ratios)
    if offset is not None:  # starting phases (cycles) of the partials
        phase += offset[keep]
    phase -= np.floor(phase)
    sines = np.sin((2 * np.pi) * phase.astype(np.float32))
    straddle = highest[keep] >= limit  # bent above the top now and then (vibrato): silence it there
    if straddle.any():
        above = np.multiply.outer(bend, ratios[straddle] * f0) >= limit
        sines[:, straddle] = np.where(above, 0.0, sines[:, straddle])
    following = np.concatenate([amps[1:], amps[-1:]])
    per_hop = np.stack([amps, following - amps], 2)  # (frames, partials, [level, slope])
    sums = np.matmul(sines.reshape(N_FRAMES, HOP, -1), per_hop)  # (frames, HOP, 2)
    frac = (np.arange(HOP, dtype=np.float32) / HOP)[None, :]
    return (sums[..., 0] + frac * sums[..., 1]).reshape(-1).astype(np.float64)


def _interpolation(x: np.ndarray, xp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.interp(x, xp, values) as `values[..., i] * (1 - w) + values[..., i + 1] * w`: (i, w), so many
    curves sampled at the same points cost two gathers (clamped to the ends as np.interp is)."""
    i = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 2)
    w = np.clip((x - xp[i]) / (xp[i + 1] - xp[i]), 0.0, 1.0)
    return i, w


@lru_cache(maxsize=4)
def _noise_interpolation(stft_frames: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Where the noise STFT's frames fall between the HN frames, and its bins between the noise bands'
    mel-spaced centres (`_interpolation` of each). A loop of np.interp per band and per frame took a
    third of a note's synthesis; matrix products instead were slower still on a busy machine (BLAS
    threads)."""
    frames = _interpolation(np.arange(stft_frames) * NOISE_HOP / HOP, np.arange(N_FRAMES, dtype=np.float64))
    bins = _interpolation(_mel(np.arange(NOISE_NFFT // 2 + 1) * SAMPLE_RATE / NOISE_NFFT), _mel(NOISE_CENTRES))
    return frames, bins


def synthesize(params: HNParams, seed: int = 0, tuned: bool = False) -> np.ndarray:
    """Audio (NOTE_FRAMES,) float32 at 44.1 kHz. `tuned` drops the mean pitch offset, keeping vibrato."""
    f0 = midi_hz(params.pitch)
    cents = params.cents.astype(np.float64)
    if tuned:
        cents = cents - np.median(cents)
    curve = np.interp(np.arange(NOTE_FRAMES) / HOP, np.arange(len(cents)), cents)
    bend = 2 ** ((curve + vibrato_cents(params.vibrato, NOTE_FRAMES, seed)) / 1200)
    ratios = partial_ratios(params.stretch)
    if params.detune.cents > 0 and params.detune.mix > 0:
        # Two banks +-cents/2 apart at levels 1 and mix (scaled so their power adds up to the decoded
        # one on average), the second's partials starting at phases drawn from the seed, so partials
        # beat at k f0 cents, each at its own point of the beat, as detuned oscillators do.
        offset = np.random.default_rng([seed, 2]).uniform(0, 1, N_HARMONICS)
        spread = 2 ** (params.detune.cents / 2400)
        level = params.harmonics / np.sqrt(1 + params.detune.mix**2)
        harmonic = (_harmonic_sum(f0, bend * spread, ratios, level)
                    + _harmonic_sum(f0, bend / spread, ratios, level * params.detune.mix, offset))
    else:
        harmonic = _harmonic_sum(f0, bend, ratios, params.harmonics)

    rng = np.random.default_rng(seed)
    white = rng.standard_normal(NOTE_FRAMES + NOISE_NFFT)
    _, _, spec = scipy.signal.stft(white, nperseg=NOISE_NFFT, noverlap=NOISE_NFFT - NOISE_HOP, boundary="even")
    noise_db = 20 * np.log10(params.noise.astype(np.float64) + 1e-7)
    (frame, frame_w), (band, band_w) = _noise_interpolation(spec.shape[1])
    per_frame = noise_db[frame] * (1 - frame_w[:, None]) + noise_db[frame + 1] * frame_w[:, None]
    gain_db = (per_frame[:, band] * (1 - band_w) + per_frame[:, band + 1] * band_w).T  # (bins, STFT frames)
    _, noise = scipy.signal.istft(
        spec * 10 ** (gain_db / 20), nperseg=NOISE_NFFT, noverlap=NOISE_NFFT - NOISE_HOP, boundary=True
    )
    noise = noise[:NOTE_FRAMES]
    noise = np.pad(noise, (0, NOTE_FRAMES - len(noise)))

    # Onset ramp: frames are 11.6 ms apart, so a fast attack (piano, pluck) is drawn at sample level.
    ramp_s = float(np.clip(params.attack_s, 0.0005, HOP / SAMPLE_RATE))
    ramp = np.minimum(1.0, np.arange(NOTE_FRAMES) / (ramp_s * SAMPLE_RATE))
    return ((harmonic + noise) * ramp).astype(np.float32)
