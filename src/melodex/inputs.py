"""User text before anything reads it: one normal form, and a clear refusal of what cannot be text.

Prompts, keys, meters and sound descriptions arrive from a terminal, a JSON body or Python. Before a
pattern or the text model sees them they are put in Unicode normal form NFKC (fullwidth and superscript
digits become ASCII digits, the long s "ſ" an "s", ligatures their letters), the two letters whose case
mapping changes their length (Turkish "İ" and "ı") become "I" and "i", and control characters become
spaces. Lone surrogates (undecodable bytes on the command line, or "\\ud800" in JSON) are refused: they
are not text, and the text model cannot read them.
"""

from __future__ import annotations

import re
import unicodedata

from melodex.brief_form import BriefError
from melodex.errors import MelodexError

# Meters are read over these note values; "a/b" over anything else in a prompt is a mistake, not a meter.
METER_DENOMINATORS = (1, 2, 4, 8, 16)
_FRACTION = re.compile(r"(?<![\d/.])(\d{1,2})\s*/\s*(\d{1,2})(?![\d/.])")
_NOT_METERS = {(24, 7), (9, 11)}  # "24/7", "9/11": everyday phrases, not meters
_CASE_TRAPS = str.maketrans({"İ": "I", "ı": "i"})


def clean_text(text: str, what: str = "the prompt") -> str:
    """`text` in NFKC with controls as spaces; MelodexError for lone surrogates (not text at all)."""
    if not isinstance(text, str):
        raise MelodexError(f"{what} must be text, not {type(text).__name__}")
    bad = next((i for i, c in enumerate(text) if 0xD800 <= ord(c) <= 0xDFFF), None)
    if bad is not None:
        raise MelodexError(f"{what} is not valid text (an undecodable character at position {bad + 1}): "
                           "write it again in UTF-8")
    text = unicodedata.normalize("NFKC", text).translate(_CASE_TRAPS)
    return "".join(" " if unicodedata.category(c) in ("Cc", "Cf") and c not in "\t\n" else c for c in text)


def clean_prompt(prompt: str) -> str:
    """A prompt ready for parsing: `clean_text`, and a fraction that looks like a meter but is none refused."""
    text = clean_text(prompt)
    for match in _FRACTION.finditer(text):
        top, bottom = int(match.group(1)), int(match.group(2))
        if bottom <= 16 and bottom not in METER_DENOMINATORS and (top, bottom) not in _NOT_METERS and 1 <= top <= 16:
            raise BriefError(f"{match.group(0)!r} is not a meter Melodex can play: the lower number is a note "
                               f"value ({', '.join(map(str, METER_DENOMINATORS))}), e.g. {top}/8")
    return text
