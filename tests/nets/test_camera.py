"""CameraJpegGenerator: the recommended design's G, standalone; its state keeps the names and
shapes checkpoints of earlier versions hold."""
import pytest
import torch

from cyclesr.nets import CameraJpegGenerator
from cyclesr.nets.camera import blur, blur_kernel, start_kernel


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
