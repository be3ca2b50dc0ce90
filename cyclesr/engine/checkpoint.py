"""Checkpoint files: one file holds the complete resumable state, written atomically.

Files are read with ``torch.load(weights_only=True)``: a file that would run code when unpickled
is refused, never executed.
"""
from __future__ import annotations

import io
import math
import pickle
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cyclesr.ops.files import atomic_write_bytes

__all__ = ["CheckpointError", "save_checkpoint", "serialize_checkpoint", "load_checkpoint", "capture_rng",
           "restore_rng", "FORMAT", "RunPaths", "write_run_checkpoints", "served_sr_weights",
           "RESUME_FIXED", "fixed_key_changes", "check_resumable", "consistent_best"]

FORMAT = "cyclesr-checkpoint-v1"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written or read; the message names the file."""


def serialize_checkpoint(state: dict) -> bytes:
    """The bytes of a checkpoint file (``state['format']`` is set here)."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    return buffer.getvalue()


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Save a checkpoint dict atomically (``state['format']`` is set here)."""
    # Serialised in memory first: torch's zip writer reports a full disk as an obscure
    # RuntimeError, a plain file write as OSError(ENOSPC), which atomic_write explains.
    return atomic_write_bytes(path, serialize_checkpoint(state))


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict:
    """Load a checkpoint safely (tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"refused to load '{path}': it holds objects other than tensors and plain data, and "
            f"loading them could run code ({_unpickler_reason(exc)}). Nothing in it was "
            "executed. CycleSR never unpickles arbitrary objects; use checkpoints written by "
            "CycleSR or published .safetensors models") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, AttributeError,
            UnicodeDecodeError) as exc:  # what torch raises on a file that is not a checkpoint
        raise CheckpointError(f"cannot read checkpoint '{path}': {exc}. The file is truncated "
                              "or not a CycleSR checkpoint; use an older checkpoint") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not a CycleSR checkpoint (format {FORMAT} expected)")
    return state


def _unpickler_reason(exc: Exception) -> str:
    """The one informative line of torch's weights-only error (e.g. the refused global)."""
    lines = [line.strip() for line in str(exc).splitlines()]
    for line in lines:
        if line.startswith("WeightsUnpickler error:"):
            return line.split(":", 1)[1].split(". Please use")[0].strip()
    return next((line for line in lines if line), type(exc).__name__)


def capture_rng() -> dict:
    """Every RNG state as tensors and plain data (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                       "pos": int(np_state[2]), "has_gauss": int(np_state[3]),
                       "gauss": float(np_state[4])}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass(frozen=True)
class RunPaths:
    """Where a run keeps its checkpoints: ``latest.pt``, ``best.pt``, ``epoch_NNNN.pt``."""
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

    def epoch_files(self) -> list[tuple[int, Path]]:
        """(epoch, file) of the per-epoch checkpoints, oldest first."""
        if not self.checkpoints.is_dir():
            return []
        return sorted((int(m.group(1)), p) for p in self.checkpoints.glob("epoch_*.pt")
                      if (m := re.fullmatch(r"epoch_(\d+)\.pt", p.name)))

    def run_files(self) -> list[Path]:
        """The files of a run in this folder: checkpoints, the metrics log, the published model
        and the report (empty: no run here yet)."""
        candidates = [self.latest, self.best, *(p for _, p in self.epoch_files()),
                      self.root / "metrics.jsonl", self.root / "model" / "model.safetensors",
                      self.root / "model" / "model.json", self.root / "report.html"]
        return [p for p in candidates if p.is_file()]

    def discard_run(self) -> list[Path]:
        """Delete the run this folder holds (``--overwrite``): the files of ``run_files``, the
        TensorBoard events and the per-epoch sample and validation images; nothing else."""
        removed = self.run_files()
        removed += [p for p in (self.root / "tensorboard").glob("events.out.tfevents.*") if p.is_file()]
        removed += [p for p in (self.root / "samples").glob("epoch_*.png") if p.is_file()]
        removed += [p for p in (self.root / "val").glob("epoch_*/**/*") if p.is_file()]
        for path in removed:
            path.unlink(missing_ok=True)
        return removed


def write_run_checkpoints(paths: RunPaths, state: dict, epoch: int = 0, epoch_file: bool = False,
                          best: bool = False, keep: int = 0) -> None:
    """latest.pt, and the per-epoch and best files when asked; each written atomically, so a
    failed write (CheckpointError) leaves the previous file intact. Of the per-epoch files the
    newest ``keep`` stay (0: none is written).

    The per-epoch and best files are written before the ``latest.pt`` that records them: a kill
    between two writes leaves a latest.pt whose best epoch is in best.pt (and a best.pt or
    per-epoch file one epoch ahead of it, which the resumed run writes again)."""
    data = serialize_checkpoint(state)
    if epoch_file and keep > 0:
        atomic_write_bytes(paths.epoch_file(epoch), data)
        numbered = paths.epoch_files()
        for _, old in numbered[:max(0, len(numbered) - keep)]:
            old.unlink(missing_ok=True)
    if best:
        atomic_write_bytes(paths.best, data)
    atomic_write_bytes(paths.latest, data)


# Config keys a resumed run must keep: the networks' shapes (their weights and optimizer
# state are loaded as they are), the scale and crop (the image buffers hold crops of that
# size) and mixed precision (the loss scaler's state and the numerics of the run).
RESUME_FIXED = ("dataset.upscale", "dataset.train.crop_size", "trainer.amp",
                "model.G", "model.D", "model.sr")


def _leaves(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{prefix}.{k}"))
        return out
    return {prefix: value}


def _at(config: dict, dotted: str) -> Any:
    node: Any = config
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def fixed_key_changes(saved: dict, current: dict) -> list[str]:
    """``key (old -> new)`` for each key of ``RESUME_FIXED`` (down to a network's keyword
    arguments) that differs between a checkpoint's config and the config of the run resuming
    it (both as ``Config.to_dict``)."""
    changes = []
    for key in RESUME_FIXED:
        old, new = _leaves(_at(saved, key), key), _leaves(_at(current, key), key)
        for leaf in sorted(set(old) | set(new), key=lambda k: (k not in old, k)):
            if old.get(leaf) != new.get(leaf):
                changes.append(f"{leaf} ({old.get(leaf)!r} -> {new.get(leaf)!r})")
    return changes


def check_resumable(path: str | Path, state: dict, cfg) -> None:
    """Refuse (one line, CheckpointError) to resume ``state`` under a config ``cfg`` whose
    ``RESUME_FIXED`` keys differ from the checkpoint's; the message names each changed key."""
    from cyclesr.config import ConfigError, config_from_dict
    saved = state.get("config") or {}
    try:
        saved = config_from_dict(saved, source=str(path)).to_dict()
    except (ConfigError, TypeError):  # compare what is stored as it is
        pass
    changes = fixed_key_changes(saved, cfg.to_dict())
    if changes:
        raise CheckpointError(
            f"cannot resume from '{path}' with this config: {', '.join(changes)} changed and cannot "
            "change within a run; set them back (the run's config.yml has them) or train into a "
            "fresh --output-dir")


def consistent_best(paths: RunPaths, best: dict) -> dict:
    """The best record of a resumed run, made to agree with the folder's best.pt: a kill between
    writing best.pt and latest.pt leaves best.pt one evaluation ahead (its record is taken); a
    best.pt that is missing or older than the record (a kill under an earlier version) gives up
    the record, so that the next better evaluation writes best.pt again."""
    if best.get("epoch", 0) <= 0 and not paths.best.exists():
        return best
    try:
        on_disk = load_checkpoint(paths.best)["best"] if paths.best.exists() else None
    except (CheckpointError, KeyError):
        on_disk = None
    if on_disk is not None and on_disk.get("epoch") == best.get("epoch"):
        return best
    if on_disk is not None and on_disk.get("epoch", 0) > best.get("epoch", 0):
        return dict(on_disk)
    print(f"warning: {paths.best} does not hold the best epoch ({best.get('epoch')}) that the "
          "checkpoint records; the next better evaluation writes it again", file=sys.stderr)
    return dict(on_disk) if on_disk is not None else {"psnr_y": -math.inf, "epoch": 0}


def served_sr_weights(state: dict, ema: bool) -> dict:
    """The SR weights of a checkpoint that a run serves: the EMA's when the run keeps one."""
    return state["sr_ema"] if ema and state.get("sr_ema") else state["nets"]["SR"]
