"""Drums follow the words (issue 15, point 3): for each text, the kit `timbre.drumkit` chooses, each
drum's spectral centroid and decay to -20 dB, and how far apart the kits sound (mel log-spectral
distance of one bar, dB); one spectrogram PNG per kit; with --retimbre, the same through the CLI on
a generated drums project (`melodex retimbre PROJECT drums TEXT`, level of the stem's change).

The texts are those a drum track gets (`pipeline.timbre_text`: the words, then "Drum Kit"), cfg 4,
seed 0, velocity 96; the bar is the first of `eval_drumkits.pattern` (kick, snare, hats, crash).

    .venv/bin/python scripts/eval_drum_words.py [--png docs/img/drums] [--retimbre]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eval_drumkits import pattern

from melodex.sampler import perform
from melodex.score import TPQ
from melodex.timbre import drumkit, metrics

TEXTS = ("", "punchy 808", "brushed jazz kit", "lo-fi dusty drums", "big room")
DRUMS = {"kick": 36, "snare": 38, "closed hat": 42, "crash": 49}
KEYS = (36, 38, 42, 46, 49, 45, 43)
RATE = 44100
PROJECT_PROMPT = "drums only, 100 BPM, verse 2 bars"


def label(text: str) -> str:
    return text or "no words"


def kit_for(text: str, cfg: float, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray, str]:
    """(hit per drum, one bar played by the kit, 'kit + treatments')."""
    sampleset = drumkit.drum_sampleset(f"{text} {drumkit.BARE_TEXT}".strip(), KEYS, (96,), cfg, seed, RATE)
    hits = {name: sampleset.notes[(key, 96)].audio for name, key in DRUMS.items()}
    score = pattern()
    bar = round(4 * TPQ / TPQ * 60 / score.bpm * RATE)
    audio = perform(score, 0, sampleset, RATE)[:bar]
    treated = [f"{k} {v:g}" for k, v in json.loads(str(sampleset.settings["treatments"])).items() if v]
    return hits, audio, ", ".join([str(sampleset.settings["kit"]), *treated])


def spectrogram_png(audio: np.ndarray, title: str, path: Path) -> None:
    import librosa
    import librosa.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mel = librosa.feature.melspectrogram(y=audio.astype(np.float32), sr=RATE, n_fft=2048, hop_length=256, n_mels=128)
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    shown = librosa.display.specshow(librosa.power_to_db(mel, ref=1.0, top_db=80.0), sr=RATE, hop_length=256,
                                     x_axis="time", y_axis="mel", ax=ax, vmin=-80, vmax=0, cmap="magma")
    fig.colorbar(shown, ax=ax, format="%+.0f dB")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def mel_distance(a: np.ndarray, b: np.ndarray) -> float:
    """`metrics.mel_lsd` both ways round, averaged (its floor is set by the reference's peak)."""
    return 0.5 * (metrics.mel_lsd(a, b) + metrics.mel_lsd(b, a))


def change_db(old: np.ndarray, new: np.ndarray) -> float:
    n = min(len(old), len(new))
    return float(10 * np.log10(np.mean((new[:n] - old[:n]) ** 2) / (np.mean(old[:n] ** 2) + 1e-20) + 1e-30))


def drum_kit_of(project: Path) -> str:
    """The kit of the current version's drum sample set, as stored in the project."""
    from melodex.timbre.sampleset import SampleSet

    current = json.loads((project / "project.json").read_text())["current"]
    for path in sorted((project / "versions" / current / "timbre").glob("*.npz")):
        sampleset = SampleSet.load(path)
        if sampleset.is_drum:
            return f"{current}: {sampleset.settings.get('kit', sampleset.source)}"
    return current


def retimbre_rows(cfg_texts: tuple[str, ...]) -> list[str]:
    """Generate a drums project with the CLI, retimbre its drums to each text; the stem's change."""
    import soundfile

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "song"
        melodex = [sys.executable, "-m", "melodex.cli"]
        subprocess.run([*melodex, "generate", PROJECT_PROMPT, "-o", str(out)], check=True,
                       capture_output=True)
        stem = next((out / "stems").glob("*drum*.wav"))
        first, _ = soundfile.read(stem, always_2d=True)
        previous = first
        rows.append(f"| `generate \"{PROJECT_PROMPT}\"` | - | - | - | {drum_kit_of(out / 'song.melodex')} |")
        for text in cfg_texts:
            subprocess.run([*melodex, "retimbre", str(out), "drums", text], check=True, capture_output=True)
            now, _ = soundfile.read(stem, always_2d=True)
            kit = drum_kit_of(out / "song.melodex")
            a, b, c = first.mean(1), previous.mean(1), now.mean(1)
            rows.append(f"| `retimbre drums \"{text}\"` | {change_db(a, c):+.1f} dB | {change_db(b, c):+.1f} dB | "
                        f"{mel_distance(a, c):.1f} dB | {kit} |")
            previous = now
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--png", type=Path, default=None, help="folder for one spectrogram PNG per kit")
    parser.add_argument("--retimbre", action="store_true", help="also retimbre a generated project (slow)")
    args = parser.parse_args()
    made = {text: kit_for(text, args.cfg, args.seed) for text in TEXTS}
    print(f"| text (cfg {args.cfg:g}) | kit, treatments | "
          + " | ".join(f"{d}: centroid, decay to -20 / -40 dB" for d in DRUMS) + " |")
    print("|---|---|" + "---|" * len(DRUMS))
    for text, (hits, _, kit) in made.items():
        cells = [f"{metrics.spectral_centroid(h, len(h) / RATE):,.0f} Hz, {drumkit._fall_time(h, RATE, 20.0):.2f} / "
                 f"{drumkit._fall_time(h, RATE, 40.0):.2f} s" for h in hits.values()]
        print(f"| {label(text)} | {kit} | " + " | ".join(cells) + " |")
    print("\nmel log-spectral distance of one bar between kits (dB, symmetric):\n")
    print("| | " + " | ".join(label(t) for t in TEXTS) + " |")
    print("|---|" + "---|" * len(TEXTS))
    for a in TEXTS:
        print(f"| {label(a)} | " + " | ".join("-" if a == b else f"{mel_distance(made[a][1], made[b][1]):.1f}"
                                             for b in TEXTS) + " |")
    if args.png:
        for text, (_, audio, kit) in made.items():
            name = (text or "no-words").replace(" ", "-")
            spectrogram_png(audio, f"\"{label(text)}\" -> {kit}", args.png / f"{name}.png")
        print(f"\nspectrograms in {args.png}")
    if args.retimbre:
        print("\n| edit | stem change re the first render | re the edit before | mel distance to the first "
              "| version: kit |")
        print("|---|---|---|---|---|")
        for row in retimbre_rows(TEXTS[1:]):
            print(row)


if __name__ == "__main__":
    main()
