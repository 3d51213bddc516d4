"""Harmonic-plus-noise analysis and synthesis on synthetic notes with known answers."""

from __future__ import annotations

import numpy as np

from melodex.timbre import hn, hn_analysis, metrics


def _params(pitch: int, amps: list[float], stretch: float = 0.0, noise: float = 0.0) -> hn.HNParams:
    harmonics = np.zeros((hn.N_FRAMES, hn.N_HARMONICS), np.float32)
    harmonics[:, : len(amps)] = amps
    harmonics[86:] *= np.exp(-np.arange(hn.N_FRAMES - 86) / 8.0)[:, None]  # released after 1 s
    return hn.HNParams(
        pitch=pitch,
        harmonics=harmonics,
        noise=np.full((hn.N_FRAMES, hn.N_NOISE_BANDS), noise, np.float32),
        cents=np.zeros(hn.N_FRAMES, np.float32),
        stretch=stretch,
        attack_s=0.005,
    )


def test_analysis_recovers_partials_pitch_and_leaves_a_clean_tone_without_noise() -> None:
    amps = [0.2, 0.1, 0.05, 0.02, 0.01]
    audio = hn.synthesize(_params(57, amps))
    params = hn_analysis.analyse(audio, 57, stretched=False)
    mid = params.harmonics[40:80].mean(0)
    np.testing.assert_allclose(20 * np.log10(mid[:5]), 20 * np.log10(amps), atol=0.5)
    assert np.all(mid[5:20] < 1e-3)
    assert np.abs(params.cents[20:80]).max() < 1.0
    assert params.noise[20:80].max() < 1e-4  # gating: partials' window leakage is not noise
    assert abs(metrics.pitch_cents(audio, 57)) < 1.0


def test_stretch_is_found_for_a_stretched_tone_and_not_for_a_harmonic_one() -> None:
    amps = [0.1 / k for k in range(1, 25)]
    stretched = hn.synthesize(_params(45, amps, stretch=4e-4))
    found = hn_analysis.analyse(stretched, 45).stretch
    assert 3e-4 < found < 5e-4
    assert hn_analysis.analyse(hn.synthesize(_params(45, amps)), 45).stretch < 2e-5


def test_noise_level_is_recovered_and_resynthesis_is_close() -> None:
    params = _params(60, [0.1, 0.05], noise=0.01)
    audio = hn.synthesize(params, seed=1)
    found = hn_analysis.analyse(audio, 60, stretched=False)
    level = np.median(found.noise[20:80, 10:28])
    assert 0.006 < level < 0.014
    # Two noise realisations differ bin by bin; resynthesis from the analysis should be about as
    # close to the original as another realisation of the true parameters is. (Noise in the bands of
    # strong partials is gated, so the distance is a little larger.)
    again = hn.synthesize(found, seed=2)
    floor = metrics.mr_stft(audio, hn.synthesize(params, seed=3))
    assert metrics.mr_stft(audio, again) < 1.15 * floor
    assert metrics.mr_stft(audio, audio) == 0.0


def _direct_harmonic_sum(params: hn.HNParams) -> np.ndarray:
    """The additive formula written out sample by sample (every partial, float64), as a reference."""
    t = np.arange(hn.NOTE_FRAMES) / hn.HOP
    frames = np.arange(hn.N_FRAMES)
    bend = 2 ** (np.interp(t, frames, params.cents.astype(np.float64)) / 1200)
    f0 = hn.midi_hz(params.pitch)
    ratios = hn.partial_ratios(params.stretch)
    phase = np.cumsum(f0 * bend) / hn.SAMPLE_RATE
    phase -= phase[0]
    total = np.zeros(hn.NOTE_FRAMES)
    for k, ratio in enumerate(ratios):
        amp = np.interp(t, frames, params.harmonics[:, k].astype(np.float64))
        audible = bend * ratio * f0 < min(hn.TOP_HZ, 0.48 * hn.SAMPLE_RATE)
        total += np.where(audible, amp, 0.0) * np.sin(2 * np.pi * phase * ratio)
    return total


def test_fast_additive_synthesis_matches_the_direct_formula_with_vibrato_across_the_top() -> None:
    rng = np.random.default_rng(0)
    # Pitch 91 (1568 Hz): partial 12 sits near 18.8 kHz, so a +-50 cent vibrato bends it across the top.
    params = _params(91, list(rng.uniform(0.0, 0.05, 14)), stretch=1e-4)
    params = hn.HNParams(params.pitch, params.harmonics, params.noise,
                         (50 * np.sin(np.arange(hn.N_FRAMES) / 3.0)).astype(np.float32), params.stretch, 0.05)
    expected = _direct_harmonic_sum(params)
    got = hn._harmonic_sum(hn.midi_hz(91), 2 ** (np.interp(np.arange(hn.NOTE_FRAMES) / hn.HOP,
                                                            np.arange(hn.N_FRAMES), params.cents) / 1200),
                           hn.partial_ratios(params.stretch), params.harmonics)
    error = np.sqrt(np.mean((got - expected) ** 2) / np.mean(expected**2))
    assert error < 1e-5
