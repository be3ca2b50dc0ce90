"""How hard does each run's SR network denoise? The noise left in its outputs.

For each ``cyclesr bench quality`` output folder given, upscales the first 10 test LR images
with the SR network of the run's last checkpoint and prints the mean Immerkaer noise sigma of
the outputs after a x4 bicubic downscale (lower = stronger denoising; the test HR images
themselves, downscaled the same way, give the content's own level, printed first):

    python experiments/scripts/residual_noise.py OUT_1 OUT_2 ...

The lab notes use it to tell runs whose SR network denoises from those that do not. (The
archived result folders keep no checkpoints: it needs folders of runs made again.)
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from cyclesr.config import load_config
from cyclesr.data.io import list_images, load_rgb
from cyclesr.engine.checkpoint import load_checkpoint
from cyclesr.eval.stats import noise_sigma
from cyclesr.inference.tiling import upscale_tensor
from cyclesr.model import build_model
from cyclesr.ops.resize import bicubic_downscale, crop_to_multiple

__all__ = ["main"]


def _level(images) -> float:
    return sum(noise_sigma(bicubic_downscale(crop_to_multiple(im, 4), 4)) for im in images) / len(images)


def main(folders: list[str]) -> None:
    torch.set_num_threads(1)
    data = Path(folders[0]) / "data"
    print(f"test HR content: {_level([load_rgb(p) for p in list_images(data / 'test_hr')][:10]):.2f}")
    for folder in folders:
        run = Path(folder) / "cyclesr_run"
        model = build_model(load_config(run / "config.yml"))
        last = sorted((run / "checkpoints").glob("epoch_*.pt"))[-1]
        model.SR.load_state_dict(load_checkpoint(last)["nets"]["SR"])
        test = [load_rgb(p) for p in list_images(Path(folder) / "data" / "test_lr")][:10]
        print(f"{folder}: {_level([upscale_tensor(model.SR, x, 4) for x in test]):.2f} ({last.name})")


if __name__ == "__main__":
    main(sys.argv[1:])
