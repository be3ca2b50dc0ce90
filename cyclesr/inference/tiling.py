"""Run an SR network over an image of any size: whole, or tile by tile with blended overlaps.

Tiling keeps memory bounded: the network sees one small batch of tiles at a time and the only
full-size buffer is the output, on the CPU (blend weights are normalised per axis, so no
full-size weight map is needed). ``auto_tile_size`` picks the largest tile whose activations
fit a memory budget, measuring the network's activation size with one small forward pass.

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

__all__ = ["upscale_tensor", "auto_tile_size", "tile_budget", "estimate_bytes", "available_bytes",
           "CPU_TILE_BUDGET"]


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


@contextlib.contextmanager
def _channels_last(net: nn.Module):
    """Run with 4-D weights in channels_last (NHWC): convolutions on CPUs (oneDNN) and on
    tensor cores are faster in it, and on the CPU the peak memory is lower (no reorders).
    Weights are put back in their own layout afterwards."""
    convert = any(p.dim() == 4 and not p.is_contiguous(memory_format=torch.channels_last)
                  for p in net.parameters())
    if convert:
        net.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        if convert:
            net.to(memory_format=torch.contiguous_format)


def _run(net: nn.Module, x: Tensor, device: torch.device, half: bool) -> Tensor:
    """One forward pass; the result is an inference tensor, so only read it (no in-place ops)."""
    with torch.inference_mode(), _autocast(device, half):
        y = net(x.to(device).contiguous(memory_format=torch.channels_last))
    return y.float().cpu()


def upscale_tensor(
    net: nn.Module,
    lr: Tensor,
    scale: int,
    tile: int | None = None,
    tile_pad: int = 16,
    batch_tiles: int = 1,
    device: torch.device | str | None = None,
    half: bool = False,
) -> Tensor:
    """Apply ``net`` to ``lr`` ((3, H, W) or (N, 3, H, W), [0, 1]); clamped [0, 1] output on the CPU.

    ``tile=None`` runs the whole image at once; ``tile=T`` runs T x T tiles with ``tile_pad``
    context, ``batch_tiles`` at a time (see the module docstring). ``device`` defaults to the
    network's; ``half`` runs under fp16 autocast and needs CUDA. The network runs in eval mode
    under ``torch.inference_mode()``, with channels_last weights; its train/eval mode and weight
    layout are restored afterwards. Pick ``tile`` with ``auto_tile_size`` to bound memory.
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
        with _channels_last(net):
            if tile is None:
                out = _run(net, lr, device, half).contiguous()
            else:
                out = _upscale_tiled(net, lr, scale, tile, max(tile_pad, 0), max(batch_tiles, 1),
                                     device, half)
    finally:
        net.train(was_training)
    if tuple(out.shape[-2:]) != (lr.shape[-2] * scale, lr.shape[-1] * scale):
        shapes = f"{tuple(out.shape)} from input {tuple(lr.shape)}"
        raise ValueError(f"network output {shapes} is not scale={scale} times larger")
    # Out of place for the untiled result: inference tensors would refuse the caller's in-place ops.
    out = out.clamp(0.0, 1.0) if out.is_inference() else out.clamp_(0.0, 1.0)
    return out[0] if single else out


def _normalised_weights(starts: list[int], span: int, size: int, pad: int,
                        scale: int) -> list[Tensor]:
    """Each tile's 1-D blend weights along one axis, divided by their sum over all tiles.

    The tiles form a grid and every 2-D weight is the product of its row and column weights, so
    the sum of the 2-D weights over all tiles is the product of the two 1-D sums: normalising
    each axis on its own needs no full-size weight map."""
    weights = [_blend_weights(s, span, size, pad, scale) for s in starts]
    total = torch.zeros(size * scale, dtype=torch.float64)
    for s, w in zip(starts, weights):
        total[s * scale:(s + span) * scale] += w
    return [(w / total[s * scale:(s + span) * scale]).float() for s, w in zip(starts, weights)]


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
    weights_h = dict(zip(starts_h, _normalised_weights(starts_h, span_h, h, pad, scale)))
    weights_w = dict(zip(starts_w, _normalised_weights(starts_w, span_w, w, pad, scale)))
    boxes = [(y, x) for y in starts_h for x in starts_w]
    out = None  # allocated once the network's channel count is known
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
            weight = weights_h[y][:, None] * weights_w[x][None, :]
            rows = slice(y * scale, (y + span_h) * scale)
            cols = slice(x * scale, (x + span_w) * scale)
            out[:, :, rows, cols].addcmul_(result[i * n : (i + 1) * n], weight)
        del batch, result
    return out


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
    span_h, starts_h = _tile_spans(h, tile, pad)
    span_w, starts_w = _tile_spans(w, tile, pad)
    return span_h * len(starts_h) * span_w * len(starts_w)


def estimate_bytes(h: int, w: int, scale: int, net: nn.Module | int | None = None) -> int:
    """Rough peak bytes of an untiled run on an ``h x w`` input: activations and the output."""
    return int(h * w * (_bytes_per_pixel(net, scale) + 3 * 4 * scale**2))
