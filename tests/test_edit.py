"""Editing a project: each edit is a new version, and audio outside an edited span is sample-identical."""

from __future__ import annotations

import json

import numpy as np
import pytest

from melodex import edit, pipeline
from melodex.errors import MelodexError
from melodex.project import Project

PROMPT = "lo-fi piano, bass and drums, 100 BPM, C minor, intro 1 bar, verse 2 bars, chorus 2 bars"




def audio_span(session: edit.Session, bars: tuple[int, int]) -> tuple[int, int]:
    return edit.sample_span(session.score, bars, session.take.sample_rate)


def test_regen_chorus_keeps_intro_and_verse_sample_identical(song) -> None:
    before = edit.open_session(song)
    a, b = edit.bars_of_section(before.score, "chorus")
    assert (a, b) == (3, 5)
    edit.regen(before, (a, b), edit.pick_tracks(before.score, None), seed=99, label="regen chorus")
    after = edit.open_session(song)
    assert after.version_id == "0002" and after.project.history[-1]["edit"] == "regen chorus"
    start, _ = audio_span(after, (a, b))
    np.testing.assert_array_equal(after.take.mix[:start], before.take.mix[:start])
    for track, stem in before.take.stems.items():
        np.testing.assert_array_equal(after.take.stems[track][:start], stem[:start])
    assert not np.array_equal(after.take.mix[start:], before.take.mix[start:len(after.take.mix)])
    # the notes outside the chorus are the same notes
    bar_ticks = before.score.bar_starts()[a]
    for old, new in zip(before.score.tracks, after.score.tracks, strict=True):
        np.testing.assert_array_equal(old.notes[old.notes[:, 0] < bar_ticks], new.notes[new.notes[:, 0] < bar_ticks])


def test_regen_middle_bars_of_one_track_keeps_everything_else(song) -> None:
    before = edit.open_session(song)
    bars = edit.parse_bars("2:3", before.score.bar_count())
    tracks = edit.pick_tracks(before.score, ["piano"])
    edit.regen(before, bars, tracks, seed=5, label="regen bars 2-3 piano")
    after = edit.open_session(song)
    start, end = audio_span(after, bars)
    np.testing.assert_array_equal(after.take.mix[:start], before.take.mix[:start])
    np.testing.assert_array_equal(after.take.mix[end:], before.take.mix[end:])
    for index in range(1, len(before.score.tracks)):
        np.testing.assert_array_equal(before.score.tracks[index].notes, after.score.tracks[index].notes)


def test_sound_and_tempo_edits_and_history(song) -> None:
    session = edit.open_session(song)
    edit.retimbre(session, 0, "brighter", seed=3)
    after = edit.open_session(song)
    np.testing.assert_array_equal(after.score.tracks[0].notes, session.score.tracks[0].notes)
    assert after.take.timbres[0].text.startswith("brighter")
    edit.set_tempo(edit.open_session(song), 120)
    assert edit.open_session(song).score.bpm == 120
    edit.transpose(edit.open_session(song), 2)
    assert str(edit.open_session(song).score.key) == "D minor"
    edit.extend(edit.open_session(song), 2, seed=4)
    extended = edit.open_session(song)
    assert extended.score.bar_count() == 7
    project = Project.open(edit.locate_project(song))
    assert len(project.history) == 5
    lines = edit.diff(project, "1", "2")
    assert any("timbre" in line for line in lines)
    project.checkout("1")
    assert edit.open_session(song).score.bpm == 100


def test_variation_strengths(song) -> None:
    edit.variation(edit.open_session(song), 0.3, seed=8)
    edit.variation(edit.open_session(song), 1.0, seed=9)
    project = Project.open(edit.locate_project(song))
    assert [h["edit"].split(":")[0] for h in project.history[1:]] == ["variation strength 0.3 seed 8",
                                                                     "variation strength 1 seed 9"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: edit.bars_of_section(s.score, "bridge"), "no section named"),
    (lambda s: edit.parse_bars("4:9", s.score.bar_count()), "bars 1-5"),
    (lambda s: edit.parse_bars("three", s.score.bar_count()), "range like"),
    (lambda s: edit.pick_tracks(s.score, ["kazoo"]), "no track"),
    (lambda s: edit.set_tempo(s, 0), "outside"),
    (lambda s: edit.variation(s, 0, 1), "strength"),
    (lambda s: edit.retimbre(s, 0, "  ", 1), "describe"),
])
def test_bad_edits_are_clear_and_leave_the_project_untouched(song, call, message) -> None:
    session = edit.open_session(song)
    before = (session.project.path / "project.json").read_text()
    with pytest.raises(MelodexError, match=message):
        call(session)
    assert (session.project.path / "project.json").read_text() == before


def test_an_edit_request_runs_through_apply_and_the_history_records_it(song) -> None:
    """The request is the edit: its JSON is what the version and the history keep, and it reads back the same."""
    from melodex.edit_requests import Regen, Transpose, apply, request_from_json, request_to_json

    request = Regen("chorus", tracks=("piano",), seed=11)
    version = apply(song, request)
    project = Project.open(edit.locate_project(song))
    entry = project.history[-1]
    assert version == entry["id"] == "0002" and entry["edit"] == "regen chorus tracks piano"
    assert request_from_json(entry["request"]) == request
    assert project.load_version(version).request == request_to_json(request)
    first = project.load_version("1")
    assert first.request is None and project.history[0].get("request") is None  # generate: no edit request
    apply(song, Transpose(-1))  # the seed rule is apply's: a request without one still runs
    assert request_from_json(Project.open(edit.locate_project(song)).history[-1]["request"]) == Transpose(-1)


@pytest.mark.parametrize(("data", "message"), [
    ({"edit": "louder"}, "names its edit"),
    ([1, 2], "names its edit"),
    ({"edit": "tempo", "bpm": 90, "swing": 1}, "tempo takes bpm, not swing"),
    ({"edit": "tempo", "bpm": "fast"}, "bpm"),
    ({"edit": "regen"}, "say what to rewrite"),
    ({"edit": "regen", "section": "verse", "bars": "1:2"}, "not both"),
    ({"edit": "regen", "bars": "1:2", "only": True}, "only goes with a section"),
    ({"edit": "extend", "bars": 2, "seconds": 4.0}, "not both"),
])
def test_a_bad_edit_request_is_named(data, message) -> None:
    from melodex.edit_requests import request_from_json

    with pytest.raises(MelodexError, match=message):
        request_from_json(data)


def test_missing_project_is_clear(tmp_path) -> None:
    with pytest.raises(MelodexError, match="no Melodex project"):
        edit.open_session(tmp_path)


def test_splice_keeps_every_sample_outside_the_span_and_takes_the_new_audio_inside() -> None:
    from melodex.edit import splice

    rng = np.random.default_rng(0)
    old, new = rng.standard_normal((1000, 2)).astype(np.float32), rng.standard_normal((1200, 2)).astype(np.float32)
    out = splice(old, new, 300, 600, fade=20)
    assert out.shape == old.shape
    assert np.array_equal(out[:300], old[:300]) and np.array_equal(out[600:], old[600:])
    assert np.array_equal(out[320:580], new[320:580])
    to_end = splice(old, new, 300, None, fade=20)  # to the end: the new tail is kept
    assert len(to_end) == 1200 and np.array_equal(to_end[:300], old[:300])
    assert np.array_equal(to_end[320:], new[320:])


def test_a_project_from_before_the_vibrato_head_remakes_its_timbres_without_it(song) -> None:
    """Stored sample sets are audio, so re-rendering never changes them; but an edit that re-makes a
    timbre from its seed (rerender, transpose out of range) must sound as the project did when it was
    made, so options stored without `timbre_vibrato` (older projects) turn the head off."""
    import json

    assert edit.open_session(song).options.timbre_vibrato
    assert edit.open_session(song).options.timbre_detune
    project = Project.open(edit.locate_project(song))
    record_path = project.path / "versions" / project.resolve(None) / "version.json"
    record = json.loads(record_path.read_text())
    del record["settings"]["options"]["timbre_vibrato"]
    del record["settings"]["options"]["timbre_detune"]  # from before the detune (2026-11-30): one bank
    record_path.write_text(json.dumps(record))
    assert not edit.open_session(song).options.timbre_vibrato
    assert not edit.open_session(song).options.timbre_detune


def test_retimbre_drums_chooses_a_kit_from_the_words(song) -> None:
    """Before, drums always replayed FluidR3's GM kit: `retimbre drums "punchy 808"` changed the stem by -28 dB."""
    from dataclasses import replace

    session = edit.open_session(song)
    drums = edit.pick_tracks(session.score, ["drums"])[0]
    session.options = replace(session.options, renderer="timbre")
    session.pipe = replace(pipeline.shipped(), timbre=object())  # no pitched track is re-made: never called
    edit.retimbre(session, drums, "punchy 808", seed=3)
    after = edit.open_session(song)
    assert "808" in after.take.samplesets[drums].settings["kit"]
    assert after.take.timbres[drums].renderer == "drumkit"
    old, new = session.take.stems[drums], after.take.stems[drums]
    n = min(len(old), len(new))
    assert 10 * np.log10(np.mean((new[:n] - old[:n]) ** 2) / np.mean(old[:n] ** 2)) > -3.0
    stored = after.take.samplesets[drums]  # read back from the project: the kit and where each hit came from
    samples = json.loads(str(stored.settings["samples"]))
    assert set(samples) == {str(p) for p in stored.pitches} and all(len(sha) == 64 for _, sha in samples.values())
    again = edit.open_session(song)
    assert again.take.samplesets[drums].settings == stored.settings
    np.testing.assert_array_equal(again.take.stems[drums], new)


def test_a_pruned_version_is_diffed_by_its_notes_replayed_when_opened_and_stored_again_on_checkout(song) -> None:
    edit.retimbre(edit.open_session(song), 0, "brighter", seed=3)
    edit.transpose(edit.open_session(song), 2)
    original = edit.open_session(song, "1").take
    project = Project.open(edit.locate_project(song))
    assert project.prune()[0] == ["0001", "0002"]
    both = edit.diff(project, "1", "2")
    assert both[-1] == "audio not compared: versions 0001 and 0002 were pruned (check it out to render it again)"
    assert any("timbre" in line for line in both)
    one = edit.diff(project, "1", "3")
    assert one[-1] == "audio not compared: version 0001 was pruned (check it out to render it again)"
    replayed = edit.open_session(song, "1")
    assert replayed.rerendered
    np.testing.assert_allclose(replayed.take.mix, original.mix, atol=1e-4)  # played again, at its level
    edit.check_out(replayed)
    reopened = Project.open(edit.locate_project(song))
    assert reopened.current == "0001" and not reopened.load_version("1").pruned
    np.testing.assert_allclose(reopened.load_version("1").mix, original.mix, atol=1e-4)
    assert not edit.open_session(song).rerendered
