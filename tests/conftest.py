"""Shared fixtures: tiny random-weight models so pipeline tests run in seconds, offline."""

from __future__ import annotations

import pytest
import torch

from melodex import pipeline
from melodex.structure.model import StructureConfig, StructureModel


@pytest.fixture
def tiny_models(monkeypatch):
    """A 2-layer, width-32 structure model with random weights; sample sets come from the SoundFont."""
    torch.manual_seed(0)
    model = StructureModel(StructureConfig.tiny())
    model.eval()
    monkeypatch.setattr(pipeline, "structure_model", lambda: model)
    monkeypatch.setattr(pipeline, "timbre_model", lambda: None)
    return model
