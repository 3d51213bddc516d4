"""The band a prompt asks for: the instruments it names, completed by the style's band.

Naming one instrument in a named style ("rock song with distorted guitar") keeps the rest of its band,
the named one in place of the style's instrument of the same family; naming several keeps the style's
rhythm section (bass and drums) when the style has one and the prompt names neither. "solo", "only",
"just", "a cappella" and "on piano and cello" keep exactly what was named; with no style named, the
named instruments are the band. "no drums", "without bass" take instruments out.
"""

from __future__ import annotations

import re

from melodex import instruments as inst
from melodex.brief_styles import Style
from melodex.score import DRUM_PROGRAM
from melodex.tokens_vocabulary import MAX_TRACKS

_EXACT = re.compile(r"\b(?:solo|only|just|alone|unaccompanied|a cappella|a capella|acapella|nothing but|"
                    r"by itself|on its own|duet|duo)\b", re.IGNORECASE)
# "guitar solo" inside a song is a solo section, not a solo instrument: only "solo X" or a prompt that
# starts "X solo" asks for one instrument alone.
_SOLO_SECTION = re.compile(r"(?<!^)\b(?:a|the|with|and|plus)\s+(?:\w+\s+){1,2}solos?\b", re.IGNORECASE)
# "a love song on piano and cello", "a piece for flute": the named instruments are the performers
_PERFORMED_ON = r"\b(?:on|for|performed by|played by|played on)\s+(?:an?\s+|the\s+|two\s+|solo\s+)*"


def assign_roles(programs: list[int], chord_parts: frozenset[int] = frozenset()) -> tuple[tuple[int, str], ...]:
    """Roles for a band: the first melodic voice leads; a band without a melody voice gets one, unless the
    prompt named its chord part as such ("piano chords, synth bass and drums" is a backing track: the
    piano plays chords, as the accompaniments the model learned from without their tune do)."""
    roles = [inst.default_role(p) for p in programs]
    for i, p in enumerate(programs):
        if p in chord_parts and roles[i] not in ("bass", "drums"):
            roles[i] = "accompaniment"
    if programs and "melody" not in roles and not chord_parts:
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


# "piano chords", "organ stabs", "guitar comping": the instrument named just before plays the chords
_CHORD_PART = re.compile(r"((?:[\w-]+\s+){0,2}[\w-]+)\s+(?:chords?|stabs?|comping|comps)\b", re.IGNORECASE)


def chord_parts(text: str) -> frozenset[int]:
    """Programs the prompt names as its chord part."""
    parts: set[int] = set()
    for match in _CHORD_PART.finditer(text):
        mentions = [programs for _, programs, negated in inst.find_mentions(match.group(1)) if not negated]
        if mentions and len(mentions[-1]) == 1:
            parts.update(mentions[-1])
    return frozenset(parts)


# "no bass" rules out every bass, "no guitars" every guitar: words that name a whole family
_FAMILY_WORDS = {"bass": "bass", "guitar": "guitar", "piano": "piano", "keys": "piano", "strings": "strings",
                 "drums": "drums", "drum": "drums", "percussion": "drums", "beat": "drums", "beats": "drums",
                 "synth": "synth lead", "brass": "brass", "horns": "brass", "organ": "organ"}


def named_programs(text: str) -> tuple[list[int], set[int]]:
    """Programs the prompt names (ensembles may repeat one, e.g. two violins) and those it rules out."""
    named: list[int] = []
    ruled_out: set[int] = set()
    ensembles: set[str] = set()  # families an ensemble ("jazz trio", "string quartet") already brought
    for word, programs, negated in inst.find_mentions(text):
        if negated:
            ruled_out.update(programs)
            if word in _FAMILY_WORDS:
                ruled_out.update(p for p in range(129) if inst.family(p) == _FAMILY_WORDS[word])
            continue
        if len(programs) > 1:
            ensembles.update(inst.family(p) for p in programs)
            named += list(programs)
        elif inst.family(programs[0]) in ensembles:  # "jazz trio with piano, bass and drums": its members
            ensembles.discard(inst.family(programs[0]))
        elif programs[0] not in named:
            named.append(programs[0])
    # "no drums" also rules out the style's drums; a named-and-negated instrument stays out
    return [p for p in named if p not in ruled_out], ruled_out


def band_for(text: str, style: Style, notes: list[str],
             style_named: bool = True) -> tuple[tuple[tuple[int, str], ...], str]:
    """(program, role) per track and where the band came from. The style's band completes the named
    instruments only when the prompt named the style ("calm piano" alone is a piano)."""
    named, ruled_out = named_programs(text)
    pitched = [p for p in named if p != DRUM_PROGRAM]
    mentions = [word for word, _, negated in inst.find_mentions(text) if not negated]
    performed = bool(mentions) and re.search(_PERFORMED_ON + re.escape(mentions[0]), text, re.IGNORECASE)
    exact = (bool(_EXACT.search(_SOLO_SECTION.sub(" ", text))) or bool(performed)) and bool(pitched)
    style_band = [p for p in style.band if p not in ruled_out]
    if not named:
        programs, source = style_band, "style"
    elif not pitched:  # only a beat was named: the style brings the pitched parts
        programs, source = [p for p in style_band if p != DRUM_PROGRAM] + [DRUM_PROGRAM], "prompt + style"
    elif exact or not style_named:
        programs, source = named, "prompt"
    else:
        families = {inst.family(p) for p in named}
        if len(pitched) == 1:
            added = [p for p in style_band if inst.family(p) not in families]
        else:  # a band without a rhythm section was named: the style's bass and drums join it, if it has them
            has_rhythm = DRUM_PROGRAM in style.band and not families & {"bass", "drums"}
            added = [p for p in style_band if has_rhythm and inst.family(p) in ("bass", "drums")]
        programs = named + [p for p in added if p not in named]
        source = "prompt + style" if added else "prompt"
        if added:
            said = ", ".join(inst.program_name(p) for p in added)
            notes.append(f"the {style.name} band adds {said} to what you named (say 'only' to keep just yours)")
    if len(programs) > MAX_TRACKS:
        dropped = ", ".join(inst.program_name(p) for p in programs[MAX_TRACKS:])
        notes.append(f"Melodex writes at most {MAX_TRACKS} tracks: {dropped} left out")
        programs = programs[:MAX_TRACKS]
    if not programs:
        notes.append("every instrument was ruled out: a piano plays")
        programs = [0]
    return assign_roles(programs, chord_parts(text) & set(programs)), source
