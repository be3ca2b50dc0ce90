"""The training loop: for each epoch it asks the schedule for the phase and learning rates,
runs the phase's step on every batch, logs, runs the evaluators it was given and checkpoints.

What it trains is built in ``parts`` (networks, optimizers, buffers, EMA), what it reads in
``training_data``, what it measures in ``evaluators``. Publishing the model and writing the
report are the caller's (``cyclesr.api.train.train``).
"""
from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch

from cyclesr.config import Config, dump_config, validate_paths
from cyclesr.data.datasets import PairedDataset
from cyclesr.engine import dist
from cyclesr.engine.checkpoint import (CheckpointError, RunPaths, capture_rng, check_resumable,
                                       consistent_best, load_checkpoint, restore_rng,
                                       write_run_checkpoints)
from cyclesr.engine.evaluators import EvalInputs, Evaluator, default_evaluators
from cyclesr.engine.lock import RunLock, claim_run_folder
from cyclesr.engine.log import LossAverage, RunLogger, panel, progress_bar
from cyclesr.engine.parts import TrainingParts
from cyclesr.engine.schedule import learning_rates, phase_at
from cyclesr.engine.setup import make_settings
from cyclesr.engine.steps import run_step
from cyclesr.engine.training_data import calibrate_generator, check_synth_recipe, training_data
from cyclesr.ops.device import resolve_device
from cyclesr.ops.files import remove_stale_temp_files

__all__ = ["Trainer", "TrainingStopped", "train"]


class TrainingStopped(RuntimeError):
    """Training stopped early (too many non-finite losses); the last good checkpoint is kept."""


class Trainer:
    """Trains one run folder. The main process holds the folder's lock (``engine.lock``) from
    construction to the end of ``fit`` (or ``close``): a second training into the same folder
    is refused. Without ``resume``, a folder that holds a run is refused unless ``overwrite``
    (which deletes that run's files first)."""

    def __init__(self, cfg: Config, run_dir: str | Path, device: Optional[str] = None,
                 resume: Optional[str | Path] = None, progress: bool = True,
                 evaluators: Optional[Sequence[Evaluator]] = None, overwrite: bool = False):
        validate_paths(cfg)
        check_synth_recipe(cfg)
        resume = resume or cfg.trainer.continue_train  # Vega's key: resume from that checkpoint
        self.cfg, t = cfg, cfg.trainer
        self.paths = RunPaths(Path(run_dir))
        self.ctx = dist.init_from_env(device)
        self.device = self.ctx.device if self.ctx.world > 1 else resolve_device(device or t.device)
        self._lock = RunLock(self.paths.root)
        if self.ctx.is_main:
            self._lock.acquire()
        try:
            if self.ctx.is_main and not resume:
                claim_run_folder(self.paths, overwrite)
            self._build(cfg, resume, progress, evaluators)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the run folder (``fit`` does at its end)."""
        self._lock.release()

    def _build(self, cfg: Config, resume: Optional[str | Path], progress: bool,
               evaluators: Optional[Sequence[Evaluator]]) -> None:
        t = cfg.trainer
        self.progress = progress and self.ctx.is_main
        if cfg.dataset.test.LR_dir:  # fail now, not at the first validation, on unmatched names
            PairedDataset(cfg.dataset.test.LR_dir, cfg.dataset.test.HR_dir)
        if self.device.type == "cuda":  # fixed crop sizes: let cuDNN pick its fastest kernels
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(t.seed + self.ctx.rank)  # DDP then copies rank 0's initial weights
        self.parts = TrainingParts.build(cfg, self.ctx, self.device)
        self.model = self.parts.model
        self.settings = make_settings(cfg, self.device, model=self.model)
        self.settings.agree = dist.agreement(self.ctx)  # ranks skip a non-finite update together
        self.dataset, self.sampler, self.loader = training_data(cfg, self.ctx, self.device, self.paths.root)
        if not resume:  # a resumed run has the measurements in its checkpoint
            calibrate_generator(self.model.G, cfg.dataset.train.LR_dir, announce=self.ctx.is_main,
                                hr_dir=cfg.dataset.train.HR_dir, scale=cfg.upscale,
                                x_resize=cfg.dataset.train.x_resize, kept=cfg.model.cyc_lr == 0)
        self.evaluators = default_evaluators(cfg) if evaluators is None else list(evaluators)
        self.epoch, self.iter_in_epoch, self.global_step = t.epoch_count, 0, 0  # Vega's first epoch
        self.best = {"psnr_y": -math.inf, "epoch": 0}
        self.bad_steps = 0
        self._stop_signal: Optional[int] = None
        if resume:
            self._load(resume)
        self.log = RunLogger(self.paths.root, enabled=self.ctx.is_main,
                             resume_step=self.global_step if resume else None)
        if self.ctx.is_main:
            self.paths.checkpoints.mkdir(parents=True, exist_ok=True)
            (self.paths.root / "config.yml").write_text(dump_config(cfg))

    # ------------------------------------------------------------ the loop
    def fit(self, until_epoch: Optional[int] = None, keep_lock: bool = False) -> dict:
        """Train to the end of the schedule (or to ``until_epoch``, 1 or more); returns a
        summary. Releases the run folder at the end unless ``keep_lock`` (then ``close``)."""
        try:
            return self._fit(until_epoch)
        finally:
            if not keep_lock:
                self.close()

    def _fit(self, until_epoch: Optional[int]) -> dict:
        if until_epoch is not None and until_epoch < 1:
            raise ValueError(f"--until-epoch must be 1 or more (got {until_epoch}): epoch 1 is the "
                             "first; nothing would be trained")
        last = self.cfg.total_epochs if until_epoch is None else min(until_epoch, self.cfg.total_epochs)
        start = time.time()
        self._remove_unfinished_writes()
        per_epoch = -(-self.sampler.per_rank // self.sampler.batch_size)  # batches in a full epoch
        try:
            with self._stop_requests():
                while self.epoch <= last:
                    if self._stop_signal is None and self.iter_in_epoch < per_epoch:
                        self._run_epoch(self.epoch)
                    # Stopped part-way: save mid-epoch. A signal during the last batch still
                    # ends the epoch properly below (a checkpoint with nothing left of its
                    # epoch to run would resume into an empty epoch).
                    if self._stop_signal is not None and self.iter_in_epoch < per_epoch:
                        self.save()
                        return self._summary(start, interrupted=True)
                    self.iter_in_epoch = 0
                    self.epoch += 1  # a checkpoint records the next epoch to run
                    self._end_of_epoch(self.epoch - 1, last)
        finally:
            self.log.close()
        return self._summary(start, interrupted=False)

    def _run_epoch(self, epoch: int) -> None:
        phase = phase_at(epoch, self.cfg.trainer)
        lrs = self._set_lrs(epoch)
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, skip_batches=self.iter_in_epoch)
        self.model.train()
        bar = progress_bar(self.progress, total=-(-len(self.sampler) // self.sampler.batch_size) + self.iter_in_epoch,
                           initial=self.iter_in_epoch, desc=f"epoch {epoch}/{self.cfg.total_epochs} {phase.name}")
        losses = LossAverage()
        for batch in self.loader:
            out = run_step(phase.name, self.parts.nets, self.parts.optim, self._to_device(batch),
                           self.settings, self.parts.buffers)
            self._after_step(out["ok"], phase.train_sr)
            losses.add(out["losses"])
            if self.global_step % self.cfg.trainer.print_freq == 0:
                self._log_losses(losses.pop(), lrs, epoch, bar)
            freq = self.cfg.trainer.sample_freq
            if self.ctx.is_main and freq and self.global_step % freq == 0:
                self.log.image(f"train/{phase.name}", panel(out["images"]), self.global_step)
            bar.update(1)
            if self._stop_signal is not None:
                break
        bar.close()
        if losses:
            self._log_losses(losses.pop(), lrs, epoch, None)
        if self.ctx.is_main and not self.cfg.trainer.sample_freq and self._stop_signal is None:
            self.log.image(f"train/{phase.name}", panel(out["images"]), self.global_step,
                           save_to=self.paths.root / "samples" / f"epoch_{epoch:04d}_{phase.name}.png")

    def _end_of_epoch(self, epoch: int, last: int) -> None:
        is_eval = epoch % self.cfg.trainer.eval_epoch == 0 or epoch == last
        best = self._evaluate(epoch) if is_eval else False
        self.save(extra_epoch_file=is_eval, best=best, epoch=epoch)
        dist.barrier(self.ctx)

    def _evaluate(self, epoch: int) -> bool:
        """Run the evaluators (main process); True when the one that may choose best.pt
        scored better than best.pt, in an epoch that trained the SR network."""
        if not self.ctx.is_main:
            return False
        run = EvalInputs(epoch, self.parts.served_sr(), self.model.G, phase_at(epoch, self.cfg.trainer).train_sr,
                         self.device, self.paths.root, self.best, self.paths.best, self.parts.ema is not None)
        new_best = False
        for evaluator in self.evaluators:
            result = evaluator.evaluate(run)
            if result is None:
                continue
            for tag, image in result.images.items():
                self.log.image(tag, image, self.global_step)
            if result.values:
                self.log.scalars(evaluator.kind, result.values, self.global_step, epoch)
            if (evaluator.chooses_best and result.score is not None and run.trains_sr
                    and result.score > self.best.get(evaluator.metric, -math.inf)):
                self.best = {evaluator.metric: result.score, "epoch": epoch}
                new_best = True
        return new_best

    # ------------------------------------------------------------ one step's bookkeeping
    def _set_lrs(self, epoch: int) -> dict:
        m, optim = self.cfg.model, self.parts.optim
        lrs = learning_rates(epoch, self.cfg.trainer, m.cyc_lr, m.SR_lr)
        for opt, lr in ((optim.gen, lrs["transfer"]), (optim.d_x, lrs["transfer"]),
                        (optim.d_y, lrs["transfer"]), (optim.sr, lrs["sr"])):
            for group in opt.param_groups:
                group["lr"] = lr
        return lrs

    def _to_device(self, batch: dict) -> dict:
        fmt = self.parts.formats["batch"]
        return {k: v.to(self.device, non_blocking=True, memory_format=fmt) for k, v in batch.items()
                if torch.is_tensor(v)}

    def _after_step(self, ok: bool, trains_sr: bool) -> None:
        if self.parts.optim.scaler is not None:
            self.parts.optim.scaler.update()
        self._count_bad(ok)
        if self.parts.ema and trains_sr and ok:
            self.parts.ema.update(self.model.SR)
        self.iter_in_epoch += 1
        self.global_step += 1

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

    def _log_losses(self, values: dict, lrs: dict, epoch: int, bar) -> None:
        self.log.scalars("train", {**values, **{f"lr_{k}": v for k, v in lrs.items()}}, self.global_step, epoch)
        if bar is not None:
            bar.set_postfix({k: f"{v:.3g}" for k, v in values.items()})

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        state = {"config": self.cfg.to_dict(), **self.parts.state_dict(),
                 "epoch": self.epoch, "iter_in_epoch": self.iter_in_epoch,
                 "global_step": self.global_step, "best": dict(self.best), "rng": capture_rng(),
                 "world": self.ctx.world}
        for evaluator in self.evaluators:
            state.update(evaluator.state_dict())
        return state

    def _load(self, path: str | Path) -> None:
        state = load_checkpoint(path, map_location=self.device)
        check_resumable(path, state, self.cfg)
        try:
            self.parts.load_state_dict(state, self.device)
        except (RuntimeError, KeyError, ValueError) as exc:
            first = str(exc).strip().splitlines()
            raise CheckpointError(f"cannot resume from '{path}': its state does not fit this config "
                                  f"({first[-1].strip() if first else type(exc).__name__}); resume "
                                  "with the run's own config.yml or train into a fresh --output-dir") from None
        for evaluator in self.evaluators:
            evaluator.load_state_dict(state)
        self.epoch, self.iter_in_epoch = state["epoch"], state["iter_in_epoch"]
        self.global_step, self.best = state["global_step"], (consistent_best(self.paths, dict(state["best"]))
                                            if self.ctx.is_main else dict(state["best"]))
        if state.get("world", 1) == self.ctx.world:
            restore_rng(state["rng"])
        if self.ctx.rank > 0:  # rank 0's buffers and RNG were saved: give this rank its own streams
            seed = self.cfg.trainer.seed * 2 + 1000 * self.ctx.rank + 7919 * self.global_step
            torch.manual_seed(seed)
            for i, buf in enumerate(self.parts.buffers):
                buf.generator.manual_seed(seed + 1 + i)
        self.resumed_from = str(path)

    def save(self, extra_epoch_file: bool = False, best: bool = False, epoch: int = 0) -> None:
        """latest.pt, and the per-epoch and best files when asked (main process only)."""
        if not self.ctx.is_main:
            return
        if self.bad_steps:  # mid-way through non-finite steps: the state may be poisoned
            kept = (f"{self.paths.latest} stays the last good one" if self.paths.latest.exists()
                    else "no checkpoint yet")
            print(f"warning: not saving a checkpoint after {self.bad_steps} non-finite step(s); "
                  f"{kept}", file=sys.stderr)
            return
        write_run_checkpoints(self.paths, self.state_dict(), epoch, epoch_file=extra_epoch_file, best=best,
                              keep=self.cfg.trainer.keep_checkpoints)

    # ------------------------------------------------------------ stopping and the summary
    def _remove_unfinished_writes(self) -> None:
        if self.ctx.is_main:  # a killed run can leave half-written temporary files behind
            for folder in (self.paths.checkpoints, self.paths.root / "model"):
                for tmp in remove_stale_temp_files(folder, owned=True):
                    print(f"removed {tmp} (an unfinished write of an earlier run)", file=sys.stderr)

    @contextlib.contextmanager
    def _stop_requests(self) -> Iterator[None]:
        """Ctrl-C / SIGTERM finish the current step and save a checkpoint (main thread only)."""
        catch = self.ctx.is_main and threading.current_thread() is threading.main_thread()
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} if catch else {}
        for s in old:
            signal.signal(s, self._handle_signal)
        try:
            yield
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)

    def _handle_signal(self, signum, frame) -> None:
        if self._stop_signal is not None:  # second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self._stop_signal = signum
        print(f"\n{signal.Signals(signum).name} received: finishing this step and saving a "
              "checkpoint (press Ctrl-C again to quit without saving)", file=sys.stderr)

    def _summary(self, start: float, interrupted: bool) -> dict:
        return {"run_dir": str(self.paths.root), "epoch": self.epoch, "global_step": self.global_step,
                "best": self.best, "interrupted": interrupted, "seconds": time.time() - start,
                "latest": str(self.paths.latest),
                "best_checkpoint": str(self.paths.best) if self.paths.best.exists() else None}


def train(cfg: Config, run_dir: str | Path, device: Optional[str] = None,
          resume: Optional[str | Path] = None, until_epoch: Optional[int] = None,
          progress: bool = True, overwrite: bool = False) -> dict:
    """Train CycleSR as ``cfg`` says, writing the run folder (checkpoints, logs) under ``run_dir``;
    publishes nothing (``cyclesr.api.train.train`` does)."""
    trainer = Trainer(cfg, run_dir, device=device, resume=resume, progress=progress, overwrite=overwrite)
    try:
        return trainer.fit(until_epoch=until_epoch)
    finally:
        dist.cleanup(trainer.ctx)
