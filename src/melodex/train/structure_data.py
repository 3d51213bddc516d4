"""Training examples for the structure model: corpus works, augmented into arrangements, as token windows.

The corpus is mostly single-line folk tunes, so arrangement is taught by augmentation (see
`augment`): transposition, tempo changes, re-voicing onto other GM instruments of the same role,
synthesised accompaniment (bass, chords, drums) from the per-bar chords in a style of the prompt
parser's style table, intro/outro bars, and section labels. Each example is paired with a caption (the
corpus captions when they still describe it, else a prompt-like sentence) and control tokens.

Why one file of ~700 lines: every augmentation changes the score, its caption and its controls together,
and `augment` draws them in one seeded order that the trained checkpoints depend on; split, the order
would be spread over modules that must still change in step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache, partial
from itertools import pairwise
from typing import Any

import numpy as np
import torch

from melodex.brief import STYLE_BY_NAME, assign_roles
from melodex.data.chords import CHORD_INTERVALS, estimate_bar_chords, fit_progression
from melodex.data.corpus import Corpus
from melodex.data.drums import fits_style
from melodex.instruments import default_role, program_name
from melodex.score import (
    DRUM_PROGRAM,
    MAX_BPM,
    MIN_BPM,
    PITCH_CLASSES,
    TPQ,
    ChordSymbol,
    Score,
    Section,
    Tempo,
    TimeSignature,
    Track,
)
from melodex.structure.conditioning import controls_from_plan, energy_of
from melodex.structure.form import LOOP_STYLES, section_cycle
from melodex.tokens import F_KIND, TRACK, Plan, TokenError, bar_and_position, encode

FOLK = {"essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs", "miscFolk", "nottingham-dataset",
        "leadSheet"}
CHORAL = {"bach", "palestrina", "josquin", "lusitano", "monteverdi", "trecento", "ciconia", "luca"}
# Programs a part may be re-voiced onto, by role (same role, other GM instruments).
REVOICE = {
    "melody": (40, 73, 71, 68, 56, 65, 0, 4, 24, 80, 81, 11, 22, 75, 105, 109),
    "counter": (41, 42, 71, 70, 60, 57, 66, 0, 26),
    "harmony": (0, 4, 24, 25, 48, 52, 19, 16, 89, 61),
    "accompaniment": (0, 4, 5, 24, 25, 26, 27, 16, 46, 6),
    "pad": (48, 49, 50, 52, 89, 88, 90, 94, 19),
    "bass": (32, 33, 34, 35, 36, 38, 39, 43, 42, 58, 70),
    "lead": (80, 81, 40, 56, 65, 73),
}
STYLES_BY_METER = {
    (4, 4): ("pop", "rock", "lo-fi", "house", "jazz", "folk", "country", "reggae", "hip hop", "synthwave",
             "chiptune", "funk", "blues", "ambient", "cinematic"),
    (3, 4): ("waltz", "folk", "country", "pop", "cinematic"),
    (6, 8): ("folk", "pop", "country", "rock", "cinematic"),
    (2, 4): ("march", "folk", "country", "pop"),
    (2, 2): ("march", "folk", "rock", "pop"),
}
KICK, SNARE, RIM, CLAP, HAT, OPEN_HAT, RIDE, CRASH, TAMB = 36, 38, 37, 39, 42, 46, 51, 49, 54
MOOD_WORDS = {"major": ("bright", "happy", "uplifting", "warm", "cheerful", "sunny"),
              "minor": ("melancholic", "dark", "sad", "moody", "wistful", "haunting")}
ENERGY_WORDS = (("calm", "soft", "gentle", "slow"), ("relaxed", "mellow"), ("upbeat", "lively"),
                ("energetic", "driving", "intense"))


def corpus_style(attributes: dict) -> str:
    collection = attributes.get("collection", "")
    if collection in FOLK:
        return "folk"
    if collection in CHORAL:
        return "chorale"
    if attributes.get("part_kind") == "drum pattern":
        text = str(attributes.get("style", "")).lower() + " " + str(attributes.get("title", "")).lower()
        for style in ("rock", "jazz", "funk", "house", "hip hop", "reggae", "pop", "blues", "synthwave"):
            if style in text or (style == "house" and "techno" in text):
                return style
        return "none"
    return "classical"


# -- drum patterns -------------------------------------------------------------------------------


def builtin_drum_bar(style: str, bar_ticks: int, beat: int) -> list[tuple[int, int, int]]:
    """(tick, pitch, velocity) hits of one bar of a style-typical groove."""
    hits: list[tuple[int, int, int]] = []
    n_beats = max(1, bar_ticks // beat)
    eighth = beat // 2 if beat % 2 == 0 else beat // 3
    if style in ("waltz",) or (n_beats == 3 and beat == TPQ):
        return [(0, KICK, 96), (beat, HAT, 70), (2 * beat, HAT, 70)] + ([(beat, SNARE, 60)] if style != "waltz" else [])
    if style == "march" or beat != TPQ:
        for b in range(n_beats):
            hits.append((b * beat, KICK if b % 2 == 0 else SNARE, 100 if b == 0 else 84))
            for s in range(1, 3 if beat != TPQ else 2):
                hits.append((b * beat + s * eighth, SNARE if style == "march" else HAT, 60))
        return hits
    for b in range(n_beats):
        t = b * beat
        if style == "house":
            hits += [(t, KICK, 110), (t + eighth, OPEN_HAT, 70)]
            if b % 2:
                hits.append((t, CLAP, 96))
        elif style == "jazz":
            hits += [(t, RIDE, 84), (t + beat * 2 // 3, RIDE, 64)] if b % 2 else [(t, RIDE, 84)]
            if b % 2:
                hits.append((t, HAT, 70))
        elif style == "reggae":
            hits += [(t, HAT, 64), (t + eighth, HAT, 56)]
            if b == 2:
                hits += [(t, KICK, 100), (t, RIM, 90)]
        else:  # backbeat family: pop, rock, funk, hip hop, lo-fi, synthwave, country, blues, chiptune
            soft = style in ("lo-fi", "hip hop")
            hits += [(t, HAT, 60 if soft else 76), (t + eighth, HAT, 48 if soft else 64)]
            if b % 2 == 0:
                hits.append((t, KICK, 92 if soft else 104))
            else:
                hits.append((t, SNARE, 80 if soft else 100))
            if soft and b == 2:
                hits.append((t + eighth, KICK, 80))
            if style in ("funk", "rock") and b == 3:
                hits.append((t + eighth, KICK, 88))
    return hits


class DrumBank:
    """One-bar drum patterns cut from the corpus drum works (hydrogen/lmms), by bar length in ticks.

    An accompanied example in a backbeat style loops one of the bank's backbeat bars, a house example one
    of its four-on-the-floor bars (`fits_style`): a bar drawn from the whole bank taught the model that the
    style says little about the groove (35% of "pop" examples looped a hats-only, latin or fill bar), and
    it wrote pop and synthwave drums without a snare (backbeat in 10-37% of generated bars)."""

    def __init__(self, patterns: dict[int, list[np.ndarray]]) -> None:
        self.patterns = patterns
        self._fitting: dict[tuple[int, str], list[np.ndarray]] = {}

    @classmethod
    def from_corpus(cls, corpus: Corpus) -> DrumBank:
        patterns: dict[int, list[np.ndarray]] = {}
        for i in range(len(corpus)):
            if corpus.attributes(i).get("part_kind") != "drum pattern":
                continue
            score = corpus[i].score
            starts = score.bar_starts()
            notes = np.concatenate([t.notes for t in score.tracks])
            for a, b in pairwise(starts):
                bar = notes[(notes[:, 0] >= a) & (notes[:, 0] < b)]
                if len(bar) >= 4:
                    bar = bar.copy()
                    bar[:, 0] -= a
                    patterns.setdefault(b - a, []).append(bar)
        return cls(patterns)

    def bar(self, bar_ticks: int, rng: np.random.Generator, style: str | None = None) -> np.ndarray | None:
        """A random bar of `bar_ticks` ticks; with `style`, one that is a groove of that style (None when the
        bank has none, or the style takes its groove from `builtin_drum_bar` only)."""
        found = self.patterns.get(bar_ticks, [])
        if style is not None:
            key = (bar_ticks, style)
            if key not in self._fitting:
                self._fitting[key] = [p for p in found if fits_style(p, bar_ticks, style)]
            found = self._fitting[key]
        return found[int(rng.integers(len(found)))] if found else None


# -- synthesised accompaniment ---------------------------------------------------------------------


def _chord_at(chords: list[ChordSymbol], tick: int) -> ChordSymbol | None:
    current = None
    for chord in chords:
        if chord.tick <= tick:
            current = chord
        else:
            break
    return current


def _voicing(chord: ChordSymbol, low: int = 52) -> list[int]:
    intervals = CHORD_INTERVALS.get(chord.quality, CHORD_INTERVALS["maj"])
    root = low + (chord.root - low) % 12
    return sorted({root + i if root + i <= low + 19 else root + i - 12 for i in intervals})


# Instruments an accompaniment may be played on besides the style's own. With only the style's band (house:
# pad 90, synth bass 38) the model tied the groove to the instruments: prompts naming their own band ("house
# track with piano chords, synth bass and drums", "deep house with organ stabs and drums") got four on the
# floor in 0 of 4 test songs, the style's own band in 0.82 of its bars (stage 9).
BAND_SWAP = 0.4
CHORD_PROGRAMS = (0, 1, 4, 5, 16, 17, 18, 24, 25, 26, 27, 29, 48, 49, 50, 61, 88, 89, 90, 91)
BASS_PROGRAMS = (32, 33, 34, 35, 36, 38, 39)
# Share of accompaniments played without their tune: a backing track of chords, bass and drums. Every
# example had a melody, so a prompt naming a chord part and no lead ("house track with piano chords, synth
# bass and drums") had its piano made the melody, and the model, never shown a house melody on piano over
# three parts, played it a rock beat (four on the floor in 2 of 6 seeds, stage 10). The chord part keeps the
# role it has with the tune, and the caption may say "chords".
NO_MELODY = 0.15
CHORD_WORDS = (" chords", " chords", " stabs", " comping")  # how prompts name a chord part


SWING = 0.75  # share of jazz accompaniments whose tune is swung


def swung(notes: np.ndarray, beat: int = TPQ) -> np.ndarray:
    """Notes with their off-beat eighths played swung: an onset at the half of a beat moves to two thirds
    of it (the triplet eighth), the note before it on the beat lengthens to meet it and the moved note
    shortens by as much. Jazz accompaniments played corpus tunes straight (generated jazz: 0% of its
    split beats swung, stage 9, tuning), though the ride already swung."""
    out = notes.copy()
    inside = out[:, 0] % beat
    late = beat * 2 // 3 - beat // 2
    off = inside == beat // 2
    out[off, 0] += late
    out[off, 1] = np.maximum(out[off, 1] - late, beat // 6)
    on_with_eighth = (inside == 0) & (out[:, 1] == beat // 2)
    out[on_with_eighth, 1] += late
    return out[np.lexsort((out[:, 2], out[:, 0]))]


def accompany(score: Score, chords: list[ChordSymbol], style: str, rng: np.random.Generator,
              drums: DrumBank | None, melody_program: int) -> Score:
    """The tune as melody plus bass, chords and (if the style has them) drums, following `chords`."""
    band = STYLE_BY_NAME[style].band
    pitched = [p for p in band if p != DRUM_PROGRAM]
    chord_program = next((p for p in pitched if default_role(p) in ("accompaniment", "pad")), 0)
    bass_program = next((p for p in pitched if default_role(p) == "bass"), 33)
    if rng.random() < BAND_SWAP:
        chord_program = int(rng.choice(CHORD_PROGRAMS))
    if rng.random() < BAND_SWAP:
        bass_program = int(rng.choice(BASS_PROGRAMS))
    has_drums = DRUM_PROGRAM in band and rng.random() < 0.85
    meter = score.meter
    compound = meter.denominator == 8 and meter.numerator % 3 == 0
    beat = TPQ * 4 // meter.denominator * (3 if compound else 1)
    pattern = ("sustain" if chord_program in (48, 49, 50, 52, 88, 89, 90, 94) or style in ("ambient", "cinematic")
               else "offbeat" if style == "reggae"
               else "oompah" if style in ("waltz", "march")
               else str(rng.choice(["block", "arp", "strum", "half"])))
    bass_style = ("walking" if style == "jazz" else "eighths" if style in ("rock", "synthwave", "chiptune")
                  else "offbeat" if style == "house" else str(rng.choice(["root", "root5"])))
    chord_vel, bass_vel = int(rng.integers(56, 80)), int(rng.integers(64, 92))
    chord_notes: list[list[int]] = []
    bass_notes: list[list[int]] = []
    drum_notes: list[list[int]] = []
    starts = score.bar_starts()
    loop = drums.bar(starts[1] - starts[0], rng, style) if drums is not None and rng.random() < 0.35 else None
    for bar, (a, b) in enumerate(pairwise(starts)):
        chord = _chord_at(chords, b - 1) if _chord_at(chords, a) is None else _chord_at(chords, a)
        if chord is None:
            continue
        mid = _chord_at(chords, a + (b - a) // 2) or chord
        voicing = _voicing(chord)
        n_beats = max(1, (b - a) // beat)
        for k in range(n_beats):
            t = a + k * beat
            here = _voicing(mid) if k >= n_beats / 2 else voicing
            if pattern == "sustain":
                if k == 0:
                    chord_notes += [[t, b - a, p, chord_vel] for p in voicing]
            elif pattern == "block":
                chord_notes += [[t, beat * 9 // 10, p, chord_vel] for p in here]
            elif pattern == "half":
                if k % 2 == 0:
                    chord_notes += [[t, min(2 * beat, b - t), p, chord_vel] for p in here]
            elif pattern == "arp":
                sub = beat // 3 if compound else beat // 2
                for s in range(beat // sub):
                    chord_notes.append([t + s * sub, sub, here[(k * (beat // sub) + s) % len(here)], chord_vel])
            elif pattern == "strum":
                chord_notes += [[t, beat // 2, p, chord_vel + 8] for p in here]
                chord_notes += [[t + beat // 2, beat // 2, p, chord_vel - 8] for p in here[1:]]
            elif pattern == "offbeat":
                chord_notes += [[t + beat // 2, beat // 3, p, chord_vel] for p in here]
            elif pattern == "oompah" and k > 0:
                chord_notes += [[t, beat * 2 // 3, p, chord_vel] for p in here]
            root = 36 + (mid.root if k >= n_beats / 2 else chord.root - 36) % 12
            if bass_style == "root" and k == 0:
                bass_notes.append([t, b - a if pattern != "oompah" else beat, 36 + (chord.root - 36) % 12, bass_vel])
            elif bass_style == "root5":
                bass_notes.append([t, beat, root + (7 if k % 2 else 0) - (12 if k % 2 and root > 40 else 0), bass_vel])
            elif bass_style == "eighths":
                bass_notes += [[t, beat // 2, root, bass_vel], [t + beat // 2, beat // 2, root, bass_vel - 10]]
            elif bass_style == "offbeat":
                bass_notes.append([t + beat // 2, beat // 2, root, bass_vel])
            elif bass_style == "walking":
                tones = [0, 4 if chord.quality in ("maj", "7", "maj7") else 3, 7, 9 if k % 2 else 5]
                bass_notes.append([t, beat, root + tones[k % 4], bass_vel])
        if has_drums:
            hits = loop if loop is not None and len(loop) else None
            if hits is not None:
                drum_notes += [[a + int(n[0]), int(n[1]), int(n[2]), int(n[3])] for n in hits]
            else:
                drum_notes += [[a + t, TPQ // 4, p, v] for t, p, v in builtin_drum_bar(style, b - a, beat)]
            if bar % 8 == 0:
                drum_notes.append([a, TPQ, CRASH, 90])
    programs = [melody_program, chord_program, bass_program] + ([DRUM_PROGRAM] if has_drums and drum_notes else [])
    roles = [role for _, role in assign_roles(programs)]
    melody = replace(score.tracks[0].copy(), program=melody_program, role=roles[0])
    melody.notes[:, 3] = np.clip(melody.notes[:, 3] + 10, 1, 127)
    if style == "jazz" and beat == TPQ and rng.random() < SWING:
        melody.notes = swung(melody.notes)
    tracks = [melody,
              Track(chord_program, roles[1], notes=np.array(chord_notes).reshape(-1, 4)),
              Track(bass_program, roles[2], notes=np.array(bass_notes).reshape(-1, 4))]
    if len(programs) == 4:
        tracks.append(Track(DRUM_PROGRAM, "drums", notes=np.array(drum_notes).reshape(-1, 4)))
    # Bands as prompts name them: always [melody, chords, bass, drums] taught the first model to play chords on
    # whatever track came second ("piano, bass and drums" got a bass playing triads). So the chord part is
    # sometimes left out (or the tune), and the order of the tracks sometimes shuffled: a part's role, not its
    # slot, says what it plays.
    if rng.random() < NO_MELODY:
        tracks = tracks[1:]
    elif rng.random() < 0.35:
        tracks = [tracks[0], *tracks[2:]]
    if rng.random() < 0.35:
        tracks = [tracks[int(i)] for i in rng.permutation(len(tracks))]
    out = score.copy()
    out.tracks = tracks
    out.chords = list(chords)
    return out


# The styles accompanied tunes are played in, and how often each is drawn. A style is drawn first and the
# tune is accompanied only if its meter is one the style plays in (`STYLES_BY_METER`) and, for a loop-based
# style, one of the loops fits it. Drawn from the tune's meter's list instead, styles came out as the
# corpus's meters made them (2,000 stage-7 examples: pop 125, country 117, march 81, ... house 11,
# synthwave 7), so the band styles people ask for most were 0.4-0.6% of the examples each, and "house" drew
# four on the floor 0 times in 9 tuning songs. House stands for five named styles (techno, trance, drum and
# bass, dubstep), hence its weight.
STYLE_WEIGHTS = {"pop": 1.0, "rock": 1.0, "lo-fi": 1.0, "house": 2.0, "jazz": 1.0, "folk": 0.5, "country": 1.0,
                 "reggae": 1.0, "hip hop": 1.0, "synthwave": 1.0, "chiptune": 1.0, "funk": 1.0, "blues": 1.0,
                 "ambient": 0.7, "cinematic": 0.7, "waltz": 1.0, "march": 0.5}
DRAWS = 3


def accompaniment_style(meter: tuple[int, int], has_loop: Callable[[], bool],
                        rng: np.random.Generator) -> str | None:
    """The style to accompany a tune in `meter` with, drawn by `STYLE_WEIGHTS`; None when the drawn style
    does not play in that meter, or is loop-based and none of the loops fits the tune (`has_loop`), in
    `DRAWS` draws. A loop style's examples thus always carry the style's harmony. `has_loop` is asked
    only when a loop style is drawn, so the loop fit is not paid for the styles that need none."""
    styles = list(STYLE_WEIGHTS)
    weights = np.array([STYLE_WEIGHTS[s] for s in styles])
    for _ in range(DRAWS):
        style = styles[int(rng.choice(len(styles), p=weights / weights.sum()))]
        if style in STYLES_BY_METER.get(meter, ()) and (style not in LOOP_STYLES or has_loop()):
            return style
    return None


def in_common_time(score: Score) -> Score:
    """A tune in 2/2 or 2/4 read in 4/4: a 2/2 bar is a 4/4 bar; two 2/4 bars make one (its sections,
    counted in 2/4 bars, are dropped). The corpus's single-line tunes are 24% in 4/4 but 37% in 2/4 and
    2/2 (1,089 drawn, 2026-12-03), and the band styles (house, hip hop, synthwave, lo-fi, funk, ...) play
    in 4/4 only: reels and polkas read in common time give those styles their tunes."""
    out = score.copy()
    if (score.meter.numerator, score.meter.denominator) == (2, 4):
        out.sections = []
        out.n_bars = (score.n_bars + 1) // 2
    out.time_signatures = [TimeSignature(4, 4)]
    return out


def style_sections(score: Score, style: str) -> Score:
    """The score's bars named by the style's typical form (`form.section_cycle`: a house track's build, drop
    and breakdown), the names and section lengths the pipeline plans for a prompt without a form. Before,
    training named sections verse, chorus, A, B, ... only, so "build", "drop", "breakdown", "post-chorus" and
    "coda" kept their initial embeddings and every house song was written under names the model never saw.
    A breakdown drops the drums, as it does in a club track."""
    cycle = section_cycle(style)
    out = score.copy()
    n_bars, bar, k = score.bar_count(), 0, 0
    sections = []
    while bar < n_bars:
        name, n = cycle[k % len(cycle)]
        sections.append(Section(name, bar, min(n, n_bars - bar)))
        bar, k = bar + n, k + 1
    out.sections = sections
    starts = score.bar_starts(n_bars)
    for section in sections:
        if section.name == "breakdown":
            lo, hi = starts[section.start_bar], starts[section.start_bar + section.n_bars]
            for track in out.tracks:
                if track.is_drum:
                    track.notes = track.notes[(track.notes[:, 0] < lo) | (track.notes[:, 0] >= hi)]
    return out


def add_intro_outro(score: Score, rng: np.random.Generator, intro: int, outro: int) -> Score:
    """Prepend `intro` bars in which only the accompaniment plays (its first bars) and append `outro` bars in
    which it plays its last bars again (a tag ending on the last chord), softer bar by bar.

    Why not the last bar held `outro` times (as until 2026-12-08): those runs of identical bars were the data's
    only common ones, and the model learnt from them to hold a chord once its context repeats (composed under
    the song form, after two identical bars it held 0.75-1.0 of the time where its data holds 0.25)."""
    bar = score.meter.bar_ticks
    shift = intro * bar
    out = score.copy()
    n_bars = score.bar_count()
    end = n_bars * bar
    tag = min(outro, n_bars)  # the outro plays the last `tag` bars again, then holds the last one if it is longer
    sources = [n_bars - tag + k if k < tag else n_bars - 1 for k in range(outro)]
    for track in out.tracks:
        notes = track.notes.copy()
        notes[:, 0] += shift
        if track.role != "melody":  # accompaniment: its first bars as the intro, its last bars as the outro
            onsets = track.notes[:, 0]
            head = track.notes[onsets < shift].copy()
            tail_rows = []
            for k, source in enumerate(sources):
                part = track.notes[(onsets >= source * bar) & (onsets < (source + 1) * bar)].copy()
                part[:, 0] += shift + end + k * bar - source * bar
                part[:, 3] = np.maximum(part[:, 3] - 6 * (k + 1), 20)
                tail_rows.append(part)
            notes = np.concatenate([head, notes, *tail_rows]) if len(track.notes) else notes
        track.notes = notes
        track.__post_init__()
    out.chords = [ChordSymbol(c.tick + shift, c.root, c.quality) for c in score.chords]
    out.chords = [c for c in score.chords if c.tick < shift] + out.chords
    if score.chords and outro:
        for k, source in enumerate(sources):
            start = source * bar
            held = next((c for c in reversed(score.chords) if c.tick <= start), score.chords[0])
            inside = [c for c in score.chords if start < c.tick < start + bar]
            base = shift + end + k * bar
            out.chords.append(ChordSymbol(base, held.root, held.quality))
            out.chords += [ChordSymbol(base + c.tick - start, c.root, c.quality) for c in inside]
    sections = [Section(s.name, s.start_bar + intro, s.n_bars) for s in score.sections]
    if not sections:
        sections = [Section(str(rng.choice(["verse", "A"])), intro, n_bars)]
    out.sections = ([Section("intro", 0, intro)] if intro else []) + sections + (
        [Section("outro", intro + n_bars, outro)] if outro else [])
    out.n_bars = intro + n_bars + outro
    return out


def label_sections(score: Score, rng: np.random.Generator) -> Score:
    """Random section labels: folk A/B parts renamed, or an unlabelled tune cut into 4/8-bar sections."""
    out = score.copy()
    n_bars = score.bar_count()
    if score.sections and rng.random() < 0.5:
        names = sorted({re.sub(r"\s+\d+$", "", s.name) for s in score.sections})
        pool = ["verse", "chorus", "bridge", "A", "B", "C", "pre-chorus", "solo", "interlude"]
        rng.shuffle(pool)
        mapping = dict(zip(names, pool, strict=False))
        out.sections = [Section(mapping.get(re.sub(r"\s+\d+$", "", s.name), s.name), s.start_bar, s.n_bars)
                        for s in score.sections]
    elif not score.sections and n_bars >= 8 and rng.random() < 0.7:
        size = 8 if n_bars >= 16 and rng.random() < 0.6 else 4
        form = [["verse", "chorus"], ["A", "B"], ["A", "A", "B", "A"], ["verse", "verse", "chorus"]][
            int(rng.integers(4))]
        out.sections = [Section(form[(i // size) % len(form)], i, min(size, n_bars - i))
                        for i in range(0, n_bars, size)]
    return out


# -- captions ------------------------------------------------------------------------------------


@cache
def style_words(style: str) -> tuple[str, ...]:
    """The words a prompt may name the model's `style` by: its own keywords and the names and keywords of the
    prompt parser's styles played as it. Captions that only ever said "house" left the text path without
    "techno", "trance" or "edm", and prompts naming those (their style token is house) got four on the floor
    in 0-20% of bars against 70-100% for prompts saying "house" (stage 9, tuning prompts)."""
    words = {style}
    for named in STYLE_BY_NAME.values():
        if named.plays_as == style:
            words.update((named.name, *named.keywords))
    return tuple(sorted(words))


def prompt_caption(score: Score, style: str, rng: np.random.Generator) -> str:
    """A prompt-like sentence ('melancholic lo-fi piano with soft drums, 84 BPM, A minor, verse 8, ...')."""
    words: list[str] = []
    if rng.random() < 0.6:
        words.append(str(rng.choice(MOOD_WORDS[score.key.mode])))
    if rng.random() < 0.4:
        words.append(str(rng.choice(ENERGY_WORDS[energy_of(score)])))
    if style != "none" and rng.random() < 0.85:
        words.append(style if rng.random() < 0.5 else str(rng.choice(style_words(style))))
    names = [program_name(t.program).lower() if t.program != DRUM_PROGRAM else "drums" for t in score.tracks]
    names = [name + (str(rng.choice(CHORD_WORDS)) if t.role == "accompaniment" and rng.random() < 0.5 else "")
             for name, t in zip(names, score.tracks, strict=True)]
    if rng.random() < 0.8:
        shown = names if rng.random() < 0.7 else names[: int(rng.integers(1, len(names) + 1))]
        words.append(shown[0] + (" with " + ", ".join(shown[1:]) if len(shown) > 1 else ""))
    parts = [" ".join(words) or "a piece"]
    if rng.random() < 0.7:
        parts.append(f"{round(score.bpm)} BPM")
    if rng.random() < 0.6:
        parts.append(f"{PITCH_CLASSES[score.key.tonic]} {score.key.mode}")
    if rng.random() < 0.4:
        parts.append(f"in {score.meter}")
    if score.sections and rng.random() < 0.6:
        parts.append(", ".join(f"{s.name} {s.n_bars}" + (" bars" if i == 0 else "")
                               for i, s in enumerate(score.sections)))
    elif rng.random() < 0.3:
        parts.append(f"{score.bar_count()} bars")
    order = [parts[0], *rng.permutation(parts[1:]).tolist()] if len(parts) > 1 else parts
    return ", ".join(order)


def fix_caption(caption: str, old: Score, new: Score) -> str:
    """A corpus caption with its key and tempo rewritten after transposition / tempo change."""
    if old.key != new.key:
        old_key = f"{PITCH_CLASSES[old.key.tonic]} {old.key.mode}"
        caption = caption.replace(old_key, f"{PITCH_CLASSES[new.key.tonic]} {new.key.mode}")
        caption = re.sub(r"ranging from \S+ to \S+", "", caption)
    if round(old.bpm) != round(new.bpm):
        caption = re.sub(rf"\b{round(old.bpm)}( BPM| beats per minute)", rf"{round(new.bpm)}\1", caption)
    return caption


# -- one example -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    score: Score
    caption: str
    style: str
    augmentations: tuple[str, ...]


def augment(score: Score, attributes: dict, captions: list[str], chords: list[ChordSymbol],
            rng: np.random.Generator, drums: DrumBank | None) -> Example:
    """One randomly augmented version of a corpus work (each step is described in the model card)."""
    done: list[str] = []
    style = corpus_style(attributes)
    original = score
    is_drums = all(t.is_drum for t in score.tracks)
    if not score.chords and chords and not is_drums:
        score = score.copy()
        score.chords = list(chords)  # the harmonic plan is written first, so the model learns to follow it
    single_line = len(score.tracks) == 1 and not is_drums and len(score.time_signatures) == 1
    if single_line and (score.meter.numerator, score.meter.denominator) in ((2, 2), (2, 4)) and rng.random() < 0.6:
        score = in_common_time(score)
        done.append("common time")
    meter = (score.meter.numerator, score.meter.denominator)
    accompanied = None
    if single_line and chords and meter in STYLES_BY_METER and rng.random() < 0.85:
        # a tune's own written chords stay, so only a tune without them is fitted (at most once)
        fitted = cache(partial(fit_progression, score))
        accompanied = accompaniment_style(meter, lambda: bool(original.chords) or fitted() is not None, rng)
    if accompanied is not None:
        style = accompanied
        loop = fitted() if style in LOOP_STYLES and not original.chords else None
        keep_instrument = rng.random() < 0.4
        band = [p for p in STYLE_BY_NAME[style].band if p != DRUM_PROGRAM]
        melody_program = score.tracks[0].program if keep_instrument else next(
            (p for p in band if default_role(p) == "melody"), band[0])
        if not keep_instrument and rng.random() < BAND_SWAP:  # a lead of another band, as prompts name one
            melody_program = int(rng.choice(REVOICE["melody"]))
        if loop is not None:
            score = score.copy()
            score.chords = loop
            done.append("style loop")
        score = accompany(score, score.chords, style, rng, drums, melody_program)
        done.append(f"accompaniment:{style}")
        if rng.random() < 0.7:
            score = style_sections(score, style)
            done.append("style form")
        if rng.random() < 0.5:
            intro, outro = int(rng.choice([0, 2, 4])), int(rng.choice([0, 0, 2, 4]))
            if intro or outro:
                score = add_intro_outro(score, rng, intro, outro)
                done.append("intro/outro")
        if rng.random() < 0.5:
            bpm = STYLE_BY_NAME[style].bpm * rng.uniform(0.85, 1.15)
            score.tempos = [Tempo(float(np.clip(round(bpm), MIN_BPM, MAX_BPM)))]
            done.append("style tempo")
    elif not is_drums and rng.random() < 0.4:
        score = score.copy()
        for track in score.tracks:
            if not track.is_drum and track.role in REVOICE and rng.random() < 0.7:
                track.program = int(rng.choice(REVOICE[track.role]))
        done.append("revoice")
    if not is_drums and rng.random() < 0.8:
        columns = [t.notes[:, 2] for t in score.tracks if not t.is_drum and len(t.notes)]
        pitched = np.concatenate(columns or [np.array([60])])
        low, high = max(-6, -int(pitched.min())), min(6, 127 - int(pitched.max()))
        if high > low:
            shift = int(rng.integers(low, high + 1))
            if shift:
                score = score.transposed(shift)
                done.append("transpose")
    if rng.random() < 0.4 and "style tempo" not in done:
        score = score.copy()
        factor = rng.uniform(0.8, 1.25)
        score.tempos = [Tempo(float(np.clip(round(t.bpm * factor), MIN_BPM, MAX_BPM)), t.tick) for t in score.tempos]
        done.append("tempo")
    if not is_drums and "style form" not in done and rng.random() < 0.5:
        score = label_sections(score, rng)
        done.append("sections")
    changed_text = any(d.startswith(("accompaniment", "revoice", "intro", "sections", "common time")) for d in done)
    if captions and not changed_text and rng.random() < 0.6:
        caption = fix_caption(str(rng.choice(captions)), original, score)
    else:
        caption = prompt_caption(score, style, rng)
    return Example(score, caption, style, tuple(done))


def example_controls(score: Score, style: str, rng: np.random.Generator, keep: float = 0.7) -> np.ndarray:
    """Control tokens for a score, each group kept with probability `keep` (any subset may be given)."""
    def maybe(value: Any) -> Any:
        return value if rng.random() < keep else None

    sections = tuple((s.name, s.n_bars) for s in score.sections)
    covers = bool(sections) and sections_cover(score)
    plan = Plan(
        bpm=maybe(round(score.bpm)),
        meter=maybe((score.meter.numerator, score.meter.denominator)),
        key=maybe(score.key),
        tracks=maybe(tuple((t.program, t.role) for t in score.tracks)),
        sections=maybe(sections) if covers else None,
        n_bars=None,
    )
    if plan.sections is None and rng.random() < keep:
        plan = replace(plan, n_bars=score.bar_count())
    return controls_from_plan(plan, mode=maybe(score.key.mode), style=maybe(style), energy=maybe(energy_of(score)))


def sections_cover(score: Score) -> bool:
    """Whether the sections tile the bars exactly (then they can be a plan)."""
    bar = 0
    for section in score.sections:
        if section.start_bar != bar:
            return False
        bar = section.end_bar
    return bar == score.bar_count()


@dataclass(frozen=True)
class Window:
    events: np.ndarray  # (T, fields)
    bars: np.ndarray  # (T,)
    weights: np.ndarray  # (T,) 1 where the event is a training target


def window(events: np.ndarray, length: int, rng: np.random.Generator) -> Window:
    """A window of at most `length` events; later windows start at a bar and keep the header in front."""
    bars, _ = bar_and_position(events)
    if len(events) <= length:
        return Window(events, bars, np.ones(len(events), dtype=np.float32))
    header = int(np.flatnonzero(events[:, F_KIND] == TRACK).max()) + 1
    bar_starts = np.flatnonzero(np.diff(bars, prepend=-1) > 0)
    bar_starts = bar_starts[(bar_starts >= header) & (bar_starts < len(events) - length // 2)]
    start = int(rng.choice(bar_starts)) if len(bar_starts) else header
    if start == header:
        return Window(events[:length], bars[:length], np.ones(length, dtype=np.float32))
    body = slice(start, start + length - header)
    weights = np.ones(header + len(events[body]), dtype=np.float32)
    weights[:header] = 0.0  # the header was already learnt from the piece's first window
    return Window(np.concatenate([events[:header], events[body]]),
                  np.concatenate([bars[:header], bars[body]]), weights)


@dataclass
class Batch:
    events: torch.Tensor  # (B, T, fields) long
    bars: torch.Tensor  # (B, T) long
    weights: torch.Tensor  # (B, T) float
    captions: list[str]
    controls: list[np.ndarray]


def collate(windows: list[Window], captions: list[str], controls: list[np.ndarray]) -> Batch:
    length = max(len(w.events) for w in windows)
    events = np.zeros((len(windows), length, windows[0].events.shape[1]), dtype=np.int64)
    bars = np.zeros((len(windows), length), dtype=np.int64)
    weights = np.zeros((len(windows), length), dtype=np.float32)
    for i, w in enumerate(windows):
        events[i, : len(w.events)] = w.events
        bars[i, : len(w.events)] = w.bars
        weights[i, : len(w.events)] = w.weights
    return Batch(torch.from_numpy(events), torch.from_numpy(bars), torch.from_numpy(weights), captions, controls)


class ExampleStream:
    """An endless, seeded stream of augmented training windows drawn from a corpus split."""

    def __init__(self, corpus: Corpus, drums: DrumBank | None, window_length: int, seed: int,
                 augment_examples: bool = True) -> None:
        self.corpus, self.drums, self.length = corpus, drums, window_length
        self.rng = np.random.default_rng(seed)
        self.augment_examples = augment_examples
        self.n_failed = 0

    def example(self, index: int) -> tuple[Window, str, np.ndarray] | None:
        work = self.corpus[index]
        try:
            if self.augment_examples:
                # The key-aware estimate (tonic at both ends), not the corpus's stored bar-alone one.
                ex = augment(work.score, work.attributes, work.captions, estimate_bar_chords(work.score),
                             self.rng, self.drums)
            else:
                score = work.score
                chords = self.corpus.estimated_chords(index)
                if not score.chords and chords and not all(t.is_drum for t in score.tracks):
                    score = score.copy()
                    score.chords = chords
                ex = Example(score, work.captions[0] if work.captions else "", corpus_style(work.attributes), ())
            events = encode(ex.score)
        except (TokenError, ValueError):
            self.n_failed += 1
            return None
        return window(events, self.length, self.rng), ex.caption, example_controls(ex.score, ex.style, self.rng)

    def batches(self, batch_size: int) -> Iterator[Batch]:
        while True:
            items: list[tuple[Window, str, np.ndarray]] = []
            while len(items) < batch_size:
                item = self.example(int(self.rng.integers(len(self.corpus))))
                if item is not None:
                    items.append(item)
            yield collate([i[0] for i in items], [i[1] for i in items], [i[2] for i in items])

