"""Reference audio: hum or play a tune, and the track is built around it.

The recording's notes come from basic-pitch's ONNX model (an audio-to-MIDI transcriber); its tempo
from librosa's onset-strength tempo estimate, checked against the notes' own inter-onset grid; its key
from the Krumhansl-Kessler profiles over the notes' duration-weighted pitch classes. The melody is
then placed on the bar grid of that tempo as the song's melody track.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from melodex.errors import MelodexError
from melodex.score import MAX_BPM, MIN_BPM, TPQ, Key

MAX_REFERENCE_SECONDS = 300
# Krumhansl-Kessler key profiles (probe-tone ratings), C major and C minor.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
INSTALL_HINT = "bash scripts/setup.sh --extras=reference"


class ReferenceError(MelodexError):
    """The reference recording cannot be read or holds no tune."""


@dataclass(frozen=True)
class Reference:
    """What was heard: tempo, key, and the melody as (onset s, offset s, MIDI pitch, velocity) rows."""

    path: str
    duration_s: float
    bpm: float
    key: Key
    melody: np.ndarray

    def melody_ticks(self, bpm: float, max_ticks: int) -> np.ndarray:
        """The melody as Track note rows (start, dur, pitch, vel) in ticks at `bpm`, on a 16th grid."""
        grid = TPQ // 4
        ticks_per_second = bpm * TPQ / 60.0
        starts = np.round(self.melody[:, 0] * ticks_per_second / grid) * grid
        ends = np.round(self.melody[:, 1] * ticks_per_second / grid) * grid
        durations = np.maximum(ends - starts, grid)
        rows = np.stack([starts, durations, self.melody[:, 2], self.melody[:, 3]], axis=1).astype(np.int64)
        rows = rows[rows[:, 0] < max_ticks]
        rows[:, 1] = np.minimum(rows[:, 1], max_ticks - rows[:, 0])
        # One note per onset: a hummed line is monophonic, keep the highest of any pile-up.
        order = np.lexsort((-rows[:, 2], rows[:, 0]))
        rows = rows[order]
        keep = np.ones(len(rows), dtype=bool)
        keep[1:] = rows[1:, 0] != rows[:-1, 0]
        rows = rows[keep]
        # A note ends where the next begins, so the line never overlaps itself.
        if len(rows) > 1:
            rows[:-1, 1] = np.minimum(rows[:-1, 1], rows[1:, 0] - rows[:-1, 0])
        return rows


@lru_cache(maxsize=1)
def _transcriber() -> Any:
    try:
        from basic_pitch import ICASSP_2022_MODEL_PATH
        from basic_pitch.inference import Model
    except ImportError as exc:
        raise ReferenceError(f"reference audio needs basic-pitch ({exc}): install it with {INSTALL_HINT}") from exc
    return Model(ICASSP_2022_MODEL_PATH)


def transcribe(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Notes basic-pitch hears: (n, 4) rows of onset s, offset s, MIDI pitch, velocity 1-127."""
    from basic_pitch.inference import predict

    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    peak = float(np.abs(mono).max()) if mono.size else 0.0
    if peak == 0.0:
        return np.zeros((0, 4))
    model = _transcriber()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "take.wav"
        sf.write(path, (mono / peak * 0.9).astype(np.float32), sample_rate)
        _, _, events = predict(str(path), model)
    rows = [(e[0], e[1], e[2], max(1, min(127, round(e[3] * 127)))) for e in events]
    return np.array(sorted(rows), dtype=np.float64).reshape(-1, 4)


def estimate_key(melody: np.ndarray) -> Key:
    """Krumhansl-Schmuckler: the key whose profile best correlates with the duration-weighted pitch classes."""
    weights = np.zeros(12)
    np.add.at(weights, melody[:, 2].astype(int) % 12, np.maximum(melody[:, 1] - melody[:, 0], 0.05))
    # A tune usually ends on its tonic: the last note counts as much as a bar's worth of notes.
    weights[int(melody[-1, 2]) % 12] += 0.25 * weights.sum() / max(len(melody) ** 0.5, 1)
    return key_from_pitch_classes(weights)[0]


def key_from_pitch_classes(weights: np.ndarray) -> tuple[Key, float]:
    """The key whose Krumhansl-Kessler profile best correlates with 12 pitch-class weights, and that r."""
    best, best_r = Key(0, "major"), -2.0
    for tonic in range(12):
        for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
            r = float(np.corrcoef(weights, np.roll(profile, tonic))[0, 1])
            if r > best_r:
                best, best_r = Key(tonic, mode), r
    return best, best_r


def onset_tempo(audio: np.ndarray, sample_rate: int) -> float:
    """librosa's global tempo estimate from the onset-strength envelope, in BPM."""
    try:
        import librosa
    except ImportError as exc:
        raise ReferenceError(f"tempo estimation needs librosa ({exc}): install it with {INSTALL_HINT}") from exc
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    return float(np.atleast_1d(librosa.feature.tempo(y=mono.astype(np.float32), sr=sample_rate))[0])


def estimate_tempo(audio: np.ndarray, sample_rate: int, melody: np.ndarray) -> float:
    """librosa's tempo, folded by octaves towards the tempo at which the notes' onsets sit on a 16th grid."""
    tempo = onset_tempo(audio, sample_rate)
    candidates = [tempo * f for f in (0.5, 1.0, 2.0, 2 / 3, 1.5) if MIN_BPM <= tempo * f <= MAX_BPM]
    if len(melody) < 4 or not candidates:
        return float(np.clip(tempo, MIN_BPM, MAX_BPM))
    onsets = melody[:, 0] - melody[0, 0]

    def grid_error(bpm: float) -> float:
        sixteenths = onsets * bpm / 15.0
        return float(np.mean(np.abs(sixteenths - np.round(sixteenths))))

    # Prefer librosa's own value unless another octave fits the notes clearly better; 60-160 is where
    # people hum, so it wins ties.
    scored = sorted(candidates, key=lambda bpm: (round(grid_error(bpm), 2), not 60 <= bpm <= 160,
                                                 abs(np.log2(bpm / tempo))))
    return float(scored[0])


def analyse(path: str | Path) -> Reference:
    """Read a recording and hear its tempo, key and melody."""
    path = Path(path)
    if not path.is_file():
        raise ReferenceError(f"reference audio {path} does not exist")
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise ReferenceError(f"{path.name} is not readable audio ({exc}): use WAV, FLAC or OGG") from exc
    duration = len(audio) / rate
    if duration < 1.0:
        raise ReferenceError(f"{path.name} is {duration:.2f} s long: record at least a few seconds of the tune")
    if duration > MAX_REFERENCE_SECONDS:
        raise ReferenceError(f"{path.name} is {duration:.0f} s long: trim it to under {MAX_REFERENCE_SECONDS} s")
    if not np.all(np.isfinite(audio)) or float(np.abs(audio).max()) < 1e-4:
        raise ReferenceError(f"{path.name} is silent: record the tune louder")
    melody = transcribe(audio, rate)
    if len(melody) < 3:
        raise ReferenceError(f"no tune heard in {path.name} ({len(melody)} notes): hum or play it more clearly")
    return Reference(str(path), duration, estimate_tempo(audio, rate, melody), estimate_key(melody), melody)
