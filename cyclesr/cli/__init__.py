"""The command line: ``cyclesr <command>`` (also ``python -m cyclesr``). A thin layer over the
Python functions users import; every command says where its outputs went and what to run next."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

__all__ = ["main", "build_parser"]

EPILOGS = {
    "train": """examples:
  cyclesr train --config configs/cyclesr_x4.yml --set dataset.train.HR_dir=data/HR --set dataset.train.LR_dir=data/real_LR
  cyclesr train --config configs/cpu_small.yml --output-dir runs/try1 --set trainer.n_epoch=20
  cyclesr train --config configs/cpu_small.yml --output-dir runs/try1 --resume          # continue from latest.pt
  torchrun --nproc_per_node=2 -m cyclesr train --config configs/cyclesr_x4.yml          # several GPUs/processes""",
    "upscale": """examples:
  cyclesr upscale --checkpoint runs/try1/checkpoints/best.pt photo.jpg -o upscaled/
  cyclesr upscale --checkpoint runs/try1/model old_photos/ -o upscaled/ --tile 256 --tta
  cyclesr upscale --checkpoint runs/try1/model scans/ -o big/ --outscale 3 --color-fix""",
    "evaluate": """examples:
  cyclesr evaluate --checkpoint runs/try1/checkpoints/best.pt --lr val/LR --hr val/HR --json eval.json
  cyclesr evaluate --checkpoint runs/try1/model --lr real_photos/          # no HR: SR images only""",
    "degrade": """examples:
  cyclesr degrade --checkpoint runs/try1/checkpoints/best.pt sharp_images/ -o realistic_LR/""",
    "synth": """examples:
  cyclesr synth --hr data/HR -o data/LR_mild --recipe mild --seed 1
  cyclesr synth --hr data/HR -o data/LR --recipe "blur(sigma=0.5~2) > down(scale=4) > jpeg(quality=30~60)" --paired-hr-out data/HR_aligned
  cyclesr synth --hr data/HR -o data/LR_real_noise --recipe "blur(sigma=1) > down(scale=4) > inject" --noise-from data/real_LR
  cyclesr synth --hr data/HR -o data/LR_like_mine --recipe fit --real-lr data/real_LR      # fit blur, noise, JPEG first""",
    "demo": """examples:
  cyclesr demo                       # about 5 minutes on 2 CPU cores
  cyclesr demo --output-dir demo_out --minutes 1""",
}


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train CycleSR from a config",
                       epilog=EPILOGS["train"], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="YAML config (our layout, the seed's or Vega's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set trainer.n_epoch=10 (repeatable, typed)")
    p.add_argument("--output-dir", default=None, help="run folder (default runs/<config>_<time>)")
    p.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CKPT",
                   help="continue a run: from OUTPUT_DIR/checkpoints/latest.pt, or a given file")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: config)")
    p.add_argument("--until-epoch", type=int, default=None,
                   help="stop after this epoch (the schedule is unchanged; resume later)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_upscale(sub) -> None:
    p = sub.add_parser("upscale", help="super-resolve images or folders",
                       epilog=EPILOGS["upscale"], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint .pt, model folder or .safetensors")
    p.add_argument("inputs", nargs="+", help="image files or folders (recursive)")
    p.add_argument("-o", "--output", required=True, help="output folder (names and formats kept)")
    p.add_argument("--tile", type=int, default=None, help="tile size in LR pixels (default: auto)")
    p.add_argument("--tile-pad", type=int, default=16, help="overlap context around each tile")
    p.add_argument("--tta", action="store_true", help="average the 8 flips/rotations")
    p.add_argument("--color-fix", action="store_true", help="keep the input's low frequencies")
    p.add_argument("--outscale", type=float, default=None, help="final scale (default: the net's)")
    p.add_argument("--half", action="store_true", help="fp16 inference (CUDA only)")
    p.add_argument("--suffix", default="", help="added to output file names")
    p.add_argument("--device", default=None)
    p.add_argument("--no-ema", action="store_true", help="use raw SR weights, not the EMA")


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="PSNR/SSIM of CycleSR and bicubic on LR/HR folders",
                       epilog=EPILOGS["evaluate"], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--lr", required=True, help="LR images")
    p.add_argument("--hr", default=None, help="HR images matched by file stem (optional)")
    p.add_argument("--shift-search", type=int, default=0, help="best integer shift radius")
    p.add_argument("--crop-border", type=int, default=None, help="default: the scale")
    p.add_argument("--json", default=None, help="write per-image and mean metrics here")
    p.add_argument("--save-images", default=None, metavar="DIR", help="write SR images here")
    p.add_argument("--clean-hr", default=None, metavar="DIR",
                   help="without --hr: sharp images to make G's fake LR from (default: the SR "
                        "outputs, downscaled); also gives the pseudo-PSNR (SR on those pairs)")
    p.add_argument("--tile", type=int, default=None)
    p.add_argument("--device", default=None)


def _add_degrade(sub) -> None:
    p = sub.add_parser("degrade", help="make realistic LR from HR with the learned degradation",
                       epilog=EPILOGS["degrade"], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("inputs", nargs="+", help="HR image files or folders")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--device", default=None)


def _add_synth(sub) -> None:
    p = sub.add_parser("synth", help="synthesise degraded LR images with a recipe",
                       epilog=EPILOGS["synth"], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hr", required=True, help="HR folder")
    p.add_argument("-o", "--output", required=True, help="LR output folder")
    p.add_argument("--recipe", default="mild", help="preset name or recipe string (see README)")
    p.add_argument("--scale", type=int, default=None, help="check the recipe's total scale")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--paired-hr-out", default=None, help="also write HR crops aligned to the LR")
    p.add_argument("--noise-from", default=None, metavar="REAL_LR_DIR",
                   help="real LR images whose flat regions give the noise of the recipe's inject step")
    p.add_argument("--real-lr", default=None, metavar="REAL_LR_DIR",
                   help="with --recipe fit: real LR images to fit the recipe to (blur, noise, JPEG)")


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="train and evaluate on bundled photos (no data needed)",
                       epilog=EPILOGS["demo"], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output-dir", default="demo_out")
    p.add_argument("--minutes", type=float, default=4.0, help="training budget")
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cyclesr", description="CycleSR: super-resolution without paired training data.",
        epilog="run 'cyclesr <command> --help' for examples")
    from cyclesr import __version__
    parser.add_argument("--version", action="version", version=f"cyclesr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for add in (_add_train, _add_upscale, _add_evaluate, _add_degrade, _add_synth, _add_demo):
        add(sub)
    from cyclesr.cli_extra import add_extra_commands
    add_extra_commands(sub)
    return parser


# ---------------------------------------------------------------- commands
def cmd_train(args) -> int:
    from cyclesr.config import load_config
    from cyclesr.engine.trainer import TrainingStopped, train

    cfg = load_config(args.config, args.overrides)
    out = Path(args.output_dir or f"runs/{Path(args.config).stem}_{time.strftime('%Y%m%d_%H%M%S')}")
    resume = None
    if args.resume:
        resume = out / "checkpoints" / "latest.pt" if args.resume == "latest" else Path(args.resume)
        if not resume.is_file():
            print(f"error: no checkpoint to resume at '{resume}'; pass --output-dir of the run "
                  "or --resume PATH", file=sys.stderr)
            return 2
    try:
        summary = train(cfg, out, device=args.device, resume=resume, until_epoch=args.until_epoch,
                        progress=not args.no_progress)
    except TrainingStopped as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    _print_train_summary(summary)
    return 130 if summary["interrupted"] else 0


def _print_train_summary(s: dict) -> None:
    from cyclesr.engine import dist
    if dist.env_rank() != 0:
        return
    state = "interrupted" if s["interrupted"] else "finished"
    print(f"training {state} at epoch {s['epoch'] - (0 if s['interrupted'] else 1)} "
          f"({s['global_step']} steps, {s['seconds']:.0f} s)")
    print(f"  run folder:   {s['run_dir']}  (metrics.jsonl, tensorboard/, samples/, val/)")
    print(f"  checkpoints:  {s['latest']}" + (f", {s['best_checkpoint']}" if s["best_checkpoint"] else ""))
    if s.get("model_dir"):
        print(f"  model:        {s['model_dir']}  (safetensors + model.json)")
    if s.get("report"):
        print(f"  report:       {s['report']}  (open it in a browser)")
    ck = s.get("model_dir") or s["best_checkpoint"] or s["latest"]
    if s["interrupted"]:
        print(f"next: resume with  cyclesr train --config {s['run_dir']}/config.yml "
              f"--output-dir {s['run_dir']} --resume")
    else:
        print(f"next: cyclesr upscale --checkpoint {ck} YOUR_IMAGES -o upscaled/\n"
              f"      tensorboard --logdir {s['run_dir']}/tensorboard")


def _gather(inputs: list[str]) -> list[tuple[Path, Path]]:
    """(file, path relative to its input root) for every image in files and folders."""
    from cyclesr.data.io import IMAGE_EXTS, list_images
    found = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found += [(f, f.relative_to(p)) for f in list_images(p)]
        elif p.is_file():
            found.append((p, Path(p.name)))
        else:
            raise FileNotFoundError(f"input '{item}' does not exist")
    if not found:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_EXTS))}) in {inputs}")
    return found


def cmd_upscale(args) -> int:
    from cyclesr.api.files import upscale_files
    return upscale_files(args, _gather(args.inputs))


def cmd_evaluate(args) -> int:
    from cyclesr.eval.paired import evaluate_sr
    from cyclesr.modelfile.publish import load_any

    sr, G, scale = load_any(args.checkpoint)
    result = evaluate_sr(sr, args.lr, args.hr, scale, shift_search=args.shift_search,
                         crop_border=args.crop_border, device=args.device, tile=args.tile,
                         out_dir=Path(args.save_images) if args.save_images else None, progress=True)
    mean = result["mean"]
    if mean["cyclesr"]:
        print(f"{'':10s} {'PSNR-RGB':>9s} {'PSNR-Y':>8s} {'SSIM-Y':>7s}   ({result['count']} images)")
        for k in ("bicubic", "cyclesr"):
            m = mean[k]
            print(f"{k:10s} {m['psnr_rgb']:9.2f} {m['psnr_y']:8.2f} {m['ssim_y']:7.4f}")
    else:
        print(f"{result['count']} images upscaled (no --hr given: no-reference statistics only)")
        if G is not None:
            from cyclesr.eval.noref import evaluate_noref
            result["noref"] = evaluate_noref(sr, G, args.lr, scale, clean_hr_dir=args.clean_hr,
                                             device=args.device)
            _print_noref(result["noref"])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"metrics written to {args.json}")
    if args.save_images:
        print(f"SR images written to {args.save_images}")
    return 0


def _print_noref(stats: dict) -> None:
    """How close G's fake LR is to the real LR, without ground truth (lower KID = closer)."""
    print(f"KID(fake LR, real LR) = {stats['kid']:.4f}  (lower is closer; compare checkpoints)")
    if "pseudo_psnr" in stats:
        print(f"pseudo-PSNR-Y = {stats['pseudo_psnr']:.2f} dB  (SR on pairs G made from --clean-hr; higher is "
              "better; compare checkpoints)")
    for key, real in stats["real"].items():
        print(f"  {key:12s} fake LR {stats['fake'][key]:9.3f}   real LR {real:9.3f}")


def cmd_degrade(args) -> int:
    from cyclesr.api.model import load
    from cyclesr.data.io import read_image, write_image

    model = load(args.checkpoint, device=args.device)
    out = Path(args.output)
    files = _gather(args.inputs)
    for src, rel in files:
        img = read_image(src)
        fake = model.degrade(img.rgb)
        write_image(out / rel.with_suffix(".png"), fake)
    print(f"{len(files)} realistic LR images written to {out} (x{model.scale} smaller than the HR)")
    print("next: pair them with the HR images to train any SR network")
    return 0


def cmd_synth(args) -> int:
    from cyclesr.data.degrade import synthesize_folder
    from cyclesr.eval.fit import fit_recipe_from_folders, is_fit
    recipe = args.recipe
    if is_fit(recipe):
        if not args.real_lr:
            raise SystemExit("error: --recipe fit needs --real-lr DIR (the real LR images to fit it to)")
        fitted = fit_recipe_from_folders(args.hr, args.real_lr, args.scale or 4, seed=args.seed, log=print)
        recipe, record = fitted.recipe, Path(args.output) / "synth_recipe_fit.json"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(fitted.to_json())
        print(f"fitted recipe and the best candidates written to {record}")
    written = synthesize_folder(args.hr, args.output, recipe, scale=args.scale, seed=args.seed,
                                paired_hr_out=args.paired_hr_out, noise_from=args.noise_from)
    print(f"{len(written)} degraded LR images written to {args.output}")
    if args.paired_hr_out:
        print(f"aligned HR images written to {args.paired_hr_out}")
    return 0


def cmd_demo(args) -> int:
    from cyclesr.demo import run_demo
    run_demo(args.output_dir, minutes=args.minutes, device=args.device, seed=args.seed)
    return 0


COMMANDS = {"train": cmd_train, "upscale": cmd_upscale, "evaluate": cmd_evaluate,
            "degrade": cmd_degrade, "synth": cmd_synth, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    from cyclesr.cli_extra import EXTRA_COMMANDS
    from cyclesr.config import ConfigError
    from cyclesr.engine.checkpoint import CheckpointError
    from cyclesr.ops.files import WriteError
    handler = COMMANDS.get(args.command) or EXTRA_COMMANDS[args.command]
    try:
        return handler(args)
    except (ConfigError, CheckpointError, WriteError, FileNotFoundError, ValueError) as exc:
        if os.environ.get("CYCLESR_DEBUG"):  # the full traceback, for bug reports
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
