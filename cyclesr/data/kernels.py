"""Blur kernels (Gaussian family, motion) and per-channel 2-D filtering."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["BLUR_KINDS", "default_kernel_size", "blur_kernel", "motion_kernel", "filter2d"]

BLUR_KINDS = ("iso", "aniso", "generalized", "plateau")


def default_kernel_size(sigma: float) -> int:
    """Odd size that holds +-3 sigma of a Gaussian (at least 3)."""
    return max(3, 2 * math.ceil(3 * sigma) + 1)


def blur_kernel(
    kind: str, size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0,
    beta: float = 1.0,
) -> torch.Tensor:
    """(size, size) float32 kernel summing to 1.

    With the covariance C = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T and q = d^T C^-1 d
    for the offset d from the centre: "iso"/"aniso" are Gaussians exp(-q/2) ("iso" uses
    sigma_x for both axes), "generalized" is exp(-q^beta / 2) (beta < 1 heavier tails,
    beta > 1 flatter top) and "plateau" is 1 / (1 + q^beta). `theta` is in degrees."""
    if kind not in BLUR_KINDS:
        raise ValueError(f"unknown blur kind {kind!r}; use one of {', '.join(BLUR_KINDS)}")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd number, got {size}")
    sigma_y = sigma_x if kind == "iso" or sigma_y is None else sigma_y
    if min(sigma_x, sigma_y) <= 0:
        raise ValueError(f"blur sigma must be positive, got {sigma_x}, {sigma_y}")
    angle = math.radians(theta)
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]],
                            dtype=torch.float64)
    covariance = rotation @ torch.diag(torch.tensor([sigma_x**2, sigma_y**2], dtype=torch.float64)) @ rotation.T
    axis = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    offsets = torch.stack([xs, ys], dim=-1)
    q = ((offsets @ torch.linalg.inv(covariance)) * offsets).sum(-1)
    if kind in ("iso", "aniso"):
        kernel = torch.exp(-0.5 * q)
    elif kind == "generalized":
        kernel = torch.exp(-0.5 * q.pow(beta))
    else:
        kernel = 1.0 / (1.0 + q.pow(beta))
    return (kernel / kernel.sum()).float()


def motion_kernel(length: float, angle: float, size: int | None = None) -> torch.Tensor:
    """A straight motion streak of `length` pixels at `angle` degrees (counter-clockwise from
    the x axis), antialiased by bilinear splatting; (size, size) float32 summing to 1."""
    size = size or 2 * math.ceil(length / 2) + 1
    kernel = torch.zeros(size + 1, size + 1, dtype=torch.float64)  # +1: room for the splat
    steps = max(2, 8 * math.ceil(length))
    t = torch.linspace(-length / 2, length / 2, steps, dtype=torch.float64)
    xs = t * math.cos(math.radians(angle)) + (size - 1) / 2
    ys = -t * math.sin(math.radians(angle)) + (size - 1) / 2
    x0, y0 = xs.floor().long().clamp(0, size - 1), ys.floor().long().clamp(0, size - 1)
    fx, fy = (xs - x0).clamp(0, 1), (ys - y0).clamp(0, 1)
    for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)),
                           (1, 1, fy * fx)):
        kernel.index_put_((y0 + dy, x0 + dx), weight, accumulate=True)
    kernel = kernel[:size, :size]
    return (kernel / kernel.sum()).float()


def filter2d(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve every channel of (C, H, W) or (N, C, H, W) with one odd-sized 2-D kernel,
    reflect-padding the borders (replicate when the image is smaller than the kernel)."""
    batch = image if image.dim() == 4 else image.unsqueeze(0)
    channels, height, width = batch.shape[1:]
    pad = kernel.shape[-1] // 2
    mode = "reflect" if pad < min(height, width) else "replicate"
    padded = F.pad(batch, (pad, pad, pad, pad), mode=mode)
    weight = kernel.to(batch).flip(-1, -2).expand(channels, 1, *kernel.shape[-2:])
    out = F.conv2d(padded, weight, groups=channels)
    return out if image.dim() == 4 else out.squeeze(0)
