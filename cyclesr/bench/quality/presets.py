"""Presets of the quality benchmark: sizes, schedule and the CycleSR design to measure.

A preset fixes what every trained method shares (SR network, LR patch, batch, SR learning
rate and the number of SR updates) and the CycleSR transfer design. ``design`` picks the
transfer design: ``reference`` (CycleGAN ResNet generator with 4x internal downsampling, SR
loss into G, as Vega's CycleSR), ``improved`` (see ``IMPROVED``), ``improved-mix``
(``IMPROVED`` plus synthetic degradations mixed into the SR training, see ``IMPROVED_MIX``) or
``camera`` (a blur-and-noise model as G, see ``CAMERA``) or ``camera-jpeg`` (the same plus JPEG
at the quality measured on the real LR images; the benchmark's default, see ``CAMERA_JPEG``).
"""
from __future__ import annotations

import copy

__all__ = ["PRESETS", "DESIGNS", "cyclesr_layout", "sr_updates"]

# Schedule unit: epochs of ``iters`` iterations. warmup = transfer only, pretrain = SR only on
# bicubic pairs, joint = both; the baselines (b) and (d) get pretrain + joint SR updates.
PRESETS: dict[str, dict] = {
    "tiny": dict(  # for tests: seconds
        crop=16, batch=2, iters=3, warmup=1, pretrain=1, joint=2, decay=1, eval_every=1,
        sr={"name": "EDSR", "num_feat": 8, "num_block": 1},
        gen=dict(ngf=8, n_blocks=1), ndf=8, n_layers_D=2, noref_images=4, noref_patch=8,
        max_test=None),
    "cpu-small": dict(  # <= 45 minutes on 2 CPU cores
        crop=24, batch=4, iters=100, warmup=16, pretrain=6, joint=18, decay=8, eval_every=2,
        sr={"name": "cyclesr.nets.fastsr:BicubicResidualSR", "num_feat": 48, "num_block": 8}, sr_lr=5e-4,
        gen=dict(ngf=16, n_blocks=2), ndf=32, n_layers_D=2, noref_images=25, noref_patch=32,
        max_test=None),
    "gpu": dict(  # the reference's network sizes
        crop=32, batch=16, iters=1000, warmup=5, pretrain=5, joint=40, decay=20, eval_every=5,
        sr={"name": "VDSR", "SR_nb": 20, "SR_nf": 64, "SR_norm_type": "batch"},
        gen=dict(ngf=64, n_blocks=9), ndf=64, n_layers_D=3, noref_images=50, noref_patch=32,
        max_test=None),
}

# What the improved design changes relative to the reference (each measured in the README's
# ablation table): a noise-input residual generator at LR resolution that also adds white
# per-pixel noise of a learned, image-dependent amplitude (sensor noise added after the last
# resize is white; noise made by 3x3 convolutions is not), a discriminator that
# also sees the high frequencies (1-channel PatchGAN head), no identity loss (the residual
# generator keeps colours by construction) and no SR loss into G (it pushes G towards clean,
# SR-friendly images instead of realistic ones).
IMPROVED = {
    "cyclegan": {"generator": "cyclesr.nets.degrader:PixelNoiseDegradationGenerator", "n_downsampling": 0,
                 "discriminator": "cyclesr.nets.degrader:HighPassDiscriminator", "d_out_channels": 1,
                 "lambda_identity": 0.0},
    "cycleSR_lam": 0.0,
}
# ``improved-mix``: the improved design, with three quarters of the SR network's joint-phase
# inputs degraded by the broad synthetic "generic" recipe (cyclesr.data.degrade.RECIPES)
# instead of coming from G(X). The recipe is a generic Real-ESRGAN-style prior, not fitted to
# any benchmark recipe; ``--set model.synth_mix=1`` gives the synthetic-only ablation. 0.75
# beat 0.5 on both benchmark recipes at the earlier, smaller preset (README's ablation). No SR
# pretraining on bicubic pairs (``_NO_PRETRAIN``).
IMPROVED_MIX = {**IMPROVED, "synth_mix": 0.75, "synth_recipe": "generic"}
# ``camera``: G is the classical degradation model and nothing else (a learned blur kernel, then
# Poisson-Gaussian noise of learned per-channel level, cyclesr.nets.degrader:CameraNoiseGenerator),
# so it cannot fool D with structured patterns; no cycle or colour loss (both push a noise-adding
# G towards invertible, structured noise, and the kernel already keeps colours); the SR network
# trains on G(X) only and skips the pretraining on bicubic pairs (all of its updates see the
# learned degradation). It has no compression step: for noise-dominated degradations.
CAMERA = {
    "cyclegan": {**IMPROVED["cyclegan"], "generator": "cyclesr.nets.degrader:CameraNoiseGenerator",
                 "lambda_cycle": 0.0, "lambda_lowfreq": 0.0},
    "cycleSR_lam": 0.0,
}
# ``camera-jpeg``: ``camera`` with JPEG after the noise, at the quality range the generator
# measures on the real LR images when training starts (none if they show no JPEG: then it is
# ``camera`` exactly; cyclesr.nets.degrader:CameraJpegGenerator): the chain of a camera or upload.
CAMERA_JPEG = {**CAMERA, "cyclegan": {**CAMERA["cyclegan"],
                                      "generator": "cyclesr.nets.degrader:CameraJpegGenerator"}}
DESIGNS = ("reference", "improved", "improved-mix", "camera", "camera-jpeg")
_DESIGN_MODEL = {"improved": IMPROVED, "improved-mix": IMPROVED_MIX, "camera": CAMERA, "camera-jpeg": CAMERA_JPEG}
# designs whose SR updates all happen in the joint phase: at the cpu-small budget the SR
# pretraining on bicubic pairs cost 0.7 dB even with the true degradation, and it put two of
# five improved-mix seeds into a bad mode (README, Results)
_NO_PRETRAIN = ("improved-mix", "camera", "camera-jpeg")


def sr_updates(p: dict) -> int:
    """SR network updates in one CycleSR run (= the baselines' budget)."""
    return (p["pretrain"] + p["joint"]) * p["iters"]


def cyclesr_layout(p: dict, design: str, hr_dir: str, lr_dir: str, seed: int) -> dict:
    """A config dict (our layout) for the CycleSR run (c) of a preset and design."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; expected one of {', '.join(DESIGNS)}")
    sr = dict(p["sr"])
    gan = {"ngf": p["gen"]["ngf"], "n_blocks": p["gen"]["n_blocks"], "ndf": p["ndf"],
           "n_layers_D": p["n_layers_D"], "norm": "instance"}
    model = {"SR_lam": 1.0, "cycleSR_lam": 1.0, "SR_lr": p.get("sr_lr", 1e-4),
             "cyc_lr": 2e-4, "grad_clip": 50.0, "cyclegan": gan, "sr": sr}
    # The reference weights the SR loss 1000x in both places; with MSE on [0, 1] images that
    # is only a rescaled SR learning rate for the SR net's own Adam update (scale-invariant),
    # but it matters inside G's loss. Keep the reference's 1000 there.
    model["cycleSR_lam"] = 1000.0
    if design in _DESIGN_MODEL:
        imp = copy.deepcopy(_DESIGN_MODEL[design])
        gan.update(imp.pop("cyclegan"))
        model.update(imp)
    total = p["warmup"] + p["pretrain"] + p["joint"]
    # the same number of SR updates either way: without pretraining, the joint phase is longer
    pretrain = 0 if design in _NO_PRETRAIN else p["pretrain"]
    return {
        "dataset": {"upscale": 4, "train": {
            "HR_dir": hr_dir, "LR_dir": lr_dir, "batch_size": p["batch"], "num_workers": 0,
            "crop_size": p["crop"], "cache": True, "iters_per_epoch": p["iters"]}},
        "model": model,
        "trainer": {"n_epoch": total - p["decay"], "n_epoch_decay": p["decay"],
                    "warmup_epochs": p["warmup"], "pretrain_epochs": pretrain,
                    "eval_epoch": p["eval_every"], "print_freq": max(1, p["iters"]),
                    "keep_checkpoints": 10_000, "seed": seed, "device": "auto"},
    }
