"""Comparing two versions of a project: notes bar by bar and track by track, timbres, and the audio."""

from __future__ import annotations

import numpy as np

from melodex.errors import MelodexError
from melodex.project import Project
from melodex.score import Score
from melodex.tokens import decode


def changed_bars(score_a: Score, score_b: Score) -> list[list[int]]:
    """Per track (of those both scores have), the 0-based bars whose notes differ."""
    starts = score_a.bar_starts(max(score_a.bar_count(), score_b.bar_count()))
    out = []
    for ta, tb in zip(score_a.tracks, score_b.tracks, strict=False):
        bars_a = np.searchsorted(starts, ta.notes[:, 0], side="right") - 1
        bars_b = np.searchsorted(starts, tb.notes[:, 0], side="right") - 1
        out.append([bar for bar in range(len(starts) - 1)
                    if not np.array_equal(ta.notes[bars_a == bar], tb.notes[bars_b == bar])])
    return out


def diff_pair(project: Project, a: str | None, b: str | None) -> tuple[str, str]:
    """The two version ids `diff` compares: `b` (default the current version) and `a` (default b's parent)."""
    second = project.resolve(b)
    first = project.resolve(a) if a is not None else project.parent_of(second)
    if first is None:
        raise MelodexError(f"version {second} is the first: it has nothing before it to compare with, name two "
                           "versions")
    return first, second


def diff(project: Project, a: str, b: str) -> list[str]:
    """What changed between two versions, bar by bar and track by track, and in the audio."""
    first, second = project.load_version(a), project.load_version(b)
    score_a, score_b = decode(first.events), decode(second.events)
    lines = []
    if score_a.bpm != score_b.bpm:
        lines.append(f"tempo {score_a.bpm:g} -> {score_b.bpm:g} BPM")
    if score_a.key != score_b.key:
        lines.append(f"key {score_a.key} -> {score_b.key}")
    if score_a.bar_count() != score_b.bar_count():
        grown = score_b.bar_count() - score_a.bar_count()
        unit = "bar" if abs(grown) == 1 else "bars"
        lines.append(f"bars {score_a.bar_count()} -> {score_b.bar_count()} ({grown:+d} {unit})")
    by_track = changed_bars(score_a, score_b)
    for index, ta in enumerate(score_a.tracks[: len(score_b.tracks)]):
        changed = [bar + 1 for bar in by_track[index]]
        if changed:
            bars = "bar" if len(changed) == 1 else "bars"  # "bars 2" read wrong for one bar
            lines.append(f"track {index + 1} ({ta.role}): notes changed in {bars} {_ranges(changed)}")
        if first.timbres.get(index) != second.timbres.get(index):
            lines.append(f"track {index + 1} ({ta.role}): timbre {first.timbres[index].text!r} -> "
                         f"{second.timbres[index].text!r}")
    pruned = [v.id for v in (first, second) if v.pruned]
    if pruned:
        which = f"version {pruned[0]} was" if len(pruned) == 1 else f"versions {' and '.join(pruned)} were"
        lines.append(f"audio not compared: {which} pruned (check it out to render it again)")
        return lines
    n, longest = min(len(first.mix), len(second.mix)), max(len(first.mix), len(second.mix))
    # Samples only one version has (the song grew or shrank) count as changed.
    differs = np.concatenate([~np.all(first.mix[:n] == second.mix[:n], axis=1), np.ones(longest - n, dtype=bool)])
    if differs.any():
        changed_s = np.flatnonzero(differs)
        rate = first.sample_rate
        lines.append(f"audio differs from {changed_s[0] / rate:.2f} s to {(changed_s[-1] + 1) / rate:.2f} s "
                     f"({differs.mean():.0%} of samples); identical elsewhere")
    else:
        lines.append("audio identical")
    if len(first.mix) != len(second.mix):
        seconds_a, seconds_b = len(first.mix) / first.sample_rate, len(second.mix) / second.sample_rate
        lines.append(f"length {seconds_a:.2f} s -> {seconds_b:.2f} s ({seconds_b - seconds_a:+.2f} s)")
    return lines or ["no differences"]


def _ranges(bars: list[int]) -> str:
    out, start = [], bars[0]
    for previous, current in zip(bars, [*bars[1:], None], strict=True):
        if current != previous + 1:
            out.append(f"{start}" if start == previous else f"{start}-{previous}")
            if current is not None:
                start = current
    return ", ".join(out)
