"""Train CycleSR and deliver what a user needs afterwards: the published model and the report.

``train`` is ``cyclesr.train()`` and what ``cyclesr train`` calls: the engine trains (run folder,
checkpoints, logs); then the main process publishes the best (else the latest) SR network, the
EMA's when it is on, with G as a safetensors model folder, and writes the HTML report.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Optional

from cyclesr.config import Config
from cyclesr.engine import dist
from cyclesr.engine.checkpoint import load_checkpoint, served_sr_weights
from cyclesr.engine.trainer import Trainer
from cyclesr.modelfile.publish import publish
from cyclesr.report import html as report_html

__all__ = ["train", "publish_run"]


def train(cfg: Config, run_dir: str | Path, device: Optional[str] = None,
          resume: Optional[str | Path] = None, until_epoch: Optional[int] = None,
          progress: bool = True, overwrite: bool = False) -> dict:
    """Train CycleSR as ``cfg`` says, writing everything under ``run_dir``; returns a summary:
    run_dir, epoch (the next to run), global_step, best, interrupted, seconds, latest,
    best_checkpoint, model_dir and report (None when interrupted or not written). A folder
    holding a run is refused without ``resume`` or ``overwrite`` (``engine.lock``)."""
    if until_epoch is not None and until_epoch < 1:  # before any work: nothing untrained is published
        raise ValueError(f"--until-epoch must be 1 or more (got {until_epoch})")
    trainer = Trainer(cfg, run_dir, device=device, resume=resume, progress=progress, overwrite=overwrite)
    try:
        summary = trainer.fit(until_epoch=until_epoch, keep_lock=True)
        model_dir = report = None
        if not summary["interrupted"] and trainer.ctx.is_main:
            model_dir = publish_run(trainer)
            report = _write_report(trainer.paths.root)
    finally:
        trainer.close()
        dist.cleanup(trainer.ctx)
    return {**summary, "model_dir": model_dir and str(model_dir), "report": report and str(report)}


def publish_run(trainer: Trainer) -> Path:
    """Write the run's best (else latest) SR weights and G as ``<run>/model``."""
    sr, G = trainer.parts.served_sr(), trainer.model.G
    state = load_checkpoint(trainer.paths.best) if trainer.paths.best.exists() else None
    if state is not None and state["best"].get("epoch") == trainer.best.get("epoch"):  # this run's best
        sr, G = copy.deepcopy(sr), copy.deepcopy(G)
        sr.load_state_dict(served_sr_weights(state, ema=trainer.parts.ema is not None))
        G.load_state_dict(state["nets"]["G"])
    training = {"iterations": trainer.global_step,  # the model card's training facts
                "dataset_size": {"hr": len(trainer.dataset.hr_paths), "real_lr": len(trainer.dataset.lr_paths)}}
    return publish(sr, G, trainer.cfg, trainer.paths.root / "model", training=training).parent


def _write_report(run_dir: Path) -> Optional[Path]:
    """The report is a convenience: a failure is a warning, never a failed training."""
    try:
        return report_html.build_report(run_dir)
    except Exception as exc:  # noqa: BLE001
        print(f"warning: could not write the report: {type(exc).__name__}: {exc}; "
              f"retry with  cyclesr report {run_dir}", file=sys.stderr)
        return None
