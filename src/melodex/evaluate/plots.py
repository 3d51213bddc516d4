"""PNG plots of an evaluation run and of a CFG/steps sweep (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from melodex.evaluate.analysers import INSTALL_HINT, AnalysisError
from melodex.evaluate.embedding import standardise

KEY_OUTCOMES = ((1.0, "same key"), (0.5, "fifth"), (0.3, "relative"), (0.2, "parallel"), (0.0, "other"))


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise AnalysisError(f"plots need matplotlib ({exc}): install it with {INSTALL_HINT}") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)


def eval_plots(results: list[dict[str, Any]], reference: dict[str, Any], folder: Path) -> list[Path]:
    plt = _pyplot()
    paths = []

    target = np.array([r["target"]["bpm"] for r in results], dtype=float)
    heard = np.array([r["audio"]["tempo_bpm"] for r in results])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    line = np.array([40, 320])
    for factor, style in ((1.0, "-"), (2.0, "--"), (0.5, "--"), (1.5, ":"), (2 / 3, ":")):
        ax.plot(line, line * factor, style, color="grey", lw=0.8)
    ax.fill_between(line, line * 0.96, line * 1.04, color="green", alpha=0.15, label="within 4%")
    ok = np.array([r["tempo"]["tempo_octave"] for r in results])
    ax.scatter(target[ok], heard[ok], s=14, color="tab:blue", label="octave-tolerant hit")
    ax.scatter(target[~ok], heard[~ok], s=14, color="tab:red", label="miss")
    ax.set(xscale="log", yscale="log", xlim=(50, 200), ylim=(40, 320), xlabel="tempo asked (BPM)",
           ylabel="tempo heard by librosa (BPM)", title="Tempo: asked vs heard")
    ax.minorticks_off()
    ax.set_xticks((60, 80, 100, 120, 160, 200), ["60", "80", "100", "120", "160", "200"])
    ax.set_yticks((40, 60, 80, 100, 120, 160, 200, 240, 320), ["40", "60", "80", "100", "120", "160", "200", "240",
                                                                "320"])
    ax.legend(fontsize=8)
    paths.append(folder / "tempo.png")
    _save(fig, paths[-1])

    fig, ax = plt.subplots(figsize=(6, 3.5))
    groups = (("prompt's key", [r["key_score"] for r in results if r["key_score"] is not None]),
              ("score's declared key", [r["declared_key_score"] for r in results]))
    width = 0.4
    for g, (label, scores) in enumerate(groups):
        counts = [np.mean([abs(s - value) < 1e-6 for s in scores]) if scores else 0.0 for value, _ in KEY_OUTCOMES]
        ax.bar(np.arange(len(KEY_OUTCOMES)) + (g - 0.5) * width, counts, width, label=f"{label} (n={len(scores)})")
    ax.set_xticks(range(len(KEY_OUTCOMES)), [name for _, name in KEY_OUTCOMES])
    ax.set(ylabel="share of tracks", title="Key heard (chroma + Krumhansl) vs key asked")
    ax.legend(fontsize=8)
    paths.append(folder / "key.png")
    _save(fig, paths[-1])

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    axes[0].hist([r["audio"]["loudness_lufs"] for r in results], bins=20, color="tab:blue")
    axes[0].axvline(-14, color="k", ls="--", lw=0.8)
    axes[0].set(xlabel="integrated loudness (LUFS)", ylabel="tracks", title="Loudness (target -14)")
    axes[1].hist([r["audio"]["true_peak_dbtp"] for r in results], bins=20, color="tab:orange")
    axes[1].axvline(-1, color="k", ls="--", lw=0.8)
    axes[1].set(xlabel="true peak (dBTP)", title="True peak")
    paths.append(folder / "loudness.png")
    _save(fig, paths[-1])

    real = np.asarray(reference["embeddings"])
    real_z, mix_z, sf_z = standardise(real, np.array([r["embedding"] for r in results]),
                                      np.array([r["embedding_soundfont"] for r in results]))
    _, _, axes_pc = np.linalg.svd(np.concatenate([real_z, mix_z, sf_z]) - real_z.mean(axis=0), full_matrices=False)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for data, label, colour in ((real_z, "held-out real (SoundFont)", "tab:green"),
                                (mix_z, "generated mix", "tab:red"),
                                (sf_z, "generated notes, SoundFont", "tab:purple")):
        xy = data @ axes_pc[:2].T
        ax.scatter(xy[:, 0], xy[:, 1], s=10, alpha=0.6, label=label, color=colour)
    ax.set(xlabel="PC 1", ylabel="PC 2", title=f"Embedding ({reference['embedding']}), first two PCs")
    ax.legend(fontsize=8)
    paths.append(folder / "embedding.png")
    _save(fig, paths[-1])

    names = list(results[0]["statistics"])
    fig, axes = plt.subplots(1, len(names), figsize=(2 * len(names), 3.2))
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        ax.boxplot([[r["statistics"][name] for r in results], [s[name] for s in reference["statistics"]]],
                   tick_labels=["gen", "real"], widths=0.6)
        ax.set_title(name.replace("_", " "), fontsize=8)
        ax.tick_params(labelsize=7)
    paths.append(folder / "statistics.png")
    _save(fig, paths[-1])
    return paths


def sweep_plots(cells: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Adherence and quality against CFG (one line per step count), and time against steps."""
    plt = _pyplot()
    steps = sorted({c["steps"] for c in cells})
    guidances = sorted({c["guidance"] for c in cells}, key=lambda g: (g is None, g or 0.0))
    paths = []

    def lines(ax: Any, metric: str, ylabel: str) -> None:
        for guidance in guidances:
            for n in steps:
                row = sorted((c for c in cells if c["steps"] == n and c["guidance"] == guidance
                              and c.get(metric) is not None), key=lambda c: c["cfg"])
                if row:
                    label = f"{n} steps" + (f", guidance {guidance}" if len(guidances) > 1 else "")
                    ax.plot([c["cfg"] for c in row], [c[metric] for c in row], "o-", ms=4, label=label)
        ax.set(xlabel="timbre CFG", ylabel=ylabel)
        ax.grid(alpha=0.3)

    adherence = (("text_shift_octaves", "centroid shift toward the words (octaves)"),
                 ("tempo_ok", "tempo heard = asked (octave-tolerant)"), ("key_score", "key score (MIREX)"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (metric, label) in zip(axes, adherence, strict=True):
        lines(ax, metric, label)
        if all(c.get(metric) is None for c in cells):
            ax.text(0.5, 0.5, "not measured: the prompt has no texture\nword with a direction (bright, dark, warm...)",
                    transform=ax.transAxes, ha="center", va="center", fontsize=8)
    axes[0].axhline(0, color="k", lw=0.6)
    legend_axis = next((ax for ax in axes if ax.get_legend_handles_labels()[0]), axes[0])
    if legend_axis.get_legend_handles_labels()[0]:
        legend_axis.legend(fontsize=7)
    fig.suptitle("Adherence against CFG")
    paths.append(folder / "adherence_vs_cfg.png")
    _save(fig, paths[-1])

    quality = (("real_distance", "distance to real set (kNN, z-units; lower = more typical)"),
               ("flatness", "spectral flatness (noisiness)"), ("true_peak_dbtp", "true peak (dBTP)"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (metric, label) in zip(axes, quality, strict=True):
        lines(ax, metric, label)
    axes[0].legend(fontsize=7)
    fig.suptitle("Quality against CFG")
    paths.append(folder / "quality_vs_cfg.png")
    _save(fig, paths[-1])

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    cfgs = sorted({c["cfg"] for c in cells})
    for cfg in cfgs:
        row = sorted((c for c in cells if c["cfg"] == cfg and c["guidance"] == guidances[0]), key=lambda c: c["steps"])
        drawn = ax.plot([c["steps"] for c in row], [c["seconds"] for c in row], "o-", ms=4, label=f"CFG {cfg:g}")
        if all("timbres_seconds" in c for c in row):  # the stage the steps act on, dashed in the same colour
            ax.plot([c["steps"] for c in row], [c["timbres_seconds"] for c in row], "o--", ms=3,
                    color=drawn[0].get_color())
    ax.set(xlabel="diffusion steps", ylabel="seconds", xscale="log",
           title="Time against steps (solid: track, dashed: timbres)")
    ax.minorticks_off()
    ax.set_xticks(steps, [str(n) for n in steps])
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    paths.append(folder / "time_vs_steps.png")
    _save(fig, paths[-1])
    return paths
