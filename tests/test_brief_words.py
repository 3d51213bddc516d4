"""Styles, bands, moods, texture and ignored words: what the prompt implies reaches the models, or is named."""

from __future__ import annotations

import pytest

from melodex.brief import parse
from melodex.brief_styles import STYLES, TEXTURE_PHRASES, TEXTURE_WORDS
from melodex.score import Key


def understood(prompt: str):
    return parse(prompt, use_text_model=False)


def test_texture_words_are_the_renderers() -> None:
    from melodex.production.settings import WORD_TABLE, mix_settings_from_text

    assert set(TEXTURE_WORDS) == set(WORD_TABLE)
    assert {word for word, _ in TEXTURE_PHRASES.values()} <= set(WORD_TABLE)
    brief = understood("lofi hip hop with rhodes and vinyl crackle, tape hiss")
    assert {"vinyl", "tape"} <= set(brief.texture)
    settings = mix_settings_from_text(" ".join(brief.texture) + " " + brief.style)
    assert settings.lofi > 0 and "vinyl" in settings.words


def test_effects_the_renderer_lacks_are_named() -> None:
    brief = understood("techno with sidechain pumping and gated reverb drums")
    assert any("no effect for" in n and "sidechain" in n and "gated reverb" in n for n in brief.notes)


def test_every_style_plays_as_a_style_the_model_knows() -> None:
    from melodex.structure.model import STYLES as MODEL_STYLES

    assert {s.plays_as for s in STYLES} <= set(MODEL_STYLES)
    for name, model in (("bossa nova", "jazz"), ("drum and bass", "house"), ("trap", "hip hop"),
                        ("techno", "house"), ("gospel", "chorale"), ("metal", "rock"), ("k-pop", "pop"),
                        ("afrobeat", "funk"), ("celtic", "folk"), ("baroque", "classical")):
        brief = understood(f"a {name} track")
        assert (brief.genre, brief.style, brief.named_style) == (name, model, name), name
        assert any(f"{name} is played as the model's {model}" in n for n in brief.notes)
    assert understood("drum and bass, 174 BPM").instruments[-1][0] == 128  # a genre, not two instruments
    assert understood("a jazz track").named_style == "jazz"  # a style the model plays itself names itself


@pytest.mark.parametrize(
    ("prompt", "programs"),
    [
        ("rock song with distorted guitar", [30, 33, 128]),  # the band stays, the named guitar in front
        ("lofi hip hop with rhodes and vinyl crackle", [4, 33, 128]),
        ("rhodes piano, bass and drums", [4, 33, 128]),  # one instrument, no extra grand piano
        ("jazz with sax and piano", [65, 0, 32, 128]),  # a band without rhythm section gets the style's
        ("jazz, solo piano", [0]),
        ("rock, guitar only", [25]),
        ("jazz, just sax and piano", [65, 0]),
        ("rock band, no drums", [30, 27, 33]),  # "rock band" names the band itself
        ("funk with no drums or bass", [27, 4]),
        ("string quartet", [40, 40, 41, 42]),
        ("calm piano", [0]),  # no style named: the named instruments are the band
        ("upright bass, nylon guitar and an 808", [32, 24, 38]),
        ("rock song with a guitar solo", [25, 33, 128]),  # a solo section, not a solo instrument
    ],
)
def test_bands(prompt: str, programs: list[int]) -> None:
    assert [p for p, _ in understood(prompt).instruments] == programs


def test_mood_and_mode_agree() -> None:
    synth = understood("synthwave, 100 BPM, F minor")
    assert synth.mood != "happy" and synth.sources["mood"] == "key (minor)"
    sad = understood("something sad for a rainy evening")
    assert sad.key is not None and sad.key.mode == "minor" and sad.mode == "minor"
    assert sad.sources["key"] == "implied (minor)" and sad.plan().key == sad.key  # the grammar obeys it
    for word in ("dark", "melancholic"):
        brief = understood(f"{word} piano piece")
        assert brief.key is not None and brief.key.mode == "minor", word
    assert understood("happy ukulele song").key.mode == "major"
    assert understood("pop song in a minor key").key == Key(9, "minor")
    assert understood("sad song in C major").key == Key(0, "major")  # a stated key wins over the mood
    assert understood("a pop song").key is None  # nothing implies a mode: the model chooses
    assert understood("metal").key == Key(4, "minor")  # the style's own mood


def test_tempo_words() -> None:
    assert understood("slow rock").bpm < understood("rock").bpm < understood("fast rock").bpm
    assert understood("very slow rock").bpm < understood("slow rock").bpm
    medium = understood("ballad, medium tempo")
    assert 95 <= medium.bpm <= 120 and "medium tempo" in medium.sources["bpm"]
    assert understood("slow rock, 140 BPM").bpm == 140  # an explicit tempo wins


def test_ignored_words_and_typos() -> None:
    brief = understood("synthwve with pianno, 120 bmp, flibbertigibbet vibes")
    assert brief.style == "synthwave" and brief.bpm == 120 and brief.instruments[0][0] == 0
    assert "read 'pianno' as 'piano'" in brief.notes
    assert brief.ignored == ("flibbertigibbet",)
    assert ("ignored", "flibbertigibbet", "not understood") in brief.describe()
    assert understood("jazz, AABA, piano and bass, 120 BPM, Bb major").ignored == ()


@pytest.mark.parametrize(("prompt", "drums"), [
    ("synthwave with punchy 808 drums", "punchy 808"),
    ("jazz trio with brushed drums", "brushed"),
    ("lo-fi hip hop, dusty drums, 80 BPM", "dusty"),
    ("big room house", "big room"),
    ("brushed jazz kit and upright bass", "brushed jazz"),
    ("jazz piano trio brushed drums", "brushed"),  # the band's words stop it
    ("piano, bass and drums", ""),
    ("liquid drum and bass", ""),  # the style, not its drums
])
def test_the_drums_words_are_read_for_the_kit(prompt: str, drums: str) -> None:
    """Before, "808", "brushed" and "room" were not understood and the kit was chosen for the style."""
    brief = understood(prompt)
    assert brief.drums == drums and not set(drums.split()) & set(brief.ignored)
    row = dict((what, value) for what, value, _ in brief.describe())
    assert row["drum kit"] == (drums or f"for the style ({brief.named_style})")


def test_drum_words_choose_the_drums_text_and_no_other() -> None:
    from melodex.pipeline import timbre_text
    from melodex.score import DRUM_PROGRAM

    brief = understood("synthwave with punchy 808 drums and a lead")
    assert timbre_text(brief, DRUM_PROGRAM) == "punchy 808 punchy Drum Kit"  # told: no style words
    assert "synthwave" in timbre_text(brief, 81) and "808" not in timbre_text(brief, 81)
    plain = understood("synthwave with bass and drums")
    assert timbre_text(plain, DRUM_PROGRAM) == f"synthwave {plain.mood} Drum Kit"  # as before: the style's kit
    assert timbre_text(plain, DRUM_PROGRAM, "big room") == "big room Drum Kit"  # a retimbre's words
    assert timbre_text(plain, 81, "brighter").startswith("brighter synthwave")
    assert dict((w, v) for w, v, _ in understood("solo piano ballad").describe())["drum kit"] == "- (no drums)"
