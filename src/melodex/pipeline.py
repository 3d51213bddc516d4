"""Text to track: the one inference entry point behind the Python API and `melodex generate`.

The Python API over these steps is `melodex.song` (`melodex.load()`, `Pipeline`, `Song`).

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

import os
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from melodex import brief as brief_mod
from melodex.errors import MelodexError, option_name
from melodex.export import LUFS_RANGE, ExportOptions, export_take
from melodex.instruments import program_name
from melodex.models import WEIGHTS, load_structure, model_versions, single_thread, try_load_timbre
from melodex.production.settings import mix_settings_from_text
from melodex.project import Project, Rendering, Version
from melodex.render_audio import (  # noqa: F401 -- perform_tracks: export.py plays edits' spans with it
    DEFAULT_PRESET,
    PRESETS,
    RenderOptions,
    StageProgress,
    ignore_progress,
    perform_tracks,
    render_score,
)
from melodex.score import DRUM_PROGRAM, Score
from melodex.tokens_grammar import Plan

if TYPE_CHECKING:  # the structure package imports torch: loaded when a song is composed
    from melodex.structure.generate import DecodingOptions

Progress = Callable[[str, float], None]  # (stage, fraction done of that stage)
PROGRESS_STEP = 0.01  # smaller advances are not reported: a bar or a job record is not redrawn for them


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
    chords: str | None = None  # one progression for the piece ("Am F C G", "Am F | C G"); wins over the prompt's
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
    click: bool = False  # a click track beside the mix, kept in step by every edit
    chord_markers: bool = False  # the chords in song.mid's marker lane too

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise MelodexError(f"preset {self.preset!r} is not one of {', '.join(PRESETS)}")
        if self.arrangement not in ("song", "flat"):
            raise MelodexError(f"arrangement {self.arrangement!r} is not 'song' or 'flat'")
        if self.renderer not in ("timbre", "soundfont"):
            raise MelodexError(f"renderer {self.renderer!r} is not 'timbre' or 'soundfont'")
        if not 0 <= self.seed <= 2**31 - 1:
            raise MelodexError(f"{option_name('seed')} {self.seed}: use a whole number from 0 to {2**31 - 1}")
        self.export  # noqa: B018 -- checks the formats, stems, bit depth, bitrate and loudness now
        if not 1 <= self.timbre_steps <= 200:
            raise MelodexError(f"{option_name('steps')} {self.timbre_steps}: use 1-200 diffusion steps")
        if self.timbre_cfg is not None and not 0 <= self.timbre_cfg <= 20:
            raise MelodexError(f"{option_name('cfg')} {self.timbre_cfg}: use a timbre guidance from 0 to 20")
        if not 0 < self.top_p <= 1:
            raise MelodexError(f"top_p {self.top_p}: use more than 0 and at most 1")
        if self.guidance is not None and not 0 <= self.guidance <= 20:
            raise MelodexError(f"{option_name('guidance')} {self.guidance}: use 0-20")
        if self.temperature is not None and not 0 < self.temperature <= 3:
            raise MelodexError(f"{option_name('temperature')} {self.temperature}: use more than 0 and at most 3")
        if self.scale_lock is not None and not 0 <= self.scale_lock <= 20:
            raise MelodexError(f"{option_name('scale_lock')} {self.scale_lock}: use 0 (off) to 20 "
                               "(never leave the key)")

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

    def render_options(self) -> RenderOptions:
        return RenderOptions(renderer=self.renderer, sample_rate=self.sample_rate, cfg=self.cfg,
                             steps=self.timbre_steps, vibrato=self.timbre_vibrato, detune=self.timbre_detune)

    @property
    def export(self) -> ExportOptions:
        """How `generate` and every edit write the files beside the project (the take is at `lufs` already)."""
        if self.lufs is not None and not LUFS_RANGE[0] <= self.lufs <= LUFS_RANGE[1]:
            raise MelodexError(f"loudness {self.lufs:g} LUFS is outside {LUFS_RANGE[0]:g} to {LUFS_RANGE[1]:g}")
        return ExportOptions(formats=self.formats, stems=self.stems, bit_depth=self.bit_depth,
                             mp3_kbps=self.mp3_kbps, master=self.master, click=self.click,
                             chord_markers=self.chord_markers)


@dataclass
class Take(Rendering):
    """A rendered state of a song with its score decoded from `events`: what an edit works on."""

    score: Score


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
        yield report if progress else ignore_progress
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
        self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + time.process_time() - cpu
        if progress:
            progress(name, 1.0)


# -- models -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Models:
    """The models a song is made with: any (a tiny random-weight one in tests, your own training run) or
    the shipped ones (`load_models`). `melodex.Pipeline` adds making songs from prompts."""

    structure: Any  # melodex.structure.model.StructureModel
    timbre: Any | None = None  # melodex.timbre.model.TimbreModel; None: every track from the SoundFont
    timbre_missing: str = "no timbre model was given"  # why `timbre` is None, for the song's notes
    versions: dict[str, dict] = field(default_factory=dict)  # name and SHA-256 of each model, for projects


def load_models(weights: str | Path | None = None) -> Models:
    """The models in `weights` (default: the shipped ones), SHA-256 checked. The structure model must
    load; a timbre model that does not leaves the SoundFont playing, and the songs say why."""
    folder = Path(weights) if weights is not None else WEIGHTS
    timbre, why_not = try_load_timbre(folder / "timbre")
    return Models(load_structure(folder / "structure"), timbre, why_not, model_versions(folder))


# A folder of models to run instead of the shipped ones, laid out as melodex/weights (structure/, and timbre/
# or none: then every track plays the SoundFont): your own training run, or the tests' tiny random-weight
# models, which reach the CLI, the studio and the edits of opened projects this way (no loader is patched).
WEIGHTS_ENV = "MELODEX_WEIGHTS"


def shipped() -> Models:
    """The models the CLI, the studio and the edits use: the shipped ones, or those in the folder that
    $MELODEX_WEIGHTS names instead; loaded once per process, SHA-256 checked."""
    return _models_in(os.environ.get(WEIGHTS_ENV) or None)


@lru_cache(maxsize=2)
def _models_in(weights: str | None) -> Models:
    try:
        return load_models(weights)
    except MelodexError as exc:
        if weights is None:
            raise
        raise MelodexError(f"{exc} (the folder ${WEIGHTS_ENV} names; unset it for the shipped models)") from exc


# -- stages -----------------------------------------------------------------------------------------


def read_brief(prompt: str, options: GenerateOptions) -> brief_mod.Brief:
    parsed = brief_mod.parse(prompt)
    return brief_mod.with_overrides(parsed, bpm=options.bpm, key=options.key, meter=options.meter,
                                    instruments=list(options.instruments) if options.instruments else None,
                                    bars=options.bars, duration=options.duration, chords=options.chords)


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
    from melodex.brief_chords import chord_token

    return {bar: tuple(chord_token(name) for name in names) for bar, names in enumerate(brief.chords or ())
            if names and bar < (plan.n_bars or 0)}


def decoding_options(brief: brief_mod.Brief, options: GenerateOptions, seed: int) -> DecodingOptions:
    """How the structure model decodes for `brief` under `options`: the one place generate options and the
    brief's controls become `DecodingOptions`. Songs draw drum notes cooler (DEFAULT_DRUM_TEMPERATURE unless
    the options say); flat arrangements draw them at the shared temperature."""
    from melodex.structure.generate import DEFAULT_DRUM_TEMPERATURE, DEFAULT_GUIDANCE, DecodingOptions

    drums = None
    if options.arrangement == "song":
        drums = DEFAULT_DRUM_TEMPERATURE if options.drum_temperature is None else options.drum_temperature
    return DecodingOptions(guidance=options.guidance if options.guidance is not None else DEFAULT_GUIDANCE,
                           temperature=options.sampling_temperature, top_p=options.top_p, seed=seed,
                           key_bias=options.key_bias, drum_temperature=drums, mode=brief.implied_mode,
                           style=brief.style, energy=energy_level(brief))


def compose(brief: brief_mod.Brief, options: GenerateOptions, seed: int, structure: Any,
            progress: StageProgress | None = None) -> tuple[Score, np.ndarray]:
    """The arrangement for a brief: under its song form (see `melodex.structure.form`) unless the options
    ask for the flat decoding of before (`arrangement="flat"`, for comparison)."""
    from melodex.structure.form import song_form
    from melodex.structure.generate import generate_score
    from melodex.structure.song import write_song

    decoding = decoding_options(brief, options, seed)
    with single_thread():
        if options.arrangement == "flat":
            return generate_score(structure, brief.prompt, brief.plan(), decoding, progress=progress)
        plan = song_plan(brief)
        assert plan.sections is not None
        song = write_song(structure, brief.prompt, plan, song_form(plan.sections, brief.style), decoding,
                          chords=chord_requests(brief, plan), progress=progress)
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
                           seed: int, structure: Any,
                           progress: StageProgress | None = None) -> tuple[Score, np.ndarray]:
    """The recording's melody becomes the melody track; the model writes every other part around it."""
    from melodex.structure.generate import infill
    from melodex.tokens import encode

    report = progress or ignore_progress
    score, _ = compose(brief, options, seed, structure, lambda f: report(f / 2))
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
    # The parts around the recording are drawn at one temperature, drums too (cooler drums came with songs).
    decoding = replace(decoding_options(brief, options, seed + 1), drum_temperature=None)
    with single_thread():
        return infill(structure, events, (0, score.bar_count()), others, brief.prompt, brief.plan(), decoding,
                      progress=lambda f: report(0.5 + f / 2))


def timbre_text(brief: brief_mod.Brief, program: int, asked: str = "") -> str:
    """What a track should sound like: the words asked of it (a retimbre's), the prompt's texture words,
    style and mood, and the instrument. Drums told which kit to be (the prompt's "punchy 808 drums", or a
    retimbre's words) take those words and the texture only: the style's words diluted them ("punchy 808"
    asked of a jazz song's drums got punch 0.39 at cfg 4, alone 0.97)."""
    told = asked or (brief.drums if program == DRUM_PROGRAM else "")
    style = [] if program == DRUM_PROGRAM and told else [brief.style, brief.mood]
    words = [told, *brief.texture, *style, program_name(program)]
    return " ".join(w for w in words if w)


def seed_for(base: int, purpose: str, index: int = 0) -> int:
    """Independent, stable seeds per purpose and track, so regenerating one part leaves the others."""
    rng = np.random.default_rng([base, sum(map(ord, purpose)), index])
    return int(rng.integers(0, 2**31 - 1))


def make_take(brief: brief_mod.Brief, options: GenerateOptions, clock: StageClock,
              reference: Any = None, models: Models | None = None, notes: list[str] | None = None) -> Take:
    """Compose, make the timbres and render one take. What the user should be told about it (a master
    quieter than `options.lufs` asked) is appended to `notes`."""
    models = models or shipped()
    with clock.stage("compose") as report:
        seed = seed_for(options.seed, "compose")
        if reference is not None:
            score, events = compose_with_reference(brief, options, reference, seed, models.structure, report)
        else:
            score, events = compose(brief, options, seed, models.structure, report)
    texts = {i: timbre_text(brief, track.program) for i, track in enumerate(score.tracks)}
    seeds = {i: seed_for(options.seed, "timbre", i) for i in texts}
    mix_settings = mix_settings_from_text(" ".join(brief.texture) + " " + brief.style)
    if options.lufs is not None:
        mix_settings = replace(mix_settings, target_lufs=options.lufs)
    rendered = render_score(score, texts, seeds, mix_settings, options.render_options(), models.timbre, clock.stage)
    if notes is not None and options.master and rendered.master.loudness_note:
        notes.append(rendered.master.loudness_note)
    settings = {"options": _options_json(options), "mix": asdict(mix_settings), "levels": rendered.levels.to_json()}
    if options.arrangement == "song" and reference is None:
        settings["form"] = form_record(brief)
    return Take(events=events, timbres=rendered.timbres, samplesets=rendered.samplesets, stems=rendered.stems,
                mix=rendered.mix, sample_rate=options.sample_rate, settings=settings, score=score)


def _options_json(options: GenerateOptions) -> dict[str, Any]:
    data = asdict(options)
    data["formats"] = list(options.formats)
    data["instruments"] = list(options.instruments) if options.instruments else None
    return data


# -- files ------------------------------------------------------------------------------------------


def shared_files(take: Take, old: Take) -> set[str]:
    """The project files of `take` that are `old`'s (the very arrays an edit kept): linked, not encoded again."""
    unchanged = {f"stems/{i}.flac" for i, stem in take.stems.items() if stem is old.stems.get(i)}
    return unchanged | {f"timbre/{i}.npz" for i, s in take.samplesets.items() if s is old.samplesets.get(i)}


def take_to_version(take: Take, edit: str, parent: str | None, request: dict | None = None) -> Version:
    return Version(events=take.events, timbres=take.timbres, samplesets=take.samplesets, stems=take.stems,
                   mix=take.mix, sample_rate=take.sample_rate, settings=take.settings, edit=edit, parent=parent,
                   request=request)


def make_song(prompt: str, options: GenerateOptions, models: Models,
              clock: StageClock) -> tuple[brief_mod.Brief, Take, tuple[str, ...]]:
    """Steps 1-5: the brief, the take, and notes for the user (what the prompt left open, what was missing)."""
    with clock.stage("brief"):
        brief = read_brief(prompt, options)
    reference = None
    if options.reference:
        from melodex.reference import analyse

        with clock.stage("reference"):
            reference = analyse(options.reference)
            brief = apply_reference(brief, reference)
    notes = list(brief.notes)
    take = make_take(brief, options, clock, reference, models, notes)
    used = sorted({t.renderer for t in take.timbres.values()})
    if options.renderer == "timbre" and used == ["soundfont"]:
        notes.append(f"the timbre model is not loaded ({models.timbre_missing}): every track was played by "
                     "the General MIDI SoundFont")
    return brief, take, tuple(notes)


def write_project(out: Path, prompt: str, brief: brief_mod.Brief, versions: dict[str, dict],
                  takes: Sequence[tuple[Take, str, dict | None]], export: ExportOptions,
                  progress: StageProgress | None = None) -> dict[str, Path]:
    """Step 6: the last take's mix (each format), stems and MIDI into `out`, and a `song.melodex` project
    with every take as a version (each the parent of the next, oldest first), with what made it: the edit's
    label and its request (`melodex.edit_requests`), if any. Refuses an existing project."""
    report = progress or ignore_progress
    project_path = out / "song.melodex"
    Project.check_new(project_path)
    files = export_take(takes[-1][0], out, export, lambda f: report(0.8 * f))
    first, first_edit, first_request = takes[0]
    project = Project.create(project_path, prompt, brief.to_json(), versions,
                             first=take_to_version(first, first_edit, None, first_request))
    version, previous = project.current, first
    for take, edit, request in takes[1:]:
        version = project.save_version(take_to_version(take, edit, version, request), shared_files(take, previous))
        previous = take
    files["project"] = project.path
    return files


def generate(prompt: str, out_dir: str | Path, options: GenerateOptions | None = None,
             progress: Progress | None = None, models: Models | None = None) -> GenerateResult:
    """Prompt -> mix, stems, MIDI and a project in out_dir (with `shipped()` unless others are given).
    Refuses to overwrite an existing project."""
    options = options or GenerateOptions()
    out = Path(out_dir)
    Project.check_new(out / "song.melodex")
    clock = StageClock(progress)
    models = models or shipped()
    brief, take, notes = make_song(prompt, options, models, clock)
    with clock.stage("write") as report:
        files = write_project(out, prompt, brief, models.versions, [(take, "generate", None)], options.export, report)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return GenerateResult(out, files, brief, take.score, clock.seconds, peak, notes, clock.cpu_seconds)


def with_options(options: GenerateOptions, **changes: Any) -> GenerateOptions:
    return replace(options, **changes)
