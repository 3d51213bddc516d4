"""Rendering an edit's new bars and splicing them in: every sample outside the edited span stays exactly as it was."""

from __future__ import annotations

import numpy as np

from melodex import pipeline
from melodex.edit_session import Draft, save
from melodex.production.mastering import Levels
from melodex.production.settings import MixSettings
from melodex.project import TrackTimbre
from melodex.render_audio import PITCH_STEP, perform_and_produce, sample_pitches
from melodex.sampler import stem_length
from melodex.score import Score
from melodex.timbre.drumkit import extend_kit

SPLICE_FADE_S = 0.010  # crossfade inside the edited span: long enough to be click-free, short enough to be local
WARMUP_S = 6.0  # an edited stretch is rendered from this long before it: the reverb tail decays ~100 dB in it


def splice(old: np.ndarray, new: np.ndarray, start: int, end: int | None, fade: int) -> np.ndarray:
    """old outside [start, end), new inside (end None: to the end, new tail included).

    The crossfades lie inside the span, so every sample outside it is exactly the old one. Only the
    span is computed: the rest is a copy.
    """
    length = len(old) if end is not None else max(len(old), len(new))
    out = np.zeros((length, *old.shape[1:]), dtype=np.float32)
    out[: len(old)] = old
    stop = length if end is None else min(end, length)
    if stop <= start:
        return out
    inside = np.zeros((stop - start, *old.shape[1:]), dtype=np.float32)
    available = new[start:stop]
    inside[: len(available)] = available
    fade = max(1, min(fade, (stop - start) // 2))
    ramp = np.sin(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2
    weight = np.ones(stop - start, dtype=np.float32)
    weight[:fade] = ramp
    if end is not None:
        weight[-fade:] = ramp[::-1]
    weight = weight.reshape(-1, *([1] * (out.ndim - 1)))
    out[start:stop] = out[start:stop] * (1 - weight) + inside * weight
    return out


def sample_span(score: Score, bars: tuple[int, int], sample_rate: int) -> tuple[int, int]:
    starts = score.bar_starts()
    seconds = score.seconds_at(np.array([starts[bars[0]], starts[bars[1]]]))
    return round(seconds[0] * sample_rate), round(seconds[1] * sample_rate)


def mix_settings(take: pipeline.Take) -> MixSettings:
    return MixSettings(**take.settings["mix"])


def rerender_take(session: Draft, score: Score, events: np.ndarray, samplesets: dict,
              timbres: dict[int, TrackTimbre], settings: dict | None = None) -> pipeline.Take:
    take = session.take
    with session.stage("render") as report:
        stems, mix, levels, _ = perform_and_produce(score, samplesets, mix_settings(take), take.sample_rate,
                                                    progress=report)
    settings = {**(settings or take.settings), "levels": levels.to_json()}
    return pipeline.Take(events=events, timbres=timbres, samplesets=samplesets, stems=stems, mix=mix,
                         sample_rate=take.sample_rate, settings=settings, score=score)


def missing_samplesets(score: Score, samplesets: dict) -> dict:
    """Sample sets completed with the drum keys the new notes use and the set lacks (pitched tracks are
    repitched from their nearest recorded note instead). Recorded notes are kept as they are."""
    out = dict(samplesets)
    for index, track in enumerate(score.tracks):
        have = set(out[index].pitches)
        missing = sorted(set(sample_pitches(track, PITCH_STEP)) - have)
        if track.is_drum and missing:
            out[index] = extend_kit(out[index], missing)  # from the kits the set was made from
    return out


def render_span(session: Draft, score: Score, samplesets: dict, start: int,
                 end: int | None) -> tuple[dict[int, np.ndarray], np.ndarray] | None:
    """New stems and mix for frames start:end (None: to the new end), placed at their song positions.

    Only that stretch is played and produced, from WARMUP_S before it (reverb and compressors settle)
    with the song's recorded levels. None when the version has no recorded levels (made before they
    were kept) or a track silent in it now has notes: then the whole song is re-rendered instead.
    """
    take = session.take
    if "levels" not in take.settings:
        return None
    levels = Levels.from_json(take.settings["levels"])
    if any(lv is None and len(t.notes) for lv, t in zip(levels.stems, score.tracks, strict=False)) or \
            len(levels.stems) != len(score.tracks):
        return None
    rate = take.sample_rate
    length = stem_length(score, rate)
    first = max(0, start - int(WARMUP_S * rate))
    last = length if end is None else min(length, end + int(0.5 * rate))
    with session.stage("render") as report:
        stems, mix, _, _ = perform_and_produce(score, samplesets, mix_settings(take), rate, levels,
                                               (first, last), report)

    def placed(part: np.ndarray) -> np.ndarray:
        whole = np.zeros((last, *part.shape[1:]), dtype=np.float32)
        whole[first:last] = part[: last - first]
        return whole

    return {i: placed(s) for i, s in stems.items()}, placed(mix)


def save_rewritten_bars(session: Draft, score: Score, events: np.ndarray, bars: tuple[int, int],
                         tracks: list[int], label: str, also: tuple[tuple[int, int], ...] = (),
                         settings_update: dict | None = None) -> str:
    """Render the rewritten bars and splice them in over `bars` (to the end, tails included, if they reach it),
    and likewise over each span of `also` (the linked repeats an edit rewrote too).

    The stems of tracks not in `tracks` are kept as they were; the mix is spliced like the stems.
    """
    take = session.take
    samplesets = missing_samplesets(score, take.samplesets)
    stems, mix, settings = dict(take.stems), take.mix, take.settings
    fade = int(SPLICE_FADE_S * take.sample_rate)
    full: tuple[dict[int, np.ndarray], np.ndarray] | None = None  # the whole song re-rendered, if it had to be
    for span in sorted({bars, *also}):
        start, end = sample_span(score, span, take.sample_rate)
        to_end = None if span[1] >= score.bar_count() else end
        rendered = full or render_span(session, score, samplesets, start, to_end)
        if rendered is None:
            whole = rerender_take(session, score, events, samplesets, take.timbres)
            rendered = full = (whole.stems, whole.mix)
            settings = whole.settings
        new_stems, new_mix = rendered
        stems = {i: splice(stems[i], new_stems[i], start, to_end, fade) if i in tracks or to_end is None
                 else stems[i] for i in new_stems}
        mix = splice(mix, new_mix, start, to_end, fade)
    if settings_update:
        settings = {**settings, **settings_update}
    new = pipeline.Take(events=events, timbres=take.timbres, samplesets=samplesets, stems=stems, mix=mix,
                        sample_rate=take.sample_rate, settings=settings, score=score)
    return save(session, new, label)
