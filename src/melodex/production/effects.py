"""The pedalboard chains of the mix: a track's EQ, compression, saturation and stereo placement, the shared
reverb, and lo-fi: the sound-shaping pieces `mix` strings together and `mastering` colours the bus with."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pedalboard as pb

from melodex.production.loudness import db_to_gain
from melodex.production.settings import STEM_LUFS, MixSettings, RoleMix


def cutoff_hz(cutoff: float, sample_rate: int) -> float:
    """A filter cutoff kept below Nyquist: above it pedalboard's filters blow up to inf (16 kHz renders)."""
    return float(min(cutoff, 0.45 * sample_rate))


def track_board(role: RoleMix, settings: MixSettings, is_drum: bool, sample_rate: int) -> pb.Pedalboard:
    punch = settings.punch
    equaliser = [
        pb.LowShelfFilter(cutoff_frequency_hz=cutoff_hz(220.0, sample_rate), gain_db=3.0 * settings.warmth, q=0.707),
        # Warmth also eases the upper mids a little, where thin digital samples sound harsh.
        pb.PeakFilter(cutoff_frequency_hz=cutoff_hz(3200.0, sample_rate), gain_db=-2.0 * settings.warmth, q=0.8),
        pb.HighShelfFilter(
            cutoff_frequency_hz=cutoff_hz(6500.0, sample_rate), gain_db=4.0 * settings.brightness, q=0.707
        ),
    ]
    return pb.Pedalboard(
        [
            pb.HighpassFilter(cutoff_frequency_hz=cutoff_hz(role.highpass_hz, sample_rate)),
            *[band for band in equaliser if not flat(band)],
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


def flat(band: pb.IIRFilter) -> bool:
    """A shelf or peak at 0 dB: an identity (sample for sample at 44.1 kHz, to float rounding at 48 kHz), so
    left out rather than run at ~16 ms a channel-minute (the default mix has no brightness)."""
    return float(getattr(band, "gain_db", 1.0)) == 0.0


def saturate(mono: np.ndarray, warmth: float, sample_rate: int,
              wet_gain: float | None = None) -> tuple[np.ndarray, float]:
    """Blend in tanh saturation at the dry signal's loudness.

    Returns (audio, the gain that matched the saturated signal to the dry one); pass that gain back
    as `wet_gain` to process a stretch of the same stem alike.
    """
    if warmth <= 0.0:
        return mono, 1.0
    # pedalboard's Distortion is this tanh of the driven signal (JUCE's waveshaper), one sample at a time:
    # 47 ms a minute of mono against numpy's 2 ms, and the two differ by at most 1.8e-7 (float32 rounding).
    wet = np.tanh(mono * np.float32(db_to_gain(6.0 + 14.0 * warmth)))
    if wet_gain is None:
        wet_gain = float((np.sqrt(np.mean(mono**2)) + 1e-12) / (np.sqrt(np.mean(wet**2)) + 1e-12))
    wet *= np.float32(wet_gain)
    mix = 0.6 * warmth
    return ((1.0 - mix) * mono + mix * wet).astype(np.float32, copy=False), wet_gain


def place(mono: np.ndarray, pan: float, width: float, delay_frames: int, sample_rate: int) -> np.ndarray:
    """Constant-power pan plus complementary-comb pseudo-stereo (mono sum unchanged) -> (2, frames)."""
    theta = (np.clip(pan, -1.0, 1.0) + 1.0) * np.pi / 4
    stereo = np.empty((2, len(mono)), dtype=np.float32)
    np.multiply(mono, np.float32(np.cos(theta) * np.sqrt(2.0)), out=stereo[0])
    np.multiply(mono, np.float32(np.sin(theta) * np.sqrt(2.0)), out=stereo[1])
    if width > 0.0 and delay_frames > 0:
        side = np.zeros((1, len(mono)), dtype=np.float32)
        side[0, delay_frames:] = mono[:-delay_frames]
        # Only above ~300 Hz: widening the low end smears bass and kick.
        highpass = pb.HighpassFilter(cutoff_frequency_hz=cutoff_hz(300.0, sample_rate))
        side = highpass(side, sample_rate)[0] * np.float32(width)
        stereo[0] += side
        stereo[1] -= side
    return stereo


def summed(parts: list[np.ndarray]) -> np.ndarray:
    """The parts added in order (np.sum over a list would first copy them all into one array)."""
    total = np.array(parts[0], dtype=np.float32)
    for part in parts[1:]:
        total += part
    return total


def lofi(parts: list[np.ndarray], amount: float, sample_rate: int,
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
            pb.LowpassFilter(
                cutoff_frequency_hz=cutoff_hz(float(np.interp(amount, [0, 1], [12000, 4500])), sample_rate)
            ),
            pb.LowpassFilter(
                cutoff_frequency_hz=cutoff_hz(float(np.interp(amount, [0, 1], [14000, 6000])), sample_rate)
            ),
            pb.HighpassFilter(cutoff_frequency_hz=cutoff_hz(float(np.interp(amount, [0, 1], [30, 90])), sample_rate)),
            pb.Bitcrush(bit_depth=float(np.interp(amount, [0, 1], [14, 9]))),
        ]
    )
    bus = summed(parts)
    peak = float(np.abs(bus).max()) if levels is None else levels[0]
    with ThreadPoolExecutor(max_workers=2) as pool:  # pedalboard releases the GIL
        crushed = list(pool.map(lambda p: board((p / peak).astype(np.float32), sample_rate) * peak, parts))
    # Seeded hiss, so the same mix always renders the same.
    hiss = np.random.default_rng(7).standard_normal(bus.shape).astype(np.float32)
    hiss = pb.LowpassFilter(cutoff_frequency_hz=cutoff_hz(5000.0, sample_rate))(hiss, sample_rate)
    level = float(np.sqrt(np.mean(bus**2)) * db_to_gain(-42.0 + 8.0 * amount)) if levels is None else levels[1]
    crushed[-1] = (crushed[-1] + hiss * np.float32(level)).astype(np.float32)
    return [c.astype(np.float32) for c in crushed], peak, level


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
            pb.HighpassFilter(cutoff_frequency_hz=cutoff_hz(250.0, sample_rate)),
            pb.LowpassFilter(cutoff_frequency_hz=cutoff_hz(9000.0, sample_rate)),
        ]
    )


def shared_reverb(sends: np.ndarray, settings: MixSettings, sample_rate: int) -> np.ndarray:
    """The shared reverb return of the (2, frames) send bus: one reverb for the mix, as on a desk.

    One pass: `produce` runs it on a second thread while it cleans the placed tracks for the master (its
    two halves on two threads, as before, rendered 6 s more for the first half's tail and left that
    cleaning to one core).
    """
    return _reverb_board(settings, sample_rate)(sends, sample_rate)
