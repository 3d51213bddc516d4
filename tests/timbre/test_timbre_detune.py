"""Detuned pads: the estimator finds a known detune, synthesis beats at k f0 cents, no detune is unchanged."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from conftest import fake_text_embedding as _fake_embedding
from conftest import tiny_timbre_model as tiny_model
from melodex.timbre import hn, hn_analysis
from melodex.timbre.model import VIBRATO_FILE, GenerationOptions, TimbreModel
from melodex.timbre.vibrato import VibratoConfig, VibratoHead


def _saw(pitch: int, detune: hn.Detune = hn.Detune(), vibrato: hn.Vibrato = hn.Vibrato()) -> hn.HNParams:
    k = np.arange(1, hn.N_HARMONICS + 1)
    harmonics = np.tile((0.3 / k).astype(np.float32), (hn.N_FRAMES, 1))
    noise = np.full((hn.N_FRAMES, hn.N_NOISE_BANDS), 1e-4, np.float32)
    cents = (3 * np.sin(np.arange(hn.N_FRAMES) / 9)).astype(np.float32)
    return hn.HNParams(pitch, harmonics, noise, cents, 1e-4, 0.01, vibrato, detune)


def test_no_detune_synthesises_exactly_as_before() -> None:
    # A frozen SHA-256 of the audio (from main at 9067a4d) failed on a fresh install with the very code it was
    # taken from: float32 matmul and sin differ across numpy/BLAS builds. What must hold is that no detune
    # (either part of it zero) never touches the second bank: the same samples, bit for bit, every time.
    vibrato = hn.Vibrato(8.0, 5.0, 0.1)
    plain = hn.synthesize(_saw(55, vibrato=vibrato), seed=3)
    np.testing.assert_array_equal(plain, hn.synthesize(_saw(55, vibrato=vibrato), seed=3))
    for off in (hn.Detune(0.0, 0.6), hn.Detune(9.0, 0.0)):
        np.testing.assert_array_equal(plain, hn.synthesize(_saw(55, detune=off, vibrato=vibrato), seed=3))
    assert not np.array_equal(plain, hn.synthesize(_saw(55, detune=hn.Detune(9.0, 0.6), vibrato=vibrato), seed=3))


def test_estimator_recovers_a_known_detune_and_mix() -> None:
    for pitch, cents, mix in ((55, 12.0, 0.5), (60, 7.0, 0.8), (67, 5.0, 0.3)):
        params = hn_analysis.analyse(hn.synthesize(_saw(pitch, hn.Detune(cents, mix)), seed=1), pitch, stretched=False)
        found = hn_analysis.estimate_detune(params.harmonics, pitch)
        assert abs(found.cents - cents) < 0.5, (pitch, found)
        assert abs(found.mix - mix) < 0.15, (pitch, found)


def test_a_single_bank_and_a_tremolo_have_no_detune() -> None:
    params = hn_analysis.analyse(hn.synthesize(_saw(60), seed=1), 60, stretched=False)
    assert hn_analysis.estimate_detune(params.harmonics, 60) == hn.Detune()
    assert hn_analysis.beating(params.harmonics) < 0.5
    t = np.arange(hn.N_FRAMES) / hn.FRAME_RATE
    tremolo = params.harmonics * (1 + 0.3 * np.sin(2 * np.pi * 4.0 * t))[:, None]  # one rate for every partial
    assert hn_analysis.beating(tremolo) > 0.5
    assert hn_analysis.estimate_detune(tremolo, 60) == hn.Detune()


def test_detuned_synthesis_beats_at_k_f0_cents() -> None:
    pitch, cents = 60, 10.0
    params = hn_analysis.analyse(hn.synthesize(_saw(pitch, hn.Detune(cents, 1.0)), seed=0), pitch, stretched=False)
    assert hn_analysis.beating(params.harmonics) > 3.0
    t = np.arange(hn.N_FRAMES) / hn.FRAME_RATE
    hold = (t > 0.15) & (t < hn.HOLD_S)
    for k in (3, 5, 8):
        expected = k * hn.midi_hz(pitch) * (2 ** (cents / 1200) - 1)
        level = params.harmonics[hold, k - 1].astype(np.float64)
        level = level - level.mean()
        rates = np.arange(1.0, 30.0, 0.05)
        power = np.abs(np.exp(-2j * np.pi * np.outer(rates, t[hold])) @ level)
        assert abs(rates[np.argmax(power)] - expected) < 0.4, (k, rates[np.argmax(power)], expected)


def _with_head(folder, detune: bool) -> TimbreModel:
    from safetensors.torch import save_file

    from melodex.train.timbre import TimbreTrainOptions, export_weights

    model = tiny_model()
    export_weights(model.autoencoder, model.denoiser, 1.0, TimbreTrainOptions(out_dir=folder), {})
    config = VibratoConfig(latent_channels=4, latent_steps=16, width=16, layers=1, detune=detune)
    head = VibratoHead(config)
    with torch.no_grad():  # no vibrato; detune present, 12 cents (1 + 29 * 11 / 29), mix 0.5
        head.net[-1].bias.copy_(torch.tensor([-5.0, 0.0, 0.0, 0.0]))
        head.net[-1].weight.zero_()
        if detune:
            head.detune_net[-1].bias.copy_(torch.tensor([5.0, float(np.log(11 / 18)), 0.0]))
            head.detune_net[-1].weight.zero_()
    save_file(head.state_dict(), folder / VIBRATO_FILE)
    meta = json.loads((folder / "config.json").read_text())
    meta["vibrato"] = config.to_dict()
    if not detune:
        del meta["vibrato"]["detune"]  # as heads before the detune were stored
    meta["sha256"][VIBRATO_FILE] = hashlib.sha256((folder / VIBRATO_FILE).read_bytes()).hexdigest()
    (folder / "config.json").write_text(json.dumps(meta))
    loaded = TimbreModel.load(folder)
    loaded.text_embedding = _fake_embedding  # type: ignore[method-assign]
    return loaded


def test_a_detune_head_detunes_generated_notes_and_the_option_turns_it_off(tmp_path) -> None:
    old, new = _with_head(tmp_path / "old", False), _with_head(tmp_path / "new", True)
    assert old.vibrato is not None and not old.vibrato.config.detune  # a head from before loads
    options = GenerationOptions(steps=2)
    latent = torch.zeros(1, 4, 16)
    conditions = torch.zeros(1, 2)
    assert new.vibrato is not None
    found = new.vibrato.modulation(latent, conditions)[1][0]
    assert abs(found.cents - 12.0) < 0.01 and abs(found.mix - 0.5) < 0.01
    detuned = new.generate_sampleset(89, "", [60], [90], steps=2)
    assert detuned.settings["detune"] == 1
    audio = detuned.notes[(60, 90)].audio
    params = hn_analysis.analyse(audio, 60, stretched=False)
    assert hn_analysis.beating(params.harmonics) > 1.0
    # Off (a project from before): the same notes as a head without detune makes.
    plain = [n[2] for n in new.generate_notes(89, "", [60], [90], GenerationOptions(steps=2, detune=False))]
    before = [n[2] for n in old.generate_notes(89, "", [60], [90], options)]
    np.testing.assert_array_equal(plain[0], before[0])
