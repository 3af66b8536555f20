"""Samplers whose order depends only on (seed, epoch), so a resumed run sees the same batches,
and the DataLoader settings every DataModule shares."""

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class EpochShuffleSampler(Sampler[int]):
    """A fresh permutation each epoch, drawn from ``seed + epoch`` rather than the global RNG.

    Lightning calls ``set_epoch`` before each training epoch, so resuming at an epoch
    boundary replays exactly the order an uninterrupted run would have used.
    """

    def __init__(self, length: int, seed: int = 0) -> None:
        self.length, self.seed, self.epoch = length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())


class EpochShuffleBatches(Sampler[list[int]]):
    """Whole batches of indices from an ``EpochShuffleSampler`` order (the last partial batch
    is dropped), for datasets that index a batch at once: ``DataLoader(dataset,
    batch_size=None, sampler=EpochShuffleBatches(...))``."""

    def __init__(self, length: int, batch_size: int, seed: int = 0) -> None:
        self.order, self.batch_size = EpochShuffleSampler(length, seed), batch_size

    def set_epoch(self, epoch: int) -> None:
        self.order.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.order) // self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        indices = list(self.order)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield indices[start : start + self.batch_size]


def batch_loader(dataset: Dataset, batch_size: int, num_workers: int, **kwargs: Any) -> DataLoader:
    """The DataLoader every ganlab DataModule uses: workers kept alive between epochs."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        **kwargs,
    )


class ShardedSampler(Sampler):
    """One process's share of another sampler's order under data parallelism: positions
    rank, rank + W, rank + 2W, ... (W processes), after dropping the tail that does not split
    evenly. Batch k of every process together is batch k of one process with W times the
    batch size, which is what makes W processes replay one (see ganlab.distributed)."""

    def __init__(self, sampler: Sampler, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.sampler, self.rank, self.world_size = sampler, rank, world_size

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler) // self.world_size

    def __iter__(self) -> Iterator:
        order = list(self.sampler)
        usable = len(order) // self.world_size * self.world_size
        return iter(order[:usable][self.rank :: self.world_size])
