"""Form and length in any usual phrasing; --duration on generate, brief and extend."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from melodex import pipeline
from melodex.brief import BriefError, parse, with_overrides
from melodex.brief_form import bars_for_seconds, parse_length


def understood(prompt: str):
    return parse(prompt, use_text_model=False)


@pytest.mark.parametrize(
    ("prompt", "sections"),
    [
        ("slow waltz in E minor, 3/4, 84 BPM, A section 8 bars, B section 8 bars, A section 8 bars, piano",
         (("A", 8), ("B", 8), ("A", 8))),
        ("AABA, 8 bars each", (("A", 8), ("A", 8), ("B", 8), ("A", 8))),
        ("jazz, A-B-A form, 4 bars per section", (("A", 4), ("B", 4), ("A", 4))),
        ("two verses and two choruses", (("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8))),
        ("three verses and a chorus", (("verse", 8), ("chorus", 8), ("verse", 8), ("verse", 8))),
        ("verse-chorus-verse-chorus-bridge-chorus", (("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8),
                                                     ("bridge", 8), ("chorus", 8))),
        ("intro (4), verse (8)", (("intro", 4), ("verse", 8))),
        ("ABAB", (("A", 8), ("B", 8), ("A", 8), ("B", 8))),
        ("hook 8, verse 8, middle eight 4", (("chorus", 8), ("verse", 8), ("bridge", 4))),
        ("Intro: 2 bars, Verse: 4 bars, Chorus: 4 bars", (("intro", 2), ("verse", 4), ("chorus", 4))),
        ("a 4 bar intro, then an 8-bar verse", (("intro", 4), ("verse", 8))),
    ],
)
def test_form_phrasings(prompt: str, sections: tuple) -> None:
    brief = understood(prompt)
    assert brief.sections == sections
    assert brief.n_bars == sum(b for _, b in sections)


def test_other_section_names_map_with_a_note() -> None:
    brief = understood("refrain 8, verse 8, refrain 8")
    assert brief.sections == (("chorus", 8), ("verse", 8), ("chorus", 8))
    assert any("'refrain' is written as a chorus" in n for n in brief.notes)


@pytest.mark.parametrize("prompt", ["A section of strings plays softly", "a chorus of voices", "80s synth pop",
                                    "an intro to jazz"])
def test_words_that_are_no_form(prompt: str) -> None:
    assert understood(prompt).sections is None


def test_a_frame_is_filled_by_the_style_to_the_length() -> None:
    brief = understood("synthwave, 100 BPM, 16-bar intro, 64 bars")
    assert brief.sections is not None and brief.sections[0] == ("intro", 16) and brief.n_bars == 64
    assert brief.sources["form"] == "prompt + style"
    longer = with_overrides(understood("synthwave, 16-bar intro"), bars=48)  # no longer refused
    assert longer.sections is not None and longer.sections[0] == ("intro", 16) and longer.n_bars == 48


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30 seconds", 30), ("2 minutes", 120), ("1:30", 90), ("a minute and a half", 90), ("45s", 45),
     ("2 min 30 s", 150), ("half a minute", 30), ("90-second", 90), ("80s synth", None), ("20s jazz", None)],
)
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_length(text)[0] == seconds


def test_bars_follow_tempo_and_meter() -> None:
    brief = understood("house, 120 BPM, 30 seconds")
    assert brief.n_bars == 15 and brief.sources["length"] == "prompt (seconds)"
    waltz = understood("waltz, 90 BPM, 3/4, 1:00")
    assert waltz.n_bars == 30
    assert bars_for_seconds(60, 120, (6, 8)) == 40


def test_form_wins_over_a_duration_and_says_so() -> None:
    brief = understood("pop, 100 BPM, verse 8, chorus 8, 2 minutes")
    assert brief.n_bars == 16
    assert any("wins over the 120 s" in n for n in brief.notes)
    option = with_overrides(understood("pop, 100 BPM, verse 8, chorus 8"), duration=90)
    assert option.n_bars == 16 and any("wins over --duration 90" in n for n in option.notes)


def test_duration_option() -> None:
    brief = with_overrides(understood("house, 120 BPM"), duration=64)
    assert brief.n_bars == 32 and brief.sources["length"] == "option"
    with pytest.raises(BriefError, match="not both"):
        with_overrides(brief, bars=8, duration=10)
    with pytest.raises(BriefError, match="seconds"):
        with_overrides(brief, duration=0)
    # a length in seconds keeps its seconds when the tempo option changes
    slower = with_overrides(understood("house, 120 BPM, 30 seconds"), bpm=60)
    assert slower.n_bars == 8 and abs(slower.duration_seconds - 32) < 1e-6


def test_cli_duration_on_generate_and_extend(tiny_models, tmp_path) -> None:
    from melodex.cli import app
    from melodex.edit import open_session

    runner = CliRunner()
    out = tmp_path / "song"
    result = runner.invoke(app, ["generate", "lo-fi piano and drums, 120 BPM, C minor", "-o", str(out),
                                 "--duration", "6", "--renderer", "soundfont"])
    assert result.exit_code == 0, result.output
    assert open_session(out).score.bar_count() == 3  # 6 s at 120 BPM in 4/4
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    result = runner.invoke(app, ["extend", str(copy), "--duration", "4"])
    assert result.exit_code == 0, result.output
    assert open_session(copy).score.bar_count() == 5
    assert pipeline.GenerateOptions(duration=6).duration == 6
