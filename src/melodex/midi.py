"""Reading and writing Standard MIDI Files as `Score`s, through symusic.

A Melodex file keeps everything a `Score` holds: form, chord symbols, bar count and track roles
travel as marker events with a clear prefix ("section:verse:0:8", "chord:Am7", ...), the key as a
key signature. Plain third-party MIDI reads too: roles are guessed and the key defaults to C major.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from melodex.errors import MelodexError
from melodex.score import (
    DRUM_PROGRAM,
    DUR,
    PITCH,
    PITCH_CLASSES,
    ROLES,
    START,
    TPQ,
    VEL,
    ChordSymbol,
    Key,
    Score,
    ScoreError,
    Section,
    Tempo,
    TimeSignature,
    Track,
)

FORMAT_VERSION = 1
# Marker prefixes. Every Melodex file starts with "melodex:<version>" so a reader knows the rest is ours.
MELODEX, TRACK, SECTION, CHORD, BARS, EXACT_TEMPO = "melodex:", "track:", "section:", "chord:", "n_bars:", "tempo:"
REEXPORT = "re-export it from your DAW or notation program"
GM_BASSES = range(32, 40)  # General MIDI's bass family: acoustic, electric, fretless, slap, synth


class MidiError(MelodexError):
    """A MIDI file cannot be read or written; the message names the file and what to do."""


@dataclass(frozen=True)
class _TrackEntry:
    """One Melodex track as its marker describes it (empty tracks have no MIDI notes to carry them)."""

    program: int
    n_notes: int
    role: str
    name: str


# -- reading ----------------------------------------------------------------------------------------


def read_midi(path: str | Path) -> Score:
    """Read a MIDI file into a Score at TPQ ticks per quarter.

    Raises MidiError, one clear line, for anything that is not a readable MIDI file with notes.
    """
    path = Path(path)
    if not path.exists():
        raise MidiError(f"{path} does not exist")
    if not path.is_file():
        raise MidiError(f"{path} is not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MidiError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return read_midi_bytes(data, name=path.name)


def read_midi_bytes(data: bytes, name: str = "the MIDI data") -> Score:
    """Like `read_midi`, from the bytes of a file; `name` is used in error messages."""
    import symusic

    if len(data) < 14:
        raise MidiError(f"{name} is not a readable MIDI file (too short for a MIDI header): {REEXPORT}")
    if not data.startswith(b"MThd"):
        what = "a text file" if _looks_like_text(data) else "no MIDI header"
        raise MidiError(f"{name} is not a readable MIDI file ({what}): {REEXPORT}")
    try:
        raw: Any = symusic.Score.from_midi(data)
    except Exception as exc:  # symusic raises RuntimeError/ValueError with its parser's message
        raise MidiError(f"{name} is not a readable MIDI file ({_reason(str(exc))}): {REEXPORT}") from exc
    if raw.tpq <= 0:
        raise MidiError(f"{name} is not a readable MIDI file (SMPTE time division is not supported): {REEXPORT}")
    if raw.tpq != TPQ:
        raw = raw.resample(TPQ, min_dur=1)
    if raw.note_num() == 0:
        raise MidiError(f"{name} has no notes: nothing to read")
    try:
        return _to_score(raw, name)
    except ScoreError as exc:
        raise MidiError(f"{name}: {exc}") from exc


def _looks_like_text(data: bytes) -> bool:
    sample = data[:512]
    return all(32 <= b < 127 or b in (9, 10, 13) for b in sample)


def _reason(message: str) -> str:
    message = message.removeprefix("MiniMidi: ").removesuffix(": iostream error").strip()
    lowered = message.lower()
    if any(word in lowered for word in ("chunk length", "unexpected end", "eof", "out of range")):
        return "truncated track chunk"
    if "mthd" in lowered or "header" in lowered:
        return "bad MIDI header"
    return message or "unknown parser error"


def _to_score(raw: Any, name: str) -> Score:
    markers = [(int(m.time), str(m.text)) for m in raw.markers]
    version = next((text[len(MELODEX) :] for _, text in markers if text.startswith(MELODEX)), None)
    if version is not None and version != str(FORMAT_VERSION):
        raise MidiError(f"{name} was written by a newer Melodex (format {version}); upgrade Melodex to read it")

    try:
        tempos = _tempos(raw, markers, name)
    except ValueError as exc:
        raise _malformed(name, next((t for _, t in markers if t.startswith(EXACT_TEMPO)), "")) from exc
    meters = _time_signatures(raw, name)
    key = _key(raw)
    raw_tracks = [t for t in raw.tracks if len(t.notes)]
    tracks = None
    if version is not None:
        try:
            tracks = _melodex_tracks(raw_tracks, markers)
        except ValueError as exc:
            raise _malformed(name, next((t for _, t in markers if t.startswith(TRACK)), "")) from exc
    if tracks is None:
        tracks = _plain_tracks(raw_tracks)

    score = Score(tracks=tracks, tempos=tempos, time_signatures=meters, key=key)
    for tick, text in markers:
        try:
            if text.startswith(SECTION):
                section_name, start_bar, n_bars = text[len(SECTION) :].rsplit(":", 2)
                score.sections.append(Section(section_name, int(start_bar), int(n_bars)))
            elif text.startswith(CHORD):
                score.chords.append(_parse_chord(tick, text[len(CHORD) :]))
            elif text.startswith(BARS):
                score.n_bars = int(text[len(BARS) :])
        except ValueError as exc:  # ScoreError is a ValueError too
            raise _malformed(name, text) from exc
    score.sections.sort(key=lambda s: s.start_bar)
    score.chords.sort(key=lambda c: c.tick)
    return score


def _malformed(name: str, text: str) -> MidiError:
    return MidiError(f"{name} has a malformed Melodex marker {text[:60]!r}: {REEXPORT}")


def _tempos(raw: Any, markers: list[tuple[int, str]], name: str) -> list[Tempo]:
    exact = {}
    for _, text in markers:
        if text.startswith(EXACT_TEMPO):
            tick_text, bpm_text = text[len(EXACT_TEMPO) :].split(":")
            exact[int(tick_text)] = float(bpm_text)
    by_tick: dict[int, float] = {}
    for event in raw.tempos:
        tick = int(event.time)
        by_tick[tick] = exact.get(tick, _bpm_from_mspq(int(event.mspq)))  # the last event at a tick wins
    by_tick.setdefault(0, 120.0)  # the MIDI default when a file sets no tempo at its start
    tempos = []
    for tick, bpm in sorted(by_tick.items()):
        try:
            tempos.append(Tempo(bpm, tick))
        except ScoreError as exc:
            raise MidiError(f"{name}: at tick {tick}, {exc}; fix the tempo and re-export") from exc
    return tempos


def _bpm_from_mspq(mspq: int) -> float:
    """The shortest decimal BPM that encodes to this microseconds-per-quarter, so 97 BPM reads as 97.0."""
    if mspq <= 0:
        return math.inf
    qpm = 60_000_000 / mspq
    for digits in range(7):
        candidate = round(qpm, digits)
        if candidate > 0 and _mspq(candidate) == mspq:
            return float(candidate)
    return qpm


def _mspq(bpm: float) -> int:
    return max(1, min(0xFFFFFF, round(60_000_000 / bpm)))


def _time_signatures(raw: Any, name: str) -> list[TimeSignature]:
    by_tick: dict[int, tuple[int, int]] = {}
    for event in raw.time_signatures:
        by_tick[int(event.time)] = (int(event.numerator), int(event.denominator))
    by_tick.setdefault(0, (4, 4))
    meters = []
    for tick, (numerator, denominator) in sorted(by_tick.items()):
        try:
            meters.append(TimeSignature(numerator, denominator, tick))
        except ScoreError as exc:
            raise MidiError(f"{name}: at tick {tick}, {exc}; fix the time signature and re-export") from exc
    return meters


def _key(raw: Any) -> Key:
    for event in raw.key_signatures:
        sharps, minor = int(event.key), int(event.tonality)
        if -7 <= sharps <= 7 and minor in (0, 1):
            major_tonic = (sharps * 7) % 12
            return Key((major_tonic + 9) % 12, "minor") if minor else Key(major_tonic, "major")
    return Key(0, "major")


def _sharps(key: Key) -> int:
    major_tonic = key.tonic if key.mode == "major" else (key.tonic + 3) % 12
    sharps = (major_tonic * 7) % 12
    # Spelled as PITCH_CLASSES spells the tonic: Db major (5 flats) not C#, F# major but Eb minor.
    if sharps > 6 or (sharps == 6 and key.mode == "minor"):
        sharps -= 12
    return sharps


def _parse_chord(tick: int, symbol: str) -> ChordSymbol:
    root = max((pc for pc in PITCH_CLASSES if symbol.startswith(pc)), key=len, default=None)
    if root is None:
        raise ScoreError(f"chord symbol {symbol!r} does not start with a pitch class")
    quality = symbol[len(root) :] or "maj"
    return ChordSymbol(tick, PITCH_CLASSES.index(root), quality)


def _notes(raw_track: Any) -> np.ndarray:
    columns = raw_track.notes.numpy()
    notes = np.stack([columns["time"], columns["duration"], columns["pitch"], columns["velocity"]], axis=1).astype(
        np.int64
    )
    # Zero-length notes (drum hits written as on+off at one tick) keep one tick so they still sound.
    notes[:, DUR] = np.maximum(notes[:, DUR], 1)
    notes[:, VEL] = np.clip(notes[:, VEL], 1, 127)
    notes[:, START] = np.maximum(notes[:, START], 0)
    return notes


def _apply_sustain(notes: np.ndarray, raw_track: Any) -> np.ndarray:
    """Hold notes released under the sustain pedal until the pedal lifts (or the key is struck again)."""
    pedals = [(int(p.time), int(p.time) + int(p.duration)) for p in raw_track.pedals]
    if not pedals or len(notes) == 0:
        return notes
    notes = notes.copy()
    ends = notes[:, START] + notes[:, DUR]
    for down, up in pedals:
        held = (ends >= down) & (ends < up)
        ends[held] = up
    # A re-struck key cuts the pedalled note: never overlap the next note of the same pitch.
    order = np.lexsort((notes[:, START], notes[:, PITCH]))
    for a, b in itertools.pairwise(order):
        if notes[a, PITCH] == notes[b, PITCH] and ends[a] > notes[b, START] >= notes[a, START] + notes[a, DUR]:
            ends[a] = notes[b, START]
    notes[:, DUR] = np.maximum(ends - notes[:, START], 1)
    return notes


def _plain_tracks(raw_tracks: list[Any]) -> list[Track]:
    """Tracks of a file Melodex did not write: roles from "role|name" track names when present,
    otherwise guessed. Drum kits are drums and GM bass programs bass; of the other parts the highest
    (by mean pitch) is the melody, the lowest the bass (if there is none yet), the rest harmony."""
    parts = []
    for raw_track in raw_tracks:
        notes = _notes(raw_track)
        if not raw_track.is_drum:
            notes = _apply_sustain(notes, raw_track)
        program = DRUM_PROGRAM if raw_track.is_drum else int(raw_track.program)
        label = str(raw_track.name).strip()
        role, _, track_name = label.partition("|")
        if not (track_name and role in ROLES):
            role, track_name = "", label
        parts.append((program, role, track_name, notes))
    for i, (program, role, track_name, notes) in enumerate(parts):
        if not role and program != DRUM_PROGRAM and program in GM_BASSES:
            parts[i] = (program, "bass", track_name, notes)
    unnamed = sorted(
        (i for i, (program, role, _, _) in enumerate(parts) if program != DRUM_PROGRAM and not role),
        key=lambda i: float(parts[i][3][:, PITCH].mean()),
    )
    has_bass = any(role == "bass" for _, role, _, _ in parts)
    tracks = []
    for i, (program, role, track_name, notes) in enumerate(parts):
        if not role:
            if program == DRUM_PROGRAM:
                role = "drums"
            elif i == unnamed[-1]:
                role = "melody"
            elif i == unnamed[0] and not has_bass:
                role = "bass"
            else:
                role = "harmony"
        tracks.append(Track(program, role=role, name=track_name, notes=notes))
    return tracks


def _melodex_tracks(raw_tracks: list[Any], markers: list[tuple[int, str]]) -> list[Track] | None:
    """Rebuild a Melodex file's tracks, empty ones included, from its track markers.

    Returns None when the notes no longer match the markers (say the file was edited in a DAW);
    the tracks are then read like any other file's.
    """
    entries = []
    for _, text in markers:
        if text.startswith(TRACK):
            index, program, n_notes, label = text[len(TRACK) :].split(":", 3)
            role, _, track_name = label.partition("|")
            entries.append((int(index), _TrackEntry(int(program), int(n_notes), role, track_name)))
    entries.sort(key=lambda e: e[0])
    raw_by_entry = iter(raw_tracks)
    tracks = []
    for _, entry in entries:
        notes = np.zeros((0, 4), dtype=np.int64)
        if entry.n_notes:
            raw_track = next(raw_by_entry, None)
            if raw_track is None or str(raw_track.name) != f"{entry.role}|{entry.name}":
                return None
            notes = _notes(raw_track)
        if len(notes) != entry.n_notes:
            return None
        tracks.append(Track(entry.program, role=entry.role, name=entry.name, notes=notes))
    if next(raw_by_entry, None) is not None:
        return None
    return tracks


# -- writing ----------------------------------------------------------------------------------------


def write_midi(score: Score, path: str | Path) -> None:
    """Write a Score as a type-1 MIDI file at TPQ ticks per quarter, keeping everything it holds."""
    path = Path(path)
    if not path.parent.is_dir():
        raise MidiError(f"cannot write {path}: the folder {path.parent} does not exist")
    data = midi_bytes(score)
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise MidiError(f"cannot write {path}: {exc.strerror or exc}") from exc


def midi_bytes(score: Score) -> bytes:
    """The bytes of the MIDI file `write_midi` writes."""
    import symusic

    raw: Any = symusic.Score(TPQ)
    raw.tempos = [symusic.Tempo(t.tick, mspq=_mspq(t.bpm)) for t in score.tempos]
    raw.time_signatures = [symusic.TimeSignature(m.tick, m.numerator, m.denominator) for m in score.time_signatures]
    raw.key_signatures = [symusic.KeySignature(0, _sharps(score.key), int(score.key.mode == "minor"))]

    markers = [(0, f"{MELODEX}{FORMAT_VERSION}")]
    if score.n_bars:
        markers.append((0, f"{BARS}{score.n_bars}"))
    for tempo in score.tempos:
        if _bpm_from_mspq(_mspq(tempo.bpm)) != tempo.bpm:
            markers.append((tempo.tick, f"{EXACT_TEMPO}{tempo.tick}:{tempo.bpm!r}"))
    for index, track in enumerate(score.tracks):
        markers.append((0, f"{TRACK}{index}:{track.program}:{len(track.notes)}:{track.role}|{track.name}"))
    if score.sections:
        bar_starts = score.bar_starts(max(s.end_bar for s in score.sections))
        for section in score.sections:
            tick = bar_starts[min(section.start_bar, len(bar_starts) - 1)]
            markers.append((tick, f"{SECTION}{section.name}:{section.start_bar}:{section.n_bars}"))
    markers.extend((chord.tick, f"{CHORD}{chord}") for chord in score.chords)
    raw.markers = [symusic.TextMeta(tick, text) for tick, text in sorted(markers, key=lambda m: m[0])]

    for index, track in enumerate(score.tracks):
        raw.tracks.append(_raw_track(track, index))
    try:
        return bytes(raw.dumps_midi())
    except Exception as exc:  # symusic raises on values MIDI cannot hold
        raise MidiError(f"cannot encode the score as MIDI: {exc}") from exc


def _raw_track(track: Track, index: int) -> Any:
    import symusic

    notes = np.asarray(track.notes, dtype=np.int64)
    label = track.name or track.role or f"track {index + 1}"
    if len(notes):
        if notes[:, PITCH].min() < 0 or notes[:, PITCH].max() > 127:
            raise MidiError(f"track {index + 1} ({label}) has pitches outside MIDI 0-127")
        if notes[:, START].min() < 0 or notes[:, DUR].min() < 0:
            raise MidiError(f"track {index + 1} ({label}) has notes before the start or of negative length")
        if (notes[:, START] + notes[:, DUR]).max() >= 2**31:
            raise MidiError(f"track {index + 1} ({label}) is too long for a MIDI file")
    is_drum = track.program == DRUM_PROGRAM
    raw_track: Any = symusic.Track(f"{track.role}|{track.name}", 0 if is_drum else track.program, is_drum)
    raw_track.notes = symusic.Note.from_numpy(
        notes[:, START].astype(np.int32),
        notes[:, DUR].astype(np.int32),
        notes[:, PITCH].astype(np.int8),
        # Velocity 0 would be read as a note-off: the quietest note MIDI can hold is 1.
        np.clip(notes[:, VEL], 1, 127).astype(np.int8),
    )
    return raw_track
