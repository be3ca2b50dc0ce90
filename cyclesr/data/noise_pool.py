"""Noise patches taken from real LR images, for the recipe step ``inject``.

A flat region of a real LR image holds nothing but the camera's noise (and what compression
left of it) around a constant colour. Collecting such regions and adding them, minus their
mean, to clean synthetic LR images injects the real noise without modelling it: the idea of
"noise injection" in Ji et al., "Real-World Super-Resolution via Kernel Estimation and Noise
Injection", CVPR Workshops 2020. Here a window counts as flat when a Gaussian low-pass of it
barely varies (its standard deviation, per channel, is below ``max_structure``), which
ignores the noise itself (mostly high frequency) and keeps gentle gradients out.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from cyclesr.data.kernels import blur_kernel, default_kernel_size, filter2d

__all__ = ["flat_patches", "collect_noise_pool", "tile_noise"]


def flat_patches(image: torch.Tensor, size: int = 16, per_image: int = 8,
                 max_structure: float = 0.005, sigma: float = 2.0,
                 allowance: float = 1.0, min_isotropy: float = 0.5) -> torch.Tensor:
    """Up to ``per_image`` zero-mean noise patches (k, C, size, size) from the flattest
    ``size`` windows of one (C, H, W) image in [0, 1] (stride size/2).

    A window's structure is the standard deviation of its Gaussian low-pass (``sigma``) minus
    what white noise of the window's high-pass level would leave in that low-pass (the
    filter's noise gain, so strong noise does not make a flat region look structured); windows
    whose structure exceeds ``max_structure`` in any channel are left out, and so are windows
    whose horizontal and vertical differences differ in energy by more than ``1 / min_isotropy``
    (stripes, edges: noise has no direction). Of the rest, the
    windows with the weakest high frequencies come first: in a noisy image that is the noise of
    flat regions, in a clean one flat regions rather than fine texture."""
    channels, height, width = image.shape
    if min(height, width) < size:
        return image.new_zeros(0, channels, size, size)
    kernel = blur_kernel("iso", default_kernel_size(sigma), sigma)
    low = filter2d(image, kernel)
    stride = max(1, size // 2)

    def windows(x: torch.Tensor) -> torch.Tensor:  # C, nh, nw, s, s
        return x.unfold(1, size, stride).unfold(2, size, stride)

    noise_gain = float(kernel.square().sum().sqrt())
    low_std = windows(low).std(dim=(-1, -2))
    high_std = windows(image - low).std(dim=(-1, -2))
    structure = (low_std - allowance * noise_gain * high_std).amax(0).flatten()  # nh * nw
    detail = high_std.amax(0).flatten()
    # noise has no direction: horizontal and vertical differences carry about the same energy
    win = windows(image)
    ex = (win[..., :, 1:] - win[..., :, :-1]).square().mean(dim=(-1, -2)).sum(0).flatten()
    ey = (win[..., 1:, :] - win[..., :-1, :]).square().mean(dim=(-1, -2)).sum(0).flatten()
    isotropic = torch.minimum(ex, ey) >= min_isotropy * torch.maximum(ex, ey)
    order = torch.argsort(detail)  # the least detail first: noise, not fine texture
    order = order[(structure[order] <= max_structure) & isotropic[order]]
    if len(order):  # noise is stationary: flat windows of one image show about the same level
        order = order[detail[order] <= 1.5 * detail[order[0]]]
    order = order[:per_image]
    patches = win.permute(1, 2, 0, 3, 4).reshape(-1, channels, size, size)[order]
    return patches - patches.mean(dim=(-1, -2), keepdim=True)


def collect_noise_pool(images: Iterable[torch.Tensor | str | Path], size: int = 16, per_image: int = 8,
                       max_images: int = 256, seed: int = 0, **kwargs) -> torch.Tensor:
    """Noise patches (N, 3, size, size) from real LR images (tensors or file paths; at most
    ``max_images`` of them, a seeded choice). N may be 0 when no image has a flat region."""
    from cyclesr.data.io import ImageReadError, load_rgb  # local: only needed for paths

    images = list(images)
    if len(images) > max_images:
        chosen = np.random.default_rng(seed).choice(len(images), max_images, replace=False)
        images = [images[i] for i in sorted(chosen)]
    found = []
    for image in images:
        if not isinstance(image, torch.Tensor):
            try:
                image = load_rgb(image)
            except (ImageReadError, OSError):
                continue  # unreadable files are reported by whoever reads the folder for training
        found.append(flat_patches(image, size, per_image, **kwargs))
    return torch.cat(found) if found else torch.zeros(0, 3, size, size)


def tile_noise(pool: torch.Tensor, height: int, width: int, rng: np.random.Generator) -> torch.Tensor:
    """A (C, height, width) noise field tiled from random pool patches, each randomly flipped
    or transposed (the noise of a flat region has no orientation)."""
    if len(pool) == 0:
        raise ValueError("the noise pool is empty: no flat region was found in the real LR images")
    size = pool.shape[-1]
    rows, cols = -(-height // size), -(-width // size)
    picks = rng.integers(len(pool), size=rows * cols)
    flips = rng.integers(8, size=rows * cols)
    tiles = []
    for pick, flip in zip(picks, flips):
        tile = pool[int(pick)]
        if flip & 1:
            tile = tile.flip(-1)
        if flip & 2:
            tile = tile.flip(-2)
        if flip & 4:
            tile = tile.transpose(-1, -2)
        tiles.append(tile)
    grid = torch.stack(tiles).view(rows, cols, -1, size, size)
    field = grid.permute(2, 0, 3, 1, 4).reshape(-1, rows * size, cols * size)
    return field[:, :height, :width]

