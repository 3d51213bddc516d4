"""The master: clean the bus (DC, clicks), glue-compress, colour, normalise to the target loudness and limit
below the true-peak ceiling, every part alike so the mastered parts still add up to the master."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pedalboard as pb
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from melodex.production.effects import cutoff_hz, flat, lofi, summed
from melodex.production.loudness import (
    MAX_OVERSHOOT_DB,
    db_to_gain,
    gated_loudness,
    integrated_lufs,
    k_energy,
    oversampled_peak,
    rough_loudness,
    true_peak_dbtp,
)
from melodex.production.settings import MixSettings


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
    target_lufs: float | None = None  # the loudness asked for (None: no master)
    ceiling_dbtp: float | None = None  # the true-peak ceiling it was limited under

    def __str__(self) -> str:
        return (
            f"{self.lufs:.2f} LUFS integrated, true peak {self.true_peak_dbtp:.2f} dBTP "
            f"(sample peak {self.sample_peak_dbfs:.2f} dBFS), limiter {self.limiter_gain_reduction_db:.1f} dB, "
            f"{self.clicks_repaired} clicks repaired, {self.clipped_samples} clipped samples"
        )

    @property
    def loudness_note(self) -> str | None:
        """What to tell the user when the master came out quieter than asked: past the loudness the ceiling
        allows, more gain only goes into the limiter, so the master stops there (a -6 LUFS request gave
        about -8.5 LUFS) rather than distort, and without this line nothing said so."""
        if self.target_lufs is None or self.ceiling_dbtp is None or not np.isfinite(self.lufs):
            return None
        if self.lufs >= self.target_lufs - LOUDNESS_SHORTFALL_LU:
            return None
        return (f"asked for {self.target_lufs:g} LUFS; the {self.ceiling_dbtp:g} dBTP ceiling allows "
                f"{self.lufs:.1f} LUFS for this mix (the master was left there rather than limited harder)")


LOUDNESS_SHORTFALL_LU = 0.5  # a master this much under its target is reported (the loop settles within 0.03)

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


def _finite(audio: np.ndarray) -> np.ndarray:
    """`audio` with NaN and inf made finite; a finite sum shows there are none, one pass instead of
    nan_to_num's five (0.23 CPU-s of the 60 s synthwave's master)."""
    return audio if np.isfinite(audio.sum()) else np.nan_to_num(audio)


def remove_dc(audio: np.ndarray, sample_rate: int, mean: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Subtract each channel's mean (or the `mean` given), then a 20 Hz high-pass for slow drift.

    Returns (audio, the per-channel mean removed, shape (channels, 1)).
    """
    if mean is None:
        mean = audio.mean(axis=1, keepdims=True)
    # Every part but the last has no mean to remove: skipping the subtraction saves two passes a part.
    centred = (audio - mean).astype(np.float32) if np.any(mean) else np.asarray(audio, dtype=np.float32)
    filtered = pb.HighpassFilter(cutoff_frequency_hz=cutoff_hz(20.0, sample_rate))(centred, sample_rate)
    return filtered, mean


def repair_clicks(audio: np.ndarray, threshold: float = 12.0) -> tuple[np.ndarray, int]:
    """Replace impulsive spikes (a frame far off the line through its neighbours) with the local median.

    The second difference of music is roughly Gaussian around its local RMS, even for cymbals; a frame
    whose second difference exceeds `threshold` times the local RMS (over ~11 ms, spike excluded by
    the median of the neighbourhood) is an impulse, not music. Steps are not touched: the sampler's
    fades are what keep those away. Returns `audio` itself when nothing was repaired.
    """
    out, repaired = audio, 0
    for index in range(len(audio)):
        spikes = _spikes(audio[index], threshold)
        if len(spikes) == 0:
            continue
        if out is audio:
            out = audio.copy()
        channel = out[index]
        window = np.clip(spikes[:, None] + np.arange(-3, 4), 0, len(channel) - 1)
        channel[spikes] = np.median(channel[window], axis=1)
        repaired += len(spikes)
    return out, repaired


_CLICK_WINDOW = 501  # frames of the local RMS a spike is judged against (~11 ms)
_CLICK_BLOCK = _CLICK_WINDOW // 2  # every window holds the whole block of this many frames its centre is in


def _spikes(channel: np.ndarray, threshold: float) -> np.ndarray:
    """Frames whose second difference exceeds `threshold` times its RMS over the `_CLICK_WINDOW` around them
    (+ 1e-3), ascending.

    The full running RMS of every frame was a third of the master's time (0.68 of 2.2 CPU-s for the 60 s
    synthwave). A window always holds the block its centre is in, so its mean square is at least the
    block's sum / window: frames under `threshold` times that bound cannot be spikes, and only the few
    over it (none in most blocks of music) get their window's RMS computed, as the full filter did.
    """
    n = len(channel)
    second = np.zeros(n, dtype=np.float32)
    if n > 2:
        around = np.add(channel[:-2], channel[2:], dtype=np.float32)
        around *= np.float32(0.5)
        np.subtract(channel[1:-1], around, out=second[1:-1])
    square = np.square(second)
    whole = n // _CLICK_BLOCK * _CLICK_BLOCK
    blocks = square[:whole].reshape(-1, _CLICK_BLOCK)
    sums, peaks = blocks.sum(axis=1, dtype=np.float64), blocks.max(axis=1)
    if whole < n:
        sums = np.append(sums, square[whole:].sum(dtype=np.float64))
        peaks = np.append(peaks, square[whole:].max())
    # 0.99: room for float32 rounding in the block sums, so the bound stays under the window's RMS.
    floor = np.square(0.99 * (threshold * np.sqrt(0.99 * sums / _CLICK_WINDOW) + 1e-3))
    suspect = np.nonzero(peaks > floor)[0]
    if len(suspect) == 0:
        return np.zeros(0, dtype=np.int64)
    frames = (suspect[:, None] * _CLICK_BLOCK + np.arange(_CLICK_BLOCK)).ravel()
    bounds = np.repeat(floor[suspect], _CLICK_BLOCK)
    inside = frames < n
    frames, bounds = frames[inside], bounds[inside]
    frames = frames[square[frames] > bounds]
    if len(frames) * _CLICK_WINDOW > n:  # noise-like audio: one running filter is cheaper than the windows
        local = uniform_filter1d(square, size=_CLICK_WINDOW, mode="nearest")[frames]
    else:
        # The window's mean square; frames past either end count as zeros, as the full filter's
        # "nearest" padding gives (the second difference is zero at both ends).
        window = frames[:, None] + np.arange(-(_CLICK_WINDOW // 2), _CLICK_WINDOW // 2 + 1)
        values = np.where((window >= 0) & (window < n), square[np.clip(window, 0, n - 1)], np.float32(0.0))
        local = (values.sum(axis=1, dtype=np.float64) / _CLICK_WINDOW).astype(np.float32)
    local = np.sqrt(np.maximum(local, np.float32(0.0)))
    return frames[np.abs(second[frames]) > threshold * local + 1e-3]


def limiter_gain(
    peak: np.ndarray, ceiling_dbtp: float, sample_rate: int, lookahead_s: float = 0.015
) -> tuple[np.ndarray, float]:
    """Gain curve of a lookahead limiter on the 4x-oversampled peak (`oversampled_peak`).

    The gain wanted at each frame is min(1, ceiling / true peak). A minimum filter over twice the
    smoothing window followed by a moving average gives a smooth gain that is never above the wanted
    gain (each averaged value is a minimum over a window that contains the frame), so peaks are caught
    without overshoot and without the distortion of clipping. Returns (gain, deepest reduction in dB).
    """
    wanted = np.minimum(1.0, db_to_gain(ceiling_dbtp) / np.maximum(peak, 1e-12))
    if wanted.min() >= 1.0:
        return np.ones_like(wanted), 0.0
    smooth = max(1, int(lookahead_s * sample_rate))
    held = minimum_filter1d(wanted, size=2 * smooth + 1, mode="nearest")
    gain = np.minimum(uniform_filter1d(held, size=smooth, mode="nearest"), wanted)
    return gain, float(-20 * np.log10(gain.min()))


def headroom_gain(parts: list[np.ndarray], ceiling_dbtp: float) -> float:
    """The one gain, never above 1, that keeps every (channels, frames) part at or under `ceiling_dbtp`
    true peak. For audio that leaves without a limiter (the unmastered bus and its parts, dry stems):
    one static gain keeps their dynamics, their balance and their sum, and a PCM file no longer clips."""
    peak = max((true_peak_dbtp(part.T) for part in parts), default=float("-inf"))
    return min(1.0, db_to_gain(ceiling_dbtp - peak)) if np.isfinite(peak) else 1.0


GLUE_ATTACK_MS, GLUE_RELEASE_MS = 30.0, 250.0
MASTER_ROUNDS = 8  # of loudness against limiting; -14 LUFS settles in 2-3, -6 LUFS in ~6
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


def clean_part(part: np.ndarray, sample_rate: int, mean: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """One (2, frames) part of the bus through the master's cleaning: the bus's DC offset `mean` removed
    (given to one part only: None, nothing subtracted), a 20 Hz high-pass, clicks repaired.

    Returns (the part, clicks repaired). A part's cleaning needs nothing of the others, so `produce` cleans
    the placed tracks while the shared reverb renders.
    """
    part = _finite(np.asarray(part, dtype=np.float32))
    part, _ = remove_dc(part, sample_rate, np.zeros((len(part), 1), np.float32) if mean is None else mean)
    return repair_clicks(part)


def master(parts: list[np.ndarray], settings: MixSettings, sample_rate: int, levels: Levels | None = None,
           cleaned: list[tuple[np.ndarray, int]] | None = None,
           ) -> tuple[list[np.ndarray], np.ndarray, MasterReport, Levels]:
    """Clean, colour, normalise and limit the (2, frames) parts of a bus: each placed track and, last,
    the shared reverb's return. Returns (the mastered parts, their sum: the master, report, levels).

    Every step acts on each part alike (linear filters per part, the glue compressor's and the limiter's
    gains computed on the sum and applied to every part), so the mastered parts add up to the master
    exactly and no part is louder than -1 dBTP either: the limiter hears the loudest of the master and
    the parts. What belongs to no part (the bus's DC offset, the lo-fi hiss) goes to the last.
    Silence stays silence (no NaN). With `levels` (from a production of the whole song) the bus and
    master gains are those, not measured again: how a re-produced stretch keeps the song's level.
    The limiter is always local. `cleaned`: every part but the last already through `clean_part`.
    """
    parts = [_finite(np.asarray(p, dtype=np.float32)) for p in parts]
    bus = summed(parts)
    mean = bus.mean(axis=1, keepdims=True) if levels is None else np.asarray(levels.dc, dtype=np.float32)[:, None]
    dc = float(np.abs(mean).max()) if mean.size else 0.0
    done = [clean_part(part, sample_rate) for part in parts[:-1]] if cleaned is None else cleaned
    if len(done) != len(parts) - 1:
        raise ValueError(f"{len(done)} cleaned parts for a bus of {len(parts)}: give all but the last")
    done = [*done, clean_part(parts[-1], sample_rate, mean)]
    clicks = sum(repaired for _, repaired in done)
    cleaned_parts = [part for part, _ in done]
    bus = summed(cleaned_parts)
    bus_db = levels.bus_db if levels is not None else -18.0 - rough_loudness(bus, sample_rate)
    if not np.isfinite(bus_db):
        report = MasterReport(float("-inf"), float("-inf"), float("-inf"), 0.0, dc, clicks, 0)
        silent = [np.zeros_like(p) for p in cleaned_parts]
        return silent, np.zeros_like(bus), report, Levels((), tuple(mean.ravel().tolist()), 0.0, 0.0)
    # Bring the bus to a known level so the glue compressor's threshold means the same for any input.
    bus_gain = db_to_gain(bus_db)
    glue = glue_gain(bus * np.float32(bus_gain), -16.0 - 6.0 * settings.punch, 1.5 + 1.5 * settings.punch,
                     sample_rate) * np.float32(bus_gain)
    shelf = pb.HighShelfFilter(cutoff_frequency_hz=cutoff_hz(9000.0, sample_rate), gain_db=2.0 * settings.brightness,
                               q=0.707)
    for part in cleaned_parts:  # in place: each is this master's own copy (pedalboard's high-pass made it)
        part *= glue
    if flat(shelf):
        shelved = cleaned_parts
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            shelved = list(pool.map(lambda p: shelf(p, sample_rate), cleaned_parts))
    lofi_peak, lofi_level = 1.0, 0.0
    if settings.lofi > 0:
        shelved, lofi_peak, lofi_level = lofi(shelved, settings.lofi, sample_rate,
                                               None if levels is None else (levels.lofi_peak, levels.lofi_level))
    audio = summed(shelved)
    ceiling = settings.ceiling_dbtp - 0.1

    def loudest(gain_db: float) -> np.ndarray:
        """Per-frame true peak of the master and of every part, whichever is higher, before `gain_db`."""
        floor = db_to_gain(ceiling - gain_db - MAX_OVERSHOOT_DB)
        peak = oversampled_peak(audio, floor)
        for part in shelved:  # in place: np.max over the list first copied all six into one array
            np.maximum(peak, oversampled_peak(part, floor), out=peak)
        return peak

    if levels is not None:
        gain_db = levels.master_db
        gain = db_to_gain(gain_db)
        limit_gain, reduction = limiter_gain(loudest(gain_db) * gain, ceiling, sample_rate)
    else:
        # Loudness and limiting interact (limiting lowers loudness): a few rounds settle both. The
        # oversampled peak and the K-weighted signal scale with the gain, so each is computed once.
        energy = k_energy(audio.T, sample_rate)
        gain_db = settings.target_lufs - gated_loudness(energy, sample_rate)
        limit_gain = np.ones(audio.shape[1])
        reduction, peak_gain_db = 0.0, -np.inf
        previous: tuple[float, float] | None = None  # (gain, loudness) of the round before, in dB
        for round_ in range(MASTER_ROUNDS):
            gain = db_to_gain(gain_db)
            if gain_db > peak_gain_db:
                # Oversample what could reach the ceiling at up to 1.5 dB more gain than now.
                peak_gain_db = gain_db + 1.5
                peak = loudest(peak_gain_db)
            limit_gain, reduction = limiter_gain(peak * gain, ceiling, sample_rate)
            loudness = gated_loudness(energy, sample_rate, gain * limit_gain)
            error = settings.target_lufs - loudness
            # Stop with the limiter's gain computed for this very gain: raising the gain after the last
            # limiter pass put a -6 LUFS master 2.4 dB over the ceiling (+1.3 dBTP, 6,939 clipped samples).
            if abs(error) < 0.03 or round_ == MASTER_ROUNDS - 1:
                break
            # Under heavy limiting a dB of gain adds far less than a dB of loudness: step by the slope the
            # last two rounds measured (a secant), at most 6 dB a round. Below 0.1 dB a dB the limiter takes
            # back nearly all of it (this song is as loud as the ceiling allows): more would only distort.
            slope = 1.0
            if previous is not None and gain_db != previous[0]:
                slope = min(1.0, (loudness - previous[1]) / (gain_db - previous[0]))
                if slope < 0.1:
                    break
            previous = (gain_db, loudness)
            gain_db += min(6.0, error / slope)
    final_gain = (gain * limit_gain).astype(np.float32)
    for part in shelved:
        part *= final_gain
    mastered, limited = shelved, summed(shelved)
    report = MasterReport(
        lufs=integrated_lufs(limited.T, sample_rate),
        true_peak_dbtp=true_peak_dbtp(limited.T),
        sample_peak_dbfs=float(20 * np.log10(np.abs(limited).max() + 1e-12)),
        limiter_gain_reduction_db=reduction,
        dc_removed=dc,
        clicks_repaired=clicks,
        clipped_samples=int((np.abs(limited) >= 1.0).sum()),
        target_lufs=settings.target_lufs,
        ceiling_dbtp=settings.ceiling_dbtp,
    )
    found = Levels((), tuple(mean.ravel().tolist()), float(bus_db), float(gain_db), lofi_peak, lofi_level)
    return mastered, limited, report, found
