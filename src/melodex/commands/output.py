"""Options several commands share: the output ones of `generate`, `batch` and `export` (formats, stems, sample
rate, bit depth, bitrate, loudness, click, chord markers), declared once and added by `with_output_options`, and
the choices of preset and renderer. Each fixed set of choices is an Enum, so `--help` lists them and a wrong one is
refused before any work."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

import typer

from melodex.export import BIT_DEPTHS, LUFS_RANGE, MP3_KBPS, SAMPLE_RATES, STEM_KINDS, ExportOptions, parse_formats
from melodex.render_audio import PRESETS, RENDERERS

Stems = Enum("Stems", {kind: kind for kind in STEM_KINDS}, type=str)  # type: ignore[misc]
BitDepth = Enum("BitDepth", {f"b{bits}": str(bits) for bits in BIT_DEPTHS}, type=str)  # type: ignore[misc]
Mp3Kbps = Enum("Mp3Kbps", {f"k{kbps}": str(kbps) for kbps in MP3_KBPS}, type=str)  # type: ignore[misc]
Preset = Enum("Preset", {name: name for name in PRESETS}, type=str)  # type: ignore[misc]
Renderer = Enum("Renderer", {name: name for name in RENDERERS}, type=str)  # type: ignore[misc]
Split = Enum("Split", {"tuning": "tuning", "test": "test"}, type=str)
SampleRate = Enum("SampleRate", {f"r{rate}": str(rate) for rate in SAMPLE_RATES}, type=str)  # type: ignore[misc]

MAKING_RATE = typer.Option(SampleRate("44100"), "--sample-rate", help="Sample rate the song is made at, in Hz.")
EXPORT_RATE = typer.Option(None, "--sample-rate", help="Resample to this rate in Hz (default: the song's).")
FORMATS = typer.Option("wav", "--format", help="Mix formats, comma-separated: wav, flac, mp3. Stems and the "
                       "click use the first.")
STEMS = typer.Option(Stems("processed"), "--stems", help="processed: each track with its effects and the master "
                     "(with the reverb stem they add up to the mix); dry: each instrument at its level and pan before "
                     "any effect, adding up to dry-mix.wav, the unmastered mix without effects; none.")
BIT_DEPTH = typer.Option(BitDepth("24"), "--bit-depth", help="WAV/FLAC bits per sample (32 = float WAV).")
MP3_BITRATE = typer.Option(Mp3Kbps("320"), "--mp3-kbps", help="MP3 constant bitrate in kbps.")
LUFS = typer.Option(None, "--lufs", min=LUFS_RANGE[0], max=LUFS_RANGE[1],
                    help=f"Master loudness in LUFS ({LUFS_RANGE[0]:g} to {LUFS_RANGE[1]:g}; default -14, the "
                    "streaming level).")
NO_MASTER = typer.Option(False, "--no-master", help="Write the mix as it enters the master: effects and balance, "
                         "no loudness, glue compression or limiter (for mastering elsewhere).")
CLICK = typer.Option(False, "--click", help="Also write click.<format>: every beat, bar starts higher.")
CHORD_MARKERS = typer.Option(False, "--chord-markers", help="Put the chords in the MIDI marker lane too.")
CHORDS = typer.Option(None, "--chords", help="One progression for the whole piece, looped: 'Am F C G' (one a "
                      "bar) or 'Am F | C G' (two a bar); roman numerals ('vi IV I V') need a key. Wins over the "
                      "prompt's chords. With no key asked for, the key is the one the chords fit best; chords "
                      "outside an asked key are played as written; more bars of chords than the piece has are "
                      "cut to its length (each said in a note). A word that is no chord is an error.")
RENDERER = typer.Option(Renderer("timbre"), help="timbre (generated sample sets) or soundfont (General MIDI).")
PRESET = typer.Option(Preset("social"), help="Guidance preset: film (CFG ~1.5, loose), social (~4, clear) or design "
                      "(~8.5, literal).")


Command = TypeVar("Command", bound=Callable[..., Any])


def with_output_options(sample_rate: Any) -> Callable[[Command], Command]:
    """Give a command the output options (formats to chord markers, `sample_rate` being MAKING_RATE or
    EXPORT_RATE) and call it with them as one `export: ExportOptions` argument, checked before any work: so
    `generate`, `batch` and `export` offer the same options, declared here once, and one place reads them."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    shared = [inspect.Parameter(name, keyword, default=default, annotation=annotation)
              for name, annotation, default in (
                  ("formats", str, FORMATS), ("stems", Stems, STEMS), ("sample_rate", SampleRate, sample_rate),
                  ("bit_depth", BitDepth, BIT_DEPTH), ("mp3_kbps", Mp3Kbps, MP3_BITRATE), ("lufs", float, LUFS),
                  ("no_master", bool, NO_MASTER), ("click", bool, CLICK), ("chord_markers", bool, CHORD_MARKERS))]

    def add(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True)  # typer reads the wrapper's signature, types resolved

        @functools.wraps(command)
        def run(**values: Any) -> Any:
            chosen = {p.name: values.pop(p.name) for p in shared}
            return command(**values, export=_export_options(**chosen))

        run.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=[p for p in own.parameters.values() if p.name != "export"] + shared)
        return run  # type: ignore[return-value]

    return add


def _export_options(formats: str, stems: Enum, sample_rate: Enum | None, bit_depth: Enum, mp3_kbps: Enum,
                    lufs: float | None, no_master: bool, click: bool, chord_markers: bool) -> ExportOptions:
    return ExportOptions(formats=parse_formats(formats), stems=stems.value,
                         sample_rate=int(sample_rate.value) if sample_rate is not None else None,
                         bit_depth=int(bit_depth.value), mp3_kbps=int(mp3_kbps.value), lufs=lufs,
                         master=not no_master, click=click, chord_markers=chord_markers)
