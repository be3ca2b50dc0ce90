"""Optimizers and step settings for a config; shared by the trainer and the step benchmark."""
from __future__ import annotations

import contextlib
import warnings

import torch

from cyclesr.config import Config
from cyclesr.engine.steps import StepOptim, StepSettings
from cyclesr.model import CycleSRModel

__all__ = ["make_optimizers", "make_settings", "memory_formats", "apply_memory_formats"]

NET_NAMES = ("G", "F", "D_X", "D_Y", "SR")


def make_optimizers(model: CycleSRModel, cfg: Config, device: torch.device) -> StepOptim:
    """Adam (betas from the config): G and F share one; D_X, D_Y and SR one each."""
    m = cfg.model
    kw: dict = dict(betas=(m.beta1, m.beta2))
    # fused: one kernel per tensor for the whole update (on a CPU 3x faster than foreach)
    kw["fused" if device.type in ("cpu", "cuda") else "foreach"] = True
    adam = torch.optim.Adam
    gen_params = list(model.G.parameters()) + list(model.F.parameters())
    scaler = None
    if cfg.trainer.amp == "fp16" and device.type == "cuda":
        scaler = torch.amp.GradScaler("cuda")
    return StepOptim(gen=adam(gen_params, lr=m.cyc_lr, **kw),
                     d_x=adam(model.D_X.parameters(), lr=m.cyc_lr, **kw),
                     d_y=adam(model.D_Y.parameters(), lr=m.cyc_lr, **kw),
                     sr=adam(model.SR.parameters(), lr=m.SR_lr, **kw), scaler=scaler)


def make_settings(cfg: Config, device: torch.device) -> StepSettings:
    """Loss weights, clipping, AMP and which calls may be batched exactly."""
    gan, m, t = cfg.model.cyclegan, cfg.model, cfg.trainer
    # batching two inputs in one call is exact only with per-sample normalisation
    exact = gan.norm in ("instance", "none")
    autocast = contextlib.nullcontext
    if t.amp == "fp16" and device.type == "cpu":
        warnings.warn("trainer.amp: fp16 has no effect on a CPU; use bf16 (fast on CPUs with "
                      "AVX512-BF16 or AMX) or off", stacklevel=2)
    elif t.amp != "off" and device.type in ("cuda", "cpu"):
        # bf16 on a CPU pays off where oneDNN has bf16 kernels (AVX512-BF16 / AMX)
        dtype = torch.bfloat16 if t.amp == "bf16" else torch.float16
        autocast = lambda: torch.autocast(device.type, dtype=dtype)  # noqa: E731
    return StepSettings(lambda_cycle=gan.lambda_cycle, lambda_identity=gan.lambda_identity,
                        lambda_lowfreq=gan.lambda_lowfreq,
                        SR_lam=m.SR_lam, cycleSR_lam=m.cycleSR_lam, grad_clip=m.grad_clip,
                        batch_generators=exact and gan.generator == "ResnetGenerator",
                        batch_discriminators=exact and gan.discriminator == "NLayerDiscriminator",
                        autocast=autocast)


def memory_formats(channels_last: bool | str, device: torch.device
                   ) -> dict[str, torch.memory_format]:
    """The weight layout of each network, and of the training batch (key ``"batch"``).

    ``trainer.channels_last``: true puts everything in channels_last (NHWC), false nothing;
    ``"auto"`` only where it measured faster: on a CPU the SR network alone (its oneDNN
    convolutions run ~15% faster in NHWC, while the instance-normalised CycleGAN networks lose
    in layout copies what their convolutions gain), on CUDA everything (cuDNN's NHWC kernels).
    """
    cl, cf = torch.channels_last, torch.contiguous_format
    if channels_last == "auto":
        if device.type == "cuda":
            return {k: cl for k in (*NET_NAMES, "batch")}
        return {**{k: cf for k in NET_NAMES}, "SR": cl, "batch": cf}
    fmt = cl if channels_last else cf
    return {k: fmt for k in (*NET_NAMES, "batch")}


def apply_memory_formats(model: CycleSRModel, formats: dict[str, torch.memory_format]) -> None:
    """Convert each network's 4-D weights in place to its layout from ``memory_formats``."""
    for name in NET_NAMES:
        getattr(model, name).to(memory_format=formats[name])
