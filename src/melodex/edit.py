"""Editing a project: every edit reads a version, changes one thing, and saves a new version.

Note edits (regen, variation, extend) rewrite chosen bars of chosen tracks with the structure model's
infilling and keep every other note; the new audio is spliced in so that every sample outside the
edited bars stays exactly as it was. Sound edits (retimbre, rerender) keep the notes and change sample
sets. Tempo and transposition change the whole performance, so they re-render everything.

The names live in the modules along those seams; this one gathers them, so `melodex.edit.X` is every
edit name: the session (`edit_session`), splicing and rendering (`edit_render`), note edits
(`edit_notes`), sound edits (`edit_sound`), comparing versions (`edit_diff`) and the requests that
the CLI, the HTTP API and `melodex.Song` build (`edit_requests`).
"""

from __future__ import annotations

from melodex.edit_diff import changed_bars, diff, diff_pair
from melodex.edit_notes import (
    bars_of_section,
    chord_progression,
    chords_by_bar,
    extend,
    parse_bars,
    pick_tracks,
    rechord,
    regen,
    regen_section,
    regen_target,
    section_links,
    variation,
)
from melodex.edit_render import (
    SPLICE_FADE_S,
    WARMUP_S,
    missing_samplesets,
    mix_settings,
    render_span,
    rerender_take,
    sample_span,
    save_rewritten_bars,
    splice,
)
from melodex.edit_requests import (
    REQUESTS,
    EditRequest,
    Extend,
    Rechord,
    Regen,
    Rerender,
    Retimbre,
    SetTempo,
    Transpose,
    Variation,
    apply,
    request_from_json,
    request_to_json,
)
from melodex.edit_session import (
    Draft,
    Session,
    check_out,
    editing,
    locate_project,
    next_seed,
    open_session,
    redo_target,
    replay,
    save,
    undo_target,
)
from melodex.edit_sound import rerender, retimbre, set_tempo, transpose

__all__ = [
    "REQUESTS", "SPLICE_FADE_S", "WARMUP_S", "Draft", "EditRequest", "Extend", "Rechord", "Regen", "Rerender",
    "Retimbre", "Session", "SetTempo", "Transpose", "Variation", "apply", "bars_of_section", "changed_bars",
    "check_out", "chord_progression", "chords_by_bar", "diff", "diff_pair", "editing", "extend", "locate_project",
    "missing_samplesets", "mix_settings", "next_seed", "open_session", "parse_bars", "pick_tracks", "rechord",
    "redo_target", "regen", "regen_section", "regen_target", "render_span", "replay", "request_from_json",
    "request_to_json", "rerender", "rerender_take", "retimbre", "sample_span", "save", "save_rewritten_bars",
    "section_links", "set_tempo", "splice", "transpose", "undo_target", "variation",
]
