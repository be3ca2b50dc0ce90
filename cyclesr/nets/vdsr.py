"""The reference's SR networks: "VDSR" and its "SRResNet" variant.

Not the 2016 VDSR paper (interpolate, then refine): both work at LR resolution and upsample at
the end with pixel shuffle, like the reference (old BasicSR's SRResNet layout):

    conv3x3 -> [body blocks -> conv3x3 + norm] + global skip
            -> log2(upscale) x (conv to 4nf, PixelShuffle(2), ReLU) -> conv3x3 + ReLU -> conv3x3

Every conv has a bias and BatchNorm is affine, which gives the reference's 1,114,051 parameters
for the defaults. Output is not clamped: training uses the raw output. The last conv (to the
image's channels, at HR size) trains on a CPU as tap maps and ``fold`` (``blocks.ImageConv2d``);
its parameters and state dict are those of ``nn.Conv2d``.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import (ImageConv2d, ResidualBlock, check_norm, check_scale, conv_norm_act,
                     init_weights, pixelshuffle_upsampler)
from .registry import register_net

__all__ = ["VDSR", "SRResNet"]


class _ReferenceSR(nn.Module):
    """Shared trunk of VDSR and SRResNet; subclasses choose the body block. ``scale`` is the
    upscale factor; ``per_sample`` is False with batch norm (outputs depend on the batch)."""

    def __init__(self, SR_nb: int = 20, SR_nf: int = 64, SR_norm_type: str = "batch", upscale: int = 4,
                 input_nc: int = 3, output_nc: int = 3):
        super().__init__()
        self.scale = check_scale(type(self).__name__, upscale)
        norm = check_norm(SR_norm_type)
        self.per_sample = norm != "batch"
        self.head = nn.Conv2d(input_nc, SR_nf, 3, padding=1)
        blocks = [self._block(SR_nf, norm) for _ in range(SR_nb)]
        self.body = nn.Sequential(*blocks, conv_norm_act(SR_nf, SR_nf, norm, act=False))
        self.upsample = pixelshuffle_upsampler(SR_nf, self.scale, act=True)
        self.tail = nn.Sequential(nn.Conv2d(SR_nf, SR_nf, 3, padding=1), nn.ReLU(inplace=True),
                                  ImageConv2d(SR_nf, output_nc, 3, padding=1))
        init_weights(self, "normal", 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.body(feat)
        return self.tail(self.upsample(feat))

    def _block(self, nf: int, norm: str) -> nn.Module:
        raise NotImplementedError


@register_net("VDSR")
class VDSR(_ReferenceSR):
    """The reference's "VDSR": plain conv + norm + ReLU blocks. LR in [0, 1] -> SR (x upscale).

    Args:
        SR_nb: conv blocks in the body (plus one final conv + norm).
        SR_nf: feature channels.
        SR_norm_type: `batch`, `instance` or `none`.
        upscale: 1 or a power of 2.
        input_nc: input channels.
        output_nc: output channels.
    """

    def _block(self, nf: int, norm: str) -> nn.Module:
        return conv_norm_act(nf, nf, norm)


@register_net("SRResNet")
class SRResNet(_ReferenceSR):
    """The reference's "SRResNet": residual blocks (conv-norm-ReLU-conv-norm + skip) in the body.

    Args:
        SR_nb: residual blocks in the body (plus one final conv + norm).
        SR_nf: feature channels.
        SR_norm_type: `batch`, `instance` or `none`.
        upscale: 1 or a power of 2.
        input_nc: input channels.
        output_nc: output channels.
    """

    def _block(self, nf: int, norm: str) -> nn.Module:
        return ResidualBlock(nf, norm)
