"""What the trainer runs at the end of an evaluation epoch. Each evaluator returns the values it
logs and, where it has one, a score; one evaluator may choose ``best.pt`` by its score:

- ``PairedValidation``: PSNR/SSIM of the SR network on ``dataset.test`` (LR/HR pairs); chooses
  best.pt when there is such a set, by PSNR-Y (8-bit, best shift) or, with
  ``dataset.test.psnr: vega``, by the reference's PSNR (RGB, float, shift window; also logged).
- ``NoReferenceScore``: how close G(X) is to the real LR domain (KID, image statistics) and,
  once the SR network trains, its pseudo-PSNR on pairs that the most realistic G so far makes
  from HR-domain images; chooses best.pt when there is no paired set.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from cyclesr.config import Config
from cyclesr.data.io import load_rgb
from cyclesr.data.sampling import sample_images
from cyclesr.engine.checkpoint import load_checkpoint, served_sr_weights
from cyclesr.eval.noref import noref_from_folders, pseudo_psnr
from cyclesr.eval.paired import evaluate_sr

__all__ = ["EvalInputs", "Evaluation", "Evaluator", "PairedValidation", "NoReferenceScore",
           "default_evaluators"]


@dataclass
class EvalInputs:
    """The run as the evaluators see it at the end of an epoch."""
    epoch: int
    sr: nn.Module            # the SR network the run serves (the EMA's when model.ema_decay > 0)
    G: nn.Module
    trains_sr: bool          # the epoch's phase trained the SR network
    device: torch.device
    run_dir: Path
    best: dict               # best.pt's record {metric: score, "epoch": n}
    best_checkpoint: Path
    ema: bool                # checkpoints carry the served SR weights under "sr_ema"


@dataclass
class Evaluation:
    values: dict[str, float]                  # logged under the evaluator's kind
    score: Optional[float] = None             # compared under the evaluator's metric
    images: dict[str, torch.Tensor] = field(default_factory=dict)  # logged by tag


class Evaluator:
    kind = ""                  # the name its values are logged under (metrics.jsonl "kind")
    metric = ""                # the key of its score in best.pt's record
    chooses_best = False       # whether its score may choose best.pt

    def evaluate(self, run: EvalInputs) -> Optional[Evaluation]:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Entries of the checkpoint that let a resumed run continue the same way."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class PairedValidation(Evaluator):
    kind, metric = "val", "psnr_y"

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.chooses_best = bool(cfg.dataset.test.LR_dir)
        self.vega = cfg.dataset.test.psnr == "vega"
        self.metric = "psnr_vega" if self.vega else "psnr_y"

    def evaluate(self, run: EvalInputs) -> Optional[Evaluation]:
        te = self.cfg.dataset.test
        if not te.LR_dir:
            return None
        shift = te.val_ps_offset if te.val_ps_offset is not None else self.cfg.trainer.val_ps_offset
        out_dir = run.run_dir / "val" / f"epoch_{run.epoch:04d}"
        result = evaluate_sr(run.sr, te.LR_dir, te.HR_dir, self.cfg.upscale, shift_search=shift,
                             device=run.device, max_images=te.max_images, out_dir=out_dir,
                             vega_offset=shift if self.vega else None, num_workers=te.num_workers)
        first = sorted(out_dir.glob("*.png"))[:1]
        mean = result["mean"]
        return Evaluation({f"{k}_{m}": v for k in ("cyclesr", "bicubic") for m, v in mean[k].items()},
                          score=mean["cyclesr"].get(self.metric),
                          images={"val/sr": load_rgb(first[0])} if first else {})


class NoReferenceScore(Evaluator):
    """Needs no HR for the real images, so users can compare checkpoints. The pseudo-PSNR
    scores the SR network under one reference G, the lowest-KID one so far (G's own latest
    state would mix how strongly G degrades into the score). When that G changes, best.pt's
    SR network is scored again with it (its entry in ``run.best`` is updated), so best.pt is
    always chosen under one G. The reference G is kept in checkpoints as ``noref_ref``."""
    kind, metric = "noref", "pseudo_psnr"

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.chooses_best = not cfg.dataset.test.LR_dir
        self.ref: Optional[dict] = None  # the most realistic G so far: {"kid", "epoch", "G"}

    def state_dict(self) -> dict:
        return {"noref_ref": self.ref}

    def load_state_dict(self, state: dict) -> None:
        self.ref = state.get("noref_ref")

    def evaluate(self, run: EvalInputs) -> Optional[Evaluation]:
        n = self.cfg.trainer.noref_images
        if not n:
            return None
        tr, seed, scale = self.cfg.dataset.train, self.cfg.trainer.seed, self.cfg.upscale
        stats = noref_from_folders(run.G, tr.HR_dir, tr.LR_dir, scale, n_images=n, seed=seed)
        values = {"kid": stats["kid"], **{f"gap_{k}": v for k, v in stats["stat_gap"].items()}}
        changed = self.ref is None or stats["kid"] < self.ref["kid"]
        if changed:
            self.ref = {"kid": stats["kid"], "epoch": run.epoch,
                        "G": {k: v.detach().cpu().clone() for k, v in run.G.state_dict().items()}}
        if not run.trains_sr:
            return Evaluation(values)
        ref_G = copy.deepcopy(run.G)
        ref_G.load_state_dict(self.ref["G"])
        hr = sample_images(tr.HR_dir, n, seed + 2, scale)
        values["pseudo_psnr"] = pseudo_psnr(run.sr, ref_G, hr, scale, seed=seed, device=run.device)
        if changed and "pseudo_psnr" in run.best and run.best_checkpoint.exists():
            best_sr = copy.deepcopy(run.sr)
            state = load_checkpoint(run.best_checkpoint, map_location=run.device)
            best_sr.load_state_dict(served_sr_weights(state, run.ema))
            run.best["pseudo_psnr"] = pseudo_psnr(best_sr, ref_G, hr, scale, seed=seed, device=run.device)
        return Evaluation(values, score=values["pseudo_psnr"])


def default_evaluators(cfg: Config) -> list[Evaluator]:
    """The no-reference score, then the paired validation (when ``dataset.test`` is set)."""
    return [NoReferenceScore(cfg), PairedValidation(cfg)]
