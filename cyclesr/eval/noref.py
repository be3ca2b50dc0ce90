"""The no-reference score: how close generated LR (G(X)) is to the real LR domain, and how good
the SR network is on pairs G makes, without any ground truth for the real images.

Real users have no HR for their real images, so they cannot compute PSNR. What they can
measure is whether the transfer network's output looks like their real LR images:

- ``kid``: Kernel Inception Distance-style unbiased MMD^2 between patch features of fake and
  real LR (``cyclesr.eval.features``); smaller is closer;
- image statistics (``cyclesr.eval.stats``): noise sigma, blockiness, sharpness, noise colour;
- ``pseudo_psnr``: PSNR-Y of the SR network on pairs (G(bicubic(HR)), HR) made from HR-domain
  images, which ranks checkpoints when there is no paired validation set.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from cyclesr.data.sampling import sample_images
from cyclesr.eval.features import PatchFeatures, kid, patch_features, trained_features
from cyclesr.eval.stats import blockiness, image_stats, noise_color, noise_sigma, sharpness

__all__ = ["PatchFeatures", "kid", "noise_sigma", "blockiness", "sharpness", "noise_color", "image_stats",
           "noref_scores", "spearman", "generate_fake_lr", "sample_images", "noref_from_folders",
           "evaluate_noref", "pseudo_psnr"]

# statistics whose gap is a plain difference (they can be near 0); the others are relative
_ABSOLUTE_GAP = ("noise_color",)


def noref_scores(fake_lr: Sequence[Tensor], real_lr: Sequence[Tensor], *, patch: int = 32,
                 per_image: int = 16, seed: int = 0, net: Optional[PatchFeatures] = None) -> dict:
    """How close fake LR images are to real LR images, without ground truth.

    ``fake_lr`` and ``real_lr``: lists of (3, H, W) tensors in [0, 1] (whole images, so that
    blockiness sees the JPEG grid). Returns ``{"kid", "kid_std", "fake": stats, "real": stats,
    "stat_gap"}`` where stats are ``image_stats`` and ``stat_gap`` the relative differences
    (fake - real) / real of each statistic (the plain difference for ``noise_color``, a
    correlation around 0). Lower ``kid`` = closer to the real domain."""
    net = net or trained_features()
    f_fake = patch_features(fake_lr, net, patch, per_image, seed)
    f_real = patch_features(real_lr, net, patch, per_image, seed + 1)
    mean, std = kid(f_fake, f_real, seed=seed)
    fake_stats, real_stats = image_stats(fake_lr), image_stats(real_lr)
    gap = {k: (fake_stats[k] - real_stats[k]) / (1.0 if k in _ABSOLUTE_GAP else max(abs(real_stats[k]), 1e-6))
           for k in fake_stats}
    return {"kid": mean, "kid_std": std, "fake": fake_stats, "real": real_stats, "stat_gap": gap}


@torch.no_grad()
def generate_fake_lr(G: nn.Module, clean_lr: Sequence[Tensor], seed: int = 0) -> list[Tensor]:
    """G applied to each clean LR image (eval mode, seeded so noise-input generators repeat)."""
    was = G.training
    G.eval()
    device = next(G.parameters()).device
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        out = [G(x.unsqueeze(0).to(device)).clamp(0, 1)[0].cpu() for x in clean_lr]
    finally:
        torch.random.set_rng_state(state)
        G.train(was)
    return out


def noref_from_folders(G: nn.Module, hr_dir, real_lr_dir, scale: int, n_images: int = 25,
                       seed: int = 0, **kwargs) -> dict:
    """The training-time score: G(bicubic(HR)) for HR images of the HR domain against real LR
    images (both training folders, no ground truth). For the trainer's eval epochs."""
    from cyclesr.ops.resize import bicubic_downscale

    clean = [bicubic_downscale(im, scale) for im in sample_images(hr_dir, n_images, seed, scale)]
    real = sample_images(real_lr_dir, n_images, seed + 1)
    return noref_scores(generate_fake_lr(G, clean, seed), real, seed=seed, **kwargs)


@torch.no_grad()
def evaluate_noref(sr: nn.Module, G: nn.Module, lr_dir, scale: int, clean_hr_dir=None,
                   n_images: int = 25, seed: int = 0, device=None, **kwargs) -> dict:
    """``cyclesr evaluate --lr DIR`` without ``--hr``: how close G's fake LR is to the real LR
    images in ``lr_dir``. Clean LR comes from ``clean_hr_dir`` (bicubic x``scale``) when given,
    else from the model's own outputs: bicubic(SR(y)) for each real y, so G(bicubic(SR(y)))
    is compared with the y's. With ``clean_hr_dir`` the result also holds ``pseudo_psnr``."""
    from cyclesr.ops.resize import bicubic_downscale
    from cyclesr.inference.tiling import upscale_tensor

    real = sample_images(lr_dir, n_images, seed)
    hr = sample_images(clean_hr_dir, n_images, seed, scale) if clean_hr_dir is not None else None
    if hr is not None:
        clean = [bicubic_downscale(im, scale) for im in hr]
    else:
        clean = [bicubic_downscale(upscale_tensor(sr, y, scale, device=device), scale) for y in real]
    G = G.to(device) if device is not None else G
    stats = noref_scores(generate_fake_lr(G, clean, seed), real, seed=seed, **kwargs)
    if hr:
        stats["pseudo_psnr"] = pseudo_psnr(sr, G, hr, scale, seed=seed, device=device)
    return stats


@torch.no_grad()
def pseudo_psnr(sr: nn.Module, G: nn.Module, hr_images: Sequence[Tensor], scale: int, seed: int = 0,
                device=None, max_side: int = 256) -> float:
    """PSNR-Y (crop border = ``scale``) of the SR network on pairs that G makes from sharp
    images: SR(G(bicubic(HR))) against HR, over the centre crops (at most ``max_side`` pixels
    a side) of ``hr_images``. Once G's degradation is close to the real one (low KID), this
    stands in for the PSNR on real pairs when ranking SR checkpoints, without ground truth for
    the real images. G runs seeded, as in ``generate_fake_lr``."""
    from cyclesr.ops.resize import bicubic_downscale, crop_to_multiple
    from cyclesr.eval.metrics import psnr
    from cyclesr.inference.tiling import upscale_tensor

    if not hr_images:
        raise ValueError("pseudo_psnr needs at least one sharp (HR) image")
    crops = []
    for im in hr_images:
        h, w = (min(side, max_side) for side in im.shape[-2:])
        top, left = (im.shape[-2] - h) // 2, (im.shape[-1] - w) // 2
        crops.append(crop_to_multiple(im[:, top:top + h, left:left + w], scale))
    fake = generate_fake_lr(G, [bicubic_downscale(hr, scale) for hr in crops], seed)
    values = [psnr(upscale_tensor(sr, x, scale, device=device).cpu(), hr, crop_border=scale, y_channel=True)
              for x, hr in zip(fake, crops)]
    return float(sum(values) / len(values))


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties); nan for fewer than 2 values."""
    if len(a) != len(b):
        raise ValueError("spearman needs two sequences of the same length")
    if len(a) < 2:
        return float("nan")

    def ranks(v):
        v = np.asarray(v, dtype=np.float64)
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for val in np.unique(v):  # average ties
            r[v == val] = r[v == val].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])
