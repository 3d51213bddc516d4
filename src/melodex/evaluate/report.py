"""The numbers of an evaluation run: per-prompt table, summary, distances to the real set, and plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from melodex.evaluate.embedding import EMBEDDING, frechet_distance, kernel_inception_distance, standardise
from melodex.evaluate.song import summarise as song_summary

STATISTICS = ("pitch_class_entropy", "scale_consistency", "in_declared_key", "polyphony", "pitch_range",
              "mean_duration_beats", "notes_per_bar", "groove_consistency", "empty_bar_rate", "silent_track_rate")


def _rate(values: list[bool]) -> float | None:
    return float(np.mean(values)) if values else None


def distances(generated: np.ndarray, real: np.ndarray, scale: np.ndarray | None = None,
              seed: int = 0) -> dict[str, float | None]:
    """Frechet distance and KID of `generated` against `real`, both z-scored by the `scale` set (default:
    `real` itself; pass the whole real set when `real` is only part of it). With fewer than two songs on a
    side neither is defined: their values are None (the report says how many it needs)."""
    if min(len(generated), len(real)) < 2:
        return {"frechet": None, "kid": None, "kid_sd": None, "n_generated": len(generated), "n_real": len(real)}
    _, real_z, generated_z = standardise(real if scale is None else scale, real, generated)
    kid, kid_sd = kernel_inception_distance(generated_z, real_z, seed=seed)
    return {"frechet": frechet_distance(generated_z, real_z), "kid": kid, "kid_sd": kid_sd,
            "n_generated": len(generated), "n_real": len(real)}


def real_floor(real: np.ndarray, seed: int = 0) -> dict[str, float | None]:
    """Distances between two random halves of the real set: what 'indistinguishable' measures at this n."""
    order = np.random.default_rng(seed).permutation(len(real))
    half = len(real) // 2
    return distances(real[order[:half]], real[order[half:]], scale=real, seed=seed)


def analyser_rates(done: list[dict[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """Per analyser (librosa: chroma + Krumhansl, onset tempo; essentia: KeyExtractor, RhythmExtractor2013):
    key exact and MIREX weighted over the prompts with an explicit key, tempo Acc1 (within 4%) and Acc2
    (x2, x3, x1/2, x1/3 allowed) over all prompts."""
    out: dict[str, dict[str, float | int | None]] = {}
    for name, key_field, tempo_field in (("librosa", "key_score", "tempo"),
                                         ("essentia", "key_score_essentia", "tempo_essentia")):
        keys = [r[key_field] for r in done if r.get(key_field) is not None]
        tempos = [r[tempo_field] for r in done if r.get(tempo_field) is not None]
        out[name] = {"key_n": len(keys), "key_exact": _rate([k == 1.0 for k in keys]),
                     "key_weighted": float(np.mean(keys)) if keys else None, "tempo_n": len(tempos),
                     "tempo_acc1": _rate([t["tempo_exact"] for t in tempos]),
                     "tempo_acc2": _rate([t["tempo_acc2"] for t in tempos])}
    return out


def summarise(results: list[dict[str, Any]], reference: dict[str, Any],
              song_reference: dict[str, Any] | None = None) -> dict[str, Any]:
    done = [r for r in results if "error" not in r]
    explicit_bpm = [r for r in done if r["target"]["sources"].get("bpm") == "prompt"]
    explicit_key = [r for r in done if r["key_score"] is not None]
    summary: dict[str, Any] = {
        "prompts": len(results), "measured": len(done), "failed": len(results) - len(done),
        "errors": [(r["prompt"], r["error"]) for r in results if "error" in r],
        "embedding": EMBEDDING,
    }
    if not done:
        return summary
    for name in ("tempo_exact", "tempo_octave", "tempo_acc2"):
        summary[name] = _rate([r["tempo"][name] for r in done])
        summary[f"{name}_explicit"] = _rate([r["tempo"][name] for r in explicit_bpm])
    folded = [min(abs(np.log2(r["audio"]["tempo_bpm"] / r["target"]["bpm"]) - k) for k in (-1, 0, 1)) for r in done]
    summary["tempo_median_error_pct_octave_folded"] = float((2 ** np.median(folded) - 1) * 100)
    summary["n_explicit_bpm"], summary["n_explicit_key"] = len(explicit_bpm), len(explicit_key)
    if explicit_key:
        scores = [r["key_score"] for r in explicit_key]
        summary["key_weighted"] = float(np.mean(scores))
        summary["key_exact"] = float(np.mean([s == 1.0 for s in scores]))
    summary["analysers"] = analyser_rates(done)
    declared = [r["declared_key_score"] for r in done]
    summary["declared_key_weighted"] = float(np.mean(declared))
    summary["declared_key_exact"] = float(np.mean([s == 1.0 for s in declared]))
    lufs = np.array([r["audio"]["loudness_lufs"] for r in done])
    peaks = np.array([r["audio"]["true_peak_dbtp"] for r in done])
    summary.update(
        loudness_mean=float(lufs.mean()), loudness_sd=float(lufs.std()),
        loudness_within_1lu_of_minus14=float(np.mean(np.abs(lufs + 14) <= 1)),
        true_peak_max=float(peaks.max()), true_peak_over_minus1=float(np.mean(peaks > -1.0)),
        clipped_tracks=float(np.mean([r["audio"]["clipped_fraction"] > 0 for r in done])),
        drums_right=_rate([r["drums_right"] for r in done]),
        drums_missed=_rate([not r["audio"]["drums_heard"] for r in done if r["target"]["drums"]]),
        drums_phantom=_rate([r["audio"]["drums_heard"] for r in done if not r["target"]["drums"]]),
        generate_seconds_mean=float(np.mean([r["generate_seconds"] for r in done])),
        audio_seconds_mean=float(np.mean([r["audio_seconds"] for r in done])),
    )
    checks: dict[str, list[bool]] = {}
    for r in done:
        for name, ok in r["score"].items():
            checks.setdefault(name, []).append(ok)
    summary["score_checks"] = {name: float(np.mean(v)) for name, v in checks.items()}
    summary["score_checks_n"] = {name: len(v) for name, v in checks.items()}
    songs = [r["song"] for r in done if "song" in r]  # runs from before the song measures lack them
    if songs:
        summary["song"] = {"generated": song_summary(songs), "n_generated": len(songs), **(song_reference or {})}
    real_stats = reference["statistics"]
    summary["statistics"] = {
        name: {"generated": [float(np.mean(g)), float(np.std(g))], "real": [float(np.mean(q)), float(np.std(q))]}
        for name in STATISTICS
        if all(name in r["statistics"] for r in done) and all(name in s for s in real_stats)  # older runs lack some
        for g, q in [([r["statistics"][name] for r in done], [s[name] for s in real_stats])]
    }
    real = np.asarray(reference["embeddings"])
    summary["distance_mix"] = distances(np.array([r["embedding"] for r in done]), real)
    summary["distance_soundfont"] = distances(np.array([r["embedding_soundfont"] for r in done]), real)
    summary["distance_real_halves"] = real_floor(real)
    return summary


TABLE_COLUMNS = ("#", "prompt", "bpm asked", "bpm heard", "tempo", "key asked", "key heard", "key score",
                 "LUFS", "true peak", "drums asked/heard", "score checks")


def table_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for index, r in enumerate(results):
        if "error" in r:
            rows.append([str(index), r["prompt"], "error: " + r["error"], *[""] * (len(TABLE_COLUMNS) - 3)])
            continue
        tempo = "exact" if r["tempo"]["tempo_exact"] else "octave" if r["tempo"]["tempo_octave"] else \
            "x3" if r["tempo"]["tempo_acc2"] else "miss"
        failed = [k for k, ok in r["score"].items() if not ok]
        rows.append([
            str(index), r["prompt"], str(r["target"]["bpm"]), f"{r['audio']['tempo_bpm']:.1f}", tempo,
            r["target"]["key"] or f"({r['declared_key']})", r["audio"]["key"],
            f"{r['key_score'] if r['key_score'] is not None else r['declared_key_score']:.1f}",
            f"{r['audio']['loudness_lufs']:.1f}", f"{r['audio']['true_peak_dbtp']:.1f}",
            f"{'yes' if r['target']['drums'] else 'no'}/{'yes' if r['audio']['drums_heard'] else 'no'}",
            "all" if not failed else "failed: " + ", ".join(failed),
        ])
    return rows


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def summary_markdown(summary: dict[str, Any]) -> list[str]:
    """The headline numbers as markdown lines (for table.md and docs/RESULTS.md)."""
    if not summary.get("measured"):
        return [f"No prompt was measured ({summary['failed']} failed)."]
    s = summary
    lines = [
        f"- prompts: {s['prompts']} ({s['measured']} measured, {s['failed']} failed); mean "
        f"{s['audio_seconds_mean']:.1f} s of audio, generated in {s['generate_seconds_mean']:.1f} s each",
        f"- tempo heard (librosa), all prompts: exact within 4% {_pct(s['tempo_exact'])}, octave-tolerant "
        f"{_pct(s['tempo_octave'])}, MIREX acc2 (also x3, x1/3) {_pct(s['tempo_acc2'])}; prompts with an explicit "
        f"BPM ({s['n_explicit_bpm']}): {_pct(s['tempo_exact_explicit'])} / {_pct(s['tempo_octave_explicit'])} / "
        f"{_pct(s['tempo_acc2_explicit'])}; median octave-folded error "
        f"{s['tempo_median_error_pct_octave_folded']:.1f}%",
    ]
    if "key_weighted" in s:
        lines.append(f"- key heard (chroma + Krumhansl) vs the prompt's key ({s['n_explicit_key']} prompts): exact "
                     f"{_pct(s['key_exact'])}, MIREX weighted score {s['key_weighted']:.3f}")
    for name, rates in s.get("analysers", {}).items():
        if rates["key_n"] or rates["tempo_n"]:
            lines.append(
                f"- {name}: key exact {_pct(rates['key_exact'])}, MIREX weighted "
                f"{'-' if rates['key_weighted'] is None else format(rates['key_weighted'], '.3f')} "
                f"(n={rates['key_n']}); tempo Acc1 {_pct(rates['tempo_acc1'])}, Acc2 {_pct(rates['tempo_acc2'])} "
                f"(n={rates['tempo_n']})")
    lines += [
        f"- key heard vs the key the score declares (all prompts): exact {_pct(s['declared_key_exact'])}, "
        f"weighted {s['declared_key_weighted']:.3f}",
        f"- loudness {s['loudness_mean']:.1f} ± {s['loudness_sd']:.1f} LUFS "
        f"({_pct(s['loudness_within_1lu_of_minus14'])} within 1 LU of -14); true peak max "
        f"{s['true_peak_max']:.2f} dBTP, {_pct(s['true_peak_over_minus1'])} of tracks above -1 dBTP; "
        f"tracks with clipped samples {_pct(s['clipped_tracks'])}",
        f"- drums (HPSS percussive share): heard as asked {_pct(s['drums_right'])}; asked but not heard "
        f"{_pct(s['drums_missed'])}; heard but not asked {_pct(s['drums_phantom'])}",
        "- score against its plan: " + ", ".join(
            f"{name} {_pct(v)} (n={s['score_checks_n'][name]})" for name, v in s["score_checks"].items()),
    ]
    for label, key in (("generated mix", "distance_mix"), ("generated scores played by the SoundFont",
                                                           "distance_soundfont"),
                       ("real half vs real half (floor)", "distance_real_halves")):
        d = s[key]
        head = f"- {label} vs real ({s['embedding']} embedding, n={d['n_generated']} vs {d['n_real']}): "
        if d["frechet"] is None:
            lines.append(head + "not measured (Frechet and KID need at least 2 songs on each side)")
        else:
            lines.append(head + f"Frechet {d['frechet']:.1f}, KID {d['kid']:.3f} ± {d['kid_sd']:.3f}")
    if "song" in s:
        lines += ["", *song_lines(s["song"])]
    lines += ["", "| statistic | generated mean ± sd | held-out real mean ± sd |", "|---|---|---|"]
    for name, v in s["statistics"].items():
        g, q = v["generated"], v["real"]
        lines.append(f"| {name} | {g[0]:.3f} ± {g[1]:.3f} | {q[0]:.3f} ± {q[1]:.3f} |")
    return lines


def song_lines(song: dict[str, Any]) -> list[str]:
    """The song measures table (scripts/eval_song.py's): generated, training accompaniment, real songs."""
    from melodex.evaluate.song_sets import summary_table

    columns = {f"generated ({song['n_generated']})": song["generated"]}
    if "training" in song:
        columns[f"training accompaniment ({song['n_training']})"] = song["training"]
    if "real" in song:
        columns[f"real songs ({song['n_real']})"] = song["real"]
    lines = ["Song measures (score; references are whole songs; median [quartiles] n=songs with a value):", "",
             *summary_table(columns)]
    if "real_missing" in song:
        lines.append(f"(no real-song column: {song['real_missing']})")
    return lines


def write_report(folder: Path, results: list[dict[str, Any]], reference: dict[str, Any],
                 song_reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """summary.json, results.csv, table.md and plots/*.png in `folder`; returns the summary."""
    from melodex.evaluate.plots import eval_plots

    summary = summarise(results, reference, song_reference)
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    rows = table_rows(results)
    with (folder / "results.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TABLE_COLUMNS)
        writer.writerows(rows)
    lines = ["# melodex eval", "", *summary_markdown(summary), "", "| " + " | ".join(TABLE_COLUMNS) + " |",
             "|" + "---|" * len(TABLE_COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    (folder / "table.md").write_text("\n".join(lines) + "\n")
    if summary.get("measured"):
        eval_plots([r for r in results if "error" not in r], reference, folder / "plots")
    return summary
