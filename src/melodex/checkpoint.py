"""Model checkpoints: safetensors weight files beside a config.json that holds the model's config, a format
version and each weight file's SHA-256. Loading checks the version, then the checksum, before a tensor is read;
nothing is ever unpickled. Each model keeps its own config.json keys (the shipped files stay as they are)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from melodex.errors import MelodexError


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_weights(tensors: Mapping[str, torch.Tensor], path: Path) -> str:
    """Write `tensors` to `path` as safetensors (a reader never sees half a file) and return its SHA-256."""
    from safetensors.torch import save_file

    tmp = path.with_suffix(".tmp")
    save_file({name: tensor.detach().contiguous() for name, tensor in tensors.items()}, str(tmp))
    tmp.replace(path)
    return file_sha256(path)


def read_config(path: Path, what: str, version: int, fix: str, key: str = "version") -> dict[str, Any]:
    """A checkpoint's config.json, refused unless its `key` is `version`; `what` names the model, `fix` what to do."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MelodexError(f"{path} cannot be read ({exc}); {fix}") from exc
    if not isinstance(meta, dict) or meta.get(key) != version:
        found = meta.get(key) if isinstance(meta, dict) else None
        raise MelodexError(f"{what} version {found} is not {version}; {fix}")
    return meta


def read_weights(path: Path, sha256: str, fix: str) -> dict[str, torch.Tensor]:
    """The tensors in `path` once its SHA-256 is `sha256` (from config.json); else an error saying `fix`."""
    from safetensors.torch import load_file

    digest = file_sha256(path)
    if digest != sha256:
        raise MelodexError(f"{path} is corrupt: SHA-256 {digest[:12]}... does not match {str(sha256)[:12]}... in "
                           f"config.json; {fix}")
    return load_file(str(path))
