"""Are the bars `extend` adds silent, and more often than bars the model rewrites in place? (issue 17, point 4)

    python tests/helpers/extend_probe.py tiny|shipped "PROMPT" [BARS]

Generates PROMPT once (SoundFont, 16 kHz), then for seeds 1000-1009 writes the notes of an extension by BARS
(default 2) and, for comparison, of a regen of the song's last BARS bars; no audio is rendered. Prints the
notes per track in each new or rewritten bar, and how many of those bars have no note in any track.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import tiny_pipeline
from melodex import pipeline
from melodex.edit_notes import _continued_chords, _infill
from melodex.edit_session import Draft
from melodex.score import Score
from melodex.song import load
from melodex.structure.song import set_chords
from melodex.tokens_vocabulary import BAR, EOS, F_KIND, FIELDS


def notes_per_bar(score: Score, bars: range) -> list[list[int]]:
    """Per bar of `bars`, the number of notes starting in it, per track."""
    starts = score.bar_starts()
    return [[int(((t.notes[:, 0] >= starts[b]) & (t.notes[:, 0] < starts[b + 1])).sum()) if len(t.notes) else 0
             for t in score.tracks] for b in bars]


def extended_events(events: np.ndarray, score: Score, n_bars: int) -> np.ndarray:
    """The events `edit.extend` gives the model: bar lines after the end, carrying the continued chords."""
    row = np.zeros((n_bars + 1, len(FIELDS)), dtype=np.int64)
    row[:n_bars, F_KIND], row[n_bars, F_KIND] = BAR, EOS
    grown = np.concatenate([events[:-1], row])
    old = score.bar_count()
    progression = _continued_chords(events, score, n_bars)
    return set_chords(grown, range(old, old + n_bars), progression) if progression else grown


def main(which: str, prompt: str, n_bars: int = 2) -> None:
    pipe = load() if which == "shipped" else tiny_pipeline()
    song = pipe.song(prompt, pipeline.GenerateOptions(renderer="soundfont", sample_rate=16000, timbre_steps=2))
    take, old = song.take, song.take.score.bar_count()
    tracks = list(range(len(take.score.tracks)))
    print(f"generated: {notes_per_bar(take.score, range(old))}")
    silent = {"extend": 0, "regen": 0}
    for seed in range(1000, 1010):
        extended, _ = _infill(Draft(take, song.brief, song.options, pipe=pipe), extended_events(
            take.events, take.score, n_bars), (old, old + n_bars), tracks, seed)
        rewritten, _ = _infill(Draft(take, song.brief, song.options, pipe=pipe), take.events,
                               (old - n_bars, old), tracks, seed)
        added = notes_per_bar(extended, range(old, old + n_bars))
        redone = notes_per_bar(rewritten, range(old - n_bars, old))
        silent["extend"] += sum(not any(bar) for bar in added)
        silent["regen"] += sum(not any(bar) for bar in redone)
        print(f"seed {seed}: extend {added}  regen of the last bars {redone}")
    print(f"bars with no note in any track, of {10 * n_bars}: {silent}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2)
