"""The sampler: pitch, clicks, sustain loops, drums, polyphony and determinism on synthetic sample sets."""

from __future__ import annotations

import numpy as np
import pytest

from melodex.evaluate.renderer import click_levels, note_boundaries
from melodex.sampler import Instrument, SamplerError, perform, perform_all, repitch
from melodex.score import DRUM_PROGRAM, TPQ, Score, Tempo, Track
from melodex.timbre.sampleset import SampleSet, note_sample

RATE = 44100
SET_RATE = 22050  # the sample sets are at another rate, so every test also covers rate conversion


def harmonic_note(pitch: int, velocity: int, hold_s: float, decay_per_s: float = 0.0) -> tuple[np.ndarray, int]:
    """A band-limited tone (6 harmonics, all under 4 kHz for the pitches used) with attack and release."""
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    n_hold, n_release = round(hold_s * SET_RATE), round(0.3 * SET_RATE)
    t = np.arange(n_hold + n_release) / SET_RATE
    tone = sum(np.sin(2 * np.pi * k * f0 * t + k) / k for k in range(1, 7))
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-decay_per_s * t)
    envelope[n_hold:] *= np.exp(-(t[n_hold:] - t[n_hold]) / 0.05)
    return (tone * envelope * velocity / 127 * 0.3).astype(np.float32), n_hold


def pitched_set(pitches=(57, 60, 64, 67), velocities=(64, 112), hold_s=0.6, decay_per_s=0.0) -> SampleSet:
    notes = {}
    for pitch in pitches:
        for velocity in velocities:
            audio, hold = harmonic_note(pitch, velocity, hold_s, decay_per_s)
            notes[(pitch, velocity)] = note_sample(audio, pitch, hold, SET_RATE)
    return SampleSet(program=0, is_drum=False, sample_rate=SET_RATE, notes=notes)


def drum_set() -> SampleSet:
    rng = np.random.default_rng(1)
    notes = {}
    for key, decay in ((36, 0.3), (42, 0.05), (46, 0.8)):
        n = round((decay * 6) * SET_RATE)
        t = np.arange(n) / SET_RATE
        hit = (rng.standard_normal(n) * np.exp(-t / decay) * 0.5).astype(np.float32)
        notes[(key, 100)] = note_sample(hit, key, n, SET_RATE, is_drum=True)
    return SampleSet(program=DRUM_PROGRAM, is_drum=True, sample_rate=SET_RATE, notes=notes)


def one_track(notes, program=0, role="melody", bpm=120.0) -> Score:
    return Score(tracks=[Track(program, role, notes=np.array(notes))], tempos=[Tempo(bpm)])


def estimate_f0(audio: np.ndarray, near_hz: float) -> float:
    """Fundamental by a zero-padded FFT peak near `near_hz`, refined by parabolic interpolation."""
    windowed = audio * np.hanning(len(audio))
    n_fft = 16 * len(audio)
    spectrum = np.abs(np.fft.rfft(windowed, n_fft))
    freqs = np.fft.rfftfreq(n_fft, 1 / RATE)
    band = np.nonzero((freqs > near_hz * 0.9) & (freqs < near_hz * 1.1))[0]
    k = band[np.argmax(spectrum[band])]
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return float(freqs[k] + 0.5 * (a - c) / (a - 2 * b + c) * (freqs[1] - freqs[0]))


def cents(f: float, pitch: int) -> float:
    return 1200 * np.log2(f / (440.0 * 2 ** ((pitch - 69) / 12)))


@pytest.mark.parametrize("pitch", [58, 61, 62, 66, 69])
def test_repitched_notes_are_in_tune(pitch):
    # 58, 61, 62, 66 and 69 are all between or beyond the recorded 57, 60, 64, 67: shifts of 1-2 semitones.
    score = one_track([(0, 4 * TPQ, pitch, 100)])
    stem = perform(score, 0, pitched_set(hold_s=2.5))
    steady = stem[int(0.3 * RATE) : int(1.8 * RATE)]
    assert abs(cents(estimate_f0(steady, 440.0 * 2 ** ((pitch - 69) / 12)), pitch)) < 10


def test_resampling_ratio_is_exact():
    # A 1 kHz tone repitched up a fifth must come out at 1498.3 Hz (within a fraction of a cent).
    t = np.arange(RATE) / RATE
    up = repitch(np.sin(2 * np.pi * 1000 * t).astype(np.float32), 2 ** (7 / 12))
    assert abs(len(up) - RATE / 2 ** (7 / 12)) < 2
    assert abs(1200 * np.log2(estimate_f0(up[1000:-1000], 1498.3) / (1000 * 2 ** (7 / 12)))) < 1


def naive_render(score: Score, sampleset: SampleSet) -> np.ndarray:
    """The sampler without fades, loops or releases: each recording cut hard at note-off."""
    out = np.zeros(round((score.duration_seconds + 1) * SET_RATE), dtype=np.float32)
    for start, dur, pitch, velocity in score.tracks[0].notes:
        audio = sampleset.nearest(int(pitch), int(velocity))[1].audio
        a = round(float(score.seconds_at(start)) * SET_RATE)
        n = min(len(audio), round(float(score.seconds_at(start + dur)) * SET_RATE) - a)
        out[a : a + n] += audio[:n]
    return repitch(out, SET_RATE / RATE)


def test_note_boundaries_do_not_click():
    notes = [
        (0, TPQ // 4, 60, 100),  # shorter than the attack
        (TPQ, TPQ, 64, 90),
        (TPQ + TPQ // 2, TPQ, 64, 70),  # the same key struck again while ringing
        (3 * TPQ, 6 * TPQ, 67, 110),  # longer than the recording: the loop
        (4 * TPQ, TPQ // 3, 57, 60),
        (10 * TPQ, 2 * TPQ, 60, 127),
    ]
    score = one_track(notes)
    sampleset = pitched_set()
    ours = perform(score, 0, sampleset)
    hard = naive_render(score, sampleset)
    on, off = note_boundaries(score, 0, RATE)
    boundaries = np.concatenate([on, off])
    ours_db, hard_db = click_levels(ours, boundaries, RATE), click_levels(hard, boundaries, RATE)
    # The hard cut clicks loudly at note ends; ours stays far below at every boundary.
    assert hard_db.max() > -30
    assert ours_db.max() < -50, ours_db
    # Nowhere in the stem (releases, loop seams, voice cuts included) is there a sample-to-sample jump
    # larger than the tone itself can make (its steepest slope is ~2 pi f0 * amplitude / rate).
    steepest = 2 * np.pi * 440 * 2 ** ((67 - 69) / 12) * 6 * np.abs(ours).max() / RATE
    assert np.abs(np.diff(ours)).max() < 1.2 * steepest


def test_notes_longer_than_the_recording_sustain_through_the_loop():
    sampleset = pitched_set(hold_s=0.5)
    score = one_track([(0, 8 * TPQ, 62, 100)])  # 4 s held from a 0.5 s recording
    stem = perform(score, 0, sampleset)
    frame = RATE // 20
    env = np.sqrt(np.mean(stem[: 4 * RATE].reshape(-1, frame) ** 2, axis=1))
    steady = env[4:-2]
    # Sustained tone: level within 1.5 dB all the way, no gaps, no pumping at the loop seams.
    assert 20 * np.log10(steady.max() / steady.min()) < 1.5
    assert abs(cents(estimate_f0(stem[2 * RATE : 3 * RATE], 293.7), 62)) < 10
    # And it is released at note-off.
    assert np.abs(stem[int(4.6 * RATE) :]).max() < 1e-3


def test_a_decaying_recording_keeps_decaying_through_the_loop():
    sampleset = pitched_set(hold_s=0.8, decay_per_s=2.0)
    stem = perform(one_track([(0, 8 * TPQ, 60, 100)]), 0, sampleset)
    frame = RATE // 10
    env = np.sqrt(np.mean(stem[: 4 * RATE].reshape(-1, frame) ** 2, axis=1))
    steps = np.diff(20 * np.log10(env[2:-1]))
    assert np.all(steps < 0.3), steps  # never swells back up at a loop repeat


def test_a_short_note_rings_into_its_recordings_release():
    # A piano-like recording: held 1 s, then a damper release falling 60 dB in ~0.55 s (tau 80 ms).
    f0, hold, tau = 261.6, SET_RATE, 0.08
    t = np.arange(2 * SET_RATE) / SET_RATE
    envelope = np.minimum(1.0, t / 0.005) * np.exp(-1.5 * t)
    envelope[hold:] *= np.exp(-(t[hold:] - t[hold]) / tau)
    audio = (0.3 * envelope * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 7))).astype(np.float32)
    sampleset = SampleSet(program=0, is_drum=False, sample_rate=SET_RATE,
                          notes={(60, 100): note_sample(audio, 60, hold, SET_RATE)})

    def release_db(signal: np.ndarray, off: int, rate: int) -> float:
        """RMS 50-150 ms after note-off relative to the last 50 ms held."""
        before = signal[off - rate // 20 : off]
        after = signal[off + rate // 20 : off + round(0.15 * rate)]
        return float(20 * np.log10(np.sqrt(np.mean(after**2)) / np.sqrt(np.mean(before**2))))

    # An eighth note at 110 BPM (0.27 s, where "piano notes stop dead" was heard) is not cut at its end:
    # it falls as its recording falls after key-up (measured 1.2 dB apart; a 0.1 s release, 31 dB; issue 15).
    score = one_track([(0, TPQ // 2, 60, 100)], bpm=110.0)
    stem = perform(score, 0, sampleset)
    off = round(float(score.seconds_at(TPQ // 2)) * RATE)
    assert abs(release_db(stem, off, RATE) - release_db(audio, hold, SET_RATE)) < 3.0
    assert np.abs(stem[off + round(0.7 * RATE) :]).max() < 1e-4  # and is silent once its release is over


def test_velocity_layers_and_gain_follow_velocity():
    sampleset = pitched_set()
    levels = []
    for velocity in (40, 64, 90, 112, 127):
        stem = perform(one_track([(0, TPQ, 60, velocity)]), 0, sampleset)
        levels.append(np.sqrt(np.mean(stem**2)))
    assert np.all(np.diff(levels) > 0)
    instrument = Instrument(sampleset, RATE)
    assert instrument.zone_for(60, 100).velocity == 112
    assert instrument.zone_for(61, 50).velocity == 64


def test_drums_play_whole_one_shots_without_repitch():
    sampleset = drum_set()
    score = one_track([(0, 1, 36, 100), (TPQ * 4, 1, 37, 100)], program=DRUM_PROGRAM, role="drums")
    stem = perform(score, 0, sampleset)
    # A 1-tick kick still rings for its whole recording (decay 0.3 s: audible well past 0.5 s).
    assert np.abs(stem[int(0.5 * RATE) : int(0.6 * RATE)]).max() > 0.01
    # Key 37 is not in the kit: the nearest recorded drum plays unchanged (same length, no repitch).
    kick = stem[: int(1.8 * RATE)]
    other = stem[2 * RATE : 2 * RATE + len(kick)]
    assert np.allclose(kick, other, atol=1e-6)


def test_closed_hihat_chokes_the_open_one():
    sampleset = drum_set()
    open_only = perform(one_track([(0, 1, 46, 100)], DRUM_PROGRAM, "drums"), 0, sampleset)
    choked = perform(one_track([(0, 1, 46, 100), (TPQ, 1, 42, 100)], DRUM_PROGRAM, "drums"), 0, sampleset)
    late = slice(int(1.0 * RATE), int(1.5 * RATE))  # the 42 has died away by then; the 46 has not
    assert np.abs(open_only[late]).max() > 0.01
    assert np.abs(choked[late]).max() < 1e-4


def test_polyphony_is_capped_without_clicks():
    chord = [(0, 8 * TPQ, p, 100) for p in range(48, 84)]  # 36 voices at once
    score = one_track(chord)
    from melodex.sampler import SamplerOptions

    stem = perform(score, 0, Instrument(pitched_set(hold_s=2.0), RATE, SamplerOptions(max_polyphony=8)))
    full = perform(score, 0, pitched_set(hold_s=2.0))
    assert np.sqrt(np.mean(stem**2)) < np.sqrt(np.mean(full**2))
    assert np.all(np.isfinite(stem))


def test_rendering_is_deterministic_and_stems_align():
    score = Score(
        tracks=[
            Track(0, "melody", notes=np.array([(0, TPQ, 60, 100), (TPQ, TPQ, 62, 80)])),
            Track(DRUM_PROGRAM, "drums", notes=np.array([(0, 60, 36, 100), (TPQ, 60, 42, 90)])),
        ],
        tempos=[Tempo(90.0)],
    )
    first = perform_all(score, [pitched_set(), drum_set()])
    second = perform_all(score, [pitched_set(), drum_set()])
    assert len(first) == 2 and len(first[0]) == len(first[1])
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)


def test_tempo_map_places_notes():
    score = one_track([(0, TPQ, 60, 100), (4 * TPQ, TPQ, 60, 100)], bpm=60.0)
    score.tempos.append(Tempo(120.0, tick=2 * TPQ))
    stem = perform(score, 0, pitched_set())
    # 2 beats at 60 BPM (2 s) then 2 at 120 BPM (1 s): the second note starts at 3 s.
    onset = np.nonzero(np.abs(stem[int(2.5 * RATE) :]) > 1e-3)[0][0] / RATE + 2.5
    assert abs(onset - 3.0) < 0.005


def test_mismatched_sample_set_is_a_clear_error():
    score = one_track([(0, TPQ, 36, 100)], program=DRUM_PROGRAM, role="drums")
    with pytest.raises(SamplerError, match="drum"):
        perform(score, 0, pitched_set())
    with pytest.raises(SamplerError, match="one per track"):
        perform_all(score, [])
