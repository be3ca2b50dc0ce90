"""Conversions between the package's image convention (float in [0, 1]) and integer pixels:
one rounding rule (clamp, scale, round half to even as numpy and torch do) for every reader,
writer, metric and API call."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["to_uint8", "from_uint8", "quantize", "to_integer_array"]


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Float [0, 1] -> uint8 [0, 255], clamped and rounded; same layout."""
    return image.detach().clamp(0, 1).mul(255).round().to(torch.uint8)


def from_uint8(image: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 [0, 255] (tensor or array) -> float32 [0, 1]; same layout."""
    return torch.as_tensor(image).to(torch.float32).div(255)


def quantize(img: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to the nearest of the 256 uint8 levels (dtype unchanged)."""
    return torch.round(img.clamp(0.0, 1.0) * 255.0) / 255.0


def to_integer_array(values: np.ndarray, bits: int = 8) -> np.ndarray:
    """Float array in [0, 1] -> uint8 (bits 8) or uint16 (bits 16), clamped and rounded."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    max_value, dtype = (65535, np.uint16) if bits == 16 else (255, np.uint8)
    return np.rint(np.clip(values, 0, 1) * max_value).astype(dtype)
