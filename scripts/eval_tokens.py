"""Tokenizer round trip over the whole committed corpus: how much of each work survives Score -> tokens -> Score.

Prints, per collection: works encoded without error, works whose notes survive exactly (onset, duration,
pitch, velocity), share of notes exact, share exact in time and pitch (velocity aside: it is quantised to
16 levels), and whether the quantised score is a fixed point (it must be: 100%).

    .venv/bin/python scripts/eval_tokens.py [--limit N]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from melodex.data.corpus import load_corpus
from melodex.errors import MelodexError
from melodex.score import Score
from melodex.tokens import decode, encode


def note_set(score: Score) -> set[tuple[int, ...]]:
    return {(i, *map(int, row)) for i, t in enumerate(score.tracks) for row in t.notes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=0, help="only the first N works (0 = all)")
    args = parser.parse_args()
    corpus = load_corpus()
    stats: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    errors: dict[str, str] = {}
    start = time.perf_counter()
    n = len(corpus) if not args.limit else min(args.limit, len(corpus))
    for position in range(n):
        work = corpus[position]
        collection = str(work.attributes.get("collection", "?"))
        row = stats[collection]
        row["works"] += 1
        notes = note_set(work.score)
        row["notes"] += len(notes)
        try:
            events = encode(work.score)
            back = decode(events)
        except MelodexError as exc:
            errors.setdefault(collection, str(exc))
            continue
        row["encoded"] += 1
        row["events"] += len(events)
        back_notes = note_set(back)
        kept = notes & back_notes
        row["notes_exact"] += len(kept)
        row["notes_timing"] += len({n[:4] for n in notes} & {n[:4] for n in back_notes})
        row["works_exact"] += kept == notes and back.bar_count() == work.score.bar_count()
        row["fixed_point"] += bool(np.array_equal(encode(back), events))
    elapsed = time.perf_counter() - start
    total: dict[str, float] = defaultdict(float)
    print(f"{'collection':<20}{'works':>7}{'encoded':>9}{'exact works':>13}{'exact notes':>13}"
          f"{'time+pitch':>12}{'fixed point':>13}")
    for collection, row in sorted(stats.items()):
        for key, value in row.items():
            total[key] += value
        print(_line(collection, row))
    print(_line("ALL", total))
    print(f"{int(total['events'])} events for {int(total['notes'])} notes "
          f"({total['events'] / max(total['notes'], 1):.2f} events per note); {elapsed:.0f} s")
    for collection, message in errors.items():
        print(f"first error in {collection}: {message}")


def _line(name: str, row: dict[str, float]) -> str:
    works = max(row["works"], 1)
    notes = max(row["notes"], 1)
    return (f"{name:<20}{int(row['works']):>7}{row['encoded'] / works:>9.1%}{row['works_exact'] / works:>13.1%}"
            f"{row['notes_exact'] / notes:>13.2%}{row['notes_timing'] / notes:>12.2%}"
            f"{row['fixed_point'] / max(row['encoded'], 1):>13.1%}")


if __name__ == "__main__":
    main()
