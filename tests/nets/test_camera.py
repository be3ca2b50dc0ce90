"""CameraJpegGenerator: the recommended design's G, standalone; its state keeps the names and
shapes checkpoints of earlier versions hold."""
import pytest
import torch

from cyclesr.nets import CameraJpegGenerator
from cyclesr.nets.camera import (blur, blur_each, blur_kernel, fit_spectra, gaussian_kernel, sharpen_kernel,
                                 start_kernel)
from cyclesr.ops.spectrum import kernel_response


def test_state_names_and_shapes():
    G = CameraJpegGenerator(kernel_size=5)
    assert {k: tuple(v.shape) for k, v in G.state_dict().items()} == {
        "kernel_param": (5, 5), "mix": (3, 3), "beta": (3,), "alpha": (3,), "spread": (),
        "jpeg_quality": (2,)}


def test_starts_as_a_near_delta_blur_with_small_noise():
    torch.manual_seed(0)
    G = CameraJpegGenerator(kernel_size=3, start_amplitude=0.0)
    x = torch.rand(2, 3, 12, 13)
    with torch.no_grad():
        assert float(G.kernel()[1, 1]) > 0.9 and float(G.kernel().sum()) == pytest.approx(1.0)
        assert torch.allclose(G(x), x, atol=0.15)  # blur only: no noise at amplitude 0
        assert torch.equal(G(x), blur(x, G.kernel()).clamp(0, 1))


def test_noise_follows_level_and_spread_and_gradients_reach_every_parameter():
    torch.manual_seed(0)
    G = CameraJpegGenerator(kernel_size=3, start_amplitude=0.05)
    x = torch.full((4, 3, 32, 32), 0.5)
    noise = G(x) - blur(x, G.kernel())
    assert 0.03 < float(noise.detach().std()) < 0.07
    G(x).square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in G.parameters())


def test_kernel_helpers():
    with pytest.raises(ValueError, match="odd"):
        start_kernel(4)
    k = blur_kernel(torch.randn(5, 5))
    assert float(k.sum()) == pytest.approx(1.0) and bool((k >= 0).all())


def test_rgb_only_and_no_ignored_arguments():
    with pytest.raises(ValueError, match="output_nc"):
        CameraJpegGenerator(input_nc=1, output_nc=1)
    with pytest.raises(TypeError):
        CameraJpegGenerator(ngf=16)  # ResnetGenerator's keys are not taken (and not ignored)


def _natural(n: int, size: int, seed: int) -> torch.Tensor:
    """Images with a photo-like 1/f amplitude spectrum (random phases), around mid-gray."""
    g = torch.Generator().manual_seed(seed)
    f = torch.fft.fftfreq(size)
    radius = torch.sqrt(f.view(-1, 1) ** 2 + f.view(1, -1) ** 2).clamp_min(1 / size)
    image = torch.fft.ifft2(torch.randn(n, 3, size, size, dtype=torch.complex64, generator=g) / radius).real
    image = image - image.mean(dim=(-2, -1), keepdim=True)
    return (0.5 + 0.12 * image / image.std(dim=(-2, -1), keepdim=True)).clamp(0, 1)


def test_sharpening_is_optional_sums_to_one_and_boosts_mid_frequencies():
    assert not CameraJpegGenerator().sharpens and CameraJpegGenerator().sharpening() is None
    G = CameraJpegGenerator(sharpen=True)
    assert {"sharpen_amount", "sharpen_log_radius"} <= set(G.state_dict())
    k = sharpen_kernel(torch.tensor(0.5), torch.tensor(1.0))
    assert float(k.sum()) == pytest.approx(1.0) and float(k.min()) < 0  # negative lobes: halos
    response = kernel_response(k.double(), 32, 16)
    assert float(response[0]) == pytest.approx(1.0, abs=0.02) and float(response[8]) > 1.5
    with torch.no_grad():  # amount 0 at start: the same output as a generator without sharpening
        x = torch.rand(2, 3, 16, 16)
        plain = CameraJpegGenerator(start_amplitude=0.0)
        sharp = CameraJpegGenerator(start_amplitude=0.0, sharpen=True)
        assert torch.allclose(plain(x), sharp(x), atol=1e-6)


def test_spectral_fit_recovers_a_known_degradation_from_unpaired_images():
    """Real LR = a known blur, noise and sharpening applied to one set of photo-like images;
    clean LR = another set: the fitted degradation has the known one's spectrum."""
    torch.manual_seed(0)
    truth = CameraJpegGenerator(sharpen=True)
    truth.start_from({"blur_sigma": 0.8, "sharpen_amount": 0.6, "sharpen_radius": 1.0, "noise_std": 0.01})
    with torch.no_grad():
        real = list(truth(_natural(8, 64, 1)))
    fit = fit_spectra(real, list(_natural(8, 64, 2)), 5, sharpen=True, steps=150)
    assert 0.65 < fit["blur_sigma"] < 1.0 and fit["residual_db"] < 1.0
    assert 0.005 < fit["noise_std"] < 0.02

    def response(sigma, amount, radius):
        k = gaussian_kernel(torch.tensor(sigma, dtype=torch.float64), 5)
        s = sharpen_kernel(torch.tensor(amount, dtype=torch.float64), torch.tensor(radius, dtype=torch.float64))
        return kernel_response(k, 32, 16) * kernel_response(s, 32, 16)
    found = response(fit["blur_sigma"], fit["sharpen_amount"], fit["sharpen_radius"])
    known = response(0.8, 0.6, 1.0)
    band = slice(1, 12)  # up to 0.36 cycles/pixel: beyond, the noise floor hides the kernels
    assert float((10 * (found[band] / known[band]).log10()).abs().max()) < 1.0  # dB


def test_calibrate_starts_from_the_fit_only_when_asked_and_given_clean_images():
    real, clean = list(_natural(4, 64, 1)), list(_natural(4, 64, 2))
    G = CameraJpegGenerator(sharpen=True)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    assert G.calibrate(real, clean)["spectral"] is None  # spectral_fit off: JPEG only
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    G = CameraJpegGenerator(sharpen=True, spectral_fit=True)
    assert G.calibrate(real)["spectral"] is None  # no clean images: nothing to compare with
    found = G.calibrate(real, clean)["spectral"]
    assert found is not None
    assert float(G.beta[0].detach()) == pytest.approx(found["noise_std"])
    assert float(G.kernel().detach()[2, 2]) < 0.9  # a Gaussian of the fitted width, not the near-delta start


def test_random_sharpening_and_noise_vary_per_image():
    torch.manual_seed(0)
    x = torch.full((6, 3, 24, 24), 0.5)
    x[..., 12:] = 0.7  # an edge: sharpening overshoots it, by a different amount per image
    G = CameraJpegGenerator(start_amplitude=0.0, random_sharpen=0.8)
    with torch.no_grad():
        y = G(x)
    overshoot = y[:, 0, :, 12:15].amax(dim=(-2, -1)) - 0.7
    assert float(overshoot.max()) > 0.01 and float(overshoot.max() - overshoot.min()) > 0.005
    G = CameraJpegGenerator(start_amplitude=0.05, random_noise=True)
    with torch.no_grad():
        noise = (G(x) - blur(x, G.kernel())).std(dim=(1, 2, 3))
    assert float(noise.max()) < 0.05 * 3 ** 0.5 + 0.005 and float(noise.max() / noise.min()) > 1.5
    # the learned level is the RMS over images: the drawn levels keep the measured noise power
    with torch.no_grad():
        many = (G(x.repeat(100, 1, 1, 1)) - blur(x.repeat(100, 1, 1, 1), G.kernel())).square().mean()
    assert float(many.sqrt()) == pytest.approx(0.05, rel=0.1)
    with pytest.raises(ValueError, match="random_sharpen"):
        CameraJpegGenerator(random_sharpen=-1)


def test_a_gaussian_kernel_raised_to_a_power_is_the_narrower_gaussian():
    G = CameraJpegGenerator()
    G.start_from({"blur_sigma": 0.8, "noise_std": 0.0})
    narrow = torch.tensor([1.0, 0.75, 0.4])
    kernels = blur_kernel(G.kernel_param.detach(), narrow.pow(-2))
    assert kernels.shape == (3, 5, 5)
    assert torch.allclose(kernels[0], G.kernel().detach(), atol=1e-6)
    assert torch.allclose(kernels, gaussian_kernel(0.8 * narrow, 5), atol=1e-5)


def test_random_blur_draws_each_images_sigma_up_to_the_kernels():
    torch.manual_seed(0)
    x = torch.full((8, 3, 24, 24), 0.5)
    x[..., 12:] = 0.7
    G = CameraJpegGenerator(start_amplitude=0.0, random_blur=0.6)
    G.start_from({"blur_sigma": 1.0, "noise_std": 0.0})
    with torch.no_grad():
        y = G(x)
        full = blur(x, G.kernel())
    step = y[:, 0, 12, 12] - y[:, 0, 12, 11]  # the edge's steepest step: larger when less blurred
    assert float(step.min()) >= float((full[:, 0, 12, 12] - full[:, 0, 12, 11]).min()) - 1e-6
    assert float(step.max() - step.min()) > 0.005  # a different blur per image
    G.random_blur = 0.0
    with torch.no_grad():
        assert torch.allclose(G(x), full, atol=1e-6)  # off: the kernel itself
    with pytest.raises(ValueError, match="random_blur"):
        CameraJpegGenerator(random_blur=1.0)


def test_blur_each_matches_blur_per_image():
    x = torch.rand(3, 3, 10, 11)
    kernels = torch.stack([sharpen_kernel(torch.tensor(a), torch.tensor(1.0)) for a in (0.0, 0.5, 1.0)])
    each = blur_each(x, kernels)
    assert all(torch.allclose(each[i:i + 1], blur(x[i:i + 1], kernels[i]), atol=1e-6) for i in range(3))


def test_images_too_small_for_a_spectrum_keep_the_default_start():
    G = CameraJpegGenerator(spectral_fit=True)
    before = G.kernel().detach().clone()
    with pytest.warns(UserWarning, match="default blur"):
        assert G.calibrate([torch.rand(3, 20, 20)] * 2, [torch.rand(3, 20, 20)] * 2)["spectral"] is None
    assert torch.equal(G.kernel().detach(), before)


def test_a_kept_generator_says_the_run_stays_on_the_default_start():
    G = CameraJpegGenerator(spectral_fit=True)
    with pytest.warns(UserWarning, match=r"cyc_lr: 0.*almost bicubic pairs.*at least 32x32"):
        assert G.calibrate([torch.rand(3, 20, 20)] * 2, [torch.rand(3, 20, 20)] * 2, kept=True)["spectral"] is None
