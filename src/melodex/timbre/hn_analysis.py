"""Harmonic-plus-noise analysis: the `hn.HNParams` of a dry recorded note at its known pitch.

The remedies measured in ARCHITECTURE.md are built in: onset-corrected frames (attacks), the cents curve
and its vibrato (`estimate_vibrato` measures depth and rate from an analysed curve), the stretch
coefficient (piano), noise gating so clean synth tones stay clean, and the spread of detuned pads
(`estimate_detune` finds it from the partials' beat rates, which grow as k f0 cents). Resynthesis is
`hn.synthesize`.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from melodex.timbre.hn import (
    DETUNE_RANGE,
    FRAME_RATE,
    HOLD_S,
    HOP,
    N_FRAMES,
    N_HARMONICS,
    N_NOISE_BANDS,
    NOISE_EDGES,
    NOTE_FRAMES,
    SAMPLE_RATE,
    TOP_HZ,
    VIBRATO_FADE_S,
    VIBRATO_RATES,
    Detune,
    HNParams,
    Vibrato,
    midi_hz,
    partial_ratios,
)

NOISE_GATE_DB = 40.0  # a band's residual this far under its partials is window leakage, not noise
VIBRATO_MIN_CENTS = 1.0  # shallower, or not periodic (see `estimate_vibrato`): no vibrato
DETUNE_MAX_BEAT_HZ = 30.0  # a partial beating faster is past what the frame envelope follows
DETUNE_MIN_EXPLAINED = 0.15  # mean share of a partial's level variance the beat rates must explain
LEAK_KERNEL_BINS = 24
LEAK_MARGIN_DB = 10.0


def _hann_kernel() -> tuple[np.ndarray, np.ndarray]:
    """|Hann window transform| / its peak at fractional bin offsets 0..LEAK_KERNEL_BINS (envelope)."""
    n, over = 1024, 64
    spectrum = np.abs(np.fft.rfft(np.hanning(n + 2)[1:-1], n * over))
    spectrum /= spectrum[0]
    offsets = np.arange(len(spectrum)) / over
    keep = offsets <= LEAK_KERNEL_BINS + 1
    # The running maximum from the far side is the sidelobe envelope: no false nulls between lobes.
    envelope = np.maximum.accumulate(spectrum[keep][::-1])[::-1]
    return offsets[keep], envelope


_LEAK_OFFSETS, _LEAK_KERNEL = _hann_kernel()


def analysis_nfft(pitch: int) -> int:
    """Window of about four periods, so partials are resolved yet attacks stay as sharp as possible."""
    periods = 4 * SAMPLE_RATE / midi_hz(pitch)
    return int(np.clip(2 ** np.ceil(np.log2(periods)), 1024, 8192))


def _fit_note(audio: np.ndarray) -> np.ndarray:
    out = np.zeros(NOTE_FRAMES, dtype=np.float64)
    n = min(len(audio), NOTE_FRAMES)
    out[:n] = audio[:n]
    return out


def _peak(mag: np.ndarray, centre: np.ndarray, reach: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parabolic peak (bin position, magnitude) of `mag` (..., bins) near `centre` (..., k) within reach."""
    bins = mag.shape[-1]
    offsets = np.arange(-int(reach.max()), int(reach.max()) + 1)
    idx = np.clip(np.rint(centre)[..., None].astype(np.int64) + offsets, 1, bins - 2)
    allowed = np.abs(offsets) <= reach[..., None]
    vals = np.take_along_axis(mag[..., None, :], idx, axis=-1) if mag.ndim == 1 else np.take_along_axis(
        mag[:, None, :], idx, axis=-1
    )
    vals = np.where(allowed, vals, -np.inf)
    best = np.take_along_axis(idx, vals.argmax(-1)[..., None], -1)[..., 0]
    lm = np.log(np.take_along_axis(mag, best - 1, -1) + 1e-12)
    l0 = np.log(np.take_along_axis(mag, best, -1) + 1e-12)
    lp = np.log(np.take_along_axis(mag, best + 1, -1) + 1e-12)
    denom = lm - 2 * l0 + lp
    shift = np.where(np.abs(denom) > 1e-9, 0.5 * (lm - lp) / np.where(denom == 0, 1, denom), 0.0)
    shift = np.clip(shift, -0.5, 0.5)
    return best + shift, np.exp(l0 - 0.25 * (lm - lp) * shift)


def estimate_stretch(audio: np.ndarray, pitch: int) -> float:
    """Partial stretch B fitted to the partial frequencies of the first 0.6 s (0 when it does not help).

    B is kept only when it explains the partial positions clearly better than plain harmonics with a
    tuning offset: vibrato smears the peaks of bowed and blown notes and would otherwise fit a
    spurious stretch that detunes their upper partials.
    """
    f0 = midi_hz(pitch)
    segment = audio[: int(0.6 * SAMPLE_RATE)]
    n = 32768
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), n))
    hz_per_bin = SAMPLE_RATE / n
    stretch, tuning = 0.0, 1.0
    fitted = False
    for count in (8, 20, 40):
        k = np.arange(1, count + 1, dtype=np.float64)
        expected = k * f0 * tuning * np.sqrt(1 + stretch * k**2)
        keep = expected < TOP_HZ
        if keep.sum() < 6:
            break
        k, expected = k[keep], expected[keep]
        reach = np.full(len(k), max(1.0, 0.25 * f0 / hz_per_bin))
        pos, amp = _peak(spectrum, expected / hz_per_bin, reach)
        strong = amp > spectrum.max() * 1e-3
        if strong.sum() < 6:
            break
        ks, ratio2, w = k[strong], (pos[strong] * hz_per_bin / (k[strong] * f0)) ** 2, np.sqrt(amp[strong])
        slope, intercept = np.polyfit(ks**2, ratio2, 1, w=w)
        if intercept <= 0:
            break
        flat = np.average(ratio2, weights=w)
        err_stretched = np.average((ratio2 - (intercept + slope * ks**2)) ** 2, weights=w)
        err_flat = np.average((ratio2 - flat) ** 2, weights=w)
        if err_stretched > 0.25 * err_flat:
            stretch, tuning = 0.0, float(np.sqrt(flat))
            continue
        tuning = float(np.sqrt(intercept))
        stretch = float(np.clip(slope / intercept, 0.0, 2e-3))
        fitted = True
    return stretch if fitted and stretch > 2e-6 else 0.0


def _frames(audio: np.ndarray, n_fft: int) -> np.ndarray:
    padded = np.pad(audio, (n_fft // 2, n_fft // 2 + HOP))
    view = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::HOP][:N_FRAMES]
    return view


def attack_time(audio: np.ndarray) -> float:
    """Seconds from the onset (frame 0) to 90% of the envelope's first-second maximum."""
    win = int(0.002 * SAMPLE_RATE)
    head = audio[:SAMPLE_RATE]
    env = np.sqrt(np.convolve(head**2, np.ones(win) / win, mode="same"))
    if env.max() <= 0:
        return 0.001
    reached = int(np.argmax(env >= 0.9 * env.max()))
    return float(np.clip(reached / SAMPLE_RATE, 0.001, 1.0))


def analyse(audio: np.ndarray, pitch: int, stretched: bool = True) -> HNParams:
    """HN parameters of a dry note at 44.1 kHz that starts at frame 0 with known MIDI `pitch`.

    `stretched` allows a partial stretch (struck and plucked strings); bowed, blown and synthetic
    tones are harmonic by construction.
    """
    x = _fit_note(np.asarray(audio, dtype=np.float64))
    f0 = midi_hz(pitch)
    stretch = estimate_stretch(x, pitch) if stretched else 0.0
    ratios = partial_ratios(stretch)
    n_fft = analysis_nfft(pitch)
    window = np.hanning(n_fft + 2)[1:-1]
    mag = np.abs(np.fft.rfft(_frames(x, n_fft) * window, axis=-1))
    hz_per_bin = SAMPLE_RATE / n_fft
    amp_scale = 2.0 / window.sum()

    # Pitch deviation per frame from the first partials, weighted by their strength. The spectrum is
    # zero-padded 4x here: plain parabolic peaks on a 4-period window are biased by ~2 cents.
    fine = np.abs(np.fft.rfft(_frames(x, n_fft) * window, 4 * n_fft, axis=-1))
    low = np.arange(min(6, N_HARMONICS))
    centre = np.broadcast_to(ratios[low] * f0 / (hz_per_bin / 4), (N_FRAMES, len(low)))
    reach = np.maximum(4.0, 0.2 * f0 / (hz_per_bin / 4) * np.ones_like(centre))
    pos, amp = _peak(fine, centre, reach)
    dev = 1200 * np.log2(np.maximum(pos, 1e-3) * (hz_per_bin / 4) / (ratios[low] * f0))
    weight = amp * (amp > fine.max() * 1e-3)
    voiced = weight.sum(1) > 0
    cents = np.zeros(N_FRAMES)
    cents[voiced] = (dev[voiced] * weight[voiced]).sum(1) / weight[voiced].sum(1)
    if voiced.any():
        cents = np.interp(np.arange(N_FRAMES), np.nonzero(voiced)[0], cents[voiced])
    cents = np.clip(scipy.signal.medfilt(cents, 3), -100, 100)

    # Partial amplitudes along the measured pitch curve.
    freqs = ratios[None, :] * f0 * 2 ** (cents[:, None] / 1200)
    audible = freqs < TOP_HZ
    pos, amp = _peak(mag, freqs / hz_per_bin, np.ones(freqs.shape))
    harmonics = np.where(audible, amp * amp_scale, 0.0)

    # The first frames see the silence before the onset through half their window: undo that loss
    # (exact for a steady tone switched on at frame 0; the onset ramp in `synthesize` shapes the rest).
    cover = np.array([window[max(0, n_fft // 2 - i * HOP) :].sum() / window.sum() for i in range(N_FRAMES)])
    harmonics = harmonics / cover[:, None]
    # Noise power scales with the covered share of the window's energy, not with the amplitude share
    # squared: dividing by cover**2 made the first frame's noise twice too strong (+3 dB, a burst at
    # every onset), and up to 8 frames so for the low notes' 8192-point windows.
    energy_cover = np.array([np.square(window[max(0, n_fft // 2 - i * HOP) :]).sum() / np.square(window).sum()
                             for i in range(N_FRAMES)])

    # Residual noise: every bin away from a partial's main lobe, averaged per band as white-noise power.
    # A bin only counts as noise where it stands clearly above the partials' predicted window leakage
    # (sidelobes cross band edges), so a clean synth tone gets no noise between its partials.
    bins = np.arange(mag.shape[1])
    near = np.zeros(mag.shape, dtype=bool)
    leak = np.zeros(mag.shape)
    for k in range(N_HARMONICS):
        on = audible[:, k]
        if not on.any():
            continue
        distance = np.abs(bins[None, :] - pos[:, k : k + 1])
        near |= on[:, None] & (distance <= 2.5)
        lo = max(0, int(pos[:, k].min()) - LEAK_KERNEL_BINS)
        hi = min(len(bins), int(pos[:, k].max()) + LEAK_KERNEL_BINS + 2)
        kernel = np.interp(distance[:, lo:hi], _LEAK_OFFSETS, _LEAK_KERNEL, right=0.0)
        leak[:, lo:hi] = np.maximum(leak[:, lo:hi], np.where(on, amp[:, k], 0.0)[:, None] * kernel)
    power = mag**2 / np.square(window).sum()
    leak_power = leak**2 / np.square(window).sum()
    power = np.where(power > leak_power * 10 ** (LEAK_MARGIN_DB / 10), power - leak_power, 0.0)
    band_of_bin = np.clip(np.searchsorted(NOISE_EDGES, bins * hz_per_bin, side="right") - 1, 0, N_NOISE_BANDS - 1)
    noise_var = np.zeros((N_FRAMES, N_NOISE_BANDS))
    partial_power = np.zeros((N_FRAMES, N_NOISE_BANDS))
    band_of_partial = np.clip(np.searchsorted(NOISE_EDGES, freqs, side="right") - 1, 0, N_NOISE_BANDS - 1)
    for band in range(N_NOISE_BANDS):
        in_band = band_of_bin == band
        if not in_band.any():
            continue
        free = ~near[:, in_band]
        band_power = power[:, in_band]
        counted = free.sum(1)
        mean_free = (band_power * free).sum(1) / np.maximum(counted, 1)
        noise_var[:, band] = np.where(counted > 0, mean_free, band_power.min(1))
        partial_power[:, band] = (np.where(band_of_partial == band, harmonics**2 / 2, 0.0)).sum(1)
    width = np.diff(NOISE_EDGES) / (SAMPLE_RATE / 2)
    band_noise_power = noise_var * width[None, :]
    gated = band_noise_power * 10 ** (NOISE_GATE_DB / 10) < partial_power
    noise_var = np.where(gated, 0.0, noise_var / energy_cover[:, None])

    return HNParams(
        pitch=pitch,
        harmonics=harmonics.astype(np.float32),
        noise=np.sqrt(noise_var).astype(np.float32),
        cents=cents.astype(np.float32),
        stretch=stretch,
        attack_s=attack_time(x),
    )


def estimate_vibrato(cents: np.ndarray, start_s: float = 0.1, end_s: float = HOLD_S) -> Vibrato:
    """Depth, rate and onset delay of the periodic part of a note's pitch curve over its held part.

    The slow curve (a quadratic over the hold: tuning, drift, a settling attack) is removed; the rate is
    the one in VIBRATO_RATES whose sinusoid explains most of what is left (least squares, 0.02 Hz grid).
    The depth is that sinusoid's amplitude once grown in: demodulated at the rate over one period, its
    median over the second half of the hold. The delay is when the amplitude first reaches half the depth,
    less half the fade. A curve whose best sinusoid explains under 40% of its variance (noise, drift),
    lies at an end of VIBRATO_RATES (power still rising beyond it: a slow wobble, not a peak), or is
    shallower than VIBRATO_MIN_CENTS has no vibrato.
    """
    first, last = round(start_s * FRAME_RATE), min(len(cents), round(end_s * FRAME_RATE))
    t = np.arange(first, last) / FRAME_RATE
    x = np.asarray(cents[first:last], dtype=np.float64)
    x = x - np.polyval(np.polyfit(t, x, 2), t)
    total = float(x @ x)
    if total <= 0:
        return Vibrato()
    rates = np.arange(VIBRATO_RATES[0], VIBRATO_RATES[1] + 1e-9, 0.02)
    explained = _rate_fit(x[:, None], t, rates[:, None])[:, 0]  # power of the projection on each rate's sinusoids
    best = int(np.argmax(explained))
    if explained[best] < 0.4 * total or best in (0, len(rates) - 1):  # at an end of the range: drift, not a peak
        return Vibrato()
    rate = float(rates[best])
    period = max(2, round(FRAME_RATE / rate))
    box = np.ones(period)
    coverage = np.convolve(np.ones(len(t)), box, "same")  # the ends average fewer frames
    demodulated = np.convolve(x * np.exp(-2j * np.pi * rate * t), box, "same") / coverage
    amplitude = 2 * np.abs(demodulated)
    depth = float(np.median(amplitude[t >= (start_s + end_s) / 2]))
    if depth < VIBRATO_MIN_CENTS:
        return Vibrato()
    crossed = t[int(np.argmax(amplitude >= 0.5 * depth))]
    return Vibrato(depth, rate, float(max(0.0, crossed - VIBRATO_FADE_S / 2)))



def beating(harmonics: np.ndarray, start_s: float = 0.15, end_s: float = HOLD_S,
            n_partials: int = 20) -> float:
    """Amplitude-modulation depth of the partials over the hold, dB: the std of each of the first
    `n_partials` partials' level (its slow shape, a quadratic, removed), weighted by their mean power.
    Detuned oscillators beat; a single bank's partials move only as slowly as its envelope."""
    first, last = round(start_s * FRAME_RATE), round(end_s * FRAME_RATE)
    amps = np.asarray(harmonics[first:last, :n_partials], dtype=np.float64)
    power = (amps**2).mean(0)
    keep = power > power.max() * 1e-3
    if not keep.any():
        return 0.0
    t = np.arange(first, last) / FRAME_RATE
    level = 20 * np.log10(np.maximum(amps[:, keep], 1e-9))
    residual = level - np.polynomial.polynomial.polyval(t, np.polynomial.polynomial.polyfit(t, level, 2)).T
    return float(np.average(residual.std(0), weights=power[keep]))


def _beat_depth_table() -> tuple[np.ndarray, np.ndarray]:
    """(mix r, relative depth m): two sines of levels 1 and r beat as |1 + r e^(i theta)|; m is that
    envelope's first Fourier component over its mean (r for small r, 2/3 at r = 1)."""
    theta = np.linspace(0, 2 * np.pi, 4096, endpoint=False)
    mixes = np.linspace(0.0, 1.0, 201)
    env = np.abs(1 + mixes[:, None] * np.exp(1j * theta))
    depth = 2 * np.abs((env * np.exp(-1j * theta)).mean(1)) / env.mean(1)
    return mixes, depth


_BEAT_MIX, _BEAT_DEPTH = _beat_depth_table()


def _rate_fit(env: np.ndarray, t: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Variance of each column of `env` (frames, partials) explained by sinusoids at `rates` (..., partials)."""
    angle = 2 * np.pi * rates[..., None] * t
    s, c = np.sin(angle), np.cos(angle)
    ss, cc, sc = (s * s).sum(-1), (c * c).sum(-1), (s * c).sum(-1)
    ys, yc = np.einsum("...pt,tp->...p", s, env), np.einsum("...pt,tp->...p", c, env)
    det = ss * cc - sc**2
    return (cc * ys**2 - 2 * sc * ys * yc + ss * yc**2) / np.maximum(det, 1e-12)


def estimate_detune(harmonics: np.ndarray, pitch: int, stretch: float = 0.0, start_s: float = 0.15,
                    end_s: float = HOLD_S) -> Detune:
    """Two detuned oscillators' spread (cents) and level ratio, from how the partials' levels beat.

    Partial k of two oscillators d cents apart beats at k f0 (2^(d/1200) - 1) Hz: the faster the higher
    the partial. Each partial's level (linear, over its mean, a quadratic removed) is projected on the
    sinusoids at that rate; the d in DETUNE_RANGE (0.05-cent grid) whose rates explain most of the
    partials' variance, weighted by their power, wins. The mix is the level ratio whose beat has the
    measured depth (weighted median over the partials). No detune when the partials hardly move
    (`beating` under 0.5 dB), when d explains under DETUNE_MIN_EXPLAINED or lies at an end of the range,
    or when one rate shared by all partials explains as much (tremolo, or a vibrato moving the levels).
    """
    if beating(harmonics, start_s, end_s) < 0.5:
        return Detune()
    first, last = round(start_s * FRAME_RATE), round(end_s * FRAME_RATE)
    t = np.arange(first, last) / FRAME_RATE
    ratios = partial_ratios(stretch)[:40]
    amps = np.asarray(harmonics[first:last, : len(ratios)], dtype=np.float64)
    power = (amps**2).mean(0)
    keep = power > power.max() * 1e-3
    env = amps[:, keep] / np.maximum(amps[:, keep].mean(0), 1e-12) - 1
    env = env - np.polynomial.polynomial.polyval(t, np.polynomial.polynomial.polyfit(t, env, 2)).T
    # Every audible partial counts alike: weighted by power, the loudest partial's beat alone decides, and
    # one rate shared by all partials (tremolo, vibrato) then fits as well as rates that grow with k.
    weight = np.full(int(keep.sum()), 1.0 / keep.sum())
    total = np.maximum((env**2).sum(0), 1e-12)
    slowest = 1.5 / (end_s - start_s)  # a cycle and a half at least

    def score(rates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        usable = (rates < DETUNE_MAX_BEAT_HZ) & (rates > slowest)
        explained = _rate_fit(env, t, rates)
        share = np.where(usable, explained / total, 0.0)
        mean = (share * weight).sum(-1) / np.maximum((usable * weight).sum(-1), 1e-12)
        return np.where(usable.any(-1), mean, 0.0), explained, usable

    grid = np.arange(DETUNE_RANGE[0], DETUNE_RANGE[1] + 1e-9, 0.05)
    found, explained, usable = score(np.multiply.outer(2 ** (grid / 1200) - 1, ratios[keep] * midi_hz(pitch)))
    best = int(np.argmax(found))
    common = np.arange(slowest, DETUNE_MAX_BEAT_HZ, 0.05)
    shared, _, _ = score(np.broadcast_to(common[:, None], (len(common), int(keep.sum()))))
    if found[best] < DETUNE_MIN_EXPLAINED or best in (0, len(grid) - 1) or shared.max() >= found[best]:
        return Detune()
    depth = np.sqrt(2 * explained[best] / len(t))[usable[best]]
    order = np.argsort(depth)
    cumulative = np.cumsum(weight[usable[best]][order])
    median = float(depth[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
    mix = float(np.interp(median, _BEAT_DEPTH, _BEAT_MIX))
    return Detune(float(grid[best]), mix)

