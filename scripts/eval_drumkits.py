"""Do drum kits follow the words? The kit each text chooses, how different the drums sound, and whether
what changes is what the words asked for.

A fixed two-bar rock/pop pattern (kick, snare, closed and open hi-hat, crash, toms; 100 BPM) is played by
the sampler with the drum sample set `timbre.drumkit` makes for each text (`Drum Kit` appended, as
`pipeline.timbre_text` does), at each cfg, seed 0. Printed per text and cfg: the kit and its treatments,
the level of the difference from the wordless kit's stem (dB re that stem; the issue measured -28 dB for
`retimbre drums "punchy 808"`, i.e. the same GM kit), and `drumkit.describe_hits` of the sample set's
own kick, snare and hi-hat (kick decay to -30 dB, kick energy under 120 Hz, snare tail to -30 dB, snare
crest factor, 4-12 kHz share, 95% rolloff), then the difference between every pair of texts at cfg 4.

    .venv/bin/python scripts/eval_drumkits.py [--cfg 1,2,4,8]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from melodex.sampler import perform
from melodex.score import DRUM_PROGRAM, TPQ, Score, Tempo, Track
from melodex.timbre import drumkit

TEXTS = ("punchy 808", "brushed jazz kit", "lo-fi dusty drums", "big room")
PATTERN_KEYS = (36, 38, 42, 46, 49, 45, 43)


def pattern() -> Score:
    eighth = TPQ // 2
    notes = []
    for bar in range(2):
        base = bar * 4 * TPQ
        for step in range(8):
            t = base + step * eighth
            notes.append((t, eighth - 10, 46 if step == 7 else 42, 80 + 10 * (step % 2 == 0)))
            if step in (0, 3, 4):
                notes.append((t, eighth, 36, 110))
            if step in (2, 6):
                notes.append((t, eighth, 38, 105))
        if bar == 1:
            notes += [(base + 6 * eighth, eighth, 45, 100), (base + 7 * eighth, eighth, 43, 100)]
    notes.append((0, TPQ, 49, 110))
    return Score(tracks=[Track(DRUM_PROGRAM, "drums", notes=np.array(sorted(notes)))], tempos=[Tempo(100.0)])


def stem(text: str, cfg: float, score: Score) -> tuple[np.ndarray, str, dict[str, float], str]:
    """(the pattern's dry stem, the kit, descriptors of its processed kick/snare/hat, its treatments)."""
    sampleset = drumkit.drum_sampleset(f"{text} {drumkit.BARE_TEXT}".strip(), PATTERN_KEYS, (96,), cfg, 0)
    hits = [sampleset.notes[(key, 96)].audio for key in (drumkit.KICK, drumkit.SNARE, drumkit.CLOSED_HAT)]
    treated = {k: v for k, v in json.loads(str(sampleset.settings["treatments"])).items() if v}
    return (perform(score, 0, sampleset), str(sampleset.settings["kit"]), drumkit.describe_hits(*hits),
            ", ".join(f"{k} {v:g}" for k, v in treated.items()) or "none")


def difference_db(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(np.mean((a - b) ** 2) / np.mean(b**2) + 1e-30))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default="1,2,4,8")
    args = parser.parse_args()
    score = pattern()
    bare, bare_kit, d, _ = stem("", 4.0, score)
    print(f"no words: {bare_kit}; " + ", ".join(f"{k} {v:.2f}" for k, v in d.items()))
    chosen: dict[str, np.ndarray] = {}
    for text in TEXTS:
        for cfg in [float(c) for c in args.cfg.split(",")]:
            audio, name, d, treated = stem(text, cfg, score)
            print(f"{text!r} cfg {cfg:g}: {name}, treatments {treated}; {difference_db(audio, bare):+.1f} dB re the "
                  "wordless kit; " + ", ".join(f"{k} {v:.2f}" for k, v in d.items()))
            if cfg == 4.0:
                chosen[text] = audio
    if chosen:
        print("pairwise difference at cfg 4 (dB re the second):")
        for i, a in enumerate(TEXTS):
            for b in TEXTS[i + 1 :]:
                if a in chosen and b in chosen:
                    print(f"  {a!r} vs {b!r}: {difference_db(chosen[a], chosen[b]):+.1f}")


if __name__ == "__main__":
    main()
