"""`melodex sweep`: one prompt rendered over a grid of timbre CFG x diffusion steps (x structure guidance),
each take judged by ear: adherence, quality and time. The tool for "the model did not listen".

Adherence: does the audio follow the words? The timbre CFG steers the timbre model, whose text holds the
prompt's texture words ("bright", "warm", "dusty"...), style and mood. So each cell is also rendered from the
same prompt without its texture words (same score, same seeds), and the spectral centroid of the two mixes
is compared: words that ask for brightness should raise it, words that ask for warmth or darkness lower it.
The words also choose mix settings (EQ, saturation); that share does not depend on CFG, so what changes
along the CFG axis is the timbre model's reading of the words. Tempo and key heard in the audio are reported
too; they come from the score, so they should not move with the timbre CFG (they may with structure guidance).
Quality: distance of the take's embedding to SoundFont renders of held-out real music, spectral flatness
(noise), true peak and clipping.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from melodex import brief as brief_mod
from melodex.errors import MelodexError
from melodex.evaluate.analysers import key_score, measure_audio, tempo_hits
from melodex.evaluate.embedding import embed, nearest_real_distance, standardise
from melodex.evaluate.listen import load_or_make_reference, shorten, write_json

BRIGHT_WORDS = ("bright", "crisp", "airy", "glassy", "metallic", "thin")
DARK_WORDS = ("dark", "warm", "muffled", "soft", "lo-fi", "lofi", "dusty", "hazy", "thick")
MAX_CELLS = 200
SWEEP_VERSION = 1


def parse_grid(text: str, option: str, integer: bool = False, low: float = 0.0, high: float = 20.0) -> tuple:
    """'1,3,5' -> (1.0, 3.0, 5.0); one clear error naming the option for anything else."""
    values: list[float | int] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            value: float | int = int(item) if integer else float(item)
        except ValueError:
            kind = "whole numbers" if integer else "numbers"
            raise MelodexError(f"{option} {text!r}: {item!r} is not a number; give {kind} separated by commas, "
                               f"e.g. {option} {'4,8,16' if integer else '1,3,5'}") from None
        if not np.isfinite(value) or not low <= value <= high:
            raise MelodexError(f"{option} {text!r}: {item} is outside {low:g}-{high:g}")
        if value not in values:
            values.append(value)
    if not values:
        raise MelodexError(f"{option} is empty: give values separated by commas, e.g. {option} 1,3,5")
    return tuple(values)


def word_direction(texture: tuple[str, ...]) -> int:
    """+1 if the texture words ask for a brighter sound, -1 darker/warmer, 0 neither (or both equally)."""
    return int(np.sign(sum(w in BRIGHT_WORDS for w in texture) - sum(w in DARK_WORDS for w in texture)))


@dataclass(frozen=True)
class SweepOptions:
    cfgs: tuple[float, ...] = (1.0, 3.0, 5.0, 7.0, 10.0)
    steps: tuple[int, ...] = (4, 8, 16, 32)
    guidances: tuple[float | None, ...] = (None,)  # structure-model CFG; None = the model's default
    bars: int | None = 8
    seed: int = 0
    preset: str = "social"
    real: int = 40

    def __post_init__(self) -> None:
        cells = len(self.cfgs) * len(self.steps) * len(self.guidances)
        if cells > MAX_CELLS:
            raise MelodexError(f"the grid has {cells} cells; keep it under {MAX_CELLS} (fewer values per option)")
        if self.bars is not None and not 1 <= self.bars <= brief_mod.MAX_BARS:
            raise MelodexError(f"--bars {self.bars}: use 1-{brief_mod.MAX_BARS} (0 for the length the prompt asks)")
        if not 4 <= self.real <= 2000:
            raise MelodexError(f"--real {self.real}: use 4-2000 held-out works")


def render_cell(brief: brief_mod.Brief, guidance: float | None, cfg: float, steps: int, seed: int,
                preset: str, stages: Any = None) -> tuple[Any, dict[str, float]]:
    """One take through the pipeline (`make_take`) at these settings, and its wall time per stage plus
    the total (stages may overlap: timbres for a planned band are made while the song is composed). `stages`
    hears the pipeline's (stage, share done)."""
    from melodex import pipeline

    options = pipeline.GenerateOptions(seed=seed, preset=preset, guidance=guidance, timbre_cfg=cfg,
                                       timbre_steps=steps)
    clock = pipeline.StageClock(stages)
    started = time.perf_counter()
    take = pipeline.make_take(brief, options, clock)
    return take, {**{f"{k}_seconds": v for k, v in clock.seconds.items()}, "seconds": time.perf_counter() - started}


def cell_name(guidance: float | None, cfg: float, steps: int) -> str:
    return f"g{'default' if guidance is None else f'{guidance:g}'}-cfg{cfg:g}-steps{steps}.json"


def run_sweep(prompt: str, folder: Path, options: SweepOptions, progress: Any = None,
              stages: Any = None) -> list[dict[str, Any]]:
    """Render and judge every cell not already in `folder`; return all cells. `progress` hears (done, total,
    the cell) before each cell, `stages` the pipeline stages of the cell's takes."""
    from melodex import pipeline

    manifest = folder / "sweep.json"
    wanted = {"prompt": prompt, "seed": options.seed, "bars": options.bars, "preset": options.preset,
              "version": SWEEP_VERSION}
    if manifest.is_file():
        had = json.loads(manifest.read_text()).get("run", {})
        if had != wanted:
            raise MelodexError(f"{folder} holds a sweep of another prompt or seed/bars/preset: use another --out "
                               "folder, or the same ones to resume it")
    folder.mkdir(parents=True, exist_ok=True)
    brief = shorten(pipeline.read_brief(prompt, pipeline.GenerateOptions(seed=options.seed)), options.bars)
    direction = word_direction(brief.texture)
    about = {"run": wanted, "brief": brief.to_json(), "direction": direction,
             "options": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(options).items()}}
    manifest.write_text(json.dumps(about, indent=1))
    # Before the first cell, the held-out works are rendered (a minute for 40): said on the same bar.
    reference = load_or_make_reference(folder, options.real, options.bars, progress and (
        lambda done, total: progress(done, total, "rendering held-out real music")))
    real_z, = standardise(reference["embeddings"])
    grid = [(g, c, s) for g in options.guidances for s in options.steps for c in options.cfgs]
    cells: list[dict[str, Any]] = []
    for done, (guidance, cfg, steps) in enumerate(grid):
        if progress:
            progress(done, len(grid), f"guidance {guidance or 'default'}, CFG {cfg:g}, {steps} steps")
        path = folder / "cells" / cell_name(guidance, cfg, steps)
        if path.is_file():
            cells.append(json.loads(path.read_text()))
            continue
        take, seconds = render_cell(brief, guidance, cfg, steps, options.seed, options.preset, stages)
        heard = measure_audio(take.mix, take.sample_rate)
        standardised, = standardise(reference["embeddings"], embed(take.mix, take.sample_rate)[None, :])[1:]
        cell: dict[str, Any] = {
            "guidance": guidance, "cfg": cfg, "steps": steps, **seconds,
            "tempo_ok": float(tempo_hits(heard.tempo_bpm, brief.bpm)["tempo_octave"]),
            "key_score": key_score(brief.key or take.score.key, heard.key),
            "real_distance": float(nearest_real_distance(real_z, standardised)[0]),
            **{k: v for k, v in heard.to_json().items() if k in ("tempo_bpm", "key", "loudness_lufs", "true_peak_dbtp",
                                                                   "clipped_fraction", "centroid_hz", "flatness")},
            "text_shift_octaves": None, "neutral_centroid_hz": None,
        }
        if direction:
            neutral_take, _ = render_cell(replace(brief, texture=()), guidance, cfg, steps, options.seed,
                                          options.preset, stages)
            neutral = measure_audio(neutral_take.mix, neutral_take.sample_rate).centroid_hz
            cell["neutral_centroid_hz"] = neutral
            cell["text_shift_octaves"] = direction * float(np.log2(heard.centroid_hz / neutral))
        write_json(path, cell)
        cells.append(cell)
    manifest.write_text(json.dumps({**about, "cells": cells}, indent=1))
    if progress:
        progress(len(grid), len(grid), "done")
    return cells


SWEEP_COLUMNS = ("guidance", "CFG", "steps", "time s", "timbre s", "tempo ok", "key score", "centroid shift (oct)",
                 "real distance", "flatness", "true peak", "LUFS")


def sweep_table(cells: list[dict[str, Any]]) -> list[str]:
    lines = ["| " + " | ".join(SWEEP_COLUMNS) + " |", "|" + "---|" * len(SWEEP_COLUMNS)]
    for c in cells:
        shift = "-" if c["text_shift_octaves"] is None else f"{c['text_shift_octaves']:+.3f}"
        lines.append(f"| {c['guidance'] if c['guidance'] is not None else 'default'} | {c['cfg']:g} | {c['steps']} | "
                     f"{c['seconds']:.1f} | {c.get('timbres_seconds', 0.0):.1f} | {c['tempo_ok']:.0f} | "
                     f"{c['key_score']:.1f} | {shift} | "
                     f"{c['real_distance']:.2f} | {c['flatness']:.4f} | {c['true_peak_dbtp']:.2f} | "
                     f"{c['loudness_lufs']:.1f} |")
    return lines


def write_sweep_report(folder: Path, prompt: str, cells: list[dict[str, Any]]) -> list[Path]:
    from melodex.evaluate.plots import sweep_plots

    meta = json.loads((folder / "sweep.json").read_text())
    direction = {1: "brighter", -1: "darker/warmer", 0: "neither brighter nor darker"}[meta["direction"]]
    lines = [f"# melodex sweep: {prompt}", "",
             f"Texture words {meta['brief']['texture'] or '(none)'} ask for a {direction} sound. Centroid shift: "
             "octaves of spectral-centroid change against the same cell rendered from the prompt without its "
             "texture words, signed so positive = followed the words.", "", *sweep_table(cells)]
    (folder / "table.md").write_text("\n".join(lines) + "\n")
    return sweep_plots(cells, folder / "plots")
