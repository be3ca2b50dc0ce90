"""Networks: reference parameter counts, shapes at odd sizes, ranges, gradients."""
import pytest
import torch

from cyclesr.nets import EDSR, VDSR, NLayerDiscriminator, ResnetGenerator, RRDBNet, SRResNet, init_weights
from cyclesr.nets.blocks import pad_to_multiple


def n_params(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("factory, expected", [
    (ResnetGenerator, 11_378_179),
    (NLayerDiscriminator, 3_280_896),
    (lambda: NLayerDiscriminator(out_channels=1), 2_764_737),
    (VDSR, 1_114_051),
    (SRResNet, 1_855_171),
    (EDSR, 1_517_571),
    (RRDBNet, 16_697_987),
])
def test_reference_param_counts(factory, expected):
    assert n_params(factory()) == expected


@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
@pytest.mark.parametrize("up_mode", ["transpose", "pixelshuffle", "resize"])
@pytest.mark.parametrize("n_down", [0, 2])
def test_generator_keeps_odd_sizes(norm, up_mode, n_down):
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=4, n_blocks=1, norm=norm, up_mode=up_mode, n_downsampling=n_down)
    y = net(torch.rand(2, 3, 17, 23))
    assert y.shape == (2, 3, 17, 23)
    assert y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (5, 9)])
def test_generator_tiny_inputs(size):
    net = ResnetGenerator(ngf=4, n_blocks=1, n_downsampling=2)
    assert net(torch.rand(1, 3, *size)).shape[-2:] == size


def test_generator_channels_and_dropout():
    net = ResnetGenerator(input_nc=1, output_nc=2, ngf=4, n_blocks=2, use_dropout=True)
    assert net(torch.rand(1, 1, 16, 16)).shape == (1, 2, 16, 16)


def test_generator_bias_follows_norm():
    first_conv = lambda norm: ResnetGenerator(ngf=4, n_blocks=1, norm=norm).model[1]
    assert first_conv("batch").bias is None
    assert first_conv("instance").bias is not None and first_conv("none").bias is not None


@pytest.mark.parametrize("bad", [dict(norm="group"), dict(up_mode="bilinear"), dict(n_downsampling=-1)])
def test_generator_rejects_bad_options(bad):
    with pytest.raises(ValueError):
        ResnetGenerator(ngf=4, n_blocks=1, **bad)


@pytest.mark.parametrize("n_layers, out_hw", [(1, (30, 30)), (2, (14, 14)), (3, (6, 6))])
def test_discriminator_n_layers(n_layers, out_hw):
    net = NLayerDiscriminator(ndf=4, n_layers=n_layers)
    n_convs = sum(isinstance(m, torch.nn.Conv2d) for m in net.modules())
    assert n_convs == n_layers + 2
    assert net(torch.rand(2, 3, 64, 64)).shape == (2, 4, *out_hw)


@pytest.mark.parametrize("out_channels, expected", [(None, 8), (1, 1)])
def test_discriminator_out_channels(out_channels, expected):
    net = NLayerDiscriminator(ndf=8, n_layers=2, norm="batch", out_channels=out_channels)
    assert net(torch.rand(1, 3, 33, 41)).shape[1] == expected


SR_TINY = [
    (VDSR, dict(SR_nb=2, SR_nf=8)),
    (SRResNet, dict(SR_nb=2, SR_nf=8)),
    (EDSR, dict(num_feat=8, num_block=2)),
    (RRDBNet, dict(num_feat=8, num_block=1, num_grow_ch=4)),
]


@pytest.mark.parametrize("cls, kwargs", SR_TINY)
@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_sr_shapes_and_grads(cls, kwargs, scale):
    torch.manual_seed(0)
    net = cls(upscale=scale, **kwargs)
    assert net.scale == scale
    x = torch.rand(2, 3, 7, 5)
    y = net(x)
    assert y.shape == (2, 3, 7 * scale, 5 * scale)
    y.square().mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("norm", ["batch", "instance", "none", None])
def test_vdsr_norms(norm):
    net = VDSR(SR_nb=1, SR_nf=8, SR_norm_type=norm, upscale=2, input_nc=1, output_nc=1)
    assert net(torch.rand(2, 1, 9, 11)).shape == (2, 1, 18, 22)


@pytest.mark.parametrize("cls", [VDSR, SRResNet])
@pytest.mark.parametrize("scale", [0, 3, 6, 2.0, True])
def test_reference_sr_rejects_bad_scale(cls, scale):
    with pytest.raises(ValueError, match="upscale must be 1 or a power of 2"):
        cls(SR_nb=1, SR_nf=8, upscale=scale)


def test_edsr_and_rrdb_scales():
    assert EDSR(num_feat=8, num_block=1, upscale=3)(torch.rand(1, 3, 5, 6)).shape == (1, 3, 15, 18)
    with pytest.raises(ValueError, match="RRDBNet"):
        RRDBNet(num_feat=8, num_block=1, upscale=3)


def test_init_weights():
    net = VDSR(SR_nb=2, SR_nf=32)
    conv_std = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, torch.nn.Conv2d)]).std()
    assert abs(conv_std - 0.02) < 0.002
    bn = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert abs(bn.weight.mean() - 1) < 0.02 and bn.bias.abs().max() == 0
    init_weights(net, "kaiming")
    with pytest.raises(ValueError):
        init_weights(net, "uniform")


def test_pad_to_multiple():
    x = torch.arange(15.0).view(1, 1, 3, 5)
    assert pad_to_multiple(x, 4).shape[-2:] == (4, 8)  # reflect would need pad < size
    assert pad_to_multiple(x, 1).data_ptr() == x.data_ptr()
    assert pad_to_multiple(x, 2, min_size=6).shape[-2:] == (6, 6)


def test_high_pass_discriminator_sees_the_image_and_its_high_frequencies():
    from cyclesr.nets import HighPassDiscriminator

    x = torch.rand(2, 3, 24, 24)
    D = HighPassDiscriminator(ndf=8, n_layers=2, out_channels=1)
    assert D.model[0].in_channels == 6
    assert D(x).shape == NLayerDiscriminator(ndf=8, n_layers=2, out_channels=1)(x).shape
