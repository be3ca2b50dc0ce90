"""Resizing of (C, H, W) or (N, C, H, W) float images with torch (device-agnostic)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["RESIZE_MODES", "resize", "bicubic_downscale", "crop_to_multiple"]

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
