"""What the training steps are made of: the networks, optimizers and settings they take, and
the few operations every update shares (backward, skip-or-clip-and-step, frozen networks,
batched pairs of calls)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Sequence

import torch
import torch.nn.functional as nnf
from torch import nn

__all__ = ["StepNets", "StepOptim", "StepSettings", "local", "frozen", "pair", "mse_to",
           "backward", "finish_update"]


def _same(flag: torch.Tensor) -> torch.Tensor:
    return flag


@dataclass
class StepNets:
    G: nn.Module
    F: nn.Module
    D_X: nn.Module
    D_Y: nn.Module
    SR: nn.Module


@dataclass
class StepOptim:
    gen: torch.optim.Optimizer        # G and F together
    d_x: torch.optim.Optimizer
    d_y: torch.optim.Optimizer
    sr: torch.optim.Optimizer
    scaler: Optional[torch.amp.GradScaler] = None


@dataclass
class StepSettings:
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    lambda_lowfreq: float = 0.0        # colour/tone consistency between X and G(X), Y and F(Y)
    SR_lam: float = 1000.0
    cycleSR_lam: float = 1000.0
    grad_clip: float = 50.0
    batch_generators: bool = True      # exact only with per-sample normalisation
    batch_discriminators: bool = True
    train_transfer: bool = True        # False (model.cyc_lr: 0): G, F and the discriminators stay as they are
    autocast: Callable[[], contextlib.AbstractContextManager] = field(
        default=contextlib.nullcontext)
    # makes a per-process "loss is finite" flag the same on every process (the minimum over
    # ranks under torch.distributed), so that all ranks skip or apply an update together
    agree: Callable[[torch.Tensor], torch.Tensor] = field(default=_same)


def local(net: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel (still compiled if it was): for calls whose
    gradients must not be synchronised, such as frozen discriminators in the generator step."""
    return net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net


@contextlib.contextmanager
def frozen(*nets: nn.Module) -> Iterator[None]:
    """The networks' parameters take no gradient inside the block (the discriminators while
    the generators learn to fool them)."""
    for net in nets:
        net.requires_grad_(False)
    try:
        yield
    finally:
        for net in nets:
            net.requires_grad_(True)


def pair(net: nn.Module, a: torch.Tensor, b: torch.Tensor, batched: bool):
    """net(a), net(b), as one call when that is exact."""
    if batched:
        return net(torch.cat([a, b])).split([a.shape[0], b.shape[0]])
    return net(a), net(b)


def mse_to(pred: torch.Tensor, target: float) -> torch.Tensor:
    """The least-squares GAN loss of ``pred`` against a constant label."""
    return nnf.mse_loss(pred, torch.full_like(pred, target))


def backward(loss: torch.Tensor, opt: StepOptim) -> None:
    (opt.scaler.scale(loss) if opt.scaler is not None else loss).backward()


def _clip_grad_norm(net: nn.Module, max_norm: float) -> None:
    """``clip_grad_norm_`` (foreach): the gradients times min(1, max_norm / (norm + 1e-6)).
    On a CPU the multiplication is skipped where that factor is 1, which leaves the same
    gradients; elsewhere the test would cost a host sync, so the factor is always applied."""
    params = [p for p in net.parameters() if p.grad is not None]
    if not params:
        return
    total = torch.nn.utils.get_total_norm([p.grad for p in params], 2.0, False, True)
    if total.device.type == "cpu" and bool(max_norm / (total + 1e-6) >= 1):
        return
    torch.nn.utils.clip_grads_with_norm_(params, max_norm, total, foreach=True)


def finish_update(opt: StepOptim, optimizers: Sequence[torch.optim.Optimizer],
                  nets_to_clip: Sequence[nn.Module], s: StepSettings, loss: torch.Tensor) -> bool:
    """Unscale (AMP), clip each network's gradient norm, step. A non-finite loss (on any
    process) skips the update (returns False); the trainer counts consecutive skips."""
    finite = s.agree(torch.isfinite(loss.detach()).to(torch.int32))
    if not bool(finite):  # the one host sync per update (free on the CPU)
        for o in optimizers:
            o.zero_grad(set_to_none=True)
        return False
    scaler = opt.scaler
    if scaler is not None:
        for o in optimizers:
            scaler.unscale_(o)
    if s.grad_clip > 0:
        for net in nets_to_clip:
            _clip_grad_norm(net, s.grad_clip)
    for o in optimizers:
        if scaler is not None:
            scaler.step(o)
        else:
            o.step()
    return True
