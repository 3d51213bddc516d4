"""Attributes and natural-language captions for each corpus work, used later for text conditioning.

Attributes are the facts a prompt can ask for (style, key, meter, tempo, parts, length, ...);
captions are several differently-worded sentences made only from those attributes, so a caption
never claims more than the source supports (estimated and assigned values are marked as such).
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import numpy as np

from melodex.data import sources
from melodex.score import DRUM_PROGRAM, PITCH, PITCH_CLASSES, Key, TimeSignature

# GM program names for the programs the corpus uses; others are named by their GM family.
PROGRAM_NAMES = {
    0: "piano",
    1: "bright piano",
    2: "electric grand",
    4: "electric piano",
    6: "harpsichord",
    19: "church organ",
    24: "nylon guitar",
    40: "violin",
    41: "viola",
    42: "cello",
    43: "contrabass",
    46: "harp",
    48: "strings",
    52: "choir",
    53: "voice",
    56: "trumpet",
    57: "trombone",
    60: "horn",
    68: "oboe",
    70: "bassoon",
    71: "clarinet",
    73: "flute",
    74: "recorder",
    DRUM_PROGRAM: "drum kit",
}
GM_FAMILIES = (
    "piano",
    "chromatic percussion",
    "organ",
    "guitar",
    "bass",
    "strings",
    "ensemble",
    "brass",
    "reed",
    "pipe",
    "synth lead",
    "synth pad",
    "synth effects",
    "ethnic instrument",
    "percussion",
    "sound effect",
)
CHORD_SUFFIXES = {"maj": "", "min": "m", "min7": "m7", "dim": "dim", "aug": "aug", "7": "7", "maj7": "maj7"}
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def program_name(program: int) -> str:
    return PROGRAM_NAMES.get(program, GM_FAMILIES[min(program, 127) // 8])


def pitch_name(midi: int) -> str:
    return f"{PITCH_CLASSES[midi % 12]}{midi // 12 - 1}"


def _part_kind(collection: str, source: str, parts: list[dict[str, Any]]) -> str:
    programs = [p["program"] for p in parts]
    if all(p == DRUM_PROGRAM for p in programs):
        return "drum pattern"
    if source.endswith(".rntxt") or ".rntxt#" in source:
        return "chord progression"
    if len(parts) == 1:
        return "single melody"
    if all(p in (52, 53, 54) for p in programs):
        return "four-part chorale" if collection == "bach" and len(parts) == 4 else "vocal polyphony"
    if len(parts) == 4 and sorted(programs) == [40, 40, 41, 42]:
        return "string quartet"
    if all(p < 8 for p in programs):
        return "keyboard"
    return "ensemble"


def make_attributes(record: dict[str, Any], notes: np.ndarray) -> dict[str, Any]:
    """The JSON attributes of one converted work (record from the build cache, notes (n, 4))."""
    header, facts, meta = record["score"], record["facts"], record["meta"]
    collection = record["collection"]
    source = sources.collection(collection)
    tracks = header["tracks"]
    is_drums = all(t["program"] == DRUM_PROGRAM for t in tracks)
    parts = []
    for index, track in enumerate(tracks):
        program_source = (facts.get("program_sources") or ["source"] * len(tracks))[index]
        instrument = source.instrument if program_source == "assigned" else program_name(track["program"])
        parts.append(
            {
                "name": track["name"],
                "program": track["program"],
                "role": track["role"],
                "instrument": instrument,
                "program_source": program_source,
            }
        )
    rhythm = sources.rhythm_name(meta.get("rhythm_field", "")) if not is_drums else ""
    origin = sources.origin_adjective(meta.get("origin", ""))
    style = meta.get("style") or source.style
    if collection == "essenFolksong" and origin:
        style = f"{origin} folk song"
    pitched = (
        notes[
            np.isin(
                np.repeat([t["program"] for t in tracks], [t["n_notes"] for t in tracks]), [DRUM_PROGRAM], invert=True
            )
        ]
        if len(notes)
        else notes
    )
    n_bars = int(header["n_bars"])
    _, numerator, denominator = header["time_signatures"][0]
    meter = facts.get("meter") or str(TimeSignature(numerator, denominator))
    key = Key(int(header["key"][0]), str(header["key"][1]))
    chords = header["chords"]
    if chords:
        chords_source = "roman numeral analysis" if ".rntxt" in record["source"] else "source"
    else:
        chords_source = "none" if is_drums else "estimated"
    shown = chords if chords else record["estimated_chords"]
    opening: list[str] = []
    for _, root, quality in shown:
        name = f"{PITCH_CLASSES[root]}{CHORD_SUFFIXES.get(quality, quality)}"
        if not opening or opening[-1] != name:
            opening.append(name)
        if len(opening) == 4:
            break
    tempos = header["tempos"]
    attributes: dict[str, Any] = {
        "id": record["id"],
        "collection": collection,
        "style": style,
        "rhythm": rhythm,
        "title": meta.get("title", ""),
        "composer": meta.get("composer", ""),
        "source": record["source"],
        "key": None if is_drums else str(key),
        "tonic": None if is_drums else PITCH_CLASSES[key.tonic],
        "mode": None if is_drums else facts.get("mode", key.mode),
        "key_source": "none" if is_drums else facts.get("key_source", "source"),
        "key_estimated": False if is_drums else facts.get("key_source", "source") != "source",
        "meter": meter,
        "meter_changes": int(facts.get("meter_changes", 0)),
        "tempo_bpm": float(tempos[0][1]),
        "tempo_changes": len(tempos) - 1,
        "tempo_source": facts.get("tempo_source", "source"),
        "tempo_assigned": facts.get("tempo_source", "source") == "assigned",
        "n_parts": len(tracks),
        "part_kind": _part_kind(collection, record["source"], parts),
        "parts": parts,
        "pitch_range": [int(pitched[:, PITCH].min()), int(pitched[:, PITCH].max())] if len(pitched) else None,
        "n_bars": n_bars,
        "n_notes": len(notes),
        "note_density": round(len(notes) / max(1, n_bars), 2),
        "sections": "".join(s[0] for s in header["sections"]),
        "chords_source": chords_source,
        "chords_estimated": chords_source == "estimated",
        "n_source_chords": len(chords),
        "opening_chords": opening,
        "skipped_grace": int(facts.get("skipped_grace", 0)),
        "skipped_unpitched": int(facts.get("skipped_unpitched", 0)),
    }
    if is_drums:
        attributes["drum_instruments"] = meta.get("drum_instruments", [])
    return attributes


def _tempo_word(bpm: float) -> str:
    if bpm < 70:
        return "slow"
    if bpm < 100:
        return "gentle"
    if bpm < 130:
        return "moderate"
    if bpm < 170:
        return "lively"
    return "fast"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _count_word(n: int) -> str:
    return NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else str(n)


def make_captions(attributes: dict[str, Any]) -> list[str]:
    """4-6 differently-worded sentences describing a work, chosen deterministically from its id."""
    a = attributes
    rng = random.Random(int(hashlib.sha256(a["id"].encode()).hexdigest()[:16], 16))
    bpm = round(a["tempo_bpm"])
    pace = _tempo_word(a["tempo_bpm"])
    bars = a["n_bars"]
    bars_text = f"{bars} bar{'s' if bars != 1 else ''}"
    if a["part_kind"] == "drum pattern":
        kit = ", ".join(a.get("drum_instruments", [])[:5]) or "a drum kit"
        style = a["style"]
        return [
            f"{_article(pace).capitalize()} {pace} {style} at {bpm} BPM in {a['meter']}, {bars_text} of {kit}.",
            f"{style[0].upper() + style[1:]}, {a['meter']} time, {bpm} BPM, {bars_text} long.",
            f"Drums only: {kit}; {bars_text} at {bpm} BPM.",
            f"A {a['meter']} groove for drum kit at {bpm} beats per minute with about "
            f"{a['note_density']:.0f} hits per bar.",
        ]
    key = f"{a['tonic']} {a['mode']}"
    style = a["rhythm"] if a["rhythm"] else a["style"]
    if a["rhythm"] and a["style"] and a["rhythm"] not in a["style"]:
        style = f"{a['style'].split(' ')[0]} {a['rhythm']}" if a["collection"] != "essenFolksong" else a["rhythm"]
    instruments = sorted({p["instrument"] for p in a["parts"]})
    if a["part_kind"] == "single melody":
        texture = f"a single {a['parts'][0]['instrument']} melody"
    elif a["part_kind"] == "four-part chorale":
        texture = "four voices (soprano, alto, tenor, bass)"
    elif a["part_kind"] == "vocal polyphony":
        texture = f"{_count_word(a['n_parts'])} independent voices"
    elif a["part_kind"] == "chord progression":
        texture = "block chords"
    elif a["part_kind"] == "string quartet":
        texture = "a string quartet"
    else:
        texture = f"{_count_word(a['n_parts'])} parts ({', '.join(instruments)})"
    lo, hi = a["pitch_range"]
    captions = [
        f"{_article(pace).capitalize()} {pace} {style} in {key}, {a['meter']} at {bpm} BPM, {texture} of {bars_text}.",
        f"{style[0].upper() + style[1:]} for {texture}: {a['meter']} time, {key}, about {bpm} BPM.",
        f"{bars_text[0].upper() + bars_text[1:]} in {a['meter']} and {key}, {texture}, "
        f"ranging from {pitch_name(lo)} to {pitch_name(hi)}.",
        f"{'A dense' if a['note_density'] > 12 else 'A sparse' if a['note_density'] < 4 else 'A'} "
        f"{a['mode']} piece with about {a['note_density']:.0f} notes per bar, {pace} at {bpm} BPM.",
    ]
    if a["sections"] and len(a["sections"]) > 1:
        captions.append(f"{style[0].upper() + style[1:]} in {key} with form {a['sections']}, {bars_text} in all.")
    if a["opening_chords"] and a["chords_source"] != "estimated":
        captions.append(f"Harmony opens {' - '.join(a['opening_chords'])}; {key}, {a['meter']}, {bpm} BPM.")
    elif a["title"] and rng.random() < 0.5:
        captions.append(f'"{a["title"]}", {_article(style)} {style} in {key}.')
    return captions[:6]
