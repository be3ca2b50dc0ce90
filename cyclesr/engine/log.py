"""Run logging: TensorBoard events, ``metrics.jsonl`` and image panels. Only rank 0 writes."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import torch

__all__ = ["RunLogger", "panel", "LossAverage", "progress_bar"]


def panel(images: dict[str, torch.Tensor], n: int = 4) -> torch.Tensor:
    """One (3, H, W) grid: a row per image kind, ``n`` samples per row, each resized to the
    largest size among the kinds (nearest, so LR pixels stay visible)."""
    tiles = {k: v[:n].detach().float().cpu().clamp(0, 1) for k, v in images.items() if v is not None}
    size = max(v.shape[-1] for v in tiles.values())
    rows = []
    for v in tiles.values():
        v = torch.nn.functional.interpolate(v, size=(size, size), mode="nearest")
        pad = torch.ones(v.shape[0], 3, size, 2)
        rows.append(torch.cat([torch.cat([img, p], dim=-1) for img, p in zip(v, pad)], dim=-1))
    width = max(r.shape[-1] for r in rows)
    rows = [torch.nn.functional.pad(r, (0, width - r.shape[-1]), value=1.0) for r in rows]
    return torch.cat(rows, dim=-2)


class LossAverage:
    """The mean of each loss over the steps since the last ``pop`` (summed on the device: one
    host sync per log line, not per step)."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for k, v in losses.items():
            self.sums[k] = self.sums.get(k, 0) + v
        self.count += 1

    def pop(self) -> dict[str, float]:
        means = {k: float(v) / self.count for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return means

    def __bool__(self) -> bool:
        return self.count > 0


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, values: dict) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(enabled: bool, total: int, initial: int, desc: str):
    """A tqdm bar for one epoch, or an object that ignores the same calls."""
    if not enabled:
        return _NoBar()
    from tqdm import tqdm  # local: only interactive runs draw a bar
    return tqdm(total=total, initial=initial, unit="it", leave=False, desc=desc, dynamic_ncols=True)


def _drop_records_after(path: Path, step: int) -> None:
    """Rewrite ``metrics.jsonl`` without the records after ``step`` (and a cut last line)."""
    from cyclesr.ops.files import atomic_write_bytes

    kept, lines = [], path.read_bytes().splitlines()
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        logged_at = record.get("step") if isinstance(record, dict) else None
        if not isinstance(logged_at, (int, float)) or logged_at <= step:
            kept.append(line + b"\n")
    if len(kept) < len(lines):  # untouched when nothing is dropped
        atomic_write_bytes(path, b"".join(kept))


class RunLogger:
    """``resume_step``: the global step of the checkpoint a run resumes from; the records a
    killed run logged after it (which the resumed run logs again) are dropped first, so
    ``metrics.jsonl`` and TensorBoard hold each step once."""

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True,
                 resume_step: Optional[int] = None):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.writer = None
        self.jsonl = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "metrics.jsonl"
        if resume_step is not None and path.exists():
            _drop_records_after(path, resume_step)
        cut = False
        if path.exists() and path.stat().st_size:
            with open(path, "rb") as f:
                f.seek(-1, 2)
                cut = f.read(1) != b"\n"
        self.jsonl = open(path, "a", buffering=1)
        if cut:  # a killed run may have left half a line: start on a fresh one
            self.jsonl.write("\n")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is a dependency; stay usable without it
                SummaryWriter = None
            if SummaryWriter is not None:
                purge = None if resume_step is None else resume_step + 1
                self.writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), purge_step=purge)

    def scalars(self, kind: str, values: dict[str, float], step: int, epoch: int) -> None:
        if not self.enabled:
            return
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"{kind}/{k}", v, step)
        record = {"kind": kind, "step": step, "epoch": epoch, "time": round(time.time(), 3), **values}
        self.jsonl.write(json.dumps(record) + "\n")

    def image(self, tag: str, img: torch.Tensor, step: int, save_to: Optional[Path] = None) -> None:
        if not self.enabled:
            return
        if self.writer is not None:
            self.writer.add_image(tag, img, step)
        if save_to is not None:
            from cyclesr.data.io import write_image
            write_image(save_to, img)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.jsonl is not None:
            self.jsonl.close()
        self.writer = self.jsonl = None
