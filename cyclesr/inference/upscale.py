"""Upscaling images with a trained SR network: tiling, test-time augmentation, colour fix, resizing.

``upscale_image`` is the full path the CLI and API use; the pieces are public so that they can
be combined differently. Tiling itself lives in ``cyclesr.inference.tiling`` and is re-exported here.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cyclesr.inference.tiling import auto_tile_size, upscale_tensor
from cyclesr.ops.resize import gaussian_blur, resize

__all__ = ["upscale_tensor", "auto_tile_size", "tta_upscale", "color_fix", "upscale_image"]


def _dihedral(x: Tensor, k: int, flip: bool) -> Tensor:
    x = torch.flip(x, dims=(-1,)) if flip else x
    return torch.rot90(x, k, dims=(-2, -1))


def _dihedral_inverse(x: Tensor, k: int, flip: bool) -> Tensor:
    x = torch.rot90(x, -k, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if flip else x


def tta_upscale(fn: Callable[[Tensor], Tensor], lr: Tensor) -> Tensor:
    """Average of ``fn`` over the 8 flips/rotations of ``lr``, each output transformed back."""
    total = None
    for flip in (False, True):
        for k in range(4):
            out = _dihedral_inverse(fn(_dihedral(lr, k, flip)), k, flip).float()
            total = out if total is None else total + out
    return total / 8


def color_fix(sr: Tensor, lr: Tensor, scale: float) -> Tensor:
    """Replace the low frequencies of ``sr`` with those of ``lr`` (fixes colour and tone shifts).

    ``result = sr - low(sr) + low(bicubic_up(lr))`` with ``low`` a Gaussian blur of sigma
    ``2 * scale`` output pixels; ``lr`` is upsampled to ``sr``'s size. Clamped to [0, 1].
    """
    single = sr.dim() == 3
    sr4 = sr.unsqueeze(0) if single else sr
    lr4 = lr.unsqueeze(0) if lr.dim() == 3 else lr
    lr_up = F.interpolate(lr4.to(sr4), size=sr4.shape[-2:], mode="bicubic", align_corners=False)
    sigma = 2.0 * max(float(scale), 0.5)
    fixed = (sr4 - gaussian_blur(sr4, sigma) + gaussian_blur(lr_up, sigma)).clamp(0.0, 1.0)
    return fixed[0] if single else fixed


_color_fix = color_fix  # ``upscale_image`` has a keyword of the same name


def _resize(img: Tensor, size: tuple[int, int]) -> Tensor:
    """Antialiased bicubic resize of (C, H, W) or (N, C, H, W), clamped to [0, 1]."""
    return resize(img, size, "bicubic").clamp(0.0, 1.0)


def upscale_image(
    net: nn.Module,
    rgb: Tensor,
    scale: int,
    *,
    tile: int | None = None,
    tile_pad: int = 16,
    tta: bool = False,
    color_fix: bool = False,
    outscale: float | None = None,
    device: torch.device | str | None = None,
    half: bool = False,
    alpha: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Upscale ``rgb`` ((3, H, W) or (N, 3, H, W), [0, 1]) with ``net``; returns ``(rgb_out, alpha_out)``.

    ``tile``/``tile_pad``/``device``/``half`` go to ``upscale_tensor``; ``tta`` averages the 8
    flips/rotations; ``color_fix`` pulls the output's low frequencies to the input's.
    ``outscale`` sets the final size to ``round(outscale * H) x round(outscale * W)`` by an
    antialiased bicubic resize of the network's output (default: ``scale``).
    ``alpha`` ((1, H, W) or (N, 1, H, W)) is resized to the output size with bicubic
    interpolation rather than run through the network: SR networks are trained on RGB content,
    and a bicubic alpha keeps soft edges without hallucinated texture. ``alpha_out`` is None
    when no alpha is given. Outputs are clamped to [0, 1] and on the CPU.
    """
    def run(x: Tensor) -> Tensor:
        return upscale_tensor(net, x, scale, tile=tile, tile_pad=tile_pad, device=device, half=half)

    out = tta_upscale(run, rgb) if tta else run(rgb)
    if color_fix:
        out = _color_fix(out, rgb.cpu(), scale)
    h, w = rgb.shape[-2:]
    factor = scale if outscale is None else outscale
    size = (max(1, round(factor * h)), max(1, round(factor * w)))
    out = _resize(out, size)
    alpha_out = None
    if alpha is not None:
        if alpha.shape[-2:] != rgb.shape[-2:]:
            raise ValueError(f"alpha {tuple(alpha.shape)} does not match the image {tuple(rgb.shape)}")
        alpha_out = _resize(alpha.detach().float().cpu(), size)
    return out, alpha_out
