"""YAML loading, ``--set`` overrides and the typed build of a Config.

Every layout is read as *ours* first (``layouts.py``)::

    dataset:  {upscale, train: {...}, test: {...}}
    model:    {SR_lam, ..., G: {name, ...}, D: {name, ...}, sr: {name, ...}, cyclegan: {losses}}
    trainer:  {n_epoch, n_epoch_decay, warmup_epochs, pretrain_epochs, ...}

then checked key by key against the dataclasses of ``schema.py``, so an unknown key, a wrong
type or an impossible value stops with one message naming the key, the file and the expected
form. Network keys are not checked here: the network's constructor checks them when it is built.

A config is small: a document (or a checkpoint's stored config) that would expand to more than
``MAX_CONFIG_NODES`` values is refused before anything reads it (YAML aliases let a few lines
stand for billions of values), and values are shown in messages shortened (``reprlib``).
"""
from __future__ import annotations

import copy
import dataclasses
import reprlib
import typing
from pathlib import Path
from typing import Any, Optional

import yaml

from cyclesr.config.layouts import map_networks, normalize_layout, product_name
from cyclesr.config.schema import Config, ConfigError, ModelConfig, NetSpec
from cyclesr.config.validate import validate_config

__all__ = ["load_config", "config_from_dict", "apply_overrides", "dump_config", "MAX_CONFIG_NODES"]

MAX_CONFIG_NODES = 100_000  # values (scalars, lists, mappings) a config may expand to
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80


def _shown(value: Any) -> str:
    """``repr(value)`` cut to a few lines' worth (long strings, lists and nesting elided)."""
    return _SHORT.repr(value)


def _expanded_size(value: Any, memo: dict) -> int:
    """How many values ``value`` stands for once every shared (aliased) part is written out."""
    if not isinstance(value, (dict, list, tuple)):
        return 1
    if id(value) in memo:
        return memo[id(value)]
    memo[id(value)] = MAX_CONFIG_NODES + 1  # a cycle counts as too big
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    total = 1
    for item in items:
        total += _expanded_size(item, memo)
        if total > MAX_CONFIG_NODES:
            break
    memo[id(value)] = total
    return total


def _check_size(raw: Any, source: str) -> None:
    try:
        too_big = _expanded_size(raw, {}) > MAX_CONFIG_NODES
    except RecursionError:
        raise ConfigError(f"{source}: the document is nested too deeply to be a config") from None
    if too_big:
        raise ConfigError(f"{source}: the document expands to more than {MAX_CONFIG_NODES:,} values "
                          "(YAML aliases repeated inside each other?); a config is a few dozen keys")


def apply_overrides(raw: dict, overrides: list[str], source: str = "--set") -> dict:
    """Apply ``key.path=value`` strings (values parsed as YAML, so typed) to a layout dict."""
    raw = copy.deepcopy(raw)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"{source}: '{item}' must look like key.path=value "
                              "(e.g. --set trainer.n_epoch=10)")
        path, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: cannot parse the value of '{path}': {exc}") from None
        _check_size(value, f"{source} {path}")
        node = raw
        keys = path.strip().split(".")
        for key in keys[:-1]:
            nxt = node.get(key)
            if nxt is None:
                nxt = node[key] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"{source}: '{path}': '{key}' is a value, not a section")
            node = nxt
        node[keys[-1]] = value
    return raw


def _describe(tp: Any) -> str:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if args:
        return " or ".join(_describe(a) for a in args) + " (or null)"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false",
            dict: "a mapping"}.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any, where: str, source: str) -> Any:
    optional = type(None) in typing.get_args(tp)
    if optional:
        if value is None:
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if dataclasses.is_dataclass(tp):
        return _build(tp, value if value is not None else {}, where, source)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        dict: isinstance(value, dict),
    }.get(tp, True)
    if not ok:
        raise ConfigError(f"{source}: key '{where}' must be {_describe(tp)}, got {_shown(value)}")
    return float(value) if tp is float else value


def _net_spec(data: Any, default: NetSpec, where: str, source: str) -> NetSpec:
    """``{name, **kwargs}`` (or ``{name, kwargs: {...}}``, as older versions saved it); without
    a name, the default network with the given kwargs."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: '{where}' must be a mapping like {{name: ..., <its keys>}}, "
                          f"got {_shown(data)}")
    data = dict(data)
    name = data.pop("name", default.name)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: key '{where}.name' must be a network name, got {_shown(name)}")
    kwargs = dict(data.pop("kwargs", None) or {})
    kwargs.update(data)
    return NetSpec(name=product_name(name), kwargs=kwargs)


def _build(cls: Any, data: Any, where: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: '{where or 'top level'}' must be a mapping, got {_shown(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "source"}
    unknown = sorted(set(data) - fields)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"{source}: unknown key '{prefix}{unknown[0]}'; "
                          f"valid keys here: {', '.join(sorted(fields))}")
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if hints[key] is NetSpec:
            kwargs[key] = _net_spec(value, getattr(_DEFAULT_MODEL, key), path, source)
        else:
            kwargs[key] = _coerce(value, hints[key], path, source)
    return cls(**kwargs)


_DEFAULT_MODEL = ModelConfig()


def config_from_dict(raw: dict, source: str = "<dict>", overrides: Optional[list[str]] = None) -> Config:
    """Build and validate a Config from a layout dict (any supported layout)."""
    _check_size(raw, source)
    if overrides:
        vega = [o for o in overrides if o.startswith("fully_train.")]
        raw = apply_overrides(raw, vega, "--set")
    norm = normalize_layout(raw)
    if overrides:
        norm = apply_overrides(norm, [o for o in overrides if not o.startswith("fully_train.")], "--set")
    if isinstance(norm.get("model"), dict):
        norm["model"] = map_networks(norm["model"], source)
    cfg = dataclasses.replace(_build(Config, norm, "", source), source=source)
    validate_config(cfg)
    return cfg


def load_config(path: str | Path, overrides: Optional[list[str]] = None) -> Config:
    """Read a YAML config file in any supported layout, apply overrides and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found; pass --config with a YAML file "
                          "(see configs/ for examples)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return config_from_dict(raw, str(path), overrides)


def dump_config(cfg: Config) -> str:
    """The resolved config as YAML in our layout (saved with every run and checkpoint)."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
