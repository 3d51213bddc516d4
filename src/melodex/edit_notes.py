"""Note edits: what to edit (sections, bars, tracks), and the edits that rewrite bars with the structure model's
infilling (regen, rechord, variation, extend), following the song's form."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from melodex import pipeline
from melodex.edit_render import missing_samplesets, rerender_take, save_rewritten_bars
from melodex.edit_session import Draft, save
from melodex.errors import MelodexError, option_name
from melodex.instruments import family, program_name
from melodex.models import single_thread
from melodex.score import MAX_BARS, Score
from melodex.tokens import decode
from melodex.tokens_grammar import Plan


def regen_target(score: Score, section: str | None, bars: str | None,
                 tracks: Sequence[str] | None) -> tuple[tuple[int, int], list[int], str]:
    """(bars as a 0-based half-open span, track indices, the edit's label) for a regen of one section
    (e.g. "chorus", "verse 2") or of bars ("5:8", counted from 1), of the named tracks or all."""
    if section is None and bars is None:
        raise MelodexError("say what to rewrite: a section (e.g. chorus) or bars (e.g. 5:8)")
    if section is not None and bars is not None:
        raise MelodexError("give a section (e.g. chorus) or bars (e.g. 5:8), not both")
    span = bars_of_section(score, section) if section else parse_bars(str(bars), score.bar_count())
    chosen = pick_tracks(score, list(tracks) if tracks else None)
    what = section or f"bars {span[0] + 1}-{span[1]}"
    return span, chosen, f"regen {what}" + (f" tracks {', '.join(tracks)}" if tracks else "")


def bars_of_section(score: Score, name: str) -> tuple[int, int]:
    section = score.section(name)
    return section.start_bar, section.end_bar


BARS_PATTERN = r"^\s*(\d+)\s*(?:[:-]\s*(\d+)\s*)?$"  # '3', '5:8', '5-8' (the HTTP API's schema publishes it)


def bars_syntax_error(text: str) -> str:
    return f"bars {text!r}: write one bar like 3 or a range like 5:8 (counting from 1)"


def parse_bars(text: str, n_bars: int) -> tuple[int, int]:
    """'5:8' (bars 5 to 8, counted from 1, inclusive) -> (4, 8) as a 0-based half-open span; '3' is bar 3 alone."""
    match = re.fullmatch(BARS_PATTERN.strip("^$"), text)
    if not match:
        raise MelodexError(bars_syntax_error(text))
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else first
    if first > last:
        raise MelodexError(f"bars {text}: the range runs backwards; write the first bar first ({last}:{first})")
    if first == 0:
        raise MelodexError(f"bars {text}: bars count from 1 (the song has bars 1-{n_bars})")
    if last > n_bars:
        raise MelodexError(f"bars {text}: the song has bars 1-{n_bars}; give bars inside that")
    return first - 1, last


def pick_tracks(score: Score, names: list[str] | None) -> list[int]:
    """Tracks by number, role or instrument ('1', 'bass', 'piano'); all tracks when none are named.

    Numbers count from 1, as the stem files (01-...) and every message do; the indices returned count from 0.
    """
    if not names:
        return list(range(len(score.tracks)))
    chosen: list[int] = []
    for name in names:
        key = name.strip().lower()
        matches = [i for i, t in enumerate(score.tracks)
                   if key in (str(i + 1), t.role, program_name(t.program).lower(), family(t.program))]
        if not matches:
            tracks = ", ".join(f"{i + 1}: {t.role} ({program_name(t.program)})" for i, t in enumerate(score.tracks))
            counted = "; tracks are numbered from 1" if key.lstrip("0") == "" else ""  # "0", "00"
            raise MelodexError(f"no track {name!r} in this song (tracks: {tracks}){counted}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def _infill(session: Draft, events: np.ndarray, bars: tuple[int, int], tracks: list[int], seed: int,
            plan: Plan | None = None) -> tuple[Score, np.ndarray]:
    from melodex.structure.generate import infill

    decoding = pipeline.decoding_options(session.brief, session.options, seed)
    with single_thread(), session.stage("compose") as report:
        return infill(session.models.structure, events, bars, tracks, session.brief.prompt, plan, decoding,
                      progress=report)


def regen(session: Draft, bars: tuple[int, int], tracks: list[int], seed: int, label: str) -> str:
    """Rewrite the notes of `tracks` in `bars`; every sample outside those bars stays identical."""
    score, events = _infill(session, session.take.events, bars, tracks, seed)
    return save_rewritten_bars(session, score, events, bars, tracks, label)


def section_links(session: Draft) -> list[int | None]:
    """For each section, the index of the section it repeats (None: its own music), as the version records
    it; projects made before song forms have no links."""
    n = len(session.score.sections)
    links = (session.take.settings.get("form") or {}).get("links")
    if not isinstance(links, list) or len(links) != n or not all(
            link is None or (isinstance(link, int) and 0 <= link < i) for i, link in enumerate(links)):
        return [None] * n
    return list(links)


def _root(links: list[int | None], index: int) -> int:
    """The first occurrence of the music section `index` plays."""
    link = links[index]
    return index if link is None else link


def _section_index(score: Score, name: str) -> int:
    score.section(name)  # an unknown name raises with the list of sections
    return next(i for i, s in enumerate(score.sections) if s.name == name)


def regen_section(session: Draft, name: str, tracks: list[int], seed: int, label: str,
                  only: bool = False) -> str:
    """Rewrite section `name` and every section linked to it (a repeated chorus is the same music again;
    a varied repeat gets a new melody in its last quarter). `only` rewrites just this occurrence and
    unlinks it. Every sample outside the rewritten sections stays identical."""
    from melodex.structure.form import ROLE_LAYER, VARIED_REPEATS, base_name

    score, sections = session.score, session.score.sections
    index = _section_index(score, name)
    links = section_links(session)
    root = _root(links, index)
    group: list[int]
    if only:
        group = [index]
        followers = [i for i, link in enumerate(links) if link == index]
        for i in followers:  # the others stay linked among themselves, to the first of them
            links[i] = None if i == followers[0] else followers[0]
        links[index] = None
    else:
        group = [root] + [i for i, link in enumerate(links) if link == root]
    source = sections[group[0]]
    _, events = _infill(session, session.take.events, (source.start_bar, source.end_bar), tracks, seed)
    from melodex.structure.song import copy_bars

    melody = [t for t in tracks if ROLE_LAYER[score.tracks[t].role] == "melody"]
    spans = [(source.start_bar, source.end_bar)]
    for k, other in enumerate(group[1:], start=1):
        target = sections[other]
        n = min(target.n_bars, source.n_bars)
        events = copy_bars(events, (source.start_bar, source.start_bar + n), target.start_bar, tracks)
        if base_name(target.name) in VARIED_REPEATS and melody and n >= 2:
            _, events = _infill(session, events, (target.start_bar + n - max(1, n // 4), target.start_bar + n), melody,
                                seed + 7919 * k)
        spans.append((target.start_bar, target.start_bar + n))
    new_score = decode(events)
    form = {**(session.take.settings.get("form") or {}), "links": links}
    return save_rewritten_bars(session, new_score, events, spans[0], tracks, label, tuple(spans[1:]),
                                {"form": form})


def chord_progression(chords: str, score: Score, name: str) -> list[tuple[int, ...]]:
    """Chord names for section `name`, one a bar ("Am F C G") or bars split by | ("Am F | C G"), as the model's
    chord values per bar; roman numerals ("vi IV I V") are read in the song's key. A progression shorter than
    the section is cycled; a longer one is refused, as it could not all be played (checked before anything
    changes, so a refused rechord leaves the project as it was)."""
    from melodex.brief_chords import chord_token, read_chords

    section = score.section(name)  # an unknown name raises with the list of sections
    bars = read_chords(chords, score.key, what="rechord")
    if len(bars) > section.n_bars:
        raise MelodexError(f"rechord: {len(bars)} bars of chords for {name}, which has {section.n_bars}: give at "
                           f"most {section.n_bars}, or put several chords in a bar with '|' (\"Am F | C G\")")
    return [tuple(chord_token(chord) for chord in bar) for bar in bars]


def rechord(session: Draft, name: str, chords: str, seed: int, label: str) -> str:
    """Give section `name` (and its linked repeats) the chord progression `chords` (names per bar, cycled;
    "Am F C G" or "Am F | C G" for two a bar), then rewrite its pitched parts around the new chords."""
    from melodex.structure.song import set_chords

    score = session.score
    index = _section_index(score, name)
    progression = chord_progression(chords, score, name)
    links = section_links(session)
    root = _root(links, index)
    group = [root] + [i for i, link in enumerate(links) if link == root]
    events = session.take.events
    for i in group:
        section = score.sections[i]
        events = set_chords(events, range(section.start_bar, section.end_bar), progression)
    pitched = [i for i, t in enumerate(score.tracks) if not t.is_drum]
    if not pitched:
        raise MelodexError("this song has no pitched tracks to follow new chords")
    # In place, not on a copy: an in-memory draft's edit leaves its result in the draft it was given (a copy
    # kept it, and `Song`'s rechord returned the song unchanged).
    session.take = replace(session.take, events=events, score=decode(events))
    return regen_section(session, score.sections[group[0]].name, pitched, seed, label)


def variation(session: Draft, strength: float, seed: int) -> str:
    """Same plan, new seed. strength 0-1: the share of bars rewritten (1 composes the song anew)."""
    if not 0 < strength <= 1:
        raise MelodexError(f"{option_name('strength')} {strength}: use a value above 0 and at most 1 "
                           "(1 = completely new)")
    take = session.take
    if strength >= 1:
        # New notes, the same timbres: compose only (making new sample sets here would be thrown away).
        options = replace(session.options, seed=seed)
        with session.stage("compose") as report:
            score, events = pipeline.compose(session.brief, options, pipeline.seed_for(seed, "compose"),
                                             session.models.structure, report)
        settings = {**take.settings, "options": pipeline._options_json(options)}
        new = rerender_take(session, score, events, missing_samplesets(score, take.samplesets),
                        take.timbres, settings)
        return save(session, new, f"variation strength 1 seed {seed}")
    rng = np.random.default_rng(seed)
    n_bars = take.score.bar_count()
    span = max(1, round(strength * n_bars))
    first = int(rng.integers(0, n_bars - span + 1))
    tracks = [i for i, t in enumerate(take.score.tracks) if rng.random() < 0.5 + strength / 2] or [0]
    return regen(session, (first, first + span), tracks, seed,
                 f"variation strength {strength:g} seed {seed}: bars {first + 1}-{first + span}")


def chords_by_bar(events: np.ndarray) -> list[list[int]]:
    """The chord values of every bar, in order (a bar may hold several, or none)."""
    from melodex.tokens_vocabulary import BAR, CHORD, F_CHORD, F_KIND

    bars: list[list[int]] = []
    for row in events:
        if row[F_KIND] == BAR:
            bars.append([])
        elif row[F_KIND] == CHORD and bars:
            bars[-1].append(int(row[F_CHORD]))
    return bars


def _continued_chords(events: np.ndarray, score: Score, n_bars: int) -> list[list[int]]:
    """Chords for `n_bars` new bars: the last section's progression cycled on from where the song stops.

    The model was trained on bars that all open with a chord; bare bar lines after the song's end read
    as bars to skip, and one `extend --bars 4` came back with three silent bars. Empty when the song has
    no chords to continue.
    """
    chords = chords_by_bar(events)
    for bar in range(1, len(chords)):  # a bar without a chord event holds the one before it
        chords[bar] = chords[bar] or chords[bar - 1]
    start = score.sections[-1].start_bar if score.sections else 0
    cycle = [bar for bar in chords[start:] if bar] or [bar for bar in chords if bar]
    if not cycle:
        return []
    offset = len(chords) - start
    return [cycle[(offset + k) % len(cycle)] for k in range(n_bars)]


def extend(session: Draft, n_bars: int, seed: int) -> str:
    """Add n_bars at the end, written by the model as a continuation of everything before."""
    take = session.take
    total = take.score.bar_count() + n_bars
    if n_bars < 1 or total > MAX_BARS:
        raise MelodexError(f"{option_name('bars')} {n_bars}: the song would have {total} bars; at most {MAX_BARS}")
    from melodex.tokens_vocabulary import BAR, EOS, F_KIND, FIELDS

    bar_row = np.zeros((1, len(FIELDS)), dtype=np.int64)
    bar_row[0, F_KIND] = BAR
    eos_row = np.zeros((1, len(FIELDS)), dtype=np.int64)
    eos_row[0, F_KIND] = EOS
    events = np.concatenate([take.events[:-1], np.repeat(bar_row, n_bars, 0), eos_row])
    old_bars = take.score.bar_count()
    progression = _continued_chords(take.events, take.score, n_bars)
    if progression:
        from melodex.structure.song import set_chords

        events = set_chords(events, range(old_bars, total), progression)
    score, events = _infill(session, events, (old_bars, total), list(range(len(take.score.tracks))), seed)
    return save_rewritten_bars(session, score, events, (old_bars, total), list(range(len(take.score.tracks))),
                                f"extend by {n_bars} bars")
