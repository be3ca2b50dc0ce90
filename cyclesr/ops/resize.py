"""Resizing and blurring of (C, H, W) or (N, C, H, W) float images with torch (device-agnostic):
the one home of these operations for data, evaluation and inference."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["RESIZE_MODES", "resize", "resize_pixels", "bicubic_downscale", "bicubic_upscale", "crop_to_multiple",
           "gaussian_blur"]

RESIZE_MODES = ("bicubic", "bilinear", "area", "nearest")


def _scaled_size(height: int, width: int, factor: float) -> tuple[int, int]:
    # The small epsilon keeps e.g. 9 * (1/3) from flooring to 2.
    return math.floor(height * factor + 1e-6), math.floor(width * factor + 1e-6)


def resize(
    image: torch.Tensor, size: tuple[int, int] | float, mode: str = "bicubic"
) -> torch.Tensor:
    """Resize to `size` = (height, width), or by a factor (0.5 halves, 2 doubles; sizes are floored).

    Bicubic and bilinear are antialiased when shrinking (like Pillow and MATLAB's imresize);
    "area" averages; "nearest" picks the nearest pixel centre. Bicubic output is clamped
    to [0, 1] because the kernel overshoots at edges."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; use one of {', '.join(RESIZE_MODES)}")
    if image.dim() not in (3, 4):
        raise ValueError(f"expected (C, H, W) or (N, C, H, W), got shape {tuple(image.shape)}")
    height, width = image.shape[-2:]
    if isinstance(size, (int, float)):
        size = _scaled_size(height, width, float(size))
    size = (int(size[0]), int(size[1]))
    if min(size) < 1:
        raise ValueError(f"cannot resize a {height}x{width} image to {size[0]}x{size[1]}")
    if size == (height, width):
        return image
    batch = image if image.dim() == 4 else image.unsqueeze(0)
    if mode == "nearest":
        out = F.interpolate(batch, size=size, mode="nearest-exact")
    elif mode == "area":
        out = F.interpolate(batch, size=size, mode="area")
    else:
        out = F.interpolate(batch, size=size, mode=mode, align_corners=False, antialias=True)
        out = out.clamp(0, 1) if mode == "bicubic" else out
    return out if image.dim() == 4 else out.squeeze(0)


def crop_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Crop the bottom/right so height and width are multiples of ``multiple``."""
    height, width = image.shape[-2:]
    return image[..., : height - height % multiple, : width - width % multiple]


def bicubic_downscale(image: torch.Tensor, scale: float) -> torch.Tensor:
    """Antialiased bicubic downscale by `scale`; output size floor(H / scale) x floor(W / scale)."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    height, width = image.shape[-2:]
    size = math.floor(height / scale + 1e-6), math.floor(width / scale + 1e-6)
    return resize(image, size, "bicubic")


def bicubic_upscale(image: torch.Tensor, scale: int | tuple[int, int]) -> torch.Tensor:
    """Plain bicubic upsampling (Keys' kernel, a = -0.75, edges replicated; no antialiasing,
    which only matters when shrinking) by an integer factor or to a (height, width), clamped to
    [0, 1]: the bicubic baseline SR results are compared with."""
    batch = image if image.dim() == 4 else image.unsqueeze(0)
    if isinstance(scale, tuple):
        out = F.interpolate(batch, size=scale, mode="bicubic", align_corners=False)
    else:
        out = F.interpolate(batch, scale_factor=scale, mode="bicubic", align_corners=False)
    out = out.clamp(0, 1)
    return out if image.dim() == 4 else out.squeeze(0)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (radius ceil(3 sigma)) of (N, C, H, W), edges replicated, so any
    image size works."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = image.shape[1]
    image = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    image = F.conv2d(image, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(image, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def resize_pixels(pixels: np.ndarray, size: tuple[int, int], strip: int = 256) -> np.ndarray:
    """Antialiased bicubic resize (as ``resize(..., "bicubic")``, clamped) of an integer image
    array (H, W, C) or (N, H, W, C), uint8 or uint16, to ``size`` = (height, width), in strips:
    the filter is separable, so the horizontal pass runs on strips of rows and the vertical one
    on strips of columns, with a float16 intermediate. Memory stays at a few bytes per pixel
    instead of the float path's 16, whatever the image size."""
    single = pixels.ndim == 3
    batch = pixels[None] if single else pixels
    n, h, w, c = batch.shape
    out_h, out_w = size
    white = float(np.iinfo(batch.dtype).max)
    middle = np.empty((n, h, out_w, c), np.float16)
    for top in range(0, h, strip):  # rows are independent in the horizontal pass
        rows = torch.from_numpy(batch[:, top:top + strip]).permute(0, 3, 1, 2).float().div_(white)
        wide = F.interpolate(rows, size=(rows.shape[-2], out_w), mode="bicubic", align_corners=False,
                             antialias=True)
        middle[:, top:top + strip] = wide.permute(0, 2, 3, 1).numpy()
    out = np.empty((n, out_h, out_w, c), batch.dtype)
    for left in range(0, out_w, strip):  # columns are independent in the vertical pass
        cols = torch.from_numpy(middle[:, :, left:left + strip]).permute(0, 3, 1, 2).float()
        tall = F.interpolate(cols, size=(out_h, cols.shape[-1]), mode="bicubic", align_corners=False,
                             antialias=True)
        out[:, :, left:left + strip] = tall.clamp_(0, 1).mul_(white).round_().permute(0, 2, 3, 1).numpy()
    return out[0] if single else out
