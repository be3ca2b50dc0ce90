"""The decompression-bomb limit, applied by every image reader before it decodes anything.

A few hundred bytes of PNG or TIFF can declare a 60000 x 60000 image; decoding it would need
gigabytes. Each reader (Pillow, tifffile, the 16-bit PNG reader) reads the declared size from
the header first and refuses images above ``max_image_pixels()``: by default Pillow's own
error threshold (twice ``PIL.Image.MAX_IMAGE_PIXELS``, about 179 million pixels), raised or
lowered with the environment variable ``CYCLESR_MAX_IMAGE_PIXELS``. Pillow's own check is
switched off while we open a file, so that this one limit governs every reader.
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Iterator

from PIL import Image

__all__ = ["ENV_VAR", "DEFAULT_MAX_IMAGE_PIXELS", "PixelLimitError", "max_image_pixels",
           "check_pixels", "open_image"]

ENV_VAR = "CYCLESR_MAX_IMAGE_PIXELS"
DEFAULT_MAX_IMAGE_PIXELS = 2 * 89_478_485  # Pillow's DecompressionBombError threshold
_PIL_LOCK = threading.Lock()


class PixelLimitError(ValueError):
    """An image declares more pixels than the limit allows (refused before decoding)."""


def max_image_pixels() -> int:
    """The limit in pixels (width x height): ``CYCLESR_MAX_IMAGE_PIXELS`` when set, else the default."""
    text = os.environ.get(ENV_VAR, "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        value = int(float(text))
    except ValueError:
        raise PixelLimitError(f"{ENV_VAR}={text!r} must be a number of pixels, e.g. 400000000") from None
    if value <= 0:
        raise PixelLimitError(f"{ENV_VAR}={text!r} must be a positive number of pixels")
    return value


def check_pixels(path: str | Path, width: int, height: int) -> None:
    """Raise PixelLimitError naming the file, its size and the limit when width x height is over it."""
    limit = max_image_pixels()
    if int(width) * int(height) > limit:
        raise PixelLimitError(
            f"{path}: it declares {width}x{height} = {int(width) * int(height):,} pixels, more than the "
            f"limit of {limit:,} (a decompression bomb, or a very large image); if the image is "
            f"genuine, set the environment variable {ENV_VAR} to a larger number")


@contextlib.contextmanager
def open_image(path: str | Path) -> Iterator[Image.Image]:
    """``PIL.Image.open`` (header only, nothing decoded) with the limit checked: Pillow's own
    check is off during the open, so ``CYCLESR_MAX_IMAGE_PIXELS`` can also raise it."""
    with _PIL_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            im = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    with im:
        check_pixels(path, *im.size)
        yield im
