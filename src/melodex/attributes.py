"""What a prompt implies but does not say: mode, meter, tempo and note density, read from its MiniLM embedding.

A small linear head over the frozen sentence embedding, trained on the corpus captions with every
explicit value (keys, meters, BPM, bar counts) masked out, so it learns what words like "jig", "chorale",
"lively" or "lament" imply. The prompt parser's explicit values always win over it; the Brief uses it
only for what nothing else decided. Weights: safetensors + config + SHA-256 under weights/attributes/.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from melodex.checkpoint import read_config, read_weights, write_weights
from melodex.text import EMBED_DIM, embed

WEIGHTS = Path(__file__).parent / "weights" / "attributes"
MODES = ("major", "minor")
METER_CLASSES = ("2/4", "3/4", "4/4", "6/8", "other")
HEAD_VERSION = 1

_EXPLICIT = re.compile(
    r"\b\d+\s*/\s*\d+\b|\b\d+(?:\.\d+)?\s*(?:bpm|bars?|beats?)\b|\b[A-G][#b]?\s*(?:major|minor)\b|"
    r"\b(?:major|minor)\b|\babout\s+\d+\b|\b\d+\b|\b[A-G][#b]?\d\b",
    re.IGNORECASE,
)


def mask_explicit(text: str) -> str:
    """Remove what the prompt parser reads exactly, so the head learns from the remaining words."""
    return " ".join(_EXPLICIT.sub(" ", text).split())


class AttributeHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mode = nn.Linear(EMBED_DIM, len(MODES))
        self.meter = nn.Linear(EMBED_DIM, len(METER_CLASSES))
        self.log_bpm = nn.Linear(EMBED_DIM, 1)
        self.log_density = nn.Linear(EMBED_DIM, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"mode": self.mode(x), "meter": self.meter(x), "log_bpm": self.log_bpm(x)[:, 0],
                "log_density": self.log_density(x)[:, 0]}


@dataclass(frozen=True)
class Implied:
    mode: str
    mode_confidence: float
    meter: str
    meter_confidence: float
    bpm: float
    notes_per_bar: float


def save_head(head: AttributeHead, directory: Path, metadata: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    digest = write_weights(head.state_dict(), directory / "model.safetensors")
    config = {"version": HEAD_VERSION, "sha256": digest, "modes": MODES, "meters": METER_CLASSES,
              "metadata": metadata}
    (directory / "config.json").write_text(json.dumps(config, indent=2))


@lru_cache(maxsize=1)
def load_head(directory: Path = WEIGHTS) -> AttributeHead | None:
    """The shipped head, or None if it is not installed (then nothing is implied beyond the style table)."""
    config_path, weights = directory / "config.json", directory / "model.safetensors"
    if not weights.exists():
        return None
    config = read_config(config_path, "attribute head", HEAD_VERSION, "reinstall Melodex")
    head = AttributeHead()
    head.load_state_dict(read_weights(weights, config.get("sha256", ""), "reinstall Melodex"))
    head.eval()
    return head


@torch.inference_mode()
def predict(text: str, head: AttributeHead | None = None) -> Implied | None:
    head = head or load_head()
    if head is None:
        return None
    out = head(torch.from_numpy(embed([mask_explicit(text)])))
    mode_p = torch.softmax(out["mode"][0], -1)
    meter_p = torch.softmax(out["meter"][0], -1)
    return Implied(
        mode=MODES[int(mode_p.argmax())], mode_confidence=float(mode_p.max()),
        meter=METER_CLASSES[int(meter_p.argmax())], meter_confidence=float(meter_p.max()),
        bpm=float(2 ** out["log_bpm"][0]), notes_per_bar=float(np.exp(float(out["log_density"][0]))),
    )
