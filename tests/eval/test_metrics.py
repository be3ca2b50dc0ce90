import math
import time

import pytest
import torch
from skimage.metrics import structural_similarity

from cyclesr.eval import metrics


def smooth_image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Random but spatially structured (3, h, w) image in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8 + 2, w // 8 + 2, generator=g)
    img = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)[0]
    return (img + 0.05 * torch.rand(3, h, w, generator=g)).clamp(0, 1)


def test_rgb_to_y_known_colours():
    # one pixel per colour (white, black, red): channel rows R, G, B
    pixels = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]).view(3, 1, 3)
    y = metrics.rgb_to_y(pixels)
    expected = torch.tensor([235.0, 16.0, 16.0 + 65.481]) / 255
    assert torch.allclose(y.flatten(), expected, atol=1e-3 / 255)
    assert metrics.rgb_to_y(torch.rand(2, 3, 4, 5)).shape == (2, 1, 4, 5)


def test_quantize_rounds_to_uint8_levels():
    x = torch.tensor([0.0, 0.5 / 255 - 1e-4, 0.5 / 255 + 1e-4, 1.2, -0.3])
    assert torch.allclose(metrics.quantize(x) * 255, torch.tensor([0.0, 0.0, 1.0, 255.0, 0.0]))


def test_psnr_identical_is_inf():
    img = smooth_image(16, 16)
    assert metrics.psnr(img, img) == float("inf")
    assert metrics.psnr(img, img, y_channel=True) == float("inf")


def test_psnr_known_mse():
    hr = torch.full((3, 8, 8), 100 / 255)
    sr = hr + 10 / 255  # every pixel differs by 10 levels: MSE = 100
    assert metrics.psnr(sr, hr) == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-9)
    # y_channel: Y difference = 10 * (65.481 + 128.553 + 24.966) / 255 levels
    dy = 10 * 219.0 / 255
    assert metrics.psnr(sr, hr, y_channel=True) == pytest.approx(10 * math.log10(255**2 / dy**2), abs=1e-9)


def test_psnr_crop_border_ignores_edges():
    hr = smooth_image(20, 20)
    sr = hr.clone()
    sr[:, :2, :] = 1 - sr[:, :2, :]
    assert metrics.psnr(sr, hr, crop_border=2) == float("inf")
    assert metrics.psnr(sr, hr) < 30


def test_psnr_of_batch_is_mean_of_images():
    hr = torch.stack([smooth_image(16, 16, s) for s in range(2)])
    sr = (hr + 0.02 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    per_image = [metrics.psnr(s, h) for s, h in zip(sr, hr)]
    assert metrics.psnr(sr, hr) == pytest.approx(sum(per_image) / 2)


@pytest.mark.parametrize("y_channel", [True, False])
def test_ssim_matches_skimage(y_channel):
    hr = smooth_image(48, 40, seed=1)
    sr = (hr + 0.08 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    ours = metrics.ssim(sr, hr, y_channel=y_channel)

    def levels(img):
        q = metrics.quantize(img.double())
        q = metrics.rgb_to_y(q) if y_channel else q
        return (q * 255).permute(1, 2, 0).numpy()

    a, b = levels(sr), levels(hr)
    kwargs = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    if y_channel:
        ref = structural_similarity(a[..., 0], b[..., 0], **kwargs)
    else:
        ref = structural_similarity(a, b, channel_axis=2, **kwargs)
    assert 0.1 < ours < 0.99
    assert ours == pytest.approx(ref, abs=1e-4)
    assert metrics.ssim(hr, hr) == pytest.approx(1.0)


def shifted_pair(shift, noise=0.0):
    """hr and an sr whose content is hr's displaced by shift=(dy, dx), cut from one larger image."""
    big = smooth_image(80, 80, seed=4)
    dy, dx = shift
    hr = big[:, 10:70, 10:70]
    sr = big[:, 10 - dy : 70 - dy, 10 - dx : 70 - dx]  # sr[i + dy, j + dx] == hr[i, j]
    if noise:
        sr = (sr + noise * torch.randn(sr.shape, generator=torch.Generator().manual_seed(5))).clamp(0, 1)
    return sr, hr


@pytest.mark.parametrize("y_channel", [False, True])
def test_best_shift_finds_known_shift(y_channel):
    sr, hr = shifted_pair((3, -2))
    value, shift = metrics.best_shift_psnr(sr, hr, max_shift=5, crop_border=2, y_channel=y_channel)
    assert shift == (3, -2)
    assert value == float("inf")
    assert metrics.psnr(sr, hr, y_channel=y_channel) < 35


def test_best_shift_psnr_equals_aligned_comparison():
    sr, hr = shifted_pair((3, -2), noise=0.03)
    value, shift = metrics.best_shift_psnr(sr, hr, max_shift=4, crop_border=1)
    assert shift == (3, -2)
    aligned = metrics.psnr(sr[:, 3:, :-2], hr[:, :-3, 2:], crop_border=1)
    assert value == pytest.approx(aligned)


def test_best_shift_zero_shift_and_ties():
    img = smooth_image(30, 30)
    assert metrics.best_shift_psnr(img, img, max_shift=3) == (float("inf"), (0, 0))
    flat = torch.full((3, 20, 20), 0.5)  # every shift ties: the smallest must win
    assert metrics.best_shift_psnr(flat, flat, max_shift=2)[1] == (0, 0)


def test_best_shift_metrics_and_image_metrics():
    sr, hr = shifted_pair((-1, 2), noise=0.02)
    found = metrics.best_shift_metrics(sr, hr, max_shift=3, crop_border=2)
    assert found["shift"] == (-1, 2)
    scored = metrics.image_metrics(sr, hr, crop_border=2, max_shift=3)
    assert set(scored) == {"psnr_rgb", "psnr_y", "ssim_y"}
    assert scored["psnr_y"] == pytest.approx(found["psnr_y"])
    unshifted = metrics.image_metrics(sr, hr, crop_border=2)
    assert unshifted["psnr_y"] < scored["psnr_y"] - 5
    assert unshifted["ssim_y"] < scored["ssim_y"]


def test_image_metrics_crops_size_mismatch():
    hr = smooth_image(50, 50)
    sr = hr[:, :48, :48]  # SR of a 12x12 LR at x4 when the HR was 50x50
    scored = metrics.image_metrics(sr, hr, crop_border=4)
    assert scored["psnr_rgb"] == float("inf") and scored["ssim_y"] == pytest.approx(1.0)
    batch = metrics.image_metrics(sr.expand(2, -1, -1, -1), hr.expand(2, -1, -1, -1), crop_border=4)
    assert batch["psnr_y"] == float("inf")


def test_errors_are_loud():
    with pytest.raises(ValueError):
        metrics.psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 9))
    with pytest.raises(ValueError):
        metrics.ssim(torch.rand(3, 8, 8), torch.rand(3, 8, 8))  # smaller than the window
    with pytest.raises(ValueError):
        metrics.best_shift_psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 8), max_shift=4, crop_border=2)


def test_best_shift_is_fast_enough():
    hr = smooth_image(500, 500)
    sr = torch.roll(hr, (2, 1), dims=(1, 2))
    start = time.perf_counter()
    _, shift = metrics.best_shift_psnr(sr, hr, max_shift=10, crop_border=4, y_channel=True)
    assert shift == (2, 1)
    assert time.perf_counter() - start < 10


def test_vega_psnr_is_the_references_shift_window():
    """RGB, float: the SR image cropped by the offset slides over the HR image; the best
    position wins. A copy of HR displaced by (2, -1) scores inf at offset 3, not at 1."""
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(3, 30, 30, generator=g)
    sr = torch.roll(hr, shifts=(2, -1), dims=(1, 2))
    assert metrics.vega_psnr(sr, hr, 3) == float("inf")
    assert metrics.vega_psnr(sr, hr, 1) < 20
    noisy = (hr + 0.01 * torch.randn(hr.shape, generator=g)).clamp(0, 1)
    mse = float(((noisy - hr) ** 2).mean())
    assert metrics.vega_psnr(noisy, hr, 0) == pytest.approx(10 * math.log10(1 / mse), abs=1e-5)
    assert metrics.vega_psnr(noisy, hr, 2) >= metrics.vega_psnr(noisy[:, 2:-2, 2:-2], hr[:, 2:-2, 2:-2], 0) - 1e-9
    assert metrics.vega_psnr(hr + 5, hr.clamp(max=1) * 0 + 1, 0) == float("inf")  # SR clamped to [0, 1]
