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

import math
import warnings
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from cyclesr.ops.spectrum import kernel_response, radial_power, ring_frequencies, window_power

from .jpeg import estimate_quality, jpeg_round_trip
from .registry import register_net

__all__ = ["CameraJpegGenerator", "LOGIT_SCALE", "start_kernel", "blur_kernel", "blur", "camera_noise",
           "gaussian_kernel", "sharpen_kernel", "blur_each", "fit_spectra"]

# logits = LOGIT_SCALE * parameter: Adam moves a parameter by about the learning rate per step,
# which would leave plain logits nearly where they started over a whole training.
LOGIT_SCALE = 10.0
SHARPEN_SIZE = 7  # side of the sharpening kernel: radii beyond ~1.5 px are cut to it (fit and G alike)
RANDOM_RADII = (0.7, 3.0)  # radius range (pixels) of random_sharpen: a camera's fine to broad sharpening
_RMS_OF_UNIFORM = math.sqrt(3)  # a factor drawn uniformly from 0 to this has mean square 1 (random_noise)


def start_kernel(kernel_size: int) -> Tensor:
    """Initial kernel parameter: 94% of the weight at the centre (not a pure delta, whose
    gradients vanish)."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
    start = torch.full((kernel_size, kernel_size), -6.0 / LOGIT_SCALE)
    start[kernel_size // 2, kernel_size // 2] = 0.0
    return start


def blur_kernel(kernel_param: Tensor, power: Optional[Tensor] = None) -> Tensor:
    """The blur kernel (k, k) of a kernel parameter: non-negative, summing to 1. With ``power``
    (N,): N kernels, the kernel raised to each power and renormalised; for a Gaussian kernel,
    the Gaussian of sigma / sqrt(power), exactly (sampled Gaussians included)."""
    logits = LOGIT_SCALE * kernel_param
    if power is None:
        return torch.softmax(logits.flatten(), 0).view_as(logits)
    return torch.softmax(power.to(logits.dtype).unsqueeze(-1) * logits.flatten(), -1).view(-1, *logits.shape)


def gaussian_kernel(sigma: Tensor, size: int) -> Tensor:
    """A (size, size) Gaussian of standard deviation ``sigma`` pixels, summing to 1
    (differentiable in sigma); sigma of shape (N,) gives (N, size, size)."""
    t = torch.arange(size, dtype=sigma.dtype, device=sigma.device) - size // 2
    g = torch.exp(-0.5 * (t / sigma.clamp_min(1e-3).unsqueeze(-1)).square())
    g = g / g.sum(-1, keepdim=True)
    return g.unsqueeze(-1) * g.unsqueeze(-2)


def sharpen_kernel(amount: Tensor, radius: Tensor, size: int = SHARPEN_SIZE) -> Tensor:
    """Unsharp masking as one kernel: (1 + amount) * delta - amount * Gaussian(radius); sums to
    1; amount > 0 sharpens (a camera's sharpening: mid frequencies up, halos at edges), amount
    < 0 softens. Batched: amount and radius of shape (N,) give (N, size, size)."""
    delta = torch.zeros(size, size, dtype=amount.dtype, device=amount.device)
    delta[size // 2, size // 2] = 1.0
    a = amount[..., None, None]
    return (1 + a) * delta - a * gaussian_kernel(radius, size)


def blur_each(x: Tensor, kernels: Tensor) -> Tensor:
    """Image i of x (N, C, H, W) convolved with kernels[i] (N, k, k), replicate-padded."""
    n, channels, size = x.shape[0], x.shape[1], kernels.shape[-1]
    weight = kernels.to(x.dtype).repeat_interleave(channels, 0).unsqueeze(1)
    pad = size // 2
    padded = nn.functional.pad(x, (pad,) * 4, mode="replicate")
    out = nn.functional.conv2d(padded.reshape(1, n * channels, *padded.shape[-2:]), weight, groups=n * channels)
    return out.view_as(x)


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

    ``sharpen``: after the noise, G also applies a camera's sharpening (unsharp masking with a
    learned amount and radius, ``sharpen_kernel``), which a non-negative blur kernel cannot
    express: many cameras boost the mid frequencies of what they save. ``spectral_fit``: when
    ``calibrate`` also gets clean LR images, G starts from the blur (a Gaussian), sharpening and
    noise level whose power spectrum turns the clean images' mean spectrum into the real ones'
    (``fit_spectra``), instead of from a near-delta kernel; the adversarial training goes on
    from there. What a few unpaired images cannot pin down can be drawn per image instead:
    ``random_sharpen`` (> 0: each image is sharpened by an amount drawn from 0 to this, at a
    radius drawn from ``RANDOM_RADII``) and ``random_noise`` (each image's noise is the learned
    level times a factor drawn uniformly from 0 to sqrt(3): the learned level is the set's RMS,
    as the spectrum measures it, and the drawn levels keep that mean power; a factor from 0 to 1
    would train on a third of the measured noise power), so the SR network sees every camera the measurement
    allows instead of one wrong guess. ``random_blur`` (0 to < 1; 0 = off) narrows each image's
    kernel by a factor drawn from 1 - random_blur to 1 (the kernel raised to a power,
    ``blur_kernel``; for a Gaussian, its sigma times that factor): photos differ in focus, and an
    SR network trained on the measured blur alone sharpens the less blurred ones into halos.
    """

    per_sample = False

    def __init__(self, input_nc: int = 3, output_nc: int = 3, kernel_size: int = 5,
                 start_amplitude: float = 2 / 255, sharpen: bool = False, spectral_fit: bool = False,
                 random_sharpen: float = 0.0, random_noise: bool = False, random_blur: float = 0.0):
        super().__init__()
        if output_nc != 3 or input_nc != output_nc:
            raise ValueError("CameraJpegGenerator degrades RGB images: set input_nc: 3 and output_nc: 3")
        self.kernel_param = nn.Parameter(start_kernel(kernel_size))
        self.mix = nn.Parameter(torch.eye(output_nc))
        self.beta = nn.Parameter(torch.full((output_nc,), float(start_amplitude)))
        self.alpha = nn.Parameter(torch.zeros(output_nc))
        self.spread = nn.Parameter(torch.zeros(()))
        self.register_buffer("jpeg_quality", torch.zeros(2))
        if random_sharpen < 0:
            raise ValueError(f"random_sharpen is the largest sharpening amount drawn, >= 0; got {random_sharpen}")
        if not 0 <= random_blur < 1:
            raise ValueError(f"random_blur is the share of the blur sigma drawn away, 0 <= random_blur < 1; "
                             f"got {random_blur}")
        self.spectral_fit, self.random_sharpen, self.random_noise = spectral_fit, float(random_sharpen), random_noise
        self.random_blur = float(random_blur)
        if sharpen:
            self.sharpen_amount = nn.Parameter(torch.zeros(()))
            self.sharpen_log_radius = nn.Parameter(torch.zeros(()))

    def kernel(self) -> Tensor:
        """The blur kernel (kernel_size, kernel_size), non-negative, summing to 1."""
        return blur_kernel(self.kernel_param)

    @property
    def sharpens(self) -> bool:
        """Whether G has a learned sharpening (``sharpen``)."""
        return hasattr(self, "sharpen_amount")

    def sharpening(self) -> Optional[Tensor]:
        """The sharpening kernel, or None when G does not sharpen."""
        if not self.sharpens:
            return None
        return sharpen_kernel(self.sharpen_amount, self.sharpen_log_radius.exp().clamp(0.3, 3.0))

    @torch.no_grad()
    def calibrate(self, real_lr: Sequence[Tensor], clean_lr: Optional[Sequence[Tensor]] = None,
                  kept: bool = False) -> dict:
        """Set the JPEG quality range from real LR images ((3, H, W) in [0, 1], whole images:
        the grid is searched, but small crops carry little evidence), and with ``spectral_fit``
        and clean LR images (the HR images downscaled as training does) the starting blur,
        sharpening and noise. Returns what was measured: ``{"images", "compressed",
        "qualities", "range", "spectral"}`` (range None: no JPEG; spectral None: not fitted).
        ``kept``: G will not be trained (``model.cyc_lr: 0``), so a fit that cannot be made
        leaves the whole run on G's default start; the warning then says so."""
        qualities = [q for q, _ in (estimate_quality(img) for img in real_lr) if q is not None]
        found = bool(real_lr) and 2 * len(qualities) >= len(real_lr)
        low, high = (min(qualities), max(qualities)) if found else (0, 0)
        self.jpeg_quality.copy_(torch.tensor([low, high], dtype=self.jpeg_quality.dtype))
        spectral = None
        if self.spectral_fit and clean_lr:
            try:
                spectral = fit_spectra(real_lr, clean_lr, self.kernel_param.shape[-1], self.sharpens)
            except ValueError as err:  # images too small for a spectrum: keep the default start
                consequence = (" and, kept as it starts (model.cyc_lr: 0), for the whole run: the SR network "
                               "trains on almost bicubic pairs. Use real LR images of at least 32x32 pixels, "
                               "or a design that trains G" if kept else "")
                warnings.warn(f"G keeps its default blur and noise{consequence}: {err}", stacklevel=2)
            else:
                self.start_from(spectral)
        return {"images": len(real_lr), "compressed": len(qualities), "qualities": qualities,
                "range": (low, high) if found else None, "spectral": spectral}

    @torch.no_grad()
    def start_from(self, fit: dict) -> None:
        """Set the blur (a Gaussian), noise level and, if G sharpens, the sharpening from a dict
        such as ``fit_spectra`` returns."""
        kernel = gaussian_kernel(torch.tensor(fit["blur_sigma"], dtype=torch.float64), self.kernel_param.shape[-1])
        self.kernel_param.copy_((kernel.clamp_min(1e-12).log() / LOGIT_SCALE).to(self.kernel_param.dtype))
        self.beta.fill_(fit["noise_std"])
        self.alpha.zero_()
        if self.sharpens:
            self.sharpen_amount.fill_(fit["sharpen_amount"])
            self.sharpen_log_radius.fill_(math.log(fit["sharpen_radius"]))

    def forward(self, x: Tensor) -> Tensor:
        if self.random_blur > 0:  # each image its own kernel, up to the learned one's width
            narrow = 1 - self.random_blur * torch.rand(x.shape[0], dtype=x.dtype, device=x.device)
            blurred = blur_each(x, blur_kernel(self.kernel_param, narrow.pow(-2)))
        else:
            blurred = blur(x, self.kernel())
        noise = camera_noise(blurred, self.beta, self.alpha, self.spread, self.mix)
        if self.random_noise:  # the learned level is the set's RMS: each image draws its own around it
            noise = noise * (_RMS_OF_UNIFORM * torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device))
        noisy = blurred + noise
        sharpening = self.sharpening()
        if sharpening is not None:
            noisy = blur(noisy, sharpening)
        if self.random_sharpen > 0:
            amount = self.random_sharpen * torch.rand(x.shape[0], dtype=x.dtype, device=x.device)
            radius = RANDOM_RADII[0] + (RANDOM_RADII[1] - RANDOM_RADII[0]) * torch.rand(
                x.shape[0], dtype=x.dtype, device=x.device)
            noisy = blur_each(noisy, sharpen_kernel(amount, radius))
        noisy = noisy.clamp(0, 1)
        low, high = (float(v) for v in self.jpeg_quality)
        if high <= 0:
            return noisy
        quality = low + (high - low) * torch.rand(x.shape[0], dtype=x.dtype, device=x.device)
        offset = tuple(int(v) for v in torch.randint(0, 16, (2,)))
        return jpeg_round_trip(noisy, quality, offset=offset).clamp(0, 1)


# Luma noise variance of independent RGB noise of variance v: v * (0.299^2 + 0.587^2 + 0.114^2).
_LUMA_NOISE = 0.299 ** 2 + 0.587 ** 2 + 0.114 ** 2
_FIT_BAND = (0.03, 0.45)  # cycles per pixel: the lowest rings are content, the last ones aliasing


def fit_spectra(real_lr: Sequence[Tensor], clean_lr: Sequence[Tensor], kernel_size: int,
                sharpen: bool, steps: int = 100) -> dict:
    """The Gaussian blur, sharpening and white noise that best turn the mean power spectrum of
    ``clean_lr`` into that of ``real_lr`` (unpaired sets; least squares on log ring power in
    0.03-0.45 cycles per pixel, a few starts): ``{"blur_sigma", "sharpen_amount",
    "sharpen_radius", "noise_std", "residual_db"}`` (pixels; noise std per RGB channel in
    [0, 1]; residual: the fit's RMS error in dB). The blur and sharpening are the discrete
    kernels G applies, in the order G applies them (blur, noise, sharpening)."""
    side = min(min(img.shape[-2:]) for img in [*real_lr, *clean_lr])
    tile = 64 if side >= 64 else 32
    bins = tile // 2
    real, clean = radial_power(real_lr, tile, bins), radial_power(clean_lr, tile, bins)
    f = ring_frequencies(bins)
    band = (f >= _FIT_BAND[0]) & (f <= _FIT_BAND[1])
    target = real.log()[band]
    best = None
    for start_sigma in (0.4, 0.8, 1.2):
        for start_amount in ((0.0, 1.0) if sharpen else (0.0,)):
            log_sigma = torch.tensor(math.log(start_sigma), dtype=torch.float64, requires_grad=True)
            amount = torch.tensor(start_amount, dtype=torch.float64, requires_grad=True)
            log_radius = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
            log_noise = torch.tensor(float(real[band].min().log()) - 2.0, dtype=torch.float64,
                                     requires_grad=True)
            params = [log_sigma, log_noise] + ([amount, log_radius] if sharpen else [])
            opt = torch.optim.LBFGS(params, lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

            def model() -> Tensor:
                power = kernel_response(gaussian_kernel(log_sigma.exp(), kernel_size), tile, bins) * clean
                power = power + log_noise.exp()
                if sharpen:
                    power = power * kernel_response(
                        sharpen_kernel(amount.clamp(-0.9, 4.0), log_radius.exp().clamp(0.3, 3.0)), tile, bins)
                return power

            def closure() -> Tensor:
                opt.zero_grad()
                loss = (model().log()[band] - target).square().mean()
                loss.backward()
                return loss

            with torch.enable_grad():
                opt.step(closure)
            with torch.no_grad():
                loss = float((model().log()[band] - target).square().mean())
                found = (loss, float(log_sigma.exp()), float(amount.clamp(-0.9, 4.0)),
                         float(log_radius.exp().clamp(0.3, 3.0)),
                         float(log_noise.exp()))
            if best is None or loss < best[0]:
                best = found
    loss, sigma, amount, radius, noise = best
    noise_std = math.sqrt(noise / window_power(tile) / _LUMA_NOISE)
    return {"blur_sigma": sigma, "sharpen_amount": amount if sharpen else 0.0,
            "sharpen_radius": radius if sharpen else 1.0, "noise_std": noise_std,
            "residual_db": 10 / math.log(10) * math.sqrt(loss)}
