"""Real-ESRGAN's second-order blind degradation, for the quality benchmark's row (e).

After Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic
Data" (ICCVW 2021), Sec. 3, with the ranges and probabilities of the paper's x4 training set-up
(the values its released training options use):

- first order, at HR size: blur (kernel size 7-21; 0.45 iso, 0.25 aniso, 0.12 generalized iso,
  0.03 generalized aniso, 0.12 plateau iso, 0.03 plateau aniso Gaussians; sigma 0.2-3, rotation
  any, beta 0.5-4 generalized, 1-2 plateau; a 2-D sinc kernel instead with probability 0.1);
  resize up (1-1.5) / down (0.15-1) / keep with probabilities 0.2 / 0.7 / 0.1, area, bilinear
  or bicubic; noise: Gaussian (sigma 1-30 of 255) with probability 0.5, else Poisson (scale
  0.05-3), gray (the same on every channel) with probability 0.4; JPEG quality 30-95;
- second order: blur with probability 0.8 (sigma 0.2-1.5, sinc 0.1); resize to 0.3-1.2 times the
  output size (up 0.3, down 0.4, keep 0.3); noise as above with sigma 1-25, Poisson 0.05-2.5;
- last: resize to the output size, then a sinc filter (probability 0.8) and JPEG 30-95, or JPEG
  first then both, each order with probability 0.5; quantised to 8 bits.

Why code rather than a recipe (``cyclesr.data.degrade.RECIPES``): the recipe grammar draws a
parameter from one range or one list with equal weights and resizes relative to the current
image. The second-order resize is relative to the *output* size (so its noise lands at about
the LR resolution whatever the first resize did), the resize direction and kernel kinds are
weighted, the plateau and generalized kernels have different beta ranges, and the sinc filter
and the random last order have no step. The ``realesrgan-like`` preset approximates this chain;
this module follows the published one. Two deliberate differences from the released training
code: JPEG is Pillow's real codec (not a differentiable approximation) and resizing is
antialiased (``cyclesr.ops.resize``). The HR target is not sharpened (the paper's optional USM
on the ground truth would change what the PSNR rows measure).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import j1

from cyclesr.data.kernels import blur_kernel, filter2d
from cyclesr.data.steps import Jpeg, Noise
from cyclesr.ops.resize import resize

__all__ = ["RealEsrganDegradation", "sinc_kernel", "FIRST_ORDER", "SECOND_ORDER"]

_KINDS = (("iso", False), ("aniso", True), ("generalized", False), ("generalized", True),
          ("plateau", False), ("plateau", True))
_KIND_PROBS = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
_MODES = ("area", "bilinear", "bicubic")
_SIZES = tuple(range(7, 22, 2))

FIRST_ORDER = dict(sigma=(0.2, 3.0), sinc=0.1, resize_probs=(0.2, 0.7, 0.1), resize=(0.15, 1.5),
                   gaussian_sigma=(1.0, 30.0), poisson_scale=(0.05, 3.0), gray=0.4, jpeg=(30, 95))
SECOND_ORDER = dict(blur_p=0.8, sigma=(0.2, 1.5), sinc=0.1, resize_probs=(0.3, 0.4, 0.3),
                    resize=(0.3, 1.2), gaussian_sigma=(1.0, 25.0), poisson_scale=(0.05, 2.5),
                    gray=0.4, jpeg=(30, 95), final_sinc=0.8)


def sinc_kernel(cutoff: float, size: int) -> torch.Tensor:
    """The 2-D circular low-pass (sinc) kernel of the paper's Eq. 4: cutoff ``cutoff`` in radians
    per pixel, ``size`` odd; (size, size) float32 summing to 1."""
    axis = np.arange(size) - (size - 1) / 2
    radius = np.hypot(*np.meshgrid(axis, axis, indexing="ij"))
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = cutoff * j1(cutoff * radius) / (2 * np.pi * radius)
    kernel[radius == 0] = cutoff ** 2 / (4 * np.pi)  # the limit at the centre
    return torch.from_numpy(kernel / kernel.sum()).float()


def _uniform(rng: np.random.Generator, bounds) -> float:
    return float(rng.uniform(*bounds))


def _beta(rng: np.random.Generator, low: float, high: float) -> float:
    """Half the time below 1 (heavier tails), half above, as the released kernels draw beta."""
    return _uniform(rng, (low, 1.0)) if rng.random() < 0.5 and low < 1 else _uniform(rng, (1.0, high))


def _random_kernel(rng: np.random.Generator, sigma: tuple, sinc_p: float) -> torch.Tensor:
    size = int(rng.choice(_SIZES))
    if rng.random() < sinc_p:
        low = math.pi / 3 if size < 13 else math.pi / 5
        return sinc_kernel(_uniform(rng, (low, math.pi)), size)
    kind, aniso = _KINDS[int(rng.choice(len(_KINDS), p=_KIND_PROBS))]
    sigma_x = _uniform(rng, sigma)
    sigma_y = _uniform(rng, sigma) if aniso else sigma_x
    theta = _uniform(rng, (-180.0, 180.0)) if aniso else 0.0
    beta = _beta(rng, 0.5, 4.0) if kind == "generalized" else _beta(rng, 1.0, 2.0)
    return blur_kernel(kind, size, sigma_x, sigma_y, theta, beta)


def _resize_factor(rng: np.random.Generator, probs: tuple, bounds: tuple) -> float:
    direction = int(rng.choice(3, p=probs))
    return (_uniform(rng, (1.0, bounds[1])) if direction == 0 else
            _uniform(rng, (bounds[0], 1.0)) if direction == 1 else 1.0)


def _noise(image: torch.Tensor, rng: np.random.Generator, o: dict) -> torch.Tensor:
    gray = bool(rng.random() < o["gray"])
    if rng.random() < 0.5:
        params = {"kind": "gaussian", "sigma": _uniform(rng, o["gaussian_sigma"])}
    else:
        # The paper scales Poisson noise (std) by s; the Noise step's scale is a variance factor.
        params = {"kind": "poisson", "scale": _uniform(rng, o["poisson_scale"]) ** 2}
    return Noise().apply(image, {**params, "gray": gray, "seed": int(rng.integers(2**63))})


def _jpeg(image: torch.Tensor, rng: np.random.Generator, bounds: tuple) -> torch.Tensor:
    return Jpeg().apply(image.clamp(0, 1), {"quality": int(round(_uniform(rng, bounds)))})


class RealEsrganDegradation:
    """``degrade(hr, rng) -> lr``: one (3, H, W) HR image in [0, 1] to its (3, H/scale, W/scale)
    LR by Real-ESRGAN's second-order model (module docstring); H and W multiples of ``scale``."""

    def __init__(self, scale: int = 4):
        self.scale = scale

    def __call__(self, hr: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        one, two = FIRST_ORDER, SECOND_ORDER
        height, width = hr.shape[-2] // self.scale, hr.shape[-1] // self.scale
        out = filter2d(hr, _random_kernel(rng, one["sigma"], one["sinc"]))
        out = resize(out, _resize_factor(rng, one["resize_probs"], one["resize"]), str(rng.choice(_MODES)))
        out = _jpeg(_noise(out, rng, one), rng, one["jpeg"])
        if rng.random() < two["blur_p"]:
            out = filter2d(out, _random_kernel(rng, two["sigma"], two["sinc"]))
        factor = _resize_factor(rng, two["resize_probs"], two["resize"])
        size = (max(1, int(height * factor)), max(1, int(width * factor)))
        out = _noise(resize(out, size, str(rng.choice(_MODES))), rng, two)
        cutoff, sinc_size = _uniform(rng, (math.pi / 3, math.pi)), int(rng.choice(_SIZES))
        use_sinc = rng.random() < two["final_sinc"]

        def back_and_sinc(image):
            image = resize(image, (height, width), str(rng.choice(_MODES)))
            return filter2d(image, sinc_kernel(cutoff, sinc_size)) if use_sinc else image

        if rng.random() < 0.5:
            out = _jpeg(back_and_sinc(out), rng, two["jpeg"])
        else:
            out = back_and_sinc(_jpeg(out, rng, two["jpeg"]))
        return out.clamp(0, 1).mul(255).round().div(255)
