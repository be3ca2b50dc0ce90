"""Commands beyond the core path, registered into the CLI: ``bench`` (step, data, upscale,
quality), ``export`` and ``report``. Each lives in its own module with ``add_parser(sub)``
and ``run(args) -> int``; imports stay lazy so ``cyclesr --help`` is fast."""
from __future__ import annotations

import importlib

__all__ = ["add_extra_commands", "EXTRA_COMMANDS"]

# command -> module providing add_parser(subparsers) and run(args)
_MODULES = {"bench": "cyclesr.bench.cli", "export": "cyclesr.modelfile.export", "report": "cyclesr.report.html"}
EXTRA_COMMANDS: dict = {}


def add_extra_commands(sub) -> None:
    for name, module in _MODULES.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not (exc.name and module.startswith(exc.name)):
                raise
            continue  # not built yet
        mod.add_parser(sub)
        EXTRA_COMMANDS[name] = mod.run
