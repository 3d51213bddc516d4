"""`melodex batch`: many tracks from a prompt file, one folder per prompt and seed, resumable.

Each item is exactly `melodex generate PROMPT --seed SEED` with the batch's options (same audio), run in
this process or as a Ray task (`melodex.fanout`). A finished item is recorded in DIR/results.jsonl as
soon as its files are in place and is skipped by the next run; an item that fails is recorded with its
error and the others go on (it is tried again next time). DIR/results.csv is the table of the run.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from melodex.errors import MelodexError
from melodex.fanout import fan_out
from melodex.pipeline import GenerateOptions
from melodex.pipeline import Progress as StageReport

RESULTS = "results.jsonl"
TABLE = "results.csv"
COLUMNS = ("item", "prompt", "seed", "files", "seconds", "error")
Progress = Callable[[int, int, str], None]  # (done, total, what)


@dataclass(frozen=True)
class BatchItem:
    """One track to make: a prompt (its line number in the file) and a seed."""

    number: int
    prompt: str
    seed: int

    @property
    def name(self) -> str:
        """The item's folder: number, seed, the prompt's first words and a digest (two prompts never share)."""
        words = re.sub(r"[^a-z0-9]+", "-", self.prompt.lower()).strip("-")[:32].strip("-") or "prompt"
        digest = hashlib.sha256(self.prompt.encode()).hexdigest()[:6]
        return f"{self.number:04d}-s{self.seed}-{words}-{digest}"


@dataclass(frozen=True)
class ItemResult:
    item: str
    prompt: str
    seed: int
    files: tuple[str, ...]  # paths inside DIR
    seconds: float
    error: str | None = None

    def row(self) -> dict:
        return {**asdict(self), "files": list(self.files)}


def plan_items(prompts: Sequence[str], seeds: Sequence[int]) -> list[BatchItem]:
    if not prompts:
        raise MelodexError("the prompt file holds no prompt: write one prompt per line (# starts a comment)")
    if not seeds:
        raise MelodexError("no seed given: use --seeds 0 or a list like --seeds 0,1,2")
    return [BatchItem(number, prompt, seed) for number, prompt in enumerate(prompts) for seed in seeds]


def make_track(prompt: str, seed: int, options: GenerateOptions,
               stages: StageReport | None = None) -> tuple[dict[str, bytes], float]:
    """Generate one track in a scratch folder; its files (path inside the track folder -> bytes) and seconds.

    The files travel back as bytes, so a Ray task on another machine delivers them to this one. `stages`
    hears generate's (stage, share done), in this process only.
    """
    from melodex.pipeline import generate

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="melodex-batch-") as scratch:
        out = Path(scratch) / "track"
        generate(prompt, out, replace(options, seed=seed), stages)
        files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    return files, time.perf_counter() - started


def read_results(folder: Path) -> dict[str, ItemResult]:
    """The latest recorded result of each item in the folder."""
    path = folder / RESULTS
    latest: dict[str, ItemResult] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
                latest[row["item"]] = ItemResult(row["item"], row["prompt"], int(row["seed"]), tuple(row["files"]),
                                                 float(row["seconds"]), row.get("error"))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by an interruption: that item is simply made again
    return latest


def _finished(folder: Path, result: ItemResult | None) -> bool:
    return result is not None and result.error is None and all((folder / f).is_file() for f in result.files)


def _place(folder: Path, item: BatchItem, files: dict[str, bytes]) -> tuple[str, ...]:
    """Write an item's files into a partial folder, then rename it into place (never half an item)."""
    final, partial = folder / item.name, folder / (item.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for relative, data in files.items():
        path = partial / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    shutil.rmtree(final, ignore_errors=True)  # an earlier failed or unrecorded attempt
    partial.rename(final)
    return tuple(sorted(f"{item.name}/{relative}" for relative in files))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}" if not isinstance(exc, MelodexError) else text[0]


def run_batch(prompts: Sequence[str], folder: Path, options: GenerateOptions, seeds: Sequence[int] = (0,),
              ray: str | None = None, progress: Progress | None = None,
              stages: StageReport | None = None) -> list[ItemResult]:
    """Make every item not finished in `folder` yet; return every item's result in prompt and seed order.

    `progress` hears each finished item; `stages` the stages of the item being made, when they run in this
    process (a Ray task's are not sent back).
    """
    items = plan_items(prompts, seeds)
    folder.mkdir(parents=True, exist_ok=True)
    results = read_results(folder)
    pending = [item for item in items if not _finished(folder, results.get(item.name))]
    done = len(items) - len(pending)
    if progress:
        progress(done, len(items), f"{done} finished before" if done else "starting")
    with (folder / RESULTS).open("a") as log:
        along = (stages,) if stages is not None and ray is None else ()
        work = [(item.prompt, item.seed, options, *along) for item in pending]
        for index, made, error in fan_out(make_track, work, ray):
            item = pending[index]
            if error is None:
                files, seconds = made
                result = ItemResult(item.name, item.prompt, item.seed, _place(folder, item, files), round(seconds, 2))
            else:
                result = ItemResult(item.name, item.prompt, item.seed, (), 0.0, _one_line(error))
            log.write(json.dumps(result.row()) + "\n")
            log.flush()
            results[item.name] = result
            done += 1
            if progress:
                progress(done, len(items), item.prompt)
    ordered = [results[item.name] for item in items]
    with (folder / TABLE).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for r in ordered:
            writer.writerow([r.item, r.prompt, r.seed, " ".join(r.files), r.seconds, r.error or ""])
    return ordered
