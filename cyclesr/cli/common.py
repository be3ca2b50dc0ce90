"""What the command modules share: a sub-command with examples, flags left at None when not
given (so the library's dataclass defaults apply), and printing failures as one line each."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_command", "given", "print_failure"]


def add_command(sub, name: str, help: str, epilog: str) -> argparse.ArgumentParser:
    """A sub-command whose ``--help`` ends with its examples, formatted as written."""
    return sub.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".",
                          epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)


def given(args: argparse.Namespace, *names: str) -> dict:
    """The named flags the user gave (declared with default None), as keyword arguments: an
    options dataclass fills in the rest with its own defaults, the ones the API uses."""
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def print_failure(src: Path, why: str) -> None:
    print(f"error: {why}", file=sys.stderr)
