"""The five networks of CycleSR, built from the config.

Notation of the paper: X = clean (bicubic) LR, Y = real LR. ``G``: X -> Y makes realistic LR,
``F``: Y -> X cleans it, ``D_X``/``D_Y`` judge each domain, ``SR`` super-resolves.
"""
from __future__ import annotations

import inspect

from torch import nn

from cyclesr.config import Config, ConfigError
from cyclesr.nets.registry import create_net

__all__ = ["CycleSRModel", "build_model", "build_sr", "sr_kwargs", "TRANSFER_NETS"]

TRANSFER_NETS = ("G", "F", "D_X", "D_Y")


class CycleSRModel(nn.Module):
    """A plain container; the engine places, wraps and trains its members."""

    def __init__(self, G: nn.Module, F: nn.Module, D_X: nn.Module, D_Y: nn.Module, SR: nn.Module):
        super().__init__()
        self.G, self.F, self.D_X, self.D_Y, self.SR = G, F, D_X, D_Y, SR


def _accepts(cls_or_fn, key: str) -> bool:
    try:
        params = inspect.signature(cls_or_fn).parameters
    except (TypeError, ValueError):
        return False
    return key in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def sr_kwargs(cfg: Config) -> dict:
    """The SR network's constructor kwargs, with ``upscale`` filled from ``dataset.upscale``."""
    kwargs = dict(cfg.model.sr.kwargs)
    kwargs.setdefault("upscale", cfg.dataset.upscale)
    return kwargs


def build_sr(cfg: Config) -> nn.Module:
    kwargs = sr_kwargs(cfg)
    try:
        net = create_net(cfg.model.sr.name, **kwargs)
    except TypeError as exc:
        if "upscale" not in cfg.model.sr.kwargs and "upscale" in str(exc):
            kwargs.pop("upscale")
            net = create_net(cfg.model.sr.name, **kwargs)
        else:
            raise ConfigError(f"{cfg.source}: model.sr: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{cfg.source}: model.sr: {exc}") from None
    return net


def build_model(cfg: Config) -> CycleSRModel:
    """Create G, F, D_X, D_Y and SR as the config says."""
    gan = cfg.model.cyclegan
    gen_kw = dict(input_nc=gan.input_nc, output_nc=gan.output_nc, ngf=gan.ngf,
                  n_blocks=gan.n_blocks, norm=gan.norm, up_mode=gan.up_mode,
                  n_downsampling=gan.n_downsampling)
    inv_kw = dict(gen_kw, input_nc=gan.output_nc, output_nc=gan.input_nc)
    dis_kw = dict(ndf=gan.ndf, n_layers=gan.n_layers_D, norm=gan.norm,
                  out_channels=gan.d_out_channels)
    try:
        nets = dict(
            G=create_net(gan.generator, **gen_kw),
            F=create_net(gan.generator, **inv_kw),
            D_X=create_net(gan.discriminator, input_nc=gan.input_nc, **dis_kw),
            D_Y=create_net(gan.discriminator, input_nc=gan.output_nc, **dis_kw),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{cfg.source}: model.cyclegan: {exc}") from None
    nets["SR"] = build_sr(cfg)
    # each network initialises itself in its constructor (the reference's normal(0, 0.02) for
    # the CycleGAN nets, VDSR and SRResNet), so user networks keep their own initialisation
    return CycleSRModel(**nets)
