"""Chords in a prompt: symbols, roman numerals and the 12-bar blues become per-bar chords; typos are errors."""

from __future__ import annotations

import pytest

from melodex.brief import parse, with_overrides
from melodex.brief_chords import ChordError, chord_name, chord_symbols, key_from_chords, parse_chord, roman_chord
from melodex.errors import MelodexError
from melodex.score import Key
from melodex.tokens_vocabulary import CHORD_QUALITIES


@pytest.mark.parametrize(
    ("symbol", "root", "quality"),
    [("Am", 9, "min"), ("F", 5, "maj"), ("G7", 7, "7"), ("Bbmaj7", 10, "maj7"), ("F#m7b5", 6, "m7b5"),
     ("C#dim7", 1, "dim7"), ("Ebsus2", 3, "sus2"), ("Dsus", 2, "sus4"), ("E+", 4, "aug"), ("AΔ7", 9, "maj7"),
     ("D-7", 2, "min7"), ("Bø", 11, "m7b5"), ("C6", 0, "6"), ("G9", 7, "7"), ("Am9", 9, "min7"),
     ("C/E", 0, "maj"), ("Fadd9", 5, "maj"), ("E5", 4, "maj"), ("Ab", 8, "maj"), ("Cm", 0, "min")],
)
def test_chord_symbols(symbol: str, root: int, quality: str) -> None:
    got_root, got_quality, _ = parse_chord(symbol)
    assert (got_root, got_quality) == (root, quality)
    assert quality in CHORD_QUALITIES


def test_roman_numerals_follow_the_key() -> None:
    assert [roman_chord(n, Key(7, "major")) for n in ("I", "V", "vi", "IV")] == ["G", "D", "Em", "C"]
    assert [roman_chord(n, Key(10, "major")) for n in ("ii7", "V7", "Imaj7")] == ["Cm7", "F7", "Bbmaj7"]
    assert roman_chord("bVII", Key(9, "minor")) == roman_chord("VII", Key(9, "minor")) == "G"
    assert roman_chord("bVI", Key(0, "major")) == "Ab"
    assert roman_chord("vii°", Key(0, "major")) == "Bdim"


def test_progressions_loop_over_their_sections() -> None:
    brief = parse("pop, verse chords: Am F C G, chorus chords C G Am F, verse 8, chorus 4", use_text_model=False)
    assert brief.sections == (("verse", 8), ("chorus", 4))
    assert brief.chords is not None and len(brief.chords) == brief.n_bars == 12
    assert [b[0] for b in brief.chords] == ["Am", "F", "C", "G"] * 2 + ["C", "G", "Am", "F"]
    assert brief.sources["chords"] == "prompt"
    assert all(chord_symbols(c)[1] in CHORD_QUALITIES for bar in brief.chords for c in bar)


def test_bar_lines_put_several_chords_in_a_bar() -> None:
    brief = parse("lo-fi, chords | Am F | C G |, 4 bars", use_text_model=False)
    assert brief.chords == (("Am", "F"), ("C", "G"), ("Am", "F"), ("C", "G"))


def test_chords_without_a_key_choose_the_key_they_fit() -> None:
    brief = parse("ballad, chords Am F C G", use_text_model=False)
    assert brief.key == Key(9, "minor") and brief.sources["key"] == "chords"
    assert key_from_chords(["Dm7", "G7", "Cmaj7"]) == Key(0, "major")
    assert parse("ballad, chords Am F C G, in C major", use_text_model=False).key == Key(0, "major")


def test_twelve_bar_blues_is_form_and_chords() -> None:
    brief = parse("12-bar blues in E, 100 BPM", use_text_model=False)
    assert brief.key == Key(4, "major") and brief.sections == (("verse", 12), ("verse", 12))
    assert brief.chords is not None and [b[0] for b in brief.chords[:12]] == \
        ["E7", "E7", "E7", "E7", "A7", "A7", "E7", "E7", "B7", "A7", "E7", "B7"]
    assert brief.sources["chords"] == "12-bar blues"
    assert parse("a 12 bar blues", use_text_model=False).key == Key(9, "major")


def test_roman_numerals_in_the_prompt() -> None:
    brief = parse("jazz ii-V-I in Bb major, 6 bars", use_text_model=False)
    assert brief.chords == (("Cm",), ("F",), ("Bb",)) * 2
    moved = with_overrides(brief, key="C major")
    assert moved.chords == (("Dm",), ("G",), ("C",)) * 2  # numerals follow the new key
    assert parse("chords vi IV I V", use_text_model=False).chords[:4] == (("Am",), ("F",), ("C",), ("G",))


@pytest.mark.parametrize("prompt", ["chords Am F Cq G", "chords Am Hm C", "progression: C G Am Fx7",
                                    "pop, chords Am F Xq G"])  # a misspelt chord between chords: G not lost
def test_unknown_chords_are_clear_errors(prompt: str) -> None:
    with pytest.raises(ChordError, match="unknown chord"):
        parse(prompt, use_text_model=False)
    assert issubclass(ChordError, MelodexError)


def test_capitalised_words_after_chords_end_the_progression() -> None:
    assert parse("chords Am F Em G With A Piano", use_text_model=False).chords[:4] == (("Am",), ("F",), ("Em",), ("G",))


@pytest.mark.parametrize("prompt", ["AABA form, A-B-A", "piano chords and strings", "verse-chorus-verse",
                                    "trap in A-minor"])
def test_words_that_are_not_chords(prompt: str) -> None:
    assert parse(prompt, use_text_model=False).chords is None


def test_chords_survive_json() -> None:
    from melodex.brief import Brief

    brief = parse("chords Am F C G, 8 bars", use_text_model=False)
    assert Brief.from_json(brief.to_json()) == brief
    old = brief.to_json()
    del old["chords"]  # a project written before chords existed
    assert Brief.from_json(old).chords is None


@pytest.mark.parametrize(
    ("prompt", "said"),
    [("pop, 4 bars, chords Am F C G Em D", "6 bars of chords for the piece, which has 4: the first 4 play"),
     ("pop, verse 4 bars, chorus 4 bars, chorus chords C G Am F Dm Em", "6 bars of chords for the chorus"),
     ("pop, verse 8, bridge chords C G", "the chords given for the bridge play nowhere")],
)
def test_chords_that_do_not_fit_the_form_are_said(prompt: str, said: str) -> None:
    brief = parse(prompt, use_text_model=False)
    assert any(said in note for note in brief.notes), brief.notes
    assert brief.chords is not None and len(brief.chords) == brief.n_bars  # read as said, never a traceback


def test_chords_that_fit_say_nothing() -> None:
    brief = parse("pop, verse 4, chorus 4, chords Am F C G Em D Bb C", use_text_model=False)
    assert not any("bars of chords" in note or "play nowhere" in note for note in brief.notes)


def test_chords_outside_a_stated_key_get_a_note() -> None:
    notes = parse("pop in C major, chords F# Bb C G", use_text_model=False).notes
    assert any("F#, Bb are outside C major" in n for n in notes)
    assert not any("outside" in n for n in parse("pop in A minor, chords Am F C E7", use_text_model=False).notes)


@pytest.mark.parametrize(
    ("key", "root", "quality", "written"),
    [(Key(5, "minor"), 1, "maj", "Db"),  # F minor's VI: was shown as "C#"
     (Key(5, "minor"), 8, "maj7", "Abmaj7"), (Key(9, "major"), 1, "min", "C#m"), (Key(4, "major"), 8, "min", "G#m"),
     (Key(7, "major"), 10, "maj", "Bb"),  # a borrowed bIII in G keeps its flat
     (Key(0, "major"), 6, "m7b5", "F#m7b5"), (Key(10, "minor"), 6, "maj", "Gb")],
)
def test_chords_are_spelled_as_their_key_writes_them(key: Key, root: int, quality: str, written: str) -> None:
    assert chord_name(root, quality, key) == written
    assert chord_symbols(written) == (root, quality)  # the spelling reads back as the same chord


def test_keys_are_named_as_usually_written() -> None:
    names = [str(Key(tonic, mode)) for mode in ("major", "minor") for tonic in range(12)]
    assert "Db major" in names and "G# minor" in names and "Eb minor" in names
    assert not {"C# major", "Ab minor", "D# minor"} & set(names)
