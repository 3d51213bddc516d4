"""`timbre.transform`: what the words change in a decoded note, applied to a real recording."""

from __future__ import annotations

import numpy as np

from melodex.timbre import hn, metrics, transform


def _params(tilt_db_per_partial: float = 0.0, decay_db_per_frame: float = 0.0) -> hn.HNParams:
    k = np.arange(1, hn.N_HARMONICS + 1)
    frames = np.arange(hn.N_FRAMES)[:, None]
    levels = -6.0 * np.log2(k)[None, :] + tilt_db_per_partial * k[None, :] - decay_db_per_frame * frames
    noise = np.full((hn.N_FRAMES, hn.N_NOISE_BANDS), 1e-6)
    return hn.HNParams(pitch=57, harmonics=0.1 * 10 ** (levels / 20), noise=noise, cents=np.zeros(hn.N_FRAMES),
                       stretch=0.0, attack_s=0.01)


def _recording() -> np.ndarray:
    return hn.synthesize(_params(), seed=1)


def test_no_change_gives_the_recording_back() -> None:
    recording = _recording()
    np.testing.assert_array_equal(transform.transform(recording, _params(), _params()), recording.astype(np.float32))


def test_brighter_words_brighten_and_faster_decay_shortens_the_recording() -> None:
    recording = _recording()
    brighter = transform.transform(recording, _params(tilt_db_per_partial=0.3), _params())
    assert len(brighter) == len(recording)
    assert metrics.spectral_centroid(brighter) > 1.3 * metrics.spectral_centroid(recording)
    plucked = transform.transform(recording, _params(decay_db_per_frame=0.5), _params())
    assert metrics.sustain_ratio(plucked) < 0.5 * metrics.sustain_ratio(recording)
    # the recording's partials stay where they were: no hiss laid over the 4-12 kHz band
    assert metrics.band_flatness(brighter) < metrics.band_flatness(recording) + 3.0
