"""`melodex render` through the installed command: audio out, stems, and one clear line for bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import symusic

from melodex.export import key_tag
from melodex.midi import read_midi
from melodex.soundfont import installed_soundfonts

CORPUS = Path(__file__).parents[1] / "fixtures" / "midi"
MELODEX = Path(sys.executable).parent / "melodex"

pytestmark = [
    pytest.mark.skipif(not installed_soundfonts(), reason="no SoundFont installed (scripts/setup.sh)"),
    pytest.mark.skipif(not MELODEX.exists(), reason="melodex is not installed in this environment"),
]


def melodex(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MELODEX), *map(str, args)], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0]


@pytest.mark.slow
def test_render_bach_chorale_with_stems(tmp_path: Path) -> None:
    out, stems = tmp_path / "new" / "bach.wav", tmp_path / "stems"  # -o makes the folder, as everywhere
    result = melodex("render", CORPUS / "bach_bwv66_6.mid", "--out", out, "--stems", stems)
    assert result.returncode == 0, result.stderr
    assert "real time" in result.stdout and "4 stems" in result.stdout
    mix, rate = soundfile.read(out, dtype="float32")
    assert rate == 44100 and mix.ndim == 2 and mix.shape[1] == 2
    assert 20.0 < len(mix) / rate < 30.0 and np.abs(mix).max() > 0.05
    parts = sorted(stems.glob("*.wav"))
    assert [p.name for p in parts] == [
        "01-melody-soprano.wav",
        "02-harmony-alto.wav",
        "03-harmony-tenor.wav",
        "04-bass.wav",  # a name that is the role is said once
    ]
    total = sum(soundfile.read(p, dtype="float32")[0] for p in parts)
    assert np.abs(total - mix).max() < 1e-4  # stems add up to the mix (24-bit rounding aside)
    from mutagen.wave import WAVE

    stated = read_midi(CORPUS / "bach_bwv66_6.mid")  # states its key: BPM and key tagged, as generate tags them
    tags = WAVE(out).tags
    assert str(tags["TBPM"]) == f"{stated.bpm:g}" and str(tags["TKEY"]) == key_tag(stated.key)


@pytest.mark.slow
def test_render_drums_other_soundfont_and_rate(tmp_path: Path) -> None:
    out, stems = tmp_path / "groove.flac", tmp_path / "stems"
    result = melodex(
        "render", CORPUS / "drums_type0_tpq96.mid", "-o", out, "--soundfont", "TimGM6mb", "--sample-rate", "22050",
        "--stems", stems,
    )
    assert result.returncode == 0, result.stderr
    audio, rate = soundfile.read(out)
    assert rate == 22050 and audio.shape[1] == 2 and np.abs(audio).max() > 0.05
    # stems in the mix's format, as generate and export write them in theirs
    assert {p.suffix for p in stems.iterdir()} == {".flac"} and soundfile.info(next(stems.iterdir())).format == "FLAC"
    from mutagen.flac import FLAC

    tags = FLAC(out)
    assert tags["BPM"] == [f"{read_midi(CORPUS / 'drums_type0_tpq96.mid').bpm:g}"] and "KEY" not in tags  # none stated


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("truncated_track.mid", "truncated track chunk"),
        ("no_notes.mid", "has no notes"),
        ("text_renamed.mid", "not a readable MIDI file"),
        ("empty.mid", "not a readable MIDI file"),
    ],
)
def test_broken_midi(name: str, expected: str, tmp_path: Path) -> None:
    assert_one_line_error(melodex("render", CORPUS / "broken" / name, "-o", tmp_path / "x.wav"), name, expected)
    assert not (tmp_path / "x.wav").exists()


def test_bad_requests(tmp_path: Path) -> None:
    song = CORPUS / "oneills_0002.mid"
    assert_one_line_error(melodex("render", tmp_path / "gone.mid", "-o", tmp_path / "x.wav"), "does not exist")
    (tmp_path / "plain").write_text("x")
    assert_one_line_error(melodex("render", song, "-o", tmp_path / "plain" / "x.wav"), "not a folder")
    assert_one_line_error(melodex("render", song, "-o", tmp_path), "is a folder")
    assert_one_line_error(melodex("render", song, "-o", tmp_path / "x.mp3"), ".wav or .flac")
    assert_one_line_error(
        melodex("render", song, "-o", tmp_path / "x.wav", "--soundfont", "NoSuchFont"), "NoSuchFont", "FluidR3_GM"
    )
    assert_one_line_error(melodex("render", song, "-o", tmp_path / "x.wav", "--sample-rate", "1000"), "sample-rate")
    (tmp_path / "file").write_text("x")
    assert_one_line_error(
        melodex("render", song, "-o", tmp_path / "x.wav", "--stems", tmp_path / "file"), "not a folder"
    )


def test_impossible_tempo_and_meter_in_the_file(tmp_path: Path) -> None:
    for tempo_mspq, meter, expected in ((100_000, (4, 4), "600 BPM"), (500_000, (4, 64), "lower number")):
        raw = symusic.Score(480)
        raw.tempos = [symusic.Tempo(0, mspq=tempo_mspq)]
        raw.time_signatures = [symusic.TimeSignature(0, *meter)]
        track = symusic.Track("piano", 0, False)
        track.notes.append(symusic.Note(0, 480, 60, 90))
        raw.tracks.append(track)
        raw.dump_midi(str(tmp_path / "odd.mid"))
        assert_one_line_error(melodex("render", tmp_path / "odd.mid", "-o", tmp_path / "x.wav"), "odd.mid", expected)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert_one_line_error(melodex("render", CORPUS / "oneills_0002.mid", "-o", locked / "x.wav"), "permission")
    finally:
        locked.chmod(0o700)
        shutil.rmtree(locked)


def test_out_is_the_one_name_and_output_still_works(tmp_path: Path) -> None:
    song = CORPUS / "drums_type0_tpq96.mid"
    old = tmp_path / "made" / "old.wav"  # --output, the name before -o/--out, kept for old scripts
    result = melodex("render", song, "--output", old, "--sample-rate", "8000")
    assert result.returncode == 0, result.stderr
    assert soundfile.info(old).samplerate == 8000
    shown = melodex("render", "--help")
    assert "--out" in shown.stdout and "--output" not in shown.stdout
    missing = melodex("render", song)
    assert missing.returncode == 2 and "'-o' / '--out': missing" in missing.stderr
    both = melodex("render", song, "-o", tmp_path / "a.wav", "--output", tmp_path / "b.wav")
    assert both.returncode == 2 and "once" in both.stderr
