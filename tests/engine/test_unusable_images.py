"""One list of usable images for every reader of a training folder: a broken file that the
loader skips is skipped by G's calibration and the no-reference score too, at the first
evaluation and after a resume (before, the evaluation crashed on it, run after run)."""
import json

import pytest
import torch

from cyclesr.config import config_from_dict
from cyclesr.data.io import write_image
from cyclesr.data.sampling import sample_images, usable_images
from cyclesr.engine.checkpoint import load_checkpoint
from cyclesr.engine.trainer import Trainer
from cyclesr.engine.training_data import calibrate_generator

from tests.engine.test_crash_safety import tiny_run_config


@pytest.fixture(autouse=True)
def no_report(monkeypatch):
    import cyclesr.report.html
    monkeypatch.setattr(cyclesr.report.html, "build_report", lambda run_dir, *a, **k: None)


def _break(folder):
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    write_image(folder / "truncated_src.png", torch.rand(3, 24, 26))
    data = (folder / "truncated_src.png").read_bytes()
    (folder / "truncated_src.png").unlink()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])  # the header reads, the pixels do not


@pytest.mark.filterwarnings("ignore:skipping")
def test_every_reader_takes_the_same_usable_list(tmp_path):
    tiny_run_config(tmp_path)
    _break(tmp_path / "lr")
    usable, skipped = usable_images(tmp_path / "lr")
    assert [p.name for p in usable] == ["0.png", "1.png", "truncated.png"]
    assert len(skipped) == 1 and "broken.png" in skipped[0] and "unreadable" in skipped[0]
    with pytest.warns(UserWarning, match="truncated.png"):
        images = sample_images(tmp_path / "lr", 10, seed=0)
    assert len(images) == 2  # the truncated file is warned about and left out

    class Calibrated(torch.nn.Module):
        def calibrate(self, real_lr):
            self.seen = len(real_lr)
            return {"compressed": 0, "images": len(real_lr), "range": None}

    G = Calibrated()
    calibrate_generator(G, tmp_path / "lr", announce=False)
    assert G.seen == 2


@pytest.mark.filterwarnings("ignore:skipping")
def test_a_training_folder_with_broken_files_trains_evaluates_and_resumes(tmp_path):
    raw = tiny_run_config(tmp_path, n_epoch=3, noref_images=4)
    for folder in ("hr", "lr"):
        _break(tmp_path / folder)
    cfg = config_from_dict(raw)
    run = tmp_path / "run"
    Trainer(cfg, run, progress=False).fit(until_epoch=2)
    Trainer(cfg, run, resume=run / "checkpoints" / "latest.pt", progress=False).fit()
    latest = load_checkpoint(run / "checkpoints" / "latest.pt")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    noref = [r["epoch"] for r in rows if r["kind"] == "noref"]
    assert noref == list(range(1, cfg.trainer.n_epoch + cfg.trainer.n_epoch_decay + 1))  # every epoch, resumed
    assert "pseudo_psnr" in latest["best"]  # the no-reference score ran on the broken folders


def test_calibration_gets_clean_lr_images_only_when_the_generator_fits_both_domains(tmp_path):
    """A generator with ``spectral_fit`` gets the HR images' centres downscaled as training does,
    each at most the calibration side; any other generator only the real LR images."""
    for i in range(2):
        write_image(tmp_path / "hr" / f"{i}.png", torch.rand(3, 40, 44 + 4 * i))
        write_image(tmp_path / "lr" / f"{i}.png", torch.rand(3, 12, 12))

    class Calibrated(torch.nn.Module):
        def __init__(self, spectral_fit):
            super().__init__()
            self.spectral_fit = spectral_fit

        def calibrate(self, real_lr, clean_lr=None, kept=False):
            self.real, self.clean = real_lr, clean_lr
            return {"compressed": 0, "images": len(real_lr), "range": None}

    plain, fits = Calibrated(False), Calibrated(True)
    for G in (plain, fits):
        calibrate_generator(G, tmp_path / "lr", announce=False, hr_dir=tmp_path / "hr", scale=4)
    assert plain.clean is None and len(plain.real) == 2
    assert sorted(tuple(c.shape) for c in fits.clean) == [(3, 10, 11), (3, 10, 12)]
    assert sample_images(tmp_path / "hr", 2, multiple=4, max_side=32)[1].shape[-2:] == (32, 32)
