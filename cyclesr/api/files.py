"""``cyclesr upscale`` over files: every image kind in, the same kind out; bad files reported
one line each while good files are still processed.

Small images of the same size (and the same alpha-ness) run through the network as one batch:
a folder of thumbnails or video frames goes several times faster than image by image.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from cyclesr.api.model import load
from cyclesr.data.io import IMAGE_EXTS, ImageReadError, LoadedImage, read_image, write_image
from cyclesr.inference.upscale import auto_tile_size, upscale_image

__all__ = ["upscale_files", "BATCH_PIXELS", "MAX_BATCH"]

BATCH_PIXELS = 256 * 256  # images up to this many pixels may share a batch
MAX_BATCH = 8


@dataclass
class _Job:
    src: Path
    rel: Path
    img: LoadedImage

    @property
    def key(self) -> tuple:
        return (*self.img.rgb.shape[-2:], self.img.alpha is not None)


def _destination(out_root: Path, rel: Path, suffix: str) -> Path:
    ext = rel.suffix if rel.suffix.lower() in IMAGE_EXTS else ".png"  # e.g. a .gif given by name
    return out_root / rel.with_name(f"{rel.stem}{suffix}{ext}")


def upscale_files(args, files: list[tuple[Path, Path]]) -> int:
    if args.outscale is not None and args.outscale <= 0:
        raise ValueError(f"--outscale must be a positive number, got {args.outscale}")
    model = load(args.checkpoint, device=args.device, use_ema=not getattr(args, "no_ema", False))
    out_root = Path(args.output)
    failed: list[Path] = []
    done = 0
    start = time.time()

    def run(batch: list[_Job]) -> None:
        nonlocal done
        h, w = batch[0].img.rgb.shape[-2:]
        rgb = torch.stack([j.img.rgb for j in batch])
        alpha = torch.stack([j.img.alpha for j in batch]) if batch[0].img.alpha is not None else None
        tile = args.tile or auto_tile_size(h * len(batch), w, model.scale, model.sr, device=model.device)
        try:
            out, alpha_out = upscale_image(model.sr, rgb, model.scale, tile=tile, tile_pad=args.tile_pad,
                                           tta=args.tta, color_fix=args.color_fix, outscale=args.outscale,
                                           device=model.device, half=args.half, alpha=alpha)
        except RuntimeError as exc:  # e.g. out of memory: the other files may still work
            for j in batch:
                failed.append(j.src)
                print(f"error: failed to upscale {j.src}: {str(exc).splitlines()[0]} "
                      "(try a smaller --tile)", file=sys.stderr)
            return
        for i, j in enumerate(batch):
            dest = _destination(out_root, j.rel, args.suffix)
            try:
                write_image(dest, out[i], alpha=None if alpha_out is None else alpha_out[i],
                            bit_depth=j.img.bit_depth, gray=j.img.was_gray, exif=j.img.exif, icc=j.img.icc)
            except OSError as exc:
                failed.append(j.src)
                print(f"error: cannot write {dest}: {exc.strerror or exc}", file=sys.stderr)
                continue
            done += 1
            print(f"{j.src} ({w}x{h}) -> {dest} ({out.shape[-1]}x{out.shape[-2]})")

    pending: list[_Job] = []
    for src, rel in files:
        try:
            job = _Job(src, rel, read_image(src))
        except ImageReadError as exc:
            failed.append(src)
            print(f"error: {exc}", file=sys.stderr)
            continue
        except OSError as exc:
            failed.append(src)
            print(f"error: cannot read {src}: {exc.strerror or exc}", file=sys.stderr)
            continue
        h, w = job.img.rgb.shape[-2:]
        fits = args.tile is None and h * w <= BATCH_PIXELS
        if pending and (not fits or job.key != pending[0].key or len(pending) >= MAX_BATCH):
            run(pending)
            pending = []
        if fits:
            pending.append(job)
        else:
            run([job])
    if pending:
        run(pending)
    summary = f"{done} upscaled, {len(failed)} failed"
    if failed:
        shown = ", ".join(str(p) for p in failed[:5]) + (" ..." if len(failed) > 5 else "")
        summary += f" ({shown})"
    print(f"{summary}, in {time.time() - start:.1f} s; outputs in {out_root}")
    return 1 if failed else 0
