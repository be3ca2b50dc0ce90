"""Earlier layouts mapped onto ours.

``normalize_layout`` reads the seed's flat layout (top-level ``cyclegan:`` and ``VDSR:``) and
Vega's nested one (``fully_train.trainer.model_desc.custom``) as our layout. ``map_networks``
then reads the network keys of a ``cyclegan:`` block (our earlier layout, the seed's and Vega's
all kept the generator's and the discriminator's keys there) as ``model.G`` and ``model.D``:

    generator, input_nc, output_nc, ngf, n_blocks, norm, up_mode, n_downsampling  -> model.G
    discriminator, ndf, n_layers_D -> n_layers, d_out_channels -> out_channels, norm -> model.D

with the defaults those keys had. Those keys are ResnetGenerator's; a block that names another
generator together with them is refused (they were ignored), except for the product generators
of earlier versions listed in ``_IGNORED_KEYS``, whose stored configs must keep loading.
``legacy_net`` translates a network description of an earlier published model the same way.
The keys of Vega's file that are not the algorithm's are read by ``vega_keys.py``.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from cyclesr.config.schema import ConfigError
from cyclesr.config.vega_keys import apply_vega_keys

__all__ = ["normalize_layout", "map_networks", "legacy_net", "product_name"]

# Keys of the reference framework that carry no meaning here; accepted and ignored.
_VEGA_IGNORED = {"type", "callbacks", "lazy_built", "modules", "common", "pipe_step", "general",
                 "pipeline", "shuffle_buffer"}
_SR_SECTION_NAMES = ("sr", "VDSR", "SRResNet", "SR")

_RESNET = "ResnetGenerator"
_G_DEFAULTS = {"input_nc": 3, "output_nc": 3, "ngf": 64, "n_blocks": 9, "norm": "instance",
               "up_mode": "transpose", "n_downsampling": 2}
_RESNET_ONLY = ("ngf", "n_blocks", "up_mode", "n_downsampling")  # `norm` also sets D's
_D_KEYS = {"ndf": "ndf", "n_layers_D": "n_layers", "norm": "norm", "d_out_channels": "out_channels"}
_D_DEFAULTS = {"ndf": 64, "n_layers": 3, "norm": "instance"}
_G_KEYS = {"generator", *_G_DEFAULTS}
_D_ONLY = {"discriminator", "ndf", "n_layers_D", "d_out_channels"}
_LEGACY_KEYS = _G_KEYS | _D_ONLY
# Product generators of earlier versions that accepted ResnetGenerator's keys and ignored them
# (they work at the input's resolution, so n_downsampling had to be 0).
_IGNORED_KEYS = {"CameraJpegGenerator": ("ngf", "n_blocks", "norm", "up_mode", "n_downsampling")}
# Earlier versions named product networks by import path, e.g. cyclesr.nets.degrader:X.
_PRODUCT_PATH = re.compile(r"^cyclesr\.nets\.\w+:(\w+)$")


def product_name(name: Any) -> Any:
    """``cyclesr.nets.<module>:Class`` -> ``Class`` (the registered name); others unchanged."""
    match = _PRODUCT_PATH.match(name) if isinstance(name, str) else None
    return match.group(1) if match else name


def normalize_layout(raw: dict) -> dict:
    """Map the seed's flat layout and Vega's nested layout onto ours (see module docstring)."""
    raw = copy.deepcopy(raw or {})
    if not isinstance(raw, dict):
        raise ConfigError("the top level of a config must be a mapping")
    vega_layout = "fully_train" in raw
    general = raw.get("general") if isinstance(raw.get("general"), dict) else None
    if vega_layout:  # Vega: fully_train.{dataset, trainer.model_desc.custom}
        ft = raw.pop("fully_train") or {}
        for key in ("general", "pipeline"):
            raw.pop(key, None)
        trainer = dict(ft.get("trainer") or {})
        desc = trainer.pop("model_desc", {}) or {}
        raw.setdefault("dataset", ft.get("dataset") or {})
        raw.setdefault("trainer", trainer)
        raw.setdefault("model", {"model_desc": desc})
    model = raw.get("model") or {}
    if "model_desc" in model:  # seed / Vega: model.model_desc.custom
        custom = dict((model.pop("model_desc") or {}).get("custom") or {})
        model = {**custom, **model}
    for name in _SR_SECTION_NAMES:  # a top-level cyclegan:/VDSR: (seed's flat layout)
        if name in raw and name != "sr":
            model.setdefault(name, raw.pop(name))
    if "cyclegan" in raw:
        model.setdefault("cyclegan", raw.pop("cyclegan"))
    sr_sections = [n for n in _SR_SECTION_NAMES if n in model]
    if len(sr_sections) > 1:
        raise ConfigError(f"model: give one SR network section, found {sr_sections}")
    if sr_sections:
        model["sr"] = model.pop(sr_sections[0])
    if model:
        raw["model"] = model
    dataset = raw.get("dataset")
    if isinstance(dataset, dict) and isinstance(dataset.get("common"), dict):
        common = dataset.pop("common")
        if "upscale" in common:
            dataset.setdefault("upscale", common["upscale"])
    _drop_ignored(raw)
    return apply_vega_keys(raw, general, vega_layout)


def _drop_ignored(node: Any) -> None:
    if isinstance(node, dict):
        for key in list(node):
            if key in _VEGA_IGNORED:
                node.pop(key)
            else:
                _drop_ignored(node[key])


def legacy_net(name: str, kwargs: dict, where: str) -> tuple[str, dict]:
    """A generator description of an earlier version as (name, constructor kwargs): product
    import paths become registered names, and the ResnetGenerator keys an earlier product
    generator ignored are dropped (ConfigError, naming ``where``, if its n_downsampling was not 0)."""
    name, kwargs = product_name(name), dict(kwargs)
    ignored = [k for k in _IGNORED_KEYS.get(name, ()) if k in kwargs]
    if kwargs.get("n_downsampling", 0) != 0 and ignored:
        raise ConfigError(f"{where}: {name} works at the input's resolution; n_downsampling must "
                          f"be 0, got {kwargs['n_downsampling']!r}")
    for key in ignored:
        kwargs.pop(key)
    return name, kwargs


def _generator(block: dict, source: str) -> dict:
    name = product_name(block.get("generator", _RESNET))
    given = {k: block[k] for k in _G_DEFAULTS if k in block}
    if name == _RESNET:
        return {"name": name, **_G_DEFAULTS, **given}
    if name in _IGNORED_KEYS:
        name, kwargs = legacy_net(name, given, f"{source}: model.cyclegan")
        return {"name": name, **kwargs}
    resnet_keys = [k for k in _RESNET_ONLY if k in block]
    if resnet_keys:
        raise ConfigError(
            f"{source}: key 'model.cyclegan.{resnet_keys[0]}': {', '.join(resnet_keys)} are "
            f"ResnetGenerator's keys, but model.cyclegan.generator is {name!r}; describe the "
            f"generator as `model.G: {{name: {name}, <its keys>}}` and remove them from model.cyclegan")
    return {"name": name, **{k: given[k] for k in ("input_nc", "output_nc") if k in given}}


def _discriminator(block: dict) -> dict:
    given = {new: block[old] for old, new in _D_KEYS.items() if old in block}
    if given.get("out_channels", 0) is None:  # null meant the constructor's default
        given.pop("out_channels")
    return {"name": product_name(block.get("discriminator", "NLayerDiscriminator")),
            **_D_DEFAULTS, **given}


def map_networks(model: dict, source: str) -> dict:
    """Move the network keys of ``model.cyclegan`` to ``model.G`` / ``model.D`` (see the module
    docstring). A ``model.G``/``model.D`` without ``name`` refines the mapped network (what
    ``--set model.G.ngf=16`` does on a file in an earlier layout)."""
    block = model.get("cyclegan")
    if not isinstance(block, dict) or not _LEGACY_KEYS & set(block):
        return model
    model, block = dict(model), dict(block)
    mapped = {"G": _generator(block, source) if _G_KEYS & set(block) else None,
              "D": _discriminator(block) if _D_ONLY & set(block) else None}
    if "norm" in block and mapped["D"] is None:
        mapped["D"] = _discriminator(block)
    for key, spec in mapped.items():
        if spec is None:
            continue
        given = model.get(key)
        if isinstance(given, dict) and "name" in given:
            keys = sorted(k for k in block if k in _LEGACY_KEYS)
            raise ConfigError(f"{source}: key 'model.{key}' and the network keys of model.cyclegan "
                              f"({', '.join(keys)}) both describe {key}; put them in model.{key}")
        model[key] = {**spec, **(given if isinstance(given, dict) else {})}
    model["cyclegan"] = {k: v for k, v in block.items() if k not in _LEGACY_KEYS}
    return model
