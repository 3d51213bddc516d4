"""The three sets the song measures compare: songs the shipped model composes for prompts (score only, no
audio), the accompaniment the structure model trains on (`train.structure_data.augment`), and real songs
(`data.real_songs`), each reduced to `song.summarise` and printed as one table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from melodex.errors import MelodexError
from melodex.evaluate.song import DESCRIPTIONS, METRICS, estimated_key, song_report, summarise

Progress = Callable[[int, int, str], None]
SHARE_ROWS = ("tonic_start", "tonic_end")  # 0/1 per song: the mean is the share of songs


def generated_reports(prompts: list[str], seeds: list[int], bars: int | None = None,
                      progress: Progress | None = None, arrangement: str = "song",
                      decoding: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Compose every prompt x seed as `melodex generate` does (brief, then the structure model under its
    plan; no timbres, no audio) and measure the score. `bars` cuts each song like `melodex eval --bars`;
    `decoding` overrides `GenerateOptions` fields (guidance, temperature, drum_temperature, ...), so that
    a setting is chosen on the tuning prompts before it ships. A prompt the pipeline refuses is recorded
    with its error."""
    from melodex.evaluate.listen import shorten
    from melodex.pipeline import GenerateOptions, compose, read_brief, seed_for, shipped

    reports: list[dict[str, Any]] = []
    total = len(prompts) * len(seeds)
    for seed in seeds:
        options = replace(GenerateOptions(seed=seed, arrangement=arrangement), **(decoding or {}))
        for prompt in prompts:
            if progress:
                progress(len(reports), total, prompt)
            started = time.perf_counter()
            try:
                brief = shorten(read_brief(prompt, options), bars)
                score, _ = compose(brief, options, seed_for(seed, "compose"), shipped().structure)
            except MelodexError as exc:
                reports.append({"prompt": prompt, "seed": seed, "error": str(exc)})
                continue
            named = brief.named_style  # grooves are judged by the style the prompt named
            report = song_report(score, style=named)
            report.update(prompt=prompt, seed=seed, style=named, plays_as=brief.style,
                          bars=score.bar_count(),
                          compose_seconds=time.perf_counter() - started)
            reports.append(report)
    return reports


def training_reports(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` training examples the way the structure model sees them (`augment` on works of the training
    split, seeded), keeping those that `accompany` arranged (melody + chords + bass + drums), measured with
    their chord symbols and their style."""
    from melodex.data.corpus import load_corpus
    from melodex.train.structure_data import DrumBank, augment

    corpus = load_corpus()
    train, _ = corpus.split(0.05, seed=0)
    drums = DrumBank.from_corpus(corpus)
    rng = np.random.default_rng(seed)
    reports: list[dict[str, Any]] = []
    for _ in range(200 * n):
        if len(reports) >= n:
            break
        position = int(rng.integers(len(train)))
        work = train[position]
        example = augment(work.score, work.attributes, work.captions, train.estimated_chords(position), rng, drums)
        if any(step.startswith("accompaniment") for step in example.augmentations):
            report = song_report(example.score, style=example.style)
            report.update(work=work.attributes.get("id", str(position)), style=example.style)
            reports.append(report)
    return reports


def real_reports(chords: str = "estimated") -> list[dict[str, Any]]:
    """Every installed real song (freedoom, OpenMSX), chords estimated per bar from its notes and key
    from its pitch classes (their MIDI files carry neither reliably); style unknown, so backbeat and four
    on the floor are both measured."""
    from melodex.data.real_songs import load_real_songs

    songs, _ = load_real_songs()
    reports = []
    for song in songs:
        report = song_report(song.score, key=estimated_key(song.score), chords=chords)
        report.update(song=song.name, source=song.source)
        reports.append(report)
    return reports


def _cell(stats: dict[str, Any], name: str) -> str:
    if not stats["n"]:
        return "-"
    if name in SHARE_ROWS:
        return f"{100 * stats['mean']:.0f}% of {stats['n']}"
    return f"{stats['median']:.2f} [{stats['q1']:.2f}-{stats['q3']:.2f}] n={stats['n']}"


def table_lines(columns: dict[str, list[dict[str, Any]]]) -> list[str]:
    """A markdown table: one row per song measure, one column per set of song reports."""
    return summary_table({f"{name} ({len(reports)})": summarise([r for r in reports if "error" not in r])
                          for name, reports in columns.items()})


def summary_table(summaries: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """The table of `song.summarise` results, one column each: median [quartiles] n=songs with a value;
    the tonic start/end rows give the share of songs."""
    lines = ["| measure | " + " | ".join(summaries) + " |", "|---|" + "---|" * len(summaries)]
    for metric in METRICS:
        cells = [_cell(summary[metric], metric) for summary in summaries.values()]
        lines.append(f"| {metric}: {DESCRIPTIONS[metric]} | " + " | ".join(cells) + " |")
    return lines


def references(training: int = 200) -> dict[str, Any]:
    """The summaries of the training accompaniment and of the real songs (left out, with the reason, when
    the packages are not installed): the reference columns of `melodex eval`."""
    from melodex.data.real_songs import RealSongsError

    out: dict[str, Any] = {"training": summarise(training_reports(training)), "n_training": training}
    try:
        real = real_reports()
        out["real"], out["n_real"] = summarise(real), len(real)
    except RealSongsError as exc:
        out["real_missing"] = str(exc)
    return out
