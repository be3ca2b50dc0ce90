"""Run an SR network over an image of any size: whole, or tile by tile with blended overlaps.

Tiling keeps memory bounded: the network sees one small batch of tiles at a time and the only
full-size buffer is the output, on the CPU. Tiles are streamed into it: a region is handed
over as soon as no later tile overlaps it, and only the overlaps wait in small float buffers
(blend weights are normalised per axis, so no full-size weight map is needed either).
``upscale_to_pixels`` rounds the regions straight into a uint8/uint16 array, so a large output
costs its own size and no more. ``auto_tile_size`` (``tile_size.py``) picks the largest tile
whose activations fit a memory budget, measuring the network's activation size with one small
forward pass.

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
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from cyclesr.inference.tile_size import (  # re-exported: where callers have always found them
    CPU_TILE_BUDGET, auto_tile_size, available_bytes, estimate_bytes, tile_budget, tile_spans)
from cyclesr.ops.image import to_integer_array

__all__ = ["upscale_tensor", "upscale_to_pixels", "auto_tile_size", "tile_budget", "estimate_bytes",
           "available_bytes", "CPU_TILE_BUDGET", "tile_spans"]


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


def _device_of(net: nn.Module, device: torch.device | str | None) -> torch.device:
    """``device``, else the network's (its first parameter's), else the CPU."""
    if device is None:
        param = next(net.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    return torch.device(device)


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
    device = _device_of(net, device)
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


Sink = Callable[[slice, slice, Tensor], None]


@torch.inference_mode()  # tiles are inference tensors: weighed and rounded in place, no copies
def _stream_tiles(net: nn.Module, lr: Tensor, scale: int, tile: int, pad: int, batch_tiles: int,
                  device: torch.device, half: bool, sink: Sink) -> None:
    """Run the tiles in raster order and hand every output region to ``sink(rows, cols,
    values)`` as soon as no later tile overlaps it: ``values`` is (N, C, h, w), the final
    blended float values of output ``rows`` x ``cols`` (the sink may change them in place);
    each output pixel is handed over once.

    Only overlaps are kept in float between tiles: the columns the next tile of the row will
    add to, and the rows the next row of tiles will add to (``carry_down``, one strip as wide
    as the image and as high as the overlap). Sums are formed as in a full-size accumulation."""
    n, _, h, w = lr.shape
    span_h, starts_h = tile_spans(h, tile, pad)
    span_w, starts_w = tile_spans(w, tile, pad)
    weights_h = dict(zip(starts_h, _normalised_weights(starts_h, span_h, h, pad, scale)))
    weights_w = dict(zip(starts_w, _normalised_weights(starts_w, span_w, w, pad, scale)))
    boxes = [(y, x) for y in starts_h for x in starts_w]
    outputs = _tile_outputs(net, lr, boxes, span_h, span_w, scale, batch_tiles, device, half)
    carry_down = None  # rows [y * scale, previous row's end) of the row above, all columns
    for r, y in enumerate(starts_h):
        top, bottom = y * scale, (y + span_h) * scale
        done_to = starts_h[r + 1] * scale if r + 1 < len(starts_h) else bottom
        next_down = None
        carry_right = None  # columns [x * scale, previous tile's end) of this row's tiles
        for c, x in enumerate(starts_w):
            left, right = x * scale, (x + span_w) * scale
            cols_done = starts_w[c + 1] * scale if c + 1 < len(starts_w) else right
            block = next(outputs).mul_(weights_h[y][:, None] * weights_w[x][None, :])  # in place
            if carry_right is not None:
                block[..., : carry_right.shape[-1]] += carry_right
            carry_right = block[..., cols_done - left:].clone() if cols_done < right else None
            block = block[..., : cols_done - left]
            if carry_down is not None:
                block[:, :, : carry_down.shape[2]] += carry_down[..., left:cols_done]
            sink(slice(top, done_to), slice(left, cols_done), block[:, :, : done_to - top])
            if done_to < bottom:
                if next_down is None:
                    next_down = block.new_zeros(n, block.shape[1], bottom - done_to, w * scale)
                next_down[..., left:cols_done] = block[:, :, done_to - top:]
        carry_down = next_down


def _tile_outputs(net: nn.Module, lr: Tensor, boxes: list[tuple[int, int]], span_h: int,
                  span_w: int, scale: int, batch_tiles: int, device: torch.device, half: bool):
    """The network's output for each box in turn, (N, C, span_h * scale, span_w * scale),
    computed ``batch_tiles`` tiles at a time."""
    n = lr.shape[0]
    for first in range(0, len(boxes), batch_tiles):
        group = boxes[first : first + batch_tiles]
        batch = torch.cat([lr[:, :, y : y + span_h, x : x + span_w] for y, x in group])
        result = _run(net, batch, device, half)
        del batch
        if result.shape[-2:] != (span_h * scale, span_w * scale):
            shape = tuple(result.shape)
            raise ValueError(f"network output {shape} is not scale={scale} times its input tile")
        for i in range(len(group)):
            yield result[i * n : (i + 1) * n]
        del result  # before the next batch runs: one batch's output alive at a time


def _upscale_tiled(net: nn.Module, lr: Tensor, scale: int, tile: int, pad: int, batch_tiles: int,
                   device: torch.device, half: bool) -> Tensor:
    """The tiled output as one float tensor (allocated once the channel count is known)."""
    n, _, h, w = lr.shape
    out: list[Tensor] = []

    def sink(rows: slice, cols: slice, values: Tensor) -> None:
        if not out:
            with torch.inference_mode(False):  # a normal tensor: the caller may change it in place
                out.append(torch.empty(n, values.shape[1], h * scale, w * scale))
        out[0][:, :, rows, cols] = values

    _stream_tiles(net, lr, scale, tile, pad, batch_tiles, device, half, sink)
    return out[0]


def upscale_to_pixels(net: nn.Module, lr: Tensor, scale: int, tile: int | None = None,
                      tile_pad: int = 16, bits: int = 8, batch_tiles: int = 1,
                      device: torch.device | str | None = None, half: bool = False) -> np.ndarray:
    """Like ``upscale_tensor``, but the result is an (N, H * scale, W * scale, C) uint8 (``bits``
    8) or uint16 (16) array, the only full-size buffer: tiles are rounded into it as they are
    finished (same rounding as ``cyclesr.ops.image.to_integer_array``), so a large output costs
    C bytes (or 2C) per pixel instead of the float path's 4C and more."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    single = lr.dim() == 3
    lr = lr.unsqueeze(0) if single else lr
    if tile is None:
        out = upscale_tensor(net, lr, scale, None, tile_pad, batch_tiles, device, half)
        pixels = to_integer_array(out.permute(0, 2, 3, 1).numpy(), bits)
        return pixels[0] if single else pixels
    if tile <= 0:
        raise ValueError(f"tile must be positive or None, got {tile}")
    n, _, h, w = lr.shape
    white, dtype = (65535, np.uint16) if bits == 16 else (255, np.uint8)
    store: list[np.ndarray] = []

    def sink(rows: slice, cols: slice, values: Tensor) -> None:
        if not store:
            store.append(np.empty((n, h * scale, w * scale, values.shape[1]), dtype))
        levels = values.clamp_(0.0, 1.0).mul_(white).round_().permute(0, 2, 3, 1)
        store[0][:, rows, cols] = levels.numpy().astype(dtype)

    device = _device_of(net, device)
    was_training = net.training
    net.eval()
    try:
        with _channels_last(net):
            _stream_tiles(net, lr, scale, tile, max(tile_pad, 0), max(batch_tiles, 1), device, half, sink)
    finally:
        net.train(was_training)
    return store[0][0] if single else store[0]
