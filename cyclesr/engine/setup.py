"""Optimizers and step settings for a config; shared by the trainer and the step benchmark."""
from __future__ import annotations

import contextlib
import os
import warnings
from typing import Optional

import torch

from cyclesr.config import Config
from cyclesr.engine.steps import StepOptim, StepSettings
from cyclesr.model import CycleSRModel, build_nets

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


def _per_sample(cfg: Config, model: Optional[CycleSRModel]) -> tuple[bool, bool]:
    """Whether the generators and the discriminators may batch two calls into one: each asks
    its network (``per_sample``; a network without the attribute is not batched)."""
    if model is None:  # build G and D_X for their attributes only; the RNG stays untouched
        with torch.random.fork_rng(devices=[]):
            nets = build_nets(cfg, ("G", "D_X"))
        gens, discs = [nets["G"]], [nets["D_X"]]
    else:
        gens, discs = [model.G, model.F], [model.D_X, model.D_Y]
    return (all(getattr(n, "per_sample", False) for n in gens),
            all(getattr(n, "per_sample", False) for n in discs))


def make_settings(cfg: Config, device: torch.device, model: Optional[CycleSRModel] = None) -> StepSettings:
    """Loss weights, clipping, AMP and which calls may be batched exactly (asked of `model`'s
    networks; without `model`, of networks built from the config for the purpose)."""
    gan, m, t = cfg.model.cyclegan, cfg.model, cfg.trainer
    batch_generators, batch_discriminators = _per_sample(cfg, model)
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
                        batch_generators=batch_generators, batch_discriminators=batch_discriminators,
                        train_transfer=m.cyc_lr > 0, autocast=autocast)


def memory_formats(channels_last: bool | str, device: torch.device
                   ) -> dict[str, torch.memory_format]:
    """The weight layout of each network, and of the training batch (key ``"batch"``).

    ``trainer.channels_last``: true puts everything in channels_last (NHWC), false nothing;
    ``"auto"`` only where NHWC pays: on CUDA everything (cuDNN's NHWC kernels); on a CPU with
    AVX-512 the SR network alone (oneDNN's NHWC convolutions there are faster, while the
    instance-normalised CycleGAN networks lose in normalisation and layout copies what their
    convolutions gain); on other CPUs (AVX2), or with oneDNN limited to AVX2, nothing, as
    oneDNN's NHWC kernels there are slower than its NCHW ones.
    """
    cl, cf = torch.channels_last, torch.contiguous_format
    if channels_last == "auto":
        if device.type == "cuda":
            return {k: cl for k in (*NET_NAMES, "batch")}
        sr = cl if device.type == "cpu" and _cpu_has_avx512() else cf
        return {**{k: cf for k in NET_NAMES}, "SR": sr, "batch": cf}
    fmt = cl if channels_last else cf
    return {k: fmt for k in (*NET_NAMES, "batch")}


def _cpu_has_avx512() -> bool:
    """AVX-512 for both ATen's kernels and oneDNN's convolutions: the CPU has it, and neither
    ``ATEN_CPU_CAPABILITY`` nor oneDNN's ISA cap (``ONEDNN_MAX_CPU_ISA``, formerly
    ``DNNL_MAX_CPU_ISA``, e.g. ``AVX2``) holds the process below it."""
    if not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        return False
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL"
    return cap.upper().startswith(("AVX512", "AVX10", "ALL", "DEFAULT"))


def apply_memory_formats(model: CycleSRModel, formats: dict[str, torch.memory_format]) -> None:
    """Convert each network's 4-D weights in place to its layout from ``memory_formats``."""
    for name in NET_NAMES:
        getattr(model, name).to(memory_format=formats[name])
