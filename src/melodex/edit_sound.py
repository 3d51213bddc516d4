"""Sound edits: the notes stay and sample sets change (retimbre, rerender), or the whole performance is played
again (tempo, transposition)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from melodex import pipeline
from melodex.edit_render import rerender_take
from melodex.edit_session import Draft, save
from melodex.errors import MelodexError, option_name
from melodex.inputs import clean_text
from melodex.project import TrackTimbre
from melodex.render_audio import StageProgress, make_samplesets
from melodex.score import MAX_BPM, MIN_BPM, Score, Tempo
from melodex.timbre.sampleset import SampleSet
from melodex.tokens import decode, encode


def _remade(session: Draft, score: Score, track: int, text: str, seed: int,
            progress: StageProgress | None = None) -> tuple[SampleSet, TrackTimbre]:
    """Track `track`'s sample set made anew from `text` and `seed` under the session's options and models."""
    made = make_samplesets(score, {track: text}, {track: seed}, session.options.render_options(),
                           session.models.timbre, progress)
    return made[track]


def _share(report: StageProgress, index: int, count: int, fraction: float) -> None:
    """Item `index` of `count` is `fraction` done: the share of the whole."""
    report((index + fraction) / count)


def retimbre(session: Draft, track: int, text: str, seed: int) -> str:
    """A new sound for one track from words; its notes and every other track's sound stay."""
    text = clean_text(text, "the sound description")
    if not text.strip():
        raise MelodexError('describe the new sound, e.g. "brighter, more distorted"')
    take = session.take
    samplesets = dict(take.samplesets)
    timbres = dict(take.timbres)
    full_text = pipeline.timbre_text(session.brief, take.score.tracks[track].program, text)
    with session.stage("timbres") as report:
        samplesets[track], timbres[track] = _remade(session, take.score, track, full_text, seed, report)
    new = rerender_take(session, take.score, take.events, samplesets, timbres)
    return save(session, new, f"retimbre track {track + 1}: {text}")


def rerender(session: Draft, cfg: float | None, steps: int | None) -> str:
    """Re-make every timbre from the same seeds (same starting noise) at another guidance or step count."""
    if steps is not None and not 1 <= steps <= 200:
        raise MelodexError(f"{option_name('steps')} {steps}: use 1-200 diffusion steps")
    if cfg is not None and not 0 <= cfg <= 20:
        raise MelodexError(f"{option_name('cfg')} {cfg:g}: use a timbre guidance from 0 to 20")
    take = session.take
    options = replace(session.options, timbre_cfg=cfg if cfg is not None else session.options.cfg,
                      timbre_steps=steps if steps is not None else session.options.timbre_steps)
    session.options = options
    samplesets, timbres = {}, {}
    n_tracks = len(take.score.tracks)
    with session.stage("timbres") as report:
        for i in range(n_tracks):
            timbre = take.timbres[i]
            done = partial(_share, report, i, n_tracks)
            samplesets[i], timbres[i] = _remade(session, take.score, i, timbre.text, timbre.seed, done)
    settings = {**take.settings, "options": pipeline._options_json(options)}
    new = rerender_take(session, take.score, take.events, samplesets, timbres, settings)
    return save(session, new, f"rerender cfg {options.cfg:g} steps {options.timbre_steps}")


def set_tempo(session: Draft, bpm: float) -> str:
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise MelodexError(f"tempo {bpm:g} BPM is outside {MIN_BPM}-{MAX_BPM}")
    take = session.take
    score = take.score.copy()
    ratio = bpm / score.bpm
    score.tempos = [Tempo(round(t.bpm * ratio), t.tick) for t in score.tempos]
    events = encode(score)
    new = rerender_take(session, decode(events), events, take.samplesets, take.timbres)
    return save(session, new, f"set tempo {bpm:g} BPM")


def transpose(session: Draft, semitones: int) -> str:
    if not -12 <= semitones <= 12:
        raise MelodexError(f"transpose by {semitones}: use -12 to 12 semitones (an octave either way)")
    take = session.take
    score = take.score.transposed(semitones)
    events = encode(score)
    samplesets = dict(take.samplesets)
    with session.stage("timbres") as report:
        for index, track in enumerate(score.tracks):
            low, high = min(samplesets[index].pitches), max(samplesets[index].pitches)
            if not track.is_drum and len(track.notes) and (track.notes[:, 2].min() < low - 2 or
                                                            track.notes[:, 2].max() > high + 2):
                timbre = take.timbres[index]
                samplesets[index], _ = _remade(session, score, index, timbre.text, timbre.seed)
            report((index + 1) / len(score.tracks))
    new = rerender_take(session, decode(events), events, samplesets, take.timbres)
    return save(session, new, f"transpose {semitones:+d}")
