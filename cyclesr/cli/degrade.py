"""``cyclesr degrade``: realistic LR from HR images with the learned degradation G, through
``cyclesr.api.files.degrade_files``."""
from __future__ import annotations

from cyclesr.cli.common import add_command

__all__ = ["add_parser", "run"]

EPILOG = """examples:
  cyclesr degrade --checkpoint runs/try1/checkpoints/best.pt sharp_images/ -o realistic_LR/"""


def add_parser(sub) -> None:
    p = add_command(sub, "degrade", "make realistic LR from HR with the learned degradation", EPILOG)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("inputs", nargs="+", help="HR image files or folders")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--device", default=None)


def run(args) -> int:
    from cyclesr.api.files import degrade_files, gather_inputs
    from cyclesr.api.model import load

    files = gather_inputs(args.inputs)
    model = load(args.checkpoint, device=args.device)
    result = degrade_files(model, files, args.output)
    print(f"{len(result.written)} realistic LR images written to {result.output_dir} "
          f"(x{model.scale} smaller than the HR)")
    print("next: pair them with the HR images to train any SR network")
    return 0
