"""What the structure model has learnt of harmony, teacher-forced on held-out accompanied examples.

For the validation works (never trained on), single-line tunes get the training accompaniment (bass, chord
part, drums following the bar chords; `accompany`) and the model reads the whole example with full
conditioning. Reported: for notes of harmony parts (harmony, accompaniment, pad roles), the probability the
model gives the sounding chord's tones; for the first bass note after each chord change, the probability it
gives the chord's root (any octave); for each CHORD event, the probability of the written chord, of its
root, and of the tonic chord on the first bar. Chance for a model that knows only the key is ~0.35 / ~0.12.
Drums: the probability of each drum hit (which drum, where: kind, position, track and instrument) in the
first bar the drums play (the style's groove from the prompt alone) and in later bars (the groove held).

    .venv/bin/python scripts/eval_harmony.py --checkpoint src/melodex/weights/structure --works 120
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from melodex.data.chords import CHORD_INTERVALS, estimate_bar_chords
from melodex.data.corpus import load_corpus
from melodex.score import DRUM_PROGRAM, ROLES
from melodex.structure.conditioning import build_memory
from melodex.structure.harmony import harmony_context
from melodex.structure.model import load_model
from melodex.tokens import (
    CHORD,
    CHORD_QUALITIES,
    F_CHORD,
    F_KIND,
    F_PITCH,
    F_PROGRAM,
    F_TRACK,
    NO_CHORD,
    NOTE,
    TRACK,
    encode,
)
from melodex.train.structure_data import (
    STYLES_BY_METER,
    accompany,
    example_controls,
    prompt_caption,
    window,
)

HARMONY_ROLES = {ROLES.index(r) for r in ("harmony", "accompaniment", "pad")}
BASS_ROLE = ROLES.index("bass")


def chord_tones(value: int) -> np.ndarray:
    root, quality = divmod(value, len(CHORD_QUALITIES))
    steps = CHORD_INTERVALS.get(CHORD_QUALITIES[quality], CHORD_INTERVALS["maj"])
    mask = np.zeros(12, dtype=bool)
    mask[[(root + s) % 12 for s in steps]] = True
    return np.tile(mask, 11)[:128]


@torch.no_grad()
def measure(model, examples) -> dict[str, float]:
    harmony, bass, chord_exact, chord_root = [], [], [], []
    hold_prob, hold_true, tonic_prob, tonic_true = [], [], [], []
    for events, bars, caption, controls in examples:
        ev = torch.from_numpy(events.astype(np.int64))[None]
        memory = build_memory(model, [caption], [controls], torch.tensor([True]))
        h = model.hidden(ev[:, :-1], torch.from_numpy(bars.astype(np.int64))[None, :-1], memory)[0]
        target = ev[0, 1:]
        context = harmony_context(ev[:, :-1])
        roles_at = context.track_roles[0]
        last_bass_chord = -1
        for t in range(len(target)):
            kind = int(target[t, F_KIND])
            if kind not in (NOTE, CHORD):
                continue
            base = h[t] + model.out_embed[F_KIND].weight[kind]
            fields = (1, 2) if kind == NOTE else (1,)  # pos, track (then pitch); pos (then chord)
            for f in fields:
                base = base + model.out_embed[f].weight[target[t, f]]
            if kind == NOTE:
                base = base + model.role_choice(roles_at[t, int(target[t, F_TRACK])])
            field = F_PITCH if kind == NOTE else F_CHORD
            logits = model.field_logits(base[None], field)
            chord = context.chord[0, t : t + 1]
            key = context.key[0, t : t + 1]
            track = int(target[t, F_TRACK])
            role = roles_at[t, track : track + 1] if kind == NOTE else torch.zeros(1, dtype=torch.long)
            if model.harmony is not None:
                logits = logits + model.harmony_logits(base[None], field, chord, key, role)
            probs = F.softmax(logits[0], -1).numpy()
            if kind == CHORD:
                value = int(target[t, F_CHORD])
                before = int(chord[0])
                if value < NO_CHORD and before < NO_CHORD and int(target[t, 1]) == 0:  # a bar line: held or moved
                    hold_prob.append(probs[before])
                    hold_true.append(float(value == before))
                    home = int(key[0])
                    if home >= 0:  # key index: tonic * 2 + minor (Key.from_index)
                        tonic = (home // 2) * len(CHORD_QUALITIES) + CHORD_QUALITIES.index("min" if home % 2 else "maj")
                        tonic_prob.append(probs[tonic])
                        tonic_true.append(float(value == tonic))
                if value < NO_CHORD:
                    chord_exact.append(probs[value])
                    root = value // len(CHORD_QUALITIES)
                    chord_root.append(probs[:NO_CHORD].reshape(12, -1)[root].sum())
                continue
            current = int(chord[0])
            if current >= NO_CHORD:
                continue
            r = int(role[0])
            if r in HARMONY_ROLES:
                harmony.append(probs[chord_tones(current)].sum())
            elif r == BASS_ROLE and current != last_bass_chord:
                root = current // len(CHORD_QUALITIES)
                bass.append(probs[np.arange(128) % 12 == root].sum())
                last_bass_chord = current
    return {"harmony_chord_tones": float(np.mean(harmony)), "bass_root_at_change": float(np.mean(bass)),
            "chord_exact": float(np.mean(chord_exact)), "chord_root": float(np.mean(chord_root)),
            "hold_prob": float(np.mean(hold_prob)), "hold_true": float(np.mean(hold_true)),
            "tonic_prob": float(np.mean(tonic_prob)), "tonic_true": float(np.mean(tonic_true)),
            "n_harmony": len(harmony), "n_bass": len(bass), "n_chords": len(chord_exact)}


DRUM_FIELDS = ("kind", "pos", "track", "pitch")


@torch.no_grad()
def measure_drums(model, examples) -> dict[str, float]:
    """Mean probability of a drum hit, teacher-forced: in the drums' first bar, and in the bars after it."""
    first, later = [], []
    for events, bars, caption, controls in examples:
        drum_tracks = [i for i, row in enumerate(r for r in events if r[F_KIND] == TRACK)
                       if row[F_PROGRAM] == DRUM_PROGRAM]
        target, target_bars = events[1:], bars[1:]
        hits = (target[:, F_KIND] == NOTE) & np.isin(target[:, F_TRACK], drum_tracks)
        if not hits.any():
            continue
        memory = build_memory(model, [caption], [controls], torch.tensor([True]))
        fields = model.field_nll(torch.from_numpy(events.astype(np.int64))[None],
                                 torch.from_numpy(bars.astype(np.int64))[None], memory)
        nll = sum(fields[name][0] for name in DRUM_FIELDS).numpy()
        opening = target_bars[hits].min()
        for t in np.flatnonzero(hits):
            (first if target_bars[t] == opening else later).append(float(np.exp(-nll[t])))
    return {"drum_hit_first_bar": float(np.mean(first)), "drum_hit_later_bars": float(np.mean(later)),
            "n_drum_first": len(first), "n_drum_later": len(later)}


def held_out_examples(n_works: int, seed: int = 0) -> list:
    corpus = load_corpus()
    _, valid = corpus.split(0.05, seed=0)
    rng = np.random.default_rng(seed)
    out = []
    for index in range(len(valid)):
        if len(out) >= n_works:
            break
        work = valid[index]
        score = work.score
        meter = (score.meter.numerator, score.meter.denominator)
        if len(score.tracks) != 1 or meter not in STYLES_BY_METER or len(score.time_signatures) != 1:
            continue
        chords = estimate_bar_chords(score)
        if not chords:
            continue
        style = STYLES_BY_METER[meter][len(out) % len(STYLES_BY_METER[meter])]
        try:
            accompanied = accompany(score, chords, style, rng, None, score.tracks[0].program)
            events = encode(accompanied)
        except (ValueError, KeyError, IndexError):  # skipped as in training: the grammar cannot hold it
            continue
        w = window(events, 512, np.random.default_rng(0))
        out.append((w.events, w.bars, prompt_caption(accompanied, style, rng),
                    example_controls(accompanied, style, rng, keep=1.0)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", action="append", required=True, help="checkpoint directory (repeatable)")
    parser.add_argument("--works", type=int, default=120)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    examples = held_out_examples(args.works)
    rows = {}
    for path in args.checkpoint:
        model = load_model(path)
        rows[path] = measure(model, examples) | measure_drums(model, examples)
        print(path, json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[path].items()}))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
