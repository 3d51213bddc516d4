"""Generated notes as a transformation of a real note (`GenerationOptions.carrier`) next to the decoder's.

Text control as `eval_timbre.py` measures it (`evaluate.text_control`: programs 0, 24, 80, 89, pitches
55/67, seeds 0-1, velocity 90; ratio = geometric mean over programs, in brackets the programs that moved
the right way), for each way of making notes given, then the 4-12 kHz flatness (`metrics.band_flatness`,
dB, higher = noisier) of "bright" notes at the last cfg against the SoundFont's own notes.

    .venv/bin/python scripts/eval_transform.py [--carrier none,FluidR3_GM] [--cfg 1,4]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from melodex.soundfont import loaded_soundfont
from melodex.timbre import evaluate, hn, metrics
from melodex.timbre.model import GenerationOptions, TimbreModel

PROGRAMS = (0, 24, 80, 89)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--carrier", default="none,FluidR3_GM", help="'none' = synthesised by the decoder")
    parser.add_argument("--cfg", default="1,4")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = TimbreModel.load()
    cfgs = tuple(float(c) for c in args.cfg.split(","))
    for name in args.carrier.split(","):
        carrier = None if name == "none" else name
        options = GenerationOptions(carrier=carrier)
        rows = evaluate.text_control(model, cfgs=cfgs, programs=PROGRAMS, options=options)
        print(f"== notes {'synthesised by the decoder' if carrier is None else 'transformed from ' + carrier}")
        for words, measure, sign in evaluate.CONTRASTS:
            cells = []
            for cfg in cfgs:
                chosen = [r for r in rows if r.words == words and r.measure == measure and r.cfg == cfg]
                ratio = float(np.exp(np.mean([np.log(max(r.ratio, 1e-6)) for r in chosen])))
                right = sum((r.ratio - 1) * sign > 0 for r in chosen)
                cells.append(f"cfg {cfg:g} {ratio:.2f} ({right}/{len(chosen)})")
            print(f"  {words[0]} / {words[1]} {measure}: " + ", ".join(cells))
        flat = []
        for program in PROGRAMS:
            notes = model.generate_notes(program, "bright", [55, 67], [90], GenerationOptions(cfg=cfgs[-1],
                                                                                              carrier=carrier))
            flat += [metrics.band_flatness(audio) for _, _, audio, _, _ in notes]
        print(f"  'bright' cfg {cfgs[-1]:g}: 4-12 kHz flatness {np.mean(flat):.1f} dB")
    synth = loaded_soundfont("FluidR3_GM")
    real = [metrics.band_flatness(synth.render_note(p, k, 90, hn.HOLD_S, 0.49)) for p in PROGRAMS for k in (55, 67)]
    print(f"FluidR3_GM's own notes: 4-12 kHz flatness {np.mean(real):.1f} dB")


if __name__ == "__main__":
    main()
