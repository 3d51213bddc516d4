"""Per-bar chord estimates by template matching, for works whose source names no chords.

Each bar's notes are folded into a duration-weighted pitch-class profile and compared with a
template for every root and quality; the best match is the bar's chord. It is a rough harmonic
analysis (no voice leading, no passing-tone detection), recorded as estimated in the attributes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from melodex.score import DUR, PITCH, START, ChordSymbol, Key, Score

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
_LABEL_INDEX = {label: i for i, label in enumerate(_LABELS)}
_PRIORS = np.array([_PRIOR[q] for _, q in _LABELS])


def best_chord(profile: np.ndarray) -> tuple[int, str] | None:
    """The (root, quality) whose template fits a 12-bin pitch-class profile best, or None if silent."""
    total = float(profile.sum())
    if total <= 0:
        return None
    scores = _TEMPLATES @ (profile / total) + _PRIORS
    return _LABELS[int(np.argmax(scores))]


def bar_profiles(score: Score) -> tuple[np.ndarray, list[int]]:
    """(bars, 12) duration-weighted pitch-class profiles of the pitched notes, and each bar's start tick."""
    pitched = [t.notes for t in score.tracks if not t.is_drum and len(t.notes)]
    starts = np.asarray(score.bar_starts(), dtype=np.int64)
    profiles = np.zeros((max(len(starts) - 1, 0), 12))
    if not pitched:
        return profiles, [int(s) for s in starts[:-1]]
    notes = np.concatenate(pitched)
    ends = notes[:, START] + notes[:, DUR]
    for bar in range(len(starts) - 1):
        lo, hi = starts[bar], starts[bar + 1]
        overlap = np.minimum(ends, hi) - np.maximum(notes[:, START], lo)
        inside = overlap > 0
        if not inside.any():
            continue
        # Lower notes weigh a little more: the bass usually carries the root.
        pitch = notes[inside, PITCH]
        weight = overlap[inside] * (1.0 + (pitch.max() - pitch) / 48.0)
        profiles[bar] = np.bincount(pitch % 12, weights=weight, minlength=12)
    return profiles, [int(s) for s in starts[:-1]]


@dataclass(frozen=True)
class KeyPrior:
    """How much the key steers the per-bar estimate (fitted by scripts/eval_chords.py on a tuning half of
    the corpus's works with written chord symbols; see docs/RESULTS.md, "Chord estimates")."""

    # Score bonus of a chord whose function the key has (scaled by `_FUNCTION_WEIGHT`). Fitted to 0: on the
    # tuning half any diatonic bonus lost more bars than it won (the tunes' melodies already imply their keys).
    diatonic: float = 0.0
    stay: float = 0.02  # bonus for keeping the previous bar's chord (harmony moves slower than the tune)
    # Bonus for the tonic chord on the first and the last bar: the written chords open on the tonic far more
    # often than the bar-alone estimate does. 0.1 costs no bar agreement on the tuning half; 0.3 (the stage-4
    # training data) cost 0.6 points there and overruled a bar that plainly spells another chord.
    ends: float = 0.1


# Roman-numeral functions of each mode: (semitones above the tonic, quality) -> weight of the bonus.
# Tonic, dominant and subdominant weigh most: they are what establishes a key to a listener.
_FUNCTION_WEIGHT: dict[str, dict[tuple[int, str], float]] = {
    "major": {(0, "maj"): 1.0, (7, "maj"): 0.9, (7, "7"): 0.9, (5, "maj"): 0.8, (9, "min"): 0.6,
              (2, "min"): 0.5, (4, "min"): 0.3, (11, "dim"): 0.2, (0, "maj7"): 0.4, (5, "maj7"): 0.3,
              (2, "min7"): 0.4, (9, "min7"): 0.3},
    "minor": {(0, "min"): 1.0, (7, "maj"): 0.8, (7, "7"): 0.8, (5, "min"): 0.7, (8, "maj"): 0.6,
              (3, "maj"): 0.6, (10, "maj"): 0.6, (7, "min"): 0.4, (2, "dim"): 0.2, (0, "min7"): 0.4},
}


def _key_bonus(key: Key) -> np.ndarray:
    """The diatonic weight of every (root, quality) label of the templates, in `key`."""
    table = _FUNCTION_WEIGHT[key.mode]
    return np.array([table.get(((root - key.tonic) % 12, quality), 0.0) for root, quality in _LABELS])


def estimate_bar_chords(score: Score, prior: KeyPrior | None = KeyPrior()) -> list[ChordSymbol]:
    """One chord per bar that has pitched notes, at the bar line; repeated chords are kept per bar.

    With a `prior`, the bars are read together in the score's key (Viterbi over bars): diatonic chords,
    the tonic at both ends and a chord that stays are preferred where the notes leave a choice. Without one,
    each bar takes its best template alone (the estimate before 2026-12-02, which called a D major tune's
    first bars F, F#, C, Em).
    """
    profiles, starts = bar_profiles(score)
    totals = profiles.sum(axis=1)
    sounding = np.flatnonzero(totals > 0)
    if not len(sounding):
        return []
    fits = (profiles[sounding] / totals[sounding, None]) @ _TEMPLATES.T + _PRIORS  # (bars, labels)
    if prior is None:
        best = fits.argmax(axis=1)
    else:
        local = fits + prior.diatonic * _key_bonus(score.key)
        tonic = np.array([(root, quality) == (score.key.tonic, "maj" if score.key.mode == "major" else "min")
                          for root, quality in _LABELS])
        local[0] += prior.ends * tonic
        local[-1] += prior.ends * tonic
        best = _viterbi(local, prior.stay)
    return [ChordSymbol(starts[bar], *_LABELS[int(label)]) for bar, label in zip(sounding, best, strict=True)]


def _viterbi(local: np.ndarray, stay: float) -> np.ndarray:
    """The label path maximising the sum of `local` scores plus `stay` for each bar that keeps its label."""
    n, m = local.shape
    score = local[0].copy()
    back = np.zeros((n, m), dtype=np.int64)
    for bar in range(1, n):
        best_prev = int(score.argmax())
        move = score[best_prev]
        keep = score + stay
        back[bar] = np.where(keep >= move, np.arange(m), best_prev)
        score = np.maximum(keep, move) + local[bar]
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(score.argmax())
    for bar in range(n - 1, 0, -1):
        path[bar - 1] = back[bar, path[bar]]
    return path


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


# -- style progressions ------------------------------------------------------------------------------

# Chord loops typical of the loop-based styles, one chord per bar, as (semitones above the tonic, quality).
# The corpus's tunes are folk and classical, so the estimated plans are mostly tonic and dominant (generated
# songs sat on the tonic in 0.6-0.7 of their bars, real songs 0.4); a tune that a style's loop also fits is
# trained under that loop too (`fit_progression`), so the model learns the style's harmony as well.
I, II, III, IV, V, VI, VII = 0, 2, 4, 5, 7, 9, 11
STYLE_LOOPS: dict[str, tuple[tuple[tuple[int, str], ...], ...]] = {
    "major": (
        ((I, "maj"), (V, "maj"), (VI, "min"), (IV, "maj")),  # I-V-vi-IV
        ((VI, "min"), (IV, "maj"), (I, "maj"), (V, "maj")),  # vi-IV-I-V
        ((I, "maj"), (VI, "min"), (IV, "maj"), (V, "maj")),  # I-vi-IV-V
        ((I, "maj"), (IV, "maj"), (VI, "min"), (V, "maj")),  # I-IV-vi-V
        ((IV, "maj"), (I, "maj"), (V, "maj"), (VI, "min")),  # IV-I-V-vi
        ((I, "maj"), (IV, "maj"), (V, "maj"), (IV, "maj")),  # I-IV-V-IV
        ((I, "maj"), (10, "maj"), (IV, "maj"), (I, "maj")),  # I-bVII-IV-I (rock)
        ((II, "min"), (V, "maj"), (I, "maj"), (I, "maj")),  # ii-V-I
    ),
    "minor": (
        ((0, "min"), (8, "maj"), (3, "maj"), (10, "maj")),  # i-VI-III-VII
        ((0, "min"), (5, "min"), (8, "maj"), (7, "maj")),  # i-iv-VI-V
        ((0, "min"), (10, "maj"), (8, "maj"), (10, "maj")),  # i-VII-VI-VII
        ((0, "min"), (8, "maj"), (10, "maj"), (0, "min")),  # i-VI-VII-i
        ((0, "min"), (5, "min"), (7, "min"), (0, "min")),  # i-iv-v-i
        ((0, "min"), (3, "maj"), (10, "maj"), (5, "min")),  # i-III-VII-iv
    ),
}


def fit_progression(score: Score, margin: float = 0.12,
                    spans: tuple[int, ...] = (1, 2)) -> list[ChordSymbol] | None:
    """The style loop (`STYLE_LOOPS` of the score's mode, any rotation, each chord lasting one of `spans`
    bars) that fits the tune's bars best, if it comes within `margin` of the per-bar estimate's mean
    template fit: its chords, one per bar; None when no loop comes that close.

    Measured on 600 single-line training tunes (2026-12-02): at margin 0.12 with one- and two-bar chords,
    85% take a loop, their melodies 0.61 on its chord tones (0.78 on the estimate's; real songs' pitched
    parts 0.75). The earlier setting (0.08, one-bar chords, a random loop among those that fit) covered 33%
    at 0.61, so most "pop" examples were trained under a folk tune's tonic-and-dominant estimate and the
    model wrote pop songs on the tonic in two bars of three.
    """
    profiles, starts = bar_profiles(score)
    totals = profiles.sum(axis=1)
    sounding = np.flatnonzero(totals > 0)
    if len(sounding) < 4:
        return None
    fits = (profiles[sounding] / totals[sounding, None]) @ _TEMPLATES.T  # (bars, labels)
    estimate = float(fits.max(axis=1).mean())
    tonic = score.key.tonic
    best: tuple[float, list[int]] | None = None
    for loop in STYLE_LOOPS[score.key.mode]:
        for span in spans:
            period = len(loop) * span
            for rotation in range(period):
                steps = [loop[((bar + rotation) % period) // span] for bar in sounding]
                labels = [_LABEL_INDEX[((tonic + step) % 12, quality)] for step, quality in steps]
                fit = float(fits[np.arange(len(sounding)), labels].mean())
                if fit >= estimate - margin and (best is None or fit > best[0]):
                    best = (fit, labels)
    if best is None:
        return None
    return [ChordSymbol(starts[bar], *_LABELS[label]) for bar, label in zip(sounding, best[1], strict=True)]
