"""Evaluation of an SR network on a folder of LR images (with HR: PSNR/SSIM against bicubic),
shared by the trainer's validation and ``cyclesr evaluate``."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from torch import nn
from torch.utils.data import DataLoader, Dataset

from cyclesr.data.datasets import PairedDataset
from cyclesr.data.io import ImageReadError, write_image
from cyclesr.inference.upscale import upscale_tensor
from cyclesr.eval.metrics import image_metrics, vega_psnr
from cyclesr.ops.resize import bicubic_upscale

__all__ = ["bicubic_upscale", "evaluate_sr", "mean_metrics", "METRIC_KEYS"]

METRIC_KEYS = ("psnr_rgb", "psnr_y", "ssim_y")


def mean_metrics(rows: list[dict]) -> dict:
    rows = [r for r in rows if r]
    if not rows:
        return {}
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}


class _Readable(Dataset):
    """The pairs of a ``PairedDataset``; a file that cannot be read gives ``{"name", "error"}``
    instead of stopping the whole evaluation (also inside loader workers)."""

    def __init__(self, data: PairedDataset, n: int):
        self.data, self.n = data, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        try:
            return self.data[index]
        except ImageReadError as exc:
            return {"name": self.data.names[index], "error": str(exc)}


def evaluate_sr(net: nn.Module, lr_dir: str | Path, hr_dir: Optional[str | Path], scale: int, *,
                shift_search: int = 0, crop_border: Optional[int] = None, device=None,
                tile: Optional[int] = None, out_dir: Optional[Path] = None,
                max_images: Optional[int] = None, progress: bool = False,
                vega_offset: Optional[int] = None, num_workers: int = 0,
                on_error: Optional[Callable[[str, str], None]] = None) -> dict:
    """Upscale every LR image; with HR, measure CycleSR and bicubic.

    Returns ``{"images": {name: {"cyclesr": {...}, "bicubic": {...}}}, "mean": {...}, "count": n}``
    (metric dicts empty without HR). SR outputs are written to ``out_dir`` when given. With
    ``vega_offset``, the metrics also hold ``psnr_vega``: the reference's validation PSNR
    (``metrics.vega_psnr``) with that offset. ``num_workers`` processes read the images.
    An image that cannot be read is skipped: listed in ``failed`` as ``{name: message}`` and
    passed to ``on_error(name, message)``; the means cover the images that were read."""
    data = PairedDataset(lr_dir, hr_dir)
    border = scale if crop_border is None else crop_border
    n = len(data) if max_images is None else min(len(data), max_images)
    images: dict[str, dict] = {}
    failed: dict[str, str] = {}
    items = DataLoader(_Readable(data, n), batch_size=None, num_workers=num_workers)
    if progress:
        from tqdm import tqdm
        items = tqdm(items, desc="evaluate", unit="img", total=n)
    for item in items:
        if "error" in item:
            failed[item["name"]] = item["error"]
            if on_error is not None:
                on_error(item["name"], item["error"])
            continue
        sr = upscale_tensor(net, item["lr"], scale, tile=tile, device=device)
        if out_dir is not None:
            write_image(Path(out_dir) / f"{item['name']}.png", sr)
        row: dict = {"cyclesr": {}, "bicubic": {}}
        if item.get("hr") is not None:
            hr = item["hr"]
            bicubic = bicubic_upscale(item["lr"], scale)
            row["cyclesr"] = image_metrics(sr, hr, crop_border=border, max_shift=shift_search)
            row["bicubic"] = image_metrics(bicubic, hr, crop_border=border, max_shift=shift_search)
            if vega_offset is not None:
                row["cyclesr"]["psnr_vega"] = vega_psnr(sr, hr, vega_offset)
                row["bicubic"]["psnr_vega"] = vega_psnr(bicubic, hr, vega_offset)
        images[item["name"]] = row
    mean = {k: mean_metrics([r[k] for r in images.values()]) for k in ("cyclesr", "bicubic")}
    return {"images": images, "mean": mean, "count": len(images), "failed": failed}
