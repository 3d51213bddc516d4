"""The symbolic music representation every stage shares: a `Score` of `Track`s with form and harmony.

Time is in ticks at `TPQ` ticks per quarter note. Notes live in one integer array per track
(columns start, duration, pitch, velocity) because the corpus holds millions of them and the
tokenizer, dataset and sampler all work column-wise.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from melodex.errors import MelodexError

TPQ = 480
DRUM_PROGRAM = 128  # our program code for "GM drum kit" (channel 10), beside GM programs 0-127

MIN_BPM, MAX_BPM = 20, 300
MAX_BARS = 512
PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")  # canonical, key-free names
SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
# how a lead sheet writes each chord quality after the root ("Am", "Bbmaj7", "F#m7b5")
CHORD_SUFFIX = {"maj": "", "min": "m", "dim": "dim", "aug": "aug", "sus2": "sus2", "sus4": "sus4", "7": "7",
                "maj7": "maj7", "min7": "m7", "m7b5": "m7b5", "dim7": "dim7", "6": "6"}
# sharps (+) or flats (-) in the signature of each major key, by tonic
_MAJOR_SIGNATURE = {0: 0, 7: 1, 2: 2, 9: 3, 4: 4, 11: 5, 6: 6, 5: -1, 10: -2, 3: -3, 8: -4, 1: -5}
MODES = ("major", "minor")
ROLES = ("melody", "harmony", "accompaniment", "bass", "drums", "counter", "pad", "lead")
# Column indices of Track.notes.
START, DUR, PITCH, VEL = 0, 1, 2, 3


class ScoreError(MelodexError, ValueError):
    """A score, or a request about one, is musically impossible (bad tempo, meter, key, ...)."""


@dataclass(frozen=True)
class TimeSignature:
    numerator: int
    denominator: int
    tick: int = 0

    def __post_init__(self) -> None:
        if self.denominator not in (1, 2, 4, 8, 16, 32):
            raise ScoreError(
                f"meter {self.numerator}/{self.denominator}: the lower number must be 1, 2, 4, 8, 16 or 32"
            )
        if not 1 <= self.numerator <= 32:
            raise ScoreError(f"meter {self.numerator}/{self.denominator}: the upper number must be 1-32")

    @property
    def bar_ticks(self) -> int:
        return self.numerator * TPQ * 4 // self.denominator

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


@dataclass(frozen=True)
class Tempo:
    bpm: float
    tick: int = 0

    def __post_init__(self) -> None:
        if not MIN_BPM <= self.bpm <= MAX_BPM:
            raise ScoreError(f"tempo {self.bpm:g} BPM is outside {MIN_BPM}-{MAX_BPM} BPM")


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0-11, C = 0
    mode: str = "major"

    def __post_init__(self) -> None:
        if not 0 <= self.tonic < 12:
            raise ScoreError(f"key tonic {self.tonic} is not a pitch class 0-11")
        if self.mode not in MODES:
            raise ScoreError(f"key mode {self.mode!r} is not one of {', '.join(MODES)}")

    def __str__(self) -> str:
        return f"{self.spell(self.tonic)} {self.mode}"

    @property
    def signature(self) -> int:
        """Sharps (+) or flats (-) of the key signature; six is F# major but Eb minor, as usually written."""
        fifths = _MAJOR_SIGNATURE[self.tonic if self.mode == "major" else (self.tonic + 3) % 12]
        return -6 if fifths == 6 and self.mode == "minor" else fifths

    def spell(self, pitch_class: int) -> str:
        """A pitch class named as this key writes it: the scale's notes with the signature's accidentals (Db
        in F minor, G# in E major), other notes flat in a flat key and by the key-free names elsewhere (the
        borrowed Bb in G major, the secondary-dominant F# in C)."""
        pitch_class %= 12
        if self.signature < 0:
            return FLAT_NAMES[pitch_class]
        if self.signature > 0 and pitch_class in self.scale:
            return SHARP_NAMES[pitch_class]
        return PITCH_CLASSES[pitch_class]

    @property
    def index(self) -> int:
        return self.tonic * 2 + MODES.index(self.mode)

    @classmethod
    def from_index(cls, index: int) -> Key:
        return cls(index // 2, MODES[index % 2])

    @property
    def scale(self) -> tuple[int, ...]:
        steps = (0, 2, 4, 5, 7, 9, 11) if self.mode == "major" else (0, 2, 3, 5, 7, 8, 10)
        return tuple((self.tonic + s) % 12 for s in steps)


@dataclass(frozen=True)
class Section:
    name: str  # "intro", "verse", "chorus", "A", ...
    start_bar: int
    n_bars: int

    @property
    def end_bar(self) -> int:
        return self.start_bar + self.n_bars


@dataclass(frozen=True)
class ChordSymbol:
    tick: int
    root: int  # pitch class
    quality: str  # one of melodex.tokens_vocabulary.CHORD_QUALITIES

    def __str__(self) -> str:  # the stored form, read back by the MIDI and project readers
        return f"{PITCH_CLASSES[self.root]}{'' if self.quality == 'maj' else self.quality}"

    def name(self, key: Key | None = None) -> str:
        """The chord as a lead sheet in `key` writes it: 'Dbmaj7' in F minor, 'C#m' in A major."""
        root = key.spell(self.root) if key is not None else PITCH_CLASSES[self.root]
        return root + CHORD_SUFFIX.get(self.quality, self.quality)


def empty_notes() -> np.ndarray:
    return np.zeros((0, 4), dtype=np.int64)


@dataclass
class Track:
    """One instrument part. `program` is a GM program 0-127, or DRUM_PROGRAM for a drum kit."""

    program: int
    role: str = "melody"
    name: str = ""
    notes: np.ndarray = field(default_factory=empty_notes)

    def __post_init__(self) -> None:
        if not 0 <= self.program <= DRUM_PROGRAM:
            raise ScoreError(f"program {self.program} is not a GM program 0-127 or a drum kit")
        if self.role not in ROLES:
            raise ScoreError(f"track role {self.role!r} is not one of {', '.join(ROLES)}")
        notes = np.asarray(self.notes, dtype=np.int64).reshape(-1, 4)
        order = np.lexsort((notes[:, PITCH], notes[:, START]))
        self.notes = notes[order]

    @property
    def is_drum(self) -> bool:
        return self.program == DRUM_PROGRAM

    @property
    def end_tick(self) -> int:
        if len(self.notes) == 0:
            return 0
        return int((self.notes[:, START] + self.notes[:, DUR]).max())

    def copy(self) -> Track:
        return replace(self, notes=self.notes.copy())


@dataclass
class Score:
    tracks: list[Track] = field(default_factory=list)
    tempos: list[Tempo] = field(default_factory=lambda: [Tempo(120.0)])
    time_signatures: list[TimeSignature] = field(default_factory=lambda: [TimeSignature(4, 4)])
    key: Key = field(default_factory=lambda: Key(0, "major"))
    sections: list[Section] = field(default_factory=list)
    chords: list[ChordSymbol] = field(default_factory=list)
    n_bars: int = 0  # 0 means "as many bars as the notes need"

    def __post_init__(self) -> None:
        if not self.tempos or self.tempos[0].tick != 0:
            raise ScoreError("a score needs a tempo at tick 0")
        if not self.time_signatures or self.time_signatures[0].tick != 0:
            raise ScoreError("a score needs a time signature at tick 0")
        self.tempos.sort(key=lambda t: t.tick)
        self.time_signatures.sort(key=lambda t: t.tick)
        self.chords.sort(key=lambda c: c.tick)
        self.sections.sort(key=lambda s: s.start_bar)

    # -- time ---------------------------------------------------------------------------------

    @property
    def bpm(self) -> float:
        return self.tempos[0].bpm

    @property
    def meter(self) -> TimeSignature:
        return self.time_signatures[0]

    @property
    def end_tick(self) -> int:
        """Where the score ends: the last bar line (or the last note-off, if later)."""
        notes_end = max((t.end_tick for t in self.tracks), default=0)
        return max(notes_end, self.bar_starts()[-1])

    def bar_starts(self, n_bars: int | None = None) -> list[int]:
        """Tick of every bar line, closing line included: n_bars + 1 values.

        n_bars defaults to the score's `n_bars`, or to as many bars as the notes need.
        """
        if n_bars is None and self.n_bars:
            n_bars = self.n_bars
        notes_end = max(max((t.end_tick for t in self.tracks), default=0), 1)
        signatures = self.time_signatures
        starts, index = [0], 0
        while (len(starts) <= n_bars) if n_bars is not None else (starts[-1] < notes_end):
            while index + 1 < len(signatures) and signatures[index + 1].tick <= starts[-1]:
                index += 1
            nxt = starts[-1] + signatures[index].bar_ticks
            # A meter change inside a bar closes that bar early (pickups, odd bars in the corpus).
            if index + 1 < len(signatures) and signatures[index + 1].tick < nxt:
                nxt = signatures[index + 1].tick
            starts.append(nxt)
        return starts

    def bar_count(self) -> int:
        return self.n_bars or len(self.bar_starts()) - 1

    def meter_at(self, tick: int) -> TimeSignature:
        current = self.time_signatures[0]
        for signature in self.time_signatures:
            if signature.tick <= tick:
                current = signature
        return current

    def tempo_at(self, tick: int) -> float:
        current = self.tempos[0].bpm
        for tempo in self.tempos:
            if tempo.tick <= tick:
                current = tempo.bpm
        return current

    def seconds_at(self, ticks: np.ndarray | int) -> np.ndarray:
        """Convert ticks to seconds through the tempo map."""
        ticks_arr = np.asarray(ticks, dtype=np.float64)
        change_ticks = np.array([t.tick for t in self.tempos], dtype=np.float64)
        seconds_per_tick = np.array([60.0 / (t.bpm * TPQ) for t in self.tempos])
        segment_seconds = np.concatenate([[0.0], np.cumsum(np.diff(change_ticks) * seconds_per_tick[:-1])])
        index = np.searchsorted(change_ticks, ticks_arr, side="right") - 1
        return segment_seconds[index] + (ticks_arr - change_ticks[index]) * seconds_per_tick[index]

    @property
    def duration_seconds(self) -> float:
        return float(self.seconds_at(self.end_tick))

    # -- content ------------------------------------------------------------------------------

    @property
    def n_notes(self) -> int:
        return sum(len(t.notes) for t in self.tracks)

    def section(self, name: str) -> Section:
        for section in self.sections:
            if section.name == name:
                return section
        known = ", ".join(s.name for s in self.sections) or "none"
        raise ScoreError(f"no section named {name!r} (sections: {known})")

    def copy(self) -> Score:
        return replace(
            self,
            tracks=[t.copy() for t in self.tracks],
            tempos=list(self.tempos),
            time_signatures=list(self.time_signatures),
            sections=list(self.sections),
            chords=list(self.chords),
        )

    def transposed(self, semitones: int) -> Score:
        pitched = [t.notes[:, PITCH] for t in self.tracks if not t.is_drum and len(t.notes)]
        if pitched:
            low, high = min(int(p.min()) for p in pitched), max(int(p.max()) for p in pitched)
            if low + semitones < 0 or high + semitones > 127:
                raise ScoreError(f"transposing by {semitones:+d} pushes notes outside MIDI range 0-127: this "
                                 f"song's notes ({low}-{high}) can move {-low:+d} to {127 - high:+d} semitones")
        out = self.copy()
        for track in out.tracks:
            if not track.is_drum and len(track.notes):
                track.notes[:, PITCH] += semitones
        out.key = Key((self.key.tonic + semitones) % 12, self.key.mode)
        out.chords = [replace(c, root=(c.root + semitones) % 12) for c in self.chords]
        return out

    def summary(self) -> str:
        parts = ", ".join(f"{t.role}:{t.program}" for t in self.tracks)
        return (
            f"{self.bar_count()} bars of {self.meter} at {self.bpm:g} BPM in {self.key}; "
            f"{len(self.tracks)} tracks ({parts}); {self.n_notes} notes"
        )
