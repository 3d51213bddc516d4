"""Instrument names: the General MIDI table, everyday words for it, and the role each usually plays."""

from __future__ import annotations

import re

from melodex.errors import MelodexError
from melodex.score import DRUM_PROGRAM

GM_NAMES = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet", "Celesta", "Glockenspiel",
    "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells", "Dulcimer", "Drawbar Organ",
    "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion", "Harmonica",
    "Tango Accordion", "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)",
    "Electric Guitar (clean)", "Electric Guitar (muted)", "Overdriven Guitar", "Distortion Guitar",
    "Guitar Harmonics", "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass",
    "Slap Bass 1", "Slap Bass 2", "Synth Bass 1", "Synth Bass 2", "Violin", "Viola", "Cello", "Contrabass",
    "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani", "String Ensemble 1",
    "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs", "Synth Voice",
    "Orchestra Hit", "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section",
    "Synth Brass 1", "Synth Brass 2", "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe",
    "English Horn", "Bassoon", "Clarinet", "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle",
    "Shakuhachi", "Whistle", "Ocarina", "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)",
    "Lead 4 (chiff)", "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)",
    "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)", "FX 1 (rain)", "FX 2 (soundtrack)",
    "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)", "FX 6 (goblins)", "FX 7 (echoes)",
    "FX 8 (sci-fi)", "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom", "Synth Drum",
    "Reverse Cymbal", "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring",
    "Helicopter", "Applause", "Gunshot",
)
GM_FAMILIES = (
    "piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass", "reed",
    "pipe", "synth lead", "synth pad", "synth effects", "ethnic", "percussive", "sound effects",
)

# Everyday words -> GM program, longest phrases first when matching. "808" means the sub-bass of the
# drum machine; its kit is added by the style, not by this word.
ALIASES: dict[str, int] = {
    "grand piano": 0, "piano": 0, "keys": 4, "electric piano": 4, "e-piano": 4, "rhodes": 4, "wurlitzer": 5,
    "harpsichord": 6, "clavinet": 7, "celesta": 8, "glockenspiel": 9, "bells": 9, "music box": 10,
    "vibraphone": 11, "marimba": 12, "xylophone": 13, "organ": 16, "hammond": 16,
    "church organ": 19, "accordion": 21, "harmonica": 22, "nylon guitar": 24, "classical guitar": 24,
    "acoustic guitar": 25, "guitar": 25, "jazz guitar": 26, "electric guitar": 27, "clean guitar": 27,
    "muted guitar": 28, "overdriven guitar": 29, "distorted guitar": 30, "distortion guitar": 30,
    "upright bass": 32, "double bass": 32, "acoustic bass": 32, "bass": 33, "electric bass": 33,
    "bass guitar": 33, "fretless bass": 35, "slap bass": 36, "synth bass": 38, "808": 38, "sub bass": 38,
    "violin": 40, "fiddle": 40, "viola": 41, "cello": 42, "contrabass": 43, "pizzicato": 45, "harp": 46,
    "timpani": 47, "strings": 48, "string section": 48, "string ensemble": 48, "synth strings": 50,
    "choir": 52, "voices": 53, "vocals": 54, "trumpet": 56, "trombone": 57, "tuba": 58,
    "french horn": 60, "horn": 60, "horns": 61, "brass": 61, "synth brass": 62, "soprano sax": 64,
    "alto sax": 65, "sax": 65, "saxophone": 65, "tenor sax": 66, "baritone sax": 67, "oboe": 68,
    "english horn": 69, "bassoon": 70, "clarinet": 71, "piccolo": 72, "flute": 73, "recorder": 74,
    "pan flute": 75, "whistle": 78, "ocarina": 79, "square lead": 80, "chiptune": 80, "lead synth": 81,
    "synth lead": 81, "saw lead": 81, "lead": 81, "synth": 81, "pad": 89, "synth pad": 89, "warm pad": 89,
    "new age pad": 88, "poly synth": 90, "polysynth": 90, "choir pad": 91, "halo pad": 94, "sweep pad": 95,
    "sitar": 104, "banjo": 105, "shamisen": 106, "koto": 107, "kalimba": 108, "bagpipe": 109,
    "bagpipes": 109, "steel drums": 114, "taiko": 116,
    "drums": DRUM_PROGRAM, "drum kit": DRUM_PROGRAM, "drum machine": DRUM_PROGRAM, "beat": DRUM_PROGRAM,
    "beats": DRUM_PROGRAM, "percussion": DRUM_PROGRAM, "808 drums": DRUM_PROGRAM, "breakbeat": DRUM_PROGRAM,
    "snare drum": DRUM_PROGRAM, "snare": DRUM_PROGRAM, "drum": DRUM_PROGRAM, "hi-hats": DRUM_PROGRAM,
    "hihats": DRUM_PROGRAM, "kick drum": DRUM_PROGRAM, "drumbeat": DRUM_PROGRAM,
    # compound names: one instrument each (matched before their parts)
    "rhodes piano": 4, "fender rhodes": 4, "rhodes keys": 4, "electric keys": 4, "wurlitzer piano": 5, "wurli": 5,
    "acoustic piano": 0, "upright piano": 0, "piano keys": 0, "honky tonk piano": 3, "honky-tonk piano": 3,
    "toy piano": 8, "keyboard": 0, "keyboards": 0, "hammond organ": 16, "b3 organ": 16, "b3": 16,
    "rock organ": 18, "pipe organ": 19, "nylon string guitar": 24, "nylon-string guitar": 24,
    "spanish guitar": 24, "flamenco guitar": 24, "ukulele": 24, "lute": 24, "steel string guitar": 25,
    "steel-string guitar": 25, "twelve string guitar": 25, "12-string guitar": 25, "mandolin": 25,
    "rhythm guitar": 27, "lead guitar": 29, "electric lead guitar": 29, "guitar riff": 30, "guitar riffs": 30,
    "power chords": 30, "heavy guitar": 30, "heavy guitars": 30, "metal guitar": 30, "crunchy guitar": 29,
    "funky guitar": 28, "wah guitar": 28, "twangy guitar": 27, "surf guitar": 27, "slide guitar": 25,
    "bass line": 33, "bassline": 33, "basslines": 33, "finger bass": 33, "picked bass": 34, "jazz bass": 32,
    "stand-up bass": 32, "standup bass": 32, "moog bass": 38, "reese bass": 38, "wobble bass": 39,
    "acid bass": 39, "303": 39, "tb-303": 39, "bass synth": 38, "808 bass": 38, "sub-bass": 38,
    "string quartet strings": 48, "orchestral strings": 48, "lush strings": 48, "string pad": 50,
    "violins": 40, "erhu": 110, "pizzicato strings": 45, "plucked strings": 45, "mellotron": 48,
    "female vocals": 52, "female vocal": 52, "male vocals": 52, "male vocal": 52, "vocal": 54,
    "vocal chops": 54, "vocal chop": 54, "singing": 52, "singer": 52, "humming": 53, "ooh vocals": 53,
    "aah vocals": 52, "backing vocals": 53, "gospel choir": 52, "choir vocals": 52, "whistling": 78,
    "tin whistle": 78, "penny whistle": 78, "flutes": 73, "trumpets": 56, "muted trumpet": 59,
    "saxes": 65, "tenor saxophone": 66, "alto saxophone": 65, "soprano saxophone": 64, "baritone saxophone": 67,
    "brass section": 61, "horn section": 61, "synth brass stabs": 62, "brass stabs": 61,
    "synthesizer": 81, "synthesizers": 81, "synths": 81, "analog synth": 81, "supersaw": 81,
    "supersaw lead": 81, "arpeggiator": 81, "arpeggio": 81, "arpeggios": 81, "arp": 81, "arps": 81,
    "chip lead": 80, "square wave": 80, "pluck": 81, "synth pluck": 81, "plucks": 81, "pads": 89,
    "ambient pad": 89, "atmospheric pad": 94, "drone pad": 89, "glockenspiel bells": 9, "trap bells": 9,
    "celeste": 8, "steel pan": 114, "steelpan": 114, "hand drums": DRUM_PROGRAM, "congas": DRUM_PROGRAM,
    "bongos": DRUM_PROGRAM, "tabla": DRUM_PROGRAM, "bodhran": DRUM_PROGRAM, "cajon": DRUM_PROGRAM,
    "shaker": DRUM_PROGRAM, "tambourine": DRUM_PROGRAM, "claps": DRUM_PROGRAM, "handclaps": DRUM_PROGRAM,
    "hand claps": DRUM_PROGRAM, "cymbals": DRUM_PROGRAM, "kick": DRUM_PROGRAM, "kicks": DRUM_PROGRAM,
    "hi-hat": DRUM_PROGRAM, "hihat": DRUM_PROGRAM, "hi hats": DRUM_PROGRAM, "drum loop": DRUM_PROGRAM,
    "drum beat": DRUM_PROGRAM, "drumming": DRUM_PROGRAM, "drummer": DRUM_PROGRAM, "808s": DRUM_PROGRAM,
    "909": DRUM_PROGRAM, "tr-808 drums": DRUM_PROGRAM, "trap drums": DRUM_PROGRAM, "boom bap drums": DRUM_PROGRAM,
    "breakbeats": DRUM_PROGRAM, "amen break": DRUM_PROGRAM, "rimshot": DRUM_PROGRAM, "snares": DRUM_PROGRAM,
    "sitar drone": 104, "harmonium": 20, "concertina": 21, "bandoneon": 23, "recorders": 74,
}
# Ensembles: one word, several instruments.
ENSEMBLES: dict[str, tuple[int, ...]] = {
    "string quartet": (40, 40, 41, 42), "piano trio": (0, 40, 42), "jazz trio": (0, 32, DRUM_PROGRAM),
    "power trio": (30, 33, DRUM_PROGRAM), "rhythm section": (33, DRUM_PROGRAM), "big band": (56, 57, 65, 0, 32,
                                                                                            DRUM_PROGRAM),
    "brass quintet": (56, 56, 60, 57, 58), "wind quintet": (73, 68, 71, 60, 70), "orchestra": (48, 73, 60, 47),
    "full orchestra": (48, 73, 60, 42, 47), "string orchestra": (48, 42, 43), "rock band": (30, 27, 33, DRUM_PROGRAM),
    "full band": (0, 27, 33, DRUM_PROGRAM),
}


class InstrumentError(MelodexError):
    """An instrument name that matches no General MIDI program or everyday alias."""


def family(program: int) -> str:
    return "drums" if program == DRUM_PROGRAM else GM_FAMILIES[program // 8]


def program_name(program: int) -> str:
    return "Drum Kit" if program == DRUM_PROGRAM else GM_NAMES[program]


def default_role(program: int) -> str:
    """The part an instrument most often plays in an arrangement."""
    if program == DRUM_PROGRAM:
        return "drums"
    fam = family(program)
    if fam == "bass" or program in (43, 58, 70):
        return "bass"
    if fam in ("synth pad", "ensemble") or program in (19, 20, 44, 48, 49, 50, 51, 52, 53, 54):
        return "pad"
    if fam in ("piano", "organ", "guitar", "chromatic percussion") or program in (45, 46):
        return "accompaniment"
    return "melody"


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9+#() -]", " ", text.lower()).strip()


_BY_NAME = {_normalise(name): program for program, name in enumerate(GM_NAMES)}


def lookup(name: str) -> int:
    """A GM program for a name ('cello', 'Synth Bass 1', 'upright bass', '808', 'program 33')."""
    key = _normalise(name)
    key = re.sub(r"\s+", " ", key)
    if key in ALIASES:
        return ALIASES[key]
    if key in _BY_NAME:
        return _BY_NAME[key]
    match = re.fullmatch(r"(?:program|gm)\s*(\d{1,3})", key)
    if match and 0 <= int(match.group(1)) <= 127:
        return int(match.group(1))
    close = [alias for alias in ALIASES if key and (key in alias or alias in key)][:5]
    hint = f" (did you mean {', '.join(close)}?)" if close else " (try a General MIDI name or 'program N')"
    raise InstrumentError(f"unknown instrument {name!r}{hint}")


_PHRASES = {**{a: (p,) for a, p in ALIASES.items()}, **ENSEMBLES}
_ALIAS_PATTERN = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(a) for a in sorted(_PHRASES, key=len, reverse=True)) + r")s?(?![\w-])"
)
# "no drums", "without any bass", "drumless", "no percussion or vocals"
_NEGATION = re.compile(r"\b(?:no|without(?:\s+any)?|minus|sans|lacks?|lacking|absent|zero)\s+$")
_LESS = {"drumless": DRUM_PROGRAM, "beatless": DRUM_PROGRAM}
_NOT_INSTRUMENTS = re.compile(r"\b(?:drum\s*(?:and|&|n|'n'|n')\s*bass|dnb|d&b|bass\s+music|bass\s+house|"
                              r"lead(?:s|ing)?\s+(?:to|into|up|in)\b|beat\s+(?:tape|maker)|keys?\s+of|"
                              r"in\s+the\s+key|key\s+change|piano\s+house|organ\s+house|guitar\s+music)",
                              re.IGNORECASE)


def find_in_text(text: str) -> list[tuple[str, int]]:
    """Instrument words in free text, in order of appearance: [(word, program)] (an ensemble gives several)."""
    return [(word, program) for word, programs, negated in find_mentions(text) if not negated
            for program in programs]


def find_mentions(text: str) -> list[tuple[str, tuple[int, ...], bool]]:
    """Every instrument phrase: (phrase, programs, negated). "no drums" and "drumless" are negated;
    genre names made of instrument words ("drum and bass", "piano house") are not instruments."""
    lowered = _NOT_INSTRUMENTS.sub(lambda m: " " * len(m.group(0)), text.lower())
    found: list[tuple[str, tuple[int, ...], bool]] = []
    last_end, last_negated = -1, False
    for match in _ALIAS_PATTERN.finditer(lowered):
        word = match.group(1)
        before = lowered[max(0, match.start() - 30):match.start()]
        # "no drums or bass": a negation carries over a list joined by "or", "and", "nor" or commas
        joined = re.fullmatch(r"\s*(?:,|or|and|nor|, or|, and)?\s*", lowered[last_end:match.start()])
        negated = bool(_NEGATION.search(before)) or (last_negated and joined is not None)
        found.append((word, _PHRASES[word], negated))
        last_end, last_negated = match.end(), negated
    for word, program in _LESS.items():
        if re.search(rf"\b{word}\b", lowered):
            found.append((word, (program,), True))
    return found
