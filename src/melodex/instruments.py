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
    "vibraphone": 11, "vibes": 11, "marimba": 12, "xylophone": 13, "organ": 16, "hammond": 16,
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


_ALIAS_PATTERN = re.compile(
    r"\b(" + "|".join(re.escape(a) for a in sorted(ALIASES, key=len, reverse=True)) + r")s?\b"
)


def find_in_text(text: str) -> list[tuple[str, int]]:
    """Instrument words in free text, in order of appearance: [(word, program)]."""
    found: list[tuple[str, int]] = []
    for match in _ALIAS_PATTERN.finditer(text.lower()):
        word = match.group(1)
        found.append((word, ALIASES[word]))
    return found
