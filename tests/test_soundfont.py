"""The FluidSynth reference renderer: SoundFont lookup, single notes, scores, stems, timing, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from melodex.score import DRUM_PROGRAM, TPQ, Score, Tempo, Track
from melodex.soundfont import (
    BLOCK,
    DRUM_CHANNEL,
    SoundFontError,
    SoundFontSynth,
    SynthOptions,
    channel_plan,
    find_soundfont,
    installed_soundfonts,
    note_events,
)

pytestmark = pytest.mark.skipif(not installed_soundfonts(), reason="no SoundFont installed (scripts/setup.sh)")
SR = 44100


@pytest.fixture(scope="module")
def synth() -> SoundFontSynth:
    return SoundFontSynth()


def onset(audio: np.ndarray, threshold: float = 1e-4) -> int:
    level = np.abs(audio).max(axis=1) if audio.ndim == 2 else np.abs(audio)
    return int(np.argmax(level > threshold))


def four_track_score(bars: int = 4) -> Score:
    rng = np.random.default_rng(0)

    def part(program: int, low: int, high: int, step: int) -> Track:
        n = bars * 4 * TPQ // step
        starts = np.arange(n) * step
        notes = np.stack([starts, np.full(n, step), rng.integers(low, high, n), rng.integers(60, 110, n)], 1)
        return Track(program, notes=notes)

    return Score(
        tracks=[
            part(0, 60, 80, TPQ),
            part(33, 36, 48, TPQ * 2),
            part(DRUM_PROGRAM, 36, 47, TPQ // 2),
            part(48, 55, 70, TPQ * 4),
        ],
        tempos=[Tempo(120.0)],
    )


# -- finding SoundFonts -----------------------------------------------------------------------------


def test_find_soundfont_default_name_and_path() -> None:
    default = find_soundfont(None)
    assert default.name == "FluidR3_GM.sf2"
    assert find_soundfont("fluidr3_gm") == default
    assert find_soundfont(str(default)) == default


def test_missing_soundfont_lists_what_is_installed(tmp_path: Path) -> None:
    with pytest.raises(SoundFontError, match=r"installed: .*FluidR3_GM"):
        find_soundfont("NoSuchFont")
    with pytest.raises(SoundFontError, match="does not exist"):
        find_soundfont(str(tmp_path / "gone.sf2"))


def test_invalid_soundfont_file_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.sf2"
    bogus.write_bytes(b"RIFF not a soundfont")
    with pytest.raises(SoundFontError, match="could not load"):
        SoundFontSynth(bogus)


# -- single notes -----------------------------------------------------------------------------------


def test_render_note_shape_and_determinism(synth: SoundFontSynth) -> None:
    note = synth.render_note(0, 60, 100, 0.5, release_s=1.0)
    assert note.dtype == np.float32 and note.shape == (round(1.5 * SR),)
    assert np.array_equal(note, synth.render_note(0, 60, 100, 0.5, release_s=1.0))
    assert onset(note) < 64  # starts at frame 0 (plus the sample's own lead-in)
    assert 0.01 < np.abs(note).max() < 1.0


def test_render_note_not_changed_by_what_was_rendered_before(synth: SoundFontSynth) -> None:
    first = synth.render_note(40, 67, 90, 0.3)
    synth.render_note(0, 60, 127, 0.01, release_s=0.01)  # a voice cut off mid-note
    synth.render_note(DRUM_PROGRAM, 38, 127, 0.1)
    assert np.array_equal(first, synth.render_note(40, 67, 90, 0.3))


def test_render_note_velocity_release_and_drums(synth: SoundFontSynth) -> None:
    soft = synth.render_note(0, 60, 30, 0.5)
    loud = synth.render_note(0, 60, 120, 0.5)
    assert np.abs(loud).max() > 2 * np.abs(soft).max()
    held = synth.render_note(0, 60, 100, 0.5, release_s=0.5)
    tail = held[int(0.6 * SR) :]
    assert np.abs(tail).max() < 0.5 * np.abs(held[: int(0.5 * SR)]).max()  # released after 0.5 s
    snare = synth.render_note(DRUM_PROGRAM, 38, 110, 0.2)
    assert np.abs(snare).max() > 0.01 and onset(snare) < 256  # the snare sample has a 2 ms lead-in
    assert synth.render_note(0, 60, 100, 0.0, release_s=0.2).shape == (round(0.2 * SR),)


def test_render_note_other_sample_rate(synth: SoundFontSynth) -> None:
    assert synth.render_note(73, 72, 100, 0.25, release_s=0.25, sample_rate=22050).shape == (11025,)


def test_render_note_bad_arguments(synth: SoundFontSynth) -> None:
    for args in ((129, 60, 100, 0.5), (0, 128, 100, 0.5), (0, 60, 0, 0.5), (0, 60, 100, -1.0)):
        with pytest.raises(SoundFontError):
            synth.render_note(*args)
    with pytest.raises(SoundFontError, match="sample rate"):
        synth.render_note(0, 60, 100, 0.5, sample_rate=1000)


# -- scores -----------------------------------------------------------------------------------------


def test_render_is_deterministic_and_stems_add_up_to_the_mix(synth: SoundFontSynth) -> None:
    score = four_track_score()
    mix = synth.render(score)
    assert mix.dtype == np.float32 and mix.shape == (synth.render_length(score), 2)
    assert mix.shape[0] == round((score.duration_seconds + 1.0) * SR)
    assert np.array_equal(mix, synth.render(score))
    stems = synth.render_stems(score)
    assert sorted(stems) == [0, 1, 2, 3]
    assert all(stem.shape == mix.shape for stem in stems.values())
    np.testing.assert_allclose(sum(stems.values()), mix, atol=1e-6)
    assert all(np.abs(stem).max() > 0.01 for stem in stems.values())
    assert np.abs(mix).max() < 1.0  # the default gain keeps a four-track GM mix below full scale


def test_onsets_follow_the_tempo_map(synth: SoundFontSynth) -> None:
    # A kick on every beat; the tempo changes from 60 to 150 BPM at beat 2 and 90 at beat 5.
    kicks = [[beat * TPQ, TPQ // 4, 36, 120] for beat in range(8)]
    score = Score(
        tracks=[Track(DRUM_PROGRAM, role="drums", notes=kicks)],
        tempos=[Tempo(60.0), Tempo(150.0, 2 * TPQ), Tempo(90.0, 5 * TPQ)],
    )
    audio = synth.render(score)
    reference = onset(synth.render_note(DRUM_PROGRAM, 36, 120, 0.1))
    expected = np.rint(score.seconds_at(np.arange(8) * TPQ) * SR).astype(int)
    for beat, frame in enumerate(expected):
        window = audio[max(0, frame - 200) : frame + 400]
        found = max(0, frame - 200) + onset(window)
        # FluidSynth starts notes on 64-frame block boundaries: within half a block of the exact frame.
        assert abs(found - reference - frame) <= BLOCK // 2, (beat, found, frame)


def test_overlapping_same_pitch_notes_sound_until_the_last_ends(synth: SoundFontSynth) -> None:
    score = Score(tracks=[Track(48, notes=[[0, 4 * TPQ, 60, 100], [TPQ, TPQ, 60, 100]])])
    events = note_events(score, SR)
    assert [kind for _, kind, _, _, _ in events] == [1, 1, 0]  # the inner note's end sends no note-off
    audio = synth.render(score)
    held = audio[int(1.5 * SR) : int(1.9 * SR)]  # after the inner note ended, before the outer one
    assert np.abs(held).max() > 0.01


def test_zero_length_and_repeated_notes_make_sound(synth: SoundFontSynth) -> None:
    score = Score(tracks=[Track(0, notes=[[0, 0, 60, 100], [TPQ, TPQ, 62, 100], [2 * TPQ, TPQ, 62, 100]])])
    events = note_events(score, SR)
    first_on, first_off = events[0], events[1]
    assert first_on[1] == 1 and first_off[1] == 0 and first_off[0] > first_on[0]
    audio = synth.render(score)
    assert np.abs(audio[:2048]).max() > 0.005


def test_channels_drums_on_ten_and_many_tracks(synth: SoundFontSynth) -> None:
    tracks = [Track(DRUM_PROGRAM, role="drums")] + [Track(i) for i in range(16)] + [Track(DRUM_PROGRAM, role="drums")]
    plan = channel_plan(Score(tracks=tracks))
    assert plan[0] == DRUM_CHANNEL and DRUM_CHANNEL not in plan[1:]
    assert len(set(plan)) == len(plan)
    score = Score(
        tracks=[
            Track(DRUM_PROGRAM, role="drums", notes=[[0, TPQ, 38, 110]]),
            *[Track(p, notes=[[0, TPQ, 60, 100]]) for p in range(16)],
            Track(DRUM_PROGRAM, role="drums", notes=[[0, TPQ, 38, 110]]),
        ]
    )
    stems = synth.render_stems(score)
    np.testing.assert_array_equal(stems[0], stems[17])  # the second kit, on channel 16+, is a kit too
    assert all(np.abs(stem).max() > 0.005 for stem in stems.values())


def test_empty_score_renders_silence_of_one_bar_plus_tail(synth: SoundFontSynth) -> None:
    score = Score(tracks=[Track(0)], n_bars=1)
    audio = synth.render(score)
    assert audio.shape == (round((2.0 + 1.0) * SR), 2) and not audio.any()


def test_progress_reaches_one(synth: SoundFontSynth) -> None:
    seen: list[float] = []
    synth.render(four_track_score(bars=2), progress=seen.append)
    assert seen and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


def test_reverb_option_adds_a_tail(synth: SoundFontSynth) -> None:
    score = Score(tracks=[Track(0, notes=[[0, TPQ // 4, 72, 110]])], n_bars=1)
    dry = synth.render(score)
    wet_synth = SoundFontSynth(options=SynthOptions(reverb=True))
    wet = wet_synth.render(score)
    assert np.array_equal(wet, wet_synth.render(score))
    assert not np.array_equal(wet, dry)


def test_absurdly_long_score_is_refused_before_allocating(synth: SoundFontSynth) -> None:
    score = Score(tracks=[Track(0, notes=[[0, TPQ, 60, 90], [10_000_000, TPQ, 60, 90]])])
    with pytest.raises(SoundFontError, match="at most 30"):
        synth.render(score)


@pytest.mark.parametrize(("program", "pitch"), [(73, 69), (0, 60), (40, 76)])
def test_render_note_plays_the_right_pitch(synth: SoundFontSynth, program: int, pitch: int) -> None:
    note = synth.render_note(program, pitch, 100, 1.0, release_s=0.0)[int(0.2 * SR) :]
    spectrum = np.abs(np.fft.rfft(note * np.hanning(len(note))))
    freqs = np.fft.rfftfreq(len(note), 1 / SR)
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    # The strongest partial below 5 kHz is a harmonic of the note's fundamental.
    band = freqs < 5000
    peak = freqs[band][np.argmax(spectrum[band])]
    harmonic = round(peak / f0)
    assert harmonic >= 1 and abs(peak / (harmonic * f0) - 1) < 0.01
