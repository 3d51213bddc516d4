"""The output options `generate` and `export` share: formats, stems, sample rate, bit depth, bitrate, loudness."""

from __future__ import annotations

from enum import Enum

import typer

from melodex.export import BIT_DEPTHS, LUFS_RANGE, MP3_KBPS, SAMPLE_RATES, STEM_KINDS

Stems = Enum("Stems", {kind: kind for kind in STEM_KINDS}, type=str)  # type: ignore[misc]
BitDepth = Enum("BitDepth", {f"b{bits}": str(bits) for bits in BIT_DEPTHS}, type=str)  # type: ignore[misc]
Mp3Kbps = Enum("Mp3Kbps", {f"k{kbps}": str(kbps) for kbps in MP3_KBPS}, type=str)  # type: ignore[misc]
SampleRate = Enum("SampleRate", {f"r{rate}": str(rate) for rate in SAMPLE_RATES}, type=str)  # type: ignore[misc]

FORMATS = typer.Option("wav", "--format", help="Mix formats, comma-separated: wav, flac, mp3. Stems and the "
                       "click use the first.")
STEMS = typer.Option(Stems("processed"), "--stems", help="processed: each track with its effects and the master "
                     "(with the reverb stem they add up to the mix); dry: the instruments before any effect; none.")
BIT_DEPTH = typer.Option(BitDepth("24"), "--bit-depth", help="WAV/FLAC bits per sample (32 = float WAV).")
MP3_BITRATE = typer.Option(Mp3Kbps("320"), "--mp3-kbps", help="MP3 constant bitrate in kbps.")
LUFS = typer.Option(None, "--lufs", min=LUFS_RANGE[0], max=LUFS_RANGE[1],
                    help=f"Master loudness in LUFS ({LUFS_RANGE[0]:g} to {LUFS_RANGE[1]:g}; default -14, the "
                    "streaming level).")
NO_MASTER = typer.Option(False, "--no-master", help="Write the mix as it enters the master: effects and balance, "
                         "no loudness, glue compression or limiter (for mastering elsewhere).")
