"""`metrics.phasiness` on synthetic tones with known answers: clean partials score ~0, wandering phase does not."""

from __future__ import annotations

import numpy as np
import pytest

from melodex.timbre import hn, metrics

T = np.arange(hn.NOTE_FRAMES) / hn.SAMPLE_RATE


def _tone(f0: float, n: int = 10, jitter_rad: float = 0.0, noise: float = 0.0, stretch: float = 0.0) -> np.ndarray:
    """Harmonic tone (amplitude 0.1 / k), optionally with a random phase offset per partial and per 512 samples."""
    rng = np.random.default_rng(0)
    jitter = np.repeat(rng.normal(0.0, jitter_rad, (hn.NOTE_FRAMES // 512 + 1, n)), 512, axis=0)[: len(T)]
    audio = np.zeros(len(T))
    for k in range(1, n + 1):
        fk = k * f0 * np.sqrt(1 + stretch * k**2)
        audio += 0.1 / k * np.sin(2 * np.pi * fk * T + rng.uniform(0, 2 * np.pi) + jitter[:, k - 1])
    return audio + noise * rng.standard_normal(len(T))


def test_pure_harmonic_tone_is_clean() -> None:
    assert metrics.phasiness(_tone(hn.midi_hz(60)), 60) < 0.1
    assert metrics.phasiness(_tone(hn.midi_hz(45)), 45) < 0.1


def test_phase_jitter_and_noise_raise_phasiness() -> None:
    f0 = hn.midi_hz(60)
    clean = metrics.phasiness(_tone(f0), 60)
    assert metrics.phasiness(_tone(f0, jitter_rad=0.5), 60) > 1.5 + clean
    assert metrics.phasiness(_tone(f0, jitter_rad=1.0), 60) > metrics.phasiness(_tone(f0, jitter_rad=0.5), 60)
    assert metrics.phasiness(_tone(f0, noise=0.3), 60) > 1.0 + clean


def test_detuned_note_is_measured_against_its_own_f0() -> None:
    sharp = _tone(hn.midi_hz(60) * 2 ** (15 / 1200))  # 15 cents sharp: 3.9 Hz on the fundamental
    assert abs(metrics.pitch_cents(sharp, 60) - 15.0) < 0.5
    assert metrics.phasiness(sharp, 60) < 0.1  # default: offset measured with pitch_cents
    assert metrics.phasiness(sharp, 60, cents=15.0) < 0.1
    assert metrics.phasiness(sharp, 60, cents=0.0) > 3.0  # against the nominal MIDI pitch it deviates


def test_stretched_partials_need_the_stretch() -> None:
    stretched = _tone(hn.midi_hz(72), n=8, stretch=5e-4)
    assert metrics.phasiness(stretched, 72, stretch=5e-4) < 0.2
    assert metrics.phasiness(stretched, 72) > 3.0


def test_pitch_curve_follows_vibrato() -> None:
    harmonics = np.zeros((hn.N_FRAMES, hn.N_HARMONICS), np.float32)
    harmonics[:, :6] = [0.2, 0.1, 0.05, 0.03, 0.02, 0.01]
    cents = (20 * np.sin(2 * np.pi * 5.5 * np.arange(hn.N_FRAMES) * hn.HOP / hn.SAMPLE_RATE)).astype(np.float32)
    params = hn.HNParams(67, harmonics, np.zeros((hn.N_FRAMES, hn.N_NOISE_BANDS), np.float32), cents, 0.0, 0.005)
    audio = hn.synthesize(params)
    assert metrics.phasiness(audio, 67, cents=cents) < 0.3
    assert metrics.phasiness(audio, 67) > 3.0  # a fixed f0 counts the vibrato as deviation


def test_silence_in_the_held_part_is_not_measured() -> None:
    assert np.isnan(metrics.phasiness(np.zeros(hn.NOTE_FRAMES), 60, cents=0.0))
    with pytest.raises(ValueError):
        metrics.phasiness(_tone(hn.midi_hz(60)), 60, start_s=0.5, end_s=0.5)


def test_band_levels_follow_where_the_energy_is() -> None:
    low, high = _tone(220.0, n=3), _tone(220.0 * 25, n=1)  # 220-660 Hz vs 5.5 kHz
    # the tones start and stop abruptly: their clicks put ~-50 dB into every band
    assert metrics.band_levels(low)[0] > -0.1 and metrics.band_levels(low)[2] < -45
    assert metrics.band_levels(high)[2] > -0.1 and metrics.band_levels(high)[0] < -40
    np.testing.assert_allclose(metrics.band_levels(0.1 * low), metrics.band_levels(low), atol=1e-6)


def test_band_flatness_tells_hiss_from_partials() -> None:
    hiss = np.random.default_rng(1).standard_normal(len(T)) * 0.01
    partials = _tone(hn.midi_hz(84), n=8)  # partials every ~1 kHz up into the 4-12 kHz band
    assert metrics.band_flatness(hiss) > -3.0
    assert metrics.band_flatness(partials) < -20.0


def test_band_flatness_as_heard_ignores_an_empty_band() -> None:
    # Partials up into 4-12 kHz that stop at 0.8 s while a low partial goes on: the band is empty after, and
    # its float32 rounding (or nothing at all) is flat. Plain flatness reads those frames as hiss; heard
    # flatness weighs each frame by what the band holds.
    partials = _tone(hn.midi_hz(84), n=8) * (T < 0.8) + _tone(hn.midi_hz(60), n=1)
    partials = partials.astype(np.float32).astype(np.float64)
    assert metrics.band_flatness(partials) > -12.0
    assert metrics.band_flatness(partials, heard=True) < -20.0
    hiss = np.random.default_rng(1).standard_normal(len(T)) * 0.01
    assert metrics.band_flatness(hiss, heard=True) > -3.0
