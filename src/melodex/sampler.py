"""The sampler: performs each track of a `Score` with an instrument sample set, one mono stem per track.

A sample set holds recorded notes at some pitches and velocities. For every note the sampler takes the
recording nearest in pitch (then in velocity), repitches it by resampling, scales it with a velocity
gain curve, extends it with a crossfaded loop when the note outlasts the recording, and closes it with
a smooth release; drums play as one-shots. Repitched recordings are cached per (pitch, layer) and the
voices are summed with numpy slice adds, so a minute of four tracks renders in a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy.signal import resample_poly

from melodex.errors import MelodexError
from melodex.score import DUR, PITCH, START, VEL, Score
from melodex.timbre.sampleset import NoteKey, SampleSet

# GM hi-hat keys: closed (42) and pedal (44) cut an open hi-hat (46) still ringing, as on a real kit.
HIHAT_CHOKE = frozenset({42, 44, 46})
SILENCE = 10 ** (-80 / 20)
LOOP_CROSSFADE_S = 0.3  # the longest loop crossfade (see _prepare_loop)


class SamplerError(MelodexError):
    """A sample set cannot play a track (empty, wrong kind, unusable audio)."""


@dataclass(frozen=True)
class SamplerOptions:
    """How notes are turned into voices. The defaults suit General-MIDI-like sample sets."""

    max_polyphony: int = 32  # voices per track; the oldest voice is faded out when a new one needs room
    fade_in_s: float = 0.001  # raised-cosine ramp at every note start: removes a DC step, keeps the attack
    steal_fade_s: float = 0.012  # fade for a voice cut by a repeated note or by voice stealing
    min_release_s: float = 0.04  # shortest release a pitched note gets, whatever its recording says
    max_release_s: float = 1.5
    max_one_shot_s: float = 6.0  # drum one-shots are trimmed (with a fade) beyond this
    velocity_exponent: float = 2.0  # amplitude ~ velocity**2, the General MIDI / SoundFont convention
    tail_s: float = 1.0  # audio kept after the score's end for releases and ringing one-shots


@dataclass(frozen=True)
class Zone:
    """One playable recording: a note at `pitch` and `velocity`, mono float32 at `sample_rate`.

    `loop` is the (start, end) frame range, inside the held part, looped to sustain a longer note;
    None when the note has no loop (it then rings to the end of its recording). `release_s` is how
    long its recorded release tail lasts, and so how long the sampler's release fade takes.
    """

    pitch: int
    velocity: int
    audio: np.ndarray
    sample_rate: int
    loop: tuple[int, int] | None
    release_s: float


@dataclass
class _Voice:
    """A zone repitched to one output pitch at the output rate, with its sustain loop prepared."""

    audio: np.ndarray  # float32, grows when a longer note needs more of the loop
    release: int  # release length in output frames
    loop_start: int = 0
    loop_body: np.ndarray | None = None  # one flattened loop period, seamless when repeated
    decay_per_frame: float = 0.0  # the loop continues the recording's own decay (<= 0, log amplitude)

    def frames(self, n: int) -> np.ndarray:
        """At least `n` frames of this voice: the recording, looped past its end when needed."""
        if n <= len(self.audio) or self.loop_body is None:
            return self.audio
        period = len(self.loop_body)
        index = np.arange(len(self.audio), n + period)
        offset = index - self.loop_start
        extension = self.loop_body[offset % period] * np.exp(self.decay_per_frame * offset).astype(np.float32)
        self.audio = np.concatenate([self.audio, extension.astype(np.float32)])
        return self.audio


@dataclass
class _Strike:
    """One note's voice as scheduled: frames [start, end), released at `release_at` (None: one-shot)."""

    index: int
    start: int
    end: int
    release_at: int | None
    zone: Zone
    voice: _Voice


# -- sample sets ------------------------------------------------------------------------------------


def zones_from_sampleset(sampleset: SampleSet) -> dict[NoteKey, Zone]:
    """The notes of a sample set as zones, keyed like `SampleSet.notes` by (pitch, velocity)."""
    zones = {}
    for (pitch, velocity), note in sampleset.notes.items():
        audio = np.asarray(note.audio, dtype=np.float32)
        if audio.ndim != 1 or len(audio) == 0 or not np.all(np.isfinite(audio)):
            raise SamplerError(f"sample set note ({pitch}, {velocity}) is not a finite mono signal")
        zones[(pitch, velocity)] = Zone(
            pitch=int(pitch),
            velocity=int(velocity),
            audio=audio,
            sample_rate=int(sampleset.sample_rate),
            loop=(int(note.loop_start), int(note.loop_end)) if note.has_loop else None,
            release_s=float(note.release_s),
        )
    return zones


# -- resampling -------------------------------------------------------------------------------------


def _ratio(speed: float) -> Fraction:
    """A rational up/down for resample_poly within 0.3 cent of `speed` (playback-rate factor)."""
    for limit in (400, 1000, 4000):
        fraction = Fraction(speed).limit_denominator(limit)
        if abs(1200 * np.log2(float(fraction) / speed)) < 0.3:
            return fraction
    return fraction


def repitch(audio: np.ndarray, speed: float) -> np.ndarray:
    """Play `audio` `speed` times faster (pitch up by 12*log2(speed) semitones, length / speed).

    resample_poly is a polyphase FIR with a Kaiser-windowed sinc: it band-limits when pitching up, so
    high partials do not alias (a cubic or linear interpolator would fold them back as inharmonic
    tones), costs ~20 multiply-adds per output frame in C, and with a rational ratio within 0.3 cent
    the pitch is exact for our purposes.
    """
    if abs(speed - 1.0) < 1e-9:
        return audio.astype(np.float32, copy=True)
    fraction = _ratio(speed)
    # Output frame n reads input at n*speed: upsample by the denominator, decimate by the numerator.
    out = resample_poly(audio.astype(np.float64), fraction.denominator, fraction.numerator)
    return out.astype(np.float32)


# -- voices -----------------------------------------------------------------------------------------


def _envelope_rms(audio: np.ndarray, frame: int) -> np.ndarray:
    n = len(audio) // frame
    if n == 0:
        return np.zeros(0)
    blocks = audio[: n * frame].astype(np.float64).reshape(n, frame)
    return np.sqrt(np.mean(blocks**2, axis=1) + 1e-20)


def _release_frames(zone: Zone, rate: int, options: SamplerOptions) -> int:
    """The release fade of a pitched note: the recording's own release time, within sane bounds."""
    return round(float(np.clip(zone.release_s, options.min_release_s, options.max_release_s)) * rate)


def _fade_end(audio: np.ndarray, frames: int) -> None:
    """Ramp the last `frames` of a recording to zero, so zero padding after it cannot click."""
    frames = min(frames, len(audio))
    if frames > 1:
        audio[-frames:] *= (0.5 + 0.5 * np.cos(np.linspace(0, np.pi, frames))).astype(np.float32)


def _prepare_loop(voice: _Voice, rate: int, loop: tuple[int, int]) -> None:
    """Make one seamless, decay-flattened period of the recording's sustain loop [start, end).

    The loop's last frames are crossfaded into the frames just before its start, so playing
    start..end and jumping back to start continues the waveform; the crossfade is long (up to half
    the loop) because sustained instruments carry vibrato, and a short seam between two vibrato
    phases is heard as a new attack.
    """
    audio = voice.audio
    start, end = loop
    frame = max(1, rate // 100)
    if end - start < 0.02 * rate or start < 1 or end > len(audio):
        return
    xfade = int(min((end - start) // 2, LOOP_CROSSFADE_S * rate, start))
    length = end - start
    # Fit log-amplitude against time over the loop so a decaying note keeps decaying, not pumping.
    seg_env = _envelope_rms(audio[start - xfade : end], frame)
    if len(seg_env) >= 2:
        t = (np.arange(len(seg_env)) + 0.5) * frame
        slope = float(np.polyfit(t, np.log(seg_env), 1)[0])
    else:
        slope = 0.0
    slope = float(np.clip(slope, np.log(1e-3) / (0.25 * rate), 0.0))
    offsets = np.arange(-xfade, length)
    flat = audio[start - xfade : end].astype(np.float64) * np.exp(-slope * offsets)
    body = flat[xfade:].copy()
    before, tail = flat[:xfade], body[length - xfade :]
    corr = float(np.dot(before, tail) / np.sqrt((before**2).sum() * (tail**2).sum() + 1e-20))
    ramp = np.linspace(0.0, 1.0, xfade)
    # Correlated windows add in amplitude (linear fade), uncorrelated ones in power (equal-power fade).
    if corr > 0.5:
        fade_in, fade_out = ramp, 1 - ramp
    else:
        fade_in, fade_out = np.sin(ramp * np.pi / 2), np.cos(ramp * np.pi / 2)
    body[length - xfade :] = tail * fade_out + before * fade_in
    voice.loop_start = start
    voice.loop_body = body.astype(np.float32)
    voice.decay_per_frame = slope
    # Beyond loop_start everything comes from the loop, so the recording is cut there.
    voice.audio = audio[:start].copy()


def build_voice(zone: Zone, pitch: int, is_drum: bool, rate: int, options: SamplerOptions) -> _Voice:
    """Repitch `zone` to `pitch` at `rate` and prepare its release and (pitched only) sustain loop."""
    speed = zone.sample_rate / rate
    if not is_drum:
        speed *= 2.0 ** ((pitch - zone.pitch) / 12.0)
    scale = 1.0 / speed
    source = zone.audio
    if zone.loop is not None and not is_drum:
        # Past the loop's end the recording is never heard (the loop replaces it): skip resampling it.
        source = source[: zone.loop[1] + 64]
    audio = repitch(source, speed)
    if is_drum:
        limit = round(options.max_one_shot_s * rate)
        loud = np.nonzero(np.abs(audio) > SILENCE)[0]
        end = min(limit, int(loud[-1]) + 1 if len(loud) else 1)
        audio = audio[:end].copy()
        _fade_end(audio, round(0.005 * rate))
        return _Voice(audio, 0)
    voice = _Voice(audio, _release_frames(zone, rate, options))
    # A recording without a loop has died away by its note-off: it rings out to its end, faded.
    if zone.loop is not None:
        loop = (round(zone.loop[0] * scale), round(zone.loop[1] * scale))
        _prepare_loop(voice, rate, loop)
    if voice.loop_body is None:
        _fade_end(voice.audio, round(0.003 * rate))
    return voice


class Instrument:
    """A sample set ready to play: picks the recording for each note and caches repitched voices."""

    def __init__(self, sampleset: SampleSet, sample_rate: int = 44100, options: SamplerOptions | None = None) -> None:
        self.sampleset = sampleset
        self.options = options or SamplerOptions()
        self.sample_rate = int(sample_rate)
        self.is_drum = sampleset.is_drum
        self.zones = zones_from_sampleset(sampleset)
        self._choice: dict[NoteKey, Zone] = {}
        self._voices: dict[tuple[int, int, int], _Voice] = {}

    def zone_for(self, pitch: int, velocity: int) -> Zone:
        """The recording to play a note from: `SampleSet.nearest` (nearest layer, then nearest pitch)."""
        if (pitch, velocity) not in self._choice:
            key, _ = self.sampleset.nearest(pitch, velocity)
            self._choice[(pitch, velocity)] = self.zones[key]
        return self._choice[(pitch, velocity)]

    def voice(self, pitch: int, zone: Zone) -> _Voice:
        key = (pitch, zone.pitch, zone.velocity)
        if key not in self._voices:
            self._voices[key] = build_voice(zone, pitch, self.is_drum, self.sample_rate, self.options)
        return self._voices[key]

    def velocity_gain(self, velocity: int, zone: Zone) -> float:
        """Loudness for a velocity between layers: amplitude ~ velocity**2 relative to the layer's own."""
        ratio = max(1, velocity) / max(1, zone.velocity)
        # Python's min/max, not np.clip: the same number, at a thirtieth of the cost per note.
        return min(4.0, max(0.05, float(ratio**self.options.velocity_exponent)))


# -- performing -------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _release_curve(n: int) -> np.ndarray:
    """Exponential fall (-60 dB over the release) with a cosine taper so it lands exactly on zero."""
    t = np.linspace(0.0, 1.0, n, endpoint=False)
    taper = np.where(t < 0.7, 1.0, 0.5 + 0.5 * np.cos(np.pi * (t - 0.7) / 0.3))
    return (np.exp(-6.9 * t) * taper).astype(np.float32)


@lru_cache(maxsize=64)
def _fade_in(n: int) -> np.ndarray:
    """Raised-cosine rise over n frames; cached (read-only) like `_release_curve`, as every cut note asks."""
    fade = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n, endpoint=False))).astype(np.float32)
    fade.setflags(write=False)
    return fade


def stem_length(score: Score, sample_rate: int, options: SamplerOptions | None = None) -> int:
    options = options or SamplerOptions()
    return round((score.duration_seconds + options.tail_s) * sample_rate)


def perform(
    score: Score,
    track_index: int,
    sampleset: SampleSet | Instrument,
    sample_rate: int = 44100,
    options: SamplerOptions | None = None,
    length: int | None = None,
) -> np.ndarray:
    """One track of `score` played by `sampleset`: a mono float32 stem of `length` frames.

    `length` defaults to the score's duration plus `options.tail_s`; voices ringing past it are faded
    out over the last few milliseconds rather than cut.
    """
    if not 0 <= track_index < len(score.tracks):
        raise SamplerError(f"track {track_index} does not exist: the score has {len(score.tracks)} tracks")
    track = score.tracks[track_index]
    instrument = sampleset if isinstance(sampleset, Instrument) else Instrument(sampleset, sample_rate, options)
    options = instrument.options
    rate = instrument.sample_rate
    n_out = stem_length(score, rate, options) if length is None else int(length)
    out = np.zeros(n_out, dtype=np.float32)
    notes = track.notes
    if len(notes) == 0:
        return out
    drum = instrument.is_drum
    if track.is_drum != drum:
        kind = "a drum kit" if track.is_drum else "a pitched instrument"
        raise SamplerError(
            f"track {track_index} ({track.name or track.role}) is {kind} but its sample set is not: "
            "give drum tracks a drum sample set and pitched tracks a pitched one"
        )
    onsets = np.rint(score.seconds_at(notes[:, START]) * rate).astype(np.int64)
    offsets = np.rint(score.seconds_at(notes[:, START] + notes[:, DUR]) * rate).astype(np.int64)
    held = np.maximum(offsets - onsets, round(0.01 * rate))  # 10 ms minimum, as FluidSynth does

    # Where each voice must stop early: the next strike of the same key (same string) cuts it. Drums
    # ring over each other, except that a closed or pedal hi-hat chokes an open one.
    never = np.iinfo(np.int64).max
    cut = np.full(len(notes), never)
    upcoming: dict[int, tuple[int, int]] = {}  # key -> (next onset, the distinct onset after it)
    for i in range(len(notes) - 1, -1, -1):
        key, onset = int(notes[i, PITCH]), int(onsets[i])
        group = -1 if drum and key in HIHAT_CHOKE else key
        if drum and group != -1:
            continue
        first, second = upcoming.get(group, (never, never))
        if not drum or key == 46:
            # Simultaneous strikes of one key (doubled notes) do not cut each other.
            cut[i] = first if first > onset else second
        if onset < first:
            upcoming[group] = (onset, first)

    fade_in = _fade_in(max(1, round(options.fade_in_s * rate)))
    steal = max(1, round(options.steal_fade_s * rate))
    active: list[tuple[int, int]] = []  # (end frame, note index) of sounding voices, for stealing
    plans: list[_Strike] = []
    for i in range(len(notes)):
        pitch, velocity = int(notes[i, PITCH]), int(notes[i, VEL])
        zone = instrument.zone_for(pitch, velocity)
        voice = instrument.voice(pitch, zone)
        start = int(onsets[i])
        if drum:
            end, release_at = start + len(voice.audio), None
        else:
            release_at = start + int(held[i])
            end = release_at + voice.release
        if cut[i] < end:
            end = min(end, int(cut[i]) + steal)
        active = [a for a in active if a[0] > start]
        if len(active) >= options.max_polyphony:
            oldest = min(active, key=lambda a: a[1])
            active.remove(oldest)
            plans[oldest[1]].end = min(plans[oldest[1]].end, start + steal)
        active.append((end, i))
        plans.append(_Strike(i, start, end, release_at, zone, voice))

    for strike in plans:
        start, release_at, voice = strike.start, strike.release_at, strike.voice
        end = min(strike.end, n_out)
        n = end - start
        if n <= 0:
            continue
        audio = voice.frames(n)
        segment = audio[:n] * np.float32(instrument.velocity_gain(int(notes[strike.index, VEL]), strike.zone))
        if len(segment) < n:
            segment = np.pad(segment, (0, n - len(segment)))
        k = min(len(fade_in), n)
        segment[:k] *= fade_in[:k]
        if release_at is not None and release_at < end:
            r = end - release_at
            curve = _release_curve(voice.release)[:r]
            segment[release_at - start : release_at - start + len(curve)] *= curve
            segment[release_at - start + len(curve) :] = 0.0
        # A voice cut early (repeated key, stolen, or the stem's end) gets a short fade to zero.
        natural_end = start + (len(voice.audio) if release_at is None else release_at - start + voice.release)
        if end < natural_end:
            f = min(steal, n)
            segment[n - f :] *= 1.0 - _fade_in(f)
        out[start:end] += segment
    return out


def perform_all(
    score: Score,
    samplesets: list[SampleSet],
    sample_rate: int = 44100,
    options: SamplerOptions | None = None,
) -> list[np.ndarray]:
    """Every track with its sample set (one per track, in track order): equal-length mono stems."""
    if len(samplesets) != len(score.tracks):
        raise SamplerError(f"{len(samplesets)} sample sets for {len(score.tracks)} tracks: give one per track")
    length = stem_length(score, sample_rate, options)
    return [
        perform(score, index, sampleset, sample_rate, options, length) for index, sampleset in enumerate(samplesets)
    ]
