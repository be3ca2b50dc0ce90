"""Published models: safetensors weights plus a JSON description of the networks.

``model.safetensors`` holds the SR network (``sr.*``; the EMA weights when training kept them)
and the learned degradation ``G`` (``G.*``); ``model.json`` beside it (and the safetensors
metadata) says how to build them: ``{"format", "scale", "sr": {name, kwargs}, "G": {name,
kwargs}}``, the config's network specs (kwargs are the constructor's keyword arguments).
Loading never unpickles anything, and builds only networks registered in the installed
package: a model file or a checkpoint's stored config cannot name other code to import or run.
Descriptions written by earlier versions (product networks named by import path, G with
ResnetGenerator's keys that it ignored) are translated by ``cyclesr.config.layouts.legacy_net``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from safetensors.torch import load_file, save as st_save
from torch import nn

from cyclesr.config import Config, ConfigError, config_from_dict
from cyclesr.config.layouts import legacy_net
from cyclesr.modelfile.card import degradation_numbers, model_card
from cyclesr.engine.checkpoint import CheckpointError, load_checkpoint
from cyclesr.modelfile.checks import check_description, load_weights
from cyclesr.model import build_model, sr_kwargs
from cyclesr.nets.registry import create_net
from cyclesr.ops.files import atomic_write, atomic_write_bytes

__all__ = ["MODEL_FORMAT", "describe", "publish", "write_model", "load_published",
           "nets_from_checkpoint", "load_any", "load_with_description"]

MODEL_FORMAT = "cyclesr-model-v1"


def describe(cfg: Config, training: Optional[dict] = None) -> dict:
    """The description of a config's SR network and G, as ``model.json`` stores it, with the
    model card's facts (``cyclesr.modelfile.card``; ``training``: iterations, dataset size)."""
    kwargs = sr_kwargs(cfg)
    return {
        "format": MODEL_FORMAT, "scale": cfg.upscale,
        "sr": {"name": cfg.model.sr.name, "kwargs": kwargs},
        "G": {"name": cfg.model.G.name, "kwargs": dict(cfg.model.G.kwargs)},
        "card": model_card(cfg, kwargs, training),
    }


def publish(sr: nn.Module, G: Optional[nn.Module], cfg: Config, out_dir: str | Path,
            training: Optional[dict] = None) -> Path:
    """Write ``model.safetensors`` and ``model.json`` into ``out_dir`` (atomically); the
    description carries the learned degradation in numbers (``degradation``)."""
    desc = {**describe(cfg, training), "degradation": degradation_numbers(G)}
    return write_model(sr, G, desc, Path(out_dir) / "model.safetensors")


def write_model(sr: nn.Module, G: Optional[nn.Module], desc: dict, path: str | Path) -> Path:
    """Write the weights to ``path`` (``.safetensors``, the description in its metadata) and the
    description beside it (same name, ``.json``); both atomically. Returns ``path``."""
    path = Path(path)
    desc = dict(desc)
    tensors = {f"sr.{k}": v.detach().cpu().contiguous() for k, v in sr.state_dict().items()}
    if G is not None:
        tensors.update({f"G.{k}": v.detach().cpu().contiguous() for k, v in G.state_dict().items()})
    else:
        desc.pop("G", None)
    text = json.dumps(desc, indent=2)
    atomic_write_bytes(path, st_save(tensors, metadata={"cyclesr": text}))
    atomic_write(path.with_suffix(".json"), lambda f: f.write(text.encode()))
    return path


def _build(spec: dict, tensors: dict, prefix: str, path: Path) -> nn.Module:
    what = prefix.rstrip(".")
    try:
        name, kwargs = legacy_net(spec["name"], spec.get("kwargs") or {}, f"'{path}': {what}")
        net = create_net(name, registered_only=True, **kwargs)
    except (KeyError, TypeError, ValueError) as exc:  # ConfigError is a ValueError
        raise CheckpointError(f"'{path}': cannot build the {what} network "
                              f"{spec.get('name')!r}: {exc}") from None
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    return load_weights(net, state, what, path)


def load_published(path: str | Path) -> tuple[nn.Module, Optional[nn.Module], int, dict]:
    """(SR, G or None, scale, description) from a model folder or its ``.safetensors`` file."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"model file '{path}' not found")
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"cannot read '{path}': {exc}") from None
    try:
        if "cyclesr" in meta:
            desc = json.loads(meta["cyclesr"])
        elif path.with_suffix(".json").is_file():
            desc = json.loads(path.with_suffix(".json").read_text())
        else:
            raise CheckpointError(f"'{path}' has no CycleSR description (model.json)")
    except (ValueError, OSError) as exc:  # json.JSONDecodeError is a ValueError
        raise CheckpointError(f"'{path}': cannot read its description (model.json): {exc}") from None
    check_description(desc, path)
    sr = _build(desc["sr"], tensors, "sr.", path)
    G = _build(desc["G"], tensors, "G.", path) if "G" in desc else None
    return sr, G, desc["scale"], desc


def nets_from_checkpoint(path: str | Path, use_ema: bool = True
                         ) -> tuple[nn.Module, nn.Module, int, Config]:
    """(SR, G, scale, config) from a training checkpoint (loaded with weights_only=True)."""
    try:
        state = load_checkpoint(path)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch's reader fails in many ways on other files
        raise CheckpointError(f"cannot read checkpoint '{path}': it is not a PyTorch checkpoint "
                              f"({type(exc).__name__}: {str(exc)[:80]}); give a CycleSR .pt, a model "
                              "folder or a .safetensors file") from None
    nets = state.get("nets")
    if not isinstance(state.get("config"), dict) or not isinstance(nets, dict):
        raise CheckpointError(f"'{path}' lacks {'config' if not isinstance(state.get('config'), dict) else 'nets'}"
                              "; it is not a complete CycleSR checkpoint")
    try:
        cfg = config_from_dict(state["config"], source=str(path))
        model = build_model(cfg, registered_only=True)
    except ConfigError as exc:
        raise CheckpointError(f"cannot build the networks of checkpoint '{path}': {exc}") from None
    sr_state = state["sr_ema"] if use_ema and state.get("sr_ema") else nets.get("SR")
    load_weights(model.SR, sr_state, "SR", Path(path))
    load_weights(model.G, nets.get("G"), "G", Path(path))
    return model.SR.eval(), model.G.eval(), cfg.upscale, cfg


def load_with_description(path: str | Path, use_ema: bool = True
                          ) -> tuple[nn.Module, Optional[nn.Module], int, dict]:
    """SR, G (or None), scale and the networks' description (as in ``model.json``) from a
    checkpoint (``.pt``), a model folder, a ``.safetensors`` file, or a community ``.pth`` /
    flat ``.safetensors`` of RRDBNet or SRVGGNetCompact (``cyclesr.modelfile.community``)."""
    from cyclesr.modelfile.community import is_community_file, load_community
    p = Path(path)
    if is_community_file(p):
        return load_community(p)
    if p.is_dir() or p.suffix == ".safetensors":
        return load_published(p)
    sr, G, scale, cfg = nets_from_checkpoint(p, use_ema)
    return sr, G, scale, describe(cfg)


def load_any(path: str | Path, use_ema: bool = True) -> tuple[nn.Module, Optional[nn.Module], int]:
    """SR, G and scale from a checkpoint (``.pt``), a model folder or a ``.safetensors`` file."""
    sr, G, scale, _ = load_with_description(path, use_ema)
    return sr, G, scale
