"""RRDBNet, the ESRGAN generator (Wang et al. 2018), for x1, x2, x4 and x8.

The trunk always upsamples by 4 for x1/x2/x4 (two nearest-x2 + conv steps; x8 adds a third):
for x2 and x1 the input is first pixel-unshuffled by 2 or 4, as Real-ESRGAN does, so the
module names and shapes follow the published ESRGAN / Real-ESRGAN weights (x4plus, x2plus).
Any H, W is accepted: the input is padded to a multiple of the unshuffle factor and cropped back.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import check_scale, pad_to_multiple
from .registry import register_net

__all__ = ["RRDBNet"]


def _scaled_kaiming(module: nn.Module, scale: float) -> None:
    """Kaiming-normal conv weights multiplied by `scale` (0.1 keeps the deep residual trunk
    close to identity at the start, as in ESRGAN), zero bias."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
            m.weight.data.mul_(scale)
            nn.init.zeros_(m.bias)


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; output scaled by 0.2 and added to the input."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        for i in range(1, 5):
            in_ch = num_feat + (i - 1) * num_grow_ch
            self.add_module(f"conv{i}", nn.Conv2d(in_ch, num_grow_ch, 3, padding=1))
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        _scaled_kaiming(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(self.lrelu(conv(torch.cat(feats, 1))))
        return x + self.conv5(torch.cat(feats, 1)) * 0.2


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks, scaled by 0.2, + identity."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.rdb3(self.rdb2(self.rdb1(x))) * 0.2


@register_net("RRDBNet")
class RRDBNet(nn.Module):
    """ESRGAN generator, LR in [0, 1] -> SR (x upscale, not clamped).

    Args:
        num_in_ch: input channels.
        num_out_ch: output channels.
        num_feat: feature channels.
        num_block: RRDB blocks (23 in ESRGAN).
        num_grow_ch: growth channels of the dense blocks.
        upscale: 1, 2, 4 or 8 (x1/x2 pixel-unshuffle the input by 4/2 first).
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 23,
                 num_grow_ch: int = 32, upscale: int = 4):
        super().__init__()
        self.per_sample = True  # no batch statistics, no randomness
        self.scale = check_scale("RRDBNet", upscale, allowed=(1, 2, 4, 8))
        self.unshuffle = {1: 4, 2: 2}.get(self.scale, 1)
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle ** 2, num_feat, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        if self.scale == 8:
            self.conv_up3 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        padded = self.unshuffle > 1 and (h % self.unshuffle or w % self.unshuffle)
        if self.unshuffle > 1:  # no pad (and no crop) when the size fits, so traces stay dynamic
            x = F.pixel_unshuffle(pad_to_multiple(x, self.unshuffle), self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        ups = [self.conv_up1, self.conv_up2] + ([self.conv_up3] if self.scale == 8 else [])
        for conv in ups:
            feat = self.lrelu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        return out[..., : h * self.scale, : w * self.scale] if padded else out
