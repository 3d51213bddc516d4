"""Evaluate the timbre model: reconstruction vs the ARCHITECTURE.md table, text control, generated pitch.

    .venv/bin/python scripts/eval_timbre.py [--weights DIR] [--quick] [--png docs/img]

Prints the numbers and writes spectrogram PNGs (originals vs HN vs autoencoder, and text contrasts).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from melodex.timbre import evaluate, hn, metrics
from melodex.timbre.model import GenerationOptions, TimbreModel

ARCHITECTURE = {"griffin-lim log-mel": (1.25, 6.6, 3.0), "hn (ARCHITECTURE)": (0.73, 2.0, 0.6)}


def spectrogram(ax, audio: np.ndarray, title: str) -> None:  # type: ignore[no-untyped-def]
    mag = 20 * np.log10(metrics._stft_mag(audio, 2048).T + 1e-6)
    ax.imshow(mag, origin="lower", aspect="auto", vmin=mag.max() - 90, vmax=mag.max(),
              extent=[0, len(audio) / hn.SAMPLE_RATE, 0, hn.SAMPLE_RATE / 2])
    ax.set_ylim(0, 11000)
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)


def reconstruction_png(model: TimbreModel, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notes = [(0, 48), (4, 60), (24, 55), (40, 76), (42, 48), (56, 67), (73, 79), (80, 60), (89, 55)]
    fig, axes = plt.subplots(3, len(notes), figsize=(2.2 * len(notes), 6))
    for j, (program, pitch) in enumerate(notes):
        original = evaluate.render_reference(program, pitch)
        params = hn.analyse(original, pitch, stretched=program < 40)
        spectrogram(axes[0, j], original, f"{program}/{pitch} original")
        spectrogram(axes[1, j], hn.synthesize(params), "HN analysis")
        decoded = evaluate.autoencode(model, params, evaluate.REFERENCE_VELOCITY)
        spectrogram(axes[2, j], hn.synthesize(decoded), "autoencoder")
    fig.tight_layout()
    fig.savefig(path, dpi=55)


def text_png(model: TimbreModel, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = [(0, "bright"), (0, "dark"), (24, "plucky"), (24, "pad-like sustained"), (89, "bright"), (89, "warm")]
    fig, axes = plt.subplots(1, len(pairs), figsize=(2.4 * len(pairs), 2.6))
    for ax, (program, word) in zip(axes, pairs, strict=True):
        _, _, audio, _, _ = model.generate_notes(program, word, [60], [90], GenerationOptions(cfg=3.0))[0]
        spectrogram(ax, audio, f"{program} '{word}' cfg 3")
    fig.tight_layout()
    fig.savefig(path, dpi=55)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="fewer programs and seeds for text control")
    parser.add_argument("--png", type=Path, default=None, help="folder for spectrogram PNGs")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here too")
    parser.add_argument("--guidance", choices=("words", "all"), default="words",
                        help="guide from the bare instrument (words, the default) or from nothing (all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = TimbreModel.load(args.weights)
    results: dict[str, object] = {}

    print("== reconstruction (13 FluidR3_GM notes, velocity 100; lower is better)")
    rows = evaluate.reconstruction(model)
    print(f"{'method':24s} {'MR-STFT':>8s} {'mel-LSD':>8s} {'cents':>6s} {'s/s':>6s}")
    for name, (mr, lsd, cents) in ARCHITECTURE.items():
        print(f"{name:24s} {mr:8.2f} {lsd:8.2f} {cents:6.2f}")
    for method in ("hn", "autoencoder"):
        chosen = [r for r in rows if r.method == method]
        summary = [float(np.mean([getattr(r, f) for r in chosen]))
                   for f in ("mr_stft", "mel_lsd", "pitch_error_cents", "seconds_per_second")]
        names = ("mr_stft", "mel_lsd", "cents", "s_per_s")
        results[f"reconstruction_{method}"] = dict(zip(names, summary, strict=True))
        print(f"{method + ' (here)':24s} {summary[0]:8.2f} {summary[1]:8.2f} {summary[2]:6.2f} {summary[3]:6.3f}")
    for r in rows:
        print(f"   {r.method:12s} program {r.program:3d} pitch {r.pitch:3d}: MR {r.mr_stft:.2f} "
              f"LSD {r.mel_lsd:.2f} cents {r.pitch_error_cents:.2f}")

    print("== generated pitch (|cents| measured from audio, cfg 3, 20 steps)")
    started = time.perf_counter()
    errors = evaluate.generated_pitch_errors(model)
    per_note = (time.perf_counter() - started) / len(errors)
    print(f"mean {np.mean(errors):.2f}  max {np.max(errors):.2f}  ({len(errors)} notes, {per_note:.2f} s per note)")
    results["generated_pitch_cents"] = {"mean": float(np.mean(errors)), "max": float(np.max(errors))}

    print("== text control (mean over programs, pitches 55/67, seeds; ratio = first / second, geometric mean)")
    programs = (0, 24, 80, 89) if args.quick else evaluate.CONTROL_PROGRAMS
    seeds = (0,) if args.quick else (0, 1)
    guidance = GenerationOptions(guide_words=args.guidance == "words")
    print(f"   guidance from {'the bare instrument' if guidance.guide_words else 'no text and no family'}")
    control = evaluate.text_control(model, programs=programs, seeds=seeds, options=guidance)
    table = {}
    for (first, second), measure, sign in evaluate.CONTRASTS:
        for cfg in sorted({r.cfg for r in control}):
            chosen = [r for r in control if r.words == (first, second) and r.cfg == cfg and r.measure == measure]
            wins = sum((r.first - r.second) * sign > 0 for r in chosen)
            ratio = float(np.exp(np.mean([np.log(max(r.ratio, 1e-6)) for r in chosen])))
            key = f"{first} vs {second} ({measure}) cfg {cfg}"
            table[key] = {"geo_mean_ratio": ratio, "programs_in_order": f"{wins}/{len(chosen)}"}
            order = ">" if sign > 0 else "<"
            print(f"{key:50s} ratio {ratio:5.2f}  first {order} second in {wins}/{len(chosen)} programs")
    results["text_control"] = table

    if args.png is not None:
        args.png.mkdir(parents=True, exist_ok=True)
        reconstruction_png(model, args.png / "timbre_reconstruction.png")
        text_png(model, args.png / "timbre_text.png")
        print(f"PNGs in {args.png}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
