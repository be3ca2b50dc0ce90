"""Helpers for the community-format tests: tiny trained RRDBNet / SRVGGNetCompact checkpoints
and spandrel imported without torchvision."""
import sys
import types

import pytest
import torch
import torch.nn.functional as F

from cyclesr.config import config_from_dict
from cyclesr.engine.checkpoint import save_checkpoint
from cyclesr.model import build_model

# spandrel's grow channels are fixed at 32 when it reads an ESRGAN state dict: keep 32.
SPECS = {
    "RRDBNet": ({"name": "RRDBNet", "num_feat": 8, "num_block": 1, "num_grow_ch": 32}, "ESRGAN"),
    "SRVGGNetCompact": ({"name": "SRVGGNetCompact", "num_feat": 8, "num_conv": 2}, "Compact"),
}


def train_a_little(net, scale, steps=4):
    """A few Adam steps towards bicubic: weights (PReLU slopes included) leave their init."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        lr = torch.rand(2, 3, 8, 8, generator=g)
        loss = (net(lr) - F.interpolate(lr, scale_factor=scale, mode="bicubic")).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def make_checkpoint(path, name, scale):
    """A training checkpoint whose SR is `name` (tiny), raw and EMA weights different;
    returns (path, SR with the EMA weights)."""
    cfg = config_from_dict({"dataset": {"upscale": scale},
                            "model": {"cyclegan": {"ngf": 4, "n_blocks": 1, "n_downsampling": 2},
                                      "sr": dict(SPECS[name][0])}})
    torch.manual_seed(0)
    nets = build_model(cfg)
    raw = {k: v.clone() for k, v in nets.SR.state_dict().items()}
    ema = train_a_little(nets.SR, scale)
    save_checkpoint({"config": cfg.to_dict(), "sr_ema": ema.state_dict(),
                     "nets": {**{k: getattr(nets, k).state_dict() for k in ("G", "F", "D_X", "D_Y")},
                              "SR": raw}}, path)
    return path, ema


def torchvision_stand_in():
    """spandrel imports torchvision at import time, for architectures (LaMa, RestoreFormer)
    CycleSR never loads, and torchvision has no build here that works with the CPU torch wheel.
    Unless a torchvision is already imported, this puts a minimal stand-in with the three names
    spandrel imports (InterpolationMode, rotate, normalize) into sys.modules (the tests never
    import torchvision itself: its only build here is a CUDA wheel); calling them raises. The
    ESRGAN and Compact code paths call none of them. Returns the names added (to remove later)."""
    if "torchvision" in sys.modules:
        return []

    def missing(*_args, **_kwargs):
        raise RuntimeError("torchvision stand-in: not available in this test")

    root = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = type("InterpolationMode", (), {})
    functional.rotate = functional.normalize = missing
    root.transforms, transforms.functional = transforms, functional
    added = {"torchvision": root, "torchvision.transforms": transforms,
             "torchvision.transforms.functional": functional}
    sys.modules.update(added)
    return list(added)


@pytest.fixture(scope="module")
def spandrel():
    """The real spandrel package (skips when it is not installed: `make test` installs it)."""
    added = torchvision_stand_in()
    try:
        module = pytest.importorskip("spandrel", reason="spandrel not installed "
                                     "(make test installs it: pip install --no-deps spandrel einops)")
        yield module
    finally:
        for name in added:
            sys.modules.pop(name, None)
