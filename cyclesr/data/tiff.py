"""TIFFs of more than 8 bits, which Pillow cannot read faithfully (it truncates 16-bit colour,
rejects 16-bit gray+alpha, clips 32-bit integers and blackens float): read with tifffile after
the pixel limit is checked, and 16-bit TIFFs written. What the values mean is in ``io.py``'s
module docstring: integers scaled by their bit depth, floats read as [0, 1]."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from cyclesr.data.pixel_limit import PixelLimitError, check_pixels

__all__ = ["ImageReadError", "tiff_scale", "read_deep_tiff", "write_tiff16"]


class ImageReadError(ValueError):
    """An image file exists but cannot be decoded (corrupt, truncated, empty, unsupported, or
    over the pixel limit)."""


def tiff_scale(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """(pixels, the value that means full white) of a TIFF's samples: integers by their bit
    depth (signed ones from 0 up), floats as [0, 1] after the checks in the module docstring."""
    if pixels.dtype.kind == "u":
        return pixels, float(np.iinfo(pixels.dtype).max)
    if pixels.dtype.kind == "i":
        return np.clip(pixels, 0, None), float(np.iinfo(pixels.dtype).max)
    values = pixels.astype(np.float32, copy=False)
    if not np.isfinite(values).all():
        raise ImageReadError("a float image with NaN or infinite values; save it with finite "
                             "values in [0, 1] (or as 16-bit)")
    top = float(values.max(initial=0.0))
    if top > 1.0:
        raise ImageReadError(f"a float image with values up to {top:.4g}; CycleSR reads float "
                             "images as values in [0, 1]: scale it into [0, 1] or save it as 16-bit")
    return np.clip(values, 0.0, None), 1.0


def read_deep_tiff(path: Path) -> tuple[np.ndarray, float, int, bytes | None, int] | None:
    """TIFFs of more than 8 bits via tifffile (Pillow truncates 16-bit colour, clips 32-bit and
    blackens float): ((H, W, C) array, full-white value, EXIF orientation, ICC profile, page
    count); None for other files, which Pillow reads. The size is checked before decoding."""
    with open(path, "rb") as handle:
        if handle.read(4) not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return None
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            check_pixels(path, page.imagewidth, page.imagelength)
            photometric = getattr(page.photometric, "name", "")
            deep = page.dtype is not None and page.dtype.kind in "uif" and page.dtype.itemsize > 1
            if not deep or page.samplesperpixel > 4 or photometric not in ("MINISBLACK", "RGB"):
                return None
            pages = len(tif.pages)
            pixels = page.asarray()
            tags = page.tags
            orientation = int(tags["Orientation"].value) if "Orientation" in tags else 1
            icc = bytes(tags["InterColorProfile"].value) if "InterColorProfile" in tags else None
            separate = pixels.ndim == 3 and page.axes.startswith("S")
    except PixelLimitError:
        raise
    except (ValueError, KeyError, NotImplementedError):  # e.g. a codec tifffile lacks: let Pillow try
        return None
    pixels = np.moveaxis(pixels, 0, -1) if separate else pixels
    pixels, white = tiff_scale(pixels.reshape(*pixels.shape[:2], -1))
    return pixels, white, orientation, icc, pages


def write_tiff16(handle, pixels: np.ndarray, icc: bytes | None) -> None:
    channels = pixels.shape[2]
    tifffile.imwrite(
        handle, pixels if channels > 1 else pixels[:, :, 0],
        photometric="minisblack" if channels <= 2 else "rgb",
        extrasamples=["unassalpha"] if channels in (2, 4) else None,
        planarconfig="contig" if channels > 1 else None, compression="zlib", iccprofile=icc,
    )
