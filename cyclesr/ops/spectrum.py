"""Radially averaged power spectra of images: the one tool that compares how sharp and how
noisy two sets of images are without pairing them (the mean spectrum of natural photos is
nearly the same from set to set, so the ratio of two sets' spectra is mostly the filter and
noise that tell them apart).

Every image is cut into ``tile`` x ``tile`` luma tiles (Hann-windowed, mean removed); the power
spectra of all tiles are averaged and then averaged over rings of equal frequency (``bins``
rings between 0 and 0.5 cycles per pixel). ``kernel_response`` gives a convolution kernel's power
response on the same rings, so a model of the filter can be fitted to a ratio of spectra.
"""
from __future__ import annotations

import functools
from typing import Sequence

import torch
from torch import Tensor

from .color import gray

__all__ = ["ring_frequencies", "radial_power", "kernel_response", "window_power"]


def _rings(tile: int, bins: int, device=None) -> tuple[Tensor, Tensor]:
    f = torch.fft.fftfreq(tile, device=device)
    radius = torch.sqrt(f.view(-1, 1) ** 2 + f.view(1, -1) ** 2)
    index = torch.clamp((radius / 0.5 * bins).long(), max=bins)  # bins = the corners beyond 0.5
    counts = torch.bincount(index.flatten(), minlength=bins + 1).clamp_min(1)
    return index.flatten(), counts


def _ring_mean(power: Tensor, tile: int, bins: int) -> Tensor:
    index, counts = _rings(tile, bins, power.device)
    sums = torch.zeros(bins + 1, dtype=power.dtype, device=power.device).index_add_(0, index, power.flatten())
    return (sums / counts)[:bins]


def ring_frequencies(bins: int = 32) -> Tensor:
    """The centre frequency of each ring (cycles per pixel)."""
    return (torch.arange(bins, dtype=torch.float64) + 0.5) * 0.5 / bins


def window_power(tile: int) -> float:
    """Sum of the squared 2-D Hann window: white noise of variance v has power v * this."""
    w = torch.hann_window(tile, periodic=False, dtype=torch.float64)
    return float((w.square().sum()) ** 2)


def radial_power(images: Sequence[Tensor], tile: int = 64, bins: int = 32) -> Tensor:
    """Mean ring power (``bins``,) of the luma of RGB images ((3, H, W) in [0, 1]); images
    smaller than a tile are skipped. Raises ValueError when no image holds a tile."""
    window = torch.hann_window(tile, periodic=False, dtype=torch.float64)
    window = window.view(-1, 1) * window.view(1, -1)
    total, count = torch.zeros(tile, tile, dtype=torch.float64), 0
    for image in images:
        y = gray(image.double())[0]
        rows, cols = y.shape[0] // tile, y.shape[1] // tile
        if not rows or not cols:
            continue
        tiles = y[:rows * tile, :cols * tile].reshape(rows, tile, cols, tile).permute(0, 2, 1, 3)
        tiles = tiles.reshape(-1, tile, tile)
        tiles = (tiles - tiles.mean(dim=(-2, -1), keepdim=True)) * window
        total += torch.fft.fft2(tiles).abs().square().sum(0)
        count += tiles.shape[0]
    if not count:
        raise ValueError(f"no image is at least {tile}x{tile} pixels: the spectrum needs whole tiles")
    return _ring_mean(total / count, tile, bins)


@functools.lru_cache(maxsize=16)
def _dft_basis(k: int, tile: int, bins: int) -> tuple[Tensor, Tensor, Tensor]:
    """cos and sin of the tile's DFT frequencies at a k x k kernel's taps, and the matrix that
    averages over rings (float64)."""
    f = torch.fft.fftfreq(tile, dtype=torch.float64)
    t = torch.arange(k, dtype=torch.float64) - k // 2
    phase = 2 * torch.pi * (f.view(-1, 1, 1, 1) * t.view(1, 1, -1, 1) + f.view(1, -1, 1, 1) * t.view(1, 1, 1, -1))
    phase = phase.reshape(tile * tile, k * k)
    index, counts = _rings(tile, bins)
    average = torch.zeros(bins + 1, tile * tile, dtype=torch.float64)
    average[index, torch.arange(tile * tile)] = 1.0
    average = (average / counts.view(-1, 1).double())[:bins]
    return phase.cos(), phase.sin(), average


def kernel_response(kernel: Tensor, tile: int = 64, bins: int = 32) -> Tensor:
    """Ring mean of |DFT|^2 of a 2-D kernel (k, k) on the tile's frequencies (differentiable)."""
    cos, sin, average = (m.to(kernel.device) for m in _dft_basis(kernel.shape[-1], tile, bins))
    flat = kernel.reshape(-1, 1).to(torch.float64)
    power = (cos @ flat).square() + (sin @ flat).square()
    return (average @ power).view(-1).to(kernel.dtype)
