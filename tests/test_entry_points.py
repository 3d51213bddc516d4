"""The shared tester: every way to make or change a song (generate, and each edit request `apply` runs) gets
the same checks with tiny random-weight models passed in, never patched into a loader:

- determinism: the same request on the same song gives the same notes and the same samples;
- save/load: a saved song opens with its notes, audio and the request that made it; and the request run on the
  saved project (the CLI's and the studio's path) gives the audio the in-memory edit gave (the Python API's);
- audio locality: what the edit did not change did not move a sample (per kind, below).

A new edit kind fails `test_every_edit_request_has_an_entry` until it has its row in ENTRY_POINTS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_pipeline
from melodex import edit, pipeline
from melodex.edit_requests import REQUESTS, EditRequest, request_from_json, request_to_json
from melodex.project import Project
from melodex.song import Pipeline, Song

PROMPT = "lo-fi piano, bass and drums, 100 BPM, C minor, intro 1 bar, verse 2 bars, chorus 2 bars"
# The generated-timbre renderer with the tiny timbre model at 2 diffusion steps; drums from a sample kit.
OPTIONS = pipeline.GenerateOptions(seed=1, sample_rate=16000, timbre_steps=2)
PCM_24 = 2.0**-22  # a project stores audio as 24-bit FLAC


def unchanged_notes(before: Song, after: Song) -> None:
    for a, b in zip(before.score.tracks, after.score.tracks, strict=True):
        np.testing.assert_array_equal(a.notes, b.notes)


def outside(score: Song, bars: tuple[int, int]) -> np.ndarray:
    """Which samples of the song lie outside `bars` (0-based, end excluded); bars to the end own the tail."""
    start, end = edit.sample_span(score.score, bars, score.sample_rate)
    keep = np.ones(len(score.mix), bool)
    keep[start:None if bars[1] >= score.score.bar_count() else end] = False
    return keep


def note_edit(span: Callable[[Song, Song], tuple[int, int]]) -> Callable[[Song, Song], None]:
    """A note edit of the bars `span` gives: only notes inside them change (some do), and outside them every
    stem and the mix are sample-identical; a track whose notes did not change keeps its whole stem."""

    def check(before: Song, after: Song) -> None:
        bars = span(before, after)
        changed = edit.changed_bars(before.score, after.score)
        assert any(changed), "the edit changed no notes"
        assert all(bars[0] <= bar < bars[1] for track in changed for bar in track), (bars, changed)
        keep = outside(before, bars)
        assert keep.any() and len(after.mix) == len(before.mix)
        np.testing.assert_array_equal(after.mix[keep], before.mix[keep])
        for track, stem in before.stems.items():
            if changed[track]:
                np.testing.assert_array_equal(after.stems[track][keep], stem[keep])
            else:
                np.testing.assert_array_equal(after.stems[track], stem)

    return check


def section(name: str) -> Callable[[Song, Song], tuple[int, int]]:
    return lambda before, _: edit.bars_of_section(before.score, name)


def labelled(_: Song, after: Song) -> tuple[int, int]:
    """The bars a variation names in its label ("...: bars 2-3")."""
    first, last = after.edit.rsplit(" ", 1)[1].split("-")
    return int(first) - 1, int(last)


def regen_piano_bars(before: Song, after: Song) -> None:
    note_edit(lambda *_: (1, 3))(before, after)
    assert not any(edit.changed_bars(before.score, after.score)[1:])  # only the piano


def same_sound(before: Song, after: Song, tracks: tuple[int, ...]) -> None:
    """The tracks keep their very sample sets; their processed stems change only by the master's limiting of the
    new mix (measured -43 to -48 dB after a retimbre, -28 dB after a transpose of the other tracks)."""
    for track in tracks:
        assert after.take.samplesets[track] is before.take.samplesets[track]
        a, b = before.stems[track], after.stems[track]
        assert 10 * np.log10(np.mean((a - b) ** 2) / np.mean(a**2) + 1e-30) < -20, track


def retimbre_bass(before: Song, after: Song) -> None:
    unchanged_notes(before, after)
    assert after.take.timbres[1].text.startswith("brighter")
    assert not np.array_equal(after.stems[1], before.stems[1])
    same_sound(before, after, (0, 2))


def extend(before: Song, after: Song) -> None:
    assert after.score.bar_count() == before.score.bar_count() + 1
    old_end = after.score.bar_starts()[before.score.bar_count()]
    for a, b in zip(before.score.tracks, after.score.tracks, strict=True):
        np.testing.assert_array_equal(b.notes[b.notes[:, 0] < old_end], a.notes)
    start, _ = edit.sample_span(after.score, (before.score.bar_count() - 1, before.score.bar_count()),
                                after.sample_rate)
    np.testing.assert_array_equal(after.mix[:start], before.mix[:start])  # up to the last old bar


def rerender(before: Song, after: Song) -> None:
    unchanged_notes(before, after)
    assert {t.cfg for t in after.take.timbres.values() if t.renderer == "timbre"} == {2.0}
    assert not np.array_equal(after.stems[0], before.stems[0])


def set_tempo(before: Song, after: Song) -> None:
    unchanged_notes(before, after)
    assert after.score.bpm == 120
    assert len(after.mix) < len(before.mix)


def transpose(before: Song, after: Song) -> None:
    assert str(after.score.key) == "D minor"
    for a, b in zip(before.score.tracks, after.score.tracks, strict=True):
        np.testing.assert_array_equal(b.notes[:, 2] - a.notes[:, 2], 0 if a.role == "drums" else 2)
        np.testing.assert_array_equal(b.notes[:, [0, 1, 3]], a.notes[:, [0, 1, 3]])
    same_sound(before, after, (2,))  # the drums play the same hits


@dataclass(frozen=True)
class EntryPoint:
    request: EditRequest
    locality: Callable[[Song, Song], None]


ENTRY_POINTS = {
    "regen": EntryPoint(edit.Regen("chorus", seed=2), note_edit(section("chorus"))),
    "regen-bars-track": EntryPoint(edit.Regen(bars="2:3", tracks=("piano",), seed=3), regen_piano_bars),
    "rechord": EntryPoint(edit.Rechord("verse", "Fm Ab", seed=4), note_edit(section("verse"))),
    "retimbre": EntryPoint(edit.Retimbre("bass", "brighter", seed=5), retimbre_bass),
    "variation": EntryPoint(edit.Variation(0.5, seed=6), note_edit(labelled)),
    "extend": EntryPoint(edit.Extend(bars=1, seed=7), extend),
    "rerender": EntryPoint(edit.Rerender(cfg=2.0, steps=2), rerender),
    "tempo": EntryPoint(edit.SetTempo(120), set_tempo),
    "transpose": EntryPoint(edit.Transpose(2), transpose),
    "regen-seed-rule": EntryPoint(edit.Regen("verse"), note_edit(section("verse"))),  # no seed: the one rule picks it
}


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return tiny_pipeline(timbre=True)


@pytest.fixture(scope="module")
def song(pipe) -> Song:
    made = pipe(PROMPT, OPTIONS)
    assert {t.renderer for t in made.take.timbres.values()} == {"timbre", "drumkit"}
    return made


@pytest.fixture(scope="module")
def edited(song) -> dict[str, Song]:
    return {name: song._edited(entry.request) for name, entry in ENTRY_POINTS.items()}


def assert_same_song(a: Song, b: Song, atol: float = 0.0) -> None:
    np.testing.assert_array_equal(a.take.events, b.take.events)
    assert set(a.stems) == set(b.stems)
    np.testing.assert_allclose(a.mix, b.mix, rtol=0, atol=atol)
    for track, stem in a.stems.items():
        np.testing.assert_allclose(b.stems[track], stem, rtol=0, atol=atol)


def opened(folder: Path, version: str | None = None) -> Song:
    """A saved version as a Song (its parent not attached)."""
    session = edit.open_session(folder, version)
    record = Project.open(edit.locate_project(folder)).load_version(session.version_id)
    return Song("", session.brief, session.options, session.take, pipeline.Models(None), record.edit,
                request=record.request)


def test_every_edit_request_has_an_entry() -> None:
    assert {type(e.request).kind for e in ENTRY_POINTS.values()} == set(REQUESTS)


def test_generate_is_deterministic_and_saves_what_it_made(pipe, song, tmp_path) -> None:
    assert_same_song(pipe(PROMPT, OPTIONS), song)
    song.save(tmp_path / "song")
    back = opened(tmp_path / "song")
    assert back.edit == "generate" and back.request is None
    assert_same_song(back, song, atol=PCM_24)
    assert back.take.timbres == song.take.timbres and back.options == song.options


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_an_edit_is_deterministic(song, edited, name) -> None:
    again = song._edited(ENTRY_POINTS[name].request)
    assert again.edit == edited[name].edit
    assert_same_song(again, edited[name])


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_an_edit_keeps_what_it_did_not_change(song, edited, name) -> None:
    ENTRY_POINTS[name].locality(song, edited[name])


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_an_edit_saves_and_runs_the_same_on_a_saved_project(pipe, song, edited, name, tmp_path) -> None:
    request, made = ENTRY_POINTS[name].request, edited[name]
    made.save(tmp_path / "api")
    back = opened(tmp_path / "api")
    assert back.edit == made.edit and request_from_json(back.request) == request
    assert_same_song(back, made, atol=PCM_24)
    song.save(tmp_path / "cli")
    with edit.editing(tmp_path / "cli") as session:
        session.pipe = pipe
        version = edit.apply(session, request)
    on_disk = opened(tmp_path / "cli", version)
    assert on_disk.edit == made.edit and on_disk.request == request_to_json(request)
    # Both start from the same song; the saved one was read back from 24-bit FLAC.
    assert_same_song(on_disk, made, atol=2 * PCM_24)
