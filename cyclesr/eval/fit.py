"""Fit a synthetic degradation recipe to the user's real LR images, without ground truth.

CycleSR mixes synthetic degradations of the HR crops into the SR network's training data
(``model.synth_mix``). A broad recipe (``generic``) covers every blur, noise level and JPEG
quality, so the SR network spends much of its capacity on degradations the user's images never
show. With ``model.synth_recipe: fit`` the recipe is fitted instead, by analysis by synthesis:

1. every candidate of a grid (blur sigma x noise sigma x JPEG quality, each a range around a
   centre) degrades the same crops of the HR images, with the same random draws;
2. each candidate is scored by the KID between its LR patches and the real LR patches, in the
   feature space of the small network trained to measure blur, noise and JPEG
   (``cyclesr.eval.noref``);
3. the recipe spans the ``top`` best candidates: the union of their blur and noise ranges, and
   JPEG in the fraction of them that had it.

Only HR-domain images and real LR images are used (never ground truth for the real images).
Cost: about a minute on one CPU core for the default grid of 180 candidates.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["Candidate", "FitResult", "fit_recipe", "fit_recipe_from_folders"]

BLUR_CENTRES = (0.4, 0.8, 1.2, 1.6, 2.0, 2.5)   # Gaussian sigma in HR pixels (x4)
NOISE_CENTRES = (0, 3, 6, 10, 15, 22)           # Gaussian sigma on the 0-255 scale, 0 = none
JPEG_CENTRES = (0, 30, 50, 70, 90)              # JPEG quality, 0 = none
DOWN = "down(scale=4, mode=bicubic|bilinear|area)"


@dataclass(frozen=True)
class Candidate:
    blur: float
    noise: float
    jpeg: int

    def ranges(self) -> dict:
        """The parameter ranges this candidate stands for (centre -30% .. +30% for blur,
        -25% .. +25% for noise, +-10 for JPEG quality)."""
        return {"blur": (max(0.2, round(self.blur * 0.7, 2)), round(self.blur * 1.3, 2)),
                "noise": (round(self.noise * 0.75, 1), round(self.noise * 1.25, 1)) if self.noise else None,
                "jpeg": (max(5, self.jpeg - 10), min(100, self.jpeg + 10)) if self.jpeg else None}

    def recipe(self) -> str:
        r = self.ranges()
        return _recipe(r["blur"], r["noise"], r["jpeg"], jpeg_p=1.0)


def _recipe(blur, noise, jpeg, jpeg_p: float) -> str:
    parts = [f"blur(kind=iso|aniso, sigma={blur[0]:g}~{blur[1]:g}, theta=0~180)", DOWN]
    if noise is not None:
        parts.append(f"noise(sigma={noise[0]:g}~{noise[1]:g})")
    if jpeg is not None:
        parts.append(f"jpeg(quality={jpeg[0]}~{jpeg[1]}" + (f", p={jpeg_p:.2g})" if jpeg_p < 1 else ")"))
    return " > ".join(parts)


@dataclass
class FitResult:
    recipe: str                      # the fitted recipe (its down step at x4; with_scale adapts it)
    best: list[dict]                 # the top candidates with their KID, best first
    real_images: int
    hr_images: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


def _span(best: Sequence[Candidate]) -> str:
    """One recipe covering the best candidates."""
    ranges = [c.ranges() for c in best]
    blur = (min(r["blur"][0] for r in ranges), max(r["blur"][1] for r in ranges))
    noisy = [r["noise"] for r in ranges if r["noise"] is not None]
    # no noise step when most of the best candidates have none
    noise = (min(n[0] for n in noisy), max(n[1] for n in noisy)) if 2 * len(noisy) > len(ranges) else None
    jpegs = [r["jpeg"] for r in ranges if r["jpeg"] is not None]
    jpeg = (min(j[0] for j in jpegs), max(j[1] for j in jpegs)) if jpegs else None
    return _recipe(blur, noise, jpeg, jpeg_p=len(jpegs) / len(ranges))


def fit_recipe(hr_images: Sequence[Tensor], real_lr: Sequence[Tensor], scale: int = 4, *,
               top: int = 3, seed: int = 0, blur=BLUR_CENTRES, noise=NOISE_CENTRES,
               jpeg=JPEG_CENTRES, log=None) -> FitResult:
    """The recipe whose LR versions of ``hr_images`` look most like ``real_lr`` (lists of
    (3, H, W) tensors in [0, 1]); see the module docstring. HR images of at least 32 * scale
    pixels on each side let it compare 32 px patches; smaller ones work with smaller patches."""
    from cyclesr.data.degrade import Recipe
    from cyclesr.eval.features import kid, patch_features, trained_features

    if len(hr_images) < 2 or len(real_lr) < 2:
        raise ValueError("fitting a recipe needs at least 2 HR and 2 real LR images")
    net = trained_features()
    # 32 px patches, or less where the images are smaller
    patch = min(32, *(min(im.shape[-2:]) for im in real_lr), *(min(im.shape[-2:]) // scale for im in hr_images))
    f_real = patch_features(list(real_lr), net, patch, 16, seed + 1)
    scored = []
    grid = [Candidate(b, n, q) for b, n, q in itertools.product(blur, noise, jpeg)]
    for i, cand in enumerate(grid):
        recipe = Recipe.parse(cand.recipe()).with_scale(scale)
        # the same crops and the same draws for every candidate (common random numbers)
        fake = [recipe.apply(hr, np.random.default_rng([seed, k]))[0] for k, hr in enumerate(hr_images)]
        scored.append((kid(patch_features(fake, net, patch, 16, seed), f_real, seed=seed)[0], i))
        if log and (i + 1) % 30 == 0:
            log(f"fit: {i + 1}/{len(grid)} candidate recipes scored")
    scored.sort()
    best = [grid[i] for _, i in scored[:top]]
    return FitResult(recipe=_span(best),
                     best=[{"kid": k, **asdict(grid[i]), "recipe": grid[i].recipe()} for k, i in scored[:top]],
                     real_images=len(real_lr), hr_images=len(hr_images))


def _centre_crop(image: Tensor, size: int, multiple: int) -> Tensor:
    h, w = image.shape[-2:]
    ch, cw = min(h, size) // multiple * multiple, min(w, size) // multiple * multiple
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[..., top:top + ch, left:left + cw]


def fit_recipe_from_folders(hr_dir: str | Path, lr_dir: str | Path, scale: int, *, n_images: int = 24,
                            seed: int = 0, cache: Optional[str | Path] = None, log=print) -> FitResult:
    """``fit_recipe`` on up to ``n_images`` HR images (centre crops of at most 128 * scale
    pixels) and up to 2 * ``n_images`` real LR images (centre crops of at most 256 pixels) of
    two folders, chosen by a seeded draw.
    With ``cache`` (a JSON file), a previous result is read from it, else written to it."""
    from cyclesr.data.io import ImageReadError, list_images, load_rgb

    if cache is not None and Path(cache).is_file():
        data = json.loads(Path(cache).read_text())
        return FitResult(**data)
    rng = np.random.default_rng(seed)

    def pick(folder, n, min_side, crop, multiple):
        """Centre crops (copies: a big photo's full decode is not kept) of n usable images."""
        paths = list_images(folder)
        out = []
        for i in rng.permutation(len(paths)):
            try:
                image = load_rgb(paths[i])
            except (ImageReadError, OSError):
                continue
            if min(image.shape[-2:]) >= min_side:
                out.append(_centre_crop(image, crop, multiple).clone())
            if len(out) == n:
                break
        return out

    hr = pick(hr_dir, n_images, 8 * scale, 128 * scale, scale)
    real = pick(lr_dir, 2 * n_images, 8, 256, 1)
    if len(hr) < 2 or len(real) < 2:
        raise ValueError(f"model.synth_recipe: fit needs at least 2 readable HR images of {8 * scale}+ px "
                         f"in {hr_dir} and 2 real LR images of 8+ px in {lr_dir}; found {len(hr)} and "
                         f"{len(real)}. Give a recipe instead (e.g. generic)")
    if log:
        log(f"fit: fitting the synthetic degradation to {len(real)} real LR images of {lr_dir} "
            f"({len(hr)} HR crops)")
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state (network init) alone
        result = fit_recipe(hr, real, scale, seed=seed, log=log)
    if log:
        log(f"fit: synthetic recipe = {result.recipe}")
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        Path(cache).write_text(result.to_json())
    return result
