"""The SR-only methods (b), (d) and (e): the SR network alone on aligned crops, bicubic pairs for
(b), the true pairs for (d) and pairs degraded on the fly by a blind degradation for (e), with
exactly CycleSR's SR budget (same initial weights, optimizer, learning rate per epoch, clipping
and number of updates)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as nnf

from cyclesr.data.degrade import bicubic_downscale
from cyclesr.data.io import list_images, load_rgb
from cyclesr.engine.schedule import learning_rates, phase_at
from cyclesr.model import build_model

__all__ = ["PairCrops", "train_sr_only"]


class PairCrops:
    """Aligned random (LR, HR) crops with the 8 flips/rotations; LR = bicubic(HR) when no LR
    folder is given (baseline b), the image of the same name (oracle d), or ``degrade(hr, rng)``
    (blind synthetic training e). ``degrade`` sees the HR crop with a margin of up to
    ``DEGRADE_MARGIN`` LR pixels on each side, cut off afterwards, so that its blur and resizing
    see real context instead of padding at the crop's border."""

    DEGRADE_MARGIN = 4

    def __init__(self, hr_dir: Path, lr_dir: Optional[Path], crop: int, scale: int, seed: int,
                 degrade: Optional[Callable] = None):
        if degrade is not None and lr_dir is not None:
            raise ValueError("PairCrops: give an LR folder or a degradation, not both")
        self.degrade = degrade
        self.hr = [load_rgb(p) for p in list_images(hr_dir)]
        if lr_dir is None:
            self.lr = None
        else:
            by_name = {p.relative_to(lr_dir).with_suffix("").as_posix(): p for p in list_images(lr_dir)}
            names = [p.relative_to(hr_dir).with_suffix("").as_posix() for p in list_images(hr_dir)]
            missing = [n for n in names if n not in by_name]
            if missing:
                raise ValueError(f"--oracle-lr has no image for {missing[:5]} (matched by name)")
            self.lr = [load_rgb(by_name[n]) for n in names]
        self.crop, self.scale = crop, scale
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        lrs, hrs = [], []
        c, s = self.crop, self.scale
        for _ in range(size):
            i = int(self.rng.integers(len(self.hr)))
            hr = self.hr[i]
            if self.lr is None:
                h, w = hr.shape[-2] // s, hr.shape[-1] // s
            else:
                h, w = self.lr[i].shape[-2:]
            if self.degrade is not None:
                lr_crop, hr_crop = self._degraded(hr, h, w)
            else:
                top, left = int(self.rng.integers(0, h - c + 1)), int(self.rng.integers(0, w - c + 1))
                hr_crop = hr[:, top * s:(top + c) * s, left * s:(left + c) * s]
                lr_crop = (bicubic_downscale(hr_crop, s) if self.lr is None
                           else self.lr[i][:, top:top + c, left:left + c])
            k, flip = int(self.rng.integers(4)), bool(self.rng.integers(2))
            for t, dst in ((lr_crop, lrs), (hr_crop, hrs)):
                t = t.flip(-1) if flip else t
                dst.append(torch.rot90(t, k, (-2, -1)))
        return torch.stack(lrs), torch.stack(hrs)

    def _degraded(self, hr: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A crop of ``hr`` and its LR by ``degrade``, from a region with a margin around it."""
        c, s = self.crop, self.scale
        m = max(0, min(self.DEGRADE_MARGIN, (h - c) // 2, (w - c) // 2))
        span = c + 2 * m
        top, left = int(self.rng.integers(0, h - span + 1)), int(self.rng.integers(0, w - span + 1))
        region = hr[:, top * s:(top + span) * s, left * s:(left + span) * s]
        lr = self.degrade(region, self.rng)[:, m:m + c, m:m + c]
        return lr, region[:, m * s:(m + c) * s, m * s:(m + c) * s]


def train_sr_only(cfg, hr_dir: Path, lr_dir: Optional[Path], seed: int, device: torch.device,
                  log=print, degrade: Optional[Callable] = None) -> torch.nn.Module:
    """The SR network alone, with CycleSR's SR budget: one update per iteration of every epoch
    in which CycleSR trains its SR network, at the same learning rate per epoch. Pairs as
    ``PairCrops`` makes them (``degrade``: seeded by ``seed``, on the fly)."""
    torch.manual_seed(cfg.trainer.seed)
    sr = build_model(cfg).SR.to(device)  # same initial weights as CycleSR's SR network
    m, t, tr = cfg.model, cfg.trainer, cfg.dataset.train
    opt = torch.optim.Adam(sr.parameters(), lr=m.SR_lr, betas=(m.beta1, m.beta2))
    data = PairCrops(hr_dir, lr_dir, tr.crop_size, cfg.upscale, seed, degrade)
    sr.train()
    steps = 0
    for epoch in range(1, cfg.total_epochs + 1):
        if not phase_at(epoch, t).train_sr:
            continue
        lr = learning_rates(epoch, t, m.cyc_lr, m.SR_lr)["sr"]
        for g in opt.param_groups:
            g["lr"] = lr
        total = 0.0
        for _ in range(tr.iters_per_epoch):
            lr_b, hr_b = data.batch(tr.batch_size)
            loss = nnf.mse_loss(sr(lr_b.to(device)), hr_b.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if m.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(sr.parameters(), m.grad_clip)
            opt.step()
            total += float(loss.detach())
            steps += 1
        log(f"  epoch {epoch}: sr loss {total / tr.iters_per_epoch:.5f} (lr {lr:.2e}, {steps} updates)")
    return sr.eval()
