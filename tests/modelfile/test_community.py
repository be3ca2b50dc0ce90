"""Community .pth / flat safetensors: exported, read back by spandrel's real ModelLoader and by
cyclesr.load; detection by keys; only tensors are ever unpickled."""
import pickle

import pytest
import torch

import cyclesr
from cyclesr.cli import main
from cyclesr.engine.checkpoint import CheckpointError
from cyclesr.modelfile.community import detect_architecture, load_community, read_state_dict
from cyclesr.modelfile.export import ExportError, export_model
from cyclesr.nets import create_net

from community_fixtures import SPECS, make_checkpoint, spandrel  # noqa: F401 (spandrel: a fixture)

CASES = [("RRDBNet", 4), ("RRDBNet", 2), ("SRVGGNetCompact", 2)]


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}-x{s}" for n, s in CASES])
def trained(request, tmp_path_factory):
    name, scale = request.param
    path, ema = make_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt", name, scale)
    return name, scale, path, ema


def _same(a, b, x):
    with torch.no_grad():
        return float((a(x) - b(x)).abs().max())


def test_pth_holds_the_ema_weights_under_params_ema(trained, tmp_path):
    name, scale, ckpt, ema = trained
    assert main(["export", "--checkpoint", str(ckpt), "--format", "pth", "-o", str(tmp_path / "m.pth")]) == 0
    state = torch.load(tmp_path / "m.pth", weights_only=True)
    assert list(state) == ["params_ema"]
    assert state["params_ema"].keys() == ema.state_dict().keys()
    assert all(torch.equal(state["params_ema"][k], v) for k, v in ema.state_dict().items())


def test_spandrel_detects_and_reproduces_the_exported_pth(trained, tmp_path, spandrel):  # noqa: F811
    name, scale, ckpt, ema = trained
    out, _ = export_model(ckpt, "pth", tmp_path / "m.pth")
    descriptor = spandrel.ModelLoader().load_from_file(str(out))  # spandrel's restricted unpickler
    assert descriptor.architecture.id == SPECS[name][1]
    assert descriptor.scale == scale and descriptor.input_channels == 3
    x = torch.rand(1, 3, 16, 16)
    assert _same(descriptor.model.eval(), ema, x) < 1e-5


def test_flat_safetensors_loads_in_spandrel_and_in_cyclesr(trained, tmp_path, spandrel):  # noqa: F811
    name, scale, ckpt, ema = trained
    out, _ = export_model(ckpt, "safetensors", tmp_path / "m.safetensors")
    from safetensors.torch import load_file
    assert set(load_file(str(out))) == set(ema.state_dict())  # flat: no sr./G. prefixes
    descriptor = spandrel.ModelLoader().load_from_file(str(out))
    assert descriptor.architecture.id == SPECS[name][1] and descriptor.scale == scale
    model = cyclesr.load(out, device="cpu")
    x = torch.rand(1, 3, 12, 16)
    assert model.scale == scale and model.G is None and _same(model.sr, ema, x) == 0.0


@pytest.mark.parametrize("wrap", ["params_ema", "params", None])
def test_cyclesr_load_reads_downloaded_layouts(trained, tmp_path, wrap):
    name, scale, _, ema = trained
    state = {k: v.clone() for k, v in ema.state_dict().items()}
    torch.save({wrap: state} if wrap else state, tmp_path / "dl.pth")
    model = cyclesr.load(tmp_path / "dl.pth", device="cpu")
    assert type(model.sr).__name__ == name and model.scale == scale
    assert _same(model.sr, ema, torch.rand(1, 3, 8, 12)) == 0.0


def test_upscale_cli_takes_a_pth(trained, tmp_path):
    from cyclesr.data.io import read_image, write_image
    name, scale, ckpt, _ = trained
    export_model(ckpt, "pth", tmp_path / "m.pth")
    write_image(tmp_path / "in" / "a.png", torch.rand(3, 8, 12))
    assert main(["upscale", "--checkpoint", str(tmp_path / "m.pth"), str(tmp_path / "in"),
                 "-o", str(tmp_path / "out")]) == 0
    assert read_image(tmp_path / "out" / "a.png").rgb.shape == (3, 8 * scale, 12 * scale)


def test_detection_reads_every_hyper_parameter():
    for name, kwargs in [("RRDBNet", dict(num_feat=16, num_block=3, num_grow_ch=8, upscale=1)),
                         ("RRDBNet", dict(num_feat=8, num_block=2, num_grow_ch=4, upscale=8)),
                         ("SRVGGNetCompact", dict(num_feat=12, num_conv=5, upscale=3))]:
        net = create_net(name, **kwargs)
        found_name, found = detect_architecture(net.state_dict())
        assert found_name == name and {k: found[k] for k in kwargs} == kwargs


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_with_code_is_refused_in_one_line(tmp_path, capsys):
    with open(tmp_path / "evil.pth", "wb") as f:
        pickle.dump({"params_ema": {"conv_first.weight": Payload()}}, f, protocol=2)
    with pytest.raises(CheckpointError, match="refused") as err:
        read_state_dict(tmp_path / "evil.pth")
    assert "\n" not in str(err.value) and "this must never run" not in capsys.readouterr().out
    assert main(["upscale", "--checkpoint", str(tmp_path / "evil.pth"), str(tmp_path), "-o",
                 str(tmp_path / "o")]) != 0


def test_unknown_or_old_layouts_are_refused(tmp_path):
    torch.save({"model.0.weight": torch.zeros(8, 3, 3, 3)}, tmp_path / "old.pth")
    with pytest.raises(CheckpointError, match="old ESRGAN layout"):
        load_community(tmp_path / "old.pth")
    torch.save({"params": [1, 2]}, tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="not a state dict of tensors"):
        load_community(tmp_path / "list.pth")


def test_pth_is_only_for_the_community_backbones(tiny_model_dir, tmp_path):
    with pytest.raises(ExportError, match="RRDBNet and SRVGGNetCompact"):
        export_model(tiny_model_dir, "pth", tmp_path / "v.pth")
