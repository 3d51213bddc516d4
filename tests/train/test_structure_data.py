"""Structure training data: augmentations give valid, encodable arrangements; windows keep the header."""

from __future__ import annotations

import numpy as np
import pytest

from melodex.data.drums import has_backbeat, has_four_on_the_floor
from melodex.score import DRUM_PROGRAM, ChordSymbol, Key, Score, Section, Tempo, TimeSignature, Track
from melodex.tokens import decode, encode
from melodex.tokens_vocabulary import F_KIND, TRACK, bar_and_position
from melodex.train.structure_data import (
    DrumBank,
    accompany,
    add_intro_outro,
    augment,
    example_controls,
    label_sections,
    prompt_caption,
    window,
)


def folk_tune(meter: tuple[int, int] = (4, 4), n_bars: int = 16) -> Score:
    signature = TimeSignature(*meter)
    bar = signature.bar_ticks
    rng = np.random.default_rng(0)
    notes = [[b * bar + k * 240, 240, 62 + int(rng.choice([0, 2, 4, 5, 7, 9, 11])), 80]
             for b in range(n_bars) for k in range(bar // 240)]
    chords = [ChordSymbol(b * bar, (2, 7, 9, 2)[b % 4], "maj" if b % 4 else "min") for b in range(n_bars)]
    return Score(tracks=[Track(40, "melody", notes=np.array(notes))], tempos=[Tempo(112)],
                 time_signatures=[signature], key=Key(2, "minor"), chords=chords, n_bars=n_bars,
                 sections=[Section("A", 0, n_bars // 2), Section("B", n_bars // 2, n_bars // 2)])


@pytest.mark.parametrize("seed", range(12))
def test_augmented_examples_encode_and_round_trip(seed: int) -> None:
    rng = np.random.default_rng(seed)
    meter = [(4, 4), (3, 4), (6, 8), (2, 4)][seed % 4]
    tune = folk_tune(meter)
    example = augment(tune, {"collection": "oneills1850"}, ["An Irish folk tune in D minor at 112 BPM."],
                      tune.chords, rng, drums=None)
    events = encode(example.score)
    back = decode(events)
    assert back.bar_count() == example.score.bar_count()
    for track in example.score.tracks:
        assert (track.program == DRUM_PROGRAM) == (track.role == "drums")
    controls = example_controls(example.score, example.style, rng)
    assert controls.shape[1] == 3
    assert example.caption


def test_accompaniment_follows_the_chords() -> None:
    tune = folk_tune()
    orders, without_chords = set(), 0
    for seed in range(24):
        score = accompany(tune, tune.chords, "pop", np.random.default_rng(seed), None, 40)
        roles = [t.role for t in score.tracks]
        orders.add(tuple(roles))
        by_role = {t.role: t for t in score.tracks}
        bar = tune.meter.bar_ticks
        bass = by_role["bass"].notes
        assert (bass[bass[:, 0] < bar, 2] % 12 == 2).any()  # the D minor chord's root
        if "accompaniment" not in by_role:
            without_chords += 1
            continue
        chord_notes = by_role["accompaniment"].notes
        assert np.isin(chord_notes[chord_notes[:, 0] < bar, 2] % 12, [2, 5, 9]).all()
    # the band comes in several orders, sometimes without its chord part (a role, not a slot, says what it plays)
    assert len(orders) >= 3 and 0 < without_chords < 24


def test_the_outro_plays_the_last_bars_again_not_one_bar_held() -> None:
    # bars held identical for 2-4 bars taught the model to hold a chord once its context repeats
    tune = folk_tune(n_bars=8)
    score = accompany(tune, tune.chords, "pop", np.random.default_rng(1), None, 40)
    out = add_intro_outro(score, np.random.default_rng(0), 2, 4)
    bar = tune.meter.bar_ticks
    assert [s.name for s in out.sections][-1] == "outro" and out.n_bars == 14
    roots = {c.tick // bar: c.root for c in out.chords}
    assert [roots[b] for b in range(10, 14)] == [roots[b] for b in range(6, 10)]  # the last four bars again
    assert len({roots[b] for b in range(10, 14)}) > 1
    bass = next(t for t in out.tracks if t.role == "bass").notes
    first, last = (bass[(bass[:, 0] >= b * bar) & (bass[:, 0] < (b + 1) * bar)] for b in (6, 10))
    assert np.array_equal(first[:, [1, 2]], last[:, [1, 2]]) and (last[:, 3] < first[:, 3]).all()  # softer
    melody = next(t for t in out.tracks if t.role == "melody").notes
    assert melody[:, 0].max() < 10 * bar  # the tune does not play in the outro
    short = add_intro_outro(folk_tune(n_bars=2), np.random.default_rng(0), 0, 4)
    assert short.n_bars == 6 and short.chords[-1].tick == 5 * bar  # longer than the tune: its last bar holds


def test_some_accompaniments_are_backing_tracks_without_their_tune() -> None:
    tune = folk_tune()
    backings = 0
    for seed in range(60):
        roles = [t.role for t in accompany(tune, tune.chords, "house", np.random.default_rng(seed), None, 81).tracks]
        if "melody" not in roles:
            backings += 1
            assert "bass" in roles and "melody" not in roles  # the chord part keeps its role, not promoted
    assert 0 < backings < 30


def test_section_labels_and_captions() -> None:
    tune = folk_tune()
    tune.sections = []
    labelled = label_sections(tune, np.random.default_rng(3))
    assert sum(s.n_bars for s in labelled.sections) in (0, 16)
    caption = prompt_caption(tune, "folk", np.random.default_rng(0))
    assert isinstance(caption, str) and caption


def test_windows_keep_the_header_in_front() -> None:
    tune = folk_tune(n_bars=64)
    events = encode(tune)
    header = int(np.flatnonzero(events[:, F_KIND] == TRACK).max()) + 1
    for seed in range(5):
        w = window(events, 200, np.random.default_rng(seed))
        assert len(w.events) <= 200
        np.testing.assert_array_equal(w.events[:header], events[:header])
        bars, _ = bar_and_position(events)
        start = len(events) - len(w.events)
        assert w.bars.max() <= bars.max() and start >= 0
        if w.weights[0] == 0:  # a later window: the header is context, not a target
            assert w.weights[header:].all()


def _bar(hits: list[tuple[int, int]]) -> np.ndarray:
    return np.array([[tick, 120, pitch, 90] for tick, pitch in hits]).reshape(-1, 4)


def test_accompanied_drums_loop_a_groove_of_the_style() -> None:
    backbeat = _bar([(0, 36), (480, 38), (960, 36), (1440, 38), *[(t, 42) for t in range(0, 1920, 240)]])
    floor = _bar([(t, 36) for t in range(0, 1920, 480)] + [(t + 240, 46) for t in range(0, 1920, 480)])
    hats = _bar([(t, 42) for t in range(0, 1920, 240)])
    bank = DrumBank({1920: [backbeat, floor, hats]})
    tune = folk_tune()
    for style, wanted in (("pop", has_backbeat), ("synthwave", has_backbeat), ("house", has_four_on_the_floor)):
        for seed in range(16):
            score = accompany(tune, tune.chords, style, np.random.default_rng(seed), bank, 40)
            drums = next((t.notes for t in score.tracks if t.is_drum), None)
            if drums is None:
                continue
            for b in range(tune.n_bars):  # every bar, whether looped from the bank or the style's own groove
                assert wanted(drums, b * 1920, 4, 480), (style, seed, b)
    rng = np.random.default_rng(0)
    assert bank.bar(1920, rng, "jazz") is None  # no bank loop for a style whose groove the bank lacks
    assert {id(bank.bar(1920, rng)) for _ in range(40)} == {id(backbeat), id(floor), id(hats)}


def test_a_tune_that_a_style_loop_fits_is_trained_under_it() -> None:
    from melodex.data.chords import fit_progression

    # a C major tune spelling C, G, Am, F bar by bar: the I-V-vi-IV loop fits it as well as the estimate
    arpeggios = ((60, 64, 67), (55, 59, 62), (57, 60, 64), (53, 57, 60))
    notes = [[b * 1920 + k * 480, 480, arpeggios[b % 4][k % 3], 80] for b in range(8) for k in range(4)]
    tune = Score(tracks=[Track(73, "melody", notes=np.array(notes))], tempos=[Tempo(100)],
                 time_signatures=[TimeSignature(4, 4)], key=Key(0, "major"), n_bars=8)
    loop = fit_progression(tune)
    assert loop is not None and [(c.root, c.quality) for c in loop[:4]] == [(0, "maj"), (7, "maj"), (9, "min"),
                                                                            (5, "maj")]
    # a tune that sits on one chord fits no four-chord loop
    drone = Score(tracks=[Track(73, "melody", notes=np.array([[b * 1920 + k * 480, 480, (60, 64, 67, 64)[k], 80]
                                                               for b in range(8) for k in range(4)]))],
                  tempos=[Tempo(100)], time_signatures=[TimeSignature(4, 4)], key=Key(0, "major"), n_bars=8)
    assert fit_progression(drone) is None


def test_swung_moves_off_beat_eighths_to_the_triplet() -> None:
    from melodex.train.structure_data import swung

    straight = np.array([[0, 240, 60, 80], [240, 240, 62, 80], [480, 480, 64, 80], [960, 120, 65, 80],
                         [1080, 120, 67, 80]])
    out = swung(straight)
    assert out[:, 0].tolist() == [0, 320, 480, 960, 1080]  # the sixteenth at 1080 is not an eighth: it stays
    assert out[:, 1].tolist() == [320, 160, 480, 120, 120]  # long-short: the pair still fills the beat
    assert out[:, 2].tolist() == [60, 62, 64, 65, 67]
