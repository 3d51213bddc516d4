"""`melodex eval`: run a prompt set through the pipeline and judge the final audio as a listener would.

    1. prompts    one per line from a text file (data/eval/prompts.txt ships 150+)
    2. generate   each through the pipeline (`make_take`), optionally cut to a few bars to save time
    3. listen     the mix through independent analysers (tempo, key, loudness, peaks, drums); the score
                  against its plan (form, meter, instruments) and through music statistics
    4. compare    the set against SoundFont renders of held-out real scores: Frechet distance and KID
                  on an audio embedding, statistics side by side
    5. report     results.csv, table.md, summary.json and PNG plots in the output folder

Each prompt's result is its own JSON file, written when it is done: an interrupted run picks up where it
stopped. The generator's own numbers (its plan, its declared tempo) are only ever the targets.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from melodex import brief as brief_mod
from melodex.errors import MelodexError
from melodex.evaluate.analysers import ANALYSIS_RATE, key_score, measure_audio, tempo_hits
from melodex.evaluate.embedding import EMBEDDING, embed
from melodex.evaluate.score_stats import plan_obeyed, statistics
from melodex.evaluate.song import song_report
from melodex.score import DRUM_PROGRAM, DUR, START, Score, Track

if TYPE_CHECKING:
    from melodex.pipeline import Progress as StageReport  # (stage, share done)

DEFAULT_PROMPTS = Path("data/eval/prompts.txt")
EVAL_DATA = Path(__file__).resolve().parents[3] / "data" / "eval"
# The shipped prompts split once into halves (issue 14): choose every setting on tuning, report test.
PROMPT_SPLITS = {"all": EVAL_DATA / "prompts.txt", "tuning": EVAL_DATA / "tuning.txt", "test": EVAL_DATA / "test.txt"}
RESULT_VERSION = 1
Progress = Callable[[int, int, str], None]  # (done, total, what)


@dataclass(frozen=True)
class EvalOptions:
    """What decides an evaluation run's numbers (the output folder remembers them)."""

    bars: int | None = 8  # longest track in bars (forms are compressed to fit); None = as the prompt asks
    seed: int = 0
    preset: str = "social"
    cfg: float | None = None
    steps: int = 16
    guidance: float | None = None
    renderer: str = "timbre"
    real: int = 100  # held-out real works rendered for the distance measures
    sample_rate: int = 44100

    def __post_init__(self) -> None:
        if self.bars is not None and not 1 <= self.bars <= brief_mod.MAX_BARS:
            raise MelodexError(f"--bars {self.bars}: use 1-{brief_mod.MAX_BARS} (0 for the length the prompt asks)")
        if not 4 <= self.real <= 2000:
            raise MelodexError(f"--real {self.real}: use 4-2000 held-out works")

    def generate_options(self) -> Any:
        from melodex.pipeline import GenerateOptions

        return GenerateOptions(seed=self.seed, preset=self.preset, timbre_cfg=self.cfg, timbre_steps=self.steps,
                               guidance=self.guidance, renderer=self.renderer, sample_rate=self.sample_rate)


# -- prompts ------------------------------------------------------------------------------------------


def read_prompts(path: Path) -> list[str]:
    """Prompts from a text file: one per line; blank lines and lines starting with # are skipped."""
    if not path.is_file():
        raise MelodexError(f"prompt file {path} does not exist: give one prompt per line (see {DEFAULT_PROMPTS})")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise MelodexError(f"prompt file {path} is not UTF-8 text ({exc})") from exc
    prompts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise MelodexError(f"prompt file {path} holds no prompts (one per line; # starts a comment)")
    return prompts


def split_prompts(split: str) -> list[str]:
    """The prompts of a named split of the shipped set (all, tuning, test), or of a prompt file."""
    return read_prompts(PROMPT_SPLITS.get(split, Path(split)))


def shorten(brief: brief_mod.Brief, max_bars: int | None) -> brief_mod.Brief:
    """At most `max_bars` bars: a form keeps its sections in order, each scaled down (at least one bar,
    trailing sections dropped if even that is too long); the checks then hold the score to this plan."""
    if max_bars is None or brief.n_bars <= max_bars:
        return brief
    sources = {**brief.sources, "length": f"eval --bars {max_bars}"}
    if not brief.sections:
        return replace(brief, n_bars=max_bars, sources=sources)
    scale = max_bars / brief.n_bars
    names = [name for name, _ in brief.sections]
    lengths = [max(1, round(bars * scale)) for _, bars in brief.sections]
    while sum(lengths) > max_bars:
        largest = int(np.argmax(lengths))
        if lengths[largest] > 1:
            lengths[largest] -= 1
        else:
            names.pop()
            lengths.pop()
    form = tuple(zip(names, lengths, strict=True))
    return replace(brief, sections=form, n_bars=sum(b for _, b in form), sources=sources)


# -- one prompt -------------------------------------------------------------------------------------------


def score_checks(brief: brief_mod.Brief, score: Score, events: np.ndarray) -> dict[str, bool]:
    """Does the score obey what was asked? Key and form only where the prompt gave them."""
    checks = plan_obeyed(score, events, brief.plan())
    if brief.key is None:
        checks.pop("key")
    if not brief.sections:
        checks.pop("sections")
    return checks


def evaluate_take(brief: brief_mod.Brief, score: Score, events: np.ndarray, mix: np.ndarray,
                  sample_rate: int) -> dict[str, Any]:
    """Everything measured about one generated track (audio, score, embeddings), as JSON-ready values."""
    from melodex.soundfont import SoundFontSynth

    heard = measure_audio(mix, sample_rate)
    wants_drums = any(p == DRUM_PROGRAM for p, _ in brief.instruments)
    result: dict[str, Any] = {
        "target": {"bpm": brief.bpm, "key": str(brief.key) if brief.key else None,
                   "meter": f"{brief.meter[0]}/{brief.meter[1]}", "bars": brief.n_bars,
                   "form": [list(s) for s in brief.sections] if brief.sections else None,
                   "instruments": [p for p, _ in brief.instruments], "drums": wants_drums,
                   "sources": dict(brief.sources)},
        "audio": heard.to_json(),
        "tempo": tempo_hits(heard.tempo_bpm, brief.bpm),
        "key_score": key_score(brief.key, heard.key) if brief.key else None,
        "declared_key": str(score.key),
        "declared_key_score": key_score(score.key, heard.key),
        # The second, independent analyser (essentia), where installed.
        "tempo_essentia": tempo_hits(heard.tempo_essentia_bpm, brief.bpm) if heard.tempo_essentia_bpm else None,
        "key_score_essentia": (key_score(brief.key, heard.key_essentia) if brief.key and heard.key_essentia
                               else None),
        "drums_right": heard.drums_heard == wants_drums,
        "score": score_checks(brief, score, events),
        "statistics": statistics(score),
        "song": song_report(score, style=brief.named_style),
        "embedding": embed(mix, sample_rate).tolist(),
    }
    # The same notes played by the General MIDI SoundFont, embedded like the real set: separates what
    # the notes contribute to the distance from what the timbres and the mix contribute.
    dry = SoundFontSynth().render(score, ANALYSIS_RATE)
    result["embedding_soundfont"] = embed(dry, ANALYSIS_RATE).tolist()
    return result


def evaluate_prompt(prompt: str, options: EvalOptions, audio_path: Path | None = None,
                    stages: StageReport | None = None) -> dict[str, Any]:
    """Generate one prompt's track and measure it; the mix is written to `audio_path` when given. `stages`
    hears the pipeline's (stage, share done), as `melodex generate` draws them."""
    from melodex.export import write_audio
    from melodex.pipeline import StageClock, make_take, read_brief

    generate_options = options.generate_options()
    started = time.perf_counter()
    brief = shorten(read_brief(prompt, generate_options), options.bars)
    clock = StageClock(stages)
    take = make_take(brief, generate_options, clock)
    seconds = time.perf_counter() - started
    if audio_path is not None:
        audio_path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(audio_path, take.mix, take.sample_rate)
    result = evaluate_take(brief, take.score, take.events, take.mix, take.sample_rate)
    result.update(prompt=prompt, version=RESULT_VERSION, generate_seconds=seconds, stage_seconds=clock.seconds,
                  audio_seconds=len(take.mix) / take.sample_rate)
    return result


# -- the real reference set ------------------------------------------------------------------------------


def first_bars(score: Score, n_bars: int | None) -> Score:
    """The score's first `n_bars` bars (notes cut at the bar line); the whole score when None."""
    if n_bars is None or n_bars >= score.bar_count():
        return score
    end = score.bar_starts(n_bars)[n_bars]
    tracks = []
    for track in score.tracks:
        notes = track.notes[track.notes[:, START] < end].copy()
        notes[:, DUR] = np.minimum(notes[:, DUR], end - notes[:, START])
        tracks.append(Track(track.program, track.role, track.name, notes))
    return replace(score, tracks=tracks, sections=[], chords=[], n_bars=n_bars)


def real_reference(n: int, bars: int | None, seed: int = 0,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """SoundFont renders of `n` held-out corpus works (the 5% validation split, seed 0; works without a
    pitched part left out), each cut like the generated tracks: their embeddings and score statistics."""
    from melodex.data.corpus import load_corpus
    from melodex.soundfont import SoundFontSynth

    _, valid = load_corpus().split(0.05, seed=0)
    pitched = [i for i in range(len(valid)) if any(not t.is_drum and len(t.notes) for t in valid[i].score.tracks)]
    chosen = sorted(np.random.default_rng(seed).choice(len(pitched), min(n, len(pitched)), replace=False))
    synth = SoundFontSynth()
    ids, embeddings, stats = [], [], []
    for done, position in enumerate(chosen):
        work = valid[pitched[position]]
        score = first_bars(work.score, bars)
        embeddings.append(embed(synth.render(score, ANALYSIS_RATE), ANALYSIS_RATE))
        stats.append(statistics(score))
        ids.append(work.attributes.get("id", str(position)))
        if progress:
            progress(done + 1, len(chosen))
    return {"ids": ids, "embeddings": np.array(embeddings), "statistics": stats, "embedding": EMBEDDING,
            "bars": bars, "seed": seed}


def load_or_make_reference(folder: Path, n: int, bars: int | None,
                           progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The real reference set, cached in the folder (reference.json + reference.npy) for later runs."""
    meta_path, array_path = folder / "reference.json", folder / "reference.npy"
    if meta_path.is_file() and array_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("n") == n and meta.get("bars") == bars and meta.get("embedding") == EMBEDDING:
            return {**meta, "embeddings": np.load(array_path)}
    reference = real_reference(n, bars, progress=progress)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(array_path, reference["embeddings"])
    meta = {k: v for k, v in reference.items() if k != "embeddings"}
    meta["n"] = n
    meta_path.write_text(json.dumps(meta))
    return {**meta, "embeddings": reference["embeddings"]}


SONG_REFERENCE_VERSION = 1


def load_or_make_song_reference(folder: Path, training: int = 200) -> dict[str, Any]:
    """The song measures' reference columns (training accompaniment, real songs; whole songs, not cut to
    --bars), cached in the folder as song_reference.json."""
    from melodex.evaluate.song_sets import references

    path = folder / "song_reference.json"
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("version") == SONG_REFERENCE_VERSION and cached.get("n_training") == training:
            return cached
    reference = {"version": SONG_REFERENCE_VERSION, **references(training)}
    write_json(path, reference)
    return reference


# -- the run ---------------------------------------------------------------------------------------------


def result_path(folder: Path, index: int, prompt: str) -> Path:
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    return folder / "takes" / f"{index:03d}-{digest}.json"


def _check_folder(folder: Path, options: EvalOptions) -> None:
    """A folder holds one run's options: resuming with others would mix two experiments."""
    manifest = folder / "eval.json"
    wanted = {k: v for k, v in asdict(options).items() if k != "real"}
    if manifest.is_file():
        had = json.loads(manifest.read_text()).get("options", {})
        if had != wanted:
            changed = ", ".join(sorted(k for k in wanted if had.get(k) != wanted[k]))
            raise MelodexError(f"{folder} holds an evaluation with other options ({changed}): "
                               "use another --out folder, or the same options to resume it")
    folder.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"version": RESULT_VERSION, "options": wanted}, indent=1))


def write_json(path: Path, data: Any) -> None:
    """Write then rename, so an interrupted run never leaves half a result behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data))
    partial.replace(path)


def evaluate_prompt_audio(prompt: str, options: EvalOptions, keep_audio: bool,
                          stages: StageReport | None = None) -> tuple[dict[str, Any], bytes | None]:
    """`evaluate_prompt` with the mix's WAV bytes (when kept): what a Ray task on any node sends back."""
    if not keep_audio:
        return evaluate_prompt(prompt, options, stages=stages), None
    import tempfile

    with tempfile.TemporaryDirectory(prefix="melodex-eval-") as scratch:
        path = Path(scratch) / "mix.wav"
        return evaluate_prompt(prompt, options, path, stages), path.read_bytes()


def run_eval(prompts: list[str], folder: Path, options: EvalOptions, progress: Progress | None = None,
             keep_audio: bool = False, ray: str | None = None,
             stages: StageReport | None = None) -> list[dict[str, Any]]:
    """Evaluate every prompt whose result is not in `folder` yet; return all results in prompt order.
    A prompt that fails (an impossible request) is recorded with its error, not fatal to the run.
    `ray` ("local" or a cluster address) evaluates the prompts as Ray tasks (`melodex.fanout`). `stages` hears
    the pipeline stages of the prompt being made, in this process only (a Ray task's are not sent back)."""
    from melodex.fanout import fan_out

    _check_folder(folder, options)
    paths = [result_path(folder, index, prompt) for index, prompt in enumerate(prompts)]
    pending = [index for index, path in enumerate(paths) if not path.is_file()]
    if progress:
        progress(len(prompts) - len(pending), len(prompts), "starting")
    along = (stages,) if stages is not None and ray is None else ()
    work = [(prompts[index], options, keep_audio, *along) for index in pending]
    for done, (position, made, error) in enumerate(fan_out(evaluate_prompt_audio, work, ray), 1):
        index = pending[position]
        if isinstance(error, MelodexError):
            result, audio = {"prompt": prompts[index], "version": RESULT_VERSION, "error": str(error)}, None
        elif error is not None:
            raise error
        else:
            result, audio = made
        if audio is not None:
            (folder / "audio").mkdir(parents=True, exist_ok=True)
            (folder / "audio" / f"{paths[index].stem}.wav").write_bytes(audio)
        write_json(paths[index], result)
        if progress:
            progress(len(prompts) - len(pending) + done, len(prompts), prompts[index])
    if progress:
        progress(len(prompts), len(prompts), "done")
    return [json.loads(path.read_text()) for path in paths]
