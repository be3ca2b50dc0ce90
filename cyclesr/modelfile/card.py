"""What a model card needs, in ``model.json``: the SR network's facts (OpenModelDB's fields
where they apply) and the learned degradation in numbers.

``card``: architecture, scale, input/output channels, training iterations, batch size, HR
patch size, dataset size, EMA (``None`` where the publisher does not know it).
``degradation`` (for ``CameraJpegGenerator``-style G: a learned kernel, Poisson-Gaussian noise
per channel and a measured JPEG range): the kernel's size and width (the standard deviation of
its weights around their centre, in LR pixels), the noise levels per RGB channel (``beta`` in
8-bit units, the signal-dependent ``alpha``, the per-image ``spread``) and the JPEG quality
range, ``None`` when G does not compress. Other generators (free-form convolutional) have no
such numbers: ``degradation`` is then ``{"generator": name}`` only.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from cyclesr.config import Config

__all__ = ["model_card", "degradation_numbers"]


def _channels(kwargs: dict, *keys: str) -> int:
    return int(next((kwargs[k] for k in keys if k in kwargs), 3))


def model_card(cfg: Config, sr_kwargs: dict, training: Optional[dict] = None) -> dict:
    """OpenModelDB-style facts from the config (and ``training``: ``iterations``,
    ``dataset_size``, which only the run knows)."""
    training = training or {}
    train = cfg.dataset.train
    return {
        "architecture": cfg.model.sr.name,
        "scale": cfg.upscale,
        "input_channels": _channels(sr_kwargs, "num_in_ch", "in_nc", "input_nc"),
        "output_channels": _channels(sr_kwargs, "num_out_ch", "out_nc", "output_nc"),
        "training_iterations": training.get("iterations"),
        "training_epochs": cfg.trainer.n_epoch + cfg.trainer.n_epoch_decay,
        "batch_size": train.batch_size,
        "hr_size": train.crop_size * cfg.upscale,
        "dataset_size": training.get("dataset_size"),
        "ema": cfg.model.ema_decay > 0,
    }


def _kernel_width(kernel: torch.Tensor) -> float:
    """Standard deviation of a (k, k) kernel's weights around its centre of mass, in pixels
    (the mean of the two axes)."""
    k = kernel.double() / kernel.sum()
    coords = torch.arange(k.shape[0], dtype=torch.float64)
    widths = []
    for marginal in (k.sum(1), k.sum(0)):
        mean = (marginal * coords).sum()
        widths.append(float(((marginal * (coords - mean) ** 2).sum()).sqrt()))
    return sum(widths) / 2


@torch.no_grad()
def degradation_numbers(G: Optional[nn.Module]) -> Optional[dict]:
    """The learned degradation in numbers (see the module docstring), or None without G."""
    if G is None:
        return None
    name = type(G).__name__
    if not all(hasattr(G, a) for a in ("kernel", "beta", "alpha", "jpeg_quality")):
        return {"generator": name}
    kernel = G.kernel().float().cpu()
    low, high = (float(v) for v in G.jpeg_quality)
    return {
        "generator": name,
        "kernel_size": int(kernel.shape[-1]),
        "kernel_width_px": round(_kernel_width(kernel), 4),
        "noise_beta_8bit": [round(float(v) * 255, 3) for v in G.beta.abs()],
        "noise_alpha": [round(float(v), 6) for v in G.alpha.abs()],
        "noise_spread": round(float(getattr(G, "spread", torch.zeros(()))), 4),
        "jpeg_quality_range": [low, high] if high > 0 else None,
    }
