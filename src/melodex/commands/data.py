"""`melodex data` commands: build the training corpus from music21 and Debian drum data, and describe it."""

from __future__ import annotations

from pathlib import Path

import typer

from melodex.errors import MelodexError

data_app = typer.Typer(
    help=(
        "The training corpus: ~15,000 works (folk tunes, chorales, polyphony, classical pieces, drum "
        "patterns) converted to melodex Scores with attributes and captions, committed in data/corpus/.\n\n"
        "See what is there:    melodex data info\n"
        "Rebuild it (tens of minutes, resumable): melodex data build"
    ),
    no_args_is_help=True,
)


BUILD_HELP = (
    "Convert the music21 corpus and Debian drum patterns into the dataset.\n\n"
    "Every source file's result is cached as soon as it is parsed, so an interrupted build picks up "
    "where it stopped: run the same command again. Works that fail to parse are counted per collection "
    "and listed in the manifest, never dropped silently.\n\n"
    "Quick check (a minute or two, 3 works of every collection):  "
    "melodex data build --limit 3 --out /tmp/corpus-check\n\n"
    "Everything, into data/corpus/ (tens of minutes on 2 cores):  melodex data build"
)


@data_app.command("build", help=BUILD_HELP)
def build(
    out: Path = typer.Option(None, "--out", help="Dataset directory to write (default: the repo's data/corpus)."),
    jobs: int = typer.Option(
        2,
        "--jobs",
        "-j",
        min=1,
        help="Worker processes. Big ABC files are split into runs of 40 tunes, so the workers stay balanced.",
    ),
    limit: int = typer.Option(
        None, "--limit", min=1, help="At most N works per collection: a quick check of the whole pipeline."
    ),
    collections: list[str] = typer.Option(
        None, "--collection", "-c", help="Only this collection (repeatable), e.g. -c bach -c oneills1850."
    ),
    cache: Path = typer.Option(
        None, "--cache", help="Where finished source files are cached (default: .cache/corpus-build)."
    ),
    no_drums: bool = typer.Option(False, "--no-drums", help="Skip the hydrogen and LMMS drum patterns."),
    ray: str = typer.Option(None, "--ray", help="Convert the source files as Ray tasks instead of --jobs "
                            "processes: 'local' (this machine) or a cluster address ('auto', 'ray://head:10001') "
                            "whose nodes have melodex set up. Needs bash scripts/setup.sh --extras=scale"),
) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from melodex.data.build import BuildOptions, build_corpus
    from melodex.data.corpus import DEFAULT_CORPUS_DIR

    defaults = BuildOptions()
    options = BuildOptions(
        out_dir=out or DEFAULT_CORPUS_DIR,
        cache_dir=cache or defaults.cache_dir,
        jobs=jobs,
        limit=limit,
        collections=tuple(collections or ()),
        drums=not no_drums,
        ray=ray,
    )
    with Progress(
        TextColumn("[bold]corpus"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("works"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
    ) as bar:
        task_id = bar.add_task("planning", total=None)

        def report(done: int, total: int, label: str) -> None:
            bar.update(task_id, completed=done, total=total, description=label[-40:])

        result = build_corpus(options, report)
    typer.echo(
        f"built {result.out_dir} in {result.seconds:.0f} s ({result.tasks_run} tasks parsed, "
        f"{result.tasks_cached} from cache)"
    )
    typer.echo(manifest_summary(result.manifest))


@data_app.command("info")
def info(
    path: Path = typer.Option(None, "--path", help="Dataset directory (default: the repo's data/corpus)."),
    errors: bool = typer.Option(False, "--errors", help="Also list the first parse errors of each collection."),
) -> None:
    """Print the dataset's version, counts per collection (works, notes, bars, failures) and file sizes.

    The files are checked against the manifest's SHA-256 sums first, so a damaged dataset is reported.
    """
    from melodex.data.corpus import DEFAULT_CORPUS_DIR, load_corpus

    corpus = load_corpus(path or DEFAULT_CORPUS_DIR)
    typer.echo(manifest_summary(corpus.manifest, errors=errors))


def manifest_summary(manifest: dict, errors: bool = False) -> str:
    """A table of the manifest: one line per collection and a total."""
    if "collections" not in manifest:
        raise MelodexError("the manifest has no collection counts; rebuild with `melodex data build`")
    lines = [
        f"melodex corpus {manifest.get('dataset_version')} (format {manifest.get('version')}, "
        f"TPQ {manifest.get('tpq')})",
        f"{'collection':<22}{'works':>8}{'notes':>11}{'bars':>9}{'failures':>10}",
    ]
    for name, stat in manifest["collections"].items():
        lines.append(f"{name:<22}{stat['works']:>8}{stat['notes']:>11}{stat['bars']:>9}{stat['failures']:>10}")
        if errors:
            lines.extend(f"    {message}" for message in stat.get("first_errors", []))
    totals = manifest["totals"]
    failures = sum(s["failures"] for s in manifest["collections"].values())
    lines.append(f"{'total':<22}{totals['works']:>8}{totals['notes']:>11}{totals['bars']:>9}{failures:>10}")
    sizes = ", ".join(f"{name} {f['bytes'] / 1e6:.2f} MB" for name, f in manifest.get("files", {}).items())
    lines.append(f"files: {sizes}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add this family's commands to the app."""
    app.add_typer(data_app, name="data")
