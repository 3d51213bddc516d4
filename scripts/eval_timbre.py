"""Evaluate the timbre model: reconstruction vs the ARCHITECTURE.md table, text control, generated pitch.

    .venv/bin/python scripts/eval_timbre.py [--weights DIR] [--quick] [--reconstruction-only] [--png docs/img]
    .venv/bin/python scripts/eval_timbre.py --vibrato [--png DIR]   # the vibrato comparison only
    .venv/bin/python scripts/eval_timbre.py --detune   # the detune (beating) comparison only

Prints the numbers and writes spectrogram PNGs (originals vs HN vs autoencoder, and text contrasts).
The reconstruction table adds phasiness (`metrics.phasiness`, Hz) for the originals, Griffin-Lim from
128-bin log-mel (computed here: n_fft 2048, hop 512, 32 iterations), HN analysis/synthesis and the
autoencoder: once against each audio's own pitch curve (its HN analysis: vibrato followed) and once
against a fixed f0 (MIDI pitch + `pitch_cents`: vibrato counts as deviation).

`--vibrato` puts side by side, per reference note, the vibrato (std of the pitch curve over the hold, and
`hn_analysis.estimate_vibrato`'s depth and rate, all measured from audio) of the original, the HN analysis, the
autoencoder and the autoencoder + vibrato head, with MR-STFT and fixed-f0 phasiness; then generated violin,
flute and cello notes without and with the head against the FluidR3 notes; and a PNG of the pitch curves.

`--detune` puts side by side the beating of detuned pads and of controls that should not beat: per note,
`hn_analysis.beating` (dB of level movement of the first 20 partials over the hold) and `hn_analysis.estimate_detune`'s
cents and mix, all measured from audio, for the original, the HN analysis, and the autoencoder + vibrato
head without and with the head's detune (MR-STFT: mean over 4 seeds); MR-STFT on the 13 reference notes
both ways; then generated notes without and with the detune.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from melodex.timbre import evaluate, hn, hn_analysis, metrics
from melodex.timbre.model import GenerationOptions, TimbreModel

# MR-STFT, mel-LSD, cents, phasiness (Hz) as in ARCHITECTURE.md's table.
ARCHITECTURE = {"griffin-lim log-mel": (1.25, 6.6, 3.0, 10.0), "hn (ARCHITECTURE)": (0.73, 2.0, 0.6, 1.3)}
GL_N_FFT, GL_HOP, GL_MELS, GL_ITERATIONS = 2048, 512, 128, 32


def griffin_lim_log_mel(audio: np.ndarray) -> np.ndarray:
    """Audio from the note's 128-bin log-mel (power) spectrogram: NNLS mel -> linear, then 32 Griffin-Lim iterations."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio.astype(np.float32), sr=hn.SAMPLE_RATE, n_fft=GL_N_FFT,
                                         hop_length=GL_HOP, n_mels=GL_MELS, power=2.0)
    log_mel = np.log(mel + 1e-10)  # what a model would predict; exp undoes it exactly
    linear = librosa.feature.inverse.mel_to_stft(np.exp(log_mel), sr=hn.SAMPLE_RATE, n_fft=GL_N_FFT, power=2.0)
    out = librosa.griffinlim(linear, n_iter=GL_ITERATIONS, hop_length=GL_HOP, n_fft=GL_N_FFT, length=len(audio),
                             random_state=0)
    return np.asarray(out, dtype=np.float64)


def note_phasiness(audio: np.ndarray, pitch: int, stretched: bool) -> tuple[float, float]:
    """(against the audio's own HN pitch curve and stretch, against a fixed f0 with that stretch)."""
    own = hn_analysis.analyse(audio, pitch, stretched=stretched)
    return (metrics.phasiness(audio, pitch, cents=own.cents, stretch=own.stretch),
            metrics.phasiness(audio, pitch, stretch=own.stretch))


METHODS = ("original", "griffin-lim", "hn", "autoencoder")


def phasiness_table(model: TimbreModel) -> dict[str, list[dict[str, float]]]:
    """Per method, one dict per reference note: phasiness both ways; Griffin-Lim also MR-STFT, LSD, cents, s/s."""
    table: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    for program, pitch in evaluate.REFERENCE_NOTES:
        original = evaluate.render_reference(program, pitch)
        params = hn_analysis.analyse(original, pitch, stretched=program < 40)
        started = time.perf_counter()
        gl = griffin_lim_log_mel(original)
        gl_seconds = (time.perf_counter() - started) / (len(original) / hn.SAMPLE_RATE)
        decoded = {
            "original": original,
            "griffin-lim": gl,
            "hn": hn.synthesize(params),
            "autoencoder": hn.synthesize(evaluate.autoencode(model, params, evaluate.REFERENCE_VELOCITY)),
        }
        for method, audio in decoded.items():
            curve, fixed = note_phasiness(np.asarray(audio, dtype=np.float64), pitch, program < 40)
            row = {"program": float(program), "pitch": float(pitch),
                   "phasiness_hz": curve, "phasiness_fixed_f0_hz": fixed}
            if method == "griffin-lim":
                row.update(mr_stft=metrics.mr_stft(original, gl), mel_lsd=metrics.mel_lsd(original, gl),
                           cents=abs(metrics.pitch_cents(gl, pitch) - metrics.pitch_cents(original, pitch)),
                           s_per_s=gl_seconds)
            table[method].append(row)
    return table


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
        params = hn_analysis.analyse(original, pitch, stretched=program < 40)
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


def vibrato_report(model: TimbreModel, png: Path | None) -> dict[str, object]:
    """Print the vibrato comparison (see the module docstring); returns its numbers."""
    if model.vibrato is None:
        print("   (these weights have no vibrato head: 'autoencoder+vibrato' is the plain autoencoder)")
    rows = evaluate.vibrato_reconstruction(model)
    print("== vibrato, reconstruction (13 FluidR3 notes, velocity 100): std / depth cents @ rate Hz, from audio;"
          " MR-STFT mean of 4 seeds; phasiness fixed f0 (Hz)")
    print(f"{'note':10s} " + "  ".join(f"{m:>32s}" for m in evaluate.VIBRATO_METHODS))
    for program, pitch in evaluate.REFERENCE_NOTES:
        cells = []
        for method in evaluate.VIBRATO_METHODS:
            r = next(r for r in rows if (r.program, r.pitch, r.method) == (program, pitch, method))
            v = r.measure
            mr = f"MR {r.mr_stft:4.2f}" if method != "original" else " " * 7
            phas = r.phasiness_fixed_f0_hz
            cells.append(f"{v.std_cents:4.1f}/{v.depth_cents:4.1f}@{v.rate_hz:3.1f} {mr} ph {phas:5.2f}")
        print(f"{program:3d}/{pitch:<6d} " + "  ".join(f"{c:>32s}" for c in cells))
    summary: dict[str, dict[str, float]] = {}
    vibrato_notes = [(p, q) for p, q in evaluate.REFERENCE_NOTES if p in (40, 42, 73)]
    for method in evaluate.VIBRATO_METHODS:
        chosen = [r for r in rows if r.method == method]
        on = [r for r in chosen if (r.program, r.pitch) in vibrato_notes]
        summary[method] = {
            "mr_stft": float(np.mean([r.mr_stft for r in chosen])),
            "phasiness_fixed_f0_hz": float(np.mean([r.phasiness_fixed_f0_hz for r in chosen])),
            "violin_cello_flute_std_cents": float(np.mean([r.measure.std_cents for r in on])),
            "violin_cello_flute_depth_cents": float(np.mean([r.measure.depth_cents for r in on])),
            "violin_cello_flute_rate_hz": float(np.mean([r.measure.rate_hz for r in on])),
            "others_depth_cents": float(np.mean([r.measure.depth_cents for r in chosen if r not in on])),
        }
        s = summary[method]
        print(f"   {method:22s} MR-STFT {s['mr_stft']:.3f}  phasiness fixed f0 {s['phasiness_fixed_f0_hz']:.2f}  "
              f"violin/cello/flute std {s['violin_cello_flute_std_cents']:.1f} depth "
              f"{s['violin_cello_flute_depth_cents']:.1f} rate {s['violin_cello_flute_rate_hz']:.2f}  "
              f"other 9 notes depth {s['others_depth_cents']:.2f}")

    print("== vibrato, generated notes (no words, cfg 3, unless named; velocity 90, seeds 0-2) vs FluidR3 notes:"
          " mean std / depth cents @ rate Hz (share with vibrato)")
    generated = evaluate.generated_vibrato(model)
    table: dict[str, dict[str, list[float]]] = {}
    for program, found in generated.items():
        cells = []
        for name, measures in found.items():
            with_vibrato = [m for m in measures if m.depth_cents > 0]
            rate = float(np.mean([m.rate_hz for m in with_vibrato])) if with_vibrato else 0.0
            values = [float(np.mean([m.std_cents for m in measures])),
                      float(np.mean([m.depth_cents for m in measures])), rate, len(with_vibrato) / len(measures)]
            table.setdefault(str(program), {})[name] = values
            share = f"{len(with_vibrato)}/{len(measures)}"
            cells.append(f"{name} {values[0]:4.1f}/{values[1]:4.1f}@{values[2]:3.1f} ({share})")
        print(f"   program {program:3d}: " + "   ".join(cells))
    if png is not None:
        png.mkdir(parents=True, exist_ok=True)
        vibrato_png(rows, generated, png / "timbre_vibrato.png")
        print(f"PNG {png / 'timbre_vibrato.png'}")
    return {"reconstruction": summary, "generated": table}


def _beats(measures: list[evaluate.DetuneMeasure]) -> str:
    detuned = [m.detune for m in measures if m.detune.cents > 0]
    cents = (f"{np.mean([d.cents for d in detuned]):4.1f} c x {np.mean([d.mix for d in detuned]):.2f}" if detuned
             else "   none     ")
    return f"{np.mean([m.beating_db for m in measures]):4.2f} dB {cents} ({len(detuned)}/{len(measures)})"


def detune_report(model: TimbreModel) -> dict[str, object]:
    """Print the detune comparison (see the module docstring); returns its numbers."""
    if model.vibrato is None or not model.vibrato.config.detune:
        print("   (this head predicts no detune: '+detune' is the plain autoencoder + vibrato)")
    notes = tuple((p, q) for p in evaluate.DETUNED_PROGRAMS + evaluate.DETUNE_CONTROLS for q in evaluate.DETUNE_PITCHES)
    rows = evaluate.detune_reconstruction(model, notes)
    print("== detune, reconstruction (FluidR3, velocity 100): beating dB / detune cents x mix (from audio), MR-STFT")
    for program, pitch in notes:
        chosen = {r.method: r for r in rows if (r.program, r.pitch) == (program, pitch)}
        cells = "  ".join(
            f"{m} {chosen[m].measure.beating_db:4.2f}/{chosen[m].measure.detune.cents:4.1f}x"
            f"{chosen[m].measure.detune.mix:.2f}" + (f" MR {chosen[m].mr_stft:.3f}" if m != "original" else "")
            for m in evaluate.DETUNE_METHODS
        )
        print(f"   {program:3d}/{pitch:3d} {cells}")
    summary: dict[str, object] = {}
    steady = tuple(p for p in evaluate.DETUNE_CONTROLS if p != 80)
    for group, programs in (("detuned", evaluate.DETUNED_PROGRAMS), ("sq. lead", (80,)), ("controls", steady)):
        for method in evaluate.DETUNE_METHODS:
            chosen_rows = [r for r in rows if r.method == method and r.program in programs]
            line = _beats([r.measure for r in chosen_rows])
            mr = float(np.mean([r.mr_stft for r in chosen_rows]))
            summary[f"{group} {method}"] = {
                "beating_db": float(np.mean([r.measure.beating_db for r in chosen_rows])),
                "with_detune": sum(r.measure.detune.cents > 0 for r in chosen_rows), "notes": len(chosen_rows),
                "mr_stft": mr,
            }
            print(f"{group:9s} {method:28s} {line}" + (f"  MR-STFT {mr:.3f}" if method != "original" else ""))
    reference = evaluate.detune_reconstruction(model, evaluate.REFERENCE_NOTES)
    for method in ("autoencoder+vibrato", "autoencoder+vibrato+detune"):
        mr = float(np.mean([r.mr_stft for r in reference if r.method == method]))
        summary[f"reference 13 notes {method}"] = {"mr_stft": mr}
        print(f"MR-STFT, 13 reference notes (4 seeds), {method:28s} {mr:.3f}")
    print("== detune, generated notes (no words, cfg 3, velocity 90, pitches 55/67, seeds 0-1) vs FluidR3 notes:"
          " mean beating dB, mean detune of the detuned ones (share detuned)")
    generated = evaluate.generated_detune(model)
    for program, found in generated.items():
        cells = "  ".join(f"{name} {_beats(measures)}" for name, measures in found.items())
        summary[f"generated {program}"] = {name: float(np.mean([m.beating_db for m in measures]))
                                           for name, measures in found.items()}
        print(f"   program {program:3d}: {cells}")
    return summary


def vibrato_png(
    rows: list[evaluate.VibratoRow], generated: dict[int, dict[str, list[evaluate.VibratoMeasure]]], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(hn.N_FRAMES) / hn.FRAME_RATE
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.2))
    for ax, note in zip(axes[:2], ((40, 76), (40, 67)), strict=True):
        for method, style in zip(evaluate.VIBRATO_METHODS, ("k-", "c:", "b-", "r-"), strict=True):
            r = next(r for r in rows if (r.program, r.pitch, r.method) == (*note, method))
            ax.plot(t, r.measure.curve, style, lw=1, label=method)
        ax.set_title(f"violin {note[1]}: pitch curve from audio (cents)", fontsize=8)
    for name, style in (("soundfont", "k-"), ("generated", "b-"), ("generated+vibrato", "r-")):
        axes[2].plot(t, generated[40][name][1].curve, style, lw=1, label=name)
    axes[2].set_title("violin 76, generated (seed 0) vs FluidR3, velocity 90", fontsize=8)
    for ax in axes:
        ax.set_xlabel("s", fontsize=7)
        ax.axvline(hn.HOLD_S, color="grey", lw=0.5)
        ax.legend(fontsize=6)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=70)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="fewer programs and seeds for text control")
    parser.add_argument("--reconstruction-only", action="store_true",
                        help="only the reconstruction table (no generated pitch, no text control)")
    parser.add_argument("--vibrato", action="store_true",
                        help="only the vibrato comparison (reference notes, generated notes, pitch-curve PNG)")
    parser.add_argument("--detune", action="store_true",
                        help="only the detune comparison (beating of detuned pads and controls, MR-STFT)")
    parser.add_argument("--png", type=Path, default=None, help="folder for spectrogram PNGs")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here too")
    parser.add_argument("--text-only", action="store_true", help="only text control (no reconstruction, no pitch)")
    parser.add_argument("--same-latents", type=Path, default=None,
                        help="another weights folder with the same diffusion model (a decoder fine-tune): the "
                             "same latents decoded by both, per GM family (what a project's stored latents become)")
    parser.add_argument("--guidance", choices=("words", "all"), default="words",
                        help="guide from the bare instrument (words, the default) or from nothing (all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = TimbreModel.load(args.weights)
    results: dict[str, object] = {}
    if args.detune:
        results["detune"] = detune_report(model)
        if args.json is not None:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return
    if args.same_latents is not None:
        results["same_latents"] = same_latents_report(model, TimbreModel.load(args.same_latents))
        if args.json is not None:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return
    if args.vibrato:
        results["vibrato"] = vibrato_report(model, args.png)
        if args.json is not None:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return

    if args.text_only:
        results["text_control"] = text_control_report(model, args)
        if args.json is not None:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return
    print("== reconstruction (13 FluidR3_GM notes, velocity 100; lower is better)")
    rows = evaluate.reconstruction(model)
    phas = phasiness_table(model)

    def mean(method: str, key: str) -> float:
        return float(np.mean([r[key] for r in phas[method]]))

    print("   phasiness: Hz, own pitch curve / fixed f0 (MIDI pitch + measured offset); notes' first 10 partials")
    print(f"{'method':24s} {'MR-STFT':>8s} {'mel-LSD':>8s} {'cents':>6s} {'phas':>6s} {'phasF0':>6s} {'s/s':>6s}")
    for name, (mr, lsd, cents, ph) in ARCHITECTURE.items():
        print(f"{name:24s} {mr:8.2f} {lsd:8.2f} {cents:6.2f} {ph:6.2f}")
    print(f"{'original (here)':24s} {'':8s} {'':8s} {'':6s} {mean('original', 'phasiness_hz'):6.2f} "
          f"{mean('original', 'phasiness_fixed_f0_hz'):6.2f}")
    keys = ("mr_stft", "mel_lsd", "cents", "s_per_s", "phasiness_hz", "phasiness_fixed_f0_hz")
    gl_summary = [mean("griffin-lim", k) for k in keys]
    results["reconstruction_griffin_lim"] = dict(zip(keys, gl_summary, strict=True))
    results["reconstruction_original"] = {k: mean("original", k) for k in ("phasiness_hz", "phasiness_fixed_f0_hz")}
    print(f"{'griffin-lim (here)':24s} {gl_summary[0]:8.2f} {gl_summary[1]:8.2f} {gl_summary[2]:6.2f} "
          f"{gl_summary[4]:6.2f} {gl_summary[5]:6.2f} {gl_summary[3]:6.3f}")
    for method in ("hn", "autoencoder"):
        chosen = [r for r in rows if r.method == method]
        summary = [float(np.mean([getattr(r, f) for r in chosen]))
                   for f in ("mr_stft", "mel_lsd", "pitch_error_cents", "seconds_per_second")]
        summary += [mean(method, "phasiness_hz"), mean(method, "phasiness_fixed_f0_hz")]
        names = ("mr_stft", "mel_lsd", "cents", "s_per_s", "phasiness_hz", "phasiness_fixed_f0_hz")
        results[f"reconstruction_{method}"] = dict(zip(names, summary, strict=True))
        print(f"{method + ' (here)':24s} {summary[0]:8.2f} {summary[1]:8.2f} {summary[2]:6.2f} "
              f"{summary[4]:6.2f} {summary[5]:6.2f} {summary[3]:6.3f}")
    for r in rows:
        print(f"   {r.method:12s} program {r.program:3d} pitch {r.pitch:3d}: MR {r.mr_stft:.2f} "
              f"LSD {r.mel_lsd:.2f} cents {r.pitch_error_cents:.2f}")
    for i, (program, pitch) in enumerate(evaluate.REFERENCE_NOTES):
        gl = phas["griffin-lim"][i]
        cells = "  ".join(f"{m} {phas[m][i]['phasiness_hz']:5.2f}/{phas[m][i]['phasiness_fixed_f0_hz']:5.2f}"
                          for m in METHODS)
        print(f"   program {program:3d} pitch {pitch:3d} phasiness own/fixed: {cells}  "
              f"(griffin-lim MR {gl['mr_stft']:.2f} LSD {gl['mel_lsd']:.2f} cents {gl['cents']:.2f})")
    if args.reconstruction_only:
        if args.json is not None:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return

    print("== generated pitch (|cents| measured from audio, cfg 3, 20 steps)")
    started = time.perf_counter()
    errors = evaluate.generated_pitch_errors(model)
    per_note = (time.perf_counter() - started) / len(errors)
    print(f"mean {np.mean(errors):.2f}  max {np.max(errors):.2f}  ({len(errors)} notes, {per_note:.2f} s per note)")
    results["generated_pitch_cents"] = {"mean": float(np.mean(errors)), "max": float(np.max(errors))}

    results["text_control"] = text_control_report(model, args)

    if args.png is not None:
        args.png.mkdir(parents=True, exist_ok=True)
        reconstruction_png(model, args.png / "timbre_reconstruction.png")
        text_png(model, args.png / "timbre_text.png")
        print(f"PNGs in {args.png}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def same_latents_report(model: TimbreModel, other: TimbreModel) -> dict[str, dict[str, float]]:
    """The same generated latents (this model's diffusion, no words, cfg 3; one program per GM family,
    pitches 48/60/72, velocity 100) decoded by both models: MR-STFT between the two audios (RMS-matched)
    and each one's 0-1 / 1-4 / 4-12 kHz band levels, medians per family."""
    from melodex.instruments import GM_FAMILIES
    from melodex.timbre.model import TimbreRequest

    print("== the same latents decoded by both (no words, cfg 3; MR-STFT between them, band levels dB re total)")
    requests = [TimbreRequest(family * 8, "", (48, 60, 72), (100,), seed=family) for family in range(16)]
    made = model.generate_many(requests, GenerationOptions())
    report = {}
    for family, (request, notes) in enumerate(zip(requests, made, strict=True)):
        pitch = torch.tensor([p for p, _, _, _, _ in notes])
        velocity = torch.tensor([v for _, v, _, _, _ in notes])
        latents = torch.stack([latent for _, _, _, _, latent in notes])
        program = torch.full_like(pitch, request.program)
        decoded = other.decode(latents, pitch, velocity, True, program, True)
        theirs = [hn.synthesize(p, seed=request.seed + k, tuned=True) for k, p in enumerate(decoded)]
        ours = [audio for _, _, audio, _, _ in notes]
        distance = [metrics.mr_stft(a / np.std(a), b / np.std(b)) for a, b in zip(ours, theirs, strict=True)]
        bands_ours = np.median([metrics.band_levels(a) for a in ours], axis=0)
        bands_theirs = np.median([metrics.band_levels(b) for b in theirs], axis=0)
        name = GM_FAMILIES[family]
        report[name] = {"mr_stft": float(np.median(distance)), **{f"bands_{i}": float(v) for i, v in
                        enumerate(bands_ours)}, **{f"other_bands_{i}": float(v) for i, v in enumerate(bands_theirs)}}
        print(f"{name:22s} MR-STFT {np.median(distance):.2f}  bands this {np.round(bands_ours, 1)}  "
              f"other {np.round(bands_theirs, 1)}")
    return report


def text_control_report(model: TimbreModel, args: argparse.Namespace) -> dict[str, dict[str, object]]:
    print("== text control (mean over programs, pitches 55/67, seeds; ratio = first / second, geometric mean)")
    programs = (0, 24, 80, 89) if args.quick else evaluate.CONTROL_PROGRAMS
    seeds = (0,) if args.quick else (0, 1)
    guidance = GenerationOptions(guide_words=args.guidance == "words")
    print(f"   guidance from {'the bare instrument' if guidance.guide_words else 'no text and no family'}")
    control = evaluate.text_control(model, programs=programs, seeds=seeds, options=guidance)
    table: dict[str, dict[str, object]] = {}
    for (first, second), measure, sign in evaluate.CONTRASTS:
        for cfg in sorted({r.cfg for r in control}):
            chosen = [r for r in control if r.words == (first, second) and r.cfg == cfg and r.measure == measure]
            wins = sum((r.first - r.second) * sign > 0 for r in chosen)
            ratio = float(np.exp(np.mean([np.log(max(r.ratio, 1e-6)) for r in chosen])))
            key = f"{first} vs {second} ({measure}) cfg {cfg}"
            table[key] = {"geo_mean_ratio": ratio, "programs_in_order": f"{wins}/{len(chosen)}"}
            order = ">" if sign > 0 else "<"
            print(f"{key:50s} ratio {ratio:5.2f}  first {order} second in {wins}/{len(chosen)} programs")
    return table


if __name__ == "__main__":
    main()
