"""`cyclesr export`: ONNX (run in onnxruntime), TorchScript and safetensors reproduce PyTorch."""
import numpy as np
import pytest
import torch

import cyclesr
from cyclesr.cli import main
from cyclesr.config import config_from_dict
from cyclesr.engine.checkpoint import save_checkpoint
from cyclesr.modelfile.export import ExportError, export_model
from cyclesr.model import build_model

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")



@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(checkpoint path, SR, G): a tiny x2 model with BatchNorm (its eval statistics must export)."""
    cfg = config_from_dict({"dataset": {"upscale": 2},
                            "model": {"cyclegan": {"ngf": 4, "n_blocks": 1, "n_downsampling": 2},
                                      "sr": {"name": "VDSR", "SR_nb": 1, "SR_nf": 8, "SR_norm_type": "batch"}}})
    torch.manual_seed(0)
    nets = build_model(cfg)
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in nets.SR.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint({"config": cfg.to_dict(), "sr_ema": None,
                     "nets": {k: getattr(nets, k).state_dict() for k in ("G", "F", "D_X", "D_Y", "SR")}}, path)
    return path, nets.SR.eval(), nets.G.eval()


def _torch(net, x):
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


def _onnx(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def test_onnx_dynamic_matches_pytorch_at_another_size(trained, tmp_path, capsys):
    ckpt, sr, _ = trained
    out = tmp_path / "sr.onnx"
    rc = main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--dynamic", "--size", "16", "-o", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0 and str(out) in printed and "next:" in printed
    model = onnx.load(str(out))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    x = np.random.default_rng(0).random((2, 3, 23, 31), dtype=np.float32)  # not the export size
    got = _onnx(out, x)
    assert got.shape == (2, 3, 46, 62)
    assert np.abs(got - _torch(sr, x)).max() < 1e-4


def test_onnx_fixed_size(trained, tmp_path):
    ckpt, sr, _ = trained
    out, diff = export_model(ckpt, "onnx", tmp_path / "fixed.onnx", size=(12, 20))
    assert diff is not None and diff < 1e-4
    x = np.random.default_rng(1).random((1, 3, 12, 20), dtype=np.float32)
    assert np.abs(_onnx(out, x) - _torch(sr, x)).max() < 1e-4


def test_onnx_generator_dynamic(trained, tmp_path):
    ckpt, _, G = trained
    out, _ = export_model(ckpt, "onnx", tmp_path / "g.onnx", net_name="G", dynamic=True, size=(16, 16))
    x = np.random.default_rng(2).random((1, 3, 13, 19), dtype=np.float32)  # needs internal padding
    assert np.abs(_onnx(out, x) - _torch(G, x)).max() < 1e-4


@pytest.mark.filterwarnings("ignore:`torch.jit")
@pytest.mark.parametrize("net_name", ["SR", "G"])
def test_torchscript_matches_pytorch(trained, tmp_path, net_name):
    ckpt, sr, G = trained
    rc = main(["export", "--checkpoint", str(ckpt), "--format", "torchscript", "--net", net_name,
               "-o", str(tmp_path / "net.pt")])
    assert rc == 0
    module = torch.jit.load(str(tmp_path / "net.pt"))
    for shape in ((1, 3, 16, 16), (2, 3, 9, 14)):
        x = torch.rand(*shape)
        with torch.no_grad():
            assert (module(x) - (sr if net_name == "SR" else G)(x)).abs().max() < 1e-4


def test_safetensors_export_loads_as_a_model(trained, tmp_path):
    ckpt, sr, G = trained
    assert main(["export", "--checkpoint", str(ckpt), "--format", "safetensors",
                 "-o", str(tmp_path / "x2.safetensors")]) == 0
    assert (tmp_path / "x2.json").is_file()
    model = cyclesr.load(tmp_path / "x2.safetensors", device="cpu")
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        assert torch.equal(model.sr(x), sr(x)) and torch.equal(model.G(x), G(x))
    # and from the published model on to ONNX
    out, diff = export_model(tmp_path / "x2.safetensors", "onnx", tmp_path / "again.onnx", dynamic=True)
    assert diff < 1e-4


def test_bad_requests_are_clear(trained, tmp_path):
    ckpt, _, _ = trained
    with pytest.raises(ExportError, match="opset"):
        export_model(ckpt, "onnx", tmp_path / "a.onnx", opset=13)
    with pytest.raises(ExportError, match="must end in .safetensors"):
        export_model(ckpt, "safetensors", tmp_path / "a.bin")


def test_an_export_that_does_not_reproduce_pytorch_is_refused_and_removed(trained, tmp_path, monkeypatch):
    import cyclesr.modelfile.export
    monkeypatch.setattr(cyclesr.modelfile.export, "TOLERANCE", -1.0)  # nothing can pass
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_model(trained[0], "onnx", tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


# --- the community backbones: NCNN (run in ncnn), ONNX with dynamic size and fp16 -------------

from community_fixtures import make_checkpoint  # noqa: E402

BACKBONES = [("RRDBNet", 4), ("RRDBNet", 2), ("SRVGGNetCompact", 2)]


@pytest.fixture(scope="module", params=BACKBONES, ids=[f"{n}-x{s}" for n, s in BACKBONES])
def backbone(request, tmp_path_factory):
    name, scale = request.param
    path, ema = make_checkpoint(tmp_path_factory.mktemp("bb") / "best.pt", name, scale)
    return scale, path, ema


def test_ncnn_export_runs_in_ncnn_with_realesrgan_blob_names(backbone, tmp_path, capsys):
    ncnn = pytest.importorskip("ncnn", reason="ncnn not installed (make test installs it)")
    pytest.importorskip("pnnx", reason="pnnx not installed (make test installs it)")
    from cyclesr.modelfile.ncnn_export import ncnn_runner
    scale, ckpt, ema = backbone
    assert main(["export", "--checkpoint", str(ckpt), "--format", "ncnn", "--size", "16",
                 "-o", str(tmp_path / "mymodel-x4")]) == 0
    param = tmp_path / "mymodel-x4.param"
    assert param.is_file() and param.with_suffix(".bin").is_file()
    assert "-n mymodel-x4" in capsys.readouterr().out
    layers = [line.split() for line in param.read_text().splitlines()[2:]]
    assert layers[0][0] == "Input" and layers[0][-1] == "data"
    assert any(line[-1 - int(line[3]) + 1:][0] == "output" or "output" in line[4:] for line in layers)
    assert ncnn is not None
    x = torch.rand(2, 3, 20, 28)  # not the export size
    with torch.no_grad():
        assert (ncnn_runner(param)(x) - ema(x)).abs().max() < 1e-3


def test_onnx_of_a_backbone_is_dynamic_with_named_tensors(backbone, tmp_path):
    scale, ckpt, ema = backbone
    out, _ = export_model(ckpt, "onnx", tmp_path / "bb.onnx", dynamic=True, size=(16, 16))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["output"]
    for h, w in ((12, 20), (24, 16)):
        x = np.random.default_rng(h).random((1, 3, h, w), dtype=np.float32)
        got = session.run(None, {"input": x})[0]
        assert got.shape == (1, 3, h * scale, w * scale)
        assert np.abs(got - _torch(ema, x)).max() < 1e-4


def test_onnx_half_takes_and_gives_fp16(backbone, tmp_path):
    scale, ckpt, ema = backbone
    out, diff = export_model(ckpt, "onnx", tmp_path / "half.onnx", dynamic=True, size=(16, 16), half=True)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float16)"
    x = np.random.default_rng(0).random((1, 3, 12, 16), dtype=np.float32)
    got = session.run(None, {"input": x.astype(np.float16)})[0]
    assert got.dtype == np.float16 and np.abs(got.astype(np.float32) - _torch(ema, x)).max() < 2e-2
    assert diff is not None and diff < 2e-2


def test_generator_exports_to_ncnn_as_a_1x_model(trained, tmp_path):
    pytest.importorskip("ncnn", reason="ncnn not installed (make test installs it)")
    pytest.importorskip("pnnx", reason="pnnx not installed (make test installs it)")
    ckpt, _, G = trained
    out, diff = export_model(ckpt, "ncnn", tmp_path / "degrade-x1", net_name="G", size=(16, 16))
    assert out.suffix == ".param" and diff is not None and diff < 1e-3


def test_a_random_generator_is_refused_for_graph_formats(tmp_path):
    cfg = config_from_dict({"dataset": {"upscale": 2},
                            "model": {"G": {"name": "CameraJpegGenerator", "kernel_size": 3},
                                      "sr": {"name": "SRVGGNetCompact", "num_feat": 4, "num_conv": 1}}})
    nets = build_model(cfg)
    nets.G.jpeg_quality.copy_(torch.tensor([60.0, 90.0]))
    path = tmp_path / "cam.pt"
    save_checkpoint({"config": cfg.to_dict(), "sr_ema": None,
                     "nets": {k: getattr(nets, k).state_dict() for k in ("G", "F", "D_X", "D_Y", "SR")}}, path)
    with pytest.raises(ExportError, match="random noise and JPEG"):
        export_model(path, "onnx", tmp_path / "g.onnx", net_name="G", size=(16, 16))
    assert not (tmp_path / "g.onnx").exists()
