"""How notes end in a rendered song: the level 50-300 ms after each written note-off (issue 15, point 1).

For one track (default 0) of songs made by `melodex generate` it reports, in dB relative to the note's
peak, the median over notes of:

- stem: the processed stem, at the song's release points (every sounding note of the track has ended
  and the next onset is >= 300 ms away), so other notes of the track do not mask the release;
- dry: each note played alone by the sampler from the song's own sample set, with its written length;
- fluidsynth: the same notes played by FluidSynth itself (FluidR3_GM), the real instrument's release;
- sampler - recording: each note of the sample set held as long as it was recorded, the sampler's level
  after note-off minus the recording's own (0 dB: the sampler releases a note as its recording does).

A note that "stops dead" reads near -60 dB or below; a piano released by its dampers reads -20 to -40.

    .venv/bin/python scripts/eval_release.py OUT_DIR [OUT_DIR ...] [--track 0] [--png spec.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from melodex.midi import read_midi
from melodex.project import Project
from melodex.sampler import Instrument, perform
from melodex.score import DUR, PITCH, START, VEL, Score, Tempo, Track
from melodex.soundfont import loaded_soundfont

AFTER = (0.05, 0.30)  # seconds after note-off: past the damper's first instant, before the next bar
FRAME_S = 0.01


def level_db(audio: np.ndarray, onset: int, offset: int, rate: int, at_off: bool = False) -> float:
    """RMS 50-300 ms after `offset` relative to the loudest 10 ms frame from `onset` to `offset`, or with
    `at_off` to the RMS of the last 50 ms before `offset` (the release alone, without the held decay)."""
    frame = round(FRAME_S * rate)
    held = audio[onset : max(offset, onset + frame)].astype(np.float64)
    n = len(held) // frame
    peak = float(np.sqrt((held[: n * frame].reshape(n, frame) ** 2).mean(axis=1)).max()) if n else 0.0
    if at_off:
        peak = float(np.sqrt(np.mean(held[-round(0.05 * rate) :] ** 2)))
    after = audio[offset + round(AFTER[0] * rate) : offset + round(AFTER[1] * rate)].astype(np.float64)
    rms = float(np.sqrt(np.mean(after**2))) if len(after) else 0.0
    return float(20 * np.log10((rms + 1e-12) / (peak + 1e-12)))


def release_points(score: Score, track: Track, rate: int) -> list[tuple[int, int]]:
    """(onset of the last notes, offset) where the whole track falls silent for >= 300 ms in the score."""
    on = np.rint(score.seconds_at(track.notes[:, START]) * rate).astype(np.int64)
    off = np.rint(score.seconds_at(track.notes[:, START] + track.notes[:, DUR]) * rate).astype(np.int64)
    points = []
    for i in range(len(on)):
        sounding_until = off[on <= off[i]].max()
        later = on[on > on[i]]
        if off[i] == sounding_until and (len(later) == 0 or later.min() - off[i] >= AFTER[1] * rate):
            points.append((int(on[i]), int(off[i])))
    return sorted(set(points))


def measure(folder: Path, index: int) -> dict[str, float]:
    score = read_midi(folder / "song.mid")
    version = Project.open(folder / "song.melodex").load_version()
    track = score.tracks[index]
    stem_path = sorted((folder / "stems").glob(f"{index + 1:02d}-*.wav"))[0]
    stem, rate = sf.read(stem_path, dtype="float32")
    stem = stem.mean(axis=1) if stem.ndim == 2 else stem
    at_points = [level_db(stem, on, off, rate) for on, off in release_points(score, track, rate)]

    instrument = Instrument(version.samplesets[index], rate)
    synth = loaded_soundfont(None)
    dry, real, dry_off, real_off = [], [], [], []
    for note in track.notes:
        held_s = float(score.seconds_at(note[START] + note[DUR]) - score.seconds_at(note[START]))
        single = np.array([[0, note[DUR], note[PITCH], note[VEL]]])
        # At the tempo where the note stands, so it lasts its written length in seconds.
        alone = Score(tracks=[Track(track.program, track.role, notes=single)],
                      tempos=[Tempo(score.tempo_at(int(note[START])))])
        played = perform(alone, 0, instrument, rate, length=round((held_s + 1.0) * rate))
        dry.append(level_db(played, 0, round(held_s * rate), rate))
        dry_off.append(level_db(played, 0, round(held_s * rate), rate, at_off=True))
        recorded = synth.render_note(track.program, int(note[PITCH]), int(note[VEL]), held_s, 1.0, rate)
        real.append(level_db(recorded, 0, round(held_s * rate), rate))
        real_off.append(level_db(recorded, 0, round(held_s * rate), rate, at_off=True))
    faithful = []
    for (pitch, velocity), sample in instrument.sampleset.notes.items():
        ticks = round(sample.release_start / rate / float(score.seconds_at(1)))
        alone = Score(tracks=[Track(track.program, track.role, notes=np.array([[0, ticks, pitch, velocity]]))],
                      tempos=score.tempos[:1])
        held = round(float(score.seconds_at(ticks)) * rate)
        played = perform(alone, 0, instrument, rate, length=len(sample.audio))
        faithful.append(level_db(played, 0, held, rate) - level_db(sample.audio, 0, held, rate))
    return {"stem": float(np.median(at_points)) if at_points else float("nan"), "points": len(at_points),
            "dry": float(np.median(dry)), "fluidsynth": float(np.median(real)), "notes": len(dry),
            "dry_off": float(np.median(dry_off)), "fluidsynth_off": float(np.median(real_off)),
            "faithful": float(np.median(faithful))}


def spectrogram_png(folders: list[Path], index: int, path: Path) -> None:
    """Each folder's stem from 1 s before to 1 s after the first folder's first release point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    score = read_midi(folders[0] / "song.mid")
    points = release_points(score, score.tracks[index], 1000)
    off_s = points[0][1] / 1000 if points else 3.0
    seconds = (max(0.0, off_s - 1.0), off_s + 1.0)
    fig, axes = plt.subplots(len(folders), 1, figsize=(10, 3 * len(folders)), squeeze=False)
    for axis, folder in zip(axes[:, 0], folders, strict=True):
        stem_path = sorted((folder / "stems").glob(f"{index + 1:02d}-*.wav"))[0]
        audio, rate = sf.read(stem_path, dtype="float32")
        audio = audio.mean(axis=1) if audio.ndim == 2 else audio
        part = audio[round(seconds[0] * rate) : round(seconds[1] * rate)]
        axis.specgram(part, NFFT=2048, noverlap=1536, Fs=rate, cmap="magma", vmin=-140, vmax=-20)
        axis.set_ylim(0, 8000)
        axis.set_title(f"{folder.name}: {stem_path.name}, {seconds[0]:.2f}-{seconds[1]:.2f} s "
                       f"(written note-off at 1 s)")
        axis.set_ylabel("Hz")
    axes[-1, 0].set_xlabel("s")
    fig.tight_layout()
    fig.savefig(path, dpi=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="output folders of `melodex generate`")
    parser.add_argument("--track", type=int, default=0)
    parser.add_argument("--png", type=Path, help="write a spectrogram of each folder's stem here")
    args = parser.parse_args()
    print("| song | stem at release points (n) | dry, each note alone (n) | FluidSynth, same notes "
          "| dry / FluidSynth re the last 50 ms held | sampler - recording |")
    print("|---|---|---|---|---|---|")
    for folder in args.folders:
        m = measure(folder, args.track)
        print(f"| {folder.name} | {m['stem']:.1f} dB ({m['points']}) | {m['dry']:.1f} dB ({m['notes']}) "
              f"| {m['fluidsynth']:.1f} dB | {m['dry_off']:.1f} / {m['fluidsynth_off']:.1f} dB "
              f"| {m['faithful']:+.1f} dB |")
    if args.png:
        spectrogram_png(args.folders, args.track, args.png)


if __name__ == "__main__":
    main()
