"""Song form: which bars of a piece repeat which, layer by layer, and where the harmony must cadence.

A listener hears a song as form, harmony and groove before notes. The structure model writes every note,
but a piece is planned first (ARCHITECTURE.md, "Composition is hierarchical"):

- sections with the same name are linked: a repeated chorus is the first chorus again (its last bar may
  end differently, the drums may fill), a second verse keeps the first verse's chords and groove under a
  new melody, and an outro comes back to the main section's harmony;
- inside a section, phrases answer phrases: the second four bars open like the first (a a'), loop-based
  styles keep a four-bar chord loop with the bass and harmony parts that go with it, and the drums keep
  the groove of the section's second bar, with a fill in its last bar;
- the harmony establishes the key: the tonic chord on the first and last bar of the piece, and a tonic or
  dominant chord closing every other section, except in loop styles, whose sections end where the loop
  does (I-V-vi-IV ends on IV). With those cadences too, the loop styles' generated plans sat on the tonic
  in 0.74 of their bars and changed chord at 0.43 of bar lines, where their training accompaniment has
  0.42 and 0.64 (98 tuning prompts x 2 seeds; 0.65 and 0.54 without; docs/RESULTS.md "Songs, session 8").

`song_form` turns a plan's sections into a `SongForm`: for each (bar, layer), the earlier bar whose
material that layer copies, or nothing (the model writes it). Copying only ever takes what the model
wrote itself; the form says where, never which notes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from melodex.score import ROLES

LAYERS = ("chords", "melody", "bass", "harmony", "drums")
# The layer of each track role: a role's notes repeat with the other tracks of its layer.
ROLE_LAYER = {"melody": "melody", "lead": "melody", "counter": "melody", "bass": "bass", "drums": "drums",
              "harmony": "harmony", "accompaniment": "harmony", "pad": "harmony"}
assert set(ROLE_LAYER) == set(ROLES)

# Styles built on loops (a repeating chord cycle under a steady groove), as the brief names them.
LOOP_STYLES = frozenset({"pop", "rock", "house", "hip hop", "synthwave", "lo-fi", "funk", "chiptune", "reggae",
                         "country"})
# Sections whose repeat varies the melody (new words over the same music); the others repeat whole.
VARIED_REPEATS = frozenset({"verse", "pre-chorus", "bridge", "solo", "interlude", "breakdown", "build"})
# The section the intro previews and the outro returns to: the first of these the form has.
MAIN_SECTIONS = ("chorus", "drop", "A", "verse")

TONIC = "tonic"
TONIC_OR_DOMINANT = "tonic or dominant"


@dataclass(frozen=True)
class SongForm:
    """Where each bar's material comes from, and where the harmony cadences.

    `sources[(bar, layer)]` is the earlier bar whose events of `layer` this bar copies; a (bar, layer)
    missing from it is written by the model. `cadences[bar]` is TONIC or TONIC_OR_DOMINANT: the chord that
    bar opens on (only for bars whose chords the model writes). `links[i]` is, for the i-th section, the
    index of the section it repeats (None for a first occurrence).
    """

    n_bars: int
    sources: dict[tuple[int, str], int] = field(default_factory=dict)
    cadences: dict[int, str] = field(default_factory=dict)
    links: tuple[int | None, ...] = ()

    def copies(self, bar: int) -> dict[str, int]:
        """{layer: source bar} for one bar."""
        return {layer: self.sources[(bar, layer)] for layer in LAYERS if (bar, layer) in self.sources}


def base_name(name: str) -> str:
    """'chorus 2' -> 'chorus': a section's name without its number."""
    return re.sub(r"\s+\d+$", "", name)


def song_form(sections: Sequence[tuple[str, int]], style: str | None = None,
              unlinked: Sequence[int] = (), *, loop_cadences: bool = False, intro_link: bool = True) -> SongForm:
    """The form of a piece made of `sections` ((name, bars) in order) in `style`.

    `unlinked` are indices of sections that do not repeat their namesake (a repeat rewritten on its own).
    `loop_cadences` False: in loop styles only the piece's first and last bars cadence. `intro_link` False:
    the main section does not open with the intro's harmony.
    """
    starts, bar = [], 0
    for _, n in sections:
        starts.append(bar)
        bar += n
    n_bars = bar
    sources: dict[tuple[int, str], int] = {}
    cadences: dict[int, str] = {}
    first: dict[str, int] = {}
    links: list[int | None] = []
    loops = style in LOOP_STYLES
    section_cadences = loop_cadences or not loops
    for index, (name, n) in enumerate(sections):
        base = base_name(name)
        link = first.get(base) if index not in unlinked else None
        links.append(link)
        first.setdefault(base, index)
        start = starts[index]
        last_section = index == len(sections) - 1
        if link is not None:
            source_start, source_n = starts[link], sections[link][1]
            for j in range(min(n, source_n)):
                for layer in LAYERS:
                    sources[(start + j, layer)] = source_start + j
                if base in VARIED_REPEATS and j >= min(n, source_n) - max(1, min(n, source_n) // 4):
                    del sources[(start + j, "melody")]  # a new melody for its last quarter
            end = start + min(n, source_n) - 1
            if n <= source_n and not last_section:
                for layer in ("melody", "drums"):  # a new ending, a fill into the next section
                    sources.pop((end, layer), None)
            if n > source_n:  # it goes on past its source: its own last bar cadences (written fresh)
                _cadence(cadences, start + n - 1, last_section, section_cadences)
            elif n < source_n or last_section:  # it ends elsewhere than its source: it cadences itself
                for layer in ("chords", "bass", "harmony", "melody"):
                    sources.pop((end, layer), None)
                _cadence(cadences, end, last_section, section_cadences)
            rest = range(source_n, n)
        else:
            rest = range(n)
            _cadence(cadences, start + n - 1, last_section, section_cadences)
        _within(sources, start, n, rest, loops)
    if n_bars and (0, "chords") not in sources:
        cadences[0] = TONIC
    _intro_and_outro(sections, starts, links, sources, cadences, intro_link)
    return SongForm(n_bars, sources, cadences, tuple(links))


def _cadence(cadences: dict[int, str], bar: int, last_section: bool, section_cadences: bool) -> None:
    """A section's closing bar cadences: on the tonic if it ends the piece, else on the tonic or dominant
    where the style's sections cadence."""
    if last_section or section_cadences:
        cadences[bar] = TONIC if last_section else TONIC_OR_DOMINANT


def _within(sources: dict[tuple[int, str], int], start: int, n: int, bars: range, loops: bool) -> None:
    """Phrase repeats, chord loops and the drum groove inside one section (for its bars `bars`)."""
    period = 4 if n >= 8 and n % 4 == 0 else 2 if n in (4, 6) else 0
    for j in bars:
        bar = start + j
        if j == n - 1:
            continue  # the section's last bar: a cadence and a fill, written fresh
        if n >= 4 and j >= 2:  # the groove of the section's second bar (its first may open with a crash)
            sources.setdefault((bar, "drums"), start + 1)
        if not period or j < period:
            continue
        if j % period < max(1, period // 2):  # the answering phrase opens like the first (a a')
            for layer in ("chords", "melody", "bass", "harmony"):
                sources.setdefault((bar, layer), bar - period)
        elif loops:  # the chord loop goes on under a new melody
            for layer in ("chords", "bass", "harmony"):
                sources.setdefault((bar, layer), bar - period)


def _intro_and_outro(sections: Sequence[tuple[str, int]], starts: list[int], links: list[int | None],
                     sources: dict[tuple[int, str], int], cadences: dict[int, str], intro_link: bool = True) -> None:
    """The main section opens with the intro's harmony; the outro returns to the main section's."""
    names = [base_name(name) for name, _ in sections]
    main = next((names.index(m) for m in MAIN_SECTIONS if m in names), None)
    if main is None:
        return
    if intro_link and names[0] == "intro" and main > 0 and links[main] is None:
        for j in range(min(sections[0][1], sections[main][1]) - (1 if sections[0][1] >= sections[main][1] else 0)):
            # Not the drums: an intro's groove is often a sparse build-up (hats alone), the main section's is full.
            for layer in ("chords", "bass", "harmony"):
                sources[(starts[main] + j, layer)] = starts[0] + j
            cadences.pop(starts[main] + j, None)
    if names[-1] == "outro" and len(names) > 1 and main < len(names) - 1:
        outro, n = starts[-1], sections[-1][1]
        for j in range(min(n, sections[main][1]) - 1):  # its last bar comes home to the tonic
            for layer in ("chords", "bass", "harmony"):
                sources[(outro + j, layer)] = starts[main] + j
            cadences.pop(outro + j, None)


# The forms a style's songs usually take, as section cycles ((name, bars), ...), for prompts that name none.
_VERSE_CHORUS = (("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8), ("bridge", 8),
                 ("chorus", 8), ("outro", 4))
_TYPICAL_FORMS: dict[str, tuple[tuple[str, int], ...]] = {
    **{style: _VERSE_CHORUS for style in ("pop", "rock", "synthwave", "lo-fi", "hip hop", "funk", "country",
                                          "reggae", "chiptune")},
    "house": (("intro", 8), ("build", 8), ("drop", 8), ("breakdown", 8), ("drop", 8), ("outro", 8)),
    "jazz": (("A", 8), ("A", 8), ("B", 8), ("A", 8)),  # AABA, the standard's 32 bars
    "blues": (("verse", 12),),  # choruses of 12 bars
    "folk": (("A", 8), ("A", 8), ("B", 8), ("B", 8)),  # AABB, as tunes are played
    "march": (("A", 8), ("A", 8), ("B", 8), ("B", 8)),
    "waltz": (("A", 8), ("A", 8), ("B", 8), ("A", 8)),
}
_TERNARY = (("A", 8), ("B", 8), ("A", 8))  # classical, chorale, cinematic, ambient and the rest


def section_cycle(style: str | None) -> tuple[tuple[str, int], ...]:
    """The style's typical sections ((name, bars), ...) without intro and outro: what training names the
    bars of an accompanied tune, so the model knows every name `typical_form` plans."""
    return tuple(s for s in _TYPICAL_FORMS.get(style or "", _TERNARY) if s[0] not in ("intro", "outro"))


def typical_form(style: str | None, n_bars: int) -> tuple[tuple[str, int], ...]:
    """A form of `n_bars` bars typical of `style`: its usual sections in order, cut or cycled to the length.

    The cycle is followed while whole sections fit (its intro only in pieces of 24 bars or more); a song
    (a form with a chorus or a drop) then ends on that section, played again while more than 8 bars are
    left; what is left becomes an outro, or lengthens the last section if under four bars. Short pieces are
    one section.
    """
    cycle = [s for s in _TYPICAL_FORMS.get(style or "", _TERNARY) if s[0] != "outro"]
    if n_bars < 24:
        cycle = [s for s in cycle if s[0] != "intro"]
    if n_bars <= cycle[0][1] or n_bars < 4:
        return ((cycle[0][0], n_bars),)
    sections: list[tuple[str, int]] = []
    total, index = 0, 0
    while True:
        name, n = cycle[index % len(cycle)]
        index += 1
        if index > len(cycle) and name == "intro":
            continue
        if total + n > n_bars:
            break
        sections.append((name, n))
        total += n
    main = next((name for name in ("chorus", "drop") if any(name == s[0] for s in cycle)), None)
    if main is not None and sections[-1][0] != main and any(name == main for name, _ in sections):
        # a song ends on its main section (a pop song on the chorus, not on a third verse): the sections
        # after the last one are dropped and the room they leave goes to that section again, then the outro
        main_n = next(n for name, n in cycle if name == main)
        while sections[-1][0] != main:
            total -= sections.pop()[1]
        while n_bars - total > 8 and total + main_n <= n_bars:
            sections.append((main, main_n))
            total += main_n
    left = n_bars - total
    if left >= 4:
        sections.append(("outro", left))
    elif left:
        name, n = sections[-1]
        sections[-1] = (name, n + left)
    return tuple(sections)
