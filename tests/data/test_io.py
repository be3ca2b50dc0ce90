"""Image reading and writing: every mode, 16 bits, alpha, EXIF orientation, broken files."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image, ImageOps

from cyclesr.data.io import (
    ImageReadError, from_uint8, list_images, load_rgb, read_image, save_rgb, to_uint8, write_image,
)
from cyclesr.data.png16 import encode_png

REAL_INPUTS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real-world" / "realesrgan-inputs"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _rgb8(rng, h=12, w=10):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_list_images_sorted_recursive_and_filtered(tmp_path):
    for name in ["b.png", "a.JPG", "sub/c.tiff", "notes.txt", "sub/d.webp", "x.npy"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == [
        "a.JPG", "b.png", "sub/c.tiff", "sub/d.webp"]
    assert [p.name for p in list_images(tmp_path, recursive=False)] == ["a.JPG", "b.png"]
    with pytest.raises(FileNotFoundError, match="missing_folder"):
        list_images(tmp_path / "missing_folder")


def test_rgb_and_rgba_round_trip_exactly(tmp_path, rng):
    rgba = rng.integers(0, 256, (12, 10, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image.rgb.shape == (3, 12, 10) and image.rgb.dtype == torch.float32
    assert image.alpha.shape == (1, 12, 10) and image.bit_depth == 8 and not image.was_gray
    assert image.fmt == "PNG"
    assert np.array_equal(to_uint8(image.rgb).permute(1, 2, 0).numpy(), rgba[..., :3])
    assert np.array_equal(to_uint8(image.alpha)[0].numpy(), rgba[..., 3])


@pytest.mark.parametrize("mode", ["1", "L", "LA"])
def test_gray_modes_become_three_equal_channels(tmp_path, rng, mode):
    Image.fromarray(_rgb8(rng)).convert(mode).save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    assert image.rgb.shape == (3, 12, 10) and image.was_gray
    assert torch.equal(image.rgb[0], image.rgb[1]) and torch.equal(image.rgb[1], image.rgb[2])
    assert (image.alpha is not None) == (mode == "LA")


def test_palette_with_transparency_gives_alpha(tmp_path, rng):
    palette_image = Image.fromarray(_rgb8(rng)).quantize(8)
    transparent_index = int(np.asarray(palette_image)[0, 0])
    palette_image.save(tmp_path / "p.png", transparency=transparent_index)
    image = read_image(tmp_path / "p.png")
    expected = np.asarray(Image.open(tmp_path / "p.png").convert("RGBA"))
    assert image.alpha is not None and image.alpha[0, 0, 0] == 0
    assert np.array_equal(to_uint8(image.alpha)[0].numpy(), expected[..., 3])
    assert np.array_equal(to_uint8(image.rgb).permute(1, 2, 0).numpy(), expected[..., :3])


def test_cmyk_jpeg_reads_as_rgb(tmp_path, rng):
    Image.fromarray(_rgb8(rng)).convert("CMYK").save(tmp_path / "c.jpg")
    image = read_image(tmp_path / "c.jpg")
    expected = np.asarray(Image.open(tmp_path / "c.jpg").convert("RGB"))
    assert image.rgb.shape == (3, 12, 10) and image.alpha is None and image.fmt == "JPEG"
    assert np.array_equal(to_uint8(image.rgb).permute(1, 2, 0).numpy(), expected)


def test_16bit_gray_png_keeps_all_bits(tmp_path, rng):
    gray = rng.integers(0, 65536, (9, 7), dtype=np.uint16)
    Image.fromarray(gray).save(tmp_path / "g16.png")
    image = read_image(tmp_path / "g16.png")
    assert image.bit_depth == 16 and image.was_gray and image.alpha is None
    assert np.array_equal(np.rint(image.rgb[0].numpy() * 65535).astype(np.uint16), gray)


@pytest.mark.parametrize("channels", [2, 3, 4])
@pytest.mark.parametrize("filter_type", [0, 1, 2, 3, 4])
def test_16bit_color_png_keeps_all_bits(tmp_path, rng, channels, filter_type):
    pixels = rng.integers(0, 65536, (9, 7, channels), dtype=np.uint16)
    (tmp_path / "c16.png").write_bytes(encode_png(pixels, filter_type=filter_type))
    image = read_image(tmp_path / "c16.png")
    assert image.bit_depth == 16 and image.was_gray == (channels == 2)
    color = np.rint(image.rgb.numpy() * 65535).astype(np.uint16)
    assert np.array_equal(color[0], pixels[..., 0])
    if channels >= 3:
        assert np.array_equal(color.transpose(1, 2, 0), pixels[..., :3])
    assert (image.alpha is not None) == (channels in (2, 4))
    if image.alpha is not None:
        assert np.array_equal(np.rint(image.alpha[0].numpy() * 65535).astype(np.uint16), pixels[..., -1])


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_tiff_keeps_all_bits(tmp_path, rng, channels):
    pixels = rng.integers(0, 65536, (9, 7, channels), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "c16.tif", pixels, photometric="rgb",
                     extrasamples=["unassalpha"] if channels == 4 else None)
    image = read_image(tmp_path / "c16.tif")
    assert image.bit_depth == 16 and (image.alpha is not None) == (channels == 4)
    assert np.array_equal(np.rint(image.rgb.numpy() * 65535).astype(np.uint16).transpose(1, 2, 0),
                          pixels[..., :3])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, rng, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_rgb8(rng, 12, 8)).save(tmp_path / "o.jpg", exif=exif.tobytes(), quality=95)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.jpg")))
    image = read_image(tmp_path / "o.jpg")
    assert np.array_equal(to_uint8(image.rgb).permute(1, 2, 0).numpy(), expected)
    assert image.exif is not None
    reloaded = Image.Exif()
    reloaded.load(image.exif)
    assert 0x0112 not in reloaded  # applied, so not applied again when written back


@pytest.mark.parametrize("kind", ["zero-byte", "truncated-png", "truncated-jpeg", "garbage"])
def test_broken_files_raise_image_read_error_naming_the_file(tmp_path, rng, kind):
    if kind == "truncated-jpeg":
        Image.fromarray(_rgb8(rng, 64, 64)).save(tmp_path / "full.jpg", quality=90)
        data, name = (tmp_path / "full.jpg").read_bytes(), "broken_file.jpg"
    else:
        data, name = encode_png(_rgb8(rng, 64, 64)), "broken_file.png"
    content = {"zero-byte": b"", "garbage": b"not an image at all" * 10}.get(kind, data[: len(data) // 2])
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageReadError, match="broken_file"):
        read_image(tmp_path / name)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.png"):
        load_rgb(tmp_path / "nothing.png")


@pytest.mark.parametrize("ext", ["png", "tif"])
@pytest.mark.parametrize("gray", [False, True])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_write_16bit_keeps_16_bits(tmp_path, ext, gray, with_alpha):
    rgb = torch.rand(3, 9, 11)
    rgb = rgb.mean(0, keepdim=True).expand(3, -1, -1) if gray else rgb
    alpha = torch.rand(1, 9, 11) if with_alpha else None
    path = write_image(tmp_path / f"out.{ext}", rgb, alpha, bit_depth=16, gray=gray)
    image = read_image(path)
    assert image.bit_depth == 16 and image.was_gray == gray
    assert (image.rgb - rgb).abs().max() <= 0.5 / 65535 + 1e-6
    assert (image.alpha is not None) == with_alpha
    if with_alpha:
        assert (image.alpha - alpha).abs().max() <= 0.5 / 65535 + 1e-6


def test_write_8bit_formats(tmp_path):
    rgb, alpha = torch.rand(3, 16, 16), torch.rand(1, 16, 16)
    assert Image.open(write_image(tmp_path / "a.png", rgb, alpha)).mode == "RGBA"
    assert Image.open(write_image(tmp_path / "g.png", rgb, gray=True)).mode == "L"
    assert Image.open(write_image(tmp_path / "g16.png", rgb, gray=True, bit_depth=16)).mode == "I;16"
    jpeg = write_image(tmp_path / "deep/er/a.jpg", rgb, alpha, bit_depth=16)  # alpha and 16 bits dropped
    assert Image.open(jpeg).mode == "RGB" and read_image(jpeg).alpha is None
    assert Image.open(write_image(tmp_path / "a.webp", rgb, alpha)).mode == "RGBA"
    assert Image.open(write_image(tmp_path / "a.bmp", rgb)).mode == "RGB"
    exact = read_image(tmp_path / "a.png")
    assert torch.equal(to_uint8(exact.rgb), to_uint8(rgb))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["a.png", "g.png", "g16.png", "deep", "a.webp", "a.bmp"])  # no temporary files left
    with pytest.raises(ValueError, match="extension"):
        write_image(tmp_path / "a.gif", rgb)


def test_save_rgb_and_uint8_helpers(tmp_path):
    rgb = torch.rand(3, 5, 6)
    save_rgb(rgb, tmp_path / "s.png")
    assert torch.equal(to_uint8(load_rgb(tmp_path / "s.png")), to_uint8(rgb))
    values = torch.tensor([-0.2, 0.0, 0.5, 1.0, 1.3])
    assert to_uint8(values).tolist() == [0, 0, 128, 255, 255]
    assert torch.allclose(from_uint8(to_uint8(rgb)), rgb, atol=0.5 / 255 + 1e-7)


def test_icc_profile_is_kept(tmp_path, rng):
    icc = b"fake icc profile bytes"
    Image.fromarray(_rgb8(rng)).save(tmp_path / "icc.png", icc_profile=icc)
    image = read_image(tmp_path / "icc.png")
    assert image.icc == icc
    write_image(tmp_path / "copy16.png", image.rgb, bit_depth=16, icc=image.icc)
    assert read_image(tmp_path / "copy16.png").icc == icc


EXPECTED_REAL = {  # name: (has alpha, bit depth, gray)
    "00003.png": (False, 8, False), "00017_gray.png": (False, 8, True), "0014.jpg": (False, 8, False),
    "0030.jpg": (False, 8, False), "ADE_val_00000114.jpg": (False, 8, False),
    "OST_009.png": (False, 8, False), "children-alpha.png": (True, 8, False),
    "tree_alpha_16bit.png": (True, 16, False), "wolf_gray.jpg": (False, 8, True),
}


@pytest.mark.skipif(not REAL_INPUTS.is_dir(), reason="shared real-world inputs not available")
def test_real_world_inputs_load():
    paths = list_images(REAL_INPUTS)
    assert paths
    for path in paths:
        image = read_image(path)
        assert image.rgb.dim() == 3 and image.rgb.shape[0] == 3
        assert 0 <= image.rgb.min() and image.rgb.max() <= 1
        if path.name in EXPECTED_REAL:
            has_alpha, bit_depth, gray = EXPECTED_REAL[path.name]
            assert (image.alpha is not None, image.bit_depth, image.was_gray) == (has_alpha, bit_depth, gray), path
    tree = read_image(REAL_INPUTS / "tree_alpha_16bit.png")
    low_bytes = np.rint(tree.rgb.numpy() * 65535).astype(np.uint16) & 0xFF
    assert len(np.unique(low_bytes)) > 16  # real 16-bit data, not 8 bits scaled up
