"""``cyclesr evaluate``: ``cyclesr.api.files.evaluate_folder`` computes the result dict; this
module prints it (and writes it as JSON with ``--json``)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from cyclesr.cli.common import add_command, given

__all__ = ["add_parser", "run"]

EPILOG = """examples:
  cyclesr evaluate --checkpoint runs/try1/checkpoints/best.pt --lr val/LR --hr val/HR --json eval.json
  cyclesr evaluate --checkpoint runs/try1/model --lr real_photos/          # no HR: SR images only"""


def add_parser(sub) -> None:
    p = add_command(sub, "evaluate", "PSNR/SSIM of CycleSR and bicubic on LR/HR folders", EPILOG)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--lr", required=True, help="LR images")
    p.add_argument("--hr", default=None, help="HR images matched by file stem (optional)")
    p.add_argument("--shift-search", type=int, help="best integer shift radius (default 0)")
    p.add_argument("--crop-border", type=int, help="default: the scale")
    p.add_argument("--json", default=None, help="write per-image and mean metrics here")
    p.add_argument("--save-images", default=None, metavar="DIR", help="write SR images here")
    p.add_argument("--clean-hr", default=None, metavar="DIR",
                   help="without --hr: sharp images to make G's fake LR from (default: the SR "
                        "outputs, downscaled); also gives the pseudo-PSNR (SR on those pairs)")
    p.add_argument("--tile", type=int, help="tile size in LR pixels (default: whole images)")
    p.add_argument("--device", default=None)


def run(args) -> int:
    from cyclesr.api.files import EvaluateOptions, evaluate_folder
    from cyclesr.api.model import load
    from cyclesr.ops.files import atomic_write_bytes

    options = EvaluateOptions(**given(args, "shift_search", "crop_border", "tile"))
    model = load(args.checkpoint, device=args.device)
    result = evaluate_folder(model, args.lr, args.hr, options, clean_hr_dir=args.clean_hr,
                             out_dir=args.save_images, progress=sys.stderr.isatty(),
                             on_error=_report_failure)
    if result["mean"]["cyclesr"]:
        _print_paired(result)
    else:
        print(f"{result['count']} images upscaled (no --hr given: no-reference statistics only)")
        if "noref" in result:
            _print_noref(result["noref"])
    if args.json:
        atomic_write_bytes(Path(args.json), json.dumps(result, indent=2).encode())
        print(f"metrics written to {args.json}")
    if args.save_images:
        print(f"SR images written to {args.save_images}")
    if result["failed"]:
        print(f"{len(result['failed'])} image(s) could not be read and were skipped: "
              f"{', '.join(sorted(result['failed']))}", file=sys.stderr)
    return 1 if result["failed"] else 0


def _report_failure(name: str, why: str) -> None:
    """One line per unreadable image, on a line of its own under the progress bar."""
    from tqdm import tqdm
    tqdm.write(f"error: {why}", file=sys.stderr)


def _print_paired(result: dict) -> None:
    print(f"{'':10s} {'PSNR-RGB':>9s} {'PSNR-Y':>8s} {'SSIM-Y':>7s}   ({result['count']} images)")
    for k in ("bicubic", "cyclesr"):
        m = result["mean"][k]
        print(f"{k:10s} {m['psnr_rgb']:9.2f} {m['psnr_y']:8.2f} {m['ssim_y']:7.4f}")


def _print_noref(stats: dict) -> None:
    """How close G's fake LR is to the real LR, without ground truth (lower KID = closer)."""
    print(f"KID(fake LR, real LR) = {stats['kid']:.4f}  (lower is closer; compare checkpoints)")
    if "pseudo_psnr" in stats:
        print(f"pseudo-PSNR-Y = {stats['pseudo_psnr']:.2f} dB  (SR on pairs G made from --clean-hr; higher is "
              "better; compare checkpoints)")
    for key, real in stats["real"].items():
        print(f"  {key:12s} fake LR {stats['fake'][key]:9.3f}   real LR {real:9.3f}")
