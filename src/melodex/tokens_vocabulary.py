"""The structure model's vocabulary: the fields of one compound event, their sizes and their values.

One event is one generation step: a vector of fields (kind, position, track, pitch, duration, ...),
as in Compound Word / Octuple, so a note costs one step instead of four. Time inside a bar is counted
in positions of 1/12 quarter note, which holds 16ths, 32nds and triplets exactly. Tempo is an exact
integer BPM (never binned), so a request for 97 BPM is obeyed. What may follow what is
`melodex.tokens_grammar`; a `Score` to events and back is `melodex.tokens`.
"""

from __future__ import annotations

import re

import numpy as np

from melodex.errors import MelodexError
from melodex.score import DRUM_PROGRAM, MAX_BPM, MIN_BPM, ROLES, TPQ, ChordSymbol

POSITIONS_PER_QUARTER = 12
TICKS_PER_POSITION = TPQ // POSITIONS_PER_QUARTER
MAX_POSITIONS = 192  # longest bar: 16 quarter notes
MAX_TRACKS = 16

KINDS = ("PAD", "BOS", "EOS", "TEMPO", "METER", "KEY", "TRACK", "BAR", "SECTION", "CHORD", "NOTE")
PAD, BOS, EOS, TEMPO, METER, KEY, TRACK, BAR, SECTION, CHORD, NOTE = range(len(KINDS))

FIELDS = (
    "kind", "pos", "track", "pitch", "dur", "vel", "tempo", "meter", "key", "program", "role", "section",
    "chord",
)
(F_KIND, F_POS, F_TRACK, F_PITCH, F_DUR, F_VEL, F_TEMPO, F_METER, F_KEY, F_PROGRAM, F_ROLE, F_SECTION,
 F_CHORD) = range(len(FIELDS))

SECTION_NAMES = (
    "-",  # a gap: bars that belong to no named section
    "intro", "verse", "pre-chorus", "chorus", "post-chorus", "bridge", "breakdown", "build", "drop",
    "solo", "interlude", "outro", "coda", "A", "B", "C", "D", "E",
)
CHORD_QUALITIES = ("maj", "min", "dim", "aug", "sus2", "sus4", "7", "maj7", "min7", "m7b5", "dim7", "6")
NO_CHORD = 12 * len(CHORD_QUALITIES)

DUR_VALUES = np.array(
    [*range(1, 49), *range(54, 97, 6), *range(108, 193, 12), *range(216, 385, 24)], dtype=np.int64
)  # in positions: exact up to a whole note, then coarser
VEL_VALUES = np.array([*range(8, 121, 8), 127], dtype=np.int64)
METERS = tuple(
    (num, den)
    for den in (1, 2, 4, 8, 16)
    for num in range(1, 17)
    if num * 4 * POSITIONS_PER_QUARTER % den == 0 and num * 4 * POSITIONS_PER_QUARTER // den <= MAX_POSITIONS
)
DRUM_PITCHES = range(27, 88)

FIELD_SIZES = {
    "kind": len(KINDS),
    "pos": MAX_POSITIONS,
    "track": MAX_TRACKS,
    "pitch": 128,
    "dur": len(DUR_VALUES),
    "vel": len(VEL_VALUES),
    "tempo": MAX_BPM - MIN_BPM + 1,
    "meter": len(METERS),
    "key": 24,
    "program": DRUM_PROGRAM + 1,
    "role": len(ROLES),
    "section": len(SECTION_NAMES),
    "chord": NO_CHORD + 1,
}
# Which fields each kind carries; the others are 0 and carry no meaning (models mask them).
KIND_FIELDS: dict[int, tuple[int, ...]] = {
    PAD: (), BOS: (), EOS: (), BAR: (),
    TEMPO: (F_TEMPO,),
    METER: (F_METER,),
    KEY: (F_KEY,),
    TRACK: (F_PROGRAM, F_ROLE),
    SECTION: (F_SECTION,),
    CHORD: (F_POS, F_CHORD),
    NOTE: (F_POS, F_TRACK, F_PITCH, F_DUR, F_VEL),
}
FIELD_USE = np.zeros((len(KINDS), len(FIELDS)), dtype=bool)
for _kind, _fields in KIND_FIELDS.items():
    FIELD_USE[_kind, [F_KIND, *_fields]] = True


class TokenError(MelodexError):
    """A score cannot be written as tokens, or a token sequence breaks the grammar."""


def meter_positions(meter_index: int) -> int:
    num, den = METERS[meter_index]
    return num * 4 * POSITIONS_PER_QUARTER // den


def meter_index(numerator: int, denominator: int) -> int:
    try:
        return METERS.index((numerator, denominator))
    except ValueError:
        raise TokenError(
            f"meter {numerator}/{denominator} is not supported (use a lower number 1-16 over 1, 2, 4, 8 or 16, "
            f"at most 16 quarter notes per bar)"
        ) from None


def section_base_name(name: str) -> str:
    """'verse 2' -> 'verse': repeated sections share one token and are numbered on decoding."""
    base = re.sub(r"\s+\d+$", "", name)
    if base not in SECTION_NAMES:
        raise TokenError(f"section name {name!r} is not one of: {', '.join(SECTION_NAMES[1:])}")
    return base


def chord_value(chord: ChordSymbol) -> int:
    if chord.quality not in CHORD_QUALITIES:
        raise TokenError(f"chord quality {chord.quality!r} is not one of {', '.join(CHORD_QUALITIES)}")
    return chord.root * len(CHORD_QUALITIES) + CHORD_QUALITIES.index(chord.quality)


def bar_and_position(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bar index (counting BAR events) and in-bar position of every event, for position embeddings."""
    events = np.asarray(events)
    bars = np.cumsum(events[:, F_KIND] == BAR) - 1
    return np.maximum(bars, 0), np.where(FIELD_USE[events[:, F_KIND], F_POS], events[:, F_POS], 0)
