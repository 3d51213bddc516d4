"""A take's files as a producer wants them: the mix in each format, the stems, the MIDI, a click.

One naming rule for stems everywhere (`generate`, `render`, `export`, the studio's zip): 1-based,
readable, `01-melody-lead-2-sawtooth.wav`. Processed stems and the reverb return (`NN-reverb.wav`)
add up to the mix (with `master` False, to the unmastered bus). Dry stems are each instrument at the
level and pan the mix gives it, before any effect or the master; they add up to `dry-mix.<format>`,
written beside them: the unmastered mix without effects (both turned down together if one would pass
the -1 dBTP ceiling). A dry stem cannot add up to `mix`, whose effects and master are not linear.
Every audio file carries the tempo and key as metadata (ID3 TBPM/TKEY in WAV and MP3, Vorbis BPM/KEY
in FLAC).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf

from melodex.errors import MelodexError, option_name
from melodex.files import output_dir, write_atomic
from melodex.instruments import program_name
from melodex.score import PITCH_CLASSES, TPQ, Key, Score, Section, Tempo

if TYPE_CHECKING:
    from melodex.pipeline import Take
    from melodex.production.mastering import Levels
    from melodex.production.settings import MixSettings

AUDIO_FORMATS = ("wav", "flac", "mp3")
STEM_KINDS = ("processed", "dry", "none")
BIT_DEPTHS = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}  # FLAC holds 16 or 24
# libsndfile's MP3 encoder takes a compression level, not a bitrate: levels measured to give each
# constant bitrate at 44.1/48 kHz (below 32 kHz MPEG-2 halves them).
MP3_KBPS = {96: 0.78, 128: 0.65, 160: 0.55, 192: 0.45, 224: 0.33, 256: 0.2, 320: 0.05}
# The rates a song is made at and exported to, one list for `generate`, `export`, `rerender` and the HTTP API.
SAMPLE_RATES = (16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000)
LUFS_RANGE = (-40.0, -6.0)
CLICK_HZ = (1500.0, 1000.0)  # the bar's first beat, the others


@dataclass(frozen=True)
class ExportOptions:
    """What to write and how. Checked when made, so nothing is written for a request that would fail."""

    formats: tuple[str, ...] = ("wav",)  # of the mix; stems and click use the first
    stems: str = "processed"  # processed (sum to the mix with the reverb stem), dry (no effects), none
    sample_rate: int | None = None  # None: the take's own
    bit_depth: int = 24
    mp3_kbps: int = 320
    lufs: float | None = None  # None: the take's master; else mastered again to this loudness
    master: bool = True  # False: the mix as it enters the master (no loudness, glue or limiter)
    chord_markers: bool = False  # the chords in the MIDI file's marker lane too
    click: bool = False  # a click track on every beat (first beat of a bar higher)
    section: str | None = None  # one section only, as a seamless loop

    def __post_init__(self) -> None:
        if not self.formats:
            raise MelodexError(f"name at least one audio format: {', '.join(AUDIO_FORMATS)}")
        for fmt in self.formats:
            if fmt not in AUDIO_FORMATS:
                raise MelodexError(f"audio format {fmt!r} is not one of {', '.join(AUDIO_FORMATS)}")
        if self.stems not in STEM_KINDS:
            raise MelodexError(f"stems {self.stems!r}: use one of {', '.join(STEM_KINDS)}")
        if self.sample_rate is not None and self.sample_rate not in SAMPLE_RATES:
            raise MelodexError(f"sample rate {self.sample_rate}: use one of {', '.join(map(str, SAMPLE_RATES))} Hz")
        if self.bit_depth not in BIT_DEPTHS:
            raise MelodexError(f"bit depth {self.bit_depth}: use 16, 24 or 32 (float)")
        if self.bit_depth == 32 and "flac" in self.formats:
            raise MelodexError("FLAC holds 16 or 24 bits: choose bit depth 16 or 24, or another format")
        if self.mp3_kbps not in MP3_KBPS:
            raise MelodexError(f"MP3 bitrate {self.mp3_kbps} kbps: use one of {', '.join(map(str, MP3_KBPS))}")
        if self.lufs is not None and not LUFS_RANGE[0] <= self.lufs <= LUFS_RANGE[1]:
            raise MelodexError(f"loudness {self.lufs:g} LUFS is outside {LUFS_RANGE[0]:g} to {LUFS_RANGE[1]:g}")
        if self.lufs is not None and not self.master:
            lufs = option_name("lufs")
            off = "--no-master" if lufs.startswith("--") else "master false"  # the flag, or the API's field
            raise MelodexError(f"{lufs} {self.lufs:g} needs the master, which {off} leaves out: give one, not both")

    def generate_fields(self) -> dict[str, Any]:
        """These options as `pipeline.GenerateOptions` takes them, for `generate`, `batch` and the HTTP API's
        create: the song is made at `sample_rate` (the default when None) and mastered to `lufs`."""
        if self.section is not None:
            raise MelodexError("a section loop is exported from a song that exists: generate it, then export "
                               f"the section {self.section!r}")
        fields = {name: getattr(self, name) for name in ("formats", "stems", "bit_depth", "mp3_kbps", "lufs",
                                                           "master", "click", "chord_markers")}
        return fields if self.sample_rate is None else {**fields, "sample_rate": self.sample_rate}


def parse_formats(text: str) -> tuple[str, ...]:
    """'wav, FLAC' -> ('wav', 'flac'), duplicates dropped (checked by ExportOptions)."""
    return tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()))


# -- names ------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def stem_name(score: Score, index: int) -> str:
    """'01-melody-lead-2-sawtooth': 1-based, the role, then the track's name or instrument (once)."""
    track = score.tracks[index]
    role, what = _slug(track.role), _slug(track.name or program_name(track.program))
    label = what if what.split("-")[0] == role else "-".join(p for p in (role, what) if p)
    return f"{index + 1:02d}-{label or 'track'}"


def stem_names(score: Score) -> list[str]:
    return [stem_name(score, i) for i in range(len(score.tracks))]


# -- audio files ------------------------------------------------------------------------------------


def key_tag(key: Key) -> str:
    """The key as ID3's TKEY and DJ software write it: 'Fm', 'Bb', 'C#m'."""
    return PITCH_CLASSES[key.tonic] + ("m" if key.mode == "minor" else "")


def write_audio(path: Path, audio: np.ndarray, sample_rate: int, bit_depth: int = 24, mp3_kbps: int = 320,
                tags: dict[str, str] | None = None) -> Path:
    """Write (frames, 2) audio as WAV, FLAC or MP3 (from the suffix), with `tags` ('bpm', 'key', 'title')."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in AUDIO_FORMATS:
        raise MelodexError(f"cannot write {path.name}: use .wav, .flac or .mp3")
    kwargs: dict = {}
    if fmt == "mp3":
        kwargs = {"subtype": "MPEG_LAYER_III", "compression_level": MP3_KBPS[mp3_kbps], "bitrate_mode": "CONSTANT"}
    else:
        kwargs = {"subtype": BIT_DEPTHS[bit_depth]}
    signal = np.asarray(audio, dtype=np.float32)
    if not (fmt == "wav" and bit_depth == 32):
        signal = np.clip(signal, -1.0, 1.0)  # only float WAV holds more than full scale

    def write(tmp: Path) -> None:
        sf.write(tmp, signal, sample_rate, format=fmt.upper(), **kwargs)
        if tags:
            _tag(tmp, fmt, tags)

    try:  # to a temporary name, renamed when complete: a crash never leaves half a file, links are replaced
        write_atomic(path, write)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise MelodexError(f"cannot write {path}: {exc}") from exc
    return path


def _tag(path: Path, fmt: str, tags: dict[str, str]) -> None:
    """BPM, key and title as the format's usual tags, which DAWs and DJ software read."""
    from mutagen.id3 import ID3, TBPM, TIT2, TKEY

    frames = {"bpm": TBPM, "key": TKEY, "title": TIT2}
    if fmt == "flac":
        from mutagen.flac import FLAC

        flac = FLAC(path)
        for name, value in tags.items():
            flac[name.upper()] = value
        if "key" in tags:
            flac["INITIALKEY"] = tags["key"]
        flac.save()
        return
    if fmt == "wav":
        from mutagen.wave import WAVE

        wave = WAVE(path)
        if wave.tags is None:
            wave.add_tags()
        id3 = wave.tags
    else:
        id3 = ID3()
    assert id3 is not None
    for name, value in tags.items():
        id3.add(frames[name](encoding=3, text=value))
    if fmt == "wav":
        wave.save()
    else:
        id3.save(path)


def click_track(score: Score, sample_rate: int, length: int) -> np.ndarray:
    """(frames, 2): a short tick on every beat of the meter, the first beat of each bar higher."""
    ticks, accents = [], []
    starts = score.bar_starts()
    for first, last in itertools.pairwise(starts):
        beat = TPQ * 4 // score.meter_at(first).denominator
        for tick in range(first, last, beat):
            ticks.append(tick)
            accents.append(tick == first)
    out = np.zeros(length, dtype=np.float32)
    n = int(0.03 * sample_rate)
    envelope = np.exp(-np.arange(n) / (0.006 * sample_rate)).astype(np.float32)
    for seconds, accent in zip(score.seconds_at(np.asarray(ticks, dtype=np.int64)), accents, strict=True):
        at = round(seconds * sample_rate)
        hz = CLICK_HZ[0] if accent else CLICK_HZ[1]
        blip = 0.5 * envelope * np.sin(2 * np.pi * hz * np.arange(n) / sample_rate).astype(np.float32)
        end = min(length, at + n)
        if at < end:
            out[at:end] += blip[: end - at]
    return np.repeat(out[:, None], 2, axis=1)


# -- what to write ----------------------------------------------------------------------------------


@dataclass
class _Audio:
    mix: np.ndarray
    stems: list[np.ndarray]  # one per track
    reverb: np.ndarray | None  # the return that makes processed stems sum to the mix
    score: Score
    first_frame: int = 0  # where in the song the audio starts (a section loop)
    notes: tuple[str, ...] = ()  # what the user should be told (a master quieter than asked)
    dry_mix: np.ndarray | None = None  # the sum of dry stems (None for processed ones)


def _under_ceiling(signals: list[np.ndarray], take: Take) -> list[np.ndarray]:
    """(frames,) or (frames, channels) `signals` times the one gain (never above 1) that keeps each at or
    under the take's true-peak ceiling, so signals that added up to a mix still do."""
    from melodex.production.mastering import headroom_gain
    from melodex.production.settings import MixSettings

    ceiling = MixSettings(**take.settings["mix"]).ceiling_dbtp - 0.1  # the master's own margin
    gain = headroom_gain([s.T if s.ndim == 2 else s[None, :] for s in signals], ceiling)
    return signals if gain >= 1.0 else [s * np.float32(gain) for s in signals]


def _produced(take: Take, options: ExportOptions, window: tuple[int, int] | None = None,
              score: Score | None = None) -> _Audio:
    """The take's audio as `options` ask: the stored mix and stems, or produced again."""
    from melodex import pipeline
    from melodex.production.effects import summed
    from melodex.production.mastering import Levels
    from melodex.production.mix import produce
    from melodex.production.settings import MixSettings

    score = score or take.score
    stored = window is None and options.master and options.lufs is None and options.stems != "dry"
    if stored:
        stems = [take.stems[i] for i in range(len(score.tracks))]
        total = np.zeros_like(take.mix)
        for stem in stems:
            total[: len(stem)] += stem[: len(total)]
        return _Audio(take.mix, stems, take.mix - total, score)
    dry = pipeline.perform_tracks(score, take.samplesets, take.sample_rate, window)
    settings = MixSettings(**take.settings["mix"])
    if options.lufs is not None:
        settings = replace(settings, target_lufs=options.lufs)
    levels = None
    if window is not None and "levels" in take.settings and options.lufs is None:
        levels = Levels.from_json(take.settings["levels"])  # a stretch at the song's own gains
    produced = produce(dry, [t.role for t in score.tracks], settings, take.sample_rate,
                       [t.program for t in score.tracks], levels=levels, mastering=options.master)
    note = produced.report.loudness_note if options.master else None
    first = window[0] if window else 0
    if options.stems != "dry":
        return _Audio(produced.mix, [np.asarray(s, dtype=np.float32) for s in produced.stems],
                      produced.reverb_return, score, first, (note,) if note else ())
    stems = _dry_stems(dry, score, produced.levels, settings, take.sample_rate)
    # The sampler's output is not limited (a stack of loud notes can pass the ceiling): one gain for the
    # dry stems and their sum keeps both the balance and the sum.
    dry_mix, *stems = _under_ceiling([summed(stems), *stems], take)
    return _Audio(produced.mix, stems, None, score, first, (note,) if note else (), dry_mix)


def _dry_stems(dry: list[np.ndarray], score: Score, levels: Levels, settings: MixSettings,
               sample_rate: int) -> list[np.ndarray]:
    """(frames, 2) per track: the sampler's output at the gains the mix stages it by and at its pan, with no
    EQ, compression, saturation, reverb or master, so the stems drop into another mix at its balance."""
    from melodex.production.effects import place
    from melodex.production.loudness import db_to_gain
    from melodex.production.mix import track_placement

    placement = track_placement([t.role for t in score.tracks], [t.program for t in score.tracks], settings.width)
    stems = []
    for raw, staged, (_, pan) in zip(dry, levels.stems, placement, strict=True):
        mono = np.asarray(raw, dtype=np.float32)
        if staged is None:  # silent in the whole song: the mix leaves it out
            stems.append(np.zeros((len(mono), 2), dtype=np.float32))
            continue
        into_db, _, after_db = staged
        stems.append(place(mono * np.float32(db_to_gain(into_db + after_db)), pan, 0.0, 0, sample_rate).T)
    return stems


def _loop(take: Take, options: ExportOptions, section: Section) -> _Audio:
    """One section as a seamless loop: its notes alone, rendered with their tails, the tail folded onto
    the start (what plays from the section's end onwards rings into its next repeat)."""
    score = take.score
    starts = score.bar_starts()
    first_tick, last_tick = starts[section.start_bar], starts[min(section.end_bar, len(starts) - 1)]
    part = score.copy()
    for track in part.tracks:
        if len(track.notes):
            track.notes = track.notes[(track.notes[:, 0] >= first_tick) & (track.notes[:, 0] < last_tick)]
    rate = take.sample_rate
    seconds = score.seconds_at(np.array([first_tick, last_tick]))
    start, end = round(seconds[0] * rate), round(seconds[1] * rate)
    from melodex.render_audio import RING_S
    from melodex.sampler import stem_length

    stop = min(stem_length(score, rate), end + int(RING_S * rate))
    audio = _produced(take, options, (start, max(stop, end)), part)
    period = end - start

    def folded(signal: np.ndarray) -> np.ndarray:
        out = np.zeros((period, *signal.shape[1:]), dtype=np.float32)
        for offset in range(0, len(signal), period):
            piece = signal[offset : offset + period]
            out[: len(piece)] += piece
        return out

    # What rings past the section's end is added onto its start, which can pass the ceiling the parts kept.
    extra = [s for s in (audio.reverb, audio.dry_mix) if s is not None]  # the one that completes the stems' sum
    mix, *stems = _under_ceiling([folded(s) for s in (audio.mix, *audio.stems, *extra)], take)
    completion = stems.pop() if extra else None
    reverb, dry_mix = (completion, None) if audio.reverb is not None else (None, completion)
    return _Audio(mix, stems, reverb, part, start, audio.notes, dry_mix)


def _resampled(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return audio
    from math import gcd

    import scipy.signal

    divisor = gcd(rate, target)
    return scipy.signal.resample_poly(audio, target // divisor, rate // divisor, axis=0).astype(np.float32)


def export_take(take: Take, out_dir: Path, options: ExportOptions | None = None,
                progress: Callable[[float], None] | None = None, notes: list[str] | None = None) -> dict[str, Path]:
    """Write the mix in each format, the stems, the MIDI (and a click) into out_dir; returns what was written.

    Stems from an earlier export that this one does not write again are removed, so the stems folder
    always holds one consistent set. What the user should hear about the result (a `--lufs` louder than
    the ceiling allows) is appended to `notes`: the files are still written.
    """
    from melodex.midi import midi_bytes

    options = options or ExportOptions()
    report = progress or (lambda _: None)
    score = take.score
    section = score.section(options.section) if options.section else None
    output_dir(out_dir)
    audio = _loop(take, options, section) if section is not None else _produced(take, options)
    if notes is not None:
        notes.extend(audio.notes)
    report(0.3)
    rate = options.sample_rate or take.sample_rate
    tags = {"bpm": f"{score.bpm:g}", "key": key_tag(score.key)}
    stem_format = options.formats[0]
    jobs: dict[str, tuple[Path, np.ndarray]] = {
        f"mix.{fmt}": (out_dir / f"mix.{fmt}", audio.mix) for fmt in options.formats}
    stems_dir = out_dir / "stems"
    if options.stems != "none":
        output_dir(stems_dir, inside=out_dir)
        names = stem_names(score)
        for name, stem in zip(names, audio.stems, strict=True):
            jobs[f"stem {name}"] = (stems_dir / f"{name}.{stem_format}", stem)
        if audio.reverb is not None:
            name = f"{len(names) + 1:02d}-reverb"
            jobs[f"stem {name}"] = (stems_dir / f"{name}.{stem_format}", audio.reverb)
        if audio.dry_mix is not None:
            jobs["dry mix"] = (out_dir / f"dry-mix.{stem_format}", audio.dry_mix)
    if options.click:
        jobs["click"] = (out_dir / f"click.{stem_format}", click_track(score, take.sample_rate, len(audio.mix)) if
                         section is None else _click_loop(score, take.sample_rate, audio))
    if stems_dir.is_dir() and not stems_dir.is_symlink():
        keep = {path for path, _ in jobs.values()}
        for old in stems_dir.iterdir():
            if old.is_file() and old not in keep and old.suffix.lstrip(".") in AUDIO_FORMATS:
                old.unlink()  # another version's or format's stems: the folder holds one set
    files: dict[str, Path] = {}
    # The encoders release the GIL: two threads use both cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        written = {key: pool.submit(write_audio, path, _resampled(signal, take.sample_rate, rate), rate,
                                    options.bit_depth, options.mp3_kbps, tags)
                   for key, (path, signal) in jobs.items()}
        for done, (key, job) in enumerate(written.items()):
            files[key] = job.result()
            report(0.3 + 0.65 * (done + 1) / len(written))
    midi_score = _section_score(score, section) if section is not None else score
    data = midi_bytes(midi_score, options.chord_markers)
    midi_path = write_atomic(out_dir / "song.mid", lambda tmp: tmp.write_bytes(data))
    files["midi"] = midi_path
    report(1.0)
    return files


def _click_loop(score: Score, rate: int, audio: _Audio) -> np.ndarray:
    whole = click_track(score, rate, audio.first_frame + len(audio.mix))
    return whole[audio.first_frame :]


def _section_score(score: Score, section: Section) -> Score:
    """The section alone, moved to the start: its notes, chords, tempo and meter."""
    starts = score.bar_starts()
    first, last = starts[section.start_bar], starts[min(section.end_bar, len(starts) - 1)]
    part = score.copy()
    for track in part.tracks:
        if len(track.notes):
            keep = (track.notes[:, 0] >= first) & (track.notes[:, 0] < last)
            track.notes = track.notes[keep].copy()
            track.notes[:, 0] -= first
    # The tempo and meter in force at the section's start, then the changes inside it.
    part.tempos = [Tempo(score.tempo_at(first))] + [replace(t, tick=t.tick - first) for t in score.tempos
                                                    if first < t.tick < last]
    part.time_signatures = [replace(score.meter_at(first), tick=0)] + [
        replace(m, tick=m.tick - first) for m in score.time_signatures if first < m.tick < last]
    part.chords = [replace(c, tick=c.tick - first) for c in score.chords if first <= c.tick < last]
    part.sections = [Section(section.name, 0, section.n_bars)]
    part.n_bars = section.n_bars
    return part
