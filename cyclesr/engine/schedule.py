"""The training schedule as data: pure functions of the (1-based) epoch.

Phases follow the reference: ``warmup_epochs`` of transfer-only training, ``pretrain_epochs`` of
SR pretraining on bicubic pairs, then joint training until ``n_epoch + n_epoch_decay``.
Learning rates: constant for ``n_epoch`` epochs then decayed (``lr_policy``); a network that is
not trained in a phase gets learning rate 0. ``linear`` is the reference's rule,
``lr = base * (1 - max(0, epoch - n_epoch) / n_epoch_decay)``, which reaches 0 at the last
epoch; ``linear_cyclegan`` divides by ``n_epoch_decay + 1`` instead (pytorch-CycleGAN's).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from cyclesr.config import TrainerConfig

__all__ = ["TRANSFER", "PRETRAIN", "JOINT", "Phase", "phase_at", "lr_factor", "learning_rates", "MixRamp"]

TRANSFER, PRETRAIN, JOINT = "transfer", "pretrain", "joint"


@dataclass(frozen=True)
class Phase:
    name: str
    train_transfer: bool   # G, F, D_X, D_Y are updated
    train_sr: bool         # the SR network is updated
    sr_in_generator: bool  # the SR loss is part of the generator's loss


_PHASES = {
    TRANSFER: Phase(TRANSFER, True, False, False),
    PRETRAIN: Phase(PRETRAIN, False, True, False),
    JOINT: Phase(JOINT, True, True, True),
}


def phase_at(epoch: int, t: TrainerConfig) -> Phase:
    """The phase of a 1-based epoch."""
    if epoch <= t.warmup_epochs:
        return _PHASES[TRANSFER]
    if epoch <= t.warmup_epochs + t.pretrain_epochs:
        return _PHASES[PRETRAIN]
    return _PHASES[JOINT]


def lr_factor(epoch: int, t: TrainerConfig) -> float:
    """Multiplier of the base learning rate at a 1-based epoch (all policies hold it for n_epoch)."""
    decayed = max(0, epoch - t.n_epoch)
    if decayed == 0:
        return 1.0
    if t.lr_policy == "linear":  # the reference's (Vega's) rule: exactly 0 at the last epoch
        return 1.0 - decayed / float(t.n_epoch_decay)
    if t.lr_policy == "linear_cyclegan":  # pytorch-CycleGAN's rule: never exactly 0
        return 1.0 - decayed / float(t.n_epoch_decay + 1)
    if t.lr_policy == "step":
        return t.lr_decay_gamma ** math.ceil(decayed / t.lr_decay_step)
    if t.lr_policy == "cosine":
        span = max(1, t.n_epoch_decay)
        return 0.5 * (1.0 + math.cos(math.pi * min(decayed, span) / (span + 1)))
    raise ValueError(f"unknown lr_policy {t.lr_policy!r}")


def learning_rates(epoch: int, t: TrainerConfig, cyc_lr: float, sr_lr: float) -> dict[str, float]:
    """Learning rates of each optimizer (``transfer``, ``sr``) at a 1-based epoch."""
    phase = phase_at(epoch, t)
    f = lr_factor(epoch, t)
    return {"transfer": cyc_lr * f if phase.train_transfer else 0.0,
            "sr": sr_lr * f if phase.train_sr else 0.0}


@dataclass(frozen=True)
class MixRamp:
    """The synthetic share of the SR network's inputs at a 1-based epoch: ``start`` at the
    first joint epoch, ``end`` at the last one, linear in between (``model.synth_mix`` ->
    ``model.synth_mix_end``). A picklable function of the epoch, for the dataset's workers."""
    start: float
    end: float
    first: int   # first joint epoch
    last: int    # last epoch

    @classmethod
    def from_config(cls, start: float, end: float, t: TrainerConfig) -> "MixRamp":
        return cls(start, end, t.warmup_epochs + t.pretrain_epochs + 1, t.n_epoch + t.n_epoch_decay)

    def __call__(self, epoch: int) -> float:
        span = self.last - self.first
        frac = 0.0 if span <= 0 else min(1.0, max(0.0, (epoch - self.first) / span))
        return self.start + (self.end - self.start) * frac
