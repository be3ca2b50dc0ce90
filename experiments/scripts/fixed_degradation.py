"""How good can an SR network get from one camera degradation, known or measured? Trains the
benchmark's SR network alone (the budget of (b) and (d) in ``cyclesr bench quality``) on HR
crops degraded by a CameraJpegGenerator set to the given blur, sharpening and noise, and scores
it on the run's test pairs:

    python experiments/scripts/fixed_degradation.py OUT --sigma 0.70 --sharpen 0.4 --radius 3 --noise 0.0064
    python experiments/scripts/fixed_degradation.py OUT --sigma 0.70 --sigma-sd 0.05 --sharpen-max 0.8 --noise-max 0.01

OUT is a ``cyclesr bench quality`` output folder (its ``data/`` holds the split; the preset is
``--preset``, default cpu-small). With ``--sharpen-max`` and ``--noise-max`` each crop draws its
sharpening amount (0 to max, radius 0.7-3 px) and noise std (``--noise-min``, default 0, to max) and, with
``--sigma-sd``, its blur sigma (normal around ``--sigma``; with ``--sigma-min``, uniform from
it to ``--sigma``). Prints one JSON line of scores.
The lab notes use it to separate "which degradation" from "how G learns it".
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from cyclesr.bench.quality.baselines import train_sr_only
from cyclesr.bench.quality.evaluate import score_test_set
from cyclesr.bench.quality.presets import PRESETS, cyclesr_layout
from cyclesr.config import config_from_dict
from cyclesr.nets.camera import RANDOM_RADII, CameraJpegGenerator
from cyclesr.ops.resize import bicubic_downscale

__all__ = ["main", "camera_degradation"]


def camera_degradation(sigma: float, sharpen: float = 0.0, radius: float = 1.0, noise: float = 0.0,
                       sigma_sd: float = 0.0, sharpen_max: float = 0.0, noise_max: float = 0.0,
                       noise_min: float = 0.0, sigma_min: float = 0.0):
    """``degrade(hr, rng)`` for ``train_sr_only``: bicubic x4 down, then the camera model."""
    G = CameraJpegGenerator(sharpen=True).eval()

    def degrade(hr: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        torch.manual_seed(int(rng.integers(1 << 30)))
        G.start_from({
            "blur_sigma": (rng.uniform(sigma_min, sigma) if sigma_min
                           else max(0.2, sigma + sigma_sd * rng.standard_normal())),
            "sharpen_amount": rng.uniform(0, sharpen_max) if sharpen_max else sharpen,
            "sharpen_radius": rng.uniform(*RANDOM_RADII) if sharpen_max else radius,
            "noise_std": rng.uniform(noise_min, noise_max) if noise_max else noise})
        with torch.no_grad():
            return G(bicubic_downscale(hr, 4).unsqueeze(0))[0]
    return degrade


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="a cyclesr bench quality output folder (with data/)")
    p.add_argument("--preset", default="cpu-small", choices=sorted(PRESETS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sigma", type=float, required=True, help="blur sigma, LR pixels")
    p.add_argument("--sigma-sd", type=float, default=0.0)
    p.add_argument("--sigma-min", type=float, default=0.0, help="> 0: blur sigma drawn uniformly from this to --sigma")
    p.add_argument("--sharpen", type=float, default=0.0)
    p.add_argument("--radius", type=float, default=1.0)
    p.add_argument("--noise", type=float, default=0.0, help="noise std per channel, [0, 1] scale")
    p.add_argument("--sharpen-max", type=float, default=0.0)
    p.add_argument("--noise-max", type=float, default=0.0)
    p.add_argument("--noise-min", type=float, default=0.0, help="with --noise-max: lowest noise std drawn")
    args = p.parse_args(argv)
    dirs = {k: args.out / "data" / k for k in ("hr", "real_lr", "oracle_lr", "test_lr", "test_hr")}
    cfg = config_from_dict(cyclesr_layout(PRESETS[args.preset], "camera-jpeg", str(dirs["hr"]),
                                          str(dirs["real_lr"]), args.seed), source="fixed_degradation")
    degrade = camera_degradation(args.sigma, args.sharpen, args.radius, args.noise, args.sigma_sd,
                                 args.sharpen_max, args.noise_max, args.noise_min, args.sigma_min)
    net = train_sr_only(cfg, dirs["hr"], None, args.seed, torch.device("cpu"), log=lambda *a: None,
                        degrade=degrade)
    scores, _ = score_test_set(net, dirs, torch.device("cpu"))
    result = {"args": {k: v for k, v in vars(args).items() if k != "out"}, "scores": scores}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
