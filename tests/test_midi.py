"""MIDI round trips (Score -> MIDI -> Score, MIDI -> Score -> MIDI) over the committed corpus,
third-party files without Melodex markers, awkward events and broken files."""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest
import symusic

from melodex.midi import MidiError, midi_bytes, read_midi, read_midi_bytes, write_midi
from melodex.score import (
    DRUM_PROGRAM,
    TPQ,
    ChordSymbol,
    Key,
    Score,
    Section,
    Tempo,
    TimeSignature,
    Track,
)

CORPUS = Path(__file__).parent / "fixtures" / "midi"
REAL = sorted(p for p in CORPUS.glob("*.mid") if p.name != "edge_cases.mid")
BROKEN = sorted((CORPUS / "broken").glob("*.mid"))


def sorted_notes(notes: np.ndarray) -> np.ndarray:
    return notes[np.lexsort(notes.T[::-1])]


def assert_scores_equal(a: Score, b: Score) -> None:
    assert a.tempos == b.tempos
    assert a.time_signatures == b.time_signatures
    assert a.key == b.key
    assert a.sections == b.sections
    assert a.chords == b.chords
    assert a.n_bars == b.n_bars
    assert len(a.tracks) == len(b.tracks)
    for x, y in zip(a.tracks, b.tracks, strict=True):
        assert (x.program, x.role, x.name) == (y.program, y.role, y.name)
        np.testing.assert_array_equal(sorted_notes(x.notes), sorted_notes(y.notes))


def rich_score() -> Score:
    rng = np.random.default_rng(3)

    def notes(n: int, low: int, high: int, step: int) -> np.ndarray:
        starts = np.arange(n) * step
        return np.stack(
            [starts, rng.integers(1, step + 1, n), rng.integers(low, high, n), rng.integers(1, 128, n)], axis=1
        )

    melody = notes(40, 60, 84, TPQ // 2)
    # Two overlapping notes of one pitch and a one-tick note survive the trip.
    melody = np.vstack([melody, [[100, 500, 70, 64], [300, 500, 70, 90], [2000, 1, 72, 100]]])
    return Score(
        tracks=[
            Track(0, role="melody", name="Lead | Piano", notes=melody),
            Track(33, role="bass", name="Finger Bass", notes=notes(20, 28, 48, TPQ)),
            Track(DRUM_PROGRAM, role="drums", name="Kit", notes=notes(64, 35, 60, TPQ // 4)),
            Track(48, role="pad", name="empty: strings"),  # no notes, still a track
            Track(DRUM_PROGRAM, role="drums", name="Percussion", notes=notes(8, 60, 80, TPQ * 2)),
        ],
        tempos=[Tempo(97.0), Tempo(123.456789, 4 * TPQ * 2), Tempo(60.5, 4 * TPQ * 5)],
        time_signatures=[TimeSignature(4, 4), TimeSignature(7, 8, 4 * TPQ * 3)],
        key=Key(3, "minor"),
        sections=[Section("intro", 0, 2), Section("verse: A", 2, 4), Section("chorus", 6, 4)],
        chords=[ChordSymbol(0, 0, "min7"), ChordSymbol(TPQ * 4, 7, "maj"), ChordSymbol(TPQ * 8, 10, "7")],
        n_bars=10,
    )


# -- Score -> MIDI -> Score -------------------------------------------------------------------------


def test_score_midi_score_keeps_every_field(tmp_path: Path) -> None:
    score = rich_score()
    write_midi(score, tmp_path / "song.mid")
    back = read_midi(tmp_path / "song.mid")
    assert_scores_equal(score, back)


@pytest.mark.parametrize("key_index", range(24))
def test_every_key_survives_as_a_key_signature(key_index: int) -> None:
    score = Score(tracks=[Track(0, notes=[[0, TPQ, 60, 90]])], key=Key.from_index(key_index))
    assert read_midi_bytes(midi_bytes(score)).key == score.key


def test_a_daw_sees_instrument_names_section_markers_and_mix_controllers() -> None:
    score = rich_score()
    score.tracks[1].name = ""  # no name of its own: the instrument's
    raw = symusic.Score.from_midi(midi_bytes(score))
    assert [m.text for m in raw.markers] == ["Intro", "Verse: A", "Chorus"]
    # symusic leaves out the empty track when it reads; the meta event keeps it for Melodex
    assert [t.name for t in raw.tracks] == ["Lead | Piano", "Electric Bass (finger)", "Kit", "Percussion"]
    assert [t.is_drum for t in raw.tracks] == [False, False, True, True]
    controls = [{c.number: c.value for c in t.controls if c.time == 0} for t in raw.tracks]
    assert [c[7] for c in controls] == [100, 89, 94, 94]  # lead at 100, the rest by their role's level
    pans = [c[10] for c in controls]
    assert pans[0] == pans[1] == 64  # melody and bass centred
    assert pans[2] == 64 and pans[3] < 64  # a second track of a centred role goes to one side, as in the mix
    assert raw.key_signatures[0].key == -6 and raw.key_signatures[0].tonality == 1  # Eb minor: 6 flats
    assert raw.tempos[0].mspq == round(60_000_000 / 97)
    with_chords = symusic.Score.from_midi(midi_bytes(score, chord_markers=True))
    # chords as a lead sheet in Eb minor writes them
    assert [m.text for m in with_chords.markers] == ["Intro", "Cm7", "G", "Verse: A", "Bb7", "Chorus"]
    assert_scores_equal(score, read_midi_bytes(midi_bytes(score, chord_markers=True)))


def test_repeated_sections_are_numbered_in_the_marker_lane() -> None:
    score = Score(tracks=[Track(0, notes=[[0, TPQ, 60, 90]])], sections=[
        Section("intro", 0, 1), Section("verse", 1, 2), Section("chorus", 3, 2), Section("verse", 5, 2),
        Section("chorus", 7, 2), Section("outro", 9, 1)], n_bars=10)
    raw = symusic.Score.from_midi(midi_bytes(score))
    assert [m.text for m in raw.markers] == ["Intro", "Verse 1", "Chorus 1", "Verse 2", "Chorus 2", "Outro"]
    assert [m.time for m in raw.markers] == [0, 4 * TPQ, 12 * TPQ, 20 * TPQ, 28 * TPQ, 36 * TPQ]


def test_a_format_1_file_still_reads() -> None:
    """song.mid files written before the meta event (midi.py as of 2cfdbd4) carried everything in markers."""
    back = read_midi(CORPUS / "melodex_format1.mid")
    assert_scores_equal(rich_score(), back)


def test_a_newer_or_damaged_meta_event_is_a_clear_error() -> None:
    data = midi_bytes(rich_score())
    with pytest.raises(MidiError, match="newer Melodex"):
        read_midi_bytes(data.replace(b'"format":2', b'"format":9'))
    with pytest.raises(MidiError, match="damaged Melodex meta event"):
        read_midi_bytes(data.replace(b'"format":2,', b'"format":2]'))  # same length: only the JSON breaks


def test_file_edited_in_a_daw_falls_back_to_reading_names(tmp_path: Path) -> None:
    raw = symusic.Score.from_midi(midi_bytes(rich_score()))
    raw.tracks.pop(1)  # re-saved without the bass (and without the meta event, which symusic drops)
    back = read_midi_bytes(bytes(raw.dumps_midi()))
    assert [(t.role, t.name, t.program) for t in back.tracks] == [
        ("melody", "Lead | Piano", 0),
        ("drums", "Kit", DRUM_PROGRAM),
        ("drums", "Percussion", DRUM_PROGRAM),
    ]
    assert [s.name for s in back.sections] == []  # the form went with the meta event; the markers stay
    assert [m.text for m in raw.markers] == ["Intro", "Verse: A", "Chorus"]


# -- MIDI -> Score -> MIDI over real files -----------------------------------------------------------


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_file_round_trip(path: Path, tmp_path: Path) -> None:
    first = read_midi(path)
    write_midi(first, tmp_path / "again.mid")
    second = read_midi(tmp_path / "again.mid")
    assert_scores_equal(first, second)
    # Nothing lost against the source: same notes (at TPQ), tempos and meters.
    source = symusic.Score(str(path)).resample(TPQ, min_dur=1)
    assert first.n_notes == source.note_num()
    source_notes = np.concatenate([t.notes.numpy()["time"] for t in source.tracks])
    read_notes = np.concatenate([t.notes[:, 0] for t in first.tracks])
    np.testing.assert_array_equal(np.sort(source_notes), np.sort(read_notes))
    assert [t.time for t in source.time_signatures] == [m.tick for m in first.time_signatures] or (
        not source.time_signatures
    )


def test_bach_chorale_roles_key_and_meter() -> None:
    score = read_midi(CORPUS / "bach_bwv66_6.mid")
    assert [(t.name, t.role) for t in score.tracks] == [
        ("Soprano", "melody"),
        ("Alto", "harmony"),
        ("Tenor", "harmony"),
        ("Bass", "bass"),
    ]
    assert str(score.key) == "F# minor"
    assert score.bpm == 96.0


def test_type0_drum_file_resampled_and_split_by_channel() -> None:
    score = read_midi(CORPUS / "drums_type0_tpq96.mid")
    bass, drums = score.tracks
    assert (bass.program, bass.role) == (33, "bass")  # GM bass family, though it is the only pitched part
    assert (drums.program, drums.role) == (DRUM_PROGRAM, "drums")
    assert bass.notes[0].tolist() == [0, 88 * 5, 40, 95]  # 96 ticks per quarter became 480
    assert score.bpm == 100.0 and str(score.key) == "C major"  # no key signature: C major
    snares = drums.notes[drums.notes[:, 2] == 38]
    assert len(snares) == 8 and (snares[:, 1] == 1).all()  # zero-length hits kept, one tick long


def test_awkward_events() -> None:
    score = read_midi(CORPUS / "edge_cases.mid")
    piano, bass = score.tracks
    assert score.meter == TimeSignature(3, 4) and str(score.key) == "D major" and score.bpm == 90.0
    assert piano.notes.tolist() == [
        [0, 480, 60, 80],  # overlapping strikes of one key: first on pairs with first off
        [240, 480, 60, 90],
        [960, 940, 64, 70],  # zero-length note, then held by the sustain pedal until tick 1900
        [960, 940, 67, 70],  # ended by a velocity-0 note-on, held by the pedal
    ]  # the note-on never released (tick 1920) is dropped
    assert bass.notes.tolist() == [[0, 960, 36, 90]]  # the note after end-of-track is ignored


# -- broken files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_broken_file_is_one_clear_error(path: Path) -> None:
    with pytest.raises(MidiError) as caught:
        read_midi(path)
    message = str(caught.value)
    assert message.startswith(path.name) and "\n" not in message
    assert "Traceback" not in message


def test_broken_reasons_are_specific() -> None:
    reasons = {}
    for path in BROKEN:
        with pytest.raises(MidiError) as caught:
            read_midi(path)
        reasons[path.name] = str(caught.value)
    assert "truncated track chunk" in reasons["truncated_track.mid"]
    assert "text file" in reasons["text_renamed.mid"]
    assert "has no notes" in reasons["no_notes.mid"]
    assert "too short" in reasons["empty.mid"]


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(MidiError, match="does not exist"):
        read_midi(tmp_path / "nope.mid")
    with pytest.raises(MidiError, match="is not a file"):
        read_midi(tmp_path)


def test_corrupted_files_never_crash_or_hang() -> None:
    valid = (CORPUS / "bach_bwv66_6.mid").read_bytes()
    rng = random.Random(11)
    began = time.perf_counter()
    for _ in range(300):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(14, len(data))] = rng.randrange(256)
        data = data[: rng.randint(14, len(data))]
        try:
            read_midi_bytes(bytes(data))
        except MidiError as exc:
            assert "\n" not in str(exc)
    assert time.perf_counter() - began < 20


def test_impossible_tempo_in_a_file_is_a_clear_error() -> None:
    raw = symusic.Score(TPQ)
    raw.tempos = [symusic.Tempo(0, mspq=100_000)]  # 600 BPM
    track = symusic.Track("x", 0, False)
    track.notes.append(symusic.Note(0, TPQ, 60, 90))
    raw.tracks.append(track)
    with pytest.raises(MidiError, match="600 BPM is outside"):
        read_midi_bytes(bytes(raw.dumps_midi()), name="fast.mid")


# -- writing ----------------------------------------------------------------------------------------


def test_write_errors(tmp_path: Path) -> None:
    score = rich_score()
    with pytest.raises(MidiError, match="does not exist"):
        write_midi(score, tmp_path / "missing" / "song.mid")
    with pytest.raises(MidiError, match="cannot write"):
        write_midi(score, tmp_path)  # a folder, not a file
    bad = Score(tracks=[Track(0, notes=[[0, TPQ, 130, 90]])])
    with pytest.raises(MidiError, match="outside MIDI 0-127"):
        midi_bytes(bad)


def test_nested_notes_of_one_pitch_pair_first_in_first_out() -> None:
    # MIDI cannot tell which note-off ends which of two held notes of one key: the later, shorter
    # note takes the first release. Onsets, releases and the sound (one key held 0-1000) are kept.
    score = Score(tracks=[Track(0, notes=[[0, 1000, 60, 90], [200, 100, 60, 80]])])
    back = read_midi_bytes(midi_bytes(score)).tracks[0].notes.tolist()
    assert back == [[0, 300, 60, 90], [200, 800, 60, 80]]


def test_velocity_zero_is_written_as_the_quietest_note() -> None:
    score = Score(tracks=[Track(0, notes=[[0, TPQ, 60, 0]])])
    assert read_midi_bytes(midi_bytes(score)).tracks[0].notes.tolist() == [[0, TPQ, 60, 1]]


@pytest.mark.parametrize(
    "marker",
    ["track:one:0:3:melody|x", "track:1:0:0:singer|x", "section:verse", "chord:Hm7", "tempo:0:fast", "n_bars:many"],
)
def test_malformed_melodex_markers_are_clear_errors(marker: str) -> None:
    # A format-1 file (markers, no meta event: symusic drops it when it re-saves)
    raw = symusic.Score.from_midi(midi_bytes(Score(tracks=[Track(0, notes=[[0, TPQ, 60, 90]])])))
    raw.markers.append(symusic.TextMeta(0, "melodex:1"))
    raw.markers.append(symusic.TextMeta(0, marker))
    with pytest.raises(MidiError, match="malformed Melodex marker") as caught:
        read_midi_bytes(bytes(raw.dumps_midi()), name="odd.mid")
    assert str(caught.value).startswith("odd.mid")


def test_newer_format_version_is_a_clear_error() -> None:
    raw = symusic.Score.from_midi(midi_bytes(Score(tracks=[Track(0, notes=[[0, TPQ, 60, 90]])])))
    raw.markers = [symusic.TextMeta(0, "melodex:2")]
    with pytest.raises(MidiError, match="newer Melodex"):
        read_midi_bytes(bytes(raw.dumps_midi()))
