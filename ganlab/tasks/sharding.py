"""User tasks over several processes: ``torchrun --nproc_per_node N -m ganlab.run task=...``.

Each process takes every N-th batch of the inputs (process r: batches r, r + N, ...), so a
batch holds the same images as in one process and per-batch decisions (MGI's FID over a
batch) come out the same. Rank 0 gathers the outputs in batch order and writes every file;
the others write nothing. One process alone (no ``WORLD_SIZE``) runs every batch itself.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class Share:
    rank: int
    world_size: int

    @property
    def writes(self) -> bool:
        """Rank 0 writes the run's files."""
        return self.rank == 0


def process_share() -> Share:
    """This process's place among those torchrun started (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``); joins their process group (NCCL on GPUs, else Gloo) and picks its own
    GPU. Alone: ``Share(0, 1)``."""
    world_size = int(os.environ.get("WORLD_SIZE") or 1)
    rank = int(os.environ.get("RANK") or 0)
    if world_size > 1:
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK") or 0))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Share(rank, world_size)


def sharded_batches(
    function: Callable[[Tensor], tuple[Tensor, Any]],
    images: Tensor,
    batch_size: int,
    device: Any,
    share: Share,
) -> list[tuple[Tensor, Any]] | None:
    """``function(batch) -> (outputs, details)`` over this process's batches of ``images``;
    on rank 0 the (outputs on the CPU, details) of every batch in order, elsewhere None."""
    batches = images.split(batch_size)
    mine = {}
    for index in range(share.rank, len(batches), share.world_size):
        outputs, details = function(batches[index].to(device))
        mine[index] = (outputs.detach().cpu(), details)
    if share.world_size == 1:
        return [mine[index] for index in sorted(mine)]
    print(
        f"ganlab: process {share.rank} of {share.world_size} ran batch(es) "
        f"{sorted(mine)} of {len(batches)}",
        flush=True,
    )
    gathered: list[dict[int, tuple[Tensor, Any]] | None] = [None] * share.world_size
    dist.all_gather_object(gathered, mine)
    if not share.writes:
        return None
    every = {index: result for part in gathered for index, result in (part or {}).items()}
    return [every[index] for index in range(len(batches))]
