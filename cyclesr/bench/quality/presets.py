"""Presets and designs of the quality benchmark.

A preset fixes what the trained methods share, so that they compare at equal budget: the SR
network, LR patch, batch, the SR network's learning rate, loss weight and gradient clipping, the
number of SR updates, the schedule, and the sizes of the transfer networks. A design is what
CycleSR adds on top: G, D, their loss weights, the synthetic mix and whether the SR network
first trains on bicubic pairs. A design is written once, as YAML: the ``model:`` section of a
config file, plus ``trainer.pretrain_epochs: 0`` where the design skips that pretraining (the
preset's pretraining epochs then become joint epochs: the same SR updates either way).

``--design`` takes a product design name (``camera-fit``, the default, ``camera-jpeg`` and
``reference``: the model sections of the shipped ``camera_fit_cpu.yml``, ``camera_cpu.yml`` and
``cyclesr_x4.yml``) or the path of a YAML design file (the lab's live in ``experiments/designs/``).
"""
from __future__ import annotations

import inspect
from pathlib import Path

from cyclesr.config import load_config
from cyclesr.nets.registry import resolve_net

__all__ = ["PRESETS", "PRODUCT_DESIGNS", "DEFAULT_DESIGN", "design_file", "load_design",
           "cyclesr_layout", "sr_updates"]

# Schedule unit: epochs of ``iters`` iterations. warmup = transfer only, pretrain = SR only on
# bicubic pairs, joint = both; the baselines (b) and (d) get pretrain + joint SR updates.
# G and D: sizes given to the transfer networks whose constructors take them.
PRESETS: dict[str, dict] = {
    "tiny": dict(  # for tests: seconds
        crop=16, batch=2, iters=3, warmup=1, pretrain=1, joint=2, decay=1, eval_every=1,
        sr={"name": "EDSR", "num_feat": 8, "num_block": 1}, sr_lr=1e-4,
        G=dict(ngf=8, n_blocks=1), D=dict(ndf=8, n_layers=2), noref_images=4, noref_patch=8,
        max_test=None),
    "cpu-small": dict(  # sized for a CPU: within about 45 minutes on 2 cores
        crop=24, batch=4, iters=100, warmup=16, pretrain=6, joint=18, decay=8, eval_every=2,
        sr={"name": "cyclesr.nets.fastsr:BicubicResidualSR", "num_feat": 48, "num_block": 8}, sr_lr=5e-4,
        G=dict(ngf=16, n_blocks=2), D=dict(ndf=32, n_layers=2), noref_images=25, noref_patch=32,
        max_test=None),
    "gpu": dict(  # the reference's network sizes
        crop=32, batch=16, iters=1000, warmup=5, pretrain=5, joint=40, decay=20, eval_every=5,
        sr={"name": "VDSR", "SR_nb": 20, "SR_nf": 64, "SR_norm_type": "batch"}, sr_lr=1e-4,
        G=dict(ngf=64, n_blocks=9), D=dict(ndf=64, n_layers=3), noref_images=50, noref_patch=32,
        max_test=None),
}

PRODUCT_DESIGNS = {"reference": "cyclesr_x4.yml", "camera-jpeg": "camera_cpu.yml", "camera-fit": "camera_fit_cpu.yml"}
DEFAULT_DESIGN = "camera-fit"
_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def sr_updates(p: dict) -> int:
    """SR network updates in one CycleSR run (= the baselines' budget)."""
    return (p["pretrain"] + p["joint"]) * p["iters"]


def design_file(design: str | Path) -> Path:
    """The YAML file of a design: a product design's shipped config, or the given path."""
    if str(design) in PRODUCT_DESIGNS:
        return _CONFIGS / PRODUCT_DESIGNS[str(design)]
    path = Path(design)
    if path.suffix in (".yml", ".yaml") and path.is_file():
        return path
    raise ValueError(f"unknown design {str(design)!r}: give {' or '.join(PRODUCT_DESIGNS)}, or a YAML "
                     "design file (e.g. experiments/designs/improved-mix.yml)")


def _flat(spec: dict) -> dict:
    """A network spec as one mapping ``{name, **kwargs}`` (the YAML form)."""
    spec = dict(spec)
    return {**(spec.pop("kwargs", None) or {}), **spec}


def load_design(design: str | Path) -> tuple[dict, bool]:
    """The design's model section (our layout, each network a flat spec) and whether its SR
    network pretrains on bicubic pairs. Only ``model`` and ``trainer.pretrain_epochs`` of the
    file count: the preset gives the data, sizes and schedule."""
    cfg = load_config(design_file(design))
    model = cfg.to_dict()["model"]
    for key in ("G", "D", "sr"):
        model[key] = _flat(model[key])
    return model, cfg.trainer.pretrain_epochs > 0


def _sized(spec: dict, sizes: dict) -> dict:
    """``spec`` with the preset's sizes for the constructor arguments the network takes (a
    camera-model G has no width or depth to set)."""
    params = inspect.signature(resolve_net(spec["name"])).parameters
    return {**spec, **{k: v for k, v in sizes.items() if k in params}}


def cyclesr_layout(p: dict, design: str | Path, hr_dir: str, lr_dir: str, seed: int) -> dict:
    """A config dict (our layout) for the CycleSR run (c) of a preset and design."""
    model, pretrains = load_design(design)
    # The SR side is the preset's, shared with the baselines: their plain MSE is the SR loss at
    # weight 1 (the reference's 1000 would change what gradient clipping sees), the same
    # learning rate, clipping and network. G's SR-loss weight (cycleSR_lam) is the design's.
    model.update(SR_lam=1.0, SR_lr=p["sr_lr"], grad_clip=50.0, sr=dict(p["sr"]),
                 G=_sized(model["G"], p["G"]), D=_sized(model["D"], p["D"]))
    # a design that keeps G as calibrated (cyc_lr 0) has no warm-up: nothing would train in it
    warmup = 0 if model["cyc_lr"] == 0 else p["warmup"]
    total = warmup + p["pretrain"] + p["joint"]
    # the same number of SR updates either way: without pretraining, the joint phase is longer
    pretrain = p["pretrain"] if pretrains else 0
    return {
        "dataset": {"upscale": 4, "train": {
            "HR_dir": hr_dir, "LR_dir": lr_dir, "batch_size": p["batch"], "num_workers": 0,
            "crop_size": p["crop"], "cache": True, "iters_per_epoch": p["iters"]}},
        "model": model,
        "trainer": {"n_epoch": total - p["decay"], "n_epoch_decay": p["decay"],
                    "warmup_epochs": warmup, "pretrain_epochs": pretrain,
                    "eval_epoch": p["eval_every"], "print_freq": max(1, p["iters"]),
                    "keep_checkpoints": 10_000, "seed": seed, "device": "auto"},
    }
