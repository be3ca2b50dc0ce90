"""A transfer generator made for degradations: LR resolution, noise input, residual output.

CycleGAN's ResNet generator is deterministic and downsamples its input 4x inside; neither suits
"add this camera's blur, noise and compression to a clean LR image". This generator keeps the
LR resolution, concatenates ``noise_nc`` channels of N(0, 1) noise to its input (so it can
draw random noise instead of hashing image content into noise-like patterns) and returns
``clamp(x + r)``; the last conv starts at zero, so it starts as the identity. Use it with
``model.cyclegan.generator: cyclesr.nets.degrader:DegradationGenerator`` and ``n_downsampling: 0``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from .blocks import ResidualBlock, check_norm, init_weights
from .cyclegan import NLayerDiscriminator
from .jpeg import estimate_quality, jpeg_round_trip

__all__ = ["DegradationGenerator", "PixelNoiseDegradationGenerator", "WhiteNoiseDegradationGenerator",
           "KernelNoiseGenerator", "CameraNoiseGenerator", "CameraJpegGenerator", "HighPassDiscriminator"]


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


class WhiteNoiseDegradationGenerator(PixelNoiseDegradationGenerator):
    """``PixelNoiseDegradationGenerator`` without the noise input: ``x + r(x) + a(x) * n``.

    The residual r is a deterministic function of the image, so the only randomness is the
    white, channel-independent per-pixel noise n ~ N(0, 1) with a learned amplitude a(x) (which
    can depend on brightness and content, as camera noise does). With a noise input, the 3x3
    convolutions shape random noise into whatever fools the discriminator, which in our runs was
    spatially correlated (neighbour correlation -0.46 to +0.25) and anti-correlated between the
    colour channels (about -0.5): mostly chroma noise, far from the real noise it imitates."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 32, n_blocks: int = 4,
                 norm: str = "none", up_mode: str = "transpose", n_downsampling: int = 0,
                 noise_nc: int = 0):
        super().__init__(input_nc, output_nc, ngf, n_blocks, norm, up_mode, n_downsampling, noise_nc)


class KernelNoiseGenerator(nn.Module):
    """The classical degradation model as a generator: ``clamp(k * x + M (a(x) n))``.

    - k: a learned ``kernel_size`` blur kernel shared by the channels (softmax of free logits:
      non-negative, sums to 1; starts close to a delta), the blur beyond bicubic's;
    - a(x): per-pixel, per-channel noise amplitude from a small conv net on the image
      (it can follow brightness as camera noise does); starts at ``start_amplitude``;
    - n ~ N(0, 1) white per pixel and channel, and M a learned colour mixing of the noise
      (starts as the identity: independent channels; all-equal rows would be gray noise).

    It has no other freedom: unlike the flexible generators it cannot draw structured,
    content-hashed patterns, which our flexible generators used to fool the discriminator
    (``WhiteNoiseDegradationGenerator``'s docstring). ``ngf`` and ``n_blocks`` size the
    amplitude net; ``norm`` and ``up_mode`` are accepted for config compatibility."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 16, n_blocks: int = 2,
                 norm: str = "none", up_mode: str = "transpose", n_downsampling: int = 0,
                 kernel_size: int = 5, start_amplitude: float = 2 / 255):
        super().__init__()
        if n_downsampling != 0:
            raise ValueError("KernelNoiseGenerator works at full resolution: set n_downsampling: 0")
        if input_nc != output_nc:
            raise ValueError("KernelNoiseGenerator blurs its input: input_nc must equal output_nc")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
        check_norm(norm)
        # logits = _LOGIT_SCALE * parameter: Adam moves a parameter by about the learning rate per
        # step, which would leave plain logits nearly where they started over a whole training.
        # The start: 94% of the weight at the centre (not a pure delta, whose gradients vanish).
        start = torch.full((kernel_size, kernel_size), -6.0 / self._LOGIT_SCALE)
        start[kernel_size // 2, kernel_size // 2] = 0.0
        self.kernel_param = nn.Parameter(start)
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ngf, 3, padding=1), nn.ReLU(True)]
        for _ in range(max(0, n_blocks - 1)):
            layers += [nn.Conv2d(ngf, ngf, 3, padding=1), nn.ReLU(True)]
        layers.append(nn.Conv2d(ngf, output_nc, 3, padding=1))
        self.amplitude = nn.Sequential(*layers)  # linear output: the noise is symmetric, the sign is free
        init_weights(self.amplitude, "normal", 0.02)
        nn.init.zeros_(layers[-1].weight)
        nn.init.constant_(layers[-1].bias, float(start_amplitude))
        self.mix = nn.Parameter(torch.eye(output_nc))

    _LOGIT_SCALE = 10.0

    def kernel(self) -> torch.Tensor:
        """The blur kernel (kernel_size, kernel_size), non-negative, summing to 1."""
        logits = self._LOGIT_SCALE * self.kernel_param
        return torch.softmax(logits.flatten(), 0).view_as(logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, size = x.shape[1], self.kernel_param.shape[-1]
        weight = self.kernel().to(x.dtype).expand(channels, 1, size, size)
        pad = size // 2
        blurred = nn.functional.conv2d(nn.functional.pad(x, (pad,) * 4, mode="replicate"), weight, groups=channels)
        amplitude = self.noise_amplitude(x, blurred)
        noise = torch.einsum("ij,njhw->nihw", self.mix.to(x.dtype), amplitude * torch.randn_like(x))
        return (blurred + noise).clamp(0, 1)

    def noise_amplitude(self, x: torch.Tensor, blurred: torch.Tensor) -> torch.Tensor:
        """Per-pixel, per-channel noise standard deviation (before the colour mixing)."""
        return self.amplitude(x * 2 - 1)


class CameraNoiseGenerator(KernelNoiseGenerator):
    """``KernelNoiseGenerator`` with the camera's noise model instead of an amplitude net:
    std_c = sqrt(beta_c^2 + alpha_c * (k * x)_c) * exp(spread * z), a signal-dependent
    Poisson-Gaussian noise per channel (Foi et al., "Practical Poissonian-Gaussian noise
    modeling and fitting for single-image raw-data", IEEE TIP 2008) whose level varies from
    image to image by a learned log-normal factor (z ~ N(0, 1) per image). Seven numbers and
    the kernel and colour mixing: the noise cannot follow image content at all."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 16, n_blocks: int = 2,
                 norm: str = "none", up_mode: str = "transpose", n_downsampling: int = 0,
                 kernel_size: int = 5, start_amplitude: float = 2 / 255):
        super().__init__(input_nc, output_nc, ngf, n_blocks, norm, up_mode, n_downsampling, kernel_size,
                         start_amplitude)
        del self.amplitude
        self.beta = nn.Parameter(torch.full((output_nc,), float(start_amplitude)))
        self.alpha = nn.Parameter(torch.zeros(output_nc))
        self.spread = nn.Parameter(torch.zeros(()))

    def noise_amplitude(self, x: torch.Tensor, blurred: torch.Tensor) -> torch.Tensor:
        view = (1, -1, 1, 1)
        variance = self.beta.square().view(view) + self.alpha.abs().view(view) * blurred.clamp_min(0)
        scale = torch.exp(self.spread * torch.randn(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device))
        return variance.sqrt() * scale


class CameraJpegGenerator(CameraNoiseGenerator):
    """``CameraNoiseGenerator`` followed by JPEG: the chain blur > noise > JPEG of a camera or
    a web upload. The JPEG quality is not learned but measured: ``calibrate(real_lr)`` reads
    the quality each real LR image was last compressed at from its pixels
    (``cyclesr.nets.jpeg.estimate_quality``) and G then compresses each image at a quality
    drawn uniformly from the measured range, 4:2:0 as libjpeg writes, with the 8x8 grid at a
    random offset (as in a crop of a JPEG image). If fewer than half of the real images show
    JPEG, G does not compress and is exactly ``CameraNoiseGenerator``. The compression is
    ``cyclesr.nets.jpeg``'s differentiable round trip, so the kernel and noise learn through
    it. The trainer calls ``calibrate`` at the start of a fresh run; the range is a buffer
    (``jpeg_quality``: low, high; 0, 0 = no JPEG), saved in checkpoints.

    (A first version learned the quality adversarially, from 90: the discriminator never
    pushed it below 90 when the real images had quality 40-70; README, Results.)"""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 16, n_blocks: int = 2,
                 norm: str = "none", up_mode: str = "transpose", n_downsampling: int = 0,
                 kernel_size: int = 5, start_amplitude: float = 2 / 255):
        if output_nc != 3:
            raise ValueError("CameraJpegGenerator compresses RGB images: set output_nc: 3")
        super().__init__(input_nc, output_nc, ngf, n_blocks, norm, up_mode, n_downsampling, kernel_size,
                         start_amplitude)
        self.register_buffer("jpeg_quality", torch.zeros(2))

    def calibrate(self, real_lr: Sequence[Tensor]) -> dict:
        """Set the JPEG quality range from real LR images ((3, H, W) in [0, 1], whole images:
        the grid is searched, but small crops carry little evidence). Returns what was
        measured: ``{"images", "compressed", "qualities", "range"}`` (range None: no JPEG)."""
        qualities = [q for q, _ in (estimate_quality(img) for img in real_lr) if q is not None]
        found = bool(real_lr) and 2 * len(qualities) >= len(real_lr)
        low, high = (min(qualities), max(qualities)) if found else (0, 0)
        self.jpeg_quality.copy_(torch.tensor([low, high], dtype=self.jpeg_quality.dtype))
        return {"images": len(real_lr), "compressed": len(qualities), "qualities": qualities,
                "range": (low, high) if found else None}

    def forward(self, x: Tensor) -> Tensor:
        noisy = super().forward(x)
        low, high = (float(v) for v in self.jpeg_quality)
        if high <= 0:
            return noisy
        quality = low + (high - low) * torch.rand(x.shape[0], dtype=x.dtype, device=x.device)
        offset = tuple(int(v) for v in torch.randint(0, 16, (2,)))
        return jpeg_round_trip(noisy, quality, offset=offset).clamp(0, 1)


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
