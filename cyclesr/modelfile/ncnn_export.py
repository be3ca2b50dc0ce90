"""NCNN export (``cyclesr export --format ncnn``): ``NAME.param`` + ``NAME.bin`` through pnnx,
with the blob names realesrgan-ncnn-vulkan and Upscayl use (``data`` in, ``output`` out), and
a check of the written files in the ``ncnn`` package (CPU, no Vulkan) against PyTorch.

pnnx traces the network at two input sizes to learn which dimensions are dynamic, converts
the graph and names the blobs ``in0``/``out0``; the ``.param`` file is plain text, so the two
names are replaced token by token. The NCNN graph has no padding logic: an RRDBNet x2 (x1)
needs H and W multiples of 2 (4), a generator with downsampling multiples of its ``multiple``.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from cyclesr.ops.files import atomic_write_bytes

__all__ = ["export_ncnn", "ncnn_runner", "remove_ncnn", "BLOB_NAMES"]

BLOB_NAMES = {"in0": "data", "out0": "output"}


def _rename_blobs(text: str) -> str:
    """The ``.param`` text with pnnx's blob names replaced by ``BLOB_NAMES`` (whole tokens of
    the layer lines; the first two lines are the magic number and the counts)."""
    lines = text.splitlines()
    renamed = [" ".join(BLOB_NAMES.get(tok, tok) for tok in line.split()) for line in lines[2:]]
    return "\n".join(lines[:2] + renamed) + "\n"


def export_ncnn(net: nn.Module, example: torch.Tensor, param_path: Path, second: tuple[int, int], *,
                half: bool = False) -> Path:
    """Write ``param_path`` (``.param``) and the ``.bin`` beside it; returns ``param_path``.
    pnnx traces at ``example``'s size and at ``second`` (H, W), so H and W stay dynamic.
    ``half``: fp16 weights in the ``.bin`` (what the published NCNN models ship)."""
    try:
        import pnnx
    except ImportError:
        raise ValueError("NCNN export needs pnnx: pip install pnnx") from None
    second_input = torch.rand(example.shape[0], example.shape[1], *second)
    with tempfile.TemporaryDirectory(prefix="cyclesr_ncnn_") as tmp:
        traced = Path(tmp) / "net.pt"
        with warnings.catch_warnings():  # tracer notes
            warnings.simplefilter("ignore")
            try:
                pnnx.export(net, str(traced), (example,), (second_input,), fp16=half)
            except Exception as exc:  # pnnx raises plain RuntimeErrors with its log
                raise ValueError(f"pnnx could not convert this network: {str(exc).splitlines()[0][:200]}") from None
        param, binary = Path(tmp) / "net.ncnn.param", Path(tmp) / "net.ncnn.bin"
        if not param.is_file() or not binary.is_file():
            raise ValueError("pnnx wrote no NCNN files for this network (see its log above)")
        text = _rename_blobs(param.read_text())
        if " data " not in f" {text} " or " output" not in text:
            raise ValueError("the NCNN graph has more than one input or output; cannot name them data/output")
        atomic_write_bytes(param_path.with_suffix(".bin"), binary.read_bytes())
        atomic_write_bytes(param_path, text.encode())
    return param_path


def ncnn_runner(param_path: Path, lightmode: bool = True) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
    """A function running the NCNN model on an (N, 3, H, W) tensor, image by image, on the CPU
    in fp32; None when the ``ncnn`` package is not installed. ``lightmode`` is ncnn's default
    (intermediate blobs freed early), as realesrgan-ncnn-vulkan runs; a ResnetGenerator graph
    (its crop back to the input size references the input blob) crashed ncnn in light mode
    when this was written, so G is checked with it off."""
    try:
        import ncnn
    except ImportError:
        return None
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.lightmode = lightmode
    net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = False
    if net.load_param(str(param_path)) != 0 or net.load_model(str(param_path.with_suffix(".bin"))) != 0:
        raise ValueError(f"ncnn cannot read '{param_path}'")

    def run(x: torch.Tensor) -> torch.Tensor:
        outs = []
        for image in x:
            data = np.ascontiguousarray(image.numpy(), dtype=np.float32)  # kept alive: Mat borrows it
            extractor = net.create_extractor()
            extractor.input("data", ncnn.Mat(data))
            ret, out = extractor.extract("output")
            if ret != 0:
                raise ValueError(f"ncnn failed to run '{param_path}' (code {ret})")
            outs.append(torch.from_numpy(np.array(out).copy()))
        return torch.stack(outs)

    return run


def remove_ncnn(param_path: Path) -> None:
    """Delete an NCNN pair (after a failed check)."""
    for p in (param_path, param_path.with_suffix(".bin")):
        p.unlink(missing_ok=True)

