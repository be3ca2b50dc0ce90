"""Training steps: which networks change in which phase, and the optimised step equals a plain
implementation of the reference's iteration."""
import copy

import pytest
import torch

from cyclesr.config import config_from_dict
from cyclesr.engine.buffer import ImageBuffer
from cyclesr.engine.setup import make_optimizers, make_settings
from cyclesr.engine.steps import StepNets, pretrain_step, transfer_step
from cyclesr.model import build_model
from plain_step import plain_transfer_step

NAMES = ("G", "F", "D_X", "D_Y", "SR")


def tiny_cfg(**model):
    return config_from_dict({
        "dataset": {"upscale": 2, "train": {"crop_size": 16, "batch_size": 2}},
        "model": {"cyclegan": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_D": 2, "buffer_size": 3},
                  "sr": {"name": "VDSR", "SR_nb": 2, "SR_nf": 8, "SR_norm_type": "batch"},
                  "grad_clip": 0.05, **model}})


def setup(cfg, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    model = build_model(cfg).to(dtype)
    nets = StepNets(*(getattr(model, k) for k in NAMES))
    opt = make_optimizers(model, cfg, torch.device("cpu"))
    return model, nets, opt, (ImageBuffer(3, seed=1), ImageBuffer(3, seed=2))


def batch(dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {"clean_lr": torch.rand(2, 3, 16, 16, generator=g, dtype=dtype),
            "real_lr": torch.rand(2, 3, 16, 16, generator=g, dtype=dtype),
            "hr": torch.rand(2, 3, 32, 32, generator=g, dtype=dtype)}


def snapshot(model):
    return {k: [p.detach().clone() for p in getattr(model, k).parameters()] for k in NAMES}


def changed(before, model):
    return {k for k in NAMES
            if any(not torch.equal(a, b) for a, b in zip(before[k], getattr(model, k).parameters()))}


@pytest.mark.parametrize("phase, expected", [
    ("transfer", {"G", "F", "D_X", "D_Y"}), ("pretrain", {"SR"}), ("joint", set(NAMES))])
def test_phase_updates_the_right_networks(phase, expected):
    cfg = tiny_cfg()
    model, nets, opt, bufs = setup(cfg)
    before = snapshot(model)
    s = make_settings(cfg, torch.device("cpu"))
    out = (pretrain_step(nets, opt, batch(), s) if phase == "pretrain"
           else transfer_step(nets, opt, batch(), s, bufs, joint=phase == "joint"))
    assert out["ok"] and changed(before, model) == expected
    assert all(torch.isfinite(v) for v in out["losses"].values())


@pytest.mark.parametrize("lams", [(1000.0, 1000.0), (1000.0, 10.0), (5.0, 0.0)])
@pytest.mark.parametrize("joint", [False, True])
def test_optimised_step_equals_plain_step(joint, lams):
    cfg = tiny_cfg(SR_lam=lams[0], cycleSR_lam=lams[1])
    s = make_settings(cfg, torch.device("cpu"))
    assert s.batch_generators and s.batch_discriminators
    model_a, nets_a, opt_a, bufs_a = setup(cfg, torch.float64)
    model_b, nets_b, opt_b, bufs_b = setup(cfg, torch.float64)
    for _ in range(2):  # two iterations: the buffer starts swapping, Adam has momentum
        data = batch(torch.float64)
        transfer_step(nets_a, opt_a, data, s, bufs_a, joint=joint)
        plain_transfer_step(nets_b, opt_b, data, s, bufs_b, joint=joint)
    # float64, so batching changes nothing visible; atol is far below one Adam step (lr 2e-4)
    for k in NAMES:
        for (name, pa), pb in zip(getattr(model_a, k).named_parameters(), getattr(model_b, k).parameters()):
            assert torch.allclose(pa, pb, rtol=1e-6, atol=1e-7), f"{k}.{name} differs by {(pa - pb).abs().max():.3g}"


def test_non_finite_loss_skips_update():
    cfg = tiny_cfg()
    model, nets, opt, bufs = setup(cfg)
    before = snapshot(model)
    data = batch()
    data["hr"] = data["hr"] * float("nan")
    out = pretrain_step(nets, opt, data, make_settings(cfg, torch.device("cpu")))
    assert not out["ok"] and changed(before, model) == set()
