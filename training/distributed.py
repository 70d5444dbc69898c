"""Data-parallel training under torchrun: one process per CPU slot or GPU, gradients averaged.

`torchrun --nproc-per-node N -m training train ...` starts N copies of the same command and sets
RANK, LOCAL_RANK and WORLD_SIZE (and MASTER_ADDR/PORT) for each. Every process reads the same
data, makes the same validation split and vocabulary from the same seed, and walks the same
shuffled sequence of batches; each takes its own slice of every batch, so one step of N
processes is one step of a single process over the whole batch (same batch size, learning rate
and schedule). Rank 0 alone validates, chooses the epoch, calibrates and writes the artifact; the
others wait for its decision.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_env() -> Ranks:
    """The ranks torchrun gave this process (a plain run is rank 0 of 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def start(ranks: Ranks, device: torch.device) -> torch.device:
    """Join the process group (NCCL on GPUs, gloo on CPU); return the device this rank trains on."""
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    # Rank 0 validates and writes the artifact while the others wait: allow it a long time.
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(hours=2))
    return device


def stop() -> None:
    dist.barrier()
    dist.destroy_process_group()


def my_slice(group: list[int], ranks: Ranks) -> list[int]:
    """This rank's contiguous share of one batch (shares differ in size by at most one)."""
    n = len(group)
    return group[ranks.rank * n // ranks.world : (ranks.rank + 1) * n // ranks.world]


def sum_all(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over all ranks (on `device`: NCCL reduces GPU tensors only)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def from_main(value: Any) -> Any:
    """Rank 0's `value`, on every rank."""
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
