"""A plain, unoptimised implementation of the reference's training iteration, written straight
from algorithm.md: every network call separate, the SR network run twice in the joint phase.
Used only to check that the optimised steps compute the same updates."""
import torch
import torch.nn.functional as nnf


def _clip_step(net, opt, clip):
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
    opt.step()


def plain_transfer_step(nets, opt, batch, s, buffers, joint):
    x, y, hr = batch["clean_lr"], batch["real_lr"], batch["hr"]
    G, F, D_X, D_Y, SR = nets.G, nets.F, nets.D_X, nets.D_Y, nets.SR
    fake_y = G(x)
    rec_x = F(fake_y)
    fake_x = F(y)
    rec_y = G(fake_x)
    idt_y = G(y)
    idt_x = F(x)
    buf_x, buf_y = buffers
    # discriminators: real and fake in separate calls, separate backward passes
    for D, real, fake, o in ((D_Y, y, buf_y.query(fake_y), opt.d_y), (D_X, x, buf_x.query(fake_x), opt.d_x)):
        o.zero_grad()
        pr, pf = D(real), D(fake.detach())
        loss = 0.5 * (nnf.mse_loss(pr, torch.ones_like(pr)) + nnf.mse_loss(pf, torch.zeros_like(pf)))
        loss.backward()
        _clip_step(D, o, s.grad_clip)
    # generators, with D (and SR) frozen
    for net in (D_X, D_Y, SR):
        net.requires_grad_(False)
    opt.gen.zero_grad()
    py, px = D_Y(fake_y), D_X(fake_x)
    lc, li = s.lambda_cycle, s.lambda_cycle * s.lambda_identity
    loss_g = (nnf.mse_loss(py, torch.ones_like(py)) + nnf.mse_loss(px, torch.ones_like(px))
              + lc * nnf.l1_loss(rec_x, x) + lc * nnf.l1_loss(rec_y, y)
              + li * nnf.l1_loss(idt_y, y) + li * nnf.l1_loss(idt_x, x))
    if joint:
        loss_g = loss_g + s.cycleSR_lam * nnf.mse_loss(SR(fake_y), hr)
    loss_g.backward()
    if s.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(G.parameters(), s.grad_clip)
        torch.nn.utils.clip_grad_norm_(F.parameters(), s.grad_clip)
    opt.gen.step()
    for net in (D_X, D_Y, SR):
        net.requires_grad_(True)
    if joint:  # the SR network's own update, a second SR pass on the same G(X)
        opt.sr.zero_grad()
        loss_sr = s.SR_lam * nnf.mse_loss(SR(fake_y.detach()), hr)
        loss_sr.backward()
        _clip_step(SR, opt.sr, s.grad_clip)
