"""Patch features for the no-reference score, and the KID between two feature sets.

The features come from a small convolutional network trained to measure how much blur, noise
and JPEG a patch received (``experiments/scripts/noref_train.py``; the weights ship as
``assets/noref_features.safetensors``, no download), so distances look at the degradation more
than at the scene. ``PatchFeatures(seed=s)`` gives the untrained (seeded random) variant."""
from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as nnf
from torch import Tensor, nn

__all__ = ["PatchFeatures", "kid", "patch_features", "trained_features"]

class PatchFeatures(nn.Module):
    """Small conv features: 3 stages (3x3 conv + ReLU, stride 1, 2, 2); per stage the spatial
    mean and std of each channel -> a (N, 2 * (w + 2w + 4w)) vector.

    ``PatchFeatures(seed=s)`` has fixed random weights (seeded); ``PatchFeatures.trained()``
    loads the shipped weights trained to measure blur, noise and JPEG (``experiments.scripts.noref_train``)."""

    WEIGHTS = Path(__file__).parent.parent / "assets" / "noref_features.safetensors"

    def __init__(self, width: int = 16, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        chans = [3, width, 2 * width, 4 * width]
        self.out_features = 2 * sum(chans[1:])
        self.convs = nn.ModuleList()
        for i, (cin, cout) in enumerate(zip(chans[:-1], chans[1:])):
            conv = nn.Conv2d(cin, cout, 3, stride=1 if i == 0 else 2, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * math.sqrt(2.0 / (cin * 9)))
                conv.bias.zero_()
            self.convs.append(conv)
        self.requires_grad_(False)

    @classmethod
    def trained(cls, path: str | Path | None = None) -> "PatchFeatures":
        """The shipped degradation-measuring weights (or a file written by ``experiments.scripts.noref_train``)."""
        from safetensors.torch import load_file

        path = Path(path) if path is not None else cls.WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the no-reference feature weights are missing; rebuild them "
                                    f"with `python experiments/scripts/noref_train.py --out {path}`")
        net = cls()
        net.load_state_dict(load_file(str(path)))
        return net

    def features(self, x: Tensor) -> Tensor:
        x = x * 2 - 1
        feats = []
        for conv in self.convs:
            x = torch.relu(conv(x))
            feats += [x.mean((2, 3)), x.std((2, 3))]
        return torch.cat(feats, 1)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


@functools.lru_cache(maxsize=1)
def trained_features() -> PatchFeatures:
    """The shipped degradation-measuring features (loaded once)."""
    return PatchFeatures.trained()


def _patches(images: Sequence[Tensor], size: int, per_image: int, rng: np.random.Generator) -> Tensor:
    out = []
    for img in images:
        h, w = img.shape[-2:]
        s = min(size, h, w)
        for _ in range(per_image):
            top, left = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
            out.append(img[..., top:top + s, left:left + s])
        if s != size:  # tiny images: resize nothing, keep one size per batch by padding
            out[-per_image:] = [nnf.pad(p, (0, size - s, 0, size - s), mode="replicate") for p in out[-per_image:]]
    return torch.stack(out)


def patch_features(images: Sequence[Tensor], net: PatchFeatures, size: int, per_image: int,
                   seed: int) -> Tensor:
    """Features (float64) of ``per_image`` seeded random ``size`` crops of each image."""
    rng = np.random.default_rng(seed)
    feats = [net(_patches(images[i:i + 16], size, per_image, rng).float())
             for i in range(0, len(images), 16)]
    return torch.cat(feats).double()


def kid(fake: Tensor, real: Tensor, subsets: int = 20, subset_size: int = 200, seed: int = 0
        ) -> tuple[float, float]:
    """Unbiased MMD^2 with kernel (x.y / d + 1)^3 between two feature sets, averaged over random
    subsets; returns (mean, std). Features are standardised with the real set's statistics."""
    mu, sd = real.mean(0), real.std(0).clamp_min(1e-6)
    fake, real = (fake - mu) / sd, (real - mu) / sd
    d = fake.shape[1]
    m = min(subset_size, fake.shape[0], real.shape[0])
    if m < 2:
        raise ValueError("kid needs at least 2 samples in each set")
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        a = fake[torch.randperm(fake.shape[0], generator=gen)[:m]]
        b = real[torch.randperm(real.shape[0], generator=gen)[:m]]
        kaa, kbb, kab = ((a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3)
        off = (kaa.sum() - kaa.diagonal().sum() + kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
        values.append(float(off - 2 * kab.mean()))
    return float(np.mean(values)), float(np.std(values))
