"""Vega's own example config, unchanged: every key is accepted, honoured or noted once, and it
trains after only its data paths and (on a CPU) sizes change, at its batch 64 and buffer 50."""
from pathlib import Path

import pytest
import torch

from cyclesr.config import ConfigError, config_from_dict, load_config
from cyclesr.config import vega_keys

REPO = Path(__file__).resolve().parents[2]
VEGA_FILE = REPO.parent / "shared" / "reference" / "vega-cyclesr-example.yml"
needs_file = pytest.mark.skipif(not VEGA_FILE.is_file(), reason="shared reference files not present")


@needs_file
def test_the_unchanged_file_loads_with_one_note_per_key_without_effect(monkeypatch, capsys):
    monkeypatch.setattr(vega_keys, "_NOTED", set())
    cfg = load_config(VEGA_FILE)
    tr, te, t = cfg.dataset.train, cfg.dataset.test, cfg.trainer
    assert (tr.batch_size, tr.crop_size, tr.num_workers, cfg.model.cyclegan.buffer_size) == (64, 120, 8, 50)
    assert (tr.cache, tr.pin_memory, tr.drop_last, tr.shuffle) == (False, False, True, True)
    assert (te.num_workers, te.val_ps_offset, t.continue_train, t.device) == (8, 10, None, "auto")
    assert (tr.x_resize, tr.augment, te.psnr) == ("pil", "hr_flips", "vega")  # Vega's pipeline
    notes = capsys.readouterr().err.strip().splitlines()
    keys = sorted(line.split("'")[1] for line in notes)
    assert keys == sorted(["dataset.train.load_size", "dataset.train.imgs_per_gpu",
                           "dataset.test.imgs_per_gpu", "dataset.test.shuffle", "dataset.test.pin_memory",
                           "dataset.test.drop_last", "model.use_distributed", "general.requires"])
    assert all(line.startswith("note: ") and "has no effect here: " in line for line in notes)
    load_config(VEGA_FILE)  # printed once per process
    assert capsys.readouterr().err == ""


@needs_file
def test_honoured_keys_change_what_they_say():
    sets = ["fully_train.dataset.train.save_in_memory=true", "fully_train.dataset.train.pin_memory=true",
            "fully_train.dataset.train.drop_last=false", "fully_train.trainer.continue_train=runs/a/latest.pt",
            "fully_train.trainer.model_desc.custom.use_cuda=false", "fully_train.trainer.epoch_count=3"]
    cfg = load_config(VEGA_FILE, sets)
    tr, t = cfg.dataset.train, cfg.trainer
    assert (tr.cache, tr.pin_memory, tr.drop_last) == (True, True, False)
    assert (t.continue_train, t.device, t.epoch_count) == ("runs/a/latest.pt", "cpu", 3)


def test_save_in_memory_and_cache_must_agree():
    with pytest.raises(ConfigError, match="save_in_memory"):
        config_from_dict({"dataset": {"train": {"save_in_memory": True, "cache": False}}})


def _images(folder: Path, n: int, side: int, seed: int) -> Path:
    from cyclesr.data.io import write_image
    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        low = torch.rand(1, 3, side // 8, side // 8, generator=g)
        write_image(folder / f"{i:04d}.png", torch.nn.functional.interpolate(low, size=(side, side),
                                                                            mode="bilinear")[0])
    return folder


@needs_file
def test_the_unchanged_file_trains_at_batch_64_and_buffer_50(tmp_path):
    from cyclesr.cli import main
    hr, lr = _images(tmp_path / "hr", 6, 96, 0), _images(tmp_path / "lr", 6, 24, 1)
    val_hr, val_lr = _images(tmp_path / "val_hr", 1, 96, 2), tmp_path / "val_lr"
    _images(val_lr, 1, 24, 3)
    custom = "fully_train.trainer.model_desc.custom"
    sets = [f"fully_train.dataset.train.HR_dir={hr}", f"fully_train.dataset.train.LR_dir={lr}",
            f"fully_train.dataset.test.HR_dir={val_hr}", f"fully_train.dataset.test.LR_dir={val_lr}",
            # sizes, for a CPU: crops, widths, depths, epochs and worker processes
            "fully_train.dataset.train.crop_size=24", "fully_train.dataset.train.num_workers=0",
            "fully_train.dataset.test.num_workers=0", f"{custom}.cyclegan.ngf=4", f"{custom}.cyclegan.ndf=4",
            f"{custom}.VDSR.SR_nb=1", f"{custom}.VDSR.SR_nf=4", "fully_train.trainer.n_epoch=7",
            "fully_train.trainer.n_epoch_decay=0", "fully_train.trainer.noref_images=0"]
    cfg = load_config(VEGA_FILE, sets)
    assert (cfg.dataset.train.batch_size, cfg.model.cyclegan.buffer_size) == (64, 50)
    run = tmp_path / "run"
    args = ["train", "--config", str(VEGA_FILE), "--output-dir", str(run), "--no-progress", "--device", "cpu"]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    assert (run / "checkpoints" / "latest.pt").is_file() and (run / "model" / "model.safetensors").is_file()
    assert "psnr_vega" in (run / "metrics.jsonl").read_text()


def test_impossible_sizes_stop_before_any_work_naming_the_key():
    def refuse(match, **sections):
        with pytest.raises(ConfigError, match=match):
            config_from_dict(sections, "c.yml")
    refuse(r"'dataset.train.crop_size' must be at least 24 for the discriminator", dataset={"train": {"crop_size": 16}})
    config_from_dict({"dataset": {"train": {"crop_size": 16}}, "model": {"D": {"n_layers": 2}}})
    refuse(r"'model.sr.SR_nf' must be greater than 0", model={"sr": {"SR_nf": 0}})
    refuse(r"'model.sr.SR_nb' must be greater than 0", model={"sr": {"SR_nb": 0}})
    refuse(r"'model.cyclegan.buffer_size' must be zero or more", model={"cyclegan": {"buffer_size": -1}})
    refuse(r"'dataset.train.batch_size' must be greater than 0", dataset={"train": {"batch_size": 0}})
    refuse(r"'dataset.train.augment' must be", dataset={"train": {"augment": "rot90"}})
    refuse(r"'dataset.test.psnr' must be one of y \| vega", dataset={"test": {"psnr": "rgb"}})
