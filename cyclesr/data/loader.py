"""Samplers and loaders: seeded per epoch, sharded across ranks, resumable mid-epoch."""
from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["EpochSampler", "make_loader"]


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, sample id)`` for this rank's share of ``num_samples`` ids in one epoch
    (the epoch travels with the index, so persistent workers need no ``set_epoch``).

    The order depends only on (seed, epoch), so a resumed run sees the same batches; each rank
    takes every ``world``-th id (like DistributedSampler). ``skip_batches`` starts the epoch
    part-way through (resume after an interrupted epoch).
    """

    def __init__(self, num_samples: int, batch_size: int, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world: int = 1):
        per_rank = num_samples // world
        self.per_rank = (per_rank // batch_size) * batch_size
        if self.per_rank == 0:
            raise ValueError(f"{num_samples} samples per epoch cannot fill one batch of "
                             f"{batch_size} on each of {world} processes")
        self.num_samples, self.batch_size = num_samples, batch_size
        self.shuffle, self.seed, self.rank, self.world = shuffle, seed, rank, world
        self.epoch, self.skip_batches = 1, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip_batches = epoch, skip_batches

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.num_samples, generator=g)
        else:
            order = torch.arange(self.num_samples)
        mine = order[self.rank::self.world][:self.per_rank]
        return ((self.epoch, i) for i in mine[self.skip_batches * self.batch_size:].tolist())

    def __len__(self) -> int:
        return self.per_rank - self.skip_batches * self.batch_size


def make_loader(dataset: Dataset, sampler: EpochSampler, num_workers: int, pin_memory: bool
                ) -> DataLoader:
    return DataLoader(dataset, batch_size=sampler.batch_size, sampler=sampler, drop_last=True,
                      num_workers=num_workers, pin_memory=pin_memory,
                      persistent_workers=num_workers > 0,
                      prefetch_factor=4 if num_workers > 0 else None)
