"""The text-to-track pipeline end to end, with a tiny random-weight structure model and SoundFont timbres."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from melodex import pipeline
from melodex.errors import MelodexError
from melodex.midi import read_midi
from melodex.project import Project

PROMPT = "calm lo-fi piano and upright bass, 90 BPM, A minor, intro 1 bar, verse 2"


def test_generate_writes_everything_and_obeys_the_prompt(tiny_models, tmp_path) -> None:
    options = pipeline.GenerateOptions(seed=3, renderer="soundfont", formats=("wav", "flac"), sample_rate=22050)
    result = pipeline.generate(PROMPT, tmp_path / "out", options)
    score = result.score
    assert score.bpm == 90 and str(score.key) == "A minor"
    assert [(s.name, s.n_bars) for s in score.sections] == [("intro", 1), ("verse", 2)]
    assert [t.program for t in score.tracks] == [0, 32]
    mix, rate = sf.read(result.files["mix.wav"])
    assert rate == 22050 and mix.ndim == 2 and np.abs(mix).max() > 0.05
    assert (tmp_path / "out" / "mix.flac").exists()
    stems = sorted((tmp_path / "out" / "stems").glob("*.wav"))
    assert [p.name for p in stems] == ["01-melody-acoustic-grand-piano.wav", "02-bass-acoustic-bass.wav",
                                       "03-reverb.wav"]
    total = sum(sf.read(p)[0] for p in stems)  # the tracks and the reverb return add up to the mix
    assert np.abs(total - mix).max() < 1e-4
    midi = read_midi(result.files["midi"])
    assert midi.bar_count() == 3 and midi.bpm == 90
    project = Project.open(result.files["project"])
    version = project.load_version()
    assert version.edit == "generate" and set(version.stems) == {0, 1}
    assert set(result.seconds) >= {"brief", "compose", "timbres", "render", "write"}


def test_same_seed_same_audio(tiny_models, tmp_path) -> None:
    options = pipeline.GenerateOptions(seed=5, renderer="soundfont", sample_rate=22050)
    a = pipeline.generate(PROMPT, tmp_path / "a", options)
    b = pipeline.generate(PROMPT, tmp_path / "b", options)
    np.testing.assert_array_equal(sf.read(a.files["mix.wav"])[0], sf.read(b.files["mix.wav"])[0])
    c = pipeline.generate(PROMPT, tmp_path / "c", pipeline.with_options(options, seed=6))
    assert not np.array_equal(a.score.tracks[0].notes, c.score.tracks[0].notes)


def test_refuses_to_overwrite_a_project(tiny_models, tmp_path) -> None:
    options = pipeline.GenerateOptions(renderer="soundfont", sample_rate=22050)
    pipeline.generate(PROMPT, tmp_path / "song", options)
    with pytest.raises(MelodexError, match="already holds a project"):
        pipeline.generate(PROMPT, tmp_path / "song", options)


@pytest.mark.parametrize(("changes", "message"), [
    ({"preset": "loud"}, "preset"), ({"renderer": "tape"}, "renderer"), ({"formats": ("ogg",)}, "format"),
    ({"timbre_steps": 0}, "steps"),
])
def test_bad_options_are_clear(changes, message) -> None:
    with pytest.raises(MelodexError, match=message):
        pipeline.GenerateOptions(**changes)
