"""`melodex data build`: convert the music21 corpus and the Debian drum data into the committed dataset.

Source files are split into tasks (big ABC collections into chunks of tunes, so both cores stay
busy), each task's result is cached under the build cache directory as soon as it is done, and the
dataset is assembled from the cache at the end; an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import re
import subprocess
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from melodex.data import sources
from melodex.data.corpus import DEFAULT_CORPUS_DIR, WorkEntry, chords_to_json, score_header, write_corpus
from melodex.errors import MelodexError

DATASET_VERSION = "1.0"
CONVERTER_VERSION = 1  # bump when conversion output changes, so cached task results are not reused
ABC_TUNES_PER_TASK = 40
DEFAULT_CACHE_DIR = DEFAULT_CORPUS_DIR.parents[1] / ".cache" / "corpus-build"
HYDROGEN_DIR = Path("/usr/share/hydrogen/data")
LMMS_DIR = Path("/usr/share/lmms")
MAX_ERRORS_KEPT = 5
# ABC files whose tunes (X: blocks) are the voices of one piece, not separate works.
MERGED_ABC_COLLECTIONS = ("josquin",)


@dataclass(frozen=True)
class BuildOptions:
    out_dir: Path = DEFAULT_CORPUS_DIR
    cache_dir: Path = DEFAULT_CACHE_DIR
    jobs: int = 2
    limit: int | None = None  # at most this many works per collection (quick checks)
    collections: tuple[str, ...] = ()  # only these collections ("" = all)
    drums: bool = True
    ray: str | None = None  # run the source files as Ray tasks: "local" or a cluster address (melodex.fanout)


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    manifest: dict[str, Any]
    tasks_run: int
    tasks_cached: int
    seconds: float


@dataclass(frozen=True)
class Task:
    """One unit of parallel work: a source file, or a run of tunes inside a big ABC file."""

    collection: str
    path: str
    relpath: str
    kind: str  # "abc", "music21", "hydrogen", "lmms"
    first: int = 0
    last: int = 0  # ABC tune blocks [first, last)
    weight: int = 1  # works expected (for the progress bar)
    cost: int = 0  # bytes to parse (for scheduling the slowest first)

    @property
    def key(self) -> str:
        return f"{self.collection}/{self.relpath}#{self.first}-{self.last}"

    def cache_name(self) -> str:
        digest = hashlib.sha1(self.key.encode()).hexdigest()[:12]
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", self.relpath)[-60:]
        return f"{self.collection}--{stem}--{self.first}-{self.last}--{digest}.npz"


# -- planning --------------------------------------------------------------------------------------


def music21_corpus_dir() -> Path:
    try:
        import music21
    except ImportError as exc:
        raise MelodexError(
            "building the corpus needs music21; install it with `.venv/bin/pip install -e '.[data]'`"
        ) from exc
    return Path(music21.__file__).parent / "corpus"


def abc_blocks(text: str) -> tuple[str, list[str]]:
    """Split an ABC file into its file header and one text block per tune (each starting at X:)."""
    pieces = re.split(r"(?m)^(?=X:)", text)
    header = pieces[0] if pieces and not pieces[0].startswith("X:") else ""
    blocks = [p for p in pieces if p.startswith("X:")]
    return header, blocks


def read_abc(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def plan_tasks(options: BuildOptions) -> list[Task]:
    """Every task of the build, in a fixed order (the order works appear in the dataset)."""
    from music21 import corpus as m21corpus

    root = music21_corpus_dir()
    tasks: list[Task] = []
    budget: dict[str, int] = defaultdict(lambda: options.limit if options.limit is not None else 1 << 30)
    wanted = set(options.collections)
    for path in sorted(Path(p) for p in m21corpus.getPaths()):
        relpath = path.relative_to(root).as_posix()
        collection = relpath.split("/")[0]
        if (wanted and collection not in wanted) or budget[collection] <= 0:
            continue
        if path.suffix == ".abc" and collection not in MERGED_ABC_COLLECTIONS:
            _, blocks = abc_blocks(read_abc(path))
            count = min(len(blocks), budget[collection])
            budget[collection] -= count
            for first in range(0, count, ABC_TUNES_PER_TASK):
                last = min(count, first + ABC_TUNES_PER_TASK)
                cost = sum(len(b) for b in blocks[first:last])
                tasks.append(Task(collection, str(path), relpath, "abc", first, last, last - first, cost))
        else:
            budget[collection] -= 1
            tasks.append(Task(collection, str(path), relpath, "music21", 0, 0, 1, path.stat().st_size))
    if options.drums:
        from melodex.data import drums

        for collection, kind, path in drums.drum_sources(HYDROGEN_DIR, LMMS_DIR):
            if (wanted and collection not in wanted) or budget[collection] <= 0:
                continue
            budget[collection] -= 1
            base = HYDROGEN_DIR if kind == "hydrogen" else LMMS_DIR
            relpath = path.relative_to(base).as_posix()
            tasks.append(Task(collection, str(path), relpath, kind, 0, 0, 1, path.stat().st_size))
    return tasks


# -- one task --------------------------------------------------------------------------------------


def _abc_field(block: str, name: str) -> str:
    found = re.search(rf"(?m)^{name}:\s*(.*)$", block)
    return found.group(1).strip().rstrip("]").strip() if found else ""


def _work_record(work_id: str, task: Task, converted: Any, meta: dict[str, str]) -> tuple[dict[str, Any], Any]:
    from melodex.data.chords import estimate_bar_chords

    score = converted.score
    estimated = estimate_bar_chords(score)
    record = {
        "id": work_id,
        "collection": task.collection,
        "source": task.relpath + (work_id[work_id.index("#") :] if "#" in work_id else ""),
        "meta": meta,
        "facts": converted.facts,
        "score": score_header(score),
        "estimated_chords": chords_to_json(estimated),
    }
    notes = np.concatenate([t.notes for t in score.tracks]) if score.tracks else np.zeros((0, 4))
    return record, notes


@contextlib.contextmanager
def _without_beaming() -> Iterator[None]:
    """Skip music21's beaming while translating ABC: beams are engraving only (they change no pitch,
    offset or duration) and take about three quarters of the ABC parse time."""
    from music21 import stream

    saved = stream.Part.makeBeams
    stream.Part.makeBeams = lambda self, *args, **kwargs: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        stream.Part.makeBeams = saved  # type: ignore[method-assign]


def _music21_works(task: Task) -> Iterable[tuple[str, dict[str, str], Callable[[], Any]]]:
    """(work id, metadata, a function that parses the work) for each work of a music21 task."""
    from music21 import converter, stream
    from music21.abcFormat import ABCHandler, translate

    base_id = f"{task.collection}/{task.relpath.split('/', 1)[1]}"
    if task.kind == "abc":
        header, blocks = abc_blocks(read_abc(Path(task.path)))
        seen: dict[str, int] = defaultdict(int)
        for index, block in enumerate(blocks):
            number = _abc_field(block, "X") or str(index + 1)
            seen[number] += 1
            if index < task.first:
                continue
            if index >= task.last:
                break
            suffix = number if seen[number] == 1 else f"{number}~{seen[number]}"
            meta = {
                "title": _abc_field(block, "T"),
                "rhythm_field": _abc_field(block, "R"),
                "origin": _abc_field(block, "O"),
                "composer": _abc_field(block, "C"),
            }

            def parse(text: str = header + block) -> Any:
                handler = ABCHandler()
                handler.process(text)
                with _without_beaming():
                    return translate.abcToStreamScore(handler)

            yield f"{base_id}#{suffix}", meta, parse
        return
    # No pickle cache: each file is parsed once per build, and music21's pickling costs a third of the time.
    parsed = converter.parse(task.path, forceSource=True, storePickle=False)
    if isinstance(parsed, stream.Opus) and task.collection in MERGED_ABC_COLLECTIONS:
        parsed = parsed.mergeScores()
    scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    for index, work in enumerate(scores):
        work_meta = work.metadata
        meta = {
            "title": str(work_meta.title or work_meta.movementName or "") if work_meta else "",
            "composer": str(work_meta.composer or "") if work_meta else "",
            "rhythm_field": "",
            "origin": "",
        }
        suffix = f"#{index + 1}" if len(scores) > 1 else ""
        yield f"{base_id}{suffix}", meta, _parsed(work)


def _parsed(work: Any) -> Callable[[], Any]:
    """A parse function for a work music21 has already parsed (as part of a multi-work file)."""
    return lambda: work


def run_task(task: Task) -> tuple[list[dict[str, Any]], list[np.ndarray], list[dict[str, str]]]:
    """Convert every work of one task: (records, note arrays, failures)."""
    records: list[dict[str, Any]] = []
    arrays: list[np.ndarray] = []
    failures: list[dict[str, str]] = []
    if task.kind in ("hydrogen", "lmms"):
        from melodex.data import drums

        try:
            for work_id, meta, converted in drums.convert_drum_file(Path(task.path), task.collection, task.relpath):
                record, notes = _work_record(work_id, task, converted, meta)
                records.append(record)
                arrays.append(notes)
        except Exception as exc:  # a broken file is a counted failure, never a crash of the build
            failures.append({"id": f"{task.collection}/{task.relpath}", "error": _one_line(exc)})
        return records, arrays, failures

    from melodex.data.convert import convert_music21

    try:
        works = list(_music21_works(task))
    except Exception as exc:  # the whole file failed to parse
        failures.append({"id": f"{task.collection}/{task.relpath}", "error": _one_line(exc)})
        return records, arrays, failures
    for work_id, meta, parse in works:
        try:
            rhythm = sources.rhythm_name(meta.get("rhythm_field", ""))
            converted = convert_music21(parse(), task.collection, rhythm, task.relpath.endswith(".rntxt"))
            record, notes = _work_record(work_id, task, converted, meta)
        except Exception as exc:  # one bad tune fails alone, and is counted
            failures.append({"id": work_id, "error": _one_line(exc)})
            continue
        records.append(record)
        arrays.append(notes)
    return records, arrays, failures


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text[:300]


def _cache_path(options: BuildOptions, task: Task) -> Path:
    return options.cache_dir / cache_version() / task.cache_name()


def cache_version() -> str:
    return f"v{CONVERTER_VERSION}-music21-{metadata.version('music21')}"


def _run_and_cache(job: tuple[Task, str]) -> tuple[Task, int, int, float]:
    """Worker entry: run one task and write its result to the cache (atomically)."""
    task, cache_file = job
    meta, notes = convert_task(task)
    _write_cache(Path(cache_file), meta, notes)
    return task, len(meta["records"]), len(meta["failures"]), meta["seconds"]


def convert_task(task: Task) -> tuple[dict[str, Any], np.ndarray]:
    """One task's cache content (records, failures, seconds; the notes): what a Ray task sends back."""
    started = time.perf_counter()
    try:
        records, arrays, failures = run_task(task)
    except Exception as exc:  # belt and braces: never lose a whole task silently
        records, arrays, failures = [], [], [{"id": task.key, "error": _one_line(exc) + " " + traceback.format_exc(-1)}]
    seconds = time.perf_counter() - started
    notes = np.concatenate(arrays).astype(np.int32) if arrays else np.zeros((0, 4), dtype=np.int32)
    meta = {"task": task.key, "records": records, "failures": failures, "seconds": seconds}
    for record, array in zip(records, arrays, strict=True):
        record["n_notes"] = len(array)
    return meta, notes


def _write_cache(path: Path, meta: dict[str, Any], notes: np.ndarray) -> None:
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, notes=notes, meta=blob)
    os.replace(tmp, path)


def _read_cache(path: Path) -> tuple[dict[str, Any], np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(archive["meta"].tobytes().decode())
        return meta, archive["notes"].astype(np.int64)


# -- the whole build -------------------------------------------------------------------------------


def _debian_version(package: str) -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True, check=False
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _provenance(collection: str) -> dict[str, str]:
    if collection == "hydrogen":
        return {
            "package": "hydrogen-data (Debian)",
            "version": _debian_version("hydrogen-data"),
            "path": str(HYDROGEN_DIR / "demo_songs"),
        }
    if collection == "lmms":
        return {
            "package": "lmms-common (Debian)",
            "version": _debian_version("lmms-common"),
            "path": str(LMMS_DIR / "projects"),
        }
    return {"package": "music21 (PyPI)", "version": metadata.version("music21"), "path": f"music21/corpus/{collection}"}


def build_corpus(options: BuildOptions, progress: Callable[[int, int, str], None] | None = None) -> BuildResult:
    """Run (or resume) the build and write the dataset to options.out_dir.

    `progress(done_works, total_works, label)` is called as tasks finish.
    """
    from melodex.data.captions import make_attributes, make_captions

    started = time.perf_counter()
    tasks = plan_tasks(options)
    if not tasks:
        raise MelodexError("nothing to build: no source files matched (check --collections)")
    cache_root = options.cache_dir / cache_version()
    cache_root.mkdir(parents=True, exist_ok=True)
    pending = [t for t in tasks if not _cache_path(options, t).is_file()]
    total = sum(t.weight for t in tasks)
    done = total - sum(t.weight for t in pending)
    if progress:
        progress(done, total, f"{len(tasks) - len(pending)} of {len(tasks)} tasks cached")
    # Slowest first, so a big file does not start last and leave one core idle at the end.
    jobs = [(t, str(_cache_path(options, t))) for t in sorted(pending, key=lambda t: -t.cost)]
    if jobs:
        if options.ray is not None:
            from melodex.fanout import fan_out

            # Ray's workers (on any node) convert; this machine writes each result to its cache.
            for index, made, error in fan_out(convert_task, [(task,) for task, _ in jobs], options.ray):
                if error is not None:
                    raise error
                task, cache_file = jobs[index]
                _write_cache(Path(cache_file), *made)
                done += task.weight
                if progress:
                    progress(done, total, task.relpath)
        elif options.jobs <= 1:
            outcomes: Iterable[tuple[Task, int, int, float]] = map(_run_and_cache, jobs)
            for task, _, _, _ in outcomes:
                done += task.weight
                if progress:
                    progress(done, total, task.relpath)
        else:
            context = multiprocessing.get_context("fork")
            with context.Pool(options.jobs, maxtasksperchild=25) as pool:
                for task, _, _, _ in pool.imap_unordered(_run_and_cache, jobs):
                    done += task.weight
                    if progress:
                        progress(done, total, task.relpath)

    entries: list[WorkEntry] = []
    stats: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"works": 0, "notes": 0, "bars": 0, "failures": 0, "errors": [], "task_seconds": 0.0}
    )
    skipped: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for task in tasks:
        meta, notes = _read_cache(_cache_path(options, task))
        stat = stats[task.collection]
        stat["task_seconds"] += meta["seconds"]
        for failure in meta["failures"]:
            stat["failures"] += 1
            if len(stat["errors"]) < MAX_ERRORS_KEPT:
                stat["errors"].append(f"{failure['id']}: {failure['error']}")
        offset = 0
        for record in meta["records"]:
            work_notes = notes[offset : offset + record["n_notes"]]
            offset += record["n_notes"]
            attributes = make_attributes(record, work_notes)
            captions = make_captions(attributes)
            for name in ("skipped_grace", "skipped_unpitched", "merged_ties", "duplicates_dropped"):
                skipped[task.collection][name] += int(record["facts"].get(name, 0))
            entries.append(
                WorkEntry(
                    record={
                        "id": record["id"],
                        "attributes": attributes,
                        "captions": captions,
                        "score": record["score"],
                        "estimated_chords": record["estimated_chords"],
                    },
                    notes=work_notes,
                )
            )
            stat["works"] += 1
            stat["notes"] += len(work_notes)
            stat["bars"] += record["score"]["n_bars"]
    collections = {}
    for name in sorted(stats):
        stat = stats[name]
        collections[name] = {
            "works": stat["works"],
            "notes": stat["notes"],
            "bars": stat["bars"],
            "failures": stat["failures"],
            "first_errors": stat["errors"],
            "skipped_and_merged": dict(skipped[name]),
            "task_seconds": round(stat["task_seconds"], 1),
            "licence": sources.collection(name).licence,
            "provenance": _provenance(name),
        }
    manifest = {
        "dataset_version": DATASET_VERSION,
        "converter_version": CONVERTER_VERSION,
        "limit_per_collection": options.limit,
        "bpm_unit": "quarter notes per minute",
        "collections": collections,
        "build": {
            "task_seconds_total": round(sum(s["task_seconds"] for s in stats.values()), 1),
            "tasks": len(tasks),
        },
    }
    written = write_corpus(options.out_dir, entries, manifest)
    return BuildResult(
        out_dir=options.out_dir,
        manifest=written,
        tasks_run=len(jobs),
        tasks_cached=len(tasks) - len(jobs),
        seconds=time.perf_counter() - started,
    )
