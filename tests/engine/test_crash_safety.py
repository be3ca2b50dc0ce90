"""Crash safety: SIGKILL at a random moment, Ctrl-C, failed writes, NaN losses and checkpoint
rotation. Training always resumes from the last complete checkpoint and no file is corrupted."""
import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from cyclesr.cli import main
from cyclesr.config import config_from_dict
from cyclesr.ops import files as files_module
from cyclesr.engine.checkpoint import load_checkpoint
from cyclesr.engine.trainer import Trainer, TrainingStopped

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_report(monkeypatch):
    """The report at the end of training is tested in test_report.py and by the SIGKILL
    test's subprocess; skip it here."""
    import cyclesr.report.html
    monkeypatch.setattr(cyclesr.report.html, "build_report", lambda run_dir, *a, **k: None)


def tiny_run_config(root: Path, **trainer) -> dict:
    """Tiny unpaired data under ``root`` and a config (our layout) that trains on it quickly."""
    rng = np.random.default_rng(0)
    for folder, size in (("hr", 24), ("lr", 12)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (size, size + 2, 3), dtype=np.uint8)).save(root / folder / f"{i}.png")
    return {
        "dataset": {"upscale": 2, "train": {"HR_dir": str(root / "hr"), "LR_dir": str(root / "lr"),
                                            "batch_size": 2, "num_workers": 0, "crop_size": 8,
                                            "iters_per_epoch": 2}},
        "model": {"cyclegan": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_D": 1, "n_downsampling": 0,
                               "buffer_size": 2},
                  "sr": {"name": "VDSR", "SR_nb": 1, "SR_nf": 4, "SR_norm_type": "none"}},
        "trainer": {"n_epoch": 3, "n_epoch_decay": 1, "warmup_epochs": 1, "pretrain_epochs": 1,
                    "eval_epoch": 1, "print_freq": 1, "keep_checkpoints": 2, "device": "cpu",
                    "max_bad_steps": 3, **trainer},
    }


def write_config(root: Path, **trainer) -> Path:
    path = root / "config.yml"
    path.write_text(yaml.safe_dump(tiny_run_config(root, **trainer)))
    return path


def train_cmd(config: Path, run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cyclesr", "train", "--config", str(config), "--output-dir", str(run_dir),
            "--no-progress", *extra]


def start(cmd: list[str]) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"training ended before {path.name} appeared:\n{out}\n{err}")
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"{path} did not appear within {timeout} s")
        time.sleep(0.02)


def train_records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:  # the last line of a killed run may be cut
            pass
    return [r for r in records if r["kind"] == "train"]


def assert_checkpoints_sound(folder: Path) -> None:
    for path in folder.glob("*.pt"):
        load_checkpoint(path)  # raises on a truncated or corrupted file
    assert not [p for p in folder.iterdir() if p.name.endswith(".pt") and p.name.startswith(".")]


def test_sigkill_at_a_random_moment_then_resume(tmp_path):
    config = write_config(tmp_path, n_epoch=8, n_epoch_decay=2)
    run = tmp_path / "run"
    checkpoints = run / "checkpoints"
    proc = start(train_cmd(config, run))
    wait_for(checkpoints / "epoch_0001.pt", proc)
    first = time.time()
    wait_for(checkpoints / "epoch_0002.pt", proc)
    delay = random.uniform(0.0, 4 * (time.time() - first))  # somewhere in the next four epochs
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "training ended before the kill; make it longer"
    assert_checkpoints_sound(checkpoints)
    state = load_checkpoint(checkpoints / "latest.pt")
    (checkpoints / ".latest.pt.deadbeef.tmp").write_bytes(b"half a checkpoint")  # as a kill mid-write leaves

    resumed = subprocess.run(train_cmd(config, run, "--resume"), cwd=REPO, capture_output=True, text=True,
                             env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert resumed.returncode == 0, f"killed after {delay:.2f} s:\n{resumed.stderr}"
    assert "training finished" in resumed.stdout
    assert not list(checkpoints.glob(".*.tmp")) and "removed" in resumed.stderr
    steps = [r["step"] for r in train_records(run)]
    assert steps == list(range(1, steps[-1] + 1))  # each step once: what the killed run logged after
    new = [r for r in train_records(run) if r["step"] > state["global_step"]]  # latest.pt was dropped
    assert new[0]["epoch"] == state["epoch"] and new[0]["step"] == state["global_step"] + 1
    assert load_checkpoint(checkpoints / "latest.pt")["epoch"] == 11  # all 10 epochs done
    assert sorted(p.name for p in checkpoints.glob("epoch_*.pt")) == ["epoch_0009.pt", "epoch_0010.pt"]
    assert (run / "model" / "model.safetensors").is_file() and (run / "report.html").is_file()


def test_sigint_saves_a_checkpoint_and_resume_continues(tmp_path):
    config = write_config(tmp_path, n_epoch=6, n_epoch_decay=2)
    run = tmp_path / "run"
    proc = start(train_cmd(config, run))
    wait_for(run / "checkpoints" / "epoch_0001.pt", proc)
    before = (run / "checkpoints" / "latest.pt").stat().st_mtime_ns
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "SIGINT received" in err and "training interrupted" in out and "--resume" in out
    latest = run / "checkpoints" / "latest.pt"
    assert latest.stat().st_mtime_ns > before  # written on the way out
    state = load_checkpoint(latest)
    n_before = len(train_records(run))
    assert train_records(run)[-1]["step"] == state["global_step"]

    resumed = subprocess.run(train_cmd(config, run, "--resume", "--until-epoch", str(state["epoch"])),
                             cwd=REPO, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert resumed.returncode == 0, resumed.stderr
    new = train_records(run)[n_before:]
    assert new[0]["step"] == state["global_step"] + 1 and new[0]["epoch"] == state["epoch"]
    assert load_checkpoint(latest)["epoch"] == state["epoch"] + 1


@pytest.mark.parametrize("stop_at_batch", [0, 1])  # mid-epoch, and during the epoch's last batch
def test_stop_request_at_any_batch_resumes_cleanly(tmp_path, capsys, stop_at_batch):
    cfg = config_from_dict(tiny_run_config(tmp_path))
    run = tmp_path / "run"
    trainer = Trainer(cfg, run, progress=False)
    to_device = trainer._to_device

    def press_ctrl_c_in_epoch_2(batch):
        if trainer.epoch == 2 and trainer.iter_in_epoch == stop_at_batch:
            trainer._handle_signal(signal.SIGINT, None)
        return to_device(batch)
    trainer._to_device = press_ctrl_c_in_epoch_2
    summary = trainer.fit()
    assert summary["interrupted"] and "SIGINT received" in capsys.readouterr().err
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    expected = (2, 1) if stop_at_batch == 0 else (3, 0)  # (epoch, batches of it already done)
    assert (state["epoch"], state["iter_in_epoch"], state["global_step"]) == (*expected, 2 + stop_at_batch + 1)
    summary = Trainer(cfg, run, resume=run / "checkpoints" / "latest.pt", progress=False).fit()
    assert not summary["interrupted"] and summary["global_step"] == 8


def test_failed_writes_are_clear_errors_and_keep_the_previous_checkpoint(tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path)
    run = tmp_path / "run"
    args = ["train", "--config", str(config), "--output-dir", str(run), "--no-progress"]
    assert main(args + ["--until-epoch", "1"]) == 0
    latest = run / "checkpoints" / "latest.pt"
    good = latest.read_bytes()
    capsys.readouterr()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(files_module.os, "fsync", disk_full)
    assert main(args + ["--resume", "--until-epoch", "2"]) == 2
    err = capsys.readouterr().err
    # the first checkpoint write of the epoch's end fails (the per-epoch file, written before latest.pt)
    assert err.startswith(f"error: cannot write '{latest.parent / 'epoch_0002.pt'}': No space left on device")
    assert "previous file (if any) is intact" in err
    assert latest.read_bytes() == good and not list(latest.parent.glob(".*.tmp"))
    monkeypatch.undo()

    def read_only(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(files_module.tempfile, "mkstemp", read_only)
    assert main(args + ["--resume", "--until-epoch", "2"]) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err and "writable" in err
    assert latest.read_bytes() == good
    assert load_checkpoint(latest)["epoch"] == 2


@pytest.mark.parametrize("keep, expected", [(2, ["epoch_0003.pt", "epoch_0004.pt"]), (0, [])])
def test_keep_checkpoints_and_stale_temp_files(tmp_path, keep, expected):
    cfg = config_from_dict(tiny_run_config(tmp_path, keep_checkpoints=keep))
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    for stale in (".latest.pt.a1b2c3d4.tmp", ".epoch_0009.pt.x.tmp"):
        (folder / stale).write_bytes(b"partial")
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    # no validation set: best.pt is the checkpoint with the best pseudo-PSNR
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected + ["latest.pt", "best.pt"])


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")
def test_nan_losses_are_skipped_then_stop_training(tmp_path, capsys):
    cfg = config_from_dict(tiny_run_config(tmp_path))
    run = tmp_path / "run"
    Trainer(cfg, run, progress=False).fit(until_epoch=1)
    latest = run / "checkpoints" / "latest.pt"

    # a bad step (fewer than max_bad_steps=3 in a row) in the pretrain epoch: skipped, with a warning
    trainer = Trainer(cfg, run, resume=latest, progress=False)
    to_device = trainer._to_device
    sr_before = [p.detach().clone() for p in trainer.model.SR.parameters()]

    def nan_hr(batch):  # NaN in the target only: the SR loss is NaN, the images are fine
        batch = to_device(batch)
        if trainer.global_step == 2:
            batch["hr"] = torch.full_like(batch["hr"], float("nan"))
        elif trainer.global_step == 3:  # the bad step changed nothing
            assert all(torch.equal(a, b) for a, b in zip(sr_before, trainer.model.SR.parameters()))
        return batch
    trainer._to_device = nan_hr
    trainer.fit(until_epoch=2)
    err = capsys.readouterr().err
    assert err.count("non-finite loss") == 1 and "update skipped (1/3)" in err
    assert not all(torch.equal(a, b) for a, b in zip(sr_before, trainer.model.SR.parameters()))
    good = latest.read_bytes()

    # every step bad: stops after max_bad_steps with a clear message; latest.pt is not
    # overwritten at the end of the epoch in between (the state may hold non-finite values)
    trainer = Trainer(cfg, run, resume=latest, progress=False)
    trainer._to_device = lambda batch: {k: torch.full_like(v, float("nan")) for k, v in batch.items()
                                        if torch.is_tensor(v)}
    with pytest.raises(TrainingStopped, match="3 consecutive non-finite losses") as info:
        trainer.fit()
    assert str(latest) in str(info.value) and "--resume" in str(info.value)
    assert "not saving a checkpoint" in capsys.readouterr().err
    assert latest.read_bytes() == good
    assert load_checkpoint(latest)["epoch"] == 3
    assert all(torch.isfinite(p).all() for p in trainer.model.SR.parameters())


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # the NaN sample panel
def test_cli_reports_training_stopped(tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path)
    monkeypatch.setattr(Trainer, "_to_device", lambda self, batch: {
        k: torch.full_like(v, float("nan")) for k, v in batch.items() if torch.is_tensor(v)})
    rc = main(["train", "--config", str(config), "--output-dir", str(tmp_path / "run"), "--no-progress"])
    assert rc != 0
    assert "error: 3 consecutive non-finite losses" in capsys.readouterr().err


def test_without_validation_best_is_picked_by_pseudo_psnr_under_one_reference_G(tmp_path):
    cfg = config_from_dict(tiny_run_config(tmp_path, n_epoch=5, noref_images=2))
    run = tmp_path / "run"
    Trainer(cfg, run, progress=False).fit(until_epoch=3)
    Trainer(cfg, run, resume=run / "checkpoints" / "latest.pt", progress=False).fit()
    latest = load_checkpoint(run / "checkpoints" / "latest.pt")
    ref, best = latest["noref_ref"], latest["best"]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    noref = [r for r in rows if r["kind"] == "noref"]
    assert [r["epoch"] for r in noref] == [1, 2, 3, 4, 5, 6]  # resumed: no epoch twice
    # the reference G is the lowest-KID one, kept across the resume, and its weights are G's then
    assert ref["kid"] == min(r["kid"] for r in noref) and ref["epoch"] in {r["epoch"] for r in noref}
    assert set(ref["G"]) == set(latest["nets"]["G"])
    scored = [r for r in noref if "pseudo_psnr" in r]
    assert [r["epoch"] for r in scored] == [2, 3, 4, 5, 6]  # from the first SR epoch (pretrain) on
    # best.pt: the SR network with the best pseudo-PSNR among those scored under the final reference G
    same_G = [r for r in scored if r["epoch"] >= ref["epoch"]]
    assert best["pseudo_psnr"] >= max(r["pseudo_psnr"] for r in same_G) - 1e-9
    assert load_checkpoint(run / "checkpoints" / "best.pt")["epoch"] == best["epoch"] + 1
