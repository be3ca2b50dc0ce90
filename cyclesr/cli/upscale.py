"""``cyclesr upscale``: the flags become ``cyclesr.api.model.UpscaleOptions`` (flags not given
keep its defaults, the ones ``cyclesr.load(...).upscale()`` uses) and the files go through
``cyclesr.api.files.upscale_files``. The output names are checked before the model is loaded:
an output that would replace an input is refused at once."""
from __future__ import annotations

import sys

from cyclesr.cli.common import add_command, given, print_failure

__all__ = ["add_parser", "run", "OPTION_FLAGS"]

EPILOG = """examples:
  cyclesr upscale --checkpoint runs/try1/checkpoints/best.pt photo.jpg -o upscaled/
  cyclesr upscale --checkpoint runs/try1/model old_photos/ -o upscaled/ --tile 256 --tta
  cyclesr upscale --checkpoint runs/try1/model scans/ -o big/ --outscale 3 --color-fix"""

# the UpscaleOptions fields set by flags of the same name
OPTION_FLAGS = ("tile", "tile_pad", "tta", "color_fix", "outscale", "half")


def add_parser(sub) -> None:
    p = add_command(sub, "upscale", "super-resolve images or folders", EPILOG)
    p.add_argument("--checkpoint", required=True, help="checkpoint .pt, model folder or .safetensors")
    p.add_argument("inputs", nargs="+", help="image files or folders (recursive)")
    p.add_argument("-o", "--output", required=True, help="output folder (names and formats kept)")
    p.add_argument("--tile", type=int, help="tile size in LR pixels (default: auto, from free memory)")
    p.add_argument("--tile-pad", type=int, help="overlap context around each tile (default 16)")
    p.add_argument("--tta", action="store_true", default=None, help="average the 8 flips/rotations")
    p.add_argument("--color-fix", action="store_true", default=None, help="keep the input's low frequencies")
    p.add_argument("--outscale", type=float, help="final scale (default: the net's)")
    p.add_argument("--half", action="store_true", default=None, help="fp16 inference (CUDA only)")
    p.add_argument("--suffix", default="", help="added to output file names")
    p.add_argument("--device", default=None)
    p.add_argument("--no-ema", action="store_true", help="use raw SR weights, not the EMA")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (shown on a terminal)")


def options_from(args):
    """The UpscaleOptions the flags ask for."""
    from cyclesr.api.model import UpscaleOptions
    return UpscaleOptions(**given(args, *OPTION_FLAGS))


def run(args) -> int:
    from cyclesr.api.files import gather_inputs, plan_outputs, upscale_files
    from cyclesr.api.model import load

    options = options_from(args)
    files = gather_inputs(args.inputs)
    plan_outputs(files, args.output, args.suffix)  # refuse an overwritten input before any work
    model = load(args.checkpoint, device=args.device, use_ema=not args.no_ema)
    result = upscale_files(model, files, args.output, options, suffix=args.suffix, log=print,
                           on_error=print_failure, progress=sys.stderr.isatty() and not args.no_progress)
    summary = f"{len(result.written)} upscaled, {len(result.failed)} failed"
    if result.failed:
        names = [str(src) for src, _ in result.failed]
        summary += f" ({', '.join(names[:5])}{' ...' if len(names) > 5 else ''})"
    print(f"{summary}, in {result.seconds:.1f} s; outputs in {result.output_dir}")
    return 1 if result.failed else 0
