"""Samplers and loaders: seeded per epoch, sharded across ranks, resumable mid-epoch."""
from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from cyclesr.config import Config
from cyclesr.data.datasets import UnpairedDataset

__all__ = ["EpochSampler", "make_loader", "train_loader"]


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, sample id)`` for this rank's share of ``num_samples`` ids in one epoch
    (the epoch travels with the index, so persistent workers need no ``set_epoch``). Without
    ``drop_last`` the last batch of an epoch may be short (``per_rank`` is then no multiple of
    ``batch_size``).

    The order depends only on (seed, epoch), so a resumed run sees the same batches; each rank
    takes every ``world``-th id (like DistributedSampler). ``skip_batches`` starts the epoch
    part-way through (resume after an interrupted epoch).
    """

    def __init__(self, num_samples: int, batch_size: int, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world: int = 1, drop_last: bool = True):
        per_rank = num_samples // world
        self.per_rank = (per_rank // batch_size) * batch_size if drop_last else per_rank
        self.drop_last = drop_last
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
    """Batches of ``sampler.batch_size``; workers stay alive across epochs and keep 4 batches
    each in flight; pinned memory for non-blocking copies to a GPU."""
    return DataLoader(dataset, batch_size=sampler.batch_size, sampler=sampler, drop_last=sampler.drop_last,
                      num_workers=num_workers, pin_memory=pin_memory,
                      persistent_workers=num_workers > 0,
                      prefetch_factor=4 if num_workers > 0 else None)


def train_loader(cfg: Config, rank: int = 0, world: int = 1, pin_memory: bool = False,
                 synth_recipe=None, synth_mix: float = 0.0
                 ) -> tuple[UnpairedDataset, EpochSampler, DataLoader]:
    """The training set, this rank's sampler and the loader, as ``cfg.dataset.train`` says.

    An epoch is one pass over the HR images (at least one global batch; with ``drop_last``
    false the last batch may be short, as the reference's loader), or ``iters_per_epoch``
    global batches of ``batch_size * world`` samples; each rank draws its own share of the
    sample ids, and every sample has its own HR crop and real-LR crop. Batches are pinned when
    ``pin_memory`` says so (``dataset.train.pin_memory`` when set, and only with CUDA).
    With ``synth_recipe``, samples also carry "synth_lr" and "use_synth" (see UnpairedDataset).
    """
    tr, seed = cfg.dataset.train, cfg.trainer.seed
    dataset = UnpairedDataset(tr.HR_dir, tr.LR_dir, tr.crop_size, cfg.upscale,
                              augment=tr.augment, cache=tr.cache, seed=seed,
                              synth_recipe=synth_recipe, synth_mix=synth_mix, x_resize=tr.x_resize)
    per_step = tr.batch_size * world
    if tr.iters_per_epoch:
        samples = tr.iters_per_epoch * per_step
    elif tr.drop_last:
        samples = max(len(dataset), per_step) // per_step * per_step
    else:
        samples = max(len(dataset), world) // world * world
    dataset.length = samples
    sampler = EpochSampler(samples, tr.batch_size, shuffle=tr.shuffle, seed=seed, rank=rank,
                           world=world, drop_last=tr.drop_last)
    if tr.pin_memory is not None:
        pin_memory = tr.pin_memory and torch.cuda.is_available()
    return dataset, sampler, make_loader(dataset, sampler, tr.num_workers, pin_memory)
