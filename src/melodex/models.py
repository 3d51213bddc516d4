"""The shipped models: where their weights are, loading them with a reason when they cannot load, and
running them on one thread. Inference code receives models from here (or from the caller) as arguments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from melodex.errors import MelodexError

WEIGHTS = Path(__file__).parent / "weights"


@contextmanager
def single_thread() -> Iterator[None]:
    """Run small-batch inference on one thread: at these sizes a second thread only adds synchronisation,
    and on a busy machine it made decoding 40x slower (3 s vs 117 s for the same 20 bars).

    Never run two of these at once on Python threads: torch's OpenMP workers then fight over the cores
    (composing while the timbres were made on a second thread took 105-361 s instead of 8 s).
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def load_structure(directory: str | Path | None = None) -> Any:
    """The structure model from `directory` (default: the shipped weights), SHA-256 checked."""
    from melodex.structure.model import load_model

    folder = Path(directory) if directory is not None else WEIGHTS / "structure"
    if not (folder / "model.safetensors").exists():
        fix = "reinstall Melodex" if folder == WEIGHTS / "structure" else "give a folder laid out as melodex/weights"
        raise MelodexError(f"the structure model's weights are not installed ({folder}); {fix}")
    return load_model(folder)


def load_timbre(directory: str | Path | None = None) -> Any:
    """The timbre model from `directory` (default: the shipped weights), SHA-256 checked.

    Raises MelodexError saying why it cannot load: its code not installed, no weights, an unknown
    format, or a weight file that does not match its checksum.
    """
    try:
        from melodex.timbre.model import TimbreModel
    except ImportError as exc:
        raise MelodexError(f"the timbre model's code is not installed ({exc})") from exc
    try:
        return TimbreModel.load(directory)
    except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:  # a file or field missing, bad shapes
        folder = directory if directory is not None else WEIGHTS / "timbre"
        raise MelodexError(f"the timbre weights in {folder} are incomplete or damaged ({exc!r}): reinstall "
                           "them") from exc


def try_load_timbre(directory: str | Path | None = None) -> tuple[Any | None, str]:
    """(the timbre model, "") or (None, why it did not load): for callers that fall back to the SoundFont."""
    try:
        return load_timbre(directory), ""
    except MelodexError as exc:
        return None, str(exc)


def model_versions(weights: Path = WEIGHTS) -> dict[str, dict]:
    """Name and SHA-256 of every shipped model, for the project file."""
    versions = {}
    for name in ("structure", "timbre"):
        config = weights / name / "config.json"
        if config.exists():
            meta = json.loads(config.read_text())
            versions[name] = {"sha256": meta.get("sha256", ""), "metadata": meta.get("metadata", {})}
    return versions
