"""The lab's ablation generators (experiments/nets.py), loaded as lab configs name them: by file
path. They are not registered in the product; their parameters keep the names of the archived
runs' checkpoints."""
from pathlib import Path

import pytest
import torch

from cyclesr.config import load_config
from cyclesr.model import build_model
from cyclesr.nets import NETS, CameraJpegGenerator
from cyclesr.nets.registry import resolve_net

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "experiments" / "nets.py"
TINY = {
    "DegradationGenerator": dict(ngf=4, n_blocks=1),
    "PixelNoiseDegradationGenerator": dict(ngf=4, n_blocks=1),
    "WhiteNoiseDegradationGenerator": dict(ngf=4, n_blocks=1),
    "KernelNoiseGenerator": dict(ngf=4, n_blocks=1, kernel_size=3),
    "CameraNoiseGenerator": dict(kernel_size=3),
}


def lab(name: str):
    return resolve_net(f"{LAB}:{name}")


def test_lab_networks_are_not_product_networks():
    assert not set(TINY) & {n for n in NETS}


@pytest.mark.parametrize("name", sorted(TINY))
def test_forward_backward_and_no_ignored_arguments(name):
    torch.manual_seed(0)
    net = lab(name)(**TINY[name])
    x = torch.rand(2, 3, 19, 21, requires_grad=True)
    y = net(x)
    assert y.shape == x.shape and torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    y.mean().backward()
    assert torch.isfinite(x.grad).all()
    for resnet_only in ("up_mode", "n_downsampling"):
        with pytest.raises(TypeError):
            lab(name)(**{resnet_only: 0})


def test_camera_noise_generator_is_the_product_generator_without_jpeg():
    torch.manual_seed(0)
    ours = CameraJpegGenerator(kernel_size=3)
    theirs = lab("CameraNoiseGenerator")(kernel_size=3)
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(0.01 * torch.randn_like(p))
    state = {k: v for k, v in ours.state_dict().items() if k != "jpeg_quality"}
    theirs.load_state_dict(state)
    x = torch.rand(3, 3, 16, 17)
    torch.manual_seed(1)
    a = ours(x)
    torch.manual_seed(1)
    assert torch.equal(a, theirs(x))  # same parameters, same draws in the same order


def test_degradation_generator_starts_as_identity():
    G = lab("DegradationGenerator")(ngf=8, n_blocks=1)
    x = torch.rand(1, 3, 17, 23)
    assert torch.allclose(G(x), x)
    with pytest.raises(ValueError, match="input_nc"):
        lab("DegradationGenerator")(input_nc=1, output_nc=3)


def test_pixel_noise_generator_adds_white_noise():
    G = lab("PixelNoiseDegradationGenerator")(ngf=8, n_blocks=1)
    x = torch.full((1, 3, 64, 64), 0.5)
    assert torch.allclose(G(x), x)  # amplitude and residual start at zero
    with torch.no_grad():
        G.amplitude.bias.fill_(10 / 255)
        noise = (G(x) - x)[0]
    assert abs(float(noise.std()) * 255 - 10) < 1
    lag1 = float((noise[:, :, 1:] * noise[:, :, :-1]).mean() / noise.var())
    assert abs(lag1) < 0.05


def test_white_noise_generator_is_deterministic_apart_from_its_white_noise():
    torch.manual_seed(0)
    G = lab("WhiteNoiseDegradationGenerator")(ngf=8, n_blocks=1)
    assert G.head[0].in_channels == 3  # no noise input
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.nn.init.normal_(G.tail.weight, std=0.05)
        assert torch.equal(G(x), G(x))  # zero amplitude: nothing random left


def test_kernel_noise_generator_keeps_flat_colour_and_adds_white_noise():
    torch.manual_seed(0)
    G = lab("KernelNoiseGenerator")(ngf=8, n_blocks=2, kernel_size=5, start_amplitude=0)
    flat = torch.full((1, 3, 64, 64), 0.5)
    with torch.no_grad():
        assert float(G.kernel()[2, 2]) > 0.9
        G.kernel_param.normal_()
        assert torch.allclose(G(flat), flat, atol=1e-4)  # a normalised blur keeps flat colour
        G.amplitude[-1].bias.fill_(8 / 255)
        noise = (G(flat) - flat)[0]
    assert abs(float(noise.std()) * 255 - 8) < 1
    with pytest.raises(ValueError, match="odd"):
        lab("KernelNoiseGenerator")(kernel_size=4)


def test_camera_noise_generator_follows_brightness():
    torch.manual_seed(0)
    G = lab("CameraNoiseGenerator")(kernel_size=3, start_amplitude=2 / 255)
    with torch.no_grad():
        G.alpha.fill_(1e-3)  # variance grows with the signal (shot noise)
        dark, bright = torch.full((8, 3, 32, 32), 0.1), torch.full((8, 3, 32, 32), 0.8)
        std_dark, std_bright = float((G(dark) - dark).std()), float((G(bright) - bright).std())
    assert std_dark == pytest.approx(((2 / 255) ** 2 + 1e-4) ** 0.5, rel=0.1)
    assert std_bright == pytest.approx(((2 / 255) ** 2 + 8e-4) ** 0.5, rel=0.1)
    assert sum(p.numel() for p in G.parameters()) == 9 + 3 + 3 + 1 + 9  # kernel, beta, alpha, spread, mix


@pytest.mark.parametrize("design", sorted((REPO / "experiments" / "designs").glob("*_*.yml")),
                         ids=lambda p: p.name)
def test_lab_design_configs_build(design, monkeypatch):
    """The full lab configs (improved_cpu.yml, improved_x4.yml) load and their networks build
    when run from the repository's root, as their comments say."""
    monkeypatch.chdir(REPO)
    cfg = load_config(design)
    assert cfg.model.G.name.startswith("experiments/nets.py:")
    sr_depth = "model.sr.SR_nb=1" if cfg.model.sr.name == "VDSR" else "model.sr.num_block=1"
    small = load_config(design, ["model.G.ngf=4", "model.G.n_blocks=1", "model.D.ndf=4", sr_depth])
    assert type(build_model(small).G).__name__ == "PixelNoiseDegradationGenerator"
