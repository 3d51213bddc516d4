"""The Python API: `Pipeline` with injected tiny models, `Song` in memory, its edits and `save`."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import melodex
from conftest import tiny_pipeline
from melodex import edit, pipeline
from melodex.errors import MelodexError
from melodex.project import Project
from melodex.song import Pipeline, Song

PROMPT = "calm lo-fi piano and upright bass, 90 BPM, A minor, intro 1 bar, verse 2"
OPTIONS = pipeline.GenerateOptions(seed=3, sample_rate=16000)


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return tiny_pipeline()


@pytest.fixture(scope="module")
def song(pipe) -> Song:
    return pipe(PROMPT, OPTIONS)


def test_a_song_is_made_in_memory_with_the_given_models(song) -> None:
    assert song.score.bpm == 90 and [t.program for t in song.score.tracks] == [0, 32]
    assert song.mix.ndim == 2 and song.mix.shape[1] == 2 and np.abs(song.mix).max() > 0.05
    assert set(song.stems) == {0, 1} and all(len(s) == len(song.mix) for s in song.stems.values())
    assert song.sample_rate == 16000 and song.seeds["seed"] == 3 and set(song.seeds["timbres"]) == {0, 1}
    assert any("timbre model is not loaded (tests run without a timbre model)" in n for n in song.notes)


def test_the_api_is_deterministic_and_matches_generate(pipe, song, tmp_path) -> None:
    again = pipe(PROMPT, OPTIONS)
    np.testing.assert_array_equal(again.mix, song.mix)
    result = pipeline.generate(PROMPT, tmp_path / "g", OPTIONS, models=pipe)
    written, rate = sf.read(result.files["mix.wav"], dtype="float32")
    assert rate == 16000
    np.testing.assert_allclose(written, np.clip(song.mix, -1, 1), atol=2**-22)  # 24-bit PCM


def test_batches_and_seed_lists_give_the_songs_single_calls_give(pipe, song) -> None:
    by_seed = pipe(PROMPT, OPTIONS, seeds=[3, 4])
    assert len(by_seed) == 2 and [s.options.seed for s in by_seed] == [3, 4]
    np.testing.assert_array_equal(by_seed[0].mix, song.mix)
    assert not np.array_equal(by_seed[0].score.tracks[0].notes, by_seed[1].score.tracks[0].notes)
    other = "folk tune on flute, 120 BPM, D major, verse 2"
    by_prompt = pipe([PROMPT, other], OPTIONS)
    np.testing.assert_array_equal(by_prompt[0].mix, song.mix)
    assert by_prompt[1].score.bpm == 120
    every = pipe([PROMPT, other], OPTIONS, seeds=[3, 4])  # every prompt with every seed, as melodex batch
    assert [(s.prompt, s.options.seed) for s in every] == [(PROMPT, 3), (PROMPT, 4), (other, 3), (other, 4)]
    np.testing.assert_array_equal(every[1].mix, by_seed[1].mix)
    np.testing.assert_array_equal(every[3].score.tracks[0].notes, pipe(other, OPTIONS, seed=4).score.tracks[0].notes)
    with pytest.raises(MelodexError, match="seeds="):
        pipe(PROMPT, OPTIONS, seed=[1, 2])  # type: ignore[call-overload]
    with pytest.raises(MelodexError, match="not both"):
        pipe(PROMPT, OPTIONS, seed=1, seeds=[2])  # type: ignore[call-overload]


def test_edits_are_new_songs_and_keep_the_audio_outside_them(song) -> None:
    new_intro = song.regen("intro", tracks=["piano"], seed=9)
    assert new_intro.parent is song and new_intro.edit == "regen intro tracks piano"
    end = round(song.score.seconds_at(np.array([song.score.bar_starts()[1]]))[0] * song.sample_rate)
    np.testing.assert_array_equal(new_intro.mix[end:], song.mix[end:])  # after the intro bar, not a sample moves
    assert not np.array_equal(new_intro.mix[:end], song.mix[:end])
    assert new_intro.stems[1] is song.stems[1]  # the bass was not rewritten
    brighter = new_intro.retimbre("bass", "brighter")
    assert brighter.take.timbres[1].text.startswith("brighter") and brighter.score is new_intro.score
    assert [s.edit for s in brighter.history()] == ["generate", "regen intro tracks piano",
                                                    "retimbre track 2: brighter"]  # the bass, track 2
    with pytest.raises(MelodexError, match="not both"):
        song.regen("verse", bars="1:2")


def test_save_writes_files_and_the_whole_history(song, tmp_path) -> None:
    edited = song.regen(bars="2:3", seed=4)
    files = edited.save(tmp_path / "song", formats=("wav", "flac"))
    assert {"mix.wav", "mix.flac", "midi", "project"} <= set(files)
    project = Project.open(files["project"])
    assert [h["edit"] for h in project.history] == ["generate", "regen bars 2-3"]
    assert edit.request_from_json(project.history[1]["request"]) == edit.Regen(bars="2:3", seed=4)
    np.testing.assert_array_equal(project.load_version().mix.shape, edited.mix.shape)
    with pytest.raises(MelodexError, match="already holds a project"):
        edited.save(tmp_path / "song")


def test_a_weights_folder_in_the_environment_that_holds_no_model_is_a_clear_error(tmp_path, monkeypatch) -> None:
    from melodex import pipeline

    monkeypatch.setenv(pipeline.WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(MelodexError, match=r"not installed .*the folder \$MELODEX_WEIGHTS names"):
        melodex.load()


def test_load_uses_the_shipped_weights_and_says_why_a_model_is_missing(tmp_path) -> None:
    with pytest.raises(MelodexError, match="structure model's weights are not installed"):
        melodex.load(tmp_path)
    (tmp_path / "timbre").mkdir()
    (tmp_path / "timbre" / "config.json").write_text('{"format": 1, "sha256": {}}')
    from melodex.models import try_load_timbre

    model, why = try_load_timbre(tmp_path / "timbre")
    assert model is None and "timbre" in why and "reinstall" in why
