"""Text to track: the one inference entry point behind the Python API and `melodex generate`.

    1. brief      prompt -> Brief (exact structure + implied attributes)
    2. compose    Brief -> Score, with the structure model under the Brief's plan
    3. timbres    one sample set per track (timbre model, or the SoundFont)
    4. perform    the sampler plays every track with its sample set: dry stems
    5. produce    mix, space, master to -14 LUFS: the stems and the mix
    6. write      WAV/FLAC/MP3, stems, MIDI and the .melodex project

Inference only: nothing here imports training code. Every random choice takes its seed from
`GenerateOptions.seed`, so the same prompt and options give the same audio.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from melodex import brief as brief_mod
from melodex.errors import MelodexError
from melodex.export import LUFS_RANGE, ExportOptions, export_take
from melodex.instruments import program_name
from melodex.production import Levels, MixSettings, mix_settings_from_text, produce
from melodex.project import Project, TrackTimbre, Version
from melodex.render_audio import PITCH_STEP, sample_pitches
from melodex.sampler import Instrument, SamplerOptions, perform, stem_length
from melodex.score import Score
from melodex.timbre.drumkit import drum_sampleset
from melodex.timbre.sampleset import SampleSet, soundfont_sampleset
from melodex.tokens import Plan

WEIGHTS = Path(__file__).parent / "weights"
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

Progress = Callable[[str, float], None]  # (stage, fraction done of that stage)
StageProgress = Callable[[float], None]  # one stage's share done, 0-1
PERFORM_SHARE = 0.1  # of the render stage: the sampler; production takes the rest
PROGRESS_STEP = 0.01  # smaller advances are not reported: a bar or a job record is not redrawn for them


def _ignore(_: float) -> None:
    pass


@dataclass(frozen=True)
class GenerateOptions:
    """Everything besides the prompt that decides the result."""

    seed: int = 0
    preset: str = DEFAULT_PRESET
    guidance: float | None = None  # structure model CFG; None = the model's measured default
    temperature: float | None = None  # structure sampling temperature; None = the measured default
    top_p: float = 0.95
    scale_lock: float | None = None  # structure model: nats off out-of-key pitches; None = the measured default
    timbre_cfg: float | None = None  # None = the preset's value
    timbre_steps: int = 16
    timbre_vibrato: bool = True  # the timbre model's vibrato head (projects from before it: False)
    timbre_detune: bool = True  # its detune, a second harmonic bank for detuned pads (projects from before: False)
    renderer: str = "timbre"  # "timbre" or "soundfont"
    sample_rate: int = 44100
    formats: tuple[str, ...] = ("wav",)
    bpm: int | None = None
    key: str | None = None
    meter: str | None = None
    instruments: tuple[str, ...] | None = None
    bars: int | None = None
    duration: float | None = None  # seconds; the prompt's form wins over it
    reference: str | None = None  # a recording to build the track around ("hum a tune")
    # "song": composed under a song form (linked sections, phrases, loops, cadences); "flat": one free pass
    arrangement: str = "song"
    drum_temperature: float | None = None  # song arrangements: drum notes' temperature; None = the measured default
    lufs: float | None = None  # the master's loudness; None = production's default (-14 LUFS)
    # How the files beside the project are written (see export.ExportOptions); the project keeps full quality.
    stems: str = "processed"
    bit_depth: int = 24
    mp3_kbps: int = 320
    master: bool = True

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise MelodexError(f"preset {self.preset!r} is not one of {', '.join(PRESETS)}")
        if self.arrangement not in ("song", "flat"):
            raise MelodexError(f"arrangement {self.arrangement!r} is not 'song' or 'flat'")
        if self.renderer not in ("timbre", "soundfont"):
            raise MelodexError(f"renderer {self.renderer!r} is not 'timbre' or 'soundfont'")
        if not 0 <= self.seed <= 2**31 - 1:
            raise MelodexError(f"--seed {self.seed}: use a whole number from 0 to {2**31 - 1}")
        self.export  # noqa: B018 -- checks the formats, stems, bit depth, bitrate and loudness now
        if not 1 <= self.timbre_steps <= 200:
            raise MelodexError(f"--steps {self.timbre_steps}: use 1-200 diffusion steps")
        if self.timbre_cfg is not None and not 0 <= self.timbre_cfg <= 20:
            raise MelodexError(f"--cfg {self.timbre_cfg}: use a timbre guidance from 0 to 20")
        if not 0 < self.top_p <= 1:
            raise MelodexError(f"top_p {self.top_p}: use more than 0 and at most 1")
        if self.guidance is not None and not 0 <= self.guidance <= 20:
            raise MelodexError(f"--guidance {self.guidance}: use 0-20")
        if self.temperature is not None and not 0 < self.temperature <= 3:
            raise MelodexError(f"--temperature {self.temperature}: use more than 0 and at most 3")
        if self.scale_lock is not None and not 0 <= self.scale_lock <= 20:
            raise MelodexError(f"--scale-lock {self.scale_lock}: use 0 (off) to 20 (never leave the key)")

    @property
    def key_bias(self) -> float:
        from melodex.structure.generate import DEFAULT_KEY_BIAS

        return self.scale_lock if self.scale_lock is not None else DEFAULT_KEY_BIAS

    @property
    def sampling_temperature(self) -> float:
        from melodex.structure.generate import DEFAULT_TEMPERATURE

        return self.temperature if self.temperature is not None else DEFAULT_TEMPERATURE

    @property
    def cfg(self) -> float:
        return self.timbre_cfg if self.timbre_cfg is not None else PRESETS[self.preset]

    @property
    def export(self) -> ExportOptions:
        """How `generate` and every edit write the files beside the project (the take is at `lufs` already)."""
        if self.lufs is not None and not LUFS_RANGE[0] <= self.lufs <= LUFS_RANGE[1]:
            raise MelodexError(f"loudness {self.lufs:g} LUFS is outside {LUFS_RANGE[0]:g} to {LUFS_RANGE[1]:g}")
        return ExportOptions(formats=self.formats, stems=self.stems, bit_depth=self.bit_depth,
                             mp3_kbps=self.mp3_kbps, master=self.master)


@dataclass
class Take:
    """A rendered state of a song: what a project version stores."""

    score: Score
    events: np.ndarray
    samplesets: dict[int, SampleSet]
    timbres: dict[int, TrackTimbre]
    stems: dict[int, np.ndarray]
    mix: np.ndarray
    sample_rate: int
    settings: dict[str, Any]


@dataclass(frozen=True)
class GenerateResult:
    out_dir: Path
    files: dict[str, Path]
    brief: brief_mod.Brief
    score: Score
    seconds: dict[str, float]
    peak_memory_mb: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # process CPU time per stage, all threads


class StageClock:
    """Wall and CPU time per stage, reported to an optional progress callback.

    A stage yields its own reporter: the work inside it says what share is done, and the callback hears
    every advance of at least PROGRESS_STEP (never backwards), then 1.0 when the stage ends.
    """

    def __init__(self, progress: Progress | None) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def stage(self, name: str) -> Iterator[StageProgress]:
        progress = self.progress
        reported = 0.0

        def report(fraction: float) -> None:
            nonlocal reported
            fraction = min(1.0, max(0.0, fraction))
            if progress is not None and fraction >= reported + PROGRESS_STEP:
                reported = fraction
                progress(name, fraction)

        if progress:
            progress(name, 0.0)
        start, cpu = time.perf_counter(), time.process_time()
        yield report if progress else _ignore
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
        self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + time.process_time() - cpu
        if progress:
            progress(name, 1.0)


# -- models -----------------------------------------------------------------------------------------


@contextmanager
def single_thread() -> Iterator[None]:
    """Run small-batch inference on one thread: at these sizes a second thread only adds synchronisation,
    and on a busy machine it made decoding 40x slower (3 s vs 117 s for the same 20 bars).

    Never run two of these at once on Python threads: torch's OpenMP workers then fight over the cores
    (composing while the timbres were made on a second thread took 105-361 s instead of 8 s).
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@lru_cache(maxsize=1)
def structure_model() -> Any:
    from melodex.structure.model import load_model

    directory = WEIGHTS / "structure"
    if not (directory / "model.safetensors").exists():
        raise MelodexError(f"the structure model's weights are not installed ({directory}); reinstall Melodex")
    return load_model(directory)


@lru_cache(maxsize=1)
def timbre_model() -> Any | None:
    """The timbre model, or None when its weights are not shipped (then the SoundFont plays)."""
    try:
        from melodex.timbre.model import TimbreModel  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        return TimbreModel.load()
    except MelodexError:
        return None


def model_versions() -> dict[str, dict]:
    """Name and SHA-256 of every shipped model, for the project file."""
    import json

    versions = {}
    for name in ("structure", "timbre"):
        config = WEIGHTS / name / "config.json"
        if config.exists():
            meta = json.loads(config.read_text())
            versions[name] = {"sha256": meta.get("sha256", ""), "metadata": meta.get("metadata", {})}
    return versions


# -- stages -----------------------------------------------------------------------------------------


def read_brief(prompt: str, options: GenerateOptions) -> brief_mod.Brief:
    parsed = brief_mod.parse(prompt)
    return brief_mod.with_overrides(parsed, bpm=options.bpm, key=options.key, meter=options.meter,
                                    instruments=list(options.instruments) if options.instruments else None,
                                    bars=options.bars, duration=options.duration)


def energy_level(brief: brief_mod.Brief) -> int:
    return int(np.digitize(brief.energy, (0.3, 0.55, 0.8)))


def song_plan(brief: brief_mod.Brief) -> Plan:
    """The brief's plan with a form: the prompt's sections, else the form typical of the style for its length."""
    from melodex.structure.form import typical_form

    plan = brief.plan()
    if plan.sections is None:
        plan = replace(plan, sections=typical_form(brief.style, brief.n_bars), n_bars=None)
    if plan.key is None and brief.implied_mode in ("major", "minor"):
        plan = replace(plan, mode=brief.implied_mode)  # "something sad": a minor key, whichever the model picks
    return plan


def form_record(brief: brief_mod.Brief) -> dict[str, Any]:
    """What a project keeps of a song's form: for each section, the index of the section it repeats."""
    from melodex.structure.form import song_form

    plan = song_plan(brief)
    assert plan.sections is not None
    return {"links": list(song_form(plan.sections, brief.style).links)}


def chord_requests(brief: brief_mod.Brief, plan: Plan) -> dict[int, tuple[int, ...]]:
    """The chords the prompt asked for, as chord values per bar (bars the brief leaves open are absent)."""
    from melodex.brief_chords import chord_symbols
    from melodex.tokens import CHORD_QUALITIES

    asked: dict[int, tuple[int, ...]] = {}
    for bar, names in enumerate(brief.chords or ()):
        if bar >= (plan.n_bars or 0) or not names:
            continue
        values = []
        for name in names:
            root, quality = chord_symbols(name)
            values.append(root * len(CHORD_QUALITIES) + CHORD_QUALITIES.index(quality))
        asked[bar] = tuple(values)
    return asked


def compose(brief: brief_mod.Brief, options: GenerateOptions, seed: int,
            progress: StageProgress | None = None) -> tuple[Score, np.ndarray]:
    """The arrangement for a brief: under its song form (see `melodex.structure.form`) unless the options
    ask for the flat decoding of before (`arrangement="flat"`, for comparison)."""
    from melodex.structure.form import song_form
    from melodex.structure.generate import DEFAULT_DRUM_TEMPERATURE, DEFAULT_GUIDANCE, generate_score
    from melodex.structure.song import write_song

    guidance = options.guidance if options.guidance is not None else DEFAULT_GUIDANCE
    model, text = structure_model(), brief.prompt
    common = dict(temperature=options.sampling_temperature, top_p=options.top_p, seed=seed, mode=brief.implied_mode,
                  style=brief.style, energy=energy_level(brief), key_bias=options.key_bias, progress=progress)
    with single_thread():
        if options.arrangement == "flat":
            return generate_score(model, text, brief.plan(), guidance, **common)  # type: ignore[arg-type]
        plan = song_plan(brief)
        assert plan.sections is not None
        drums = DEFAULT_DRUM_TEMPERATURE if options.drum_temperature is None else options.drum_temperature
        song = write_song(model, text, plan, song_form(plan.sections, brief.style), guidance,
                          chords=chord_requests(brief, plan), drum_temperature=drums,
                          **common)  # type: ignore[arg-type]
        return song.score, song.events


def apply_reference(brief: brief_mod.Brief, reference: Any) -> brief_mod.Brief:
    """Tempo, key and length from the recording, except where the prompt or options said otherwise."""
    changes: dict[str, Any] = {}
    sources = dict(brief.sources)
    if sources.get("bpm") not in ("prompt", "option"):
        changes["bpm"], sources["bpm"] = round(reference.bpm), "reference audio"
    if sources.get("key") not in ("prompt", "option"):
        changes["key"], sources["key"] = reference.key, "reference audio"
    if not brief.sections and sources.get("length", "").startswith("default"):
        bpm = changes.get("bpm", brief.bpm)
        beats = reference.melody[-1, 1] * bpm / 60.0
        bar_beats = brief.meter[0] * 4 / brief.meter[1]
        changes["n_bars"] = int(min(brief_mod.MAX_BARS, max(4, 4 * np.ceil(beats / bar_beats / 4))))
        sources["length"] = "reference audio"
    if not any(role == "melody" for _, role in brief.instruments):
        changes["instruments"] = ((73, "melody"), *brief.instruments)
    return replace(brief, sources=sources, **changes)


def compose_with_reference(brief: brief_mod.Brief, options: GenerateOptions, reference: Any,
                           seed: int, progress: StageProgress | None = None) -> tuple[Score, np.ndarray]:
    """The recording's melody becomes the melody track; the model writes every other part around it."""
    from melodex.structure.generate import DEFAULT_GUIDANCE, infill
    from melodex.tokens import encode

    report = progress or _ignore
    score, _ = compose(brief, options, seed, lambda f: report(f / 2))
    lead = next(i for i, t in enumerate(score.tracks) if t.role == "melody")
    notes = reference.melody_ticks(reference.bpm, score.end_tick)
    if brief.key is not None and brief.key != reference.key:
        shift = (brief.key.tonic - reference.key.tonic + 6) % 12 - 6
        notes[:, 2] = np.clip(notes[:, 2] + shift, 0, 127)
    score.tracks[lead].notes = notes
    score.tracks[lead].__post_init__()
    events = encode(score)
    others = [i for i in range(len(score.tracks)) if i != lead]
    if not others:
        from melodex.tokens import decode

        return decode(events), events
    guidance = options.guidance if options.guidance is not None else DEFAULT_GUIDANCE
    with single_thread():
        return infill(structure_model(), events, bars=(0, score.bar_count()), tracks=others, text=brief.prompt,
                      plan=brief.plan(), guidance=guidance, temperature=options.sampling_temperature,
                      top_p=options.top_p, seed=seed + 1, mode=brief.implied_mode, style=brief.style,
                      energy=energy_level(brief), key_bias=options.key_bias,
                      progress=lambda f: report(0.5 + f / 2))


def timbre_text(brief: brief_mod.Brief, program: int) -> str:
    """What a track should sound like: the prompt's texture words, style and mood, and the instrument."""
    words = [*brief.texture, brief.style, brief.mood, program_name(program)]
    return " ".join(w for w in words if w)


def make_sampleset(score: Score, track_index: int, text: str, options: GenerateOptions,
                   seed: int, progress: StageProgress | None = None) -> tuple[SampleSet, TrackTimbre]:
    """The track's sample set: generated from `text` (timbre renderer, pitched tracks) or from the SoundFont."""
    return make_samplesets(score, {track_index: text}, {track_index: seed}, options, progress)[track_index]


def make_samplesets(score: Score, texts: dict[int, str], seeds: dict[int, int],
                    options: GenerateOptions,
                    progress: StageProgress | None = None) -> dict[int, tuple[SampleSet, TrackTimbre]]:
    """Sample sets of the tracks in `texts`: the generated ones in one batch of the timbre model while the
    SoundFont records the others (drums, or every track without the model) on a second thread.

    `progress` hears the timbre model's share done; without generated sets, the recorded tracks' share.
    """
    model = timbre_model() if options.renderer == "timbre" else None
    generated = [i for i in texts if model is not None and not score.tracks[i].is_drum]
    report = progress or _ignore

    kits = [i for i in texts if model is not None and score.tracks[i].is_drum]

    def record(index: int) -> SampleSet:
        track = score.tracks[index]
        if index in kits:  # a kit chosen from the machine's kits by the words (timbre.drumkit)
            return drum_sampleset(texts[index], sample_pitches(track, PITCH_STEP), VELOCITY_LAYERS, options.cfg,
                                  seeds[index], options.sample_rate)
        return soundfont_sampleset(track.program, sample_pitches(track, PITCH_STEP), VELOCITY_LAYERS,
                                   sample_rate=options.sample_rate)

    with ThreadPoolExecutor(max_workers=1) as pool:
        recorded = {i: pool.submit(record, i) for i in texts if i not in generated}
        made: dict[int, tuple[SampleSet, TrackTimbre]] = {}
        if generated and model is not None:
            from melodex.timbre.model import GenerationOptions, TimbreRequest

            requests = [TimbreRequest(score.tracks[i].program, texts[i],
                                      sample_pitches(score.tracks[i], TIMBRE_PITCH_STEP), TIMBRE_VELOCITY_LAYERS,
                                      seeds[i]) for i in generated]
            with single_thread():
                sets = model.generate_samplesets(
                    requests, GenerationOptions(cfg=options.cfg, steps=options.timbre_steps,
                                                vibrato=options.timbre_vibrato, detune=options.timbre_detune),
                    options.sample_rate, progress=report
                )
            for i, sampleset in zip(generated, sets, strict=True):
                made[i] = sampleset, TrackTimbre(texts[i], "timbre", seeds[i], options.cfg, options.timbre_steps)
        for done, (i, future) in enumerate(recorded.items()):
            made[i] = future.result(), (TrackTimbre(texts[i], "drumkit", seeds[i], options.cfg) if i in kits
                                        else TrackTimbre(texts[i], "soundfont", seeds[i]))
            if not generated:
                report((done + 1) / len(recorded))
    return {i: made[i] for i in texts}


RING_S = 8.0  # no sampled note rings longer than this after its note-off (releases, cymbals, loops' fades)


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
                        progress: StageProgress | None = None) -> tuple[dict[int, np.ndarray], np.ndarray, Levels]:
    """Play and produce the whole song; or, with the whole song's `levels`, only frames window[0]:window[1].

    A window is what an edit re-renders: only the notes that sound in it are played, and production
    reuses the song's levels so the stretch can be spliced back seamlessly (see `production.produce`).
    """
    report = progress or _ignore
    # playing takes ~10% of the time (0.5-0.65 s of 5.5-6.6 s), production the rest
    dry = perform_tracks(score, samplesets, sample_rate, window, lambda f: report(PERFORM_SHARE * f))
    produced = produce(dry, [t.role for t in score.tracks], mix, sample_rate, [t.program for t in score.tracks],
                       levels=levels, progress=lambda f: report(PERFORM_SHARE + (1 - PERFORM_SHARE) * f))
    stems = {i: np.asarray(stem, dtype=np.float32) for i, stem in enumerate(produced.stems)}
    return stems, produced.mix, produced.levels


def perform_tracks(score: Score, samplesets: dict[int, SampleSet], sample_rate: int,
                   window: tuple[int, int] | None = None, progress: StageProgress | None = None) -> list[np.ndarray]:
    """The sampler's dry performance of every track (frames window[0]:window[1], or the whole song)."""
    report = progress or _ignore
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


def seed_for(base: int, purpose: str, index: int = 0) -> int:
    """Independent, stable seeds per purpose and track, so regenerating one part leaves the others."""
    rng = np.random.default_rng([base, sum(map(ord, purpose)), index])
    return int(rng.integers(0, 2**31 - 1))


def make_take(brief: brief_mod.Brief, options: GenerateOptions, clock: StageClock,
              reference: Any = None) -> Take:
    with clock.stage("compose") as report:
        seed = seed_for(options.seed, "compose")
        if reference is not None:
            score, events = compose_with_reference(brief, options, reference, seed, report)
        else:
            score, events = compose(brief, options, seed, report)
    samplesets: dict[int, SampleSet] = {}
    timbres: dict[int, TrackTimbre] = {}
    with clock.stage("timbres") as report:
        texts = {i: timbre_text(brief, track.program) for i, track in enumerate(score.tracks)}
        seeds = {i: seed_for(options.seed, "timbre", i) for i in texts}
        for i, (sampleset, timbre) in make_samplesets(score, texts, seeds, options, report).items():
            samplesets[i], timbres[i] = sampleset, timbre
    mix_settings = mix_settings_from_text(" ".join(brief.texture) + " " + brief.style)
    if options.lufs is not None:
        mix_settings = replace(mix_settings, target_lufs=options.lufs)
    with clock.stage("render") as report:
        stems, mix, levels = perform_and_produce(score, samplesets, mix_settings, options.sample_rate,
                                                 progress=report)
    settings = {"options": _options_json(options), "mix": asdict(mix_settings), "levels": levels.to_json()}
    if options.arrangement == "song" and reference is None:
        settings["form"] = form_record(brief)
    return Take(score, events, samplesets, timbres, stems, mix, options.sample_rate, settings)


def _options_json(options: GenerateOptions) -> dict[str, Any]:
    data = asdict(options)
    data["formats"] = list(options.formats)
    data["instruments"] = list(options.instruments) if options.instruments else None
    return data


# -- files ------------------------------------------------------------------------------------------


def take_to_version(take: Take, edit: str, parent: str | None) -> Version:
    return Version(events=take.events, timbres=take.timbres, samplesets=take.samplesets, stems=take.stems,
                   mix=take.mix, sample_rate=take.sample_rate, settings=take.settings, edit=edit, parent=parent)


def generate(prompt: str, out_dir: str | Path, options: GenerateOptions | None = None,
             progress: Progress | None = None) -> GenerateResult:
    """Prompt -> mix, stems, MIDI and a project in out_dir. Refuses to overwrite an existing project."""
    options = options or GenerateOptions()
    out = Path(out_dir)
    project_path = out / "song.melodex"
    Project.check_new(project_path)
    clock = StageClock(progress)
    with clock.stage("brief"):
        brief = read_brief(prompt, options)
    reference = None
    if options.reference:
        from melodex.reference import analyse

        with clock.stage("reference"):
            reference = analyse(options.reference)
            brief = apply_reference(brief, reference)
    take = make_take(brief, options, clock, reference)
    with clock.stage("write") as report:
        files = export_take(take, out, options.export, lambda f: report(0.8 * f))
        project = Project.create(project_path, prompt, brief.to_json(), model_versions(),
                                 first=take_to_version(take, "generate", None))
        files["project"] = project.path
    notes = list(brief.notes)
    used = sorted({t.renderer for t in take.timbres.values()})
    if options.renderer == "timbre" and used == ["soundfont"]:
        notes.append("the timbre model is not installed: every track was played by the General MIDI SoundFont")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return GenerateResult(out, files, brief, take.score, clock.seconds, peak, tuple(notes), clock.cpu_seconds)


def with_options(options: GenerateOptions, **changes: Any) -> GenerateOptions:
    return replace(options, **changes)
