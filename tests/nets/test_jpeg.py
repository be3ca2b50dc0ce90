"""JPEG in torch: the round trip is close to Pillow's, and the quality is read back from pixels."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from cyclesr.nets.camera import CameraJpegGenerator
from cyclesr.nets.jpeg import estimate_quality, jpeg_round_trip, quant_tables


def _texture(seed: int, size: int = 64, noise: float = 0.06) -> torch.Tensor:
    """Smooth colour gradients, an edge and fine texture: something JPEG has work on."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([0.5 + 0.3 * np.sin((c + 2) * (xx + yy) * 3.1) for c in range(3)])
    img[:, :, size // 3:] *= 0.6
    img += rng.normal(0, noise, (3, size, size))
    return torch.from_numpy(img.clip(0, 1)).float()[None]


def _pillow(x: torch.Tensor, quality: int) -> torch.Tensor:
    arr = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return torch.from_numpy(np.array(Image.open(buf).convert("RGB"))).permute(2, 0, 1)[None].float() / 255


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a - b).square().mean()))


@pytest.mark.parametrize("quality", [20, 50, 80])
def test_round_trip_is_close_to_pillow(quality):
    x = (_texture(0) * 255).round() / 255
    ours, pil = jpeg_round_trip(x, torch.tensor([float(quality)])), _pillow(x, quality)
    assert ours.shape == x.shape
    # the compression error is several dB larger than our difference from libjpeg
    assert _psnr(ours, pil) > _psnr(x, pil) + 6
    assert abs(_psnr(ours, x) - _psnr(pil, x)) < 1.0  # and about as large as libjpeg's


def test_quality_orders_the_error_and_tables_follow_libjpeg():
    x = _texture(1)
    errors = [_psnr(jpeg_round_trip(x, torch.tensor([q])), x) for q in (10.0, 30.0, 60.0, 95.0)]
    assert errors == sorted(errors)
    luma, chroma = quant_tables(torch.tensor([50.0, 100.0]))
    assert luma[0].flatten()[:4].tolist() == [16, 11, 10, 16] and float(chroma[0, 7, 7]) == 99
    assert torch.all(luma[1] == 1) and torch.all(chroma[1] == 1)  # quality 100: no quantization left


def test_grid_offset_and_odd_sizes():
    x = _texture(2, 37)[:, :, :, :29]
    a = jpeg_round_trip(x, torch.tensor([40.0]))
    b = jpeg_round_trip(x, torch.tensor([40.0]), offset=(3, 5))
    assert a.shape == b.shape == x.shape
    assert not torch.allclose(a, b)  # the 8x8 grid moved
    with pytest.raises(ValueError, match="RGB"):
        jpeg_round_trip(x[:, :1], torch.tensor([40.0]))


def test_gradient_reaches_the_image():
    x = _texture(3, 32).requires_grad_(True)
    jpeg_round_trip(x, torch.tensor([40.0])).square().mean().backward()
    assert float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("quality", [10, 30, 55, 75, 90])
def test_estimate_quality_reads_pillow_quality_through_noise_and_crops(quality):
    noisy = (_texture(5, 96) + torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(0)) * 0.04)
    decoded = _pillow(noisy.clamp(0, 1), quality)[0]
    assert estimate_quality(decoded)[0] == quality
    cropped = decoded[:, 3:, 5:]  # the grid no longer starts at the corner
    assert estimate_quality(cropped)[0] == quality


def test_estimate_quality_finds_no_jpeg_in_clean_noisy_or_tiny_images():
    x = _texture(6, 96)[0]
    assert estimate_quality(x)[0] is None
    noisy = (x + torch.randn(x.shape, generator=torch.Generator().manual_seed(1)) * 0.04).clamp(0, 1)
    assert estimate_quality(noisy)[0] is None
    # noise added after the JPEG hides it: what G would have to reproduce last is the noise
    after = (_pillow(x[None], 40)[0] + torch.randn(x.shape, generator=torch.Generator().manual_seed(2)) * 0.04)
    assert estimate_quality(after.clamp(0, 1))[0] is None
    assert estimate_quality(x[:, :12, :40]) == (None, 0.0)
    with pytest.raises(ValueError, match="RGB"):
        estimate_quality(x[None])


def test_generator_compresses_at_the_quality_measured_on_real_images():
    torch.manual_seed(0)
    real = [_pillow(_texture(10 + i, 64), q)[0] for i, q in enumerate((40, 50, 60, 45))]
    G = CameraJpegGenerator(kernel_size=3, start_amplitude=0.0)
    x = _texture(20, 64, noise=0.01)
    with torch.no_grad():
        assert torch.allclose(G(x), x, atol=0.02)  # before calibration: no JPEG (a near-delta blur)
        found = G.calibrate(real)
        assert found == {"images": 4, "compressed": 4, "qualities": [40, 50, 60, 45], "range": (40, 60),
                         "spectral": None}
        assert G.jpeg_quality.tolist() == [40.0, 60.0]
        errors = [_psnr(G(x), x) for _ in range(8)]
        assert _psnr(_pillow(x, 40), x) - 1 < min(errors) and max(errors) < _psnr(_pillow(x, 60), x) + 1
        assert max(errors) < _psnr(_pillow(x, 90), x) - 2  # not the near-lossless default
        G.load_state_dict(G.state_dict())  # the range travels with the weights
        # real images without JPEG: G stays CameraNoiseGenerator
        assert G.calibrate([_texture(30, 64)[0]] * 3)["range"] is None
        assert G.jpeg_quality.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="output_nc"):
        CameraJpegGenerator(input_nc=1, output_nc=1)
