"""Upscaling images with a trained SR network: tiling, test-time augmentation, colour fix, resizing.

``upscale_image`` is the full path the CLI and API use; the pieces are public so that they can
be combined differently. Tiling itself lives in ``cyclesr.inference.tiling`` and is re-exported here.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import numpy as np

from cyclesr.inference.tiling import auto_tile_size, upscale_tensor, upscale_to_pixels
from cyclesr.ops.resize import gaussian_blur, resize, resize_pixels

__all__ = ["upscale_tensor", "upscale_to_pixels", "auto_tile_size", "tta_upscale", "color_fix",
           "upscale_image", "upscale_image_pixels"]


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
    return out, _alpha_out(alpha, rgb, size)


def _alpha_out(alpha: Tensor | None, rgb: Tensor, size: tuple[int, int]) -> Tensor | None:
    if alpha is None:
        return None
    if alpha.shape[-2:] != rgb.shape[-2:]:
        raise ValueError(f"alpha {tuple(alpha.shape)} does not match the image {tuple(rgb.shape)}")
    return _resize(alpha.detach().float().cpu(), size)


class _PerTile(nn.Module):
    """The network with TTA and/or the colour fix applied to each tile it is given, so that the
    tiled path can stream the tiles into the integer output. The colour fix's blur (radius
    6 * scale output pixels) takes its context from the tile padding, which covers it for
    ``tile_pad`` >= 6; near the image's edges it replicates the edge as the whole-image fix does."""

    def __init__(self, net: nn.Module, scale: int, tta: bool, fix: bool):
        super().__init__()
        self.net, self.scale, self.tta, self.fix = net, scale, tta, fix

    def forward(self, x: Tensor) -> Tensor:
        out = tta_upscale(self.net, x) if self.tta else self.net(x)
        return _color_fix(out.float(), x.float(), self.scale) if self.fix else out


def upscale_image_pixels(net: nn.Module, rgb: Tensor, scale: int, *, bits: int = 8,
                         tile: int | None = None, tile_pad: int = 16, tta: bool = False,
                         color_fix: bool = False, outscale: float | None = None,
                         device: torch.device | str | None = None, half: bool = False,
                         alpha: Tensor | None = None) -> tuple[np.ndarray, Tensor | None]:
    """``upscale_image`` with the RGB result as a uint8 (``bits`` 8) or uint16 (16) array,
    (H, W, 3) or (N, H, W, 3), rounded as ``cyclesr.ops.image.to_integer_array`` does; alpha
    as in ``upscale_image``. The tiles go straight into that array (TTA and the colour fix run
    per tile), and another ``outscale`` resizes it in strips (``ops.resize.resize_pixels``), so
    the output costs a few bytes per pixel whatever its size; results are the float path's
    within a level or two."""
    h, w = rgb.shape[-2:]
    if tta or color_fix:
        net = _PerTile(net, scale, tta, color_fix)
    pixels = upscale_to_pixels(net, rgb, scale, tile=tile, tile_pad=tile_pad, bits=bits,
                               device=device, half=half)
    factor = scale if outscale is None else outscale
    size = (max(1, round(factor * h)), max(1, round(factor * w)))
    if size != (h * scale, w * scale):
        pixels = resize_pixels(pixels, size)
    return pixels, _alpha_out(alpha, rgb, size)
