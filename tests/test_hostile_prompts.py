"""Hostile text: any prompt is a Brief or one clear MelodexError, never another exception (hypothesis fuzz),
and the Unicode traps the probe found are read the way a person means them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from melodex import brief
from melodex.errors import MelodexError
from melodex.inputs import clean_prompt, clean_text

WORDS = ["120 BPM", "bpm", "F# minor", "C mİnor", "in Bb", "3/4", "13/7", "6/8", "verse 8", "chorus", "intro 4 bars",
         "bars", "AABA", "8 bars each", "30 seconds", "1:30", "piano", "drums", "bass", "lo-fi", "jazz", "²", "１２",
         "ſharp", "-5", "9999", "0", "tempo", "key of", "waltz", ",", ":", "|", "chords Am F C G", "ii-V-I", "\x00",
         "\ud800", "\u200b", "İ", "ı", "ß"]


def parse_or_refuse(text: str) -> None:
    try:
        parsed = brief.parse(text, use_text_model=False)
    except MelodexError as exc:
        assert str(exc)  # a message, not an empty error
        return
    assert parsed.bpm > 0 and parsed.n_bars >= 1
    assert all(ord(c) < 0xD800 or ord(c) > 0xDFFF for c in parsed.prompt)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=12))
def test_any_prompt_is_a_brief_or_a_clear_error(parts: list[str]) -> None:
    parse_or_refuse(" ".join(parts))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_at_all_is_a_brief_or_a_clear_error(text: str) -> None:
    parse_or_refuse(text)


@pytest.mark.parametrize(("prompt", "tonic", "mode"), [("C mİnor", 0, "minor"), ("F ſharp minor", 6, "minor"),
                                                       ("ｅ minor", 4, "minor")])
def test_unicode_case_traps_read_as_meant(prompt: str, tonic: int, mode: str) -> None:
    key = brief.parse(prompt, use_text_model=False).key
    assert key is not None and (key.tonic, key.mode) == (tonic, mode)


def test_unicode_digits_are_digits_and_surrogates_are_refused() -> None:
    assert brief.parse("piano, １２０ BPM", use_text_model=False).bpm == 120
    with pytest.raises(MelodexError, match="not valid text"):
        clean_text("piano \udcff")
    assert clean_text("a\x00b\u200bc") == "a b c"


@pytest.mark.parametrize("prompt", ["jazz in 13/7", "piano 5/3"])
def test_a_fraction_that_is_no_meter_is_refused_not_read_as_4_4(prompt: str) -> None:
    with pytest.raises(MelodexError, match="not a meter"):
        clean_prompt(prompt)
    with pytest.raises(MelodexError, match="not a meter"):
        brief.parse(prompt, use_text_model=False)
    assert brief.parse("24/7 lo-fi radio, 12/25 christmas", use_text_model=False).meter == (4, 4)
