"""When each progress report arrives inside the render stage and the timbre batch: the shares that
`render_audio.PERFORM_SHARE`, `production.mix.CHAINS_SHARE`/`REVERB_SHARE` and the timbre model's phases are set from.

    python scripts/time_progress.py out/synthwave      # a project `melodex generate` wrote
"""

from __future__ import annotations

import argparse
import time

from melodex import edit
from melodex.models import load_timbre
from melodex.production.mix import produce
from melodex.render_audio import TIMBRE_PITCH_STEP, TIMBRE_VELOCITY_LAYERS, sample_pitches
from melodex.sampler import Instrument, SamplerOptions, perform, stem_length
from melodex.timbre.model import GenerationOptions, TimbreRequest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project")
    args = parser.parse_args()
    session = edit.open_session(args.project)
    score, sets, rate = session.score, session.take.samplesets, session.take.sample_rate
    sampler = SamplerOptions()
    length = stem_length(score, rate, sampler)
    began = time.perf_counter()
    dry = [perform(score, i, Instrument(sets[i], rate, sampler), rate, length=length) for i in range(len(sets))]
    played = time.perf_counter()
    marks: list[tuple[float, float]] = []
    produce(dry, [t.role for t in score.tracks], edit.mix_settings(session.take), rate,
            [t.program for t in score.tracks], progress=lambda f: marks.append((f, time.perf_counter() - played)))
    total = time.perf_counter() - played
    print(f"render: perform {played - began:.2f} s, produce {total:.2f} s; "
          + ", ".join(f"{f:.2f} at {t:.2f} s" for f, t in marks))

    model = load_timbre()
    requests = [TimbreRequest(t.program, timbre.text, sample_pitches(t, TIMBRE_PITCH_STEP),
                              TIMBRE_VELOCITY_LAYERS, timbre.seed)
                for t, timbre in zip(score.tracks, session.take.timbres.values(), strict=True) if not t.is_drum]
    marks = []
    began = time.perf_counter()
    model.generate_samplesets(requests, GenerationOptions(cfg=session.options.cfg, steps=session.options.timbre_steps),
                              rate, progress=lambda f: marks.append((f, time.perf_counter() - began)))
    total = time.perf_counter() - began
    # The first report at or past each phase's start: when the phase before it ended.
    ends = sorted({next((f, t) for f, t in marks if f >= start - 1e-9) for start in (0.45, 0.55, 0.62)})
    print(f"timbres: {len(requests)} tracks in {total:.2f} s; phases end at "
          + ", ".join(f"{f:.2f} ({t:.2f} s)" for f, t in ends))


if __name__ == "__main__":
    main()
