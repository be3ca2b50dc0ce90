"""Vega's own CycleSR iteration, timed by ``cyclesr bench step --reference vega``.

It runs the reference implementation's code itself, from the installed ``noah-vega`` package
(``pip install --no-deps noah-vega==1.8.5``; nothing of it is copied here): Vega's networks
(``Generator``, ``PatchDiscriminator``, ``VDSR``/``SRResNet``), built by its ``CycleSRModel``,
and its step ``CycleSRModel.optimize_CycleSR`` called as its trainer calls it, with the epoch that
selects the phase (1: transfer, 6: SR pretraining, 7: joint). The networks start from the same
weights as ``cyclesr.engine.timing.step_runner``'s and see the same random batch.

Two things make Vega's code run here, neither changing its arithmetic:

- Only its four CycleSR files are imported. Vega's package ``__init__`` files import its whole
  platform (ZeroMQ, dask, pandas, OpenCV, its search algorithms...), which those files never
  use, so empty stand-in packages that point at the installed folders take their place while
  the files load (``_load``); ``vega.is_npu_device`` (False) is the one thing the files ask of
  the top package, and Vega's own ``Config`` and ``ClassFactory`` come from its files.
- Vega calls ``.cuda()`` on its inputs and labels. Its config says ``use_cuda: false``, which
  keeps the networks as they are (no ``DataParallel``); on a CPU, ``.cuda()`` leaves a tensor
  where it is for the duration of each call (``_cuda_is_here``).
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import random
import sys
import types
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

__all__ = ["VEGA_VERSION", "INSTALL_HINT", "vega_missing", "vega_version", "vega_config",
           "vega_runner"]

VEGA_VERSION = "1.8.5"  # the release whose CycleSR files this module was checked against
INSTALL_HINT = f"pip install --no-deps noah-vega=={VEGA_VERSION}"
_FILES = "vega.networks.pytorch.cyclesrbodys"
_EPOCH = {"transfer": 1, "pretrain": 6, "joint": 7}  # Vega's phase schedule: epoch < 6, 6, >= 7
_NETS = ("G", "F", "D_X", "D_Y", "SR")


def vega_missing() -> str | None:
    """None when Vega's CycleSR files can be imported, else why not and how to install them."""
    spec = importlib.util.find_spec("vega")
    if spec is None or not spec.submodule_search_locations:
        return f"noah-vega is not installed ({INSTALL_HINT})"
    root = Path(list(spec.submodule_search_locations)[0])
    if not (root / "networks" / "pytorch" / "cyclesrbodys" / "cyclesr_net.py").is_file():
        return f"the installed vega package has no CycleSR files ({INSTALL_HINT})"
    return None


def vega_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("noah-vega")
    except PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def _load() -> types.ModuleType:
    """Vega's ``cyclesr_net`` module (with ``trans_model``, ``networks`` and ``srmodels``)."""
    why = vega_missing()
    if why is not None:
        raise ModuleNotFoundError(why)
    if "vega" in sys.modules:  # the real package is already imported: use it as it is
        return importlib.import_module(f"{_FILES}.cyclesr_net")
    root = Path(list(importlib.util.find_spec("vega").submodule_search_locations)[0])
    before = set(sys.modules)

    def package(name: str, folder: Path) -> types.ModuleType:
        module = types.ModuleType(name)
        module.__path__ = [str(folder)]
        sys.modules[name] = module
        return module

    try:
        top = package("vega", root)
        top.is_npu_device = lambda: False
        common = package("vega.common", root / "common")
        common.Config = importlib.import_module("vega.common.config").Config
        factory = importlib.import_module("vega.common.class_factory")
        common.ClassFactory, common.ClassType = factory.ClassFactory, factory.ClassType
        package("vega.networks", root / "networks")
        package("vega.networks.pytorch", root / "networks" / "pytorch")
        package(_FILES, root / "networks" / "pytorch" / "cyclesrbodys")
        return importlib.import_module(f"{_FILES}.cyclesr_net")
    finally:  # the loaded files keep their modules; the process sees no half-made vega package
        for name in set(sys.modules) - before:
            del sys.modules[name]


@contextlib.contextmanager
def _cuda_is_here(device: torch.device) -> Iterator[None]:
    """On a CPU, ``Tensor.cuda()`` and ``Module.cuda()`` leave things where they are."""
    if device.type == "cuda":
        with torch.cuda.device(device):
            yield
        return
    saved = torch.Tensor.cuda, nn.Module.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    nn.Module.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.cuda, nn.Module.cuda = saved


def vega_config(cfg) -> dict:
    """The keys Vega's ``CycleSRModel`` reads, from our config. Vega's networks have fixed
    depths (9 residual blocks, 2 down/upsampling steps, 3 discriminator layers); a config with
    others is refused when the weights are copied (``_copy_weights``)."""
    m, gen, disc, sr = cfg.model, cfg.model.G.kwargs, cfg.model.D.kwargs, cfg.model.sr.kwargs
    extra = [k for k, v in (("model.cyclegan.lambda_lowfreq", m.cyclegan.lambda_lowfreq),
                            ("model.synth_mix", m.synth_mix)) if v]
    if extra:  # our step would do work Vega's does not: not the same mathematics
        raise ValueError(f"Vega's CycleSR has no {', '.join(extra)}; set them to 0 to compare")
    if gen.get("norm", "instance") != disc.get("norm", "instance"):
        raise ValueError("Vega's CycleSR uses one norm for G and D; the config has "
                         f"{gen.get('norm')} and {disc.get('norm')}")
    return {
        "use_cuda": False, "use_distributed": False, "SR_lr": m.SR_lr, "cyc_lr": m.cyc_lr,
        "grad_clip": m.grad_clip, "SR_lam": m.SR_lam, "cycleSR_lam": m.cycleSR_lam,
        "cyclegan": {"input_nc": gen.get("input_nc", 3), "output_nc": gen.get("output_nc", 3),
                     "ngf": gen.get("ngf", 64), "ndf": disc.get("ndf", 64),
                     "norm": gen.get("norm", "instance"), "up_mode": gen.get("up_mode", "transpose"),
                     "lambda_cycle": m.cyclegan.lambda_cycle,
                     "lambda_identity": m.cyclegan.lambda_identity,
                     "buffer_size": m.cyclegan.buffer_size},
        "VDSR": {"name": cfg.model.sr.name, "input_nc": sr.get("input_nc", 3),
                 "SR_nf": sr.get("SR_nf", 64), "SR_nb": sr.get("SR_nb", 20),
                 "SR_norm_type": sr.get("SR_norm_type", "batch"), "upscale": cfg.upscale},
    }


def _copy_weights(ours, vega, upscale: int) -> None:
    """Vega's networks take our networks' weights (through ``cyclesr.modelfile.vega``'s key
    map), so that both steps start from the same point; a config whose networks Vega does not
    build (other depths, other layers) fails here with the entries that differ."""
    from cyclesr.modelfile.vega import vega_key

    for name in _NETS:
        net, mine = getattr(vega, f"net{name}"), getattr(ours, name).state_dict()
        mapped = {k: vega_key(name, k, upscale) for k in net.state_dict()}
        theirs = {mapped[k]: v for k, v in net.state_dict().items()}
        odd = sorted(set(theirs) ^ set(mine)) + [
            k for k in mine if k in theirs and theirs[k].shape != mine[k].shape]
        if odd:
            raise ValueError(f"Vega's CycleSR does not build this config's {name} (entries that "
                             f"differ: {', '.join(odd[:4])}{' ...' if len(odd) > 4 else ''}); "
                             "it has 9 residual blocks, 2 resampling steps, 3 discriminator layers")
        net.load_state_dict({k: mine[mapped[k]] for k in mapped})


def vega_runner(cfg, phase: str, device: torch.device, batch: int, patch: int) -> Callable[[], None]:
    """A function running one iteration of Vega's own CycleSR step for ``phase`` (fp32, NCHW,
    as Vega runs) on ``cyclesr.engine.timing.random_batch`` and the initial weights of
    ``step_runner``. ModuleNotFoundError (with the install command) without noah-vega."""
    from cyclesr.engine.timing import PHASES, random_batch
    from cyclesr.model import build_model

    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"Vega's step runs on a CPU or CUDA device, not {device.type}")
    cyclesr_net = _load()
    torch.manual_seed(cfg.trainer.seed)
    ours = build_model(cfg)
    with _cuda_is_here(device):
        model = cyclesr_net.CycleSRModel(**vega_config(cfg))
    _copy_weights(ours, model, cfg.upscale)
    for name in _NETS:
        getattr(model, f"net{name}").to(device)
    data = random_batch(cfg, batch, patch, device)
    inputs = {"X": data["clean_lr"], "Y": data["real_lr"], "HR": data["hr"]}
    random.seed(cfg.trainer.seed)  # Vega's image buffer draws from Python's random
    epoch = _EPOCH[phase]

    def run() -> None:  # what Vega's trainer calls on the model each iteration
        with _cuda_is_here(device):
            model.set_mode("train")
            model.optimize_CycleSR(inputs, epoch)
    return run
