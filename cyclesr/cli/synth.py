"""``cyclesr synth``: degraded LR images from HR images with a recipe
(``cyclesr.data.degrade.synthesize_folder``), the recipe optionally fitted first to real LR
images (``cyclesr.eval.fit.fit_recipe_from_folders``)."""
from __future__ import annotations

from pathlib import Path

from cyclesr.cli.common import add_command

__all__ = ["add_parser", "run"]

EPILOG = """examples:
  cyclesr synth --hr data/HR -o data/LR_mild --recipe mild --seed 1
  cyclesr synth --hr data/HR -o data/LR --recipe "blur(sigma=0.5~2) > down(scale=4) > jpeg(quality=30~60)" --paired-hr-out data/HR_aligned
  cyclesr synth --hr data/HR -o data/LR_real_noise --recipe "blur(sigma=1) > down(scale=4) > inject" --noise-from data/real_LR
  cyclesr synth --hr data/HR -o data/LR_like_mine --recipe fit --real-lr data/real_LR      # fit blur, noise, JPEG first
  cyclesr synth --hr data/HR -o pairs/ --recipe aniso-jpeg --paired      # hr/, lr/, meta_info.txt, trainer configs"""


def add_parser(sub) -> None:
    p = add_command(sub, "synth", "synthesise degraded LR images with a recipe", EPILOG)
    p.add_argument("--hr", required=True, help="HR folder")
    p.add_argument("-o", "--output", required=True, help="LR output folder")
    p.add_argument("--recipe", default="mild", help="preset name or recipe string (see README)")
    p.add_argument("--scale", type=int, default=None, help="check the recipe's total scale")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--paired-hr-out", default=None, help="also write HR crops aligned to the LR")
    p.add_argument("--paired", action="store_true",
                   help="write a paired dataset into -o: hr/ and lr/ with the same names, BasicSR's "
                        "meta_info.txt and traiNNer-redux / neosr dataset sections")
    p.add_argument("--lq-size", type=int, default=64, help="with --paired: the LR patch size the configs ask for")
    p.add_argument("--noise-from", default=None, metavar="REAL_LR_DIR",
                   help="real LR images whose flat regions give the noise of the recipe's inject step")
    p.add_argument("--real-lr", default=None, metavar="REAL_LR_DIR",
                   help="with --recipe fit: real LR images to fit the recipe to (blur, noise, JPEG)")


def _fitted_recipe(args) -> str:
    """``--recipe fit``: the recipe fitted to ``--real-lr``, its record written beside the LR."""
    from cyclesr.eval.fit import fit_recipe_from_folders
    from cyclesr.ops.files import atomic_write_bytes
    if not args.real_lr:
        raise SystemExit("error: --recipe fit needs --real-lr DIR (the real LR images to fit it to)")
    fitted = fit_recipe_from_folders(args.hr, args.real_lr, args.scale or 4, seed=args.seed, log=print)
    record = atomic_write_bytes(Path(args.output) / "synth_recipe_fit.json", fitted.to_json().encode())
    print(f"fitted recipe and the best candidates written to {record}")
    return fitted.recipe


def run(args) -> int:
    from cyclesr.api.paired_dataset import check_output_outside_inputs
    from cyclesr.config import is_fit
    from cyclesr.data.degrade import synthesize_folder

    for out in (args.output, args.paired_hr_out):  # never among the images it reads
        if out:
            check_output_outside_inputs(Path(out), [args.hr])
    if args.paired:
        return _run_paired(args)
    recipe = _fitted_recipe(args) if is_fit(args.recipe) else args.recipe
    written = synthesize_folder(args.hr, args.output, recipe, scale=args.scale, seed=args.seed,
                                paired_hr_out=args.paired_hr_out, noise_from=args.noise_from)
    print(f"{len(written)} degraded LR images written to {args.output}")
    if args.paired_hr_out:
        print(f"aligned HR images written to {args.paired_hr_out}")
        print(f"next: cyclesr evaluate --checkpoint CKPT --lr {args.output} --hr {args.paired_hr_out}")
    else:
        print(f"next: cyclesr train --config CONFIG --set dataset.train.LR_dir={args.output}")
    return 0


def _run_paired(args) -> int:
    """``--paired``: LR into ``-o/lr``, the aligned HR into ``-o/hr``, then the trainer files."""
    from cyclesr.api.paired_dataset import PairedDataset, write_trainer_files
    from cyclesr.config import is_fit
    from cyclesr.data.degrade import synthesize_folder
    from cyclesr.data.pixel_limit import open_image

    if args.paired_hr_out:
        raise SystemExit("error: --paired writes the HR images into -o/hr; leave out --paired-hr-out")
    dataset = PairedDataset(Path(args.output))
    recipe = _fitted_recipe(args) if is_fit(args.recipe) else args.recipe
    written = synthesize_folder(args.hr, dataset.lr_dir, recipe, scale=args.scale, seed=args.seed,
                                paired_hr_out=dataset.hr_dir, noise_from=args.noise_from)
    if not written:
        raise SystemExit(f"error: no image in {args.hr} could be degraded")
    meta, scale = [], None
    for lr_path in written:
        name = lr_path.relative_to(dataset.lr_dir).as_posix()
        with open_image(dataset.hr_dir / name) as hr, open_image(lr_path) as lr:
            meta.append(f"{name} ({hr.height},{hr.width},3)")
            scale = scale or hr.width // lr.width
    configs = write_trainer_files(dataset, meta, scale, args.lq_size)
    print(f"{len(written)} pairs written to {dataset.hr_dir} and {dataset.lr_dir} (x{scale}), with "
          f"{dataset.root / 'meta_info.txt'} and {', '.join(str(c) for c in configs)}")
    print(f"next: train any SR toolkit on them, e.g. copy {configs[0]} into a traiNNer-redux config")
    return 0
