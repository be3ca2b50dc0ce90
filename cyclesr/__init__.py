"""CycleSR: super-resolution without paired data.

A CycleGAN transfer network learns the real degradation (clean bicubic LR -> realistic LR), an
SR network learns from the generated pairs, and both train jointly.

The public names are imported on first use, so ``import cyclesr.config`` stays light (no torch).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"
__all__ = ["CycleSR", "Config", "ConfigError", "config_from_dict", "load", "load_config", "train",
           "__version__"]

_HOMES = {"CycleSR": "cyclesr.api", "load": "cyclesr.api", "train": "cyclesr.api.train",
          "Config": "cyclesr.config", "ConfigError": "cyclesr.config",
          "config_from_dict": "cyclesr.config", "load_config": "cyclesr.config"}


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'cyclesr' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
