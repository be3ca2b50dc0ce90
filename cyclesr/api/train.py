"""Train CycleSR and deliver what a user needs afterwards: the published model and the report."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from cyclesr.config import Config

__all__ = ["train"]


def train(cfg: Config, run_dir: str | Path, device: Optional[str] = None,
          resume: Optional[str | Path] = None, until_epoch: Optional[int] = None,
          progress: bool = True) -> dict:
    """Train CycleSR as ``cfg`` says, writing everything under ``run_dir``; returns a summary."""
    from cyclesr.engine.trainer import train as _train
    return _train(cfg, run_dir, device=device, resume=resume, until_epoch=until_epoch, progress=progress)
