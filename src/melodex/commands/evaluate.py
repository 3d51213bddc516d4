"""`melodex eval` and `melodex sweep`: measure the final audio as a listener would."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from melodex.commands import output
from melodex.commands.progress import item_bars
from melodex.errors import MelodexError

console = Console()


def register(app: typer.Typer) -> None:
    app.command(name="eval")(evaluate)
    app.command(name="sweep")(sweep)


def _bars(bars: int) -> int | None:
    if bars < 0:
        raise MelodexError(f"--bars {bars}: use a positive number of bars, or 0 for the length the prompt asks")
    return bars or None


def evaluate(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for results (resumes the run already in it)."),
    prompts: Path = typer.Option(Path("data/eval/prompts.txt"), help="Prompt file: one prompt per line, # comments."),
    split: output.Split = typer.Option(None, help="A half of the shipped prompts instead of --prompts: tuning (choose "
                              "settings on it) or test (report it); data/eval/tuning.txt, test.txt."),
    limit: int = typer.Option(0, help="Only the first N prompts (0 = all)."),
    bars: int = typer.Option(8, help="Cut every track to at most this many bars (forms are compressed to fit); "
                             "0 = the length each prompt asks for."),
    seed: int = typer.Option(0, help="Generation seed for every prompt."),
    preset: output.Preset = output.PRESET,
    cfg: float = typer.Option(None, help="Timbre CFG; overrides the preset."),
    steps: int = typer.Option(16, help="Timbre diffusion steps."),
    guidance: float = typer.Option(None, help="Structure-model guidance (default: the model's own)."),
    renderer: output.Renderer = output.RENDERER,
    real: int = typer.Option(100, help="Held-out real works rendered for Frechet distance and KID."),
    keep_audio: bool = typer.Option(False, "--keep-audio", help="Also write each mix to OUT/audio/."),
    ray: str = typer.Option(None, "--ray", help="Evaluate the prompts as Ray tasks: 'local' (one per core of "
                            "this machine) or a cluster address ('auto', 'ray://head:10001') whose nodes have "
                            "melodex set up. Needs bash scripts/setup.sh --extras=scale"),
) -> None:
    """Run a prompt set through the pipeline and judge the final audio with independent analysers.

    Tempo (librosa, within 4%, octave-tolerant), key (chroma + Krumhansl profiles), loudness and true
    peak, whether drums are heard; from the score: form, meter, key and instrument set against the plan,
    music statistics against held-out real scores, and song measures (same-name sections, repetition, drums
    bar to bar, backbeat, four on the floor, bass roots, chord tones, clashes, motifs, leaps, tonic) next to
    the training accompaniment and real songs (freedoom, OpenMSX). Frechet distance and KID compare the set with
    SoundFont renders of held-out real music on a model-free MFCC/chroma statistics embedding.
    Writes table.md, results.csv, summary.json and plots/*.png into OUT. Each prompt's result is saved
    as it finishes: run the same command again to resume after an interruption.

    Examples:

        melodex eval -o out/eval --limit 5            # a quick look (about a minute)

        melodex eval -o out/eval --bars 8             # all shipped prompts, 8-bar tracks

        melodex eval -o out/film --preset film --prompts my_prompts.txt

        melodex eval -o out/test --split test         # the held-out half: report, never tune on it

    Needs the eval extra: bash scripts/setup.sh --extras=eval
    """
    from melodex.evaluate.listen import (
        EvalOptions,
        load_or_make_reference,
        load_or_make_song_reference,
        read_prompts,
        run_eval,
        split_prompts,
    )
    from melodex.evaluate.report import song_lines, summary_markdown, write_report

    if limit < 0:
        raise MelodexError(f"--limit {limit}: use a positive number of prompts, or 0 for all")
    options = EvalOptions(bars=_bars(bars), seed=seed, preset=preset.value, cfg=cfg, steps=steps,
                          guidance=guidance, renderer=renderer.value, real=real)
    options.generate_options()  # bad preset/renderer/steps fail here, before any work
    prompt_list = split_prompts(split.value) if split else read_prompts(prompts)
    if limit:
        prompt_list = prompt_list[:limit]
    with item_bars("generating and listening") as (report, stages):
        results = run_eval(prompt_list, out, options, report, keep_audio=keep_audio, ray=ray, stages=stages)
    with item_bars("rendering held-out real music") as (report, _):
        reference = load_or_make_reference(out, options.real, options.bars,
                                           lambda done, total: report(done, total, "SoundFont"))
    console.print("measuring the song references (training accompaniment, real songs)", markup=False)
    song_reference = load_or_make_song_reference(out)
    summary = write_report(out, results, reference, song_reference)
    song_table = song_lines(summary["song"]) if "song" in summary else []
    for line in summary_markdown(summary):
        if not line.startswith("|") and line not in song_table:
            console.print(line, markup=False)
    for line in song_table:
        console.print(line, markup=False)
    for prompt, error in summary["errors"]:
        console.print(f"failed: {prompt!r}: {error}", style="yellow", markup=False)
    console.print(f"wrote {out / 'table.md'}, {out / 'results.csv'}, {out / 'summary.json'} and {out / 'plots'}/")


def sweep(
    prompt: str = typer.Argument(..., help="The prompt to render over the grid."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the grid's results and plots (resumable)."),
    cfg: str = typer.Option("1,3,5,7,10", help="Timbre CFG values, comma-separated (0-20)."),
    steps: str = typer.Option("4,8,16,32", help="Diffusion step counts, comma-separated (1-200)."),
    guidance: str = typer.Option("", help="Structure-model guidance values too, comma-separated (0-20); "
                                 "empty = the model's default only."),
    bars: int = typer.Option(8, help="Cut the track to at most this many bars; 0 = as the prompt asks."),
    seed: int = typer.Option(0, help="Seed: the same for every cell, so only the swept values differ."),
    preset: output.Preset = typer.Option(output.Preset("social"),
                                         help="Preset for everything the grid does not set."),
    real: int = typer.Option(40, help="Held-out real works for the quality (distance-to-real) measure."),
) -> None:
    """Render one prompt over a grid of CFG x steps and plot adherence, quality and time.

    Reach for this when "the model did not listen". Each cell is the same score and seed at another timbre
    CFG and step count. Adherence: how far the sound moved toward the prompt's texture words (bright,
    warm, dark, dusty...; spectral centroid against the same cell without those words), and tempo and key
    heard vs asked. Quality: distance to held-out real music, spectral flatness (noise), true peak.
    Time: seconds of the timbre stage against steps. The article's ranges: CFG 1-2 film, 3-5 social
    clips, 7-10 sound design.

    Writes table.md, sweep.json and plots/{adherence_vs_cfg,quality_vs_cfg,time_vs_steps}.png into OUT.

    Examples:

        melodex sweep "bright plucky synth arpeggio, 120 BPM, C minor" -o out/sweep

        melodex sweep "warm dusty lo-fi piano, 84 BPM" -o out/sweep2 --cfg 1,3,5,7,10 --steps 4,8,16

        melodex sweep "dark ambient pads, D minor" -o out/sweep3 --cfg 2,6 --steps 8 --guidance 1,2,3
    """
    from melodex.evaluate.sweep import SweepOptions, parse_grid, run_sweep, sweep_table, write_sweep_report

    options = SweepOptions(
        cfgs=parse_grid(cfg, "--cfg"), steps=parse_grid(steps, "--steps", integer=True, low=1, high=200),
        guidances=parse_grid(guidance, "--guidance") if guidance.strip() else (None,),
        bars=_bars(bars), seed=seed, preset=preset.value, real=real)
    with item_bars("sweeping") as (report, stages):
        cells = run_sweep(prompt, out, options, report, stages)
    plots = write_sweep_report(out, prompt, cells)
    for line in sweep_table(cells):
        console.print(line, markup=False)
    console.print(f"wrote {out / 'table.md'} and {', '.join(str(p) for p in plots)}")
