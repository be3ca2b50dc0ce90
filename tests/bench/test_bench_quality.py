"""The quality benchmark end to end on a handful of tiny generated images (tiny preset); its
designs and presets are tested in test_quality_designs.py."""
import json

import numpy as np
import pytest
import torch

from cyclesr.bench.anchors import ANCHORS, anchors_available
from cyclesr.bench.quality import check_disjoint, gap_closure, run_quality_bench
from cyclesr.data.io import list_images, save_rgb


def _images(folder, n, size, seed, prefix="img"):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        f = rng.uniform(2, 9, 3)
        img = np.stack([0.5 + 0.4 * np.sin(f[c] * (xx + (c + 1) * yy) * 3.1) for c in range(3)])
        save_rgb(torch.from_numpy(img).float().clamp(0, 1), folder / f"{prefix}_{i:02d}.png")


def test_gap_closure_formula():
    assert gap_closure(20.0, 23.0, 24.0) == pytest.approx(0.75)
    assert gap_closure(20.0, 20.0, 24.0) == 0.0


# the default design fits G to the images' spectra; these tiny images are too small for it, and
# G keeping its default start is the documented behaviour (tested in tests/nets/test_camera.py)
@pytest.mark.filterwarnings("ignore:G keeps its default blur")
def test_quality_bench_tiny(tmp_path):
    _images(tmp_path / "hr", 6, 96, 0)
    _images(tmp_path / "test", 2, 72, 1, prefix="test")
    res = run_quality_bench(tmp_path / "out", hr_train=tmp_path / "hr", test_hr=[tmp_path / "test"],
                            recipe="mild", preset="tiny", seed=0, device="cpu", log=lambda *a: None)
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    anchors = tuple(ANCHORS) if anchors_available() is None else ()  # (f) needs the anchors extra
    rows = ("bicubic", "bicubic_pairs", "cyclesr", "oracle", "blind_synthetic", *anchors)
    for key in rows:
        assert set(saved[key]) == {"psnr_y", "ssim_y", "psnr_rgb"}
        assert np.isfinite(saved[key]["psnr_y"])
    b, c, d = (saved[k]["psnr_y"] for k in ("bicubic_pairs", "cyclesr", "oracle"))
    assert saved["gap_closure"] == pytest.approx((c - b) / (d - b))
    alternatives = [saved[k]["psnr_y"] for k in ("bicubic_pairs", "blind_synthetic", *anchors)]
    assert saved["margin_over_best_alternative"] == pytest.approx(c - max(alternatives))
    # (c) is the published model: best.pt as training chose it, else latest.pt
    published = saved["settings"]["cyclesr_published"]
    has_best = (tmp_path / "out" / "cyclesr_run" / "checkpoints" / "best.pt").exists()
    assert published["checkpoint"] == ("best.pt" if has_best else "latest.pt")
    assert 1 <= published["epoch"] <= 4 and published["ema"] is False
    table = (tmp_path / "out" / "results.md").read_text()
    assert table.count("\n| (") == len(rows) and "margin over the best alternative" in table
    assert "spearman_neg_kid_vs_psnr_y" in saved["noref"] and "spearman_pseudo_psnr_vs_psnr_y" in saved["noref"]
    assert all(np.isfinite(row["pseudo_psnr"]) for row in saved["noref"]["checkpoints"])
    assert (tmp_path / "out" / "results.md").read_text().startswith("| method")
    # the training folders hold only training images: no test image, by pixels or name
    data = tmp_path / "out" / "data"
    train_names = {p.name for d in ("hr", "real_lr", "oracle_lr") for p in list_images(data / d)}
    assert len(list_images(data / "hr")) == 3 and len(list_images(data / "real_lr")) == 3
    assert not train_names & {p.name for p in list_images(data / "test_hr")}
    check_disjoint([data / "hr", data / "real_lr", data / "oracle_lr"], [data / "test_hr"])
    assert res["settings"]["sr_updates"] == 9
    # --baselines-only stops before (c); --reuse-baselines takes those rows as they are
    base = run_quality_bench(tmp_path / "base", hr_train=tmp_path / "hr", test_hr=[tmp_path / "test"],
                             recipe="mild", preset="tiny", seed=0, device="cpu", baselines_only=True,
                             log=lambda *a: None)
    assert set(base) == {*rows, "settings"} - {"cyclesr"}
    assert not (tmp_path / "base" / "cyclesr_run").exists()
    assert base["oracle"] == saved["oracle"]  # same seed, same data: the same baseline
    again = run_quality_bench(tmp_path / "again", hr_train=tmp_path / "hr", test_hr=[tmp_path / "test"],
                              recipe="mild", preset="tiny", seed=0, device="cpu", checkpoint_curve=False,
                              reuse_baselines=tmp_path / "base" / "baselines.json", log=lambda *a: None)
    assert again["oracle"] == base["oracle"] and "cyclesr" in again
    assert again["blind_synthetic"] == base["blind_synthetic"] == saved["blind_synthetic"]


def test_reused_baselines_must_match_and_name_what_differs(tmp_path):
    """Runs that spelt the SR network as 'cyclesr.nets.fastsr:BicubicResidualSR' (the registry
    name today) stay reusable; another seed or network is refused, naming the key. A name
    outside this package is never imported from a results file."""
    from cyclesr.bench.quality.benchmark import _reused_baselines
    from cyclesr.bench.quality.presets import PRESETS, cyclesr_layout
    from cyclesr.config import config_from_dict

    cfg = config_from_dict(cyclesr_layout(PRESETS["cpu-small"], "camera-jpeg", "hr", "lr", 0))
    settings = {"preset": "cpu-small", "recipe": "mild", "seed": 0, "sr_net": "cyclesr.nets.fastsr:BicubicResidualSR",
                "sr_kwargs": dict(cfg.model.sr.kwargs), "paired_set": None, "split": None}
    path = tmp_path / "baselines.json"
    path.write_text(json.dumps({"settings": settings, "oracle": {"psnr_y": 1.0}}))
    assert _reused_baselines(path, cfg, "cpu-small", "mild", 0, None, None) == {"oracle": {"psnr_y": 1.0}}
    with pytest.raises(ValueError, match=r"seed 0 \(this run: 1\)"):
        _reused_baselines(path, cfg, "cpu-small", "mild", 1, None, None)
    for name in ("EDSR", "os:system", "evil.py:Net"):
        path.write_text(json.dumps({"settings": {**settings, "sr_net": name}}))
        with pytest.raises(ValueError, match="sr_net"):
            _reused_baselines(path, cfg, "cpu-small", "mild", 0, None, None)


def test_check_disjoint_catches_leak(tmp_path):
    _images(tmp_path / "a", 2, 32, 0)
    _images(tmp_path / "b", 1, 32, 0)  # same pixels as a/img_00
    with pytest.raises(ValueError, match="also a training image"):
        check_disjoint([tmp_path / "a"], [tmp_path / "b"])


def test_bicubic_residual_sr_starts_at_bicubic():
    import torch.nn.functional as nnf

    from cyclesr.nets.registry import create_net

    net = create_net("cyclesr.nets.fastsr:BicubicResidualSR", num_feat=8, num_block=1, upscale=4)
    x = torch.rand(1, 3, 10, 13)
    assert net.scale == 4
    assert torch.allclose(net(x), nnf.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False))


def test_reference_design_runs(tmp_path):
    """The default design (camera-jpeg) runs above; Vega's design, with SR pretraining, here."""
    _images(tmp_path / "hr", 6, 96, 0)
    _images(tmp_path / "test", 2, 72, 1, prefix="test")
    res = run_quality_bench(tmp_path / "out", hr_train=tmp_path / "hr", test_hr=[tmp_path / "test"],
                            recipe="mild", preset="tiny", design="reference", seed=0, device="cpu",
                            checkpoint_curve=False, log=lambda *a: None)
    assert np.isfinite(res["cyclesr"]["psnr_y"]) and res["settings"]["design"] == "reference"
