"""Smoke tests of the lab scripts, run as the lab runs them: ``python experiments/scripts/NAME.py``
from the repository root, on one tiny ``cyclesr bench quality`` run of generated images."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cyclesr.bench.quality import run_quality_bench
from cyclesr.data.io import save_rgb

REPO = Path(__file__).resolve().parents[2]


def _images(folder: Path, n: int, size: int, seed: int, prefix: str = "img") -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        f = rng.uniform(2, 9, 3)
        img = np.stack([0.5 + 0.4 * np.sin(f[c] * (xx + (c + 1) * yy) * 3.1) for c in range(3)])
        save_rgb(torch.from_numpy(img).float().clamp(0, 1), folder / f"{prefix}_{i:02d}.png")


def _script(name: str, *args) -> str:
    done = subprocess.run([sys.executable, str(Path("experiments") / "scripts" / f"{name}.py"), *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory) -> Path:
    """A tiny benchmark output folder without the checkpoint study (``--no-curve``)."""
    root = tmp_path_factory.mktemp("lab")
    _images(root / "hr", 28, 128, 0)  # 14 real LR images: noref_compare scores 12 against the rest
    _images(root / "test", 2, 72, 1, prefix="test")
    run_quality_bench(root / "out", hr_train=root / "hr", test_hr=[root / "test"], recipe="mild",
                      preset="tiny", seed=0, device="cpu", checkpoint_curve=False, log=lambda *a: None)
    return root / "out"


def test_checkpoint_curve_adds_the_study(bench_run):
    assert "noref" not in json.loads((bench_run / "results.json").read_text())
    _script("checkpoint_curve", bench_run)
    noref = json.loads((bench_run / "results.json").read_text())["noref"]
    assert noref["checkpoints"] and all(np.isfinite(r["pseudo_psnr"]) for r in noref["checkpoints"])
    assert "Spearman" in (bench_run / "results.md").read_text()


def test_noref_compare_writes_one_row_per_checkpoint(bench_run):
    out = _script("noref_compare", bench_run)
    rows = json.loads((bench_run / "curve_exp.json").read_text())
    assert rows and {"kid_trained", "cyc_random", "sr_noise", "pseudo_psnr"} <= set(rows[0])
    assert "Spearman" in out


def test_residual_noise_prints_a_level_per_folder(bench_run):
    lines = _script("residual_noise", bench_run).splitlines()
    assert lines[0].startswith("test HR content:") and lines[1].startswith(str(bench_run))


def test_noref_train_writes_loadable_features(tmp_path):
    pytest.importorskip("skimage")
    from cyclesr.eval.features import PatchFeatures

    out = tmp_path / "features.safetensors"
    _script("noref_train", "--out", out, "--patches", 40, "--steps", 3)
    assert PatchFeatures.trained(out)(torch.rand(1, 3, 32, 32)).ndim == 2


def test_fixed_degradation_scores_an_sr_network_trained_on_the_given_camera(bench_run):
    out = json.loads(_script("fixed_degradation", bench_run, "--preset", "tiny", "--sigma", "0.7",
                             "--sharpen-max", "0.8", "--noise-max", "0.01").strip().splitlines()[-1])
    assert out["args"]["sharpen_max"] == 0.8 and np.isfinite(out["scores"]["psnr_y"])
