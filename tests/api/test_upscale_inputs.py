"""`cyclesr upscale` and the API on every image kind a user has: RGBA, 16-bit, gray, palette,
CMYK, EXIF orientation, tiny and odd sizes, and folders with broken files."""
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

import cyclesr
from cyclesr.cli import main
from cyclesr.data.io import read_image
from cyclesr.data.png16 import encode_png

REAL_INPUTS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real-world" / "realesrgan-inputs"
ORIENTATION = 0x0112



@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return tiny_model_dir


def _rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _alpha_ramp(h, w, top_opaque=True):
    ramp = np.linspace(255, 0, h) if top_opaque else np.linspace(0, 255, h)
    return np.repeat(ramp[:, None], w, axis=1).round().astype(np.uint8)


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif.tobytes()


def make_inputs(folder: Path) -> dict[str, tuple[int, int]]:
    """Write one file per image kind; returns name -> (width, height) as displayed."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.dstack([_rgb(12, 10), _alpha_ramp(12, 10)])).save(folder / "rgba.png")
    rgba16 = np.random.default_rng(1).integers(0, 65536, (9, 11, 4), dtype=np.uint16)
    (folder / "rgba16.png").write_bytes(encode_png(rgba16))
    Image.fromarray(np.random.default_rng(2).integers(0, 65536, (8, 6), dtype=np.uint16)).save(folder / "gray16.png")
    tifffile.imwrite(folder / "rgb16.tif", np.random.default_rng(3).integers(0, 65536, (7, 9, 3), dtype=np.uint16),
                     photometric="rgb")
    Image.fromarray(_rgb(10, 8)).convert("L").save(folder / "gray.png")
    Image.fromarray(_rgb(10, 8)).convert("LA").save(folder / "gray_alpha.png")
    Image.fromarray(_rgb(11, 9)).quantize(6).save(folder / "palette.png", transparency=0)
    Image.fromarray(_rgb(12, 12)).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(_rgb(6, 10)).save(folder / "rotated.jpg", exif=_exif(6))  # displayed 6 wide, 10 high
    Image.fromarray(_rgb(5, 3)).save(folder / "tiny.png")
    Image.fromarray(_rgb(1, 1)).save(folder / "one_pixel.png")
    Image.fromarray(_rgb(13, 17)).save(folder / "odd.bmp")
    Image.fromarray(_rgb(10, 12)).save(folder / "photo.webp", lossless=True)
    return {"rgba.png": (10, 12), "rgba16.png": (11, 9), "gray16.png": (6, 8), "rgb16.tif": (9, 7),
            "gray.png": (8, 10), "gray_alpha.png": (8, 10), "palette.png": (9, 11), "cmyk.jpg": (12, 12),
            "rotated.jpg": (6, 10), "tiny.png": (3, 5), "one_pixel.png": (1, 1), "odd.bmp": (17, 13),
            "photo.webp": (12, 10)}


def make_broken(folder: Path) -> dict[str, str]:
    """Broken files; returns name -> a word the error line must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.png").write_bytes(b"")
    good = folder / "_good.png"
    Image.fromarray(_rgb(32, 32)).save(good)
    data = good.read_bytes()
    good.unlink()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "garbage.png").write_bytes(data[:40] + bytes(200))
    (folder / "notes.jpg").write_text("this is not an image\n")
    return {"empty.png": "empty", "truncated.png": "truncated.png", "garbage.png": "garbage.png",
            "notes.jpg": "notes.jpg"}


def _png_bit_depth(path: Path) -> int:
    return path.read_bytes()[24]  # IHDR: signature (8) + length (4) + type (4) + w, h (8)


def test_every_image_kind_and_broken_files_in_one_folder(tmp_path, model_dir, capsys):
    sizes = make_inputs(tmp_path / "in")
    broken = make_broken(tmp_path / "in" / "bad")
    rc = main(["upscale", "--checkpoint", str(model_dir), str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert rc == 1  # some files failed
    err_lines = [line for line in err.splitlines() if line.strip()]
    for name, word in broken.items():  # one clear line per bad file, naming it and why
        lines = [line for line in err_lines if name in line]
        assert len(lines) == 1, (name, err)
        assert word in lines[0] and lines[0].startswith("error: ")
    assert any("empty file (0 bytes)" in line for line in err_lines)
    assert f"{len(sizes)} upscaled, {len(broken)} failed" in out

    res = tmp_path / "out"
    for name, (w, h) in sizes.items():  # every good file, upscaled x2 in display orientation
        assert read_image(res / name).rgb.shape[-2:] == (2 * h, 2 * w), name
    assert Image.open(res / "rgba.png").mode == "RGBA"
    alpha = np.asarray(Image.open(res / "rgba.png"))[..., 3].astype(float)
    assert alpha[:4].mean() > 200 and alpha[-4:].mean() < 55  # the ramp survives, upscaled
    assert _png_bit_depth(res / "rgba16.png") == 16 and read_image(res / "rgba16.png").alpha is not None
    assert Image.open(res / "gray16.png").mode in ("I;16", "I") and _png_bit_depth(res / "gray16.png") == 16
    assert tifffile.imread(res / "rgb16.tif").dtype == np.uint16
    assert Image.open(res / "gray.png").mode == "L"
    assert Image.open(res / "gray_alpha.png").mode == "LA"
    assert Image.open(res / "palette.png").mode == "RGBA"  # palette with transparency
    assert Image.open(res / "cmyk.jpg").mode == "RGB"
    rotated = Image.open(res / "rotated.jpg")
    assert rotated.size == (12, 20) and rotated.getexif().get(ORIENTATION, 1) == 1


def test_exif_orientation_gives_the_upright_result(tmp_path, model_dir):
    pixels = np.dstack([_rgb(6, 10, seed=5), _alpha_ramp(6, 10)])
    (tmp_path / "in").mkdir()
    Image.fromarray(pixels).save(tmp_path / "in" / "tagged.png", exif=_exif(6))
    upright = np.rot90(pixels, -1)  # orientation 6: rotate 90 degrees clockwise to display
    Image.fromarray(np.ascontiguousarray(upright)).save(tmp_path / "in" / "upright.png")
    assert main(["upscale", "--checkpoint", str(model_dir), str(tmp_path / "in"), "-o", str(tmp_path / "out")]) == 0
    tagged = np.asarray(Image.open(tmp_path / "out" / "tagged.png"))
    assert tagged.shape == (20, 12, 4)
    assert np.array_equal(tagged, np.asarray(Image.open(tmp_path / "out" / "upright.png")))


@pytest.mark.parametrize("options, size", [
    (["--outscale", "3"], (39, 51)), (["--outscale", "1.5"], (20, 26)), (["--outscale", "0.5"], (6, 8)),
    (["--tta"], (26, 34)), (["--color-fix"], (26, 34)), (["--tile", "4", "--tile-pad", "2"], (26, 34)),
])
def test_options_give_the_asked_size(tmp_path, model_dir, options, size):
    (tmp_path / "in").mkdir()
    Image.fromarray(_rgb(13, 17)).save(tmp_path / "in" / "odd.png")
    Image.fromarray(_rgb(3, 5)).save(tmp_path / "in" / "tiny.png")
    args = ["upscale", "--checkpoint", str(model_dir), str(tmp_path / "in"), "-o", str(tmp_path / "out")]
    assert main(args + options) == 0
    assert Image.open(tmp_path / "out" / "odd.png").size == (size[1], size[0])
    factor = float(options[1]) if options[0] == "--outscale" else 2
    assert Image.open(tmp_path / "out" / "tiny.png").size == (max(1, round(5 * factor)), max(1, round(3 * factor)))


def test_same_size_images_are_batched_with_identical_results(tmp_path, model_dir, monkeypatch):
    import cyclesr.api.model as api_model
    (tmp_path / "in").mkdir()
    for i in range(5):
        Image.fromarray(_rgb(9, 7, seed=i)).save(tmp_path / "in" / f"{i}.png")
    Image.fromarray(np.dstack([_rgb(9, 7), _alpha_ramp(9, 7)])).save(tmp_path / "in" / "5_alpha.png")
    calls = []
    real = api_model.upscale_image_pixels
    monkeypatch.setattr(api_model, "upscale_image_pixels",
                        lambda net, rgb, *a, **k: calls.append(rgb.shape[0]) or real(net, rgb, *a, **k))
    base = ["upscale", "--checkpoint", str(model_dir), str(tmp_path / "in")]
    assert main(base + ["-o", str(tmp_path / "batched")]) == 0
    assert calls == [5, 1]  # the five same-size RGB images together, the RGBA one alone
    calls.clear()
    assert main(base + ["-o", str(tmp_path / "single"), "--tile", "64"]) == 0  # a tile size: one by one
    assert calls == [1] * 6
    for i in range(5):
        a = np.asarray(Image.open(tmp_path / "batched" / f"{i}.png"))
        assert np.array_equal(a, np.asarray(Image.open(tmp_path / "single" / f"{i}.png")))


def test_color_fix_pulls_colours_back_to_the_input(model_dir):
    model = cyclesr.load(model_dir, device="cpu")
    with torch.no_grad():
        model.sr.tail[-1].bias.add_(0.4)  # a network with a strong colour cast
    image = Image.fromarray(np.full((16, 16, 3), (40, 120, 200), np.uint8))
    plain = np.asarray(model.upscale(image)).astype(float).mean((0, 1))
    fixed = np.asarray(model.upscale(image, color_fix=True)).astype(float).mean((0, 1))
    assert np.abs(fixed - [40, 120, 200]).max() < 3 < np.abs(plain - [40, 120, 200]).max()


def test_api_keeps_the_kind_of_image(model_dir):
    model = cyclesr.load(model_dir, device="cpu")
    gray16 = Image.fromarray(np.random.default_rng(0).integers(0, 65536, (8, 6), dtype=np.uint16))
    out = model.upscale(gray16, color_fix=True)  # colour fix: the input's levels, all 16 bits
    assert out.mode in ("I;16", "I") and out.size == (12, 16) and np.asarray(out).max() > 255
    assert model.upscale(Image.fromarray(_rgb(8, 6)).convert("L")).mode == "L"
    assert model.upscale(Image.fromarray(np.dstack([_rgb(8, 6), _alpha_ramp(8, 6)]))).mode == "RGBA"
    assert model.upscale(Image.fromarray(_rgb(8, 6)).convert("CMYK")).mode == "RGB"
    tagged = Image.open(_saved_with_exif(_rgb(4, 6)))
    assert model.upscale(tagged).size == (8, 12)  # orientation 6 applied: 4 wide, 6 high
    arr16 = np.random.default_rng(1).integers(0, 65536, (5, 3, 4), dtype=np.uint16)
    out16 = model.upscale(arr16, outscale=3)
    assert out16.dtype == np.uint16 and out16.shape == (15, 9, 4)
    gray_alpha = model.upscale(np.zeros((5, 3, 2), np.uint8))
    assert gray_alpha.shape == (10, 6, 2) and gray_alpha.dtype == np.uint8
    assert model.upscale(torch.rand(3, 3, 5), tta=True).shape == (3, 6, 10)


def _saved_with_exif(pixels: np.ndarray) -> Path:
    import io
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", exif=_exif(6))
    buf.seek(0)
    return buf


@pytest.mark.skipif(not REAL_INPUTS.is_dir(), reason=f"real test images not found at {REAL_INPUTS}")
def test_real_world_inputs(tmp_path, model_dir, capsys):
    rc = main(["upscale", "--checkpoint", str(model_dir), str(REAL_INPUTS), "-o", str(tmp_path)])
    assert rc == 0, capsys.readouterr().err
    for src in sorted(REAL_INPUTS.iterdir()):
        before, after = read_image(src), read_image(tmp_path / src.name)
        assert after.rgb.shape[-2:] == tuple(2 * s for s in before.rgb.shape[-2:]), src.name
        assert after.was_gray == before.was_gray, src.name
        assert (after.alpha is None) == (before.alpha is None), src.name
        if src.suffix == ".png":
            assert after.bit_depth == before.bit_depth, src.name
        if before.alpha is not None:  # alpha is resized, not invented: same mean coverage
            assert abs(float(after.alpha.mean() - before.alpha.mean())) < 0.01, src.name
    assert Image.open(tmp_path / "wolf_gray.jpg").mode == "L"
    assert _png_bit_depth(tmp_path / "tree_alpha_16bit.png") == 16


def test_training_data_accepts_every_kind(tmp_path):
    from cyclesr.data.datasets import UnpairedDataset
    make_inputs(tmp_path / "mixed")
    with pytest.warns(UserWarning):  # images smaller than the crop are skipped with a warning
        data = UnpairedDataset(tmp_path / "mixed", tmp_path / "mixed", crop_size=3, scale=2, length=8)
    for i in range(len(data)):
        item = data[i]
        assert item["hr"].shape == (3, 6, 6) and item["real_lr"].shape == (3, 3, 3)


def test_out_of_memory_on_one_file_is_reported_with_a_hint_and_the_others_go_on(tmp_path, model_dir,
                                                                                  monkeypatch, capsys):
    import cyclesr.api.model as api_model
    (tmp_path / "in").mkdir()
    Image.fromarray(_rgb(30, 20)).save(tmp_path / "in" / "big.png")
    Image.fromarray(_rgb(9, 7)).save(tmp_path / "in" / "small.png")
    real = api_model.upscale_image_pixels

    def fake(net, rgb, *a, **k):
        if rgb.shape[-2:] == (30, 20):
            raise MemoryError()
        return real(net, rgb, *a, **k)

    monkeypatch.setattr(api_model, "upscale_image_pixels", fake)
    rc = main(["upscale", "--checkpoint", str(model_dir), str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1 and (tmp_path / "out" / "small.png").is_file() and not (tmp_path / "out" / "big.png").exists()
    line = next(x for x in err.splitlines() if "big.png" in x)
    assert "not enough memory for a 40x60 output" in line and "--tile" in line and "--outscale" in line


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-2", "1e400"])
def test_outscale_that_is_not_a_positive_finite_number_is_one_line(tmp_path, model_dir, capsys, value):
    Image.fromarray(_rgb(9, 7)).save(tmp_path / "a.png")
    rc = main(["upscale", "--checkpoint", str(model_dir), str(tmp_path / "a.png"), "-o", str(tmp_path / "out"),
               "--outscale", value])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: outscale must be a positive finite number") and "\n" not in err


def _deep_file(root: Path, data: bytes, levels: int = 20) -> None:
    """A file under ``root`` whose path is longer than PATH_MAX (4096), made level by level
    through directory descriptors (a plain path that long cannot be opened)."""
    import os
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(levels):
            os.mkdir("d" * 250, dir_fd=fd)
            inner = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        out = os.open("deep.png", os.O_WRONLY | os.O_CREAT, dir_fd=fd)
        os.write(out, data)
        os.close(out)
    finally:
        os.close(fd)


def test_a_path_longer_than_path_max_is_one_line_and_the_others_go_on(tmp_path, model_dir, capsys):
    (tmp_path / "in").mkdir()
    Image.fromarray(_rgb(9, 7)).save(tmp_path / "in" / "ok.png")
    _deep_file(tmp_path / "in", (tmp_path / "in" / "ok.png").read_bytes())
    rc = main(["upscale", "--checkpoint", str(model_dir), str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert rc == 1 and (tmp_path / "out" / "ok.png").is_file()
    assert "1 upscaled, 1 failed" in captured.out and "Traceback" not in captured.err
    line = next(x for x in captured.err.splitlines() if "deep.png" in x)
    assert "File name too long" in line and "shorter path" in line


def test_a_png_named_jpg_is_written_as_jpeg_with_a_warning(tmp_path, model_dir):
    Image.fromarray(_rgb(9, 7)).save(tmp_path / "photo.jpg", format="PNG")
    with pytest.warns(UserWarning, match="photo.jpg holds PNG data.*written as JPEG"):
        rc = main(["upscale", "--checkpoint", str(model_dir), str(tmp_path / "photo.jpg"), "-o", str(tmp_path / "out")])
    assert rc == 0
    with Image.open(tmp_path / "out" / "photo.jpg") as im:
        assert im.format == "JPEG" and im.size == (14, 18)


@pytest.mark.parametrize("bits", [8, 16])
def test_cli_output_equals_the_api_float_result_rounded(tmp_path, model_dir, bits):
    """The CLI writes integer pixels streamed from the tiles; the API's float result, rounded,
    is the same image to within one level."""
    pixels = np.random.default_rng(3).integers(0, 2**bits, (40, 36, 3)).astype(np.uint8 if bits == 8 else np.uint16)
    (tmp_path / "a.png").write_bytes(encode_png(pixels))
    assert main(["upscale", "--checkpoint", str(model_dir), str(tmp_path / "a.png"), "-o", str(tmp_path / "out"),
                 "--tile", "16", "--tile-pad", "4"]) == 0
    model = cyclesr.load(model_dir, device="cpu")
    out, _ = model.upscale_rgb(read_image(tmp_path / "a.png").rgb, None, cyclesr.api.model.UpscaleOptions(tile=16, tile_pad=4))
    written = read_image(tmp_path / "out" / "a.png")
    assert written.bit_depth == bits
    assert (written.rgb - out).abs().max() <= 1 / (2**bits - 1) + 1e-6


def test_api_integer_kinds_take_the_streamed_path_and_match_the_float_one(model_dir):
    model = cyclesr.load(model_dir, device="cpu")
    options = cyclesr.api.model.UpscaleOptions(tile=8, tile_pad=4)
    for image, white in ((Image.fromarray(_rgb(20, 18)), 255),
                         (np.random.default_rng(2).integers(0, 65536, (20, 18, 3)).astype(np.uint16), 65535),
                         (Image.fromarray(_rgb(20, 18)).convert("LA"), 255)):
        result = np.asarray(model.upscale(image, options))
        rgb, alpha, kind = cyclesr.api.images.to_float(image)
        out, alpha_out = model.upscale_rgb(rgb, alpha, options)
        expected = np.asarray(cyclesr.api.images.from_float(out, alpha_out, kind))
        assert result.dtype == expected.dtype and result.shape == expected.shape
        assert np.abs(result.astype(np.int64) - expected.astype(np.int64)).max() <= 1
        assert (result != expected).mean() < 0.02
