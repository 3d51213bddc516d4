"""Whether a Score obeys its plan, and its music statistics (pitch-class entropy, scale consistency,
polyphony, groove...) computed with numpy (muspy is not installed). Shared by the structure-model
evaluation and `melodex eval`, which compares generated scores with held-out real ones.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from melodex.score import Key, Score
from melodex.tokens_grammar import Plan, validate
from melodex.tokens_vocabulary import TokenError


def statistics(score: Score) -> dict[str, float]:
    pitched = [t.notes for t in score.tracks if not t.is_drum and len(t.notes)]
    notes = np.concatenate(pitched) if pitched else np.zeros((0, 4), dtype=np.int64)
    n_bars = max(score.bar_count(), 1)
    out: dict[str, float] = {}
    if len(notes):
        histogram = np.bincount(notes[:, 2] % 12, minlength=12) / len(notes)
        nonzero = histogram[histogram > 0]
        out["pitch_class_entropy"] = float(-(nonzero * np.log2(nonzero)).sum())
        out["scale_consistency"] = max(float(np.isin(notes[:, 2] % 12, Key.from_index(k).scale).mean())
                                       for k in range(24))
        out["in_declared_key"] = float(np.isin(notes[:, 2] % 12, score.key.scale).mean())
        _, counts = np.unique(notes[:, 0], return_counts=True)
        out["polyphony"] = float(counts.mean())
        out["pitch_range"] = float(notes[:, 2].max() - notes[:, 2].min())
        out["mean_duration_beats"] = float(notes[:, 1].mean() / 480)
    else:
        out.update(pitch_class_entropy=0.0, scale_consistency=0.0, in_declared_key=0.0, polyphony=0.0,
                   pitch_range=0.0, mean_duration_beats=0.0)
    out["notes_per_bar"] = sum(len(t.notes) for t in score.tracks) / n_bars
    out["groove_consistency"] = groove_consistency(score)
    out["empty_bar_rate"] = empty_bar_rate(score)
    out["silent_track_rate"] = sum(len(t.notes) == 0 for t in score.tracks) / max(len(score.tracks), 1)
    return out


def groove_consistency(score: Score) -> float:
    """1 - mean Hamming distance between onset patterns of neighbouring bars (muspy's definition)."""
    starts = score.bar_starts(score.bar_count())
    onsets = np.concatenate([t.notes[:, 0] for t in score.tracks if len(t.notes)] or [np.zeros(0, np.int64)])
    patterns = []
    for a, b in pairwise(starts):
        pattern = np.zeros(max(1, (b - a) // 40), dtype=bool)
        inside = onsets[(onsets >= a) & (onsets < b)]
        pattern[np.minimum((inside - a) // 40, len(pattern) - 1)] = True
        patterns.append(pattern)
    distances = [np.mean(p != q) for p, q in pairwise(patterns) if len(p) == len(q)]
    return 1.0 - float(np.mean(distances)) if distances else 1.0


def empty_bar_rate(score: Score) -> float:
    starts = np.array(score.bar_starts(score.bar_count()))
    onsets = np.concatenate([t.notes[:, 0] for t in score.tracks if len(t.notes)] or [np.zeros(0, np.int64)])
    bars = np.searchsorted(starts, onsets, side="right") - 1
    return 1.0 - len(np.unique(bars[(bars >= 0) & (bars < len(starts) - 1)])) / max(len(starts) - 1, 1)


def plan_obeyed(score: Score, events: np.ndarray, plan: Plan) -> dict[str, bool]:
    try:
        validate(events, plan)
        grammar = True
    except TokenError:
        grammar = False
    return {
        "grammar": grammar,
        "tempo": score.bpm == plan.bpm,
        "meter": (score.meter.numerator, score.meter.denominator) == plan.meter and len(score.time_signatures) == 1,
        "key": score.key == plan.key,
        "instruments": [(t.program, t.role) for t in score.tracks] == list(plan.tracks or ()),
        "sections": [(s.name.split(" ")[0], s.n_bars) for s in score.sections] == list(plan.sections or ()),
        "bars": score.bar_count() == plan.n_bars,
    }
