"""Shared fixtures: tiny generated image folders and a tiny config in Vega's layout.

The suite runs its tiny networks on one thread (and tells the processes it starts to do the
same): at these sizes threading costs more than it gives, and on a shared CPU competing
OpenMP threads make steps many times slower."""
import os
from pathlib import Path

import pytest
import torch
import yaml

from cyclesr.data.io import write_image

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _smooth(g, h, w):
    low = torch.rand(1, 3, max(2, h // 8), max(2, w // 8), generator=g)
    return torch.nn.functional.interpolate(low, size=(h, w), mode="bicubic").clamp(0, 1)[0]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> dict:
    """HR and (unpaired) real-LR training folders plus a paired validation set, x4."""
    root = tmp_path_factory.mktemp("tiny_data")
    g = torch.Generator().manual_seed(0)
    for i in range(4):
        write_image(root / "hr" / f"hr_{i}.png", _smooth(g, 80, 72))
        real = torch.nn.functional.avg_pool2d(_smooth(g, 96, 96)[None], 4)[0]
        write_image(root / "real_lr" / f"real_{i}.png", (real + 0.03 * torch.randn(real.shape, generator=g)).clamp(0, 1))
    for i in range(2):
        hr = _smooth(g, 48, 40)
        write_image(root / "val_hr" / f"v{i}.png", hr)
        write_image(root / "val_lr" / f"v{i}.png", torch.nn.functional.avg_pool2d(hr[None], 4)[0])
    return {k: root / k for k in ("hr", "real_lr", "val_hr", "val_lr")} | {"root": root}


def vega_config(data: dict, **trainer) -> dict:
    """A tiny config in the reference framework's nested layout."""
    custom = {"type": "CycleSRModel", "SR_lam": 1000, "cycleSR_lam": 1000, "grad_clip": 50,
              "cyc_lr": 2e-4, "SR_lr": 1e-4,
              "cyclegan": {"input_nc": 3, "output_nc": 3, "ngf": 4, "ndf": 4, "n_layers_D": 2,
                           "norm": "instance", "lambda_cycle": 10.0, "lambda_identity": 0.5,
                           "buffer_size": 4, "up_mode": "transpose", "n_blocks": 1},
              "VDSR": {"name": "VDSR", "SR_nb": 2, "SR_nf": 8, "SR_norm_type": "batch", "upscale": 4,
                       "input_nc": 3, "output_nc": 3}}
    return {
        "general": {"backend": "pytorch"}, "pipeline": ["fully_train"],
        "fully_train": {
            "pipe_step": {"type": "TrainPipeStep"},
            "dataset": {"type": "Div2kUnpair", "common": {"upscale": 4},
                        "train": {"HR_dir": str(data["hr"]), "LR_dir": str(data["real_lr"]),
                                  "batch_size": 2, "num_workers": 0, "upscale": 4, "crop_size": 16,
                                  "shuffle": True, "iters_per_epoch": 2},
                        "test": {"HR_dir": str(data["val_hr"]), "LR_dir": str(data["val_lr"]),
                                 "batch_size": 1, "val_ps_offset": 2}},
            "trainer": {"type": "Trainer", "callbacks": "CyclesrTrainerCallback", "lazy_built": True,
                        "epoch_count": 1, "n_epoch": 2, "n_epoch_decay": 2, "eval_epoch": 2,
                        "print_freq": 1, "val_ps_offset": 2, "lr_policy": "linear",
                        "warmup_epochs": 1, "pretrain_epochs": 1, **trainer,
                        "model_desc": {"modules": ["custom"], "custom": custom}}}}


@pytest.fixture
def vega_config_file(tiny_data, tmp_path) -> Path:
    path = tmp_path / "cyclesr_vega.yml"
    path.write_text(yaml.safe_dump(vega_config(tiny_data)))
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny x2 model (VDSR without norm, G at full resolution) published as training does."""
    from cyclesr.config import config_from_dict
    from cyclesr.model import build_model
    from cyclesr.modelfile.publish import publish

    cfg = config_from_dict({"dataset": {"upscale": 2},
                            "model": {"G": {"name": "ResnetGenerator", "ngf": 4, "n_blocks": 1, "n_downsampling": 0},
                                      "sr": {"name": "VDSR", "SR_nb": 1, "SR_nf": 4, "SR_norm_type": "none"}}})
    torch.manual_seed(0)
    nets = build_model(cfg)
    return publish(nets.SR, nets.G, cfg, tmp_path_factory.mktemp("model")).parent

