"""The reference renderer: General MIDI SoundFonts played through FluidSynth.

It renders a `Score` (mix or one stem per track) and single notes for the timbre model's note
dataset. Renders are dry (no FluidSynth reverb or chorus unless asked) and deterministic: the same
input gives identical samples, because every note and every track is played by a fresh synth.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from melodex.errors import MelodexError
from melodex.score import DRUM_PROGRAM, DUR, PITCH, START, VEL, Score

# FluidSynth renders in blocks of 64 frames and applies events only at block boundaries; it has no
# per-event frame offset (FluidSynth issue #126). We therefore write audio in whole blocks and put
# each event on the nearest boundary: at 44.1 kHz an event is at most 32 frames (0.73 ms) off.
BLOCK = 64
DRUM_CHANNEL = 9  # MIDI channel 10
MIDI_CHANNELS = 256  # FluidSynth allows more than 16; tracks past 16 get channels 16, 17, ...
# Every stem is held in memory (30 min of float32 stereo is 635 MB at 44.1 kHz): longer is a mistake.
MAX_RENDER_SECONDS = 30 * 60
DEFAULT_SOUNDFONT = "FluidR3_GM"
SOUNDFONT_DIRS = (
    Path("/usr/share/sounds/sf2"),
    Path("/usr/share/sounds/sf3"),
    Path("/usr/share/soundfonts"),
    Path("/usr/local/share/soundfonts"),
)
APT_HINT = "apt-get install fluid-soundfont-gm (or timgm6mb-soundfont, musescore-general-soundfont-small)"

Progress = Callable[[float], None]


class SoundFontError(MelodexError):
    """A SoundFont is missing or unusable, or FluidSynth is not installed."""


def installed_soundfonts() -> list[Path]:
    """Every .sf2/.sf3 file in the usual system folders, symlinked duplicates removed."""
    found: dict[Path, Path] = {}
    for folder in SOUNDFONT_DIRS:
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() in (".sf2", ".sf3") and path.exists():
                    found.setdefault(path.resolve(), path)
    return sorted(found.values(), key=lambda p: p.name.lower())


def find_soundfont(name_or_path: str | Path | None = None) -> Path:
    """Resolve a SoundFont from a path or a name such as "FluidR3_GM", "TimGM6mb", "MuseScore_General".

    A name matches a file stem case-insensitively, or failing that the start of one.
    """
    wanted = DEFAULT_SOUNDFONT if name_or_path is None else str(name_or_path)
    installed = installed_soundfonts()
    names = ", ".join(p.stem for p in installed) or "none"
    as_path = Path(wanted).expanduser()
    if as_path.suffix.lower() in (".sf2", ".sf3") or "/" in wanted:
        if as_path.is_file():
            return as_path
        raise SoundFontError(f"SoundFont file {wanted} does not exist (installed: {names})")
    key = wanted.lower()
    for match in (lambda stem: stem == key, lambda stem: stem.startswith(key)):
        for path in installed:
            if match(path.stem.lower()):
                return path
    raise SoundFontError(f"no SoundFont named {wanted!r} is installed (installed: {names}); {APT_HINT}")


def _load_fluidsynth() -> Any:
    try:
        import fluidsynth
    except (ImportError, OSError) as exc:
        raise SoundFontError(
            f"FluidSynth is not available ({exc}): apt-get install libfluidsynth3, pip install pyfluidsynth"
        ) from exc
    lib = fluidsynth._fl
    pointer, integer = ctypes.c_void_p, ctypes.c_int
    # pyfluidsynth only wraps 16-bit output (dithered, so not repeatable); declare what we call.
    for name, result, args in (
        ("fluid_synth_write_float", integer, [pointer, integer] + [pointer, integer, integer] * 2),
        ("fluid_synth_get_sfont_by_id", pointer, [pointer, integer]),
        ("fluid_synth_add_sfont", integer, [pointer, pointer]),
        ("fluid_synth_remove_sfont", integer, [pointer, pointer]),
        ("fluid_set_log_function", pointer, [integer, pointer, pointer]),
    ):
        function = getattr(lib, name)
        function.restype, function.argtypes = result, args
    # FluidSynth prints warnings (missing presets, voice allocation) to stderr; our errors say more.
    for level in range(5):
        lib.fluid_set_log_function(level, None, None)
    return fluidsynth


@dataclass(frozen=True)
class SynthOptions:
    """How FluidSynth is set up. Dry by default: the production stage adds the space."""

    gain: float = 0.5  # FluidSynth's master gain; 0.5 keeps a dense four-track GM mix below full scale
    polyphony: int = 1024  # high, so voices are not stolen and stems add up to the mix
    reverb: bool = False
    chorus: bool = False
    release_s: float = 1.0  # tail rendered after the score's end so the last notes ring out


def channel_plan(score: Score) -> list[int]:
    """The MIDI channel of each track: drum kits on channel 10 (index 9), the rest in order around it.

    More than one drum kit, or more than 15 pitched tracks, spill onto channels 16+ (FluidSynth has
    256), where a drum kit is selected by its bank rather than by the channel number.
    """
    pitched = [c for c in range(16) if c != DRUM_CHANNEL]
    extra = iter(range(16, MIDI_CHANNELS))
    drum_used = False
    plan = []
    for track in score.tracks:
        if track.is_drum and not drum_used:
            plan.append(DRUM_CHANNEL)
            drum_used = True
        elif not track.is_drum and pitched:
            plan.append(pitched.pop(0))
        else:
            channel = next(extra, None)
            if channel is None:
                raise SoundFontError(f"the score has {len(score.tracks)} tracks; {MIDI_CHANNELS} is the most")
            plan.append(channel)
    return plan


Event = tuple[int, int, int, int, int]


def note_events(score: Score, sample_rate: int, tracks: list[int] | None = None) -> list[Event]:
    """(block, kind, channel, pitch, velocity) events for the chosen tracks, in playing order.

    kind 0 is note-off and 1 note-on. Overlapping notes of one pitch on one channel keep sounding until
    the last of them ends: a note-off is sent only when no other note of that pitch is still held.
    """
    plan = channel_plan(score)
    chosen = range(len(score.tracks)) if tracks is None else tracks
    raw: list[Event] = []
    for index in chosen:
        notes = score.tracks[index].notes
        if len(notes) == 0:
            continue
        blocks_per_second = sample_rate / BLOCK
        on = np.rint(score.seconds_at(notes[:, START]) * blocks_per_second).astype(np.int64)
        off = np.rint(score.seconds_at(notes[:, START] + notes[:, DUR]) * blocks_per_second).astype(np.int64)
        channel = plan[index]
        for block_on, block_off, pitch, velocity in zip(on, off, notes[:, PITCH], notes[:, VEL], strict=True):
            velocity = int(np.clip(velocity, 1, 127))
            raw.append((int(block_on), 1, channel, int(pitch), velocity))
            # Every note lasts at least one block, so its off never sorts before its own on;
            # FluidSynth's minimum note length (10 ms) then keeps very short notes audible.
            raw.append((int(max(block_off, block_on + 1)), 0, channel, int(pitch), 0))
    # At one boundary note-offs go first, so a repeated note is released before it is struck again.
    raw.sort(key=lambda e: (e[0], e[1], e[2], e[3]))
    held: dict[tuple[int, int], int] = {}
    events = []
    for block, kind, channel, pitch, velocity in raw:
        key = (channel, pitch)
        if kind == 1:
            held[key] = held.get(key, 0) + 1
            events.append((block, kind, channel, pitch, velocity))
        else:
            held[key] = held.get(key, 0) - 1
            if held[key] <= 0:
                held.pop(key)
                events.append((block, kind, channel, pitch, velocity))
    return events


@functools.lru_cache(maxsize=3)  # the default, TimGM6mb's drum kits, one more
def loaded_soundfont(soundfont: str | Path | None = None) -> SoundFontSynth:
    """A SoundFont loaded once per process (loading FluidR3_GM takes ~0.7 s); every render still gets a
    fresh synth, so sharing it changes nothing in the audio."""
    return SoundFontSynth(soundfont)


class SoundFontSynth:
    """A SoundFont loaded once, played by a fresh FluidSynth synth for every note and every track.

    FluidSynth voices keep state from their previous note (the first block of a reused voice differs
    from a fresh one's), so a reused synth renders the same input differently each time. A new synth
    costs about 10 ms and borrows the loaded SoundFont, so every render starts from the same state.
    """

    def __init__(self, soundfont: str | Path | None = None, options: SynthOptions | None = None) -> None:
        self.path = find_soundfont(soundfont)
        self.options = options or SynthOptions()
        self._fluidsynth = _load_fluidsynth()
        self._lib = self._fluidsynth._fl
        # The loader synth owns the SoundFont; render synths borrow it and give it back.
        self._loader = self._fluidsynth.Synth(samplerate=44100.0)
        sfid = self._loader.sfload(str(self.path))
        if sfid < 0:
            self._loader.delete()
            self._loader = None
            raise SoundFontError(f"FluidSynth could not load {self.path}: not a valid SoundFont? try another")
        self._sfont = self._lib.fluid_synth_get_sfont_by_id(self._loader.synth, sfid)

    # -- life cycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._loader is not None:
            self._loader.delete()
            self._loader = None

    def __enter__(self) -> SoundFontSynth:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        # At interpreter shutdown the library, and module globals such as `contextlib`, may already be gone
        # (a synth kept by `loaded_soundfont` lives until then): so no contextlib.suppress here.
        try:  # noqa: SIM105
            self.close()
        except Exception:
            pass

    @contextlib.contextmanager
    def _fresh_synth(self, sample_rate: int, polyphony: int) -> Iterator[tuple[Any, int]]:
        if self._loader is None:
            raise SoundFontError("this SoundFontSynth is closed; create a new one")
        if not 8000 <= sample_rate <= 96000:
            raise SoundFontError(f"sample rate {sample_rate} Hz is outside 8000-96000 Hz")
        opts = self.options
        synth = self._fluidsynth.Synth(
            gain=float(opts.gain),
            samplerate=float(sample_rate),
            channels=MIDI_CHANNELS,
            **{
                "synth.polyphony": int(polyphony),
                "synth.reverb.active": int(opts.reverb),
                "synth.chorus.active": int(opts.chorus),
                "synth.cpu-cores": 1,
            },
        )
        sfid = self._lib.fluid_synth_add_sfont(synth.synth, self._sfont)
        try:
            if sfid < 0:
                raise SoundFontError(f"FluidSynth could not use {self.path}")
            yield synth, sfid
        finally:
            if sfid >= 0:
                self._lib.fluid_synth_remove_sfont(synth.synth, self._sfont)
            synth.delete()

    # -- rendering ----------------------------------------------------------------------------

    def _select(self, synth: Any, sfid: int, channel: int, program: int, kit: int = 0) -> None:
        bank, preset = (128, kit) if program == DRUM_PROGRAM else (0, program)
        if synth.program_select(channel, sfid, bank, preset) != 0:
            what = f"the drum kit (bank 128, preset {kit})" if program == DRUM_PROGRAM else f"GM program {program}"
            raise SoundFontError(f"SoundFont {self.path.name} has no preset for {what}: use another one")

    def _write(self, synth: Any, out: np.ndarray, start_block: int, n_blocks: int) -> None:
        # Always whole blocks from a block boundary, so FluidSynth's block clock and ours agree.
        if n_blocks <= 0:
            return
        frames = out[start_block * BLOCK : (start_block + n_blocks) * BLOCK]
        pointer = frames.ctypes.data
        if self._lib.fluid_synth_write_float(synth.synth, n_blocks * BLOCK, pointer, 0, 2, pointer, 1, 2):
            raise SoundFontError("FluidSynth failed while rendering")

    def _perform_track(
        self, score: Score, sample_rate: int, index: int, n_frames: int, progress: Progress | None
    ) -> np.ndarray:
        n_blocks = -(-n_frames // BLOCK)
        out = np.zeros((n_blocks * BLOCK, 2), dtype=np.float32)
        channel = channel_plan(score)[index]
        with self._fresh_synth(sample_rate, self.options.polyphony) as (synth, sfid):
            self._select(synth, sfid, channel, score.tracks[index].program)
            chunk = max(1, sample_rate // BLOCK)  # about a second: regular progress, bounded calls
            cursor = 0

            def advance(to_block: int) -> None:
                nonlocal cursor
                while cursor < to_block:
                    step = min(chunk, to_block - cursor)
                    self._write(synth, out, cursor, step)
                    cursor += step
                    if progress is not None:
                        progress(cursor / n_blocks)

            for block, kind, _, pitch, velocity in note_events(score, sample_rate, [index]):
                advance(min(block, n_blocks))
                if kind == 1:
                    synth.noteon(channel, pitch, velocity)
                else:
                    synth.noteoff(channel, pitch)
            advance(n_blocks)
        return out[:n_frames]

    def render_length(self, score: Score, sample_rate: int = 44100) -> int:
        """Frames in a render: to the score's last bar line or last note-off, plus the release tail."""
        seconds = score.duration_seconds
        if seconds > MAX_RENDER_SECONDS:
            raise SoundFontError(
                f"the score lasts {seconds / 60:.0f} minutes; the SoundFont renderer renders at most "
                f"{MAX_RENDER_SECONDS // 60} (a note far past the end of the music?)"
            )
        return round((seconds + self.options.release_s) * sample_rate)

    def render(self, score: Score, sample_rate: int = 44100, progress: Progress | None = None) -> np.ndarray:
        """The whole score as float32 stereo, shape (frames, 2): the sum of its stems."""
        n_frames = self.render_length(score, sample_rate)
        mix = np.zeros((n_frames, 2), dtype=np.float32)
        for stem in self._stems(score, sample_rate, n_frames, progress):
            mix += stem
        return mix

    def render_stems(
        self, score: Score, sample_rate: int = 44100, progress: Progress | None = None
    ) -> dict[int, np.ndarray]:
        """One float32 stereo stem per track index, each as long as `render`; they add up to the mix."""
        n_frames = self.render_length(score, sample_rate)
        return dict(enumerate(self._stems(score, sample_rate, n_frames, progress)))

    def _stems(self, score: Score, sample_rate: int, n_frames: int, progress: Progress | None) -> Iterator[np.ndarray]:
        # Each track gets its own synth. In one shared synth a note may reuse a voice another track
        # used, and FluidSynth's first block of a reused voice differs from a fresh one (by up to
        # 0.04 on drum attacks): stems would not add up to the mix. Apart, they add up exactly.
        n_tracks = max(1, len(score.tracks))
        for index in range(len(score.tracks)):
            report = None
            if progress is not None:
                report = functools.partial(_part_progress, progress, index, n_tracks)
            yield self._perform_track(score, sample_rate, index, n_frames, report)

    def render_note(
        self,
        program: int,
        pitch: int,
        velocity: int,
        duration_s: float,
        release_s: float = 1.0,
        sample_rate: int = 44100,
        kit: int = 0,
    ) -> np.ndarray:
        """One dry note as mono float32 (mean of the two channels): held `duration_s`, then released.

        The note starts at frame 0 and the result is `duration_s + release_s` long; program
        DRUM_PROGRAM plays `pitch` from the drum kit at bank 128 preset `kit` (0: the GM standard kit).
        """
        if not 0 <= program <= DRUM_PROGRAM:
            raise SoundFontError(f"program {program} is not a GM program 0-127 or DRUM_PROGRAM")
        if not 0 <= pitch <= 127 or not 1 <= velocity <= 127:
            raise SoundFontError(f"note pitch {pitch} / velocity {velocity} is outside the MIDI range")
        if duration_s < 0 or release_s < 0:
            raise SoundFontError("a note's duration and release must not be negative")
        n_frames = round((duration_s + release_s) * sample_rate)
        n_blocks = -(-n_frames // BLOCK)
        held_blocks = min(max(1, round(duration_s * sample_rate / BLOCK)), n_blocks)
        out = np.zeros((n_blocks * BLOCK, 2), dtype=np.float32)
        channel = DRUM_CHANNEL if program == DRUM_PROGRAM else 0
        # One note needs few voices (layers, stereo pairs); a small pool makes the synth cheap.
        with self._fresh_synth(sample_rate, 64) as (synth, sfid):
            self._select(synth, sfid, channel, program, kit)
            synth.noteon(channel, pitch, velocity)
            self._write(synth, out, 0, held_blocks)
            synth.noteoff(channel, pitch)
            self._write(synth, out, held_blocks, n_blocks - held_blocks)
        return out[:n_frames].mean(axis=1, dtype=np.float32)


def _part_progress(progress: Progress, index: int, n_parts: int, fraction: float) -> None:
    progress((index + fraction) / n_parts)
