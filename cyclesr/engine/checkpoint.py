"""Checkpoint files: one file holds the complete resumable state, written atomically.

Files are read with ``torch.load(weights_only=True)``: a file that would run code when unpickled
is refused, never executed.
"""
from __future__ import annotations

import io
import os
import pickle
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["CheckpointError", "atomic_write", "atomic_write_bytes", "save_checkpoint", "serialize_checkpoint",
           "load_checkpoint", "remove_stale_temp_files", "capture_rng", "restore_rng", "FORMAT"]

FORMAT = "cyclesr-checkpoint-v1"


def _file_mode() -> int:
    """Permissions of a newly created file under the current umask (temporary files are 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()  # read once at import: changing the umask is process-wide


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written or read; the message names the file."""


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write_fn) -> Path:
    """Call ``write_fn(file_object)`` on a temporary file beside ``path``, fsync, rename.
    A crash or a failed write leaves any previous ``path`` untouched."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CheckpointError(f"cannot write '{path}': {exc.strerror or exc}; check that the folder "
                              "is writable and the disk has space") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fchmod(f.fileno(), _FILE_MODE)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise CheckpointError(f"cannot write '{path}': {exc.strerror or exc}; the previous "
                                  "file (if any) is intact. Free disk space or choose another "
                                  "--output-dir") from None
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files ``atomic_write`` leaves in ``folder`` when a process is killed
    mid-write (``.NAME.XXXXXXXX.tmp``); they never replaced a complete file. Returns them."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


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
