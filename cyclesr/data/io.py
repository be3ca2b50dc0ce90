"""Reading and writing image files: the edge where uint8/uint16, gray, palette, CMYK and alpha
images become the package's one convention (RGB float32 (3, H, W) in [0, 1]) and back.

Formats that cannot hold what is asked are written with what they can hold: JPEG and BMP drop
the alpha channel, and only PNG and TIFF keep 16 bits (other formats are written at 8 bits).

What reading does with the less common kinds (each said with an ``ImageWarning`` naming the file
where something is left out or surprising):

- every reader refuses an image above the pixel limit before decoding it (``pixel_limit.py``);
- integer TIFFs are scaled by their bit depth (16- and 32-bit, signed ones from 0 up); float
  TIFFs must hold values in [0, 1] (negative values are clipped to 0; values above 1, NaN or
  infinity are refused: scale such an image into [0, 1] or save it as 16-bit first); images of
  more than 8 bits are written back at 16 bits;
- animated GIF, PNG (APNG) and WebP, and multi-page TIFF: the first frame is read and a warning
  names the file and its frame count;
- a file whose content is another format than its extension says (a PNG named ``.jpg``) is read
  by its content, with a warning: outputs named after it get the format their name says.
"""

from __future__ import annotations

import os
import stat
import struct
import uuid
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cyclesr.data.pixel_limit import PixelLimitError, open_image
from cyclesr.data.png16 import encode_png, needs_png16_reader, read_png16
from cyclesr.data.tiff import ImageReadError, read_deep_tiff, tiff_scale, write_tiff16
from cyclesr.ops.color import gray as luma
from cyclesr.ops.files import TEMP_SUFFIX, temp_name_prefix
from cyclesr.ops.image import from_uint8, to_integer_array, to_uint8

__all__ = [
    "IMAGE_EXTS", "ImageReadError", "ImageWarning", "LoadedImage", "output_bit_depth", "integer_pixels", "list_images", "read_image", "load_rgb",
    "write_image", "save_rgb", "to_uint8", "from_uint8",
]

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF",
            ".tiff": "TIFF", ".webp": "WEBP"}
_ORIENTATION_TAG = 0x0112
_ANIMATED = ("GIF", "PNG", "WEBP", "TIFF")  # formats whose extra frames are content (not MPO previews)
# What Pillow raises on broken files; `tifffile.TiffFileError` is a ValueError.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error,
                  Image.DecompressionBombError)


class ImageWarning(UserWarning):
    """Reading an image left something out or found a surprise (extra frames, a format that is
    not the one its extension names)."""


@dataclass
class LoadedImage:
    """A decoded image. `rgb` is (3, H, W) float32 in [0, 1] (gray is replicated to 3 channels,
    `was_gray` remembers it); `alpha` is (1, H, W) float32 or None; `bit_depth` is 8 for 8-bit
    sources and 16 for deeper ones (16-, 32-bit and float: written back at 16 bits); `exif` has the orientation tag removed since it is applied."""

    rgb: torch.Tensor
    alpha: torch.Tensor | None
    bit_depth: int
    was_gray: bool
    fmt: str
    exif: bytes | None = None
    icc: bytes | None = None


def list_images(root: str | Path, recursive: bool = True) -> list[Path]:
    """Image files under `root` (by extension, case-insensitive), sorted. Folders are walked
    by file descriptor, so a file whose path is longer than the system's PATH_MAX is still
    listed (reading it then reports that one file) instead of failing the whole listing."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    if not recursive or not hasattr(os, "fwalk"):  # fwalk: POSIX only
        candidates = root.rglob("*") if recursive else root.iterdir()
        return sorted(p for p in candidates if p.suffix.lower() in IMAGE_EXTS and _is_file(p))
    found = []
    for folder, _, names, folder_fd in os.fwalk(root):
        for name in names:
            if os.path.splitext(name)[1].lower() in IMAGE_EXTS and _is_file_at(name, folder_fd):
                found.append(Path(folder) / name)
    return sorted(found)


def _is_file_at(name: str, folder_fd: int) -> bool:
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=folder_fd).st_mode)
    except OSError:  # a broken link
        return False


def _is_file(path: Path) -> bool:
    """``path.is_file()``; True when the system cannot even look (a path longer than PATH_MAX),
    so that reading it reports that one file."""
    try:
        return path.is_file()
    except OSError:
        return True


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an (H, W, C) array, as ImageOps.exif_transpose does."""
    ops = {
        2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(ops[orientation](pixels)) if orientation in ops else pixels


def _pil_pixels(im: Image.Image) -> tuple[np.ndarray, int, bool]:
    """Loaded Pillow image -> (H, W, C) array with C in 1-4 (alpha last), full-white value, was_gray."""
    mode = im.mode
    if mode == "F":  # 32-bit float (a TIFF tifffile could not read): [0, 1] as in _tiff_scale
        pixels, _ = tiff_scale(np.asarray(im)[:, :, None])
        return pixels, 1, True
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        gray = np.clip(np.asarray(im).astype(np.int64), 0, 65535).astype(np.uint16)
        if "transparency" in im.info:
            alpha = np.where(gray == im.info["transparency"], 0, 65535).astype(np.uint16)
            return np.stack([gray, alpha], axis=-1), 65535, True
        return gray[:, :, None], 65535, True
    if mode in ("1", "L", "LA", "La") or (mode == "P" and im.palette.mode in ("L", "LA")):
        target = "LA" if mode in ("LA", "La") or "transparency" in im.info else "L"
    elif mode in ("RGBA", "RGBa", "PA") or "transparency" in im.info or (
            mode == "P" and im.palette.mode == "RGBA"):
        target = "RGBA"
    else:  # RGB, P, CMYK, YCbCr, LAB, RGBX, ...
        target = "RGB"
    pixels = np.asarray(im if mode == target else im.convert(target))
    return pixels.reshape(*pixels.shape[:2], -1), 255, target.startswith("L")


def _metadata(im: Image.Image) -> tuple[int, bytes | None, bytes | None]:
    """(EXIF orientation, EXIF bytes without the orientation tag, ICC profile) of an open image."""
    if im.format == "PNG" and im.tile and "exif" not in im.info:
        return 1, None, im.info.get("icc_profile")  # its getexif() would decode the image again
    exif = im.getexif()
    orientation = exif.get(_ORIENTATION_TAG, 1)
    exif_bytes = None
    if "exif" in im.info:  # TIFF tags also show up in getexif(); only keep real EXIF blocks
        exif.pop(_ORIENTATION_TAG, None)
        exif_bytes = exif.tobytes()
    return orientation, exif_bytes, im.info.get("icc_profile")


def _warn_frames(path: Path, frames: int) -> None:
    if frames > 1:
        warnings.warn(f"{path} has {frames} frames (pages); only the first is used",
                      ImageWarning, stacklevel=4)


def _warn_format(path: Path, fmt: str) -> None:
    named = _FORMATS.get(path.suffix.lower())
    actual = "JPEG" if fmt == "MPO" else fmt  # MPO: a JPEG with extra pictures (camera previews)
    if named and actual and named != actual:
        warnings.warn(f"{path} holds {actual} data although its extension says {named}; it is read as "
                      f"{actual}, and outputs named after it are written as {named}", ImageWarning,
                      stacklevel=4)


def _decode(path: Path) -> tuple[np.ndarray, float, bool, str, bytes | None, bytes | None]:
    tiff = read_deep_tiff(path)
    if tiff is not None:
        pixels, white, orientation, icc, pages = tiff
        _warn_frames(path, pages)
        _warn_format(path, "TIFF")
        return _orient(pixels, orientation), white, pixels.shape[2] <= 2, "TIFF", None, icc
    with open_image(path) as im:
        fmt = im.format or ""
        _warn_frames(path, getattr(im, "n_frames", 1) if fmt in _ANIMATED else 1)
        _warn_format(path, fmt)
        if needs_png16_reader(im):
            pixels, white = read_png16(path), 65535.0
            was_gray = pixels.shape[2] <= 2
        else:
            im.load()  # full decode now, so truncated data fails here rather than later
            pixels, white, was_gray = _pil_pixels(im)
        orientation, exif, icc = _metadata(im)
    return _orient(pixels, orientation), float(white), was_gray, fmt, exif, icc


def read_image(path: str | Path) -> LoadedImage:
    """Decode any supported image file; raises ImageReadError naming the file if it cannot
    (over the pixel limit included: nothing is decoded then)."""
    path = Path(path)
    try:
        found = path.is_file()
    except OSError as err:  # e.g. ENAMETOOLONG
        raise ImageReadError(f"cannot read image {path}: {err.strerror or err} ({len(str(path))} "
                             "characters); move or rename it to a shorter path") from None
    if not found:
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        pixels, white, was_gray, fmt, exif, icc = _decode(path)
    except PixelLimitError as err:
        raise ImageReadError(f"cannot read image {err}") from None
    except ImageReadError as err:
        raise ImageReadError(f"cannot read image {path}: {err}") from err
    except MemoryError:
        raise ImageReadError(f"cannot read image {path}: not enough memory to decode it") from None
    except _DECODE_ERRORS as err:
        reason = "empty file (0 bytes)" if path.stat().st_size == 0 else f"{type(err).__name__}: {err}"
        raise ImageReadError(f"cannot read image {path}: {reason}") from err
    values = torch.from_numpy(np.divide(pixels, white, dtype=np.float32)).permute(2, 0, 1)
    color, alpha = (values[:-1], values[-1:]) if values.shape[0] in (2, 4) else (values, None)
    rgb = color.expand(3, -1, -1) if color.shape[0] == 1 else color
    return LoadedImage(
        rgb=rgb.contiguous(), alpha=None if alpha is None else alpha.contiguous(),
        bit_depth=8 if white == 255 else 16, was_gray=was_gray, fmt=fmt, exif=exif, icc=icc,
    )


def load_rgb(path: str | Path) -> torch.Tensor:
    """(3, H, W) float32 RGB in [0, 1]; alpha is dropped."""
    return read_image(path).rgb


_ROWS = 256  # rows converted at a time from integer pixels (small float buffers)


def output_bit_depth(path: str | Path, bit_depth: int) -> int:
    """The bits per sample ``write_image`` writes to ``path`` when asked for ``bit_depth``:
    16 only for PNG and TIFF."""
    return bit_depth if _FORMATS.get(Path(path).suffix.lower()) in ("PNG", "TIFF") else 8


def integer_pixels(pixels: np.ndarray, alpha: torch.Tensor | None, bit_depth: int,
                    gray: bool) -> np.ndarray:
    """(H, W, 3) uint8/uint16 RGB -> (H, W, C) at ``bit_depth``, a band of rows at a time (a
    large image is never copied to float whole)."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected (H, W, 3) uint8 or uint16 pixels, got {pixels.shape} {pixels.dtype}")
    white = 65535 if pixels.dtype == np.uint16 else 255
    if (bit_depth == 16) == (white == 65535) and not gray:
        out = pixels
    else:
        out = np.empty((*pixels.shape[:2], 1 if gray else 3), np.uint16 if bit_depth == 16 else np.uint8)
        for top in range(0, pixels.shape[0], _ROWS):
            band = torch.from_numpy(pixels[top:top + _ROWS].astype(np.float32) / white)
            band = luma(band.permute(2, 0, 1)).permute(1, 2, 0) if gray else band
            out[top:top + _ROWS] = to_integer_array(band.numpy(), bit_depth)
    if alpha is None:
        return out
    levels = to_integer_array(alpha.detach().float().cpu().reshape(*out.shape[:2], 1).numpy(), bit_depth)
    return np.concatenate([out, levels], axis=2)


def _to_pixels(rgb: torch.Tensor | np.ndarray, alpha: torch.Tensor | None, bit_depth: int,
               gray: bool) -> np.ndarray:
    """(3|1, H, W) float [0, 1], or (H, W, 3) uint8/uint16 pixels, -> (H, W, C) uint8/uint16
    array with C in 1-4."""
    if isinstance(rgb, np.ndarray):
        return integer_pixels(rgb, alpha, bit_depth, gray)
    rgb = rgb.detach().float().cpu()
    if rgb.dim() == 4 and rgb.shape[0] == 1:
        rgb = rgb[0]
    if rgb.dim() != 3 or rgb.shape[0] not in (1, 3):
        raise ValueError(f"expected an image tensor (3, H, W) or (1, H, W), got {tuple(rgb.shape)}")
    if gray and rgb.shape[0] == 3:  # full-range luma, as Pillow's convert("L")
        rgb = luma(rgb)
    elif not gray and rgb.shape[0] == 1:
        rgb = rgb.expand(3, -1, -1)
    channels = [rgb] if alpha is None else [rgb, alpha.detach().float().cpu().reshape(1, *rgb.shape[1:])]
    return to_integer_array(torch.cat(channels).permute(1, 2, 0).numpy(), bit_depth)


def _write_pil(handle, pixels: np.ndarray, fmt: str, quality: int, exif, icc) -> None:
    im = Image.fromarray(pixels if pixels.shape[2] > 1 else pixels[:, :, 0])
    if fmt in ("JPEG", "BMP") and im.mode in ("LA", "RGBA"):
        im = im.convert(im.mode[:-1])  # these formats cannot hold alpha: dropped
    if fmt == "WEBP" and im.mode in ("L", "LA"):
        im = im.convert("RGBA" if im.mode == "LA" else "RGB")
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    if fmt in ("JPEG", "PNG", "WEBP") and exif:
        options["exif"] = exif
    if fmt in ("JPEG", "PNG", "WEBP", "TIFF") and icc:
        options["icc_profile"] = icc
    im.save(handle, format=fmt, **options)


def write_image(
    path: str | Path, rgb: torch.Tensor | np.ndarray, alpha: torch.Tensor | None = None, bit_depth: int = 8,
    gray: bool = False, quality: int = 95, exif: bytes | None = None, icc: bytes | None = None,
) -> Path:
    """Write `rgb` ((3, H, W) float in [0, 1], or an (H, W, 3) uint8/uint16 array such as
    ``cyclesr.inference.upscale.upscale_image_pixels`` gives) in the format named by the extension.

    PNG and TIFF keep `bit_depth=16`; other formats are written at 8 bits. JPEG and BMP drop
    `alpha`. `gray=True` writes one luma channel. The file appears atomically (temporary
    file in the same folder, then rename); parent folders are created."""
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write {path}: unknown extension; use one of {sorted(IMAGE_EXTS)}")
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    bit_depth = bit_depth if fmt in ("PNG", "TIFF") else 8
    pixels = _to_pixels(rgb, alpha, bit_depth, gray)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{temp_name_prefix(path)}{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")  # ops.files
    try:
        with open(temp, "xb") as handle:
            if fmt == "PNG" and bit_depth == 16:
                handle.write(encode_png(pixels, icc=icc, exif=exif))
            elif fmt == "TIFF" and bit_depth == 16:
                write_tiff16(handle, pixels, icc)
            else:
                _write_pil(handle, pixels, fmt, quality, exif, icc)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def save_rgb(image: torch.Tensor, path: str | Path) -> Path:
    """Write an RGB image at 8 bits in the format named by the extension (see `write_image`)."""
    return write_image(path, image)
