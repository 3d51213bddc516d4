"""A track's instrument as a set of recorded notes: what the timbre model makes and the sampler plays.

Each `NoteSample` is one note rendered dry, starting at frame 0: a held part (key down) of
`release_start` frames, then its release tail. A sustained note longer than the held part is played by
looping `[loop_start, loop_end)` (chosen a whole number of periods long, at a matching point); a note
shorter than the held part jumps to a release fade of `release_s`. Drums are one-shots: no loop, and
the whole sample plays whatever the note length.

A `SampleSet` also keeps the latents that made each note (initial noise and final latent), so a
project file can rebuild or vary exactly this timbre. It is stored as JSON + arrays (npz), never
pickled, with a format version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from melodex.errors import MelodexError
from melodex.score import DRUM_PROGRAM

SAMPLESET_FORMAT = 1
NoteKey = tuple[int, int]  # (MIDI pitch, MIDI velocity)


class SampleSetError(MelodexError):
    """A sample set that is empty, malformed, or written by an unknown format version."""


@dataclass(frozen=True)
class NoteSample:
    """One note of an instrument: mono float32 audio plus where its sustain loop and release are.

    `loop_end == loop_start` means the note has no loop (a one-shot, or a sound that has died away
    by then): a longer note simply lets the sample ring to its end.
    """

    audio: np.ndarray  # (frames,) float32, note-on at frame 0
    loop_start: int  # frames; sustain loop region [loop_start, loop_end) inside the held part
    loop_end: int
    release_start: int  # frame where the key was released in this recording; the tail follows
    sustain_level: float  # RMS of the loop region / peak RMS of the note (0 = decays to silence)
    release_s: float  # how long the release tail lasts (to -60 dB), for fading shorter notes
    initial_noise: np.ndarray | None = None  # the diffusion model's starting noise, if generated
    latent: np.ndarray | None = None  # the final latent the decoder turned into this audio

    @property
    def has_loop(self) -> bool:
        return self.loop_end > self.loop_start


@dataclass(frozen=True)
class SampleSet:
    """Several pitches x velocity layers of one instrument, at one sample rate."""

    program: int  # GM program 0-127, or DRUM_PROGRAM for a kit (then pitches are GM drum notes)
    is_drum: bool
    sample_rate: int
    notes: dict[NoteKey, NoteSample]
    text: str = ""  # the timbre description it was made from ("" for a SoundFont set)
    source: str = ""  # "timbre-model <version>" or "soundfont <name>"
    settings: dict[str, float | int | str] = field(default_factory=dict)  # cfg, steps, seed, ...

    def __post_init__(self) -> None:
        if not self.notes:
            raise SampleSetError("a sample set needs at least one note")
        if self.is_drum != (self.program == DRUM_PROGRAM):
            raise SampleSetError(f"program {self.program} and is_drum={self.is_drum} disagree")

    @property
    def pitches(self) -> list[int]:
        return sorted({p for p, _ in self.notes})

    @property
    def velocities(self) -> list[int]:
        return sorted({v for _, v in self.notes})

    def nearest(self, pitch: int, velocity: int) -> tuple[NoteKey, NoteSample]:
        """The recorded note to play (pitch, velocity) from: nearest velocity layer, then nearest pitch.

        Drums match the exact drum note when it exists (a snare is not a repitched kick).
        """
        layer = min(self.velocities, key=lambda v: (abs(v - velocity), v))
        keys = [k for k in self.notes if k[1] == layer]
        if self.is_drum:
            exact = [k for k in keys if k[0] == pitch]
            if exact:
                return exact[0], self.notes[exact[0]]
        key = min(keys, key=lambda k: (abs(k[0] - pitch), k[0]))
        return key, self.notes[key]

    # -- files ---------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write as .npz: a JSON header plus one array per note (audio, and latents when present)."""
        header = {
            "format": SAMPLESET_FORMAT,
            "program": self.program,
            "is_drum": self.is_drum,
            "sample_rate": self.sample_rate,
            "text": self.text,
            "source": self.source,
            "settings": self.settings,
            "notes": [],
        }
        arrays: dict[str, np.ndarray] = {}
        for index, ((pitch, velocity), note) in enumerate(sorted(self.notes.items())):
            header["notes"].append(  # type: ignore[attr-defined]
                {
                    "pitch": pitch,
                    "velocity": velocity,
                    "loop_start": note.loop_start,
                    "loop_end": note.loop_end,
                    "release_start": note.release_start,
                    "sustain_level": note.sustain_level,
                    "release_s": note.release_s,
                }
            )
            arrays[f"audio_{index}"] = note.audio.astype(np.float32)
            if note.initial_noise is not None:
                arrays[f"noise_{index}"] = note.initial_noise.astype(np.float32)
            if note.latent is not None:
                arrays[f"latent_{index}"] = note.latent.astype(np.float32)
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        # Uncompressed: float audio deflates only ~3x, and compressing took ~1 s per drum kit on every save.
        np.savez(Path(path), **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> SampleSet:
        path = Path(path)
        if not path.is_file():
            raise SampleSetError(f"sample set file {path} does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(bytes(data["header"]).decode())
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, KeyError) as exc:
            raise SampleSetError(f"{path} is not a Melodex sample set ({exc})") from exc
        if header.get("format") != SAMPLESET_FORMAT:
            raise SampleSetError(
                f"{path} has sample-set format {header.get('format')!r}; this Melodex reads format "
                f"{SAMPLESET_FORMAT}: upgrade Melodex or regenerate the timbre"
            )
        notes = {}
        for index, meta in enumerate(header["notes"]):
            notes[(int(meta["pitch"]), int(meta["velocity"]))] = NoteSample(
                audio=arrays[f"audio_{index}"],
                loop_start=int(meta["loop_start"]),
                loop_end=int(meta["loop_end"]),
                release_start=int(meta["release_start"]),
                sustain_level=float(meta["sustain_level"]),
                release_s=float(meta["release_s"]),
                initial_noise=arrays.get(f"noise_{index}"),
                latent=arrays.get(f"latent_{index}"),
            )
        return cls(
            program=int(header["program"]),
            is_drum=bool(header["is_drum"]),
            sample_rate=int(header["sample_rate"]),
            notes=notes,
            text=str(header.get("text", "")),
            source=str(header.get("source", "")),
            settings=dict(header.get("settings", {})),
        )


# -- building notes from audio ---------------------------------------------------------------------


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0


def release_time(audio: np.ndarray, release_start: int, sample_rate: int) -> float:
    """Seconds from key-up until the tail falls 60 dB below its level at key-up (or the audio ends)."""
    hop = max(1, sample_rate // 200)
    tail = audio[release_start:]
    if len(tail) < 2 * hop:
        return 0.05
    frames = len(tail) // hop
    env = np.sqrt(np.mean(tail[: frames * hop].reshape(frames, hop) ** 2, axis=1)) + 1e-9
    below = np.nonzero(env < env[0] * 1e-3)[0]
    end = below[0] if len(below) else frames
    return float(max(end * hop, hop) / sample_rate)


def find_sustain_loop(
    audio: np.ndarray, pitch: int, release_start: int, sample_rate: int, is_drum: bool = False,
    vibrato_hz: float = 0.0,
) -> tuple[int, int, float]:
    """(loop_start, loop_end, sustain_level) in the held part of a note.

    The loop spans the last ~40% of the held part, a whole number of periods of `pitch` long, and its
    end is nudged (within half a period) to where the waveform best matches the loop start, so the
    sampler's short crossfade hides the seam. With a known vibrato (`vibrato_hz`) the loop is instead
    a whole number of vibrato cycles long (then rounded to whole periods), so looping does not jump the
    vibrato's phase. A note that has died away (below -50 dB of its peak) or a drum gets no loop.
    """
    hop = max(1, sample_rate // 100)
    held = audio[:release_start]
    if is_drum or len(held) < 4 * hop:
        return 0, 0, 0.0
    frames = len(held) // hop
    env = np.sqrt(np.mean(held[: frames * hop].reshape(frames, hop) ** 2, axis=1))
    peak = float(env.max()) + 1e-12
    start = int(len(held) * 0.55)
    stop = int(len(held) * 0.95)
    level = _rms(held[start:stop]) / peak
    if level < 10 ** (-50 / 20):
        return 0, 0, float(level)
    period = sample_rate / (440.0 * 2 ** ((pitch - 69) / 12))
    n_periods = max(1, int((stop - start) / period))
    if vibrato_hz > 0:
        cycle = sample_rate / vibrato_hz
        n_periods = max(1, round(max(1, int((stop - start) / cycle)) * cycle / period))
    end = start + round(n_periods * period)
    width = min(256, start, len(held) - end - 1)
    if width > 8:
        reference = held[start : start + width]
        reach = max(1, int(period / 2))
        first, last = max(start + width, end - reach), min(len(held) - width, end + reach + 1)
        if last > first:
            # Every candidate end at once (a loop over them was a tenth of a sample set's time); einsum, not
            # a BLAS product, whose threads only wait on each other at this size.
            windows = np.lib.stride_tricks.sliding_window_view(held[first : last + width - 1], width)
            norms = np.sqrt(np.einsum("ij,ij->i", windows, windows)) * np.linalg.norm(reference) + 1e-12
            end = first + int(np.argmax(np.einsum("ij,j->i", windows, reference) / norms))
    return start, end, float(level)


def note_sample(
    audio: np.ndarray,
    pitch: int,
    release_start: int,
    sample_rate: int,
    is_drum: bool = False,
    initial_noise: np.ndarray | None = None,
    latent: np.ndarray | None = None,
    vibrato_hz: float = 0.0,
) -> NoteSample:
    """Wrap a rendered note (held `release_start` frames, then its tail) with its loop and release."""
    audio = np.asarray(audio, dtype=np.float32)
    loop_start, loop_end, level = find_sustain_loop(audio, pitch, release_start, sample_rate, is_drum, vibrato_hz)
    return NoteSample(
        audio=audio,
        loop_start=loop_start,
        loop_end=loop_end,
        release_start=min(release_start, len(audio)),
        sustain_level=level,
        release_s=release_time(audio, min(release_start, len(audio)), sample_rate),
        initial_noise=initial_noise,
        latent=latent,
    )


def soundfont_sampleset(
    program: int,
    pitches: Iterable[int],
    velocities: Iterable[int],
    soundfont: str | None = None,
    sample_rate: int = 44100,
    hold_s: float = 2.0,
    release_s: float = 1.0,
) -> SampleSet:
    """A sample set recorded from a General MIDI SoundFont (FluidR3_GM unless named).

    Each note is held `hold_s` (drums: struck, then `hold_s` + `release_s` of ring) and its release
    recorded for `release_s`. This is the reference timbre and the fallback when no model is loaded.
    """
    from melodex.soundfont import loaded_soundfont

    is_drum = program == DRUM_PROGRAM
    notes: dict[NoteKey, NoteSample] = {}
    synth = loaded_soundfont(soundfont)
    for velocity in velocities:
        for pitch in pitches:
            audio = synth.render_note(program, pitch, velocity, hold_s, release_s, sample_rate)
            release_start = round(hold_s * sample_rate)
            key = (int(pitch), int(velocity))
            notes[key] = note_sample(audio, pitch, release_start, sample_rate, is_drum)
    name = synth.path.stem
    return SampleSet(
        program=program,
        is_drum=is_drum,
        sample_rate=sample_rate,
        notes=notes,
        source=f"soundfont {name}",
    )
