"""Edits as frozen requests, run by one `apply`: what the CLI, the HTTP API and `melodex.Song` build.

A request holds what was asked (names as the user wrote them, a seed or none); `apply` opens the
project under its write lock, resolves names against the version's score, picks the seed and runs
the edit. The request's JSON is recorded in the version it makes, so the history says exactly what
was asked, and an API body maps onto it field for field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import TypeAdapter, ValidationError

from melodex import edit_notes, edit_sound
from melodex.edit_session import Draft, editing
from melodex.errors import MelodexError
from melodex.pipeline import Progress


@dataclass(frozen=True)
class Regen:
    """New notes for a section and its linked repeats (or for bars "5:8", counted from 1), of the named
    tracks only if any. `only` rewrites just that occurrence of a repeated section and unlinks it."""

    kind: ClassVar[str] = "regen"
    section: str | None = None
    bars: str | None = None
    tracks: tuple[str, ...] = ()
    only: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.section is None and self.bars is None:
            raise MelodexError("say what to rewrite: a section (e.g. chorus) or bars (e.g. 5:8)")
        if self.section is not None and self.bars is not None:
            raise MelodexError("give a section (e.g. chorus) or bars (e.g. 5:8), not both")
        if self.only and self.section is None:
            raise MelodexError("only goes with a section (e.g. 'chorus 2'), not with bars")

    def run(self, draft: Draft) -> str:
        span, tracks, _ = edit_notes.regen_target(draft.score, self.section, self.bars, self.tracks)
        seed = draft.next_seed(self.seed)
        bars = f"bar {span[1]}" if span[1] - span[0] == 1 else f"bars {span[0] + 1}-{span[1]}"  # as the studio says
        what = self.section + (" only" if self.only else "") if self.section else bars
        label = f"regen {what}" + (f" tracks {', '.join(self.tracks)}" if self.tracks else "")
        if self.section is not None:
            return edit_notes.regen_section(draft, self.section, tracks, seed, label, self.only)
        return edit_notes.regen(draft, span, tracks, seed, label)


@dataclass(frozen=True)
class Rechord:
    """New chords for a section and its repeats ("Am F C G", one a bar and cycled; "Am F | C G" for two
    a bar); its pitched parts are rewritten around them."""

    kind: ClassVar[str] = "rechord"
    section: str
    chords: str
    seed: int | None = None

    def run(self, draft: Draft) -> str:
        return edit_notes.rechord(draft, self.section, self.chords, draft.next_seed(self.seed),
                            f"rechord {self.section} {self.chords}")


@dataclass(frozen=True)
class Retimbre:
    """A new sound from words for one track (number from 1, role or instrument); its notes stay."""

    kind: ClassVar[str] = "retimbre"
    track: str
    text: str
    seed: int | None = None

    def run(self, draft: Draft) -> str:
        (index,) = edit_notes.pick_tracks(draft.score, [self.track])[:1]
        return edit_sound.retimbre(draft, index, self.text, draft.next_seed(self.seed))


@dataclass(frozen=True)
class Variation:
    """Same plan, new material: `strength` is the share of bars rewritten (1 composes the song anew)."""

    kind: ClassVar[str] = "variation"
    strength: float = 0.3
    seed: int | None = None

    def run(self, draft: Draft) -> str:
        return edit_notes.variation(draft, self.strength, draft.next_seed(self.seed))


@dataclass(frozen=True)
class Extend:
    """More bars at the end, written as a continuation: `bars` of them, or as many as `seconds` take at
    the song's closing tempo and meter (neither: 8)."""

    kind: ClassVar[str] = "extend"
    bars: int | None = None
    seconds: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.bars is not None and self.seconds is not None:
            raise MelodexError("give bars or a duration in seconds, not both")

    def run(self, draft: Draft) -> str:
        from melodex.brief_form import bars_for_seconds

        count = 8 if self.bars is None else self.bars
        if self.seconds is not None:
            score = draft.score
            meter = score.time_signatures[-1]
            count = bars_for_seconds(self.seconds, score.tempos[-1].bpm, (meter.numerator, meter.denominator))
        return edit_notes.extend(draft, count, draft.next_seed(self.seed))


@dataclass(frozen=True)
class Rerender:
    """Every timbre made again from its own seed at another guidance or step count (None: as before)."""

    kind: ClassVar[str] = "rerender"
    cfg: float | None = None
    steps: int | None = None

    def run(self, draft: Draft) -> str:
        return edit_sound.rerender(draft, self.cfg, self.steps)


@dataclass(frozen=True)
class SetTempo:
    """The same notes at another tempo."""

    kind: ClassVar[str] = "tempo"
    bpm: float

    def run(self, draft: Draft) -> str:
        return edit_sound.set_tempo(draft, self.bpm)


@dataclass(frozen=True)
class Transpose:
    """The whole song moved by `semitones` (drums stay)."""

    kind: ClassVar[str] = "transpose"
    semitones: int

    def run(self, draft: Draft) -> str:
        return edit_sound.transpose(draft, self.semitones)


EditRequest = Regen | Rechord | Retimbre | Variation | Extend | Rerender | SetTempo | Transpose
REQUESTS: dict[str, type[EditRequest]] = {r.kind: r for r in (Regen, Rechord, Retimbre, Variation, Extend, Rerender,
                                                               SetTempo, Transpose)}


def apply(target: str | Path | Draft, request: EditRequest, report: Progress | None = None) -> str:
    """Run `request` on a project (its path: opened at the current version under the write lock) or on an
    open session or in-memory draft; returns the new version's id (a draft's: the edit's label).

    `report` hears (stage, share done) as the edit runs.
    """
    if isinstance(target, Draft):
        return _run(target, request, report)
    with editing(target, progress=report) as session:
        return _run(session, request, report)


def _run(draft: Draft, request: EditRequest, report: Progress | None) -> str:
    if report is not None:
        draft.progress = report
    draft.request = request_to_json(request)
    return request.run(draft)


def request_to_json(request: EditRequest) -> dict[str, Any]:
    """{"edit": kind, field: value, ...}: what the version records and what `request_from_json` reads."""
    fields = {f.name: getattr(request, f.name) for f in dataclasses.fields(request)}
    return {"edit": request.kind, **{k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}}


def request_from_json(data: Any) -> EditRequest:
    """The request a `request_to_json` table (or an HTTP body with its "edit") describes; MelodexError for an
    unknown edit, a field it does not take, or a value of the wrong type."""
    if not isinstance(data, dict) or data.get("edit") not in REQUESTS:
        raise MelodexError(f"an edit request names its edit ({', '.join(REQUESTS)}) under \"edit\", not "
                           f"{data!r:.80}")
    cls = REQUESTS[data["edit"]]
    names = {f.name for f in dataclasses.fields(cls)}
    extra = sorted(set(data) - names - {"edit"})
    if extra:
        raise MelodexError(f"{cls.kind} takes {', '.join(sorted(names)) or 'nothing'}, not {', '.join(extra)}")
    try:
        return TypeAdapter(cls).validate_python({k: v for k, v in data.items() if k != "edit"})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or cls.kind}: {e['msg']}" for e in exc.errors()[:3])
        raise MelodexError(f"{cls.kind}: {problems}") from exc
