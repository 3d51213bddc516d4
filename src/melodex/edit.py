"""Editing a project: every edit reads a version, changes one thing, and saves a new version.

Note edits (regen, variation, extend) rewrite chosen bars of chosen tracks with the structure model's
infilling and keep every other note; the new audio is spliced in so that every sample outside the
edited bars stays exactly as it was. Sound edits (retimbre, rerender) keep the notes and change sample
sets. Tempo and transposition change the whole performance, so they re-render everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from melodex import brief as brief_mod
from melodex import pipeline
from melodex.errors import MelodexError, option_name
from melodex.export import export_take
from melodex.files import output_dir
from melodex.inputs import clean_text
from melodex.instruments import family, program_name
from melodex.models import single_thread
from melodex.production.mastering import Levels
from melodex.production.settings import MixSettings
from melodex.project import Project, TrackTimbre
from melodex.project_files import ProjectError
from melodex.project_lock import writing
from melodex.render_audio import PITCH_STEP, StageProgress, make_samplesets, perform_and_produce, sample_pitches
from melodex.sampler import stem_length
from melodex.score import MAX_BARS, MAX_BPM, MIN_BPM, Score, Tempo
from melodex.timbre.drumkit import extend_kit
from melodex.timbre.sampleset import SampleSet
from melodex.tokens import decode, encode
from melodex.tokens_grammar import Plan

SPLICE_FADE_S = 0.010  # crossfade inside the edited span: long enough to be click-free, short enough to be local
WARMUP_S = 6.0  # an edited stretch is rendered from this long before it: the reverb tail decays ~100 dB in it


@dataclass
class Draft:
    """What an edit reads and changes: a take with the brief and options it was made with, in memory
    (`melodex.Song`'s edits). An edit leaves its new take in `take`."""

    take: pipeline.Take
    brief: brief_mod.Brief
    options: pipeline.GenerateOptions
    progress: pipeline.Progress | None = None  # hears (stage, share done) as an edit runs: compose, timbres, ...
    pipe: pipeline.Models | None = None  # the models to edit with; None: the shipped ones
    made: int = 1  # how many versions the song has had: a new seed is counted from it
    request: dict | None = None  # the edit request being run (`edit_requests`), recorded in the new version

    @property
    def score(self) -> Score:
        return self.take.score

    @property
    def models(self) -> pipeline.Models:
        return self.pipe or pipeline.shipped()

    def stage(self, name: str) -> AbstractContextManager[StageProgress]:
        """A stage of an edit, reported to `progress` (the stages of `pipeline.generate`)."""
        return pipeline.StageClock(self.progress).stage(name)

    def next_seed(self, seed: int | None) -> int:
        return next_seed(self.made, seed)


@dataclass(kw_only=True)
class Session(Draft):
    """A project opened at one version: an edit saves its take as a new version and re-exports the files."""

    project: Project
    version_id: str
    rerendered: bool = False  # the version's audio was pruned: `take` holds it played again, not yet stored

    def next_seed(self, seed: int | None) -> int:
        return next_seed(len(self.project.history), seed)


def locate_project(path: str | Path) -> Path:
    """A project from its own path or from the output folder that holds song.melodex."""
    path = Path(path)
    if str(path) in ("", "."):
        path = Path.cwd()
    if (path / "project.json").exists():
        return path
    if (path / "song.melodex" / "project.json").exists():
        return path / "song.melodex"
    if path.name and path.with_suffix(".melodex").exists():
        return path.with_suffix(".melodex")
    raise ProjectError(f"no Melodex project at {path}: pass the folder `melodex generate -o` wrote, or its "
                       "song.melodex")


def open_session(path: str | Path, version: str | None = None) -> Session:
    project = Project.open(locate_project(path))
    version_id = project.resolve(version)
    stored = project.load_version(version_id)
    where = project.path / "versions" / version_id / "version.json"
    try:
        brief = brief_mod.Brief.from_json(project.meta["brief"])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ProjectError(f"{project.path / 'project.json'} is damaged (its brief: {exc!r})") from exc
    raw = stored.settings.get("options", {})
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise ProjectError(f"{where} is damaged (its options are not a table)")
    raw = dict(raw)
    raw["formats"] = tuple(raw.get("formats") or ("wav",))
    if raw.get("instruments"):
        raw["instruments"] = tuple(raw["instruments"])
    raw.setdefault("scale_lock", 0.0)  # a project from before the scale lock keeps composing without it
    raw.setdefault("timbre_vibrato", False)  # and one from before the vibrato head re-makes its timbres steady
    raw.setdefault("timbre_detune", False)  # and one from before the detune with one harmonic bank
    raw.setdefault("arrangement", "flat")  # and one from before song forms was composed in one flat pass
    try:
        options = pipeline.GenerateOptions(**raw)
        score = decode(stored.events)
    except (MelodexError, TypeError, ValueError, IndexError) as exc:
        raise ProjectError(f"{where} is damaged ({exc})") from exc
    stems, mix = stored.stems, stored.mix
    if stored.pruned:
        stems, mix = replay(score, stored.samplesets, stored.settings, stored.sample_rate, where)
    take = pipeline.Take(score=score, events=stored.events, samplesets=stored.samplesets,
                         timbres=stored.timbres, stems=stems, mix=mix,
                         sample_rate=stored.sample_rate, settings=stored.settings)
    return Session(take=take, brief=brief, options=options, project=project, version_id=version_id,
                   rerendered=stored.pruned)


def replay(score: Score, samplesets: dict[int, SampleSet], settings: dict, sample_rate: int,
           where: Path) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """The stems and mix of a version whose audio was pruned, played again from its score and sample sets
    with its recorded mix settings and levels (so it sits at the level it had)."""
    try:
        mix = MixSettings(**settings["mix"])
        levels = Levels.from_json(settings["levels"]) if "levels" in settings else None
    except (KeyError, TypeError, ValueError) as exc:
        raise ProjectError(f"{where} is damaged (its mix settings: {exc!r}); its audio was pruned, so it cannot "
                           "be played again: check out another version") from exc
    if levels is not None and len(levels.stems) != len(score.tracks):
        levels = None
    stems, mixed, _, _ = perform_and_produce(score, samplesets, mix, sample_rate, levels)
    return stems, mixed


def check_out(session: Session, report: StageProgress | None = None) -> str:
    """Make the session's version current and re-export the files beside the project (`melodex checkout`).

    The files first: a refused export changes nothing. A pruned version's re-rendered audio is stored
    back into it, so it is whole again. Call with the project's write lock held (`editing`).
    """
    export_take(session.take, session.project.path.parent, session.options.export, report)
    session.project.checkout(session.version_id)
    if session.rerendered:
        session.project.restore_audio(session.version_id, session.take.stems, session.take.mix)
        session.rerendered = False
    return session.version_id


@contextmanager
def editing(path: str | Path, version: str | None = None) -> Iterator[Session]:
    """A session holding the project's write lock for the whole edit (what the CLI and the studio use).

    Another writer waits (MELODEX_LOCK_WAIT, 30 s), then gets "the project is being edited by another melodex process".
    Editing without it (`open_session` and an edit) is still safe: the commit itself takes the lock.
    """
    folder = locate_project(path)
    with writing(folder):
        yield open_session(folder, version)


def save(session: Draft, take: pipeline.Take, edit: str) -> str:
    """Store the edited take as a new version and re-export the files beside the project; returns its id.
    A `Draft` (no project) keeps the take in memory instead and returns the edit's label.

    Stems and sample sets the edit kept (the very arrays of the version it started from) are linked
    from that version rather than encoded again. The version and the files are written under the
    project's write lock, so two writers never interleave them.
    """
    if not isinstance(session, Session):
        session.take = take
        return edit
    unchanged = pipeline.shared_files(take, session.take)
    folder = session.project.path.parent
    output_dir(output_dir(folder) / "stems", inside=folder)  # refused before the version is saved, not after
    with writing(session.project.path), session.stage("write") as report:
        record = pipeline.take_to_version(take, edit, session.version_id, session.request)
        version = session.project.save_version(record, unchanged)
        report(0.5)
        export_take(take, session.project.path.parent, session.options.export,
                             lambda f: report(0.5 + f / 2))
    return version


# -- choosing what to edit ----------------------------------------------------------------------------


def next_seed(n_versions: int, seed: int | None) -> int:
    """The seed of an edit's new material: the one given, else a new one from the count of versions so far."""
    return seed if seed is not None else 1000 + n_versions


def regen_target(score: Score, section: str | None, bars: str | None,
                 tracks: Sequence[str] | None) -> tuple[tuple[int, int], list[int], str]:
    """(bars as a 0-based half-open span, track indices, the edit's label) for a regen of one section
    (e.g. "chorus", "verse 2") or of bars ("5:8", counted from 1), of the named tracks or all."""
    if section is None and bars is None:
        raise MelodexError("say what to rewrite: a section (e.g. chorus) or bars (e.g. 5:8)")
    if section is not None and bars is not None:
        raise MelodexError("give a section (e.g. chorus) or bars (e.g. 5:8), not both")
    span = bars_of_section(score, section) if section else parse_bars(str(bars), score.bar_count())
    chosen = pick_tracks(score, list(tracks) if tracks else None)
    what = section or f"bars {span[0] + 1}-{span[1]}"
    return span, chosen, f"regen {what}" + (f" tracks {', '.join(tracks)}" if tracks else "")


def bars_of_section(score: Score, name: str) -> tuple[int, int]:
    section = score.section(name)
    return section.start_bar, section.end_bar


def parse_bars(text: str, n_bars: int) -> tuple[int, int]:
    """'5:8' (bars 5 to 8, counted from 1, inclusive) -> (4, 8) as a 0-based half-open span; '3' is bar 3 alone."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[:-]\s*(\d+)\s*)?", text)
    if not match:
        raise MelodexError(f"bars {text!r}: write one bar like 3 or a range like 5:8 (counting from 1)")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else first
    if first > last:
        raise MelodexError(f"bars {text}: the range runs backwards; write the first bar first ({last}:{first})")
    if first == 0:
        raise MelodexError(f"bars {text}: bars count from 1 (the song has bars 1-{n_bars})")
    if last > n_bars:
        raise MelodexError(f"bars {text}: the song has bars 1-{n_bars}; give bars inside that")
    return first - 1, last


def pick_tracks(score: Score, names: list[str] | None) -> list[int]:
    """Tracks by index, role or instrument ('1', 'bass', 'piano'); all tracks when none are named."""
    if not names:
        return list(range(len(score.tracks)))
    chosen: list[int] = []
    for name in names:
        key = name.strip().lower()
        matches = [i for i, t in enumerate(score.tracks)
                   if key in (str(i), t.role, program_name(t.program).lower(), family(t.program))]
        if not matches:
            tracks = ", ".join(f"{i}: {t.role} ({program_name(t.program)})" for i, t in enumerate(score.tracks))
            raise MelodexError(f"no track {name!r} in this song (tracks: {tracks})")
        chosen += [m for m in matches if m not in chosen]
    return chosen


# -- audio splicing -----------------------------------------------------------------------------------


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


def _mix_settings(take: pipeline.Take) -> MixSettings:
    return MixSettings(**take.settings["mix"])


def _rerender(session: Draft, score: Score, events: np.ndarray, samplesets: dict,
              timbres: dict[int, TrackTimbre], settings: dict | None = None) -> pipeline.Take:
    take = session.take
    with session.stage("render") as report:
        stems, mix, levels, _ = perform_and_produce(score, samplesets, _mix_settings(take), take.sample_rate,
                                                    progress=report)
    settings = {**(settings or take.settings), "levels": levels.to_json()}
    return pipeline.Take(events=events, timbres=timbres, samplesets=samplesets, stems=stems, mix=mix,
                         sample_rate=take.sample_rate, settings=settings, score=score)


def _missing_samplesets(score: Score, samplesets: dict) -> dict:
    """Sample sets completed with the drum keys the new notes use and the set lacks (pitched tracks are
    repitched from their nearest recorded note instead). Recorded notes are kept as they are."""
    out = dict(samplesets)
    for index, track in enumerate(score.tracks):
        have = set(out[index].pitches)
        missing = sorted(set(sample_pitches(track, PITCH_STEP)) - have)
        if track.is_drum and missing:
            out[index] = extend_kit(out[index], missing)  # from the kits the set was made from
    return out


def _share(report: StageProgress, index: int, count: int, fraction: float) -> None:
    """Item `index` of `count` is `fraction` done: the share of the whole."""
    report((index + fraction) / count)


# -- note edits ---------------------------------------------------------------------------------------


def _infill(session: Draft, events: np.ndarray, bars: tuple[int, int], tracks: list[int], seed: int,
            plan: Plan | None = None) -> tuple[Score, np.ndarray]:
    from melodex.structure.generate import infill

    decoding = pipeline.decoding_options(session.brief, session.options, seed)
    with single_thread(), session.stage("compose") as report:
        return infill(session.models.structure, events, bars, tracks, session.brief.prompt, plan, decoding,
                      progress=report)


def regen(session: Draft, bars: tuple[int, int], tracks: list[int], seed: int, label: str) -> str:
    """Rewrite the notes of `tracks` in `bars`; every sample outside those bars stays identical."""
    score, events = _infill(session, session.take.events, bars, tracks, seed)
    return _save_rewritten_bars(session, score, events, bars, tracks, label)


def _render_span(session: Draft, score: Score, samplesets: dict, start: int,
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
        stems, mix, _, _ = perform_and_produce(score, samplesets, _mix_settings(take), rate, levels,
                                               (first, last), report)

    def placed(part: np.ndarray) -> np.ndarray:
        whole = np.zeros((last, *part.shape[1:]), dtype=np.float32)
        whole[first:last] = part[: last - first]
        return whole

    return {i: placed(s) for i, s in stems.items()}, placed(mix)


def _save_rewritten_bars(session: Draft, score: Score, events: np.ndarray, bars: tuple[int, int],
                         tracks: list[int], label: str, also: tuple[tuple[int, int], ...] = (),
                         settings_update: dict | None = None) -> str:
    """Render the rewritten bars and splice them in over `bars` (to the end, tails included, if they reach it),
    and likewise over each span of `also` (the linked repeats an edit rewrote too).

    The stems of tracks not in `tracks` are kept as they were; the mix is spliced like the stems.
    """
    take = session.take
    samplesets = _missing_samplesets(score, take.samplesets)
    stems, mix, settings = dict(take.stems), take.mix, take.settings
    fade = int(SPLICE_FADE_S * take.sample_rate)
    full: tuple[dict[int, np.ndarray], np.ndarray] | None = None  # the whole song re-rendered, if it had to be
    for span in sorted({bars, *also}):
        start, end = sample_span(score, span, take.sample_rate)
        to_end = None if span[1] >= score.bar_count() else end
        rendered = full or _render_span(session, score, samplesets, start, to_end)
        if rendered is None:
            whole = _rerender(session, score, events, samplesets, take.timbres)
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


# -- edits that follow the song's form -------------------------------------------------------------


def section_links(session: Draft) -> list[int | None]:
    """For each section, the index of the section it repeats (None: its own music), as the version records
    it; projects made before song forms have no links."""
    n = len(session.score.sections)
    links = (session.take.settings.get("form") or {}).get("links")
    if not isinstance(links, list) or len(links) != n or not all(
            link is None or (isinstance(link, int) and 0 <= link < i) for i, link in enumerate(links)):
        return [None] * n
    return list(links)


def _root(links: list[int | None], index: int) -> int:
    """The first occurrence of the music section `index` plays."""
    link = links[index]
    return index if link is None else link


def _section_index(score: Score, name: str) -> int:
    score.section(name)  # an unknown name raises with the list of sections
    return next(i for i, s in enumerate(score.sections) if s.name == name)


def regen_section(session: Draft, name: str, tracks: list[int], seed: int, label: str,
                  only: bool = False) -> str:
    """Rewrite section `name` and every section linked to it (a repeated chorus is the same music again;
    a varied repeat gets a new melody in its last quarter). `only` rewrites just this occurrence and
    unlinks it. Every sample outside the rewritten sections stays identical."""
    from melodex.structure.form import ROLE_LAYER, VARIED_REPEATS, base_name

    score, sections = session.score, session.score.sections
    index = _section_index(score, name)
    links = section_links(session)
    root = _root(links, index)
    group: list[int]
    if only:
        group = [index]
        followers = [i for i, link in enumerate(links) if link == index]
        for i in followers:  # the others stay linked among themselves, to the first of them
            links[i] = None if i == followers[0] else followers[0]
        links[index] = None
    else:
        group = [root] + [i for i, link in enumerate(links) if link == root]
    source = sections[group[0]]
    _, events = _infill(session, session.take.events, (source.start_bar, source.end_bar), tracks, seed)
    from melodex.structure.song import copy_bars

    melody = [t for t in tracks if ROLE_LAYER[score.tracks[t].role] == "melody"]
    spans = [(source.start_bar, source.end_bar)]
    for k, other in enumerate(group[1:], start=1):
        target = sections[other]
        n = min(target.n_bars, source.n_bars)
        events = copy_bars(events, (source.start_bar, source.start_bar + n), target.start_bar, tracks)
        if base_name(target.name) in VARIED_REPEATS and melody and n >= 2:
            _, events = _infill(session, events, (target.start_bar + n - max(1, n // 4), target.start_bar + n), melody,
                                seed + 7919 * k)
        spans.append((target.start_bar, target.start_bar + n))
    new_score = decode(events)
    form = {**(session.take.settings.get("form") or {}), "links": links}
    return _save_rewritten_bars(session, new_score, events, spans[0], tracks, label, tuple(spans[1:]),
                                {"form": form})


def chord_progression(chords: list[str]) -> list[tuple[int, ...]]:
    """Chord names, one a bar ("Am F C G") or bars split by | ("Am F | C G"), as the model's chord values per bar."""
    from melodex.brief_chords import chord_token

    text = " ".join(chords)
    bars = [bar.split() for bar in text.split("|")] if "|" in text else [[chord] for chord in text.split()]
    progression = [tuple(chord_token(chord) for chord in bar) for bar in bars if bar]
    if not progression:
        raise MelodexError("rechord needs chords, e.g. \"Am F C G\" (one a bar) or \"Am F | C G\" (two a bar)")
    return progression


def rechord(session: Draft, name: str, chords: list[str], seed: int, label: str) -> str:
    """Give section `name` (and its linked repeats) the chord progression `chords` (names per bar, cycled;
    "Am F C G" or "Am F | C G" for two a bar), then rewrite its pitched parts around the new chords."""
    from melodex.structure.song import set_chords

    score = session.score
    index = _section_index(score, name)
    progression = chord_progression(chords)
    links = section_links(session)
    root = _root(links, index)
    group = [root] + [i for i, link in enumerate(links) if link == root]
    events = session.take.events
    for i in group:
        section = score.sections[i]
        events = set_chords(events, range(section.start_bar, section.end_bar), progression)
    pitched = [i for i, t in enumerate(score.tracks) if not t.is_drum]
    if not pitched:
        raise MelodexError("this song has no pitched tracks to follow new chords")
    session = replace(session, take=replace(session.take, events=events, score=decode(events)))
    return regen_section(session, score.sections[group[0]].name, pitched, seed, label)


def variation(session: Draft, strength: float, seed: int) -> str:
    """Same plan, new seed. strength 0-1: the share of bars rewritten (1 composes the song anew)."""
    if not 0 < strength <= 1:
        raise MelodexError(f"{option_name('strength')} {strength}: use a value above 0 and at most 1 "
                           "(1 = completely new)")
    take = session.take
    if strength >= 1:
        # New notes, the same timbres: compose only (making new sample sets here would be thrown away).
        options = replace(session.options, seed=seed)
        with session.stage("compose") as report:
            score, events = pipeline.compose(session.brief, options, pipeline.seed_for(seed, "compose"),
                                             session.models.structure, report)
        settings = {**take.settings, "options": pipeline._options_json(options)}
        new = _rerender(session, score, events, _missing_samplesets(score, take.samplesets),
                        take.timbres, settings)
        return save(session, new, f"variation strength 1 seed {seed}")
    rng = np.random.default_rng(seed)
    n_bars = take.score.bar_count()
    span = max(1, round(strength * n_bars))
    first = int(rng.integers(0, n_bars - span + 1))
    tracks = [i for i, t in enumerate(take.score.tracks) if rng.random() < 0.5 + strength / 2] or [0]
    return regen(session, (first, first + span), tracks, seed,
                 f"variation strength {strength:g} seed {seed}: bars {first + 1}-{first + span}")


def _chords_by_bar(events: np.ndarray) -> list[list[int]]:
    """The chord values of every bar, in order (a bar may hold several, or none)."""
    from melodex.tokens_vocabulary import BAR, CHORD, F_CHORD, F_KIND

    bars: list[list[int]] = []
    for row in events:
        if row[F_KIND] == BAR:
            bars.append([])
        elif row[F_KIND] == CHORD and bars:
            bars[-1].append(int(row[F_CHORD]))
    return bars


def _continued_chords(events: np.ndarray, score: Score, n_bars: int) -> list[list[int]]:
    """Chords for `n_bars` new bars: the last section's progression cycled on from where the song stops.

    The model was trained on bars that all open with a chord; bare bar lines after the song's end read
    as bars to skip, and one `extend --bars 4` came back with three silent bars. Empty when the song has
    no chords to continue.
    """
    chords = _chords_by_bar(events)
    for bar in range(1, len(chords)):  # a bar without a chord event holds the one before it
        chords[bar] = chords[bar] or chords[bar - 1]
    start = score.sections[-1].start_bar if score.sections else 0
    cycle = [bar for bar in chords[start:] if bar] or [bar for bar in chords if bar]
    if not cycle:
        return []
    offset = len(chords) - start
    return [cycle[(offset + k) % len(cycle)] for k in range(n_bars)]


def extend(session: Draft, n_bars: int, seed: int) -> str:
    """Add n_bars at the end, written by the model as a continuation of everything before."""
    take = session.take
    total = take.score.bar_count() + n_bars
    if n_bars < 1 or total > MAX_BARS:
        raise MelodexError(f"{option_name('bars')} {n_bars}: the song would have {total} bars; at most {MAX_BARS}")
    from melodex.tokens_vocabulary import BAR, EOS, F_KIND, FIELDS

    bar_row = np.zeros((1, len(FIELDS)), dtype=np.int64)
    bar_row[0, F_KIND] = BAR
    eos_row = np.zeros((1, len(FIELDS)), dtype=np.int64)
    eos_row[0, F_KIND] = EOS
    events = np.concatenate([take.events[:-1], np.repeat(bar_row, n_bars, 0), eos_row])
    old_bars = take.score.bar_count()
    progression = _continued_chords(take.events, take.score, n_bars)
    if progression:
        from melodex.structure.song import set_chords

        events = set_chords(events, range(old_bars, total), progression)
    score, events = _infill(session, events, (old_bars, total), list(range(len(take.score.tracks))), seed)
    return _save_rewritten_bars(session, score, events, (old_bars, total), list(range(len(take.score.tracks))),
                                f"extend by {n_bars} bars")


# -- sound edits --------------------------------------------------------------------------------------


def _remade(session: Draft, score: Score, track: int, text: str, seed: int,
            progress: StageProgress | None = None) -> tuple[SampleSet, TrackTimbre]:
    """Track `track`'s sample set made anew from `text` and `seed` under the session's options and models."""
    made = make_samplesets(score, {track: text}, {track: seed}, session.options.render_options(),
                           session.models.timbre, progress)
    return made[track]


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
    new = _rerender(session, take.score, take.events, samplesets, timbres)
    return save(session, new, f"retimbre track {track}: {text}")


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
    new = _rerender(session, take.score, take.events, samplesets, timbres, settings)
    return save(session, new, f"rerender cfg {options.cfg:g} steps {options.timbre_steps}")


def set_tempo(session: Draft, bpm: float) -> str:
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise MelodexError(f"tempo {bpm:g} BPM is outside {MIN_BPM}-{MAX_BPM}")
    take = session.take
    score = take.score.copy()
    ratio = bpm / score.bpm
    score.tempos = [Tempo(round(t.bpm * ratio), t.tick) for t in score.tempos]
    events = encode(score)
    new = _rerender(session, decode(events), events, take.samplesets, take.timbres)
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
    new = _rerender(session, decode(events), events, samplesets, take.timbres)
    return save(session, new, f"transpose {semitones:+d}")


# -- looking ------------------------------------------------------------------------------------------


def changed_bars(score_a: Score, score_b: Score) -> list[list[int]]:
    """Per track (of those both scores have), the 0-based bars whose notes differ."""
    starts = score_a.bar_starts(max(score_a.bar_count(), score_b.bar_count()))
    out = []
    for ta, tb in zip(score_a.tracks, score_b.tracks, strict=False):
        bars_a = np.searchsorted(starts, ta.notes[:, 0], side="right") - 1
        bars_b = np.searchsorted(starts, tb.notes[:, 0], side="right") - 1
        out.append([bar for bar in range(len(starts) - 1)
                    if not np.array_equal(ta.notes[bars_a == bar], tb.notes[bars_b == bar])])
    return out


def diff_pair(project: Project, a: str | None, b: str | None) -> tuple[str, str]:
    """The two version ids `diff` compares: `b` (default the current version) and `a` (default b's parent)."""
    second = project.resolve(b)
    first = project.resolve(a) if a is not None else project.parent_of(second)
    if first is None:
        raise MelodexError(f"version {second} is the first: it has nothing before it to compare with, name two "
                           "versions")
    return first, second


def diff(project: Project, a: str, b: str) -> list[str]:
    """What changed between two versions, bar by bar and track by track, and in the audio."""
    first, second = project.load_version(a), project.load_version(b)
    score_a, score_b = decode(first.events), decode(second.events)
    lines = []
    if score_a.bpm != score_b.bpm:
        lines.append(f"tempo {score_a.bpm:g} -> {score_b.bpm:g} BPM")
    if score_a.key != score_b.key:
        lines.append(f"key {score_a.key} -> {score_b.key}")
    if score_a.bar_count() != score_b.bar_count():
        grown = score_b.bar_count() - score_a.bar_count()
        unit = "bar" if abs(grown) == 1 else "bars"
        lines.append(f"bars {score_a.bar_count()} -> {score_b.bar_count()} ({grown:+d} {unit})")
    by_track = changed_bars(score_a, score_b)
    for index, ta in enumerate(score_a.tracks[: len(score_b.tracks)]):
        changed = [bar + 1 for bar in by_track[index]]
        if changed:
            lines.append(f"track {index} ({ta.role}): notes changed in bars {_ranges(changed)}")
        if first.timbres.get(index) != second.timbres.get(index):
            lines.append(f"track {index} ({ta.role}): timbre {first.timbres[index].text!r} -> "
                         f"{second.timbres[index].text!r}")
    pruned = [v.id for v in (first, second) if v.pruned]
    if pruned:
        which = f"version {pruned[0]} was" if len(pruned) == 1 else f"versions {' and '.join(pruned)} were"
        lines.append(f"audio not compared: {which} pruned (check it out to render it again)")
        return lines
    n, longest = min(len(first.mix), len(second.mix)), max(len(first.mix), len(second.mix))
    # Samples only one version has (the song grew or shrank) count as changed.
    differs = np.concatenate([~np.all(first.mix[:n] == second.mix[:n], axis=1), np.ones(longest - n, dtype=bool)])
    if differs.any():
        changed_s = np.flatnonzero(differs)
        rate = first.sample_rate
        lines.append(f"audio differs from {changed_s[0] / rate:.2f} s to {(changed_s[-1] + 1) / rate:.2f} s "
                     f"({differs.mean():.0%} of samples); identical elsewhere")
    else:
        lines.append("audio identical")
    if len(first.mix) != len(second.mix):
        seconds_a, seconds_b = len(first.mix) / first.sample_rate, len(second.mix) / second.sample_rate
        lines.append(f"length {seconds_a:.2f} s -> {seconds_b:.2f} s ({seconds_b - seconds_a:+.2f} s)")
    return lines or ["no differences"]


def _ranges(bars: list[int]) -> str:
    out, start = [], bars[0]
    for previous, current in zip(bars, [*bars[1:], None], strict=True):
        if current != previous + 1:
            out.append(f"{start}" if start == previous else f"{start}-{previous}")
            if current is not None:
                start = current
    return ", ".join(out)
