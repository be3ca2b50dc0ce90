"""Checkpoint files: one file holds the complete resumable state, written atomically.

Files are read with ``torch.load(weights_only=True)``: a file that would run code when unpickled
is refused, never executed.
"""
from __future__ import annotations

import io
import pickle
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cyclesr.ops.files import atomic_write_bytes

__all__ = ["CheckpointError", "save_checkpoint", "serialize_checkpoint", "load_checkpoint", "capture_rng",
           "restore_rng", "FORMAT", "RunPaths", "write_run_checkpoints", "served_sr_weights"]

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
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
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


def write_run_checkpoints(paths: RunPaths, state: dict, epoch: int = 0, epoch_file: bool = False,
                          best: bool = False, keep: int = 0) -> None:
    """latest.pt, and the per-epoch and best files when asked; each written atomically, so a
    failed write (CheckpointError) leaves the previous file intact. Of the per-epoch files the
    newest ``keep`` stay (0: none is written)."""
    data = serialize_checkpoint(state)
    atomic_write_bytes(paths.latest, data)
    if epoch_file and keep > 0:
        atomic_write_bytes(paths.epoch_file(epoch), data)
        numbered = [(int(m.group(1)), p) for p in paths.checkpoints.glob("epoch_*.pt")
                    if (m := re.fullmatch(r"epoch_(\d+)\.pt", p.name))]
        for _, old in sorted(numbered)[:max(0, len(numbered) - keep)]:
            old.unlink(missing_ok=True)
    if best:
        atomic_write_bytes(paths.best, data)


def served_sr_weights(state: dict, ema: bool) -> dict:
    """The SR weights of a checkpoint that a run serves: the EMA's when the run keeps one."""
    return state["sr_ema"] if ema and state.get("sr_ema") else state["nets"]["SR"]
