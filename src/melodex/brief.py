"""Conditioning: a prompt becomes a `Brief`, with everything stated parsed exactly.

Explicit values (BPM, key, meter, form, length, instruments) are read with patterns and always win.
What the prompt only implies (style, mood, energy, and from the style a tempo, meter and band) comes
from a style table matched by keywords, then by nearest style description in MiniLM space.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace

from melodex import brief_chords as chords_mod
from melodex import instruments as inst
from melodex.brief_form import BriefError, bar_seconds, bars_for_seconds, fill_form, parse_form, parse_length
from melodex.inputs import clean_prompt, clean_text
from melodex.score import MAX_BARS, MAX_BPM, MIN_BPM, MODES, PITCH_CLASSES, Key
from melodex.tokens import METERS, Plan

MAX_PROMPT_CHARS = 2000
DEFAULT_SECONDS = 60.0
BRIEF_VERSION = 1


@dataclass(frozen=True)
class Style:
    name: str
    keywords: tuple[str, ...]
    description: str  # what MiniLM compares a vague prompt against
    bpm: int
    meter: tuple[int, int]
    band: tuple[int, ...]  # GM programs, 128 = drums
    energy: float
    form: tuple[tuple[str, int], ...]  # a typical form at this style's scale (bars)


STYLES = (
    Style("synthwave", ("synthwave", "retrowave", "outrun", "80s synth"), "retro 1980s synthwave with analog synths",
          100, (4, 4), (81, 89, 38, 128), 0.6, (("intro", 4), ("verse", 8), ("chorus", 8), ("outro", 4))),
    Style("lo-fi", ("lo-fi", "lofi", "chillhop", "study beats"), "mellow lo-fi hip hop beat with dusty piano",
          84, (4, 4), (4, 33, 128), 0.3, (("intro", 4), ("verse", 8), ("chorus", 8), ("outro", 4))),
    Style("hip hop", ("hip hop", "hip-hop", "boom bap", "rap", "trap"), "hip hop beat with heavy drums and bass",
          90, (4, 4), (0, 38, 128), 0.6, (("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8))),
    Style("house", ("house", "techno", "edm", "dance", "club", "disco"), "four on the floor electronic dance music",
          124, (4, 4), (81, 90, 38, 128), 0.8, (("intro", 8), ("build", 8), ("drop", 8), ("outro", 8))),
    Style("pop", ("pop", "radio", "catchy"), "catchy modern pop song", 110, (4, 4), (0, 81, 33, 128), 0.6,
          (("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8))),
    Style("rock", ("rock", "punk", "grunge", "metal"), "energetic rock band with guitars and drums", 130, (4, 4),
          (29, 27, 33, 128), 0.8, (("intro", 4), ("verse", 8), ("chorus", 8), ("bridge", 4), ("chorus", 8))),
    Style("jazz", ("jazz", "swing", "bebop", "bossa", "lounge"), "smooth jazz combo with piano and upright bass",
          120, (4, 4), (0, 65, 32, 128), 0.5, (("A", 8), ("A", 8), ("B", 8), ("A", 8))),
    Style("blues", ("blues", "bluesy"), "twelve bar blues with guitar", 96, (4, 4), (26, 0, 33, 128), 0.5,
          (("verse", 12), ("verse", 12))),
    Style("funk", ("funk", "funky", "groove"), "funky groove with slap bass", 105, (4, 4), (27, 4, 36, 128), 0.7,
          (("intro", 4), ("verse", 8), ("chorus", 8))),
    Style("ambient", ("ambient", "drone", "atmospheric", "meditation"), "slow ambient soundscape with pads", 70,
          (4, 4), (89, 94, 4), 0.15, (("intro", 8), ("A", 8), ("B", 8), ("outro", 8))),
    Style("cinematic", ("cinematic", "film", "orchestral", "epic", "soundtrack", "score"),
          "orchestral film score with strings and brass", 90, (4, 4), (48, 60, 73, 42, 47), 0.5,
          (("intro", 4), ("A", 8), ("B", 8), ("outro", 4))),
    Style("classical", ("classical", "sonata", "baroque", "string quartet", "minuet"),
          "classical chamber music", 100, (4, 4), (40, 41, 42, 0), 0.4, (("A", 8), ("B", 8), ("A", 8))),
    Style("chorale", ("chorale", "hymn", "choral", "bach"), "four part chorale harmony", 80, (4, 4),
          (52, 52, 52, 52), 0.3, (("A", 8), ("B", 8))),
    Style("folk", ("folk", "celtic", "irish", "reel", "jig", "hornpipe", "fiddle tune", "scottish", "ballad"),
          "traditional irish folk tune on fiddle", 112, (4, 4), (40, 24, 32), 0.6, (("A", 8), ("B", 8))),
    Style("waltz", ("waltz",), "elegant waltz in three", 150, (3, 4), (0, 48, 32), 0.4,
          (("A", 8), ("B", 8), ("A", 8))),
    Style("march", ("march", "marching"), "military march with brass and snare", 116, (2, 4), (56, 57, 58, 128),
          0.7, (("A", 8), ("B", 8))),
    Style("chiptune", ("chiptune", "8-bit", "8 bit", "video game", "retro game"), "8-bit video game music", 140,
          (4, 4), (80, 80, 38, 128), 0.7, (("intro", 4), ("A", 8), ("B", 8))),
    Style("reggae", ("reggae", "dub", "ska"), "laid back reggae with offbeat guitar", 76, (4, 4), (27, 16, 33, 128),
          0.5, (("intro", 4), ("verse", 8), ("chorus", 8))),
    Style("country", ("country", "bluegrass", "americana"), "country song with acoustic guitar and banjo", 104,
          (4, 4), (25, 105, 32, 128), 0.5, (("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8))),
)
STYLE_BY_NAME = {s.name: s for s in STYLES}
CORPUS_STYLES = ("folk", "chorale", "classical", "waltz", "march")  # styles the training corpus holds

MOODS = {
    "happy": ("happy", "joyful", "cheerful", "upbeat", "uplifting", "bright", "sunny", "playful"),
    "sad": ("sad", "melancholic", "melancholy", "sorrowful", "mournful", "lonely", "wistful", "nostalgic"),
    "dark": ("dark", "ominous", "menacing", "tense", "eerie", "sinister", "spooky", "haunting"),
    "calm": ("calm", "peaceful", "relaxing", "serene", "gentle", "soft", "mellow", "chill", "dreamy"),
    "energetic": ("energetic", "driving", "aggressive", "intense", "powerful", "hype", "fast", "epic"),
    "romantic": ("romantic", "tender", "intimate", "love"),
}
MINOR_MOODS = {"sad", "dark"}
TEXTURE_WORDS = (
    "warm", "bright", "dark", "lo-fi", "lofi", "dusty", "vintage", "tape", "spacious", "reverb", "roomy", "dry",
    "punchy", "distorted", "saturated", "gritty", "wide", "narrow", "mono", "clean", "airy", "crisp", "soft",
    "muffled", "analog", "plucky", "lush", "thick", "thin", "glassy", "metallic", "hazy",
)
ENERGY_WORDS = {"slow": -0.25, "calm": -0.2, "gentle": -0.2, "soft": -0.1, "fast": 0.25, "energetic": 0.25,
                "driving": 0.2, "intense": 0.25, "upbeat": 0.15, "laid back": -0.15, "chill": -0.15}


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
            ("chords", chords_mod.describe(self.chords, self.sections) if self.chords
             else "chosen by the model, on the tonic at the start, the end and section ends",
             self.sources.get("chords", "")),
            ("length", f"{self.n_bars} bars, {self.duration_seconds:.1f} s", self.sources.get("length", "")),
            ("instruments", band, self.sources.get("instruments", "")),
            ("style", self.style, self.sources.get("style", "")),
            ("mood", self.mood, self.sources.get("mood", "")),
            ("energy", f"{self.energy:.2f}", self.sources.get("energy", "")),
            ("texture", ", ".join(self.texture) or "-", "prompt" if self.texture else ""),
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
    for m in _KEY_WITH_MODE.finditer(text):
        found.append((m.start(), Key(_pitch_class(m.group(1), m.group(2)), _MODE_NAMES[m.group(3).lower()]),
                      m.group(0)))
    taken = [(m.start(), m.end()) for m in _KEY_WITH_MODE.finditer(text)]
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


def parse_instruments(text: str) -> tuple[tuple[int, str], ...]:
    programs: list[int] = []
    for _, program in inst.find_in_text(text):
        if program not in programs:
            programs.append(program)
    return assign_roles(programs)


def assign_roles(programs: list[int]) -> tuple[tuple[int, str], ...]:
    """Roles for a band: the first melodic voice leads; a band without a melody voice gets one."""
    roles = [inst.default_role(p) for p in programs]
    if programs and "melody" not in roles:
        for i, role in enumerate(roles):
            if role in ("accompaniment", "pad"):
                roles[i] = "melody"
                break
    seen_melody = False
    for i, role in enumerate(roles):
        if role == "melody":
            if seen_melody:
                roles[i] = "counter"
            seen_melody = True
    return tuple(zip(programs, roles, strict=True))


# -- implied attributes ---------------------------------------------------------------------------


def _keyword_style(text: str) -> Style | None:
    lowered = text.lower()
    best: tuple[int, Style] | None = None
    for style in STYLES:
        for word in style.keywords:
            m = re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", lowered)
            if m and (best is None or m.start() < best[0]):
                best = (m.start(), style)
    return best[1] if best else None


def _embedded_style(text: str) -> Style:
    """Nearest style description in MiniLM space: the text encoder's reading of a vague prompt."""
    from melodex.text import embed

    vectors = embed([text, *(s.description for s in STYLES)])
    scores = vectors[1:] @ vectors[0]
    return STYLES[int(scores.argmax())]


def _mood(text: str) -> str | None:
    lowered = text.lower()
    for mood, words in MOODS.items():
        if any(re.search(rf"\b{re.escape(w)}\b", lowered) for w in words):
            return mood
    return None


def parse(prompt: str, use_text_model: bool = True) -> Brief:
    """Read a prompt into a Brief. Explicit values win; the style fills in what was not said."""
    text = " ".join(clean_prompt(prompt).split())
    if not text:
        raise BriefError('the prompt is empty: describe the music, e.g. "calm piano, 80 BPM, A minor, 16 bars"')
    if len(text) > MAX_PROMPT_CHARS:
        raise BriefError(f"the prompt has {len(text)} characters; keep it under {MAX_PROMPT_CHARS} "
                         "(say the style, tempo, key, form and instruments)")
    sources: dict[str, str] = {}
    notes: list[str] = []

    progressions, without_chords, chord_notes = chords_mod.find_progressions(text, None)
    blues = chords_mod.find_blues(without_chords)
    form = parse_form(chords_mod.strip_blues(without_chords))
    sections = form.sections
    notes += form.notes
    bpm = parse_bpm(text)
    meter = parse_meter(text)
    key, _ = parse_key(without_chords)
    if key is not None and progressions:
        progressions, _, chord_notes = chords_mod.find_progressions(text, key)  # roman numerals in this key
    seconds, bars = parse_length(form.rest)
    band = parse_instruments(text)

    style = _keyword_style(text)
    sources["style"] = "prompt" if style else "text model"
    if style is None:
        style = _embedded_style(text) if use_text_model else STYLE_BY_NAME["pop"]
        if not use_text_model:
            sources["style"] = "default"
    mood = _mood(text)
    sources["mood"] = "prompt" if mood else "style"
    mood = mood or ("calm" if style.energy < 0.35 else "energetic" if style.energy > 0.7 else "happy")

    energy = style.energy + sum(v for w, v in ENERGY_WORDS.items() if re.search(rf"\b{w}\b", text.lower()))
    energy = min(1.0, max(0.0, energy))
    sources["energy"] = "style + prompt words"

    sources["bpm"] = "prompt" if bpm else "style"
    if bpm is None:
        bpm = round(style.bpm * (1 + 0.3 * (energy - style.energy)))
    sources["meter"] = "prompt" if meter else "style"
    if meter is None:
        meter = style.meter
    elif meter != style.meter and any(w in text.lower() for w in ("waltz", "jig", "march")):
        notes.append(f"the prompt's {meter[0]}/{meter[1]} overrides the {style.name} style's usual "
                     f"{style.meter[0]}/{style.meter[1]}")
    if use_text_model and sources["meter"] == "style":
        meter, sources["meter"] = _implied_meter(text, style, sources["style"], meter)
    sources["key"] = "prompt" if key else "model"
    notes += chord_notes
    if key is None and progressions:
        key = chords_mod.key_from_chords([c for p in progressions for bar in p.bars for c in bar])
        sources["key"] = "chords"
        notes.append(f"the key {key} is the one the chords fit best (say a key to choose another)")
    elif key is None and blues:
        key, sources["key"] = Key(9, "major"), "12-bar blues"
        notes.append("12-bar blues in A (say e.g. 'in E' for another key)")
    if key is None and mood in MINOR_MOODS:
        notes.append(f"{mood} mood: the model will choose a minor key")

    sections, n_bars = _form_and_length(sections, form.partial, blues, seconds, bars, bpm, meter, style,
                                        sources, notes)

    if band and any(p != 128 for p, _ in band):
        sources["instruments"] = "prompt"
    elif band:  # only a beat was named: the style brings the pitched parts
        band = assign_roles([p for p in style.band if p != 128] + [128])
        sources["instruments"] = "prompt + style"
    else:
        band = assign_roles(list(style.band))
        sources["instruments"] = "style"
    if re.search(r"\b(no drums|without drums|drumless)\b", text.lower()):
        band = tuple((p, r) for p, r in band if p != 128)

    mode = key.mode if key else None
    if mode is None and mood in MINOR_MOODS:
        mode = "minor"
    texture = tuple(w for w in TEXTURE_WORDS if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text.lower()))
    chords, sources["chords"] = chord_plan(text, key, sections, n_bars, roman_in_key=sources["key"] == "prompt")
    return Brief(prompt=text, bpm=bpm, meter=meter, key=key, sections=sections, n_bars=n_bars,
                 instruments=band, style=style.name, mood=mood, energy=round(energy, 3), texture=texture,
                 sources=sources, notes=tuple(notes), mode=mode, chords=chords)


def _implied_meter(text: str, style: Style, style_source: str, meter: tuple[int, int]) -> tuple[tuple[int, int], str]:
    """The attribute head's meter where it is trusted: for the corpus's own styles and for prompts no keyword
    placed, never over an explicit meter. (Its mode is not used: on held-out captions it did not beat always
    saying "major".)"""
    from melodex.attributes import predict

    implied = predict(text)
    trusted = style_source == "text model" or style.name in CORPUS_STYLES
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
               roman_in_key: bool) -> tuple[tuple[tuple[str, ...], ...] | None, str]:
    """Chords per bar for the prompt's progressions (or its 12-bar blues) over this form, and their source.
    Roman numerals are read in `key` when it was asked for (`roman_in_key`), else in C as on first reading."""
    progressions, _, _ = chords_mod.find_progressions(text, key if roman_in_key else None)
    if progressions:
        return chords_mod.expand(progressions, sections, n_bars), "prompt"
    if key is not None and chords_mod.find_blues(text):
        return chords_mod.expand([chords_mod.blues_progression(key)], sections, n_bars), "12-bar blues"
    return None, "model"


def with_overrides(brief: Brief, *, bpm: int | None = None, key: str | None = None, meter: str | None = None,
                   instruments: list[str] | None = None, bars: int | None = None,
                   duration: float | None = None) -> Brief:
    """Apply command-line controls on top of the prompt; they win over it, except that a form written in the
    prompt sets the length (a --bars or --duration that disagrees is noted)."""
    changes: dict = {}
    sources = dict(brief.sources)
    notes = list(brief.notes)
    if bpm is not None:
        if not MIN_BPM <= bpm <= MAX_BPM:
            raise BriefError(f"--bpm {bpm} is outside {MIN_BPM}-{MAX_BPM}")
        if sources.get("bpm") == "prompt" and bpm != brief.bpm:
            notes.append(f"--bpm {bpm} wins over the prompt's {brief.bpm} BPM")
        changes["bpm"], sources["bpm"] = bpm, "option"
    if key is not None:
        key = clean_text(key, "--key")
        parsed, _ = parse_key(key if re.search(r"maj|min|m\b", key) else f"{key} major")
        if parsed is None:
            raise BriefError(f"--key {key!r} is not a key: write it like 'F minor', 'Bb major' or 'C#m'")
        if sources.get("key") == "prompt" and parsed != brief.key:
            notes.append(f"--key {parsed} wins over the prompt's {brief.key}")
        changes["key"], sources["key"] = parsed, "option"
    if meter is not None:
        parsed_meter = parse_meter(clean_text(meter, "--meter"))
        if parsed_meter is None:
            raise BriefError(f"--meter {meter!r} is not a meter: write it like 3/4 or 6/8")
        if sources.get("meter") == "prompt" and parsed_meter != brief.meter:
            notes.append(f"--meter {meter} wins over the prompt's {brief.meter[0]}/{brief.meter[1]}")
        changes["meter"], sources["meter"] = parsed_meter, "option"
    if instruments:
        changes["instruments"] = assign_roles([inst.lookup(name) for name in instruments])
        sources["instruments"] = "option"
    new_bpm, new_meter = changes.get("bpm", brief.bpm), changes.get("meter", brief.meter)
    if bars is not None and duration is not None:
        raise BriefError("give --bars or --duration, not both")
    wanted, asked = None, None
    if bars is not None:
        if not 1 <= bars <= MAX_BARS:
            raise BriefError(f"--bars {bars}: ask for 1-{MAX_BARS} bars")
        wanted, asked = bars, f"--bars {bars}"
    elif duration is not None:
        wanted, asked = bars_for_seconds(duration, new_bpm, new_meter), f"--duration {duration:g}"
    elif sources.get("length", "").startswith(("prompt (seconds)", "default")) and (new_bpm, new_meter) != (
            brief.bpm, brief.meter) and not brief.sections:  # keep the seconds asked for at the new tempo
        changes["n_bars"] = bars_for_seconds(brief.duration_seconds, new_bpm, new_meter)
    if wanted is not None:
        if sources.get("form") == "prompt + style":  # a frame the style fills: fill it to the new length
            frame = parse_form(chords_mod.strip_blues(chords_mod.find_progressions(brief.prompt, None)[1]))
            style = STYLE_BY_NAME.get(brief.style, STYLE_BY_NAME["pop"])
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
        changes["chords"], _ = chord_plan(brief.prompt, changes.get("key", brief.key),
                                          changes.get("sections", brief.sections),
                                          changes.get("n_bars", brief.n_bars),
                                          roman_in_key=sources["key"] in ("prompt", "option"))
    return replace(brief, sources=sources, notes=tuple(notes), **changes)


def key_names() -> list[str]:
    return [f"{pc} {mode}" for pc in PITCH_CLASSES for mode in MODES]
