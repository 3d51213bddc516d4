"""Production and mastering: loudness and true-peak targets, the texture-word table, clean-up, silence."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from melodex.production.loudness import integrated_lufs, true_peak_dbtp
from melodex.production.mastering import _spikes, repair_clicks
from melodex.production.mix import ProductionError, produce
from melodex.production.settings import WORD_TABLE, MixSettings, mix_settings_from_text
from melodex.score import DRUM_PROGRAM, TPQ, Score, Tempo, Track

RATE = 44100


def reference_lufs(audio: np.ndarray) -> float:
    return float(pyloudnorm.Meter(RATE).integrated_loudness(audio.astype(np.float64)))


def reference_dbtp(audio: np.ndarray) -> float:
    """True peak by plain 4x resampling of the whole signal (scipy's default filter, not ours)."""
    return float(20 * np.log10(np.abs(resample_poly(audio.astype(np.float64), 4, 1, axis=0)).max()))


@pytest.fixture(scope="module")
def stems() -> tuple[list[np.ndarray], list[str], list[int]]:
    """Real content: 12 s of melody, chords, bass and drums from the SoundFont sample sets."""
    from melodex.render_audio import RenderOptions, make_samplesets
    from melodex.sampler import perform_all

    rng = np.random.default_rng(3)
    melody = [(i * TPQ // 2, TPQ // 2 - 10, int(rng.integers(67, 80)), int(rng.integers(70, 120))) for i in range(48)]
    chords = [(b * 4 * TPQ, 4 * TPQ - 20, p + r, 70) for b, r in enumerate((0, 5, 7, 0, 5, 7)) for p in (48, 52, 55)]
    bass = [(i * TPQ, TPQ - 30, 36 + (0, 5, 7, 0, 5, 7)[i // 4], 95) for i in range(24)]
    drums = [(i * TPQ // 2, 60, (36, 42, 38, 42)[i % 4], 100) for i in range(48)]
    score = Score(
        tracks=[
            Track(0, "melody", notes=np.array(melody)),
            Track(48, "harmony", notes=np.array(chords)),
            Track(33, "bass", notes=np.array(bass)),
            Track(DRUM_PROGRAM, "drums", notes=np.array(drums)),
        ],
        tempos=[Tempo(120.0)],
    )
    tracks = range(len(score.tracks))
    made = make_samplesets(score, dict.fromkeys(tracks, ""), dict.fromkeys(tracks, 0),
                           RenderOptions(renderer="soundfont"), None)
    dry = perform_all(score, [made[i][0] for i in tracks])
    return dry, [t.role for t in score.tracks], [t.program for t in score.tracks]


@pytest.mark.slow
@pytest.mark.parametrize("text", ["", "lo-fi", "warm", "spacious", "punchy clean bright"])
def test_master_hits_loudness_and_true_peak(stems, text):
    dry, roles, programs = stems
    result = produce(dry, roles, mix_settings_from_text(text), RATE, programs)
    assert result.mix.shape[1] == 2 and np.all(np.isfinite(result.mix))
    assert abs(reference_lufs(result.mix) + 14.0) < 0.5
    assert reference_dbtp(result.mix) < -1.0
    assert abs(result.report.lufs - reference_lufs(result.mix)) < 0.01
    assert result.report.clipped_samples == 0


@pytest.mark.slow
def test_texture_words_change_the_sound_measurably(stems):
    dry, roles, programs = stems
    mixes = {
        w: produce(dry, roles, mix_settings_from_text(w), RATE, programs).mix for w in ("", "lo-fi", "warm", "spacious")
    }

    def band_share(audio: np.ndarray, low: float, high: float) -> float:
        spectrum = np.abs(np.fft.rfft(audio.mean(axis=1))) ** 2
        freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
        return float(spectrum[(freqs >= low) & (freqs < high)].sum() / spectrum.sum())

    def side_share(audio: np.ndarray) -> float:
        mid, side = audio.sum(axis=1), audio[:, 0] - audio[:, 1]
        return float(np.sum(side**2) / np.sum(mid**2))

    # lo-fi: the top end is gone (band-limited, resampled down).
    assert band_share(mixes["lo-fi"], 8000, 20000) < 0.2 * band_share(mixes[""], 8000, 20000)
    # warm: more low-mid weight, less upper-mid than the default.
    assert band_share(mixes["warm"], 60, 300) > band_share(mixes[""], 60, 300)
    assert band_share(mixes["warm"], 2500, 6000) < band_share(mixes[""], 2500, 6000)
    # spacious: wider, and the reverb tail rings on after the last note (score ends at 12 s).
    assert side_share(mixes["spacious"]) > 1.3 * side_share(mixes[""])
    tail = slice(int(12.2 * RATE), int(12.8 * RATE))
    assert np.sqrt(np.mean(mixes["spacious"][tail] ** 2)) > 1.5 * np.sqrt(np.mean(mixes[""][tail] ** 2))


def test_word_table_maps_the_named_words_to_different_settings():
    lofi, warm, spacious = (mix_settings_from_text(t) for t in ("Lo-Fi beats", "a warm piano", "spacious pads"))
    assert lofi.lofi > 0.5 and warm.lofi == 0.0 and spacious.lofi == 0.0
    assert warm.warmth > MixSettings().warmth and spacious.reverb > MixSettings().reverb
    assert len({lofi, warm, spacious, MixSettings()}) == 4
    assert mix_settings_from_text("nothing about texture") == MixSettings()
    assert mix_settings_from_text(None) == MixSettings()
    # Words inside other words do not count ("dry" in "laundry", "warm" in "swarm").
    assert mix_settings_from_text("laundry swarm") == MixSettings()
    assert mix_settings_from_text("warm lo-fi").words == ("warm", "lo-fi")
    for word, values in WORD_TABLE.items():
        assert set(values) <= {"reverb", "room_size", "warmth", "brightness", "punch", "width", "lofi"}, word


def tone(seconds: float, freq: float = 220.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)


def test_dc_offset_is_removed():
    stems = [tone(6.0) + 0.25, tone(6.0, 330.0) - 0.1]
    result = produce(stems, ["melody", "harmony"], MixSettings(), RATE)
    assert np.abs(result.mix.mean(axis=0)).max() < 1e-3
    assert abs(reference_lufs(result.mix) + 14.0) < 0.5


def test_silence_stays_silent_without_nan():
    silent = [np.zeros(3 * RATE, dtype=np.float32), np.zeros(3 * RATE, dtype=np.float32)]
    result = produce(silent, ["melody", "bass"], mix_settings_from_text("spacious lo-fi warm"), RATE)
    assert np.all(result.mix == 0.0) and np.all(np.isfinite(result.mix))
    assert result.report.lufs == float("-inf")
    # One silent stem among real ones is fine too.
    mixed = produce([tone(3.0), silent[0]], ["melody", "pad"], MixSettings(), RATE)
    assert np.all(np.isfinite(mixed.mix)) and np.all(mixed.stems[1] == 0.0)


def test_impulsive_clicks_are_repaired_and_music_is_left_alone():
    music = np.stack([tone(2.0), tone(2.0, 275.0)])
    clicked = music.copy()
    clicked[0, 30000] += 0.8
    clicked[1, 50000] -= 0.6
    repaired, count = repair_clicks(clicked)
    assert count == 2
    assert np.abs(repaired - music).max() < 0.01
    untouched, none = repair_clicks(music)
    assert none == 0 and np.array_equal(untouched, music)


def test_screened_click_detection_finds_what_the_running_rms_finds():
    """The block bound only skips frames: the spikes found are those of the full running local RMS."""
    from scipy.ndimage import uniform_filter1d

    def full(channel: np.ndarray) -> np.ndarray:
        second = np.zeros_like(channel)
        second[1:-1] = channel[1:-1] - 0.5 * (channel[:-2] + channel[2:])
        local = np.sqrt(np.maximum(uniform_filter1d(np.square(second), size=501, mode="nearest"), 0.0))
        return np.nonzero(np.abs(second) > 12.0 * local + 1e-3)[0]

    rng = np.random.default_rng(1)
    found = 0
    for trial in range(60):
        n = int(rng.integers(1, 20000))
        t = np.arange(n) / RATE
        audio = 0.3 * np.sin(2 * np.pi * rng.uniform(50, 5000) * t)
        if trial % 3 == 1:
            audio += 0.1 * rng.standard_normal(n)  # noise: the full-filter branch
        if trial % 3 == 2:
            audio[: n // 2] = 0.0
        for _ in range(int(rng.integers(0, 5))):
            audio[rng.integers(0, n)] += rng.uniform(-1, 1)
        audio = audio.astype(np.float32)
        expected = full(audio)
        found += len(expected)
        assert np.array_equal(_spikes(audio, 12.0), expected), trial
    assert found > 50


def test_bands_at_zero_gain_are_left_out_because_they_change_nothing():
    """The chains and the master skip 0 dB shelves and peaks (`effects.flat`): pedalboard's are identities."""
    import pedalboard as pb

    from melodex.production.effects import flat, track_board
    from melodex.production.settings import ROLE_MIX

    audio = np.random.default_rng(2).standard_normal((2, RATE)).astype(np.float32) * 0.3
    for band in (pb.LowShelfFilter(cutoff_frequency_hz=220.0, gain_db=0.0, q=0.707),
                 pb.PeakFilter(cutoff_frequency_hz=3200.0, gain_db=0.0, q=0.8),
                 pb.HighShelfFilter(cutoff_frequency_hz=9000.0, gain_db=0.0, q=0.707)):
        assert flat(band) and np.array_equal(band(audio, RATE), audio)
    assert not flat(pb.HighShelfFilter(cutoff_frequency_hz=9000.0, gain_db=-0.4, q=0.707))
    plain = track_board(ROLE_MIX["melody"], MixSettings(warmth=0.0, brightness=0.0), False, RATE)
    assert [type(p).__name__ for p in plain] == ["HighpassFilter", "Compressor"]


def test_fast_measurements_agree_with_the_references():
    rng = np.random.default_rng(0)
    audio = np.stack([tone(5.0), tone(5.0, 1234.5)], axis=1) + 0.05 * rng.standard_normal((5 * RATE, 2))
    assert abs(integrated_lufs(audio, RATE) - reference_lufs(audio)) < 0.01
    # A near-Nyquist tone sampled off its peaks: its true peak is well above its sample peak.
    t = np.arange(RATE) / RATE
    sharp = (0.5 * np.sin(2 * np.pi * 11025 * t + np.pi / 4)).astype(np.float32)
    assert 20 * np.log10(np.abs(sharp).max()) < -8.9
    assert abs(true_peak_dbtp(sharp) - reference_dbtp(sharp)) < 0.1
    assert true_peak_dbtp(np.zeros(100)) == float("-inf")


def test_bad_stems_are_clear_errors():
    with pytest.raises(ProductionError, match="one role per stem"):
        produce([tone(1.0)], ["melody", "bass"])
    with pytest.raises(ProductionError, match="unknown track roles"):
        produce([tone(1.0)], ["kazoo"])
    with pytest.raises(ProductionError, match="finite"):
        produce([np.full(RATE, np.nan, dtype=np.float32)], ["melody"])


@pytest.mark.slow
def test_render_command_with_timbre_writes_a_mastered_mix(tmp_path):
    from typer.testing import CliRunner

    from melodex.cli import app
    from melodex.evaluate.renderer import synthetic_score
    from melodex.midi import write_midi

    song = tmp_path / "song.mid"
    write_midi(synthetic_score(6.0), song)
    out = tmp_path / "song.wav"
    result = CliRunner().invoke(
        app, ["render", str(song), "-o", str(out), "--stems", str(tmp_path / "stems"), "--timbre", "warm"]
    )
    assert result.exit_code == 0, result.output
    # It says plainly which sample sets were used, and what the master measured.
    assert "sample sets" in result.output and "LUFS" in result.output
    import soundfile

    mix, _ = soundfile.read(out)
    assert mix.shape[1] == 2 and abs(reference_lufs(mix) + 14.0) < 0.5
    assert len(list((tmp_path / "stems").glob("*.wav"))) == 4


def test_low_sample_rates_keep_filters_below_nyquist():
    rate = 16000
    t = np.arange(4 * rate) / rate
    stem = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    result = produce([stem, stem], ["melody", "pad"], mix_settings_from_text("bright lo-fi spacious"), rate)
    assert np.all(np.isfinite(result.mix))
    assert abs(pyloudnorm.Meter(rate).integrated_loudness(result.mix.astype(np.float64)) + 14.0) < 0.5


@pytest.mark.parametrize("words", ["warm punchy", "lo-fi spacious"])
def test_a_stretch_produced_with_the_songs_levels_matches_the_whole_production(stems, words) -> None:
    """Editing re-produces only the edited bars: with the recorded levels and a reverb warm-up before
    it, that stretch must sound like the same stretch of a whole-song production (no level jump)."""
    audio, roles, programs = stems
    start, stop, warmup = 6 * RATE, 9 * RATE, 3 * RATE  # re-produce 6-9 s, starting 3 s early
    quiet = np.ones(len(audio[0]), dtype=np.float32)
    quiet[start - warmup:stop] = 0.25  # a quiet passage: measured on its own it would be staged up
    audio = [a * (quiet if a.ndim == 1 else quiet[:, None]) for a in audio]
    settings = mix_settings_from_text(words)
    whole = produce(audio, roles, settings, RATE, programs)
    part = produce([a[start - warmup:stop] for a in audio], roles, settings, RATE, programs, levels=whole.levels)
    got, want = part.mix[warmup:], whole.mix[start:stop]
    error_db = 10 * np.log10(np.mean((got - want) ** 2) / np.mean(want**2))
    assert error_db < -30.0, f"re-produced stretch differs by {error_db:.1f} dB"
    unrecorded = produce([a[start - warmup:stop] for a in audio], roles, settings, RATE, programs)
    error_unrecorded = 10 * np.log10(np.mean((unrecorded.mix[warmup:] - want) ** 2) / np.mean(want**2))
    assert error_unrecorded > error_db + 12.0  # measured afresh, the quiet passage is staged up


@pytest.mark.parametrize("words", ["", "punchy", "lo-fi spacious"])
def test_stems_add_up_to_the_mix_and_none_passes_the_ceiling(stems, words) -> None:
    """Every master step acts on each stem alike, so stems + reverb return = mix, and the limiter hears
    each stem too: before, the drum stem of this fixture reached +0.8 dBTP with "punchy" and the stems
    summed to the mix only within -6.5 dB ("lo-fi spacious")."""
    audio, roles, programs = stems
    result = produce(audio, roles, mix_settings_from_text(words), RATE, programs)
    total = np.sum(result.stems, axis=0) + result.reverb_return
    residual_db = 10 * np.log10(np.mean((total - result.mix) ** 2) / np.mean(result.mix**2) + 1e-30)
    assert residual_db < -100.0
    for part in [*result.stems, result.reverb_return, result.mix]:
        assert reference_dbtp(part) <= -1.0 + 0.05
    assert abs(reference_lufs(result.mix) + 14.0) < 0.3


def test_a_loud_master_is_limited_under_the_ceiling_and_its_stems_still_add_up(stems) -> None:
    """-6 LUFS asks the limiter for more than it can give on this fixture: the mix and every part must still
    stay at or under -1 dBTP by another meter (plain 4x resampling), with no sample at full scale. Before,
    the loudness rounds raised the gain after the last limiter pass: +1.3 dBTP, 6,939 clipped samples."""
    audio, roles, programs = stems
    result = produce(audio, roles, MixSettings(target_lufs=-6.0), RATE, programs)
    assert result.report.limiter_gain_reduction_db > 3.0  # the limiter really worked
    assert reference_lufs(result.mix) > -9.0  # as loud as the ceiling lets this fixture be (~-8.5 LUFS)
    # ... and the user is told so: before, a -6 LUFS request came out at -8.5 without a word
    assert result.report.loudness_note == (f"asked for -6 LUFS; the -1 dBTP ceiling allows {result.report.lufs:.1f} "
                                           "LUFS for this mix (the master was left there rather than limited harder)")
    assert result.report.lufs < -6.5
    assert replace(result.report, target_lufs=result.report.lufs + 0.4).loudness_note is None  # within 0.5 LU
    for part in [result.mix, *result.stems, result.reverb_return]:
        assert reference_dbtp(part) <= -1.0 + 0.05
    assert result.report.clipped_samples == 0
    total = np.sum(result.stems, axis=0) + result.reverb_return
    assert np.abs(total - result.mix).max() < 1e-5


@pytest.mark.parametrize("words", ["", "punchy"])
def test_the_unmastered_bus_is_turned_down_under_the_ceiling_not_limited(stems, words) -> None:
    """Without the master nothing limited the bus: on this fixture it peaked over -1 dBTP (and real songs'
    over full scale, so their WAVs clipped). One gain on every part: under the ceiling, the parts still add
    up to the bus, and the dynamics are untouched (the same crest factor as the parts' plain sum)."""
    audio, roles, programs = stems
    settings = mix_settings_from_text(words)
    result = produce(audio, roles, settings, RATE, programs, mastering=False)
    for part in [result.mix, *result.stems, result.reverb_return]:
        assert reference_dbtp(part) <= -1.0 + 0.05
    total = np.sum(result.stems, axis=0) + result.reverb_return
    assert np.abs(total - result.mix).max() < 1e-5
    assert reference_dbtp(result.mix) > -1.5  # turned down to the ceiling, not far below it
