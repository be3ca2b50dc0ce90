"""A trained network as ONNX, TorchScript, NCNN, ``.pth`` or safetensors, for use outside
CycleSR (``cyclesr export``).

Exported graphs take RGB float32 ``(N, 3, H, W)`` in [0, 1] and return the same layout (the SR
network ``scale`` times larger; ``G`` the input's size). Every export is checked against PyTorch
before it is reported: at the export size and, with ``dynamic=True``, at another one (NCNN is
always dynamic and always checked at two sizes, in the ``ncnn`` package when it is installed).

The SR backbones in the community's layout (``RRDBNet``, ``SRVGGNetCompact``) also export as
``.pth`` (``{"params_ema": state}``, tensors only: what Real-ESRGAN, BasicSR and spandrel read)
and as a flat ``.safetensors`` state dict in the same layout (SR only; CycleSR reads both back,
``cyclesr.modelfile.community``). For other SR networks ``safetensors`` writes CycleSR's model
file (both networks, ``sr.``/``G.`` prefixes). ``half`` writes fp16 ONNX (fp16 in and out) or
fp16 NCNN weights.

ONNX goes through the TorchScript-based exporter (``dynamo=False``): it needs no extra packages
and handles the networks here; the torch.export-based one would also need ``onnxscript``.
"""
from __future__ import annotations

import copy
import io
import json
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cyclesr.ops.files import atomic_write, atomic_write_bytes

__all__ = ["export_model", "check_export", "default_output", "ExportError", "FORMATS"]

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "safetensors": ".safetensors",
           "pth": ".pth", "ncnn": ".param"}
TOLERANCE = 1e-4
HALF_TOLERANCE = 2e-2  # fp16 weights and activations against the fp32 network

class ExportError(ValueError):
    """An export that cannot be made or does not reproduce PyTorch."""


class _PaddedNet(nn.Module):
    """A network that pads its input to a multiple (``G``'s ``multiple``, RRDBNet's pixel
    unshuffle) with the padding written in traceable tensor arithmetic, so that an ONNX graph
    with dynamic H and W pads each input correctly (the networks compute the padding with
    Python ints, which a trace would freeze at the export size). Output cropped to the input's
    size times ``scale``."""

    def __init__(self, net: nn.Module, multiple: int, scale: int = 1):
        super().__init__()
        self.G = net  # the attribute name earlier exports used
        self.multiple, self.scale = multiple, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        m, s = self.multiple, self.scale
        pad_h, pad_w = (m - h % m) % m, (m - w % m) % m
        return self.G(F.pad(x, [0, pad_w, 0, pad_h], mode="reflect"))[:, :, :h * s, :w * s]


def default_output(checkpoint: Path, fmt: str, net: str) -> Path:
    """``runs/a/model`` -> ``runs/a/model/model_sr.onnx``; ``best.pt`` -> ``best_sr.onnx``."""
    folder, stem = (checkpoint, "model") if checkpoint.is_dir() else (checkpoint.parent, checkpoint.stem)
    if fmt == "safetensors":
        return folder / f"{stem}_export.safetensors"
    if fmt in ("pth", "ncnn"):  # realesrgan-ncnn-vulkan's -n NAME reads NAME.param and NAME.bin
        return folder / f"{stem}-{net.lower()}{FORMATS[fmt]}"
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


def _runner(fmt: str, path: Path, net_name: str = "SR"):
    """A function running the exported file on a tensor, or None if no runtime is installed."""
    if fmt == "ncnn":
        from cyclesr.modelfile.ncnn_export import ncnn_runner
        return ncnn_runner(path, lightmode=net_name == "SR")
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
    half = session.get_inputs()[0].type == "tensor(float16)"

    def run(x: torch.Tensor) -> torch.Tensor:
        x = x.numpy().astype(np.float16 if half else np.float32)
        return torch.from_numpy(session.run(None, {"input": x})[0].astype(np.float32))

    return run


def check_export(fmt: str, path: Path, net: nn.Module, sizes: list[tuple[int, int, int]],
                 tolerance: Optional[float] = None, net_name: str = "SR") -> Optional[float]:
    """Largest |exported - PyTorch| over random inputs of the given (N, H, W) sizes; None when
    the runtime is not installed. Raises ExportError beyond the tolerance (``TOLERANCE``)."""
    tolerance = TOLERANCE if tolerance is None else tolerance
    run = _runner(fmt, path, net_name)
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
    if worst > tolerance:
        raise ExportError(f"'{path}' differs from PyTorch by {worst:.2e} (> {tolerance:g}); "
                          "this network does not export faithfully in this format")
    return worst


def _is_random(net: nn.Module, example: torch.Tensor) -> bool:
    """Whether two calls on the same input differ (a generator drawing noise or JPEG)."""
    with torch.no_grad():
        return not torch.equal(net(example), net(example))


def _export_weights(fmt: str, sr: nn.Module, G: Optional[nn.Module], desc: dict, checkpoint: Path,
                    out: Path) -> Path:
    """``pth`` and ``safetensors``: weights only, nothing to trace or check."""
    from cyclesr.modelfile.community import COMMUNITY_NETS, community_state, save_pth
    from cyclesr.modelfile.publish import write_model
    if out.suffix != FORMATS[fmt]:
        raise ExportError(f"a {fmt} model file must end in {FORMATS[fmt]}, got '{out}'")
    source = checkpoint / "model.safetensors" if checkpoint.is_dir() else checkpoint
    if out.resolve() == source.resolve():
        raise ExportError(f"'{out}' is the input model itself; pass another -o")
    if fmt == "pth":
        try:
            return save_pth(sr, out)
        except ValueError as exc:
            raise ExportError(str(exc)) from None
    if type(sr).__name__ not in COMMUNITY_NETS:
        return write_model(sr, G, desc, out)
    from safetensors.torch import save as st_save
    meta = {"cyclesr": json.dumps({k: desc[k] for k in ("format", "scale", "sr") if k in desc})}
    atomic_write_bytes(out, st_save(community_state(sr), metadata=meta))
    return out


def export_model(checkpoint: str | Path, fmt: str, output: Optional[str | Path] = None, *,
                 net_name: str = "SR", dynamic: bool = False, size: tuple[int, int] = (64, 64),
                 opset: int = 17, use_ema: bool = True, half: bool = False) -> tuple[Path, Optional[float]]:
    """Export and check; returns (output path, max difference from PyTorch or None).
    For ``ncnn`` the path is the ``.param`` file (the ``.bin`` lies beside it)."""
    from cyclesr.modelfile.publish import load_with_description
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}'; choose one of {', '.join(sorted(FORMATS))}")
    if half and fmt not in ("onnx", "ncnn"):
        raise ExportError("--half applies to onnx and ncnn exports only")
    checkpoint = Path(checkpoint)
    sr, G, scale, desc = load_with_description(checkpoint, use_ema=use_ema)
    out = Path(output) if output else default_output(checkpoint, fmt, net_name)
    if fmt in ("pth", "safetensors"):
        if net_name != "SR":
            raise ExportError(f"--format {fmt} exports the SR network (safetensors: with G for "
                              "CycleSR's own model file); use onnx, ncnn or torchscript for --net G")
        return _export_weights(fmt, sr, G, desc, checkpoint, out), None
    if fmt == "ncnn" and out.suffix != ".param":
        out = out.with_name(out.name + ".param")
    net = sr if net_name == "SR" else G
    if net is None:
        raise ExportError(f"'{checkpoint}' holds no transfer network G")
    net = net.float().eval()
    h, w = size
    example = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    m = max(4, int(getattr(net, "multiple", 1)))  # NCNN has no padding: keep sizes multiples
    second = (h + 2 * m, w + m) if fmt == "ncnn" else (h + 5, w + 3)
    if net_name == "G" and fmt != "torchscript" and _is_random(net, example):
        raise ExportError(f"G ({type(net).__name__}) draws random noise and JPEG at every call; an "
                          f"{fmt} graph cannot reproduce it. Use cyclesr degrade, or rebuild it from "
                          "the numbers in model.json's 'degradation'")
    multiple = int(getattr(net, "multiple", getattr(net, "unshuffle", 1)))
    if fmt == "onnx" and multiple > 1:
        net = _PaddedNet(net, multiple, scale if net_name == "SR" else 1).eval()
    key = {"SR": "sr", "G": "G"}[net_name]
    desc = {"format": desc.get("format"), "net": net_name, "scale": scale if net_name == "SR" else 1,
            key: desc.get(key)}
    target = copy.deepcopy(net).half() if half and fmt == "onnx" else net
    if fmt == "onnx":
        _export_onnx(target, example.to(next(target.parameters()).dtype), out, dynamic, opset, desc)
    elif fmt == "ncnn":
        from cyclesr.modelfile.ncnn_export import export_ncnn
        try:
            export_ncnn(net, example, out, second, half=half)
        except ValueError as exc:
            raise ExportError(str(exc)) from None
    else:
        _export_torchscript(net, example, out, desc)
    sizes = [(1, h, w)]
    if dynamic or fmt in ("torchscript", "ncnn"):
        sizes.append((2, *second))
    try:
        return out, check_export(fmt, out, net, sizes, HALF_TOLERANCE if half else None, net_name)
    except ExportError:
        out.unlink(missing_ok=True)  # a file that does not reproduce the network is not kept
        if fmt == "ncnn":
            out.with_suffix(".bin").unlink(missing_ok=True)
        raise
