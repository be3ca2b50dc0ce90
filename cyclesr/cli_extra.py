"""Commands beyond the core path (benchmarks, export, report), registered into the CLI."""
from __future__ import annotations

__all__ = ["add_extra_commands", "EXTRA_COMMANDS"]

EXTRA_COMMANDS: dict = {}


def add_extra_commands(sub) -> None:
    """Add the extra sub-commands to an argparse sub-parser group."""
