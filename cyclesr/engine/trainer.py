"""The training engine: places and wraps the networks, runs the staged schedule, validates,
logs and checkpoints. ``train(cfg, ...)`` is what ``cyclesr train`` calls."""
from __future__ import annotations

import copy
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from cyclesr.config import Config, dump_config
from cyclesr.data.datasets import PairedDataset
from cyclesr.data.loader import train_loader
from cyclesr.engine import dist
from cyclesr.engine.buffer import ImageBuffer
from cyclesr.engine.checkpoint import capture_rng, load_checkpoint, restore_rng
from cyclesr.engine.ema import EMA
from cyclesr.engine.log import RunLogger, panel
from cyclesr.engine.setup import (apply_memory_formats, make_optimizers, make_settings,
                                  memory_formats)
from cyclesr.engine.schedule import JOINT, MixRamp, learning_rates, phase_at
from cyclesr.engine.steps import StepNets, pretrain_step, transfer_step
from cyclesr.eval.fit import fit_recipe_from_folders, is_fit
from cyclesr.eval.paired import evaluate_sr
from cyclesr.model import build_model
from cyclesr.ops.device import resolve_device
from cyclesr.config.validate import validate_paths

__all__ = ["Trainer", "TrainingStopped", "train"]


class TrainingStopped(RuntimeError):
    """Training stopped early (too many non-finite losses); the last good checkpoint is kept."""


@dataclass
class RunPaths:
    root: Path

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def latest(self) -> Path:
        return self.checkpoints / "latest.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    def epoch_file(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch_{epoch:04d}.pt"


class Trainer:
    def __init__(self, cfg: Config, run_dir: str | Path, device: Optional[str] = None,
                 resume: Optional[str | Path] = None, progress: bool = True):
        self.cfg = cfg
        self.paths = RunPaths(Path(run_dir))
        self.ctx = dist.init_from_env(device)
        t = cfg.trainer
        self.device = self.ctx.device if self.ctx.world > 1 else resolve_device(device or t.device)
        self.progress = progress and self.ctx.is_main
        validate_paths(cfg)
        if cfg.dataset.test.LR_dir:  # fail now, not at the first validation, on unmatched names
            PairedDataset(cfg.dataset.test.LR_dir, cfg.dataset.test.HR_dir)
        if self.device.type == "cuda":  # fixed crop sizes: let cuDNN pick its fastest kernels
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(t.seed + self.ctx.rank)  # DDP then copies rank 0's initial weights
        model = build_model(cfg).to(self.device)
        self.formats = memory_formats(t.channels_last, self.device)
        apply_memory_formats(model, self.formats)
        self.model = model
        self.nets = self._wrap(model)
        self.optim = make_optimizers(model, cfg, self.device)
        gan = cfg.model.cyclegan
        self.buffers = (ImageBuffer(gan.buffer_size, seed=t.seed * 2 + 1 + 1000 * self.ctx.rank),
                        ImageBuffer(gan.buffer_size, seed=t.seed * 2 + 2 + 1000 * self.ctx.rank))
        self.ema = EMA(model.SR, cfg.model.ema_decay) if cfg.model.ema_decay > 0 else None
        self.settings = make_settings(cfg, self.device)
        self.settings.agree = dist.agreement(self.ctx)  # ranks skip a non-finite update together
        self.dataset, self.sampler, self.loader = self._data()
        if not resume:  # a resumed run has the measurements in its checkpoint
            self._calibrate_G()
        self.epoch, self.iter_in_epoch, self.global_step = 1, 0, 0
        self.best = {"psnr_y": -math.inf, "epoch": 0}
        self.noref_ref: Optional[dict] = None  # the most realistic G so far: {"kid", "epoch", "G"}
        self.bad_steps = 0
        self._stop_signal: Optional[int] = None
        if resume:
            self._load(resume)
        self.log = RunLogger(self.paths.root, enabled=self.ctx.is_main)
        if self.ctx.is_main:
            self.paths.checkpoints.mkdir(parents=True, exist_ok=True)
            (self.paths.root / "config.yml").write_text(dump_config(cfg))

    # ------------------------------------------------------------ construction
    def _wrap(self, model) -> StepNets:
        nets = {k: getattr(model, k) for k in ("G", "F", "D_X", "D_Y", "SR")}
        if self.cfg.trainer.compile:
            nets = {k: torch.compile(v) for k, v in nets.items()}
        if self.ctx.world > 1:
            nets = {k: dist.wrap_ddp(v, self.device) for k, v in nets.items()}
        return StepNets(**nets)

    def _data(self):
        m = self.cfg.model  # synth_mix > 0: the dataset also degrades each HR crop synthetically
        recipe = m.synth_recipe if m.synth_mix > 0 else None
        if is_fit(recipe):
            # fitted to the real LR images once per run by the main process, which keeps it in
            # the run folder (a resumed run reads it back) and sends it to the others
            fitted = None
            if self.ctx.is_main:
                tr = self.cfg.dataset.train
                fitted = fit_recipe_from_folders(tr.HR_dir, tr.LR_dir, self.cfg.upscale, seed=self.cfg.trainer.seed,
                                                 cache=self.paths.root / "synth_recipe_fit.json").recipe
            recipe = dist.from_main(self.ctx, fitted)
        mix = m.synth_mix if m.synth_mix_end is None else MixRamp.from_config(m.synth_mix, m.synth_mix_end,
                                                                             self.cfg.trainer)
        return train_loader(self.cfg, self.ctx.rank, self.ctx.world,
                            pin_memory=self.device.type == "cuda",
                            synth_recipe=recipe, synth_mix=mix)

    def _calibrate_G(self, n_images: int = 64) -> None:
        """Let a generator that measures part of the degradation on the real LR images (such as
        CameraJpegGenerator's JPEG quality) do so; every rank measures the same images."""
        calibrate = getattr(self.model.G, "calibrate", None)
        if not callable(calibrate):
            return
        from cyclesr.eval.noref import sample_images

        found = calibrate(sample_images(self.cfg.dataset.train.LR_dir, n_images, seed=0))
        if self.ctx.is_main:
            what = (f"JPEG quality {found['range'][0]}-{found['range'][1]}" if found["range"]
                    else "no JPEG (G will not compress)")
            print(f"G measured the real LR images: {found['compressed']} of {found['images']} were JPEG-"
                  f"compressed last: {what}")

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {
            "config": self.cfg.to_dict(),
            "nets": {k: getattr(self.model, k).state_dict() for k in ("G", "F", "D_X", "D_Y", "SR")},
            "sr_ema": self.ema.state_dict() if self.ema else None,
            "optim": {k: getattr(self.optim, k).state_dict() for k in ("gen", "d_x", "d_y", "sr")},
            "scaler": self.optim.scaler.state_dict() if self.optim.scaler else None,
            "buffers": [b.state_dict() for b in self.buffers],
            "epoch": self.epoch, "iter_in_epoch": self.iter_in_epoch,
            "global_step": self.global_step, "best": dict(self.best), "rng": capture_rng(),
            "world": self.ctx.world, "noref_ref": self.noref_ref,
        }

    def _load(self, path: str | Path) -> None:
        state = load_checkpoint(path, map_location=self.device)
        for k, sd in state["nets"].items():
            getattr(self.model, k).load_state_dict(sd)
        if self.ema and state.get("sr_ema"):
            self.ema.load_state_dict(state["sr_ema"])
        for k, sd in state["optim"].items():
            getattr(self.optim, k).load_state_dict(sd)
        if self.optim.scaler and state.get("scaler"):
            self.optim.scaler.load_state_dict(state["scaler"])
        for buf, sd in zip(self.buffers, state["buffers"]):
            buf.load_state_dict(sd, device=self.device)
        self.epoch, self.iter_in_epoch = state["epoch"], state["iter_in_epoch"]
        self.global_step, self.best = state["global_step"], dict(state["best"])
        self.noref_ref = state.get("noref_ref")
        if state.get("world", 1) == self.ctx.world:
            restore_rng(state["rng"])
        if self.ctx.rank > 0:  # rank 0's buffers and RNG were saved: give this rank its own streams
            seed = self.cfg.trainer.seed * 2 + 1000 * self.ctx.rank + 7919 * self.global_step
            torch.manual_seed(seed)
            for i, buf in enumerate(self.buffers):
                buf.generator.manual_seed(seed + 1 + i)
        self.resumed_from = str(path)

    def save(self, extra_epoch_file: bool = False, best: bool = False, epoch: int = 0) -> None:
        """latest.pt, and the per-epoch and best files when asked; each written atomically, so
        a failed write (CheckpointError) leaves the previous file intact."""
        if not self.ctx.is_main:
            return
        if self.bad_steps:  # mid-way through non-finite steps: the state may be poisoned
            kept = (f"{self.paths.latest} stays the last good one" if self.paths.latest.exists()
                    else "no checkpoint yet")
            print(f"warning: not saving a checkpoint after {self.bad_steps} non-finite step(s); "
                  f"{kept}", file=sys.stderr)
            return
        from cyclesr.engine.checkpoint import serialize_checkpoint
        from cyclesr.ops.files import atomic_write_bytes
        data = serialize_checkpoint(self.state_dict())
        atomic_write_bytes(self.paths.latest, data)
        if extra_epoch_file and self.cfg.trainer.keep_checkpoints > 0:
            atomic_write_bytes(self.paths.epoch_file(epoch), data)
            self._prune()
        if best:
            atomic_write_bytes(self.paths.best, data)

    def _prune(self) -> None:
        """Keep the newest ``trainer.keep_checkpoints`` per-epoch files (best and latest apart)."""
        import re
        keep = self.cfg.trainer.keep_checkpoints
        numbered = [(int(m.group(1)), p) for p in self.paths.checkpoints.glob("epoch_*.pt")
                    if (m := re.fullmatch(r"epoch_(\d+)\.pt", p.name))]
        for _, old in sorted(numbered)[:max(0, len(numbered) - keep)]:
            old.unlink(missing_ok=True)

    # ------------------------------------------------------------ loop
    def _set_lrs(self, epoch: int) -> dict:
        m = self.cfg.model
        lrs = learning_rates(epoch, self.cfg.trainer, m.cyc_lr, m.SR_lr)
        for opt in (self.optim.gen, self.optim.d_x, self.optim.d_y):
            for g in opt.param_groups:
                g["lr"] = lrs["transfer"]
        for g in self.optim.sr.param_groups:
            g["lr"] = lrs["sr"]
        return lrs

    def _to_device(self, batch: dict) -> dict:
        fmt = self.formats["batch"]
        return {k: v.to(self.device, non_blocking=True, memory_format=fmt) for k, v in batch.items()
                if torch.is_tensor(v)}

    def _run_epoch(self, epoch: int) -> None:
        phase = phase_at(epoch, self.cfg.trainer)
        lrs = self._set_lrs(epoch)
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, skip_batches=self.iter_in_epoch)
        for net in (self.model.G, self.model.F, self.model.D_X, self.model.D_Y, self.model.SR):
            net.train()
        total = len(self.sampler) // self.sampler.batch_size + self.iter_in_epoch
        bar = None
        if self.progress:
            from tqdm import tqdm
            bar = tqdm(total=total, initial=self.iter_in_epoch, unit="it", leave=False,
                       desc=f"epoch {epoch}/{self.cfg.total_epochs} {phase.name}", dynamic_ncols=True)
        sums: dict[str, torch.Tensor] = {}
        count = 0
        for batch in self.loader:
            batch = self._to_device(batch)
            if phase.name == "pretrain":
                out = pretrain_step(self.nets, self.optim, batch, self.settings)
            else:
                out = transfer_step(self.nets, self.optim, batch, self.settings, self.buffers,
                                    joint=phase.name == JOINT)
            if self.optim.scaler is not None:
                self.optim.scaler.update()
            self._count_bad(out["ok"])
            if self.ema and phase.train_sr and out["ok"]:
                self.ema.update(self.model.SR)
            self.iter_in_epoch += 1
            self.global_step += 1
            for k, v in out["losses"].items():
                sums[k] = sums.get(k, 0) + v
            count += 1
            if self.global_step % self.cfg.trainer.print_freq == 0:
                self._log_losses(sums, count, lrs, epoch, bar)
                sums, count = {}, 0
            freq = self.cfg.trainer.sample_freq
            if self.ctx.is_main and freq and self.global_step % freq == 0:
                self.log.image(f"train/{phase.name}", panel(out["images"]), self.global_step)
            if bar is not None:
                bar.update(1)
            if self._stop_signal is not None:
                break
        if bar is not None:
            bar.close()
        if count:
            self._log_losses(sums, count, lrs, epoch, None)
        if self.ctx.is_main and not self.cfg.trainer.sample_freq and self._stop_signal is None:
            self.log.image(f"train/{phase.name}", panel(out["images"]), self.global_step,
                           save_to=self.paths.root / "samples" / f"epoch_{epoch:04d}_{phase.name}.png")

    def _count_bad(self, ok: bool) -> None:
        self.bad_steps = 0 if ok else self.bad_steps + 1
        if not ok:
            print(f"warning: non-finite loss at step {self.global_step + 1}; update skipped "
                  f"({self.bad_steps}/{self.cfg.trainer.max_bad_steps})", file=sys.stderr)
        if self.bad_steps >= self.cfg.trainer.max_bad_steps > 0:
            kept = (f"The last good checkpoint is {self.paths.latest} (resume with --resume)"
                    if self.paths.latest.exists() else "No checkpoint was saved yet")
            raise TrainingStopped(
                f"{self.bad_steps} consecutive non-finite losses (NaN/inf) at step "
                f"{self.global_step + 1}; training stopped. {kept}. Lower model.cyc_lr / "
                "model.SR_lr or model.grad_clip, or check the data for broken images")

    def _log_losses(self, sums, count, lrs, epoch, bar) -> None:
        values = {k: float(v) / count for k, v in sums.items()}
        values.update({f"lr_{k}": v for k, v in lrs.items()})
        self.log.scalars("train", values, self.global_step, epoch)
        if bar is not None:
            bar.set_postfix({k: f"{v:.3g}" for k, v in values.items() if not k.startswith("lr_")})

    def validate(self, epoch: int) -> Optional[dict]:
        te = self.cfg.dataset.test
        if not te.LR_dir or not self.ctx.is_main:
            return None
        net = self.ema.net if self.ema else self.model.SR
        shift = te.val_ps_offset if te.val_ps_offset is not None else self.cfg.trainer.val_ps_offset
        result = evaluate_sr(net, te.LR_dir, te.HR_dir, self.cfg.upscale, shift_search=shift,
                             device=self.device, max_images=te.max_images,
                             out_dir=self.paths.root / "val" / f"epoch_{epoch:04d}")
        out_dir = self.paths.root / "val" / f"epoch_{epoch:04d}"
        first = sorted(out_dir.glob("*.png"))[:1]
        if first:  # the validation SR panel in TensorBoard
            from cyclesr.data.io import load_rgb
            self.log.image("val/sr", load_rgb(first[0]), self.global_step)
        mean = result["mean"]
        values = {f"{k}_{m}": v for k in ("cyclesr", "bicubic") for m, v in mean[k].items()}
        if values:
            self.log.scalars("val", values, self.global_step, epoch)
        return result

    def score_without_ground_truth(self, epoch: int) -> Optional[dict]:
        """How close G(X) is to the real LR domain (KID on patch features, noise, blockiness,
        sharpness) and, once the SR network trains, its pseudo-PSNR: needs no HR for the real
        images, so users can compare checkpoints. The pseudo-PSNR scores the SR network on
        pairs made from HR-domain images by the most realistic G so far (lowest KID; G's own
        latest state would mix how strongly G degrades into the score). When that G changes,
        best.pt's SR network is scored again with it, so best.pt is always chosen under one G."""
        n = self.cfg.trainer.noref_images
        if not n or not self.ctx.is_main:
            return None
        from cyclesr.eval.noref import noref_from_folders, pseudo_psnr, sample_images
        tr, seed, scale = self.cfg.dataset.train, self.cfg.trainer.seed, self.cfg.upscale
        G = self.model.G
        stats = noref_from_folders(G, tr.HR_dir, tr.LR_dir, scale, n_images=n, seed=seed)
        values = {"kid": stats["kid"], **{f"gap_{k}": v for k, v in stats["stat_gap"].items()}}
        changed = self.noref_ref is None or stats["kid"] < self.noref_ref["kid"]
        if changed:
            self.noref_ref = {"kid": stats["kid"], "epoch": epoch,
                              "G": {k: v.detach().cpu().clone() for k, v in G.state_dict().items()}}
        if phase_at(epoch, self.cfg.trainer).train_sr:
            ref_G = copy.deepcopy(G)
            ref_G.load_state_dict(self.noref_ref["G"])
            hr = sample_images(tr.HR_dir, n, seed + 2, scale)
            sr = self.ema.net if self.ema else self.model.SR
            stats["pseudo_psnr"] = values["pseudo_psnr"] = pseudo_psnr(sr, ref_G, hr, scale, seed=seed,
                                                                       device=self.device)
            stats["pseudo_psnr_G_epoch"] = self.noref_ref["epoch"]
            if changed and "pseudo_psnr" in self.best and self.paths.best.exists():
                best_sr = copy.deepcopy(sr)
                best_sr.load_state_dict(self._sr_weights(load_checkpoint(self.paths.best, map_location=self.device)))
                self.best["pseudo_psnr"] = pseudo_psnr(best_sr, ref_G, hr, scale, seed=seed, device=self.device)
        self.log.scalars("noref", values, self.global_step, epoch)
        return stats

    def _handle_signal(self, signum, frame) -> None:
        if self._stop_signal is not None:  # second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self._stop_signal = signum
        print(f"\n{signal.Signals(signum).name} received: finishing this step and saving a "
              "checkpoint (press Ctrl-C again to quit without saving)", file=sys.stderr)

    def fit(self, until_epoch: Optional[int] = None) -> dict:
        """Train to the end of the schedule (or to ``until_epoch``); returns a summary."""
        last = self.cfg.total_epochs if until_epoch is None else min(until_epoch, self.cfg.total_epochs)
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        if self.ctx.is_main and _main_thread():
            for s in old:
                signal.signal(s, self._handle_signal)
        start = time.time()
        if self.ctx.is_main:  # a killed run can leave half-written temporary files behind
            from cyclesr.ops.files import remove_stale_temp_files
            for folder in (self.paths.checkpoints, self.paths.root / "model"):
                for tmp in remove_stale_temp_files(folder):
                    print(f"removed {tmp} (an unfinished write of an earlier run)", file=sys.stderr)
        per_epoch = self.sampler.per_rank // self.sampler.batch_size  # batches in a full epoch
        try:
            while self.epoch <= last:
                if self._stop_signal is None and self.iter_in_epoch < per_epoch:
                    self._run_epoch(self.epoch)
                # Stopped part-way: save mid-epoch. A signal during the last batch still ends
                # the epoch properly below (a checkpoint with nothing left of its epoch to run
                # would resume into an empty epoch).
                if self._stop_signal is not None and self.iter_in_epoch < per_epoch:
                    self.save()
                    return self._summary(start, interrupted=True)
                self.iter_in_epoch = 0
                self.epoch += 1  # a checkpoint records the next epoch to run
                self._end_of_epoch(self.epoch - 1, last)
        finally:
            if self.ctx.is_main and _main_thread():
                for s, h in old.items():
                    signal.signal(s, h)
            self.log.close()
        return self._summary(start, interrupted=False)

    def _end_of_epoch(self, epoch: int, last: int) -> None:
        t = self.cfg.trainer
        is_eval = epoch % t.eval_epoch == 0 or epoch == last
        best = False
        if is_eval:
            noref = self.score_without_ground_truth(epoch)
            result = self.validate(epoch)
            # the validation PSNR when there is a paired validation set, else the pseudo-PSNR
            # (no ground truth; README, "Knowing without ground truth")
            if result:
                metric, score = "psnr_y", result["mean"]["cyclesr"].get("psnr_y")
            else:
                metric, score = "pseudo_psnr", (noref or {}).get("pseudo_psnr")
            if (score is not None and phase_at(epoch, t).train_sr
                    and score > self.best.get(metric, -math.inf)):
                self.best = {metric: score, "epoch": epoch}
                best = True
        self.save(extra_epoch_file=is_eval, best=best, epoch=epoch)
        dist.barrier(self.ctx)

    def publish(self) -> Optional[Path]:
        """Write the best (else latest) SR weights and G as a safetensors model folder."""
        if not self.ctx.is_main:
            return None
        from cyclesr.modelfile.publish import publish
        sr = self.ema.net if self.ema else self.model.SR
        G = self.model.G
        if self.paths.best.exists():  # the weights that scored best on validation
            state = load_checkpoint(self.paths.best)
            sr, G = copy.deepcopy(sr), copy.deepcopy(G)
            sr.load_state_dict(self._sr_weights(state))
            G.load_state_dict(state["nets"]["G"])
        return publish(sr, G, self.cfg, self.paths.root / "model").parent

    def _sr_weights(self, state: dict) -> dict:
        """The SR weights of a checkpoint that this run serves: the EMA's when EMA is on."""
        return state["sr_ema"] if self.ema and state.get("sr_ema") else state["nets"]["SR"]

    def _summary(self, start: float, interrupted: bool) -> dict:
        model_dir = report = None
        if not interrupted and self.ctx.is_main:
            model_dir = self.publish()
            try:  # the report is a convenience: it must never fail a finished training
                from cyclesr.report.html import build_report
                report = build_report(self.paths.root)
            except Exception as exc:  # noqa: BLE001
                print(f"warning: could not write the report: {type(exc).__name__}: {exc}; "
                      f"retry with  cyclesr report {self.paths.root}", file=sys.stderr)
        return {"run_dir": str(self.paths.root), "epoch": self.epoch, "model_dir": model_dir and str(model_dir),
                "report": report and str(report),
                "global_step": self.global_step, "best": self.best, "interrupted": interrupted,
                "seconds": time.time() - start, "latest": str(self.paths.latest),
                "best_checkpoint": str(self.paths.best) if self.paths.best.exists() else None}


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def train(cfg: Config, run_dir: str | Path, device: Optional[str] = None,
          resume: Optional[str | Path] = None, until_epoch: Optional[int] = None,
          progress: bool = True) -> dict:
    """Train CycleSR as ``cfg`` says, writing everything under ``run_dir``."""
    trainer = Trainer(cfg, run_dir, device=device, resume=resume, progress=progress)
    try:
        return trainer.fit(until_epoch=until_epoch)
    finally:
        dist.cleanup(trainer.ctx)
