"""Image-quality metrics whose numbers match published super-resolution tables.

Every metric first quantises its inputs to 8-bit levels and, for the Y channel, uses MATLAB's
``rgb2ycbcr`` (BT.601, studio range 16..235), as BasicSR does. Inputs follow the package
convention: float RGB in [0, 1], shaped (3, H, W) or (N, 3, H, W); batches are scored per image
and averaged. ``crop_border`` removes that many pixels from every side before scoring.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from cyclesr.ops.color import rgb_to_y
from cyclesr.ops.image import quantize

__all__ = [
    "rgb_to_y",
    "quantize",
    "psnr",
    "ssim",
    "best_shift_psnr",
    "best_shift_metrics",
    "image_metrics",
    "vega_psnr",
]

_SSIM_WINDOW, _SSIM_SIGMA, _SSIM_K1, _SSIM_K2 = 11, 1.5, 0.01, 0.03


def _as_batch(img: Tensor) -> Tensor:
    if img.dim() == 3:
        return img.unsqueeze(0)
    if img.dim() != 4:
        raise ValueError(f"expected a (3, H, W) or (N, 3, H, W) image, got shape {tuple(img.shape)}")
    return img


def _crop(img: Tensor, border: int) -> Tensor:
    if border <= 0:
        return img
    return img[..., border : img.shape[-2] - border, border : img.shape[-1] - border]


def _to_levels(img: Tensor, y_channel: bool) -> Tensor:
    """(N, C, H, W) float64 on the 0..255 scale, quantised; Y only when asked."""
    img = quantize(_as_batch(img).detach().to(torch.float64))
    if y_channel:
        img = rgb_to_y(img)
    return img * 255.0


def _levels_pair(sr: Tensor, hr: Tensor, crop_border: int, y_channel: bool) -> tuple[Tensor, Tensor]:
    if sr.shape != hr.shape:
        raise ValueError(f"shape mismatch: sr {tuple(sr.shape)} vs hr {tuple(hr.shape)}")
    a = _crop(_to_levels(sr, y_channel), crop_border)
    b = _crop(_to_levels(hr, y_channel), crop_border)
    if a.shape[-1] <= 0 or a.shape[-2] <= 0:
        raise ValueError(f"crop_border={crop_border} leaves nothing of a {tuple(sr.shape)} image")
    return a, b


def _psnr_from_mse(mse: float) -> float:
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def psnr(sr: Tensor, hr: Tensor, crop_border: int = 0, y_channel: bool = False) -> float:
    """PSNR in dB on uint8-quantised images; ``inf`` for identical images."""
    a, b = _levels_pair(sr, hr, crop_border, y_channel)
    mses = (a - b).pow(2).flatten(1).mean(dim=1)
    return sum(_psnr_from_mse(m) for m in mses.tolist()) / len(mses)


def _gaussian_window(channels: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    radius = _SSIM_WINDOW // 2
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    g = torch.exp(-(x**2) / (2 * _SSIM_SIGMA**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, _SSIM_WINDOW, _SSIM_WINDOW)


def _ssim_per_image(a: Tensor, b: Tensor) -> Tensor:
    """Mean SSIM of each image of two (N, C, H, W) 0..255 batches (valid region, no padding)."""
    channels = a.shape[1]
    if min(a.shape[-2:]) < _SSIM_WINDOW:
        size = tuple(a.shape[-2:])
        raise ValueError(f"SSIM needs images of at least {_SSIM_WINDOW}x{_SSIM_WINDOW}, got {size}")
    window = _gaussian_window(channels, a.dtype, a.device)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, window, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (_SSIM_K1 * 255.0) ** 2, (_SSIM_K2 * 255.0) ** 2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.flatten(1).mean(dim=1)  # mean over channels and pixels


def ssim(sr: Tensor, hr: Tensor, crop_border: int = 0, y_channel: bool = True) -> float:
    """SSIM of Wang et al. (2004): 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, L 255.

    Computed per channel on uint8-quantised images (float64) and averaged; the window is only
    applied where it fits entirely (like skimage's reported mean).
    """
    a, b = _levels_pair(sr, hr, crop_border, y_channel)
    return float(_ssim_per_image(a, b).mean())


def _shift_views(sr: Tensor, hr: Tensor, dy: int, dx: int) -> tuple[Tensor, Tensor]:
    """The overlapping parts of sr and hr when sr's content is displaced by (dy, dx).

    Pairs sr[i + dy, j + dx] with hr[i, j]; both must have the same size.
    """
    h, w = hr.shape[-2:]
    sr_view = sr[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)]
    hr_view = hr[..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
    return sr_view, hr_view


def _single(img: Tensor) -> Tensor:
    img = _as_batch(img)
    if img.shape[0] != 1:
        raise ValueError("shift search takes one image at a time")
    return img


def _common_size(sr: Tensor, hr: Tensor) -> tuple[Tensor, Tensor]:
    """Crop both to their common top-left region (an SR of an LR whose HR isn't a multiple of scale)."""
    h = min(sr.shape[-2], hr.shape[-2])
    w = min(sr.shape[-1], hr.shape[-1])
    return sr[..., :h, :w], hr[..., :h, :w]


def _search_shift(
    sr: Tensor, hr: Tensor, max_shift: int, crop_border: int, y_channel: bool
) -> tuple[float, tuple[int, int]]:
    """Best (mse, shift) over |dy|, |dx| <= max_shift; ties go to the smallest shift."""
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    a, b = _to_levels(_single(sr), y_channel), _to_levels(_single(hr), y_channel)
    if min(a.shape[-2:]) - max_shift - 2 * crop_border <= 0:
        raise ValueError(
            f"max_shift={max_shift} with crop_border={crop_border} is too large for {tuple(a.shape[-2:])}"
        )
    span = range(-max_shift, max_shift + 1)
    shifts = sorted(((dy, dx) for dy in span for dx in span), key=lambda s: (abs(s[0]) + abs(s[1]), s))
    mses = []
    for dy, dx in shifts:  # one slicing-and-reduce per shift: ~0.5 s for 441 shifts of 500x500
        a_view, b_view = _shift_views(a, b, dy, dx)
        mses.append((_crop(a_view, crop_border) - _crop(b_view, crop_border)).pow(2).mean())
    best = int(torch.argmin(torch.stack(mses)))  # argmin returns the first (smallest-shift) minimum
    return float(mses[best]), shifts[best]


def best_shift_psnr(
    sr: Tensor, hr: Tensor, max_shift: int, crop_border: int = 0, y_channel: bool = False
) -> tuple[float, tuple[int, int]]:
    """Best PSNR over integer shifts of sr relative to hr, and that shift (dy, dx).

    The shift (dy, dx) means sr[i + dy, j + dx] is compared with hr[i, j]; only the overlap of
    the two is scored, then ``crop_border`` is removed inside it. One image at a time; sizes that
    differ are first cropped to the common top-left region.
    """
    sr, hr = _common_size(sr, hr)
    mse, shift = _search_shift(sr, hr, max_shift, crop_border, y_channel)
    return _psnr_from_mse(mse), shift


def best_shift_metrics(sr: Tensor, hr: Tensor, max_shift: int, crop_border: int = 0) -> dict:
    """psnr_rgb, psnr_y and ssim_y at the shift that maximises the Y PSNR, plus that ``shift``."""
    sr, hr = _common_size(_single(sr), _single(hr))
    _, (dy, dx) = _search_shift(sr, hr, max_shift, crop_border, y_channel=True)
    sr_view, hr_view = _shift_views(sr, hr, dy, dx)
    return {
        "psnr_rgb": psnr(sr_view, hr_view, crop_border, y_channel=False),
        "psnr_y": psnr(sr_view, hr_view, crop_border, y_channel=True),
        "ssim_y": ssim(sr_view, hr_view, crop_border, y_channel=True),
        "shift": (dy, dx),
    }


def image_metrics(sr: Tensor, hr: Tensor, crop_border: int = 0, max_shift: int = 0) -> dict[str, float]:
    """``{"psnr_rgb", "psnr_y", "ssim_y"}``, averaged over a batch.

    Sizes that differ are cropped to the common top-left region. With ``max_shift > 0`` each
    image is scored at its best shift (see ``best_shift_metrics``).
    """
    sr, hr = _common_size(_as_batch(sr), _as_batch(hr))
    if sr.shape[0] != hr.shape[0]:
        raise ValueError(f"batch sizes differ: {sr.shape[0]} vs {hr.shape[0]}")
    if max_shift > 0:
        per_image = [best_shift_metrics(s, h, max_shift, crop_border) for s, h in zip(sr, hr)]
        return {k: sum(m[k] for m in per_image) / len(per_image) for k in ("psnr_rgb", "psnr_y", "ssim_y")}
    return {
        "psnr_rgb": psnr(sr, hr, crop_border, y_channel=False),
        "psnr_y": psnr(sr, hr, crop_border, y_channel=True),
        "ssim_y": ssim(sr, hr, crop_border, y_channel=True),
    }


def vega_psnr(sr: Tensor, hr: Tensor, offset: int) -> float:
    """Validation PSNR as the reference computes it: RGB, float (no quantisation), the SR image
    clamped to [0, 1] and cropped by ``offset`` on every side, then slid over the HR image at
    every integer position within +-``offset``; the best PSNR (peak 1) is kept. With offset 0,
    the PSNR of the whole images. One image at a time, (3, H, W) or (1, 3, H, W); the HR image
    must be at least the SR image's size."""
    sr = _single(sr)[0].detach().to(torch.float64).clamp(0, 1)
    hr = _single(hr)[0].detach().to(torch.float64)
    if offset == 0:
        sr, hr = _common_size(sr, hr)
        return _psnr_from_mse(float((sr - hr).pow(2).mean()) * 255.0**2)
    h, w = sr.shape[-2] - 2 * offset, sr.shape[-1] - 2 * offset
    if h <= 0 or w <= 0 or hr.shape[-2] < sr.shape[-2] or hr.shape[-1] < sr.shape[-1]:
        raise ValueError(f"val_ps_offset {offset} does not fit an SR image of {tuple(sr.shape[-2:])} "
                         f"and an HR image of {tuple(hr.shape[-2:])}")
    inner = sr[:, offset:offset + h, offset:offset + w]
    best = min(float((hr[:, i:i + h, j:j + w] - inner).pow(2).mean())
               for i in range(2 * offset + 1) for j in range(2 * offset + 1))
    return _psnr_from_mse(best * 255.0**2)
