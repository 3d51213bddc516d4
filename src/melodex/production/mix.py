"""The mix: every stem through its role's chain, placed in the stereo field and sent to the shared reverb, then
mastered (`produce`)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from melodex.errors import MelodexError
from melodex.production.effects import place, saturate, shared_reverb, summed, track_board
from melodex.production.loudness import db_to_gain, integrated_lufs, rough_loudness, true_peak_dbtp
from melodex.production.mastering import Levels, MasterReport, StemLevels, clean_part, headroom_gain, master
from melodex.production.settings import ROLE_MIX, STEM_LUFS, MixSettings
from melodex.score import DRUM_PROGRAM


class ProductionError(MelodexError):
    """Stems that cannot be mixed (mismatched lengths, wrong shapes, non-finite audio)."""


# Shares of `produce`'s time when the stems' chains and the reverb are done, for its progress (4 tracks,
# 49 s at 44.1 kHz, scripts/time_progress.py: chains done at 4.6 s, reverb at 5.9 s of 19.2 s on a busy
# machine; mastering every part alike takes the rest).
CHAINS_SHARE, REVERB_SHARE = 0.25, 0.3


@dataclass(frozen=True)
class ProductionResult:
    """A produced track. `stems` are the tracks after their chains, placement and the master (glue
    compressor, shelf, lo-fi, gain and limiter, applied to each alike), dry of the shared reverb, whose
    mastered return (with the lo-fi hiss) is `reverb_return`; all are (frames, 2), none above the
    master's true-peak ceiling, and stems + reverb_return add up to the mix (to float rounding)."""

    mix: np.ndarray
    stems: list[np.ndarray]
    reverb_return: np.ndarray
    report: MasterReport
    settings: MixSettings
    levels: Levels  # the whole-song gains, to re-produce a stretch alike (see `produce`)


def _process_stem(
    stem: np.ndarray, role_name: str, is_drum: bool, settings: MixSettings, sample_rate: int,
    levels: StemLevels | None = None,
) -> tuple[np.ndarray, StemLevels] | None:
    """One mono stem through its role's staging, EQ, compression and saturation (None if silent).

    Returns the processed stem and the levels it used; `levels` given: use those instead of measuring.
    """
    role = ROLE_MIX["drums" if is_drum else role_name]
    if levels is None:
        loudness = rough_loudness(stem, sample_rate)
        if not np.isfinite(loudness):
            return None
        into_db = STEM_LUFS - loudness
    else:
        into_db = levels[0]
    stem = (stem * db_to_gain(into_db)).astype(np.float32, copy=False)
    stem = track_board(role, settings, is_drum, sample_rate)(stem[None, :], sample_rate)[0]
    wet_gain = 1.0
    if not is_drum:
        stem, wet_gain = saturate(stem, settings.warmth * (0.5 if role_name == "bass" else 1.0), sample_rate,
                                   None if levels is None else levels[1])
    # Re-stage after the chain, so compression and EQ do not move the balance between roles.
    after_db = STEM_LUFS + role.level_db - integrated_lufs(stem, sample_rate) if levels is None else levels[2]
    return (stem * db_to_gain(after_db)).astype(np.float32, copy=False), (float(into_db), wet_gain, float(after_db))


def track_placement(roles: list[str], programs: list[int],
                    width: float = MixSettings.width) -> list[tuple[float, float]]:
    """(level in dB against the lead, pan -1 left .. +1 right) of each track as `produce` places it.

    A second track of a role mirrors the first one's pan; centred roles fan out to the sides.
    """
    placed = []
    same_role: dict[str, int] = {}
    for role_name, program in zip(roles, programs, strict=True):
        role = ROLE_MIX["drums" if program == DRUM_PROGRAM or role_name == "drums" else role_name]
        k = same_role.get(role_name, 0)
        same_role[role_name] = k + 1
        pan = role.pan * (-1) ** k if role.pan else (0.0 if k == 0 else 0.35 * (-1) ** k)
        placed.append((role.level_db, pan * (0.4 + 0.6 * width)))
    return placed


def produce(
    stems: list[np.ndarray],
    roles: list[str],
    settings: MixSettings | None = None,
    sample_rate: int = 44100,
    programs: list[int] | None = None,
    levels: Levels | None = None,
    progress: Callable[[float], None] | None = None,
    mastering: bool = True,
) -> ProductionResult:
    """Mix mono (frames,) or stereo (frames, 2) stems, one per track role, into a mastered stereo track
    (`mastering` False: the bus as it enters the master, no loudness, glue or limiter, only turned down as a
    whole if the bus or a part would pass the ceiling; parts sum to it).

    `levels` (the `levels` of a production of the whole song) makes this a re-production of a stretch
    of it: every gain the whole song decided is reused, so the stretch splices back in seamlessly.
    `progress` hears the share done: the stems' chains, then the reverb and the master.
    """
    settings = settings or MixSettings()
    if len(stems) != len(roles):
        raise ProductionError(f"{len(stems)} stems but {len(roles)} roles: give one role per stem")
    if not stems:
        raise ProductionError("nothing to mix: no stems")
    unknown = sorted(set(roles) - set(ROLE_MIX))
    if unknown:
        raise ProductionError(f"unknown track roles {unknown}: use one of {', '.join(ROLE_MIX)}")
    programs = programs or [0] * len(stems)
    n = max(len(s) for s in stems)
    tracks = []
    placement = track_placement(roles, programs, settings.width)
    for index, (raw, role_name) in enumerate(zip(stems, roles, strict=True)):
        stem = np.asarray(raw, dtype=np.float32)
        if stem.ndim == 2:
            stem = stem.mean(axis=1)
        # A float64 sum is finite exactly when every frame is (no float32 audio can overflow it): one pass.
        if stem.ndim != 1 or not np.isfinite(stem.sum(dtype=np.float64)):
            raise ProductionError(f"stem {index} ({role_name}) must be finite mono or (frames, 2) audio")
        is_drum = programs[index] == DRUM_PROGRAM or role_name == "drums"
        tracks.append((np.pad(stem, (0, n - len(stem))) if len(stem) < n else stem, role_name, is_drum,
                       placement[index][1]))

    if levels is not None and len(levels.stems) != len(stems):
        raise ProductionError(f"levels for {len(levels.stems)} stems given to a mix of {len(stems)}")

    def chain(index: int) -> tuple[np.ndarray, StemLevels | None]:
        stem, role_name, is_drum, pan = tracks[index]
        known = None if levels is None else levels.stems[index]
        if levels is not None and known is None:
            return np.zeros((2, n), dtype=np.float32), None  # silent in the whole song
        processed = _process_stem(stem, role_name, is_drum, settings, sample_rate, known)
        if processed is None:
            return np.zeros((2, n), dtype=np.float32), None
        width = settings.width * ROLE_MIX["drums" if is_drum else role_name].width * 0.6
        delay = int((0.007 + 0.004 * (index % 3)) * sample_rate)
        return place(processed[0], pan, width, delay, sample_rate), processed[1]

    # pedalboard and numpy release the GIL while they work, so two threads use both cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        chained = []
        for done, result in enumerate(pool.map(chain, range(len(tracks)))):
            chained.append(result)
            if progress is not None:
                progress(CHAINS_SHARE * (done + 1) / len(tracks))
    placed = [c[0] for c in chained]
    sends = np.zeros((2, n), dtype=np.float32)
    for (_, role_name, is_drum, _), stereo in zip(tracks, placed, strict=True):
        send = ROLE_MIX["drums" if is_drum else role_name].send * settings.reverb * 2.0
        sends += stereo * np.float32(send)
    # The reverb on a second thread while this one cleans the placed tracks for the master: neither needs
    # the other, and the two take about as long (0.20 and 0.28 CPU-s for the 60 s synthwave).
    with ThreadPoolExecutor(max_workers=1) as pool:
        reverb = pool.submit(shared_reverb, sends, settings, sample_rate) if np.any(sends) else None
        cleaned = [clean_part(part, sample_rate) for part in placed] if mastering else None
        wet = sends if reverb is None else reverb.result()
    if progress is not None:
        progress(REVERB_SHARE)
    if not mastering:
        # No limiter here (the dynamics are the mastering engineer's), but a loud song's bus peaks over full
        # scale (+2.4 dBTP measured, scripts/eval_stems.py) and its WAV clipped: one gain on every part.
        gain = np.float32(headroom_gain([summed([*placed, wet]), *placed, wet], settings.ceiling_dbtp - 0.1))
        placed, wet = [p * gain for p in placed], wet * gain
        bus = summed([*placed, wet])
        peak = float(np.abs(bus).max()) if bus.size else 0.0
        report = MasterReport(integrated_lufs(bus.T, sample_rate), true_peak_dbtp(bus.T),
                              float(20 * np.log10(max(peak, 1e-12))), 0.0, 0.0, 0, int((np.abs(bus) >= 1.0).sum()))
        unmastered = levels or Levels(tuple(c[1] for c in chained), (0.0, 0.0), 0.0, 0.0)
        return ProductionResult(bus.T, [p.T for p in placed], wet.T, report, settings, unmastered)
    mastered, mix, report, found = master([*placed, wet], settings, sample_rate, levels, cleaned)
    if levels is None:
        levels = replace(found, stems=tuple(c[1] for c in chained))
    return ProductionResult(
        mix=mix.T,
        stems=[s.T for s in mastered[:-1]],
        reverb_return=mastered[-1].T,
        report=report,
        settings=settings,
        levels=levels,
    )
