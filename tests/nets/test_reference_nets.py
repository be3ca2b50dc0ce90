"""The reference preset's five networks compute what Vega's compute: Vega's weights (its entry
names, docs/reference.md) copied entry by entry give the output of a forward pass written
here in plain torch ops from algorithm.md, within 1e-5 after the [0, 1] mapping."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cyclesr.config import load_config
from cyclesr.model import build_model
from cyclesr.modelfile.vega import load_vega_weights
from cyclesr.nets.cyclegan import ResnetGenerator

REPO = Path(__file__).resolve().parents[2]
VEGA_FILE = REPO.parent / "shared" / "reference" / "vega-cyclesr-example.yml"


@pytest.fixture(scope="module")
def reference_nets():
    """The five networks built from Vega's own file (else from the reference preset)."""
    path = VEGA_FILE if VEGA_FILE.is_file() else REPO / "configs" / "cyclesr_x4.yml"
    cfg = load_config(path)
    model = build_model(cfg)
    return {"G": model.G, "F": model.F, "D_X": model.D_X, "D_Y": model.D_Y, "SR": model.SR}


def vega_names(net: str, n_blocks: int = 9, sr_nb: int = 20, steps: int = 2) -> list[str]:
    """Vega's state-dict entry names, in Vega's order, from the layout in algorithm.md:
    ``generator.<N><i>`` / ``discriminator.<N><i>`` (one Sequential, layers numbered from 0)
    and the SR network's ``model.<i>`` with its body in ``model.1.submodule``."""
    wb = ("weight", "bias")
    if net in ("G", "F"):
        convs = [1, 4, 7] + [f"{10 + b}.conv_block.{j}" for b in range(n_blocks) for j in (0, 3)]
        convs += [10 + n_blocks, 13 + n_blocks, 17 + n_blocks]
        return [f"generator.{net}{c}.{p}" for c in convs for p in wb]
    if net in ("D_X", "D_Y"):
        return [f"discriminator.{net}{c}.{p}" for c in (0, 2, 5, 8, 11) for p in wb]
    bn = (*wb, "running_mean", "running_var", "num_batches_tracked")
    names = [f"model.0.{p}" for p in wb]
    for k in range(sr_nb + 1):
        names += [f"model.1.submodule.{3 * k}.{p}" for p in wb]
        names += [f"model.1.submodule.{3 * k + 1}.{p}" for p in bn]
    for i in [2 + 3 * s for s in range(steps)] + [2 + 3 * steps, 4 + 3 * steps]:
        names += [f"model.{i}.{p}" for p in wb]
    return names


def vega_weights(net: str, ours: torch.nn.Module, seed: int) -> dict:
    """Random weights under Vega's names, entry by entry in order (shapes from our network)."""
    g = torch.Generator().manual_seed(seed)
    values = []
    for key, v in ours.state_dict().items():
        if key.endswith("num_batches_tracked"):
            values.append(torch.tensor(7))
        elif key.endswith("running_var"):
            values.append(0.5 + torch.rand(v.shape, generator=g))
        else:
            values.append(0.05 * torch.randn(v.shape, generator=g))
    names = vega_names(net)
    assert len(names) == len(values)
    return dict(zip(names, values))


def _in(x):
    return F.instance_norm(x)


def vega_generator(w: dict, p: str, v: torch.Tensor) -> torch.Tensor:
    """Vega's Generator on v: reflect-pad 7x7 conv, two stride-2 3x3 convs, nine residual blocks
    of zero-padded 3x3 convs, two transposed convs, reflect-pad 7x7 conv, tanh; instance norm."""
    def conv(x, i, **kw):
        return F.conv2d(x, w[f"{p}{i}.weight"], w[f"{p}{i}.bias"], **kw)
    x = F.relu(_in(conv(F.pad(v, (3, 3, 3, 3), mode="reflect"), 1)))
    x = F.relu(_in(conv(x, 4, stride=2, padding=1)))
    x = F.relu(_in(conv(x, 7, stride=2, padding=1)))
    for b in range(10, 19):
        h = F.relu(_in(conv(x, f"{b}.conv_block.0", padding=1)))
        x = x + _in(conv(h, f"{b}.conv_block.3", padding=1))
    for i in (19, 22):
        x = F.conv_transpose2d(x, w[f"{p}{i}.weight"], w[f"{p}{i}.bias"], stride=2, padding=1,
                               output_padding=1)
        x = F.relu(_in(x))
    return torch.tanh(conv(F.pad(x, (3, 3, 3, 3), mode="reflect"), 26))


def vega_discriminator(w: dict, p: str, v: torch.Tensor) -> torch.Tensor:
    """Vega's PatchDiscriminator: 4x4 convs, strides 2, 2, 2, 1, 1, instance norm after the
    second to fourth, LeakyReLU 0.2, a last conv to ndf channels."""
    def conv(x, i, stride):
        return F.conv2d(x, w[f"{p}{i}.weight"], w[f"{p}{i}.bias"], stride=stride, padding=1)
    x = F.leaky_relu(conv(v, 0, 2), 0.2)
    for i, stride in ((2, 2), (5, 2), (8, 1)):
        x = F.leaky_relu(_in(conv(x, i, stride)), 0.2)
    return conv(x, 11, 1)


def vega_vdsr(w: dict, v: torch.Tensor) -> torch.Tensor:
    """Vega's VDSR in eval mode: conv; 20 x (conv, BN, ReLU) + (conv, BN) with a global skip;
    two (conv, pixel shuffle x2, ReLU); conv, ReLU; conv."""
    def conv(x, key):
        return F.conv2d(x, w[f"{key}.weight"], w[f"{key}.bias"], padding=1)

    def bn(x, key):
        return F.batch_norm(x, w[f"{key}.running_mean"], w[f"{key}.running_var"], w[f"{key}.weight"],
                            w[f"{key}.bias"], training=False)
    head = conv(v, "model.0")
    x = head
    for k in range(21):
        x = bn(conv(x, f"model.1.submodule.{3 * k}"), f"model.1.submodule.{3 * k + 1}")
        x = F.relu(x) if k < 20 else x
    x = head + x
    for i in (2, 5):
        x = F.relu(F.pixel_shuffle(conv(x, f"model.{i}"), 2))
    return conv(F.relu(conv(x, "model.8")), "model.10")


@pytest.mark.parametrize("name", ["G", "F", "D_X", "D_Y", "SR"])
def test_vegas_weights_give_vegas_outputs(reference_nets, name):
    net = reference_nets[name]
    weights = vega_weights(name, net, seed=len(name))
    load_vega_weights(net, name, weights, upscale=4, source=f"{name}.pth")
    x = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = net.eval()(x)
        if name in ("G", "F"):  # ours maps [0, 1] to Vega's [-1, 1] and back
            expected = (vega_generator(weights, f"generator.{name}", 2 * x - 1) + 1) / 2
        elif name in ("D_X", "D_Y"):
            expected = vega_discriminator(weights, f"discriminator.{name}", 2 * x - 1)
        else:
            expected = vega_vdsr(weights, x)
    assert ours.shape == expected.shape
    assert (ours - expected).abs().max() < 1e-5


def test_zero_padding_is_the_default_and_reflect_an_option():
    x = torch.rand(1, 3, 24, 24)
    zero, reflect = ResnetGenerator(ngf=4, n_blocks=2), ResnetGenerator(ngf=4, n_blocks=2, padding="reflect")
    assert zero.padding == "zero" and "model.10.conv_block.0.weight" in zero.state_dict()
    assert "model.10.conv_block.1.weight" in reflect.state_dict()  # CycleGAN's indices
    reflect.load_state_dict(zero.state_dict())  # the zero-padded weights switch it to zero
    assert reflect.padding == "zero" and torch.equal(reflect(x), zero(x))


def test_weights_of_the_reflect_layout_keep_computing_what_they_computed():
    """Checkpoints and models of earlier versions were trained with reflection padding."""
    old = ResnetGenerator(ngf=4, n_blocks=2, padding="reflect")
    new = ResnetGenerator(ngf=4, n_blocks=2)
    params = list(new.parameters())
    new.load_state_dict(old.state_dict())
    x = torch.rand(1, 3, 24, 24)
    assert new.padding == "reflect" and torch.equal(new(x), old(x))
    assert all(a is b for a, b in zip(params, new.parameters()))  # an optimizer keeps working
    assert list(new.state_dict()) == list(old.state_dict())  # and saves in its own layout


def test_unknown_padding_is_refused():
    with pytest.raises(ValueError, match="padding"):
        ResnetGenerator(padding="circular")
