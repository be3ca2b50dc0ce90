"""``cyclesr upscale`` over files: every image kind in, the same kind out; bad files reported
one line each while good files are still processed."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from cyclesr.api import load
from cyclesr.data.io import ImageReadError, read_image, write_image
from cyclesr.inference import auto_tile_size, upscale_image

__all__ = ["upscale_files"]


def upscale_files(args, files: list[tuple[Path, Path]]) -> int:
    model = load(args.checkpoint, device=args.device, use_ema=not getattr(args, "no_ema", False))
    out_root = Path(args.output)
    done, failed = 0, []
    start = time.time()
    for src, rel in files:
        try:
            img = read_image(src)
        except (ImageReadError, OSError) as exc:
            failed.append(src)
            print(f"skipped {src}: {exc}", file=sys.stderr)
            continue
        h, w = img.rgb.shape[-2:]
        tile = args.tile or auto_tile_size(h, w, model.scale, model.sr, device=model.device)
        rgb, alpha = upscale_image(model.sr, img.rgb, model.scale, tile=tile, tile_pad=args.tile_pad,
                                   tta=args.tta, color_fix=args.color_fix, outscale=args.outscale,
                                   device=model.device, half=args.half, alpha=img.alpha)
        dest = out_root / rel.with_name(f"{rel.stem}{args.suffix}{rel.suffix}")
        try:
            write_image(dest, rgb, alpha=alpha, bit_depth=img.bit_depth, gray=img.was_gray,
                        exif=img.exif, icc=img.icc)
        except OSError as exc:
            failed.append(src)
            print(f"failed to write {dest}: {exc}", file=sys.stderr)
            continue
        done += 1
        print(f"{src} ({w}x{h}) -> {dest} ({rgb.shape[-1]}x{rgb.shape[-2]})")
    print(f"{done} upscaled, {len(failed)} failed, in {time.time() - start:.1f} s; outputs in {out_root}")
    return 1 if failed else 0
