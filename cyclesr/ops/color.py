"""Luma (BT.601), the one place its weights are written.

Two forms are in use, for two reasons:
- full range, ``Y = 0.299 R + 0.587 G + 0.114 B``: what JPEG (JFIF) encodes and what Pillow's
  ``convert("L")`` writes, so gray output files and the JPEG round trip match those tools;
- studio range, MATLAB's ``rgb2ycbcr``: ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` (R, G, B in
  [0, 1], Y in 0..255), the Y on which SR papers report PSNR/SSIM, so our numbers match theirs.
"""
from __future__ import annotations

from torch import Tensor

__all__ = ["JFIF_LUMA", "MATLAB_Y", "gray", "rgb_to_y"]

JFIF_LUMA = (0.299, 0.587, 0.114)
MATLAB_Y = (65.481, 128.553, 24.966)


def _weights(img: Tensor, values: tuple[float, float, float]) -> Tensor:
    return img.new_tensor(values).view(3, 1, 1)


def gray(img: Tensor) -> Tensor:
    """Full-range luma of RGB ``(..., 3, H, W)`` in [0, 1] -> ``(..., 1, H, W)`` in [0, 1]."""
    return (img * _weights(img, JFIF_LUMA)).sum(dim=-3, keepdim=True)


def rgb_to_y(img: Tensor) -> Tensor:
    """MATLAB-compatible luma of RGB ``(..., 3, H, W)`` in [0, 1] -> ``(..., 1, H, W)`` in
    [16/255, 235/255]."""
    return ((img * _weights(img, MATLAB_Y)).sum(dim=-3, keepdim=True) + 16.0) / 255.0
