"""Evaluation of the quality benchmark: test-set scores of an SR network, and the checkpoint
study (does a score without ground truth rank CycleSR's checkpoints as the test PSNR does?)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cyclesr.data.degrade import bicubic_downscale
from cyclesr.data.io import list_images, load_rgb
from cyclesr.engine.checkpoint import load_checkpoint
from cyclesr.engine.schedule import phase_at
from cyclesr.eval.noref import generate_fake_lr, noref_scores, pseudo_psnr, sample_images, spearman
from cyclesr.eval.paired import evaluate_sr
from cyclesr.model import build_model
from cyclesr.ops.resize import crop_to_multiple

__all__ = ["score_test_set", "curve_images", "joint_checkpoints", "checkpoint_study"]


def score_test_set(sr_net, dirs: dict, device, max_images=None, tile=None) -> tuple[dict, dict]:
    """PSNR-Y, SSIM-Y and RGB PSNR on the test pairs: of ``sr_net`` (tiled when ``tile`` is
    given), and of bicubic upsampling."""
    res = evaluate_sr(sr_net, dirs["test_lr"], dirs["test_hr"], 4, device=device, tile=tile,
                      max_images=max_images)
    keep = ("psnr_y", "ssim_y", "psnr_rgb")
    return ({k: res["mean"]["cyclesr"][k] for k in keep}, {k: res["mean"]["bicubic"][k] for k in keep})


def curve_images(dirs: dict, n: int) -> tuple[list, list]:
    """The fixed images of the checkpoint study (a seeded choice of ``n`` each): clean LR
    (bicubic x4 of HR-domain images cropped to a multiple of 4) and real LR images."""
    rng = np.random.default_rng(0)

    def pick(paths):
        return [paths[i] for i in sorted(rng.choice(len(paths), min(n, len(paths)), replace=False))]

    clean = [bicubic_downscale(crop_to_multiple(load_rgb(path), 4), 4) for path in pick(list_images(dirs["hr"]))]
    return clean, [load_rgb(path) for path in pick(list_images(dirs["real_lr"]))]


def joint_checkpoints(run_dir: Path, cfg):
    """(epoch, checkpoint state) of every joint-phase checkpoint of a run, oldest first."""
    for ckpt in sorted((run_dir / "checkpoints").glob("epoch_*.pt")):
        epoch = int(ckpt.stem.split("_")[1])
        if phase_at(epoch, cfg.trainer).name == "joint":
            yield epoch, load_checkpoint(ckpt)


def checkpoint_study(run_dir: Path, cfg, dirs: dict, device, p: dict, log=print) -> dict:
    """Test PSNR, no-reference KID and pseudo-PSNR of every joint-phase checkpoint; Spearman
    of -KID and of the pseudo-PSNR with the test PSNR. The pseudo-PSNR scores each checkpoint's
    SR network on pairs made from HR-domain images by one G for all: the checkpoint's G with
    the lowest KID (the most realistic degradation; each checkpoint's own G would mix how
    strong G degrades into the score)."""
    model = build_model(cfg).to(device)
    clean, real = curve_images(dirs, p["noref_images"])
    rows, states = [], []
    for epoch, state in joint_checkpoints(run_dir, cfg):
        states.append({k: state["nets"][k] for k in ("G", "SR")})
        model.SR.load_state_dict(state["nets"]["SR"])
        model.G.load_state_dict(state["nets"]["G"])
        psnr, _ = score_test_set(model.SR, dirs, device, p.get("max_test"))
        score = noref_scores(generate_fake_lr(model.G, clean, seed=0), real, patch=p["noref_patch"], seed=0)
        rows.append({"epoch": epoch, **psnr, "kid": score["kid"], "fake": score["fake"], "real": score["real"]})
    if not rows:
        return {"checkpoints": [], "spearman_neg_kid_vs_psnr_y": float("nan"),
                "spearman_pseudo_psnr_vs_psnr_y": float("nan"), "pseudo_psnr_G_epoch": None}
    ref = min(range(len(rows)), key=lambda i: rows[i]["kid"])
    model.G.load_state_dict(states[ref]["G"])
    hr = sample_images(dirs["hr"], p["noref_images"], seed=2, multiple=4)
    for row, state in zip(rows, states):
        model.SR.load_state_dict(state["SR"])
        row["pseudo_psnr"] = pseudo_psnr(model.SR, model.G, hr, 4, seed=0, device=device)
        log(f"  checkpoint epoch {row['epoch']}: psnr_y {row['psnr_y']:.3f}  pseudo-psnr {row['pseudo_psnr']:.3f}  "
            f"kid {row['kid']:.4f}  noise {row['fake']['noise']:.2f}/{row['real']['noise']:.2f}")
    ok = len(rows) > 1
    truth = [r["psnr_y"] for r in rows]
    return {"checkpoints": rows, "pseudo_psnr_G_epoch": rows[ref]["epoch"],
            "spearman_neg_kid_vs_psnr_y": spearman([-r["kid"] for r in rows], truth) if ok else float("nan"),
            "spearman_pseudo_psnr_vs_psnr_y": spearman([r["pseudo_psnr"] for r in rows], truth) if ok else float("nan")}
