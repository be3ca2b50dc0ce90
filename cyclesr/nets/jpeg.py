"""JPEG in torch: a differentiable round trip, and the quality an image was compressed at.

It follows baseline JPEG as libjpeg (and so Pillow) writes it: RGB to YCbCr (JFIF), 4:2:0
chroma subsampling, 8x8 DCT, division by the IJG quantization tables scaled by the quality
(Annex K of ITU-T T.81 and libjpeg's ``jpeg_quality_scaling``), rounding, and back. Rounding
is exact in the forward pass and the identity in the backward pass (straight-through), so the
gradient reaches the image (Shin and Song, "JPEG-resistant adversarial images", NeurIPS MLSec
workshop 2017, approximate the rounding by a cubic instead). What it leaves out: libjpeg's
integer DCT, its "fancy" chroma upsampling (we use bilinear) and the final rounding of pixels
to 8 bits; ``tests/test_jpeg.py`` measures how close it comes to Pillow's files.

``estimate_quality`` reads the quality back from decoded pixels (a PNG of a JPEG, a crop, a
re-save): the 8x8 DCT coefficients of a JPEG image sit on multiples of its quantization table,
so for each candidate quality the mean of cos(2 pi c / Q) over the coefficients that were not
quantized to zero is near 1 for the right table and near 0 for any other, and near 0 for all
when the image was not compressed last (Fan and de Queiroz, "Identification of bitmap
compression history: JPEG detection and quantizer estimation", IEEE TIP 2003, estimate the
tables from the same periodicity).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from cyclesr.ops.color import JFIF_LUMA

__all__ = ["jpeg_round_trip", "quant_tables", "estimate_quality"]

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
_RGB2YCC = [list(JFIF_LUMA), [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]


def _dct_matrix(n: int = 8) -> Tensor:
    """The orthonormal DCT-II matrix: coefficients = D @ block @ D.T."""
    k = torch.arange(n, dtype=torch.float64).view(-1, 1)
    i = torch.arange(n, dtype=torch.float64).view(1, -1)
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    d[0] /= math.sqrt(2)
    return d.float()


_DCT = _dct_matrix()


def quant_tables(quality: Tensor) -> tuple[Tensor, Tensor]:
    """libjpeg's luma and chroma quantization tables (N, 8, 8) for qualities (N,) in [1, 100]
    (rounded to integers), scaled as ``jpeg_quality_scaling`` does (50 keeps Annex K's tables)."""
    q = quality.detach().double().round().clamp(1, 100).view(-1, 1, 1)
    scale = torch.where(q < 50, torch.floor(5000 / q), 200 - 2 * q)
    tables = [torch.tensor(t, dtype=torch.float64, device=q.device).view(1, 8, 8) for t in (_LUMA, _CHROMA)]
    luma, chroma = (torch.floor((t * scale + 50) / 100).clamp(1, 255).to(quality.dtype) for t in tables)
    return luma, chroma


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


def jpeg_round_trip(x: Tensor, quality: Tensor, subsample_chroma: bool = True,
                    offset: tuple[int, int] = (0, 0)) -> Tensor:
    """Compress and decompress RGB images ``x`` (N, 3, H, W) in [0, 1] at ``quality`` (N,) in
    [1, 100], chroma 4:2:0 as libjpeg writes by default (``subsample_chroma=False``: 4:4:4).
    ``offset`` (dy, dx) in [0, 16) moves the 8x8 grid (a
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
    if subsample_chroma:
        chroma = nn.functional.avg_pool2d(chroma, 2)
    hc, wc = chroma.shape[-2:]
    chroma = _blocks_quantize(chroma.reshape(n * 2, hc, wc), chroma_t.repeat_interleave(2, 0)).view(n, 2, hc, wc)
    if subsample_chroma:
        chroma = nn.functional.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)
    ycc = torch.cat([y.unsqueeze(1) + 128, chroma], 1)
    rgb = torch.einsum("ij,njhw->nihw", torch.linalg.inv(m), ycc)
    return (rgb / 255)[:, :, dy:dy + h, dx:dx + w]


def _luma(img: Tensor) -> Tensor:
    """JFIF luma (H, W), level-shifted, in float64, of an RGB image (3, H, W) in [0, 1]."""
    weights = torch.tensor(_RGB2YCC[0], dtype=torch.float64, device=img.device)
    return torch.einsum("c,chw->hw", weights, img.double() * 255) - 128


def _luma_blocks(luma: Tensor, dy: int, dx: int, max_blocks: int) -> Tensor:
    """DCT coefficients (B, 8, 8) of the 8x8 blocks of ``luma`` whose grid starts at (dy, dx);
    at most ``max_blocks`` blocks from the image centre."""
    y = luma[dy:, dx:]
    h, w = y.shape[0] // 8, y.shape[1] // 8
    side = max(1, int(math.sqrt(max_blocks)))
    bh, bw = min(h, side), min(w, max(side, max_blocks // max(1, min(h, side))))
    top, left = (h - bh) // 2, (w - bw) // 2
    y = y[top * 8:(top + bh) * 8, left * 8:(left + bw) * 8]
    blocks = y.reshape(bh, 8, bw, 8).transpose(1, 2).reshape(-1, 8, 8)
    d = _DCT.double().to(y.device)
    return d @ blocks @ d.T


def _periodicity(coef: Tensor, tables: Tensor, min_count: int = 64) -> Tensor:
    """Mean cos(2 pi c / Q) per table (Q, 8, 8) over the AC coefficients not quantized to 0
    (|c| >= Q / 2) at entries Q >= 2; 0 for a table with fewer than ``min_count`` of them."""
    z = coef.unsqueeze(0) / tables.unsqueeze(1)  # Q, B, 8, 8
    use = (z.abs() >= 0.5) & (tables.unsqueeze(1) >= 2)
    use[..., 0, 0] = False
    count = use.flatten(1).sum(1)
    total = torch.where(use, torch.cos(2 * math.pi * z), torch.zeros_like(z)).flatten(1).sum(1)
    return torch.where(count >= min_count, total / count.clamp_min(1), torch.zeros_like(total))


def estimate_quality(img: Tensor, threshold: float = 0.5, max_blocks: int = 1024) -> tuple[Optional[int], float]:
    """The IJG quality (1-100) an RGB image (3, H, W) in [0, 1] was last JPEG-compressed at,
    and the evidence for it (mean periodicity, about 0.9-1 for a JPEG image, about 0 for an
    image that was not compressed after its last noise or resize). ``None`` when the evidence
    is under ``threshold`` or the image is smaller than 16x16. The 8x8 grid is searched over
    all 64 offsets (crops of JPEG images keep their grid elsewhere)."""
    if img.dim() != 3 or img.shape[0] != 3:
        raise ValueError(f"estimate_quality expects one (3, H, W) RGB image, got {tuple(img.shape)}")
    if min(img.shape[-2:]) < 16:
        return None, 0.0
    coarse = quant_tables(torch.arange(10.0, 100.0, 10.0))[0].double()
    offsets = [(dy, dx) for dy in range(8) for dx in range(8)]
    # the grid first, with a few qualities (the right grid wins at its quality's neighbours)
    luma = _luma(img)
    dy, dx = max(offsets, key=lambda o: float(_periodicity(_luma_blocks(luma, *o, max_blocks // 4), coarse).max()))
    qualities = torch.arange(1, 101)
    scores = _periodicity(_luma_blocks(luma, dy, dx, max_blocks), quant_tables(qualities.double())[0])
    best = int(scores.argmax())
    evidence = float(scores[best])
    return (int(qualities[best]) if evidence >= threshold else None), evidence
