"""EDSR (Lim et al. 2017): residual blocks without BatchNorm, pixel-shuffle upsampling.

Module names follow BasicSR's `EDSR`, so its published weights should load; `img_range` and the DIV2K
mean shift reproduce its input normalisation (inputs and outputs stay in [0, 1]).
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import check_scale, pixelshuffle_upsampler
from .registry import register_net

__all__ = ["EDSR"]

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class ResidualBlockNoBN(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, scaled by `res_scale`, + identity."""

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x))) * self.res_scale


@register_net("EDSR")
class EDSR(nn.Module):
    """EDSR, LR in [0, 1] -> SR in [0, 1] (x upscale, not clamped).

    Args:
        num_in_ch: input channels.
        num_out_ch: output channels.
        num_feat: feature channels (64 for EDSR-baseline, 256 for the paper's large model).
        num_block: residual blocks (16 baseline, 32 large).
        upscale: 1, 2, 3, 4 or 8.
        res_scale: residual scaling (1.0 baseline, 0.1 large).
        img_range: inputs are scaled by this after the mean shift (255 as in BasicSR's weights).
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16,
                 upscale: int = 4, res_scale: float = 1.0, img_range: float = 255.0):
        super().__init__()
        self.per_sample = True  # no batch statistics, no randomness
        self.scale = check_scale("EDSR", upscale, allowed=(1, 2, 3, 4, 8))
        self.img_range = img_range
        mean = DIV2K_RGB_MEAN if num_in_ch == 3 else (0.5,) * num_in_ch
        # Not persistent: a constant of the model, not a learned state.
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat, res_scale) for _ in range(num_block)])
        self.conv_after_body = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.upsample = pixelshuffle_upsampler(num_feat, self.scale)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) * self.img_range
        feat = self.conv_first(x)
        feat = feat + self.conv_after_body(self.body(feat))
        out = self.conv_last(self.upsample(feat))
        # The output has num_out_ch channels; add the mean only where it matches.
        mean = self.mean if out.shape[1] == self.mean.shape[1] else self.mean.mean()
        return out / self.img_range + mean
