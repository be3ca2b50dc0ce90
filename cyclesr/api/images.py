"""The kinds of image the Python API accepts and returns, converted in one place.

Inside, an image is the package's convention: RGB float32 ``(3, H, W)`` in [0, 1], with alpha
apart as ``(1, H, W)``. At the edge a user hands in a PIL image, a numpy array ``(H, W)`` or
``(H, W, C)`` (uint8, uint16, other integers scaled by their bit depth, or float in [0, 1]:
NaN, infinity and values above 1 are refused) or a tensor ``(C, H, W)``, with C = 1 to 4
(gray, gray + alpha, RGB, RGBA), and gets the same kind back: same type, dtype, bit depth,
gray-ness and alpha. The integer rounding is the package's one rule (``cyclesr.ops.image``) and
gray output uses the same luma as the file writer (``cyclesr.ops.color``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch
from PIL import Image, ImageOps

from cyclesr.data.io import integer_pixels
from cyclesr.ops.color import gray as luma
from cyclesr.ops.image import from_uint8, to_integer_array

__all__ = ["ImageLike", "ImageKind", "to_float", "from_float", "integer_bits", "from_pixels"]

ImageLike = Union[Image.Image, np.ndarray, torch.Tensor]
_PIL_16BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


@dataclass(frozen=True)
class ImageKind:
    """What an input image was, so that a result can be given back as the same kind.

    ``container``: "pil", "pil16" (16-bit gray PIL), "numpy" or "tensor"; ``dtype``: the numpy
    dtype's name (numpy only); ``gray``: one colour channel (with or without alpha)."""

    container: str
    dtype: Optional[str] = None
    gray: bool = False


def _pil_is_gray(image: Image.Image) -> bool:
    return image.mode in ("L", "LA", "1", *_PIL_16BIT) or (
        image.mode == "P" and image.palette is not None and image.palette.mode in ("L", "LA"))


def _from_pil(image: Image.Image) -> tuple[torch.Tensor, Optional[torch.Tensor], ImageKind]:
    gray = _pil_is_gray(image)
    image = ImageOps.exif_transpose(image)  # upright, as files are read
    if image.mode in _PIL_16BIT:  # 16-bit gray: keep all bits (convert("RGB") would clip)
        arr = np.clip(np.asarray(image).astype(np.float32), 0, 65535) / 65535
        return torch.from_numpy(arr)[None].expand(3, -1, -1).contiguous(), None, ImageKind("pil16", gray=True)
    alpha = None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = from_uint8(np.array(image.convert("RGBA"))[..., 3:]).permute(2, 0, 1)
    rgb = from_uint8(np.array(image.convert("RGB"))).permute(2, 0, 1)
    return rgb, alpha, ImageKind("pil", gray=gray)


def _check_float_range(values: torch.Tensor) -> None:
    """Float images must be finite and at most 1 (as files are read); values below 0 are clipped."""
    if not bool(torch.isfinite(values).all()):
        raise ValueError("the image holds NaN or infinite values; give finite values in [0, 1]")
    top = float(values.max()) if values.numel() else 0.0
    if top > 1.0:
        raise ValueError(f"a float image must hold values in [0, 1], got values up to {top:.4g} "
                         "(divide 0-255 values by 255, or pass a uint8 array)")


def _from_array(arr: np.ndarray) -> tuple[torch.Tensor, ImageKind]:
    """(C, H, W) float32 from an (H, W) or (H, W, C) array, and its kind."""
    gray = arr.ndim == 2 or arr.shape[-1] in (1, 2)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.dtype == np.uint8:
        values = from_uint8(np.ascontiguousarray(arr))
    elif arr.dtype.kind in "ui":  # by the bit depth (uint16, uint32, ...; signed from 0 up)
        white = float(np.iinfo(arr.dtype).max)
        values = torch.from_numpy(np.clip(arr, 0, None).astype(np.float64) / white).float()
    elif arr.dtype.kind == "f":
        values = torch.from_numpy(arr.astype(np.float32))
        _check_float_range(values)
    else:
        raise TypeError(f"expected an integer or float image array, got dtype {arr.dtype}")
    return values.permute(2, 0, 1), ImageKind("numpy", dtype=arr.dtype.name, gray=gray)


def to_float(image: ImageLike) -> tuple[torch.Tensor, Optional[torch.Tensor], ImageKind]:
    """``(rgb (3, H, W), alpha (1, H, W) or None, kind)``, float32 in [0, 1], from any
    ``ImageLike``. Gray is replicated to three channels; PIL images are turned upright by their
    EXIF orientation."""
    if isinstance(image, Image.Image):
        return _from_pil(image)
    if isinstance(image, np.ndarray):
        t, kind = _from_array(image)
    elif torch.is_tensor(image):
        t = image.detach().float().cpu()
        kind = ImageKind("tensor", gray=t.dim() == 3 and t.shape[0] in (1, 2))
        _check_float_range(t)
    else:
        raise TypeError(f"expected a PIL image, numpy array or tensor, got {type(image).__name__}")
    if t.dim() != 3 or t.shape[0] not in (1, 2, 3, 4):
        raise ValueError(f"expected an image with 1 to 4 channels (gray, gray+alpha, RGB, RGBA), "
                         f"got shape {tuple(t.shape)}")
    alpha = t[-1:].clamp(0, 1) if t.shape[0] in (2, 4) else None
    color = t[:-1] if alpha is not None else t
    rgb = color.expand(3, -1, -1) if color.shape[0] == 1 else color
    return rgb.clamp(0, 1), alpha, kind


def from_float(rgb: torch.Tensor, alpha: Optional[torch.Tensor], kind: ImageKind) -> ImageLike:
    """The inverse of ``to_float``: ``rgb`` (3, H, W) and ``alpha`` in [0, 1] as ``kind``.
    Pillow holds 16 bits only for gray without alpha; other 16-bit PIL results come back 8-bit."""
    rgb = rgb.detach().float().cpu()
    if kind.gray:
        rgb = luma(rgb)
    t = rgb if alpha is None else torch.cat([rgb, alpha.detach().float().cpu()])
    if kind.container == "tensor":
        return t
    values = t.permute(1, 2, 0).numpy()
    if kind.container == "numpy":
        bits = {"uint8": 8, "uint16": 16}.get(kind.dtype)
        arr = values if bits is None else to_integer_array(values, bits)
        return arr[..., 0] if arr.shape[-1] == 1 else arr
    if kind.container == "pil16" and alpha is None:
        return Image.fromarray(to_integer_array(values[..., 0], 16))
    arr = to_integer_array(values, 8)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[arr.shape[-1]]
    return Image.fromarray(arr[..., 0] if mode == "L" else arr, mode)


def integer_bits(kind: ImageKind) -> Optional[int]:
    """8 or 16 when ``kind`` holds integer pixels (PIL, uint8/uint16 numpy), else None: such
    results can be made by ``from_pixels`` from integer pixels, without a float copy."""
    if kind.container == "numpy":
        return {"uint8": 8, "uint16": 16}.get(kind.dtype)
    return {"pil": 8, "pil16": 16}.get(kind.container)


def from_pixels(pixels: np.ndarray, alpha: Optional[torch.Tensor], kind: ImageKind) -> ImageLike:
    """``from_float`` for an (H, W, 3) uint8/uint16 RGB array (``integer_bits(kind)`` bits) and
    alpha in [0, 1]: the same kinds, converted a band of rows at a time."""
    bits = integer_bits(kind)
    if bits is None:
        raise ValueError(f"{kind} does not hold integer pixels; use from_float")
    arr = integer_pixels(pixels, alpha, bits, kind.gray)
    if kind.container == "numpy":
        return arr[..., 0] if arr.shape[-1] == 1 else arr
    if kind.container == "pil16":  # 16-bit gray without alpha (the only 16-bit PIL input kind)
        return Image.fromarray(arr[..., 0])
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[arr.shape[-1]]
    return Image.fromarray(arr[..., 0] if mode == "L" else arr, mode)
