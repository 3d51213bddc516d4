"""Rebuild the committed MIDI test corpus: a few real works from music21's corpus, hand-made files
that exercise awkward MIDI (drums, type 0, odd resolution, zero-length and overlapping notes,
hanging notes, events after the end of a track, the sustain pedal) and broken files.

Run with the dev extra installed:  .venv/bin/python tests/data/midi/make_corpus.py
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

HERE = Path(__file__).parent
REAL = {  # file name: (music21 corpus path, opus number or None)
    "bach_bwv66_6.mid": ("bach/bwv66.6", None),
    "essen_altdeu10.mid": ("essenFolksong/altdeu10", 1),
    "oneills_0002.mid": ("oneills1850/0001-0050", 2),  # tune 1 trips a music21 MIDI export bug
    "foster_brown_hair.mid": ("leadSheet/fosterBrownHair", None),
}


def variable_length(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def track_chunk(events: list[tuple[int, bytes]], end_of_track: bool = True) -> bytes:
    """events: (absolute tick, raw event bytes), written in the given order."""
    body, now = b"", 0
    for tick, event in events:
        body += variable_length(tick - now) + event
        now = tick
    if end_of_track:
        body += b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + body


def midi_file(tracks: list[bytes], tpq: int, fmt: int = 1) -> bytes:
    return b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks), tpq) + b"".join(tracks)


def tempo(bpm: float) -> bytes:
    return b"\xff\x51\x03" + round(60_000_000 / bpm).to_bytes(3, "big")


def on(channel: int, pitch: int, velocity: int) -> bytes:
    return bytes([0x90 | channel, pitch, velocity])


def off(channel: int, pitch: int) -> bytes:
    return bytes([0x80 | channel, pitch, 64])


def drum_groove() -> bytes:
    """Type 0 at 96 ticks per quarter: a GM kit on channel 10 and a bass on channel 3 in one track."""
    tpq, events = 96, [(0, tempo(100)), (0, b"\xff\x58\x04\x04\x02\x18\x08"), (0, bytes([0xC2, 33]))]
    notes = []
    for bar in range(4):
        for eighth in range(8):
            t = bar * 4 * tpq + eighth * tpq // 2
            notes.append((t, 9, 42, 70 if eighth % 2 else 90, tpq // 4))  # closed hi-hat
            if eighth in (0, 5):
                notes.append((t, 9, 36, 110, tpq // 4))  # kick
            if eighth in (2, 6):
                notes.append((t, 9, 38, 100, 0))  # snare as on+off at one tick
        for beat, pitch in enumerate((40, 40, 43, 45)):
            notes.append((bar * 4 * tpq + beat * tpq, 2, pitch, 95, tpq - 8))
    # At one tick: offs of earlier notes, then ons, then the offs of zero-length notes.
    timed = [(0, -1, event) for _, event in events]
    for t, channel, pitch, velocity, length in notes:
        timed.append((t, 1, on(channel, pitch, velocity)))
        timed.append((t + length, 2 if length == 0 else 0, off(channel, pitch)))
    timed.sort(key=lambda e: (e[0], e[1]))
    return midi_file([track_chunk([(t, event) for t, _, event in timed])], tpq, fmt=0)


def edge_cases() -> bytes:
    """Overlapping same-pitch notes, a zero-length note, a note-on never released, a note-on with
    velocity 0 as its note-off, the sustain pedal, and notes after the end-of-track event."""
    tpq = 480
    meta = track_chunk([(0, tempo(90)), (0, b"\xff\x58\x04\x03\x02\x18\x08"), (0, b"\xff\x59\x02\x02\x00")])
    piano = track_chunk(
        [
            (0, b"\xff\x03\x05Piano"),
            (0, on(0, 60, 80)),
            (240, on(0, 60, 90)),  # struck again while still held
            (480, off(0, 60)),
            (720, off(0, 60)),
            (960, on(0, 64, 70)),
            (960, off(0, 64)),  # zero length
            (960, bytes([0xB0, 64, 127])),  # sustain pedal down
            (960, on(0, 67, 70)),
            (1200, bytes([0x90, 67, 0])),  # velocity-0 note-on ends the note
            (1900, bytes([0xB0, 64, 0])),  # pedal up: the G is held to here
            (1920, on(0, 72, 100)),  # never released
        ]
    )
    body = b"".join(
        variable_length(delta) + event
        for delta, event in [(0, b"\xff\x03\x04Bass"), (0, on(1, 36, 90)), (960, off(1, 36))]
    )
    # A note after the end-of-track event: readers should stop at the end of the track.
    body += b"\x00\xff\x2f\x00" + variable_length(0) + on(1, 38, 90) + variable_length(480) + off(1, 38)
    bass = b"MTrk" + struct.pack(">I", len(body)) + body
    return midi_file([meta, piano, bass], tpq)


def no_notes() -> bytes:
    return midi_file([track_chunk([(0, tempo(120)), (0, b"\xff\x03\x05Empty")])], 480)


def export_real() -> None:
    from music21 import corpus

    for file_name, (work, number) in REAL.items():
        parsed = corpus.parse(work, number=number) if number else corpus.parse(work)
        parsed.write("midi", fp=str(HERE / file_name))


def main() -> None:
    export_real()
    (HERE / "drums_type0_tpq96.mid").write_bytes(drum_groove())
    (HERE / "edge_cases.mid").write_bytes(edge_cases())
    broken = HERE / "broken"
    broken.mkdir(exist_ok=True)
    valid = (HERE / "bach_bwv66_6.mid").read_bytes()
    (broken / "empty.mid").write_bytes(b"")
    (broken / "random.mid").write_bytes(random.Random(7).randbytes(2048))
    (broken / "truncated_header.mid").write_bytes(valid[:10])
    (broken / "truncated_track.mid").write_bytes(valid[: len(valid) // 2])
    (broken / "text_renamed.mid").write_text("This is a text file, not MIDI.\nVerse 1: la la la\n" * 8)
    (broken / "no_notes.mid").write_bytes(no_notes())
    (broken / "riff_header_only.mid").write_bytes(b"RIFF\x10\x00\x00\x00RMIDdata" + b"\x00" * 8)
    for path in sorted(HERE.rglob("*.mid")):
        print(f"{path.relative_to(HERE)}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
