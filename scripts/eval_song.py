"""Song measures of the shipped model's compositions next to the training accompaniment and real songs.

Rows: the measures of `melodex.evaluate.song` (same-name sections, repetition, drums bar to bar, backbeat,
four on the floor, bass roots, chord tones, clashes, motifs, leaps, tonic). Columns: (a) songs composed
score-only by the shipped pipeline for the prompts (`melodex generate`'s compose step, no audio), (b) the
accompanied training examples (`augment` -> `accompany`), (c) real songs (freedoom, OpenMSX; chords
estimated per bar). Cells: median [quartiles] n=songs with a value.

    python scripts/eval_song.py --prompts tuning --limit 20            # ~2 min on 2 cores
    python scripts/eval_song.py --prompts test --limit 0 --json out/song_test.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from melodex.errors import MelodexError, run_script


def use_checkpoint(checkpoint: Path | None, calibration: str) -> None:
    """Make the pipeline compose with another structure checkpoint and/or calibration."""
    from melodex import pipeline
    from melodex.structure.model import load_model

    model = load_model(checkpoint) if checkpoint else pipeline.shipped().structure
    if calibration == "none":
        model.degree_bias, model.interval_bias, model.stack_bias = None, None, 0.0
    elif calibration != "own":
        donor = load_model(calibration)
        model.degree_bias, model.interval_bias, model.stack_bias = (donor.degree_bias, donor.interval_bias,
                                                                    donor.stack_bias)
    chosen = pipeline.Models(model, None, "composition only")
    pipeline.shipped = lambda: chosen  # type: ignore[assignment]


# The loop-based styles (pop, rock, electronic, hip hop), as the prompt parser names them.
LOOP_BASED = frozenset({"pop", "rock", "house", "synthwave", "chiptune", "hip hop", "lo-fi"})
BY_STYLE = ("bass_root_at_changes", "backbeat", "four_on_the_floor", "drum_consistency")


def style_lines(reports: list[dict]) -> list[str]:
    """Medians of the groove and bass rows per style group: loop-based styles against the rest, then each
    style with a value."""
    import numpy as np

    def cell(rows: list[dict], metric: str) -> str:
        values = [r[metric] for r in rows if r.get(metric) is not None]
        return f"{np.median(values):.2f} n={len(values)}" if values else "-"

    ok = [r for r in reports if "error" not in r]
    groups = {"loop-based styles": [r for r in ok if r.get("plays_as", r.get("style")) in LOOP_BASED],
              "other styles": [r for r in ok if r.get("plays_as", r.get("style")) not in LOOP_BASED]}
    groups |= {style: [r for r in ok if r.get("style") == style] for style in sorted({r.get("style") for r in ok})}
    lines = ["", "| style | " + " | ".join(BY_STYLE) + " |", "|---|" + "---|" * len(BY_STYLE)]
    for group, rows in groups.items():
        lines.append(f"| {group} ({len(rows)}) | " + " | ".join(cell(rows, m) for m in BY_STYLE) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", default="tuning", help="tuning, test, all, or a prompt file (default tuning)")
    parser.add_argument("--split", choices=("tuning", "test"), help="same as --prompts tuning / --prompts test")
    parser.add_argument("--limit", type=int, default=20, help="first N prompts of the set (0 = all; default 20)")
    parser.add_argument("--seeds", default="0", help="comma-separated generation seeds (default 0)")
    parser.add_argument("--bars", type=int, default=0, help="cut songs to N bars like melodex eval (0 = as asked)")
    parser.add_argument("--training", type=int, default=200, help="accompanied training examples (0 = skip)")
    parser.add_argument("--no-real", action="store_true", help="leave out the real songs")
    parser.add_argument("--no-generated", action="store_true", help="leave out the generated songs")
    parser.add_argument("--arrangement", default="song", choices=("song", "flat"),
                        help="compose under the song form (default) or in one flat pass, as before")
    parser.add_argument("--checkpoint", type=Path, help="compose with this structure checkpoint (default: shipped)")
    parser.add_argument("--calibration", default="own",
                        help="decoding calibration tables: 'own' (the checkpoint's), 'none', or a checkpoint "
                             "directory to take them from")
    parser.add_argument("--drum-temperature", type=float, help="drum notes' temperature (default: the shipped)")
    parser.add_argument("--guidance", type=float, help="structure model CFG (default: the shipped)")
    parser.add_argument("--temperature", type=float, help="sampling temperature (default: the shipped)")
    parser.add_argument("--top-p", type=float, help="nucleus mass (default: the shipped)")
    parser.add_argument("--json", type=Path, help="write every song's measures and the options here")
    args = parser.parse_args()

    from melodex.evaluate.listen import split_prompts
    from melodex.evaluate.song_sets import generated_reports, real_reports, table_lines, training_reports

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise MelodexError(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. 0,1,2") from None
    if args.limit < 0 or args.bars < 0 or args.training < 0:
        raise MelodexError("--limit, --bars and --training take 0 or a positive number")
    if args.split:
        args.prompts = args.split
    columns = {}
    seconds = {}
    if args.checkpoint or args.calibration != "own":
        use_checkpoint(args.checkpoint, args.calibration)
    decoding = {name: value for name in ("guidance", "temperature", "top_p", "drum_temperature")
                if (value := getattr(args, name)) is not None}
    if not args.no_generated:
        prompts = split_prompts(args.prompts)
        prompts = prompts[: args.limit] if args.limit else prompts
        started = time.perf_counter()
        columns[f"generated {args.prompts} ({args.arrangement})"] = generated_reports(
            prompts, seeds, args.bars or None,
            lambda done, total, what: print(f"\r  composing {done + 1}/{total}", end="", file=sys.stderr, flush=True),
            arrangement=args.arrangement, decoding=decoding)
        print(file=sys.stderr)
        seconds["generated"] = time.perf_counter() - started
    if args.training:
        started = time.perf_counter()
        columns["training accompaniment"] = training_reports(args.training)
        seconds["training"] = time.perf_counter() - started
    if not args.no_real:
        started = time.perf_counter()
        columns["real songs"] = real_reports()
        seconds["real"] = time.perf_counter() - started
    for line in table_lines(columns):
        print(line)
    for name, reports in columns.items():
        if name.startswith("generated"):
            for line in style_lines(reports):
                print(line)
    for reports in columns.values():
        for r in (r for r in reports if "error" in r):
            print(f"failed: {r['prompt']!r} (seed {r['seed']}): {r['error']}", file=sys.stderr)
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()), file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"options": vars(args) | {"json": str(args.json)}, "seconds": seconds,
                                         "columns": columns}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    run_script(main)
