"""Vibrato: the estimator on known curves and audio, synthesis of a requested vibrato, the head's weights."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import fake_text_embedding as _fake_embedding
from conftest import tiny_timbre_model as tiny_model
from melodex.timbre import hn, hn_analysis
from melodex.timbre.model import VIBRATO_FILE, TimbreModel, TimbreModelError
from melodex.timbre.sampleset import find_sustain_loop
from melodex.timbre.vibrato import VibratoConfig, VibratoHead
from test_timbre_hn import _params


def _curve(depth: float, rate: float, delay: float = 0.0, drift: float = 0.0) -> np.ndarray:
    t = np.arange(hn.N_FRAMES) / hn.FRAME_RATE
    grown = np.clip((t - delay) / 0.2, 0, 1)
    return (depth * grown * np.sin(2 * np.pi * rate * t + 0.7) + drift * t).astype(np.float32)


@pytest.mark.parametrize(("depth", "rate"), [(12.0, 5.5), (5.0, 4.2), (20.0, 7.0)])
def test_estimator_recovers_depth_and_rate_of_a_known_curve(depth: float, rate: float) -> None:
    found = hn_analysis.estimate_vibrato(_curve(depth, rate, drift=8.0))  # a slow drift is not vibrato
    assert abs(found.depth_cents - depth) < 0.1 * depth, found
    assert abs(found.rate_hz - rate) < 0.1, found


def test_estimator_finds_the_onset_delay_and_no_vibrato_in_a_steady_or_noisy_curve() -> None:
    assert abs(hn_analysis.estimate_vibrato(_curve(10.0, 5.0, delay=0.3)).delay_s - 0.3) < 0.08
    assert hn_analysis.estimate_vibrato(np.zeros(hn.N_FRAMES)).depth_cents == 0.0
    noise = np.random.default_rng(0).normal(0, 1.5, hn.N_FRAMES)
    assert hn_analysis.estimate_vibrato(noise).depth_cents == 0.0


def test_analysis_of_audio_with_vibrato_recovers_it() -> None:
    params = replace(_params(64, [0.2, 0.1, 0.05, 0.02]), cents=_curve(15.0, 5.8, delay=0.1))
    found = hn_analysis.estimate_vibrato(hn_analysis.analyse(hn.synthesize(params), 64, stretched=False).cents)
    assert abs(found.depth_cents - 15.0) < 2.0, found
    assert abs(found.rate_hz - 5.8) < 0.15, found


def test_synthesis_adds_the_requested_vibrato_deterministically_per_seed() -> None:
    steady = _params(67, [0.2, 0.1, 0.05, 0.02])
    wavy = replace(steady, vibrato=hn.Vibrato(12.0, 5.5, 0.1))
    found = hn_analysis.estimate_vibrato(hn_analysis.analyse(hn.synthesize(wavy), 67, stretched=False).cents)
    assert abs(found.depth_cents - 12.0) < 1.5, found
    assert abs(found.rate_hz - 5.5) < 0.15, found
    np.testing.assert_array_equal(hn.synthesize(wavy, seed=3), hn.synthesize(wavy, seed=3))
    assert not np.array_equal(hn.synthesize(wavy, seed=3), hn.synthesize(wavy, seed=4))  # another phase
    # No vibrato: exactly the audio of before (same noise stream), so old notes are unchanged.
    np.testing.assert_array_equal(hn.synthesize(replace(steady, vibrato=hn.Vibrato()), seed=2),
                                  hn.synthesize(steady, seed=2))
    curve = hn.vibrato_cents(hn.Vibrato(12.0, 5.5, 0.1), hn.NOTE_FRAMES)
    assert np.abs(curve[: int(0.1 * hn.SAMPLE_RATE)]).max() == 0.0  # steady until the delay
    assert np.abs(curve[int(0.4 * hn.SAMPLE_RATE) :]).max() > 11.9


def test_sustain_loop_holds_whole_vibrato_cycles() -> None:
    rate, pitch = 5.3, 67
    audio = hn.synthesize(replace(_params(pitch, [0.2, 0.1]), vibrato=hn.Vibrato(10.0, rate, 0.05)))
    release = int(hn.HOLD_S * hn.SAMPLE_RATE)
    start, end, _ = find_sustain_loop(audio, pitch, release, hn.SAMPLE_RATE, vibrato_hz=rate)
    cycles = (end - start) * rate / hn.SAMPLE_RATE
    period = hn.SAMPLE_RATE / hn.midi_hz(pitch)
    assert cycles >= 1 and abs(cycles - round(cycles)) * hn.SAMPLE_RATE / rate < period


def test_weights_without_the_vibrato_head_load_and_with_it_give_vibrato(tmp_path) -> None:
    from safetensors.torch import save_file

    from melodex.train.timbre import TimbreTrainOptions, export_weights

    model = tiny_model()
    export_weights(model.autoencoder, model.denoiser, 1.0, TimbreTrainOptions(out_dir=tmp_path), {})
    assert TimbreModel.load(tmp_path).vibrato is None  # a weights folder from before the head
    config = VibratoConfig(latent_channels=4, latent_steps=16, width=16, layers=1)
    head = VibratoHead(config)
    with torch.no_grad():
        head.net[-1].bias.copy_(torch.tensor([5.0, 0.0, 0.0, -5.0]))  # present, 25 cents, 6 Hz, no delay
        head.net[-1].weight.zero_()
    save_file(head.state_dict(), tmp_path / VIBRATO_FILE)
    meta = json.loads((tmp_path / "config.json").read_text())
    meta["vibrato"] = config.to_dict()
    meta["sha256"][VIBRATO_FILE] = hashlib.sha256((tmp_path / VIBRATO_FILE).read_bytes()).hexdigest()
    (tmp_path / "config.json").write_text(json.dumps(meta))
    loaded = TimbreModel.load(tmp_path)
    loaded.text_embedding = _fake_embedding  # type: ignore[method-assign]
    assert loaded.vibrato is not None
    sampleset = loaded.generate_sampleset(40, "", [67], [90], steps=2)
    assert sampleset.settings["vibrato"] == 1
    note = sampleset.notes[(67, 90)]
    found = hn_analysis.estimate_vibrato(hn_analysis.analyse(note.audio, 67, stretched=False).cents)
    assert abs(found.depth_cents - 25.0) < 4.0 and abs(found.rate_hz - 6.0) < 0.2, found
    data = (tmp_path / VIBRATO_FILE).read_bytes()
    (tmp_path / VIBRATO_FILE).write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    with pytest.raises(TimbreModelError, match="SHA-256"):
        TimbreModel.load(tmp_path)
