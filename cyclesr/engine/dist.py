"""torch.distributed from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR...).

NCCL on CUDA, gloo on CPU. Each rank samples its own crops (the effective batch is
``batch_size * world``); DistributedDataParallel averages the gradients, and a skipped update
(non-finite loss) is skipped on every rank together, so all five networks stay identical on
every rank. BatchNorm running statistics (the SR network's) follow rank 0: DDP broadcasts its
buffers at every forward pass. Only rank 0 writes logs, images and checkpoints.

The step calls each generator twice before one backward pass (a batched first pass, then the
reconstructions), which DDP supports: every parameter's gradient is ready exactly once per
backward pass. Discriminators are called outside DDP in the generator step (they are frozen
there), so no gradient synchronisation waits for them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist
from torch import nn

__all__ = ["DistContext", "init_from_env", "env_rank", "wrap_ddp", "agreement", "from_main", "barrier",
           "cleanup"]


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


_finished = False  # set by cleanup(): the run is over, never start a group again


def env_rank() -> int:
    """This process's rank from torchrun's environment (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0"))


def init_from_env(device: str | None = None) -> DistContext:
    """A DistContext; starts the process group when launched by torchrun with WORLD_SIZE > 1
    (once: called again after ``cleanup``, it only describes this process)."""
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
    if not tdist.is_initialized() and not _finished:
        tdist.init_process_group(backend="nccl" if use_cuda else "gloo")
        started = True
    return DistContext(rank, world, local_rank, dev, started)


def wrap_ddp(net: nn.Module, device: torch.device) -> nn.Module:
    """``net`` in DistributedDataParallel (parameters and buffers copied from rank 0 now);
    a network without trainable parameters is returned as it is."""
    if not any(p.requires_grad for p in net.parameters()):
        return net
    ids = [device.index] if device.type == "cuda" else None
    # buffers (BatchNorm statistics) are synchronised from rank 0 at each forward (the default)
    return nn.parallel.DistributedDataParallel(net, device_ids=ids)


def agreement(ctx: DistContext):
    """A function making a per-rank int flag global: its minimum over all ranks (identity when
    not distributed). Used so that all ranks agree on skipping a non-finite update."""
    if ctx.world <= 1:
        return lambda flag: flag

    def agree(flag: torch.Tensor) -> torch.Tensor:
        flag = flag.to(ctx.device).clone()
        tdist.all_reduce(flag, op=tdist.ReduceOp.MIN)
        return flag
    return agree


def from_main(ctx: DistContext, obj):
    """Process 0's ``obj`` (a picklable object) on every process (``obj`` itself when not
    distributed; other processes may pass None)."""
    if ctx.world <= 1 or not tdist.is_initialized():
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ctx: DistContext) -> None:
    if ctx.world > 1 and tdist.is_initialized():
        tdist.barrier()


def cleanup(ctx: DistContext) -> None:
    global _finished
    if ctx.started_here and tdist.is_initialized():
        tdist.destroy_process_group()
        _finished = True
