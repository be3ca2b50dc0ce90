"""torch.distributed from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR...).

NCCL on CUDA, gloo on CPU. Each rank samples its own crops; gradients are averaged by
DistributedDataParallel, so all five networks stay identical on every rank.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist
from torch import nn

__all__ = ["DistContext", "init_from_env", "wrap_ddp", "barrier", "cleanup"]


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    started_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device: str | None = None) -> DistContext:
    """A DistContext; starts the process group when launched by torchrun with WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    started = False
    if not tdist.is_initialized():
        tdist.init_process_group(backend="nccl" if use_cuda else "gloo")
        started = True
    return DistContext(rank, world, local_rank, dev, started)


def wrap_ddp(net: nn.Module, device: torch.device) -> nn.Module:
    if not any(p.requires_grad for p in net.parameters()):
        return net
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(net, device_ids=ids)


def barrier(ctx: DistContext) -> None:
    if ctx.world > 1 and tdist.is_initialized():
        tdist.barrier()


def cleanup(ctx: DistContext) -> None:
    if ctx.started_here and tdist.is_initialized():
        tdist.destroy_process_group()
