"""Ablation-only transfer generators of the lab (not part of the installed package).

Configs name them by file path, from the repository's root, e.g.
``model.G: {name: experiments/nets.py:CameraNoiseGenerator}``. They keep the parameter names
of the versions the archived results were measured with, so those checkpoints still load.

- ``DegradationGenerator``: conv residual at LR resolution with a noise input, ``x + r(x, z)``.
- ``PixelNoiseDegradationGenerator``: the same plus white output noise of learned amplitude.
- ``WhiteNoiseDegradationGenerator``: the same without the noise input (deterministic residual).
- ``KernelNoiseGenerator``: learned blur kernel + white noise of learned amplitude (a conv net)
  and colour mixing.
- ``CameraNoiseGenerator``: the product's ``CameraJpegGenerator`` without the JPEG step.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from cyclesr.nets.blocks import ResidualBlock, check_norm, init_weights
from cyclesr.nets.camera import blur, blur_kernel, camera_noise, start_kernel

__all__ = ["DegradationGenerator", "PixelNoiseDegradationGenerator", "WhiteNoiseDegradationGenerator",
           "KernelNoiseGenerator", "CameraNoiseGenerator"]


def _same_channels(name: str, input_nc: int, output_nc: int) -> None:
    if input_nc != output_nc:
        raise ValueError(f"{name} degrades its input: input_nc must equal output_nc")


class DegradationGenerator(nn.Module):
    """Image in [0, 1] -> image in [0, 1] of the same size, ``clamp(x + r(x, z))``, z ~ N(0, 1).

    CycleGAN's ResNet generator is deterministic and downsamples 4x inside; this one keeps the
    LR resolution, concatenates ``noise_nc`` noise channels to its input (so it can draw random
    noise) and starts as the identity (the last conv starts at zero).

    Args:
        input_nc, output_nc: channels (equal: the output is a residual on the input).
        ngf: feature channels.
        n_blocks: residual blocks (conv-norm-ReLU-conv-norm + skip).
        norm: `instance`, `batch` or `none` inside the residual blocks.
        noise_nc: noise channels concatenated to the input (0 = deterministic).
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 32, n_blocks: int = 4,
                 norm: str = "none", noise_nc: int = 4):
        super().__init__()
        _same_channels(type(self).__name__, input_nc, output_nc)
        norm = check_norm(norm)
        self.noise_nc = noise_nc
        self.head = nn.Sequential(nn.Conv2d(input_nc + noise_nc, ngf, 3, padding=1), nn.ReLU(True))
        self.body = nn.Sequential(*[ResidualBlock(ngf, norm) for _ in range(n_blocks)])
        self.tail = nn.Conv2d(ngf, output_nc, 3, padding=1)
        init_weights(self, "normal", 0.02)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def _features(self, x: Tensor) -> Tensor:
        """Body features of the image (mapped to [-1, 1]) with the noise channels appended."""
        inp = x * 2 - 1
        if self.noise_nc:
            n, _, h, w = x.shape
            inp = torch.cat([inp, torch.randn(n, self.noise_nc, h, w, dtype=x.dtype, device=x.device)], 1)
        return self.body(self.head(inp))

    def forward(self, x: Tensor) -> Tensor:
        return (x + self.tail(self._features(x))).clamp(0, 1)


class PixelNoiseDegradationGenerator(DegradationGenerator):
    """``DegradationGenerator`` plus i.i.d. output noise of a learned, image-dependent
    amplitude: ``x + r(x, z) + a(x, z) * n``, n ~ N(0, 1) per pixel and channel (sensor noise
    added after the last resize is white; noise made by 3x3 convs is not). Same arguments."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 32, n_blocks: int = 4,
                 norm: str = "none", noise_nc: int = 4):
        super().__init__(input_nc, output_nc, ngf, n_blocks, norm, noise_nc)
        self.amplitude = nn.Conv2d(ngf, output_nc, 3, padding=1)
        nn.init.zeros_(self.amplitude.weight)
        nn.init.zeros_(self.amplitude.bias)

    def forward(self, x: Tensor) -> Tensor:
        feat = self._features(x)
        return (x + self.tail(feat) + self.amplitude(feat) * torch.randn_like(x)).clamp(0, 1)


class WhiteNoiseDegradationGenerator(PixelNoiseDegradationGenerator):
    """``PixelNoiseDegradationGenerator`` without the noise input (``noise_nc`` 0 by default):
    the residual is a deterministic function of the image, so the only randomness is white,
    channel-independent noise of a learned amplitude. The ablation of the noise input, which
    lets the 3x3 convs shape random noise into spatially and colour-correlated patterns."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 32, n_blocks: int = 4,
                 norm: str = "none", noise_nc: int = 0):
        super().__init__(input_nc, output_nc, ngf, n_blocks, norm, noise_nc)


class KernelNoiseGenerator(nn.Module):
    """The classical degradation model with a free noise amplitude: ``clamp(k * x + M (a(x) n))``.

    k is a learned blur kernel (``cyclesr.nets.camera``), a(x) a per-pixel, per-channel noise
    amplitude from a small conv net on the image (starts at ``start_amplitude``), n ~ N(0, 1)
    white noise and M a learned colour mixing (starts as the identity).

    Args:
        input_nc, output_nc: channels (equal).
        ngf: channels of the amplitude net.
        n_blocks: conv layers of the amplitude net before its output conv.
        kernel_size: side of the blur kernel (odd).
        start_amplitude: initial noise amplitude.
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 16, n_blocks: int = 2,
                 kernel_size: int = 5, start_amplitude: float = 2 / 255):
        super().__init__()
        _same_channels(type(self).__name__, input_nc, output_nc)
        self.kernel_param = nn.Parameter(start_kernel(kernel_size))
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ngf, 3, padding=1), nn.ReLU(True)]
        for _ in range(max(0, n_blocks - 1)):
            layers += [nn.Conv2d(ngf, ngf, 3, padding=1), nn.ReLU(True)]
        layers.append(nn.Conv2d(ngf, output_nc, 3, padding=1))
        self.amplitude = nn.Sequential(*layers)  # linear output: the noise is symmetric, the sign is free
        init_weights(self.amplitude, "normal", 0.02)
        nn.init.zeros_(layers[-1].weight)
        nn.init.constant_(layers[-1].bias, float(start_amplitude))
        self.mix = nn.Parameter(torch.eye(output_nc))

    def kernel(self) -> Tensor:
        """The blur kernel (kernel_size, kernel_size), non-negative, summing to 1."""
        return blur_kernel(self.kernel_param)

    def forward(self, x: Tensor) -> Tensor:
        blurred = blur(x, self.kernel())
        amplitude = self.amplitude(x * 2 - 1)
        noise = torch.einsum("ij,njhw->nihw", self.mix.to(x.dtype), amplitude * torch.randn_like(x))
        return (blurred + noise).clamp(0, 1)


class CameraNoiseGenerator(nn.Module):
    """Learned blur kernel + Poisson-Gaussian noise of learned per-channel level, per-image
    spread and colour mixing: ``CameraJpegGenerator`` without its JPEG step (same parameters
    and draws). The ablation of the JPEG step.

    Args:
        input_nc, output_nc: channels (equal).
        kernel_size: side of the blur kernel (odd).
        start_amplitude: initial noise level beta of every channel.
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, kernel_size: int = 5,
                 start_amplitude: float = 2 / 255):
        super().__init__()
        _same_channels(type(self).__name__, input_nc, output_nc)
        self.kernel_param = nn.Parameter(start_kernel(kernel_size))
        self.mix = nn.Parameter(torch.eye(output_nc))
        self.beta = nn.Parameter(torch.full((output_nc,), float(start_amplitude)))
        self.alpha = nn.Parameter(torch.zeros(output_nc))
        self.spread = nn.Parameter(torch.zeros(()))

    def kernel(self) -> Tensor:
        """The blur kernel (kernel_size, kernel_size), non-negative, summing to 1."""
        return blur_kernel(self.kernel_param)

    def forward(self, x: Tensor) -> Tensor:
        blurred = blur(x, self.kernel())
        return (blurred + camera_noise(blurred, self.beta, self.alpha, self.spread, self.mix)).clamp(0, 1)
