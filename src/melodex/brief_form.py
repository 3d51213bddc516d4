"""Form and length in a prompt: sections with bar counts in any usual phrasing, and a length in bars or seconds.

Phrasings read: "intro 4 bars, verse 8", "intro (4), verse (8)", "16-bar intro", "A section 8 bars",
"AABA, 8 bars each", "ABAB", "verse-chorus-verse-chorus-bridge-chorus", "two verses and two choruses";
"30 seconds", "2 minutes", "1:30", "a minute and a half", "32 bars". Section names beyond the model's
list (hook, refrain, middle eight, ...) are read as the nearest one it knows, with a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from melodex.errors import MelodexError
from melodex.score import MAX_BARS
from melodex.tokens_vocabulary import SECTION_NAMES


class BriefError(MelodexError):
    """The prompt asks for something impossible or contradictory."""


# Everyday section names -> the nearest name the structure model knows.
SECTION_SYNONYMS = {
    "hook": "chorus", "refrain": "chorus", "chorous": "chorus", "chrous": "chorus", "choruses": "chorus",
    "middle eight": "bridge", "middle 8": "bridge", "middle-eight": "bridge", "bridges": "bridge",
    "break": "breakdown", "ending": "outro", "tag": "outro", "finale": "coda",
    "prelude": "intro", "opening": "intro", "introduction": "intro", "intros": "intro",
    "build-up": "build", "buildup": "build", "build up": "build", "riser": "build", "verses": "verse",
    "versus": "verse", "vers": "verse", "instrumental break": "interlude",
    "turnaround": "interlude", "vamp": "interlude", "pre chorus": "pre-chorus",
    "prechorus": "pre-chorus", "pre-choruses": "pre-chorus", "post chorus": "post-chorus",
    "postchorus": "post-chorus", "solos": "solo", "outros": "outro", "drops": "drop",
}
_NATIVE = [n for n in SECTION_NAMES[1:] if len(n) > 1]
_NAMES = sorted([*_NATIVE, *SECTION_SYNONYMS], key=len, reverse=True)
_NAME = "(" + "|".join(re.escape(n) for n in _NAMES) + ")"
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "sixteen": 16, "twenty": 20,
                 "thirty-two": 32, "thirty two": 32, "twenty-four": 24, "twenty four": 24, "single": 1,
                 "double": 2}
_COUNT = r"(\d+|" + "|".join(re.escape(w) for w in sorted(_NUMBER_WORDS, key=len, reverse=True)) + ")"
_BARS_WORD = r"(?:bars?|measures?|bar-long)"
DEFAULT_SECTION_BARS = {"intro": 4, "outro": 4, "coda": 4, "build": 4, "breakdown": 4}

# "verse 8", "verse: 8 bars", "intro (4)", "chorus of 8 bars", "verse = 8"
_NAME_FIRST = re.compile(rf"\b{_NAME}\s*(?:of\s*|:\s*|=\s*|-\s*)?\(?\s*(\d+)\s*\)?"
                         rf"(?:\s*-?\s*{_BARS_WORD})?(?!\s*[/:\d])", re.IGNORECASE)
# "16-bar intro", "8 bars of verse", "a 4 bar outro"
_BARS_FIRST = re.compile(rf"\b{_COUNT}\s*-?\s*{_BARS_WORD}\s+(?:long\s+)?(?:of\s+)?(?:an?\s+|the\s+)?{_NAME}\b",
                         re.IGNORECASE)
# "A section 8 bars", "section B: 16 bars", "part A (8)"
_LETTER_SECTION = re.compile(r"\b(?:([A-E])\s+(?:section|part)|(?:section|part)\s+([A-E]))\b"
                             r"\s*(?:of\s*|:\s*|=\s*|,\s*)?"
                             rf"\(?\s*(\d+)?\s*\)?(?:\s*-?\s*{_BARS_WORD})?")
_LETTER_FORM = re.compile(r"(?<![\w-])([A-E](?:\s*-\s*[A-E]){1,11}|[A-E]{2,12})(?![\w-])(?:\s*form)?")
_EACH = re.compile(rf"(\d+)\s*-?\s*{_BARS_WORD}\s*(?:each|per (?:section|part)|apiece|a (?:section|part))",
                   re.IGNORECASE)
_COUNTED = re.compile(rf"\b{_COUNT}\s+{_NAME}\b", re.IGNORECASE)
_DASHED = re.compile(rf"\b{_NAME}(?:\s*(?:-|–|—|,|/|→|->|>|\bthen\b|\band\b|\+)\s*{_NAME})+\b", re.IGNORECASE)
_BARS = re.compile(rf"\b{_COUNT}\s*-?\s*{_BARS_WORD}\b(?!\s*(?:each|per|apiece))", re.IGNORECASE)
# "80s synth" is a decade, "30s" thirty seconds; "a 20s jazz band" the 1920s: a bare "s" after 20-90 is a decade.
_SECONDS = re.compile(
    r"\b(\d+(?:\.\d+)?)\s*-?\s*(?:seconds?|secs?)\b|\b(?![2-9]0s|1[5-9]\d0s|20\d0s)(\d+(?:\.\d+)?)s\b"
    r"|\b(?:(\d+(?:\.\d+)?)\s*-?\s*(?:minutes?|mins?|m)"
    r"|(a|an|one|two|three|four|five|half an?)\s*-?\s*(?:minutes?|mins?))\b"
    r"(?:\s*(?:and\s*)?(\d+)\s*(?:seconds?|secs?|s)\b|\s+and\s+a\s+half)?"
    r"|\b(\d{1,2}):([0-5]\d)\b(?!\s*(?:am|pm))",
    re.IGNORECASE,
)
_MINUTE_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "half a": 0.5,
                 "half an": 0.5, "a half": 0.5}


@dataclass(frozen=True)
class FormReading:
    """What the prompt says about form: sections (None: nothing said), whether they are only a frame
    (an intro or outro, the rest left to fill), the text left once they are removed, and notes."""

    sections: tuple[tuple[str, int], ...] | None
    rest: str
    partial: bool = False
    notes: tuple[str, ...] = field(default=())


def _count(word: str) -> float:
    word = word.lower()
    return float(word) if word[0].isdigit() else _NUMBER_WORDS[word]


def canonical_section(word: str, notes: list[str] | None = None) -> str:
    """The structure model's name for a section word; `notes` hears about any mapping."""
    lowered = " ".join(word.lower().split())
    if lowered in SECTION_NAMES:
        return lowered
    if lowered in SECTION_SYNONYMS:
        name = SECTION_SYNONYMS[lowered]
        if notes is not None and not lowered.replace(" ", "-").startswith(name) and lowered not in (
                "prechorus", "postchorus"):
            message = f"'{lowered}' is written as a {name} section (the nearest the model knows)"
            if message not in notes:
                notes.append(message)
        return name
    raise BriefError(f"section name {word!r} is not one of: {', '.join(SECTION_NAMES[1:])}")


def _overlaps(a: int, b: int, spans: list[tuple[int, int]]) -> bool:
    return any(a < y and x < b for x, y in spans)


def parse_form(text: str) -> FormReading:
    notes: list[str] = []
    found: list[tuple[int, int, str, int | None]] = []  # start, end, name, bars (None: not said)

    letter_sections = list(_LETTER_SECTION.finditer(text))
    for m in letter_sections:
        # "A section of strings" is no form: a lettered section needs a bar count or a second letter
        if m.group(3) or len(letter_sections) > 1:
            found.append((m.start(), m.end(), m.group(1) or m.group(2), int(m.group(3)) if m.group(3) else None))
    for m in _NAME_FIRST.finditer(text):
        if not _overlaps(m.start(), m.end(), [(a, b) for a, b, _, _ in found]):
            found.append((m.start(), m.end(), canonical_section(m.group(1), notes), int(m.group(2))))
    for m in _BARS_FIRST.finditer(text):
        if not _overlaps(m.start(), m.end(), [(a, b) for a, b, _, _ in found]):
            found.append((m.start(), m.end(), canonical_section(m.group(2), notes), round(_count(m.group(1)))))
    each = _EACH.search(text)
    per = int(each.group(1)) if each else None
    rest = text
    sections: tuple[tuple[str, int], ...] | None
    if found:
        found.sort()
        sections = tuple((name, bars if bars is not None else per or 8) for _, _, name, bars in found)
        spans = [(a, b) for a, b, _, _ in found]
    else:
        sections, spans = _form_without_counts(text, per, notes)
        if sections is None:
            return FormReading(None, text, notes=tuple(notes))
    if each:
        spans.append(each.span())
    for a, b in sorted(spans, reverse=True):
        rest = rest[:a] + " " + rest[b:]
    for name, bars in sections:
        if bars < 1:
            raise BriefError(f"section {name} has {bars} bars: every section needs at least one bar")
    total = sum(b for _, b in sections)
    if total > MAX_BARS:
        raise BriefError(f"the form adds up to {total} bars; Melodex writes at most {MAX_BARS} bars per track")
    partial = all(name in ("intro", "outro", "coda") for name, _ in sections) and len(sections) <= 2
    return FormReading(sections, rest, partial, tuple(notes))


def _form_without_counts(text: str, per: int | None,
                         notes: list[str]) -> tuple[tuple[tuple[str, int], ...] | None, list[tuple[int, int]]]:
    """Letters ("AABA"), a run of section names ("verse-chorus-verse") or counts ("two verses and a chorus")."""
    letters = _LETTER_FORM.search(text)
    if letters and (letters.group(0).rstrip().endswith("form") or per
                    or (len(set(letters.group(1))) > 1 and "-" in letters.group(1))
                    or re.fullmatch(r"[A-E]{3,12}", letters.group(1))):
        return tuple((c, per or 8) for c in re.sub(r"[\s-]", "", letters.group(1))), [letters.span()]
    counted = list(_COUNTED.finditer(text))
    if sum(_count(m.group(1)) for m in counted) >= 2:  # "a chorus of voices" alone is no form
        wanted = [(canonical_section(m.group(2), notes), round(_count(m.group(1)))) for m in counted]
        order: list[str] = []
        left = dict(wanted)
        while any(left.values()):  # alternate in order of mention: verse chorus verse chorus
            for name, _ in wanted:
                if left[name] > 0:
                    order.append(name)
                    left[name] -= 1
        return tuple((n, per or DEFAULT_SECTION_BARS.get(n, 8)) for n in order), [m.span() for m in counted]
    run = _DASHED.search(text)
    if run:
        words = re.findall(_NAME, run.group(0), re.IGNORECASE)
        names = [canonical_section(w, notes) for w in words]
        return tuple((n, per or DEFAULT_SECTION_BARS.get(n, 8)) for n in names), [run.span()]
    return None, []


def fill_form(frame: tuple[tuple[str, int], ...], style_form: tuple[tuple[str, int], ...],
              n_bars: int | None) -> tuple[tuple[str, int], ...]:
    """A frame (an intro and/or outro) completed with the style's middle sections, repeated toward n_bars."""
    head = [s for s in frame if s[0] == "intro"]
    tail = [s for s in frame if s[0] != "intro"]
    middle = [s for s in style_form if s[0] not in ("intro", "outro", "coda")] or [("verse", 8)]
    length = sum(b for _, b in frame)
    target = n_bars if n_bars is not None else length + sum(b for _, b in middle)
    body: list[tuple[str, int]] = []
    # add the style's sections in turn while that comes closer to the target (at least one)
    while not body or target - length > middle[len(body) % len(middle)][1] / 2:
        body.append(middle[len(body) % len(middle)])
        length += body[-1][1]
        if length > MAX_BARS:
            raise BriefError(f"that form needs more than {MAX_BARS} bars: ask for a shorter length")
    return (*head, *body, *tail)


def parse_length(text: str) -> tuple[float | None, int | None]:
    """Seconds or bars asked for, outside any section phrase."""
    seconds = None
    m = _SECONDS.search(text)
    if m:
        if m.group(1) or m.group(2):
            seconds = float(m.group(1) or m.group(2))
        elif m.group(3) or m.group(4):
            minutes = float(m.group(3)) if m.group(3) else _MINUTE_WORDS[" ".join(m.group(4).lower().split())]
            if m.group(0).lower().endswith("and a half"):
                minutes += 0.5
            seconds = minutes * 60 + (float(m.group(5)) if m.group(5) else 0)
        else:
            seconds = int(m.group(6)) * 60 + int(m.group(7))
        if not 1 <= seconds <= 1800:
            raise BriefError(f"{seconds:g} seconds: ask for a track of 1 s to 30 minutes")
    bars = None
    b = _BARS.search(text)
    if b:
        bars = round(_count(b.group(1)))
        if not 1 <= bars <= MAX_BARS:
            raise BriefError(f"{bars} bars: ask for 1-{MAX_BARS} bars")
    return seconds, bars


def bar_seconds(bpm: float, meter: tuple[int, int]) -> float:
    return meter[0] * 4 / meter[1] * 60.0 / bpm


def bars_for_seconds(seconds: float, bpm: float, meter: tuple[int, int]) -> int:
    """Whole bars closest to `seconds` at this tempo and meter (at least one)."""
    if not 0 < seconds <= 1800:
        raise BriefError(f"{seconds:g} seconds: ask for 1 s to 30 minutes")
    return max(1, round(seconds / bar_seconds(bpm, meter)))
