"""A folder's usable images, and seeded samples of them: the one list that every reader of a
training folder takes (the training set, G's calibration on the real LR images, the
no-reference score on both training domains), so that a file the loader skips is skipped by
all of them, in every epoch and after a resume."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from torch import Tensor

from cyclesr.data.io import ImageReadError, list_images, load_rgb
from cyclesr.data.pixel_limit import open_image
from cyclesr.ops.resize import crop_to_multiple

__all__ = ["usable_images", "sample_images"]

_PROBE_ERRORS = (OSError, ValueError, SyntaxError, EOFError)
_CACHE: dict[tuple, tuple[list[Path], list[str]]] = {}
_CACHE_SIZE = 8  # (folder, min_size) answers kept: a run reads two folders at two sizes


def _size(path: Path) -> tuple[int, int]:
    """(width, height) from the header (Pillow), else from a full decode (files only our reader opens)."""
    try:
        with open_image(path) as im:
            return im.size
    except _PROBE_ERRORS:
        height, width = load_rgb(path).shape[-2:]  # e.g. 16-bit gray+alpha TIFF; raises if unreadable
        return width, height


def _listing_key(folder: Path, paths: list[Path], min_size: int) -> tuple:
    stats = []
    for p in paths:
        try:
            st = p.stat()
            stats.append((str(p), st.st_size, st.st_mtime_ns))
        except OSError:
            stats.append((str(p), -1, -1))
    return str(folder.resolve()), min_size, tuple(stats)


def usable_images(folder: str | Path, min_size: int = 1, what: str = "image") -> tuple[list[Path], list[str]]:
    """(usable, skipped): the images of ``folder`` (recursively, sorted) that open and whose
    shorter side is at least ``min_size``, found from the file header where it has the size;
    ``skipped`` has one line per other file, saying why. Raises ValueError naming the folder
    when there are no images or none is usable. The answer is kept while the folder's files
    (names, sizes, times) stay the same, so every reader gets the same list for free."""
    folder = Path(folder)
    paths = list_images(folder)
    if not paths:
        raise ValueError(f"no images found in {what} folder {folder} "
                         f"(looked for .png, .jpg, .jpeg, .bmp, .tif, .tiff, .webp, recursively)")
    key = _listing_key(folder, paths, min_size)
    if key not in _CACHE:
        usable, skipped = [], []
        for path in paths:
            try:
                width, height = _size(path)
            except (ImageReadError, *_PROBE_ERRORS) as err:
                skipped.append(f"{path} (unreadable: {err})")
                continue
            if min(width, height) < min_size:
                skipped.append(f"{path} ({width}x{height}, smaller than the {min_size}x{min_size} crop)")
            else:
                usable.append(path)
        while len(_CACHE) >= _CACHE_SIZE:  # the oldest answer goes first
            del _CACHE[next(iter(_CACHE))]
        _CACHE[key] = (usable, skipped)
    usable, skipped = _CACHE[key]
    if not usable:
        raise ValueError(
            f"no usable images in {what} folder {folder}: none of its {len(paths)} images is readable "
            f"and at least {min_size}x{min_size} pixels (the {what} crop). Use a smaller crop_size "
            f"(or scale), or add larger images.")
    return list(usable), list(skipped)


def _centre(image: Tensor, max_side: Optional[int], multiple: int) -> Tensor:
    if max_side is None:
        return image
    side = max(multiple, max_side - max_side % multiple)
    height, width = image.shape[-2:]
    top, left = max(0, (height - side) // 2), max(0, (width - side) // 2)
    return image[..., top:top + side, left:left + side]


def sample_images(folder: str | Path, n: int, seed: int = 0, multiple: int = 1,
                  max_side: Optional[int] = None,
                  transform: Optional[Callable[[Tensor], Tensor]] = None) -> list[Tensor]:
    """Up to ``n`` of the folder's usable images (``usable_images``; a seeded random choice, in
    file order), each cropped at the bottom/right to a multiple of ``multiple`` (so an HR image
    downscales exactly); with ``max_side``, the centre of each image at most that many pixels
    high and wide (a multiple of ``multiple``), so that a sample of large photos stays small;
    ``transform`` is applied to each image as it is read (e.g. a downscale: only the results are
    kept in memory). An image that fails to decode in full (a truncated file whose header reads) is warned about and
    replaced by the next usable one in file order."""
    paths, _ = usable_images(folder, max(multiple, 1))
    rng = np.random.default_rng(seed)
    chosen = [int(i) for i in sorted(rng.choice(len(paths), min(n, len(paths)), replace=False))]
    spare = [i for i in range(len(paths)) if i not in set(chosen)]
    images = []
    for index in chosen:
        while index is not None:
            try:
                image = _centre(crop_to_multiple(load_rgb(paths[index]), multiple), max_side, multiple)
                images.append(transform(image) if transform is not None else image)
                break
            except (ImageReadError, OSError) as err:
                warnings.warn(f"skipping an image that cannot be used: {err}", stacklevel=2)
                index = spare.pop(0) if spare else None
    return images
