"""Which torch device to run on: one rule for training, inference, export and benchmarks."""
from __future__ import annotations

from typing import Optional

import torch

__all__ = ["resolve_device"]


def resolve_device(name: Optional[str | torch.device] = None) -> torch.device:
    """``None`` or ``"auto"``: CUDA when available, else the CPU. A CUDA device on a machine
    without CUDA is refused with a message saying what to use instead."""
    if isinstance(name, torch.device):
        name = str(name)
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' requested but CUDA is not available; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None
