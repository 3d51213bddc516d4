"""Audio measures for notes: reconstruction distances (MR-STFT, mel-LSD), pitch, and timbre descriptors.

The descriptors (spectral centroid, attack, decay, noisiness) caption the training notes and measure
whether text control works; the distances compare a reconstruction with its original as in the
ARCHITECTURE.md table.
"""

from __future__ import annotations

import numpy as np

from melodex.timbre.hn import HOLD_S, SAMPLE_RATE, midi_hz

MR_STFT_SIZES = (512, 1024, 2048)


def _stft(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Complex STFT (frames, bins): Hann window, frame t centred on sample t * hop (zero-padded ends)."""
    padded = np.pad(np.asarray(audio, dtype=np.float64), (n_fft // 2, n_fft // 2))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return np.fft.rfft(frames * np.hanning(n_fft), axis=-1)


def _stft_mag(audio: np.ndarray, n_fft: int) -> np.ndarray:
    return np.abs(_stft(audio, n_fft, n_fft // 4))


def mr_stft(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Multi-resolution STFT distance: spectral convergence + mean |log magnitude| difference, averaged."""
    n = min(len(reference), len(estimate))
    total = 0.0
    for n_fft in MR_STFT_SIZES:
        ref, est = _stft_mag(reference[:n], n_fft), _stft_mag(estimate[:n], n_fft)
        convergence = np.linalg.norm(ref - est) / (np.linalg.norm(ref) + 1e-9)
        log_mag = np.mean(np.abs(np.log(ref + 1e-5) - np.log(est + 1e-5)))
        total += convergence + log_mag
    return float(total / len(MR_STFT_SIZES))


def mel_filterbank(n_mels: int = 128, n_fft: int = 2048, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular HTK-mel filters (n_mels, n_fft // 2 + 1)."""
    mel_max = 2595.0 * np.log10(1 + sample_rate / 2 / 700.0)
    hz = 700.0 * (10 ** (np.linspace(0, mel_max, n_mels + 2) / 2595.0) - 1)
    bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    rising = (bins[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - bins[None, :]) / np.maximum(upper - centre, 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling))


def mel_lsd(reference: np.ndarray, estimate: np.ndarray, floor_db: float = -80.0) -> float:
    """Log-spectral distance in dB over 128 mel bands (frames below -80 dB of the peak clipped)."""
    n = min(len(reference), len(estimate))
    bank = mel_filterbank()
    ref = bank @ (_stft_mag(reference[:n], 2048) ** 2).T
    est = bank @ (_stft_mag(estimate[:n], 2048) ** 2).T
    top = 10 * np.log10(ref.max() + 1e-12)
    ref_db = np.maximum(10 * np.log10(ref + 1e-12), top + floor_db)
    est_db = np.maximum(10 * np.log10(est + 1e-12), top + floor_db)
    return float(np.mean(np.sqrt(np.mean((ref_db - est_db) ** 2, axis=0))))


def pitch_cents(
    audio: np.ndarray, pitch: int, start_s: float = 0.15, end_s: float = 0.95, stretch: float = 0.0
) -> float:
    """Measured pitch in cents from MIDI `pitch`, from the strongest of the first 6 partials.

    A long zero-padded FFT of the held part; each partial's peak is interpolated and the deviations
    averaged by strength, so a weak fundamental (low brass, bass) does not break the estimate.
    Partial k is expected at k f0 sqrt(1 + stretch k^2) (`stretch` 0: harmonic).
    """
    segment = np.asarray(audio[int(start_s * SAMPLE_RATE) : int(end_s * SAMPLE_RATE)], dtype=np.float64)
    n = 1 << 18
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), n))
    hz_per_bin = SAMPLE_RATE / n
    f0 = midi_hz(pitch)
    devs, weights = [], []
    for k in range(1, 7):
        fk = k * f0 * np.sqrt(1.0 + max(stretch, 0.0) * k**2)
        if fk > SAMPLE_RATE / 2 * 0.9:
            break
        lo, hi = int(fk * 2 ** (-0.5 / 12) / hz_per_bin), int(fk * 2 ** (0.5 / 12) / hz_per_bin)
        peak = lo + int(np.argmax(spectrum[lo:hi]))
        a, b, c = np.log(spectrum[peak - 1 : peak + 2] + 1e-12)
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c != 0 else 0.0
        devs.append(1200 * np.log2((peak + shift) * hz_per_bin / fk))
        weights.append(spectrum[peak])
    w = np.asarray(weights)
    strong = w >= 0.1 * w.max()
    return float(np.sum(np.asarray(devs)[strong] * w[strong]) / np.sum(w[strong]))


def _envelope_db(audio: np.ndarray, hop: int = 441) -> np.ndarray:
    frames = len(audio) // hop
    power = np.mean(np.square(audio[: frames * hop], dtype=np.float64).reshape(frames, hop), axis=1)
    return 10 * np.log10(power + 1e-12)


def spectral_centroid(audio: np.ndarray, until_s: float = HOLD_S) -> float:
    """Energy-weighted mean spectral centroid (Hz) over the held part."""
    mag = _stft_mag(np.asarray(audio[: int(until_s * SAMPLE_RATE)]), 2048)
    power = mag**2
    hz = np.arange(mag.shape[1]) * SAMPLE_RATE / 2048
    return float((power * hz).sum() / (power.sum() + 1e-12))


def decay_time(audio: np.ndarray, drop_db: float = 20.0) -> float:
    """Seconds from the peak until the level first falls `drop_db` under it (held part; 1.0 if never)."""
    env = _envelope_db(np.asarray(audio[: int(HOLD_S * SAMPLE_RATE)]))
    peak = int(np.argmax(env))
    below = np.nonzero(env[peak:] < env[peak] - drop_db)[0]
    return float(below[0] * 0.01) if len(below) else HOLD_S


def decay_time_fit(audio: np.ndarray, drop_db: float = 20.0, longest_s: float = 10.0) -> float:
    """Seconds to fall `drop_db` at the rate fitted to the held part, from the peak to the end of the hold.

    As reverberation times are measured (ISO 3382: T20 from a line through the decay): a note that
    falls only 6 dB in its 1 s hold still gets a decay time (~3.3 s), where `decay_time` says "never"
    (1.0). Level flat or rising: `longest_s`.
    """
    env = _envelope_db(np.asarray(audio[: int(HOLD_S * SAMPLE_RATE)]))
    peak = int(np.argmax(env))
    if len(env) - peak < 10:  # peak in the last 100 ms: no decay to fit
        return longest_s
    slope = np.polyfit(np.arange(len(env) - peak) * 0.01, env[peak:], 1)[0]  # dB per second
    return float(min(longest_s, drop_db / -slope)) if slope < 0 else longest_s


def sustain_ratio(audio: np.ndarray) -> float:
    """RMS of 0.8-1.0 s (still held) over the peak 10 ms RMS."""
    env = _envelope_db(np.asarray(audio))
    late = env[80:100]
    return float(10 ** ((np.mean(late) - env.max()) / 20)) if len(late) else 0.0


def phasiness(
    audio: np.ndarray,
    pitch: int,
    cents: float | np.ndarray | None = None,
    stretch: float = 0.0,
    n_harmonics: int = 10,
    n_fft: int = 2048,
    hop: int = 512,
    start_s: float = 0.15,
    end_s: float = 0.95,
    floor_db: float = -60.0,
) -> float:
    """Phasiness: magnitude-weighted mean |instantaneous frequency - harmonic frequency| in Hz.

    How clean the partials are, as in ARCHITECTURE.md's "phasiness (IF dev, Hz)" column: a stationary
    harmonic tone scores ~0; phase that wanders from frame to frame (Griffin-Lim, noise washed over the
    partials) scores higher.

    - STFT: Hann window `n_fft` (2048), hop `hop` (512), frame t centred on sample t * hop (the
      signal is zero-padded by n_fft / 2 on both sides, as `mr_stft`).
    - Instantaneous frequency (standard phase-vocoder estimate) of bin b between frames t-1 and t:
      (b + princarg(phi_t - phi_{t-1} - 2 pi b hop / n_fft) * n_fft / (2 pi hop)) * sr / n_fft.
      Deviations from the bin centre beyond sr / (2 hop) (43 Hz) alias; larger errors wrap.
    - Frames: the held part, pairs (t-1, t) with both frame centres within [start_s, end_s].
    - Bins: for each harmonic k = 1..n_harmonics below 0.45 sr, with frequency
      f_k = k f0 sqrt(1 + stretch k^2), the bin of largest magnitude in frame t within
      max(2 bins, f0 / 4) of f_k, kept only if it is a local maximum of the spectrum (a peak) and
      within `floor_db` (-60 dB) of the loudest such peak of the note (so silence and
      inaudible partials do not count).
    - f0: MIDI `pitch` plus the pitch offset `cents`. None (the default): measured from the audio
      with `pitch_cents` (given the stretch) over the same held part, so a tuned but slightly sharp note is measured
      against its own partials, not penalised for its tuning. A float: that fixed offset. An array:
      a per-frame pitch curve in cents on this STFT's frame grid (e.g. `hn_analysis.analyse(audio, pitch).cents`
      with hop = hn.HOP), so vibrato is followed; the curve is averaged over the two frames of a pair.
    - Weighting: each peak's deviation |IF - f_k| is weighted by its linear magnitude in frame t.
    """
    x = np.asarray(audio, dtype=np.float64)
    spectrum = _stft(x, n_fft, hop)
    mag, phase = np.abs(spectrum), np.angle(spectrum)
    n_frames, n_bins = mag.shape
    bin_hz = SAMPLE_RATE / n_fft

    first = max(1, int(np.ceil(start_s * SAMPLE_RATE / hop)))
    last = min(n_frames - 1, int(np.floor(end_s * SAMPLE_RATE / hop)))
    if last <= first:
        raise ValueError("phasiness: the held part is shorter than two frames")
    if cents is None:
        cents = pitch_cents(x, pitch, start_s, end_s, stretch)
    if np.ndim(cents) == 0:
        curve = np.full(n_frames, float(cents))
    else:
        curve = np.asarray(cents, dtype=np.float64)
        curve = np.pad(curve, (0, max(0, n_frames - len(curve))), mode="edge")[:n_frames]
    f0_pairs = midi_hz(pitch) * 2 ** ((curve[first - 1 : last] + curve[first : last + 1]) / 2 / 1200)

    k = np.arange(1, n_harmonics + 1, dtype=np.float64)
    ratios = k * np.sqrt(1.0 + max(stretch, 0.0) * k**2)
    f0_nominal = midi_hz(pitch)
    ratios = ratios[ratios * f0_nominal < 0.45 * SAMPLE_RATE]
    targets = f0_pairs[:, None] * ratios[None, :]  # (pairs, harmonics) Hz
    reach = max(2, round(0.25 * f0_nominal / bin_hz))
    offsets = np.arange(-reach, reach + 1)
    idx = np.clip(np.rint(targets / bin_hz).astype(np.int64)[..., None] + offsets, 1, n_bins - 2)
    current = mag[first : last + 1]  # frame t of each pair
    vals = np.take_along_axis(current[:, None, :], idx, axis=-1)
    peak = np.take_along_axis(idx, vals.argmax(-1)[..., None], -1)[..., 0]  # (pairs, harmonics)
    peak_mag = np.take_along_axis(current, peak, -1)
    is_peak = (peak_mag > np.take_along_axis(current, peak - 1, -1)) & (
        peak_mag >= np.take_along_axis(current, peak + 1, -1)
    )
    loud = peak_mag >= peak_mag.max() * 10 ** (floor_db / 20)
    keep = is_peak & loud
    if not keep.any():
        return float("nan")

    advance = np.take_along_axis(phase[first : last + 1], peak, -1) - np.take_along_axis(
        phase[first - 1 : last], peak, -1
    )
    expected = 2 * np.pi * peak * hop / n_fft
    wrapped = np.angle(np.exp(1j * (advance - expected)))
    inst_hz = (peak + wrapped * n_fft / (2 * np.pi * hop)) * bin_hz
    deviation = np.abs(inst_hz - targets)
    weight = np.where(keep, peak_mag, 0.0)
    return float(np.sum(deviation * weight) / np.sum(weight))


BANDS_HZ = ((0.0, 1000.0), (1000.0, 4000.0), (4000.0, 12000.0))


def stft_power(audio: np.ndarray) -> np.ndarray:
    """(frames, bins) power of the 2048-point STFT that `band_levels` and `band_flatness` read."""
    return _stft_mag(np.asarray(audio, dtype=np.float64), 2048) ** 2


def band_levels(
    audio: np.ndarray, bands: tuple[tuple[float, float], ...] = BANDS_HZ, power: np.ndarray | None = None
) -> np.ndarray:
    """Each band's share of the note's energy in dB (2048-point STFT over the whole note; `power`: that
    STFT's `stft_power`, when already at hand).

    Level-free (a note and the same note 10 dB quieter score alike), so two sample sets recorded at
    different gains compare by their spectral balance: the issue's "4-12 kHz level re total".
    """
    power = stft_power(audio) if power is None else power
    hz = np.arange(power.shape[1]) * SAMPLE_RATE / 2048
    total = power.sum() + 1e-20
    return np.array([10 * np.log10(power[:, (hz >= lo) & (hz < hi)].sum() / total + 1e-12) for lo, hi in bands])


def band_flatness(
    audio: np.ndarray, band: tuple[float, float] = BANDS_HZ[-1], floor_db: float = -60.0, heard: bool = False,
    power: np.ndarray | None = None,
) -> float:
    """Spectral flatness in dB (geometric / arithmetic mean power) of one band, over the note's frames
    within `floor_db` of its loudest: near 0 dB is hiss, clean partials with gaps between them score low.

    Plain (`heard` False), every such frame counts alike, so frames whose band is empty (a band 110 dB
    under the note's peak holds float32 rounding, which is flat) read as hiss: the shipped decoder's notes
    scored -9.4 dB on piano 60 that way, -55 to -60 dB over the frames where the band has sound. `heard`
    weights each frame by its energy in the band: the flatness of what is in the band, as loud as it is.
    `power`: the note's `stft_power`, when already at hand.
    """
    power = stft_power(audio) if power is None else power
    hz = np.arange(power.shape[1]) * SAMPLE_RATE / 2048
    frames = power.sum(axis=1)
    loud = frames >= frames.max() * 10 ** (floor_db / 10)
    part = power[loud][:, (hz >= band[0]) & (hz < band[1])] + 1e-20
    flatness = np.exp(np.mean(np.log(part), axis=1)) / np.mean(part, axis=1)
    weights = part.sum(axis=1) if heard else None
    return float(10 * np.log10(np.average(flatness, weights=weights)))
