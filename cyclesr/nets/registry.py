"""Create networks by name: a registered name, an import path or a file path.

    create_net("VDSR", SR_nb=20)                      # registered name, case-insensitive
    create_net("mypkg.nets:MySR", scale=4)            # importable module
    create_net("path/to/my_net.py:MySR", scale=4)     # any Python file

Errors are loud: an unknown name lists the known ones, a bad keyword names the network, the
key and the accepted keys.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Callable

from torch import nn

from . import EDSR, VDSR, NLayerDiscriminator, ResnetGenerator, RRDBNet, SRResNet
from .degrader import (CameraJpegGenerator, CameraNoiseGenerator, DegradationGenerator, HighPassDiscriminator,
                            KernelNoiseGenerator, PixelNoiseDegradationGenerator, WhiteNoiseDegradationGenerator)
from .fastsr import BicubicResidualSR

__all__ = ["NETS", "register_net", "create_net", "resolve_net", "net_scale"]

NETS: dict[str, type[nn.Module]] = {}


def register_net(name: str) -> Callable[[type], type]:
    """Class decorator adding a network to `NETS` under `name` (unique, case-insensitive)."""

    def decorator(cls: type) -> type:
        clash = [known for known in NETS if known.lower() == name.lower() and NETS[known] is not cls]
        if clash:
            raise ValueError(f"network name {name!r} is already registered (as {clash[0]!r})")
        NETS[name] = cls
        return cls

    return decorator


for _cls in (ResnetGenerator, NLayerDiscriminator, VDSR, SRResNet, EDSR, RRDBNet,
             DegradationGenerator, PixelNoiseDegradationGenerator, WhiteNoiseDegradationGenerator,
             KernelNoiseGenerator, CameraNoiseGenerator, CameraJpegGenerator, HighPassDiscriminator,
             BicubicResidualSR):
    register_net(_cls.__name__)(_cls)


def _load_file(path: str) -> object:
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise ValueError(f"network file not found: {path}")
    # A unique, stable module name per file, so two files with the same stem do not collide.
    mod_name = f"cyclesr_user_{file.stem}_{hashlib.sha1(str(file).encode()).hexdigest()[:8]}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, file)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot load network file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[mod_name]
        raise
    return module


def resolve_net(name: str) -> Callable[..., nn.Module]:
    """The class (or factory) that `name` refers to; see the module docstring for the forms."""
    by_lower = {known.lower(): cls for known, cls in NETS.items()}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    where, sep, attr = name.rpartition(":")
    if not sep or not where or not attr:
        raise ValueError(f"unknown network {name!r}; known networks: {', '.join(sorted(NETS))} "
                         "(or give 'package.module:Class' or 'path/to/file.py:Class')")
    if where.endswith(".py") or "/" in where or "\\" in where:
        module = _load_file(where)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as err:
            raise ValueError(f"cannot import module {where!r} for network {name!r}: {err}") from err
    target = getattr(module, attr, None)
    if not callable(target):
        raise ValueError(f"{where!r} has no network class {attr!r}")
    return target


def _check_kwargs(name: str, target: Callable, kwargs: dict) -> None:
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [k for k, p in params.items()
                if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    bad = [k for k in kwargs if k not in accepted]
    if bad:
        raise TypeError(f"network {name!r} got unexpected argument(s) {', '.join(map(repr, bad))}; "
                        f"accepted: {', '.join(accepted) or '(none)'}")


def create_net(name: str, **kwargs) -> nn.Module:
    """Build the network `name` with keyword arguments `kwargs` (the YAML keys)."""
    target = resolve_net(name)
    _check_kwargs(name, target, kwargs)
    net = target(**kwargs)
    if not isinstance(net, nn.Module):
        raise TypeError(f"network {name!r} did not build an nn.Module (got {type(net).__name__})")
    return net


def net_scale(net: nn.Module) -> int:
    """Upscale factor of an SR network: its `scale`, else `upscale`, else 1."""
    for attr in ("scale", "upscale"):
        value = getattr(net, attr, None)
        if value is not None:
            return int(value)
    return 1
