"""Registry: lookup by name, import path and file path; loud errors; every net trains."""
import pytest
import torch
from torch import nn

from cyclesr.nets.registry import NETS, create_net, net_scale, register_net
from cyclesr.nets import VDSR

# Tiny kwargs for every built-in network; a new registered network must add an entry here.
TINY = {
    "ResnetGenerator": dict(ngf=4, n_blocks=1),
    "NLayerDiscriminator": dict(ndf=4, n_layers=2, out_channels=1),
    "VDSR": dict(SR_nb=1, SR_nf=8, upscale=2),
    "SRResNet": dict(SR_nb=1, SR_nf=8, upscale=2),
    "EDSR": dict(num_feat=8, num_block=1, upscale=2),
    "RRDBNet": dict(num_feat=8, num_block=1, num_grow_ch=4, upscale=2),
    "SRVGGNetCompact": dict(num_feat=8, num_conv=1, upscale=2),
    "CameraJpegGenerator": dict(kernel_size=3),
    "HighPassDiscriminator": dict(ndf=4, n_layers=2, out_channels=1),
    "BicubicResidualSR": dict(num_feat=8, num_block=1, upscale=2),
}


def test_builtins_registered():
    assert set(TINY) == set(NETS)


@pytest.mark.parametrize("name", sorted(NETS))
def test_every_net_says_whether_it_is_per_sample(name):
    """The engine batches two calls into one only where the network says that is exact."""
    net = create_net(name, **TINY[name])
    assert isinstance(net.per_sample, bool)
    if net.per_sample:
        torch.manual_seed(0)
        a, b = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
        with torch.no_grad():
            together = net(torch.cat([a, b]))
            assert torch.allclose(together, torch.cat([net(a), net(b)]), atol=1e-5)


@pytest.mark.parametrize("name, kwargs, per_sample", [
    ("ResnetGenerator", dict(norm="instance"), True), ("ResnetGenerator", dict(norm="batch"), False),
    ("ResnetGenerator", dict(norm="none", use_dropout=True), False),
    ("NLayerDiscriminator", dict(norm="none"), True), ("HighPassDiscriminator", dict(norm="batch"), False),
    ("VDSR", dict(SR_norm_type="batch"), False), ("CameraJpegGenerator", {}, False),
])
def test_per_sample_follows_the_norm(name, kwargs, per_sample):
    assert create_net(name, **{**TINY[name], **kwargs}).per_sample is per_sample


@pytest.mark.parametrize("name", sorted(NETS))
def test_every_net_forward_backward(name):
    torch.manual_seed(0)
    net = create_net(name, **TINY[name])
    x = torch.rand(2, 3, 19, 21, requires_grad=True)
    y = net(x)
    assert torch.isfinite(y).all()
    y.mean().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    assert net_scale(net) * 21 == y.shape[-1] or name.endswith("Discriminator")


@pytest.mark.parametrize("name", ["vdsr", "VDSR", "Vdsr"])
def test_case_insensitive(name):
    assert isinstance(create_net(name, SR_nb=1, SR_nf=4), VDSR)


def test_registered_only_refuses_import_and_file_paths(tmp_path):
    marker = tmp_path / "ran.txt"
    file = tmp_path / "evil.py"
    file.write_text(f"open({str(marker)!r}, 'w').close()\nclass Net:\n    pass\n")
    for name in ("os:system", "cyclesr.nets.vdsr:SRResNet", f"{file}:Net"):
        with pytest.raises(ValueError, match="not one of the installed package's networks"):
            create_net(name, registered_only=True)
    assert not marker.exists()
    assert isinstance(create_net("vdsr", registered_only=True, SR_nb=1, SR_nf=4), VDSR)


def test_import_path():
    net = create_net("cyclesr.nets.vdsr:SRResNet", SR_nb=1, SR_nf=4, upscale=1)
    assert type(net).__name__ == "SRResNet" and net_scale(net) == 1


def test_file_path(tmp_path):
    file = tmp_path / "my_net.py"
    file.write_text(
        "from torch import nn\n"
        "class TinySR(nn.Module):\n"
        "    def __init__(self, upscale=2):\n"
        "        super().__init__()\n"
        "        self.upscale = upscale\n"
        "        self.conv = nn.Conv2d(3, 3 * upscale ** 2, 3, padding=1)\n"
        "        self.shuffle = nn.PixelShuffle(upscale)\n"
        "    def forward(self, x):\n"
        "        return self.shuffle(self.conv(x))\n")
    net = create_net(f"{file}:TinySR", upscale=3)
    assert net_scale(net) == 3
    assert net(torch.rand(1, 3, 5, 5)).shape == (1, 3, 15, 15)
    with pytest.raises(TypeError, match="scale"):
        create_net(f"{file}:TinySR", scale=3)
    with pytest.raises(ValueError, match="Missing"):
        create_net(f"{file}:Missing")
    with pytest.raises(ValueError, match="not found"):
        create_net(f"{tmp_path / 'nope.py'}:TinySR")


def test_unknown_name_lists_known():
    with pytest.raises(ValueError) as err:
        create_net("ESRGAN")
    message = str(err.value)
    assert "ESRGAN" in message
    assert all(name in message for name in TINY)


def test_unknown_module():
    with pytest.raises(ValueError, match="no_such_pkg"):
        create_net("no_such_pkg.nets:Net")


def test_bad_kwarg_names_key_and_accepted():
    with pytest.raises(TypeError) as err:
        create_net("VDSR", SR_nb=1, nb_blocks=3)
    message = str(err.value)
    assert "VDSR" in message and "nb_blocks" in message and "SR_nf" in message


def test_register_net(monkeypatch):
    monkeypatch.setattr("cyclesr.nets.registry.NETS", dict(NETS))

    @register_net("Identity2x")
    class Identity2x(nn.Module):
        scale = 2

        def forward(self, x):
            return x.repeat_interleave(2, -1).repeat_interleave(2, -2)

    assert isinstance(create_net("identity2x"), Identity2x)
    with pytest.raises(ValueError, match="already registered"):
        register_net("IDENTITY2X")(nn.Identity)


def test_net_scale_defaults():
    assert net_scale(nn.Identity()) == 1
    assert net_scale(create_net("EDSR", num_feat=4, num_block=1, upscale=8)) == 8
