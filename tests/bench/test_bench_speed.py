"""``cyclesr bench step|data|upscale`` print numbers; the re-implemented reference step
(``--reference reimpl``) computes the same updates as the optimised step, and ``--reference
vega`` times Vega's own code (those tests run where noah-vega is installed)."""
import json

import pytest
import torch
import yaml

from cyclesr.bench.anchors import anchors_available
from cyclesr.bench.reference_step import (ImagePool, make_reference_optimizers,
                                          reference_pretrain_step, reference_transfer_step)
from cyclesr.bench.vega_step import vega_missing
from cyclesr.cli import main
from cyclesr.config import config_from_dict
from cyclesr.engine.buffer import ImageBuffer
from cyclesr.engine.setup import make_optimizers, make_settings
from cyclesr.engine.steps import StepNets, joint_step, pretrain_step, transfer_step
from cyclesr.model import build_model

NAMES = ("G", "F", "D_X", "D_Y", "SR")
TINY = {"dataset": {"upscale": 2, "train": {"crop_size": 16, "batch_size": 2, "num_workers": 0}},
        "model": {"G": {"name": "ResnetGenerator", "ngf": 4, "n_blocks": 1},
                  "D": {"name": "NLayerDiscriminator", "ndf": 4, "n_layers": 2},
                  "cyclegan": {"buffer_size": 3},
                  "sr": {"name": "VDSR", "SR_nb": 2, "SR_nf": 8, "SR_norm_type": "batch"},
                  "SR_lam": 1000.0, "cycleSR_lam": 10.0, "grad_clip": 0.05}}



@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def _run_json(argv, capsys) -> dict:
    assert main(argv + ["--json", "--threads", "1"]) == 0
    return json.loads(capsys.readouterr().out)


def test_bench_step_json_and_reference(tiny_config, tmp_path, capsys):
    out_file = tmp_path / "step.json"
    r = _run_json(["bench", "step", "--config", str(tiny_config), "--iters", "1", "--warmup", "1",
                   "--repeats", "2", "--device", "cpu", "--reference", "reimpl", "--out", str(out_file)], capsys)
    assert r["benchmark"] == "step" and r["phase"] == "joint" and r["batch"] == 2
    assert r["ms_per_iter"] > 0 and r["images_per_s"] > 0 and r["peak_mem_kind"] == "rss"
    assert r["reference"]["ms_per_iter"] > 0 and r["speedup"] > 0
    assert r["reference"]["kind"] == "reimpl" and "not Vega's code" in r["reference"]["code"]
    # one SR pass instead of two in the joint phase: strictly less arithmetic than the reference
    assert r["gflop_per_iter"] > 0 and r["flop_ratio"] > 1.05
    assert json.loads(out_file.read_text())["ms_per_iter"] == r["ms_per_iter"]


@pytest.mark.parametrize("phase", ["transfer", "pretrain"])
def test_bench_step_phases_and_sizes(tiny_config, phase, capsys):
    r = _run_json(["bench", "step", "--config", str(tiny_config), "--phase", phase, "--batch", "1",
                   "--patch", "12", "--iters", "1", "--warmup", "0", "--repeats", "1"], capsys)
    assert r["phase"] == phase and r["batch"] == 1 and r["lr_patch"] == 12


def test_bench_step_transfer_does_the_reference_work(tiny_config, capsys):
    """Outside the joint phase our step saves time, not arithmetic: the FLOPs are about the same
    (the generator's last conv, as tap maps and fold, also multiplies the border taps that fold
    drops: a few percent more on these tiny sizes)."""
    r = _run_json(["bench", "step", "--config", str(tiny_config), "--phase", "transfer", "--iters", "1",
                   "--warmup", "1", "--repeats", "1", "--reference", "reimpl"], capsys)
    assert 0.95 < r["flop_ratio"] <= 1.0


def test_bench_step_reference_vega_needs_noah_vega(tiny_config, capsys, monkeypatch):
    """--reference (vega by default) without noah-vega: one error line saying how to install
    it and what times our re-implementation instead; nothing is timed."""
    monkeypatch.setattr("cyclesr.bench.vega_step.vega_missing",
                        lambda: "noah-vega is not installed (pip install --no-deps noah-vega==1.8.5)")
    assert main(["bench", "step", "--config", str(tiny_config), "--iters", "1", "--warmup", "0",
                 "--repeats", "1", "--device", "cpu", "--threads", "1", "--reference"]) == 2
    err = capsys.readouterr().err
    assert "pip install --no-deps noah-vega==1.8.5" in err and "--reference reimpl" in err


def _vega_sized(**model) -> dict:
    """TINY with the depths Vega's CycleSR builds (9 residual blocks, 3 discriminator layers)."""
    return {"dataset": {**TINY["dataset"], "train": {**TINY["dataset"]["train"], "crop_size": 24}},
            "model": {**TINY["model"], "G": {"name": "ResnetGenerator", "ngf": 4, "n_blocks": 9},
                      "D": {"name": "NLayerDiscriminator", "ndf": 4, "n_layers": 3}, **model}}


@pytest.mark.skipif(vega_missing() is not None, reason="needs pip install --no-deps noah-vega==1.8.5")
def test_bench_step_times_vegas_own_step(tmp_path, capsys):
    """--reference vega runs Vega's own CycleSR step (its networks, optimize_CycleSR) next to
    ours, alongside the re-implementation; Vega's step does more arithmetic (the SR network
    twice) and its networks start from ours' weights. Its loading leaves no vega package behind."""
    import sys

    path = tmp_path / "vega_sized.yml"
    path.write_text(yaml.safe_dump(_vega_sized()))
    r = _run_json(["bench", "step", "--config", str(path), "--iters", "1", "--warmup", "1", "--repeats", "2",
                   "--device", "cpu", "--reference", "vega", "--reference", "reimpl"], capsys)
    vega, reimpl = r["reference"], r["other_references"][0]
    assert vega["kind"] == "vega" and "Vega's own CycleSR code (noah-vega 1.8.5" in vega["code"]
    assert reimpl["kind"] == "reimpl" and r["speedup"] == vega["speedup"] > 0
    assert vega["ms_per_iter"] > 0 and vega["flop_ratio"] > 1.05
    assert not any(name == "vega" or name.startswith("vega.") for name in sys.modules)


@pytest.mark.skipif(vega_missing() is not None, reason="needs pip install --no-deps noah-vega==1.8.5")
def test_vega_runner_starts_from_our_weights_and_refuses_other_shapes():
    from cyclesr.bench import vega_step

    cfg = config_from_dict(_vega_sized())
    torch.manual_seed(cfg.trainer.seed)
    ours = build_model(cfg)
    vega = vega_step._load().CycleSRModel(**vega_step.vega_config(cfg))
    vega_step._copy_weights(ours, vega, cfg.upscale)
    for name in NAMES:
        theirs = [p for p in getattr(vega, f"net{name}").parameters()]
        assert all(torch.equal(a, b) for a, b in zip(getattr(ours, name).parameters(), theirs))
    for bad in (TINY, _vega_sized(cyclegan={"lambda_lowfreq": 1.0})):  # 1 residual block; a loss Vega lacks
        with pytest.raises(ValueError, match="Vega's CycleSR"):
            vega_step.vega_runner(config_from_dict(bad), "joint", torch.device("cpu"), 2, 24)


def test_bench_data_synthetic(tiny_config, capsys):
    r = _run_json(["bench", "data", "--config", str(tiny_config), "--batches", "3", "--workers", "0",
                   "--device", "cpu"], capsys)
    assert r["synthetic_images"] and r["batches"] == 3 and r["patches_per_s"] > 0
    assert r["step_images_per_s"] > 0 and r["loader_headroom"] > 0


def test_bench_upscale_tiled_and_untiled(tiny_config, capsys):
    r = _run_json(["bench", "upscale", "--config", str(tiny_config), "--size", "40x30", "--tile", "16",
                   "--untiled", "yes", "--device", "cpu"], capsys)
    assert r["out_size"] == "80x60"
    assert r["tiled"]["tile"] == 16 and r["untiled"]["tile"] is None
    for case in (r["tiled"], r["untiled"]):
        assert case["out_mp_per_s"] > 0 and case["peak_rss_mb"] > 0
    assert "x4 only" in r["anchor"]["skipped"]  # this model is x2
    assert main(["bench", "upscale", "--config", str(tiny_config), "--size", "40"]) == 2
    assert "WxH" in capsys.readouterr().err


@pytest.fixture
def tiny_x4_config(tmp_path):
    path = tmp_path / "tiny_x4.yml"
    path.write_text(yaml.safe_dump({**TINY, "dataset": {**TINY["dataset"], "upscale": 4}}))
    return path


@pytest.mark.skipif(anchors_available() is not None, reason="needs pip install -e .[anchors]")
def test_bench_upscale_times_the_anchor_at_the_same_threads(tiny_x4_config, capsys):
    r = _run_json(["bench", "upscale", "--config", str(tiny_x4_config), "--size", "24x20",
                   "--untiled", "no", "--anchor", "yes", "--device", "cpu"], capsys)
    anchor = r["anchor"]
    assert anchor["name"] == "realesrgan_x4plus" and anchor["out_mp_per_s"] > 0
    assert anchor["threads"] == r["tiled"]["threads"] == 1
    assert r["speedup_vs_anchor"] == pytest.approx(r["tiled"]["out_mp_per_s"] / anchor["out_mp_per_s"])


def test_bench_upscale_without_the_anchors_extra(tiny_x4_config, capsys, monkeypatch):
    monkeypatch.setattr("cyclesr.bench.anchors.anchors_available", lambda: "No module named 'ncnn'")
    r = _run_json(["bench", "upscale", "--config", str(tiny_x4_config), "--size", "24x20",
                   "--untiled", "no", "--device", "cpu"], capsys)
    assert "pip install -e .[anchors]" in r["anchor"]["skipped"] and "speedup_vs_anchor" not in r
    assert main(["bench", "upscale", "--config", str(tiny_x4_config), "--size", "24x20", "--untiled", "no",
                 "--anchor", "yes", "--device", "cpu"]) == 2
    assert "error: --anchor yes" in capsys.readouterr().err


def test_image_pool_fills_then_swaps():
    pool = ImagePool(3, seed=0)
    first = torch.arange(2.0).view(2, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned unchanged
    out = pool.query(torch.arange(2.0, 6.0).view(4, 1, 1, 1))
    assert out.shape == (4, 1, 1, 1) and len(pool.images) == 3


@pytest.mark.parametrize("phase", ["transfer", "pretrain", "joint"])
def test_reference_like_step_computes_the_same_update(phase):
    """One iteration (the buffers are still filling, so both return the new fakes)."""
    cfg = config_from_dict(TINY)
    s = make_settings(cfg, torch.device("cpu"))
    torch.manual_seed(0)
    ours = build_model(cfg).double()
    ref = build_model(cfg).double()
    ref.load_state_dict(ours.state_dict())
    g = torch.Generator().manual_seed(1)
    batch = {"clean_lr": torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64),
             "real_lr": torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64),
             "hr": torch.rand(2, 3, 32, 32, generator=g, dtype=torch.float64)}
    nets = StepNets(*(getattr(ours, k) for k in NAMES))
    opt = make_optimizers(ours, cfg, torch.device("cpu"))
    ref_opt = make_reference_optimizers(ref, cfg)
    if phase == "pretrain":
        pretrain_step(nets, opt, batch, s)
        reference_pretrain_step(ref, ref_opt, batch, s)
    else:
        step = joint_step if phase == "joint" else transfer_step
        step(nets, opt, batch, s, (ImageBuffer(3, 1), ImageBuffer(3, 2)))
        reference_transfer_step(ref, ref_opt, batch, s, (ImagePool(3, 1), ImagePool(3, 2)),
                                phase == "joint")
    for k in NAMES:
        for (name, a), b in zip(getattr(ours, k).named_parameters(), getattr(ref, k).parameters()):
            assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), f"{k}.{name}"


def test_flop_count_is_optional():
    """Counting FLOPs never fails a benchmark: no work seen or an error gives None."""
    import torch

    from cyclesr.engine.timing import count_gflop

    def broken():
        raise RuntimeError("not countable")
    assert count_gflop(broken) is None and count_gflop(lambda: None) is None
    a = torch.rand(64, 64)
    assert count_gflop(lambda: a @ a) == pytest.approx(2 * 64 ** 3 / 1e9)
