"""The Python API: a `Pipeline` of models makes a `Song` in memory from a prompt; edits make new Songs.

    pipe = melodex.load()                 # the shipped models, or Pipeline(structure, timbre) with your own
    song = pipe("warm synthwave, 100 BPM, F minor, verse 8, chorus 8")   # mix, stems by track, score, seeds
    song.regen("chorus").save("out/synthwave")   # files and a project holding both versions

The steps themselves are `melodex.pipeline` (making) and `melodex.edit` (changing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, overload

import numpy as np

from melodex import brief as brief_mod
from melodex import edit as edits
from melodex import edit_requests as requests
from melodex.errors import MelodexError
from melodex.pipeline import (
    GenerateOptions,
    Models,
    Progress,
    StageClock,
    Take,
    load_models,
    make_song,
    seed_for,
    shipped,
    write_project,
)
from melodex.score import Score


@dataclass(frozen=True)
class Pipeline(Models):
    """Models that make songs: `pipe(prompt, options)` composes and renders a `Song` in memory."""

    @overload
    def __call__(self, prompt: str, options: GenerateOptions | None = None, *, seed: int | None = None,
                 progress: Progress | None = None) -> Song: ...

    @overload
    def __call__(self, prompt: str | list[str], options: GenerateOptions | None = None, *,
                 seeds: Sequence[int], progress: Progress | None = None) -> list[Song]: ...

    @overload
    def __call__(self, prompt: list[str], options: GenerateOptions | None = None, *, seed: int | None = None,
                 progress: Progress | None = None) -> list[Song]: ...

    def __call__(self, prompt: str | list[str], options: GenerateOptions | None = None, *,
                 seed: int | None = None, seeds: Sequence[int] | None = None,
                 progress: Progress | None = None) -> Song | list[Song]:
        """One song; or a list, given a list of prompts or `seeds`: every prompt with every seed, in that order
        (as `melodex batch` makes them). Each song is seeded on its own, so a batch gives exactly the songs
        single calls give. `seed` overrides the options' one seed."""
        if isinstance(seed, list | tuple) or isinstance(seeds, int):
            raise MelodexError("seed= takes one seed and seeds= a list of them, e.g. seeds=[0, 1, 2]")
        if seed is not None and seeds is not None:
            raise MelodexError("give seed= (one seed) or seeds= (a list), not both")
        options = options or GenerateOptions()
        if seed is not None:
            options = replace(options, seed=seed)
        if isinstance(prompt, str) and seeds is None:
            return self.song(prompt, options, progress)
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        seed_list = [options.seed] if seeds is None else list(seeds)
        if not prompts or not seed_list:
            raise MelodexError("give at least one prompt and one seed")
        return [self.song(text, replace(options, seed=value), progress) for text in prompts for value in seed_list]

    def song(self, prompt: str, options: GenerateOptions, progress: Progress | None = None) -> Song:
        clock = StageClock(progress)
        brief, take, notes = make_song(prompt, options, self, clock)
        return Song(prompt, brief, options, take, self, notes=notes, seconds=dict(clock.seconds))


def load(weights: str | Path | None = None) -> Pipeline:
    """A `Pipeline` with the models in `weights` (default: `pipeline.shipped()`, the shipped ones or
    those in $MELODEX_WEIGHTS, loaded once per process), SHA-256 checked. The structure model must load; a
    timbre model that does not leaves the SoundFont playing, and the songs say why."""
    models = load_models(weights) if weights is not None else shipped()
    return Pipeline(models.structure, models.timbre, models.timbre_missing, models.versions)


@dataclass(frozen=True)
class Song:
    """A made song in memory: its mix, stems by track, score and seeds. Edits return new Songs (their
    `parent` is the song they changed); `save` writes the files and a project holding the whole history."""

    prompt: str
    brief: brief_mod.Brief
    options: GenerateOptions
    take: Take
    models: Models
    edit: str = "generate"
    parent: Song | None = None
    request: dict[str, Any] | None = None  # the edit request that made it from `parent` (`melodex.edit_requests`)
    notes: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def mix(self) -> np.ndarray:
        return self.take.mix

    @property
    def stems(self) -> dict[int, np.ndarray]:
        """Track index -> processed stereo stem."""
        return self.take.stems

    @property
    def score(self) -> Score:
        return self.take.score

    @property
    def sample_rate(self) -> int:
        return self.take.sample_rate

    @property
    def seeds(self) -> dict[str, Any]:
        """The seeds every random choice took: the options' seed, composition's, and each track's timbre."""
        return {"seed": self.options.seed, "compose": seed_for(self.options.seed, "compose"),
                "timbres": {i: t.seed for i, t in self.take.timbres.items()}}

    def history(self) -> list[Song]:
        """This song and the songs it was edited from, oldest first."""
        chain: list[Song] = []
        song: Song | None = self
        while song is not None:
            chain.append(song)
            song = song.parent
        return chain[::-1]

    def save(self, directory: str | Path, formats: tuple[str, ...] | None = None) -> dict[str, Path]:
        """Write the mix (each format), stems, MIDI and a `song.melodex` project with every version of
        `history()` into `directory`; refuses a folder that already holds a project."""
        takes = [(song.take, song.edit, song.request) for song in self.history()]
        export = replace(self.options.export, formats=formats) if formats else self.options.export
        return write_project(Path(directory), self.prompt, self.brief, self.models.versions, takes, export)

    def _edited(self, request: requests.EditRequest) -> Song:
        draft = edits.Draft(self.take, self.brief, self.options, pipe=self.models, made=len(self.history()))
        label = requests.apply(draft, request)
        return Song(self.prompt, self.brief, draft.options, draft.take, self.models, label, self,
                    request=draft.request)

    def regen(self, section: str | None = None, *, bars: str | None = None, tracks: Sequence[str] | None = None,
              seed: int | None = None) -> Song:
        """New notes for one section and its linked repeats (or bars "5:8", counted from 1), of the named
        tracks only if any."""
        return self._edited(requests.Regen(section, bars, tuple(tracks or ()), seed=seed))

    def retimbre(self, track: str | int, text: str, seed: int | None = None) -> Song:
        """A new sound from words for one track (number from 1, role or instrument); its notes stay."""
        return self._edited(requests.Retimbre(str(track), text, seed))

    def variation(self, strength: float = 0.3, seed: int | None = None) -> Song:
        return self._edited(requests.Variation(strength, seed))

    def extend(self, bars: int = 8, seed: int | None = None) -> Song:
        return self._edited(requests.Extend(bars, seed=seed))

    def rerender(self, cfg: float | None = None, steps: int | None = None) -> Song:
        return self._edited(requests.Rerender(cfg, steps))

    def set_tempo(self, bpm: float) -> Song:
        return self._edited(requests.SetTempo(bpm))

    def transpose(self, semitones: int) -> Song:
        return self._edited(requests.Transpose(semitones))
