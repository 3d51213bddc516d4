"""What each source collection is: its style, the instrument and tempo typical of it, and its licence.

The corpus files rarely say which instrument plays a tune or how fast; where they do not, the
build assigns the values below and marks them as assigned in the work's attributes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CHOIR = 52  # GM "choir aahs": vocal polyphony without a named instrument
PIANO = 0
VIOLIN, VIOLA, CELLO, CONTRABASS = 40, 41, 42, 43
FLUTE = 73

MUSIC21_LICENCE = (
    "music21 corpus: distributed with music21 with the permission of the encoders; see music21's "
    "corpus/license.txt. Works are out of copyright in the US or licensed for use; some encodings "
    "restrict commercial use."
)
ESSEN_LICENCE = (
    "Essen folksong database (ABC encodings by Seymour Shlien): permission given for non-commercial "
    "distribution and use in music21 (corpus/essenFolksong/license.txt). Non-commercial use only."
)
HYDROGEN_LICENCE = "Debian hydrogen-data: GPL-2+ (see /usr/share/doc/hydrogen-data/copyright)."
LMMS_LICENCE = (
    "Debian lmms-common: GPL-2+ overall; some demo projects are Artistic-2, BSD-2-clause, CC-BY-SA-3 or "
    "CC-BY-SA-4 (see /usr/share/doc/lmms-common/copyright)."
)


@dataclass(frozen=True)
class Collection:
    """A source collection and the defaults that describe its music."""

    name: str
    style: str  # used in captions: "an Irish folk tune", ...
    program: int  # GM program for a part whose source names no instrument
    instrument: str  # what that program is called in captions
    tempo: float  # quarter notes per minute typical of the style, used when the source has none
    vocal: bool = False
    licence: str = MUSIC21_LICENCE


COLLECTIONS: dict[str, Collection] = {
    c.name: c
    for c in (
        Collection("essenFolksong", "folk song", FLUTE, "flute", 100.0, licence=ESSEN_LICENCE),
        Collection("oneills1850", "Irish folk tune", VIOLIN, "fiddle", 120.0),
        Collection("ryansMammoth", "traditional fiddle tune", VIOLIN, "fiddle", 120.0),
        Collection("airdsAirs", "Scottish air", FLUTE, "flute", 100.0),
        Collection("miscFolk", "folk tune", FLUTE, "fife", 110.0),
        Collection("nottingham-dataset", "English folk dance tune", VIOLIN, "fiddle", 120.0),
        Collection("bach", "Bach chorale", CHOIR, "choir", 80.0, vocal=True),
        Collection("palestrina", "Renaissance mass movement", CHOIR, "choir", 128.0, vocal=True),
        Collection("josquin", "Renaissance chanson", CHOIR, "choir", 120.0, vocal=True),
        Collection("lusitano", "Renaissance motet", CHOIR, "choir", 120.0, vocal=True),
        Collection("monteverdi", "Monteverdi madrigal", CHOIR, "choir", 100.0, vocal=True),
        Collection("trecento", "Trecento song", CHOIR, "voices", 90.0, vocal=True),
        Collection("ciconia", "late medieval motet", CHOIR, "voices", 90.0, vocal=True),
        Collection("luca", "medieval chant", CHOIR, "voices", 80.0, vocal=True),
        Collection("beethoven", "Beethoven piece", PIANO, "piano", 110.0),
        Collection("mozart", "Mozart piece", VIOLIN, "strings", 110.0),
        Collection("haydn", "Haydn string quartet", VIOLIN, "strings", 110.0),
        Collection("leadSheet", "lead sheet song", PIANO, "piano", 110.0),
        Collection("hydrogen", "drum pattern", 128, "drum kit", 120.0, licence=HYDROGEN_LICENCE),
        Collection("lmms", "drum pattern", 128, "drum kit", 120.0, licence=LMMS_LICENCE),
    )
}


def collection(name: str) -> Collection:
    """The collection called `name`; unknown music21 folders get a generic classical description."""
    found = COLLECTIONS.get(name)
    if found is not None:
        return found
    return Collection(name, "classical piece", PIANO, "piano", 100.0)


# Part names -> GM program, for parts whose music21 instrument carries no MIDI program.
_PART_PROGRAMS = (
    (r"violoncell|cello", CELLO),
    (r"viola", VIOLA),
    (r"violin|violino|fiddle", VIOLIN),
    (r"contrabass|double bass|basso continuo|continuo", CONTRABASS),
    (r"piano|klavier|pianoforte|keyboard", PIANO),
    (r"harpsichord|cembalo", 6),
    (r"organ|organo", 19),
    (r"flute|flauto|fife", FLUTE),
    (r"oboe", 68),
    (r"clarinet", 71),
    (r"bassoon|fagott", 70),
    (r"horn|corno", 60),
    (r"trumpet|tromba", 56),
    (r"trombone", 57),
    (r"guitar|lute|liuto", 24),
    (r"harp", 46),
)
_VOICE_NAMES = re.compile(
    r"soprano|alto|tenor|bass|basso|cantus|altus|quintus|sextus|septimus|canto|voice|vox|triplum|"
    r"superius|contratenor|tenore|choir|chor|discantus|motetus",
    re.IGNORECASE,
)


def is_voice_name(name: str) -> bool:
    """Whether a part name names a singing voice (Soprano, Cantus, Tenor, ...)."""
    return bool(_VOICE_NAMES.search(name))


def program_for_part(name: str, source: Collection) -> tuple[int, str]:
    """GM program for a part named `name` in a collection, and how it was chosen."""
    lowered = name.lower()
    for pattern, program in _PART_PROGRAMS:
        if re.search(pattern, lowered):
            return program, "part name"
    if source.vocal or _VOICE_NAMES.search(lowered):
        return CHOIR, "vocal part"
    return source.program, "assigned"


# Dance and song types named in ABC "R:" fields, in the words a caption should use.
_RHYTHMS = (
    ("slip ?jig", "slip jig"),
    ("double jig", "double jig"),
    ("single jig", "single jig"),
    ("jig", "jig"),
    ("reel", "reel"),
    ("hornpipe", "hornpipe"),
    ("strathspey", "strathspey"),
    ("polka", "polka"),
    ("mazurka", "mazurka"),
    ("waltz|walzer", "waltz"),
    ("schottisch", "schottische"),
    ("march|marsch", "march"),
    ("slide", "slide"),
    ("set dance", "set dance"),
    ("fling", "fling"),
    ("country dance", "country dance"),
    ("minuet|menuett", "minuet"),
    ("air|aria", "air"),
    ("wiegen", "lullaby"),
    ("kinder", "children's song"),
    ("liebes", "love song"),
    ("ballade", "ballad"),
    ("soldaten|kriegs", "soldiers' song"),
    ("religi", "religious song"),
    ("trink", "drinking song"),
    ("tanz", "dance song"),
    ("arbeit|haozi", "work song"),
    ("shange", "mountain song"),
    ("xiaodiao", "ditty"),
)


def rhythm_name(field: str) -> str:
    """The dance or song type an ABC "R:" field names, in English ('' if none is recognised)."""
    lowered = field.lower()
    for pattern, name in _RHYTHMS:
        if re.search(pattern, lowered):
            return name
    return ""


# Quarter-note tempos typical of dance types (dotted-quarter dances converted to quarters).
RHYTHM_TEMPOS = {
    "reel": 200.0,
    "jig": 165.0,
    "double jig": 165.0,
    "single jig": 165.0,
    "slip jig": 165.0,
    "slide": 180.0,
    "hornpipe": 150.0,
    "strathspey": 120.0,
    "polka": 200.0,
    "march": 112.0,
    "waltz": 150.0,
    "mazurka": 140.0,
    "air": 76.0,
    "lullaby": 72.0,
}


def typical_tempo(source: Collection, rhythm: str, numerator: int, denominator: int) -> float:
    """A tempo typical of the style, for sources that give none."""
    if rhythm in RHYTHM_TEMPOS:
        return RHYTHM_TEMPOS[rhythm]
    compound = denominator == 8 and numerator % 3 == 0 and numerator > 3
    if compound:
        return round(source.tempo * 1.3)
    return source.tempo


def origin_adjective(origin: str) -> str:
    """'Chinese', 'German', ... from an Essen "O:" field such as 'China, Shaanxi, Zizhou'."""
    lowered = origin.lower()
    for word, adjective in (
        ("china", "Chinese"),
        ("deutsch", "German"),
        ("germany", "German"),
        ("lothring", "Lorraine"),
        ("luxemb", "Luxembourgish"),
        ("irland", "Irish"),
        ("ireland", "Irish"),
        ("schweiz", "Swiss"),
        ("oesterreich", "Austrian"),
        ("osterreich", "Austrian"),
        ("elsass", "Alsatian"),
        ("niederland", "Dutch"),
        ("polen", "Polish"),
        ("boehmen", "Bohemian"),
        ("frankreich", "French"),
        ("schlesien", "Silesian"),
    ):
        if word in lowered:
            return adjective
    return ""
