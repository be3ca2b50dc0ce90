"""Run an SR network over an image of any size: whole, or tile by tile with blended overlaps.

Tiling keeps memory bounded: the network sees one small batch of tiles at a time and the only
full-size buffers are the output and a one-channel weight map, both on the CPU.

Each tile is a ``tile x tile`` core plus up to ``tile_pad`` pixels of context on each side. All
tiles of an image have the same input size: tiles are shifted inward at the image border rather
than padded, so the network sees the real border just as it would in an untiled run, and tiles
can be batched. Outputs are cross-faded where tiles overlap: within a margin of ``tile_pad``
pixels from a cut, the outer half gets weight 0 (its receptive field was cut off) and the inner
half rises as a raised cosine to 1. The result equals the untiled one whenever the network's
receptive-field radius is at most ``tile_pad / 2`` (in input pixels), and has no seams otherwise.
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["upscale_tensor", "auto_tile_size"]


def _tile_spans(size: int, tile: int, pad: int) -> tuple[int, list[int]]:
    """Input span length and the start of every tile's span along one axis."""
    span = min(tile + 2 * pad, size)
    if size <= tile:
        return span, [0]
    cores = list(range(0, size - tile, tile)) + [size - tile]
    return span, sorted({min(max(c - pad, 0), size - span) for c in cores})


def _blend_weights(start: int, span: int, size: int, pad: int, scale: int) -> Tensor:
    """1-D weights over one tile's output; a ramp only on sides that are cuts, not image borders."""
    n = span * scale
    d = (torch.arange(n, dtype=torch.float64) + 0.5) / scale  # distance from the left edge, input px
    w = torch.ones(n, dtype=torch.float64)
    if pad == 0:
        return w
    half = pad / 2

    def ramp(dist: Tensor) -> Tensor:
        t = ((dist - half) / half).clamp(0.0, 1.0)
        return torch.sin(t * math.pi / 2) ** 2

    if start > 0:
        w = w * ramp(d)
    if start + span < size:
        w = w * ramp(span - d)
    return w


def _autocast(device: torch.device, half: bool):
    if not half:
        return contextlib.nullcontext()
    if device.type != "cuda":
        raise ValueError(f"half=True needs a CUDA device, got {device}")
    return torch.autocast("cuda", dtype=torch.float16)


def _run(net: nn.Module, x: Tensor, device: torch.device, half: bool) -> Tensor:
    """One forward pass; the result is an inference tensor, so only read it (no in-place ops)."""
    with torch.inference_mode(), _autocast(device, half):
        y = net(x.to(device))
    return y.float().cpu()


def upscale_tensor(
    net: nn.Module,
    lr: Tensor,
    scale: int,
    tile: int | None = None,
    tile_pad: int = 16,
    batch_tiles: int = 4,
    device: torch.device | str | None = None,
    half: bool = False,
) -> Tensor:
    """Apply ``net`` to ``lr`` ((3, H, W) or (N, 3, H, W), [0, 1]); clamped [0, 1] output on the CPU.

    ``tile=None`` runs the whole image at once; ``tile=T`` runs T x T tiles with ``tile_pad``
    context, ``batch_tiles`` at a time (see the module docstring). ``device`` defaults to the
    network's; ``half`` runs under fp16 autocast and needs CUDA. The network runs in eval mode
    under ``torch.inference_mode()``; its train/eval mode is restored afterwards.
    """
    single = lr.dim() == 3
    lr = lr.unsqueeze(0) if single else lr
    if lr.dim() != 4:
        raise ValueError(f"expected (3, H, W) or (N, 3, H, W), got {tuple(lr.shape)}")
    if tile is not None and tile <= 0:
        raise ValueError(f"tile must be positive or None, got {tile}")
    if device is None:
        param = next(net.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device = torch.device(device)
    was_training = net.training
    net.eval()
    try:
        if tile is None:
            out = _run(net, lr, device, half)
        else:
            out = _upscale_tiled(net, lr, scale, tile, max(tile_pad, 0), max(batch_tiles, 1), device, half)
    finally:
        net.train(was_training)
    if tuple(out.shape[-2:]) != (lr.shape[-2] * scale, lr.shape[-1] * scale):
        shapes = f"{tuple(out.shape)} from input {tuple(lr.shape)}"
        raise ValueError(f"network output {shapes} is not scale={scale} times larger")
    # Out of place for the untiled result: inference tensors would refuse the caller's in-place ops.
    out = out.clamp(0.0, 1.0) if out.is_inference() else out.clamp_(0.0, 1.0)
    return out[0] if single else out


def _upscale_tiled(
    net: nn.Module,
    lr: Tensor,
    scale: int,
    tile: int,
    pad: int,
    batch_tiles: int,
    device: torch.device,
    half: bool,
) -> Tensor:
    n, c, h, w = lr.shape
    span_h, starts_h = _tile_spans(h, tile, pad)
    span_w, starts_w = _tile_spans(w, tile, pad)
    boxes = [(y, x) for y in starts_h for x in starts_w]
    out = None  # allocated once the network's channel count is known
    weight_sum = torch.zeros(1, 1, h * scale, w * scale)
    for first in range(0, len(boxes), batch_tiles):
        group = boxes[first : first + batch_tiles]
        batch = torch.cat([lr[:, :, y : y + span_h, x : x + span_w] for y, x in group])
        result = _run(net, batch, device, half)
        if result.shape[-2:] != (span_h * scale, span_w * scale):
            shape = tuple(result.shape)
            raise ValueError(f"network output {shape} is not scale={scale} times its input tile")
        if out is None:
            out = torch.zeros(n, result.shape[1], h * scale, w * scale)
        for i, (y, x) in enumerate(group):
            wy = _blend_weights(y, span_h, h, pad, scale)
            wx = _blend_weights(x, span_w, w, pad, scale)
            weight = (wy[:, None] * wx[None, :]).float()
            rows = slice(y * scale, (y + span_h) * scale)
            cols = slice(x * scale, (x + span_w) * scale)
            out[:, :, rows, cols] += result[i * n : (i + 1) * n] * weight
            weight_sum[:, :, rows, cols] += weight
    return out.div_(weight_sum)  # every output pixel lies in some tile's core, where the weight is 1


def _available_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _feature_width(net_params: nn.Module | int | None) -> int:
    """Guess of the widest feature map: the widest conv of a module, or from a parameter count."""
    if isinstance(net_params, nn.Module):
        widths = [m.out_channels for m in net_params.modules() if isinstance(m, nn.Conv2d)]
        return max(widths, default=64)
    if isinstance(net_params, int) and net_params > 0:
        return int(min(max(math.sqrt(net_params / (9 * 16)), 16), 512))  # ~16 3x3 conv layers
    return 64


def auto_tile_size(
    h: int,
    w: int,
    scale: int,
    net_params: nn.Module | int | None = None,
    device: torch.device | str | None = None,
    budget_bytes: int | None = None,
) -> int | None:
    """A tile size whose activations fit in memory, or None when the whole image fits.

    ``net_params`` is the network or its parameter count (used to guess feature width).
    Without ``budget_bytes`` half of the free memory is used (CUDA: ``mem_get_info``; CPU:
    ``MemAvailable`` from /proc/meminfo); when that cannot be read the answer is 512.
    The estimate is a handful of float32 feature maps of that width, at the output resolution
    (a deliberate over-estimate: the widest maps of most SR networks are at the input resolution).
    """
    device = torch.device(device or "cpu")
    if budget_bytes is None:
        available = _available_bytes(device)
        if available is None:
            return 512
        budget_bytes = available // 2
    bytes_per_pixel = 4 * 4 * _feature_width(net_params) * max(scale, 1) ** 2
    if h * w * bytes_per_pixel <= budget_bytes:
        return None
    side = int(math.sqrt(budget_bytes / bytes_per_pixel)) - 2 * 16  # minus the default context
    return max(32, side // 32 * 32)
