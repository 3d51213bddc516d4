"""The structure model's harmony frame: the chord, key and track roles each event is predicted in, and the
heads that score pitches and chords relative to them (a chord's root, the key's tonic) instead of absolutely.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from melodex.score import ROLES
from melodex.tokens import (
    CHORD,
    CHORD_QUALITIES,
    F_CHORD,
    F_KEY,
    F_KIND,
    F_ROLE,
    F_TRACK,
    FIELD_SIZES,
    KEY,
    NO_CHORD,
    NOTE,
    TRACK,
)


@dataclass
class HarmonyContext:
    """What the harmony heads read for each predicted event: the chord sounding (the last CHORD event so far,
    NO_CHORD before any), the key index (the last KEY event) and the role index of every track (-1: none)."""

    chord: torch.Tensor  # (...,) long
    key: torch.Tensor  # (...,) long
    track_roles: torch.Tensor  # (..., MAX_TRACKS) long


def harmony_context(events: torch.Tensor) -> HarmonyContext:
    """The `HarmonyContext` after each event of `events` (B, T, fields): position t is what predicts t + 1."""
    kind = events[..., F_KIND]
    b, t = kind.shape
    steps = torch.arange(t, device=events.device).expand(b, t)

    def last(of_kind: int, field_index: int, none: int) -> torch.Tensor:
        at = torch.where(kind == of_kind, steps, -1).cummax(dim=1).values
        value = events[..., field_index].gather(1, at.clamp(min=0))
        return torch.where(at >= 0, value, none)

    is_track = kind == TRACK
    order = (is_track.cumsum(1) - 1).clamp(min=0)  # the i-th TRACK event describes track i
    roles = torch.full((b, FIELD_SIZES["track"] + 1), -1, dtype=events.dtype, device=events.device)
    slot = torch.where(is_track, order.clamp(max=FIELD_SIZES["track"] - 1), FIELD_SIZES["track"])
    roles.scatter_(1, slot, torch.where(is_track, events[..., F_ROLE], -1))
    roles = roles[:, :-1, None].transpose(1, 2).expand(b, t, -1)  # header roles, seen from every position
    return HarmonyContext(last(CHORD, F_CHORD, NO_CHORD), last(KEY, F_KEY, -1), roles)


def note_roles(events: torch.Tensor, track_roles: torch.Tensor) -> torch.Tensor:
    """(B, T) the role index of each NOTE's track (-1 for every other event), from `HarmonyContext.track_roles`."""
    track = events[..., F_TRACK].clamp(0, track_roles.shape[-1] - 1)
    roles = track_roles.gather(-1, track[..., None]).squeeze(-1)
    return torch.where(events[..., F_KIND] == NOTE, roles, -1)


class HarmonyHeads(nn.Module):
    """Logits added to the pitch and chord heads in the frame of the harmony: the chord's root and the key.

    A note's pitch gets, for its interval class above the sounding chord's root, a term from the hidden state
    plus a learned table per (track role, chord quality), and likewise above the key's tonic per (role, mode);
    a chord gets a term for its root's interval above the tonic per (mode, quality). The transformer alone
    must find the bar's chord event and map its root through 128 absolute pitches, which the first model did
    not learn in ~3 M events (teacher-forced, 34% of a harmony note's probability on the chord's tones, the
    share a key-only model gives). In this frame "play the root" is one number per role and quality, the same
    in every key, so it is learnt from every example. All zero at start: an upgraded checkpoint decodes as
    before until it trains.
    """

    def __init__(self, d: int) -> None:
        super().__init__()
        n_roles, n_qualities = len(ROLES), len(CHORD_QUALITIES)
        self.norm = nn.LayerNorm(d)
        self.pitch_from_hidden = nn.Linear(d, 24)  # 12 chord-relative + 12 key-relative
        self.chord_from_hidden = nn.Linear(d, 12 * n_qualities)  # per (root above tonic, quality)
        self.pitch_chord = nn.Parameter(torch.zeros(n_roles, n_qualities, 12))
        self.pitch_key = nn.Parameter(torch.zeros(n_roles, 2, 12))
        self.chord_key = nn.Parameter(torch.zeros(2, 12, n_qualities))
        self.reset()

    def reset(self) -> None:
        """Every term zero: the heads add nothing until trained."""
        for parameter in (*self.pitch_from_hidden.parameters(), *self.chord_from_hidden.parameters(),
                          self.pitch_chord, self.pitch_key, self.chord_key):
            nn.init.zeros_(parameter)

    def pitch(self, x: torch.Tensor, chord: torch.Tensor, key: torch.Tensor, role: torch.Tensor) -> torch.Tensor:
        """(n, 128) logits for pitches, from x (n, d), chord values, key indices and track roles (n,)."""
        n_qualities = len(CHORD_QUALITIES)
        terms = self.pitch_from_hidden(self.norm(x))  # (n, 24)
        role = role.clamp(min=0)
        has_chord = chord < NO_CHORD
        root, quality = chord.clamp(max=NO_CHORD - 1) // n_qualities, chord.clamp(max=NO_CHORD - 1) % n_qualities
        tonic, mode = key.clamp(min=0) // 2, key.clamp(min=0) % 2
        pitches = torch.arange(128, device=x.device)
        above_root = (pitches[None, :] - root[:, None]) % 12
        above_tonic = (pitches[None, :] - tonic[:, None]) % 12
        by_chord = (terms[:, :12] + self.pitch_chord[role, quality]).gather(1, above_root)
        by_key = (terms[:, 12:] + self.pitch_key[role, mode]).gather(1, above_tonic)
        drums = role == ROLES.index("drums")
        return (by_chord * (has_chord & ~drums)[:, None] + by_key * ((key >= 0) & ~drums)[:, None])

    def chord(self, x: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """(n, NO_CHORD + 1) logits for chord values, from x (n, d) and key indices (n,)."""
        n_qualities = len(CHORD_QUALITIES)
        tonic, mode = key.clamp(min=0) // 2, key.clamp(min=0) % 2
        table = self.chord_from_hidden(self.norm(x)).view(-1, 12, n_qualities) + self.chord_key[mode]
        roots = torch.arange(12, device=x.device)
        above = ((roots[None, :] - tonic[:, None]) % 12)[:, :, None].expand(-1, -1, n_qualities)
        by_root = table.gather(1, above).reshape(-1, 12 * n_qualities) * (key >= 0)[:, None]
        return F.pad(by_root, (0, 1))  # NO_CHORD keeps the plain head's logit
