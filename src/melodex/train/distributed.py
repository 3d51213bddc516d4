"""Training on several processes: torchrun's environment, DistributedDataParallel and each rank's data share.

One process is the same code with a world of one, where every collective is a no-op. Under
`torchrun --nproc_per_node=N` each process reads RANK / WORLD_SIZE / LOCAL_RANK, joins a gloo (CPU) or
nccl (CUDA) process group, trains a DDP-wrapped model on its part of each global batch, and only rank 0
writes checkpoints and logs.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
import torch.distributed as dist

from melodex.errors import MelodexError

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints, logs and progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def local_batch(self, batch_size: int) -> int:
        """This rank's share of a global batch; the global batch must split evenly over the ranks."""
        if batch_size % self.size:
            raise MelodexError(f"the batch size {batch_size} does not split over {self.size} processes; "
                               f"give a multiple of {self.size} (it is the global batch, summed over processes)")
        return batch_size // self.size

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of a tensor over all ranks (the tensor itself on one process)."""
        if not self.distributed:
            return values
        out = values.detach().to(self.device, torch.float64 if self.device.type == "cpu" else torch.float32)
        dist.all_reduce(out)
        return out.cpu()

    def any(self, flag: bool) -> bool:
        """Whether any rank raised the flag: all ranks must agree when to stop, or the others hang."""
        return bool(self.sum(torch.tensor([float(flag)]))[0] > 0)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (e.g. building a cache), the other ranks after it, reading its files."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision on CUDA (bfloat16 where the GPU has it, else float16); plain float32 on CPU."""
        if self.device.type != "cuda":
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Loss scaling for float16 autocast; disabled (a pass-through) on CPU and with bfloat16."""
        fp16 = self.device.type == "cuda" and not torch.cuda.is_bf16_supported()
        return torch.amp.GradScaler("cuda", enabled=fp16)

    def wrap(self, module: torch.nn.Module, find_unused_parameters: bool = False) -> torch.nn.Module:
        """The module as DistributedDataParallel (gradients averaged over ranks in backward), or itself alone."""
        if not self.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused_parameters)

    def record(self) -> dict[str, object]:
        """What the state and log keep about how a session ran."""
        return {"world_size": self.size, "device": self.device.type}


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`cpu`, `cuda` (this rank's GPU) or `auto` (CUDA when there is one)."""
    if name not in DEVICES:
        raise MelodexError(f"unknown device {name!r}; use one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise MelodexError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu (or auto)")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def init(device: str = "auto", wait_minutes: float = 30.0) -> World:
    """This process's World from torchrun's environment (a world of one without it), joining the group.

    `wait_minutes` is how long a collective waits for the slowest rank before failing: longer where rank 0
    alone builds something the others then read (see `World.main_first`).
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    world = World(rank, size, local_rank, resolve_device(device, local_rank))
    if world.device.type == "cuda":
        torch.cuda.set_device(world.device)
    if size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if world.device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(minutes=wait_minutes))
    return world


def shutdown(world: World) -> None:
    """Leave the process group (torchrun waits for every rank to do so)."""
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


# -- each rank's share of the data --------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    """Which items of an endless, epoch-shuffled sequence over `n_items` this rank trains on at each step.

    The global batch of step s is positions s*B .. s*B+B-1 of the sequence, whatever the number of
    ranks; rank r takes every size-th of them starting at r, as DistributedSampler does within an epoch.
    So 2 ranks see between them exactly the windows 1 rank sees, and a run resumed on another number of
    ranks goes on with the same data. (torch's DistributedSampler pads each epoch to a multiple of the
    world size and cannot start mid-epoch, which would make the data depend on the number of ranks.)
    Each position also has its own random generator, for augmenting that item the same way anywhere.
    """

    n_items: int
    batch_size: int  # global, over all ranks
    seed: int
    world: World

    def __post_init__(self) -> None:
        if self.n_items < 1:
            raise MelodexError("there is nothing to train on: the training split is empty")
        self.world.local_batch(self.batch_size)

    def positions(self, step: int) -> range:
        """This rank's positions in the sequence at a step."""
        return range(step * self.batch_size + self.world.rank, (step + 1) * self.batch_size, self.world.size)

    def index(self, position: int) -> int:
        """The item at a position: epoch `position // n_items` visits every item once, in its own order."""
        epoch, offset = divmod(position, self.n_items)
        return int(_epoch_order(self.seed, epoch, self.n_items)[offset])

    def rng(self, position: int, attempt: int = 0) -> np.random.Generator:
        """The random generator of one position (another `attempt` when its item could not be used)."""
        return np.random.default_rng([self.seed, position, attempt])


@lru_cache(maxsize=4)
def _epoch_order(seed: int, epoch: int, n_items: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, n_items]).permutation(n_items)
