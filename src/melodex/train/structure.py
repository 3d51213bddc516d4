"""`melodex train structure`: train the structure model on the corpus, resumably, on one CPU core or,
under torchrun, on several processes (`melodex.train.distributed`: each rank its share of every batch).

The run directory holds `last/` (model + optimizer + state, written every few minutes and on exit,
Ctrl-C or SIGTERM included), `best/` (the checkpoint with the lowest validation NLL), and `log.jsonl`
(one line per logged step and per validation). Running the command again resumes from `last/`, on any
number of processes: the global batch of a step is the same for any number of them.
Validation uses a split of the corpus BY WORK, unaugmented.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from melodex.data.corpus import Corpus, load_corpus
from melodex.errors import MelodexError
from melodex.structure.conditioning import build_memory
from melodex.structure.model import (
    StructureConfig,
    StructureModel,
    load_model,
    with_harmony_heads,
    with_role_embedding,
)
from melodex.train import distributed
from melodex.train.structure_data import Batch, DrumBank, ExampleStream, collate

DEFAULT_RUN_DIR = Path(__file__).resolve().parents[3] / "runs" / "structure"


@dataclass(frozen=True)
class TrainOptions:
    run_dir: Path = DEFAULT_RUN_DIR
    corpus_dir: Path | None = None
    minutes: float = 120.0  # stop after this much wall time in this invocation
    max_steps: int = 500  # length of the learning-rate schedule
    batch_size: int = 8  # windows per step, summed over all processes
    window: int = 512
    lr: float = 8e-4
    warmup: int = 30
    weight_decay: float = 0.05
    checkpoint_minutes: float = 5.0
    validate_every: int = 40
    valid_works: int = 48
    threads: int = 1
    seed: int = 0
    text_dropout: float = 0.1  # rows trained with an empty caption (controls only)
    tiny: bool = False  # a debug-sized model
    init: Path | None = None  # a new run starts from these weights (e.g. the shipped checkpoint), fresh schedule
    device: str = "auto"  # cpu, cuda (mixed precision) or auto
    stop_step: int = 0  # stop once the run reaches this step (0: only the time limit stops it)
    log_every: int = 10
    harmony_heads: bool = True  # a new model, or one started from `init`, gets the harmony heads
    role_embedding: bool = True  # ... and the note-role tables (`StructureConfig.role_embedding`)

    def record(self) -> dict[str, str]:
        """The options as the run's state.json keeps them."""
        return {k: str(v) for k, v in asdict(self).items()}


def learning_rate(step: int, options: TrainOptions) -> float:
    if step < options.warmup:
        return options.lr * (step + 1) / options.warmup
    progress = min(1.0, (step - options.warmup) / max(1, options.max_steps - options.warmup))
    return options.lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * progress)))


def validation_batches(corpus: Corpus, options: TrainOptions) -> list[Batch]:
    """Fixed validation windows: the first window of each held-out work, no augmentation."""
    stream = ExampleStream(corpus, None, options.window, seed=1234, augment_examples=False)
    items = []
    for index in range(min(len(corpus), options.valid_works)):
        item = stream.example(index)
        if item is not None:
            items.append(item)
    return [collate([i[0] for i in items[k:k + options.batch_size]], [i[1] for i in items[k:k + options.batch_size]],
                    [i[2] for i in items[k:k + options.batch_size]])
            for k in range(0, len(items), options.batch_size)]


@torch.no_grad()
def validate(model: StructureModel, batches: list[Batch]) -> float:
    """Mean NLL per event (nats) over the validation windows, with full conditioning."""
    model.eval()
    total, count = 0.0, 0.0
    for batch in batches:
        memory = build_memory(model, batch.captions, batch.controls)
        loss, _ = model.loss(batch.events, batch.bars, memory, batch.weights)
        n = float(batch.weights[:, 1:].sum())
        total += float(loss) * n
        count += n
    model.train()
    return total / max(count, 1.0)


def _save_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> None:
    tensors = {}
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            tensors[f"{index}.{name}"] = torch.as_tensor(value).contiguous()
    save_file(tensors, str(path))


def _load_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> None:
    tensors = load_file(str(path))
    state_dict = optimizer.state_dict()
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state_dict["state"].setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(state_dict)


def save_run(directory: Path, model: StructureModel, optimizer: torch.optim.Optimizer, state: dict) -> None:
    tmp = directory.with_name(directory.name + ".tmp")
    model.save(tmp, metadata=state)
    _save_optimizer(optimizer, tmp / "optimizer.safetensors")
    (tmp / "state.json").write_text(json.dumps(state, indent=1))
    if directory.exists():
        old = directory.with_name(directory.name + ".old")
        directory.rename(old)
        tmp.rename(directory)
        for child in old.iterdir():
            child.unlink()
        old.rmdir()
    else:
        tmp.rename(directory)


class StructureLoss(torch.nn.Module):
    """The training loss as a module's forward, so DistributedDataParallel can wrap it."""

    def __init__(self, model: StructureModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Batch, captions: list[str], keep: torch.Tensor) -> tuple[torch.Tensor, dict]:
        memory = build_memory(self.model, captions, batch.controls, keep)
        return self.model.loss(batch.events, batch.bars, memory, batch.weights)


def rank_batch(stream: ExampleStream, shard: distributed.Shard, step: int, options: TrainOptions,
               cond_dropout: float) -> tuple[Batch, list[str], torch.Tensor]:
    """This rank's windows of a step, with their (text-dropped) captions and conditioning keep flags.

    Each window is augmented and dropped with its position's own generator, so it is the same window
    on any rank of any number of them; an example that cannot be encoded is redrawn at that position.
    """
    items, captions, keep = [], [], []
    for position in shard.positions(step):
        for attempt in range(100):
            stream.rng = shard.rng(position, attempt)
            index = shard.index(position) if attempt == 0 else int(stream.rng.integers(len(stream.corpus)))
            item = stream.example(index)
            if item is not None:
                break
        else:
            raise MelodexError("100 corpus works in a row could not be encoded; check the corpus")
        items.append(item)
        captions.append(item[1] if stream.rng.random() > options.text_dropout else "")
        keep.append(bool(stream.rng.random() >= cond_dropout))
    batch = collate([i[0] for i in items], [i[1] for i in items], [i[2] for i in items])
    return on_device(batch, shard.world.device), captions, torch.tensor(keep, device=shard.world.device)


def on_device(batch: Batch, device: torch.device) -> Batch:
    return Batch(batch.events.to(device), batch.bars.to(device), batch.weights.to(device), batch.captions,
                 batch.controls)


def train(options: TrainOptions, progress: bool = True) -> dict:
    """Train (or resume) until `minutes` pass or `stop_step` is reached; returns the final state."""
    world = distributed.init(options.device)
    try:
        return _train(options, world, progress)
    finally:
        distributed.shutdown(world)


def _train(options: TrainOptions, world: distributed.World, progress: bool) -> dict:
    torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    corpus = load_corpus(options.corpus_dir)
    train_set, valid_set = corpus.split(0.05, seed=0)
    if len(train_set) == 0 or len(valid_set) == 0:
        raise MelodexError("the corpus is too small to split into training and validation works")
    run = Path(options.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    last = run / "last"
    if (last / "state.json").exists():
        model = load_model(last)
        state = json.loads((last / "state.json").read_text())
        # "options" are the first session's; each resumed session's own options are kept too
        state.setdefault("resumed", []).append({"at_step": state["step"], "options": options.record(),
                                                **world.record()})
    else:
        state = {"step": 0, "events_seen": 0, "train_seconds": 0.0, "best_val_nll": None, "best_step": None,
                 "options": options.record(), **world.record()}
        if options.init is not None:
            model = load_model(Path(options.init))
            if options.harmony_heads:
                model = with_harmony_heads(model)
            if options.role_embedding:
                model = with_role_embedding(model)
            before = json.loads((Path(options.init) / "config.json").read_text()).get("metadata", {})
            state["init_from"] = {"path": str(options.init),
                                  **{k: before.get(k) for k in ("step", "events_seen", "train_seconds")}}
        else:
            config = StructureConfig.tiny() if options.tiny else StructureConfig()
            model = StructureModel(replace(config, harmony_heads=options.harmony_heads,
                                           role_embedding=options.role_embedding))
    state.update(world.record())  # this session's, at the top; every session's in "sessions"
    state.setdefault("sessions", []).append({"at_step": state["step"], **world.record()})
    model.to(world.device).train()
    torch.manual_seed(options.seed + world.rank)  # each rank its own dropout masks
    objective = world.wrap(StructureLoss(model), find_unused_parameters=True)  # a batch may lack a field
    scaler = world.grad_scaler()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": options.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=options.lr, betas=(0.9, 0.98))
    if (last / "optimizer.safetensors").exists():
        _load_optimizer(optimizer, last / "optimizer.safetensors")
    drums = DrumBank.from_corpus(train_set)
    stream = ExampleStream(train_set, drums, options.window, seed=options.seed)
    shard = distributed.Shard(len(train_set), options.batch_size, options.seed, world)
    valid = [on_device(b, world.device) for b in validation_batches(valid_set, options)] if world.is_main else []
    log = open(run / "log.jsonl", "a") if world.is_main else None  # noqa: SIM115 - kept open for the whole run
    stop = {"now": False}

    def request_stop(signum: int, frame: object) -> None:
        stop["now"] = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    last_save = started
    bar = None
    if progress and world.is_main:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("structure"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                       TextColumn("{task.fields[info]}"), TimeElapsedColumn())
        task = bar.add_task("train", total=options.max_steps, completed=state["step"], info="")
        bar.start()
    try:
        while True:
            done = options.stop_step and state["step"] >= options.stop_step
            if world.any(stop["now"] or done or time.monotonic() - started > options.minutes * 60):
                break
            step_start = time.monotonic()
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(state["step"], options)
            batch, captions, keep = rank_batch(stream, shard, state["step"], options, model.config.cond_dropout)
            # The loss is a mean over target events: scaled so that DDP's average of the ranks' gradients is
            # the gradient of the mean over the whole global batch (ranks' windows differ in length).
            counts = world.sum(torch.stack([batch.weights.sum(), batch.weights[:, 1:].sum()]).cpu())
            with world.autocast():
                loss, parts = objective(batch, captions, keep)
            loss = loss * (float(batch.weights[:, 1:].sum()) * world.size / max(float(counts[1]), 1.0))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            global_loss = float(world.sum(loss.detach().cpu()[None])[0]) / world.size
            seconds = time.monotonic() - step_start
            state["step"] += 1
            state["events_seen"] += int(counts[0])
            state["train_seconds"] += seconds
            if log is not None and state["step"] % options.log_every == 0:
                record = {"step": state["step"], "loss": round(global_loss, 6), "events_seen": state["events_seen"],
                          "events_per_s": round(float(counts[0]) / seconds, 1),
                          "lr": learning_rate(state["step"], options), "world_size": world.size,
                          **{k: round(v, 4) for k, v in parts.items()}}
                log.write(json.dumps(record) + "\n")
                log.flush()
            if bar is not None:
                bar.update(task, completed=state["step"], info=f"loss {global_loss:.3f}")
            if log is not None and state["step"] % options.validate_every == 0:
                val = validate(model, valid)
                log.write(json.dumps({"step": state["step"], "val_nll": round(val, 4),
                                      "events_seen": state["events_seen"]}) + "\n")
                log.flush()
                if state["best_val_nll"] is None or val < state["best_val_nll"]:
                    state["best_val_nll"], state["best_step"] = val, state["step"]
                    model.save(run / "best", metadata=dict(state))
            if world.is_main and time.monotonic() - last_save > options.checkpoint_minutes * 60:
                save_run(last, model, optimizer, state)
                last_save = time.monotonic()
    finally:
        if bar is not None:
            bar.stop()
        if log is not None:
            save_run(last, model, optimizer, state)
            log.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return state


def ship(run_dir: Path, weights_dir: Path) -> bool:
    """Copy the run's best checkpoint into the package if its validation NLL beats the shipped one's.

    Returns whether it was copied. Both numbers must come from the same validation split to compare.
    """
    best = Path(run_dir) / "best"
    if not (best / "config.json").exists():
        raise MelodexError(f"no best checkpoint in {run_dir}; train first")
    new = json.loads((best / "config.json").read_text())["metadata"].get("best_val_nll")
    shipped = Path(weights_dir) / "config.json"
    if shipped.exists():
        old = json.loads(shipped.read_text())["metadata"].get("best_val_nll")
        if old is not None and new is not None and new >= old:
            return False
    load_model(best)  # refuses a corrupt checkpoint before anything is replaced
    Path(weights_dir).mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "config.json", "model.sha256"):
        (Path(weights_dir) / name).write_bytes((best / name).read_bytes())
    return True
