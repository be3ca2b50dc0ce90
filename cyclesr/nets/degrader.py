"""A transfer generator made for degradations: LR resolution, noise input, residual output.

CycleGAN's ResNet generator is deterministic and downsamples its input 4x inside; neither suits
"add this camera's blur, noise and compression to a clean LR image". This generator keeps the
LR resolution, concatenates ``noise_nc`` channels of N(0, 1) noise to its input (so it can
draw random noise instead of hashing image content into noise-like patterns) and returns
``clamp(x + r)``; the last conv starts at zero, so it starts as the identity. Use it with
``model.cyclegan.generator: cyclesr.nets.degrader:DegradationGenerator`` and ``n_downsampling: 0``.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import ResidualBlock, check_norm, init_weights
from .cyclegan import NLayerDiscriminator

__all__ = ["DegradationGenerator", "PixelNoiseDegradationGenerator", "HighPassDiscriminator"]


class DegradationGenerator(nn.Module):
    """Image in [0, 1] -> image in [0, 1] of the same size, ``x + r(x, z)`` with z ~ N(0, 1).

    Args:
        input_nc: input channels.
        output_nc: output channels (the residual needs ``output_nc == input_nc``).
        ngf: feature channels.
        n_blocks: residual blocks (conv-norm-ReLU-conv-norm + skip).
        norm: `instance`, `batch` or `none` inside the residual blocks.
        up_mode: accepted for config compatibility with ResnetGenerator; unused.
        n_downsampling: must be 0 (the generator works at the input's resolution).
        noise_nc: noise channels concatenated to the input (0 = deterministic).
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 32, n_blocks: int = 4,
                 norm: str = "none", up_mode: str = "transpose", n_downsampling: int = 0,
                 noise_nc: int = 4):
        super().__init__()
        if n_downsampling != 0:
            raise ValueError("DegradationGenerator works at full resolution: set n_downsampling: 0")
        if input_nc != output_nc:
            raise ValueError("DegradationGenerator adds a residual: input_nc must equal output_nc")
        norm = check_norm(norm)
        self.noise_nc = noise_nc
        self.head = nn.Sequential(nn.Conv2d(input_nc + noise_nc, ngf, 3, padding=1), nn.ReLU(True))
        self.body = nn.Sequential(*[ResidualBlock(ngf, norm) for _ in range(n_blocks)])
        self.tail = nn.Conv2d(ngf, output_nc, 3, padding=1)
        init_weights(self, "normal", 0.02)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """Body features of the image (mapped to [-1, 1]) with the noise channels appended."""
        inp = x * 2 - 1
        if self.noise_nc:
            n, _, h, w = x.shape
            inp = torch.cat([inp, torch.randn(n, self.noise_nc, h, w, dtype=x.dtype, device=x.device)], 1)
        return self.body(self.head(inp))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.tail(self._features(x))).clamp(0, 1)


class PixelNoiseDegradationGenerator(DegradationGenerator):
    """``DegradationGenerator`` plus i.i.d. output noise with a learned, image-dependent
    amplitude: ``x + r(x, z) + a(x, z) * n``, n ~ N(0, 1) per pixel and channel (sensor-like
    noise added after the last resize is white; noise made by 3x3 convs is not)."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 32, n_blocks: int = 4,
                 norm: str = "none", up_mode: str = "transpose", n_downsampling: int = 0,
                 noise_nc: int = 4):
        super().__init__(input_nc, output_nc, ngf, n_blocks, norm, up_mode, n_downsampling, noise_nc)
        self.amplitude = nn.Conv2d(ngf, output_nc, 3, padding=1)
        nn.init.zeros_(self.amplitude.weight)
        nn.init.zeros_(self.amplitude.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self._features(x)
        return (x + self.tail(feat) + self.amplitude(feat) * torch.randn_like(x)).clamp(0, 1)


class HighPassDiscriminator(NLayerDiscriminator):
    """A PatchGAN that sees the image and its high frequencies (image minus a 3x3 box blur,
    amplified ``gain`` times), so noise, ringing and blocks weigh as much as colour and tone.
    Same arguments as ``NLayerDiscriminator`` plus ``gain``."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 out_channels: int | None = None, gain: float = 4.0):
        super().__init__(2 * input_nc, ndf, n_layers, norm, out_channels)
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = nn.functional.avg_pool2d(nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)
        # the parent maps [0, 1] to [-1, 1]; keep the high-pass centred at 0.5 in that range
        return super().forward(torch.cat([x, (0.5 + self.gain * (x - low)).clamp(0, 1)], 1))
