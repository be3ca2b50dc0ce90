"""``cyclesr demo``: ``cyclesr.demo.run_demo`` on photos bundled with scikit-image."""
from __future__ import annotations

from cyclesr.cli.common import add_command

__all__ = ["add_parser", "run"]

EPILOG = """examples:
  cyclesr demo                       # about 5 minutes on 2 CPU cores
  cyclesr demo --output-dir demo_out --minutes 1"""


def add_parser(sub) -> None:
    p = add_command(sub, "demo", "train and evaluate on bundled photos (no data needed)", EPILOG)
    p.add_argument("--output-dir", default="demo_out")
    p.add_argument("--minutes", type=float, default=4.0, help="training budget")
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from cyclesr.demo import run_demo
    run_demo(args.output_dir, minutes=args.minutes, device=args.device, seed=args.seed)
    return 0
