"""Hand-made statistics of a degraded image (0-255 scale), for comparing fake and real LR:
Immerkaer's noise sigma, JPEG blockiness, sharpness (variance of the Laplacian) and the
channel correlation of the noise."""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as nnf
from torch import Tensor

from cyclesr.ops.color import rgb_to_y

__all__ = ["noise_sigma", "blockiness", "sharpness", "noise_color", "image_stats"]

def _y255(img: Tensor) -> Tensor:
    """(3, H, W) or (N, 3, H, W) in [0, 1] -> (N, 1, H, W) MATLAB luma in [16, 235]."""
    return rgb_to_y(img.unsqueeze(0) if img.dim() == 3 else img) * 255.0


# Immerkaer's noise operator: the difference of two Laplacians, blind to linear image structure
_IMMERKAER_MASK = ((1, -2, 1), (-2, 4, -2), (1, -2, 1))


def noise_sigma(img: Tensor) -> float:
    """Immerkaer (1996): sigma = sqrt(pi/2) / (6 (W-2)(H-2)) * sum |I * M|, per RGB channel in
    [0, 255], averaged over channels (the sigma of the noise added to each channel)."""
    x = (img.unsqueeze(0) if img.dim() == 3 else img).double() * 255.0
    n, c, h, w = x.shape
    mask = torch.tensor(_IMMERKAER_MASK, dtype=x.dtype).view(1, 1, 3, 3)
    r = nnf.conv2d(x.reshape(n * c, 1, h, w), mask)
    return float(math.sqrt(math.pi / 2) * r.abs().sum() / (6.0 * (w - 2) * (h - 2) * n * c))


def blockiness(img: Tensor, block: int = 8) -> float:
    """Mean |neighbour difference| across block boundaries over the mean inside blocks (Y)."""
    y = _y255(img).double()
    ratios = []
    for dim in (-1, -2):
        g = y.diff(dim=dim).abs()
        n = g.shape[dim]
        idx = torch.arange(n)
        boundary = (idx % block) == block - 1
        if boundary.sum() == 0 or (~boundary).sum() == 0:
            continue
        sel = (lambda m: g[..., m]) if dim == -1 else (lambda m: g[..., m, :])
        ratios.append(float(sel(boundary).mean() / sel(~boundary).mean().clamp_min(1e-6)))
    return float(np.mean(ratios)) if ratios else 1.0


def sharpness(img: Tensor) -> float:
    """Variance of the Laplacian of Y in [0, 255] (higher = sharper or noisier)."""
    y = _y255(img).double()
    lap = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=y.dtype).view(1, 1, 3, 3)
    return float(nnf.conv2d(y, lap).var())


def noise_color(img: Tensor) -> float:
    """How the noise of the colour channels goes together: the mean correlation between the
    channels' Immerkaer high-pass responses over the flatter half of the image (by the local
    luminance variation of a 3x3 box blur, so that edges, which all channels share, weigh
    little). About 0 for independent channel noise, near 1 for gray (luminance) noise or
    strong edges, negative for chroma noise whose channels move against each other, which is
    what a generator may make instead of real noise while matching its level."""
    x = (img.unsqueeze(0) if img.dim() == 3 else img).double()
    n, c, h, w = x.shape
    if c != 3 or min(h, w) < 5:
        return 0.0
    mask = torch.tensor(_IMMERKAER_MASK, dtype=x.dtype).view(1, 1, 3, 3)
    resp = nnf.conv2d(x.reshape(n * c, 1, h, w), mask).view(n, c, -1)
    low = nnf.avg_pool2d(_y255(x), 3, 1)  # (n, 1, h - 2, w - 2), aligned with resp
    activity = (low[..., 1:, :-1] - low[..., :-1, :-1]).abs() + (low[..., :-1, 1:] - low[..., :-1, :-1]).abs()
    activity = nnf.pad(activity, (0, 1, 0, 1), mode="replicate").view(n, -1)
    flat = activity <= activity.median(dim=1, keepdim=True).values
    values = []
    for i in range(n):
        r = resp[i][:, flat[i]]
        r = r - r.mean(dim=1, keepdim=True)
        std = r.std(dim=1).clamp_min(1e-12)
        cov = (r @ r.T) / max(1, r.shape[1] - 1)
        corr = cov / (std[:, None] * std[None, :])
        values.append(float(corr[~torch.eye(c, dtype=torch.bool)].mean()))
    return float(np.mean(values))


# statistics compared by difference (fake - real), not relative difference: they sit around 0
def image_stats(images: Iterable[Tensor]) -> dict[str, float]:
    """Mean noise sigma, noise colour correlation, blockiness and sharpness over whole images."""
    rows = [(noise_sigma(im), noise_color(im), blockiness(im), sharpness(im)) for im in images]
    arr = np.array(rows, dtype=np.float64)
    return {"noise": float(arr[:, 0].mean()), "noise_color": float(arr[:, 1].mean()),
            "blockiness": float(arr[:, 2].mean()), "sharpness": float(arr[:, 3].mean())}
