"""Chords written in a prompt: "chords Am F C G", "verse: Am F | C G", "I-V-vi-IV in G", "12-bar blues in A".

A chord symbol is read by a small table of suffixes onto the structure model's chord qualities
(`melodex.tokens_vocabulary.CHORD_QUALITIES`); extended chords (9ths, 13ths, add9, slash basses) are played as
the nearest quality the model knows, with a note. A token that looks like a chord but is none is a
clear error. Progressions loop over the section (or the piece) they belong to, one chord per bar
unless bar lines ("|") group several chords into a bar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from melodex.errors import MelodexError
from melodex.score import CHORD_SUFFIX, ChordSymbol, Key
from melodex.tokens_vocabulary import CHORD_QUALITIES, chord_value

_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

# suffix -> (quality, note when the chord is played as something simpler); case matters ("M7" vs "m7").
_SUFFIXES: dict[str, tuple[str, str | None]] = {
    "": ("maj", None), "maj": ("maj", None), "M": ("maj", None), "major": ("maj", None),
    "m": ("min", None), "min": ("min", None), "mi": ("min", None), "-": ("min", None), "minor": ("min", None),
    "dim": ("dim", None), "°": ("dim", None), "o": ("dim", None),
    "aug": ("aug", None), "+": ("aug", None),
    "sus2": ("sus2", None), "sus4": ("sus4", None), "sus": ("sus4", None),
    "7": ("7", None), "dom7": ("7", None),
    "maj7": ("maj7", None), "M7": ("maj7", None), "ma7": ("maj7", None), "Δ": ("maj7", None), "Δ7": ("maj7", None),
    "m7": ("min7", None), "min7": ("min7", None), "mi7": ("min7", None), "-7": ("min7", None),
    "m7b5": ("m7b5", None), "min7b5": ("m7b5", None), "-7b5": ("m7b5", None), "ø": ("m7b5", None),
    "ø7": ("m7b5", None),
    "dim7": ("dim7", None), "°7": ("dim7", None), "o7": ("dim7", None),
    "6": ("6", None),
    # played as the nearest quality the model knows
    "5": ("maj", "power chord"), "add9": ("maj", "add9 chord"), "add2": ("maj", "add2 chord"),
    "madd9": ("min", "minor add9 chord"), "m6": ("min", "minor sixth chord"),
    "min6": ("min", "minor sixth chord"), "mmaj7": ("min", "minor-major seventh"),
    "mM7": ("min", "minor-major seventh"), "9": ("7", "ninth chord"), "11": ("7", "eleventh chord"),
    "13": ("7", "thirteenth chord"), "7b9": ("7", "altered dominant"), "7#9": ("7", "altered dominant"),
    "7b5": ("7", "altered dominant"), "7#5": ("7", "altered dominant"), "7#11": ("7", "altered dominant"),
    "7alt": ("7", "altered dominant"), "aug7": ("7", "augmented seventh"), "+7": ("7", "augmented seventh"),
    "7sus4": ("sus4", "suspended dominant"), "7sus": ("sus4", "suspended dominant"),
    "maj9": ("maj7", "major ninth"), "M9": ("maj7", "major ninth"), "maj11": ("maj7", "major eleventh"),
    "maj13": ("maj7", "major thirteenth"), "m9": ("min7", "minor ninth"), "min9": ("min7", "minor ninth"),
    "m11": ("min7", "minor eleventh"), "m13": ("min7", "minor thirteenth"), "69": ("6", "six-nine chord"),
    "6/9": ("6", "six-nine chord"),
}
_SHAPE = {"maj": "major triads", "min": "minor triads", "7": "dominant sevenths", "maj7": "major sevenths",
          "min7": "minor sevenths", "sus4": "sus4 chords", "6": "sixth chords"}
_SUFFIX_RE = "|".join(re.escape(s) for s in sorted(_SUFFIXES, key=len, reverse=True) if s)
# A whole chord token: root, accidental, quality suffix, optional slash bass.
_CHORD = re.compile(rf"([A-Ga-g])(#|♯|b|♭)?({_SUFFIX_RE})?(?:/([A-G])(#|♯|b|♭)?)?")
# Something that starts like a chord (a root letter and chord-ish characters) but may not be one.
_CHORDISH = re.compile(r"[A-G](?:#|♯|b|♭)?[0-9a-zA-Z#♯♭+°øΔ()/-]*")
_TONES = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8), "sus2": (0, 2, 7),
          "sus4": (0, 5, 7), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10),
          "m7b5": (0, 3, 6, 10), "dim7": (0, 3, 6, 9), "6": (0, 4, 7, 9)}
assert set(_TONES) == set(CHORD_QUALITIES) == set(CHORD_SUFFIX)

_ROMAN = re.compile(r"(b|♭|#|♯)?(VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)(°|o|ø|\+|maj7|M7|7)?(?![A-Za-z])")
_ROMAN_DEGREES = {"i": 0, "ii": 2, "iii": 4, "iv": 5, "v": 7, "vi": 9, "vii": 11}
_MINOR_DEGREES = {"i": 0, "ii": 2, "iii": 3, "iv": 5, "v": 7, "vi": 8, "vii": 10}
MAX_CHORDS_PER_BAR = 4  # a chord a beat in 4/4: more would squeeze chord events closer than the model writes
BLUES_12 = ("I7", "I7", "I7", "I7", "IV7", "IV7", "I7", "I7", "V7", "IV7", "I7", "V7")  # the common form


class ChordError(MelodexError):
    """A chord symbol in the prompt that names no chord."""


@dataclass(frozen=True)
class Progression:
    """Chords as written for one section (None: the whole piece), grouped into bars."""

    section: str | None
    bars: tuple[tuple[str, ...], ...]  # canonical chord names per bar


def chord_name(root: int, quality: str, key: Key | None = None) -> str:
    """The canonical spelling: 'Am', 'F', 'G7', 'Bbmaj7', 'F#m7b5'; in a key, as that key writes it."""
    return ChordSymbol(0, root % 12, quality).name(key)


def _pitch(letter: str, accidental: str | None) -> int:
    shift = {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental or "", 0)
    return (_LETTERS[letter.upper()] + shift) % 12


def parse_chord(symbol: str) -> tuple[int, str, str | None]:
    """(root, quality, note) for a chord symbol; the note says how an unusual chord is played."""
    text = symbol.strip().replace("(", "").replace(")", "")
    m = _CHORD.fullmatch(text)
    if m is None or (not m.group(1).isupper() and m.group(3) not in (None, "m", "maj", "min", "7", "m7", "maj7")):
        raise ChordError(f"unknown chord {symbol!r}: write chords like Am, F, G7, Bbmaj7, F#m7b5, Bdim or Csus4")
    quality, approx = _SUFFIXES[m.group(3) or ""]
    if approx:
        return _pitch(m.group(1), m.group(2)), quality, f"{approx}s are played as {_SHAPE[quality]}"
    if m.group(4):
        return _pitch(m.group(1), m.group(2)), quality, "slash chords' bass notes are left to the model"
    return _pitch(m.group(1), m.group(2)), quality, None


def chord_symbols(name: str) -> tuple[int, str]:
    """(root, quality) of a canonical chord name, as the structure model's chord events carry them."""
    root, quality, _ = parse_chord(name)
    return root, quality


def chord_token(name: str) -> int:
    """The structure model's chord value of a chord name ('Am' -> A minor's value, see `chord_value`)."""
    return chord_value(ChordSymbol(0, *chord_symbols(name)))


def roman_chord(numeral: str, key: Key) -> str:
    """'vi' in G major -> 'Em'; 'V7' in A minor -> 'E7'; 'bVII' -> a flat seventh degree."""
    m = _ROMAN.fullmatch(numeral)
    if m is None:
        raise ChordError(f"{numeral!r} is not a roman-numeral chord (write I, ii, V7, bVII, vii°)")
    accidental, degree, suffix = m.groups()
    lower = degree.lower()
    # A flat or sharp counts from the major scale (bVII is a whole step under the tonic in any mode);
    # a plain numeral takes the key's own scale degree (VII in A minor is G).
    table = _MINOR_DEGREES if key.mode == "minor" and not accidental else _ROMAN_DEGREES
    root = key.tonic + table[lower] + {"b": -1, "♭": -1, "#": 1, "♯": 1}.get(accidental or "", 0)
    minor = degree.islower()
    quality = {"°": "dim", "o": "dim", "ø": "m7b5", "+": "aug"}.get(suffix or "")
    if quality is None:
        seventh = suffix in ("7", "maj7", "M7")
        if suffix in ("maj7", "M7"):
            quality = "maj7"
        elif seventh:
            quality = "min7" if minor else "7"
        else:
            quality = "min" if minor else "maj"
    return chord_name(root, quality)


# -- finding progressions in a prompt -------------------------------------------------------------

_SECTIONS = r"(intro|verse|pre-?chorus|chorus|bridge|outro|solo|interlude|breakdown|drop|build|coda)"
# "chords Am F C G", "verse chords: Am F", "chorus progression C G Am F"
_TRIGGER = re.compile(rf"(?:\b{_SECTIONS}\s*)?\b(?:chords?|chord progression|progression|changes|harmony)\b"
                      r"\s*(?:of|are|is|like|on|over|:|=)?\s*", re.IGNORECASE)
# "verse: Am F C G", "chorus on C G Am F"
_SECTION_COLON = re.compile(rf"\b{_SECTIONS}\s*(?:on\s+|:\s*|=\s*)", re.IGNORECASE)
_SECTION_TRIGGER = re.compile(rf"{_SECTIONS}\s+(?:chords?|chord progression|progression|changes)\b", re.IGNORECASE)
_SEPARATOR = re.compile(r"\s*(?:,|->|→|>|–|—|\s-\s|-(?=[A-Gb#♯♭IViv])|\s|\|)\s*")
# one token: up to a separator; a dash separates only when a chord follows it ("Am-F", not "A-minor")
_WORD = re.compile(r"[^\s,|–—>→]+?(?=-[A-Gb#♯♭IViv]|[\s,|–—>→]|$)")
# A capital letter and a chord suffix: meant as a chord, but no root we know ("Hm", "X7")
_BAD_ROOT = re.compile(r"[H-Z][#b♯♭]?(?:m|maj|min|dim|aug|sus|[0-9])[\w#♯♭+°ø/]*")
_TRAILING_TRIGGER = re.compile(r"\s*(?:chords?|chord progression|progression|changes)\b", re.IGNORECASE)
_MODE_WORD = re.compile(r"\s*(?:major|minor|maj|min|key)\b", re.IGNORECASE)
_BLUES = re.compile(r"\b(12|twelve)[\s-]*bar\s+blues\b", re.IGNORECASE)


_SMALL_WORDS = frozenset(("and", "the", "for", "in", "on", "to", "at", "by", "or", "of", "an", "as", "is", "it",
                          "but", "so", "no", "all", "two", "one", "up"))


def _chord_follows(text: str, pos: int) -> bool:
    """Whether the next word after `pos` (past separators) is a chord name or a roman numeral."""
    sep = _SEPARATOR.match(text, pos)
    word = _WORD.match(text, sep.end() if sep else pos)
    token = word.group(0).rstrip(".;:!?") if word else ""
    return (_CHORD.fullmatch(token) is not None and token[:1].isupper()) or (
        len(token) > 1 and _ROMAN.fullmatch(token) is not None) or token in ("I", "V")


# A word in a chord's place that is meant as one: a letter and chord marks ("H", "X7", "Hm", "Imaj9", "xi")
_MEANT_AS_CHORD = re.compile(r"[A-Z][#b♯♭]?(?:[0-9#♯♭+°øΔ/()-]|m|maj|min|dim|aug|sus|add)*[\w#♯♭+°øΔ/()]*|"
                             r"[b#♯♭]?[ivxIVX]+[\w#♯♭+°ø]*")


def _read_sequence(text: str, start: int, key: Key | None) -> tuple[list[list[str]], int, list[str], bool]:
    """Chord tokens from `start`: bars of canonical names, where the sequence ends, notes, and whether
    roman numerals were used. Stops at the first word that is neither a chord nor a separator."""
    bars: list[list[str]] = [[]]
    notes: list[str] = []
    pos, used_bar_lines, roman = start, False, False
    while pos < len(text):
        sep = _SEPARATOR.match(text, pos)
        if sep and sep.end() > pos:
            if pos > start and (_SECTION_COLON.match(text, sep.end()) or _SECTION_TRIGGER.match(text, sep.end())):
                break  # "verse: Am F | chorus: C G": the bar line ends the verse's chords, not a bar of them
            if "|" in sep.group(0):
                used_bar_lines = True
                if bars[-1]:
                    bars.append([])
            pos = sep.end()
            continue
        word = _WORD.match(text, pos)
        if word is None:
            break
        token = word.group(0).rstrip(".;:!?")
        numeral = _ROMAN.fullmatch(token)
        if numeral and (roman or not _CHORD.fullmatch(token)):
            if key is None:  # until the prompt's key is known; then the chords are read again in it
                key = Key(0, "minor" if token.lstrip("b♭#♯").startswith("i") and
                          not token.lstrip("b♭#♯").startswith(("ii", "iv")) else "major")
            bars[-1].append(roman_chord(token, key))
            roman = True
        elif _CHORD.fullmatch(token.replace("(", "").replace(")", "")) and (token[0].isupper() or len(token) <= 3):
            if token == "a":  # the article
                break
            root, quality, note = parse_chord(token)
            if note:
                notes.append(f"{note} ({token})")
            bars[-1].append(chord_name(root, quality))
        elif (_CHORDISH.fullmatch(token) and not token[1:].isalpha()) or (
                _BAD_ROOT.fullmatch(token) and any(bars) and not _ROMAN.fullmatch(token)):
            raise ChordError(f"unknown chord {token!r} in {text[start:pos + len(token)].strip()!r}: write chords "
                             "like Am, F, G7, Bbmaj7, F#m7b5, Bdim or Csus4")
        elif _CHORDISH.fullmatch(token) and len(token) <= 3 and token[1:].islower() and token not in (
                "Am", "Bb", "Eb", "Ab", "Db", "Gb", "Cb", "Fb"):
            raise ChordError(f"unknown chord {token!r}: write chords like Am, F, G7, Bbmaj7, F#m7b5, Bdim or Csus4")
        elif ((any(bars) and token[:1].isupper() and len(token) <= 3 and token.lower() not in _SMALL_WORDS
               and _chord_follows(text, pos + len(token))) or (
               pos == start and _MEANT_AS_CHORD.fullmatch(token) and token.lower() not in _SMALL_WORDS
               and (len(token) <= 2 or not token[1:].isalpha()) and _chord_follows(text, pos + len(token))) or (
               roman and _MEANT_AS_CHORD.fullmatch(token) and token.lower() not in _SMALL_WORDS
               and _chord_follows(text, pos + len(token)))):
            # a capitalised short word between chords ("chords Am F Xq G") is a chord misspelt: before, the
            # progression silently stopped there and G was lost
            raise ChordError(f"unknown chord {token!r} in {text[start:pos + len(token)].strip()!r}: write chords "
                             "like Am, F, G7, Bbmaj7, F#m7b5, Bdim or Csus4")
        else:
            break
        pos += len(token)
        if token != word.group(0):  # punctuation after a chord ends the progression
            break
    if not bars[-1]:
        bars.pop()
    crowded = next((bar for bar in bars if len(bar) > MAX_CHORDS_PER_BAR), None)
    if used_bar_lines and crowded:
        raise ChordError(f"{len(crowded)} chords in one bar ({' '.join(crowded)}): at most {MAX_CHORDS_PER_BAR}; "
                         "split them over bars with '|'")
    if not used_bar_lines:  # one chord per bar
        bars = [[c] for bar in bars for c in bar]
    return bars, pos, notes, roman


def read_chords(text: str, key: Key | None, what: str = "chords") -> tuple[tuple[str, ...], ...]:
    """A progression given on its own (`--chords`, `rechord`): every word a chord name or, in `key`, a roman
    numeral; '|' between bars (else one chord a bar); commas and dashes also separate. Unlike a prompt, where
    a progression ends at the first word that is not a chord, any other word here is an error naming it."""
    bars: list[list[str]] = []
    bar_lines = "|" in text
    for group in (text.split("|") if bar_lines else [text]):
        names: list[str] = []
        for token in re.split(r"[\s,;]+|->|[→–—>]|(?<=\S)-(?=[A-Gb#♯♭IViv])", group.strip()):
            if not token.strip("-"):  # a dash standing between chords ("Am - F")
                continue
            if _ROMAN.fullmatch(token):
                if key is None:
                    raise ChordError(f"{what}: {token!r} is a roman numeral and the key is not known: give a key "
                                     "(e.g. --key 'G major') or write chord names like Am, F, G7")
                names.append(roman_chord(token, key))
            elif _CHORD.fullmatch(token.replace("(", "").replace(")", "")) and token[0].isupper():
                root, quality, _ = parse_chord(token)
                names.append(chord_name(root, quality))
            else:
                raise ChordError(f"{what}: unknown chord {token!r}: write chords like Am, F, G7, Bbmaj7, F#m7b5, "
                                 "Bdim or Csus4, one a bar ('Am F C G') or several in a bar ('Am F | C G')")
        if bar_lines and len(names) > MAX_CHORDS_PER_BAR:
            raise ChordError(f"{what}: {len(names)} chords in one bar ({' '.join(names)}): at most "
                             f"{MAX_CHORDS_PER_BAR}; split them over bars with '|'")
        if bar_lines and names:
            bars.append(names)
        elif names:
            bars.extend([n] for n in names)
    if not bars:
        raise ChordError(f"{what}: no chords in {text!r}: write them like \"Am F C G\" (one a bar) or "
                         "\"Am F | C G\" (two a bar)")
    return tuple(tuple(bar) for bar in bars)


def find_progressions(text: str, key: Key | None) -> tuple[list[Progression], str, list[str]]:
    """Progressions in the prompt, the text with them removed, and notes about how chords are played."""
    found: list[tuple[int, int, Progression]] = []
    notes: list[str] = []
    for pattern in (_TRIGGER, _SECTION_COLON):
        for m in pattern.finditer(text):
            if any(a <= m.start() < b for a, b, _ in found):
                continue
            bars, end, said, _ = _read_sequence(text, m.end(), key)
            # one chord is a progression only for a named section ("bridge chords Dm", "outro: C"); alone it
            # may be a key ("chords A minor") or a word
            single = len(bars) == 1 and m.group(1) and not _MODE_WORD.match(text, end)
            if len(bars) >= 2 or single:
                section = m.group(1).lower().replace("prechorus", "pre-chorus") if m.group(1) else None
                found.append((m.start(), end, Progression(section, tuple(tuple(b) for b in bars))))
                notes += said
    # "Am-F-C-G progression" / "I-V-vi-IV": chords joined by dashes, named before the trigger word or alone
    for m in re.finditer(r"(?<![\w#/])((?:[A-G][#b♯♭]?[\w#♯♭°ø+]*|[b#]?[IViv]+[°o7]?)(?:\s*[-–]\s*"
                         r"(?:[A-G][#b♯♭]?[\w#♯♭°ø+]*|[b#]?[IViv]+[°o7]?)){2,})(?![\w-])", text):
        if any(a <= m.start() < b for a, b, _ in found):
            continue
        try:
            bars, end, said, _ = _read_sequence(text, m.start(), key)
        except ChordError:
            continue  # a dashed run with a non-chord in it is something else ("A-minor", "lo-fi")
        trailing = _TRAILING_TRIGGER.match(text, end)
        if re.fullmatch(r"[A-E](?:\s*[-–]\s*[A-E])+", m.group(1)) and not trailing:
            continue  # "A-B-A" is a form, not chords
        if end >= m.end() and len(bars) >= 3:
            found.append((m.start(), trailing.end() if trailing else end, Progression(None, tuple(map(tuple, bars)))))
            notes += said
    rest = text
    grouped: dict[str, list[str]] = {}
    for note in notes:
        what, _, symbol = note.rpartition(" (")
        grouped.setdefault(what, []).append(symbol.rstrip(")"))
    notes = [f"{what} ({', '.join(dict.fromkeys(symbols))})" for what, symbols in grouped.items()]
    for a, b, _ in sorted(found, key=lambda f: f[0], reverse=True):
        rest = rest[:a] + " " + rest[b:]
    return [p for _, _, p in sorted(found, key=lambda f: f[0])], rest, notes


def find_blues(text: str) -> bool:
    return _BLUES.search(text) is not None


def strip_blues(text: str) -> str:
    """The text without "12-bar blues", whose bar count is the blues form's, not a length."""
    return _BLUES.sub(" blues ", text)


def blues_progression(key: Key) -> Progression:
    return Progression(None, tuple((roman_chord(n, Key(key.tonic, "major")),) for n in BLUES_12))


def _pitch_classes(name: str) -> tuple[int, ...]:
    """The pitch classes of a chord name's tones ('Am' -> 9, 0, 4)."""
    root, quality = chord_symbols(name)
    return tuple((root + t) % 12 for t in _TONES[quality])


def key_from_chords(chords: list[str]) -> Key:
    """The key the chords fit best: most chord tones in the scale, then a tonic chord present, first, last."""
    symbols = [chord_symbols(c) for c in chords]
    chord_tones = [_pitch_classes(c) for c in chords]
    best: tuple[float, int, Key] | None = None
    for index in range(24):
        key = Key.from_index(index)
        scale = set(key.scale)
        fit = sum(sum(pc in scale for pc in tones) / len(tones) for tones in chord_tones)
        tonic_quality = ("min", "min7") if key.mode == "minor" else ("maj", "maj7", "6", "7")
        is_tonic = [r == key.tonic and q in tonic_quality for r, q in symbols]
        score = fit + 0.5 * any(is_tonic) + 0.25 * is_tonic[0] + 0.2 * is_tonic[-1]
        if best is None or score > best[0] + 1e-9:
            best = (score, index, key)
    assert best is not None
    return best[2]


def outside_key(chords: list[str], key: Key) -> list[str]:
    """The chords (each once, in order) with a tone outside `key`'s scale (in minor, the melodic and harmonic
    minor's raised sixth and seventh count as in: E7 in A minor is its dominant): played as written, but a
    listener hears them as borrowed or as another key, so the brief says so."""
    scale = set(key.scale) | ({(key.tonic + 9) % 12, (key.tonic + 11) % 12} if key.mode == "minor" else set())
    return list(dict.fromkeys(c for c in chords if not set(_pitch_classes(c)) <= scale))


def _base(name: str) -> str:
    """'chorus 2' -> 'chorus': the section a numbered repeat belongs to."""
    return re.sub(r"\s+\d+$", "", name)


def expand(progressions: list[Progression], sections: tuple[tuple[str, int], ...] | None,
           n_bars: int) -> tuple[tuple[str, ...], ...]:
    """Chords per bar of the piece: each section loops its own progression, else the piece's; () = free."""
    whole = next((p for p in progressions if p.section is None), None)
    by_section = {p.section: p for p in progressions if p.section is not None}
    spans = [(name, bars) for name, bars in sections] if sections else [(None, n_bars)]
    out: list[tuple[str, ...]] = []
    for name, bars in spans:
        base = _base(name) if name else None
        progression = by_section.get(base) if base else None
        progression = progression or whole
        if progression is None:
            out += [()] * bars
            continue
        loop = progression.bars
        # The piece's progression runs on through the sections instead of restarting at each one.
        offset = len(out) if progression is whole and not by_section else 0
        out += [loop[(offset + i) % len(loop)] for i in range(bars)]
    return tuple(out)


def cut_notes(progressions: list[Progression], sections: tuple[tuple[str, int], ...] | None,
              n_bars: int) -> list[str]:
    """What `expand` leaves out, said: a progression longer than the section (or piece) it plays in is cut
    to that many bars, and a progression for a section the form does not have plays nowhere."""
    notes = []
    names = {_base(name) for name, _ in sections} if sections else set()
    spans = [(name, bars) for name, bars in sections] if sections else [("the piece", n_bars)]
    for progression in progressions:
        if progression.section is not None and progression.section not in names:
            notes.append(f"the chords given for the {progression.section} play nowhere: the form has no "
                         f"{progression.section} (add one, e.g. '{progression.section} 8')")
            continue
        if progression.section is None:
            longest = n_bars
            where = "the piece"
        else:
            longest = max(bars for name, bars in spans if _base(name) == progression.section)
            where = f"the {progression.section}"
        if len(progression.bars) > longest:
            kept = " | ".join(" ".join(bar) for bar in progression.bars[:longest])
            notes.append(f"{len(progression.bars)} bars of chords for {where}, which has {longest}: the first "
                         f"{longest} play ({kept}); give {where} more bars or put two chords in a bar "
                         "with '|' between bars")
    return notes


def describe(chords: tuple[tuple[str, ...], ...], sections: tuple[tuple[str, int], ...] | None) -> str:
    """'verse: Am | F | C | G (looped); chorus: ...' for `melodex brief`."""
    spans = list(sections) if sections else [("piece", len(chords))]
    parts, bar, shown = [], 0, set()
    for name, n in spans:
        bars = chords[bar:bar + n]
        bar += n
        period = next(p for p in range(1, len(bars) + 1) if all(bars[i] == bars[i % p] for i in range(len(bars))))
        text = " | ".join(" ".join(b) or "-" for b in bars[:period]) + (" (looped)" if period < len(bars) else "")
        if (name, text) in shown:
            continue
        shown.add((name, text))
        parts.append(f"{name}: {text}" if sections else text)
    return "; ".join(parts)
