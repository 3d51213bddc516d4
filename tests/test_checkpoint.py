"""Checkpoints: weights written whole with their SHA-256, a wrong version, a damaged config.json or a changed byte
refused with one clear error naming the file and the fix."""

from __future__ import annotations

import pytest
import torch

from melodex.checkpoint import read_config, read_weights, write_weights
from melodex.errors import MelodexError


def test_weights_round_trip_and_a_changed_byte_is_refused(tmp_path) -> None:
    tensors = {"w": torch.arange(6.0).view(2, 3), "b": torch.zeros(3)}
    path = tmp_path / "model.safetensors"
    digest = write_weights(tensors, path)
    assert not path.with_suffix(".tmp").exists()
    read = read_weights(path, digest, "re-copy it")
    assert all(torch.equal(read[name], tensors[name]) for name in tensors)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(MelodexError, match=r"model.safetensors is corrupt: SHA-256 .* re-copy it"):
        read_weights(path, digest, "re-copy it")


@pytest.mark.parametrize("text, message", [
    ('{"version": 2}', "the head version 2 is not 1; reinstall"),
    ('{"format": 1}', "the head version None is not 1; reinstall"),
    ("[1, 2]", "the head version None is not 1; reinstall"),
    ('{"version": 1', "config.json cannot be read .*; reinstall"),
])
def test_a_config_of_another_version_or_damaged_is_refused(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(MelodexError, match=message):
        read_config(path, "the head", 1, "reinstall")
