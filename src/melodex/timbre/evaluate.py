"""Measures of the timbre model: reconstruction against the ARCHITECTURE.md note set, and text control.

`reconstruction` renders the reference notes from FluidR3_GM and compares three decodes with the
original: the HN analysis itself, and HN through the autoencoder (encode -> decode). `text_control`
generates notes from contrasting words and measures what the words should change (spectral centroid
for bright/dark, decay for plucky/pad) at several guidance scales. `vibrato_reconstruction` and
`generated_vibrato` measure vibrato (pitch-curve std, depth, rate) from the audio, with and without the
vibrato head, against the originals and FluidR3's notes. `detune_reconstruction` and `generated_detune`
measure the beating of detuned pads (`hn_analysis.beating`, `hn_analysis.estimate_detune` on the audio's HN
analysis) the same way, against non-detuned controls.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import numpy as np
import torch

from melodex.timbre import hn, hn_analysis, metrics
from melodex.timbre.autoencoder import features_from_params, note_conditions
from melodex.timbre.model import GenerationOptions, TimbreModel

# (program, pitch) as in ARCHITECTURE.md: piano, e-piano, nylon guitar, violin, cello, trumpet, flute,
# square lead, warm pad (13 pitched notes).
REFERENCE_NOTES = (
    (0, 48), (0, 72), (4, 60), (24, 55), (24, 64), (40, 76), (40, 67), (42, 48),
    (56, 67), (73, 79), (80, 60), (89, 55), (89, 67),
)
REFERENCE_VELOCITY = 100


@dataclass(frozen=True)
class ReconstructionRow:
    program: int
    pitch: int
    method: str
    mr_stft: float
    mel_lsd: float
    pitch_error_cents: float
    seconds_per_second: float


def render_reference(program: int, pitch: int) -> np.ndarray:
    from melodex.soundfont import SoundFontSynth

    with SoundFontSynth() as synth:
        audio = synth.render_note(program, pitch, REFERENCE_VELOCITY, hn.HOLD_S, 0.5)
    return audio[: hn.NOTE_FRAMES]


@torch.no_grad()
def autoencode(
    model: TimbreModel, params: hn.HNParams, velocity: int, vibrato: bool = False, program: int | None = None,
    detune: bool = False,
) -> hn.HNParams:
    """Encode -> decode (the latent's mean); `vibrato` adds the model's vibrato head, if it has one, and
    `detune` its detune, told the GM `program` when given."""
    ae = model.autoencoder
    x = ae.normalise(torch.from_numpy(features_from_params(params))[None])
    pitch, velocities = torch.tensor([params.pitch]), torch.tensor([velocity])
    mean, _ = ae.encode(x, note_conditions(pitch, velocities))
    known = None if program is None else torch.tensor([program])
    return model.decode(mean, pitch, velocities, vibrato, known, detune)[0]


def reconstruction(model: TimbreModel | None) -> list[ReconstructionRow]:
    """Rows for every reference note: 'hn' (analysis -> synthesis) and, with a model, 'autoencoder'."""
    rows = []
    for program, pitch in REFERENCE_NOTES:
        original = render_reference(program, pitch)
        reference_cents = metrics.pitch_cents(original, pitch)
        params = hn_analysis.analyse(original, pitch, stretched=program < 40)
        decodes = [("hn", params)]
        if model is not None:
            decodes.append(("autoencoder", autoencode(model, params, REFERENCE_VELOCITY)))
        for method, decoded in decodes:
            started = time.perf_counter()
            audio = hn.synthesize(decoded)
            seconds = (time.perf_counter() - started) / (hn.NOTE_FRAMES / hn.SAMPLE_RATE)
            rows.append(
                ReconstructionRow(
                    program, pitch, method,
                    metrics.mr_stft(original, audio),
                    metrics.mel_lsd(original, audio),
                    abs(metrics.pitch_cents(audio, pitch) - reference_cents),
                    seconds,
                )
            )
    return rows


@dataclass(frozen=True)
class TextControlRow:
    program: int
    cfg: float
    words: tuple[str, str]
    measure: str
    first: float  # mean measure over pitches and seeds for words[0]
    second: float

    @property
    def ratio(self) -> float:
        return self.first / max(self.second, 1e-9)


# (words, measure, +1 if the first word should measure higher). Sustain is the level at 0.8-1.0 s
# over the peak. Decay: "decay_s" is the time to fall 20 dB within the 1 s hold (1.0 when it never
# does, which is most sustained notes), "decay_fit_s" the same fall at the decay rate fitted over the
# hold, which separates notes that fall 5 dB from ones that fall 15 dB.
CONTRASTS = (
    (("bright", "dark"), "centroid_hz", 1),
    (("bright", "warm"), "centroid_hz", 1),
    (("plucky", "pad-like sustained"), "sustain", -1),
    (("plucky", "pad-like sustained"), "decay_s", -1),
    (("plucky", "pad-like sustained"), "decay_fit_s", -1),
)
CONTROL_PROGRAMS = (0, 4, 24, 40, 56, 73, 80, 89)
MEASURES = {
    "centroid_hz": metrics.spectral_centroid,
    "sustain": metrics.sustain_ratio,
    "decay_s": metrics.decay_time,
    "decay_fit_s": metrics.decay_time_fit,
}


def text_control(
    model: TimbreModel,
    cfgs: tuple[float, ...] = (1.0, 3.0, 5.0),
    programs: tuple[int, ...] = CONTROL_PROGRAMS,
    pitches: tuple[int, ...] = (55, 67),
    seeds: tuple[int, ...] = (0, 1),
    options: GenerationOptions = GenerationOptions(),
) -> list[TextControlRow]:
    """One row per contrast, cfg and program; `options` gives everything but cfg and seed."""
    audio: dict[tuple[str, float, int], list[np.ndarray]] = {}
    for words, _, _ in CONTRASTS:
        for word, cfg, program in itertools.product(words, cfgs, programs):
            if (word, cfg, program) not in audio:
                audio[word, cfg, program] = [
                    note
                    for seed in seeds
                    for _, _, note, _, _ in model.generate_notes(
                        program, word, list(pitches), [90], replace(options, cfg=cfg, seed=seed)
                    )
                ]
    rows = []
    for (first, second), measure, _ in CONTRASTS:
        for cfg, program in itertools.product(cfgs, programs):
            values = [float(np.mean([MEASURES[measure](a) for a in audio[w, cfg, program]])) for w in (first, second)]
            rows.append(TextControlRow(program, cfg, (first, second), measure, values[0], values[1]))
    return rows


def generated_pitch_errors(model: TimbreModel, programs: tuple[int, ...] = CONTROL_PROGRAMS) -> list[float]:
    """|cents| of generated notes measured from their audio (pitch 60 and 72, one seed)."""
    errors = []
    for program in programs:
        for pitch, _, audio, _, _ in model.generate_notes(program, "", [60, 72], [90], GenerationOptions()):
            errors.append(abs(metrics.pitch_cents(audio, pitch)))
    return errors


# -- vibrato ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VibratoMeasure:
    """A note's vibrato measured from its audio (HN analysis pitch curve, then `hn_analysis.estimate_vibrato`)."""

    std_cents: float  # std of the pitch curve over 0.1-1.0 s (the hold), vibrato or not
    depth_cents: float  # 0: no vibrato found
    rate_hz: float
    curve: np.ndarray  # (N_FRAMES,) the pitch curve, for plots


def measure_vibrato(audio: np.ndarray, pitch: int, stretched: bool = False) -> VibratoMeasure:
    cents = hn_analysis.analyse(audio, pitch, stretched=stretched).cents.astype(np.float64)
    hold = cents[round(0.1 * hn.FRAME_RATE) : round(hn.HOLD_S * hn.FRAME_RATE)]
    found = hn_analysis.estimate_vibrato(cents)
    return VibratoMeasure(float(hold.std()), found.depth_cents, found.rate_hz, cents)


VIBRATO_METHODS = ("original", "hn", "autoencoder", "autoencoder+vibrato")


Measure = TypeVar("Measure")


@dataclass(frozen=True)
class MeasuredReconstruction(Generic[Measure]):
    """One reference note remade by one method (`VIBRATO_METHODS`, `DETUNE_METHODS`), measured."""

    program: int
    pitch: int
    method: str
    measure: Measure  # of the seed-0 audio
    mr_stft: float  # mean over the seeds (noise, vibrato phase and a second bank's phases change with the seed)


@dataclass(frozen=True)
class VibratoRow(MeasuredReconstruction[VibratoMeasure]):
    phasiness_fixed_f0_hz: float


def _reconstructions(
    notes: tuple[tuple[int, int], ...], decodes: Callable[[hn.HNParams, int], dict[str, hn.HNParams]],
    seeds: tuple[int, ...],
) -> Iterator[tuple[int, int, bool, hn.HNParams, np.ndarray, dict[str, list[np.ndarray]], dict[str, float]]]:
    """Per (program, pitch): (program, pitch, stretched, analysis, original audio, each method's audio per
    seed, each method's MR-STFT to the original averaged over the seeds); `decodes(analysis, program)` names
    the HN parameters of each method."""
    for program, pitch in notes:
        stretched = program < 40
        original = render_reference(program, pitch)
        params = hn_analysis.analyse(original, pitch, stretched=stretched)
        audio = {method: [hn.synthesize(decoded, seed=seed) for seed in seeds]
                 for method, decoded in decodes(params, program).items()}
        distance = {method: float(np.mean([metrics.mr_stft(original, a) for a in takes]))
                    for method, takes in audio.items()}
        yield program, pitch, stretched, params, original, audio, distance


def vibrato_reconstruction(model: TimbreModel, seeds: tuple[int, ...] = (0, 1, 2, 3)) -> list[VibratoRow]:
    """Every reference note through analysis, the autoencoder, and the autoencoder + vibrato head."""
    def decodes(params: hn.HNParams, program: int) -> dict[str, hn.HNParams]:
        return {
            "hn": params,
            "autoencoder": autoencode(model, params, REFERENCE_VELOCITY),
            "autoencoder+vibrato": autoencode(model, params, REFERENCE_VELOCITY, vibrato=True, program=program),
        }

    rows = []
    for program, pitch, stretched, params, original, audio, distance in _reconstructions(
            REFERENCE_NOTES, decodes, seeds):
        rows.append(VibratoRow(program, pitch, "original", measure_vibrato(original, pitch, stretched), 0.0,
                               metrics.phasiness(original, pitch, stretch=params.stretch)))
        rows += [VibratoRow(program, pitch, method, measure_vibrato(takes[0], pitch, stretched), distance[method],
                            metrics.phasiness(takes[0], pitch, stretch=params.stretch))
                 for method, takes in audio.items()]
    return rows


# Violin, flute, cello (FluidR3 plays them with vibrato), then piano, nylon guitar, square lead (steady).
GENERATED_VIBRATO_NOTES = (
    (40, (67, 76)), (73, (72, 79)), (42, (48, 55)), (0, (48, 72)), (24, (55, 64)), (80, (60, 72)),
)


def generated_vibrato(
    model: TimbreModel, seeds: tuple[int, ...] = (0, 1, 2), velocity: int = 90
) -> dict[int, dict[str, list[VibratoMeasure]]]:
    """Per program: the FluidR3 notes' vibrato and the generated notes' (no words, cfg 3) without and with
    the model's vibrato head, and with it for "bright" at cfg 4; `model.vibrato` is put back as it was."""
    from melodex.soundfont import SoundFontSynth

    out: dict[int, dict[str, list[VibratoMeasure]]] = {}
    head = model.vibrato
    try:
        for program, pitches in GENERATED_VIBRATO_NOTES:
            with SoundFontSynth() as synth:
                reference = [synth.render_note(program, p, velocity, hn.HOLD_S, 0.5)[: hn.NOTE_FRAMES] for p in pitches]
            found: dict[str, list[VibratoMeasure]] = {"soundfont": [measure_vibrato(a, p) for a, p in
                                                                     zip(reference, pitches, strict=True)]}
            # Words move the latent: "bright" at cfg 4 once left generated violins without vibrato.
            for name, with_head, text, cfg in (("generated", None, "", 3.0), ("generated+vibrato", head, "", 3.0),
                                               ("'bright' cfg 4+vibrato", head, "bright", 4.0)):
                model.vibrato = with_head
                found[name] = [
                    measure_vibrato(audio, pitch)
                    for seed in seeds
                    for pitch, _, audio, _, _ in model.generate_notes(
                        program, text, list(pitches), [velocity], GenerationOptions(cfg=cfg, seed=seed)
                    )
                ]
            out[program] = found
    finally:
        model.vibrato = head
    return out


# -- detune ----------------------------------------------------------------------------------------

# Detuned or chorused programs (warm pad, polysynth, synth strings 1/2, synth brass 1/2, saw lead), then
# controls (flute, piano, square lead, clarinet), at two pitches each. FluidR3's square lead turned out
# detuned itself (10 cents, both pitches), so reports keep it apart from the three that do not beat.
DETUNED_PROGRAMS = (89, 90, 50, 51, 62, 63, 81)
DETUNE_CONTROLS = (73, 0, 80, 71)
DETUNE_PITCHES = (55, 67)


@dataclass(frozen=True)
class DetuneMeasure:
    """A note's beating measured from its audio (its HN analysis, then `beating` and `estimate_detune`)."""

    beating_db: float
    detune: hn.Detune


def measure_detune(audio: np.ndarray, pitch: int, stretched: bool = False) -> DetuneMeasure:
    params = hn_analysis.analyse(audio, pitch, stretched=stretched)
    detune = hn_analysis.estimate_detune(params.harmonics, pitch, params.stretch)
    return DetuneMeasure(hn_analysis.beating(params.harmonics), detune)


# No "hn + detune": the analysed frames carry the original's beating already, a second bank doubles it.
DETUNE_METHODS = ("original", "hn", "autoencoder+vibrato", "autoencoder+vibrato+detune")

DetuneRow = MeasuredReconstruction[DetuneMeasure]


def detune_reconstruction(
    model: TimbreModel, notes: tuple[tuple[int, int], ...], seeds: tuple[int, ...] = (0, 1, 2, 3)
) -> list[DetuneRow]:
    """Each (program, pitch) through analysis and the autoencoder + the head's vibrato, without and with
    the head's detune."""
    def decodes(params: hn.HNParams, program: int) -> dict[str, hn.HNParams]:
        return {
            "hn": params,
            "autoencoder+vibrato": autoencode(model, params, REFERENCE_VELOCITY, vibrato=True, program=program),
            "autoencoder+vibrato+detune": autoencode(model, params, REFERENCE_VELOCITY, vibrato=True,
                                                     program=program, detune=True),
        }

    rows = []
    for program, pitch, stretched, _, original, audio, distance in _reconstructions(notes, decodes, seeds):
        rows.append(DetuneRow(program, pitch, "original", measure_detune(original, pitch, stretched), 0.0))
        rows += [DetuneRow(program, pitch, method, measure_detune(takes[0], pitch, stretched), distance[method])
                 for method, takes in audio.items()]
    return rows


def generated_detune(
    model: TimbreModel, programs: tuple[int, ...] = DETUNED_PROGRAMS + DETUNE_CONTROLS,
    pitches: tuple[int, ...] = DETUNE_PITCHES, seeds: tuple[int, ...] = (0, 1), velocity: int = 90,
) -> dict[int, dict[str, list[DetuneMeasure]]]:
    """Per program: FluidR3's notes and generated ones (no words, cfg 3) without and with the detune."""
    from melodex.soundfont import SoundFontSynth

    out: dict[int, dict[str, list[DetuneMeasure]]] = {}
    for program in programs:
        with SoundFontSynth() as synth:
            reference = [synth.render_note(program, p, velocity, hn.HOLD_S, 0.5)[: hn.NOTE_FRAMES] for p in pitches]
        found = {"soundfont": [measure_detune(a, p, program < 40) for a, p in zip(reference, pitches, strict=True)]}
        for name, detune in (("generated", False), ("generated+detune", True)):
            found[name] = [
                measure_detune(audio, pitch, program < 40)
                for seed in seeds
                for pitch, _, audio, _, _ in model.generate_notes(
                    program, "", list(pitches), [velocity], GenerationOptions(seed=seed, detune=detune)
                )
            ]
        out[program] = found
    return out
