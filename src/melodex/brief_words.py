"""Words in a prompt that imply rather than state: mood, tempo words, texture, the drums' words; and the
words nothing read.

`ignored_words` lists every word of the prompt that no table or pattern of the Brief knows, so
`melodex brief` can show what was not understood.
"""

from __future__ import annotations

import re
from functools import lru_cache

from melodex import instruments as inst
from melodex.brief_form import SECTION_SYNONYMS
from melodex.brief_styles import (
    ENERGY_WORDS,
    MOODS,
    STYLES,
    TEMPO_WORDS,
    TEXTURE_PHRASES,
    TEXTURE_WORDS,
    UNSUPPORTED_EFFECTS,
)
from melodex.tokens_vocabulary import SECTION_NAMES


def _find(phrase: str, lowered: str) -> re.Match[str] | None:
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", lowered)


def mood_of(text: str) -> tuple[str | None, str | None]:
    """(mood, the word that said it): the earliest mood word, preferring feelings over levels and words
    that are only moods over sound words that also describe a mood ("mellow piano ... sad" is sad)."""
    lowered = text.lower()
    best: tuple[tuple[bool, bool, int], str, str] | None = None
    for mood, words in MOODS.items():
        for word in words:
            m = _find(word, lowered)
            if m is None:
                continue
            # a feeling (sad, dark, happy, romantic) says more than a level (calm, energetic: the energy
            # words carry those); a word that is only a mood more than a sound word ("mellow", "dark")
            rank = (mood in ("calm", "energetic"), word in TEXTURE_WORDS, m.start())
            if best is None or rank < best[0]:
                best = (rank, mood, word)
    return (best[1], best[2]) if best else (None, None)


def energy_shift(text: str) -> float:
    lowered = text.lower()
    return sum(v for w, v in ENERGY_WORDS.items() if _find(w, lowered))


def tempo_words(text: str) -> list[tuple[str, float | str]]:
    """Tempo words present, longest first and not inside a longer one ("very slow" hides "slow")."""
    lowered = text.lower()
    found: list[tuple[str, float | str]] = []
    spans: list[tuple[int, int]] = []
    for word in sorted(TEMPO_WORDS, key=len, reverse=True):
        for m in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w-])", lowered):
            if not any(a <= m.start() < b for a, b in spans):
                spans.append(m.span())
                found.append((word, TEMPO_WORDS[word]))
    return found


def texture_of(text: str) -> tuple[tuple[str, ...], list[str], list[str]]:
    """(renderer texture words, notes on phrases played through one of them, effects it cannot play)."""
    lowered = text.lower()
    words: list[str] = []
    notes: list[str] = []
    taken: list[tuple[int, int]] = []
    for phrase in sorted(TEXTURE_PHRASES, key=len, reverse=True):
        m = _find(phrase, lowered)
        if m and not any(a <= m.start() < b for a, b in taken):
            taken.append(m.span())
            word, how = TEXTURE_PHRASES[phrase]
            words.append(word)
            notes.append(f"'{phrase}' is played as '{word}' ({how})")
    for word in TEXTURE_WORDS:
        m = _find(word, lowered)
        if m and not any(a <= m.start() < b for a, b in taken) and word not in words:
            words.append(word)
    unsupported = []
    for effect in sorted(UNSUPPORTED_EFFECTS, key=len, reverse=True):
        m = _find(effect, lowered)
        if m and not any(a <= m.start() < b for a, b in taken):
            taken.append(m.span())
            unsupported.append(effect)
    return tuple(words), notes, unsupported


# What names the drums in a prompt, and words that describe a kit wherever they stand ("an 808 groove").
DRUM_NOUNS = ("drum kit", "drums", "drum", "kit", "percussion")
DRUM_WORDS = ("drum machine", "808s", "808", "909", "707", "brushed", "brushes", "big room")
_NOT_DRUMS = re.compile(r"\bdrum\s*(?:and|&|n|'n'?)\s*bass\b")


def drum_words(text: str) -> str:
    """The words the prompt says of its drums ("synthwave with punchy 808 drums" -> "punchy 808"), so
    the kit is chosen for them (`timbre.drumkit`); "" when it says none. Per clause (commas, "and",
    "with" end one), the words just before a drum noun, stopping at an instrument or band word; then the
    kit words of DRUM_WORDS anywhere. Style words stay ("jazz kit"): a style said of the drums is a kit."""
    lowered = _NOT_DRUMS.sub(" ", text.lower())
    instruments = {alias for alias in inst.ALIASES if " " not in alias} - {"drum", "drums", "kit", *DRUM_WORDS}
    found: list[str] = []
    for clause in re.split(r"[,;.:!?()]|\b(?:and|with|plus|over|on)\b", lowered):
        nouns = [m for noun in DRUM_NOUNS if (m := _find(noun, clause))]
        if not nouns:
            continue
        before = re.findall(r"[a-z0-9][a-z0-9'-]*", clause[: min(m.start() for m in nouns)])
        said: list[str] = []
        for word in reversed(before):
            if (word in _FUNCTION_WORDS or word in _MUSIC_WORDS or word in instruments
                    or (word.isdigit() and word not in DRUM_WORDS) or len(said) == 3):
                break
            said.insert(0, word)
        found += said
    for phrase in DRUM_WORDS:
        if _find(phrase, lowered) and not any(phrase in w or w in phrase for w in found):
            found.append(phrase)
    return " ".join(dict.fromkeys(found))


_FUNCTION_WORDS = frozenset(re.findall(r"\S+", """
a an the and or but nor with without of in on at to for from by as into onto over under than then so very
something anything everything someone
really quite some any all each every per this that these those it its it's is are was were be been being has
have had do does did will would can could should may might must i me my we our you your he she they them their
his her there here where when while who which what like about around up down out off just only also too more
most less not no yes plus into through across along during after before between both either neither own same
other such few many much lot lots bit little kind sort of one two three four five six seven eight nine ten
twelve sixteen twenty thirty first second third last next
"""))
_MUSIC_WORDS = frozenset(re.findall(r"\S+", """
bpm bar bars measure measures beat beats tempo key keys major minor mode modes meter time signature seconds
second sec secs minute minutes min mins long length form section sections part parts each chord chords
progression progressions changes song songs track tracks tune tunes music musical piece pieces instrumental
instrumentals melody melodies melodic harmony harmonies harmonic rhythm rhythmic style styles vibe vibes
feel feeling sound sounds sounding played playing plays play featuring features feature starts start starting
ends end ending then followed build builds solo sole only just alone loop loops looping repeat repeated
repeats twice times x sharp flat natural dorian phrygian lydian mixolydian aeolian ionian locrian bluesy
genre type arrangement arranged composition composed written write make makes making create generate give
me please want need around about approx approximately roughly exactly total overall whole entire
ensemble band group trio quartet quintet duet duo lead leads backing accompaniment accompanied
unaccompanied cappella capella acapella nothing by itself its own mood moods energy atmosphere
tone tones texture production mix mixed recording recorded quality low high
"""))


@lru_cache(maxsize=1)
def _vocabulary() -> frozenset[str]:
    words: set[str] = set(_FUNCTION_WORDS | _MUSIC_WORDS)
    phrases: list[str] = [*inst.ALIASES, *inst.ENSEMBLES, *inst.GM_NAMES, *SECTION_SYNONYMS, *SECTION_NAMES,
                          *ENERGY_WORDS, *TEMPO_WORDS, *TEXTURE_WORDS, *TEXTURE_PHRASES, *UNSUPPORTED_EFFECTS,
                          *DRUM_NOUNS, *DRUM_WORDS]
    for style in STYLES:
        phrases += [*style.keywords, style.name]
    for mood_words in MOODS.values():
        phrases += mood_words
    phrases += list(MOODS)
    for phrase in phrases:
        words.update(w for w in re.split(r"[^a-z0-9&']+", phrase.lower()) if w)
    return frozenset(words)


def ignored_words(text: str) -> tuple[str, ...]:
    """Words of the text no table knows, in order, once each (numbers, chord and key letters are read elsewhere)."""
    known = _vocabulary()
    out: list[str] = []
    for token in re.findall(r"[A-Za-z][A-Za-z'&-]*", text):
        if re.fullmatch(r"[A-E]{2,12}", token):
            continue  # a letter form ("AABA")
        word = token.lower().strip("'-")
        parts = [p for p in re.split(r"[-']", word) if p]
        if len(word) < 2 or word in known or all(p in known or len(p) < 2 for p in parts):
            continue
        if word.endswith("s") and (word[:-1] in known or word[:-2] in known):
            continue
        if re.fullmatch(r"[a-g](?:b|#)?(?:m|maj|min|dim|aug|sus\d?|\d+)*", word):
            continue  # a chord or key letter ("Am", "Bb", "C7")
        if word not in out:
            out.append(word)
    return tuple(out)


_COMMON_TYPOS = {"bmp": "bpm", "bpms": "bpm", "b.p.m": "bpm", "minr": "minor", "mnor": "minor", "majr": "major",
                 "mjor": "major"}


@lru_cache(maxsize=1)
def _correctable() -> tuple[str, ...]:
    """Single words worth correcting a typo to: style, instrument, mood, tempo and section words."""
    words: set[str] = set()
    phrases: list[str] = [*inst.ALIASES, *SECTION_NAMES[1:], *SECTION_SYNONYMS, *TEMPO_WORDS, *TEXTURE_WORDS,
                          "major", "minor", "chords", "seconds", "minutes", "bars"]
    for style in STYLES:
        phrases += style.keywords
    for mood_words in MOODS.values():
        phrases += mood_words
    for phrase in phrases:
        words.update(w for w in phrase.lower().split() if len(w) >= 4 and w.isalpha())
    return tuple(sorted(words))


def _inflection(a: str, b: str) -> bool:
    """Whether one word is the other with an ending ("mood"/"moody", "drum"/"drummer"): no typo."""
    short, long = sorted((a, b), key=len)
    return long.startswith(short) and long[len(short):] in ("y", "s", "es", "er", "ers", "ed", "ing", "ly", "ful")


def correct_typos(text: str) -> tuple[str, list[str]]:
    """The text with misspelt music words fixed ("pianno" -> "piano", "bmp" -> "bpm"), and a note per fix.
    Only words no table knows are touched, and only toward a close known word (difflib ratio >= 0.84)."""
    import difflib

    known = _vocabulary()
    targets = _correctable()
    fixes: dict[str, str] = {}

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        lowered = word.lower()
        if lowered in _COMMON_TYPOS:
            fixed = _COMMON_TYPOS[lowered]
        elif len(lowered) < 4 or lowered in known or (lowered.endswith("s") and lowered[:-1] in known):
            return word
        else:
            close = difflib.get_close_matches(lowered, targets, n=1, cutoff=0.84)
            # "mood" is a word, not a typo of "moody": leave words a known word merely extends
            if not close or _inflection(lowered, close[0]):
                return word
            fixed = close[0]
        if fixed != lowered:
            fixes[word] = fixed
        return fixed if fixed != lowered else word

    corrected = re.sub(r"(?<![\w.])[A-Za-z][A-Za-z.]*[A-Za-z](?![\w])", fix, text)
    return corrected, [f"read '{a}' as '{b}'" for a, b in fixes.items()]
