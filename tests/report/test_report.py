"""`cyclesr report`: a self-contained HTML page, checked in headless Chromium (images load, the
before/after slider moves) with a screenshot."""
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from cyclesr.cli import main
from cyclesr.config import config_from_dict
from cyclesr.api.train import train
from cyclesr.report.html import build_report, read_metrics



def _pattern(h, w, seed):
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    img = np.stack([np.sin(x / (2 + c) + seed) * np.cos(y / (3 + c)) for c in range(3)], -1) * 0.4 + 0.5
    return ((img + rng.normal(0, 0.03, img.shape)).clip(0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished tiny training run with validation images (training writes the report)."""
    root = tmp_path_factory.mktemp("report")
    for folder, size, n in (("hr", 24, 2), ("lr", 12, 2)):
        (root / folder).mkdir()
        for i in range(n):
            Image.fromarray(_pattern(size, size, i)).save(root / folder / f"{i}.png")
    (root / "val_lr").mkdir()
    (root / "val_hr").mkdir()
    for i, name in enumerate(("bird", "house")):
        hr = Image.fromarray(_pattern(40, 48, 10 + i))
        hr.save(root / "val_hr" / f"{name}.png")
        hr.resize((24, 20), Image.BICUBIC).save(root / "val_lr" / f"{name}.png")
    cfg = config_from_dict({
        "dataset": {"upscale": 2,
                    "train": {"HR_dir": str(root / "hr"), "LR_dir": str(root / "lr"), "batch_size": 2,
                              "num_workers": 0, "crop_size": 8, "iters_per_epoch": 2},
                    "test": {"HR_dir": str(root / "val_hr"), "LR_dir": str(root / "val_lr")}},
        "model": {"cyclegan": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_D": 1, "n_downsampling": 0},
                  "sr": {"name": "VDSR", "SR_nb": 1, "SR_nf": 4, "SR_norm_type": "none"}},
        "trainer": {"n_epoch": 2, "n_epoch_decay": 1, "warmup_epochs": 1, "pretrain_epochs": 1,
                    "eval_epoch": 1, "print_freq": 1, "val_ps_offset": 1, "device": "cpu"}})
    summary = train(cfg, root / "run", progress=False)
    assert summary["report"] == str(root / "run" / "report.html")
    return root / "run"


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources, self.ranges = [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.sources.append(attrs.get("src", ""))
        if tag == "input" and attrs.get("type") == "range":
            self.ranges += 1


def test_report_is_self_contained(run_dir, tmp_path, capsys):
    assert (run_dir / "report.html").is_file()  # written at the end of training
    out = tmp_path / "r.html"
    assert main(["report", str(run_dir), "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    page = out.read_text()
    parser = _Images()
    parser.feed(page)
    # 2 plots + per validation image: 4 views, slider pair (2), 4 zoomed crops
    assert len(parser.sources) == 2 + 2 * (4 + 2 + 4) and parser.ranges == 2
    assert all(src.startswith("data:image/png;base64,") for src in parser.sources)
    assert not re.search(r"(src|href)=\"(https?:|file:|/)", page)  # nothing outside the file
    val = read_metrics(run_dir)["val"]
    assert [r["epoch"] for r in val] == [1, 2, 3]
    assert page.count("<tr") == 1 + len(val) and "bird" in page and "house" in page


def test_report_of_a_run_without_validation_and_with_a_cut_log(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yml").write_text("dataset: {upscale: 4}\n")
    (run / "metrics.jsonl").write_text(
        '{"kind": "train", "step": 1, "epoch": 1, "G_gan": 1.0, "lr_sr": 0.1}\n'
        '{"kind": "train", "step": 2, "epoch": 1, "G_gan": 0.5, "lr_sr": 0.1}\n'
        '{"kind": "train", "step": 1, "epoch": 1, "G_gan": 0.9, "lr_sr": 0.1}\n'  # resumed: wins
        '{"kind": "train", "st')                                                  # killed mid-line
    assert [r["G_gan"] for r in read_metrics(run)["train"]] == [0.9, 0.5]
    page = build_report(run).read_text()
    assert "No validation metrics" in page and "No validation images" in page
    with pytest.raises(FileNotFoundError, match="not a CycleSR run folder"):
        build_report(tmp_path)


def test_a_failing_report_does_not_fail_training(run_dir, tmp_path, monkeypatch, capsys):
    import cyclesr.report.html

    def broken(*args, **kwargs):
        raise RuntimeError("matplotlib exploded")
    monkeypatch.setattr(cyclesr.report.html, "build_report", broken)
    cfg = config_from_dict(yaml.safe_load((run_dir / "config.yml").read_text()),
                           overrides=["dataset.test.LR_dir=null", "dataset.test.HR_dir=null"])
    summary = train(cfg, tmp_path / "run", progress=False, until_epoch=1)
    assert summary["report"] is None and summary["model_dir"]
    assert "warning: could not write the report: RuntimeError: matplotlib exploded" in capsys.readouterr().err


# ---------------------------------------------------------------- headless Chromium
def _chromium() -> str:
    """Debian's chromium, installed here when missing (as root with apt-get); else skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get): "
                    "apt-get install chromium")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=300)
        done = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                              env=env, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.skip("installing chromium with apt-get timed out")
    found = shutil.which("chromium")
    if not found:
        pytest.skip(f"apt-get install chromium failed: {done.stderr.strip()[-300:]}")
    return found


def _headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--no-default-browser-check", "--mute-audio", "--hide-scrollbars",
             f"--user-data-dir={profile}"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120)


def test_report_in_headless_chromium(run_dir, tmp_path):
    browser = _chromium()
    url = (run_dir / "report.html").resolve().as_uri()
    dom = _headless(browser, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", url + "#selftest")
    verdict = re.search(r'data-selftest="([^"]*)"', dom.stdout)
    assert verdict, f"the page's self-test did not run:\n{dom.stderr[-2000:]}"
    assert verdict.group(1) == "ok images=22 broken=0 sliders=2 moved=2"

    shot = tmp_path / "report.png"
    _headless(browser, tmp_path / "profile", "--window-size=1280,2000", f"--screenshot={shot}", url)
    assert shot.is_file(), "chromium wrote no screenshot"
    image = np.asarray(Image.open(shot).convert("L"))
    assert image.shape == (2000, 1280) and image.std() > 20  # a page, not a blank window
    shutil.copy(shot, run_dir / "report_screenshot.png")  # kept beside the run for a human look
