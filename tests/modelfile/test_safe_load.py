"""Model files never run code: a checkpoint that would execute something when unpickled is
refused with a clear message, and published models load without unpickling at all."""
import pickle
from pathlib import Path

import pytest
import torch
from PIL import Image

import cyclesr
from cyclesr.cli import main
from cyclesr.config import config_from_dict
from cyclesr.engine.checkpoint import FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from cyclesr.model import build_model
from cyclesr.modelfile.publish import publish


class _CreatesMarker:
    """Unpickling this calls open(marker, "w"): a stand-in for any code an attacker would run."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def evil(tmp_path):
    """(evil torch.save file, evil plain-pickle file, marker path that must never appear)."""
    marker = tmp_path / "pwned.txt"
    payload = {"format": FORMAT, "nets": {}, "config": {}, "trap": _CreatesMarker(marker)}
    torch.save(payload, tmp_path / "evil.pt")
    with open(tmp_path / "evil_legacy.pt", "wb") as f:
        pickle.dump(payload, f, protocol=2)
    return tmp_path / "evil.pt", tmp_path / "evil_legacy.pt", marker


@pytest.fixture
def tiny_cfg():
    return config_from_dict({"dataset": {"upscale": 2},
                             "model": {"cyclegan": {"ngf": 4, "n_blocks": 1, "n_downsampling": 0},
                                       "sr": {"name": "VDSR", "SR_nb": 1, "SR_nf": 4, "SR_norm_type": "none"}}})


def test_the_crafted_file_really_runs_code_when_unpickled_unsafely(evil):
    path, _, marker = evil
    torch.load(path, weights_only=False)  # what an unsafe loader would do
    assert marker.exists()
    marker.unlink()


def test_load_checkpoint_refuses_and_runs_nothing(evil):
    path, legacy, marker = evil
    for p in (path, legacy):
        with pytest.raises(CheckpointError, match="refused to load") as info:
            load_checkpoint(p)
        assert str(p) in str(info.value) and "could run code" in str(info.value)
    assert not marker.exists()


def test_cli_and_api_refuse_with_a_clear_message(evil, tmp_path, capsys):
    path, _, marker = evil
    Image.new("RGB", (4, 4)).save(tmp_path / "photo.png")
    rc = main(["upscale", "--checkpoint", str(path), str(tmp_path / "photo.png"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc != 0 and err.startswith("error: refused to load") and str(path) in err
    assert main(["export", "--checkpoint", str(path), "--format", "onnx"]) != 0
    assert "refused to load" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="refused to load"):
        cyclesr.load(path)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_broken_checkpoints_give_clear_errors(tmp_path, tiny_cfg):
    good = save_checkpoint({"config": tiny_cfg.to_dict()}, tmp_path / "good.pt")
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a CycleSR checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    for name, data in (("text.pt", b"epoch: 3\nnot a checkpoint\n"), ("empty.pt", b""),
                       ("binary.pt", bytes(range(256)) * 4)):  # what resume may be pointed at
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match="not a CycleSR checkpoint|refused to load"):
            load_checkpoint(tmp_path / name)


def test_published_model_loads_without_unpickling(tmp_path, tiny_cfg, monkeypatch):
    torch.manual_seed(0)
    nets = build_model(tiny_cfg)
    folder = publish(nets.SR, nets.G, tiny_cfg, tmp_path / "model").parent
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.safetensors"]

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load must not be used for published models")
    monkeypatch.setattr(torch, "load", no_unpickling)
    for source in (folder, folder / "model.safetensors"):
        model = cyclesr.load(source, device="cpu")
        x = torch.rand(1, 3, 5, 7)
        with torch.no_grad():
            assert torch.equal(model.sr(x), nets.SR.eval()(x))
            assert torch.equal(model.G(x), nets.G.eval()(x))
        assert model.scale == 2


def _rewrite_description(folder: Path, change) -> None:
    """Edit a published model's description in model.json and in the safetensors metadata."""
    import json

    from safetensors.torch import load_file, save_file

    weights = folder / "model.safetensors"
    desc = json.loads((folder / "model.json").read_text())
    change(desc)
    text = json.dumps(desc)
    save_file(load_file(str(weights)), str(weights), metadata={"cyclesr": text})
    (folder / "model.json").write_text(text)


def test_a_model_file_naming_other_code_is_refused_and_nothing_runs(tmp_path, tiny_cfg, monkeypatch):
    from cyclesr.modelfile.publish import load_published

    ran = []
    monkeypatch.setattr("os.system", lambda *a, **k: ran.append(a) or 0)
    folder = publish(build_model(tiny_cfg).SR, None, tiny_cfg, tmp_path / "model").parent
    marker = tmp_path / "ran.txt"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').close()\nclass Net:\n    pass\n")
    for name, kwargs in (("os:system", {"command": "touch pwned"}), (f"{evil}:Net", {})):
        _rewrite_description(folder, lambda d: d["sr"].update(name=name, kwargs=kwargs))
        with pytest.raises(CheckpointError) as info:
            load_published(folder)
        assert str(folder) in str(info.value) and name in str(info.value)
    assert not ran and not marker.exists()


def test_a_checkpoint_config_naming_other_code_is_refused(tmp_path, tiny_cfg, monkeypatch):
    ran = []
    monkeypatch.setattr("os.system", lambda *a, **k: ran.append(a) or 0)
    raw = tiny_cfg.to_dict()
    raw["model"]["G"] = {"name": "os:system", "command": "touch pwned"}
    path = save_checkpoint({"config": raw, "nets": {}}, tmp_path / "evil_cfg.pt")
    with pytest.raises(CheckpointError, match="os:system") as info:
        cyclesr.load(path)
    assert str(path) in str(info.value) and not ran


def test_models_published_by_the_previous_version_load(tmp_path):
    """Earlier model.json files named product networks by import path and gave a camera G
    ResnetGenerator's keys, which it ignored."""
    cfg = config_from_dict({"dataset": {"upscale": 2}, "model": {
        "G": {"name": "CameraJpegGenerator"}, "sr": {"name": "BicubicResidualSR", "num_feat": 4, "num_block": 1}}})
    torch.manual_seed(0)
    nets = build_model(cfg)
    folder = publish(nets.SR, nets.G, cfg, tmp_path / "model").parent

    def old_style(desc):
        desc["sr"]["name"] = "cyclesr.nets.fastsr:BicubicResidualSR"
        desc["G"] = {"name": "cyclesr.nets.degrader:CameraJpegGenerator",
                     "kwargs": {"input_nc": 3, "output_nc": 3, "ngf": 16, "n_blocks": 2, "norm": "instance",
                                "up_mode": "transpose", "n_downsampling": 0}}
    _rewrite_description(folder, old_style)
    model = cyclesr.load(folder, device="cpu")
    assert type(model.G).__name__ == "CameraJpegGenerator" and model.scale == 2
    x = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        assert torch.equal(model.sr(x), nets.SR.eval()(x))


def _payload(tmp_path: Path) -> tuple[Path, Path]:
    """A network file whose import, and whose factory when called, would create a marker file."""
    marker = tmp_path / "ran.txt"
    code = (f"open({str(marker)!r}, 'w').close()\n"
            f"def make(*args, **kwargs):\n    open({str(marker)!r}, 'a').write('called')\n")
    (tmp_path / "payload.py").write_text(code)
    return tmp_path / "payload.py", marker


def test_a_description_hidden_in_the_safetensors_metadata_runs_nothing(tmp_path, tiny_cfg, capsys):
    """The metadata is read before model.json: a harmless model.json cannot vouch for it."""
    import json

    from safetensors.torch import load_file, save_file

    payload, marker = _payload(tmp_path)
    folder = publish(build_model(tiny_cfg).SR, None, tiny_cfg, tmp_path / "model").parent
    weights = folder / "model.safetensors"
    harmless = (folder / "model.json").read_text()
    for name in (f"{payload}:make", "os:system", "subprocess:run", "builtins:exec"):
        desc = json.loads(harmless)
        desc["sr"] = {"name": name, "kwargs": {"command": f"touch {marker}"} if name == "os:system" else {}}
        save_file(load_file(str(weights)), str(weights), metadata={"cyclesr": json.dumps(desc)})
        assert (folder / "model.json").read_text() == harmless
        with pytest.raises(CheckpointError, match="not one of the installed package's networks"):
            cyclesr.load(folder)
        Image.new("RGB", (4, 4)).save(tmp_path / "photo.png")
        for args in (["upscale", "--checkpoint", str(folder), str(tmp_path / "photo.png"), "-o", str(tmp_path / "out")],
                     ["evaluate", "--checkpoint", str(weights), "--lr", str(tmp_path / "photo.png")],
                     ["export", "--checkpoint", str(folder), "--format", "onnx", "-o", str(tmp_path / "x.onnx")]):
            assert main(args) == 2
            err = capsys.readouterr().err
            assert err.startswith("error: ") and name in err
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("net", ["sr", "G", "D"])
def test_a_weights_only_checkpoint_whose_config_names_a_file_runs_nothing(tmp_path, tiny_cfg, capsys, net):
    """Earlier, ``model.build_sr`` retried a failed build without ``upscale``, so a bare function
    named by a stored config was called; now the name is refused before anything is imported."""
    payload, marker = _payload(tmp_path)
    raw = tiny_cfg.to_dict()
    raw["model"][net] = {"name": f"{payload}:make"}
    path = save_checkpoint({"config": raw, "nets": {}}, tmp_path / "crafted.pt")
    with pytest.raises(CheckpointError, match="payload.py:make"):
        cyclesr.load(path)
    Image.new("RGB", (4, 4)).save(tmp_path / "photo.png")
    assert main(["upscale", "--checkpoint", str(path), str(tmp_path / "photo.png"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot build the networks of checkpoint '{path}'") and err.count("\n") == 1
    assert not marker.exists()
