"""A trained network as ONNX, TorchScript or safetensors, for use outside
CycleSR (``cyclesr export``).

Exported graphs take RGB float32 ``(N, 3, H, W)`` in [0, 1] and return the same layout (the SR
network ``scale`` times larger; ``G`` the input's size). Every export is checked against PyTorch
before it is reported: at the export size and, with ``dynamic=True``, at another one.

ONNX goes through the TorchScript-based exporter (``dynamo=False``): it needs no extra packages
and handles the networks here; the torch.export-based one would also need ``onnxscript``.
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from cyclesr.ops.files import atomic_write, atomic_write_bytes

__all__ = ["export_model", "check_export", "default_output", "ExportError", "FORMATS"]

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "safetensors": ".safetensors"}
TOLERANCE = 1e-4

class ExportError(ValueError):
    """An export that cannot be made or does not reproduce PyTorch."""


class _PaddedGenerator(nn.Module):
    """``G`` with its pad-to-a-multiple written in traceable tensor arithmetic, so that an ONNX
    graph with dynamic H and W pads each input correctly (the generator itself computes the
    padding with Python ints, which a trace would freeze at the export size)."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G
        self.multiple = int(getattr(G, "multiple", 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        m = self.multiple
        pad_h, pad_w = (m - h % m) % m, (m - w % m) % m
        return self.G(F.pad(x, [0, pad_w, 0, pad_h], mode="reflect"))[:, :, :h, :w]


def default_output(checkpoint: Path, fmt: str, net: str) -> Path:
    """``runs/a/model`` -> ``runs/a/model/model_sr.onnx``; ``best.pt`` -> ``best_sr.onnx``."""
    folder, stem = (checkpoint, "model") if checkpoint.is_dir() else (checkpoint.parent, checkpoint.stem)
    if fmt == "safetensors":
        return folder / f"{stem}_export.safetensors"
    return folder / f"{stem}_{net.lower()}{FORMATS[fmt]}"


def _export_onnx(net: nn.Module, example: torch.Tensor, path: Path, dynamic: bool, opset: int,
                 desc: dict) -> None:
    if opset < 17:
        raise ExportError(f"opset must be 17 or newer, got {opset}")
    axes = None
    if dynamic:
        axes = {"input": {0: "batch", 2: "height", 3: "width"},
                "output": {0: "batch", 2: "out_height", 3: "out_width"}}
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the legacy exporter's deprecation and tracer notes
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (example,), buffer, opset_version=opset, dynamo=False,
                          input_names=["input"], output_names=["output"], dynamic_axes=axes,
                          do_constant_folding=True)
    data = buffer.getvalue()
    try:
        import onnx
    except ImportError:  # the description in the metadata is a nicety; the graph is complete
        onnx = None
    if onnx is not None:
        model = onnx.load_from_string(data)
        entry = model.metadata_props.add()
        entry.key, entry.value = "cyclesr", json.dumps(desc)
        model.doc_string = "CycleSR: float32 (N, 3, H, W) RGB in [0, 1] in and out"
        data = model.SerializeToString()
    atomic_write_bytes(path, data)


def _export_torchscript(net: nn.Module, example: torch.Tensor, path: Path, desc: dict) -> None:
    with warnings.catch_warnings():  # torch.jit's deprecation notes
        warnings.simplefilter("ignore")
        try:  # scripting keeps shape-dependent Python logic (padding) for every input size
            module = torch.jit.script(net)
        except Exception:  # a user network TorchScript cannot compile: trace it (checked below)
            module = torch.jit.trace(net, example)
        extra = {"cyclesr.json": json.dumps(desc)}
        atomic_write(path, lambda f: torch.jit.save(module, f, _extra_files=extra))


def _runner(fmt: str, path: Path):
    """A function running the exported file on a tensor, or None if no runtime is installed."""
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(path), map_location="cpu")
        return lambda x: module(x)
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


def check_export(fmt: str, path: Path, net: nn.Module, sizes: list[tuple[int, int, int]]) -> Optional[float]:
    """Largest |exported - PyTorch| over random inputs of the given (N, H, W) sizes; None when
    the runtime is not installed. Raises ExportError beyond the tolerance."""
    run = _runner(fmt, path)
    if run is None:
        return None
    worst = 0.0
    g = torch.Generator().manual_seed(0)
    for n, h, w in sizes:
        x = torch.rand(n, 3, h, w, generator=g)
        with torch.no_grad():
            expected = net(x)
            got = run(x)
        if tuple(got.shape) != tuple(expected.shape):
            raise ExportError(f"'{path}' gives shape {tuple(got.shape)} for input {tuple(x.shape)}, "
                              f"PyTorch {tuple(expected.shape)}")
        worst = max(worst, float((got - expected).abs().max()))
    if worst > TOLERANCE:
        raise ExportError(f"'{path}' differs from PyTorch by {worst:.2e} (> {TOLERANCE:g}); "
                          "this network does not export faithfully in this format")
    return worst


def export_model(checkpoint: str | Path, fmt: str, output: Optional[str | Path] = None, *,
                 net_name: str = "SR", dynamic: bool = False, size: tuple[int, int] = (64, 64),
                 opset: int = 17, use_ema: bool = True) -> tuple[Path, Optional[float]]:
    """Export and check; returns (output path, max difference from PyTorch or None)."""
    from cyclesr.modelfile.publish import load_with_description, write_model
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}'; choose one of {', '.join(sorted(FORMATS))}")
    checkpoint = Path(checkpoint)
    sr, G, scale, desc = load_with_description(checkpoint, use_ema=use_ema)
    out = Path(output) if output else default_output(checkpoint, fmt, net_name)
    if fmt == "safetensors":
        if out.suffix != ".safetensors":
            raise ExportError(f"a safetensors model file must end in .safetensors, got '{out}'")
        source = checkpoint / "model.safetensors" if checkpoint.is_dir() else checkpoint
        if out.resolve() == source.resolve():
            raise ExportError(f"'{out}' is the input model itself; pass another -o")
        return write_model(sr, G, desc, out), None
    net = sr if net_name == "SR" else G
    if net is None:
        raise ExportError(f"'{checkpoint}' holds no transfer network G")
    net = net.float().eval()
    if net_name == "G" and fmt == "onnx":
        net = _PaddedGenerator(net).eval()
    key = {"SR": "sr", "G": "G"}[net_name]
    desc = {"format": desc.get("format"), "net": net_name, "scale": scale if net_name == "SR" else 1,
            key: desc.get(key)}
    h, w = size
    example = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    if fmt == "onnx":
        _export_onnx(net, example, out, dynamic, opset, desc)
    else:
        _export_torchscript(net, example, out, desc)
    sizes = [(1, h, w)]
    if dynamic or fmt == "torchscript":
        sizes.append((2, h + 5, w + 3))
    try:
        return out, check_export(fmt, out, net, sizes)
    except ExportError:
        out.unlink(missing_ok=True)  # a file that does not reproduce the network is not kept
        raise

