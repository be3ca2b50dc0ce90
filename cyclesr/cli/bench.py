"""``cyclesr bench``: the benchmarks' own parsers and runner (``cyclesr.bench.cli``). Declaring
their flags imports the benchmark modules (and torch), so other commands list bench by its
summary only."""
from __future__ import annotations

import argparse

__all__ = ["add_parser", "add_summary", "run"]

HELP = "benchmarks: step, data, upscale, quality"


def add_parser(sub) -> None:
    from cyclesr.bench.cli import add_parser as add_bench
    add_bench(sub)


def add_summary(sub) -> None:
    """``bench`` in the list of commands, without its flags (never parsed: main builds the full
    parser when the command is bench)."""
    p = sub.add_parser("bench", help=HELP, add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)


def run(args) -> int:
    from cyclesr.bench.cli import run as run_bench
    return run_bench(args)
