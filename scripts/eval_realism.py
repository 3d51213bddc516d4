"""Are generated notes as close to FluidR3_GM as another real sample set is? Per GM family, against a yardstick.

Every note (GM program, pitch, velocity) is played by FluidR3_GM, the reference, and by three others:
TimGM6mb and MuseScore General (two real sample sets that differ from FluidR3 and from each other: the
yardstick) and the timbre model (the empty timbre text, so only the program speaks; the render defaults,
cfg 3 and 20 steps, unless told). Keys one of the SoundFonts has no sample for are skipped. Notes are
1.0 s held + 0.49 s of release, the timbre model's note length.

Per family (16 GM families, their 8 programs each, pitches 48/60/72, velocities 60/100), against the
FluidR3 note of the same program, pitch and velocity, each note scaled to the same RMS first (a level
is not a timbre):

- MR-STFT distance (`metrics.mr_stft`: spectral convergence + log-magnitude, FFT 512/1024/2048);
- band levels (`metrics.band_levels`: 0-1, 1-4, 4-12 kHz, dB of the note's energy): the mean
  |difference| from FluidR3's in dB, the 4-12 kHz level re total, and the 4-12 kHz flatness
  (`metrics.band_flatness`) both plain (every frame within 60 dB of the note's peak alike, as measured on
  2026-12-02) and as heard (frames weighted by their energy in the band: a band left empty, 110 dB down,
  holds flat float32 rounding and read as hiss in the plain measure);
- onset flatness: 0.5-8 kHz over the first 93 ms, as heard (a noise burst at the onset is flat there);
- release: seconds from key-up (1.0 s) until the tail is 60 dB under its level there
  (`sampleset.release_time`, capped by the 0.49 s the notes have; a note that stops dead scores low).

A family passes when the generated notes' median MR-STFT is no larger than the larger of the two real
sets' medians ("as close as another real sample set"); the strict count asks for no larger than the
smaller one. The target is >= 80% of families.

Then a classifier on note spectra (mean log-mel over the hold and over the release, 2 x 64 bands, the
peak subtracted) learns FluidR3 notes from the other set's notes of the same keys: logistic regression,
5-fold cross-validation grouped by program (a program's notes are never in training and test at once).
Accuracy 0.5 = cannot tell them apart. Generated notes should be told apart no better than TimGM6mb's.

Caveat: the timbre model learned from FluidR3_GM and TimGM6mb notes, so closeness to those two is
partly memory; MuseScore General is the only set it never heard.

`--stages` finds where a difference comes from, on the same keys: each FluidR3 note (a) analysed into HN
parameters and resynthesised (`hn_analysis.analyse` -> `hn.synthesize`: the ceiling of the representation),
(b) through the autoencoder as well (encode -> the latent's mean -> decode, with the vibrato head as
generation uses it), next to (c) the diffusion sample. Same table and classifier for each.

    .venv/bin/python scripts/eval_realism.py [--weights DIR] [--cfg 3] [--steps 20] [--png docs/img/realism]
        [--stages]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from melodex.instruments import GM_FAMILIES, GM_NAMES
from melodex.soundfont import SoundFontSynth, find_soundfont
from melodex.timbre import metrics
from melodex.timbre.hn import HOLD_S, SAMPLE_RATE
from melodex.timbre.metrics import mel_filterbank
from melodex.timbre.model import GenerationOptions, TimbreModel, TimbreRequest
from melodex.timbre.sampleset import release_time

REFERENCE = "FluidR3_GM"
REAL = ("TimGM6mb", "MuseScore_General")
GENERATED = "timbre model"
ANALYSED = "HN analysis"  # --stages: (a) FluidR3's note analysed and resynthesised
AUTOENCODED = "autoencoder"  # (b) that analysis through the autoencoder
PITCHES = (48, 60, 72)
VELOCITIES = (60, 100)
RELEASE_S = 0.49
SILENT = 1e-4  # peak below this: the SoundFont has no sample for the key
ONSET_SAMPLES = 4096  # the first 93 ms: a burst of noise at the onset (strings) shows as a flat spectrum here
ONSET_BAND_HZ = (500.0, 8000.0)

Key = tuple[int, int, int]  # program, pitch, velocity


def soundfont_notes(name: str, keys: list[Key]) -> dict[Key, np.ndarray]:
    synth = SoundFontSynth(find_soundfont(name))
    return {key: synth.render_note(key[0], key[1], key[2], HOLD_S, RELEASE_S, SAMPLE_RATE) for key in keys}


def generated_notes(model: TimbreModel, keys: list[Key], cfg: float, steps: int) -> dict[Key, np.ndarray]:
    programs = sorted({k[0] for k in keys})
    requests = [TimbreRequest(p, "", PITCHES, VELOCITIES, seed=p) for p in programs]
    made = model.generate_many(requests, GenerationOptions(cfg=cfg, steps=steps))
    wanted = set(keys)
    return {(r.program, pitch, velocity): audio for r, notes in zip(requests, made, strict=True)
            for pitch, velocity, audio, _, _ in notes if (r.program, pitch, velocity) in wanted}


class NoteStore:
    """Each source's notes kept as one npz per name in a folder (None: kept nowhere), made when missing."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def get(self, name: str, make: Callable[[], dict[Key, np.ndarray]]) -> dict[Key, np.ndarray]:
        if self.folder is None:
            return make()
        path = self.folder / f"{name.replace(' ', '_')}.npz"
        if path.exists():
            with np.load(path) as stored:
                return {tuple(int(x) for x in key.split("_")): stored[key] for key in stored.files}  # type: ignore[misc]
        notes = make()
        self.folder.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{"_".join(map(str, key)): audio for key, audio in notes.items()})
        return notes


def stage_notes(model: TimbreModel | None, reference: dict[Key, np.ndarray]) -> dict[str, dict[Key, np.ndarray]]:
    """FluidR3's notes (a) analysed into HN parameters and resynthesised, (b) with a model also through its
    autoencoder."""
    from melodex.timbre import hn, hn_analysis
    from melodex.timbre.evaluate import autoencode
    from melodex.timbre.notes import STRETCHED_FAMILIES

    out: dict[str, dict[Key, np.ndarray]] = {ANALYSED: {}, AUTOENCODED: {}}
    for key, audio in reference.items():
        program, pitch, velocity = key
        stretched = GM_FAMILIES[program // 8] in STRETCHED_FAMILIES or program in (45, 46, 47)
        params = hn_analysis.analyse(audio[: hn.NOTE_FRAMES], pitch, stretched=stretched)
        out[ANALYSED][key] = hn.synthesize(params, seed=program)
        if model is not None:
            decoded = autoencode(model, params, velocity, vibrato=True, program=program, detune=True)
            out[AUTOENCODED][key] = hn.synthesize(decoded, seed=program, tuned=True)
    return out


def rms_normalised(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float64)
    return audio / (np.sqrt(np.mean(audio**2)) + 1e-12) * 0.1


def spectrum_features(audio: np.ndarray) -> np.ndarray:
    """Mean log-mel (64 bands) over the hold and over the release, peak subtracted: the classifier's input."""
    power = metrics._stft_mag(np.asarray(audio, dtype=np.float64), 2048) ** 2
    mel = 10 * np.log10(power @ mel_filterbank(64, 2048).T + 1e-12)  # (frames, 64)
    split = int(HOLD_S * SAMPLE_RATE / 512)
    rows = np.concatenate([mel[:split].mean(axis=0), mel[split:].mean(axis=0)])
    return np.maximum(rows - rows.max(), -100.0)


def separability(reference: list[np.ndarray], other: list[np.ndarray], groups: list[int]) -> float:
    """Cross-validated accuracy of telling `reference` notes from `other` notes (grouped by program)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.array([spectrum_features(a) for a in reference + other])
    y = np.array([0] * len(reference) + [1] * len(other))
    g = np.array(groups + groups)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=4000, C=0.1))
    return float(np.mean(cross_val_score(classifier, x, y, groups=g, cv=GroupKFold(n_splits=5))))


def family_png(notes: dict[str, dict[Key, np.ndarray]], key: Key, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = [REFERENCE, *REAL, *(s for s in (ANALYSED, AUTOENCODED) if s in notes), GENERATED]
    fig, axes = plt.subplots(1, len(sources), figsize=(2.6 * len(sources), 2.4))
    for ax, source in zip(axes, sources, strict=True):
        audio = notes[source][key]
        mag = 20 * np.log10(metrics._stft_mag(audio, 2048).T + 1e-6)
        ax.imshow(mag, origin="lower", aspect="auto", vmin=mag.max() - 90, vmax=mag.max(),
                  extent=(0, len(audio) / SAMPLE_RATE, 0, SAMPLE_RATE / 2))
        ax.set_ylim(0, 14000)
        ax.set_title(f"{source}: {GM_NAMES[key[0]]} {key[1]}/{key[2]}", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None, help="timbre weights folder (default: shipped)")
    parser.add_argument("--cfg", type=float, default=3.0)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--png", type=Path, default=None, help="write one spectrogram PNG per family here")
    parser.add_argument("--json", type=Path, default=None, help="write the per-family numbers here")
    parser.add_argument("--notes", type=Path, default=None,
                        help="keep every source's notes here (npz) and reuse them: the SoundFonts' by name, the "
                             "model's by weights version, cfg and steps, the HN analysis' by its code's SHA-256")
    parser.add_argument("--stages", action="store_true",
                        help="also FluidR3's notes through the HN analysis and through the autoencoder")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small models: more threads only contend on a busy 2-core machine
    clock = time.perf_counter()

    keys = [(p, pitch, v) for p in range(128) for pitch in PITCHES for v in VELOCITIES]
    store = NoteStore(args.notes)
    notes = {name: store.get(name, lambda name=name: soundfont_notes(name, keys)) for name in (REFERENCE, *REAL)}
    keys = [k for k in keys if all(np.abs(notes[n][k]).max() >= SILENT for n in notes)]
    model = TimbreModel.load(args.weights)
    made = f"{model.version}_{model.autoencoder.config.floor_db:g}_cfg{args.cfg:g}_steps{args.steps}"
    notes[GENERATED] = store.get(f"generated_{made}", lambda: generated_notes(model, keys, args.cfg, args.steps))
    others = [*REAL, GENERATED]
    if args.stages:
        from melodex.timbre import hn_analysis

        code = hashlib.sha256(Path(hn_analysis.__file__).read_bytes()).hexdigest()[:12]
        fluid = {k: notes[REFERENCE][k] for k in keys}
        notes[ANALYSED] = store.get(f"analysed_{code}", lambda: stage_notes(None, fluid)[ANALYSED])
        notes[AUTOENCODED] = store.get(f"autoencoded_{made}_{code}", lambda: stage_notes(model, fluid)[AUTOENCODED])
        others = [*REAL, ANALYSED, AUTOENCODED, GENERATED]
    print(f"{len(keys)} keys played by all four ({time.perf_counter() - clock:.0f} s); "
          f"generated with cfg {args.cfg:g}, {args.steps} steps")

    reference = {k: rms_normalised(notes[REFERENCE][k]) for k in keys}
    reference_levels = {k: metrics.band_levels(audio) for k, audio in reference.items()}
    rows: dict[str, dict[str, list[float]]] = {}
    per_key: dict[str, dict[Key, tuple[float, ...]]] = {s: {} for s in [REFERENCE, *others]}
    for source in [REFERENCE, *others]:
        for k in keys:
            audio = rms_normalised(notes[source][k])
            power = metrics.stft_power(audio)
            levels = metrics.band_levels(audio, power=power)
            band_error = np.mean(np.abs(levels - reference_levels[k]))
            per_key[source][k] = (metrics.mr_stft(reference[k], audio) if source != REFERENCE else 0.0,
                                  float(band_error), metrics.band_flatness(audio, power=power), float(levels[-1]),
                                  metrics.band_flatness(audio, heard=True, power=power),
                                  metrics.band_flatness(audio[:ONSET_SAMPLES], ONSET_BAND_HZ, heard=True),
                                  release_time(audio, round(HOLD_S * SAMPLE_RATE), SAMPLE_RATE))
    everyone = " / ".join([REFERENCE, *others])
    header = "family | " + " | ".join(f"MR-STFT {s}" for s in others) + " | " + \
        " | ".join(f"band dB {s}" for s in others) + f" | 4-12 kHz flatness {everyone}" + \
        f" | 4-12 kHz level re total {everyone} | 4-12 kHz flatness as heard {everyone}" + \
        f" | onset flatness {everyone} | release s {everyone} | pass"
    print(header)
    passed = strict = 0
    for family, name in enumerate(GM_FAMILIES):
        in_family = [k for k in keys if k[0] // 8 == family]
        if not in_family:
            continue
        row = {s: [float(np.median([per_key[s][k][m] for k in in_family])) for m in range(7)]
               for s in [REFERENCE, *others]}
        real_worst = max(row[s][0] for s in REAL)
        real_best = min(row[s][0] for s in REAL)
        ok = row[GENERATED][0] <= real_worst
        passed += ok
        strict += row[GENERATED][0] <= real_best
        rows[name] = {s: row[s] for s in [REFERENCE, *others]}
        print(f"{name} ({len(in_family)}) | " + " | ".join(f"{row[s][0]:.2f}" for s in others) + " | "
              + " | ".join(f"{row[s][1]:.1f}" for s in others) + " | "
              + " / ".join(f"{row[s][2]:.1f}" for s in [REFERENCE, *others]) + " | "
              + " / ".join(f"{row[s][3]:.1f}" for s in [REFERENCE, *others]) + " | "
              + " / ".join(f"{row[s][4]:.1f}" for s in [REFERENCE, *others]) + " | "
              + " / ".join(f"{row[s][5]:.1f}" for s in [REFERENCE, *others]) + " | "
              + " / ".join(f"{row[s][6]:.2f}" for s in [REFERENCE, *others]) + f" | {'yes' if ok else 'no'}")
        if args.png is not None:
            args.png.mkdir(parents=True, exist_ok=True)
            program = family * 8
            shown = min((k for k in in_family if k[2] == VELOCITIES[-1]),
                        key=lambda k: (k[0] != program, abs(k[1] - 60)))
            family_png(notes, shown, args.png / f"family_{family:02d}_{name.replace(' ', '_')}.png")
    n_families = len(rows)
    print(f"families where the generated notes are as close to FluidR3 as a real set: {passed}/{n_families} "
          f"({passed / n_families:.0%}; target >= 80%); as close as the closer real set: {strict}/{n_families}")
    overall = {s: float(np.median([per_key[s][k][0] for k in keys])) for s in others}
    print("median MR-STFT over all keys: " + ", ".join(f"{s} {v:.3f}" for s, v in overall.items()))

    groups = [k[0] for k in keys]
    accuracy = {s: separability([notes[REFERENCE][k] for k in keys], [notes[s][k] for k in keys], groups)
                for s in others}
    print("classifier FluidR3 vs each (5-fold by program, 0.5 = indistinguishable): "
          + ", ".join(f"{s} {a:.3f}" for s, a in accuracy.items()))
    print(f"total {time.perf_counter() - clock:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps({"families": rows, "passed": passed, "strict": strict,
                                         "classifier": accuracy, "overall_mr_stft": overall}, indent=1))


if __name__ == "__main__":
    main()
