"""Score to finished audio: sample sets for every track, the sampler, then production and mastering.

`render_score` is the one library function the CLI calls. Sample sets come from the timbre model
when it is installed and a timbre text is given, otherwise from the General MIDI SoundFont; the
result says which.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from melodex.errors import MelodexError
from melodex.production import MasterReport, MixSettings, mix_settings_from_text, produce
from melodex.sampler import Instrument, SamplerOptions, perform, stem_length
from melodex.score import PITCH, Score, Track
from melodex.timbre.sampleset import SampleSet, soundfont_sampleset

DEFAULT_VELOCITY_LAYERS = (48, 96)
PITCH_STEP = 3  # sampled every minor third: no note is repitched by more than one semitone and a half
# Recorded notes are held 1.5 s (longer notes loop) with 0.8 s of release: 40% less to render than the
# SoundFont set's 2 s + 1 s defaults, and enough for a loop after the attack.
HOLD_S, RELEASE_S = 1.5, 0.8


@dataclass(frozen=True)
class RenderOptions:
    """How a score becomes audio."""

    sample_rate: int = 44100
    timbre_text: str | None = None  # e.g. "warm", "plucky": for the timbre model; None = SoundFont
    timbre_weights: Path | None = None  # a timbre weights folder; None = the shipped weights
    mix_text: str | None = None  # the prompt's texture words, for `mix_settings_from_text`
    mix: MixSettings | None = None  # explicit settings win over `mix_text`
    soundfont: str | None = None  # name or path; None = FluidR3_GM
    velocity_layers: tuple[int, ...] = DEFAULT_VELOCITY_LAYERS
    pitch_step: int = PITCH_STEP
    cfg: float = 3.0  # timbre model: classifier-free guidance scale
    steps: int = 20  # timbre model: diffusion steps
    seed: int = 0
    sampler: SamplerOptions = field(default_factory=SamplerOptions)


@dataclass(frozen=True)
class RenderResult:
    """A rendered score: stereo mix (frames, 2), one processed stereo stem per track, and how it was made."""

    mix: np.ndarray
    stems: list[np.ndarray]
    reverb_return: np.ndarray  # the shared reverb's output; stems + reverb_return ~ mix before mastering
    sample_rate: int
    report: str
    timbre_source: str  # "soundfont FluidR3_GM", or the timbre model's name and version
    master: MasterReport
    mix_settings: MixSettings
    seconds: dict[str, float]  # wall time of each stage: samplesets, sampler, production


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


@lru_cache(maxsize=64)
def _soundfont_set(
    program: int, pitches: tuple[int, ...], velocities: tuple[int, ...], soundfont: str | None, rate: int
) -> SampleSet:
    # Cached: re-rendering a score (another mix, another edit) reuses the recorded notes.
    return soundfont_sampleset(
        program, pitches, velocities, soundfont=soundfont, sample_rate=rate, hold_s=HOLD_S, release_s=RELEASE_S
    )


def _timbre_model(weights: Path | None = None) -> tuple[Any | None, str]:
    """(the timbre model, "") if its code and weights (default: shipped) load, else (None, why not)."""
    try:
        from melodex.timbre.model import TimbreModel

        return TimbreModel.load(weights), ""
    except ImportError as exc:
        return None, f"the timbre model is not installed ({exc})"
    except MelodexError as exc:
        return None, str(exc)


def samplesets_for(score: Score, options: RenderOptions) -> tuple[list[SampleSet], str]:
    """One sample set per track, and a sentence saying where they came from.

    Generated sets are made in one batch on one torch thread: at these sizes a second thread only
    adds waiting, and on a busy 2-core machine two threads made the sets 5-10x slower (2.0 s vs 11-26 s).
    """
    model, why_not = _timbre_model(options.timbre_weights) if options.timbre_text else (None, "")
    generated = [i for i, track in enumerate(score.tracks) if model is not None and not track.is_drum]
    by_track: dict[int, SampleSet] = {}
    if model is not None and generated:
        from melodex.pipeline import single_thread
        from melodex.timbre.model import GenerationOptions, TimbreRequest

        requests = [
            TimbreRequest(score.tracks[i].program, options.timbre_text or "",
                          sample_pitches(score.tracks[i], options.pitch_step), options.velocity_layers, options.seed)
            for i in generated
        ]
        with single_thread():
            made = model.generate_samplesets(
                requests, GenerationOptions(cfg=options.cfg, steps=options.steps), options.sample_rate
            )
        by_track.update(zip(generated, made, strict=True))
    for i, track in enumerate(score.tracks):
        if i not in by_track and track.is_drum and model is not None:
            from melodex.timbre.drumkit import drum_sampleset

            # The kit the words choose among the machine's kits (see timbre.drumkit).
            by_track[i] = drum_sampleset(options.timbre_text or "", sample_pitches(track, options.pitch_step),
                                         options.velocity_layers, options.cfg, options.seed, options.sample_rate)
        if i not in by_track:
            pitches = sample_pitches(track, options.pitch_step)
            by_track[i] = _soundfont_set(
                track.program, pitches, options.velocity_layers, options.soundfont, options.sample_rate
            )
    sets = [by_track[i] for i in range(len(score.tracks))]
    sources = ", ".join(sorted({s.source for s in sets}))
    if options.timbre_text and model is None:
        note = f"timbre {options.timbre_text!r} NOT applied ({why_not}); SoundFont sample sets used: {sources}"
    elif options.timbre_text:
        note = f"timbre {options.timbre_text!r} from {sources} (cfg {options.cfg:g}, {options.steps} steps)"
    else:
        note = f"sample sets from {sources}"
    return sets, note


def render_score(score: Score, options: RenderOptions | None = None) -> RenderResult:
    """Render `score` to a mastered stereo mix and per-track stems."""
    options = options or RenderOptions()
    rate = options.sample_rate
    clock = time.perf_counter()
    samplesets, source_note = samplesets_for(score, options)
    seconds = {"samplesets": time.perf_counter() - clock}

    clock = time.perf_counter()
    length = stem_length(score, rate, options.sampler)
    dry = [
        perform(score, index, Instrument(sampleset, rate, options.sampler), rate, length=length)
        for index, sampleset in enumerate(samplesets)
    ]
    seconds["sampler"] = time.perf_counter() - clock

    clock = time.perf_counter()
    settings = options.mix or mix_settings_from_text(options.mix_text)
    produced = produce(dry, [t.role for t in score.tracks], settings, rate, [t.program for t in score.tracks])
    seconds["production"] = time.perf_counter() - clock

    master_report = produced.report
    duration = len(produced.mix) / rate
    render_time = seconds["sampler"] + seconds["production"]
    report = "\n".join(
        [
            source_note,
            f"mix: {settings.describe()}",
            f"master: {master_report}",
            f"time: sample sets {seconds['samplesets']:.2f} s, sampler {seconds['sampler']:.2f} s, "
            f"production {seconds['production']:.2f} s ({duration / max(render_time, 1e-9):.0f}x real time "
            f"for {duration:.1f} s of audio)",
        ]
    )
    return RenderResult(
        mix=produced.mix,
        stems=produced.stems,
        reverb_return=produced.reverb_return,
        sample_rate=rate,
        report=report,
        timbre_source=", ".join(sorted({s.source for s in samplesets})),
        master=master_report,
        mix_settings=settings,
        seconds=seconds,
    )
