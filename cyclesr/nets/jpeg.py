"""A differentiable JPEG round trip in torch, for generators that learn a compression step.

It follows baseline JPEG as libjpeg (and so Pillow) writes it: RGB to YCbCr (JFIF), 4:2:0
chroma subsampling, 8x8 DCT, division by the IJG quantization tables scaled by the quality
(Annex K of ITU-T T.81 and libjpeg's ``jpeg_quality_scaling``), rounding, and back. Rounding
is exact in the forward pass and the identity in the backward pass (straight-through), so the
gradient reaches the image and, through the quantization error, the quality (Shin and Song,
"JPEG-resistant adversarial images", NeurIPS MLSec workshop 2017, approximate the rounding
instead). What it leaves out: libjpeg's integer DCT, its "fancy" chroma upsampling (we use
bilinear) and the final rounding of pixels to 8 bits; ``tests/test_jpeg.py`` measures how
close it comes to Pillow's files.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["jpeg_round_trip", "quant_tables"]

# ITU-T T.81 Annex K, tables K.1 (luminance) and K.2 (chrominance)
_LUMA = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
_CHROMA = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32
# JFIF RGB -> YCbCr (offsets of 128 for the chroma handled by the level shift)
_RGB2YCC = [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]


def _dct_matrix(n: int = 8) -> Tensor:
    """The orthonormal DCT-II matrix: coefficients = D @ block @ D.T."""
    k = torch.arange(n, dtype=torch.float64).view(-1, 1)
    i = torch.arange(n, dtype=torch.float64).view(1, -1)
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    d[0] /= math.sqrt(2)
    return d.float()


_DCT = _dct_matrix()


def quant_tables(quality: Tensor) -> tuple[Tensor, Tensor]:
    """Luma and chroma quantization tables (N, 8, 8) for qualities (N,) in [1, 100], scaled as
    libjpeg does (50 keeps Annex K's tables) but without rounding the entries, so they stay
    differentiable in the quality; entries are at least 1."""
    q = quality.clamp(1, 100).view(-1, 1, 1)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q) / 100
    luma = torch.tensor(_LUMA, dtype=q.dtype, device=q.device).view(1, 8, 8)
    chroma = torch.tensor(_CHROMA, dtype=q.dtype, device=q.device).view(1, 8, 8)
    return (luma * scale + 0.5).clamp_min(1), (chroma * scale + 0.5).clamp_min(1)


def _blocks_quantize(channel: Tensor, table: Tensor) -> Tensor:
    """Quantize one plane (N, H, W) with H, W multiples of 8 in the DCT domain; table (N, 8, 8)."""
    n, h, w = channel.shape
    d = _DCT.to(channel.dtype).to(channel.device)
    blocks = channel.view(n, h // 8, 8, w // 8, 8).transpose(2, 3)  # n, by, bx, 8, 8
    coef = d @ blocks @ d.T
    z = coef / table.view(n, 1, 1, 8, 8)
    z = z + (torch.round(z) - z).detach()  # exact rounding forward, identity backward
    back = d.T @ (z * table.view(n, 1, 1, 8, 8)) @ d
    return back.transpose(2, 3).reshape(n, h, w)


def jpeg_round_trip(x: Tensor, quality: Tensor, chroma_subsampling: Tensor | float = 1.0,
                    offset: tuple[int, int] = (0, 0)) -> Tensor:
    """Compress and decompress RGB images ``x`` (N, 3, H, W) in [0, 1] at ``quality`` (N,) in
    [1, 100]. ``chroma_subsampling`` in [0, 1] blends full-resolution chroma (0) with 4:2:0
    (1, what libjpeg writes by default). ``offset`` (dy, dx) in [0, 16) moves the 8x8 grid (a
    crop of a JPEG image has its grid anywhere). The size is kept: edges are replicated to
    whole 16x16 blocks and cropped off again."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"jpeg_round_trip expects (N, 3, H, W) RGB images, got {tuple(x.shape)}")
    n, _, h, w = x.shape
    dy, dx = offset
    pad_b, pad_r = (-(h + dy)) % 16, (-(w + dx)) % 16
    img = nn.functional.pad(x, (dx, pad_r, dy, pad_b), mode="replicate") * 255
    m = torch.tensor(_RGB2YCC, dtype=x.dtype, device=x.device)
    ycc = torch.einsum("ij,njhw->nihw", m, img)
    ycc = torch.cat([ycc[:, :1] - 128, ycc[:, 1:]], 1)  # level shift; chroma is centred already
    luma_t, chroma_t = quant_tables(quality.to(x.dtype))
    y = _blocks_quantize(ycc[:, 0], luma_t)
    chroma = ycc[:, 1:]
    small = nn.functional.avg_pool2d(chroma, 2)
    hh, ww = small.shape[-2:]
    small = _blocks_quantize(small.reshape(n * 2, hh, ww), chroma_t.repeat_interleave(2, 0)).view(n, 2, hh, ww)
    sub = nn.functional.interpolate(small, scale_factor=2, mode="bilinear", align_corners=False)
    hc, wc = chroma.shape[-2:]
    full = _blocks_quantize(chroma.reshape(n * 2, hc, wc), chroma_t.repeat_interleave(2, 0)).view(n, 2, hc, wc)
    s = torch.as_tensor(chroma_subsampling, dtype=x.dtype, device=x.device)
    chroma = full + s * (sub - full)
    ycc = torch.cat([y.unsqueeze(1) + 128, chroma], 1)
    rgb = torch.einsum("ij,njhw->nihw", torch.linalg.inv(m), ycc)
    return (rgb / 255)[:, :, dy:dy + h, dx:dx + w]
