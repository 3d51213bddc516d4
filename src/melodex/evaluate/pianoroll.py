"""Piano-roll pictures of a Score: one lane per track, chord symbols and section names along the top.

For looking at what the structure model wrote (matplotlib, an evaluation extra): does the bass sit on the
chord roots, do the choruses repeat, does the groove hold.
"""

from __future__ import annotations

from pathlib import Path

from melodex.evaluate.plots import _pyplot, _save
from melodex.score import TPQ, Score


def piano_roll(score: Score, path: Path, title: str = "", bars: tuple[int, int] | None = None) -> Path:
    """Write a PNG of `score` (optionally only bars [a, b)) to `path`."""
    plt = _pyplot()
    starts = score.bar_starts()
    first, last = bars or (0, len(starts) - 1)
    lo, hi = starts[first], starts[min(last, len(starts) - 1)]
    tracks = [t for t in score.tracks if len(t.notes)]
    fig, axes = plt.subplots(len(tracks), 1, figsize=(max(10, (last - first) * 0.6), 1.6 * len(tracks) + 1),
                             sharex=True, squeeze=False)
    beat = TPQ
    for ax, track in zip(axes[:, 0], tracks, strict=True):
        notes = track.notes[(track.notes[:, 0] < hi) & (track.notes[:, 0] + track.notes[:, 1] > lo)]
        for start, dur, pitch, vel in notes:
            ax.add_patch(plt.Rectangle(((start - lo) / beat, pitch - 0.4), dur / beat, 0.8,
                                       color=plt.cm.viridis(vel / 127)))
        if len(notes):
            ax.set_ylim(notes[:, 2].min() - 2, notes[:, 2].max() + 2)
        ax.set_ylabel(f"{track.role}\n{track.program}", fontsize=7)
        for s in starts[first:last + 1]:
            ax.axvline((s - lo) / beat, color="0.85", lw=0.5, zorder=0)
    top = axes[0, 0]
    for chord in score.chords:
        if lo <= chord.tick < hi:
            top.text((chord.tick - lo) / beat, 1.02, chord.name(score.key), transform=top.get_xaxis_transform(),
                     fontsize=6)
    for section in score.sections:
        if first <= section.start_bar < last:
            x = (starts[section.start_bar] - lo) / beat
            for ax in axes[:, 0]:
                ax.axvline(x, color="red", lw=1)
            top.text(x, 1.12, section.name, transform=top.get_xaxis_transform(), fontsize=8, color="red")
    axes[-1, 0].set_xlim(0, (hi - lo) / beat)
    axes[-1, 0].set_xlabel("beats")
    fig.suptitle(title, fontsize=9, y=1.0)
    _save(fig, Path(path))
    return Path(path)

__all__ = ["piano_roll"]
