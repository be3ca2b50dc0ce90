"""Our re-implementation of the reference's training iteration, for ``cyclesr bench step
--reference reimpl`` and the same-mathematics tests. It is not Vega's code, and it is not as
fast as Vega's code: ``--reference vega`` (``cyclesr.bench.vega_step``) times Vega's own.

It computes the same updates as ``cyclesr.engine.steps``, written the way the reference
implementation runs its iteration: every generator use is its own call (G and F three times
each), each discriminator judges real and fake images in separate calls, the SR network runs
twice in the joint phase (once frozen for the generator's loss, once for its own update), Adam
without ``foreach``, ``zero_grad()`` that fills gradients with zeros, and a CycleGAN image pool
that walks the batch image by image in Python, on this project's networks. Unlike Vega's
step it does not compute the SR network's weight gradients in the generator's backward pass.
"""
from __future__ import annotations

import contextlib
import dataclasses
import random

import torch
import torch.nn.functional as nnf
from torch import nn

__all__ = ["ImagePool", "make_reference_optimizers", "reference_transfer_step",
           "reference_pretrain_step", "reference_runner"]


class ImagePool:
    """The classic image pool: a Python list, one image at a time."""

    def __init__(self, size: int, seed: int = 0):
        self.size, self.images = size, []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif self.rng.random() < 0.5:
                slot = self.rng.randrange(self.size)
                out.append(self.images[slot].clone())
                self.images[slot] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


def make_reference_optimizers(model, cfg) -> dict:
    """Adam per network group as the reference: G and F together, D_X, D_Y, SR; no foreach."""
    m = cfg.model
    kw = dict(betas=(m.beta1, m.beta2), foreach=False)
    adam = torch.optim.Adam
    return {"gen": adam(list(model.G.parameters()) + list(model.F.parameters()), lr=m.cyc_lr, **kw),
            "d_x": adam(model.D_X.parameters(), lr=m.cyc_lr, **kw),
            "d_y": adam(model.D_Y.parameters(), lr=m.cyc_lr, **kw),
            "sr": adam(model.SR.parameters(), lr=m.SR_lr, **kw)}


def _gan_loss(pred: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(pred) if real else torch.zeros_like(pred)
    return nnf.mse_loss(pred, target)


def _clip_and_step(nets: tuple[nn.Module, ...], opt: torch.optim.Optimizer, clip: float) -> None:
    if clip > 0:
        for net in nets:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip, foreach=False)
    opt.step()


def _requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad = flag


def reference_transfer_step(model, opt: dict, batch: dict, s, pools: tuple[ImagePool, ImagePool],
                            joint: bool) -> None:
    """One iteration: discriminators, then generators (with SR loss when joint), then SR."""
    x, y, hr = batch["clean_lr"], batch["real_lr"], batch["hr"]
    G, F, D_X, D_Y, SR = model.G, model.F, model.D_X, model.D_Y, model.SR
    fake_y = G(x)
    rec_x = F(fake_y)
    fake_x = F(y)
    rec_y = G(fake_x)
    idt_y = G(y)
    idt_x = F(x)
    pool_x, pool_y = pools
    for D, real, fake, key in ((D_Y, y, pool_y.query(fake_y), "d_y"),
                               (D_X, x, pool_x.query(fake_x), "d_x")):
        opt[key].zero_grad(set_to_none=False)
        loss_d = 0.5 * (_gan_loss(D(real), True) + _gan_loss(D(fake.detach()), False))
        loss_d.backward()
        _clip_and_step((D,), opt[key], s.grad_clip)
    _requires_grad((D_X, D_Y, SR), False)
    opt["gen"].zero_grad(set_to_none=False)
    lc, li = s.lambda_cycle, s.lambda_cycle * s.lambda_identity
    loss_g = (_gan_loss(D_Y(fake_y), True) + _gan_loss(D_X(fake_x), True)
              + lc * nnf.l1_loss(rec_x, x) + lc * nnf.l1_loss(rec_y, y)
              + li * nnf.l1_loss(idt_y, y) + li * nnf.l1_loss(idt_x, x))
    if joint:
        loss_g = loss_g + s.cycleSR_lam * nnf.mse_loss(SR(fake_y), hr)
    loss_g.backward()
    _clip_and_step((G, F), opt["gen"], s.grad_clip)
    _requires_grad((D_X, D_Y, SR), True)
    if joint:  # the SR network's own update: a second pass on the same G(X)
        opt["sr"].zero_grad(set_to_none=False)
        loss_sr = s.SR_lam * nnf.mse_loss(SR(fake_y.detach()), hr)
        loss_sr.backward()
        _clip_and_step((SR,), opt["sr"], s.grad_clip)


def reference_pretrain_step(model, opt: dict, batch: dict, s) -> None:
    opt["sr"].zero_grad(set_to_none=False)
    loss = nnf.mse_loss(model.SR(batch["clean_lr"]), batch["hr"])
    loss.backward()
    _clip_and_step((model.SR,), opt["sr"], s.grad_clip)


def reference_runner(cfg, phase: str, device: torch.device, batch: int, patch: int):
    """A function running one reference-like iteration of ``phase`` (fp32, NCHW, no compile)
    on the same random batch and initial weights as ``cyclesr.engine.timing.step_runner``."""
    from cyclesr.engine.setup import make_settings
    from cyclesr.engine.timing import PHASES, random_batch
    from cyclesr.model import build_model

    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
    torch.manual_seed(cfg.trainer.seed)
    model = build_model(cfg).to(device)
    data = random_batch(cfg, batch, patch, device)
    # the reference has no mixed precision: fp32 whatever trainer.amp says
    settings = dataclasses.replace(make_settings(cfg, device, model=model), autocast=contextlib.nullcontext)
    opt = make_reference_optimizers(model, cfg)
    size = cfg.model.cyclegan.buffer_size
    pools = (ImagePool(size, 1), ImagePool(size, 2))
    if phase == "pretrain":
        return lambda: reference_pretrain_step(model, opt, data, settings)
    return lambda: reference_transfer_step(model, opt, data, settings, pools, phase == "joint")
