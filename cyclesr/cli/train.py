"""``cyclesr train``: train from a config; the run folder, published model and report come from
``cyclesr.api.train.train``, the same function as ``cyclesr.train()``."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from cyclesr.cli.common import add_command

__all__ = ["add_parser", "run"]

EPILOG = """examples:
  cyclesr train --config configs/cyclesr_x4.yml --set dataset.train.HR_dir=data/HR --set dataset.train.LR_dir=data/real_LR
  cyclesr train --config configs/cpu_small.yml --output-dir runs/try1 --set trainer.n_epoch=20
  cyclesr train --config configs/cpu_small.yml --output-dir runs/try1 --resume          # continue from latest.pt
  cyclesr train --config configs/cpu_small.yml --output-dir runs/try1 --overwrite       # delete that run, start anew
  torchrun --nproc_per_node=2 -m cyclesr train --config configs/cyclesr_x4.yml          # several GPUs/processes"""


def add_parser(sub) -> None:
    p = add_command(sub, "train", "train CycleSR from a config", EPILOG)
    p.add_argument("--config", required=True, help="YAML config (our layout, the seed's or Vega's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set trainer.n_epoch=10 (repeatable, typed)")
    p.add_argument("--output-dir", default=None, help="run folder (default runs/<config>_<time>)")
    p.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CKPT",
                   help="continue a run: from OUTPUT_DIR/checkpoints/latest.pt, or a given file")
    p.add_argument("--overwrite", action="store_true",
                   help="start a fresh run in an --output-dir that holds one, deleting that run's "
                        "checkpoints, logs and model (without it such a folder is refused)")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: config)")
    p.add_argument("--until-epoch", type=int, default=None,
                   help="stop after this epoch (the schedule is unchanged; resume later)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from cyclesr.api.train import train
    from cyclesr.config import load_config
    from cyclesr.engine.trainer import TrainingStopped

    if args.until_epoch is not None and args.until_epoch < 1:
        print(f"error: --until-epoch must be 1 or more (got {args.until_epoch})", file=sys.stderr)
        return 2
    if args.resume and args.overwrite:
        print("error: give --resume (continue the run) or --overwrite (delete it), not both", file=sys.stderr)
        return 2
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
                        progress=not args.no_progress, overwrite=args.overwrite)
    except TrainingStopped as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    _print_summary(summary)
    return 130 if summary["interrupted"] else 0


def _print_summary(s: dict) -> None:
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
