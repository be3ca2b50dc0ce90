"""Distributed training: two CPU processes (gloo) launched by torchrun train a tiny CycleSR
through all three phases, resume distributed, and end with identical weights on both ranks;
only rank 0 writes checkpoints and logs (and fits the synthetic recipe)."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from cyclesr.data.io import save_rgb

NAMES = ("G", "F", "D_X", "D_Y", "SR")

# Run under torchrun: train (or resume) to an epoch, then write this rank's parameter digests.
WORKER = '''
import hashlib, json, sys
from pathlib import Path
from cyclesr.config import load_config
from cyclesr.engine import dist
from cyclesr.engine.trainer import Trainer

config, run_dir, until, resume, out = sys.argv[1:6]
trainer = Trainer(load_config(config), run_dir, device="cpu", resume=resume or None, progress=False)
try:
    trainer.fit(until_epoch=int(until))
    digests = {}
    for name in %r:
        h = hashlib.sha256()
        for p in getattr(trainer.model, name).parameters():
            h.update(p.detach().contiguous().numpy().tobytes())
        digests[name] = h.hexdigest()
    digests["synth_recipe"] = str(trainer.dataset.synth_recipe)
    Path(out, f"rank{trainer.ctx.rank}.json").write_text(json.dumps(digests))
finally:
    dist.cleanup(trainer.ctx)
''' % (NAMES,)


def _digest(params) -> str:
    h = hashlib.sha256()
    for p in params:
        h.update(p.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def _data(root: Path) -> tuple[Path, Path]:
    g = torch.Generator().manual_seed(0)
    for sub, side in (("hr", 48), ("lr", 24)):
        (root / sub).mkdir()
        for i in range(4):
            noise = torch.rand(1, 3, side // 4, side // 4, generator=g)
            img = torch.nn.functional.interpolate(noise, size=(side, side), mode="bilinear")
            save_rgb(img[0].clamp(0, 1), root / sub / f"{i}.png")
    return root / "hr", root / "lr"


def _torchrun(args: list[str], cwd: Path) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_two_process_gloo_training_keeps_ranks_identical(tmp_path):
    hr, lr = _data(tmp_path)
    cfg = {
        "dataset": {"upscale": 2, "train": {"HR_dir": str(hr), "LR_dir": str(lr), "crop_size": 16,
                                            "batch_size": 2, "num_workers": 0, "iters_per_epoch": 2}},
        # the synthetic half's recipe is fitted by rank 0 and sent to rank 1
        "model": {"synth_mix": 0.5, "synth_recipe": "fit",
                  "cyclegan": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_D": 2, "buffer_size": 3},
                  "sr": {"name": "VDSR", "SR_nb": 1, "SR_nf": 8, "SR_norm_type": "batch"}},
        "trainer": {"n_epoch": 2, "n_epoch_decay": 1, "warmup_epochs": 1, "pretrain_epochs": 1,
                    "eval_epoch": 1, "print_freq": 1, "keep_checkpoints": 5, "device": "cpu"},
    }
    config = tmp_path / "tiny.yml"
    config.write_text(yaml.safe_dump(cfg))
    run_dir, out = tmp_path / "run", tmp_path / "digests"
    out.mkdir()
    # epochs 1-2 (transfer, SR pretraining) through the CLI, then resume for epoch 3 (joint)
    _torchrun(["-m", "cyclesr", "train", "--config", str(config), "--output-dir", str(run_dir),
               "--until-epoch", "2", "--no-progress"], tmp_path)
    assert (run_dir / "checkpoints" / "latest.pt").is_file()
    assert (run_dir / "synth_recipe_fit.json").is_file()
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    _torchrun([str(worker), str(config), str(run_dir), "3",
               str(run_dir / "checkpoints" / "latest.pt"), str(out)], tmp_path)

    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1], {k: ranks[0][k] == ranks[1][k] for k in ranks[0]}
    fitted = json.loads((run_dir / "synth_recipe_fit.json").read_text())["recipe"]
    from cyclesr.data.degrade import Recipe
    assert ranks[1]["synth_recipe"] == str(Recipe.parse(fitted).with_scale(2))  # rank 1 got rank 0's fit
    # one checkpoint set, written by rank 0, holding the weights both ranks ended with
    files = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert files == ["best.pt", "epoch_0001.pt", "epoch_0002.pt", "epoch_0003.pt", "latest.pt"]  # best: pseudo-PSNR
    state = torch.load(run_dir / "checkpoints" / "latest.pt", map_location="cpu", weights_only=False)
    assert state["epoch"] == 4 and state["world"] == 2
    from cyclesr.config import config_from_dict
    from cyclesr.model import build_model
    model = build_model(config_from_dict(cfg))
    for name in NAMES:
        getattr(model, name).load_state_dict(state["nets"][name])
        assert _digest(getattr(model, name).parameters()) == ranks[0][name], name
    # logs from rank 0 only: each step's losses once
    steps = [r["step"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
             if r.get("kind", "train") == "train"]
    assert sorted(steps) == sorted(set(steps)) and len(steps) == 6


def test_a_non_finite_loss_on_another_rank_skips_the_update_here():
    """``StepSettings.agree`` makes the finite-loss flag global (all_reduce MIN under DDP);
    simulated here: another rank reports a non-finite loss, so this rank skips too."""
    from cyclesr.config import config_from_dict
    from cyclesr.engine.setup import make_optimizers, make_settings
    from cyclesr.engine.steps import StepNets, pretrain_step
    from cyclesr.model import build_model

    cfg = config_from_dict({"dataset": {"upscale": 2},
                            "model": {"sr": {"name": "VDSR", "SR_nb": 1, "SR_nf": 8}}})
    model = build_model(cfg)
    nets = StepNets(*(getattr(model, k) for k in NAMES))
    s = make_settings(cfg, torch.device("cpu"))
    s.agree = torch.zeros_like  # the minimum over ranks is 0: someone's loss was not finite
    before = [p.detach().clone() for p in model.SR.parameters()]
    batch = {"clean_lr": torch.rand(2, 3, 8, 8), "hr": torch.rand(2, 3, 16, 16)}
    out = pretrain_step(nets, make_optimizers(model, cfg, torch.device("cpu")), batch, s)
    assert not out["ok"]
    assert all(torch.equal(a, b) for a, b in zip(before, model.SR.parameters()))
