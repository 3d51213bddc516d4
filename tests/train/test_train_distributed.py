"""Training on several processes: 2 CPU processes under torchrun (gloo) train as one process does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import melodex
from melodex.data.corpus import WorkEntry, chords_to_json, load_corpus, score_header, write_corpus
from melodex.errors import MelodexError
from melodex.train import distributed
from melodex.train.structure import TrainOptions, train

# Two ranks sum their halves of a batch in another order than one process sums the whole; after a few
# AdamW steps the weights agree to ~2e-7 (measured), the losses to ~1e-7 relative.
WEIGHT_TOLERANCE = 1e-5
LOSS_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every 100th work of the committed corpus (150 works: loads in a blink in each process)."""
    corpus = load_corpus()
    entries = []
    for i in range(0, len(corpus), 100):
        work = corpus[i]
        record = {"id": corpus.ids[i], "attributes": work.attributes, "captions": work.captions,
                  "score": score_header(work.score), "estimated_chords": chords_to_json(corpus.estimated_chords(i))}
        entries.append(WorkEntry(record, np.concatenate([t.notes for t in work.score.tracks])))
    out = tmp_path_factory.mktemp("corpus") / "corpus"
    write_corpus(out, entries, {"note": "test subset of the committed corpus"})
    return out


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if "loss" in line]


def test_two_torchrun_processes_train_as_one_and_resume_on_another_count(small_corpus: Path, tmp_path: Path) -> None:
    """A tiny run of 3 steps on 1 process, resumed to step 6 on 2 gloo processes and, alongside, on 1 process:
    same losses at every step, same global events, same weights within WEIGHT_TOLERANCE, and the state
    records each session's world size. (The timbre test resumes 2 processes on 1.)"""
    common = dict(corpus_dir=small_corpus, tiny=True, batch_size=4, window=64, log_every=1, device="cpu",
                  minutes=5.0, max_steps=20)
    first = train(TrainOptions(run_dir=tmp_path / "one", stop_step=3, **common), progress=False)  # type: ignore[arg-type]
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    args = ["train", "structure", "--corpus", str(small_corpus), "--tiny", "--batch-size", "4", "--window", "64",
            "--log-every", "1", "--device", "cpu", "--minutes", "5", "--max-steps", "20",
            "--stop-step", "6", "--no-progress", "--run-dir", str(tmp_path / "two")]
    env = {**os.environ, "PYTHONPATH": str(Path(melodex.__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    two = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                            "-m", "melodex.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        resumed = train(TrainOptions(run_dir=tmp_path / "one", stop_step=6, **common), progress=False)  # type: ignore[arg-type]
        out, err = two.communicate(timeout=120)
    finally:
        two.kill()
    assert two.returncode == 0, err[-3000:]
    assert "step 6," in out and first["step"] == 3 and resumed["step"] == 6

    state = json.loads((tmp_path / "two" / "last" / "state.json").read_text())
    assert (first["world_size"], state["world_size"], state["resumed"][0]["world_size"]) == (1, 2, 2)
    assert state["resumed"][0]["at_step"] == 3 and resumed["resumed"][0]["world_size"] == 1
    # every session's world size stays in the state, not only in the log (the top-level one is overwritten)
    assert [(s["at_step"], s["world_size"]) for s in state["sessions"]] == [(0, 1), (3, 2)]
    assert state["events_seen"] == resumed["events_seen"]
    one_log, two_log = _log(tmp_path / "one"), _log(tmp_path / "two")
    assert [r["step"] for r in two_log] == [r["step"] for r in one_log] == [1, 2, 3, 4, 5, 6]
    assert [r["world_size"] for r in two_log] == [1, 1, 1, 2, 2, 2]
    for a, b in zip(one_log, two_log, strict=True):
        assert a["events_seen"] == b["events_seen"]
        assert abs(a["loss"] - b["loss"]) <= LOSS_TOLERANCE * abs(a["loss"]), (a, b)
    assert len({r["loss"] for r in one_log}) == 6  # the model moved: not one loss repeated

    weights_one = load_file(str(tmp_path / "one" / "last" / "model.safetensors"))
    weights_two = load_file(str(tmp_path / "two" / "last" / "model.safetensors"))
    assert weights_one.keys() == weights_two.keys()
    worst = max(float((weights_one[k] - weights_two[k]).abs().max()) for k in weights_one)
    assert worst <= WEIGHT_TOLERANCE, worst


def test_the_global_batch_does_not_depend_on_the_number_of_ranks() -> None:
    def batches(size: int) -> list[list[int]]:
        shards = [distributed.Shard(10, 4, 0, distributed.World(rank, size)) for rank in range(size)]
        return [sorted(shard.index(p) for shard in shards for p in shard.positions(step)) for step in range(5)]

    assert batches(1) == batches(2) == batches(4)
    seen = [i for step in batches(2)[:2] for i in step]  # 8 of epoch 0's 10 items, none twice
    assert len(set(seen)) == 8
    with pytest.raises(MelodexError, match="multiple of 3"):
        distributed.Shard(10, 4, 0, distributed.World(0, 3))


def test_an_unknown_or_missing_device_is_a_clear_error() -> None:
    with pytest.raises(MelodexError, match="unknown device"):
        distributed.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(MelodexError, match="no CUDA"):
            distributed.resolve_device("cuda")
    assert distributed.resolve_device("cpu").type == "cpu"


def test_auto_takes_this_ranks_gpu_where_there_are_gpus_and_the_cpu_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GPU here: CUDA's presence is faked, which is enough for the choice (no tensor goes to it)."""
    if not torch.cuda.is_available():
        assert distributed.resolve_device("auto", local_rank=1).type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert distributed.resolve_device("auto", local_rank=3) == torch.device("cuda", 1)
    assert distributed.resolve_device("cuda", local_rank=0) == torch.device("cuda", 0)
    assert distributed.resolve_device("cpu", local_rank=1).type == "cpu"


def test_mixed_precision_is_for_cuda_alone() -> None:
    """On the CPU the forward runs in float32 (no autocast) and the loss is not scaled."""
    world = distributed.World(device=torch.device("cpu"))
    with world.autocast():
        assert not torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    scaler = world.grad_scaler()
    assert not scaler.is_enabled()
    loss = torch.tensor(2.0, requires_grad=True)
    assert scaler.scale(loss) is loss
