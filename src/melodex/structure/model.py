"""The structure model: a decoder-only transformer over compound events that writes whole arrangements.

One step = one event (a vector of fields, see `melodex.tokens`). The input is the sum of the embeddings
of the fields the event's kind carries, plus bar / beat / sub-beat embeddings; attention uses ALiBi and
cross-attends to a conditioning memory (projected MiniLM token states + control tokens). The output
predicts the kind first, then each field of that kind in `KIND_FIELDS` order, each conditioned on the
fields already chosen (Compound-Word style). A checkpoint is safetensors + config JSON + SHA-256.
The harmony frame the pitch and chord heads read is `melodex.structure.harmony`; decoding one event at a
time runs on `melodex.structure.kernels`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from melodex.checkpoint import read_config, read_weights, write_weights
from melodex.errors import MelodexError
from melodex.score import MAX_BARS, ROLES
from melodex.structure.harmony import HarmonyHeads, harmony_context, note_roles
from melodex.structure.kernels import KVCache, decode_step
from melodex.tokens import (
    F_CHORD,
    F_KIND,
    F_PITCH,
    F_POS,
    F_TRACK,
    FIELD_SIZES,
    FIELD_USE,
    FIELDS,
    KIND_FIELDS,
    METERS,
    POSITIONS_PER_QUARTER,
    SECTION_NAMES,
)

CHECKPOINT_VERSION = 1
# The style vocabulary of `melodex.brief` (kept here because it is part of the checkpoint's vocabulary).
STYLES = (
    "none", "synthwave", "lo-fi", "hip hop", "house", "pop", "rock", "jazz", "blues", "funk", "ambient",
    "cinematic", "classical", "chorale", "folk", "waltz", "march", "chiptune", "reggae", "country",
)
# Control token types. Each control is (type, value, extra); type 0 is padding.
C_PAD, C_TEMPO, C_KEY, C_MODE, C_METER, C_TRACK, C_SECTION, C_BARS, C_STYLE, C_ENERGY, C_NTRACKS = range(11)
CONTROL_VALUES = (1, 281, 24, 2, len(METERS), 129, len(SECTION_NAMES), MAX_BARS + 1, len(STYLES), 4, 17)
CONTROL_EXTRAS = (1, 1, 1, 1, 1, len(ROLES), 65, 1, 1, 1, 1)  # TRACK: role; SECTION: bars (clamped 64)
MAX_CONTROLS = 64
N_BEATS = 17  # quarter-note beat index inside a bar (16 max) + "no position"
N_SUBBEATS = POSITIONS_PER_QUARTER + 1


# The interval calibration's reach: -12..+12 semitones from a track's previous note, a wider leap counts as an octave.
MAX_INTERVAL = 12

@dataclass(frozen=True)
class StructureConfig:
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 768
    dropout: float = 0.1
    text_dim: int = 384
    max_bars: int = MAX_BARS + 1
    cond_dropout: float = 0.12  # probability of training a row unconditionally (for CFG)
    # Harmony-relative heads (see `HarmonyHeads`); False for checkpoints trained before them.
    harmony_heads: bool = False
    # Each note embedded with its track's role, and its pitch/length/velocity heads told it (see
    # `note_roles` and `StructureModel.role_embed_in`); False for checkpoints trained before.
    role_embedding: bool = False
    field_sizes: tuple[int, ...] = field(default_factory=lambda: tuple(FIELD_SIZES[f] for f in FIELDS))

    @classmethod
    def tiny(cls) -> StructureConfig:
        """A debug-sized model for tests."""
        return cls(d_model=32, n_layers=2, n_heads=2, d_ff=64, dropout=0.0)


# Which fields come before each field in its kind's order: the heads condition on exactly these.
_PREV = np.zeros((FIELD_USE.shape[0], len(FIELDS), len(FIELDS)), dtype=np.float32)
for _kind, _fields in KIND_FIELDS.items():
    for _i, _f in enumerate(_fields):
        _PREV[_kind, _f, list(_fields[:_i])] = 1.0


def alibi_slopes(n_heads: int) -> torch.Tensor:
    start = 2 ** (-8.0 / n_heads)
    return torch.tensor([start ** (i + 1) for i in range(n_heads)])


def hierarchical_positions(events: torch.Tensor, bars: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(bar, beat, sub-beat) ids of every event; events without a position get the 'none' ids."""
    kind = events[..., F_KIND]
    has_pos = torch.as_tensor(FIELD_USE[:, F_POS], device=events.device)[kind]
    pos = events[..., F_POS]
    beat = torch.where(has_pos, pos // POSITIONS_PER_QUARTER, N_BEATS - 1)
    sub = torch.where(has_pos, pos % POSITIONS_PER_QUARTER, N_SUBBEATS - 1)
    return bars.clamp(0, MAX_BARS), beat.clamp(0, N_BEATS - 1), sub


@dataclass
class Memory:
    """The conditioning memory for cross-attention: (B, M, d) states and a (B, M) mask of real entries."""

    states: torch.Tensor
    mask: torch.Tensor


class Block(nn.Module):
    def __init__(self, config: StructureConfig) -> None:
        super().__init__()
        d, self.n_heads = config.d_model, config.n_heads
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.cross_q = nn.Linear(d, d)
        self.cross_kv = nn.Linear(d, 2 * d)
        self.cross_proj = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, config.d_ff), nn.GELU(), nn.Linear(config.d_ff, d))
        self.drop = nn.Dropout(config.dropout)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2)

    def memory_kv(self, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.cross_kv(memory.states).chunk(2, dim=-1)
        return self.heads(k), self.heads(v)

    def forward(self, x: torch.Tensor, bias: torch.Tensor, mem_kv: tuple[torch.Tensor, torch.Tensor],
                mem_mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        attn = F.scaled_dot_product_attention(self.heads(q), self.heads(k), self.heads(v), attn_mask=bias)
        x = x + self.drop(self.proj(attn.transpose(1, 2).reshape(b, t, d)))
        q = self.heads(self.cross_q(self.ln2(x)))
        attn = F.scaled_dot_product_attention(q, *mem_kv, attn_mask=mem_mask[:, None, None, :])
        x = x + self.drop(self.cross_proj(attn.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.mlp(self.ln3(x)))


class StructureModel(nn.Module):
    # Buffers, declared so type checkers know them as tensors.
    slopes: torch.Tensor
    field_use: torch.Tensor
    prev_fields: torch.Tensor
    value_offsets: torch.Tensor
    extra_offsets: torch.Tensor

    def __init__(self, config: StructureConfig) -> None:
        super().__init__()
        self.config = config
        # Decoding calibration fitted after training (config.json "decoding"; see scripts/calibrate_degrees.py):
        # nats added to each scale degree's pitches, per mode (major, minor) x track group (melody-like, other).
        self.degree_bias: np.ndarray | None = None
        # Nats (<= 0) on a note of a melody-like track stacked on the previous note of that track (same
        # position): the model stacks notes in single-line melodies far more often than real ones do.
        self.stack_bias = 0.0
        # Nats for each interval -12..+12 semitones (wider leaps count as +-12) from the previous note of a
        # melody-like track: the model's melodies leap more often than real ones.
        self.interval_bias: np.ndarray | None = None
        d = config.d_model
        sizes = config.field_sizes
        self.field_embed = nn.ModuleList(nn.Embedding(n, d) for n in sizes)
        self.bar_embed = nn.Embedding(config.max_bars, d)
        self.beat_embed = nn.Embedding(N_BEATS, d)
        self.sub_embed = nn.Embedding(N_SUBBEATS, d)
        self.text_proj = nn.Sequential(nn.LayerNorm(config.text_dim), nn.Linear(config.text_dim, d))
        self.control_type = nn.Embedding(len(CONTROL_VALUES), d)
        self.control_value = nn.Embedding(sum(CONTROL_VALUES), d)
        self.control_extra = nn.Embedding(sum(CONTROL_EXTRAS), d)
        self.control_slot = nn.Embedding(MAX_CONTROLS, d)
        self.null_memory = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.layers: list[Block] = [cast(Block, block) for block in self.blocks]
        self.ln_out = nn.LayerNorm(d)
        # Heads: kind from the hidden state; every other field from hidden + kind + fields chosen so far.
        self.kind_head = nn.Linear(d, sizes[F_KIND])
        self.out_embed = nn.ModuleList(nn.Embedding(n, d) for n in sizes)
        self.field_query = nn.Embedding(len(sizes), d)
        self.field_mlp = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        self.field_heads = nn.ModuleList(nn.Linear(d, n) for n in sizes)
        self.harmony = HarmonyHeads(d) if config.harmony_heads else None
        # The role of a note's track is written once, in the header, hundreds of events back; a note that
        # must find it by attention forgets it (drum tracks drifted into melodic runs on pitches 53-64, the
        # bass climbed into the melody's register). So every note carries it: `role_embed_in` in the trunk's
        # input, `role_embed_out` beside the chosen track in the heads. Zero at start (see `with_role_embedding`).
        self.role_embed_in = nn.Embedding(len(ROLES), d) if config.role_embedding else None
        self.role_embed_out = nn.Embedding(len(ROLES), d) if config.role_embedding else None
        self.register_buffer("slopes", alibi_slopes(config.n_heads), persistent=False)
        self.register_buffer("field_use", torch.as_tensor(FIELD_USE), persistent=False)
        self.register_buffer("prev_fields", torch.as_tensor(_PREV), persistent=False)
        self.register_buffer("value_offsets", torch.tensor(np.cumsum((0, *CONTROL_VALUES[:-1]))), persistent=False)
        self.register_buffer("extra_offsets", torch.tensor(np.cumsum((0, *CONTROL_EXTRAS[:-1]))), persistent=False)
        self.apply(self._init)
        if self.harmony is not None:
            self.harmony.reset()  # zero again after the generic init
        for table in (self.role_embed_in, self.role_embed_out):
            if table is not None:
                nn.init.zeros_(table.weight)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- conditioning -----------------------------------------------------------------------------

    def memory(self, text_states: torch.Tensor, text_mask: torch.Tensor, controls: torch.Tensor,
               keep: torch.Tensor | None = None) -> Memory:
        """Memory from text states (B, T, 384) and controls (B, C, 3) of (type, value, extra).

        `keep` (B,) False makes a row unconditional: only the learned null entry stays visible.
        """
        b = text_states.shape[0]
        kinds, values, extras = controls.unbind(-1)
        slots = torch.arange(controls.shape[1], device=controls.device).clamp(max=MAX_CONTROLS - 1)
        control_states = (self.control_type(kinds) + self.control_value(self.value_offsets[kinds] + values)
                          + self.control_extra(self.extra_offsets[kinds] + extras) + self.control_slot(slots))
        states = torch.cat([self.null_memory.expand(b, 1, -1), self.text_proj(text_states), control_states], 1)
        mask = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=states.device), text_mask.bool(),
                          kinds != C_PAD], 1)
        if keep is not None:
            mask = mask & torch.cat([torch.ones_like(keep[:, None]), keep[:, None].expand(-1, mask.shape[1] - 1)], 1)
        return Memory(states, mask)

    # -- the trunk --------------------------------------------------------------------------------

    def embed(self, events: torch.Tensor, bars: torch.Tensor) -> torch.Tensor:
        use = self.field_use[events[..., F_KIND]]  # (B, T, fields)
        x = sum(self.field_embed[f](events[..., f]) * use[..., f, None] for f in range(len(FIELDS)))
        x = cast(torch.Tensor, x) + self.position_embedding(events, bars)
        if self.role_embed_in is None:
            return x
        return x + self.role_input(note_roles(events, harmony_context(events).track_roles))

    def position_embedding(self, events: torch.Tensor, bars: torch.Tensor) -> torch.Tensor:
        """The trunk's input term for where each event is: its bar, beat and sub-beat."""
        bar, beat, sub = hierarchical_positions(events, bars)
        return self.bar_embed(bar) + self.beat_embed(beat) + self.sub_embed(sub)

    def role_input(self, roles: torch.Tensor) -> torch.Tensor:
        """The trunk's input term for events whose track has role `roles` (-1: not a note; 0 without the table)."""
        if self.role_embed_in is None:
            return torch.zeros((), device=roles.device)
        return self.role_embed_in(roles.clamp(min=0)) * (roles >= 0)[..., None]

    def role_choice(self, roles: torch.Tensor) -> torch.Tensor:
        """The heads' term for a note whose track (just chosen) has role `roles` (0 without the table)."""
        if self.role_embed_out is None:
            return torch.zeros((), device=roles.device)
        return self.role_embed_out(roles.clamp(min=0))

    def alibi(self, t_query: int, t_key: int, offset: int = 0) -> torch.Tensor:
        """(H, Tq, Tk) bias: -slope * distance, and -inf on future keys."""
        q = torch.arange(t_query, device=self.slopes.device)[:, None] + offset
        k = torch.arange(t_key, device=self.slopes.device)[None, :]
        distance = (q - k).float()
        bias = -self.slopes[:, None, None] * distance.clamp(min=0)
        return bias.masked_fill(distance < 0, float("-inf"))

    def hidden(self, events: torch.Tensor, bars: torch.Tensor, memory: Memory) -> torch.Tensor:
        x = self.embed(events, bars)
        bias = self.alibi(x.shape[1], x.shape[1])[None]
        for block in self.layers:
            x = block(x, bias, block.memory_kv(memory), memory.mask)
        return self.ln_out(x)

    # -- heads ------------------------------------------------------------------------------------

    def choice_embedding(self, field_index: int, value: int) -> torch.Tensor:
        """The output-side embedding of a chosen field value (conditions the event's later fields)."""
        return cast(nn.Embedding, self.out_embed[field_index]).weight[value]

    def field_logits(self, x: torch.Tensor, field_index: int) -> torch.Tensor:
        """Logits of one field from x = hidden + kind + chosen-field embeddings.

        `field_mlp` then the field's head, as functional calls: decoding calls this ~5 times per event.
        """
        norm, first, _, second = cast(tuple[nn.LayerNorm, nn.Linear, nn.GELU, nn.Linear], tuple(self.field_mlp))
        head = cast(nn.Linear, self.field_heads[field_index])
        x = F.layer_norm(x + self.field_query.weight[field_index], norm.normalized_shape, norm.weight, norm.bias)
        x = F.linear(F.gelu(F.linear(x, first.weight, first.bias)), second.weight, second.bias)
        return F.linear(x, head.weight, head.bias)

    def harmony_logits(self, x: torch.Tensor, field_index: int, chord: torch.Tensor, key: torch.Tensor,
                       role: torch.Tensor) -> torch.Tensor:
        """The harmony heads' logits for the pitch or chord field (zeros without harmony heads)."""
        if self.harmony is None:
            return torch.zeros(x.shape[0], self.config.field_sizes[field_index])
        if field_index == F_PITCH:
            return self.harmony.pitch(x, chord, key, role)
        return self.harmony.chord(x, key)

    def field_nll(self, events: torch.Tensor, bars: torch.Tensor, memory: Memory) -> dict[str, torch.Tensor]:
        """Teacher-forced NLL of every target event, field by field: {field name: (B, T - 1)} in nats, zero
        where the target's kind does not use the field (position t predicts event t + 1)."""
        h = self.hidden(events[:, :-1], bars[:, :-1], memory)
        target = events[:, 1:]
        kind = target[..., F_KIND]
        shape = kind.shape
        out = {FIELDS[F_KIND]: F.cross_entropy(self.kind_head(h).flatten(0, 1), kind.flatten(),
                                               reduction="none").view(shape)}
        # Embeddings of every target field, for conditioning the later fields of the same event.
        chosen = torch.stack([self.out_embed[f](target[..., f]) for f in range(len(FIELDS))], dim=2)
        base = h + self.out_embed[F_KIND](kind)
        context = harmony_context(events[:, :-1])
        target_roles = note_roles(target, context.track_roles).flatten()
        for f in range(1, len(FIELDS)):
            sel = self.field_use[kind, f].flatten().nonzero().squeeze(1)
            if sel.numel() == 0:
                continue
            prev = self.prev_fields[kind.flatten()[sel], f]  # (n, fields)
            x = base.flatten(0, 1)[sel] + torch.einsum("nf,nfd->nd", prev, chosen.flatten(0, 1)[sel])
            roles = target_roles[sel]
            if self.role_embed_out is not None:
                x = x + self.role_choice(roles) * prev[:, F_TRACK, None]  # once the track is chosen
            logits = self.field_logits(x, f)
            if self.harmony is not None and f in (F_PITCH, F_CHORD):
                logits = logits + self.harmony_logits(x, f, context.chord.flatten()[sel],
                                                      context.key.flatten()[sel], roles)
            field = torch.zeros(kind.numel(), dtype=logits.dtype, device=logits.device)
            field[sel] = F.cross_entropy(logits, target[..., f].flatten()[sel], reduction="none")
            out[FIELDS[f]] = field.view(shape)
        return out

    def loss(self, events: torch.Tensor, bars: torch.Tensor, memory: Memory,
             weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Next-event NLL (nats per event, summed over the event's fields) with teacher forcing.

        events (B, T, fields): position t predicts event t + 1. `weights` (B, T) marks which targets count
        (0 for padding and for the kept header of a window).
        """
        fields = self.field_nll(events, bars, memory)
        valid = (weights[:, 1:] if weights is not None else torch.ones_like(events[:, 1:, 0])).float()
        count = valid.sum().clamp(min=1)
        parts = {name: float((nll.detach() * valid).sum() / count) for name, nll in fields.items()}
        mean = (sum(fields.values()) * valid).sum() / count
        parts["nll"] = float(mean.detach())
        return mean, parts

    # -- incremental decoding (the kernels are in `melodex.structure.kernels`) ----------------------

    def new_cache(self, batch: int, capacity: int, memory: Memory, quantized: bool = True) -> KVCache:
        """A decoding cache; `quantized` reads the block weights as int8 (see `Int8Linear`), else float32."""
        return KVCache(self, batch, capacity, memory, quantized)

    def step(self, events: torch.Tensor, bars: torch.Tensor, cache: KVCache,
             roles: torch.Tensor | None = None) -> torch.Tensor:
        """Feed events (B, T, fields) at the cache's current length; return the last hidden state (B, d).
        The same function as `hidden`, one event at a time: see `decode_step`."""
        return decode_step(self, events, bars, cache, roles)


    # -- checkpoints ------------------------------------------------------------------------------

    def save(self, directory: str | Path, metadata: dict | None = None) -> Path:
        """Write model.safetensors, config.json (with the weights' SHA-256) into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        digest = write_weights(self.state_dict(), directory / "model.safetensors")
        config = {"version": CHECKPOINT_VERSION, "config": asdict(self.config), "sha256": digest,
                  "metadata": metadata or {}}
        (directory / "config.json").write_text(json.dumps(config, indent=1))
        (directory / "model.sha256").write_text(f"{digest}  model.safetensors\n")
        return directory


def load_model(directory: str | Path) -> StructureModel:
    """Rebuild a model from config.json and load model.safetensors after checking its SHA-256."""
    directory = Path(directory)
    config_path, weights = directory / "config.json", directory / "model.safetensors"
    if not config_path.exists() or not weights.exists():
        raise MelodexError(f"no structure checkpoint in {directory} (needs config.json and model.safetensors)")
    meta = read_config(config_path, "structure checkpoint", CHECKPOINT_VERSION, "retrain or use a matching melodex")
    tensors = read_weights(weights, meta.get("sha256", ""), "re-copy the weights")
    values = dict(meta["config"])
    values["field_sizes"] = tuple(values["field_sizes"])
    model = StructureModel(StructureConfig(**values))
    model.load_state_dict(tensors)
    model.eval()
    decoding = meta.get("decoding", {})
    if "degree_bias" in decoding:
        table = np.asarray(decoding["degree_bias"], dtype=np.float64)
        if table.shape != (2, 2, 12) or not np.isfinite(table).all():
            raise MelodexError(f"{config_path}: decoding.degree_bias must be 2 x 2 x 12 finite numbers")
        model.degree_bias = table
    if "stack_bias" in decoding:
        stack = decoding["stack_bias"]
        if not isinstance(stack, int | float) or not -20 <= stack <= 0:
            raise MelodexError(f"{config_path}: decoding.stack_bias must be a number of nats from -20 to 0")
        model.stack_bias = float(stack)
    if "interval_bias" in decoding:
        intervals = np.asarray(decoding["interval_bias"], dtype=np.float64)
        if intervals.shape != (2 * MAX_INTERVAL + 1,) or not np.isfinite(intervals).all():
            raise MelodexError(f"{config_path}: decoding.interval_bias must be {2 * MAX_INTERVAL + 1} finite numbers "
                               f"(-{MAX_INTERVAL}..+{MAX_INTERVAL} semitones)")
        model.interval_bias = intervals
    return model


def with_harmony_heads(model: StructureModel) -> StructureModel:
    """The same model with (zero) harmony heads added: it decodes exactly as before until trained."""
    if model.harmony is not None:
        return model
    return _upgraded(model, "harmony.", replace(model.config, harmony_heads=True))


def with_role_embedding(model: StructureModel) -> StructureModel:
    """The same model with (zero) note-role tables added: it decodes exactly as before until trained."""
    if model.role_embed_in is not None:
        return model
    return _upgraded(model, "role_embed_", replace(model.config, role_embedding=True))


def _upgraded(model: StructureModel, new_prefix: str, config: StructureConfig) -> StructureModel:
    """`model` in `config`, every weight kept; the modules `config` adds (named `new_prefix`...) zero."""
    upgraded = StructureModel(config)
    missing, unexpected = upgraded.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(name.startswith(new_prefix) for name in missing), (missing, unexpected)
    upgraded.degree_bias, upgraded.stack_bias, upgraded.interval_bias = (
        model.degree_bias, model.stack_bias, model.interval_bias)
    return upgraded


def checkpoint_metadata(directory: str | Path) -> dict:
    return json.loads((Path(directory) / "config.json").read_text()).get("metadata", {})
