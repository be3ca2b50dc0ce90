"""The Python API: load a trained model and upscale (or degrade) images in one or two calls.

    >>> import cyclesr
    >>> model = cyclesr.load("runs/my_run/checkpoints/best.pt")   # or a published model folder
    >>> sr_image = model.upscale(pil_image)                        # PIL in, PIL out
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from PIL import Image, ImageOps

from cyclesr.data.degrade import bicubic_downscale
from cyclesr.inference.upscale import upscale_image
from cyclesr.modelfile.publish import load_any
from cyclesr.ops.device import resolve_device

__all__ = ["CycleSR", "load"]

ImageLike = Union[Image.Image, np.ndarray, torch.Tensor]
_PIL_16BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def _to_tensor(image: ImageLike) -> tuple[torch.Tensor, Optional[torch.Tensor], str]:
    """(rgb (3,H,W) in [0,1], alpha or None, kind) from PIL / numpy HWC / tensor CHW."""
    if isinstance(image, Image.Image):
        image = ImageOps.exif_transpose(image)  # upright, as the CLI reads files
        if image.mode in _PIL_16BIT:  # 16-bit gray: keep all bits (convert("RGB") would clip)
            arr = np.clip(np.asarray(image).astype(np.float32), 0, 65535) / 65535
            return torch.from_numpy(arr)[None].expand(3, -1, -1).contiguous(), None, "pil16"
        alpha = None
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            alpha = torch.from_numpy(np.asarray(rgba)[..., 3:].copy()).permute(2, 0, 1).float() / 255
        arr = np.asarray(image.convert("RGB"))
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255, alpha, "pil"
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 2:
            arr = arr[..., None]
        scale = 65535.0 if arr.dtype == np.uint16 else 255.0 if arr.dtype == np.uint8 else 1.0
        t = torch.from_numpy(arr.astype(np.float32) / scale).permute(2, 0, 1)
        kind = f"numpy:{arr.dtype}"
    elif torch.is_tensor(image):
        t, kind = image.detach().float().cpu(), "tensor"
    else:
        raise TypeError(f"expected a PIL image, numpy array or tensor, got {type(image).__name__}")
    if t.dim() != 3 or t.shape[0] not in (1, 2, 3, 4):
        raise ValueError(f"expected an image with 1 to 4 channels (gray, gray+alpha, RGB, RGBA), "
                         f"got shape {tuple(t.shape)}")
    alpha = t[-1:].clamp(0, 1) if t.shape[0] in (2, 4) else None
    color = t[:-1] if alpha is not None else t
    rgb = color.expand(3, -1, -1) if color.shape[0] == 1 else color
    return rgb.clamp(0, 1), alpha, kind


def _from_tensor(rgb: torch.Tensor, alpha: Optional[torch.Tensor], kind: str, gray: bool):
    if gray:
        rgb = rgb.mean(0, keepdim=True)
    t = rgb if alpha is None else torch.cat([rgb, alpha])
    if kind == "tensor":
        return t
    if kind == "pil16":  # only gray 16-bit images exist in Pillow; colour comes back as 8-bit
        if gray and alpha is None:
            arr = (t[0].numpy() * 65535).round().clip(0, 65535).astype(np.uint16)
            return Image.fromarray(arr)
        kind = "pil"
    if kind == "pil" or kind == "numpy:uint8":
        arr = (t.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    elif kind == "numpy:uint16":
        arr = (t.permute(1, 2, 0).numpy() * 65535).round().clip(0, 65535).astype(np.uint16)
    else:
        arr = t.permute(1, 2, 0).numpy()
    if kind != "pil":
        return arr[..., 0] if arr.shape[-1] == 1 else arr
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[arr.shape[-1]]
    return Image.fromarray(arr[..., 0] if mode == "L" else arr, mode)


class CycleSR:
    """A trained CycleSR model: ``sr`` (the SR network), ``G`` (the learned degradation)."""

    def __init__(self, sr: torch.nn.Module, G: Optional[torch.nn.Module], scale: int,
                 device: Optional[str] = None):
        self.device = resolve_device(device)
        self.sr = sr.to(self.device).eval()
        self.G = G.to(self.device).eval() if G is not None else None
        self.scale = scale

    def upscale(self, image: ImageLike, *, tile: Optional[int] = None, tile_pad: int = 16,
                tta: bool = False, color_fix: bool = False, outscale: Optional[float] = None,
                half: bool = False):
        """Super-resolve one image; returns the same kind (PIL, numpy HWC, tensor CHW)."""
        rgb, alpha, kind = _to_tensor(image)
        gray = _is_gray(image)
        out, alpha_out = upscale_image(self.sr, rgb, self.scale, tile=tile, tile_pad=tile_pad,
                                       tta=tta, color_fix=color_fix, outscale=outscale,
                                       device=self.device, half=half, alpha=alpha)
        return _from_tensor(out, alpha_out, kind, gray)

    @torch.inference_mode()
    def degrade(self, hr_image: ImageLike):
        """Bicubic-downscale an HR image and apply the learned degradation G: realistic LR."""
        if self.G is None:
            raise ValueError("this model file holds no transfer network G; export it from a "
                             "training checkpoint to use degrade")
        rgb, _, kind = _to_tensor(hr_image)
        clean = bicubic_downscale(rgb, self.scale).unsqueeze(0).to(self.device)
        fake = self.G(clean)[0].clamp(0, 1).float().cpu()
        return _from_tensor(fake, None, kind, _is_gray(hr_image))


def _is_gray(image: ImageLike) -> bool:
    if isinstance(image, Image.Image):
        return image.mode in ("L", "LA", "1", *_PIL_16BIT) or (
            image.mode == "P" and image.palette is not None and image.palette.mode in ("L", "LA"))
    if isinstance(image, np.ndarray):
        return image.ndim == 2 or image.shape[-1] in (1, 2)
    return image.shape[0] in (1, 2)


def load(path: str | Path, device: Optional[str] = None, use_ema: bool = True) -> CycleSR:
    """Load a model from a training checkpoint (``.pt``) or a published model (folder or
    ``.safetensors``)."""
    sr, G, scale = load_any(path, use_ema=use_ema)
    return CycleSR(sr, G, scale, device=device)
