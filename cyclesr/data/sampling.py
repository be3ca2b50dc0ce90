"""A seeded sample of a folder's images: what the trainer's hooks and scores look at (G's
calibration on the real LR images, the no-reference score on both training domains)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from cyclesr.data.io import list_images, load_rgb
from cyclesr.ops.resize import crop_to_multiple

__all__ = ["sample_images"]


def sample_images(folder: str | Path, n: int, seed: int = 0, multiple: int = 1) -> list[Tensor]:
    """Up to ``n`` images of a folder (a seeded random choice, in file order), each cropped at
    the bottom/right to a multiple of ``multiple`` (so an HR image downscales exactly)."""
    paths = list_images(folder)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(paths), min(n, len(paths)), replace=False)) if paths else []
    return [crop_to_multiple(load_rgb(paths[i]), multiple) for i in chosen]
