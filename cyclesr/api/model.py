"""The Python API: load a trained model and upscale (or degrade) images in one or two calls.

    >>> import cyclesr
    >>> model = cyclesr.load("runs/my_run/checkpoints/best.pt")   # or a published model folder
    >>> sr_image = model.upscale(pil_image)                        # PIL in, PIL out
    >>> sr_image = model.upscale(pil_image, tta=True, tile=256)    # the options of `cyclesr upscale`

``UpscaleOptions`` holds the upscaling options and their defaults, automatic tile size
included; ``cyclesr upscale`` builds the same object from its flags, so both paths agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import torch

from cyclesr.api.images import ImageLike, from_float, from_pixels, integer_bits, to_float
from cyclesr.inference.upscale import auto_tile_size, upscale_image, upscale_image_pixels
from cyclesr.modelfile.publish import load_any
from cyclesr.ops.device import resolve_device
from cyclesr.ops.resize import bicubic_downscale

__all__ = ["CycleSR", "UpscaleOptions", "load", "out_of_memory_hint"]


@dataclass(frozen=True)
class UpscaleOptions:
    """How to upscale an image.

    ``tile``: tile side in LR pixels, None for automatic (the whole image when it fits in
    memory, else the tile ``auto_tile_size`` picks); ``tile_pad``: context around each tile;
    ``tta``: average the 8 flips/rotations; ``color_fix``: keep the input's low frequencies;
    ``outscale``: final scale (None: the network's); ``half``: fp16 inference (CUDA only)."""

    tile: Optional[int] = None
    tile_pad: int = 16
    tta: bool = False
    color_fix: bool = False
    outscale: Optional[float] = None
    half: bool = False

    def __post_init__(self) -> None:
        if self.tile is not None and self.tile <= 0:
            raise ValueError(f"tile must be a positive number of pixels or None (automatic), got {self.tile}")
        if self.tile_pad < 0:
            raise ValueError(f"tile_pad must be 0 or more, got {self.tile_pad}")
        if self.outscale is not None and not (math.isfinite(self.outscale) and self.outscale > 0):
            raise ValueError(f"outscale must be a positive finite number (e.g. 2 or 3.5), got {self.outscale}")


class CycleSR:
    """A trained CycleSR model: ``sr`` (the SR network), ``G`` (the learned degradation)."""

    def __init__(self, sr: torch.nn.Module, G: Optional[torch.nn.Module], scale: int,
                 device: Optional[str] = None):
        self.device = resolve_device(device)
        self.sr = sr.to(self.device).eval()
        self.G = G.to(self.device).eval() if G is not None else None
        self.scale = scale

    def tile_size(self, height: int, width: int, options: UpscaleOptions) -> Optional[int]:
        """The tile for an LR input of this many pixels (a batch counts its images' rows):
        ``options.tile``, or the automatic choice."""
        if options.tile is not None:
            return options.tile
        return auto_tile_size(height, width, self.scale, self.sr, device=self.device,
                              tile_pad=options.tile_pad)

    def upscale_rgb(self, rgb: torch.Tensor, alpha: Optional[torch.Tensor] = None,
                    options: Optional[UpscaleOptions] = None) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Upscale ``rgb`` ((3, H, W) or (N, 3, H, W) float in [0, 1]) and its alpha; returns
        ``(rgb_out, alpha_out)`` on the CPU. The step both ``upscale`` and ``cyclesr upscale`` take."""
        options = options or UpscaleOptions()
        h, w = rgb.shape[-2:]
        n = rgb.shape[0] if rgb.dim() == 4 else 1
        return upscale_image(self.sr, rgb, self.scale, tile=self.tile_size(n * h, w, options),
                             tile_pad=options.tile_pad, tta=options.tta, color_fix=options.color_fix,
                             outscale=options.outscale, device=self.device, half=options.half,
                             alpha=alpha)

    def upscale_pixels(self, rgb: torch.Tensor, alpha: Optional[torch.Tensor] = None,
                       options: Optional[UpscaleOptions] = None, bits: int = 8):
        """``upscale_rgb`` with the RGB result as a uint8/uint16 numpy array ((N,) H, W, 3): what
        ``cyclesr upscale`` writes. Without TTA, colour fix or another outscale the tiles are
        streamed into it, so a large image costs about its output's size in memory."""
        options = options or UpscaleOptions()
        h, w = rgb.shape[-2:]
        n = rgb.shape[0] if rgb.dim() == 4 else 1
        return upscale_image_pixels(self.sr, rgb, self.scale, bits=bits,
                                    tile=self.tile_size(n * h, w, options), tile_pad=options.tile_pad,
                                    tta=options.tta, color_fix=options.color_fix,
                                    outscale=options.outscale, device=self.device, half=options.half,
                                    alpha=alpha)

    def upscale(self, image: ImageLike, options: Optional[UpscaleOptions] = None, **changes) -> ImageLike:
        """Super-resolve one image; returns the same kind (PIL, numpy HWC, tensor CHW).
        ``changes`` are ``UpscaleOptions`` fields, e.g. ``upscale(image, tta=True)``."""
        options = replace(options or UpscaleOptions(), **changes)
        rgb, alpha, kind = to_float(image)
        bits = integer_bits(kind)
        if bits is not None:  # PIL and integer arrays: streamed into integer pixels, as files are
            pixels, alpha_out = self.upscale_pixels(rgb, alpha, options, bits=bits)
            return from_pixels(pixels, alpha_out, kind)
        out, alpha_out = self.upscale_rgb(rgb, alpha, options)
        return from_float(out, alpha_out, kind)

    @torch.inference_mode()
    def degrade_rgb(self, rgb: torch.Tensor) -> torch.Tensor:
        """Bicubic-downscale an HR ``(3, H, W)`` image and apply the learned degradation G."""
        if self.G is None:
            raise ValueError("this model file holds no transfer network G; export it from a "
                             "training checkpoint to use degrade")
        clean = bicubic_downscale(rgb, self.scale).unsqueeze(0).to(self.device)
        return self.G(clean)[0].clamp(0, 1).float().cpu()

    def degrade(self, hr_image: ImageLike) -> ImageLike:
        """Realistic LR from an HR image (any kind; alpha is dropped), as the same kind."""
        rgb, _, kind = to_float(hr_image)
        return from_float(self.degrade_rgb(rgb), None, kind)


def out_of_memory_hint(height: int, width: int, scale: int, options: UpscaleOptions) -> str:
    """What to change when upscaling an ``height x width`` image ran out of memory: the output
    itself (its size in 8-bit RGB is named) needs a smaller ``--outscale``; the network's
    activations need a smaller ``--tile``."""
    factor = options.outscale or scale
    out_h, out_w = max(1, round(factor * height)), max(1, round(factor * width))
    hints = [f"a smaller --tile (now {options.tile or 'automatic'})"]
    hints.append("a smaller --outscale")
    return (f"not enough memory for a {out_w}x{out_h} output ({out_w * out_h * 3 / 2**20:,.0f} MiB "
            f"at 8 bits): try {', or '.join(hints)}")


def load(path: str | Path, device: Optional[str] = None, use_ema: bool = True) -> CycleSR:
    """Load a model from a training checkpoint (``.pt``) or a published model (folder or
    ``.safetensors``)."""
    sr, G, scale = load_any(path, use_ema=use_ema)
    return CycleSR(sr, G, scale, device=device)
