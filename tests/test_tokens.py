"""Tokenizer and grammar: round trips, exact plans, and masks that never lead to invalid sequences."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from melodex.midi import MidiError, read_midi
from melodex.score import DRUM_PROGRAM, ChordSymbol, Key, Score, Section, Tempo, TimeSignature, Track
from melodex.tokens import decode, encode
from melodex.tokens_grammar import DecodingState, Plan, validate
from melodex.tokens_vocabulary import (
    BAR,
    DUR_VALUES,
    EOS,
    F_KIND,
    KIND_FIELDS,
    NOTE,
    TICKS_PER_POSITION,
    TokenError,
    bar_and_position,
)

ROOT = Path(__file__).parents[1]


def make_score() -> Score:
    rng = np.random.default_rng(0)
    melody = [[bar * 1920 + beat * 480, 480, 60 + int(rng.integers(0, 12)), 80] for bar in range(8) for beat in
              range(4)]
    drums = [[i * 240, 120, 36 if i % 4 == 0 else 42, 96] for i in range(64)]
    bass = [[i * 1920, 1920, 41, 72] for i in range(8)]
    return Score(
        tracks=[Track(0, "melody", notes=np.array(melody)), Track(DRUM_PROGRAM, "drums", notes=np.array(drums)),
                Track(33, "bass", notes=np.array(bass))],
        tempos=[Tempo(97), Tempo(101, tick=4 * 1920)],
        time_signatures=[TimeSignature(4, 4)],
        key=Key(5, "minor"),
        sections=[Section("intro", 0, 2), Section("verse", 2, 4), Section("chorus", 6, 2)],
        chords=[ChordSymbol(i * 1920, 5, "min") for i in range(8)],
        n_bars=8,
    )


def assert_same(a: Score, b: Score) -> None:
    assert [(t.program, t.role) for t in a.tracks] == [(t.program, t.role) for t in b.tracks]
    for ta, tb in zip(a.tracks, b.tracks, strict=True):
        np.testing.assert_array_equal(ta.notes, tb.notes)
    assert a.tempos == b.tempos
    assert a.time_signatures == b.time_signatures
    assert a.key == b.key
    assert a.sections == b.sections
    assert a.chords == b.chords
    assert a.bar_count() == b.bar_count()


def test_round_trip_is_exact_on_grid() -> None:
    score = make_score()
    assert_same(decode(encode(score)), score)


def test_quantisation_is_idempotent_on_off_grid_input() -> None:
    score = make_score()
    score.tracks[0].notes[:, 0] += 7  # off the 1/12-quarter grid, and odd velocities
    score.tracks[0].notes[:, 3] = 77
    once = decode(encode(score))
    assert not np.array_equal(once.tracks[0].notes, score.tracks[0].notes)
    assert_same(decode(encode(once)), once)


def test_meter_changes_and_pickups_survive() -> None:
    score = make_score()
    # A 1/4 pickup bar, then 3/4 from bar 2 on.
    score.time_signatures = [TimeSignature(1, 4), TimeSignature(3, 4, tick=480)]
    score.tracks = [Track(0, "melody", notes=np.array([[0, 480, 67, 80], [480, 1440, 72, 80]]))]
    score.tempos, score.chords, score.sections, score.n_bars = [Tempo(90)], [], [], 3
    back = decode(encode(score))
    assert_same(back, score)
    assert back.bar_starts() == [0, 480, 1920, 3360]


def test_tempo_is_exact_to_the_bpm() -> None:
    for bpm in (20, 97, 173, 300):
        score = make_score()
        score.tempos = [Tempo(bpm)]
        assert decode(encode(score)).bpm == bpm


def test_plan_is_enforced() -> None:
    events = encode(make_score())
    plan = Plan(bpm=97, meter=(4, 4), key=Key(5, "minor"), tracks=((0, "melody"), (DRUM_PROGRAM, "drums"),
                (33, "bass")), sections=(("intro", 2), ("verse", 4), ("chorus", 2)))
    with pytest.raises(TokenError, match="TEMPO"):
        validate(events, plan)  # the score changes tempo at bar 4; a fixed-tempo plan forbids it
    events = encode(Score(**{**make_score().__dict__, "tempos": [Tempo(97)]}))
    validate(events, plan)
    for wrong in (Plan(bpm=98), Plan(n_bars=9), Plan(key=Key(0)), Plan(sections=(("intro", 4), ("verse", 4)))):
        with pytest.raises(TokenError):
            validate(events, wrong)


@pytest.mark.parametrize("broken", ["truncated", "note_before_bar", "bad_track", "backwards"])
def test_broken_sequences_are_named(broken: str) -> None:
    events = encode(make_score())
    if broken == "truncated":
        events = events[:-1]
    elif broken == "note_before_bar":
        first_bar = int(np.flatnonzero(events[:, F_KIND] == BAR)[0])
        events = np.delete(events, first_bar, axis=0)
    elif broken == "bad_track":
        events[np.flatnonzero(events[:, F_KIND] == NOTE)[0], 2] = 9
    else:
        notes = np.flatnonzero(events[:, F_KIND] == NOTE)
        events[[notes[0], notes[5]]] = events[[notes[5], notes[0]]]
    with pytest.raises(TokenError, match=r"event|EOS"):
        validate(events)


def sample_sequence(plan: Plan, seed: int, max_events: int = 3000) -> np.ndarray:
    """Random decoding through the masks alone: what a model with random weights would write."""
    rng = np.random.default_rng(seed)
    state = DecodingState(plan)
    rows = []
    while state.phase != "done" and len(rows) < max_events:
        kind_mask = state.kind_mask()
        weights = kind_mask * np.where(np.arange(len(kind_mask)) == EOS, 0.02, 1.0)
        kind = int(rng.choice(len(kind_mask), p=weights / weights.sum()))
        row = [0] * 13
        row[F_KIND] = kind
        chosen: dict[int, int] = {}
        for field_index in KIND_FIELDS[kind]:
            mask = state.field_mask(kind, field_index, chosen)
            assert mask.any(), f"dead end choosing field {field_index} of kind {kind}"
            chosen[field_index] = row[field_index] = int(rng.choice(np.flatnonzero(mask)))
        state.push(row)
        rows.append(row)
    return np.array(rows)


@pytest.mark.parametrize("seed", range(6))
def test_masked_random_decoding_always_obeys_the_plan(seed: int) -> None:
    plan = Plan(bpm=128, meter=(6, 8), key=Key(9, "minor"), tracks=((0, "melody"), (DRUM_PROGRAM, "drums")),
                sections=(("intro", 1), ("verse", 2), ("chorus", 2)))
    events = sample_sequence(plan, seed)
    validate(events, plan)
    score = decode(events)
    assert score.bpm == 128 and str(score.meter) == "6/8" and score.key == Key(9, "minor")
    assert [(s.name, s.n_bars) for s in score.sections] == [("intro", 1), ("verse", 2), ("chorus", 2)]
    assert score.bar_count() == 5


@pytest.mark.parametrize("seed", range(4))
def test_free_random_decoding_is_valid(seed: int) -> None:
    events = sample_sequence(Plan(n_bars=3), seed)
    validate(events)
    decode(events)


def test_bar_and_position() -> None:
    events = encode(make_score())
    bars, pos = bar_and_position(events)
    assert bars.max() == 7 and pos.max() < 48
    assert (np.diff(bars) >= 0).all()


def test_unsupported_scores_are_clear_errors() -> None:
    score = make_score()
    score.sections = [Section("verse-ish", 0, 8)]
    with pytest.raises(TokenError, match="section name"):
        encode(score)
    score = make_score()
    score.time_signatures = [TimeSignature(17, 4)]
    with pytest.raises(TokenError, match="meter 17/4"):
        encode(score)
    with pytest.raises(TokenError, match="bars"):
        Plan(n_bars=5000)


# -- every committed MIDI file --------------------------------------------------------------------------------


def committed_midi() -> list[Path]:
    """Every MIDI file in the repository (git's list; a copy without git: every .mid under tests/ and data/)."""
    try:
        listed = subprocess.run(["git", "ls-files", "*.mid", "*.midi"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        listed = [str(p.relative_to(ROOT)) for folder in ("tests", "data") for p in (ROOT / folder).rglob("*.mid")]
    return sorted(ROOT / name for name in listed)


COMMITTED_MIDI = committed_midi()
# Files made to be refused (tests/fixtures/midi/broken, tests/fixtures/hostile/midi); every other one must read.
REFUSED = ("broken", "hostile")
# A readable file the tokenizer cannot hold, and the problem its error names.
NOT_TOKENIZED = {"melodex_format1.mid": "section name 'verse: A'"}


def test_the_committed_midi_corpus_is_found() -> None:
    assert len(COMMITTED_MIDI) >= 20
    assert sum(not set(REFUSED) & set(p.parts) for p in COMMITTED_MIDI) >= 7


@pytest.mark.parametrize("path", COMMITTED_MIDI, ids=lambda p: str(p.relative_to(ROOT / "tests" / "fixtures")))
def test_every_committed_midi_file_round_trips_through_the_tokens(path: Path) -> None:
    """A file reads (or is refused by name); its score's tokens are a fixed point, and every note comes back on
    its track with its pitch and onset, its duration and velocity to the vocabulary's resolution."""
    if set(REFUSED) & set(path.parts):
        with pytest.raises(MidiError, match=path.name):
            read_midi(path)
        return
    score = read_midi(path)
    if path.name in NOT_TOKENIZED:
        with pytest.raises(TokenError, match=NOT_TOKENIZED[path.name]):
            encode(score)
        return
    events = encode(score)
    back = decode(events)
    np.testing.assert_array_equal(encode(back), events)
    assert_same(decode(encode(back)), back)
    assert (back.time_signatures, back.key, back.bar_count()) == (score.time_signatures, score.key,
                                                                  score.bar_count())
    assert abs(back.bpm - score.bpm) <= 0.5
    assert [(t.program, t.role) for t in back.tracks] == [(t.program, t.role) for t in score.tracks]
    longest = int(DUR_VALUES[-1]) * TICKS_PER_POSITION
    for index, (track, kept) in enumerate(zip(score.tracks, back.tracks, strict=True)):
        assert len(kept.notes) == len(track.notes), f"track {index} lost notes"
        a = track.notes[np.lexsort((track.notes[:, 2], np.round(track.notes[:, 0] / TICKS_PER_POSITION)))]
        b = kept.notes[np.lexsort((kept.notes[:, 2], kept.notes[:, 0]))]
        np.testing.assert_array_equal(b[:, 2], a[:, 2], err_msg=f"track {index}: pitches")
        assert (abs(b[:, 0] - a[:, 0]) <= TICKS_PER_POSITION // 2).all(), f"track {index}: onsets"
        duration = np.minimum(a[:, 1], longest)
        # Durations are exact to a position up to a whole note, then to 1/16 of their length.
        assert (abs(b[:, 1] - duration) <= np.maximum(TICKS_PER_POSITION, duration / 16)).all(), index
        assert ((abs(b[:, 3] - a[:, 3]) <= 4) | ((a[:, 3] < 8) & (b[:, 3] == 8))).all(), f"track {index}: velocity"
