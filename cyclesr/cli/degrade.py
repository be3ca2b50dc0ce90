"""``cyclesr degrade``: realistic LR from HR images with the learned degradation G, through
``cyclesr.api.files.degrade_files``, or (``--paired``) a paired dataset for other SR trainers
through ``cyclesr.api.paired_dataset.write_paired_dataset``."""
from __future__ import annotations

from cyclesr.cli.common import add_command, print_failure

__all__ = ["add_parser", "run"]

EPILOG = """examples:
  cyclesr degrade --checkpoint runs/try1/checkpoints/best.pt sharp_images/ -o realistic_LR/
  cyclesr degrade --checkpoint runs/try1/model sharp_images/ -o pairs/ --paired

--paired writes pairs/hr and pairs/lr (same file names; dataroot_gt / dataroot_lq),
pairs/meta_info.txt as BasicSR writes it, and the dataset section of a traiNNer-redux (YAML) and
a neosr (TOML) config pointing at them. The output folder must lie outside the inputs."""


def add_parser(sub) -> None:
    p = add_command(sub, "degrade", "make realistic LR from HR with the learned degradation", EPILOG)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("inputs", nargs="+", help="HR image files or folders")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--paired", action="store_true",
                   help="write hr/, lr/, meta_info.txt and traiNNer-redux / neosr config snippets")
    p.add_argument("--lq-size", type=int, default=64, help="LR patch size in the config snippets (--paired)")
    p.add_argument("--device", default=None)


def run(args) -> int:
    from cyclesr.api.files import degrade_files, gather_inputs, plan_outputs
    from cyclesr.api.model import load

    files = gather_inputs(args.inputs)
    if args.paired:
        from cyclesr.api.paired_dataset import check_output_outside_inputs, write_paired_dataset
        check_output_outside_inputs(args.output, args.inputs)  # before loading the model
        model = load(args.checkpoint, device=args.device)
        pairs = write_paired_dataset(model, files, args.output, args.inputs, lq_size=args.lq_size)
        print(f"{len(pairs.names)} pairs (x{model.scale}) written to {pairs.hr_dir} and {pairs.lr_dir}, "
              f"meta_info.txt beside them")
        print(f"next: train another SR toolkit on them, e.g. traiNNer-redux or neosr with the dataset "
              f"section in {pairs.configs[0]} or {pairs.configs[1]}")
        return 0
    for note in plan_outputs(files, args.output, ext=lambda rel: ".png")[1]:  # refusals before any work
        print(note)
    model = load(args.checkpoint, device=args.device)
    result = degrade_files(model, files, args.output, on_error=print_failure)
    failed = f", {len(result.failed)} failed" if result.failed else ""
    print(f"{len(result.written)} realistic LR images written to {result.output_dir} "
          f"(x{model.scale} smaller than the HR){failed}")
    print("next: pair them with the HR images to train any SR network (or use --paired)")
    return 1 if result.failed else 0
