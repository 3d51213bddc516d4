"""Shared fixtures: tiny random-weight models so pipeline tests run in seconds, offline."""

from __future__ import annotations

import shutil

import pytest
import torch

from melodex import pipeline
from melodex.song import Pipeline
from melodex.structure.model import StructureConfig, StructureModel


def _tiny_structure_model() -> StructureModel:
    torch.manual_seed(0)
    model = StructureModel(StructureConfig.tiny())
    model.eval()
    return model


def tiny_pipeline() -> Pipeline:
    """A 2-layer, width-32 structure model with random weights and no timbre model (SoundFont sample sets)."""
    return Pipeline(_tiny_structure_model(), None, "tests run without a timbre model")


@pytest.fixture
def tiny_models(monkeypatch):
    """The tiny pipeline in place of the shipped models (for entry points that take no pipeline)."""
    pipe = tiny_pipeline()
    monkeypatch.setattr(pipeline, "shipped", lambda: pipe)
    return pipe.structure


@pytest.fixture(scope="module")
def tiny_models_module():
    """The same tiny models for a whole test module (for fixtures that generate once and copy)."""
    pipe = tiny_pipeline()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "shipped", lambda: pipe)
        yield pipe.structure


@pytest.fixture(scope="module")
def generated(tiny_models_module, tmp_path_factory, request):
    """A project generated once per test module from the module's PROMPT, with the tiny models (SoundFont
    timbres, 16 kHz)."""
    folder = tmp_path_factory.mktemp("generated") / "song"
    pipeline.generate(request.module.PROMPT, folder,
                      pipeline.GenerateOptions(seed=1, renderer="soundfont", sample_rate=16000))
    return folder


@pytest.fixture
def song(generated, tiny_models, tmp_path):
    """A fresh copy of the module's generated project per test (generating takes far longer than copying)."""
    shutil.copytree(generated, tmp_path / "song")
    return tmp_path / "song"
