"""What the trainer reads from the training folders before the first step: the synthetic
recipe (checked, or fitted to the real LR images), the loader, and G's calibration hook."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch import nn

from cyclesr.config import Config, ConfigError, is_fit
from cyclesr.data.datasets import pil_bicubic_downscale
from cyclesr.data.degrade import Recipe
from cyclesr.data.loader import train_loader
from cyclesr.data.sampling import sample_images
from cyclesr.engine import dist
from cyclesr.engine.schedule import MixRamp
from cyclesr.eval.fit import fit_recipe_from_folders
from cyclesr.ops.resize import bicubic_downscale

# Side (LR pixels) of the centre of each image the calibration reads: enough for the JPEG grid and
# a spectrum, small enough that a sample of large photos fits in memory.
_CALIBRATION_SIDE = 512

__all__ = ["check_synth_recipe", "synth_recipe", "training_data", "calibrate_generator"]


def check_synth_recipe(cfg: Config) -> None:
    """With ``model.synth_mix`` > 0, ``model.synth_recipe`` must be a recipe, a preset name or
    'fit'; a ConfigError naming the key says so before any work."""
    m = cfg.model
    if m.synth_mix <= 0 or is_fit(m.synth_recipe):
        return
    try:
        Recipe.parse(m.synth_recipe).with_scale(cfg.dataset.upscale)
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"{cfg.source}: key 'model.synth_recipe' must be a degradation recipe, a "
                          f"preset name or 'fit' ({err}), got {m.synth_recipe!r}") from None


def synth_recipe(cfg: Config, ctx: dist.DistContext, run_dir: Path) -> Optional[str]:
    """The recipe that degrades HR crops synthetically (None without ``model.synth_mix``).
    'fit' is fitted to the real LR images once per run by the main process, which keeps it in
    the run folder (a resumed run reads it back) and sends it to the others."""
    m = cfg.model
    recipe = m.synth_recipe if m.synth_mix > 0 else None
    if not is_fit(recipe):
        return recipe
    fitted = None
    if ctx.is_main:
        tr = cfg.dataset.train
        fitted = fit_recipe_from_folders(tr.HR_dir, tr.LR_dir, cfg.upscale, seed=cfg.trainer.seed,
                                         cache=run_dir / "synth_recipe_fit.json").recipe
    return dist.from_main(ctx, fitted)


def training_data(cfg: Config, ctx: dist.DistContext, device: torch.device, run_dir: Path):
    """(dataset, this rank's sampler, loader) as ``cfg.dataset.train`` and the synthetic mix
    (constant ``model.synth_mix``, or ramped to ``model.synth_mix_end``) say."""
    m = cfg.model
    mix = m.synth_mix if m.synth_mix_end is None else MixRamp.from_config(m.synth_mix, m.synth_mix_end,
                                                                         cfg.trainer)
    return train_loader(cfg, ctx.rank, ctx.world, pin_memory=device.type == "cuda",
                        synth_recipe=synth_recipe(cfg, ctx, run_dir), synth_mix=mix)


def calibrate_generator(G: nn.Module, real_lr_dir: str | Path, announce: bool, n_images: int = 64,
                        hr_dir: Optional[str | Path] = None, scale: int = 4, x_resize: str = "torch",
                        kept: bool = False) -> None:
    """The hook of a fresh run: a generator with a ``calibrate`` method measures part of the
    degradation on the real LR images (such as CameraJpegGenerator's JPEG quality); one that
    fits to both domains (``spectral_fit``) also gets clean LR images: the centres of up to
    ``n_images`` HR images of ``hr_dir``, downscaled by ``scale`` as training does
    (``x_resize``). Every rank measures the same images; a resumed run has the measurement in
    its checkpoint. ``kept``: G will not be trained (``model.cyc_lr: 0``)."""
    calibrate = getattr(G, "calibrate", None)
    if not callable(calibrate):
        return
    real = sample_images(real_lr_dir, n_images, seed=0, max_side=_CALIBRATION_SIDE)
    if getattr(G, "spectral_fit", False) and hr_dir is not None:
        downscale = pil_bicubic_downscale if x_resize == "pil" else bicubic_downscale
        clean = sample_images(hr_dir, n_images, seed=0, multiple=scale, max_side=_CALIBRATION_SIDE * scale,
                              transform=lambda hr: downscale(hr, scale))
        found = calibrate(real, clean, kept=kept)
    else:
        found = calibrate(real)
    if announce:
        what = (f"JPEG quality {found['range'][0]}-{found['range'][1]}" if found["range"]
                else "no JPEG (G will not compress)")
        print(f"G measured the real LR images: {found['compressed']} of {found['images']} were JPEG-"
              f"compressed last: {what}")
        fit = found.get("spectral")
        if fit:
            print(f"G starts from the degradation whose spectrum matches (clean -> real LR, within "
                  f"{fit['residual_db']:.2f} dB): blur sigma {fit['blur_sigma']:.2f} px, sharpening "
                  f"{fit['sharpen_amount']:+.2f} at radius {fit['sharpen_radius']:.2f} px, noise "
                  f"{255 * fit['noise_std']:.1f}/255")
