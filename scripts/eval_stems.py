"""Are the written mix and stems clean? True peak of every file, and how well the stems add up to the mix.

For prompts spread over a shipped prompt set (shortened to a few bars), one take each with the shipped
models, written the three ways a producer can ask for (`export_take`, the files `generate` writes):

- processed: the stems (tracks after their effects and the master, plus `NN-reverb.wav`) beside the
  mastered mix;
- no-master: the same with `--no-master` (the bus as it enters the master);
- dry: `--stems dry`, each instrument at its level and pan before any effect, beside the mastered mix and
  `dry-mix.wav` (the unmastered mix without effects), with and without `--no-master`.

Read back from the files, per song: the true peak of the mix and the highest of the stems (4x oversampled,
scipy's polyphase resampler, not the meter the master limits by, so the ceiling is checked by another
hand), and the residual of the stems' sum against the mix they make (`dry-mix.wav` for dry stems, else
`mix.wav`), dB of RMS(mix - sum of stems) re RMS(mix).
Targets (issue 15, point 4; issue 17, point 3): no file over -1 dBTP; stems add up to their mix.

    .venv/bin/python scripts/eval_stems.py [--prompts tuning] [--limit 10] [--bars 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

KINDS = {"processed": {"stems": "processed"}, "no-master": {"stems": "processed", "master": False},
         "dry": {"stems": "dry"}, "dry no-master": {"stems": "dry", "master": False}}


def true_peak_dbtp(audio: np.ndarray) -> float:
    """Peak of the (frames, channels) audio 4x oversampled, in dBTP (-inf for silence)."""
    frames = audio if audio.ndim == 2 else audio[:, None]
    peak = float(np.abs(resample_poly(frames.astype(np.float64), 4, 1, axis=0)).max(initial=0.0))
    peak = max(peak, float(np.abs(frames).max(initial=0.0)))
    return float(20 * np.log10(peak)) if peak > 0 else float("-inf")


def residual_db(mix: np.ndarray, stems: list[np.ndarray]) -> float:
    """RMS of mix - sum of stems, dB re the mix's RMS; stems are (frames,) or (frames, 2), any length."""
    total = np.zeros_like(mix, dtype=np.float64)
    for stem in stems:
        stereo = stem if stem.ndim == 2 else np.repeat(stem[:, None], mix.shape[1], axis=1)
        n = min(len(stereo), len(total))
        total[:n] += stereo[:n]
    error = np.sqrt(np.mean(np.square(mix - total)))
    return float(20 * np.log10(max(error, 1e-15) / np.sqrt(np.mean(np.square(mix)))))


def measure_files(folder: Path) -> dict:
    mix, _ = sf.read(str(folder / "mix.wav"), always_2d=True)
    summed_to = folder / "dry-mix.wav" if (folder / "dry-mix.wav").exists() else folder / "mix.wav"
    their_mix, _ = sf.read(str(summed_to), always_2d=True)
    stems = {p.stem: sf.read(str(p), always_2d=True)[0] for p in sorted((folder / "stems").glob("*.wav"))}
    peaks = {name: true_peak_dbtp(s) for name, s in stems.items()}
    loudest = max(peaks, key=lambda name: peaks[name])
    return {"mix_dbtp": max(true_peak_dbtp(mix), true_peak_dbtp(their_mix)), "stem_dbtp": peaks[loudest],
            "loudest_stem": loudest, "stems_over_1": int(sum(p > -1.0 for p in peaks.values())),
            "n_stems": len(stems), "summed_to": summed_to.name,
            "residual_db": residual_db(their_mix, list(stems.values()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", default="tuning", help="tuning, test, all, or a prompt file (default tuning)")
    parser.add_argument("--limit", type=int, default=10, help="prompts, spread evenly over the set (default 10)")
    parser.add_argument("--bars", type=int, default=8, help="each song shortened to at most this many bars")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write every measurement here")
    args = parser.parse_args()

    from melodex.evaluate.listen import shorten, split_prompts
    from melodex.export import ExportOptions, export_take
    from melodex.pipeline import GenerateOptions, StageClock, make_take, read_brief

    prompts = split_prompts(args.prompts)
    picked = [prompts[int(i)] for i in np.linspace(0, len(prompts) - 1, min(args.limit, len(prompts)))]
    options = GenerateOptions(seed=args.seed)
    rows = []
    print(f"{'kind':<13} {'mix dBTP':>8} {'stems dBTP':>10} {'over -1':>7} {'residual dB':>11}  prompt")
    for prompt in picked:
        started = time.perf_counter()
        take = make_take(shorten(read_brief(prompt, options), args.bars), options, StageClock(None))
        for kind, export in KINDS.items():
            with tempfile.TemporaryDirectory() as tmp:
                export_take(take, Path(tmp), ExportOptions(**export))  # type: ignore[arg-type]
                row = {"prompt": prompt, "kind": kind, **measure_files(Path(tmp))}
            rows.append(row)
            print(f"{kind:<13} {row['mix_dbtp']:8.2f} {row['stem_dbtp']:10.2f} "
                  f"{row['stems_over_1']:>3}/{row['n_stems']:<3} {row['residual_db']:11.1f}  {prompt[:60]}",
                  flush=True)
        rows[-1]["seconds"] = time.perf_counter() - started
    print()
    for kind in KINDS:
        mine = [r for r in rows if r["kind"] == kind]
        print(f"{kind}: {len(mine)} songs; max mix true peak {max(r['mix_dbtp'] for r in mine):.2f} dBTP; "
              f"max stem true peak {max(r['stem_dbtp'] for r in mine):.2f} dBTP "
              f"({sum(r['stems_over_1'] for r in mine)} of {sum(r['n_stems'] for r in mine)} stems over -1); "
              f"sum residual {min(r['residual_db'] for r in mine):.1f} to {max(r['residual_db'] for r in mine):.1f} "
              f"dB re {mine[0]['summed_to']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
