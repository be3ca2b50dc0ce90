"""Timing of training steps on random data (``cyclesr bench step`` and the demo's time budget).

A measurement is ``repeats`` blocks of ``iters`` iterations after ``warmup`` iterations; the
reported time per iteration is the median over the blocks (robust on a shared machine), with
the fastest block and the process CPU time beside it. ``measure`` interleaves the blocks of
several steps in one process (``cyclesr bench step --reference`` compares the optimised step
with Vega's own step, or with our re-implementation of it, that way), so that all see the same
machine load.
"""
from __future__ import annotations

import resource
import statistics
import time
from typing import Callable, Optional

import torch

from cyclesr.config import Config
from cyclesr.engine.buffer import ImageBuffer
from cyclesr.engine.setup import (apply_memory_formats, make_optimizers, make_settings,
                                  memory_formats)
from cyclesr.engine.steps import StepNets, run_step
from cyclesr.model import build_model
from cyclesr.ops.device import resolve_device

__all__ = ["time_step", "measure", "step_runner", "random_batch", "step_header", "peak_memory",
           "peak_rss_mb", "PHASES"]

PHASES = ("transfer", "pretrain", "joint")


def peak_rss_mb() -> float:
    """Peak resident memory of this process (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _device(device: Optional[str]) -> torch.device:
    return resolve_device(device)


def random_batch(cfg: Config, batch: int, patch: int, device: torch.device,
                 memory_format: torch.memory_format = torch.contiguous_format) -> dict:
    """A fixed random training batch of the config's shapes (seeded by ``trainer.seed``)."""
    g = torch.Generator().manual_seed(cfg.trainer.seed)
    s = cfg.upscale
    data = {"clean_lr": torch.rand(batch, 3, patch, patch, generator=g),
            "real_lr": torch.rand(batch, 3, patch, patch, generator=g),
            "hr": torch.rand(batch, 3, patch * s, patch * s, generator=g)}
    return {k: v.to(device).contiguous(memory_format=memory_format) for k, v in data.items()}


def step_runner(cfg: Config, phase: str, device: torch.device, batch: int,
                patch: int) -> Callable[[], None]:
    """A function running one optimised training iteration of ``phase`` on a fixed random
    batch, with the config's speed options (channels_last, amp, compile)."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
    torch.manual_seed(cfg.trainer.seed)
    model = build_model(cfg).to(device)
    formats = memory_formats(cfg.trainer.channels_last, device)
    apply_memory_formats(model, formats)
    data = random_batch(cfg, batch, patch, device, formats["batch"])
    names = ("G", "F", "D_X", "D_Y", "SR")
    nets = StepNets(*(getattr(model, k) for k in names))
    if cfg.trainer.compile:
        nets = StepNets(*(torch.compile(getattr(model, k)) for k in names))
    optim = make_optimizers(model, cfg, device)
    settings = make_settings(cfg, device, model=model)
    size = cfg.model.cyclegan.buffer_size
    buffers = (ImageBuffer(size, 1), ImageBuffer(size, 2))

    def run() -> None:
        run_step(phase, nets, optim, data, settings, buffers)
        if optim.scaler is not None:
            optim.scaler.update()
    return run


class _Clock:
    """Wall and CPU time of blocks of iterations."""

    def __init__(self, run: Callable[[], None], device: torch.device):
        self.run, self.device, self.wall, self.cpu = run, device, [], []

    def block(self, iters: int) -> None:
        _sync(self.device)
        w, c = time.perf_counter(), time.process_time()
        for _ in range(iters):
            self.run()
        _sync(self.device)
        self.wall.append((time.perf_counter() - w) / iters)
        self.cpu.append((time.process_time() - c) / iters)

    def summary(self, batch: int) -> dict:
        med = statistics.median(self.wall)
        return {"ms_per_iter": med * 1000, "ms_per_iter_min": min(self.wall) * 1000,
                "ms_per_iter_blocks": [round(t * 1000, 2) for t in self.wall],
                "cpu_ms_per_iter": statistics.median(self.cpu) * 1000,
                "images_per_s": batch / med}


def step_header(cfg: Config, phase: str, device: torch.device, batch: int, patch: int,
                iters: int, repeats: int) -> dict:
    """What a step timing was measured on (device, threads, sizes, speed options)."""
    t = cfg.trainer
    return {"phase": phase, "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "threads": torch.get_num_threads(), "batch": batch, "lr_patch": patch,
            "scale": cfg.upscale, "iters": iters, "repeats": repeats,
            "channels_last": t.channels_last, "amp": t.amp, "compile": t.compile,
            "torch": torch.__version__}


def peak_memory(device: torch.device) -> dict:
    """Peak memory so far: the CUDA allocator's peak, or the process's peak RSS on the CPU."""
    if device.type == "cuda":
        return {"peak_mem_mb": torch.cuda.max_memory_allocated(device) / 2**20,
                "peak_mem_kind": "cuda_allocated"}
    return {"peak_mem_mb": peak_rss_mb(), "peak_mem_kind": "rss"}


def measure(runners: dict[str, Callable[[], None]], device: torch.device, batch: int,
            iters: int = 10, warmup: int = 2, repeats: int = 1) -> dict[str, dict]:
    """Time each runner: ``warmup`` iterations, then ``repeats`` blocks of ``iters``, the
    runners' blocks alternating (and their order reversed every other round) so that all see
    the same machine load."""
    clocks = {name: _Clock(run, device) for name, run in runners.items()}
    for clock in clocks.values():
        for _ in range(warmup):
            clock.run()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(max(1, repeats)):
        order = list(clocks.values())
        for clock in (order if i % 2 == 0 else order[::-1]):
            clock.block(iters)
    return {name: clock.summary(batch) for name, clock in clocks.items()}


def count_gflop(run: Callable[[], None]) -> Optional[float]:
    """Convolution and matrix-multiply work of one call of ``run``, in GFLOP (forward and
    backward, as ``torch.utils.flop_counter`` counts them; elementwise ops are not counted).
    Runs one extra iteration, so call it after the timing. None where the counter cannot see
    the work (e.g. inside ``torch.compile``d networks)."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            run()
    except Exception:  # counting is an extra; never let it fail a benchmark
        return None
    total = counter.get_total_flops()
    return total / 1e9 if total > 0 else None


def time_step(cfg: Config, phase: str = "joint", iters: int = 10, warmup: int = 2,
              batch: Optional[int] = None, patch: Optional[int] = None,
              device: Optional[str] = None, repeats: int = 1) -> dict:
    """Milliseconds per optimised training iteration of ``phase`` on random data of the
    config's shapes (median over ``repeats`` blocks of ``iters``), images per second and peak
    memory."""
    dev = _device(device)
    b, p = batch or cfg.dataset.train.batch_size, patch or cfg.dataset.train.crop_size
    result = measure({"optimised": step_runner(cfg, phase, dev, b, p)}, dev, b, iters, warmup,
                     repeats)["optimised"]
    return {**step_header(cfg, phase, dev, b, p, iters, repeats), **result, **peak_memory(dev)}
