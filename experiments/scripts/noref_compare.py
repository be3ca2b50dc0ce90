"""Which no-reference score ranks CycleSR checkpoints like the test PSNR does?

For a finished ``cyclesr bench quality`` output folder (its ``cyclesr_run/checkpoints`` and
``data``), scores every joint-phase checkpoint with several no-reference variants and prints
the Spearman correlation of each with the test PSNR-Y:

- ``kid_random`` / ``kid_trained``: KID of G(bicubic(HR)) against real LR on the seeded random
  patch features / the shipped trained features (``cyclesr.eval.noref``);
- ``cyc_random`` / ``cyc_trained``: KID of G(bicubic(SR(y))) against other real LR images;
- ``noise_gap``, ``color_gap``, ``block_gap``, ``sharp_gap``: |gap| of the fake/real statistics;
- ``sr_noise``: the noise left in SR(y) for 16 real LR images y (Immerkaer's sigma after a
  bicubic x4 downscale; lower is better);
- ``pseudo_psnr``: PSNR-Y of each checkpoint's SR network on pseudo pairs (G*(bicubic(HR)), HR)
  of HR-domain images, where G* is the generator of the checkpoint with the lowest trained KID
  (the one whose degradation looks most like the real LR). Higher is better; it needs the
  user's sharp images, never the real LR's ground truth.

    python experiments/scripts/noref_compare.py OUT    # a `cyclesr bench quality --out OUT` folder

Writes ``curve_exp.json`` (one row per checkpoint) into the folder, as archived with some
rows in experiments/results/.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from cyclesr.bench.quality import curve_images, joint_checkpoints, score_test_set
from cyclesr.config import load_config
from cyclesr.data.io import list_images, load_rgb
from cyclesr.eval.features import PatchFeatures
from cyclesr.eval.noref import generate_fake_lr, noref_scores, pseudo_psnr, spearman
from cyclesr.eval.stats import noise_sigma
from cyclesr.inference.tiling import upscale_tensor
from cyclesr.model import build_model
from cyclesr.ops.resize import bicubic_downscale, crop_to_multiple

__all__ = ["main", "add_pseudo_psnr"]

GAP_KEYS = {"noise": "noise_gap", "noise_color": "color_gap", "blockiness": "block_gap", "sharpness": "sharp_gap"}


def main(folder: str) -> None:
    torch.set_num_threads(1)
    out = Path(folder)
    run = out / "cyclesr_run"
    cfg = load_config(run / "config.yml")
    dirs = {k: out / "data" / k for k in ("hr", "real_lr", "test_lr", "test_hr")}
    model = build_model(cfg)
    clean, real = curve_images(dirs, 25)
    nets = {"random": PatchFeatures(seed=0), "trained": PatchFeatures.trained()}
    rows, states = [], []
    for epoch, state in joint_checkpoints(run, cfg):
        states.append({k: state["nets"][k] for k in ("G", "SR")})
        model.SR.load_state_dict(state["nets"]["SR"])
        model.G.load_state_dict(state["nets"]["G"])
        psnr, _ = score_test_set(model.SR, dirs, "cpu")
        fake = generate_fake_lr(model.G, clean, seed=0)
        row = {"epoch": epoch, "psnr_y": psnr["psnr_y"]}
        for name, net in nets.items():
            score = noref_scores(fake, real, patch=32, seed=0, net=net)
            row["kid_" + name] = score["kid"]
        # SR(y) downscaled back to LR size, for the first 16 real LR images: the first 12 feed
        # the cycle variant (scored against the other real images), all 16 the residual noise
        sr_down = [bicubic_downscale(upscale_tensor(model.SR, y, 4), 4) for y in real[:16]]
        cyc = generate_fake_lr(model.G, sr_down[:12], seed=0)
        for name, net in nets.items():
            row["cyc_" + name] = noref_scores(cyc, real[12:], patch=32, seed=0, net=net)["kid"]
        row.update({GAP_KEYS[k]: abs(v) for k, v in score["stat_gap"].items()})
        row["sr_noise"] = sum(noise_sigma(x) for x in sr_down) / len(sr_down)
        print(row, flush=True)
        rows.append(row)
    add_pseudo_psnr(model, states, rows, dirs)
    for key in [k for k in rows[0] if k not in ("epoch", "psnr_y")]:
        sign = 1 if key == "pseudo_psnr" else -1
        rho = spearman([sign * r[key] for r in rows], [r["psnr_y"] for r in rows])
        print(f"{key}: Spearman({'+' if sign > 0 else '-'}score, PSNR-Y) = {rho:.2f}")
    (out / "curve_exp.json").write_text(json.dumps(rows, indent=1))


def add_pseudo_psnr(model, states, rows, dirs, n: int = 12) -> None:
    """Adds ``pseudo_psnr`` to each row (see the module docstring): ``noref.pseudo_psnr`` on the
    first ``n`` HR-domain images, whole (no centre crop), with the lowest-KID checkpoint's G."""
    best = min(range(len(rows)), key=lambda i: rows[i]["kid_trained"])
    model.G.load_state_dict(states[best]["G"])
    hrs = [crop_to_multiple(load_rgb(path), 4) for path in list_images(dirs["hr"])[:n]]
    whole = max(max(h.shape[-2:]) for h in hrs)  # no centre crop
    for row, state in zip(rows, states):
        model.SR.load_state_dict(state["SR"])
        row["pseudo_psnr"] = pseudo_psnr(model.SR, model.G, hrs, 4, seed=0, max_side=whole)
        print(f"epoch {row['epoch']}: pseudo_psnr {row['pseudo_psnr']:.3f} (G of epoch {rows[best]['epoch']})")


if __name__ == "__main__":
    main(sys.argv[1])
