"""Every image reader refuses a decompression bomb before decoding it, and the less common kinds
(float and 32-bit TIFFs, extra frames, a format other than the extension's) are read as the
io module says, with a warning where something is left out."""
import struct
import subprocess
import sys
import textwrap
import warnings
import zlib

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from cyclesr.data.io import ImageReadError, ImageWarning, read_image, write_image
from cyclesr.data.pixel_limit import ENV_VAR
from cyclesr.data.png16 import encode_png


def _bomb_tiff(path, side=60000):
    """A little-endian 16-bit gray TIFF of a few hundred bytes that declares side x side pixels
    (one deflated strip of zeros)."""
    strip = zlib.compress(b"\0" * 4096)
    tags = [(256, 4, side), (257, 4, side), (258, 3, 16), (259, 3, 8), (262, 3, 1),
            (273, 4, 0), (277, 3, 1), (278, 4, side), (279, 4, len(strip))]
    ifd_size = 2 + 12 * len(tags) + 4
    data_at = 8 + ifd_size
    ifd = struct.pack("<H", len(tags))
    for tag, kind, value in tags:
        value = data_at if tag == 273 else value
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, 1) + packed
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + strip)
    return path


_UNDER_MEMORY_LIMIT = textwrap.dedent("""
    import resource, sys
    from cyclesr.data.io import ImageReadError, read_image
    limit = 1536 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        read_image(sys.argv[1])
    except ImageReadError as err:
        print("refused:", err)
""")


def test_a_tiff_bomb_is_refused_before_decoding_under_a_memory_limit(tmp_path):
    bomb = _bomb_tiff(tmp_path / "bomb.tif")
    assert bomb.stat().st_size < 400
    run = subprocess.run([sys.executable, "-c", _UNDER_MEMORY_LIMIT, str(bomb)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "MemoryError" not in run.stderr and "Traceback" not in run.stderr
    line = run.stdout.strip()
    assert line.startswith("refused:") and "bomb.tif" in line and "60000x60000" in line
    assert ENV_VAR in line and line.count("\n") == 0


def test_the_limit_applies_to_pillow_and_the_16_bit_png_reader(tmp_path, monkeypatch):
    write_image(tmp_path / "rgb8.png", torch.rand(3, 20, 20))
    (tmp_path / "rgb16.png").write_bytes(encode_png(np.full((20, 20, 3), 40000, np.uint16)))
    tifffile.imwrite(tmp_path / "gray16.tif", np.full((20, 20), 40000, np.uint16))
    monkeypatch.setenv(ENV_VAR, "399")
    for name in ("rgb8.png", "rgb16.png", "gray16.tif"):
        with pytest.raises(ImageReadError, match=f"{name}: it declares 20x20 = 400 pixels.*{ENV_VAR}"):
            read_image(tmp_path / name)
    monkeypatch.setenv(ENV_VAR, "400")  # raising the limit lets the same files through
    assert read_image(tmp_path / "rgb16.png").rgb[0, 0, 0].item() == pytest.approx(40000 / 65535)


def test_raising_the_limit_also_lifts_pillows_own_check(tmp_path, monkeypatch):
    write_image(tmp_path / "a.png", torch.rand(3, 20, 20))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone would refuse 400 pixels
    assert read_image(tmp_path / "a.png").rgb.shape == (3, 20, 20)
    assert Image.MAX_IMAGE_PIXELS == 100  # and its setting is left as it was


def test_float_tiffs_in_0_1_are_read_as_they_are_and_written_back_at_16_bits(tmp_path):
    values = np.random.default_rng(0).random((12, 10, 3)).astype(np.float32)
    values[0, 0] = -0.25  # negatives are clipped to 0
    tifffile.imwrite(tmp_path / "f.tif", values, photometric="rgb")
    img = read_image(tmp_path / "f.tif")
    expected = torch.from_numpy(np.clip(values, 0, None)).permute(2, 0, 1)
    assert torch.allclose(img.rgb, expected) and img.bit_depth == 16
    assert img.rgb.mean() > 0.3  # the old reader made this image black


@pytest.mark.parametrize("bad, why", [(2.5, "values up to 2.5"), (np.nan, "NaN or infinite"),
                                      (np.inf, "NaN or infinite")])
def test_float_tiffs_outside_0_1_are_refused_naming_the_file(tmp_path, bad, why):
    values = np.full((8, 8), 0.5, np.float32)
    values[3, 3] = bad
    tifffile.imwrite(tmp_path / "f.tif", values)
    with pytest.raises(ImageReadError, match=f"f.tif.*{why}"):
        read_image(tmp_path / "f.tif")


def test_32_bit_integer_tiffs_are_scaled_by_their_bit_depth(tmp_path):
    tifffile.imwrite(tmp_path / "u32.tif", np.array([[0, 2**31, 2**32 - 1]], np.uint32))
    tifffile.imwrite(tmp_path / "i32.tif", np.array([[-5, 2**30, 2**31 - 1]], np.int32))
    assert read_image(tmp_path / "u32.tif").rgb[0, 0].tolist() == pytest.approx([0, 0.5, 1], abs=1e-6)
    assert read_image(tmp_path / "i32.tif").rgb[0, 0].tolist() == pytest.approx([0, 0.5, 1], abs=1e-6)


def _frames(n, size=(16, 12)):
    return [Image.new("RGB", size, (40 * i, 200 - 40 * i, 90)) for i in range(n)]


@pytest.mark.parametrize("name, options", [("anim.gif", {}), ("anim.png", {}), ("anim.webp", {"lossless": True})])
def test_animations_give_their_first_frame_and_a_warning_naming_the_file(tmp_path, name, options):
    first, *rest = _frames(3)
    first.save(tmp_path / name, save_all=True, append_images=rest, duration=100, **options)
    with pytest.warns(ImageWarning, match=f"{name} has 3 frames.*only the first"):
        img = read_image(tmp_path / name)
    assert (img.rgb[:, 0, 0] * 255).round().tolist() == pytest.approx([0, 200, 90], abs=2)


def test_multi_page_tiffs_of_each_reader_warn(tmp_path):
    tifffile.imwrite(tmp_path / "pages16.tif", np.zeros((3, 8, 8), np.uint16), photometric="minisblack")
    first, *rest = _frames(2)
    first.save(tmp_path / "pages8.tif", save_all=True, append_images=rest)
    with pytest.warns(ImageWarning, match="pages16.tif has 3 frames"):
        assert read_image(tmp_path / "pages16.tif").rgb.shape == (3, 8, 8)
    with pytest.warns(ImageWarning, match="pages8.tif has 2 frames"):
        read_image(tmp_path / "pages8.tif")


def test_single_frame_images_read_without_warnings(tmp_path):
    write_image(tmp_path / "a.png", torch.rand(3, 8, 8))
    write_image(tmp_path / "a.tif", torch.rand(3, 8, 8), bit_depth=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_image(tmp_path / "a.png")
        read_image(tmp_path / "a.tif")


def test_a_png_named_jpg_is_read_as_png_with_a_warning(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (10, 10, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.jpg", format="PNG")
    with pytest.warns(ImageWarning, match="photo.jpg holds PNG data.*written as JPEG"):
        img = read_image(tmp_path / "photo.jpg")
    assert img.fmt == "PNG" and (img.rgb * 255).round().permute(1, 2, 0).numpy().astype(np.uint8).tolist() == pixels.tolist()
