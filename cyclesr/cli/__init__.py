"""The command line: ``cyclesr <command>`` (also ``python -m cyclesr``).

A thin layer over the Python functions users import: each command module (one per command or
group) has ``add_parser(subparsers)``, which only declares flags, and ``run(args) -> int``, which
turns the flags into the options object of a library function, calls it and prints where the
outputs went and what to run next. Heavy modules (torch) are imported inside ``run`` only, so
``cyclesr --help`` answers at once.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional, Sequence

__all__ = ["main", "build_parser", "COMMANDS"]

# command -> module of cyclesr.cli with add_parser(sub) and run(args); the order of `--help`
COMMANDS = {name: name for name in ("train", "upscale", "evaluate", "degrade", "synth", "demo",
                                   "export", "report", "bench")}
COMMANDS["import-vega"] = "import_vega"


def _module(command: str):
    return importlib.import_module(f"cyclesr.cli.{COMMANDS[command]}")


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The full parser. With ``command``, the other commands may be declared by their summary
    only (``add_summary``, where declaring their flags costs imports: ``bench``); enough to
    parse that command's arguments and to list every command in ``--help``."""
    parser = argparse.ArgumentParser(
        prog="cyclesr", description="CycleSR: super-resolution without paired training data.",
        epilog="run 'cyclesr <command> --help' for examples")
    from cyclesr import __version__
    parser.add_argument("--version", action="version", version=f"cyclesr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMANDS:
        module = _module(name)
        summary_only = command not in (None, name) and hasattr(module, "add_summary")
        (module.add_summary if summary_only else module.add_parser)(sub)
    return parser


def _command_in(argv: Sequence[str]) -> Optional[str]:
    """The command named in ``argv`` (its first word that is not an option), if any."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def _errors() -> tuple[type[BaseException], ...]:
    """What a command reports as one line ``error: ...`` (exit 2) instead of a traceback."""
    from cyclesr.config import ConfigError
    from cyclesr.engine.checkpoint import CheckpointError
    from cyclesr.ops.files import WriteError
    return ConfigError, CheckpointError, WriteError, FileNotFoundError, ValueError


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_in(argv) or "")
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return _module(args.command).run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("CYCLESR_DEBUG") or not isinstance(exc, _errors()):
            raise  # CYCLESR_DEBUG: the full traceback, for bug reports
        print(f"error: {exc}", file=sys.stderr)
        return 2
