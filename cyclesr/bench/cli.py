"""``cyclesr bench <step|data|upscale|quality>``: each benchmark module provides
``add_parser(subparsers)`` and ``run(args) -> int``."""
from __future__ import annotations

import argparse
import importlib

__all__ = ["add_parser", "run"]

_BENCHES = {"step": "cyclesr.bench.speed", "data": "cyclesr.bench.speed",
            "upscale": "cyclesr.bench.speed", "quality": "cyclesr.bench.quality"}


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks: step, data, upscale, quality",
                       description="Benchmarks that print numbers (JSON with --json).")
    bench_sub = p.add_subparsers(dest="bench", metavar="<benchmark>")
    seen = set()
    for module in dict.fromkeys(_BENCHES.values()):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not (exc.name and module.startswith(exc.name)):
                raise
            continue
        if module not in seen:
            mod.add_parsers(bench_sub)
            seen.add(module)


def run(args: argparse.Namespace) -> int:
    if not getattr(args, "bench", None):
        print("usage: cyclesr bench <step|data|upscale|quality> --help")
        return 2
    return importlib.import_module(_BENCHES[args.bench]).run(args)
