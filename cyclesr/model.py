"""The five networks of CycleSR, built from the config's network specs.

Notation of the paper: X = clean (bicubic) LR, Y = real LR. ``G``: X -> Y makes realistic LR,
``F``: Y -> X cleans it (G's spec with input_nc and output_nc swapped), ``D_X``/``D_Y`` judge
each domain (D's spec with input_nc set to the domain's channels), ``SR`` super-resolves
(``upscale`` from dataset.upscale unless the spec sets it). A spec fills those keys only where
the network's constructor takes them.
"""
from __future__ import annotations

import inspect
from typing import Callable, Iterable

from torch import nn

from cyclesr.config import Config, ConfigError, NetSpec
from cyclesr.nets.registry import accepts, create_net, resolve_net

__all__ = ["CycleSRModel", "build_model", "build_nets", "build_sr", "sr_kwargs", "NET_NAMES", "TRANSFER_NETS"]

NET_NAMES = ("G", "F", "D_X", "D_Y", "SR")
TRANSFER_NETS = ("G", "F", "D_X", "D_Y")
_SPEC_KEY = {"G": "G", "F": "G", "D_X": "D", "D_Y": "D", "SR": "sr"}


class CycleSRModel(nn.Module):
    """A plain container; the engine places, wraps and trains its members."""

    def __init__(self, G: nn.Module, F: nn.Module, D_X: nn.Module, D_Y: nn.Module, SR: nn.Module):
        super().__init__()
        self.G, self.F, self.D_X, self.D_Y, self.SR = G, F, D_X, D_Y, SR


def _resolve(cfg: Config, key: str, registered_only: bool) -> Callable[..., nn.Module]:
    spec: NetSpec = getattr(cfg.model, key)
    try:
        return resolve_net(spec.name, registered_only)
    except ValueError as exc:
        raise ConfigError(f"{cfg.source}: model.{key}: {exc}") from None


def _channels(target: Callable, kwargs: dict) -> tuple[int, int]:
    """(input_nc, output_nc) of a generator: its kwargs, else its constructor's defaults, else 3."""
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        params = {}

    def value(key: str) -> int:
        if key in kwargs:
            return kwargs[key]
        default = params[key].default if key in params else inspect.Parameter.empty
        return 3 if default is inspect.Parameter.empty else default

    return value("input_nc"), value("output_nc")


def sr_kwargs(cfg: Config, registered_only: bool = False) -> dict:
    """The SR network's constructor kwargs, ``upscale`` filled from ``dataset.upscale`` when the
    network takes it."""
    kwargs = dict(cfg.model.sr.kwargs)
    if "upscale" not in kwargs and accepts(_resolve(cfg, "sr", registered_only), "upscale"):
        kwargs["upscale"] = cfg.dataset.upscale
    return kwargs


def _net_kwargs(cfg: Config, name: str, registered_only: bool) -> dict:
    if name == "SR":
        return sr_kwargs(cfg, registered_only)
    gen = _resolve(cfg, "G", registered_only)
    g_in, g_out = _channels(gen, cfg.model.G.kwargs)
    if name in ("G", "F"):
        kwargs = dict(cfg.model.G.kwargs)
        if name == "F" and accepts(gen, "input_nc") and accepts(gen, "output_nc"):
            kwargs.update(input_nc=g_out, output_nc=g_in)
        return kwargs
    kwargs = dict(cfg.model.D.kwargs)
    if accepts(_resolve(cfg, "D", registered_only), "input_nc"):
        kwargs["input_nc"] = g_in if name == "D_X" else g_out
    return kwargs


def build_nets(cfg: Config, names: Iterable[str] = NET_NAMES, registered_only: bool = False
               ) -> dict[str, nn.Module]:
    """The networks `names` (of G, F, D_X, D_Y, SR) as the config says, in that order.
    ``registered_only``: refuse names that are not registered networks (stored configs)."""
    nets = {}
    for name in names:
        key = _SPEC_KEY[name]
        spec: NetSpec = getattr(cfg.model, key)
        kwargs = _net_kwargs(cfg, name, registered_only)
        try:
            nets[name] = create_net(spec.name, registered_only=registered_only, **kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{cfg.source}: model.{key} ({name}): {exc}") from None
    return nets


def build_sr(cfg: Config, registered_only: bool = False) -> nn.Module:
    return build_nets(cfg, ("SR",), registered_only)["SR"]


def build_model(cfg: Config, registered_only: bool = False) -> CycleSRModel:
    """Create G, F, D_X, D_Y and SR as the config says. Each network initialises itself in its
    constructor (the reference's normal(0, 0.02) for the CycleGAN nets, VDSR and SRResNet), so
    user networks keep their own initialisation."""
    return CycleSRModel(**build_nets(cfg, NET_NAMES, registered_only))
