"""How often the audio analysers of `melodex eval` hear the right key and tempo, on real music of known key.

Works: corpus works whose source writes the key with its mode (`key_source` "source") and one tempo, half
multi-part (Bach chorales, Beethoven, Mozart, Haydn, Monteverdi, ...), half single tunes (Essen, O'Neill,
Aird, Ryan), drawn with a seed; plus the real songs (OpenMSX, freedoom) whose MIDI file has a key signature
other than the C major sequencers write by default. Each is cut to its first --seconds, rendered by the
General MIDI SoundFont and analysed by librosa (chroma + Krumhansl-Kessler, onset tempo) and essentia
(KeyExtractor with each key profile, RhythmExtractor2013). Key: exact and MIREX weighted (mir_eval);
tempo: Acc1 (within 4% of the score's tempo) and Acc2 (x2, x3, x1/2, x1/3 allowed).

    nice -n 15 python scripts/calibrate_audio_key.py --works 100 --json out/key_calibration.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from melodex.errors import MelodexError, run_script
from melodex.score import Key, Score

PROFILES = ("edma", "bgate", "temperley", "krumhansl", "shaath")
MULTI_PART = ("bach", "beethoven", "mozart", "haydn", "monteverdi", "trecento", "josquin", "schumann_robert",
              "schumann_clara")
TUNES = ("essenFolksong", "oneills1850", "airdsAirs", "ryansMammoth", "miscFolk")


def corpus_works(n: int, seed: int) -> list[tuple[str, str, Score]]:
    """(id, kind, score) of n works of written key and one tempo, half multi-part, half tunes."""
    from melodex.data.corpus import load_corpus

    corpus = load_corpus()
    pools: dict[str, list[int]] = {"multi-part": [], "tune": []}
    for position in range(len(corpus)):
        a = corpus.attributes(position)
        if a.get("key_source") != "source" or a.get("tempo_changes") or a.get("n_bars", 0) < 8:
            continue
        if a.get("collection") in MULTI_PART and a.get("n_parts", 1) >= 2:
            pools["multi-part"].append(position)
        elif a.get("collection") in TUNES:
            pools["tune"].append(position)
    rng = np.random.default_rng(seed)
    chosen = []
    for kind, pool in pools.items():
        for position in sorted(rng.choice(pool, min(n // 2, len(pool)), replace=False)):
            work = corpus[int(position)]
            chosen.append((work.attributes["id"], kind, work.score))
    return chosen


def real_songs_with_key() -> list[tuple[str, str, Score]]:
    """Real songs whose file declares a key signature other than C major."""
    import symusic

    from melodex.data.real_songs import FREEDOOM_WADS, OPENMSX_DIR, wad_music
    from melodex.midi import read_midi_bytes

    files = [(f"openmsx/{p.stem}", p.read_bytes()) for p in sorted(OPENMSX_DIR.glob("*.mid"))]
    for wad in (w for w in FREEDOOM_WADS if w.is_file()):
        files += [(f"{wad.stem}/{name}", data) for name, data in wad_music(wad)]
    out = []
    for name, data in files:
        if not data.startswith(b"MThd"):
            continue
        signatures = symusic.Score.from_midi(data).key_signatures
        if len(signatures) and (signatures[0].key, signatures[0].tonality) != (0, 0):
            out.append((name, "real song", read_midi_bytes(data, name=name)))
    return out


def analyse(score: Score, seconds: float) -> dict[str, Any]:
    import librosa

    from melodex.evaluate.analysers import (
        ANALYSIS_RATE,
        essentia_key,
        essentia_tempo,
        key_of,
        key_score,
        tempo_hits,
    )
    from melodex.evaluate.listen import first_bars
    from melodex.reference import onset_tempo
    from melodex.soundfont import SoundFontSynth

    bar_seconds = score.seconds_at(np.array(score.bar_starts()))
    n_bars = max(1, int(np.searchsorted(bar_seconds, seconds, side="right")) - 1)
    cut = first_bars(score, n_bars)
    audio = SoundFontSynth().render(cut, ANALYSIS_RATE)
    mono = (audio.mean(axis=1) if audio.ndim == 2 else audio).astype(np.float32)
    harmonic, _ = librosa.effects.hpss(mono)
    truth, bpm = score.key, score.bpm
    heard: dict[str, Key | None] = {"librosa": key_of(harmonic)[0]}
    for profile in PROFILES:
        heard[f"essentia {profile}"] = essentia_key(mono, ANALYSIS_RATE, profile)
    tempos = {"librosa": onset_tempo(mono, ANALYSIS_RATE), "essentia": essentia_tempo(mono, ANALYSIS_RATE)}
    return {
        "key": str(truth), "bpm": bpm, "bars": n_bars,
        "heard": {k: str(v) for k, v in heard.items() if v is not None},
        "key_score": {k: key_score(truth, str(v)) for k, v in heard.items() if v is not None},
        "tempo": {k: {"bpm": v, **tempo_hits(v, bpm)} for k, v in tempos.items() if v},
    }


def table(rows: list[dict[str, Any]]) -> list[str]:
    kinds = sorted({r["kind"] for r in rows})
    analysers = list(rows[0]["key_score"])
    lines = ["| key analyser | " + " | ".join(f"{k} ({sum(r['kind'] == k for r in rows)})" for k in kinds)
             + f" | all ({len(rows)}) |", "|---|" + "---|" * (len(kinds) + 1)]
    for name in analysers:
        cells = []
        for kind in [*kinds, None]:
            scores = [r["key_score"][name] for r in rows if kind is None or r["kind"] == kind]
            cells.append(f"exact {np.mean([s == 1.0 for s in scores]):.2f}, weighted {np.mean(scores):.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| tempo analyser | " + " | ".join(kinds) + " | all |", "|---|" + "---|" * (len(kinds) + 1)]
    for name in ("librosa", "essentia"):
        cells = []
        for kind in [*kinds, None]:
            hits = [r["tempo"][name] for r in rows if name in r["tempo"] and (kind is None or r["kind"] == kind)]
            cells.append(f"Acc1 {np.mean([h['tempo_exact'] for h in hits]):.2f}, "
                         f"Acc2 {np.mean([h['tempo_acc2'] for h in hits]):.2f}" if hits else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--works", type=int, default=120, help="corpus works (half multi-part, half tunes)")
    parser.add_argument("--seconds", type=float, default=30.0, help="the first seconds of each work")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-real", action="store_true", help="leave out the real songs with a key signature")
    parser.add_argument("--json", type=Path, help="write every work's result here")
    args = parser.parse_args()
    if args.works < 2 or args.seconds < 5:
        raise MelodexError("--works needs at least 2 and --seconds at least 5")
    works = corpus_works(args.works, args.seed) + ([] if args.no_real else real_songs_with_key())
    rows = []
    started = time.perf_counter()
    for done, (name, kind, score) in enumerate(works):
        print(f"\r  {done + 1}/{len(works)} {name[:40]:40s}", end="", file=sys.stderr, flush=True)
        rows.append({"work": name, "kind": kind, **analyse(score, args.seconds)})
    print(f"\n  {time.perf_counter() - started:.0f} s", file=sys.stderr)
    for line in table(rows):
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"options": {k: str(v) for k, v in vars(args).items()}, "works": rows},
                                        indent=1))
    return 0


if __name__ == "__main__":
    run_script(main)
