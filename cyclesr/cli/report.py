"""``cyclesr report RUN_DIR``: ``cyclesr.report.html.build_report``, at any time (also during
training)."""
from __future__ import annotations

from cyclesr.cli.common import add_command

__all__ = ["add_parser", "run"]

EPILOG = """examples:
  cyclesr report runs/try1                  # writes runs/try1/report.html
  cyclesr report runs/try1 -o try1.html --max-images 4"""


def add_parser(sub) -> None:
    p = add_command(sub, "report", "an HTML page with curves, metrics and image comparisons", EPILOG)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (holds metrics.jsonl, config.yml)")
    p.add_argument("-o", "--output", default=None, help="HTML file (default RUN_DIR/report.html)")
    p.add_argument("--max-images", type=int, default=8, help="validation images shown (default 8)")


def run(args) -> int:
    from cyclesr.report.html import build_report
    path = build_report(args.run_dir, args.output, max_images=args.max_images)
    print(f"report written to {path}")
    print(f"next: open file://{path.resolve()} in a browser")
    return 0
