"""A run folder belongs to one run: a fresh training refuses a folder holding a run (unless
--overwrite), a second writer is refused by the folder's lock (a stale lock is taken over), a
kill between any two checkpoint writes leaves a consistent set that resumes, resume names the
config keys that cannot change, and bad --until-epoch / --device / folders are one line."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from cyclesr.cli import main
from cyclesr.config import config_from_dict
from cyclesr.engine.checkpoint import load_checkpoint
from cyclesr.engine.lock import RunFolderError, RunLock
from cyclesr.engine.trainer import Trainer

sys.path.insert(0, str(Path(__file__).parent))
from test_crash_safety import REPO, no_report, tiny_run_config, write_config  # noqa: E402,F401

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def cli_train(config: Path, run: Path, *extra: str) -> list[str]:
    return ["train", "--config", str(config), "--output-dir", str(run), "--no-progress", *extra]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


# ---------------------------------------------------------------- a folder that holds a run
def test_a_fresh_run_refuses_a_folder_holding_a_run_and_overwrite_starts_anew(tmp_path, capsys):
    config = write_config(tmp_path)
    run = tmp_path / "run"
    assert main(cli_train(config, run, "--until-epoch", "2")) == 0  # epoch 2 trains SR: best.pt
    old_best = (run / "checkpoints" / "best.pt").read_bytes()
    old_latest = (run / "checkpoints" / "latest.pt").read_bytes()
    capsys.readouterr()

    assert main(cli_train(config, run, "--until-epoch", "1")) == 2
    err = one_error_line(capsys)
    assert "already holds a run" in err and "--resume" in err and "--output-dir" in err and "--overwrite" in err
    assert (run / "checkpoints" / "latest.pt").read_bytes() == old_latest

    assert main(cli_train(config, run, "--until-epoch", "1", "--overwrite")) == 0  # warmup only: no best
    assert not (run / "checkpoints" / "best.pt").exists() and old_best  # the old run's best is gone
    latest = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert latest["epoch"] == 2 and latest["global_step"] == 2
    published = load_file(str(run / "model" / "model.safetensors"))
    for key, value in latest["nets"]["SR"].items():  # the model is this run's, not the old best
        assert torch.equal(published[f"sr.{key}"], value)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 2  # the old run's log went with it


# ---------------------------------------------------------------- the lock
def test_the_lock_refuses_a_second_writer_and_is_released_at_the_end(tmp_path):
    cfg = config_from_dict(tiny_run_config(tmp_path))
    first = Trainer(cfg, tmp_path / "run", progress=False)
    with pytest.raises(RunFolderError, match=f"in use by another training \\(process {os.getpid()}\\)"):
        Trainer(cfg, tmp_path / "run", progress=False)
    config = write_config(tmp_path)
    other = subprocess.run([sys.executable, "-m", "cyclesr", *cli_train(config, tmp_path / "run")],
                           cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
    assert other.returncode == 2 and other.stderr.startswith("error: run folder") and "in use" in other.stderr
    assert other.stderr.count("\n") == 1
    first.fit(until_epoch=1)  # releases the folder at its end
    Trainer(cfg, tmp_path / "run", resume=tmp_path / "run" / "checkpoints" / "latest.pt", progress=False).close()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from cyclesr.engine.lock import RunLock; lock = RunLock(sys.argv[1]).acquire(); "
        "print('locked', flush=True); time.sleep(60)"), str(tmp_path / "run")],
        cwd=REPO, env=ENV, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunFolderError, match=f"process {holder.pid}"):
        RunLock(tmp_path / "run").acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / "run" / ".lock").read_text().split()[0] == str(holder.pid)  # the stale file stays
    cfg = config_from_dict(tiny_run_config(tmp_path))
    Trainer(cfg, tmp_path / "run", progress=False).fit(until_epoch=1)


# ---------------------------------------------------------------- kills between checkpoint writes
KILLER = """
import os, signal, sys
from cyclesr.engine import checkpoint
from cyclesr.ops.files import TEMP_SUFFIX, temp_name_prefix
kill_at, mode = int(sys.argv[1]), sys.argv[2]
count, write = [0], checkpoint.atomic_write_bytes
def instrumented(path, data):
    count[0] += 1
    if count[0] == kill_at and mode == "during":  # half written to its temporary name
        (path.parent / f"{temp_name_prefix(path)}abcdefgh{TEMP_SUFFIX}").write_bytes(data[:len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    written = write(path, data)
    if count[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return written
checkpoint.atomic_write_bytes = instrumented
from cyclesr.cli import main
sys.exit(main(sys.argv[3:]))
"""


# Checkpoint writes of this run: epoch 1 (transfer only, no best): 1 epoch_0001, 2 latest;
# epoch 2 (SR pretraining, the first best): 3, 4, 5 = epoch_0002, best and latest in some order.
@pytest.mark.parametrize("kill_at, mode", [(3, "after"), (4, "after"), (5, "during")])
def test_a_kill_between_checkpoint_writes_leaves_a_consistent_set(tmp_path, kill_at, mode):
    config = write_config(tmp_path, n_epoch=2, n_epoch_decay=1, noref_images=2)
    run = tmp_path / "run"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    proc = subprocess.run([sys.executable, str(script), str(kill_at), mode, *cli_train(config, run)],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    checkpoints = run / "checkpoints"
    for path in checkpoints.glob("*.pt"):
        load_checkpoint(path)  # every file whole
    latest = load_checkpoint(checkpoints / "latest.pt")
    if latest["best"]["epoch"] > 0:  # the best weights latest.pt records exist
        assert load_checkpoint(checkpoints / "best.pt")["best"]["epoch"] >= latest["best"]["epoch"]
    assert all(load_checkpoint(p)["epoch"] >= latest["epoch"] - 1 for p in checkpoints.glob("epoch_*.pt"))

    cfg = config_from_dict(yaml.safe_load(config.read_text()))
    Trainer(cfg, run, resume=checkpoints / "latest.pt", progress=False).fit()
    latest, best = load_checkpoint(checkpoints / "latest.pt"), load_checkpoint(checkpoints / "best.pt")
    assert latest["epoch"] == 4 and best["best"]["epoch"] == latest["best"]["epoch"] == best["epoch"] - 1
    assert sorted(p.name for p in checkpoints.glob("*.pt")) == ["best.pt", "epoch_0002.pt", "epoch_0003.pt",
                                                                 "latest.pt"]
    assert not [p for p in checkpoints.iterdir() if p.name.endswith(".tmp")]
    steps = [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
             if r["kind"] == "train"]
    assert steps == list(range(1, 7))  # each step once


def test_resume_drops_what_a_killed_run_logged_after_its_checkpoint(tmp_path):
    cfg = config_from_dict(tiny_run_config(tmp_path))
    run = tmp_path / "run"
    Trainer(cfg, run, progress=False).fit(until_epoch=1)
    saved = tmp_path / "latest_epoch1.pt"
    shutil.copy(run / "checkpoints" / "latest.pt", saved)
    Trainer(cfg, run, resume=saved, progress=False).fit(until_epoch=2)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"kind": "train", "st')  # cut by the kill
    # as if killed before epoch 2's latest.pt: the log has epoch 2, the checkpoint does not
    shutil.copy(saved, run / "checkpoints" / "latest.pt")
    Trainer(cfg, run, resume=run / "checkpoints" / "latest.pt", progress=False).fit(until_epoch=2)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if r["kind"] == "train"]
    assert steps == [1, 2, 3, 4]
    assert [r["epoch"] for r in records if r["kind"] == "noref"] == [1, 2]


# ---------------------------------------------------------------- one line for each bad input
def test_resume_names_the_config_keys_that_cannot_change(tmp_path, capsys):
    config = write_config(tmp_path)
    run = tmp_path / "run"
    assert main(cli_train(config, run, "--until-epoch", "1")) == 0
    before = (run / "checkpoints" / "latest.pt").read_bytes()
    capsys.readouterr()
    rc = main(cli_train(config, run, "--resume", "--set", "dataset.train.crop_size=6", "--set", "trainer.amp=bf16",
                        "--set", "model.sr.SR_nf=8", "--set", "trainer.n_epoch=5"))
    err = one_error_line(capsys)
    assert rc == 2 and "cannot resume from" in err and "cannot change within a run" in err
    for change in ("dataset.train.crop_size (8 -> 6)", "trainer.amp ('off' -> 'bf16')", "model.sr.SR_nf (4 -> 8)"):
        assert change in err
    assert "n_epoch" not in err  # the schedule may change
    assert (run / "checkpoints" / "latest.pt").read_bytes() == before
    assert main(cli_train(config, run, "--resume", "--set", "trainer.n_epoch=5", "--until-epoch", "2")) == 0


def test_until_epoch_0_is_refused_and_nothing_is_published(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(cli_train(config, tmp_path / "run", "--until-epoch", "0")) == 2
    assert "--until-epoch must be 1 or more" in one_error_line(capsys)
    from cyclesr.api.train import train
    with pytest.raises(ValueError, match="until-epoch"):
        train(config_from_dict(tiny_run_config(tmp_path)), tmp_path / "run", until_epoch=0)
    assert not (tmp_path / "run").exists()


def test_a_read_only_output_folder_is_one_line(tmp_path, capsys):
    config = write_config(tmp_path)
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        if os.access(parent, os.W_OK):
            pytest.skip("running as root: a read-only folder is writable anyway (see the next test)")
        assert main(cli_train(config, parent / "run")) == 2
    finally:
        parent.chmod(0o755)
    err = one_error_line(capsys)
    assert "cannot write to the run folder" in err and "Permission denied" in err


def test_an_unwritable_run_folder_is_one_line(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path)

    def refused(*args, **kwargs):  # what a read-only folder answers to a user who is not root
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(os, "open", refused)
    assert main(cli_train(config, tmp_path / "ro_run")) == 2
    err = one_error_line(capsys)
    assert f"cannot write to the run folder '{tmp_path / 'ro_run'}': Permission denied" in err


@pytest.mark.parametrize("device", ["foo", "cuda"])
@pytest.mark.parametrize("command", ["train", "upscale", "degrade", "evaluate"])
def test_a_bad_device_is_one_line_in_every_command(tmp_path, tiny_model_dir, capsys, command, device):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    (tmp_path / "in").mkdir()
    from PIL import Image
    Image.new("RGB", (8, 8)).save(tmp_path / "in" / "a.png")
    args = {"train": cli_train(write_config(tmp_path), tmp_path / "run"),
            "upscale": ["upscale", "--checkpoint", str(tiny_model_dir), str(tmp_path / "in"), "-o", str(tmp_path / "o")],
            "degrade": ["degrade", "--checkpoint", str(tiny_model_dir), str(tmp_path / "in"), "-o", str(tmp_path / "o")],
            "evaluate": ["evaluate", "--checkpoint", str(tiny_model_dir), "--lr", str(tmp_path / "in")]}[command]
    assert main(args + ["--device", device]) == 2
    err = one_error_line(capsys)
    assert f"'{device}'" in err and ("unknown device" in err or "CUDA is not available" in err)
    assert not (tmp_path / "run").exists() and not (tmp_path / "o").exists()
