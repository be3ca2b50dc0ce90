"""What a model file must hold before its weights are used: a complete description, and weights
that fit the network exactly, are floating point where the network's are, and are finite.

Each refusal is one ``CheckpointError`` line naming the file and the key or tensor: a model
with NaN weights would otherwise write black images without a word, and a mismatched one fail
deep inside PyTorch with a page of key names.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from cyclesr.engine.checkpoint import CheckpointError

__all__ = ["check_description", "load_weights"]

_SHOWN = 4  # names shown per list in a message


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")


def _check_net(spec: Any, key: str, path: Path) -> None:
    if not isinstance(spec, dict):
        raise CheckpointError(f"'{path}': the description's '{key}' must be a mapping "
                              f"{{name, kwargs}}, got {type(spec).__name__}")
    if not isinstance(spec.get("name"), str) or not spec["name"]:
        raise CheckpointError(f"'{path}': the description's '{key}' has no network 'name'")
    if not isinstance(spec.get("kwargs", {}), dict):
        raise CheckpointError(f"'{path}': the description's '{key}.kwargs' must be a mapping")


def check_description(desc: Any, path: Path) -> None:
    """Refuse a model description (``model.json`` or the safetensors metadata) without a
    positive integer ``scale`` or an ``sr`` spec ``{name, kwargs}``, or with a malformed ``G``."""
    if not isinstance(desc, dict):
        raise CheckpointError(f"'{path}': the model description must be a JSON object, "
                              f"got {type(desc).__name__}")
    missing = [k for k in ("scale", "sr") if k not in desc]
    if missing:
        raise CheckpointError(f"'{path}': the model description lacks {', '.join(map(repr, missing))} "
                              f"(it has {', '.join(map(repr, sorted(desc))) or 'nothing'}); "
                              "publish the model again with this version")
    scale = desc["scale"]
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise CheckpointError(f"'{path}': the description's 'scale' must be a positive integer, "
                              f"got {str(scale)[:40]}")
    _check_net(desc["sr"], "sr", path)
    if "G" in desc:
        _check_net(desc["G"], "G", path)


def _fit_problems(own: Mapping[str, torch.Tensor], state: Mapping[str, Any]) -> list[str]:
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} (the network has {tuple(own[k].shape)})"
              for k in own if k in state and torch.is_tensor(state[k]) and state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"missing {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected {_names(unexpected)}")
    if shapes:
        problems.append(f"wrong shape: {_names(shapes)}")
    return problems


def load_weights(net: nn.Module, state: Any, what: str, path: Path) -> nn.Module:
    """Load ``state`` into ``net`` after checking it (key diff, shapes, dtypes, finiteness);
    ``what`` names the network in messages (e.g. "sr"). Returns ``net`` in eval mode."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"'{path}': the {what} weights are missing or not a state dict")
    own = net.state_dict()
    not_tensors = [k for k, v in state.items() if not torch.is_tensor(v)]
    if not_tensors:
        raise CheckpointError(f"'{path}': {what} weights that are not tensors: {_names(not_tensors)}")
    problems = _fit_problems(own, state)
    if problems:
        raise CheckpointError(f"'{path}': the {what} weights do not fit {type(net).__name__}: "
                              f"{'; '.join(problems)}. The file was written for another network or "
                              "settings, or is damaged")
    for key, value in state.items():
        if own[key].is_floating_point() and not value.is_floating_point():
            raise CheckpointError(f"'{path}': {what} tensor '{key}' is {value.dtype}, not floating "
                                  "point; the file is damaged or not a CycleSR model")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"'{path}': {what} tensor '{key}' holds NaN or infinite values; "
                                  "the training diverged or the file is damaged: use an earlier "
                                  "checkpoint")
    net.load_state_dict(dict(state))
    return net.eval()
