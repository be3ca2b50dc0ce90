"""Weights saved by the reference (Vega's CycleSR) as a published CycleSR model.

A Vega run saves one plain state dict per network: ``EPOCH/EPOCH_net_NAME.pth`` at each
evaluation and ``model_NAME.pth`` beside the epoch folders, NAME in G, F, D_X, D_Y, SR. Their
entries map one to one, in the same order, onto the reference design's networks built from the
same config (docs/reference.md has the table):

    generator.<N><i>.<rest>      -> model.<i>.<rest>          (G, F; N is G or F)
    discriminator.<N><i>.<rest>  -> model.<i>.<rest>          (D_X, D_Y; N is D_X or D_Y)
    model.0                      -> head                      (SR, VDSR)
    model.1.submodule.<3k + j>   -> body.<k>.<j>              (j: 0 conv, 1 norm)
    model.<2 + 3s>               -> upsample.<3s>             (s < log2(upscale))
    model.<2 + 3u>, <4 + 3u>     -> tail.0, tail.2            (u = log2(upscale))

A leading ``module.`` (DataParallel, as Vega saves on the CPU) is dropped. The files are read
with ``torch.load(weights_only=True)``: nothing in them is unpickled as code.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from torch import nn

from cyclesr.config import Config
from cyclesr.model import build_model
from cyclesr.modelfile.publish import publish

__all__ = ["VEGA_NETS", "find_vega_files", "vega_key", "load_vega_weights", "import_vega"]

VEGA_NETS = ("G", "F", "D_X", "D_Y", "SR")
_PREFIXED = re.compile(r"^(generator|discriminator)\.(G|F|D_X|D_Y)(\d+)\.(.+)$")
_SR_BODY = re.compile(r"^model\.1\.submodule\.(\d+)\.(.+)$")
_SR_TOP = re.compile(r"^model\.(\d+)\.(.+)$")


def find_vega_files(paths: list[str | Path]) -> dict[str, Path]:
    """NAME -> file, from a Vega run folder (its ``model_NAME.pth``, else the files of its last
    epoch folder), an epoch folder, or the five files themselves. A missing network is an error."""
    found: dict[str, Path] = {}
    pattern = re.compile(r"^(?:model|\d+_net)_(G|F|D_X|D_Y|SR)\.pth$")
    for given in map(Path, paths):
        if given.is_dir():
            files = [p for p in given.iterdir() if pattern.match(p.name)]
            if not files:
                epochs = sorted((p for p in given.iterdir() if p.is_dir() and p.name.isdigit()),
                                key=lambda p: int(p.name))
                files = [p for p in epochs[-1].iterdir() if pattern.match(p.name)] if epochs else []
        elif given.is_file():
            files = [given]
        else:
            raise FileNotFoundError(f"'{given}' does not exist")
        for path in files:
            match = pattern.match(path.name)
            if match is None:
                raise ValueError(f"'{path}' is not a Vega network file (EPOCH_net_NAME.pth or "
                                 f"model_NAME.pth, NAME in {', '.join(VEGA_NETS)})")
            name = match.group(1)
            if name in found and found[name] != path:
                raise ValueError(f"two files for network {name}: '{found[name]}' and '{path}'; give one")
            found[name] = path
    missing = [n for n in VEGA_NETS if n not in found]
    if missing:
        raise FileNotFoundError(f"no Vega file for {', '.join(missing)} in {', '.join(map(str, paths))} "
                                f"(a run saves EPOCH/EPOCH_net_NAME.pth and model_NAME.pth)")
    return found


def vega_key(net: str, key: str, upscale: int) -> str:
    """Our name of the entry ``key`` of Vega's network ``net`` (see the module docstring)."""
    key = key[len("module."):] if key.startswith("module.") else key
    match = _PREFIXED.match(key)
    if net != "SR":
        if match is None or match.group(2) != net:
            return f"<unmapped {key}>"
        return f"model.{match.group(3)}.{match.group(4)}"
    body = _SR_BODY.match(key)
    if body:
        block, part = divmod(int(body.group(1)), 3)
        return f"body.{block}.{part}.{body.group(2)}"
    top = _SR_TOP.match(key)
    if top is None:
        return f"<unmapped {key}>"
    index, rest, steps = int(top.group(1)), top.group(2), int(math.log2(upscale))
    if index == 0:
        return f"head.{rest}"
    if 2 <= index < 2 + 3 * steps and (index - 2) % 3 == 0:
        return f"upsample.{index - 2}.{rest}"
    tail = {2 + 3 * steps: "tail.0", 4 + 3 * steps: "tail.2"}.get(index)
    return f"{tail}.{rest}" if tail else f"<unmapped {key}>"


def _key_diff(net: str, ours: dict, mapped: dict) -> str:
    missing = [k for k in ours if k not in mapped]
    extra = [k for k in mapped if k not in ours]
    shapes = [f"{k} {tuple(mapped[k].shape)} vs ours {tuple(ours[k].shape)}" for k in ours
              if k in mapped and mapped[k].shape != ours[k].shape]
    parts = [f"{label} {items[:4]}{' ...' if len(items) > 4 else ''}" for label, items in
             (("missing", missing), ("unexpected", extra), ("shape", shapes)) if items]
    return f"{net}: " + "; ".join(parts)


def load_vega_weights(net: nn.Module, name: str, state: dict, upscale: int, source: str) -> None:
    """Copy Vega's state dict of network ``name`` into ``net`` entry by entry; a ValueError
    with a readable key diff when they do not fit (another config, another network)."""
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"'{source}' is not a plain state dict of tensors")
    mapped = {vega_key(name, k, upscale): v for k, v in state.items()}
    ours = net.state_dict()
    if set(mapped) != set(ours) or any(mapped[k].shape != ours[k].shape for k in ours):
        raise ValueError(f"'{source}' does not fit the network the config describes: "
                         f"{_key_diff(name, ours, mapped)} (is --config the run's config?)")
    net.load_state_dict(mapped)


def import_vega(paths: list[str | Path], cfg: Config, out_dir: str | Path) -> Path:
    """Build the five networks from ``cfg`` (Vega's config), load a Vega run's weights into
    them and publish SR and G as a CycleSR model in ``out_dir``; returns the model file."""
    files = find_vega_files(paths)
    model = build_model(cfg, registered_only=True)
    nets = {"G": model.G, "F": model.F, "D_X": model.D_X, "D_Y": model.D_Y, "SR": model.SR}
    for name, path in files.items():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for a file that is not a state dict
            raise ValueError(f"cannot read '{path}' as a state dict: {type(exc).__name__}: {exc}") from None
        load_vega_weights(nets[name], name, state, cfg.upscale, str(path))
    return publish(model.SR.eval(), model.G.eval(), cfg, out_dir)
