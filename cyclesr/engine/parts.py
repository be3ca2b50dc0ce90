"""Everything a run trains, built from the config: the five networks (placed, laid out, and
compiled or DDP-wrapped for the steps), their optimizers, the CycleGAN image buffers and the
SR network's EMA; with their part of the checkpoint."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from cyclesr.config import Config
from cyclesr.engine import dist
from cyclesr.engine.buffer import ImageBuffer
from cyclesr.engine.ema import EMA
from cyclesr.engine.setup import apply_memory_formats, make_optimizers, memory_formats
from cyclesr.engine.steps import StepNets, StepOptim
from cyclesr.model import CycleSRModel, build_model

__all__ = ["TrainingParts", "NET_NAMES"]

NET_NAMES = ("G", "F", "D_X", "D_Y", "SR")
OPTIM_NAMES = ("gen", "d_x", "d_y", "sr")


@dataclass
class TrainingParts:
    model: CycleSRModel        # the plain networks (what checkpoints and evaluators see)
    nets: StepNets             # the same networks as the steps call them (compiled, DDP)
    optim: StepOptim
    buffers: tuple[ImageBuffer, ImageBuffer]
    ema: Optional[EMA]
    formats: dict              # memory format of each network and of the batch

    @classmethod
    def build(cls, cfg: Config, ctx: dist.DistContext, device: torch.device) -> "TrainingParts":
        """Build in a fixed order (networks, optimizers, buffers, EMA): the seeded global RNG
        then gives the same initial weights on every run and rank."""
        t, model = cfg.trainer, build_model(cfg).to(device)
        formats = memory_formats(t.channels_last, device)
        apply_memory_formats(model, formats)
        nets = {k: getattr(model, k) for k in NET_NAMES}
        if t.compile:
            nets = {k: torch.compile(v) for k, v in nets.items()}
        if ctx.world > 1:
            nets = {k: dist.wrap_ddp(v, device) for k, v in nets.items()}
        optim = make_optimizers(model, cfg, device)
        size, seed = cfg.model.cyclegan.buffer_size, t.seed * 2 + 1000 * ctx.rank
        buffers = (ImageBuffer(size, seed=seed + 1), ImageBuffer(size, seed=seed + 2))
        ema = EMA(model.SR, cfg.model.ema_decay) if cfg.model.ema_decay > 0 else None
        return cls(model, StepNets(**nets), optim, buffers, ema, formats)

    def served_sr(self) -> nn.Module:
        """The SR network the run validates and publishes: the EMA's when there is one."""
        return self.ema.net if self.ema else self.model.SR

    def state_dict(self) -> dict:
        return {"nets": {k: getattr(self.model, k).state_dict() for k in NET_NAMES},
                "sr_ema": self.ema.state_dict() if self.ema else None,
                "optim": {k: getattr(self.optim, k).state_dict() for k in OPTIM_NAMES},
                "scaler": self.optim.scaler.state_dict() if self.optim.scaler else None,
                "buffers": [b.state_dict() for b in self.buffers]}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        for k, sd in state["nets"].items():
            getattr(self.model, k).load_state_dict(sd)
        if self.ema and state.get("sr_ema"):
            self.ema.load_state_dict(state["sr_ema"])
        for k, sd in state["optim"].items():
            getattr(self.optim, k).load_state_dict(sd)
        if self.optim.scaler and state.get("scaler"):
            self.optim.scaler.load_state_dict(state["scaler"])
        for buf, sd in zip(self.buffers, state["buffers"]):
            buf.load_state_dict(sd, device=device)
