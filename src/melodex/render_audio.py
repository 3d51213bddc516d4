"""Score to audio: one sample set per track (timbre model or SoundFont), the sampler, then production.

The one path from a `Score` to stems and a mix, with one `RenderOptions`: `melodex generate`, every
edit and `melodex render --timbre` play through it. Models come in as arguments (see `melodex.models`).
`render_reference` is the plain SoundFont render `melodex render` writes by default, to compare with.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from melodex.errors import MelodexError, option_name
from melodex.models import single_thread
from melodex.production.mastering import Levels, MasterReport
from melodex.production.mix import produce
from melodex.production.settings import MixSettings
from melodex.project import TrackTimbre
from melodex.sampler import Instrument, SamplerOptions, perform, stem_length
from melodex.score import PITCH, Score, Track
from melodex.soundfont import SoundFontSynth, SynthOptions
from melodex.timbre.drumkit import drum_sampleset
from melodex.timbre.sampleset import SampleSet, soundfont_sampleset

PITCH_STEP = 3  # SoundFont sets: sampled every minor third, no note repitched by more than a semitone and a half
VELOCITY_LAYERS = (48, 96)
# Generated sample sets are sparser than SoundFont ones: every generated note costs a diffusion sample
# and a harmonic-plus-noise decode, the largest share of a track's time; the sampler repitches at most
# a tritone (within the range timbre stays natural) and scales one layer's level by velocity.
TIMBRE_PITCH_STEP = 6
TIMBRE_VELOCITY_LAYERS = (88,)
# Guidance presets from the article Melodex grew from: how literally the sound follows the words. Kept
# after the level limit (2026-11-30, scripts/eval_guidance.py): "bright"/"dark" centroid ratio 1.54 at
# cfg 1, 3.00 at 4, 6.15 at 8.5, growing at every step, and no note more than 4x its instrument unguided.
PRESETS: dict[str, float] = {"film": 1.5, "social": 4.0, "design": 8.5}
DEFAULT_PRESET = "social"
RENDERERS = ("timbre", "soundfont")
RING_S = 8.0  # no sampled note rings longer than this after its note-off (releases, cymbals, loops' fades)
PERFORM_SHARE = 0.1  # of the render stage: the sampler; production takes the rest
HEADROOM = 0.999  # the reference render's highest peak, so its 24-bit files never clip

StageProgress = Callable[[float], None]  # one stage's share done, 0-1
# Opens a named stage ("timbres", "render") and yields its reporter: `pipeline.StageClock.stage`, which
# times the stage and feeds a progress bar or a studio job, or `no_stages`.
Stage = Callable[[str], AbstractContextManager[StageProgress]]


def ignore_progress(_: float) -> None:
    pass


def no_stages(_: str) -> AbstractContextManager[StageProgress]:
    return nullcontext(ignore_progress)


@dataclass(frozen=True)
class RenderOptions:
    """How a score becomes audio (the sample sets' part; the mix settings come with the call)."""

    renderer: str = "timbre"  # "timbre": the timbre model's sample sets for pitched tracks; "soundfont": none
    sample_rate: int = 44100
    cfg: float = PRESETS[DEFAULT_PRESET]  # timbre model: classifier-free guidance scale
    steps: int = 16  # timbre model: diffusion steps
    vibrato: bool = True  # the timbre model's vibrato head (projects from before it: False)
    detune: bool = True  # its detune, a second harmonic bank for detuned pads (projects from before: False)
    soundfont: str | None = None  # name or path for the recorded sets; None = FluidR3_GM

    def __post_init__(self) -> None:
        if self.renderer not in RENDERERS:
            raise MelodexError(f"renderer {self.renderer!r} is not 'timbre' or 'soundfont'")
        if not 1 <= self.steps <= 200:
            raise MelodexError(f"{option_name('steps')} {self.steps}: use 1-200 diffusion steps")
        if not 8000 <= self.sample_rate <= 96000:
            raise MelodexError(f"sample rate {self.sample_rate} Hz is outside 8000-96000 "
                               f"({option_name('sample_rate')})")


@dataclass(frozen=True)
class RenderResult:
    """A rendered score: stereo mix (frames, 2), one processed stereo stem per track, and how it was made."""

    mix: np.ndarray
    stems: dict[int, np.ndarray]
    samplesets: dict[int, SampleSet]
    timbres: dict[int, TrackTimbre]
    levels: Levels
    sample_rate: int
    report: str
    master: MasterReport
    seconds: dict[str, float]  # wall time of each stage: samplesets, render (sampler + production)


def sample_pitches(track: Track, step: int = PITCH_STEP) -> tuple[int, ...]:
    """Pitches to record for a track: its exact drum keys, or a grid every `step` over its range."""
    if len(track.notes) == 0:
        return (60,)
    pitches = np.unique(track.notes[:, PITCH])
    if track.is_drum:
        return tuple(int(p) for p in pitches)
    low, high = int(pitches.min()), int(pitches.max())
    grid = list(range(low + step // 2, high + step, step))
    return tuple(int(np.clip(p, 0, 127)) for p in grid)


def make_samplesets(score: Score, texts: dict[int, str], seeds: dict[int, int], options: RenderOptions,
                    timbre_model: Any | None,
                    progress: StageProgress | None = None) -> dict[int, tuple[SampleSet, TrackTimbre]]:
    """Sample sets of the tracks in `texts`: the generated ones in one batch of `timbre_model` while the
    SoundFont records the others (drums, or every track without a model) on a second thread.

    `progress` hears the timbre model's share done; without generated sets, the recorded tracks' share.
    """
    model = timbre_model if options.renderer == "timbre" else None
    generated = [i for i in texts if model is not None and not score.tracks[i].is_drum]
    report = progress or ignore_progress
    kits = [i for i in texts if model is not None and score.tracks[i].is_drum]

    def record(index: int) -> SampleSet:
        track = score.tracks[index]
        if index in kits:  # a kit chosen from the machine's kits by the words (timbre.drumkit)
            return drum_sampleset(texts[index], sample_pitches(track, PITCH_STEP), VELOCITY_LAYERS, options.cfg,
                                  seeds[index], options.sample_rate)
        return soundfont_sampleset(track.program, sample_pitches(track, PITCH_STEP), VELOCITY_LAYERS,
                                   soundfont=options.soundfont, sample_rate=options.sample_rate)

    with ThreadPoolExecutor(max_workers=1) as pool:
        recorded = {i: pool.submit(record, i) for i in texts if i not in generated}
        made: dict[int, tuple[SampleSet, TrackTimbre]] = {}
        if generated and model is not None:
            from melodex.timbre.model import GenerationOptions, TimbreRequest

            requests = [TimbreRequest(score.tracks[i].program, texts[i],
                                      sample_pitches(score.tracks[i], TIMBRE_PITCH_STEP), TIMBRE_VELOCITY_LAYERS,
                                      seeds[i]) for i in generated]
            # One batch on one torch thread: on a busy 2-core machine two threads made the sets 5-10x slower.
            with single_thread():
                sets = model.generate_samplesets(
                    requests, GenerationOptions(cfg=options.cfg, steps=options.steps, vibrato=options.vibrato,
                                                detune=options.detune),
                    options.sample_rate, progress=report
                )
            for i, sampleset in zip(generated, sets, strict=True):
                made[i] = sampleset, TrackTimbre(texts[i], "timbre", seeds[i], options.cfg, options.steps)
        for done, (i, future) in enumerate(recorded.items()):
            made[i] = future.result(), (TrackTimbre(texts[i], "drumkit", seeds[i], options.cfg) if i in kits
                                        else TrackTimbre(texts[i], "soundfont", seeds[i]))
            if not generated:
                report((done + 1) / len(recorded))
    return {i: made[i] for i in texts}


def _notes_sounding_in(score: Score, first: int, last: int, sample_rate: int) -> Score:
    """A copy of `score` keeping only the notes that can be heard between frames first and last."""
    part = score.copy()
    for track in part.tracks:
        if len(track.notes) == 0:
            continue
        onset = score.seconds_at(track.notes[:, 0]) * sample_rate
        offset = score.seconds_at(track.notes[:, 0] + track.notes[:, 1]) * sample_rate
        track.notes = track.notes[(onset < last) & (offset + RING_S * sample_rate > first)]
    return part


def perform_and_produce(score: Score, samplesets: dict[int, SampleSet], mix: MixSettings, sample_rate: int,
                        levels: Levels | None = None, window: tuple[int, int] | None = None,
                        progress: StageProgress | None = None,
                        ) -> tuple[dict[int, np.ndarray], np.ndarray, Levels, MasterReport]:
    """Play and produce the whole song; or, with the whole song's `levels`, only frames window[0]:window[1].

    A window is what an edit re-renders: only the notes that sound in it are played, and production
    reuses the song's levels so the stretch can be spliced back seamlessly (see `production.mix.produce`).
    """
    report = progress or ignore_progress
    # playing takes ~10% of the time (0.5-0.65 s of 5.5-6.6 s), production the rest
    dry = perform_tracks(score, samplesets, sample_rate, window, lambda f: report(PERFORM_SHARE * f))
    produced = produce(dry, [t.role for t in score.tracks], mix, sample_rate, [t.program for t in score.tracks],
                       levels=levels, progress=lambda f: report(PERFORM_SHARE + (1 - PERFORM_SHARE) * f))
    stems = {i: np.asarray(stem, dtype=np.float32) for i, stem in enumerate(produced.stems)}
    return stems, produced.mix, produced.levels, produced.report


def perform_tracks(score: Score, samplesets: dict[int, SampleSet], sample_rate: int,
                   window: tuple[int, int] | None = None, progress: StageProgress | None = None) -> list[np.ndarray]:
    """The sampler's dry performance of every track (frames window[0]:window[1], or the whole song)."""
    report = progress or ignore_progress
    sampler = SamplerOptions()
    length = stem_length(score, sample_rate, sampler)
    first, last = window if window is not None else (0, length)
    played = _notes_sounding_in(score, first, last, sample_rate) if window is not None else score
    dry = []
    for i in range(len(score.tracks)):
        dry.append(perform(played, i, Instrument(samplesets[i], sample_rate, sampler), sample_rate,
                           length=last)[first:])
        report((i + 1) / len(score.tracks))
    return dry


def render_score(score: Score, texts: dict[int, str], seeds: dict[int, int], mix: MixSettings,
                 options: RenderOptions | None = None, timbre_model: Any | None = None,
                 stage: Stage = no_stages) -> RenderResult:
    """`score` to a mastered stereo mix and per-track stems: track i's sound from texts[i] and seeds[i]
    (the timbre model when given and `options.renderer` is "timbre", else the SoundFont). The two stages,
    "timbres" (the sample sets) and "render" (sampler and production), report their share done through
    `stage`."""
    options = options or RenderOptions()
    clock = time.perf_counter()
    with stage("timbres") as done:
        made = make_samplesets(score, texts, seeds, options, timbre_model, done)
    samplesets = {i: sampleset for i, (sampleset, _) in made.items()}
    seconds = {"samplesets": time.perf_counter() - clock}
    clock = time.perf_counter()
    with stage("render") as done:
        stems, mixed, levels, master = perform_and_produce(score, samplesets, mix, options.sample_rate,
                                                           progress=done)
    seconds["render"] = time.perf_counter() - clock
    sources = ", ".join(sorted({s.source for s in samplesets.values()}))
    duration = len(mixed) / options.sample_rate
    report = "\n".join([
        f"sample sets from {sources}" + (f" (cfg {options.cfg:g}, {options.steps} steps)"
                                         if any(t.renderer == "timbre" for _, t in made.values()) else ""),
        f"mix: {mix.describe()}",
        f"master: {master}",
        f"time: sample sets {seconds['samplesets']:.2f} s, sampler + production {seconds['render']:.2f} s "
        f"({duration / max(seconds['render'], 1e-9):.0f}x real time for {duration:.1f} s of audio)",
    ])
    return RenderResult(mixed, stems, samplesets, {i: t for i, (_, t) in made.items()}, levels,
                        options.sample_rate, report, master, seconds)


@dataclass(frozen=True)
class ReferenceRender:
    """A score played straight through the SoundFont (FluidSynth; no sample sets, sampler or production):
    the stems add up to the mix, and both were turned down together if the sum would clip."""

    mix: np.ndarray
    stems: dict[int, np.ndarray]
    sample_rate: int
    gain_db: float  # applied to mix and stems alike; below 0 only when the mix would clip

    @property
    def seconds(self) -> float:
        return len(self.mix) / self.sample_rate


def render_reference(score: Score, options: RenderOptions | None = None,
                     progress: StageProgress | None = None) -> ReferenceRender:
    """The reference render of `score` at `options.sample_rate` with `options.soundfont` (the renderer,
    cfg and steps are the timbre path's and play no part here); `progress` hears the share of tracks done."""
    options = options or RenderOptions()
    synth = SoundFontSynth(options.soundfont, SynthOptions())
    stems = synth.render_stems(score, options.sample_rate, progress=progress)
    mix = np.zeros((synth.render_length(score, options.sample_rate), 2), dtype=np.float32)
    for stem in stems.values():
        mix += stem
    peak = float(np.abs(mix).max()) if len(mix) else 0.0
    gain = HEADROOM / peak if peak > HEADROOM else 1.0
    return ReferenceRender(mix * gain, {i: stem * gain for i, stem in stems.items()}, options.sample_rate,
                           20 * float(np.log10(gain)))
