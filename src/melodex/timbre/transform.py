"""Generated notes as a transformation of a real recorded note (ARCHITECTURE.md, "one way to keep that floor").

The diffusion model's latent is decoded twice, for the words and for the bare instrument from the same
noise; what the words change (each partial's and noise band's level over time, so brightness and decay)
becomes a smooth time-frequency gain applied to a real SoundFont note of the same program, pitch and
velocity. The partials, attack and release are the recording's, so they stay as clean as the sample
set; a text that adds nothing to the instrument gives the recording itself.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter
from scipy.signal import istft, stft

from melodex.timbre import hn

N_FFT = 2048
ENVELOPE_BANDS = 40  # log-spaced 40 Hz-20 kHz: finer than the noise bands, coarser than the partials
FLOOR_DB = 60.0  # levels below the note's loudest frame by this much count as this much (tails, silence)
MAX_GAIN_DB = 24.0


def _band_edges() -> np.ndarray:
    return np.geomspace(40.0, 20000.0, ENVELOPE_BANDS + 1)


def envelope_db(params: hn.HNParams) -> np.ndarray:
    """(frames, ENVELOPE_BANDS) energy in dB of the partials and noise falling in each band."""
    edges = _band_edges()
    f0 = hn.midi_hz(params.pitch)
    freqs = f0 * hn.partial_ratios(params.stretch)[: params.harmonics.shape[1]]
    energy = np.zeros((params.harmonics.shape[0], ENVELOPE_BANDS))
    band = np.searchsorted(edges, freqs, side="right") - 1
    inside = (band >= 0) & (band < ENVELOPE_BANDS)
    np.add.at(energy.T, band[inside], (params.harmonics[:, inside].astype(np.float64) ** 2).T)
    # Noise bands: their energy spread over the envelope bands they overlap, by overlap in Hz.
    noise_edges = hn.NOISE_EDGES
    for j in range(len(noise_edges) - 1):
        lo, hi = noise_edges[j], noise_edges[j + 1]
        overlap = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, None) / max(hi - lo, 1e-9)
        share = (hi - lo) / (hn.SAMPLE_RATE / 2)
        energy += (params.noise[:, j : j + 1].astype(np.float64) ** 2 * share) * overlap[None, :]
    db = 10 * np.log10(energy + 1e-20)
    return np.maximum(db, db.max() - FLOOR_DB)


def gain_db(words: hn.HNParams, bare: hn.HNParams) -> np.ndarray:
    """(frames, ENVELOPE_BANDS) what the words change, smoothed over 3 frames and 3 bands, within +-24 dB."""
    change = np.clip(envelope_db(words) - envelope_db(bare), -MAX_GAIN_DB, MAX_GAIN_DB)
    return uniform_filter(change, size=3, mode="nearest")


def transform(recording: np.ndarray, words: hn.HNParams, bare: hn.HNParams) -> np.ndarray:
    """`recording` (a real note, 44.1 kHz) with the change from `bare` to `words` applied as a
    time-frequency gain (STFT, Hann 2048, hop 512: the HN frame rate). Same length as `recording`."""
    audio = np.asarray(recording, dtype=np.float64)
    change = gain_db(words, bare)
    if not np.any(np.abs(change) > 0.01):
        return audio.astype(np.float32)
    hz, _, spectrum = stft(audio, fs=hn.SAMPLE_RATE, nperseg=N_FFT, noverlap=N_FFT - hn.HOP, boundary="even")
    centres = np.sqrt(_band_edges()[:-1] * _band_edges()[1:])
    per_frame = np.array([np.interp(np.log(np.maximum(hz, 20.0)), np.log(centres), row) for row in change])
    frames = spectrum.shape[1]
    index = np.minimum(np.arange(frames), len(per_frame) - 1)  # past the decoded frames: the last change
    spectrum *= (10 ** (per_frame[index] / 20)).T
    _, out = istft(spectrum, fs=hn.SAMPLE_RATE, nperseg=N_FFT, noverlap=N_FFT - hn.HOP, boundary=True)
    out = out[: len(audio)]
    return np.pad(out, (0, len(audio) - len(out))).astype(np.float32)
