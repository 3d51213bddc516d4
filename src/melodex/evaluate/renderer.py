"""How good the renderer is: note accuracy by transcription, clicks at note boundaries, loudness, speed.

Transcription uses basic-pitch's ONNX model (the `eval` extra; installed with `--no-deps` so it does
not pull TensorFlow) and mir_eval's onset-only note F1 with a 50 ms tolerance. The click measure
needs nothing beyond scipy, so tests use it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfilt

from melodex.errors import MelodexError
from melodex.score import DRUM_PROGRAM, DUR, PITCH, START, TPQ, VEL, Score, Tempo, Track

ONSET_TOLERANCE_S = 0.05


class EvaluationError(MelodexError):
    """An evaluation tool is missing (install the `eval` extra) or got unusable input."""


# -- clicks ---------------------------------------------------------------------------------------------


def note_boundaries(score: Score, track_index: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames of every note-on and note-off of one track."""
    notes = score.tracks[track_index].notes
    on = np.rint(score.seconds_at(notes[:, START]) * sample_rate).astype(np.int64)
    off = np.rint(score.seconds_at(notes[:, START] + notes[:, DUR]) * sample_rate).astype(np.int64)
    return on, off


def click_levels(audio: np.ndarray, boundaries: np.ndarray, sample_rate: int, cutoff_hz: float = 8000.0) -> np.ndarray:
    """Per boundary: the peak of the signal above `cutoff_hz` within 2 ms of it, in dB relative to the
    RMS of the full-band signal within 20 ms of it.

    A discontinuity (a note cut or started mid-waveform) spreads energy over the whole spectrum, so a
    click shows up as a high-frequency spike far above what the note itself holds up there; a smooth
    start or end adds almost none. Compare the values with a reference render of the same notes:
    instruments with bright attacks score high on both.
    """
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    mono = mono.astype(np.float64)
    high = sosfilt(butter(4, cutoff_hz, btype="highpass", fs=sample_rate, output="sos"), mono)
    near, around = int(0.002 * sample_rate), int(0.02 * sample_rate)
    levels = []
    for b in np.asarray(boundaries, dtype=np.int64):
        if b < 0 or b >= len(mono):
            continue
        spike = np.abs(high[max(0, b - near) : b + near]).max()
        context = np.sqrt(np.mean(mono[max(0, b - around) : b + around] ** 2)) + 1e-9
        levels.append(20 * np.log10(spike / context + 1e-12))
    return np.array(levels)


# -- transcription ---------------------------------------------------------------------------------------


def transcribe(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Notes basic-pitch hears in `audio`: (n, 3) array of onset s, offset s, MIDI pitch."""
    from melodex.reference import transcribe as hear

    return hear(audio, sample_rate)[:, :3]


def note_f1(score: Score, track_index: int, transcribed: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, F1) of transcribed notes against one track, onsets within 50 ms, pitch exact."""
    import mir_eval

    notes = score.tracks[track_index].notes
    onsets = score.seconds_at(notes[:, START])
    offsets = score.seconds_at(notes[:, START] + notes[:, DUR])
    reference = np.stack([onsets, np.maximum(offsets, onsets + 0.01)], axis=1)
    if len(transcribed) == 0:
        return 0.0, 0.0, 0.0
    estimated = np.stack([transcribed[:, 0], np.maximum(transcribed[:, 1], transcribed[:, 0] + 0.01)], axis=1)
    precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        reference,
        mir_eval.util.midi_to_hz(notes[:, PITCH].astype(float)),
        estimated,
        mir_eval.util.midi_to_hz(transcribed[:, 2]),
        onset_tolerance=ONSET_TOLERANCE_S,
        pitch_tolerance=50.0,
        offset_ratio=None,
    )
    return float(precision), float(recall), float(f1)


# -- test material ------------------------------------------------------------------------------------------


def synthetic_score(seconds: float = 60.0, bpm: float = 120.0, seed: int = 0) -> Score:
    """A four-track arrangement (melody, chords, bass, drums) of about `seconds`, seeded."""
    rng = np.random.default_rng(seed)
    bar = 4 * TPQ
    n_bars = max(1, round(seconds * bpm / 60 / 4))
    progression = (0, 5, 7, 3)  # I IV V bIII in C: roots as semitones
    melody, chords, bass, drums = [], [], [], []
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    for b in range(n_bars):
        root = progression[b % 4]
        start = b * bar
        for pitch in (48 + root, 52 + root, 55 + root):
            chords.append((start, bar - 30, pitch, 64))
        for beat in range(4):
            bass.append((start + beat * TPQ, TPQ - 40, 36 + root + (7 if beat == 2 else 0), 90))
        tick = start
        while tick < start + bar:
            length = int(rng.choice([TPQ // 2, TPQ, TPQ, 2 * TPQ]))
            length = min(length, start + bar - tick)
            degree = int(rng.integers(0, 7))
            melody.append((tick, length - 20, 67 + int(scale[degree]), int(rng.integers(70, 115))))
            tick += length
        for eighth in range(8):
            t = start + eighth * TPQ // 2
            drums.append((t, 60, 42, 70 + 20 * (eighth % 2 == 0)))
            if eighth in (0, 4):
                drums.append((t, 60, 36, 110))
            if eighth in (2, 6):
                drums.append((t, 60, 38, 100))
    return Score(
        tracks=[
            Track(73, "melody", "flute", np.array(melody)),
            Track(0, "harmony", "piano", np.array(chords)),
            Track(33, "bass", "bass", np.array(bass)),
            Track(DRUM_PROGRAM, "drums", "drums", np.array(drums)),
        ],
        tempos=[Tempo(bpm)],
    )


CORPUS_WORKS = ("bach/bwv66.6", "bach/bwv153.1", "mozart/k155/movement1", "essenFolksong/altdeu10")
CORPUS_PROGRAMS = (73, 71, 42, 32)  # flute, clarinet, cello, acoustic bass: voices top to bottom


def corpus_score(work: str, max_seconds: float = 45.0) -> Score:
    """A music21 corpus work as a Score (needs music21), voices given GM instruments, cut to `max_seconds`."""
    try:
        from music21 import corpus
    except ImportError as exc:
        raise EvaluationError(f"music21 is not installed ({exc}): pip install music21") from exc
    from melodex.data.convert import convert_music21

    parsed = corpus.parse(work)
    if hasattr(parsed, "scores"):  # an Opus (folk-song collections): its first tune
        parsed = parsed.scores[0]
    score = convert_music21(parsed, work.split("/")[0]).score
    end_tick = int(np.searchsorted(score.seconds_at(np.arange(0, score.end_tick + TPQ, TPQ)), max_seconds)) * TPQ
    tracks = []
    for index, track in enumerate(t for t in score.tracks if len(t.notes)):
        notes = track.notes[track.notes[:, START] < end_tick].copy()
        notes[:, DUR] = np.minimum(notes[:, DUR], end_tick - notes[:, START])
        notes[:, VEL] = np.where(notes[:, VEL] > 0, notes[:, VEL], 80)
        program = CORPUS_PROGRAMS[min(index, len(CORPUS_PROGRAMS) - 1)]
        tracks.append(Track(program, "melody" if index == 0 else "harmony", track.name, notes))
    return Score(tracks=tracks, tempos=score.tempos, time_signatures=score.time_signatures, key=score.key)


@dataclass(frozen=True)
class TrackScore:
    """Transcription accuracy of one pitched track in one render."""

    track: int
    render: str  # "ours" or "soundfont"
    precision: float
    recall: float
    f1: float
