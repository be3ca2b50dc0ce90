"""Training variants through the Python API: upscale 1 with a user network from a .py file,
EMA, loader workers; the loader's batches are reproducible with and without workers."""
import re
import textwrap

import pytest
import torch

import cyclesr
from cyclesr.config import config_from_dict
from cyclesr.data.datasets import UnpairedDataset
from cyclesr.data.loader import EpochSampler, make_loader
from cyclesr.engine.checkpoint import CheckpointError, load_checkpoint
from cyclesr.model import build_model

USER_NET = textwrap.dedent('''
    from torch import nn

    class Denoiser(nn.Module):
        def __init__(self, width=8, upscale=1):
            super().__init__()
            self.scale = upscale
            self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(width, 3, 3, padding=1))

        def forward(self, x):
            return x + self.body(x)
''')


def test_upscale_1_user_network_ema_workers(tiny_data, tmp_path):
    net_file = tmp_path / "my_nets.py"
    net_file.write_text(USER_NET)
    cfg = config_from_dict({
        "dataset": {"upscale": 1,
                    "train": {"HR_dir": str(tiny_data["real_lr"]), "LR_dir": str(tiny_data["real_lr"]),
                              "batch_size": 2, "num_workers": 2, "crop_size": 16, "iters_per_epoch": 2},
                    "test": {"LR_dir": str(tiny_data["val_lr"])}},
        "model": {"ema_decay": 0.9,
                  "cyclegan": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_D": 2, "buffer_size": 2},
                  "sr": {"name": f"{net_file}:Denoiser", "width": 6}},
        "trainer": {"n_epoch": 2, "n_epoch_decay": 1, "warmup_epochs": 1, "pretrain_epochs": 1,
                    "eval_epoch": 1, "lr_policy": "step", "lr_decay_step": 1}}, "variants.yml")
    summary = cyclesr.train(cfg, tmp_path / "run", progress=False)
    assert summary["global_step"] == 6 and summary["model_dir"]
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    raw, ema = state["nets"]["SR"], state["sr_ema"]
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)  # the EMA lags the raw weights
    # a published model names installed networks only: the user's own code builds this one
    with pytest.raises(CheckpointError, match="Denoiser"):
        cyclesr.load(tmp_path / "run" / "model")
    model = cyclesr.CycleSR(build_model(cfg).SR, None, scale=1)
    model.sr.load_state_dict(ema)
    x = torch.rand(3, 11, 13)
    assert model.upscale(x).shape == x.shape
    assert sorted(p.name for p in (tmp_path / "run" / "val" / "epoch_0003").iterdir()) == ["v0.png", "v1.png"]


def test_loader_batches_do_not_depend_on_workers(tiny_data):
    def batches(workers):
        ds = UnpairedDataset(tiny_data["hr"], tiny_data["real_lr"], 8, 4, length=8, seed=3)
        sampler = EpochSampler(8, 2, seed=3)
        loader = make_loader(ds, sampler, workers, pin_memory=False)
        out = []
        for epoch in (1, 2):
            sampler.set_epoch(epoch)
            out += [b["hr"] for b in loader]
        return out
    a, b = batches(0), batches(2)
    assert len(a) == 8 and all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], a[4])  # another epoch, other crops


def test_camera_jpeg_generator_is_calibrated_on_the_real_lr_and_keeps_it_on_resume(tiny_data, tmp_path, capsys):
    import io

    import numpy as np
    from PIL import Image

    from cyclesr.data.io import load_rgb

    real = tmp_path / "real_jpeg"
    real.mkdir()
    for i, path in enumerate(sorted(tiny_data["hr"].iterdir())):  # 80x72 images JPEG'd at 35-50, kept as PNG
        arr = (load_rgb(path).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=35 + 5 * i)
        Image.open(buf).save(real / f"r{i}.png")
    cfg = config_from_dict({
        "dataset": {"upscale": 4, "train": {"HR_dir": str(tiny_data["hr"]), "LR_dir": str(real), "batch_size": 2,
                                            "num_workers": 0, "crop_size": 16, "iters_per_epoch": 2}},
        "model": {"cycleSR_lam": 0, "cyclegan": {"lambda_cycle": 0, "lambda_identity": 0},
                  "G": {"name": "CameraJpegGenerator"},
                  "D": {"name": "NLayerDiscriminator", "ndf": 4, "n_layers": 2},
                  "sr": {"name": "EDSR", "num_feat": 8, "num_block": 1}},
        "trainer": {"n_epoch": 1, "n_epoch_decay": 1, "warmup_epochs": 1, "pretrain_epochs": 0}}, "camera.yml")
    cyclesr.train(cfg, tmp_path / "run", progress=False, until_epoch=1)
    low, high = map(int, re.search(r"4 of 4 were JPEG-compressed last: JPEG quality (\d+)-(\d+)",
                                   capsys.readouterr().out).groups())
    assert abs(low - 35) <= 1 and abs(high - 50) <= 1  # smooth images: tables 1 apart can tie
    latest = tmp_path / "run" / "checkpoints" / "latest.pt"
    assert load_checkpoint(latest)["nets"]["G"]["jpeg_quality"].tolist() == [low, high]
    cyclesr.train(cfg, tmp_path / "run", progress=False, resume=latest)
    assert "JPEG-compressed" not in capsys.readouterr().out  # measured once, kept in the checkpoint
    assert load_checkpoint(latest)["nets"]["G"]["jpeg_quality"].tolist() == [low, high]
    published = cyclesr.load(tmp_path / "run" / "model")  # the published G compresses as trained
    assert published.G.jpeg_quality.tolist() == [low, high]


def test_a_generator_kept_as_calibrated_trains_only_the_sr_network(tiny_data, tmp_path):
    """model.cyc_lr: 0: no warm-up, every epoch trains the SR network on the calibrated G's
    output (with per-image blur, sharpening and noise drawn), and G, F, D stay as they started."""
    cfg = config_from_dict({
        "dataset": {"upscale": 4, "train": {"HR_dir": str(tiny_data["hr"]), "LR_dir": str(tiny_data["real_lr"]),
                                            "batch_size": 2, "num_workers": 0, "crop_size": 16,
                                            "iters_per_epoch": 2}},
        "model": {"cycleSR_lam": 0, "cyc_lr": 0, "cyclegan": {"lambda_cycle": 0, "lambda_identity": 0},
                  "G": {"name": "CameraJpegGenerator", "random_blur": 0.6, "random_sharpen": 0.8,
                        "random_noise": True},
                  "D": {"name": "NLayerDiscriminator", "ndf": 4, "n_layers": 2},
                  "sr": {"name": "EDSR", "num_feat": 8, "num_block": 1}},
        "trainer": {"n_epoch": 1, "n_epoch_decay": 1, "warmup_epochs": 0, "pretrain_epochs": 0,
                    "keep_checkpoints": 5}}, "frozen.yml")
    torch.manual_seed(0)
    start = build_model(cfg)
    summary = cyclesr.train(cfg, tmp_path / "run", progress=False)
    assert summary["global_step"] == 4
    nets = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["nets"]
    for name in ("G", "F", "D_X", "D_Y"):
        for key, value in getattr(start, name).state_dict().items():
            if key != "jpeg_quality":  # measured at the start
                assert torch.equal(nets[name][key], value), f"{name}.{key}"
    assert any(not torch.equal(nets["SR"][k], v) for k, v in start.SR.state_dict().items())
