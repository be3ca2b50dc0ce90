"""How large a tile may be: the free memory, the network's activation size per pixel
(measured with one small forward pass) and the tile geometry ``tiling.py`` uses."""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

__all__ = ["auto_tile_size", "tile_budget", "estimate_bytes", "available_bytes", "CPU_TILE_BUDGET",
           "tile_spans"]


def tile_spans(size: int, tile: int, pad: int) -> tuple[int, list[int]]:
    """Input span length and the start of every tile's span along one axis."""
    span = min(tile + 2 * pad, size)
    if size <= tile:
        return span, [0]
    cores = list(range(0, size - tile, tile)) + [size - tile]
    return span, sorted({min(max(c - pad, 0), size - span) for c in cores})


CPU_TILE_BUDGET = 768 * 2**20  # activation bytes per batch of tiles on the CPU
_SAFETY = 1.25  # margin over the probed peak (allocator slack, tensors held across blocks)


def available_bytes(device: torch.device) -> int | None:
    """Free memory in bytes on ``device`` (CUDA: mem_get_info; CPU: MemAvailable), or None."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _probe_bytes_per_pixel(net: nn.Module, size: int = 32) -> float | None:
    """Activation bytes per input pixel at the network's peak: the largest (input + output) of
    any module in one forward pass on a small random input; None when the probe fails."""
    param = next(net.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    peak = [0]

    def hook(_module, inputs, output) -> None:
        tensors = [t for t in (*inputs, output) if torch.is_tensor(t)]
        peak[0] = max(peak[0], sum(t.numel() * t.element_size() for t in tensors))

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    was_training = net.training
    try:
        net.eval()
        with torch.inference_mode():
            net(torch.rand(1, 3, size, size, device=device, dtype=dtype))
    except Exception:  # noqa: BLE001 - any failure falls back to the width heuristic
        return None
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    return peak[0] / size**2 if peak[0] else None


def _bytes_per_pixel(net_params: nn.Module | int | None, scale: int) -> float:
    """Activation bytes per input pixel: probed for a module, else guessed from a feature
    width (from a parameter count: ~16 3x3 conv layers; default 64): input and output maps of
    that width at the output resolution, in float32."""
    if isinstance(net_params, nn.Module):
        probed = _probe_bytes_per_pixel(net_params)
        if probed is not None:
            return probed * _SAFETY
        widths = [m.out_channels for m in net_params.modules() if isinstance(m, nn.Conv2d)]
        width = max(widths, default=64)
    elif isinstance(net_params, int) and net_params > 0:
        width = int(min(max(math.sqrt(net_params / (9 * 16)), 16), 512))
    else:
        width = 64
    return 2 * 4 * width * max(scale, 1) ** 2 * _SAFETY


def tile_budget(device: torch.device | str | None = None) -> int | None:
    """Bytes that one batch of tiles may use: half of the free memory (CUDA: ``mem_get_info``;
    CPU: ``MemAvailable``), and at most ``CPU_TILE_BUDGET`` on the CPU, where larger tiles are
    no faster and a small peak RSS matters more; None when free memory cannot be read."""
    device = torch.device(device or "cpu")
    available = available_bytes(torch.device(device))
    if available is None:
        return None
    return available // 2 if device.type == "cuda" else min(available // 2, CPU_TILE_BUDGET)


def auto_tile_size(
    h: int,
    w: int,
    scale: int,
    net_params: nn.Module | int | None = None,
    device: torch.device | str | None = None,
    budget_bytes: int | None = None,
    tile_pad: int = 16,
    batch_tiles: int = 1,
) -> int | None:
    """A tile size whose activations fit in memory, or None when the whole image fits.

    ``net_params`` is the network (its peak activation size per pixel is measured with one
    small forward pass) or its parameter count (the feature width is guessed from it).
    ``budget_bytes`` defaults to ``tile_budget(device)``; when free memory cannot be read the
    answer is 512. The tile is the multiple of 32 (at least 32) that runs the fewest pixels
    through the network among those whose ``batch_tiles`` tiles, with ``tile_pad`` context each,
    fit the budget. The output image is not counted: it is allocated once, on the CPU,
    whatever the tile size.
    """
    if budget_bytes is None:
        budget_bytes = tile_budget(device)
        if budget_bytes is None:
            return 512
    per_pixel = _bytes_per_pixel(net_params, scale)
    if h * w * per_pixel <= budget_bytes:
        return None
    pad = max(tile_pad, 0)
    span = int(math.sqrt(budget_bytes / (per_pixel * max(batch_tiles, 1))))
    largest = max(32, (span - 2 * pad) // 32 * 32)
    # the multiple of 32 up to the largest that fits with the fewest pixels run through the network
    return min(range(32, largest + 1, 32), key=lambda t: (_tiled_pixels(h, w, t, pad), -t))


def _tiled_pixels(h: int, w: int, tile: int, pad: int) -> int:
    """Input pixels the network sees when an ``h x w`` image is cut into ``tile`` tiles."""
    span_h, starts_h = tile_spans(h, tile, pad)
    span_w, starts_w = tile_spans(w, tile, pad)
    return span_h * len(starts_h) * span_w * len(starts_w)


def estimate_bytes(h: int, w: int, scale: int, net: nn.Module | int | None = None) -> int:
    """Rough peak bytes of an untiled run on an ``h x w`` input: activations and the output."""
    return int(h * w * (_bytes_per_pixel(net, scale) + 3 * 4 * scale**2))
