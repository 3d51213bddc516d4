"""`melodex render`: a MIDI file to a stereo WAV (and stems) through the SoundFont reference renderer."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import typer

from melodex.errors import MelodexError
from melodex.export import key_tag, stem_name, write_audio
from melodex.files import output_dir
from melodex.midi import read_midi
from melodex.score import Score
from melodex.soundfont import SoundFontSynth, SynthOptions

AUDIO_FORMATS = {".wav": "PCM_24", ".flac": "PCM_24"}
PROGRESS_FROM_SECONDS = 30.0  # shorter renders finish before a progress bar is worth drawing
HEADROOM = 0.999
OUT = "'-o' / '--out'"


@dataclass(frozen=True)
class RenderSummary:
    """What a render produced, for the one-line report."""

    audio_seconds: float
    render_seconds: float
    stem_paths: tuple[Path, ...]
    gain_db: float  # applied to mix and stems alike; below 0 only when the mix would clip

    @property
    def speed(self) -> float:
        return self.audio_seconds / max(self.render_seconds, 1e-9)


def _check_output(path: Path) -> None:
    if path.is_dir():
        raise MelodexError(f"cannot write {path}: it is a folder; give a file name such as {path / 'song.wav'}")
    if path.suffix.lower() not in AUDIO_FORMATS:
        raise MelodexError(f"cannot write {path}: the output must end in .wav or .flac")
    output_dir(path.parent)  # made if missing, as every -o/--out does
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise MelodexError(f"cannot write {path}: permission denied")


def _stems_folder(folder: Path) -> None:
    output_dir(folder)


def _write_audio(path: Path, audio: np.ndarray, sample_rate: int, tags: dict[str, str] | None = None) -> None:
    write_audio(path, audio, sample_rate, tags=tags)


def audio_tags(score: Score, source: Path) -> dict[str, str]:
    """The BPM, and the key when the file states one (a plain file's C major is a default, not a fact), as
    generate and export tag their audio."""
    import symusic

    tags = {"bpm": f"{score.bpm:g}"}
    raw: Any = symusic.Score(str(source))  # its stubs lack key_signatures
    if len(raw.key_signatures):
        tags["key"] = key_tag(score.key)
    return tags


def _stem_name(index: int, score: Score, output: Path) -> str:
    """The names generate and export give stems, in the mix's format (as export writes stems in its first)."""
    return f"{stem_name(score, index)}{output.suffix.lower()}"


def render_score_to_files(
    score: Score,
    output: Path,
    stems: Path | None = None,
    soundfont: str | None = None,
    sample_rate: int = 44100,
    show_progress: bool = False,
    tags: dict[str, str] | None = None,
) -> RenderSummary:
    """Render a score to `output` (and one file per track into `stems`) through a SoundFont.

    The mix is the sum of the dry stems; if it would clip, mix and stems are turned down together
    so the stems still add up to the mix.
    """
    _check_output(output)
    if stems is not None:
        _stems_folder(stems)
        if len({_stem_name(i, score, output) for i in range(len(score.tracks))}) != len(score.tracks):
            raise MelodexError("two tracks would share a stem file name")
    began = time.perf_counter()
    synth = SoundFontSynth(soundfont, SynthOptions())
    audio_seconds = synth.render_length(score, sample_rate) / sample_rate
    with _progress(show_progress and audio_seconds >= PROGRESS_FROM_SECONDS) as report:
        parts = synth.render_stems(score, sample_rate, progress=report)
    mix = np.zeros((synth.render_length(score, sample_rate), 2), dtype=np.float32)
    for part in parts.values():
        mix += part
    peak = float(np.abs(mix).max()) if len(mix) else 0.0
    gain = HEADROOM / peak if peak > HEADROOM else 1.0
    _write_audio(output, mix * gain, sample_rate, tags)
    stem_paths = []
    if stems is not None:
        for index, part in parts.items():
            path = stems / _stem_name(index, score, output)
            _write_audio(path, part * gain, sample_rate, tags)
            stem_paths.append(path)
    return RenderSummary(
        audio_seconds=audio_seconds,
        render_seconds=time.perf_counter() - began,
        stem_paths=tuple(stem_paths),
        gain_db=20 * float(np.log10(gain)),
    )


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[float], None] | None]:
    """A transient progress bar on stderr while rendering, or nothing."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("rendering"), BarColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True
    )
    task = bar.add_task("render", total=1.0)
    with bar:
        yield lambda fraction: bar.update(task, completed=fraction)


def _render_produced(
    score: Score, source: Path, output: Path, stems: Path | None, timbre: str, soundfont: str | None, rate: int
) -> None:
    """`--timbre`: the score through `melodex.render_audio` as `melodex generate` plays one, mastered mix and stems."""
    from melodex.commands.progress import stage_bars
    from melodex.models import try_load_timbre
    from melodex.pipeline import StageClock, seed_for
    from melodex.production.settings import mix_settings_from_text
    from melodex.render_audio import RenderOptions, render_score

    if stems is not None:
        _stems_folder(stems)
    model, why_not = try_load_timbre()
    tracks = range(len(score.tracks))
    with stage_bars() as progress:
        result = render_score(score, {i: timbre for i in tracks}, {i: seed_for(0, "timbre", i) for i in tracks},
                              mix_settings_from_text(timbre), RenderOptions(sample_rate=rate, soundfont=soundfont),
                              model, StageClock(progress).stage)
    tags = audio_tags(score, source)
    _write_audio(output, result.mix, rate, tags)
    if stems is not None:
        for index, stem in result.stems.items():
            _write_audio(stems / _stem_name(index, score, output), stem, rate, tags)
    typer.echo(f"rendered {source.name} -> {output}" + (f" + stems in {stems}" if stems is not None else ""))
    if model is None:
        typer.echo(f"timbre {timbre!r} NOT applied ({why_not}): SoundFont sample sets used")
    typer.echo(result.report)


def register(app: typer.Typer) -> None:
    """Add `melodex render` to the app."""

    @app.command("render")
    def render(
        source: Path = typer.Argument(..., help="MIDI file to render (.mid)."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Audio file to write (.wav or .flac); its folder "
                                        "is made if missing.  [required]"),
        old_output: Path | None = typer.Option(None, "--output", hidden=True),  # the old name: old scripts still run
        stems: Path | None = typer.Option(None, "--stems", help="Folder for one file per track, in the mix's "
                                          "format (made if missing)."),
        soundfont: str | None = typer.Option(
            None, "--soundfont", help="SoundFont name (FluidR3_GM, TimGM6mb, MuseScore_General) or .sf2/.sf3 path."
        ),
        sample_rate: int = typer.Option(44100, "--sample-rate", help="Output sample rate in Hz (8000-96000)."),
        timbre: str | None = typer.Option(
            None,
            "--timbre",
            help='Timbre and texture words, e.g. "warm lo-fi": render with the sampler and the production '
            "stage (timbre model sample sets when installed, else SoundFont ones) and master to -14 LUFS.",
        ),
    ) -> None:
        """Render a MIDI file to stereo audio (and stems) with a General MIDI SoundFont."""
        if out is not None and old_output is not None:
            raise typer.BadParameter("give the audio file once (--output is the old name of -o/--out)", param_hint=OUT)
        output = out or old_output
        if output is None:
            raise typer.BadParameter("missing: give the audio file to write, e.g. -o song.wav", param_hint=OUT)
        if not 8000 <= sample_rate <= 96000:
            raise MelodexError(f"--sample-rate {sample_rate} is outside 8000-96000 Hz")
        _check_output(output)
        score = read_midi(source)
        if timbre is not None:
            _render_produced(score, source, output, stems, timbre, soundfont, sample_rate)
            return
        show_progress = sys.stderr.isatty()  # a bar drawn into a log file or a pipe is only noise
        summary = render_score_to_files(score, output, stems, soundfont, sample_rate, show_progress,
                                        audio_tags(score, source))
        extra = f" + {len(summary.stem_paths)} stems in {stems}" if stems is not None else ""
        turned_down = f"; turned down {-summary.gain_db:.1f} dB to avoid clipping" if summary.gain_db < 0 else ""
        typer.echo(
            f"rendered {source.name}: {summary.audio_seconds:.1f} s of audio in {summary.render_seconds:.2f} s "
            f"({summary.speed:.0f}x real time) -> {output}{extra}{turned_down}"
        )
