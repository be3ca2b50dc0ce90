"""SRVGGNetCompact, Real-ESRGAN's "Compact" network (Wang et al. 2021, the realesr-general-x4v3
and animevideov3 models): a plain VGG-style stack of 3x3 convs with PReLU at LR resolution,
one pixel shuffle at the end, plus the nearest-upsampled input as a residual.

The modules form one ``body`` list (conv, PReLU, ``num_conv`` x (conv, PReLU), last conv to
``num_out_ch * upscale**2`` channels), so the state-dict keys are ``body.0.weight`` (first conv),
``body.1.weight`` (its PReLU), ... as in the published Compact weights; tools that load those
(spandrel, chaiNNer, ComfyUI) recognise a CycleSR Compact model by the same keys. No padding,
no batch statistics: any H, W, and every output pixel depends only on its neighbourhood.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import check_scale
from .registry import register_net

__all__ = ["SRVGGNetCompact"]


@register_net("SRVGGNetCompact")
class SRVGGNetCompact(nn.Module):
    """Compact SR network, LR in [0, 1] -> SR (x upscale, not clamped).

    Args:
        num_in_ch: input channels.
        num_out_ch: output channels.
        num_feat: feature channels (64 in realesr-general-x4v3).
        num_conv: convs between the first and the last (32 in realesr-general-x4v3,
            16 in realesr-animevideov3).
        upscale: 1, 2, 3, 4 or 8.
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_conv: int = 16,
                 upscale: int = 4):
        super().__init__()
        self.per_sample = True  # no batch statistics, no randomness
        self.scale = check_scale("SRVGGNetCompact", upscale, allowed=(1, 2, 3, 4, 8))
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, padding=1), nn.PReLU(num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.PReLU(num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * self.scale ** 2, 3, padding=1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(self.scale)
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        """He initialisation for the PReLU slope (0.25) keeps the signal's scale through the
        num_conv + 2 convolutions; PyTorch's default shrinks it layer by layer until the
        gradients fall below Adam's epsilon and the network stays at nearest upsampling.
        The last conv starts small, so the output starts near the nearest-upsampled input."""
        convs = [m for m in self.body if isinstance(m, nn.Conv2d)]
        for conv in convs:
            nn.init.kaiming_normal_(conv.weight, a=0.25, nonlinearity="leaky_relu")
            nn.init.zeros_(conv.bias)
        convs[-1].weight.mul_(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        base = F.interpolate(x, scale_factor=self.scale, mode="nearest")
        if base.shape[1] != out.shape[1]:  # e.g. gray in, RGB out: the residual is the mean
            base = base.mean(1, keepdim=True)
        return out + base
