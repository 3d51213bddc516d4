"""Distribution distance between sets of tracks: an audio embedding, Frechet distance and KID.

The embedding needs no model: frame statistics of MFCCs, key-aligned chroma, spectral contrast and a few
signal descriptors over a loudness-normalised clip ("stats-v1", 86 numbers). A learned embedding
(musicnn's MagnaTagATune model, VGGish, CLAP) would need TensorFlow or weights that are not installed;
which embedding produced a number is always reported with it. Distances are computed after z-scoring
every dimension by the real set's mean and spread, so no single descriptor's units dominate.
"""

from __future__ import annotations

import warnings

import numpy as np

from melodex.evaluate.analysers import ANALYSIS_RATE, _librosa, key_of, loudness_lufs, mono_at

EMBEDDING = "stats-v1"
EMBEDDING_SECONDS = 20.0  # every clip is cut to its first 20 s, so long and short tracks compare alike
TARGET_LUFS = -23.0


def embed(audio: np.ndarray, sample_rate: int, seconds: float = EMBEDDING_SECONDS) -> np.ndarray:
    """The stats-v1 embedding of one clip: 86 float64 numbers."""
    librosa = _librosa()
    mono = mono_at(audio, sample_rate)[: int(seconds * ANALYSIS_RATE)]
    level = loudness_lufs(mono, ANALYSIS_RATE)
    if level > -70.0:
        mono = mono * np.float32(10 ** ((TARGET_LUFS - level) / 20))
    spectrum = np.abs(librosa.stft(mono))
    power = spectrum**2
    mel = librosa.feature.melspectrogram(S=power, sr=ANALYSIS_RATE)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=20)
    harmonic = librosa.effects.harmonic(mono)
    key, _ = key_of(harmonic)
    # Rolled so the heard tonic is bin 0: two tunes in different keys but the same style embed alike.
    chroma = np.roll(librosa.feature.chroma_stft(S=power, sr=ANALYSIS_RATE, tuning=0.0), -key.tonic, axis=0)
    contrast = librosa.feature.spectral_contrast(S=spectrum, sr=ANALYSIS_RATE)
    centroid = librosa.feature.spectral_centroid(S=spectrum, sr=ANALYSIS_RATE)[0] / 1000.0
    flatness = librosa.feature.spectral_flatness(S=spectrum)[0]
    rms = librosa.feature.rms(S=spectrum)[0]
    onsets = librosa.onset.onset_detect(y=mono, sr=ANALYSIS_RATE)
    duration = max(len(mono) / ANALYSIS_RATE, 1e-3)
    parts = [
        mfcc.mean(axis=1), mfcc.std(axis=1),
        chroma.mean(axis=1), chroma.std(axis=1),
        contrast.mean(axis=1), contrast.std(axis=1),
        [centroid.mean(), centroid.std(), flatness.mean(), flatness.std(),
         20 * np.log10(rms.std() / (rms.mean() + 1e-9) + 1e-9), len(onsets) / duration,
         float(key.mode == "minor"), float(np.mean(librosa.feature.zero_crossing_rate(mono)))],
    ]
    return np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in parts])


def standardise(real: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """z-score every set by the real set's per-dimension mean and spread (a dimension the real set
    never varies in is only centred: dividing by ~0 would let it swamp every distance)."""
    mean, spread = real.mean(axis=0), real.std(axis=0)
    spread = np.where(spread > 1e-9, spread, 1.0)
    return [(x - mean) / spread for x in (real, *others)]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two sets of embeddings (rows): the FAD formula."""
    from scipy import linalg

    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Frechet distance needs at least two embeddings per set")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # singular covariances are expected when a set has fewer rows than dimensions
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_a @ cov_b)
    if not np.all(np.isfinite(root)):  # singular product: regularise both, as the FID reference code does
        eps = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    root = np.real(root)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root))


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, subset: int = 100, subsets: int = 50,
                              seed: int = 0) -> tuple[float, float]:
    """KID: the unbiased squared MMD with the cubic polynomial kernel (x.y/d + 1)^3, averaged over random
    subsets; (mean, standard deviation over subsets). Unbiased, so ~0 for two samples of one distribution."""
    size = min(subset, len(a), len(b))
    if size < 2:
        raise ValueError("KID needs at least two embeddings per set")
    rng = np.random.default_rng(seed)
    values = [_mmd2_unbiased(a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


def nearest_real_distance(real: np.ndarray, x: np.ndarray, k: int = 5) -> np.ndarray:
    """Per row of `x`: mean Euclidean distance to its k nearest real embeddings (same standardised space).
    How typical one track is of the real set; for a real track, leave it out of `real` first."""
    distances = np.sqrt(((x[:, None, :] - real[None, :, :]) ** 2).sum(axis=-1))
    k = min(k, real.shape[0])
    return np.sort(distances, axis=1)[:, :k].mean(axis=1)
