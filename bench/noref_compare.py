"""Which no-reference score ranks CycleSR checkpoints like the test PSNR does?

For a finished ``cyclesr bench quality`` output folder (its ``cyclesr_run/checkpoints`` and
``data``), scores every joint-phase checkpoint with several no-reference variants and prints
the Spearman correlation of each with the test PSNR-Y:

- ``kid_random`` / ``kid_trained``: KID of G(bicubic(HR)) against real LR on the seeded random
  patch features / the shipped trained features (``cyclesr.noref``);
- ``cyc_random`` / ``cyc_trained``: KID of G(bicubic(SR(y))) against other real LR images;
- ``noise_gap``, ``block_gap``, ``sharp_gap``: |relative gap| of the fake/real statistics.

    python bench/noref_compare.py bench/results/blur-noise-final

Writes ``curve_exp.json`` (one row per checkpoint) into the folder.
"""
import json
import sys
from pathlib import Path

import torch

from cyclesr.bench.quality import _metrics, curve_images, joint_checkpoints
from cyclesr.config import load_config
from cyclesr.data.resize import bicubic_downscale
from cyclesr.model import build_model
from cyclesr.noref import PatchFeatures, generate_fake_lr, noref_scores, spearman
from cyclesr.tiling import upscale_tensor

GAP_KEYS = {"noise": "noise_gap", "blockiness": "block_gap", "sharpness": "sharp_gap"}


def main(folder: str) -> None:
    torch.set_num_threads(1)
    out = Path(folder)
    run = out / "cyclesr_run"
    cfg = load_config(run / "config.yml")
    dirs = {k: out / "data" / k for k in ("hr", "real_lr", "test_lr", "test_hr")}
    model = build_model(cfg)
    clean, real = curve_images(dirs, 25)
    nets = {"random": PatchFeatures(seed=0), "trained": PatchFeatures.trained()}
    rows = []
    for epoch, state in joint_checkpoints(run, cfg):
        model.SR.load_state_dict(state["nets"]["SR"])
        model.G.load_state_dict(state["nets"]["G"])
        psnr, _ = _metrics(model.SR, dirs, "cpu")
        fake = generate_fake_lr(model.G, clean, seed=0)
        row = {"epoch": epoch, "psnr_y": psnr["psnr_y"]}
        for name, net in nets.items():
            score = noref_scores(fake, real, patch=32, seed=0, net=net)
            row["kid_" + name] = score["kid"]
        src, ref = real[:12], real[12:]
        cyc = generate_fake_lr(model.G, [bicubic_downscale(upscale_tensor(model.SR, y, 4), 4) for y in src], seed=0)
        for name, net in nets.items():
            row["cyc_" + name] = noref_scores(cyc, ref, patch=32, seed=0, net=net)["kid"]
        row.update({GAP_KEYS[k]: abs(v) for k, v in score["stat_gap"].items()})
        print(row, flush=True)
        rows.append(row)
    for key in [k for k in rows[0] if k not in ("epoch", "psnr_y")]:
        print(f"{key}: Spearman(-score, PSNR-Y) = {spearman([-r[key] for r in rows], [r['psnr_y'] for r in rows]):.2f}")
    (out / "curve_exp.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
