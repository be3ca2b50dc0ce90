"""One training iteration per phase, written to read like the algorithm (see algorithm.md).

Each step takes the networks, optimizers and a batch and returns a dict of detached losses and
output images. Nothing is handed between steps through attributes.

Speed at the same mathematics:
- generator calls that share weights run as one batched call when normalisation is per sample
  (instance norm or none), so G and F each run twice per iteration instead of three times;
- each discriminator judges real and buffered fake images in one call (also only when exact);
- with ``model.synth_mix`` > 0 the batch carries "synth_lr" and a per-sample "use_synth"
  flag (drawn by the dataset): flagged samples feed the SR network the synthetic LR instead of
  G(X), and the generator's SR loss covers only its own samples (``_mix_synthetic``);
- in the joint phase one SR forward/backward on G(X) serves both the generator's SR loss
  (weight ``cycleSR_lam``) and the SR network's own update (weight ``SR_lam``): the SR
  gradients are rescaled by ``SR_lam / cycleSR_lam``. The SR network never runs in the
  transfer warm-up.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
import torch.nn.functional as nnf
from torch import nn

from cyclesr.engine.buffer import ImageBuffer

__all__ = ["StepNets", "StepOptim", "StepSettings", "transfer_step", "pretrain_step"]


def _local(net: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel (still compiled if it was): for calls whose
    gradients must not be synchronised, such as frozen discriminators in the generator step."""
    return net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net


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
    autocast: Callable[[], contextlib.AbstractContextManager] = field(
        default=contextlib.nullcontext)
    # makes a per-process "loss is finite" flag the same on every process (the minimum over
    # ranks under torch.distributed), so that all ranks skip or apply an update together
    agree: Callable[[torch.Tensor], torch.Tensor] = field(default=_same)


def _low(img: torch.Tensor) -> torch.Tensor:
    """Low frequencies: 4x4 means (noise, texture and JPEG blocks average out)."""
    return nnf.avg_pool2d(img, 4, ceil_mode=True)


def _mse_to(pred: torch.Tensor, target: float) -> torch.Tensor:
    return nnf.mse_loss(pred, torch.full_like(pred, target))


def _set_grad(nets: tuple[nn.Module, ...], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def _finish(opt: StepOptim, optimizers, nets_to_clip, clip: float, loss: torch.Tensor,
            agree: Callable[[torch.Tensor], torch.Tensor] = _same) -> bool:
    """Unscale (AMP), clip each network's gradient norm, step. A non-finite loss (on any
    process) skips the update (returns False); the trainer counts consecutive skips."""
    finite = agree(torch.isfinite(loss.detach()).to(torch.int32))
    if not bool(finite):  # the one host sync per update (free on the CPU)
        for o in optimizers:
            o.zero_grad(set_to_none=True)
        return False
    scaler = opt.scaler
    if scaler is not None:
        for o in optimizers:
            scaler.unscale_(o)
    if clip > 0:
        for net in nets_to_clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip, foreach=True)
    for o in optimizers:
        if scaler is not None:
            scaler.step(o)
        else:
            o.step()
    return True


def _backward(loss: torch.Tensor, opt: StepOptim) -> None:
    (opt.scaler.scale(loss) if opt.scaler is not None else loss).backward()


def _pair(net: nn.Module, a: torch.Tensor, b: torch.Tensor, batched: bool):
    """net(a), net(b), as one call when that is exact."""
    if batched:
        return net(torch.cat([a, b])).split([a.shape[0], b.shape[0]])
    return net(a), net(b)


def _generate(nets: StepNets, x: torch.Tensor, y: torch.Tensor, s: StepSettings) -> dict:
    """All generator outputs of one iteration: fakes, reconstructions, identities."""
    idt = s.lambda_identity > 0
    if idt:  # stage 1: G on (X, Y) and F on (Y, X); fakes and identity mappings
        fake_y, idt_y = _pair(nets.G, x, y, s.batch_generators)
        fake_x, idt_x = _pair(nets.F, y, x, s.batch_generators)
    else:
        fake_y, fake_x, idt_y, idt_x = nets.G(x), nets.F(y), None, None
    rec_y = nets.G(fake_x)  # stage 2: reconstructions
    rec_x = nets.F(fake_y)
    return dict(fake_y=fake_y, fake_x=fake_x, rec_x=rec_x, rec_y=rec_y, idt_x=idt_x, idt_y=idt_y)


def _discriminator_loss(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, batched: bool):
    pred_real, pred_fake = _pair(D, real, fake, batched)
    return 0.5 * (_mse_to(pred_real, 1.0) + _mse_to(pred_fake, 0.0))


def _mix_synthetic(fake: torch.Tensor, synth: torch.Tensor, use: torch.Tensor) -> torch.Tensor:
    """The SR input of the joint phase with synthetic samples: ``synth`` where ``use`` (a
    (B, 1, 1, 1) bool mask), else ``fake`` = G(X).

    The generator's SR loss must average over its own samples only, while the SR network's
    loss averages over the whole batch. Both come from the one SR pass: the gradient that
    flows back into ``fake`` is multiplied by B / (number of G(X) samples), so the generator
    gets the gradient of the mean SR loss over the G(X) samples and the SR network that of
    the batch mean. The value is unchanged (fake.detach() + k * 0), and no host sync. (With a
    batch-normalised SR network the synthetic samples' loss also reaches G through the batch
    statistics, as in any batch-norm network; exact for SR networks without batch norm.)"""
    k = use.numel() / (~use).sum().clamp(min=1).to(fake.dtype)
    if fake.requires_grad:
        fake = fake.detach() + k * (fake - fake.detach())
    return torch.where(use, synth.to(fake.dtype), fake)


def transfer_step(nets: StepNets, opt: StepOptim, batch: dict, s: StepSettings,
                  buffers: tuple[ImageBuffer, ImageBuffer], joint: bool) -> dict:
    """One CycleGAN iteration (D step, then G/F step); with ``joint`` the SR network is trained
    on (G(X), HR) and its loss also trains G."""
    x, y, hr = batch["clean_lr"], batch["real_lr"], batch["hr"]
    buf_x, buf_y = buffers
    discriminators = (nets.D_X, nets.D_Y)
    with s.autocast():
        out = _generate(nets, x, y, s)

    # 1. discriminators, on real images and buffered fakes
    _set_grad(discriminators, True)
    opt.d_x.zero_grad(set_to_none=True)
    opt.d_y.zero_grad(set_to_none=True)
    with s.autocast():
        loss_d_y = _discriminator_loss(nets.D_Y, y, buf_y.query(out["fake_y"]), s.batch_discriminators)
        loss_d_x = _discriminator_loss(nets.D_X, x, buf_x.query(out["fake_x"]), s.batch_discriminators)
    loss_d = loss_d_x + loss_d_y
    _backward(loss_d, opt)
    ok_d = _finish(opt, (opt.d_x, opt.d_y), discriminators, s.grad_clip, loss_d, s.agree)

    # 2. generators (discriminators frozen, called outside DDP: no gradients to synchronise)
    _set_grad(discriminators, False)
    opt.gen.zero_grad(set_to_none=True)
    lc, li = s.lambda_cycle, s.lambda_cycle * s.lambda_identity
    with s.autocast():
        losses = {
            "G_gan": _mse_to(_local(nets.D_Y)(out["fake_y"]), 1.0),
            "F_gan": _mse_to(_local(nets.D_X)(out["fake_x"]), 1.0),
            "cycle_x": nnf.l1_loss(out["rec_x"], x) * lc,
            "cycle_y": nnf.l1_loss(out["rec_y"], y) * lc,
        }
        if out["idt_y"] is not None:
            losses["idt_y"] = nnf.l1_loss(out["idt_y"], y) * li
            losses["idt_x"] = nnf.l1_loss(out["idt_x"], x) * li
        if s.lambda_lowfreq > 0:  # G and F may change noise and texture, not colour or tone
            losses["lowfreq_x"] = nnf.l1_loss(_low(out["fake_y"]), _low(x)) * s.lambda_lowfreq
            losses["lowfreq_y"] = nnf.l1_loss(_low(out["fake_x"]), _low(y)) * s.lambda_lowfreq
        gen_loss = sum(losses.values())
        sr_out = None
        if joint:
            opt.sr.zero_grad(set_to_none=True)
            sr_in = out["fake_y"] if s.cycleSR_lam > 0 else out["fake_y"].detach()
            if "use_synth" in batch:  # model.synth_mix > 0: some samples are synthetic
                sr_in = _mix_synthetic(sr_in, batch["synth_lr"], batch["use_synth"] > 0.5)
            sr_out = nets.SR(sr_in)
            losses["sr"] = nnf.mse_loss(sr_out.float(), hr)
            gen_loss = gen_loss + s.cycleSR_lam * losses["sr"]
    if joint and s.cycleSR_lam == 0:
        gen_loss = gen_loss + s.SR_lam * losses["sr"]
    _backward(gen_loss, opt)
    if joint and s.cycleSR_lam > 0 and s.SR_lam != s.cycleSR_lam:
        ratio = s.SR_lam / s.cycleSR_lam
        grads = [p.grad for p in nets.SR.parameters() if p.grad is not None]
        if grads:
            torch._foreach_mul_(grads, ratio)
    optimizers = (opt.gen, opt.sr) if joint else (opt.gen,)
    to_clip = (nets.G, nets.F, nets.SR) if joint else (nets.G, nets.F)
    ok_g = _finish(opt, optimizers, to_clip, s.grad_clip, gen_loss, s.agree)
    _set_grad(discriminators, True)

    losses.update(D_X=loss_d_x, D_Y=loss_d_y, G_total=gen_loss)
    return {"ok": ok_d and ok_g, "losses": {k: v.detach() for k, v in losses.items()},
            "images": {"hr": hr, "clean_lr": x, "real_lr": y, "fake_real_lr": out["fake_y"].detach(),
                       "fake_clean_lr": out["fake_x"].detach(), "rec_clean_lr": out["rec_x"].detach(),
                       "rec_real_lr": out["rec_y"].detach(),
                       **({"sr": sr_out.detach()} if sr_out is not None else {})}}


def pretrain_step(nets: StepNets, opt: StepOptim, batch: dict, s: StepSettings) -> dict:
    """SR pretraining on bicubic pairs (X -> HR), weight 1, as the reference."""
    x, hr = batch["clean_lr"], batch["hr"]
    opt.sr.zero_grad(set_to_none=True)
    with s.autocast():
        sr_out = nets.SR(x)
        loss = nnf.mse_loss(sr_out.float(), hr)
    _backward(loss, opt)
    ok = _finish(opt, (opt.sr,), (nets.SR,), s.grad_clip, loss, s.agree)
    return {"ok": ok, "losses": {"sr_pretrain": loss.detach()},
            "images": {"hr": hr, "clean_lr": x, "sr": sr_out.detach()}}
