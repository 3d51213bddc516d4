"""Where generated chord plans sit on the tonic: the same prompts composed under variants of the song form.

Each prompt x seed is composed several ways, and every bar is classed by who chose its downbeat chord:
`written` (the model, free), `cadence` (the model, held to the tonic or dominant by the form) or `copied`
(the form copied it from an earlier bar). Per variant and class: the share of bars whose downbeat chord is
the tonic, and of bar lines where the chord differs from the bar before (the training accompaniment of the
loop styles: about 0.42 and 0.64); and how often the model's own chord holds after 1, 2, 3+ identical bars.
Variants:

- `song`: the form as shipped;
- `section-cadences`: every section's last bar cadences, loop styles too (the form before 2026-12-08);
- `no-intro-link`: the main section does not open with the intro's harmony;
- `no-copies` / `no-cadences`: the form without its copies / without its cadences;
- `bare`: neither (the model alone, bar by bar, under the same plan).

    python scripts/eval_plans.py --styles synthwave,funk,house,pop,rock --limit 6 --seeds 0,1 --json J
    python scripts/eval_plans.py --styles synthwave --limit 1 --variants song,bare --show   # each bar's chord
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from melodex.errors import MelodexError, run_script

VARIANTS = ("song", "section-cadences", "no-intro-link", "no-copies", "no-cadences", "bare")
CLASSES = ("written", "cadence", "copied")


def variant_form(variant: str, sections, style: str | None):
    from melodex.structure.form import SongForm, song_form

    if variant == "section-cadences":
        return song_form(sections, style, loop_cadences=True)
    if variant == "no-intro-link":
        return song_form(sections, style, intro_link=False)
    form = song_form(sections, style)
    if variant == "no-cadences":
        return SongForm(form.n_bars, dict(form.sources), {}, form.links)
    if variant == "no-copies":
        return SongForm(form.n_bars, {}, dict(form.cadences), form.links)
    if variant == "bare":
        return SongForm(form.n_bars, {}, {}, form.links)
    return form


def bar_class(form, bar: int) -> str:
    return "copied" if (bar, "chords") in form.sources else "cadence" if bar in form.cadences else "written"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", default="tuning", help="tuning, test, or a prompt file (default tuning)")
    parser.add_argument("--styles", default="", help="only prompts whose brief style is one of these (comma list)")
    parser.add_argument("--limit", type=int, default=0, help="first N chosen prompts (0 = all)")
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds (default 0,1)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--show", action="store_true", help="print each song's bars: class letter and chord")
    parser.add_argument("--json", type=Path, help="write the table and every song's bars here")
    args = parser.parse_args()

    import torch

    from melodex.evaluate.listen import split_prompts
    from melodex.evaluate.song import bar_line_chords, is_tonic
    from melodex.pipeline import (
        GenerateOptions,
        chord_requests,
        decoding_options,
        read_brief,
        seed_for,
        shipped,
        song_plan,
    )
    from melodex.score import ChordSymbol
    from melodex.structure.song import write_song

    variants = [v for v in args.variants.split(",") if v]
    if unknown := [v for v in variants if v not in VARIANTS]:
        raise MelodexError(f"--variants: {', '.join(unknown)} not among {', '.join(VARIANTS)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise MelodexError(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. 0,1") from None
    styles = {s.strip() for s in args.styles.split(",") if s.strip()}
    briefs = [(p, read_brief(p, GenerateOptions())) for p in split_prompts(args.prompts)]
    chosen = [(p, b) for p, b in briefs if not styles or b.style in styles]
    chosen = chosen[: args.limit] if args.limit else chosen
    model = shipped().structure
    torch.set_num_threads(1)  # as `pipeline.compose` decodes (two threads on a busy machine thrash)
    counts: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0])  # bars, tonic, lines, changes
    holds: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])  # bar lines, held
    songs: list[dict[str, Any]] = []
    started, total = time.perf_counter(), len(chosen) * len(seeds) * len(variants)
    for prompt, brief in chosen:
        plan = song_plan(brief)
        for seed in seeds:
            decoding = decoding_options(brief, GenerateOptions(seed=seed), seed_for(seed, "compose"))
            for variant in variants:
                print(f"\r  {len(songs) + 1}/{total} {variant:16s} {prompt[:50]}", end="", file=sys.stderr, flush=True)
                form = variant_form(variant, plan.sections, brief.style)
                song = write_song(model, brief.prompt, plan, form, decoding, chords=chord_requests(brief, plan))
                key = song.score.key
                bars = [(c.root, c.quality) if c is not None else None
                        for c in bar_line_chords(song.score, song.score.chords)]
                classes = [bar_class(form, b) for b in range(len(bars))]
                songs.append({"variant": variant, "prompt": prompt, "seed": seed, "key": key.index,
                              "sections": [list(s) for s in plan.sections], "classes": classes, "chords": bars})
                if args.show:
                    cells = [f"{'K' if c == 'cadence' else c[0]}:"
                             f"{ChordSymbol(0, *v).name(key) if v is not None else '-'}"
                             for c, v in zip(classes, bars, strict=True)]
                    print(f"\n{variant}, seed {seed}, {prompt!r}:\n  " + " ".join(cells))
                run = 0  # bars in a row with one chord, ending at the bar before
                for b, (value, cls) in enumerate(zip(bars, classes, strict=True)):
                    if value is None:
                        run = 0
                        continue
                    if b > 0 and bars[b - 1] is not None:
                        run = run + 1 if b >= 2 and bars[b - 1] == bars[b - 2] else 1
                        if cls != "copied":  # the model chose: does it hold after `run` identical bars?
                            h = holds[(variant, min(run, 3))]
                            h[0] += 1
                            h[1] += value == bars[b - 1]
                    for group in (cls, "all"):
                        c = counts[(variant, group)]
                        c[0] += 1
                        c[1] += is_tonic(ChordSymbol(0, *value), key)
                        if b > 0 and bars[b - 1] is not None:
                            c[2] += 1
                            c[3] += value != bars[b - 1]
    print(file=sys.stderr)
    print(f"{len(chosen)} prompts x {len(seeds)} seeds in {time.perf_counter() - started:.0f} s; cells: tonic bars / "
          "chord changes (bars)")
    print("| variant | all | " + " | ".join(CLASSES) + " |")
    print("|---|---|" + "---|" * len(CLASSES))
    table: dict[str, dict[str, float | None]] = {}
    for variant in variants:
        cells = []
        for group in ("all", *CLASSES):
            n, tonic, lines, changed = counts[(variant, group)]
            table[f"{variant}/{group}"] = {"bars": n, "tonic": tonic / n if n else None,
                                           "changes": changed / lines if lines else None}
            cells.append(f"{tonic / n:.2f} / {changed / lines:.2f} ({int(n)})" if n and lines else "-")
        print(f"| {variant} | " + " | ".join(cells) + " |")
    print("\nThe model's own chords (not copied): held after 1, 2, 3+ identical bars (bar lines)")
    for variant in variants:
        rates = {k: holds[(variant, k)][1] / n if (n := holds[(variant, k)][0]) else None for k in (1, 2, 3)}
        table[f"{variant}/holds"] = {str(k): rate for k, rate in rates.items()}
        print(f"  {variant}: " + ", ".join(f"{rate:.2f} ({holds[(variant, k)][0]})" if rate is not None else "-"
                                          for k, rate in rates.items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"options": vars(args) | {"json": str(args.json)}, "table": table,
                                         "songs": songs}, indent=1))
    return 0


if __name__ == "__main__":
    run_script(main)
