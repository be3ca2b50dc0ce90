"""The camera degradation model as a transfer generator: blur, sensor noise, JPEG.

``CameraJpegGenerator`` (the recommended design's G) turns a clean LR image into a realistic
one with the chain of a camera or a web upload and nothing else, so it cannot fool the
discriminator with structured, content-hashed patterns as a free-form conv generator can:

- blur by a learned ``kernel_size`` kernel shared by the channels (softmax of free logits:
  non-negative, sums to 1), the optics' blur beyond bicubic's;
- Poisson-Gaussian noise (Foi et al., "Practical Poissonian-Gaussian noise modeling and fitting
  for single-image raw-data", IEEE TIP 2008): std_c = sqrt(beta_c^2 + alpha_c * (k * x)_c),
  a signal-dependent level per colour channel, scaled per image by exp(spread * z), z ~ N(0, 1)
  (the level varies between photos), then mixed across channels by a learned 3x3 matrix
  (starts as the identity: independent channels);
- JPEG at a quality drawn uniformly from the range ``calibrate`` measured on the real LR images
  (``cyclesr.nets.jpeg``: the differentiable round trip, so kernel and noise learn through it).

The helpers ``blur_kernel``, ``blur`` and ``camera_noise`` are the building blocks; the lab's
variants of this generator use them too.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from .jpeg import estimate_quality, jpeg_round_trip
from .registry import register_net

__all__ = ["CameraJpegGenerator", "LOGIT_SCALE", "start_kernel", "blur_kernel", "blur", "camera_noise"]

# logits = LOGIT_SCALE * parameter: Adam moves a parameter by about the learning rate per step,
# which would leave plain logits nearly where they started over a whole training.
LOGIT_SCALE = 10.0


def start_kernel(kernel_size: int) -> Tensor:
    """Initial kernel parameter: 94% of the weight at the centre (not a pure delta, whose
    gradients vanish)."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
    start = torch.full((kernel_size, kernel_size), -6.0 / LOGIT_SCALE)
    start[kernel_size // 2, kernel_size // 2] = 0.0
    return start


def blur_kernel(kernel_param: Tensor) -> Tensor:
    """The blur kernel (k, k) of a kernel parameter: non-negative, summing to 1."""
    logits = LOGIT_SCALE * kernel_param
    return torch.softmax(logits.flatten(), 0).view_as(logits)


def blur(x: Tensor, kernel: Tensor) -> Tensor:
    """Each channel of x (N, C, H, W) convolved with `kernel`, replicate-padded (same size)."""
    channels, size = x.shape[1], kernel.shape[-1]
    weight = kernel.to(x.dtype).expand(channels, 1, size, size)
    pad = size // 2
    return nn.functional.conv2d(nn.functional.pad(x, (pad,) * 4, mode="replicate"), weight, groups=channels)


def camera_noise(blurred: Tensor, beta: Tensor, alpha: Tensor, spread: Tensor, mix: Tensor) -> Tensor:
    """Poisson-Gaussian noise for a blurred image (see the module docstring). Draws the
    per-image spread first, then the per-pixel noise."""
    view = (1, -1, 1, 1)
    variance = beta.square().view(view) + alpha.abs().view(view) * blurred.clamp_min(0)
    scale = torch.exp(spread * torch.randn(blurred.shape[0], 1, 1, 1, dtype=blurred.dtype,
                                           device=blurred.device))
    amplitude = variance.sqrt() * scale
    return torch.einsum("ij,njhw->nihw", mix.to(blurred.dtype), amplitude * torch.randn_like(blurred))


@register_net("CameraJpegGenerator")
class CameraJpegGenerator(nn.Module):
    """Image in [0, 1] -> the same image blurred, noised and JPEG-compressed (same size).

    Args:
        input_nc: input channels (3: the noise and JPEG work on RGB).
        output_nc: output channels (3).
        kernel_size: side of the learned blur kernel (odd).
        start_amplitude: initial noise level beta of every channel (alpha starts at 0).

    The JPEG quality is measured, not learned (the discriminator gives it no useful gradient):
    ``calibrate(real_lr)`` reads the quality each real LR image was last compressed at
    (``cyclesr.nets.jpeg.estimate_quality``), and G then compresses each image at a quality
    drawn uniformly from that range, 4:2:0 as libjpeg writes, with the 8x8 grid at a random
    offset (as in a crop of a JPEG image). If fewer than half of the real images show JPEG, G
    does not compress. The range is a buffer (``jpeg_quality``: low, high; 0, 0 = no JPEG),
    saved with the weights. ``per_sample`` is False: G draws random noise, so two calls are not
    one batched call.
    """

    per_sample = False

    def __init__(self, input_nc: int = 3, output_nc: int = 3, kernel_size: int = 5,
                 start_amplitude: float = 2 / 255):
        super().__init__()
        if output_nc != 3 or input_nc != output_nc:
            raise ValueError("CameraJpegGenerator degrades RGB images: set input_nc: 3 and output_nc: 3")
        self.kernel_param = nn.Parameter(start_kernel(kernel_size))
        self.mix = nn.Parameter(torch.eye(output_nc))
        self.beta = nn.Parameter(torch.full((output_nc,), float(start_amplitude)))
        self.alpha = nn.Parameter(torch.zeros(output_nc))
        self.spread = nn.Parameter(torch.zeros(()))
        self.register_buffer("jpeg_quality", torch.zeros(2))

    def kernel(self) -> Tensor:
        """The blur kernel (kernel_size, kernel_size), non-negative, summing to 1."""
        return blur_kernel(self.kernel_param)

    @torch.no_grad()
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
        blurred = blur(x, self.kernel())
        noisy = (blurred + camera_noise(blurred, self.beta, self.alpha, self.spread, self.mix)).clamp(0, 1)
        low, high = (float(v) for v in self.jpeg_quality)
        if high <= 0:
            return noisy
        quality = low + (high - low) * torch.rand(x.shape[0], dtype=x.dtype, device=x.device)
        offset = tuple(int(v) for v in torch.randint(0, 16, (2,)))
        return jpeg_round_trip(noisy, quality, offset=offset).clamp(0, 1)
