"""The HTTP API's request bodies and answers as pydantic models: what /openapi.json publishes and what each route
is checked against. Ranges and choices here are the library's, so a bad value is a 422 naming the API's field."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from melodex import pipeline
from melodex.edit_notes import BARS_PATTERN, bars_syntax_error
from melodex.export import AUDIO_FORMATS, BIT_DEPTHS, LUFS_RANGE, MP3_KBPS, SAMPLE_RATES, STEM_KINDS, ExportOptions
from melodex.score import MAX_BARS, MAX_BPM, MIN_BPM
from melodex.server.studio import FORM_SECTIONS
from melodex.tokens_vocabulary import METERS

SampleRate = Literal[SAMPLE_RATES]  # type: ignore[valid-type]  # Hz, for generate and export alike
# A key as the API takes it: a tonic, then the mode (none is major). The command line reads looser forms
# ('f min', 'D dorian'); a typed API states one syntax, which its schema publishes and every client can check.
KEY_PATTERN = r"^[A-G][#b]?( major| minor|m)?$"
# Every meter the structure model has a bar for (quarter-note meters first, then eighths, halves, ...): an enum
# in the schema.
# A track as people name it. Numbers count from 1 since 2026-12-08 (before: from 0), as the stem files do:
# a client written before then that sends "0" for the first track is told "tracks are numbered from 1".
TRACK_NAME = ("track number counted from 1 (as the stem files 01-... are; before 2026-12-08 from 0), role or "
              "instrument, e.g. 1, bass, piano")
METER_NAMES = tuple(f"{n}/{d}" for n, d in sorted(METERS, key=lambda m: ((4, 8, 2, 16, 1).index(m[1]), m[0])))


def _key(value: str) -> str:
    if not re.fullmatch(KEY_PATTERN, value):
        raise PydanticCustomError("key", "'{value}' is not a key: write a tonic A-G, then # or b if any, then "
                                  "' major', ' minor' or 'm' (none is major), e.g. 'F minor', 'Bb', 'C#m'; "
                                  "GET /api/options lists the keys", {"value": value[:40]})
    return value


def _meter(value: str) -> str:
    if value not in METER_NAMES:
        raise PydanticCustomError("meter", "'{value}' is not a meter the model writes: use beats/note value with "
                                  "up to 16 beats over 1, 2, 4, 8 or 16, e.g. 4/4, 3/4, 6/8; GET /api/options "
                                  "lists the usual ones", {"value": value[:40]})
    return value


def _bars(value: str) -> str:
    if not re.fullmatch(BARS_PATTERN, value):
        raise PydanticCustomError("bars", "{what}", {"what": bars_syntax_error(value[:40]).removeprefix("bars ")})
    return value


KeyName = Annotated[str, AfterValidator(_key), Field(json_schema_extra={"pattern": KEY_PATTERN,
                                                                       "examples": ["F minor", "Bb", "C#m"]})]
MeterName = Annotated[str, AfterValidator(_meter), Field(json_schema_extra={"enum": list(METER_NAMES)})]

# -- request bodies ---------------------------------------------------------------------------------


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


FormSectionName = Literal[FORM_SECTIONS]  # type: ignore[valid-type]  # the form builder's words, an enum in the schema


class FormSectionIn(Body):
    name: FormSectionName = Field(description="a section the form builder offers")
    bars: int = Field(ge=1, le=MAX_BARS)


def _number(value: Any) -> Any:
    """A query parameter's digits as the int they spell (a query string has no numbers, and pydantic compares
    a Literal's ints strictly)."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


class OutputFields(Body):
    """The output options of `melodex generate` and `melodex export`: how the files are written. Project creation
    takes them in its body (they stay the project's for every edit), GET .../export.zip in its query."""

    format: list[Literal[AUDIO_FORMATS]] = Field(  # type: ignore[valid-type]
        ["wav"], min_length=1, max_length=len(AUDIO_FORMATS), description="mix formats; stems and the click use "
        "the first")
    stems: Literal[STEM_KINDS] = Field(  # type: ignore[valid-type]
        "processed", description="processed: with effects (they sum to the mix with the reverb stem); dry: each "
        "instrument at its level and pan before any effect (they sum to dry-mix.<format>, the unmastered mix "
        "without effects); none")
    bit_depth: Annotated[Literal[tuple(BIT_DEPTHS)], BeforeValidator(_number)] = Field(  # type: ignore[valid-type]
        24, description="WAV/FLAC bits per sample (32: float WAV; FLAC holds 16 or 24)")
    mp3_kbps: Annotated[Literal[tuple(MP3_KBPS)], BeforeValidator(_number)] = Field(  # type: ignore[valid-type]
        320, description="MP3 constant bitrate")
    lufs: float | None = Field(None, ge=LUFS_RANGE[0], le=LUFS_RANGE[1],
                               description="master loudness in LUFS (default: -14, the streaming level, when a "
                               "project is made; its own master when it is exported)")
    master: bool = Field(True, description="false: the mix as it enters the master (no loudness, glue or limiter)")
    click: bool = Field(False, description="also a click track: every beat, bar starts higher")
    chord_markers: bool = Field(False, description="the chords in the MIDI file's marker lane too")

    def export_options(self, sample_rate: int | None, section: str | None = None) -> ExportOptions:
        """The library's options (its checks too: a bad pair such as FLAC at 32 bits is a 400 in its words)."""
        return ExportOptions(formats=tuple(dict.fromkeys(self.format)), stems=self.stems, sample_rate=sample_rate,
                             bit_depth=self.bit_depth, mp3_kbps=self.mp3_kbps, lufs=self.lufs, master=self.master,
                             section=section, click=self.click, chord_markers=self.chord_markers)


class CreateProject(OutputFields):
    """A new project: the prompt, the controls, and how its files are written (the output fields)."""

    prompt: str = Field(description="What you want; explicit BPM, key, meter, form and instruments are obeyed.")
    bpm: int | None = Field(None, ge=MIN_BPM, le=MAX_BPM, description="tempo; wins over the prompt")
    key: KeyName | None = Field(None, description="wins over the prompt: tonic, # or b, then ' major', ' minor' "
                                "or 'm' (none is major); GET /api/options lists the keys")
    meter: MeterName | None = Field(None, description="wins over the prompt; GET /api/options lists the usual ones")
    form: list[FormSectionIn] = Field(default_factory=list, max_length=64)
    instruments: list[str] = Field(default_factory=list, max_length=16)
    bars: int | None = Field(None, ge=1, le=MAX_BARS, description="length when the prompt gives no form")
    chords: str | None = Field(None, max_length=400, description="one progression for the piece, looped: 'Am F C G' "
                               "(one a bar), 'Am F | C G' (two a bar); wins over the prompt's chords")
    preset: Literal["film", "social", "design"] = pipeline.DEFAULT_PRESET  # type: ignore[assignment]
    cfg: float | None = Field(None, ge=0, le=20)
    steps: int = Field(16, ge=1, le=200, description="timbre diffusion steps")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    guidance: float | None = Field(None, ge=0, le=20)
    temperature: float | None = Field(None, gt=0, le=3)
    top_p: float = Field(0.95, gt=0, le=1)
    renderer: Literal["timbre", "soundfont"] = "timbre"
    sample_rate: SampleRate = Field(44100, description="the rate the song is made at, in Hz")


class RegenRequest(Body):
    section: str | None = Field(None, max_length=40, description="e.g. chorus, 'verse 2'")
    bars: Annotated[str, AfterValidator(_bars), Field(json_schema_extra={"pattern": BARS_PATTERN})] | None = Field(
        None, max_length=20, description="one bar or first:last, counted from 1, e.g. 3 or 5:8")
    tracks: list[str] = Field(default_factory=list, max_length=32, description=TRACK_NAME)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class RechordRequest(Body):
    section: str = Field(max_length=40, description="e.g. chorus, 'verse 2'; its linked repeats change too")
    chords: str = Field(min_length=1, max_length=400, description="one a bar, cycled: 'Am F C G'; 'Am F | C G' for "
                        "two a bar")
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class RetimbreRequest(Body):
    track: str = Field(max_length=40, description=TRACK_NAME)
    text: str = Field(min_length=1, max_length=500)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class RerenderRequest(Body):
    cfg: float | None = Field(None, ge=0, le=20)
    steps: int | None = Field(None, ge=1, le=200)


class VariationRequest(Body):
    strength: float = Field(0.3, gt=0, le=1)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class ExtendRequest(Body):
    bars: int = Field(4, ge=1, le=MAX_BARS)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class TempoRequest(Body):
    bpm: float = Field(ge=MIN_BPM, le=MAX_BPM, description="the new tempo in BPM; the notes stay")


class TransposeRequest(Body):
    semitones: int = Field(ge=-12, le=12, description="semitones up (positive) or down (negative); drums stay")


class CheckoutRequest(Body):
    version: str = Field(max_length=16)


class ExportQuery(OutputFields):
    """The options of `melodex export`, as query parameters of GET .../export.zip (repeat `format` for several)."""

    sample_rate: Annotated[SampleRate | None, BeforeValidator(_number)] = \
        Field(None, description="resample to this rate in Hz (default: the song's)")
    section: str | None = Field(None, max_length=40, description="only this section (e.g. chorus), as a seamless loop")

    def options(self) -> ExportOptions:
        return self.export_options(self.sample_rate, self.section)


# -- responses --------------------------------------------------------------------------------------


class Problem(BaseModel):
    """Every error: what is wrong and what to do, in one sentence."""

    detail: str


_PROBLEMS: dict[int, str] = {
    400: "The request cannot be done as asked (the message says why and what to send instead)",
    401: "This server needs its token: the link `melodex serve` printed, or 'Authorization: Bearer <token>'",
    403: "The Host header is not a loopback name (a server without a token serves only 127.0.0.1 / localhost)",
    404: "No such project, version, job, file or route",
    409: "Not now: the project is still generating, failed, or has queued or running jobs",
    413: "Request body too large",
    422: "A field is missing, of the wrong type or out of range (the message names it)",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of the errors a route can answer, each a `Problem`."""
    return {code: {"model": Problem, "description": _PROBLEMS[code]} for code in codes}


# Every request passes the token and Host checks first, so every route can answer these.
EVERY_ROUTE = problems(401, 403)

JobKind = Literal["generate", "regen", "rechord", "retimbre", "rerender", "variation", "extend", "tempo", "transpose"]
JobStatus = Literal["queued", "running", "done", "failed"]
ProjectState = Literal["queued", "generating", "ready", "failed"]


class Answer(BaseModel):
    """An answer: every field is always sent (None rather than missing), so clients need no guessing."""


class GenerateResult(Answer):
    """What a finished generate job made: the first version, and how the song came out."""

    version: str = Field(description="the version the job made, e.g. 0001")
    summary: str = Field(description="bars, meter, tempo, key and tracks")
    notes: list[str] = Field(description="what of the request was adjusted and why")
    seconds: dict[str, float] = Field(description="seconds spent per stage")


class EditResult(Answer):
    """What a finished edit made: the new version and the line the history shows for it."""

    version: str = Field(description="the version the job made, e.g. 0002")
    edit: str = Field(description="the history line, e.g. 'regen verse'")


class JobOut(Answer):
    """A queued, running or finished job (`fraction` is the share done of `stage`)."""

    id: str
    project: str
    kind: JobKind
    params: dict[str, Any] = Field(description="the request body that queued the job")
    status: JobStatus
    stage: str
    fraction: float = Field(ge=0, le=1)
    error: str | None = Field(description="why a failed job failed ('cancelled' when it was cancelled)")
    result: GenerateResult | EditResult | None = Field(description="set once the job is done")
    created: float = Field(description="Unix time")
    started: float | None
    finished: float | None
    queue_position: int | None = Field(None, ge=1, description="1 for the next job to run; None unless queued")


class Health(Answer):
    ok: bool
    running: str | None = Field(description="the id of the running job")
    queued: int = Field(ge=0)


class ExportChoices(Answer):
    """What GET .../export.zip accepts, for the studio's export form (the library's lists, as the query checks)."""

    formats: list[str]
    stems: list[str]
    sample_rates: list[int]
    bit_depths: list[int]
    mp3_kbps: list[int]
    lufs: tuple[float, float] = Field(description="lowest and highest master loudness")

    @classmethod
    def of_library(cls) -> ExportChoices:
        from melodex import export

        return cls(formats=list(export.AUDIO_FORMATS), stems=list(export.STEM_KINDS),
                   sample_rates=list(export.SAMPLE_RATES), bit_depths=list(export.BIT_DEPTHS),
                   mp3_kbps=list(export.MP3_KBPS), lufs=export.LUFS_RANGE)


class Choices(Answer):
    """What the controls offer (GET /api/options)."""

    presets: dict[str, float] = Field(description="timbre presets and their guidance")
    default_preset: str
    keys: list[str]
    meters: list[str]
    sections: list[str] = Field(description="section names the form builder offers")
    instruments: list[str]
    sample_rates: list[int]
    renderers: list[str]
    max_bars: int
    max_prompt_chars: int
    export: ExportChoices


class BriefRow(Answer):
    """One line of what the prompt was read as, and where the value came from (prompt, option, style, ...)."""

    what: str
    value: str
    source: str


class VersionOut(Answer):
    """One version in a project's history; `parent` is the version it was made from."""

    id: str
    parent: str | None
    edit: str
    created: float


class ProjectRequest(Answer):
    """What a project was asked for: the prompt with the form builder's sections, and the controls."""

    prompt: str
    form: list[FormSectionIn]
    options: dict[str, Any] = Field(description="the generate options the controls became")


class ProjectListed(Answer):
    id: str
    prompt: str
    created: float
    state: ProjectState
    error: str | None = Field(description="why the project has no music, when state is failed")


class ProjectOut(ProjectListed):
    """A project, its last 20 jobs and, once ready, its versions and how its prompt was read."""

    request: ProjectRequest
    jobs: list[JobOut]
    current: str | None = Field(None, description="the version being played; None until ready")
    history: list[VersionOut] | None = None
    brief: list[BriefRow] | None = None
    brief_notes: list[str] | None = None


class Versions(Answer):
    current: str
    versions: list[VersionOut]


class Created(Answer):
    """A project queued: its id, its generate job, and how the prompt was read."""

    project: str
    job: JobOut
    brief: list[BriefRow]
    notes: list[str] = Field(default_factory=list, description="how the prompt was read where it asked for something "
                             "that cannot be played as written (chords cut to the form, a form longer than the "
                             "length asked for, chords outside the key)")


class Current(Answer):
    current: str = Field(description="the version now current")


class Pruned(Answer):
    """What `prune` dropped: the audio of these versions (their notes, sounds and settings stay)."""

    pruned: list[str] = Field(description="the versions whose audio was dropped; empty when there was none to drop")
    freed_bytes: int = Field(ge=0, description="disk freed (audio other versions share is kept)")
    current: str = Field(description="the current version, never pruned")


class DiffOut(Answer):
    """What changed from version `a` to version `b`, one line per change, as `melodex diff` prints it."""

    a: str = Field(description="the version compared from")
    b: str = Field(description="the version compared to")
    changes: list[str] = Field(description="tempo, key, bars, notes per track and bar, timbres, where the audio "
                               "differs, length; or 'no differences'")


class SectionView(Answer):
    name: str
    start_bar: int = Field(ge=0, description="0-based")
    n_bars: int = Field(ge=1)
    start: float = Field(description="seconds")
    end: float = Field(description="seconds")


class TrackView(Answer):
    number: int = Field(ge=1, description="the track's number, counted from 1: what `track` and `tracks` take, "
                        "and the number of its stem file (01-...)")
    index: int = Field(ge=0, description="the track's place in `tracks`, counted from 0 (number - 1); kept for "
                       "clients written before 2026-12-08: give `number`, not this, to `track` and `tracks`")
    role: str
    program: int = Field(ge=0, le=127, description="General MIDI program")
    instrument: str
    is_drum: bool
    timbre: str = Field(description="the words the track's sound was made from")
    renderer: str
    notes: list[list[float]] = Field(description="[start s, duration s, pitch, velocity] per note")


class ChordView(Answer):
    bar: int = Field(ge=0, description="0-based bar the chord starts in")
    name: str = Field(description="e.g. Am, F, Gmaj7")


class ScoreView(Answer):
    """A version's notes in seconds, for a piano roll and a section timeline (score.json)."""

    version: str
    bpm: float
    meter: str
    key: str
    n_bars: int
    duration: float = Field(description="seconds of audio")
    sample_rate: int
    bar_lines: list[float] = Field(description="the start of every bar, in seconds")
    sections: list[SectionView]
    tracks: list[TrackView]
    changed_bars: list[int] = Field(description="0-based bars whose notes this version changed from its parent, "
                                    "and the bars it added")
    chords: list[ChordView] = Field(description="the chord symbols, in order (a transpose or rechord changes them)")


def file_response(media_type: str, what: str, *errors: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of a route that answers with a file of a version of a ready project: the file
    as a binary of its media type, and its errors (404, 409 while the project is not ready, and `errors`)."""
    return {**problems(*sorted({*errors, 404, 409, 422})),
            200: {"content": {media_type: {"schema": {"type": "string", "format": "binary"}}}, "description": what}}
