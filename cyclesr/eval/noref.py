"""Statistics that need no ground truth: how close generated LR (G(X)) is to the real LR domain.

Real users have no HR for their real images, so they cannot compute PSNR. What they can
measure is whether the transfer network's output looks like their real LR images:

- ``kid``: Kernel Inception Distance-style unbiased MMD^2 (cubic polynomial kernel) between
  patch features of fake and real LR. The features come from a small convolutional network
  trained here (``experiments.scripts.noref_train``, shipped as ``assets/noref_features.safetensors``; no
  download) to measure how much blur, noise and JPEG a patch received, so the distance looks
  at the degradation more than at the scene. Per layer, the spatial mean and standard
  deviation of the activations are kept; features are standardised with the real set's
  statistics. ``PatchFeatures(seed=s)`` gives the untrained (seeded random) variant.
- ``noise``: Immerkaer's fast noise-sigma estimate (0-255 scale), mean over RGB channels.
- ``blockiness``: mean |gradient| across 8x8 block boundaries over the one inside blocks
  (about 1 without JPEG; above 1 with blocking). Whole images only: crops lose the grid.
- ``sharpness``: variance of the Laplacian of Y (0-255 scale); lower = blurrier.

``noref_scores(fake, real)`` returns all of them for both sets; smaller ``kid`` is better.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as nnf
from torch import Tensor, nn

from cyclesr.ops.color import rgb_to_y

__all__ = ["PatchFeatures", "kid", "noise_sigma", "blockiness", "sharpness", "image_stats",
           "noref_scores", "spearman", "generate_fake_lr", "sample_images", "noref_from_folders",
           "evaluate_noref", "pseudo_psnr"]

def _y255(img: Tensor) -> Tensor:
    """(3, H, W) or (N, 3, H, W) in [0, 1] -> (N, 1, H, W) MATLAB luma in [16, 235]."""
    return rgb_to_y(img.unsqueeze(0) if img.dim() == 3 else img) * 255.0


class PatchFeatures(nn.Module):
    """Small conv features: 3 stages (3x3 conv + ReLU, stride 1, 2, 2); per stage the spatial
    mean and std of each channel -> a (N, 2 * (w + 2w + 4w)) vector.

    ``PatchFeatures(seed=s)`` has fixed random weights (seeded); ``PatchFeatures.trained()``
    loads the shipped weights trained to measure blur, noise and JPEG (``experiments.scripts.noref_train``)."""

    WEIGHTS = Path(__file__).parent.parent / "assets" / "noref_features.safetensors"

    def __init__(self, width: int = 16, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        chans = [3, width, 2 * width, 4 * width]
        self.out_features = 2 * sum(chans[1:])
        self.convs = nn.ModuleList()
        for i, (cin, cout) in enumerate(zip(chans[:-1], chans[1:])):
            conv = nn.Conv2d(cin, cout, 3, stride=1 if i == 0 else 2, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * math.sqrt(2.0 / (cin * 9)))
                conv.bias.zero_()
            self.convs.append(conv)
        self.requires_grad_(False)

    @classmethod
    def trained(cls, path: str | Path | None = None) -> "PatchFeatures":
        """The shipped degradation-measuring weights (or a file written by ``experiments.scripts.noref_train``)."""
        from safetensors.torch import load_file

        path = Path(path) if path is not None else cls.WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the no-reference feature weights are missing; rebuild them "
                                    f"with `python experiments/scripts/noref_train.py --out {path}`")
        net = cls()
        net.load_state_dict(load_file(str(path)))
        return net

    def features(self, x: Tensor) -> Tensor:
        x = x * 2 - 1
        feats = []
        for conv in self.convs:
            x = torch.relu(conv(x))
            feats += [x.mean((2, 3)), x.std((2, 3))]
        return torch.cat(feats, 1)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


@functools.lru_cache(maxsize=1)
def _trained_features() -> PatchFeatures:
    return PatchFeatures.trained()


def _patches(images: Sequence[Tensor], size: int, per_image: int, rng: np.random.Generator) -> Tensor:
    out = []
    for img in images:
        h, w = img.shape[-2:]
        s = min(size, h, w)
        for _ in range(per_image):
            top, left = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
            out.append(img[..., top:top + s, left:left + s])
        if s != size:  # tiny images: resize nothing, keep one size per batch by padding
            out[-per_image:] = [nnf.pad(p, (0, size - s, 0, size - s), mode="replicate") for p in out[-per_image:]]
    return torch.stack(out)


def _features(images: Sequence[Tensor], net: PatchFeatures, size: int, per_image: int,
              seed: int) -> Tensor:
    rng = np.random.default_rng(seed)
    feats = [net(_patches(images[i:i + 16], size, per_image, rng).float())
             for i in range(0, len(images), 16)]
    return torch.cat(feats).double()


def kid(fake: Tensor, real: Tensor, subsets: int = 20, subset_size: int = 200, seed: int = 0
        ) -> tuple[float, float]:
    """Unbiased MMD^2 with kernel (x.y / d + 1)^3 between two feature sets, averaged over random
    subsets; returns (mean, std). Features are standardised with the real set's statistics."""
    mu, sd = real.mean(0), real.std(0).clamp_min(1e-6)
    fake, real = (fake - mu) / sd, (real - mu) / sd
    d = fake.shape[1]
    m = min(subset_size, fake.shape[0], real.shape[0])
    if m < 2:
        raise ValueError("kid needs at least 2 samples in each set")
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        a = fake[torch.randperm(fake.shape[0], generator=gen)[:m]]
        b = real[torch.randperm(real.shape[0], generator=gen)[:m]]
        kaa, kbb, kab = ((a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3)
        off = (kaa.sum() - kaa.diagonal().sum() + kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
        values.append(float(off - 2 * kab.mean()))
    return float(np.mean(values)), float(np.std(values))


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
_ABSOLUTE_GAP = ("noise_color",)


def image_stats(images: Iterable[Tensor]) -> dict[str, float]:
    """Mean noise sigma, noise colour correlation, blockiness and sharpness over whole images."""
    rows = [(noise_sigma(im), noise_color(im), blockiness(im), sharpness(im)) for im in images]
    arr = np.array(rows, dtype=np.float64)
    return {"noise": float(arr[:, 0].mean()), "noise_color": float(arr[:, 1].mean()),
            "blockiness": float(arr[:, 2].mean()), "sharpness": float(arr[:, 3].mean())}


def noref_scores(fake_lr: Sequence[Tensor], real_lr: Sequence[Tensor], *, patch: int = 32,
                 per_image: int = 16, seed: int = 0, net: Optional[PatchFeatures] = None) -> dict:
    """How close fake LR images are to real LR images, without ground truth.

    ``fake_lr`` and ``real_lr``: lists of (3, H, W) tensors in [0, 1] (whole images, so that
    blockiness sees the JPEG grid). Returns ``{"kid", "kid_std", "fake": stats, "real": stats,
    "stat_gap"}`` where stats are ``image_stats`` and ``stat_gap`` the relative differences
    (fake - real) / real of each statistic (the plain difference for ``noise_color``, a
    correlation around 0). Lower ``kid`` = closer to the real domain."""
    net = net or _trained_features()
    f_fake = _features(fake_lr, net, patch, per_image, seed)
    f_real = _features(real_lr, net, patch, per_image, seed + 1)
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


def sample_images(folder, n: int, seed: int = 0, multiple: int = 1) -> list[Tensor]:
    """Up to ``n`` images of a folder (a seeded random choice), cropped to a multiple of ``multiple``."""
    from cyclesr.data.io import list_images, load_rgb  # local: data sits below this module's users
    from cyclesr.ops.resize import crop_to_multiple

    paths = list_images(folder)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(paths), min(n, len(paths)), replace=False)) if paths else []
    return [crop_to_multiple(load_rgb(paths[i]), multiple) for i in chosen]


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
    ranks SR checkpoints as the PSNR on real pairs would, without ground truth for the real
    images (README, "Knowing without ground truth"). G runs seeded, as in ``generate_fake_lr``."""
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
