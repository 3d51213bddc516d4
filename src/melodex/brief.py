"""Conditioning: a prompt becomes a `Brief`, with everything stated parsed exactly.

Explicit values (BPM, key, meter, form, length, chords, instruments) are read with patterns and always
win (form and length: `brief_form`; chords: `brief_chords`; band: `brief_band`). What the prompt only
implies (style, mood, energy, tempo words, and from the style a tempo, meter and band) comes from the
tables in `brief_styles`, a style matched by keywords, else by nearest description in MiniLM space.
Words no table knows are listed in `Brief.ignored`.

Why this file stays whole at ~500 lines: what is left here after the tables and the form, chord and
band parsers moved out is `Brief`, `parse` and the steps `parse` takes in order (exact values first,
then what they leave open, each value naming its source in `Brief.sources`), plus `with_overrides`,
which reads command-line flags with the same parsers (`parse_key`, `parse_meter`, `chord_plan`) and
the same sources to decide what wins. Splitting them would put one precedence rule in two files.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace

from melodex import brief_chords as chords_mod
from melodex import instruments as inst
from melodex.brief_band import assign_roles, band_for
from melodex.brief_form import BriefError, bar_seconds, bars_for_seconds, fill_form, parse_form, parse_length
from melodex.brief_styles import (
    CORPUS_STYLES,
    MAJOR_MOODS,
    MINOR_MOODS,
    MOOD_ENERGY,
    STYLE_BY_NAME,
    STYLES,
    Style,
)
from melodex.brief_words import (
    correct_typos,
    drum_words,
    energy_shift,
    ignored_words,
    mood_of,
    tempo_words,
    texture_of,
)
from melodex.errors import option_name
from melodex.inputs import clean_prompt, clean_text
from melodex.score import DRUM_PROGRAM, MAX_BARS, MAX_BPM, MIN_BPM, MODES, PITCH_CLASSES, Key
from melodex.tokens_grammar import Plan
from melodex.tokens_vocabulary import METERS

MAX_PROMPT_CHARS = 2000
DEFAULT_SECONDS = 60.0
BRIEF_VERSION = 1


@dataclass(frozen=True)
class Brief:
    """What a prompt asks for. `*_source` says where each value came from: prompt, style, or default."""

    prompt: str
    bpm: int
    meter: tuple[int, int]
    key: Key | None
    sections: tuple[tuple[str, int], ...] | None
    n_bars: int
    instruments: tuple[tuple[int, str], ...]
    style: str
    mood: str
    energy: float
    texture: tuple[str, ...]
    sources: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    mode: str | None = None  # the key's mode, or the mode the words imply when no key was given
    # Chords the prompt asks for, per bar of the piece (len == n_bars): each bar's chord names split the
    # bar evenly ("Am", "F", "G7", "Bbmaj7"; melodex.brief_chords.chord_symbols gives (root, quality)).
    # () = the model chooses that bar's chords; None = no chords were asked for.
    chords: tuple[tuple[str, ...], ...] | None = None
    genre: str | None = None  # the style the prompt named when the model plays it as `style` (bossa nova: jazz)
    ignored: tuple[str, ...] = ()  # words of the prompt nothing understood
    drums: str = ""  # what the prompt says of its drums ("punchy 808"): the kit is chosen for these words

    @property
    def named_style(self) -> str:
        """The style the piece is judged by and whose form it takes: the genre the prompt named (bossa nova),
        even where the model plays it as another `style` (jazz); else `style` itself."""
        return self.genre or self.style

    @property
    def has_drums(self) -> bool:
        return any(program == DRUM_PROGRAM for program, _ in self.instruments)

    @property
    def implied_mode(self) -> str | None:
        return self.key.mode if self.key else self.mode

    @property
    def duration_seconds(self) -> float:
        return self.n_bars * self.meter[0] * (4 / self.meter[1]) * 60.0 / self.bpm

    def plan(self) -> Plan:
        """The hard constraints for the structure model: explicit and resolved values alike."""
        return Plan(bpm=self.bpm, meter=self.meter, key=self.key, tracks=self.instruments,
                    sections=self.sections, n_bars=None if self.sections else self.n_bars)

    def describe(self) -> list[tuple[str, str, str]]:
        """(what, value, source) rows for `melodex brief`."""
        from melodex.structure.form import VARIED_REPEATS, base_name, song_form, typical_form

        sections = self.sections or typical_form(self.style, self.n_bars)
        form = ", ".join(f"{n} {b}" for n, b in sections) + ("" if self.sections else f" (the usual {self.style} form)")
        named: list[str] = []
        for (name, _), link in zip(sections, song_form(sections, self.style).links, strict=True):
            count = sum(1 for n in named if base_name(n) == name) + 1
            named.append(name if count == 1 else f"{name} {count}")
            if link is not None:
                how = " with a new melody in its last quarter" if name in VARIED_REPEATS else ""
                named[-1] = f"{named[-1]} repeats {sections[link][0]}{how}"
        repeats = "; ".join(n for n in named if " repeats " in n) or "none (no section name comes twice)"
        band = ", ".join(f"{inst.program_name(p)} ({r})" for p, r in self.instruments)
        return [
            ("tempo", f"{self.bpm} BPM", self.sources.get("bpm", "")),
            ("meter", f"{self.meter[0]}/{self.meter[1]}", self.sources.get("meter", "")),
            ("key", str(self.key) if self.key else f"chosen by the model{f' ({self.mode})' if self.mode else ''}",
             self.sources.get("key", "")),
            ("form", form, self.sources.get("form", "") if self.sections else "style"),
            ("repeats", repeats, "form"),
            ("chords", chords_mod.describe(self.chords, sections) if self.chords
             else "chosen by the model, on the tonic at the start, the end and section ends",
             self.sources.get("chords", "")),
            ("length", f"{self.n_bars} bars, {self.duration_seconds:.1f} s", self.sources.get("length", "")),
            ("instruments", band, self.sources.get("instruments", "")),
            ("style", f"{self.genre} (played as {self.style})" if self.genre and self.genre != self.style
             else self.style, self.sources.get("style", "")),
            ("mood", self.mood, self.sources.get("mood", "")),
            ("energy", f"{self.energy:.2f}", self.sources.get("energy", "")),
            ("texture", ", ".join(self.texture) or "-", "prompt" if self.texture else ""),
            ("drum kit", self.drums or (f"for the style ({self.named_style})" if self.has_drums else "- (no drums)"),
             "prompt" if self.drums else "style" if self.has_drums else ""),
            ("ignored", ", ".join(self.ignored) or "-", "not understood" if self.ignored else ""),
        ]

    def to_json(self) -> dict:
        data = asdict(self)
        data["key"] = None if self.key is None else {"tonic": self.key.tonic, "mode": self.key.mode}
        data["version"] = BRIEF_VERSION
        return json.loads(json.dumps(data))

    @classmethod
    def from_json(cls, data: dict) -> Brief:
        if data.get("version") != BRIEF_VERSION:
            raise BriefError(f"brief version {data.get('version')!r} is not supported (expected {BRIEF_VERSION})")
        data = {k: v for k, v in data.items() if k != "version"}
        key = data["key"]
        return cls(**{
            **data,
            "meter": tuple(data["meter"]),
            "key": None if key is None else Key(key["tonic"], key["mode"]),
            "sections": None if data["sections"] is None else tuple((n, b) for n, b in data["sections"]),
            "instruments": tuple((p, r) for p, r in data["instruments"]),
            "texture": tuple(data["texture"]),
            "notes": tuple(data["notes"]),
            "chords": None if data.get("chords") is None else tuple(tuple(bar) for bar in data["chords"]),
            "ignored": tuple(data.get("ignored", ())),
        })


# -- exact parsing --------------------------------------------------------------------------------

_ACCIDENTAL = r"(#|♯|b|♭|\s?sharp|\s?flat|-sharp|-flat)?"
_KEY_WITH_MODE = re.compile(
    r"\b([A-Ga-g])" + _ACCIDENTAL + r"[\s-]*(major|minor|maj|min|dorian|phrygian|aeolian|lydian|mixolydian|ionian)\b",
    re.IGNORECASE,
)
_KEY_SHORT_MINOR = re.compile(r"(?<![\w/])([A-G])(#|b)?m(?![\w/])")
_KEY_OF = re.compile(r"\b(?:key of|in the key of|in)\s+([A-G])(#|b)?(?![\w/#])")
_MODE_NAMES = {"major": "major", "maj": "major", "ionian": "major", "lydian": "major", "mixolydian": "major",
               "minor": "minor", "min": "minor", "aeolian": "minor", "dorian": "minor", "phrygian": "minor"}
_BPM = re.compile(r"(-?\d+(?:\.\d+)?)\s*(?:bpm|beats per minute|beats a minute)\b|\btempo\s*(?:of\s*)?(-?\d+)\b",
                  re.IGNORECASE)
_METER = re.compile(r"(?<![\d/])(\d{1,2})\s*/\s*(\d{1,2})(?![\d/])")


def _pitch_class(letter: str, accidental: str | None) -> int:
    pc = PITCH_CLASSES.index(letter.upper()) if letter.upper() in PITCH_CLASSES else \
        {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[letter.upper()]
    acc = (accidental or "").strip().lower().lstrip("-")
    if acc in ("#", "♯", "sharp"):
        pc += 1
    elif acc in ("b", "♭", "flat"):
        pc -= 1
    return pc % 12


def parse_key(text: str) -> tuple[Key | None, list[str]]:
    found: list[tuple[int, Key, str]] = []
    taken: list[tuple[int, int]] = []
    for m in _KEY_WITH_MODE.finditer(text):
        if m.group(1) == "a" and not m.group(2) and re.match(r"\s+(?:key|mode|tonality|scale)\b", text[m.end():]):
            continue  # "in a minor key": the article and a mode, not A minor
        found.append((m.start(), Key(_pitch_class(m.group(1), m.group(2)), _MODE_NAMES[m.group(3).lower()]),
                      m.group(0)))
        taken.append((m.start(), m.end()))
    for pattern, mode in ((_KEY_SHORT_MINOR, "minor"), (_KEY_OF, "major")):
        for m in pattern.finditer(text):
            if any(a <= m.start(1) < b for a, b in taken):
                continue
            letter, acc = m.group(1), m.group(2)
            found.append((m.start(), Key(_pitch_class(letter, acc), mode), m.group(0)))
    keys = {k for _, k, _ in found}
    if len(keys) > 1:
        said = " and ".join(sorted({w.strip() for _, _, w in found}))
        raise BriefError(f"the prompt names more than one key ({said}): keep one")
    return (found[0][1] if found else None), [w for _, _, w in found]


def parse_bpm(text: str) -> int | None:
    values = {float(m.group(1) or m.group(2)) for m in _BPM.finditer(text)}
    if len(values) > 1:
        raise BriefError(f"the prompt names more than one tempo ({', '.join(f'{v:g}' for v in sorted(values))} "
                         "BPM): keep one")
    if not values:
        return None
    bpm = values.pop()
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise BriefError(f"tempo {bpm:g} BPM is outside {MIN_BPM}-{MAX_BPM} BPM: pick a tempo in that range")
    return round(bpm)


def parse_meter(text: str) -> tuple[int, int] | None:
    meters = {(int(a), int(b)) for a, b in _METER.findall(text)}
    meters = {m for m in meters if m[1] in (1, 2, 4, 8, 16)}
    if len(meters) > 1:
        said = " and ".join(f"{a}/{b}" for a, b in sorted(meters))
        raise BriefError(f"the prompt names more than one meter ({said}): keep one")
    if not meters:
        return None
    meter = meters.pop()
    if meter not in METERS:
        raise BriefError(f"meter {meter[0]}/{meter[1]} is not supported: use up to 16 beats over 2, 4, 8 or 16")
    return meter


# -- implied attributes ---------------------------------------------------------------------------


def _keyword_style(text: str) -> Style | None:
    """The style whose keyword comes first in the text (the longest one where several start together)."""
    lowered = text.lower()
    best: tuple[int, int, Style] | None = None
    for style in STYLES:
        for word in style.keywords:
            m = re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", lowered)
            if m and (best is None or (m.start(), -len(word)) < (best[0], best[1])):
                best = (m.start(), -len(word), style)
    return best[2] if best else None


def _embedded_style(text: str) -> Style:
    """Nearest style description in MiniLM space: the text encoder's reading of a vague prompt."""
    from melodex.text import embed

    vectors = embed([text, *(s.description for s in STYLES)])
    scores = vectors[1:] @ vectors[0]
    return STYLES[int(scores.argmax())]


_MODE_ONLY = re.compile(r"\b(?:in\s+(?:a\s+)?)?(major|minor)\s+(?:key|mode|tonality|scale)\b|\bin\s+(major|minor)\b",
                        re.IGNORECASE)


def parse(prompt: str, use_text_model: bool = True) -> Brief:
    """Read a prompt into a Brief. Explicit values win; the style fills in what was not said."""
    text = " ".join(clean_prompt(prompt).split())
    if not text:
        raise BriefError('the prompt is empty: describe the music, e.g. "calm piano, 80 BPM, A minor, 16 bars"')
    if len(text) > MAX_PROMPT_CHARS:
        raise BriefError(f"the prompt has {len(text)} characters; keep it under {MAX_PROMPT_CHARS} "
                         "(say the style, tempo, key, form and instruments)")
    sources: dict[str, str] = {}
    text, typo_notes = correct_typos(text)
    notes: list[str] = list(typo_notes)

    # 1. what is stated exactly
    progressions, without_chords, chord_notes = chords_mod.find_progressions(text, None)
    blues = chords_mod.find_blues(without_chords)
    form = parse_form(chords_mod.strip_blues(without_chords))
    notes += form.notes
    bpm = parse_bpm(text)
    meter = parse_meter(text)
    key, _ = parse_key(without_chords)
    if key is not None and progressions:
        progressions, _, chord_notes = chords_mod.find_progressions(text, key)  # roman numerals in this key
    seconds, bars = parse_length(form.rest)

    # 2. style, mood, energy, tempo
    style = _keyword_style(text)
    sources["style"] = "prompt" if style else "text model"
    if style is None:
        style = _embedded_style(text) if use_text_model else STYLE_BY_NAME["pop"]
        if not use_text_model:
            sources["style"] = "default"
    if style.model_style:
        notes.append(f"{style.name} is played as the model's {style.model_style} style, with {style.name}'s "
                     "tempo, meter and band")
    mood, mood_word = mood_of(text)
    energy = style.energy + energy_shift(text) + (MOOD_ENERGY[mood] if mood else 0.0)
    energy = round(min(1.0, max(0.0, energy)), 3)
    sources["energy"] = "style + prompt words"
    sources["mood"] = f"prompt ('{mood_word}')" if mood else "style"
    if mood is None:
        mood = style.mood or ("calm" if style.energy < 0.35 else "energetic" if style.energy > 0.7 else "happy")
        if key is not None and key.mode == "minor" and mood == "happy":  # a minor key is never "happy" by default
            mood, sources["mood"] = ("dark" if energy >= 0.6 else "sad"), "key (minor)"

    sources["bpm"] = "prompt" if bpm else "style"
    if bpm is None:
        bpm, said = _implied_tempo(text, style, energy)
        if said:
            sources["bpm"] = f"style + {said}"
    sources["meter"] = "prompt" if meter else "style"
    if meter is None:
        meter = style.meter
    elif meter != style.meter and any(w in text.lower() for w in ("waltz", "jig", "march")):
        notes.append(f"the prompt's {meter[0]}/{meter[1]} overrides the {style.name} style's usual "
                     f"{style.meter[0]}/{style.meter[1]}")
    if use_text_model and sources["meter"] == "style":
        meter, sources["meter"] = _implied_meter(text, style, sources["style"], meter)

    # 3. key and mode: stated, else from the chords, else the 12-bar blues, else implied by mode words or mood
    sources["key"] = "prompt" if key else "model"
    notes += chord_notes
    written = [c for p in progressions for bar in p.bars for c in bar]
    if key is None and progressions:
        key = chords_mod.key_from_chords(written)
        sources["key"] = "chords"
        notes.append(f"the key {key} is the one the chords fit best (say a key to choose another)")
    elif key is not None and progressions:
        strange = chords_mod.outside_key(written, key)
        if strange:
            notes.append(f"{', '.join(strange)} {'is' if len(strange) == 1 else 'are'} outside {key}: played as "
                         "written (leave the key out to let the chords choose it)")
    elif key is None and blues:
        key, sources["key"] = Key(style.tonics[0] if style.name == "blues" else 9, "major"), "12-bar blues"
        notes.append(f"12-bar blues in {key} (say e.g. 'in E' for another key)")
    if key is None:
        key, sources["key"] = _implied_key(text, style, mood, sources["mood"], notes)

    # 4. form, length, chords, band, texture
    sections, n_bars = _form_and_length(form.sections, form.partial, blues, seconds, bars, bpm, meter, style,
                                        sources, notes)
    chords, sources["chords"], cut = chord_plan(text, key, sections, n_bars, roman_in_key=sources["key"] == "prompt",
                                                style=style.plays_as)
    notes += cut
    band, sources["instruments"] = band_for(without_chords, style, notes, style_named=sources["style"] == "prompt")
    texture, texture_notes, unsupported = texture_of(text)
    notes += texture_notes
    if unsupported:
        notes.append(f"the renderer has no effect for: {', '.join(unsupported)} (ignored)")
    return Brief(prompt=text, bpm=bpm, meter=meter, key=key, sections=sections, n_bars=n_bars,
                 instruments=band, style=style.plays_as, mood=mood, energy=energy, texture=texture,
                 sources=sources, notes=tuple(notes), mode=key.mode if key else None, chords=chords,
                 genre=style.name if style.model_style else None, ignored=ignored_words(without_chords),
                 drums=drum_words(without_chords) if any(p == DRUM_PROGRAM for p, _ in band) else "")


def _implied_tempo(text: str, style: Style, energy: float) -> tuple[int, str]:
    """The style's tempo moved by tempo words ("slow", "medium tempo", "allegro") and by the energy."""
    bpm = style.bpm * (1 + 0.3 * (energy - style.energy))
    words = tempo_words(text)
    for _, factor in words:
        bpm = min(max(bpm, 95.0), 120.0) if factor == "mid" else bpm * float(factor)
    bpm = min(max(bpm, 40.0), 220.0)
    return round(bpm), " + ".join(f"'{w}'" for w, _ in words)


def _implied_key(text: str, style: Style, mood: str, mood_source: str,
                 notes: list[str]) -> tuple[Key | None, str]:
    """A key in the mode the prompt implies ("minor key", "sad", "dark"; a style whose mood is dark), on the
    style's usual tonic for that mode; None when nothing implies a mode (the model chooses)."""
    said = _MODE_ONLY.search(text)
    if said:
        mode, why = (said.group(1) or said.group(2)).lower(), f"'{said.group(0).strip()}'"
    elif mood in MINOR_MOODS | MAJOR_MOODS and mood_source != "key (minor)":
        mode = "minor" if mood in MINOR_MOODS else "major"
        why = mood_source.removeprefix("prompt ").strip("()") if mood_source.startswith("prompt") else \
            f"the {style.name} style's {mood} mood"
        if mood_source == "style" and not style.mood:
            return None, "model"  # "happy" only because of the style's energy: no mode is implied
    else:
        return None, "model"
    key = Key(style.tonics[0 if mode == "major" else 1], mode)
    notes.append(f"{why} means a {mode} key: {key}, the {style.name} style's usual {mode} tonic "
                 "(say a key to choose another)")
    return key, f"implied ({mode})"


def _implied_meter(text: str, style: Style, style_source: str, meter: tuple[int, int]) -> tuple[tuple[int, int], str]:
    """The attribute head's meter where it is trusted: for the corpus's own styles and for prompts no keyword
    placed, never over an explicit meter. (Its mode is not used: on held-out captions it did not beat always
    saying "major".)"""
    from melodex.attributes import predict

    implied = predict(text)
    trusted = style_source == "text model" or style.plays_as in CORPUS_STYLES
    if implied is not None and trusted and implied.meter != "other" and implied.meter_confidence >= 0.6:
        return parse_meter(implied.meter) or meter, "text model"
    return meter, "style"


def _form_and_length(sections: tuple[tuple[str, int], ...] | None, partial: bool, blues: bool,
                     seconds: float | None, bars: int | None, bpm: int, meter: tuple[int, int], style: Style,
                     sources: dict[str, str], notes: list[str]) -> tuple[tuple[tuple[str, int], ...] | None, int]:
    """The form and the number of bars. A complete form sets the length (a separate length request that
    disagrees is noted and ignored); a frame (an intro, an outro) is filled with the style's sections up to
    the length asked for; a 12-bar blues repeats its 12 bars to about that length."""
    bar_s = bar_seconds(bpm, meter)
    wanted = bars if bars else (bars_for_seconds(seconds, bpm, meter) if seconds else None)
    asked = f"{bars} bars" if bars else (f"{seconds:g} s" if seconds else None)
    if sections is None and blues:
        choruses = max(1, round((wanted or DEFAULT_SECONDS / bar_s) / 12))
        sections, sources["form"] = tuple(("verse", 12) for _ in range(choruses)), "12-bar blues"
        if wanted is not None and wanted < 12:
            notes.append(f"a 12-bar blues is 12 bars ({12 * bar_s:.0f} s at {bpm} BPM); it wins over the {asked} "
                         "also asked for")
        sources["length"] = "12-bar blues" + (f" x {choruses}, about {asked}" if asked else f" x {choruses}")
        return sections, 12 * choruses
    if sections is not None and partial:
        target = wanted or max(sum(b for _, b in sections) + 1, round(DEFAULT_SECONDS / bar_s))
        filled = fill_form(sections, style.form, target)
        named = ", ".join(f"{n} {b}" for n, b in sections)
        notes.append(f"the prompt sets {named}; the rest of the form is the {style.name} style's, "
                     f"filled to about {target} bars")
        sources["form"] = "prompt + style"
        sources["length"] = f"prompt ({asked})" if asked else "default (about 60 s)"
        return filled, sum(b for _, b in filled)
    if sections is not None:
        n_bars = sum(b for _, b in sections)
        sources["form"] = sources["length"] = "prompt"
        if asked and wanted != n_bars:
            notes.append(f"the form is {n_bars} bars ({n_bars * bar_s:.0f} s at {bpm} BPM); it wins over the "
                         f"{asked} also asked for")
        return sections, n_bars
    sources["form"] = "model"
    if wanted:
        n_bars, sources["length"] = wanted, "prompt" if bars else "prompt (seconds)"
    else:
        n_bars, sources["length"] = max(1, round(DEFAULT_SECONDS / bar_s)), "default (about 60 s)"
    if n_bars > MAX_BARS:
        raise BriefError(f"that length needs {n_bars} bars; Melodex writes at most {MAX_BARS}")
    return None, n_bars


def chord_plan(text: str, key: Key | None, sections: tuple[tuple[str, int], ...] | None, n_bars: int,
               roman_in_key: bool, style: str) -> tuple[tuple[tuple[str, ...], ...] | None, str, list[str]]:
    """Chords per bar for the prompt's progressions (or its 12-bar blues) over this form, their source, and
    notes on what of the prompt's chords the form leaves out (`brief_chords.cut_notes`). Roman numerals are
    read in `key` when it was asked for (`roman_in_key`), else in C as on first reading. Chords for a named
    section with no form in the prompt go to that section of the form the song will have (the style's
    typical form, `pipeline.song_plan`), not nowhere."""
    from melodex.structure.form import typical_form

    progressions, _, _ = chords_mod.find_progressions(text, key if roman_in_key else None)
    if progressions and sections is None and any(p.section for p in progressions):
        sections = typical_form(style, n_bars)
    if progressions:
        return (chords_mod.expand(progressions, sections, n_bars), "prompt",
                chords_mod.cut_notes(progressions, sections, n_bars))
    if key is not None and chords_mod.find_blues(text):
        return chords_mod.expand([chords_mod.blues_progression(key)], sections, n_bars), "12-bar blues", []
    return None, "model", []


def with_overrides(brief: Brief, *, bpm: int | None = None, key: str | None = None, meter: str | None = None,
                   instruments: list[str] | None = None, bars: int | None = None,
                   duration: float | None = None, chords: str | None = None) -> Brief:
    """Apply command-line controls on top of the prompt; they win over it, except that a form written in the
    prompt sets the length (a --bars or --duration that disagrees is noted). `chords` is one progression for
    the whole piece, read strictly (`brief_chords.read_chords`) and looped as a prompt's is."""
    changes: dict = {}
    sources = dict(brief.sources)
    notes = list(brief.notes)
    if bpm is not None:
        if not MIN_BPM <= bpm <= MAX_BPM:
            raise BriefError(f"{option_name('bpm')} {bpm} is outside {MIN_BPM}-{MAX_BPM}")
        if sources.get("bpm") == "prompt" and bpm != brief.bpm:
            notes.append(f"{option_name('bpm')} {bpm} wins over the prompt's {brief.bpm} BPM")
        changes["bpm"], sources["bpm"] = bpm, "option"
    if key is not None:
        key = clean_text(key, option_name("key"))
        parsed, _ = parse_key(key if re.search(r"maj|min|m\b", key) else f"{key} major")
        if parsed is None:
            raise BriefError(f"{option_name('key')} {key!r} is not a key: write it like 'F minor', 'Bb major' or 'C#m'")
        if sources.get("key") == "prompt" and parsed != brief.key:
            notes.append(f"{option_name('key')} {parsed} wins over the prompt's {brief.key}")
        changes["key"], sources["key"] = parsed, "option"
    if meter is not None:
        parsed_meter = parse_meter(clean_text(meter, option_name("meter")))
        if parsed_meter is None:
            raise BriefError(f"{option_name('meter')} {meter!r} is not a meter: write it like 3/4 or 6/8")
        if sources.get("meter") == "prompt" and parsed_meter != brief.meter:
            notes.append(f"{option_name('meter')} {meter} wins over the prompt's {brief.meter[0]}/{brief.meter[1]}")
        changes["meter"], sources["meter"] = parsed_meter, "option"
    if instruments:
        changes["instruments"] = assign_roles([inst.lookup(name) for name in instruments])
        if sources.get("instruments", "").startswith("prompt"):
            notes.append(f"{option_name('instruments')} wins over the band the prompt names: "
                         + ", ".join(inst.program_name(p) for p, _ in brief.instruments))
        sources["instruments"] = "option"
    new_bpm, new_meter = changes.get("bpm", brief.bpm), changes.get("meter", brief.meter)
    if bars is not None and duration is not None:
        raise BriefError(f"give {option_name('bars')} or {option_name('duration')}, not both")
    wanted, asked = None, None
    if bars is not None:
        if not 1 <= bars <= MAX_BARS:
            raise BriefError(f"{option_name('bars')} {bars}: ask for 1-{MAX_BARS} bars")
        wanted, asked = bars, f"{option_name('bars')} {bars}"
    elif duration is not None:
        wanted, asked = bars_for_seconds(duration, new_bpm, new_meter), f"{option_name('duration')} {duration:g}"
    elif sources.get("length", "").startswith(("prompt (seconds)", "default")) and (new_bpm, new_meter) != (
            brief.bpm, brief.meter) and not brief.sections:  # keep the seconds asked for at the new tempo
        changes["n_bars"] = bars_for_seconds(brief.duration_seconds, new_bpm, new_meter)
    if wanted is not None:
        if sources.get("form") == "prompt + style":  # a frame the style fills: fill it to the new length
            frame = parse_form(chords_mod.strip_blues(chords_mod.find_progressions(brief.prompt, None)[1]))
            style = STYLE_BY_NAME.get(brief.named_style, STYLE_BY_NAME["pop"])
            if frame.sections is not None and frame.partial:
                changes["sections"] = fill_form(frame.sections, style.form, wanted)
                changes["n_bars"] = sum(b for _, b in changes["sections"])
                sources["length"] = "option"
        elif brief.sections:
            if wanted != brief.n_bars:
                seconds = brief.n_bars * bar_seconds(new_bpm, new_meter)
                notes.append(f"the prompt's form is {brief.n_bars} bars ({seconds:.0f} s at {new_bpm} BPM); "
                             f"it wins over {asked}")
        else:
            changes["n_bars"], sources["length"] = wanted, "option"
    if brief.chords is not None and {"key", "n_bars", "sections"} & set(changes):
        changes["chords"], _, _ = chord_plan(brief.prompt, changes.get("key", brief.key),
                                          changes.get("sections", brief.sections),
                                          changes.get("n_bars", brief.n_bars),
                                          roman_in_key=sources["key"] in ("prompt", "option"), style=brief.style)
    if chords is not None:
        _chords_option(brief, chords, changes, sources, notes)
    return replace(brief, sources=sources, notes=tuple(notes), **changes)


# the notes `parse` writes about a prompt's chords (outside the key, cut to the form, no such section, the key)
_PROMPT_CHORD_NOTES = ("let the chords choose it", " bars of chords for ", "the chords given for the ",
                       "the one the chords fit best")


def _chords_option(brief: Brief, text: str, changes: dict, sources: dict[str, str], notes: list[str]) -> None:
    """--chords into `changes`: the progression over the (possibly changed) form, the key it implies when no
    key was asked for (else a note naming chords outside the asked key), and notes on what does not fit."""
    what = option_name("chords")
    key: Key | None = changes.get("key", brief.key)
    stated = key if sources.get("key") in ("prompt", "option") else None
    bars = chords_mod.read_chords(clean_text(text, what), stated, what=what)
    written = [c for bar in bars for c in bar]
    if sources.get("chords") == "prompt":
        # what was said of the prompt's chords no longer holds
        notes[:] = [n for n in notes if not any(said in n for said in _PROMPT_CHORD_NOTES)]
        notes.append(f"{what} wins over the prompt's chords")
    if stated is not None:
        strange = chords_mod.outside_key(written, stated)
        if strange:
            notes.append(f"{', '.join(strange)} {'is' if len(strange) == 1 else 'are'} outside {key}: played as "
                         f"written (leave the key out to let {what} choose it)")
    else:
        key = chords_mod.key_from_chords(written)
        changes["key"], changes["mode"], sources["key"] = key, key.mode, "chords"
        notes.append(f"the key {key} is the one {what} fit best (say a key to choose another)")
    progression = chords_mod.Progression(None, bars)
    sections, n_bars = changes.get("sections", brief.sections), changes.get("n_bars", brief.n_bars)
    changes["chords"] = chords_mod.expand([progression], sections, n_bars)
    notes += [note.replace("bars of chords", f"bars of {what}") for note in
              chords_mod.cut_notes([progression], sections, n_bars)]
    sources["chords"] = "option"


def key_names() -> list[str]:
    return [f"{pc} {mode}" for pc in PITCH_CLASSES for mode in MODES]
