"""What the structure model is conditioned on: the prompt's text states plus control tokens.

Control tokens carry exactly what the prompt parser reads from the prompt (tempo, key, mode, meter,
instruments, section plan) and the attributes it predicts (style, energy). Training builds the same
tokens from the corpus scores, dropping some at random so that any subset may be given at inference.
"""

from __future__ import annotations

import numpy as np
import torch

from melodex.score import MAX_BARS, MIN_BPM, ROLES, Score
from melodex.structure.model import (
    C_BARS,
    C_ENERGY,
    C_KEY,
    C_METER,
    C_MODE,
    C_NTRACKS,
    C_SECTION,
    C_STYLE,
    C_TEMPO,
    C_TRACK,
    MAX_CONTROLS,
    STYLES,
    Memory,
    StructureModel,
)
from melodex.text import encode_text
from melodex.tokens import SECTION_NAMES, Plan, TokenError, meter_index, section_base_name

ENERGY_LEVELS = ("calm", "moderate", "lively", "intense")


def style_index(style: str | None) -> int:
    if style is None:
        return 0
    if style not in STYLES:
        raise TokenError(f"style {style!r} is not one of {', '.join(STYLES[1:])}")
    return STYLES.index(style)


def energy_of(score: Score) -> int:
    """Energy bucket 0-3 from onsets per beat (all tracks) and mean velocity: what 'calm'/'intense' mean."""
    beats = max(score.end_tick / 480.0, 1.0)
    onsets = sum(len(np.unique(t.notes[:, 0])) for t in score.tracks if len(t.notes))
    velocities = np.concatenate([t.notes[:, 3] for t in score.tracks if len(t.notes)] or [np.array([80])])
    value = onsets / beats * (float(velocities.mean()) / 80.0)
    return int(np.digitize(value, (1.0, 2.2, 4.0)))


def controls_from_plan(plan: Plan, mode: str | None = None, style: str | None = None,
                       energy: int | None = None) -> np.ndarray:
    """Control tokens (n, 3) of (type, value, extra) for whatever the plan and attributes fix."""
    rows: list[tuple[int, int, int]] = []
    if plan.bpm is not None:
        rows.append((C_TEMPO, plan.bpm - MIN_BPM, 0))
    if plan.key is not None:
        rows.append((C_KEY, plan.key.index, 0))
        mode = plan.key.mode
    if mode is not None:
        rows.append((C_MODE, 0 if mode == "major" else 1, 0))
    if plan.meter is not None:
        rows.append((C_METER, meter_index(*plan.meter), 0))
    if plan.tracks is not None:
        rows.append((C_NTRACKS, len(plan.tracks), 0))
        rows += [(C_TRACK, program, ROLES.index(role)) for program, role in plan.tracks]
    if plan.sections is not None:
        rows += [(C_SECTION, SECTION_NAMES.index(section_base_name(name)), min(n, 64)) for name, n in plan.sections]
    if plan.n_bars is not None:
        rows.append((C_BARS, min(plan.n_bars, MAX_BARS), 0))
    if style is not None and style_index(style):
        rows.append((C_STYLE, style_index(style), 0))
    if energy is not None:
        if not 0 <= energy < len(ENERGY_LEVELS):
            raise TokenError(f"energy {energy} is not a level 0-{len(ENERGY_LEVELS) - 1}")
        rows.append((C_ENERGY, energy, 0))
    return np.array(rows[:MAX_CONTROLS], dtype=np.int64).reshape(-1, 3)


def stack_controls(controls: list[np.ndarray]) -> torch.Tensor:
    """Pad per-row control arrays into (B, C, 3); padding has type 0 and is masked out."""
    width = max(1, max(len(c) for c in controls))
    out = np.zeros((len(controls), width, 3), dtype=np.int64)
    for i, rows in enumerate(controls):
        out[i, : len(rows)] = rows
    return torch.from_numpy(out)


def build_memory(model: StructureModel, texts: list[str], controls: list[np.ndarray],
                 keep: torch.Tensor | None = None) -> Memory:
    """Memory for a batch of prompts; `keep` False rows are unconditional (CFG's second half)."""
    text = encode_text(texts)
    device = model.null_memory.device  # the text encoder runs on the CPU; the model may be on a GPU
    # The encoder runs in inference mode; clones are ordinary tensors that training may backpropagate past.
    return model.memory(text.states.clone().to(device), text.mask.clone().to(device),
                        stack_controls(controls).to(device), None if keep is None else keep.to(device))
