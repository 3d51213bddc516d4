"""Evaluate the renderer (sampler + production) against the plain SoundFont render of the same scores.

For a synthetic 60 s four-track score and a few music21 corpus works it measures, side by side:
note F1 of basic-pitch transcriptions of every pitched track (ours dry, ours produced, SoundFont),
click levels at note boundaries, master loudness and true peak, and render speed. Needs the `eval`
extra plus `pip install --no-deps basic-pitch`.

    .venv/bin/python scripts/eval_renderer.py [--quick] [--out results.md]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyloudnorm
from scipy.signal import resample_poly

from melodex.evaluate.renderer import (
    CORPUS_WORKS,
    click_levels,
    corpus_score,
    note_boundaries,
    note_f1,
    synthetic_score,
    transcribe,
)
from melodex.models import load_timbre
from melodex.pipeline import seed_for
from melodex.production.settings import mix_settings_from_text
from melodex.render_audio import RenderOptions, render_score
from melodex.sampler import Instrument, perform, stem_length
from melodex.score import Score
from melodex.soundfont import SoundFontSynth

RATE = 44100


def reference_dbtp(audio: np.ndarray) -> float:
    return float(20 * np.log10(np.abs(resample_poly(audio.astype(np.float64), 4, 1, axis=0)).max()))


def evaluate(name: str, score: Score, synth: SoundFontSynth, mix_text: str,
             timbre: str | None = None, weights: Path | None = None) -> dict[str, float | str]:
    # The product's render path (`melodex generate`'s sample-set spacing, layers, cfg and steps).
    model = load_timbre(weights) if timbre else None
    tracks = range(len(score.tracks))
    clock, cpu = time.perf_counter(), time.process_time()
    result = render_score(score, {i: timbre or "" for i in tracks}, {i: seed_for(0, "timbre", i) for i in tracks},
                          mix_settings_from_text(mix_text), RenderOptions(sample_rate=RATE), model)
    ours_s, ours_cpu = time.perf_counter() - clock, time.process_time() - cpu

    clock, cpu = time.perf_counter(), time.process_time()
    reference = synth.render_stems(score, RATE)
    soundfont_s, soundfont_cpu = time.perf_counter() - clock, time.process_time() - cpu

    length = stem_length(score, RATE)
    dry = [perform(score, i, Instrument(result.samplesets[i], RATE), RATE, length=length) for i in tracks]

    f1: dict[str, list[float]] = {"ours dry": [], "ours mixed": [], "soundfont": []}
    clicks_ours, clicks_ref = [], []
    for index, track in enumerate(score.tracks):
        on, off = note_boundaries(score, index, RATE)
        boundaries = np.concatenate([on, off])
        clicks_ours.append(click_levels(dry[index], boundaries, RATE))
        clicks_ref.append(click_levels(reference[index].mean(axis=1), boundaries, RATE))
        if track.is_drum:
            continue
        for label, audio in (
            ("ours dry", dry[index]),
            ("ours mixed", result.stems[index]),
            ("soundfont", reference[index]),
        ):
            precision, recall, f = note_f1(score, index, transcribe(audio, RATE))
            f1[label].append(f)
            print(
                f"  {name} track {index} ({track.role}, program {track.program}) {label}: "
                f"P {precision:.3f} R {recall:.3f} F1 {f:.3f}",
                flush=True,
            )
    ours_db, ref_db = np.concatenate(clicks_ours), np.concatenate(clicks_ref)
    duration = len(result.mix) / RATE
    render_s = result.seconds["render"]
    return {
        "score": name,
        "seconds": duration,
        "notes": score.n_notes,
        "f1 ours dry": float(np.mean(f1["ours dry"])),
        "f1 ours mixed": float(np.mean(f1["ours mixed"])),
        "f1 soundfont": float(np.mean(f1["soundfont"])),
        "lufs": float(pyloudnorm.Meter(RATE).integrated_loudness(result.mix.astype(np.float64))),
        "dbtp": reference_dbtp(result.mix),
        "clicks ours p99/max dB": f"{np.percentile(ours_db, 99):.0f} / {ours_db.max():.0f}",
        "clicks sf p99/max dB": f"{np.percentile(ref_db, 99):.0f} / {ref_db.max():.0f}",
        "sample sets s": result.seconds["samplesets"],
        "render s (sampler+prod)": render_s,
        "x real time": duration / render_s,
        "render_score s": ours_s,
        "render_score cpu s": ours_cpu,
        "soundfont stems s": soundfont_s,
        "soundfont stems cpu s": soundfont_cpu,
    }


def table(rows: list[dict[str, float | str]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the synthetic score")
    parser.add_argument("--mix", default="warm spacious", help="texture words for the production stage")
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    parser.add_argument("--timbre", default=None,
                        help="play with sample sets from the timbre model for these words (default: SoundFont sets)")
    parser.add_argument("--weights", type=Path, default=None, help="timbre weights folder (default: shipped)")
    args = parser.parse_args()

    scores = [("synthetic 4-track", synthetic_score(60.0))]
    if not args.quick:
        scores += [(work, corpus_score(work)) for work in CORPUS_WORKS]
    rows = []
    with SoundFontSynth() as synth:
        for name, score in scores:
            rows.append(evaluate(name, score, synth, args.mix, args.timbre, args.weights))
            print(f"{name}: done", flush=True)
    text = table(rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
