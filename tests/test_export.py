"""Export: stem names, formats, bit depths, bitrates, loudness, dry stems, no master, loops, click, metadata."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from melodex import edit
from melodex.errors import MelodexError
from melodex.export import ExportOptions, export_take, stem_name
from melodex.production.loudness import integrated_lufs

PROMPT = "lo-fi piano, bass and drums, 100 BPM, F minor, intro 2 bars, verse 4 bars, chorus 4 bars"


@pytest.fixture
def take(generated, tiny_models):  # conftest's project, generated from PROMPT
    return edit.open_session(generated).take


def stems_of(folder):
    return sorted((folder / "stems").iterdir())


def test_stem_names_are_one_based_readable_and_shared(take, generated) -> None:
    names = [stem_name(take.score, i) for i in range(len(take.score.tracks))]
    assert names[0].startswith("01-") and all("--" not in n for n in names)
    assert [p.stem for p in stems_of(generated)] == [*names, f"{len(names) + 1:02d}-reverb"]


def test_processed_stems_and_reverb_add_up_to_the_mix_in_any_format(take, tmp_path) -> None:
    files = export_take(take, tmp_path, ExportOptions(formats=("flac", "wav"), bit_depth=16))
    stems = stems_of(tmp_path)
    assert all(p.suffix == ".flac" for p in stems) and "mix.wav" in files and "mix.flac" in files
    info = sf.info(str(stems[0]))
    assert info.subtype == "PCM_16" and info.samplerate == 16000
    mix = sf.read(tmp_path / "mix.flac")[0]
    assert np.abs(sum(sf.read(p)[0] for p in stems) - mix).max() < 4 * 2**-15  # 16-bit rounding per file


def test_dry_stems_no_master_and_loudness(take, generated, tmp_path) -> None:
    files = export_take(take, tmp_path / "dry", ExportOptions(stems="dry", formats=("wav", "flac"), bit_depth=16))
    dry = stems_of(tmp_path / "dry")
    assert len(dry) == len(take.score.tracks) and all(p.suffix == ".wav" for p in dry)  # no reverb: no effects
    assert files["dry mix"] == tmp_path / "dry" / "dry-mix.wav"  # the stems' format
    dry_mix = sf.read(tmp_path / "dry" / "dry-mix.wav", always_2d=True)[0]
    assert np.abs(sum(sf.read(p, always_2d=True)[0] for p in dry) - dry_mix).max() < 5 * 2**-15  # 16-bit rounding
    assert dry_mix.shape[1] == 2 and np.abs(dry_mix).max() > 0.01
    # At the mix's balance: each stem as loud against its mix as the processed stem against the mix, give or
    # take what its EQ and compression change (1.2 dB at most here; the sampler's raw levels are 9 dB apart).
    rate = take.sample_rate
    for stem, wet in zip(dry, stems_of(generated), strict=False):
        ours = integrated_lufs(sf.read(stem)[0], rate) - integrated_lufs(dry_mix, rate)
        theirs = integrated_lufs(sf.read(wet)[0], rate) - integrated_lufs(take.mix, rate)
        assert abs(ours - theirs) < 2.5, (stem.name, ours, theirs)
    export_take(take, tmp_path / "raw", ExportOptions(master=False, bit_depth=32))
    raw = sf.read(tmp_path / "raw" / "mix.wav")[0]
    assert np.abs(sum(sf.read(p)[0] for p in stems_of(tmp_path / "raw")) - raw).max() < 1e-5
    mastered = integrated_lufs(take.mix, take.sample_rate)
    # the raw mix sits where the production left it (this song: about -16 LUFS); mastering lifts it to -14
    assert abs(mastered - -14) < 1.0 and integrated_lufs(raw, take.sample_rate) < mastered - 1
    export_take(take, tmp_path / "quiet", ExportOptions(lufs=-23, stems="none"))
    quiet = sf.read(tmp_path / "quiet" / "mix.wav")[0]
    assert abs(integrated_lufs(quiet, take.sample_rate) - -23) < 1.0
    assert not (tmp_path / "quiet" / "stems").exists()


def test_sample_rate_mp3_bitrate_and_metadata(take, tmp_path) -> None:
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3
    from mutagen.wave import WAVE

    export_take(take, tmp_path, ExportOptions(formats=("wav", "flac", "mp3"), sample_rate=48000, mp3_kbps=128))
    assert sf.info(str(tmp_path / "mix.wav")).samplerate == 48000
    seconds = sf.info(str(tmp_path / "mix.wav")).duration
    kbps = (tmp_path / "mix.mp3").stat().st_size * 8 / seconds / 1000
    assert 110 < kbps < 150
    assert str(ID3(tmp_path / "mix.mp3")["TBPM"]) == "100" and str(ID3(tmp_path / "mix.mp3")["TKEY"]) == "Fm"
    assert str(WAVE(tmp_path / "mix.wav").tags["TKEY"]) == "Fm"
    assert FLAC(tmp_path / "mix.flac")["BPM"] == ["100"]


def test_a_section_as_a_loop_with_a_click(take, tmp_path) -> None:
    export_take(take, tmp_path, ExportOptions(section="chorus", click=True))
    mix, rate = sf.read(tmp_path / "mix.wav")
    assert len(mix) == round(4 * 4 * 60 / 100 * rate)  # 4 bars of 4/4 at 100 BPM, no tail: it wraps
    click = sf.read(tmp_path / "click.wav")[0]
    assert len(click) == len(mix)
    beat = round(60 / 100 * rate)
    sounding = np.flatnonzero(np.abs(click[:, 0]) > 1e-3)
    onsets = sounding[np.concatenate([[True], np.diff(sounding) > 0.1 * rate])]  # a tick lasts 30 ms
    assert len(onsets) == 16 and np.abs(np.diff(onsets) - beat).max() < 0.002 * rate
    from melodex.midi import read_midi

    loop = read_midi(tmp_path / "song.mid")
    assert [(s.name, s.start_bar, s.n_bars) for s in loop.sections] == [("chorus", 0, 4)]
    assert loop.bar_count() == 4


@pytest.mark.parametrize(("options", "message"), [
    ({"formats": ("ogg",)}, "audio format 'ogg'"),
    ({"stems": "wet"}, "stems 'wet'"),
    ({"bit_depth": 20}, "bit depth 20"),
    ({"formats": ("flac",), "bit_depth": 32}, "FLAC holds 16 or 24"),
    ({"mp3_kbps": 100}, "MP3 bitrate 100"),
    ({"lufs": 3.0}, "outside"),
    ({"sample_rate": 12345}, "sample rate 12345"),
])
def test_bad_options_are_refused_before_anything_is_written(options, message) -> None:
    with pytest.raises(MelodexError, match=message):
        ExportOptions(**options)


def test_an_unknown_section_writes_nothing(take, tmp_path) -> None:
    with pytest.raises(MelodexError, match="no section named 'bridge'"):
        export_take(take, tmp_path / "out", ExportOptions(section="bridge"))
    assert not (tmp_path / "out").exists()


def test_re_export_leaves_one_set_of_stems(take, generated, tmp_path) -> None:
    folder = tmp_path / "song"
    shutil.copytree(generated, folder)
    export_take(take, folder, ExportOptions(formats=("flac",)))
    assert {p.suffix for p in stems_of(folder)} == {".flac"}


def test_a_loop_of_dry_stems_still_adds_up(take, tmp_path) -> None:
    export_take(take, tmp_path, ExportOptions(section="chorus", stems="dry", bit_depth=32))
    dry_mix, rate = sf.read(tmp_path / "dry-mix.wav", always_2d=True)
    assert len(dry_mix) == round(4 * 4 * 60 / 100 * rate) == len(sf.read(tmp_path / "mix.wav")[0])
    assert np.abs(sum(sf.read(p, always_2d=True)[0] for p in stems_of(tmp_path)) - dry_mix).max() < 1e-5
