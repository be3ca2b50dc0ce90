"""Timing of one training step on random data (``cyclesr bench step`` and the demo's budget)."""
from __future__ import annotations

import resource
import time
from typing import Optional

import torch

from cyclesr.config import Config
from cyclesr.engine.buffer import ImageBuffer
from cyclesr.engine.setup import make_optimizers, make_settings
from cyclesr.engine.steps import StepNets, pretrain_step, transfer_step
from cyclesr.model import build_model

__all__ = ["time_step", "peak_rss_mb"]


def peak_rss_mb() -> float:
    """Peak resident memory of this process (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_step(cfg: Config, phase: str = "joint", iters: int = 10, warmup: int = 2,
              batch: Optional[int] = None, patch: Optional[int] = None,
              device: Optional[str] = None) -> dict:
    """Milliseconds per training iteration of ``phase`` on random data of the config's shapes."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(cfg.trainer.seed)
    model = build_model(cfg).to(dev)
    fmt = torch.channels_last if cfg.trainer.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    nets = StepNets(model.G, model.F, model.D_X, model.D_Y, model.SR)
    if cfg.trainer.compile:
        nets = StepNets(*(torch.compile(n) for n in (model.G, model.F, model.D_X, model.D_Y, model.SR)))
    optim = make_optimizers(model, cfg, dev)
    settings = make_settings(cfg, dev)
    size = cfg.model.cyclegan.buffer_size
    buffers = (ImageBuffer(size, 1), ImageBuffer(size, 2))
    b = batch or cfg.dataset.train.batch_size
    p = patch or cfg.dataset.train.crop_size
    s = cfg.upscale
    data = {"clean_lr": torch.rand(b, 3, p, p), "real_lr": torch.rand(b, 3, p, p),
            "hr": torch.rand(b, 3, p * s, p * s)}
    data = {k: v.to(dev).contiguous(memory_format=fmt) for k, v in data.items()}

    def step():
        if phase == "pretrain":
            return pretrain_step(nets, optim, data, settings)
        out = transfer_step(nets, optim, data, settings, buffers, joint=phase == "joint")
        if optim.scaler is not None:
            optim.scaler.update()
        return out

    for _ in range(warmup):
        step()
    _sync(dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    _sync(dev)
    seconds = (time.perf_counter() - start) / iters
    peak = (torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else peak_rss_mb())
    return {"phase": phase, "device": str(dev), "batch": b, "lr_patch": p, "scale": s,
            "iters": iters, "ms_per_iter": seconds * 1000, "images_per_s": b / seconds,
            "peak_mem_mb": peak, "peak_mem_kind": "cuda_allocated" if dev.type == "cuda" else "rss"}
