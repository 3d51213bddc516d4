"""Is a generated note's instrument family recognisable? A classifier that never saw the timbre model.

A logistic-regression classifier learns the 16 General MIDI families from audio descriptors of notes
played by one SoundFont (FluidR3_GM, every program, three pitches), then labels notes it has not heard:

- the same programs played by another SoundFont (TimGM6mb): how recognisable families are across two
  sets of real samples, the ceiling to compare with;
- the timbre model's notes for the same programs and pitches (empty timbre text, so only the program
  and family speak), at each CFG given.

Descriptors (pitch-independent as far as possible): MFCC 1-19 mean and spread, spectral centroid and
bandwidth relative to the fundamental, flatness, the level envelope at 8 points and attack time.
Chance is 1/16 = 0.0625. Run:

    .venv/bin/python scripts/eval_family.py [--weights DIR] [--cfg 1,3,5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from melodex.instruments import GM_FAMILIES
from melodex.soundfont import SoundFontSynth, find_soundfont
from melodex.timbre.hn import SAMPLE_RATE, midi_hz
from melodex.timbre.model import GenerationOptions, TimbreModel

PITCHES = (48, 60, 72)
VELOCITY = 90
HOLD_S, RELEASE_S = 1.0, 0.49


def descriptors(audio: np.ndarray, pitch: int) -> np.ndarray:
    import librosa

    audio = np.asarray(audio, dtype=np.float32)[: int((HOLD_S + RELEASE_S) * SAMPLE_RATE)]
    peak = float(np.max(np.abs(audio))) or 1.0
    audio = audio / peak
    spectrum = np.abs(librosa.stft(audio, n_fft=2048, hop_length=512))
    mel = librosa.feature.melspectrogram(S=spectrum**2, sr=SAMPLE_RATE, n_mels=64)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel + 1e-10), n_mfcc=20)[1:]
    f0 = midi_hz(pitch)
    centroid = librosa.feature.spectral_centroid(S=spectrum, sr=SAMPLE_RATE)[0]
    bandwidth = librosa.feature.spectral_bandwidth(S=spectrum, sr=SAMPLE_RATE)[0]
    flatness = librosa.feature.spectral_flatness(S=spectrum)[0]
    rms = librosa.feature.rms(S=spectrum)[0]
    level = 20 * np.log10(rms / (rms.max() + 1e-12) + 1e-6)
    points = level[np.linspace(0, len(level) - 1, 8).astype(int)]
    attack = float(np.argmax(rms >= 0.9 * rms.max())) * 512 / SAMPLE_RATE
    loud = rms > 0.05 * rms.max()
    return np.concatenate([
        mfcc.mean(axis=1), mfcc.std(axis=1),
        [np.log2(np.mean(centroid[loud]) / f0 + 1e-6), np.log2(np.mean(bandwidth[loud]) / f0 + 1e-6),
         float(np.mean(np.log10(flatness[loud] + 1e-9))), attack],
        points,
    ])


def soundfont_set(name: str, programs: list[int]) -> tuple[np.ndarray, np.ndarray]:
    synth = SoundFontSynth(find_soundfont(name))
    rows, labels = [], []
    for program in programs:
        for pitch in PITCHES:
            audio = synth.render_note(program, pitch, VELOCITY, HOLD_S, RELEASE_S, SAMPLE_RATE)
            if np.max(np.abs(audio)) < 1e-4:  # no sample for this key
                continue
            rows.append(descriptors(audio, pitch))
            labels.append(program // 8)
    return np.array(rows), np.array(labels)


def generated_set(model: TimbreModel, programs: list[int], cfg: float) -> tuple[np.ndarray, np.ndarray]:
    rows, labels = [], []
    for program in programs:
        notes = model.generate_notes(program, "", list(PITCHES), [VELOCITY], GenerationOptions(cfg=cfg, seed=program))
        for pitch, _, audio, _, _ in notes:
            rows.append(descriptors(audio, pitch))
            labels.append(program // 8)
    return np.array(rows), np.array(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None, help="timbre weights folder (default: shipped)")
    parser.add_argument("--cfg", default="1,3,5", help="timbre CFG values for the generated notes")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small models: more threads only contend (6x slower on a busy 2-core machine)
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    programs = list(range(128))
    train_x, train_y = soundfont_set("FluidR3_GM", programs)
    other_x, other_y = soundfont_set("TimGM6mb", programs)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=4000, C=0.3))
    classifier.fit(train_x, train_y)
    print(f"trained on {len(train_y)} FluidR3_GM notes (128 programs x {len(PITCHES)} pitches); chance 0.0625")
    other = float(np.mean(classifier.predict(other_x) == other_y))
    print(f"TimGM6mb notes ({len(other_y)}): family accuracy {other:.3f}")
    model = TimbreModel.load(args.weights)
    for cfg in [float(v) for v in args.cfg.split(",")]:
        x, y = generated_set(model, programs, cfg)
        predicted = classifier.predict(x)
        accuracy = float(np.mean(predicted == y))
        per_family = [float(np.mean(predicted[y == f] == f)) for f in range(16)]
        print(f"generated notes, cfg {cfg:g} ({len(y)}): family accuracy {accuracy:.3f}")
        print("  per family: " + ", ".join(f"{GM_FAMILIES[f].lower()} {a:.2f}" for f, a in enumerate(per_family)))
        if cfg == 3.0:
            matrix = confusion_matrix(y, predicted, labels=range(16))
            confused = sorted(((matrix[i, j], GM_FAMILIES[i], GM_FAMILIES[j]) for i in range(16) for j in range(16)
                               if i != j and matrix[i, j]), reverse=True)[:5]
            print("  most confused (true -> heard as): "
                  + "; ".join(f"{a} -> {b} ({n})" for n, a, b in confused))


if __name__ == "__main__":
    main()
