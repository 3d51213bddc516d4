"""Shared fixtures: tiny random-weight models so pipeline tests run in seconds, offline.

Library calls take the tiny models as arguments (`tiny_pipeline()`, `models=`); the entry points that load
their own (the CLI, the studio, an opened project's edits) find them in a weights folder that
$MELODEX_WEIGHTS names (`tiny_weights`), loaded and SHA-256 checked as the shipped ones are.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from melodex import pipeline
from melodex.song import Pipeline
from melodex.structure.model import StructureConfig, StructureModel
from melodex.timbre.autoencoder import AutoencoderConfig, NoteAutoencoder
from melodex.timbre.diffusion import DiffusionConfig, TimbreDenoiser
from melodex.timbre.model import TimbreModel


def tiny_structure_model() -> StructureModel:
    """A 2-layer, width-32 structure model with random weights (the same weights at every call)."""
    torch.manual_seed(0)
    model = StructureModel(StructureConfig.tiny())
    model.eval()
    return model


def fake_text_embedding(texts: list[str]) -> torch.Tensor:
    """A fixed random unit vector per text: tests need distinct texts, not MiniLM."""
    rows = []
    for text in texts:
        seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
        vector = torch.randn(384, generator=torch.Generator().manual_seed(seed))
        rows.append(torch.nn.functional.normalize(vector, dim=0))
    return torch.stack(rows)


def tiny_timbre_model() -> TimbreModel:
    """A width-16 autoencoder and a 2-layer, width-32 denoiser with random weights (words: `fake_text_embedding`)."""
    torch.manual_seed(0)
    autoencoder = NoteAutoencoder(AutoencoderConfig(width=16, latent_channels=4))
    denoiser = TimbreDenoiser(DiffusionConfig(latent_channels=4, width=32, layers=2, heads=2))
    with torch.no_grad():
        for parameter in denoiser.parameters():  # zero-initialised outputs would make CFG a no-op
            parameter.normal_(0.0, 0.2)
        autoencoder.feature_mean.fill_(-60.0)
        autoencoder.feature_std.fill_(10.0)
    model = TimbreModel(autoencoder, denoiser, latent_scale=1.0)
    model.text_embedding = fake_text_embedding  # type: ignore[method-assign]
    return model


def tiny_pipeline(timbre: bool = False) -> Pipeline:
    """A 2-layer, width-32 structure model with random weights, and the tiny timbre model or none (then every
    track plays SoundFont sample sets)."""
    if timbre:
        return Pipeline(tiny_structure_model(), tiny_timbre_model(), "")
    return Pipeline(tiny_structure_model(), None, "tests run without a timbre model")


def write_tiny_weights(folder: Path) -> Path:
    """`folder` laid out as melodex/weights with the tiny structure model and no timbre model (its words come
    from `fake_text_embedding`, which a weights folder cannot carry): every track plays the SoundFont."""
    tiny_structure_model().save(folder / "structure", {"note": "the tests' tiny random-weight model"})
    return folder


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """The tiny models' weights folder, written once per test run."""
    return write_tiny_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture
def tiny_models(tiny_weights, monkeypatch):
    """The tiny models for entry points that load their own (the CLI, the studio, an opened project), by
    $MELODEX_WEIGHTS; returns the structure model they run."""
    monkeypatch.setenv(pipeline.WEIGHTS_ENV, str(tiny_weights))
    return pipeline.shipped().structure


@pytest.fixture(scope="module")
def tiny_models_module(tiny_weights):
    """The same for a whole test module (for fixtures that generate once and copy)."""
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv(pipeline.WEIGHTS_ENV, str(tiny_weights))
        yield pipeline.shipped().structure


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
