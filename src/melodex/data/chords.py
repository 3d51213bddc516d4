"""Per-bar chord estimates by template matching, for works whose source names no chords.

Each bar's notes are folded into a duration-weighted pitch-class profile and compared with a
template for every root and quality; the best match is the bar's chord. It is a rough harmonic
analysis (no voice leading, no passing-tone detection), recorded as estimated in the attributes.
"""

from __future__ import annotations

import numpy as np

from melodex.score import DUR, PITCH, START, ChordSymbol, Score

# Chord qualities and their intervals above the root. The names match the chord vocabulary of
# the token grammar (maj, min, dim, aug, 7, maj7, min7).
CHORD_INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
}
QUALITIES = tuple(CHORD_INTERVALS)
# Chord symbols written in a source may name richer chords; all are qualities of the token grammar.
SYMBOL_INTERVALS: dict[str, tuple[int, ...]] = {
    **CHORD_INTERVALS,
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "m7b5": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
    "6": (0, 4, 7, 9),
}

# Tie-breaking preference: a bar that fits a triad and its seventh chord equally is called a triad,
# and plain major/minor win over the rarer dim/aug.
_PRIOR = {"maj": 0.02, "min": 0.02, "7": 0.0, "maj7": -0.01, "min7": -0.01, "dim": -0.03, "aug": -0.05}


def _templates() -> tuple[np.ndarray, list[tuple[int, str]]]:
    rows, labels = [], []
    for quality, intervals in CHORD_INTERVALS.items():
        for root in range(12):
            row = np.full(12, -0.4)  # notes outside the chord count against it
            for step in intervals:
                row[(root + step) % 12] = 1.0
            row[root] += 0.15  # the root itself is the strongest evidence
            rows.append(row / len(intervals))
            labels.append((root, quality))
    return np.array(rows), labels


_TEMPLATES, _LABELS = _templates()
_PRIORS = np.array([_PRIOR[q] for _, q in _LABELS])


def best_chord(profile: np.ndarray) -> tuple[int, str] | None:
    """The (root, quality) whose template fits a 12-bin pitch-class profile best, or None if silent."""
    total = float(profile.sum())
    if total <= 0:
        return None
    scores = _TEMPLATES @ (profile / total) + _PRIORS
    return _LABELS[int(np.argmax(scores))]


def estimate_bar_chords(score: Score) -> list[ChordSymbol]:
    """One chord per bar that has pitched notes, at the bar line; repeated chords are kept per bar."""
    pitched = [t.notes for t in score.tracks if not t.is_drum and len(t.notes)]
    if not pitched:
        return []
    notes = np.concatenate(pitched)
    starts = np.asarray(score.bar_starts(), dtype=np.int64)
    ends = notes[:, START] + notes[:, DUR]
    chords = []
    for bar in range(len(starts) - 1):
        lo, hi = starts[bar], starts[bar + 1]
        overlap = np.minimum(ends, hi) - np.maximum(notes[:, START], lo)
        inside = overlap > 0
        if not inside.any():
            continue
        # Lower notes weigh a little more: the bass usually carries the root.
        pitch = notes[inside, PITCH]
        weight = overlap[inside] * (1.0 + (pitch.max() - pitch) / 48.0)
        profile = np.bincount(pitch % 12, weights=weight, minlength=12)
        found = best_chord(profile)
        if found is not None:
            chords.append(ChordSymbol(int(lo), found[0], found[1]))
    return chords


def quality_from_pitch_classes(pitch_classes: set[int], root: int) -> str:
    """The quality whose intervals best cover a chord's pitch classes above a known root."""
    intervals = {(pc - root) % 12 for pc in pitch_classes}
    best, best_score = "maj", -1.0
    for quality, steps in SYMBOL_INTERVALS.items():
        shared = len(intervals & set(steps))
        score = shared - 0.5 * len(set(steps) - intervals) - 0.5 * len(intervals - set(steps))
        if score > best_score:
            best, best_score = quality, score
    return best
