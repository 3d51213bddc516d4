"""Listening to a finished track with analysers independent of the generator: tempo, key, loudness,
peaks, brightness, noisiness and whether drums can be heard.

Everything here reads only audio. Tempo is librosa's onset-strength estimate and key is a Krumhansl-Kessler
match over the harmonic part's chroma (both shared with `melodex.reference`); a second, independent opinion
on both comes from essentia (KeyExtractor on HPCPs, RhythmExtractor2013) when it is installed; loudness is ITU-R BS.1770
through pyloudnorm; the true peak is the 4x-oversampled sample peak. No offline instrument tagger is
installed (musicnn needs TensorFlow), so instrumentation is limited to one question a signal measure
answers reliably: is there a drum kit (the percussive share of the spectrum, after HPSS)?
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from melodex.errors import MelodexError
from melodex.score import Key

ANALYSIS_RATE = 22050
TEMPO_TOLERANCE = 0.04  # MIREX: an estimate within 4% of the target counts
# Percussive share of the HPSS energy above which a mix is heard as having drums. Calibrated on SoundFont
# renders of a four-piece band at 72-160 BPM: 0.075-0.12 with its kit, 0.007-0.015 without it.
DRUMS_PERCUSSIVE_SHARE = 0.035
CLIP_LEVEL = 0.999
INSTALL_HINT = "bash scripts/setup.sh --extras=eval"
ESSENTIA_RATE = 44100
# KeyExtractor's key profile, chosen on SoundFont renders of real works of known key (scripts/calibrate_audio_key.py).
ESSENTIA_KEY_PROFILE = "bgate"  # 0.666 weighted, 0.59 exact on 109 works; edma 0.650 / 0.54


class AnalysisError(MelodexError):
    """An analyser is not installed or was given unusable audio."""


@dataclass(frozen=True)
class AudioMeasures:
    """What the analysers heard in one track."""

    seconds: float
    tempo_bpm: float
    key: str  # e.g. "A minor"
    key_strength: float  # Krumhansl correlation of the best key
    loudness_lufs: float
    true_peak_dbtp: float
    clipped_fraction: float  # samples at or above full scale
    centroid_hz: float  # spectral centroid: brightness
    flatness: float  # spectral flatness: 0 tonal, 1 noise
    percussive_share: float  # HPSS: percussive energy / (harmonic + percussive)
    drums_heard: bool
    key_essentia: str | None = None  # essentia's KeyExtractor; None when essentia is not installed
    tempo_essentia_bpm: float | None = None  # essentia's RhythmExtractor2013

    def to_json(self) -> dict:
        return asdict(self)


def _librosa() -> Any:
    try:
        import librosa
    except ImportError as exc:
        raise AnalysisError(f"the analysers need librosa ({exc}): install them with {INSTALL_HINT}") from exc
    return librosa


def mono_at(audio: np.ndarray, sample_rate: int, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """Mono float32 at the analysis rate."""
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    mono = np.asarray(mono, dtype=np.float32)
    if sample_rate != rate:
        from scipy.signal import resample_poly

        g = np.gcd(sample_rate, rate)
        mono = resample_poly(mono, rate // g, sample_rate // g).astype(np.float32)
    return mono


def loudness_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (BS.1770); -70 for silence or clips shorter than one 400 ms block."""
    import pyloudnorm

    if len(audio) < int(0.4 * sample_rate) or not np.any(audio):
        return -70.0
    value = float(pyloudnorm.Meter(sample_rate).integrated_loudness(np.asarray(audio, dtype=np.float64)))
    return max(value, -70.0) if np.isfinite(value) else -70.0


def true_peak_dbtp(audio: np.ndarray) -> float:
    """Peak of the 4x-oversampled signal in dBTP: inter-sample peaks a DAC or a lossy encoder will hit."""
    from scipy.signal import resample_poly

    signal = audio if audio.ndim == 2 else audio[:, None]
    peak = max(float(np.abs(resample_poly(signal[:, c], 4, 1)).max()) for c in range(signal.shape[1]))
    return 20 * float(np.log10(max(peak, 1e-9)))


def key_of(harmonic: np.ndarray, rate: int = ANALYSIS_RATE) -> tuple[Key, float]:
    """Krumhansl-Kessler key of the time-summed chroma."""
    from melodex.reference import key_from_pitch_classes

    weights = _librosa().feature.chroma_stft(y=harmonic, sr=rate, tuning=0.0).sum(axis=1)
    if not np.all(np.isfinite(weights)) or np.ptp(weights) < 1e-9:  # no pitched content: no key to hear
        return Key(0, "major"), 0.0
    return key_from_pitch_classes(weights)


def _essentia() -> Any | None:
    """essentia.standard with its logging quiet, or None when it is not installed."""
    try:
        import essentia

        # Quiet before essentia.standard loads: its import logs "[ INFO ] MusicExtractorSVM: no classifier
        # models were configured by default" into eval's and sweep's progress bars otherwise.
        essentia.log.infoActive = essentia.log.warningActive = False
        import essentia.standard
    except ImportError:
        return None
    return essentia.standard


def key_from_name(tonic: str, mode: str) -> Key:
    """Key from a note name ('Eb', 'F#', 'Bb') and 'major'/'minor'."""
    letters = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    if not tonic or tonic[0] not in letters or mode not in ("major", "minor"):
        raise AnalysisError(f"cannot read the key {tonic!r} {mode!r}")
    shift = sum(1 if c == "#" else -1 if c == "b" else 0 for c in tonic[1:])
    return Key((letters[tonic[0]] + shift) % 12, mode)


def essentia_key(mono: np.ndarray, rate: int = ANALYSIS_RATE, profile: str = ESSENTIA_KEY_PROFILE) -> Key | None:
    """essentia's KeyExtractor (HPCP chroma matched against a key profile), or None without essentia."""
    es = _essentia()
    if es is None:
        return None
    tonic, mode, _ = es.KeyExtractor(profileType=profile, sampleRate=float(rate))(np.asarray(mono, np.float32))
    return key_from_name(tonic, mode)


def essentia_tempo(mono: np.ndarray, rate: int = ANALYSIS_RATE) -> float | None:
    """essentia's RhythmExtractor2013 (degara beat tracker) BPM, or None without essentia. The extractor
    assumes 44.1 kHz, so the audio is resampled to it."""
    es = _essentia()
    if es is None:
        return None
    return float(es.RhythmExtractor2013(method="degara")(mono_at(mono, rate, ESSENTIA_RATE))[0])


def measure_audio(audio: np.ndarray, sample_rate: int) -> AudioMeasures:
    """Listen to a track (mono or stereo float, any rate) and report what it sounds like."""
    from melodex.reference import onset_tempo

    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0 or not np.all(np.isfinite(audio)):
        raise AnalysisError("the audio is empty or holds NaN/inf samples")
    librosa = _librosa()
    mono = mono_at(audio, sample_rate)
    harmonic, percussive = librosa.effects.hpss(mono)
    h_energy, p_energy = float(np.sum(harmonic**2)), float(np.sum(percussive**2))
    share = p_energy / max(h_energy + p_energy, 1e-12)
    key, strength = key_of(harmonic)
    spectrum = np.abs(librosa.stft(mono))
    return AudioMeasures(
        seconds=len(audio) / sample_rate,
        tempo_bpm=onset_tempo(mono, ANALYSIS_RATE),
        key=str(key),
        key_strength=strength,
        loudness_lufs=loudness_lufs(audio, sample_rate),
        true_peak_dbtp=true_peak_dbtp(audio),
        clipped_fraction=float(np.mean(np.abs(audio) >= CLIP_LEVEL)),
        centroid_hz=float(np.mean(librosa.feature.spectral_centroid(S=spectrum, sr=ANALYSIS_RATE))),
        flatness=float(np.mean(librosa.feature.spectral_flatness(S=spectrum))),
        percussive_share=share,
        drums_heard=share >= DRUMS_PERCUSSIVE_SHARE,
        key_essentia=str(heard) if (heard := essentia_key(mono)) is not None else None,
        tempo_essentia_bpm=essentia_tempo(mono),
    )


# -- scoring against what was asked ---------------------------------------------------------------------


def tempo_ratio_error(measured: float, target: float, factors: tuple[float, ...] = (1.0,)) -> float:
    """Smallest relative error of `measured` against target x each factor."""
    return min(abs(measured - target * f) / (target * f) for f in factors)


def tempo_hits(measured: float, target: float) -> dict[str, bool]:
    """MIREX-style tempo accuracy: exact (within 4%), octave-tolerant (x1/2, x2) and acc2 (also x1/3, x3)."""
    return {
        "tempo_exact": tempo_ratio_error(measured, target) <= TEMPO_TOLERANCE,
        "tempo_octave": tempo_ratio_error(measured, target, (0.5, 1.0, 2.0)) <= TEMPO_TOLERANCE,
        "tempo_acc2": tempo_ratio_error(measured, target, (1 / 3, 0.5, 1.0, 2.0, 3.0)) <= TEMPO_TOLERANCE,
    }


def key_score(target: Key, heard: str) -> float:
    """MIREX weighted key score (mir_eval): 1 same key, 0.5 fifth, 0.3 relative, 0.2 parallel, else 0."""
    try:
        import mir_eval
    except ImportError as exc:
        raise AnalysisError(f"key scoring needs mir_eval ({exc}): install it with {INSTALL_HINT}") from exc
    return float(mir_eval.key.weighted_score(str(target), heard))
