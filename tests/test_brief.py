"""Prompt parsing: explicit values are read exactly; contradictions and impossible asks are clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from melodex.brief import Brief, BriefError, parse, with_overrides
from melodex.errors import MelodexError
from melodex.score import Key
from melodex.tokens_grammar import DecodingState


def understood(prompt: str) -> Brief:
    return parse(prompt, use_text_model=False)


@pytest.mark.parametrize(
    ("prompt", "bpm", "meter", "key", "sections"),
    [
        ("warm synthwave, 100 BPM, F minor, intro 4 bars, verse 8, chorus 8", 100, (4, 4), Key(5, "minor"),
         (("intro", 4), ("verse", 8), ("chorus", 8))),
        ("melancholic lo-fi piano, 84 bpm, A minor, intro 4 bars, verse 8, chorus 8, outro 4", 84, (4, 4),
         Key(9, "minor"), (("intro", 4), ("verse", 8), ("chorus", 8), ("outro", 4))),
        ("jazz in Bb major, AABA form, 16 bars each", None, (4, 4), Key(10, "major"),
         (("A", 16), ("A", 16), ("B", 16), ("A", 16))),
        ("an irish jig in 6/8, D major, 8-bar intro then 16 bar verse", None, (6, 8), Key(2, "major"),
         (("intro", 8), ("verse", 16))),
        ("dark techno 133 BPM in F# minor", 133, (4, 4), Key(6, "minor"), None),
        ("Am groove at 92 bpm, verse-chorus-verse-chorus", 92, (4, 4), Key(9, "minor"),
         (("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8))),
        ("hymn in the key of Eb, 3/4", None, (3, 4), Key(3, "major"), None),
    ],
)
def test_explicit_values_are_exact(prompt: str, bpm: int | None, meter: tuple[int, int], key: Key,
                                   sections: tuple | None) -> None:
    brief = understood(prompt)
    if bpm is not None:
        assert brief.bpm == bpm and brief.sources["bpm"] == "prompt"
    assert brief.meter == meter
    assert brief.key == key
    assert brief.sections == sections
    if sections:
        assert brief.n_bars == sum(b for _, b in sections)


def test_length_in_seconds_and_bars() -> None:
    assert understood("ambient, 60 BPM, 32 bars").n_bars == 32
    brief = understood("house track, 120 bpm, 2 minutes")
    assert brief.n_bars == 60 and abs(brief.duration_seconds - 120) < 1e-6
    assert understood("80s synth pop").n_bars > 0  # "80s" is a decade, not a length


def test_instruments_and_roles() -> None:
    brief = understood("upright bass, rhodes and drums, 808, strings")
    programs = [p for p, _ in brief.instruments]
    assert programs == [32, 4, 128, 38, 48]
    roles = dict(brief.instruments)
    assert roles[128] == "drums" and roles[32] == "bass"
    assert "melody" in roles.values()
    assert 128 not in [p for p, _ in understood("lo-fi piano, no drums").instruments]
    assert [p for p, _ in understood("march for brass band and snare drum").instruments] == [61, 128]
    assert [p for p, _ in understood("a tune on steel drums").instruments] == [114]  # a pitched instrument


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # a chord part named as such stays the chord part: the band is a backing track without a tune
        ("house track with piano chords, synth bass and drums", [(0, "accompaniment"), (38, "bass"), (128, "drums")]),
        # without the chord word the piano is the band's only melodic voice and leads
        ("house track with piano, synth bass and drums", [(0, "melody"), (38, "bass"), (128, "drums")]),
        # an ensemble followed by its members is one band, not the members twice
        ("jazz trio with piano, bass and drums", [(0, "melody"), (32, "bass"), (128, "drums")]),
    ],
)
def test_named_band_roles(prompt: str, expected: list[tuple[int, str]]) -> None:
    assert list(understood(prompt).instruments) == expected


def test_named_chord_part_beside_the_style_band() -> None:
    roles = dict(understood("deep house with organ stabs and drums").instruments)
    assert roles[16] == "accompaniment"  # the organ plays the chords; the style's lead keeps the tune
    assert list(roles.values()).count("melody") == 1


def test_style_fills_what_was_not_said() -> None:
    brief = understood("a viennese waltz")
    assert brief.meter == (3, 4) and brief.sources["meter"] == "style"
    assert brief.key is None  # left to the model


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("", "empty"),
        ("x" * 10_000, "characters"),
        ("3/4 waltz in 7/8", "more than one meter"),
        ("techno at 0 BPM", "0 BPM"),
        ("ambient, 2000 bars", "2000 bars"),
        ("pop in C major and D minor", "more than one key"),
        ("tune in 5/7", "not a meter"),  # no note value is a 7th: refused, not read as the style's meter
        ("prog in 17/8", "17/8"),
    ],
)
def test_bad_prompts_are_clear(prompt: str, message: str | None) -> None:
    if message is None:
        assert understood(prompt).meter == (4, 4)
        return
    with pytest.raises(BriefError, match=message):
        understood(prompt)


def test_overrides_win_and_are_checked() -> None:
    brief = with_overrides(understood("synthwave, 100 BPM, F minor"), bpm=90, key="C#m", meter="6/8",
                           instruments=["cello", "Synth Bass 1"])
    assert (brief.bpm, brief.key, brief.meter) == (90, Key(1, "minor"), (6, 8))
    assert [p for p, _ in brief.instruments] == [42, 38]
    with pytest.raises(BriefError):
        with_overrides(brief, bpm=400)
    with pytest.raises(MelodexError, match="unknown instrument"):
        with_overrides(brief, instruments=["theremin"])


def test_plan_from_brief_is_accepted_by_the_grammar() -> None:
    brief = understood("warm synthwave, 100 BPM, F minor, intro 4 bars, verse 8, chorus 8")
    plan = brief.plan()
    assert plan.n_bars == 20 and plan.bpm == 100
    state = DecodingState(plan)
    assert state.kind_mask().sum() == 1


def test_json_round_trip() -> None:
    brief = understood("jazz in Bb major, AABA form, 16 bars each, piano and sax")
    assert Brief.from_json(brief.to_json()) == brief
    with pytest.raises(BriefError, match="version"):
        Brief.from_json({**brief.to_json(), "version": 99})


def test_cli_prints_one_line_errors() -> None:
    exe = [sys.executable, "-m", "melodex.cli"]
    result = subprocess.run([*exe, "brief", "3/4 waltz in 7/8"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: the prompt names more than one meter")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_shipped_attribute_head_reads_what_words_imply() -> None:
    from melodex.attributes import load_head, predict

    assert load_head() is not None, "the implied-attribute head must ship with Melodex"
    brief = parse("a lively irish jig, 16 bars")
    assert brief.meter == (6, 8) and brief.sources["meter"] == "text model"
    assert parse("a lively irish jig in 4/4").meter == (4, 4)  # explicit always wins
    lament, reel = predict("a slow sad lament"), predict("a fast reel")
    assert lament is not None and reel is not None and lament.bpm < reel.bpm
