"""Production and mastering: turns the sampler's stems into a finished stereo mix.

The prompt's texture words ("spacious", "warm", "lo-fi", "punchy", ...) choose a `MixSettings`; each
track is gain-staged by its role, equalised, compressed, saturated, placed in the stereo field and sent
to a shared reverb; the master is cleaned (DC, impulsive clicks), loudness-normalised to -14 LUFS and
true-peak limited below -1 dBTP. Effects come from pedalboard with every parameter set explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from functools import lru_cache

import numpy as np
import pedalboard as pb
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import firwin, lfilter, resample_poly

from melodex.errors import MelodexError
from melodex.score import DRUM_PROGRAM


class ProductionError(MelodexError):
    """Stems that cannot be mixed (mismatched lengths, wrong shapes, non-finite audio)."""


@dataclass(frozen=True)
class MixSettings:
    """The sound of the mix. Amounts are 0-1 unless noted; `words` records which prompt words chose them."""

    reverb: float = 0.25  # overall reverb send
    room_size: float = 0.45  # 0 small room .. 1 hall
    warmth: float = 0.15  # low-mid shelf lift and tape-like saturation
    brightness: float = 0.0  # -1 dark .. +1 bright (high shelf)
    punch: float = 0.35  # compression and transient emphasis
    width: float = 0.5  # 0 mono .. 1 wide (panning spread and pseudo-stereo)
    lofi: float = 0.0  # bit depth, sample-rate reduction, band limiting, hiss
    target_lufs: float = -14.0  # integrated loudness of the master
    ceiling_dbtp: float = -1.0  # true-peak ceiling of the master (4x oversampled)
    words: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"{f.name} {getattr(self, f.name):g}" for f in fields(self) if f.name in TEXTURE_FIELDS]
        chosen = f" (from: {', '.join(self.words)})" if self.words else " (defaults)"
        return ", ".join(parts) + chosen


TEXTURE_FIELDS = ("reverb", "room_size", "warmth", "brightness", "punch", "width", "lofi")

# Texture words and the settings each implies. When several words set one field, their values are
# averaged, so "clean but warm" lands between the two; fields no word mentions keep their defaults.
WORD_TABLE: dict[str, dict[str, float]] = {
    # space
    "spacious": {"reverb": 0.6, "room_size": 0.75, "width": 0.8},
    "space": {"reverb": 0.55, "room_size": 0.7, "width": 0.75},
    "reverb": {"reverb": 0.6, "room_size": 0.7},
    "ambient": {"reverb": 0.7, "room_size": 0.85, "width": 0.85, "punch": 0.15},
    "atmospheric": {"reverb": 0.65, "room_size": 0.8, "width": 0.8},
    "ethereal": {"reverb": 0.75, "room_size": 0.9, "width": 0.9, "brightness": 0.3},
    "dreamy": {"reverb": 0.65, "room_size": 0.8, "width": 0.8, "brightness": -0.1},
    "cathedral": {"reverb": 0.85, "room_size": 0.95},
    "hall": {"reverb": 0.6, "room_size": 0.85},
    "lush": {"reverb": 0.5, "room_size": 0.7, "width": 0.85, "warmth": 0.35},
    "dry": {"reverb": 0.05, "room_size": 0.3},
    "intimate": {"reverb": 0.12, "room_size": 0.3, "width": 0.35},
    "close": {"reverb": 0.1, "room_size": 0.25},
    # colour
    "warm": {"warmth": 0.6, "brightness": -0.2},
    "warmth": {"warmth": 0.6, "brightness": -0.2},
    "analog": {"warmth": 0.55, "brightness": -0.15},
    "tape": {"warmth": 0.65, "brightness": -0.25, "lofi": 0.15},
    "vintage": {"warmth": 0.5, "brightness": -0.3, "lofi": 0.25},
    "cozy": {"warmth": 0.5, "brightness": -0.25, "reverb": 0.2},
    "mellow": {"warmth": 0.45, "brightness": -0.35, "punch": 0.2},
    "saturated": {"warmth": 0.85},
    "gritty": {"warmth": 0.9, "brightness": 0.1, "lofi": 0.2},
    "distorted": {"warmth": 1.0, "brightness": 0.15},
    "dirty": {"warmth": 0.85, "lofi": 0.3},
    "bright": {"brightness": 0.6},
    "crisp": {"brightness": 0.5, "punch": 0.5},
    "shiny": {"brightness": 0.6},
    "sparkling": {"brightness": 0.7, "reverb": 0.35},
    "airy": {"brightness": 0.5, "reverb": 0.45, "width": 0.7},
    "dark": {"brightness": -0.6},
    "muffled": {"brightness": -0.8},
    "murky": {"brightness": -0.6, "reverb": 0.4},
    "moody": {"brightness": -0.35, "reverb": 0.4},
    # lo-fi
    "lo-fi": {"lofi": 0.8, "warmth": 0.5, "brightness": -0.4, "width": 0.35},
    "lofi": {"lofi": 0.8, "warmth": 0.5, "brightness": -0.4, "width": 0.35},
    "lo fi": {"lofi": 0.8, "warmth": 0.5, "brightness": -0.4, "width": 0.35},
    "cassette": {"lofi": 0.6, "warmth": 0.55, "brightness": -0.45},
    "vinyl": {"lofi": 0.5, "warmth": 0.45, "brightness": -0.3},
    "dusty": {"lofi": 0.6, "brightness": -0.4},
    "bitcrushed": {"lofi": 1.0},
    "chiptune": {"lofi": 0.7, "reverb": 0.1, "brightness": 0.3},
    # dynamics
    "punchy": {"punch": 0.85},
    "punch": {"punch": 0.85},
    "tight": {"punch": 0.7, "reverb": 0.12},
    "hard": {"punch": 0.8},
    "aggressive": {"punch": 0.9, "warmth": 0.6, "brightness": 0.3},
    "energetic": {"punch": 0.75},
    "driving": {"punch": 0.75},
    "soft": {"punch": 0.15},
    "gentle": {"punch": 0.15, "brightness": -0.15},
    "calm": {"punch": 0.15, "reverb": 0.35},
    # stereo
    "wide": {"width": 0.95},
    "stereo": {"width": 0.85},
    "huge": {"width": 0.95, "reverb": 0.5, "punch": 0.6},
    "cinematic": {"width": 0.9, "reverb": 0.6, "room_size": 0.85},
    "narrow": {"width": 0.15},
    "mono": {"width": 0.0},
    # hygiene
    "clean": {"warmth": 0.0, "lofi": 0.0, "brightness": 0.1, "reverb": 0.2},
    "pristine": {"warmth": 0.0, "lofi": 0.0, "brightness": 0.2},
    "polished": {"lofi": 0.0, "punch": 0.55, "brightness": 0.2},
    "hi-fi": {"lofi": 0.0, "brightness": 0.25},
}
_WORD_PATTERN = re.compile(
    r"(?<![a-z])(" + "|".join(re.escape(w) for w in sorted(WORD_TABLE, key=len, reverse=True)) + r")(?![a-z])"
)


def mix_settings_from_text(text: str | None) -> MixSettings:
    """Choose mix settings from the prompt's texture words (see WORD_TABLE); no words -> defaults."""
    found = _WORD_PATTERN.findall((text or "").lower())
    if not found:
        return MixSettings()
    values: dict[str, list[float]] = {}
    for word in found:
        for name, value in WORD_TABLE[word].items():
            values.setdefault(name, []).append(value)
    chosen = {name: float(np.mean(v)) for name, v in values.items()}
    return replace(MixSettings(), **chosen, words=tuple(dict.fromkeys(found)))


# -- per-role staging ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleMix:
    """How a track of one role sits in the mix."""

    level_db: float  # loudness relative to the lead part
    pan: float  # -1 left .. +1 right (centre of the role's spread)
    send: float  # reverb send before the mix's `reverb` amount scales it
    highpass_hz: float  # clears rumble the role does not need
    width: float  # how much of the mix's pseudo-stereo width this role takes


ROLE_MIX: dict[str, RoleMix] = {
    "melody": RoleMix(0.0, 0.0, 0.30, 90.0, 0.3),
    "lead": RoleMix(0.0, 0.0, 0.30, 90.0, 0.3),
    "counter": RoleMix(-3.0, -0.35, 0.35, 110.0, 0.5),
    "harmony": RoleMix(-4.0, 0.3, 0.40, 80.0, 0.8),
    "accompaniment": RoleMix(-4.0, -0.3, 0.35, 70.0, 0.7),
    "pad": RoleMix(-7.0, 0.0, 0.55, 120.0, 1.0),
    "bass": RoleMix(-2.0, 0.0, 0.04, 28.0, 0.0),
    "drums": RoleMix(-1.0, 0.0, 0.12, 25.0, 0.35),
}
# Shares of `produce`'s time when the stems' chains and the reverb are done, for its progress (4 tracks,
# 49 s at 44.1 kHz, scripts/time_progress.py: chains done at 4.6 s, reverb at 5.9 s of 19.2 s on a busy
# machine; mastering every part alike takes the rest).
CHAINS_SHARE, REVERB_SHARE = 0.25, 0.3
STEM_LUFS = -20.0  # where each lead-level stem is staged before effects: headroom for the bus


@dataclass(frozen=True)
class MasterReport:
    """What mastering measured and did."""

    lufs: float  # integrated loudness of the master
    true_peak_dbtp: float  # 4x-oversampled peak
    sample_peak_dbfs: float
    limiter_gain_reduction_db: float  # deepest reduction the true-peak limiter applied
    dc_removed: float  # largest per-channel mean removed from the bus
    clicks_repaired: int  # impulsive spikes replaced on the bus
    clipped_samples: int  # samples at or beyond full scale in the master (should be 0)

    def __str__(self) -> str:
        return (
            f"{self.lufs:.2f} LUFS integrated, true peak {self.true_peak_dbtp:.2f} dBTP "
            f"(sample peak {self.sample_peak_dbfs:.2f} dBFS), limiter {self.limiter_gain_reduction_db:.1f} dB, "
            f"{self.clicks_repaired} clicks repaired, {self.clipped_samples} clipped samples"
        )


# -- measurements ---------------------------------------------------------------------------------------


def _as_frames(audio: np.ndarray) -> np.ndarray:
    return audio[:, None] if audio.ndim == 1 else audio


@lru_cache(maxsize=8)
def _k_weighting(sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """pyloudnorm's two K-weighting biquads (shelf, then high-pass) combined into one 4th-order filter."""
    b, a = np.ones(1), np.ones(1)
    for stage in pyloudnorm.Meter(sample_rate)._filters.values():
        b = np.convolve(b, stage.b) * stage.passband_gain
        a = np.convolve(a, stage.a)
    return b, a


def k_weighted(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """BS.1770 K-weighting of (frames,) or (frames, channels) audio -> (channels, frames), float64."""
    b, a = _k_weighting(sample_rate)
    return lfilter(b, a, _as_frames(np.asarray(audio, dtype=np.float64)).T, axis=1)


def k_energy(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-frame K-weighted energy summed over channels (channel weights are 1 for mono and stereo)."""
    return np.square(k_weighted(audio, sample_rate)).sum(axis=0)


def gated_loudness(energy: np.ndarray, sample_rate: int, gain: np.ndarray | None = None) -> float:
    """Integrated loudness from `k_energy`, optionally of the audio times a per-frame gain.

    A slowly varying gain (a limiter's) commutes with the K-weighting filters to within a few
    hundredths of a dB, which lets the mastering loop re-measure without re-filtering.
    """
    hop = int(0.1 * sample_rate)
    n_hops = len(energy) // hop
    if n_hops < 4:
        return float("-inf")
    energy = energy[: n_hops * hop]
    if gain is not None:
        energy = energy * np.square(gain[: n_hops * hop])
    hops = energy.reshape(n_hops, hop).sum(axis=1)
    # 400 ms blocks every 100 ms, each the mean of four hops.
    power = (hops[:-3] + hops[1:-2] + hops[2:-1] + hops[3:]) / (4 * hop)
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(power)
    gated = loudness >= -70.0
    if not gated.any():
        return float("-inf")
    relative = -0.691 + 10 * np.log10(power[gated].mean()) - 10.0
    gated &= loudness > relative
    return float(-0.691 + 10 * np.log10(power[gated].mean()))


def integrated_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """ITU-R BS.1770-4 integrated loudness, as pyloudnorm computes it but vectorised (~10x faster).

    Same K-weighting filters (taken from pyloudnorm), 400 ms blocks every 100 ms, -70 LUFS absolute
    and -10 LU relative gates. -inf for silence or audio shorter than one block.
    """
    frames = np.asarray(audio)
    if not np.any(frames):
        return float("-inf")
    return gated_loudness(k_energy(frames, sample_rate), sample_rate)


def rough_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Gated RMS level in dB of (frames,) or (channels, frames) audio, without K-weighting.

    Within a few dB of LUFS for music and ~20x cheaper: enough to stage a signal before the
    compressors whose thresholds assume a level; the final loudness is measured exactly.
    """
    frames = np.atleast_2d(audio)
    hop = int(0.1 * sample_rate)
    n_hops = frames.shape[1] // hop
    if n_hops < 1 or not np.any(frames):
        return float("-inf")
    power = np.square(frames[:, : n_hops * hop], dtype=np.float32).reshape(len(frames), n_hops, hop).mean(axis=2)
    power = power.sum(axis=0)
    loud = power[power > power.max() * 1e-2]  # the hops within 20 dB of the loudest
    return float(10 * np.log10(loud.mean()) - 0.691)


# True peak by 4x oversampling as in ITU-R BS.1770-4, but through a sharper interpolator than the
# standard's 48 taps: those roll off above ~19 kHz and under-read bright masters by up to 0.2 dB,
# which a mastering ceiling must not trust.
_OVERSAMPLER = firwin(129, 0.245, window=("kaiser", 8.0))
_BLOCK, _MARGIN = 256, 32
# Inter-sample overshoot of real audio is a fraction of a dB, ~3 dB in contrived worst cases; blocks
# whose sample peak is further than this below what matters can neither hold the true peak nor need
# limiting, so they are not oversampled.
MAX_OVERSHOOT_DB = 3.0


def oversampled_peak(audio: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Per-frame peak over channels of the 4x-oversampled (channels, frames) audio.

    Blocks whose sample peak is below `floor` keep their sample peak; the rest are oversampled
    together, as rows of one array, which keeps a minute of stereo to a few tens of milliseconds.
    """
    channels, n = audio.shape
    n_blocks = -(-n // _BLOCK)
    peak = np.zeros(n_blocks * _BLOCK, dtype=np.float32)
    peak[:n] = np.abs(audio).max(axis=0)
    peak = peak.reshape(n_blocks, _BLOCK)
    loud = np.nonzero(peak.max(axis=1) >= floor)[0]
    if len(loud) == 0:
        return peak.reshape(-1)[:n]
    padded = np.zeros((channels, n_blocks * _BLOCK + 2 * _MARGIN), dtype=np.float32)
    padded[:, _MARGIN : _MARGIN + n] = audio
    rows = padded[:, loud[:, None] * _BLOCK + np.arange(_BLOCK + 2 * _MARGIN)]  # (channels, blocks, frames)
    up = np.abs(resample_poly(rows, 4, 1, axis=2, window=_OVERSAMPLER))[:, :, 4 * _MARGIN : 4 * (_MARGIN + _BLOCK)]
    peak[loud] = np.maximum(peak[loud], up.max(axis=0).reshape(len(loud), _BLOCK, 4).max(axis=2))
    return peak.reshape(-1)[:n]


def _hz(cutoff: float, sample_rate: int) -> float:
    """A filter cutoff kept below Nyquist: above it pedalboard's filters blow up to inf (16 kHz renders)."""
    return float(min(cutoff, 0.45 * sample_rate))


def true_peak_dbtp(audio: np.ndarray) -> float:
    """BS.1770 true peak in dBTP; `audio` is (frames,) or (frames, channels)."""
    frames = _as_frames(np.asarray(audio, dtype=np.float32)).T
    sample_peak = float(np.abs(frames).max()) if frames.size else 0.0
    if sample_peak == 0.0:
        return float("-inf")
    floor = sample_peak * _db_to_gain(-2 * MAX_OVERSHOOT_DB)  # twice the margin: this is the report
    return float(20 * np.log10(oversampled_peak(frames, floor).max()))


def _db_to_gain(db: float) -> float:
    return float(10 ** (db / 20))


# -- track processing ---------------------------------------------------------------------------------


def _track_board(role: RoleMix, settings: MixSettings, is_drum: bool, sample_rate: int) -> pb.Pedalboard:
    punch = settings.punch
    return pb.Pedalboard(
        [
            pb.HighpassFilter(cutoff_frequency_hz=_hz(role.highpass_hz, sample_rate)),
            pb.LowShelfFilter(cutoff_frequency_hz=_hz(220.0, sample_rate), gain_db=3.0 * settings.warmth, q=0.707),
            # Warmth also eases the upper mids a little, where thin digital samples sound harsh.
            pb.PeakFilter(cutoff_frequency_hz=_hz(3200.0, sample_rate), gain_db=-2.0 * settings.warmth, q=0.8),
            pb.HighShelfFilter(
                cutoff_frequency_hz=_hz(6500.0, sample_rate), gain_db=4.0 * settings.brightness, q=0.707
            ),
            pb.Compressor(
                threshold_db=STEM_LUFS - 2.0 - 8.0 * punch,
                ratio=1.5 + 3.0 * punch,
                # Punch means a slower attack on drums (the transient passes, the body is held) and
                # a firmer hold on everything else.
                attack_ms=(8.0 + 22.0 * punch) if is_drum else 10.0,
                release_ms=120.0 if is_drum else 200.0,
            ),
        ]
    )


def _saturate(mono: np.ndarray, warmth: float, sample_rate: int,
              wet_gain: float | None = None) -> tuple[np.ndarray, float]:
    """Blend in tanh saturation (pedalboard Distortion) at the dry signal's loudness.

    Returns (audio, the gain that matched the saturated signal to the dry one); pass that gain back
    as `wet_gain` to process a stretch of the same stem alike.
    """
    if warmth <= 0.0:
        return mono, 1.0
    drive = pb.Distortion(drive_db=6.0 + 14.0 * warmth)
    wet = drive(mono[None, :], sample_rate)[0]
    if wet_gain is None:
        wet_gain = float((np.sqrt(np.mean(mono**2)) + 1e-12) / (np.sqrt(np.mean(wet**2)) + 1e-12))
    wet *= np.float32(wet_gain)
    mix = 0.6 * warmth
    return ((1.0 - mix) * mono + mix * wet).astype(np.float32), wet_gain


def _place(mono: np.ndarray, pan: float, width: float, delay_frames: int, sample_rate: int) -> np.ndarray:
    """Constant-power pan plus complementary-comb pseudo-stereo (mono sum unchanged) -> (2, frames)."""
    theta = (np.clip(pan, -1.0, 1.0) + 1.0) * np.pi / 4
    stereo = np.empty((2, len(mono)), dtype=np.float32)
    np.multiply(mono, np.float32(np.cos(theta) * np.sqrt(2.0)), out=stereo[0])
    np.multiply(mono, np.float32(np.sin(theta) * np.sqrt(2.0)), out=stereo[1])
    if width > 0.0 and delay_frames > 0:
        side = np.zeros((1, len(mono)), dtype=np.float32)
        side[0, delay_frames:] = mono[:-delay_frames]
        # Only above ~300 Hz: widening the low end smears bass and kick.
        side = pb.HighpassFilter(cutoff_frequency_hz=_hz(300.0, sample_rate))(side, sample_rate)[0] * np.float32(width)
        stereo[0] += side
        stereo[1] -= side
    return stereo


# -- master ------------------------------------------------------------------------------------------------


StemLevels = tuple[float, float, float]  # dB into the chain, saturation wet gain, dB after the chain


@dataclass(frozen=True)
class Levels:
    """Every whole-song level decision of a production, recorded so a part can be re-produced alike.

    Staging a stem, the bus, the master gain and the lo-fi hiss depend on the loudness of the whole
    song. An edit that re-produces only a stretch of it (regenerating one section) passes the levels
    of the full production back in, so the new stretch sits at exactly the old gains and splices in
    without a jump. `stems` holds (gain into the chain, gain after it) in dB per stem, None if silent.
    """

    stems: tuple[StemLevels | None, ...]
    dc: tuple[float, ...]  # per-channel mean removed from the bus
    bus_db: float  # gain bringing the bus to -18 LUFS before the glue compressor
    master_db: float  # gain of the master before the limiter
    lofi_peak: float = 1.0
    lofi_level: float = 0.0
    stem_scale: float = 1.0  # unused since stems are mastered part by part; kept so old projects load

    def to_json(self) -> dict:
        return {"stems": [list(s) if s is not None else None for s in self.stems], "dc": list(self.dc),
                "bus_db": self.bus_db, "master_db": self.master_db, "lofi_peak": self.lofi_peak,
                "lofi_level": self.lofi_level, "stem_scale": self.stem_scale}

    @classmethod
    def from_json(cls, data: dict) -> Levels:
        return cls(stems=tuple(tuple(s) if s is not None else None for s in data["stems"]),
                   dc=tuple(data["dc"]), bus_db=data["bus_db"], master_db=data["master_db"],
                   lofi_peak=data["lofi_peak"], lofi_level=data["lofi_level"], stem_scale=data["stem_scale"])


def remove_dc(audio: np.ndarray, sample_rate: int, mean: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Subtract each channel's mean (or the `mean` given), then a 20 Hz high-pass for slow drift.

    Returns (audio, the per-channel mean removed, shape (channels, 1)).
    """
    if mean is None:
        mean = audio.mean(axis=1, keepdims=True)
    centred = (audio - mean).astype(np.float32)
    filtered = pb.HighpassFilter(cutoff_frequency_hz=_hz(20.0, sample_rate))(centred, sample_rate)
    return filtered, mean


def repair_clicks(audio: np.ndarray, threshold: float = 12.0) -> tuple[np.ndarray, int]:
    """Replace impulsive spikes (a frame far off the line through its neighbours) with the local median.

    The second difference of music is roughly Gaussian around its local RMS, even for cymbals; a frame
    whose second difference exceeds `threshold` times the local RMS (over ~11 ms, spike excluded by
    the median of the neighbourhood) is an impulse, not music. Steps are not touched: the sampler's
    fades are what keep those away.
    """
    out = audio.copy()
    repaired = 0
    for channel in out:
        second = np.zeros_like(channel)
        second[1:-1] = channel[1:-1] - 0.5 * (channel[:-2] + channel[2:])
        local = np.sqrt(np.maximum(uniform_filter1d(np.square(second), size=501, mode="nearest"), 0.0))
        spikes = np.nonzero(np.abs(second) > threshold * local + 1e-3)[0]
        if len(spikes) == 0:
            continue
        window = np.clip(spikes[:, None] + np.arange(-3, 4), 0, len(channel) - 1)
        channel[spikes] = np.median(channel[window], axis=1)
        repaired += len(spikes)
    return out, repaired


def limiter_gain(
    peak: np.ndarray, ceiling_dbtp: float, sample_rate: int, lookahead_s: float = 0.015
) -> tuple[np.ndarray, float]:
    """Gain curve of a lookahead limiter on the 4x-oversampled peak (`oversampled_peak`).

    The gain wanted at each frame is min(1, ceiling / true peak). A minimum filter over twice the
    smoothing window followed by a moving average gives a smooth gain that is never above the wanted
    gain (each averaged value is a minimum over a window that contains the frame), so peaks are caught
    without overshoot and without the distortion of clipping. Returns (gain, deepest reduction in dB).
    """
    wanted = np.minimum(1.0, _db_to_gain(ceiling_dbtp) / np.maximum(peak, 1e-12))
    if wanted.min() >= 1.0:
        return np.ones_like(wanted), 0.0
    smooth = max(1, int(lookahead_s * sample_rate))
    held = minimum_filter1d(wanted, size=2 * smooth + 1, mode="nearest")
    gain = np.minimum(uniform_filter1d(held, size=smooth, mode="nearest"), wanted)
    return gain, float(-20 * np.log10(gain.min()))


GLUE_ATTACK_MS, GLUE_RELEASE_MS = 30.0, 250.0
_GLUE_BLOCK_S = 0.001  # the glue compressor's control rate: its gain moves over tens of milliseconds


def glue_gain(bus: np.ndarray, threshold_db: float, ratio: float, sample_rate: int,
              attack_ms: float = GLUE_ATTACK_MS, release_ms: float = GLUE_RELEASE_MS) -> np.ndarray:
    """Per-frame gain of a stereo-linked feed-forward compressor on the (channels, frames) `bus`.

    A gain curve, not processed audio, so that the same gain can be applied to every part of the mix
    and the parts still add up to it (pedalboard's Compressor, used before, only returns audio). Peak
    level per 1 ms block, the static curve (threshold, ratio) in dB, then attack/release smoothing of
    the reduction in dB, interpolated back to frames.
    """
    n = bus.shape[1]
    block = max(1, round(_GLUE_BLOCK_S * sample_rate))
    n_blocks = -(-n // block)
    peak = np.zeros(n_blocks * block, dtype=np.float32)
    peak[:n] = np.abs(bus).max(axis=0)
    level_db = 20 * np.log10(peak.reshape(n_blocks, block).max(axis=1) + 1e-9)
    wanted = np.maximum(0.0, level_db - threshold_db) * (1.0 - 1.0 / ratio)
    attack = float(np.exp(-block / (attack_ms * 1e-3 * sample_rate)))
    release = float(np.exp(-block / (release_ms * 1e-3 * sample_rate)))
    smooth = np.empty(n_blocks)
    state = 0.0
    for i, target in enumerate(wanted.tolist()):  # ~60,000 steps for a minute: a few tens of ms
        coefficient = attack if target > state else release
        state = target + coefficient * (state - target)
        smooth[i] = state
    centres = (np.arange(n_blocks) + 0.5) * block
    return np.interp(np.arange(n), centres, 10 ** (-smooth / 20)).astype(np.float32)


def _summed(parts: list[np.ndarray]) -> np.ndarray:
    """The parts added in order (np.sum over a list would first copy them all into one array)."""
    total = np.array(parts[0], dtype=np.float32)
    for part in parts[1:]:
        total += part
    return total


def master(parts: list[np.ndarray], settings: MixSettings, sample_rate: int,
           levels: Levels | None = None) -> tuple[list[np.ndarray], np.ndarray, MasterReport, Levels]:
    """Clean, colour, normalise and limit the (2, frames) parts of a bus: each placed track and, last,
    the shared reverb's return. Returns (the mastered parts, their sum: the master, report, levels).

    Every step acts on each part alike (linear filters per part, the glue compressor's and the limiter's
    gains computed on the sum and applied to every part), so the mastered parts add up to the master
    exactly and no part is louder than -1 dBTP either: the limiter hears the loudest of the master and
    the parts. What belongs to no part (the bus's DC offset, the lo-fi hiss) goes to the last.
    Silence stays silence (no NaN). With `levels` (from a production of the whole song) the bus and
    master gains are those, not measured again: how a re-produced stretch keeps the song's level.
    The limiter is always local.
    """
    parts = [np.nan_to_num(np.asarray(p, dtype=np.float32)) for p in parts]
    bus = _summed(parts)
    mean = bus.mean(axis=1, keepdims=True) if levels is None else np.asarray(levels.dc, dtype=np.float32)[:, None]
    dc = float(np.abs(mean).max()) if mean.size else 0.0
    cleaned, clicks = [], 0
    for index, part in enumerate(parts):
        part, _ = remove_dc(part, sample_rate, mean if index == len(parts) - 1 else np.zeros_like(mean))
        part, repaired = repair_clicks(part)
        cleaned.append(part)
        clicks += repaired
    bus = _summed(cleaned)
    bus_db = levels.bus_db if levels is not None else -18.0 - rough_loudness(bus, sample_rate)
    if not np.isfinite(bus_db):
        report = MasterReport(float("-inf"), float("-inf"), float("-inf"), 0.0, dc, clicks, 0)
        silent = [np.zeros_like(p) for p in cleaned]
        return silent, np.zeros_like(bus), report, Levels((), tuple(mean.ravel().tolist()), 0.0, 0.0)
    # Bring the bus to a known level so the glue compressor's threshold means the same for any input.
    bus_gain = _db_to_gain(bus_db)
    glue = glue_gain(bus * np.float32(bus_gain), -16.0 - 6.0 * settings.punch, 1.5 + 1.5 * settings.punch,
                     sample_rate) * np.float32(bus_gain)
    shelf = pb.Pedalboard([pb.HighShelfFilter(cutoff_frequency_hz=_hz(9000.0, sample_rate),
                                              gain_db=2.0 * settings.brightness, q=0.707)])
    with ThreadPoolExecutor(max_workers=2) as pool:
        cleaned = list(pool.map(lambda p: shelf(p * glue, sample_rate), cleaned))
    lofi_peak, lofi_level = 1.0, 0.0
    if settings.lofi > 0:
        cleaned, lofi_peak, lofi_level = _lofi(cleaned, settings.lofi, sample_rate,
                                               None if levels is None else (levels.lofi_peak, levels.lofi_level))
    audio = _summed(cleaned)
    ceiling = settings.ceiling_dbtp - 0.1

    def loudest(gain_db: float) -> np.ndarray:
        """Per-frame true peak of the master and of every part, whichever is higher, before `gain_db`."""
        floor = _db_to_gain(ceiling - gain_db - MAX_OVERSHOOT_DB)
        return np.max([oversampled_peak(a, floor) for a in (audio, *cleaned)], axis=0)

    if levels is not None:
        gain_db = levels.master_db
        gain = _db_to_gain(gain_db)
        limit_gain, reduction = limiter_gain(loudest(gain_db) * gain, ceiling, sample_rate)
    else:
        # Loudness and limiting interact (limiting lowers loudness): a few rounds settle both. The
        # oversampled peak and the K-weighted signal scale with the gain, so each is computed once.
        energy = k_energy(audio.T, sample_rate)
        gain_db = settings.target_lufs - gated_loudness(energy, sample_rate)
        limit_gain = np.ones(audio.shape[1])
        reduction, peak_gain_db = 0.0, -np.inf
        for _ in range(6):
            gain = _db_to_gain(gain_db)
            if gain_db > peak_gain_db:
                # Oversample what could reach the ceiling at up to 1.5 dB more gain than now.
                peak_gain_db = gain_db + 1.5
                peak = loudest(peak_gain_db)
            limit_gain, reduction = limiter_gain(peak * gain, ceiling, sample_rate)
            error = settings.target_lufs - gated_loudness(energy, sample_rate, gain * limit_gain)
            if abs(error) < 0.03:
                break
            gain_db += error
        gain = _db_to_gain(gain_db)
    final_gain = (gain * limit_gain).astype(np.float32)
    for part in cleaned:
        part *= final_gain
    mastered, limited = cleaned, _summed(cleaned)
    report = MasterReport(
        lufs=integrated_lufs(limited.T, sample_rate),
        true_peak_dbtp=true_peak_dbtp(limited.T),
        sample_peak_dbfs=float(20 * np.log10(np.abs(limited).max() + 1e-12)),
        limiter_gain_reduction_db=reduction,
        dc_removed=dc,
        clicks_repaired=clicks,
        clipped_samples=int((np.abs(limited) >= 1.0).sum()),
    )
    found = Levels((), tuple(mean.ravel().tolist()), float(bus_db), float(gain_db), lofi_peak, lofi_level)
    return mastered, limited, report, found


def _lofi(parts: list[np.ndarray], amount: float, sample_rate: int,
          levels: tuple[float, float] | None = None) -> tuple[list[np.ndarray], float, float]:
    """Band-limit, lower the sample rate and bit depth of every part, and add a little steady hiss to the last.

    Each part is crushed on the bus's full scale (its peak), as if the bus itself were, so a quiet part
    is as grainy as the bus would make it. Returns (parts, peak, hiss level); `levels` = (peak, hiss
    level) of the whole song to reuse.
    """
    board = pb.Pedalboard(
        [
            pb.Resample(
                target_sample_rate=float(np.interp(amount, [0, 1], [32000, 11025])),
                quality=pb.Resample.Quality.Linear,  # its mild aliasing is the point
            ),
            pb.LowpassFilter(cutoff_frequency_hz=_hz(float(np.interp(amount, [0, 1], [12000, 4500])), sample_rate)),
            pb.LowpassFilter(cutoff_frequency_hz=_hz(float(np.interp(amount, [0, 1], [14000, 6000])), sample_rate)),
            pb.HighpassFilter(cutoff_frequency_hz=_hz(float(np.interp(amount, [0, 1], [30, 90])), sample_rate)),
            pb.Bitcrush(bit_depth=float(np.interp(amount, [0, 1], [14, 9]))),
        ]
    )
    bus = _summed(parts)
    peak = float(np.abs(bus).max()) if levels is None else levels[0]
    with ThreadPoolExecutor(max_workers=2) as pool:  # pedalboard releases the GIL
        crushed = list(pool.map(lambda p: board((p / peak).astype(np.float32), sample_rate) * peak, parts))
    # Seeded hiss, so the same mix always renders the same.
    hiss = np.random.default_rng(7).standard_normal(bus.shape).astype(np.float32)
    hiss = pb.LowpassFilter(cutoff_frequency_hz=_hz(5000.0, sample_rate))(hiss, sample_rate)
    level = float(np.sqrt(np.mean(bus**2)) * _db_to_gain(-42.0 + 8.0 * amount)) if levels is None else levels[1]
    crushed[-1] = (crushed[-1] + hiss * np.float32(level)).astype(np.float32)
    return [c.astype(np.float32) for c in crushed], peak, level


# -- the mix ------------------------------------------------------------------------------------------------


def _reverb_board(settings: MixSettings, sample_rate: int) -> pb.Pedalboard:
    return pb.Pedalboard(
        [
            pb.Reverb(
                room_size=0.3 + 0.65 * settings.room_size,
                damping=float(np.clip(0.5 - 0.35 * settings.brightness, 0.1, 0.9)),
                wet_level=1.0,
                dry_level=0.0,
                width=0.5 + 0.5 * settings.width,
                freeze_mode=0.0,
            ),
            # Reverb below 250 Hz muddies the bass; above ~9 kHz it hisses.
            pb.HighpassFilter(cutoff_frequency_hz=_hz(250.0, sample_rate)),
            pb.LowpassFilter(cutoff_frequency_hz=_hz(9000.0, sample_rate)),
        ]
    )


REVERB_TAIL_S = 6.0  # how long the first half's tail is rendered into the second (decayed by ~-100 dB)


def _reverb(sends: np.ndarray, settings: MixSettings, sample_rate: int) -> np.ndarray:
    """The shared reverb return of the (2, frames) send bus: one reverb for the mix, as on a desk.

    The reverb is linear and time-invariant, so the two halves of a long mix are reverberated on the
    two cores and added (the first with its tail): identical to one pass to within -100 dB.
    """
    n = sends.shape[1]
    half, tail = n // 2, int(REVERB_TAIL_S * sample_rate)
    if half < 2 * tail:
        return _reverb_board(settings, sample_rate)(sends, sample_rate)
    first = np.zeros((2, half + tail), dtype=np.float32)
    first[:, :half] = sends[:, :half]
    with ThreadPoolExecutor(max_workers=2) as pool:
        early, late = pool.map(
            lambda part: _reverb_board(settings, sample_rate)(part, sample_rate), (first, sends[:, half:])
        )
    wet = np.zeros_like(sends)
    wet[:, half:] = late
    wet[:, : half + tail] += early[:, : min(half + tail, n)]
    return wet


@dataclass(frozen=True)
class ProductionResult:
    """A produced track. `stems` are the tracks after their chains, placement and the master (glue
    compressor, shelf, lo-fi, gain and limiter, applied to each alike), dry of the shared reverb, whose
    mastered return (with the lo-fi hiss) is `reverb_return`; all are (frames, 2), none above the
    master's true-peak ceiling, and stems + reverb_return add up to the mix (to float rounding)."""

    mix: np.ndarray
    stems: list[np.ndarray]
    reverb_return: np.ndarray
    report: MasterReport
    settings: MixSettings
    levels: Levels  # the whole-song gains, to re-produce a stretch alike (see `produce`)


def _process_stem(
    stem: np.ndarray, role_name: str, is_drum: bool, settings: MixSettings, sample_rate: int,
    levels: StemLevels | None = None,
) -> tuple[np.ndarray, StemLevels] | None:
    """One mono stem through its role's staging, EQ, compression and saturation (None if silent).

    Returns the processed stem and the levels it used; `levels` given: use those instead of measuring.
    """
    role = ROLE_MIX["drums" if is_drum else role_name]
    if levels is None:
        loudness = rough_loudness(stem, sample_rate)
        if not np.isfinite(loudness):
            return None
        into_db = STEM_LUFS - loudness
    else:
        into_db = levels[0]
    stem = (stem * _db_to_gain(into_db)).astype(np.float32)
    stem = _track_board(role, settings, is_drum, sample_rate)(stem[None, :], sample_rate)[0]
    wet_gain = 1.0
    if not is_drum:
        stem, wet_gain = _saturate(stem, settings.warmth * (0.5 if role_name == "bass" else 1.0), sample_rate,
                                   None if levels is None else levels[1])
    # Re-stage after the chain, so compression and EQ do not move the balance between roles.
    after_db = STEM_LUFS + role.level_db - integrated_lufs(stem, sample_rate) if levels is None else levels[2]
    return (stem * _db_to_gain(after_db)).astype(np.float32), (float(into_db), wet_gain, float(after_db))


def track_placement(roles: list[str], programs: list[int],
                    width: float = MixSettings.width) -> list[tuple[float, float]]:
    """(level in dB against the lead, pan -1 left .. +1 right) of each track as `produce` places it.

    A second track of a role mirrors the first one's pan; centred roles fan out to the sides.
    """
    placed = []
    same_role: dict[str, int] = {}
    for role_name, program in zip(roles, programs, strict=True):
        role = ROLE_MIX["drums" if program == DRUM_PROGRAM or role_name == "drums" else role_name]
        k = same_role.get(role_name, 0)
        same_role[role_name] = k + 1
        pan = role.pan * (-1) ** k if role.pan else (0.0 if k == 0 else 0.35 * (-1) ** k)
        placed.append((role.level_db, pan * (0.4 + 0.6 * width)))
    return placed


def produce(
    stems: list[np.ndarray],
    roles: list[str],
    settings: MixSettings | None = None,
    sample_rate: int = 44100,
    programs: list[int] | None = None,
    levels: Levels | None = None,
    progress: Callable[[float], None] | None = None,
    mastering: bool = True,
) -> ProductionResult:
    """Mix mono (frames,) or stereo (frames, 2) stems, one per track role, into a mastered stereo track
    (`mastering` False: the bus as it enters the master, no loudness, glue or limiter; parts sum to it).

    `levels` (the `levels` of a production of the whole song) makes this a re-production of a stretch
    of it: every gain the whole song decided is reused, so the stretch splices back in seamlessly.
    `progress` hears the share done: the stems' chains, then the reverb and the master.
    """
    settings = settings or MixSettings()
    if len(stems) != len(roles):
        raise ProductionError(f"{len(stems)} stems but {len(roles)} roles: give one role per stem")
    if not stems:
        raise ProductionError("nothing to mix: no stems")
    unknown = sorted(set(roles) - set(ROLE_MIX))
    if unknown:
        raise ProductionError(f"unknown track roles {unknown}: use one of {', '.join(ROLE_MIX)}")
    programs = programs or [0] * len(stems)
    n = max(len(s) for s in stems)
    tracks = []
    placement = track_placement(roles, programs, settings.width)
    for index, (raw, role_name) in enumerate(zip(stems, roles, strict=True)):
        stem = np.asarray(raw, dtype=np.float32)
        if stem.ndim == 2:
            stem = stem.mean(axis=1)
        if stem.ndim != 1 or not np.all(np.isfinite(stem)):
            raise ProductionError(f"stem {index} ({role_name}) must be finite mono or (frames, 2) audio")
        is_drum = programs[index] == DRUM_PROGRAM or role_name == "drums"
        tracks.append((np.pad(stem, (0, n - len(stem))), role_name, is_drum, placement[index][1]))

    if levels is not None and len(levels.stems) != len(stems):
        raise ProductionError(f"levels for {len(levels.stems)} stems given to a mix of {len(stems)}")

    def chain(index: int) -> tuple[np.ndarray, StemLevels | None]:
        stem, role_name, is_drum, pan = tracks[index]
        known = None if levels is None else levels.stems[index]
        if levels is not None and known is None:
            return np.zeros((2, n), dtype=np.float32), None  # silent in the whole song
        processed = _process_stem(stem, role_name, is_drum, settings, sample_rate, known)
        if processed is None:
            return np.zeros((2, n), dtype=np.float32), None
        width = settings.width * ROLE_MIX["drums" if is_drum else role_name].width * 0.6
        delay = int((0.007 + 0.004 * (index % 3)) * sample_rate)
        return _place(processed[0], pan, width, delay, sample_rate), processed[1]

    # pedalboard and numpy release the GIL while they work, so two threads use both cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        chained = []
        for done, result in enumerate(pool.map(chain, range(len(tracks)))):
            chained.append(result)
            if progress is not None:
                progress(CHAINS_SHARE * (done + 1) / len(tracks))
    placed = [c[0] for c in chained]
    sends = np.zeros((2, n), dtype=np.float32)
    for (_, role_name, is_drum, _), stereo in zip(tracks, placed, strict=True):
        send = ROLE_MIX["drums" if is_drum else role_name].send * settings.reverb * 2.0
        sends += stereo * np.float32(send)
    wet = _reverb(sends, settings, sample_rate) if np.any(sends) else sends
    if progress is not None:
        progress(REVERB_SHARE)
    if not mastering:
        bus = _summed([*placed, wet])
        peak = float(np.abs(bus).max()) if bus.size else 0.0
        report = MasterReport(integrated_lufs(bus.T, sample_rate), true_peak_dbtp(bus.T),
                              float(20 * np.log10(max(peak, 1e-12))), 0.0, 0.0, 0, int((np.abs(bus) >= 1.0).sum()))
        unmastered = levels or Levels(tuple(c[1] for c in chained), (0.0, 0.0), 0.0, 0.0)
        return ProductionResult(bus.T, [p.T for p in placed], wet.T, report, settings, unmastered)
    mastered, mix, report, found = master([*placed, wet], settings, sample_rate, levels)
    if levels is None:
        levels = replace(found, stems=tuple(c[1] for c in chained))
    return ProductionResult(
        mix=mix.T,
        stems=[s.T for s in mastered[:-1]],
        reverb_return=mastered[-1].T,
        report=report,
        settings=settings,
        levels=levels,
    )
