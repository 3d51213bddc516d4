"""The timbre trainer on several processes: 2 CPU processes under torchrun (gloo) train as one process does,
and a run checkpointed on 2 processes goes on on 1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import melodex
import melodex.text
from conftest import fake_text_embedding as _fake_embedding
from melodex.timbre import hn
from melodex.timbre.autoencoder import AutoencoderConfig
from melodex.timbre.diffusion import DiffusionConfig
from melodex.timbre.model import VIBRATO_FILE, WEIGHT_FILES
from melodex.timbre.notes import DESCRIPTORS, NoteDataset, build_note_dataset
from melodex.train.timbre import TimbreTrainOptions, caption_embeddings, train_timbre

# Two ranks sum their halves of a batch in another order than one process sums the whole, and AdamW's
# first steps move every weight by about the learning rate whatever the gradient's size, so a gradient
# that is ~0 can come out with either sign: measured worst weight difference 0.0 after these steps.
WEIGHT_TOLERANCE = 1e-5
LOSS_TOLERANCE = 1e-5  # relative
# The vibrato head is trained by rank 0 alone, as one process trains it, but on latents the diffusion model
# generated, whose weights differ by up to WEIGHT_TOLERANCE: measured 1.9e-5 and 2.3e-5 on two runs.
VIBRATO_TOLERANCE = 1e-4

AUTOENCODER_STEPS, DIFFUSION_STEPS, STOP = 2, 4, 3


def _note_set(source: int, programs: tuple[int, ...], rng: np.random.Generator) -> NoteDataset:
    """Random HN frames and descriptors for a few programs (4 pitches, 3 velocities each), some notes with a
    vibrato: what the trainer reads of a rendered note set, made in a blink."""
    rows = [(p, pitch, v) for p in programs for pitch in (48, 55, 62, 69) for v in (40, 80, 120)]
    n = len(rows)
    t = np.arange(hn.N_FRAMES) / hn.FRAME_RATE
    # Steady partials (a spectrum per note, a decay over the note): no beating, so no detune to search for.
    spectrum = np.linspace(0, -60, hn.N_HARMONICS)[None, :] + rng.normal(0, 3, (n, hn.N_HARMONICS))
    harmonics = -20 + spectrum[:, None, :] - 20 * t[None, :, None]
    vibrato = (rng.random(n) < 0.5)[:, None] * 12 * np.sin(2 * np.pi * 5.5 * t)[None, :]
    return NoteDataset(
        harmonics_db=np.maximum(harmonics, hn.NOISE_FLOOR_DB).astype(np.float16),
        noise_db=rng.uniform(-90, -50, (n, hn.N_FRAMES, hn.N_NOISE_BANDS)).astype(np.float16),
        cents=(vibrato + rng.normal(0, 0.5, (n, hn.N_FRAMES))).astype(np.float16),
        stretch=rng.uniform(0, 2e-4, n),
        attack_s=rng.uniform(0.005, 0.2, n),
        program=np.array([r[0] for r in rows]),
        pitch=np.array([r[1] for r in rows]),
        velocity=np.array([r[2] for r in rows]),
        source=np.full(n, source),
        descriptors=np.abs(rng.normal(1.0, 0.5, (n, len(DESCRIPTORS)))).astype(np.float32),
    )


def _fake_embed(texts: list[str]) -> np.ndarray:
    return _fake_embedding(texts).numpy()


@pytest.fixture(scope="module")
def note_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding a note set of 48 notes in the two files `build_note_dataset` reuses, and
    their captions' embeddings (fixed random vectors, not MiniLM's: the torchrun ranks read them)."""
    folder = tmp_path_factory.mktemp("notes")
    rng = np.random.default_rng(0)
    _note_set(0, (0, 40), rng).save(folder / "notes_FluidR3_GM_step4.npz")
    _note_set(1, (56, 73), rng).save(folder / "notes_TimGM6mb_step6.npz")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(melodex.text, "embed", _fake_embed)
        caption_embeddings(build_note_dataset(folder), TimbreTrainOptions(cache_dir=folder))
    return folder


def _cache(note_cache: Path, folder: Path) -> Path:
    shutil.copytree(note_cache, folder)
    return folder


def _log(cache: Path) -> dict[tuple[str, int], dict]:
    rows = [json.loads(line) for line in (cache / "train_log.jsonl").read_text().splitlines()]
    return {(r["stage"], r["step"]): r for r in rows if r["stage"] in ("autoencoder", "diffusion")}


def test_two_torchrun_processes_train_timbre_as_one_and_resume_on_one(
    note_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Autoencoder (2 steps) and diffusion (4 steps): on 2 gloo processes stopped at diffusion step 3 and
    resumed on 1 process, against 1 process straight through; same losses at every step within
    LOSS_TOLERANCE, same weights within WEIGHT_TOLERANCE, and each checkpoint records its sessions' world sizes."""
    monkeypatch.setattr(melodex.text, "embed", _fake_embed)  # for the instrument names of the vibrato stage
    two, one = _cache(note_cache, tmp_path / "two"), _cache(note_cache, tmp_path / "one")
    sizes = ["--autoencoder-steps", str(AUTOENCODER_STEPS), "--diffusion-steps", str(DIFFUSION_STEPS),
             "--vibrato-steps", "3", "--autoencoder-batch", "8", "--diffusion-batch", "8",
             "--autoencoder-width", "16", "--latent-channels", "4", "--device", "cpu", "--log-every", "1"]
    env = {**os.environ, "PYTHONPATH": str(Path(melodex.__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    run = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                            "-m", "melodex.cli", "train", "timbre", *sizes, "--stop-step", str(STOP),
                            "--cache", str(two), "--out", str(two / "weights")],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    options = TimbreTrainOptions(
        cache_dir=one, out_dir=one / "weights", autoencoder_steps=AUTOENCODER_STEPS, diffusion_steps=DIFFUSION_STEPS,
        vibrato_steps=3, autoencoder_batch=8, diffusion_batch=8, device="cpu", log_every=1,
        autoencoder=AutoencoderConfig(width=16, latent_channels=4), diffusion=DiffusionConfig(latent_channels=4),
    )
    try:
        straight = train_timbre(options)
        out, err = run.communicate(timeout=300)
    finally:
        run.kill()
    assert run.returncode == 0, err[-3000:]
    assert f"stopped at step {STOP}" in out and straight == one / "weights"
    state = torch.load(two / "diffusion.ckpt", weights_only=True)
    assert (state["step"], state["world_size"]) == (STOP, 2)
    assert not (two / "weights").exists()  # stopped before the weights were written

    resumed = train_timbre(replace(options, cache_dir=two, out_dir=two / "weights"))
    assert resumed == two / "weights"
    sessions = torch.load(two / "diffusion.ckpt", weights_only=True)["sessions"]
    assert [(s["at_step"], s["world_size"]) for s in sessions] == [(0, 2), (STOP, 1)]

    one_log, two_log = _log(one), _log(two)
    assert list(one_log) == list(two_log) == [("autoencoder", 1), ("autoencoder", 2), *(
        ("diffusion", s) for s in range(1, DIFFUSION_STEPS + 1))]
    assert [r["world_size"] for r in two_log.values()] == [2, 2, 2, 2, 2, 1]
    for key, a in one_log.items():
        b = two_log[key]
        for name in ("l1", "valid_l1", "batch_loss"):
            if name in a:
                assert abs(a[name] - b[name]) <= LOSS_TOLERANCE * abs(a[name]), (key, name, a, b)
    losses = [r["batch_loss"] for r in one_log.values() if "batch_loss" in r]
    assert len(set(losses)) == DIFFUSION_STEPS  # the model moved: no loss repeated

    for name in (*WEIGHT_FILES, VIBRATO_FILE):
        a, b = load_file(str(one / "weights" / name)), load_file(str(two / "weights" / name))
        assert a.keys() == b.keys()
        worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
        assert worst <= (VIBRATO_TOLERANCE if name == VIBRATO_FILE else WEIGHT_TOLERANCE), (name, worst)
