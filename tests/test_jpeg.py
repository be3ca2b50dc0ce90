"""The differentiable JPEG round trip: close to Pillow's, and its quality can be learned."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from cyclesr.nets.degrader import CameraJpegGenerator
from cyclesr.nets.jpeg import jpeg_round_trip, quant_tables


def _texture(seed: int, size: int = 64) -> torch.Tensor:
    """Smooth colour gradients, an edge and fine texture: something JPEG has work on."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([0.5 + 0.3 * np.sin((c + 2) * (xx + yy) * 3.1) for c in range(3)])
    img[:, :, size // 3:] *= 0.6
    img += rng.normal(0, 0.06, (3, size, size))
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
    assert float(luma[0, 0, 0]) == pytest.approx(16.5) and float(chroma[0, 7, 7]) == pytest.approx(99.5)
    assert torch.all(luma[1] == 1) and torch.all(chroma[1] == 1)  # quality 100: no quantization left


def test_grid_offset_and_odd_sizes():
    x = _texture(2, 37)[:, :, :, :29]
    a = jpeg_round_trip(x, torch.tensor([40.0]))
    b = jpeg_round_trip(x, torch.tensor([40.0]), offset=(3, 5))
    assert a.shape == b.shape == x.shape
    assert not torch.allclose(a, b)  # the 8x8 grid moved
    with pytest.raises(ValueError, match="RGB"):
        jpeg_round_trip(x[:, :1], torch.tensor([40.0]))


def test_gradients_reach_image_and_quality():
    x = _texture(3, 32).requires_grad_(True)
    quality = torch.tensor([40.0], requires_grad=True)
    error = (jpeg_round_trip(x, quality) - x.detach()).square().mean()
    error.backward()
    assert float(x.grad.abs().sum()) > 0
    assert float(quality.grad) < 0  # higher quality, smaller error


def test_generator_learns_the_quality_of_real_jpeg():
    """Fit only the quality so that G's compression error matches Pillow's at quality 35 (noise
    off; G's grid lands anywhere, so compare error energies): it moves from 90 to about 35."""
    torch.manual_seed(0)
    x = _texture(4, 64)
    target = (_pillow(x, 35) - x).square().mean()
    G = CameraJpegGenerator(kernel_size=1, start_amplitude=0.0)
    with torch.no_grad():
        G.subsampling_param.fill_(1.0)  # 4:2:0, as Pillow writes
        G.half_width_param.fill_(-1.0)  # a fixed quality per step
    opt = torch.optim.Adam([G.quality_param], lr=0.01)
    for _ in range(150):
        opt.zero_grad()
        loss = ((G(x) - x).square().mean() / target).log().square()
        loss.backward()
        opt.step()
    with torch.no_grad():
        centre, half = G.quality_range()
    assert float(half) < 0.01
    assert 25 < float(centre) < 45


def test_generator_validates_its_arguments():
    with pytest.raises(ValueError, match="start_quality"):
        CameraJpegGenerator(start_quality=100)
    with pytest.raises(ValueError, match="output_nc"):
        CameraJpegGenerator(input_nc=1, output_nc=1)
