"""The note dataset: single dry SoundFont notes analysed into HN parameters, with descriptors and captions.

Every GM program is rendered across its plausible range at three velocities, held 1.0 s then released,
and stored compactly as HN frames in dB (float16), never as raw audio. Captions are made from the
instrument's name and from descriptors measured on the audio, ranked within its GM family, so that
"bright" or "plucky" means brighter or shorter than its relatives, which is what text control needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from melodex.instruments import GM_FAMILIES, GM_NAMES
from melodex.timbre import hn, hn_analysis, metrics

VELOCITIES = (40, 80, 120)
DESCRIPTORS = ("centroid_ratio", "attack_s", "decay_s", "sustain", "noisiness", "stretch")
STRETCHED_FAMILIES = ("piano", "chromatic percussion", "guitar", "bass", "ethnic")

# Plausible MIDI ranges per GM family; a few programs differ from their family.
FAMILY_RANGE = {
    "piano": (24, 100), "chromatic percussion": (55, 100), "organ": (36, 90), "guitar": (40, 84),
    "bass": (28, 60), "strings": (36, 96), "ensemble": (40, 88), "brass": (40, 82), "reed": (45, 86),
    "pipe": (60, 96), "synth lead": (40, 88), "synth pad": (40, 84), "synth effects": (40, 84),
    "ethnic": (45, 84), "percussive": (40, 80), "sound effects": (45, 80),
}
PROGRAM_RANGE = {
    40: (55, 96), 41: (48, 88), 42: (36, 76), 43: (28, 60), 47: (36, 60), 58: (28, 60), 57: (36, 72),
    67: (36, 70), 70: (34, 70), 72: (74, 100), 73: (60, 96), 9: (72, 100), 14: (60, 84), 8: (60, 96),
}


def program_range(program: int) -> tuple[int, int]:
    return PROGRAM_RANGE.get(program, FAMILY_RANGE[GM_FAMILIES[program // 8]])


def simple_name(program: int) -> str:
    """'Pad 2 (warm)' -> 'warm pad', 'Acoustic Guitar (nylon)' -> 'nylon acoustic guitar'."""
    name = GM_NAMES[program].lower()
    if "(" in name:
        head, detail = name.split("(", 1)
        detail = detail.rstrip(")").strip()
        head = " ".join(w for w in head.split() if not w.isdigit())
        name = f"{detail} {head}".strip()
    return " ".join(w for w in name.split() if not w.isdigit())


@dataclass(frozen=True)
class NoteDataset:
    """HN frames and labels of every note, as arrays (one row per note)."""

    harmonics_db: np.ndarray  # (n, N_FRAMES, N_HARMONICS) float16
    noise_db: np.ndarray  # (n, N_FRAMES, N_NOISE_BANDS) float16
    cents: np.ndarray  # (n, N_FRAMES) float16
    stretch: np.ndarray  # (n,)
    attack_s: np.ndarray  # (n,)
    program: np.ndarray  # (n,) int
    pitch: np.ndarray
    velocity: np.ndarray
    source: np.ndarray  # (n,) SoundFont index
    descriptors: np.ndarray  # (n, len(DESCRIPTORS))

    def __len__(self) -> int:
        return len(self.program)

    def save(self, path: Path) -> None:
        np.savez(path, **{name: getattr(self, name) for name in self.__dataclass_fields__})

    @classmethod
    def load(cls, path: Path) -> NoteDataset:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    @classmethod
    def concat(cls, parts: list[NoteDataset]) -> NoteDataset:
        return cls(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in cls.__dataclass_fields__})

    def params(self, index: int) -> hn.HNParams:
        harmonics, noise = self.harmonics_db[index], self.noise_db[index]
        return hn.HNParams(
            pitch=int(self.pitch[index]),
            harmonics=10 ** (harmonics.astype(np.float32) / 20) * (harmonics > STORED_FLOOR_DB + 1),
            noise=10 ** (noise.astype(np.float32) / 20) * (noise > STORED_FLOOR_DB + 1),
            cents=self.cents[index].astype(np.float32),
            stretch=float(self.stretch[index]),
            attack_s=float(self.attack_s[index]),
        )


# Levels are stored down to here. Note sets built before 2026-12-08 stopped at hn.NOISE_FLOOR_DB (-100 dB,
# absolute): a piano's partials above 4 kHz sit at -60 to -110 dB in its hold and fall under -100 within
# 0.1 s of the release, so the stored notes (and the autoencoder trained on them) lost their highs there.
STORED_FLOOR_DB = -160.0


def to_db(values: np.ndarray) -> np.ndarray:
    return np.maximum(20 * np.log10(np.maximum(values, 1e-9)), STORED_FLOOR_DB).astype(np.float16)


def describe(audio: np.ndarray, params: hn.HNParams) -> np.ndarray:
    """Descriptor vector (see DESCRIPTORS) of a note's audio and its HN analysis."""
    harmonic_energy = float(np.sum(params.harmonics.astype(np.float64) ** 2) / 2)
    width = np.diff(hn.NOISE_EDGES) / (hn.SAMPLE_RATE / 2)
    noise_energy = float(np.sum(params.noise.astype(np.float64) ** 2 * width))
    return np.array(
        [
            metrics.spectral_centroid(audio) / hn.midi_hz(params.pitch),
            params.attack_s,
            metrics.decay_time(audio),
            metrics.sustain_ratio(audio),
            noise_energy / (noise_energy + harmonic_energy + 1e-12),
            params.stretch,
        ],
        dtype=np.float32,
    )


def render_notes(
    soundfont: str,
    source_index: int,
    pitch_step: int = 4,
    programs: range | list[int] = range(128),
    progress: Callable[[int, int], None] | None = None,
) -> NoteDataset:
    """Render and analyse every (program, pitch, velocity) of one SoundFont."""
    from melodex.soundfont import SoundFontSynth

    plan: list[tuple[int, int, int]] = []
    for program in programs:
        low, high = program_range(program)
        offset = (program * 7) % pitch_step  # programs of one family cover interleaved pitches
        for pitch in range(low + offset, high + 1, pitch_step):
            plan.extend((program, pitch, velocity) for velocity in VELOCITIES)
    rows: dict[str, list[np.ndarray | float | int]] = {name: [] for name in NoteDataset.__dataclass_fields__}
    with SoundFontSynth(soundfont) as synth:
        for done, (program, pitch, velocity) in enumerate(plan):
            if progress is not None:
                progress(done, len(plan))
            audio = synth.render_note(program, pitch, velocity, hn.HOLD_S, 0.5)[: hn.NOTE_FRAMES]
            if np.abs(audio).max() < 1e-4:
                continue  # no sample for this key in this SoundFont
            stretched = GM_FAMILIES[program // 8] in STRETCHED_FAMILIES or program in (45, 46, 47)
            params = hn_analysis.analyse(audio, pitch, stretched=stretched)
            rows["harmonics_db"].append(to_db(params.harmonics))
            rows["noise_db"].append(to_db(params.noise))
            rows["cents"].append(params.cents.astype(np.float16))
            rows["stretch"].append(params.stretch)
            rows["attack_s"].append(params.attack_s)
            rows["program"].append(program)
            rows["pitch"].append(pitch)
            rows["velocity"].append(velocity)
            rows["source"].append(source_index)
            rows["descriptors"].append(describe(audio, params))
    return NoteDataset(**{name: np.asarray(values) for name, values in rows.items()})


# -- captions ------------------------------------------------------------------------------------

BRIGHT_WORDS = ("bright", "brilliant", "crisp", "sharp")
DARK_WORDS = ("dark", "warm", "mellow", "muffled")
PLUCKY_WORDS = ("plucky", "percussive", "short", "staccato")
SUSTAINED_WORDS = ("sustained", "long", "held")
SLOW_WORDS = ("slow-attack", "swelling", "soft-attack", "pad-like")
NOISY_WORDS = ("breathy", "airy", "noisy")
PURE_WORDS = ("pure", "clean")
METALLIC_WORDS = ("metallic", "bell-like")


def descriptor_labels(dataset: NoteDataset) -> list[list[tuple[str, ...]]]:
    """Word groups for each note, from its descriptors ranked within its GM family and pitch region."""
    d = dataset.descriptors
    family = dataset.program // 8
    log_centroid = np.log(d[:, 0])
    # Brightness relative to the family at a similar pitch: residual of log centroid on pitch.
    residual = np.zeros(len(d))
    rank_noise = np.zeros(len(d))
    for fam in np.unique(family):
        rows = family == fam
        slope, intercept = np.polyfit(dataset.pitch[rows], log_centroid[rows], 1)
        residual[rows] = log_centroid[rows] - (slope * dataset.pitch[rows] + intercept)
        residual[rows] = np.argsort(np.argsort(residual[rows])) / max(1, rows.sum() - 1)
        rank_noise[rows] = np.argsort(np.argsort(d[rows, 4])) / max(1, rows.sum() - 1)
    labels = []
    for i in range(len(d)):
        groups: list[tuple[str, ...]] = []
        if residual[i] > 0.67:
            groups.append(BRIGHT_WORDS)
        elif residual[i] < 0.33:
            groups.append(DARK_WORDS)
        attack, decay, sustain = d[i, 1], d[i, 2], d[i, 3]
        if decay < 0.35 and attack < 0.03:
            groups.append(PLUCKY_WORDS)
        elif attack > 0.12 and sustain > 0.3:
            groups.append(SLOW_WORDS)
        elif sustain > 0.4:
            groups.append(SUSTAINED_WORDS)
        if rank_noise[i] > 0.8 and d[i, 4] > 0.02:
            groups.append(NOISY_WORDS)
        elif d[i, 4] < 0.002:
            groups.append(PURE_WORDS)
        if d[i, 5] > 3e-4:
            groups.append(METALLIC_WORDS)
        labels.append(groups)
    return labels


def caption(program: int, groups: list[tuple[str, ...]], rng: np.random.Generator) -> str:
    """One random caption: a few descriptor words and the instrument, in one of several phrasings."""
    words = [str(rng.choice(group)) for group in groups if rng.random() < 0.85]
    rng.shuffle(words)
    name = simple_name(program)
    if rng.random() < 0.2:
        name = f"{name} ({GM_FAMILIES[program // 8]})"
    adjectives = ", ".join(words)
    form = int(rng.integers(3))
    if not words:
        return f"a {name} note" if form == 0 else name
    if form == 0:
        return f"a {adjectives} {name} note"
    if form == 1:
        return f"{adjectives} {name}"
    return f"{name}, {adjectives}"


def build_note_dataset(
    out_dir: Path,
    soundfonts: tuple[str, ...] = ("FluidR3_GM", "TimGM6mb"),
    pitch_steps: tuple[int, ...] = (4, 6),
    progress: Callable[[str, int, int], None] | None = None,
) -> NoteDataset:
    """Render (or reuse from `out_dir`) every SoundFont's notes and return them as one dataset."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    for index, (name, step) in enumerate(zip(soundfonts, pitch_steps, strict=True)):
        path = out_dir / f"notes_{name}_step{step}.npz"
        if not path.exists():
            report = None if progress is None else (lambda d, n, name=name: progress(name, d, n))
            part = render_notes(name, index, step, progress=report)
            part.save(path.with_suffix(".tmp.npz"))
            path.with_suffix(".tmp.npz").rename(path)
        parts.append(NoteDataset.load(path))
    return NoteDataset.concat(parts)
