"""SR models in the community's state-dict layout: ``.pth`` files as Real-ESRGAN and BasicSR
write them (and chaiNNer, ComfyUI, spandrel read them), and flat ``.safetensors`` files.

Two architectures are recognised by their parameter names, as spandrel recognises them:

- ESRGAN / Real-ESRGAN ``RRDBNet``: ``conv_first.weight`` and ``body.0.rdb1.conv1.weight``;
  the input channels of ``conv_first`` tell the pixel-unshuffle (x2: 4x, x1: 16x the output
  channels), ``conv_up3`` tells x8;
- Real-ESRGAN's ``SRVGGNetCompact``: ``body.0.weight`` a conv and ``body.1.weight`` a PReLU
  (one weight per channel), the last conv's output channels tell the scale.

All hyper-parameters are read from the tensor shapes. A ``.pth`` is read with
``torch.load(weights_only=True)`` and must hold tensors only, either bare or under
``params_ema`` (preferred) or ``params``; anything else is refused with one line, and nothing
in the file is executed. Writing uses the same layout under ``params_ema``.
"""
from __future__ import annotations

import math
import pickle
import re
from pathlib import Path
from typing import Optional

import torch
from torch import Tensor, nn

from cyclesr.engine.checkpoint import CheckpointError
from cyclesr.modelfile.checks import load_weights
from cyclesr.nets.registry import create_net
from cyclesr.ops.files import atomic_write

__all__ = ["COMMUNITY_NETS", "detect_architecture", "read_state_dict", "is_community_file",
           "load_community", "community_state", "save_pth"]

COMMUNITY_NETS = ("RRDBNet", "SRVGGNetCompact")
MODEL_FORMAT = "cyclesr-model-v1"  # cyclesr.modelfile.publish.MODEL_FORMAT (publish imports this module)
_WRAPPERS = ("params_ema", "params")


def _refuse(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"'{path}': {what}; CycleSR reads .pth files of RRDBNet (ESRGAN, "
                           "Real-ESRGAN) and SRVGGNetCompact holding tensors only")


def _esrgan(state: dict[str, Tensor]) -> tuple[str, dict]:
    first, last = state["conv_first.weight"], state["conv_last.weight"]
    num_out_ch, in_total = last.shape[0], first.shape[1]
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.rdb1\.", k))}
    if "conv_up3.weight" in state:
        upscale, unshuffle = 8, 1
    else:
        unshuffle = {16 * num_out_ch: 4, 4 * num_out_ch: 2}.get(in_total, 1)
        upscale = {4: 1, 2: 2, 1: 4}[unshuffle]
    return "RRDBNet", {"num_in_ch": in_total // unshuffle ** 2, "num_out_ch": num_out_ch,
                       "num_feat": first.shape[0], "num_block": len(blocks),
                       "num_grow_ch": state["body.0.rdb1.conv1.weight"].shape[0], "upscale": upscale}


def _compact(state: dict[str, Tensor]) -> tuple[str, dict]:
    convs = sorted(int(m.group(1)) for k, v in state.items()
                   if (m := re.fullmatch(r"body\.(\d+)\.weight", k)) and v.dim() == 4)
    first, last = state["body.0.weight"], state[f"body.{convs[-1]}.weight"]
    num_in_ch = first.shape[1]
    upscale = math.isqrt(last.shape[0] // num_in_ch)
    if upscale ** 2 * num_in_ch != last.shape[0] or convs != list(range(0, convs[-1] + 1, 2)):
        raise ValueError("the Compact layers do not follow conv, PReLU, ..., conv")
    return "SRVGGNetCompact", {"num_in_ch": num_in_ch, "num_out_ch": num_in_ch, "num_feat": first.shape[0],
                               "num_conv": len(convs) - 2, "upscale": upscale}


def detect_architecture(state: dict[str, Tensor]) -> Optional[tuple[str, dict]]:
    """(registered network name, constructor kwargs) for a community state dict, or None."""
    if "conv_first.weight" in state and "body.0.rdb1.conv1.weight" in state:
        return _esrgan(state)
    prelu = state.get("body.1.weight")
    if (state.get("body.0.weight") is not None and state["body.0.weight"].dim() == 4
            and prelu is not None and prelu.dim() == 1):
        return _compact(state)
    return None


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a ``.pth`` (unwrapped from ``params_ema``/``params``) or a flat
    ``.safetensors`` file; CheckpointError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file '{path}' not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointError(f"cannot read '{path}': {exc}") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _refuse(path, f"refused: it holds objects other than tensors ({reason[:120]}); "
                            "nothing in it was executed") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise _refuse(path, f"cannot read it ({str(exc).splitlines()[0][:120]})") from None
    if isinstance(obj, dict):
        obj = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), dict)), obj)
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()):
        raise _refuse(path, "not a state dict of tensors (bare, or under params_ema / params)")
    return obj


def is_community_file(path: str | Path) -> bool:
    """Whether ``path`` is a ``.pth`` file or a ``.safetensors`` file without CycleSR's
    ``sr.``/``G.`` prefixed model layout (CycleSR's own model files keep their loader)."""
    path = Path(path)
    if path.suffix == ".pth":
        return True
    if path.suffix != ".safetensors" or not path.is_file():
        return False
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
    except Exception:  # unreadable: the model-file loader reports it
        return False
    return bool(keys) and not any(k.startswith(("sr.", "G.")) for k in keys)


def load_community(path: str | Path) -> tuple[nn.Module, None, int, dict]:
    """(SR network, None, scale, description) from a community ``.pth`` or flat
    ``.safetensors`` file; the description is ``model.json``'s, SR only."""
    path = Path(path)
    state = read_state_dict(path)
    try:
        found = detect_architecture(state)
    except (KeyError, ValueError, IndexError) as exc:
        raise _refuse(path, f"its keys look like RRDBNet or SRVGGNetCompact but do not fit ({exc})") from None
    if found is None:
        hint = " (the old ESRGAN layout model.N / RRDB_trunk is not supported)" if (
            "model.0.weight" in state or any("RRDB_trunk" in k for k in state)) else ""
        raise _refuse(path, f"unknown architecture{hint}")
    name, kwargs = found
    net = load_weights(create_net(name, registered_only=True, **kwargs), state, "sr", path)  # fit, finite
    desc = {"format": MODEL_FORMAT, "scale": kwargs["upscale"], "sr": {"name": name, "kwargs": kwargs},
            "source": path.suffix.lstrip(".")}
    return net.eval(), None, int(kwargs["upscale"]), desc


def community_state(net: nn.Module) -> dict[str, Tensor]:
    """The network's weights as a plain dict of contiguous CPU tensors (no buffers other
    tools would not expect: only the state dict's own entries)."""
    name = type(net).__name__
    if name not in COMMUNITY_NETS:
        raise ValueError(f"the SR network is {name}; .pth export is for {' and '.join(COMMUNITY_NETS)} "
                         "(train with model.sr.name: RRDBNet or SRVGGNetCompact, or export onnx/safetensors)")
    return {k: v.detach().cpu().float().contiguous().clone() for k, v in net.state_dict().items()}


def save_pth(net: nn.Module, path: str | Path) -> Path:
    """Write ``{"params_ema": state}`` (Real-ESRGAN's and BasicSR's key) atomically."""
    path = Path(path)
    state = {"params_ema": community_state(net)}
    atomic_write(path, lambda f: torch.save(state, f))
    return path
