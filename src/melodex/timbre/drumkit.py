"""Drum kits from words: the machine's kits, captioned from their names and their measured sound, chosen
for a timbre text by the timbre model's text conditioning (MiniLM) and guidance; the chosen kit's hits
become the drum track's `SampleSet`.

Kits: the drum presets of the SoundFonts (bank 128: FluidR3_GM's and TimGM6mb's Standard, Room, Power,
Electronic, TR-808, Jazz, Brush, Orchestra) and every Hydrogen kit installed (`hydrogen-data`: GMRockKit,
TR808EmulationKit; `hydrogen-drumkits` adds ~20 more when installed). MuseScore General's kits are left
out: its file takes 3.6 s to load and its kits are mostly FluidR3's samples.

Each kit gets one caption: what its name says (a TR-808 is an electronic drum machine) and words from
descriptors measured on its kick, snare and hi-hat, ranked among the kits (long or short kick, roomy or
dry snare, bright or dark, hard or soft hits). The choice scores each caption's phrases against the text and
against the bare instrument ("Drum Kit") and guides as the timbre model does, score = bare + cfg *
(text - bare), so words matter more as cfg grows; the seed samples from a softmax over the scores.
Keys the chosen kit lacks come from the next-ranked kit that has them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from melodex.errors import MelodexError
from melodex.score import DRUM_PROGRAM
from melodex.timbre.sampleset import NoteKey, NoteSample, SampleSet, note_sample

SOUNDFONT_KITS = ("FluidR3_GM", "TimGM6mb")
HYDROGEN_DIRS = (Path("/usr/share/hydrogen/data/drumkits"), Path.home() / ".hydrogen" / "data" / "drumkits")
BARE_TEXT = "Drum Kit"  # what `instrument_text` calls the GM kit: the guidance reference
TEMPERATURE = 0.03  # softmax over guided cosine scores: at cfg 4 a 0.05 lead in similarity is e^6.7 to 1
HOLD_S, RELEASE_S = 1.5, 1.0  # one-shots as `soundfont_sampleset` records drums (struck, then ring)
KICK, SNARE, CLOSED_HAT = 36, 38, 42
CATALOGUE_FORMAT = 1
DEFAULT_KIT, DEFAULT_LEAD = "FluidR3_GM Standard", 0.15
SECOND_PHRASE = 0.5  # weight of a kit's second-best phrase in its lead (`kit_scores`)


class DrumKitError(MelodexError):
    """No drum kit is installed, or a kit's files cannot be read."""


@dataclass(frozen=True)
class DrumKit:
    """One installed kit: a SoundFont's bank-128 preset, or a Hydrogen drumkit.xml."""

    name: str  # "FluidR3_GM TR-808", "Hydrogen TR808EmulationKit"
    kind: str  # "soundfont" or "hydrogen"
    path: str
    preset: int = 0


# What a kit's name says about it. Matched as words in the lower-cased name, first match wins.
NAME_WORDS: tuple[tuple[str, str], ...] = (
    ("808", "TR-808 drum machine, electronic 808 kit, hip hop, trap, synthwave, boomy 808 kick, snappy clap"),
    ("electronic", "electronic drum machine kit, synthetic drums, techno, house, EDM, dance, 80s synth pop"),
    ("techno", "electronic drum machine kit, techno, house, EDM"),
    ("brush", "brushed jazz kit, brushes on the snare, soft and quiet, lounge, bossa nova, ballad"),
    ("jazz", "jazz kit, acoustic drums, swing, bebop, lounge, warm vintage"),
    ("room", "room kit, big room, roomy live drums, ambience, indie, rock"),
    ("power", "power kit, big arena rock drums, loud, gated, stadium, big room, metal"),
    ("rock", "rock kit, acoustic live drums, rock, punk, metal"),
    ("orchestra", "orchestral percussion, concert bass drum, timpani, cinematic, film score"),
    ("standard", "standard acoustic drum kit, pop, funk, soul, folk"),
)
GENERIC_WORDS = "acoustic drum kit"

# Descriptor -> (words for the top third of kits, words for the bottom third).
DESCRIPTOR_WORDS: dict[str, tuple[str, str]] = {
    "kick_decay_s": ("long boomy kick", "short tight kick"),
    "kick_low": ("deep sub kick", "thin clicky kick"),
    "snare_tail_s": ("roomy reverberant snare, big ambience", "dry close snare"),
    "brightness_db": ("bright crisp cymbals", "dark dusty lo-fi sound"),
    "punch": ("punchy hard-hitting transients", "soft gentle hits"),
}


# Sounds no installed kit has are made from the chosen one: each treatment's amount comes from the same
# guided score on its caption, (cfg * (text - bare) - TREATMENT_DEAD) / TREATMENT_SPAN clipped to 0-1,
# so "lo-fi dusty drums" at cfg 4 crushes the kit fully and at cfg 1 a little (0.22 above the bare text's
# cosine: 1.0 at cfg 4, 0.19 at cfg 1), and unrelated words stay under the dead zone.
TREATMENTS: dict[str, str] = {
    "lofi": "lo-fi dusty vintage vinyl crunchy bitcrushed drums",
    "room": "big room reverberant ambient arena drums with a long reverb tail",
    "punch": "punchy hard-hitting tight compressed drums",
    "soft": "soft gentle quiet brushed drums",
}
TREATMENT_DEAD, TREATMENT_SPAN = 0.15, 0.35
ROOM_TAIL_S = 1.0  # added to every hit before the room, so its tail is not cut


# -- the installed kits -------------------------------------------------------------------------------


def _tag(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _child_text(element: ET.Element, name: str, default: str = "") -> str:
    for child in element:
        if _tag(child) == name:
            return (child.text or default).strip()
    return default


def hydrogen_layers(path: Path) -> dict[int, list[tuple[float, float, Path, float]]]:
    """GM key -> [(min velocity 0-1, max velocity 0-1, sample file, gain)] of a Hydrogen drumkit.xml."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise DrumKitError(f"{path} is not a readable Hydrogen drumkit.xml ({exc})") from exc
    keys: dict[int, list[tuple[float, float, Path, float]]] = {}
    for instrument in root.iter():
        if _tag(instrument) != "instrument":
            continue
        try:
            key = int(_child_text(instrument, "midiOutNote", "-1"))
            gain = float(_child_text(instrument, "gain", "1")) * float(_child_text(instrument, "volume", "1"))
        except ValueError:
            continue
        if not 27 <= key <= 87 or key in keys:
            continue
        layers = []
        for layer in instrument.iter():
            if _tag(layer) != "layer" or not _child_text(layer, "filename"):
                continue
            file = path.parent / _child_text(layer, "filename")
            if file.is_file():
                layers.append((float(_child_text(layer, "min", "0")), float(_child_text(layer, "max", "1")), file,
                               gain * float(_child_text(layer, "gain", "1"))))
        if layers:
            keys[key] = sorted(layers, key=lambda layer: layer[0])
    return keys


def installed_kits() -> list[DrumKit]:
    """Every kit this machine has (SOUNDFONT_KITS' main bank-128 presets, then the Hydrogen kits)."""
    from melodex.soundfont import SoundFontError, find_soundfont

    kits = []
    for name in SOUNDFONT_KITS:
        try:
            path = find_soundfont(name)
        except SoundFontError:
            continue
        for preset, label in _soundfont_presets(str(path)):
            kits.append(DrumKit(f"{path.stem} {label}", "soundfont", str(path), preset))
    for folder in HYDROGEN_DIRS:
        if folder.is_dir():
            for xml in sorted(folder.glob("*/drumkit.xml")):
                kits.append(DrumKit(f"Hydrogen {xml.parent.name}", "hydrogen", str(xml)))
    if not kits:
        raise DrumKitError("no drum kit is installed: apt-get install fluid-soundfont-gm hydrogen-data")
    return kits


@lru_cache(maxsize=8)
def _soundfont_presets(path: str) -> tuple[tuple[int, str], ...]:
    """(preset, name) of a SoundFont's main drum kits: bank 128 presets whose name ends in no number
    ("Jazz", not "Jazz 1": numbered presets are variations with mostly the same samples), and the
    TR-808 (preset 25), whose name does."""
    import fluidsynth

    synth = fluidsynth.Synth()
    try:
        sfid = synth.sfload(path)
        found = [(p, synth.sfpreset_name(sfid, 128, p)) for p in range(128)]
    finally:
        synth.delete()
    return tuple((p, str(name)) for p, name in found if name and (p == 25 or not re.search(r"\d$", str(name))))


@lru_cache(maxsize=64)
def _hydrogen_kit(path: str) -> dict[int, list[tuple[float, float, Path, float]]]:
    return hydrogen_layers(Path(path))


@lru_cache(maxsize=512)
def _hydrogen_file(path: Path, sample_rate: int) -> np.ndarray:
    import soundfile
    from scipy.signal import resample_poly

    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        divisor = np.gcd(rate, sample_rate)
        mono = resample_poly(mono, sample_rate // divisor, rate // divisor).astype(np.float32)
    return mono


def kit_hit(kit: DrumKit, key: int, velocity: int, sample_rate: int = 44100) -> np.ndarray | None:
    """One hit of `key` at `velocity` as mono float32 starting at frame 0, or None if the kit lacks it."""
    if kit.kind == "soundfont":
        from melodex.soundfont import DEFAULT_SOUNDFONT, loaded_soundfont

        # The default SoundFont under the name the renderer loads it by: one copy in memory, not two.
        synth = loaded_soundfont(None if Path(kit.path).stem == DEFAULT_SOUNDFONT else kit.path)
        audio = synth.render_note(DRUM_PROGRAM, key, velocity, HOLD_S, RELEASE_S, sample_rate,
                                                       kit=kit.preset)
        return audio if np.abs(audio).max() > 1e-4 else None
    layers = _hydrogen_kit(kit.path).get(key)
    if not layers:
        return None
    v = velocity / 127
    _, _, file, gain = next((layer for layer in layers if layer[0] <= v <= layer[1]), layers[-1])
    # Hydrogen scales a layer by velocity; FluidSynth's default curve is close to velocity squared.
    return (_hydrogen_file(file, sample_rate) * np.float32(gain * v**2 * 0.5)).astype(np.float32)


# -- captions -------------------------------------------------------------------------------------------


def _envelope_db(audio: np.ndarray, rate: int) -> np.ndarray:
    hop = rate // 100
    n = len(audio) // hop
    return 10 * np.log10(np.mean(np.square(audio[: n * hop].astype(np.float64)).reshape(n, hop), axis=1) + 1e-12)


def _fall_time(audio: np.ndarray, rate: int, drop_db: float) -> float:
    env = _envelope_db(audio, rate)
    peak = int(np.argmax(env))
    below = np.nonzero(env[peak:] < env[peak] - drop_db)[0]
    return float((below[0] if len(below) else len(env) - peak) * 0.01)


def describe(kit: DrumKit) -> dict[str, float]:
    """Descriptors measured on the kit's kick, snare and closed hi-hat at velocity 100 (44.1 kHz)."""
    def hit(*keys: int) -> np.ndarray | None:
        return next((a for a in (kit_hit(kit, k, 100, 44100) for k in keys) if a is not None), None)

    return describe_hits(hit(KICK, 35), hit(SNARE, 40), hit(CLOSED_HAT))


def describe_hits(kick: np.ndarray | None, snare: np.ndarray | None, hat: np.ndarray | None,
                  rate: int = 44100) -> dict[str, float]:
    """Kick decay to -30 dB and share of its energy under 120 Hz, snare tail to -30 dB and crest factor
    over its first 100 ms ("punch"), the 4-12 kHz share of the three (dB) and the frequency under which
    95% of their energy lies ("rolloff_hz", low for band-limited, lo-fi hits)."""
    from melodex.timbre import metrics

    found: dict[str, float] = {}
    if kick is not None:
        found["kick_decay_s"] = _fall_time(kick, rate, 30.0)
        spectrum = np.abs(np.fft.rfft(kick[: rate // 2].astype(np.float64))) ** 2
        hz = np.fft.rfftfreq(len(kick[: rate // 2]), 1 / rate)
        found["kick_low"] = float(spectrum[hz < 120].sum() / (spectrum.sum() + 1e-20))
    if snare is not None:
        found["snare_tail_s"] = _fall_time(snare, rate, 30.0)
        head = snare[: rate // 10].astype(np.float64)
        found["punch"] = float(np.abs(head).max() / (np.sqrt(np.mean(head**2)) + 1e-12))
    present = [h for h in (kick, snare, hat) if h is not None]
    if present:
        found["brightness_db"] = float(np.mean([metrics.band_levels(h)[2] for h in present]))
        rolloffs = []
        for h in present:
            power = np.abs(np.fft.rfft(h.astype(np.float64))) ** 2
            cumulative = np.cumsum(power) / (power.sum() + 1e-20)
            rolloffs.append(float(np.fft.rfftfreq(len(h), 1 / rate)[np.searchsorted(cumulative, 0.95)]))
        found["rolloff_hz"] = float(np.mean(rolloffs))
    return found


def name_words(kit: DrumKit) -> str:
    lowered = kit.name.lower().replace("tr-808", "808").replace("tr 808", "808")
    for word, words in NAME_WORDS:
        if word in lowered:
            return words
    return GENERIC_WORDS


def captions(kits: list[DrumKit], descriptors: list[dict[str, float]]) -> list[str]:
    """One caption per kit: its name's words, then the descriptors ranked among these kits (top or
    bottom third)."""
    words: list[list[str]] = [[kit.name, name_words(kit)] for kit in kits]
    for name, (high, low) in DESCRIPTOR_WORDS.items():
        have = [i for i, d in enumerate(descriptors) if name in d]
        if len(have) < 3:
            continue
        order = sorted(have, key=lambda i: descriptors[i][name])
        third = max(1, len(order) // 3)
        for i in order[:third]:
            words[i].append(low)
        for i in order[-third:]:
            words[i].append(high)
    return [", ".join(w) for w in words]


def _cache_path() -> Path:
    base = Path(os.environ.get("MELODEX_CACHE", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                               / "melodex"))
    return base / "drumkits.json"


def _fingerprint(kits: list[DrumKit]) -> str:
    parts = []
    for kit in kits:
        stat = Path(kit.path).stat()
        parts.append(f"{kit.name}|{kit.path}|{kit.preset}|{stat.st_size}|{int(stat.st_mtime)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@lru_cache(maxsize=4)
def catalogue(cache: Path | None = None) -> tuple[tuple[DrumKit, ...], tuple[str, ...]]:
    """The installed kits and their captions. Measuring them takes a few seconds (rendering 3 hits of
    each kit), so the result is kept in the user's cache (MELODEX_CACHE or ~/.cache/melodex), keyed by
    the kit files' sizes and dates; a cache that cannot be written is only a slower start."""
    kits = installed_kits()
    path = cache if cache is not None else _cache_path()
    key = _fingerprint(kits)
    try:
        stored = json.loads(path.read_text())
        if stored.get("format") == CATALOGUE_FORMAT and stored.get("fingerprint") == key:
            return tuple(DrumKit(**k) for k in stored["kits"]), tuple(stored["captions"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    texts = captions(kits, [describe(kit) for kit in kits])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"format": CATALOGUE_FORMAT, "fingerprint": key,
                                    "kits": [asdict(k) for k in kits], "captions": texts}, indent=1))
    except OSError:
        pass
    return tuple(kits), tuple(texts)


# -- choosing ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _phrase_vectors(texts: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(embedding of every comma-separated phrase of every caption, the caption each belongs to)."""
    from melodex.text import embed

    phrases = [[p.strip() for p in text.split(",") if p.strip()] for text in texts]
    owner = np.array([i for i, found in enumerate(phrases) for _ in found])
    return np.asarray(embed([p for found in phrases for p in found]), dtype=np.float64), owner


def kit_scores(text: str, cfg: float, kits_and_captions: tuple[tuple[DrumKit, ...], tuple[str, ...]]) -> np.ndarray:
    """Guided score of each kit for `text`: prior + cfg * lead, the lead its best phrase's (text - bare)
    cosine similarity plus SECOND_PHRASE of its second best when that leads too.

    Phrases, not whole captions: one long caption averages a kit's genres and measured words into one
    vector, and "synthwave" then ranked the Orchestra kit second and "house" the Room kit first; a phrase
    ("techno, house, EDM" are each one) either says what was asked or does not. The second phrase breaks
    ties between kits of one name (three TR-808s) by what was measured on them ("punchy hard-hitting").
    The prior favours the GM standard kit (what drum tracks always played before) by DEFAULT_LEAD, so
    a text that says nothing beyond the instrument keeps that sound.
    """
    from melodex.text import embed

    kits, texts = kits_and_captions
    vectors, owner = _phrase_vectors(texts)
    asked, bare = np.asarray(embed([text.strip() or BARE_TEXT, BARE_TEXT]), dtype=np.float64)
    lead = vectors @ asked - vectors @ bare
    scores = np.zeros(len(kits))
    for i in range(len(kits)):
        ranked = np.sort(lead[owner == i])[::-1]
        scores[i] = ranked[0] + (SECOND_PHRASE * max(float(ranked[1]), 0.0) if len(ranked) > 1 else 0.0)
    prior = np.array([DEFAULT_LEAD if kit.name == DEFAULT_KIT else 0.0 for kit in kits])
    return prior + cfg * scores


def treatments(text: str, cfg: float) -> dict[str, float]:
    """How much of each of TREATMENTS `text` asks for at `cfg` (0-1, rounded to 0.01)."""
    from melodex.text import embed

    anchors = np.asarray(embed(list(TREATMENTS.values())), dtype=np.float64)
    asked, bare = np.asarray(embed([text.strip() or BARE_TEXT, BARE_TEXT]), dtype=np.float64)
    lead = cfg * (anchors @ asked - anchors @ bare)
    amounts = np.clip((lead - TREATMENT_DEAD) / TREATMENT_SPAN, 0.0, 1.0)
    return {name: round(float(a), 2) for name, a in zip(TREATMENTS, amounts, strict=True)}


def treat(audio: np.ndarray, amounts: dict[str, float], sample_rate: int) -> np.ndarray:
    """One hit through the treatments (pedalboard, every parameter set): crushed and band-limited for
    "lofi", transients let through a slow compressor for "punch", held down by a fast one and darkened
    for "soft", then a room. The first three keep the hit's RMS; the room adds its tail."""
    import pedalboard as pb

    if not any(amounts.get(name, 0.0) > 0 for name in TREATMENTS):
        return audio
    x = audio.astype(np.float32)[None, :]
    level = float(np.sqrt(np.mean(x**2))) + 1e-12
    board = []
    lofi, punch, soft, room = (amounts.get(k, 0.0) for k in ("lofi", "punch", "soft", "room"))
    nyquist = 0.45 * sample_rate
    if lofi > 0:
        board += [pb.Resample(target_sample_rate=float(np.interp(lofi, [0, 1], [24000, 9000])),
                              quality=pb.Resample.Quality.Linear),
                  pb.LowpassFilter(cutoff_frequency_hz=min(nyquist, float(np.interp(lofi, [0, 1], [12000, 3800])))),
                  pb.Bitcrush(bit_depth=float(np.interp(lofi, [0, 1], [12, 6]))),
                  pb.Distortion(drive_db=float(10 * lofi))]
    if punch > 0:
        board.append(pb.Compressor(threshold_db=-30.0, ratio=1.0 + 5.0 * punch, attack_ms=12.0, release_ms=70.0))
    if soft > 0:
        board += [pb.Compressor(threshold_db=-32.0, ratio=1.0 + 7.0 * soft, attack_ms=0.5, release_ms=150.0),
                  pb.LowpassFilter(cutoff_frequency_hz=min(nyquist, float(np.interp(soft, [0, 1], [16000, 6000]))))]
    if board:
        peak = float(np.abs(x).max()) + 1e-12  # crushed and driven relative to the hit's full scale
        x = pb.Pedalboard(board)(x / peak, sample_rate) * peak
        x *= np.float32(level / (float(np.sqrt(np.mean(x**2))) + 1e-12))
    if room > 0:
        x = np.pad(x, ((0, 0), (0, round(ROOM_TAIL_S * sample_rate))))
        x = pb.Pedalboard([pb.Reverb(room_size=float(np.interp(room, [0, 1], [0.55, 0.92])), damping=0.45,
                                     wet_level=float(0.45 * room), dry_level=1.0, width=0.0, freeze_mode=0.0)])(
            x, sample_rate)
    return np.asarray(x[0], dtype=np.float32)


def rank_kits(text: str, cfg: float = 3.0, seed: int = 0,
              kits_and_captions: tuple[tuple[DrumKit, ...], tuple[str, ...]] | None = None) -> list[DrumKit]:
    """Kits in the order they are used for `text`: the first is drawn by the seed from a softmax over the
    guided scores, the rest follow by score (they supply keys the first lacks)."""
    found = kits_and_captions or catalogue()
    scores = kit_scores(text, cfg, found)
    weights = np.exp((scores - scores.max()) / TEMPERATURE)
    first = int(np.random.default_rng(seed).choice(len(scores), p=weights / weights.sum()))
    rest = [int(i) for i in np.argsort(-scores, kind="stable") if i != first]
    return [found[0][i] for i in [first, *rest]]


def drum_sampleset(text: str, pitches: list[int] | tuple[int, ...], velocities: list[int] | tuple[int, ...],
                   cfg: float = 3.0, seed: int = 0, sample_rate: int = 44100,
                   kits: list[DrumKit] | None = None) -> SampleSet:
    """The drum track's sample set for `text`: every key from the best kit that has it (`rank_kits`).

    Its settings say what it was made from, so a project keeps the kit and can show where each hit
    came from: the kit, the ranked kits (an edit's new keys come from them), the treatments, and per
    key the kit and a SHA-256 of its recorded hits before treatment ("samples")."""
    ranked = kits if kits is not None else rank_kits(text, cfg, seed)
    amounts = treatments(text, cfg)
    notes, samples = kit_notes(ranked, pitches, velocities, sample_rate, amounts)
    settings: dict[str, float | int | str] = {"cfg": cfg, "seed": seed, "kit": ranked[0].name,
                                              "kits": json.dumps([asdict(k) for k in ranked[:4]]),
                                              "treatments": json.dumps(amounts), "samples": json.dumps(samples)}
    used = dict.fromkeys(kit for kit, _ in samples.values())
    return SampleSet(program=DRUM_PROGRAM, is_drum=True, sample_rate=sample_rate, notes=notes, text=text,
                     source="drum kit " + " + ".join(used), settings=settings)


def kit_notes(ranked: list[DrumKit], pitches: list[int] | tuple[int, ...], velocities: list[int] | tuple[int, ...],
              sample_rate: int, amounts: dict[str, float] | None = None,
              ) -> tuple[dict[NoteKey, NoteSample], dict[str, tuple[str, str]]]:
    """Notes for every (key, velocity), each from the first kit in `ranked` that plays the key (the GM
    standard kit of FluidR3 is the last resort), through `treat`. Returns (notes, per key the kit it came
    from and the SHA-256 of its recorded hits, velocities in order, before treatment)."""
    fallback = DrumKit(DEFAULT_KIT, "soundfont", "FluidR3_GM", 0)
    notes: dict[NoteKey, NoteSample] = {}
    samples: dict[str, tuple[str, str]] = {}
    for key in pitches:
        for kit in [*ranked, fallback]:
            hits = {v: kit_hit(kit, int(key), int(v), sample_rate) for v in velocities}
            if all(h is not None for h in hits.values()):
                break
        digest = hashlib.sha256()
        for velocity, audio in hits.items():
            if audio is not None:
                digest.update(np.ascontiguousarray(audio, dtype=np.float32).tobytes())
            audio = np.zeros(sample_rate // 10, dtype=np.float32) if audio is None else treat(audio, amounts or {},
                                                                                               sample_rate)
            notes[(int(key), int(velocity))] = note_sample(audio, int(key), round(HOLD_S * sample_rate), sample_rate,
                                                           is_drum=True)
        samples[str(int(key))] = (kit.name, digest.hexdigest())
    return notes, samples


def extend_kit(sampleset: SampleSet, pitches: list[int]) -> SampleSet:
    """`sampleset` with `pitches` added from the kits it was made from (SoundFont sets: the GM kit)."""
    stored = sampleset.settings.get("kits")
    ranked = [DrumKit(**k) for k in json.loads(str(stored))] if stored else []
    amounts = json.loads(str(sampleset.settings.get("treatments", "{}")))
    extra, samples = kit_notes(ranked, pitches, sampleset.velocities, sampleset.sample_rate, amounts)
    settings = dict(sampleset.settings)
    if "samples" in settings:  # sets from before 2026-12-03, and SoundFont sets, say nothing per key
        settings["samples"] = json.dumps({**samples, **json.loads(str(settings["samples"]))})
    return SampleSet(program=sampleset.program, is_drum=True, sample_rate=sampleset.sample_rate,
                     notes={**extra, **sampleset.notes}, text=sampleset.text, source=sampleset.source,
                     settings=settings)
