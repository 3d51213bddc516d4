"""The structure model's decoding kernels: one event at a time over a preallocated KV cache.

Decoding is bound by op count and weight reads, not by arithmetic, so the step is written apart from the
network (`melodex.structure.model`, which trains and teacher-forces): block weights read as int8, the
cross-attention to the fixed memory folded into two products, attention by hand at one query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from melodex.errors import MelodexError
from melodex.tokens import F_KIND

if TYPE_CHECKING:  # the network imports this module; these names are only its types here
    from melodex.structure.model import Block, Memory, StructureModel


class FoldedCrossAttention:
    """One block's cross-attention to a fixed memory, folded into two matrix products per step.

    With the memory fixed for a whole decode, the per-head scores q.k = (W_q h + b_q).k are one linear map
    of h (`keys`: the memory keys through W_q, pre-scaled; `offset`: through b_q, with -inf on masked
    entries), and the output projection of the values is folded into `values` (the memory values through
    W_o). Three linear layers and an attention call become two batched products and a softmax; the result
    equals the block's cross-attention to float rounding (tested).
    """

    def __init__(self, block: Block, memory: Memory) -> None:
        b, m, d = memory.states.shape
        n_heads = block.n_heads
        head = d // n_heads
        memory_k, memory_v = block.memory_kv(memory)  # (B, H, M, head)
        w_q = block.cross_q.weight.view(n_heads, head, d)
        scale = head ** -0.5
        self.keys = torch.einsum("bhmk,hkd->bdhm", memory_k, w_q).reshape(b, d, n_heads * m) * scale
        offset = torch.einsum("bhmk,hk->bhm", memory_k, block.cross_q.bias.view(n_heads, head)) * scale
        self.offset = offset.masked_fill(~memory.mask[:, None, :], float("-inf")).reshape(b, 1, n_heads * m)
        w_o = block.cross_proj.weight.view(d, n_heads, head)
        self.values = torch.einsum("bhmk,dhk->bhmd", memory_v, w_o).reshape(b, n_heads * m, d)
        self.out_bias = block.cross_proj.bias
        self.n_heads, self.slots = n_heads, m

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        """Cross-attention output (B, T, d) for layer-normed states h (B, T, d)."""
        b, t, _ = h.shape
        scores = torch.baddbmm(self.offset, h, self.keys).view(b, t, self.n_heads, self.slots)
        weights = torch.softmax(scores, dim=-1).view(b, t, -1)
        return torch.baddbmm(self.out_bias, weights, self.values)


class Int8Linear:
    """A linear layer read as int8 weights (one scale per output channel) times bf16 activations.

    Decoding one event at a time is bound by reading the block weights (12 MB in float32 per step for the
    shipped model); weight-only int8 reads a quarter of that and the step runs ~1.5x faster. The
    next-event distributions move by ~3e-5 nats per event (KL, on 60 s arrangements), against a
    held-out NLL of ~3 nats: see docs/RESULTS_structure.md. Written by hand around the ATen kernel
    that torchao's int8 weight-only mode uses, to avoid a dependency for one product.
    """

    def __init__(self, layer: nn.Linear) -> None:
        weight = layer.weight.detach()
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127
        self.weight = torch.round(weight / scale[:, None]).to(torch.int8)
        self.scale = scale.to(torch.bfloat16)
        self.bias = layer.bias.detach()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)
        out = torch.ops.aten._weight_int8pack_mm(flat, self.weight, self.scale)
        return out.float().view(*x.shape[:-1], -1) + self.bias


def _float_linear(layer: nn.Linear) -> Callable[[torch.Tensor], torch.Tensor]:
    return partial(F.linear, weight=layer.weight, bias=layer.bias)


HAS_INT8_KERNEL = hasattr(torch.ops.aten, "_weight_int8pack_mm")


@dataclass
class DecodingLayer:
    """One block's weights as decoding reads them: the four big products, and the folded cross-attention."""

    qkv: Callable[[torch.Tensor], torch.Tensor]
    proj: Callable[[torch.Tensor], torch.Tensor]
    mlp_in: Callable[[torch.Tensor], torch.Tensor]
    mlp_out: Callable[[torch.Tensor], torch.Tensor]
    cross: FoldedCrossAttention


class KVCache:
    """Preallocated keys/values per layer, the decoding weights (see `DecodingLayer`), and ALiBi rows."""

    def __init__(self, model: StructureModel, batch: int, capacity: int, memory: Memory,
                 quantized: bool = True) -> None:
        c = model.config
        shape = (batch, c.n_heads, capacity, c.d_model // c.n_heads)
        self.keys = [torch.zeros(shape) for _ in model.layers]
        self.values = [torch.zeros(shape) for _ in model.layers]
        linear = Int8Linear if quantized and HAS_INT8_KERNEL else _float_linear
        with torch.inference_mode():
            self.layers = [DecodingLayer(linear(block.qkv), linear(block.proj),
                                         linear(cast(nn.Linear, block.mlp[0])), linear(cast(nn.Linear, block.mlp[2])),
                                         FoldedCrossAttention(block, memory)) for block in model.layers]
        self.capacity, self.length = capacity, 0
        tables = [cast(nn.Embedding, e).weight.detach() for e in model.field_embed]
        self.field_table = torch.cat(tables)
        self.field_offsets = torch.tensor(np.cumsum([0] + [len(t) for t in tables[:-1]]))
        self.slopes = model.slopes
        self._step_bias = -model.slopes[:, None, None] * torch.arange(capacity - 1, -1, -1).float()  # (H,1,cap)

    def bias(self, start: int, t: int) -> torch.Tensor:
        if t == 1:  # one query: distances to every key so far, no future keys to hide
            return self._step_bias[:, :, self.capacity - start - 1:]
        q = torch.arange(start, start + t)[:, None]
        k = torch.arange(start + t)[None, :]
        distance = (q - k).float()
        return (-self.slopes[:, None, None] * distance.clamp(min=0)).masked_fill(distance < 0, float("-inf"))


@torch.inference_mode()
def decode_step(model: StructureModel, events: torch.Tensor, bars: torch.Tensor, cache: KVCache,
                roles: torch.Tensor | None = None) -> torch.Tensor:
    """Feed events (B, T, fields) at the cache's current length; return the last hidden state (B, d).
    `roles` (B, T): the role index of each NOTE's track, -1 elsewhere (the header is behind the cache).

    The same function as `StructureModel.hidden`, written for one event at a time. Decoding is bound by op
    count and weight reads, so this calls functional ops on the cache's decoding weights (`DecodingLayer`),
    attends by hand (SDPA with an ALiBi mask is slower at one query) and uses the folded cross-attention
    (see `FoldedCrossAttention`).
    """
    # One lookup in the concatenated field tables instead of one per field.
    use = model.field_use[events[..., F_KIND]]
    x = (cache.field_table[events + cache.field_offsets] * use[..., None]).sum(-2)
    x = x + model.position_embedding(events, bars)
    if model.role_embed_in is not None:
        if roles is None:
            raise ValueError("this model embeds each note's track role: pass `roles`")
        x = x + model.role_input(roles)
    t, start = x.shape[1], cache.length
    if start + t > cache.capacity:
        raise MelodexError(f"the decoding cache holds {cache.capacity} events; raise max_events")
    end = start + t
    bias = cache.bias(start, t)
    b, _, d = x.shape
    heads, scale = model.config.n_heads, (d // model.config.n_heads) ** -0.5
    for layer, (block, weights) in enumerate(zip(model.layers, cache.layers, strict=True)):
        h = F.layer_norm(x, (d,), block.ln1.weight, block.ln1.bias)
        q, k, v = weights.qkv(h).view(b, t, 3, heads, -1).permute(2, 0, 3, 1, 4)
        keys, values = cache.keys[layer], cache.values[layer]
        keys[:, :, start:end] = k
        values[:, :, start:end] = v
        attention = torch.softmax(torch.matmul(q * scale, keys[:, :, :end].transpose(-1, -2)) + bias, dim=-1)
        x = x + weights.proj(torch.matmul(attention, values[:, :, :end]).transpose(1, 2).reshape(b, t, d))
        x = x + weights.cross(F.layer_norm(x, (d,), block.ln2.weight, block.ln2.bias))
        h = F.layer_norm(x, (d,), block.ln3.weight, block.ln3.bias)
        x = x + weights.mlp_out(F.gelu(weights.mlp_in(h)))
    cache.length = end
    return model.ln_out(x[:, -1])
