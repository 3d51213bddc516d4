"""A writer process for the project tests: small versions saved, checked out or created, to be killed.

    python project_writer.py PROJECT save N      save N versions, each from the current one
    python project_writer.py PROJECT create      create PROJECT with its first version
    python project_writer.py PROJECT checkout V  check out version V
    python project_writer.py PROJECT hold S      hold the write lock S seconds (prints "held" when it has it)

Set MELODEX_KILL_AT to make it die at one of the commit's crash points (melodex.files.crash_point).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from melodex.project import Project, TrackTimbre, Version
from melodex.project_lock import writing
from melodex.timbre.sampleset import NoteSample, SampleSet


def make_version(seed: int = 0, parent: str | None = None, seconds: float = 1.0) -> Version:
    rng = np.random.default_rng(seed)
    note = NoteSample(audio=rng.standard_normal(2000).astype(np.float32) * 0.1, loop_start=500, loop_end=900,
                      release_start=1500, sustain_level=0.5, release_s=0.01,
                      initial_noise=np.ones(8, np.float32), latent=np.zeros(8, np.float32))
    sampleset = SampleSet(program=0, is_drum=False, sample_rate=8000, notes={(60, 80): note})
    frames = int(8000 * seconds)
    stems = {0: (rng.standard_normal((frames, 2)) * 0.1).astype(np.float32),
             1: (rng.standard_normal((frames, 2)) * 1.5).astype(np.float32)}  # louder than full scale
    return Version(events=np.arange(26, dtype=np.int32).reshape(2, 13), timbres={0: TrackTimbre("warm", "timbre", 7)},
                   samplesets={0: sampleset}, stems=stems, mix=stems[0] * 0.5, sample_rate=8000,
                   settings={"seed": seed}, edit=f"edit {seed}", parent=parent)


def main(argv: list[str]) -> None:
    path, action = Path(argv[0]), argv[1]
    if action == "create":
        Project.create(path, "a prompt", {}, {}, first=make_version(0))
    elif action == "save":
        for i in range(int(argv[2])):
            project = Project.open(path)
            project.save_version(make_version(i + 1, parent=project.current, seconds=3.0))
    elif action == "checkout":
        Project.open(path).checkout(argv[2])
    elif action == "hold":
        with writing(path):
            print("held", flush=True)
            time.sleep(float(argv[2]))
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
