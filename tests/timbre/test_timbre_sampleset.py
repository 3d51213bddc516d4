"""SampleSet: loop finding, nearest-note lookup, npz round trip, and the SoundFont builder."""

from __future__ import annotations

import numpy as np
import pytest

from melodex.score import DRUM_PROGRAM
from melodex.timbre.sampleset import SampleSet, SampleSetError, note_sample, soundfont_sampleset

SR = 22050


def _tone(pitch: int, seconds: float = 1.5, hold: float = 1.0) -> tuple[np.ndarray, int]:
    t = np.arange(int(seconds * SR)) / SR
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    env = np.where(t < hold, 1.0, np.exp(-(t - hold) / 0.1))
    return (0.3 * np.sin(2 * np.pi * f0 * t) * env).astype(np.float32), int(hold * SR)


def test_loop_of_a_steady_tone_is_seamless_and_release_is_measured() -> None:
    audio, release_start = _tone(57, seconds=2.0)
    note = note_sample(audio, 57, release_start, SR)
    assert note.has_loop and 0 < note.loop_start < note.loop_end <= release_start
    # the sample after the loop end continues the waveform the loop start begins with
    seam = abs(float(audio[note.loop_end]) - float(audio[note.loop_start]))
    assert seam < 0.02
    assert note.sustain_level > 0.9  # a steady tone sustains at its peak level
    assert 0.5 < note.release_s < 0.9  # exp(-t/0.1) reaches -60 dB after ~0.69 s


def test_nearest_prefers_velocity_layer_then_pitch_and_round_trips(tmp_path) -> None:
    notes = {}
    for pitch in (48, 60):
        for velocity in (40, 100):
            audio, release_start = _tone(pitch)
            notes[(pitch, velocity)] = note_sample(
                audio, pitch, release_start, SR, latent=np.full((4, 2), pitch, np.float32)
            )
    sampleset = SampleSet(program=0, is_drum=False, sample_rate=SR, notes=notes, text="warm")
    assert sampleset.nearest(58, 90)[0] == (60, 100)
    assert sampleset.nearest(50, 10)[0] == (48, 40)
    path = tmp_path / "set.npz"
    sampleset.save(path)
    loaded = SampleSet.load(path)
    assert loaded.text == "warm" and loaded.pitches == [48, 60]
    np.testing.assert_array_equal(loaded.notes[(60, 100)].audio, notes[(60, 100)].audio)
    np.testing.assert_array_equal(loaded.notes[(48, 40)].latent, notes[(48, 40)].latent)
    assert loaded.notes[(48, 40)].initial_noise is None


def test_bad_sets_are_clear_errors(tmp_path) -> None:
    with pytest.raises(SampleSetError):
        SampleSet(program=0, is_drum=False, sample_rate=SR, notes={})
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(SampleSetError):
        SampleSet.load(bad)


@pytest.mark.slow
def test_soundfont_sampleset_renders_pitched_and_drum_notes() -> None:
    piano = soundfont_sampleset(0, [60], [80], hold_s=0.5, release_s=0.3)
    note = piano.notes[(60, 80)]
    assert len(note.audio) == round(0.8 * 44100) and np.abs(note.audio).max() > 0.01
    kit = soundfont_sampleset(DRUM_PROGRAM, [36, 38], [100], hold_s=0.3, release_s=0.3)
    assert kit.is_drum and not kit.notes[(36, 100)].has_loop
    assert kit.nearest(38, 100)[0] == (38, 100)
