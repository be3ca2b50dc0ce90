"""16-bit PNG support that Pillow lacks: reading and writing 16-bit colour (and gray+alpha).

Pillow decodes 16-bit RGB(A) PNGs to 8 bits by keeping the high byte of each sample. Its
decoder does the hard part (inflate, un-filtering, interlacing) correctly, so we decode the
file twice: once as usual (high bytes) and once with the little-endian raw mode, which makes
the same unpacker pick the low bytes. The two passes give the exact 16-bit values.
(16-bit gray+alpha, which Pillow cannot load at all, is decoded raw in a single pass.)

Every open goes through ``pixel_limit.open_image``, so the pixel limit is checked before
anything is decoded.

Writing is simple enough to do directly: filter each row, deflate, and wrap in chunks.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from cyclesr.data.pixel_limit import open_image

__all__ = ["encode_png", "needs_png16_reader", "read_png16", "tile_rawmode"]

_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (gray, gray+alpha, RGB, RGBA)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tile_rawmode(im: Image.Image) -> str:
    """The raw (file) mode of an opened, unloaded Pillow image, e.g. "RGB;16B"; "" if unknown."""
    if not im.tile:
        return ""
    args = im.tile[0][3]
    return args if isinstance(args, str) else str(args[0]) if args else ""


def needs_png16_reader(im: Image.Image) -> bool:
    """True for an opened, unloaded PNG whose 16-bit samples Pillow would truncate or reject
    (16-bit RGB, RGBA, gray+alpha; 16-bit gray alone Pillow reads fine as mode I;16)."""
    return im.format == "PNG" and tile_rawmode(im) in ("RGB;16B", "RGBA;16B", "LA;16B")


def _decode_with_rawmode(path: str | Path, rawmode: str) -> np.ndarray:
    with open_image(path) as im:
        im.tile = [_with_rawmode(tile, rawmode) for tile in im.tile]
        im.load()
        return np.asarray(im)


def _with_rawmode(tile, rawmode: str):
    args = tile[3]
    args = rawmode if isinstance(args, str) else (rawmode, *args[1:])
    return tile._replace(args=args) if hasattr(tile, "_replace") else (*tile[:3], args)


def read_png16(path: str | Path) -> np.ndarray:
    """Decode a PNG for which `needs_png16_reader` is true; returns (H, W, C) uint16, C = 2, 3 or 4."""
    with open_image(path) as im:
        rawmode = tile_rawmode(im)
    if rawmode == "LA;16B":
        # Pillow opens these as RGBA but has no unpacker for them. Four 8-bit channels hold
        # exactly the four bytes of one gray+alpha pixel (same bytes per pixel, so the same
        # un-filtering): decode them raw and join the byte pairs.
        raw = _decode_with_rawmode(path, "RGBA").astype(np.uint16)
        return np.stack([(raw[..., 0] << 8) | raw[..., 1], (raw[..., 2] << 8) | raw[..., 3]], axis=-1)
    high = _decode_with_rawmode(path, rawmode).astype(np.uint16)
    low = _decode_with_rawmode(path, rawmode.replace(";16B", ";16L")).astype(np.uint16)
    return (high << 8) | low


def _filter_rows(data: np.ndarray, bpp: int, filter_type: int) -> np.ndarray:
    """Apply one PNG filter to every row of `data` (H, row_bytes uint8); returns the filtered bytes."""
    x = data.astype(np.int16)
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    up = np.zeros_like(x)
    up[1:] = x[:-1]
    if filter_type == 0:
        pred = np.zeros_like(x)
    elif filter_type == 1:
        pred = left
    elif filter_type == 2:
        pred = up
    elif filter_type == 3:
        pred = (left + up) // 2
    elif filter_type == 4:
        up_left = np.zeros_like(x)
        up_left[1:, bpp:] = x[:-1, :-bpp]
        p = left + up - up_left
        pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - up_left)
        pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
    else:
        raise ValueError(f"PNG filter type must be 0-4, got {filter_type}")
    return ((x - pred) % 256).astype(np.uint8)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def encode_png(
    pixels: np.ndarray, icc: bytes | None = None, exif: bytes | None = None, filter_type: int = 4
) -> bytes:
    """Encode (H, W) or (H, W, C) uint8/uint16 pixels (C = 1-4: gray, gray+alpha, RGB, RGBA) as PNG bytes."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    height, width, channels = pixels.shape
    if channels not in _COLOR_TYPES or pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"cannot encode PNG from array {pixels.shape} {pixels.dtype}")
    bit_depth = pixels.dtype.itemsize * 8
    raw = np.ascontiguousarray(pixels, dtype=">u2" if bit_depth == 16 else np.uint8)
    rows = raw.view(np.uint8).reshape(height, width * channels * raw.itemsize)
    filtered = _filter_rows(rows, bpp=channels * raw.itemsize, filter_type=filter_type)
    stream = np.concatenate([np.full((height, 1), filter_type, np.uint8), filtered], axis=1)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, _COLOR_TYPES[channels], 0, 0, 0)
    parts = [_PNG_SIGNATURE, _chunk(b"IHDR", header)]
    if icc:
        parts.append(_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    if exif:
        parts.append(_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    parts += [_chunk(b"IDAT", zlib.compress(stream.tobytes(), 6)), _chunk(b"IEND", b"")]
    return b"".join(parts)
