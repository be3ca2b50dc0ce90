"""Create networks by name: a registered name, an import path or a file path.

    create_net("VDSR", SR_nb=20)                      # registered name, case-insensitive
    create_net("mypkg.nets:MySR", scale=4)            # importable module
    create_net("path/to/my_net.py:MySR", scale=4)     # any Python file

Each product network registers itself where it is defined (``@register_net("Name")``);
``cyclesr.nets`` imports those modules. ``registered_only=True`` accepts registered names
only: what a model file or a checkpoint names must never import or run other code. Errors are
loud: an unknown name lists the known ones, a bad keyword names the network, the key and the
accepted keys.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import warnings
from pathlib import Path
from typing import Callable

import torch
from torch import nn

__all__ = ["NETS", "register_net", "create_net", "resolve_net", "net_scale", "accepts",
           "MAX_NET_PARAMETERS"]

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


def resolve_net(name: str, registered_only: bool = False) -> Callable[..., nn.Module]:
    """The class (or factory) that `name` refers to; see the module docstring for the forms."""
    by_lower = {known.lower(): cls for known, cls in NETS.items()}
    if isinstance(name, str) and name.lower() in by_lower:
        return by_lower[name.lower()]
    known = ", ".join(sorted(NETS))
    if registered_only:
        raise ValueError(f"network {name!r} is not one of the installed package's networks "
                         f"({known}); a model file may name no other code")
    where, sep, attr = str(name).rpartition(":")
    if not sep or not where or not attr:
        raise ValueError(f"unknown network {name!r}; known networks: {known} "
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


def _parameters(target: Callable) -> dict[str, inspect.Parameter] | None:
    """The constructor's parameters, or None when it takes ``**kwargs`` or has no signature."""
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return {k: p for k, p in params.items()
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}


def accepts(target: Callable, key: str) -> bool:
    """Whether the constructor `target` takes the keyword argument `key`."""
    params = _parameters(target)
    return params is None or key in params


def _check_kwargs(name: str, target: Callable, kwargs: dict) -> None:
    params = _parameters(target)
    if params is None:
        return
    bad = [k for k in kwargs if k not in params]
    if bad:
        raise TypeError(f"network {name!r} got unexpected argument(s) {', '.join(map(repr, bad))}; "
                        f"accepted: {', '.join(params) or '(none)'}")


MAX_NET_PARAMETERS = 2_000_000_000  # 8 GB of float32 weights: far above any SR network


def _check_size(name: str, target: Callable, kwargs: dict) -> None:
    """Build the network on the meta device (no memory) first, and refuse a size key that is 0
    or negative, an empty layer, or more parameters than ``MAX_NET_PARAMETERS`` (a typo such as
    ``SR_nf: 200000`` would otherwise allocate tens of gigabytes before failing). Integer keys
    no larger than the constructor's defaults skip the probe (it costs about one build)."""
    ints = {k: v for k, v in kwargs.items() if isinstance(v, int) and not isinstance(v, bool)}
    bad = ", ".join(f"{k}={v}" for k, v in ints.items() if v <= 0)
    defaults = {k: p.default for k, p in (_parameters(target) or {}).items()}
    if not bad and all(isinstance(defaults.get(k), int) and v <= defaults[k] for k, v in ints.items()):
        return  # no larger than the constructor's defaults: nothing to fear (and no probe to pay)
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the real build below gives any warning once
            probe = target(**kwargs)
    except Exception as exc:  # noqa: BLE001 - a network that cannot be built on meta is built as usual
        if bad:
            raise ValueError(f"network {name!r} cannot be built with {bad} "
                             f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        return
    if not isinstance(probe, nn.Module):
        return
    tensors = dict(probe.named_parameters())
    empty = [k for k, t in tensors.items() if t.numel() == 0]
    if empty:
        shape = tuple(tensors[empty[0]].shape)
        raise ValueError(f"network {name!r} has empty layers ({empty[0]} has shape {shape})"
                         f"{f' with {bad}' if bad else ''}; its size keys must be positive")
    total = sum(t.numel() for t in tensors.values())
    limit = min(MAX_NET_PARAMETERS, _physical_memory() // 4)
    if total > limit:
        largest = ", ".join(f"{k}={v}" for k, v in sorted(ints.items(), key=lambda kv: -kv[1])[:3])
        raise ValueError(f"network {name!r} would have {total:,} parameters ({total * 4 / 2**30:,.1f} GiB "
                         f"of float32), more than the limit of {limit:,} (at most {MAX_NET_PARAMETERS:,}, "
                         f"and what this machine's memory holds); check its size keys ({largest})")


def _physical_memory() -> int:
    """This machine's memory in bytes (a network larger than it can never be built), or a very
    large number where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 2**62


def create_net(name: str, *, registered_only: bool = False, **kwargs) -> nn.Module:
    """Build the network `name` with keyword arguments `kwargs` (the YAML keys); its size is
    checked on the meta device before any memory is allocated (see ``_check_size``)."""
    target = resolve_net(name, registered_only)
    _check_kwargs(name, target, kwargs)
    _check_size(name, target, kwargs)
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
