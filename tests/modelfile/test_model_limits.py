"""A model file or config whose networks would be absurdly large or empty, whose weights do not
fit, are not floating point or not finite, or whose description lacks keys, is refused with one
line naming the file and the key or tensor, before anything large is allocated."""
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

import cyclesr
from cyclesr.cli import main
from cyclesr.config import ConfigError, config_from_dict
from cyclesr.engine.checkpoint import CheckpointError, FORMAT, save_checkpoint
from cyclesr.model import build_model
from cyclesr.nets.registry import MAX_NET_PARAMETERS, create_net


def _config(**sr):
    return {"dataset": {"upscale": 2},
            "model": {"G": {"name": "ResnetGenerator", "ngf": 4, "n_blocks": 1, "n_downsampling": 0},
                      "sr": {"name": "VDSR", "SR_nb": 1, "SR_nf": 4, "SR_norm_type": "none", **sr}}}


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    return folder


def _rewrite(folder, edit_desc=None, edit_tensors=None):
    """Rewrite a published model's description (both copies) and/or tensors."""
    path = folder / "model.safetensors"
    desc = json.loads((folder / "model.json").read_text())
    tensors = load_file(str(path))
    if edit_desc:
        edit_desc(desc)
    if edit_tensors:
        edit_tensors(tensors)
    text = json.dumps(desc)
    save_file(tensors, str(path), metadata={"cyclesr": text})
    (folder / "model.json").write_text(text)


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text and len(text) < 600
    return text


def test_a_huge_width_is_refused_before_allocating():
    with pytest.raises(ValueError, match="would have .* parameters.*SR_nf=200000"):
        create_net("VDSR", SR_nf=200000)
    with pytest.raises(ConfigError, match=r"model.sr \(SR\).*more than the limit"):
        build_model(config_from_dict(_config(SR_nf=200000)))
    assert MAX_NET_PARAMETERS >= 10**9


def test_a_huge_width_in_a_model_file_is_refused(model_copy):
    _rewrite(model_copy, edit_desc=lambda d: d["sr"]["kwargs"].update(SR_nf=200000))
    with pytest.raises(CheckpointError, match="model.safetensors.*sr network.*parameters") as err:
        cyclesr.load(model_copy)
    _one_line(err)


@pytest.mark.parametrize("value", [0, -3])
def test_a_zero_or_negative_size_names_the_key(model_copy, value):
    with pytest.raises(ConfigError, match="model.sr.*SR_nf") as err:
        build_model(config_from_dict(_config(SR_nf=value)))
    _one_line(err)
    with pytest.raises(ValueError, match=f"network 'VDSR'.*SR_nf={value}"):
        create_net("VDSR", SR_nf=value)
    _rewrite(model_copy, edit_desc=lambda d: d["sr"]["kwargs"].update(SR_nf=value))
    with pytest.raises(CheckpointError, match=f"model.safetensors.*sr network.*SR_nf={value}") as err:
        cyclesr.load(model_copy)
    _one_line(err)


def test_sizes_of_zero_that_build_a_working_network_are_allowed():
    net = create_net("ResnetGenerator", ngf=4, n_blocks=1, n_downsampling=0)
    assert net(torch.rand(1, 3, 8, 8)).shape == (1, 3, 8, 8)


@pytest.mark.parametrize("bad, match", [
    (float("nan"), "sr tensor 'head.weight' holds NaN or infinite"),
    (float("inf"), "sr tensor 'head.weight' holds NaN or infinite"),
    ("int", "sr tensor 'head.weight' is torch.int32, not floating point"),
])
def test_non_finite_or_integer_weights_are_refused_naming_the_tensor(model_copy, bad, match):
    def edit(tensors):
        if bad == "int":
            tensors["sr.head.weight"] = tensors["sr.head.weight"].round().int()
        else:
            tensors["sr.head.weight"][0, 0, 0, 0] = bad
    _rewrite(model_copy, edit_tensors=edit)
    with pytest.raises(CheckpointError, match=match) as err:
        cyclesr.load(model_copy)
    _one_line(err)


def test_a_wrongly_shaped_or_missing_tensor_gives_a_readable_key_diff(model_copy, tmp_path):
    _rewrite(model_copy, edit_tensors=lambda t: t.update({"sr.head.weight": torch.zeros(5, 3, 3, 3)}))
    with pytest.raises(CheckpointError, match=r"wrong shape: head.weight \(5, 3, 3, 3\) \(the network has \(4, 3, 3, 3\)\)") as err:
        cyclesr.load(model_copy)
    _one_line(err)
    _rewrite(model_copy, edit_tensors=lambda t: [t.pop(k) for k in list(t) if k.startswith("sr.tail")])
    with pytest.raises(CheckpointError, match="missing tail.0.weight, tail.0.bias, .*; wrong shape") as err:
        cyclesr.load(model_copy)
    _one_line(err)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.pop("sr"), "lacks 'sr'"),
    (lambda d: d.pop("scale"), "lacks 'scale'"),
    (lambda d: d.update(scale="x4"), "'scale' must be a positive integer"),
    (lambda d: d["sr"].pop("name"), "'sr' has no network 'name'"),
    (lambda d: d["sr"].update(kwargs=[1, 2]), "'sr.kwargs' must be a mapping"),
    (lambda d: d.update(G="ResnetGenerator"), "'G' must be a mapping"),
])
def test_an_incomplete_description_is_refused_in_one_line(model_copy, edit, match):
    _rewrite(model_copy, edit_desc=edit)
    with pytest.raises(CheckpointError, match=match) as err:
        cyclesr.load(model_copy)
    _one_line(err)


def test_a_checkpoint_with_nan_or_missing_weights_is_refused(tmp_path):
    cfg = config_from_dict(_config())
    model = build_model(cfg)
    nets = {"SR": model.SR.state_dict(), "G": model.G.state_dict()}
    nets["SR"]["head.weight"] = torch.full_like(nets["SR"]["head.weight"], float("nan"))
    save_checkpoint({"config": cfg.to_dict(), "nets": nets}, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="SR tensor 'head.weight' holds NaN"):
        cyclesr.load(tmp_path / "nan.pt")
    save_checkpoint({"config": cfg.to_dict(), "nets": {"G": nets["G"]}}, tmp_path / "nosr.pt")
    with pytest.raises(CheckpointError, match="SR weights are missing"):
        cyclesr.load(tmp_path / "nosr.pt")
    torch.save({"format": FORMAT, "nets": nets}, tmp_path / "noconfig.pt")
    with pytest.raises(CheckpointError, match="lacks config"):
        cyclesr.load(tmp_path / "noconfig.pt")


@pytest.mark.parametrize("content", [b"hello, this is a text file\n", b"", b"PK\x03\x04 broken zip"])
def test_a_file_that_is_not_a_checkpoint_gives_one_error_line(tmp_path, capsys, content):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    image = tmp_path / "in.png"
    cyclesr.data.io.write_image(image, torch.rand(3, 8, 8))
    rc = main(["upscale", "--checkpoint", str(path), str(image), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "model.pt" in err and "\n" not in err
