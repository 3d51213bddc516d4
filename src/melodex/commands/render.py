"""`melodex render`: a MIDI file to a stereo WAV (and stems) through the SoundFont reference renderer."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer

from melodex.commands.progress import stage_bars
from melodex.errors import MelodexError
from melodex.export import key_tag, stem_name, write_audio
from melodex.files import output_dir
from melodex.midi import read_midi
from melodex.score import Score

if TYPE_CHECKING:  # the render path loads the sampler, production and torch: imported when a render runs
    from melodex.render_audio import RenderOptions, RenderResult

AUDIO_FORMATS = (".wav", ".flac")
OUT = "'-o' / '--out'"


def _check_output(path: Path) -> None:
    if path.is_dir():
        raise MelodexError(f"cannot write {path}: it is a folder; give a file name such as {path / 'song.wav'}")
    if path.suffix.lower() not in AUDIO_FORMATS:
        raise MelodexError(f"cannot write {path}: the output must end in .wav or .flac")
    output_dir(path.parent)  # made if missing, as every -o/--out does
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise MelodexError(f"cannot write {path}: permission denied")


def audio_tags(score: Score, source: Path) -> dict[str, str]:
    """The BPM, and the key when the file states one (a plain file's C major is a default, not a fact), as
    generate and export tag their audio."""
    import symusic

    tags = {"bpm": f"{score.bpm:g}"}
    raw: Any = symusic.Score(str(source))  # its stubs lack key_signatures
    if len(raw.key_signatures):
        tags["key"] = key_tag(score.key)
    return tags


def _write(output: Path, stems: Path | None, score: Score, mix: np.ndarray, parts: dict[int, np.ndarray],
           sample_rate: int, tags: dict[str, str]) -> None:
    """The mix, and the stems under the names generate and export give them, in the mix's format (as export
    writes stems in its first)."""
    write_audio(output, mix, sample_rate, tags=tags)
    if stems is None:
        return
    for index, part in parts.items():
        write_audio(stems / f"{stem_name(score, index)}{output.suffix.lower()}", part, sample_rate, tags=tags)


def _render_produced(score: Score, options: RenderOptions, timbre: str) -> tuple[RenderResult, str]:
    """`--timbre`: the score through `melodex.render_audio` as `melodex generate` plays one, mastered, and why
    the timbre model did not play it if it did not."""
    from melodex.models import try_load_timbre
    from melodex.pipeline import StageClock, seed_for
    from melodex.production.settings import mix_settings_from_text
    from melodex.render_audio import render_score

    model, why_not = try_load_timbre()
    tracks = range(len(score.tracks))
    with stage_bars() as progress:
        result = render_score(score, {i: timbre for i in tracks}, {i: seed_for(0, "timbre", i) for i in tracks},
                              mix_settings_from_text(timbre), options, model, StageClock(progress).stage)
    return result, why_not


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
        from melodex.pipeline import StageClock
        from melodex.render_audio import RenderOptions, render_reference

        if out is not None and old_output is not None:
            raise typer.BadParameter("give the audio file once (--output is the old name of -o/--out)", param_hint=OUT)
        output = out or old_output
        if output is None:
            raise typer.BadParameter("missing: give the audio file to write, e.g. -o song.wav", param_hint=OUT)
        options = RenderOptions(sample_rate=sample_rate, soundfont=soundfont)  # checked before anything is read
        _check_output(output)
        score = read_midi(source)
        if stems is not None:
            output_dir(stems)
            if len({stem_name(score, i) for i in range(len(score.tracks))}) != len(score.tracks):
                raise MelodexError("two tracks would share a stem file name")
        made = f" + {len(score.tracks)} stems in {stems}" if stems is not None else ""
        if timbre is not None:
            result, why_not = _render_produced(score, options, timbre)
            _write(output, stems, score, result.mix, result.stems, sample_rate, audio_tags(score, source))
            typer.echo(f"rendered {source.name} -> {output}{made}")
            if why_not:
                typer.echo(f"timbre {timbre!r} NOT applied ({why_not}): SoundFont sample sets used")
            typer.echo(result.report)
            return
        began = time.perf_counter()
        with stage_bars() as progress, StageClock(progress).stage("render") as done:
            reference = render_reference(score, options, done)
            _write(output, stems, score, reference.mix, reference.stems, sample_rate, audio_tags(score, source))
        took = time.perf_counter() - began
        turned_down = f"; turned down {-reference.gain_db:.1f} dB to avoid clipping" if reference.gain_db < 0 else ""
        typer.echo(
            f"rendered {source.name}: {reference.seconds:.1f} s of audio in {took:.2f} s "
            f"({reference.seconds / max(took, 1e-9):.0f}x real time) -> {output}{made}{turned_down}"
        )
