"""Reference audio: a tune played by the SoundFont is heard back with its tempo, key and notes."""

from __future__ import annotations

import difflib

import numpy as np
import pytest
import soundfile as sf

from melodex import pipeline
from melodex.reference import Reference, ReferenceError, analyse, estimate_key
from melodex.score import Key, Score, Tempo, Track
from melodex.soundfont import SoundFontSynth

# "Ode to Joy" in D major, both phrases (the first ends on the dominant, the second on the tonic).
PHRASE = [66, 66, 67, 69, 69, 67, 66, 64, 62, 62, 64, 66]
TUNE = [*PHRASE, 66, 64, 64, *PHRASE, 64, 62, 62]
LENGTHS = [1] * 12 + [1.5, 0.5, 2] + [1] * 12 + [1.5, 0.5, 2]


@pytest.fixture(scope="module")
def hummed(tmp_path_factory) -> tuple[str, Score]:
    starts = np.cumsum([0, *LENGTHS[:-1]]) * 480
    notes = np.stack([starts, np.array(LENGTHS) * 480 - 120, TUNE, np.full(len(TUNE), 90)], axis=1)
    score = Score(tracks=[Track(73, "melody", notes=notes.astype(np.int64))], tempos=[Tempo(96)], key=Key(2))
    audio = SoundFontSynth().render(score, sample_rate=22050)
    path = tmp_path_factory.mktemp("ref") / "hum.wav"
    sf.write(path, audio, 22050)
    return str(path), score


@pytest.mark.slow
def test_tempo_key_and_melody_are_heard(hummed) -> None:
    path, _ = hummed
    reference = analyse(path)
    octave_fold = min(abs(np.log2(reference.bpm / 96) - k) for k in (-1, 0, 1))
    assert octave_fold < np.log2(1.04), reference.bpm  # within 4%, octave-tolerant
    assert reference.key == Key(2, "major")
    heard = [int(p) for p in reference.melody[:, 2]]
    matched = sum(block.size for block in difflib.SequenceMatcher(None, heard, TUNE).get_matching_blocks())
    assert matched >= len(TUNE) - 3 and len(heard) <= len(TUNE) + 3, heard
    rows = reference.melody_ticks(reference.bpm, 10**9)
    assert (np.diff(rows[:, 0]) > 0).all() and (rows[:, 0][1:] >= (rows[:, 0] + rows[:, 1])[:-1]).all()


@pytest.mark.slow
def test_generate_builds_the_arrangement_around_the_tune(hummed, tiny_models, tmp_path) -> None:
    path, _ = hummed
    options = pipeline.GenerateOptions(renderer="soundfont", sample_rate=22050, reference=path)
    result = pipeline.generate("folk tune with guitar and bass", tmp_path / "song", options)
    assert result.score.key == Key(2, "major") and result.brief.sources["bpm"] == "reference audio"
    melody = next(t for t in result.score.tracks if t.role == "melody")
    heard = [int(p) for p in melody.notes[:, 2]]
    assert sum(b.size for b in difflib.SequenceMatcher(None, heard, TUNE).get_matching_blocks()) >= len(TUNE) - 3
    assert result.score.bar_count() >= 4


def test_key_profiles() -> None:
    a_minor = np.array([[i, i + 0.5, p, 80] for i, p in enumerate([69, 71, 72, 74, 76, 72, 69, 64, 69])], float)
    assert estimate_key(a_minor) == Key(9, "minor")


@pytest.mark.parametrize(("content", "message"), [(b"", "not readable"), (b"RIFF nonsense", "not readable")])
def test_unreadable_reference_is_clear(tmp_path, content, message) -> None:
    path = tmp_path / "take.wav"
    path.write_bytes(content)
    with pytest.raises(ReferenceError, match=message):
        analyse(path)


def test_silent_and_missing_reference(tmp_path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(22050 * 2, np.float32), 22050)
    with pytest.raises(ReferenceError, match="silent"):
        analyse(path)
    with pytest.raises(ReferenceError, match="does not exist"):
        analyse(tmp_path / "nope.wav")
    assert Reference  # the dataclass is part of the API
