"""Conversion rules on small hand-made inputs: ties, grace notes, pickups, sections, chords, drum names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from melodex.data.chords import best_chord, estimate_bar_chords
from melodex.data.drums import drum_note, parse_hydrogen
from melodex.score import DRUM_PROGRAM, DUR, PITCH, START, TPQ, Score, Track

HYDROGEN_DEMO = Path("/usr/share/hydrogen/data/demo_songs/GM_kit_demo1.h2song")


def _abc_score(text: str):  # music21 Score from ABC text, parsed the way the build parses a tune
    from music21.abcFormat import ABCHandler, translate

    handler = ABCHandler()
    handler.process(text)
    return translate.abcToStreamScore(handler)


def test_ties_merge_and_grace_notes_are_skipped_and_counted() -> None:
    pytest.importorskip("music21")
    from melodex.data.convert import convert_music21

    # c2-c2 is one tied note of four quarters; {d} is a grace note.
    converted = convert_music21(_abc_score("X:1\nM:4/4\nL:1/4\nK:C\nc2-c2 | {d}e4 |]\n"), "oneills1850")
    notes = converted.score.tracks[0].notes
    assert notes[:, PITCH].tolist() == [72, 76]
    assert notes[0, DUR] == 4 * TPQ and notes[1, START] == 4 * TPQ
    assert converted.facts["skipped_grace"] == 1
    assert converted.facts["merged_ties"] == 1


def test_pickup_is_padded_so_bars_start_on_downbeats() -> None:
    pytest.importorskip("music21")
    from melodex.data.convert import convert_music21

    converted = convert_music21(_abc_score("X:1\nM:3/4\nL:1/4\nK:G\nD | G A B | c3 |]\n"), "oneills1850")
    score = converted.score
    assert score.tracks[0].notes[0, START] == 2 * TPQ  # the pickup quarter sits at the end of bar 0
    assert score.tracks[0].notes[1, START] == 3 * TPQ  # G falls on the downbeat of bar 1
    assert str(score.meter) == "3/4" and score.n_bars == 3
    assert converted.facts["key_source"] == "source" and str(score.key) == "G major"
    assert converted.facts["tempo_source"] == "assigned"


def test_repeat_parts_become_sections_and_repeated_music_shares_a_letter() -> None:
    pytest.importorskip("music21")
    from melodex.data.convert import convert_music21

    tune = "X:1\nM:2/4\nL:1/8\nK:D\n|: defg | a4 :|: fedc | d4 :|: defg | a4 :|\n"
    score = convert_music21(_abc_score(tune), "oneills1850").score
    assert [(s.name, s.start_bar, s.n_bars) for s in score.sections] == [("A", 0, 2), ("B", 2, 2), ("A", 4, 2)]


def test_dorian_mode_is_kept_in_facts_and_mapped_to_minor() -> None:
    pytest.importorskip("music21")
    from melodex.data.convert import convert_music21

    converted = convert_music21(_abc_score("X:1\nM:4/4\nL:1/4\nK:Ddor\nD E F G | A4 |]\n"), "oneills1850")
    assert converted.facts["mode"] == "dorian"
    assert str(converted.score.key) == "D minor"


def test_chord_templates_name_triads_and_sevenths() -> None:
    def profile(*pcs: int) -> np.ndarray:
        return np.bincount(np.array(pcs), minlength=12).astype(float)

    assert best_chord(profile(0, 4, 7)) == (0, "maj")
    assert best_chord(profile(9, 0, 4)) == (9, "min")
    assert best_chord(profile(7, 11, 2, 5)) == (7, "7")
    assert best_chord(profile(11, 2, 5)) == (11, "dim")
    assert best_chord(np.zeros(12)) is None


def test_estimate_bar_chords_gives_one_chord_per_sounding_bar() -> None:
    bar = 4 * TPQ
    # Bar 0: C E G, bar 1: silent, bar 2: A C E.
    rows = [[0, bar, p, 80] for p in (60, 64, 67)] + [[2 * bar, bar, p, 80] for p in (57, 60, 64)]
    score = Score(tracks=[Track(program=0, notes=np.array(rows))], n_bars=3)
    chords = estimate_bar_chords(score)
    assert [(c.tick, c.root, c.quality) for c in chords] == [(0, 0, "maj"), (2 * bar, 9, "min")]


@pytest.mark.parametrize(
    ("name", "note"),
    [
        ("Kick", 36),
        ("Snare Rimshot", 37),
        ("Hat Pedal", 44),
        ("Hat Semi-Open", 46),
        ("Hat Closed", 42),
        ("drums/hihat_opened02.ogg", 46),
        ("drumsynth/misc_hats/sleepy_1.ds", 42),
        ("Floor Tom", 41),
        ("drumsynth/misc/it's_like_that_snare.ds", 38),
        ("Cowbell", 56),
        ("Bell", 53),
        ("BD 03", 36),
        ("drums/zap03.ogg", None),
    ],
)
def test_drum_names_map_to_general_midi(name: str, note: int | None) -> None:
    assert drum_note(name) == note


@pytest.mark.skipif(not HYDROGEN_DEMO.exists(), reason="Debian hydrogen-data is not installed")
def test_hydrogen_demo_song_parses_into_patterns_and_song() -> None:
    works = list(parse_hydrogen(HYDROGEN_DEMO))
    ids = [work_id for work_id, _, _ in works]
    assert ids[-1].endswith("#song") and "hydrogen/GM_kit_demo1.h2song#main 1-2" in ids
    patterns = [c for work_id, _, c in works if not work_id.endswith("#song")]
    assert len(patterns) == 11  # every non-empty pattern of the demo song
    for converted in patterns:
        score = converted.score
        track = score.tracks[0]
        assert track.program == DRUM_PROGRAM and track.role == "drums"
        assert score.bpm == 115 and str(score.meter) == "4/4" and score.n_bars == 1
        assert track.notes[:, START].max() < 4 * TPQ
        assert set(track.notes[:, PITCH]) <= set(range(35, 82))
    main = dict((w, c) for w, _, c in works)["hydrogen/GM_kit_demo1.h2song#main 1-2"].score.tracks[0].notes
    # The pattern starts with a kick and a closed hi-hat on beat one (hydrogen instruments 0 and 6).
    assert {36, 42} <= set(main[main[:, START] == 0, PITCH])
    song = works[-1][2].score
    assert song.n_bars > 4 and song.n_notes > sum(len(c.score.tracks[0].notes) for c in patterns[:4])
