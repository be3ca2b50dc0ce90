"""A small, fast-converging SR network for CPU budgets: EDSR-style residual blocks without
normalisation, pixel-shuffle upsampling, and a global bicubic skip, so that it starts at
bicubic quality and only learns the correction (what the degradation took away)."""
from __future__ import annotations

import torch
import torch.nn.functional as nnf
from torch import nn

from .blocks import check_scale, pixelshuffle_upsampler
from .registry import register_net

__all__ = ["BicubicResidualSR"]


class _Block(nn.Module):
    def __init__(self, nf: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(nf, nf, 3, padding=1), nn.ReLU(True), nn.Conv2d(nf, nf, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register_net("BicubicResidualSR")
class BicubicResidualSR(nn.Module):
    """LR in [0, 1] -> bicubic(LR) + learned residual (x upscale, not clamped).

    Args:
        num_feat: feature channels.
        num_block: residual blocks (conv-ReLU-conv + skip).
        upscale: 1, 2, 3, 4 or 8.
        num_in_ch: input channels.
        num_out_ch: output channels (must equal num_in_ch for the bicubic skip).
    """

    def __init__(self, num_feat: int = 32, num_block: int = 4, upscale: int = 4, num_in_ch: int = 3,
                 num_out_ch: int = 3):
        super().__init__()
        if num_in_ch != num_out_ch:
            raise ValueError("BicubicResidualSR: num_in_ch must equal num_out_ch (bicubic skip)")
        self.per_sample = True  # no batch statistics, no randomness
        self.scale = check_scale("BicubicResidualSR", upscale, allowed=(1, 2, 3, 4, 8))
        self.head = nn.Conv2d(num_in_ch, num_feat, 3, padding=1)
        self.body = nn.Sequential(*[_Block(num_feat) for _ in range(num_block)],
                                  nn.Conv2d(num_feat, num_feat, 3, padding=1))
        self.upsample = pixelshuffle_upsampler(num_feat, self.scale)
        self.tail = nn.Conv2d(num_feat, num_out_ch, 3, padding=1)
        nn.init.zeros_(self.tail.weight)  # start exactly at bicubic
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.body(feat)
        base = nnf.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return base + self.tail(self.upsample(feat))
