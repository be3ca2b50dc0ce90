"""One training iteration per phase, written like the algorithm (see algorithm.md):

- ``transfer_step`` (warm-up): CycleGAN alone. Generate, update the discriminators, update
  G and F.
- ``pretrain_step``: the SR network on bicubic pairs (X -> HR).
- ``joint_step``: the CycleGAN iteration, with the SR network trained on (G(X), HR) in the same
  generator update; its loss also reaches G with weight ``cycleSR_lam``.

Each step takes the networks, optimizers and a batch and returns a dict of detached losses and
output images; the pieces pass everything as arguments and return values.

Speed at the same mathematics:
- generator calls that share weights run as one batched call when normalisation is per sample
  (instance norm or none): F on Y and X, G on X, Y and F(Y), F on G(X), three calls instead of
  six (``generate``);
- each discriminator judges real and buffered fake images in one call (also only when exact);
- in the joint phase one SR forward/backward on G(X) serves both the generator's SR loss
  (weight ``cycleSR_lam``) and the SR network's own update (weight ``SR_lam``): the SR
  gradients are rescaled by ``SR_lam / cycleSR_lam``;
- with ``model.synth_mix`` > 0 the batch carries "synth_lr" and a per-sample "use_synth" flag
  (drawn by the dataset): flagged samples feed the SR network the synthetic LR instead of
  G(X), and the generator's SR loss covers only its own samples (``_mix_synthetic``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as nnf

from cyclesr.engine.buffer import ImageBuffer
from cyclesr.engine.schedule import JOINT, PRETRAIN
from cyclesr.engine.step_tools import (StepNets, StepOptim, StepSettings, backward, finish_update,
                                       frozen, local, mse_to, pair)

__all__ = ["StepNets", "StepOptim", "StepSettings", "transfer_step", "pretrain_step", "joint_step",
           "run_step", "generate", "update_discriminators", "generator_losses", "update_generators",
           "sr_loss_on_fakes", "update_generators_and_sr"]

Buffers = tuple[ImageBuffer, ImageBuffer]


def _one_call(net, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """net on each input, as one call on their concatenation (exact for per-sample nets)."""
    return net(torch.cat(inputs)).split([t.shape[0] for t in inputs])


def generate(nets: StepNets, x: torch.Tensor, y: torch.Tensor, s: StepSettings) -> dict:
    """All generator outputs of one iteration: fakes, reconstructions, identities.

    With per-sample generators the six uses of G and F run as three calls: F on Y (and X, for
    the identity), then G on X, Y and F(Y) together, then F on G(X). G runs once on a triple
    batch, which keeps the CPU's convolutions busier than two smaller calls and gives each of
    G's weights one gradient to keep instead of two to add."""
    identity = s.lambda_identity > 0
    with s.autocast():
        if not s.batch_generators:  # batch norm or dropout: every use its own call
            fake_y, fake_x = nets.G(x), nets.F(y)
            idt_y, idt_x = (nets.G(y), nets.F(x)) if identity else (None, None)
            rec_y, rec_x = nets.G(fake_x), nets.F(fake_y)
        elif identity:
            fake_x, idt_x = _one_call(nets.F, y, x)
            fake_y, idt_y, rec_y = _one_call(nets.G, x, y, fake_x)
            rec_x = nets.F(fake_y)
        else:
            fake_x, idt_x, idt_y = nets.F(y), None, None
            fake_y, rec_y = _one_call(nets.G, x, fake_x)
            rec_x = nets.F(fake_y)
    return dict(fake_y=fake_y, fake_x=fake_x, rec_x=rec_x, rec_y=rec_y, idt_x=idt_x, idt_y=idt_y)


def _discriminator_loss(D, real: torch.Tensor, fake: torch.Tensor, batched: bool) -> torch.Tensor:
    pred_real, pred_fake = pair(D, real, fake, batched)
    return 0.5 * (mse_to(pred_real, 1.0) + mse_to(pred_fake, 0.0))


def update_discriminators(nets: StepNets, opt: StepOptim, s: StepSettings, x: torch.Tensor,
                          y: torch.Tensor, out: dict, buffers: Buffers) -> tuple[bool, dict]:
    """D_Y tells real LR from buffered G(X), D_X clean LR from buffered F(Y); one step each."""
    buf_x, buf_y = buffers
    opt.d_x.zero_grad(set_to_none=True)
    opt.d_y.zero_grad(set_to_none=True)
    with s.autocast():
        loss_d_y = _discriminator_loss(nets.D_Y, y, buf_y.query(out["fake_y"]), s.batch_discriminators)
        loss_d_x = _discriminator_loss(nets.D_X, x, buf_x.query(out["fake_x"]), s.batch_discriminators)
    loss = loss_d_x + loss_d_y
    backward(loss, opt)
    ok = finish_update(opt, (opt.d_x, opt.d_y), (nets.D_X, nets.D_Y), s, loss)
    return ok, {"D_X": loss_d_x, "D_Y": loss_d_y}


def _low(img: torch.Tensor) -> torch.Tensor:
    """Low frequencies: 4x4 means (noise, texture and JPEG blocks average out)."""
    return nnf.avg_pool2d(img, 4, ceil_mode=True)


def generator_losses(nets: StepNets, out: dict, x: torch.Tensor, y: torch.Tensor,
                     s: StepSettings) -> dict:
    """G's and F's CycleGAN losses: fool the (frozen) discriminators, cycle back, map each
    domain to itself (identity), keep colour and tone (low frequencies)."""
    lc, li = s.lambda_cycle, s.lambda_cycle * s.lambda_identity
    with s.autocast():  # the discriminators run outside DDP: no gradients to synchronise
        losses = {"G_gan": mse_to(local(nets.D_Y)(out["fake_y"]), 1.0),
                  "F_gan": mse_to(local(nets.D_X)(out["fake_x"]), 1.0),
                  "cycle_x": nnf.l1_loss(out["rec_x"], x) * lc,
                  "cycle_y": nnf.l1_loss(out["rec_y"], y) * lc}
        if out["idt_y"] is not None:
            losses["idt_y"] = nnf.l1_loss(out["idt_y"], y) * li
            losses["idt_x"] = nnf.l1_loss(out["idt_x"], x) * li
        if s.lambda_lowfreq > 0:  # G and F may change noise and texture, not colour or tone
            losses["lowfreq_x"] = nnf.l1_loss(_low(out["fake_y"]), _low(x)) * s.lambda_lowfreq
            losses["lowfreq_y"] = nnf.l1_loss(_low(out["fake_x"]), _low(y)) * s.lambda_lowfreq
    return losses


def update_generators(nets: StepNets, opt: StepOptim, s: StepSettings,
                      losses: dict) -> tuple[bool, torch.Tensor]:
    """G and F take one step on the sum of their losses."""
    opt.gen.zero_grad(set_to_none=True)
    total = sum(losses.values())
    backward(total, opt)
    return finish_update(opt, (opt.gen,), (nets.G, nets.F), s, total), total


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


def sr_loss_on_fakes(nets: StepNets, batch: dict, fake_y: torch.Tensor,
                     s: StepSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """The SR network on G(X) (synthetic LR for the samples flagged "use_synth"): its MSE to HR
    and its output. With ``cycleSR_lam`` = 0 the loss does not reach G."""
    sr_in = fake_y if s.cycleSR_lam > 0 else fake_y.detach()
    if "use_synth" in batch:  # model.synth_mix > 0: some samples are synthetic
        sr_in = _mix_synthetic(sr_in, batch["synth_lr"], batch["use_synth"] > 0.5)
    with s.autocast():
        sr_out = nets.SR(sr_in)
        loss = nnf.mse_loss(sr_out.float(), batch["hr"])
    return loss, sr_out


def update_generators_and_sr(nets: StepNets, opt: StepOptim, s: StepSettings,
                             losses: dict) -> tuple[bool, torch.Tensor]:
    """G, F and the SR network take one step. G's loss: its CycleGAN losses plus
    ``cycleSR_lam`` * ``losses["sr"]``; the SR network's: ``SR_lam`` * ``losses["sr"]``. One
    backward pass serves both: it gives the SR network ``cycleSR_lam`` times its gradient,
    rescaled here (with ``cycleSR_lam`` = 0 the SR loss enters the sum with ``SR_lam``, on
    G(X) detached)."""
    opt.gen.zero_grad(set_to_none=True)
    opt.sr.zero_grad(set_to_none=True)
    total = sum(v for k, v in losses.items() if k != "sr") + s.cycleSR_lam * losses["sr"]
    if s.cycleSR_lam == 0:
        total = total + s.SR_lam * losses["sr"]
    backward(total, opt)
    if s.cycleSR_lam > 0 and s.SR_lam != s.cycleSR_lam:
        grads = [p.grad for p in nets.SR.parameters() if p.grad is not None]
        if grads:
            torch._foreach_mul_(grads, s.SR_lam / s.cycleSR_lam)
    ok = finish_update(opt, (opt.gen, opt.sr), (nets.G, nets.F, nets.SR), s, total)
    return ok, total


def _result(ok: bool, losses: dict, batch: dict, out: dict, **images) -> dict:
    return {"ok": ok, "losses": {k: v.detach() for k, v in losses.items()},
            "images": {"hr": batch["hr"], "clean_lr": batch["clean_lr"], "real_lr": batch["real_lr"],
                       "fake_real_lr": out["fake_y"].detach(), "fake_clean_lr": out["fake_x"].detach(),
                       "rec_clean_lr": out["rec_x"].detach(), "rec_real_lr": out["rec_y"].detach(),
                       **{k: v.detach() for k, v in images.items()}}}


def transfer_step(nets: StepNets, opt: StepOptim, batch: dict, s: StepSettings,
                  buffers: Buffers) -> dict:
    """Warm-up: one CycleGAN iteration (discriminators, then G and F)."""
    x, y = batch["clean_lr"], batch["real_lr"]
    out = generate(nets, x, y, s)
    ok_d, d_losses = update_discriminators(nets, opt, s, x, y, out, buffers)
    with frozen(nets.D_X, nets.D_Y):
        losses = generator_losses(nets, out, x, y, s)
        ok_g, total = update_generators(nets, opt, s, losses)
    return _result(ok_d and ok_g, {**losses, **d_losses, "G_total": total}, batch, out)


def joint_step(nets: StepNets, opt: StepOptim, batch: dict, s: StepSettings,
               buffers: Buffers) -> dict:
    """Joint phase: the CycleGAN iteration with the SR network trained on (G(X), HR) in the
    generator update, its loss fed back into G with weight ``cycleSR_lam``."""
    x, y = batch["clean_lr"], batch["real_lr"]
    out = generate(nets, x, y, s)
    ok_d, d_losses = update_discriminators(nets, opt, s, x, y, out, buffers)
    with frozen(nets.D_X, nets.D_Y):
        losses = generator_losses(nets, out, x, y, s)
        losses["sr"], sr_out = sr_loss_on_fakes(nets, batch, out["fake_y"], s)
        ok_g, total = update_generators_and_sr(nets, opt, s, losses)
    return _result(ok_d and ok_g, {**losses, **d_losses, "G_total": total}, batch, out, sr=sr_out)


def frozen_transfer_step(nets: StepNets, opt: StepOptim, batch: dict, s: StepSettings) -> dict:
    """Joint phase with the transfer networks frozen (``model.cyc_lr: 0``: a G calibrated on
    the data and kept as it is): the SR network alone trains on (G(X), HR) with weight
    ``SR_lam``, as in the joint step; F and the discriminators are not run."""
    with torch.no_grad(), s.autocast():
        fake_y = nets.G(batch["clean_lr"])
    opt.sr.zero_grad(set_to_none=True)
    loss, sr_out = sr_loss_on_fakes(nets, batch, fake_y, s)
    backward(s.SR_lam * loss, opt)
    ok = finish_update(opt, (opt.sr,), (nets.SR,), s, loss)
    return {"ok": ok, "losses": {"sr": loss.detach()},
            "images": {"hr": batch["hr"], "clean_lr": batch["clean_lr"], "real_lr": batch["real_lr"],
                       "fake_real_lr": fake_y, "sr": sr_out.detach()}}


def pretrain_step(nets: StepNets, opt: StepOptim, batch: dict, s: StepSettings) -> dict:
    """SR pretraining on bicubic pairs (X -> HR), weight 1, as the reference."""
    x, hr = batch["clean_lr"], batch["hr"]
    opt.sr.zero_grad(set_to_none=True)
    with s.autocast():
        sr_out = nets.SR(x)
        loss = nnf.mse_loss(sr_out.float(), hr)
    backward(loss, opt)
    ok = finish_update(opt, (opt.sr,), (nets.SR,), s, loss)
    return {"ok": ok, "losses": {"sr_pretrain": loss.detach()},
            "images": {"hr": hr, "clean_lr": x, "sr": sr_out.detach()}}


def run_step(phase: str, nets: StepNets, opt: StepOptim, batch: dict, s: StepSettings,
             buffers: Buffers) -> dict:
    """One iteration of the phase named ``phase`` (``cyclesr.engine.schedule``'s names)."""
    if phase == PRETRAIN:
        return pretrain_step(nets, opt, batch, s)
    if phase == JOINT and not s.train_transfer:
        return frozen_transfer_step(nets, opt, batch, s)
    return (joint_step if phase == JOINT else transfer_step)(nets, opt, batch, s, buffers)
