"""Song measures on small hand-made scores whose answers are known, the WAD reader, and the prompt split."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from melodex.data.real_songs import OPENMSX_DIR, RealSongsError, load_real_songs, wad_music
from melodex.evaluate import song
from melodex.evaluate.listen import PROMPT_SPLITS, read_prompts, split_prompts
from melodex.midi import midi_bytes
from melodex.score import DRUM_PROGRAM, TPQ, ChordSymbol, Key, Score, Section, Track

BAR = 4 * TPQ


def notes(rows: list[tuple[int, int, int]]) -> np.ndarray:
    """(start, duration, pitch) rows at velocity 80."""
    return np.array([[s, d, p, 80] for s, d, p in rows], dtype=np.int64).reshape(-1, 4)


def drum_bar(bar: int, hits: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    return [(bar * BAR + beat * TPQ, TPQ // 4, pitch) for beat, pitch in hits]


def test_repeated_chorus_is_similar_and_a_new_one_is_not() -> None:
    tune = [(k * TPQ, TPQ, 60 + k) for k in range(8)]  # two bars
    other = [(k * TPQ, TPQ, 80 - k) for k in range(8)]
    shifted = lambda rows, bars: [(s + bars * BAR, d, p) for s, d, p in rows]  # noqa: E731
    sections = [Section("chorus", 0, 2), Section("verse", 2, 2), Section("chorus 2", 4, 2), Section("verse 2", 6, 2)]
    score = Score(tracks=[Track(0, "melody", notes=notes(tune + shifted(other, 2) + shifted(tune, 4)
                                                          + shifted(tune, 6)))], sections=sections, n_bars=8)
    # chorus pair 1.0, verse pair: 'other' against 'tune', no note in common -> 0.0
    assert song.section_similarity(score) == pytest.approx(0.5)
    assert song.section_similarity(Score(tracks=score.tracks, sections=sections[:2], n_bars=8)) is None
    # Unlabelled, in 2-bar blocks tune, other, tune, tune: 'other' is new, the last two were heard before.
    blocks = Score(tracks=score.tracks, n_bars=8)
    assert song.repetition(blocks, block=2) == pytest.approx((0.0 + 1.0 + 1.0) / 3)
    assert song.repetition(Score(tracks=score.tracks, n_bars=2), block=4) is None


def test_drums_steady_groove_backbeat_and_four_on_the_floor() -> None:
    groove = [(0, 36), (1, 38), (2, 36), (3, 38)] + [(b + 0.5, 42) for b in range(4)]
    house = [(b, 36) for b in range(4)] + [(1, 39), (3, 39)]
    steady = Score(tracks=[Track(DRUM_PROGRAM, "drums", notes=notes(
        [(int(bar * BAR + beat * TPQ), 60, p) for bar in range(4) for beat, p in groove]))], n_bars=4)
    assert song.drum_consistency(steady) == 1.0
    assert song.backbeat_share(steady) == 1.0
    assert song.four_on_the_floor_share(steady) == 0.0
    club = Score(tracks=[Track(DRUM_PROGRAM, "drums", notes=notes(
        [r for bar in range(4) for r in drum_bar(bar, house)]))], n_bars=4)
    assert song.four_on_the_floor_share(club) == 1.0 and song.backbeat_share(club) == 1.0
    # Alternate bars share no (slot, drum): consistency 0; snare on 1 and 3 is no backbeat.
    shifting = Score(tracks=[Track(DRUM_PROGRAM, "drums", notes=notes(
        [r for bar in range(4) for r in drum_bar(bar, [(0, 38), (2, 38)] if bar % 2 else [(1, 36), (3, 42)])]))],
        n_bars=4)
    assert song.drum_consistency(shifting) == 0.0
    assert song.backbeat_share(shifting) == 0.0
    assert song.drum_consistency(Score(tracks=[Track(0, "melody", notes=notes([(0, TPQ, 60)]))])) is None


def _band(bass_pitches: list[int], harmony: list[list[int]], chords: list[tuple[int, str]]) -> Score:
    bass = notes([(bar * BAR, BAR, p) for bar, p in enumerate(bass_pitches)])
    pad = notes([(bar * BAR, BAR, p) for bar, chord in enumerate(harmony) for p in chord])
    symbols = [ChordSymbol(bar * BAR, root, quality) for bar, (root, quality) in enumerate(chords)]
    return Score(tracks=[Track(89, "pad", notes=pad), Track(33, "bass", notes=bass)], chords=symbols,
                 key=Key(9, "minor"), n_bars=len(chords), sections=[Section("verse", 0, len(chords))])


def test_bass_roots_chord_tones_and_tonic() -> None:
    am, f, c, e = (9, "min"), (5, "maj"), (0, "maj"), (4, "maj")
    good = _band([45, 41, 48, 45], [[57, 60, 64], [57, 60, 65], [55, 60, 64], [57, 60, 64]], [am, f, c, am])
    assert song.bass_root_at_changes(good, good.chords) == 1.0
    assert song.bass_root_per_bar(good, good.chords) == 1.0
    assert song.chord_tone_share(good, good.chords, song.HARMONY_ROLES) == 1.0
    tonic = song.tonic_measures(good, good.chords, good.key)
    assert tonic == {"tonic_start": 1.0, "tonic_end": 1.0, "tonic_section_ends": 1.0, "tonic_bars": 0.5}
    # Bass on the fifths, pad a whole step off every chord tone, ending on E major (the dominant).
    bad = _band([52, 48, 55, 47], [[59, 62, 66], [59, 62, 67], [57, 62, 66], [58, 61, 65]], [am, f, c, e])
    assert song.bass_root_per_bar(bad, bad.chords) == 0.0
    assert song.chord_tone_share(bad, bad.chords, song.HARMONY_ROLES) == 0.0
    assert song.tonic_measures(bad, bad.chords, bad.key)["tonic_end"] == 0.0
    # A bass note held over a chord change is not counted for the change it did not play on.
    held = _band([45], [[57, 60, 64], [57, 60, 65]], [am, f])
    held.tracks[1].notes[0, 1] = 2 * BAR
    assert song.bass_root_at_changes(held, held.chords) == 1.0
    held.tracks[1].notes[0, 2] = 40  # an E under A minor
    assert song.bass_root_at_changes(held, held.chords) == 0.0
    assert song.bass_root_at_changes(held, []) is None


def _bass_only(rows: list[tuple[int, int, int]], bars: int = 2) -> Score:
    return Score(tracks=[Track(33, "bass", notes=notes(rows))], key=Key(0, "major"), n_bars=bars)


def test_walking_bossa_and_swing_idioms() -> None:
    walk = _bass_only([(b * TPQ, TPQ, 36 + b) for b in range(8)])
    eighths = _bass_only([(k * TPQ // 2, TPQ // 2, 36) for k in range(16)])
    half_notes = _bass_only([(b * 2 * TPQ, 2 * TPQ, 36) for b in range(4)])
    assert song.walking_bass_share(walk) == 1.0
    assert song.walking_bass_share(eighths) == 0.0  # every beat, but in eighths: a rock bass, not a walk
    assert song.walking_bass_share(half_notes) == 0.0
    # Bossa: 1, 2+, 3, 4+ in the first bar; the second bar on 1 and 3 only.
    bossa = _bass_only([(0, 3 * TPQ // 2, 36), (3 * TPQ // 2, TPQ // 2, 43), (2 * TPQ, 3 * TPQ // 2, 43),
                        (7 * TPQ // 2, TPQ // 2, 36), (BAR, 2 * TPQ, 36), (BAR + 2 * TPQ, 2 * TPQ, 43)])
    assert song.bossa_bass_share(bossa) == 0.5
    assert song.bossa_bass_share(Score(key=Key(0, "major"), n_bars=2)) is None
    swung = _bass_only([(b * TPQ + off, TPQ // 3, 36) for b in range(8) for off in (0, 2 * TPQ // 3)])
    straight = _bass_only([(b * TPQ + off, TPQ // 2, 36) for b in range(8) for off in (0, TPQ // 2)])
    assert song.swing_share(swung) == 1.0
    assert song.swing_share(straight) == 0.0
    assert song.swing_share(walk) is None  # quarters only: nothing to swing
    assert song.song_report(walk, style="jazz")["walking_bass"] == 1.0
    assert song.song_report(walk, style="rock")["walking_bass"] is None


def test_clashes_count_semitones_between_parts_only() -> None:
    def two(a: list[int], b: list[int]) -> Score:
        return Score(tracks=[Track(0, "melody", notes=notes([(0, BAR, p) for p in a])),
                             Track(0, "harmony", notes=notes([(0, BAR, p) for p in b]))])

    assert song.clash_share(two([61], [60])) == 1.0
    assert song.clash_share(two([72], [59])) == 1.0  # a minor ninth away is the same rub
    assert song.clash_share(two([64], [60])) == 0.0
    assert song.clash_share(two([60, 61], [67])) == 0.0  # a cluster inside one part is not a clash between parts
    half = Score(tracks=[Track(0, "melody", notes=notes([(0, BAR, 61)])),
                         Track(0, "harmony", notes=notes([(0, BAR // 2, 60), (BAR // 2, BAR // 2, 64)]))])
    assert song.clash_share(half) == pytest.approx(0.5)


def test_motifs_and_leaps() -> None:
    motif = [60, 62, 64, 60, 67]
    tune = motif * 4
    score = Score(tracks=[Track(0, "melody", notes=notes([(k * TPQ, TPQ, p) for k, p in enumerate(tune)]))])
    assert song.motif_recurrence(score) == 1.0
    assert song.leap_share(score) == pytest.approx(np.mean(np.abs(np.diff(tune)) >= 5))
    # Intervals that never repeat (1, 2, 3, ... semitones up): no 4-gram recurs.
    rising = np.cumsum(np.arange(12)) % 40 + 40
    stepless = Score(tracks=[Track(0, "melody", notes=notes([(k * TPQ, TPQ, int(p)) for k, p in enumerate(rising)]))])
    assert song.motif_recurrence(stepless) == 0.0
    # The skyline: the top note of a chord in the melody part is the tune.
    chordal = Score(tracks=[Track(0, "melody", notes=notes([(0, TPQ, 60), (0, TPQ, 67), (TPQ, TPQ, 69)]))])
    assert song.melody_line(chordal).tolist() == [67, 69]


def test_song_report_reads_midi_bytes_and_estimates_chords() -> None:
    am, f, c = (9, "min"), (5, "maj"), (0, "maj")
    band = _band([45, 41, 48, 45], [[57, 60, 64], [57, 60, 65], [55, 60, 64], [57, 60, 64]], [am, f, c, am])
    band.chords = []  # a plain file: chords come from the notes
    data = midi_bytes(band)
    report = song.song_report(data)
    assert set(song.METRICS) <= set(report)
    assert report["bass_root_per_bar"] == 1.0 and report["chord_tones_harmony"] == 1.0
    assert song.song_report(band, style="waltz")["backbeat"] is None
    with pytest.raises(ValueError, match="chords="):
        song.song_report(band, chords="guess")


def _wad(lumps: list[tuple[str, bytes]]) -> bytes:
    body, directory, offset = b"", b"", 12
    for name, data in lumps:
        directory += struct.pack("<ii8s", offset + len(body), len(data), name.encode())
        body += data
    return struct.pack("<4sii", b"IWAD", len(lumps), 12 + len(body)) + body + directory


def test_wad_music_reads_music_lumps_only(tmp_path: Path) -> None:
    midi = midi_bytes(Score(tracks=[Track(0, "melody", notes=notes([(0, TPQ, 60)]))]))
    path = tmp_path / "test.wad"
    path.write_bytes(_wad([("MAP01", b"x" * 10), ("D_RUNNIN", midi), ("D_MUS", b"MUS\x1a" + b"\0" * 12)]))
    assert [(name, data[:4]) for name, data in wad_music(path)] == [("D_RUNNIN", b"MThd"), ("D_MUS", b"MUS\x1a")]
    path.write_bytes(b"PK\x03\x04 not a wad")
    with pytest.raises(RealSongsError, match="not a Doom WAD"):
        wad_music(path)
    path.write_bytes(struct.pack("<4sii", b"IWAD", 5, 4000))
    with pytest.raises(RealSongsError, match="damaged"):
        wad_music(path)
    with pytest.raises(RealSongsError, match="unknown real-song"):
        load_real_songs(("hymnal",))


@pytest.mark.skipif(not OPENMSX_DIR.is_dir(), reason="openttd-openmsx is not installed (scripts/setup.sh)")
def test_installed_real_songs_are_multitrack_bands() -> None:
    songs, skipped = load_real_songs()
    assert len(songs) >= 90 and skipped["unreadable"] == 0
    with_drums = sum(any(t.is_drum for t in s.score.tracks) for s in songs)
    assert with_drums >= 0.8 * len(songs)
    assert {s.licence for s in songs} == {"BSD-3-Clause", "GPL-2.0"}


def test_prompt_split_halves_are_disjoint_and_cover_the_shipped_set() -> None:
    tuning, test, everything = split_prompts("tuning"), split_prompts("test"), read_prompts(PROMPT_SPLITS["all"])
    assert not set(tuning) & set(test)
    assert sorted(tuning + test) == sorted(everything)
    assert abs(len(tuning) - len(test)) <= 6
