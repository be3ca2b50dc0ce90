"""Synthetic degradations: bicubic downscaling and recipes of blur, resize, noise and JPEG
steps that turn HR images into realistic LR images (for `cyclesr synth`, demos, benchmarks).

A recipe is text such as "blur(sigma=0.2~2) > down(scale=4) > noise(sigma=1~10) > jpeg(quality=30~60)",
a YAML list, or a preset name from RECIPES (grammar: `recipe.py`; steps: `steps.py`).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from cyclesr.data.io import ImageReadError, list_images, read_image, write_image
from cyclesr.data.recipe import parse_steps
from cyclesr.ops.resize import RESIZE_MODES, bicubic_downscale, crop_to_multiple, resize
from cyclesr.data.steps import STEPS, Down, Inject, Resize, Step, make_step

__all__ = ["RESIZE_MODES", "RECIPES", "STEPS", "Recipe", "bicubic_downscale", "resize", "synthesize_folder"]

_BLUR_ANY = "kind=iso|aniso|generalized|plateau, beta=0.5~4"
RECIPES: dict[str, str] = {
    "bicubic": "down(scale=4, mode=bicubic)",
    "mild": "blur(sigma=0.8~1.6) > down(scale=4) > noise(sigma=2~8)",
    "aniso-jpeg": "blur(kind=aniso, sigma_x=0.6~3, sigma_y=0.6~3, theta=0~180) > down(scale=4) > jpeg(quality=30~60)",
    "camera": "blur(sigma=0.6~1.8) > down(scale=4, mode=bicubic|bilinear|area) "
              "> noise(kind=camera, a=0.5~4, b=1~16, gray=0.3) > jpeg(quality=50~90)",
    # Broad first-order prior for mixing synthetic degradations into CycleSR's SR training
    # (model.synth_mix): Real-ESRGAN-style ranges, deliberately not fitted to any benchmark recipe.
    "generic": "blur(kind=iso|aniso, sigma=0.2~3, theta=0~180) > down(scale=4, mode=bicubic|bilinear|area)"
               " > noise(kind=gaussian|poisson, sigma=1~20, scale=0.05~2.5, gray=0.4, p=0.8)"
               " > jpeg(quality=30~95, p=0.8)",
    # "generic" with the noise taken from the real LR images instead of drawn (noise injection:
    # the inject step adds zero-mean patches of their flat regions, see cyclesr.data.noise_pool).
    # The patches already went through whatever compression the real images had, so inject
    # comes last.
    "generic-inject": "blur(kind=iso|aniso, sigma=0.2~3, theta=0~180) > down(scale=4, mode=bicubic|bilinear|area)"
                      " > jpeg(quality=30~95, p=0.8) > inject",
    # Two rounds of blur, resize, noise and JPEG, after Real-ESRGAN's high-order model.
    "realesrgan-like": (
        f"blur({_BLUR_ANY}, sigma_x=0.2~3, sigma_y=0.2~3, theta=0~180, size=7|9|11|13|15|17|19|21)"
        " > resize(factor=0.15~1.5, mode=bicubic|bilinear|area)"
        " > noise(kind=gaussian|poisson, sigma=1~30, scale=0.05~3, gray=0.4) > jpeg(quality=30~95)"
        f" > blur({_BLUR_ANY}, sigma_x=0.2~1.5, sigma_y=0.2~1.5, theta=0~180, size=7|9|11|13|15|17|19|21, p=0.8)"
        " > resize(factor=0.3~1.2, mode=bicubic|bilinear|area)"
        " > noise(kind=gaussian|poisson, sigma=1~25, scale=0.05~2.5, gray=0.4)"
        " > down(scale=4, mode=bicubic|bilinear|area) > jpeg(quality=30~95)"
    ),
}
_LOSSLESS_EXTS = (".png", ".bmp", ".tif", ".tiff")


class Recipe:
    """An ordered list of degradation steps with an integer total scale.

    The output of `apply` is exactly (H // scale, W // scale) for an H x W input: the input
    is cropped to a multiple of the scale, intermediate `down` steps round their sizes, and
    the last `down` step resizes to the exact target."""

    def __init__(self, steps: list[Step]):
        if not steps:
            raise ValueError("a recipe needs at least one step")
        self.steps = list(steps)
        downs = [i for i, step in enumerate(self.steps) if isinstance(step, Down)]
        self._last_down = downs[-1] if downs else -1
        if any(isinstance(step, Resize) for step in self.steps[self._last_down + 1:]):
            raise ValueError("a resize step must be followed by a down step (e.g. down(scale=1)) "
                             "so that the output size is exact")
        total = math.prod(self.steps[i].scale for i in downs)
        if abs(total - round(total)) > 1e-6 or round(total) < 1:
            raise ValueError(f"the down steps multiply to scale {total:g}; it must be a whole number >= 1")
        self.scale = int(round(total))

    @classmethod
    def parse(cls, spec: "str | list | dict | Recipe") -> "Recipe":
        """From a preset name (see RECIPES), recipe text, YAML list/dict, or a Recipe."""
        if isinstance(spec, Recipe):
            return spec
        if isinstance(spec, str) and spec.strip().lower() in RECIPES:
            spec = RECIPES[spec.strip().lower()]
        return cls([make_step(name, params) for name, params in parse_steps(spec)])

    def with_scale(self, scale: int) -> "Recipe":
        """The same recipe with the last down step rescaled so the total scale is `scale`."""
        if scale == self.scale:
            return self
        if self._last_down < 0:
            raise ValueError("this recipe has no down step to rescale; add down(scale=...)")
        last = self.steps[self._last_down]
        params = {**last.given, "scale": last.scale * scale / self.scale}
        steps = list(self.steps)
        steps[self._last_down] = Down(**params)
        return Recipe(steps)

    @property
    def injects(self) -> bool:
        """Whether the recipe has an ``inject`` step (it needs a pool of real noise patches)."""
        return any(isinstance(step, Inject) for step in self.steps)

    def with_noise_pool(self, pool: torch.Tensor) -> "Recipe":
        """The same recipe with ``pool`` (N, C, s, s noise patches) given to its inject steps."""
        return Recipe([step.with_pool(pool) if isinstance(step, Inject) else step for step in self.steps])

    def crop_to_scale(self, image: torch.Tensor) -> torch.Tensor:
        """Crop the bottom/right so height and width are multiples of the scale."""
        return crop_to_multiple(image, self.scale)

    def apply(self, hr: torch.Tensor, rng: np.random.Generator | int | None = None
              ) -> tuple[torch.Tensor, list[dict[str, Any]]]:
        """Degrade one (3, H, W) image; returns (lr, the parameters each step drew)."""
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        image = self.crop_to_scale(hr)
        height, width = image.shape[-2:]
        if min(height, width) < self.scale:
            raise ValueError(f"image {height}x{width} is smaller than the recipe's scale {self.scale}")
        target = (height // self.scale, width // self.scale)
        records = []
        for index, step in enumerate(self.steps):
            params = step.sample(rng)
            if isinstance(step, Down):
                current = image.shape[-2:]
                params["size"] = target if index == self._last_down else tuple(
                    max(1, round(n / step.scale)) for n in current)
            if params.get("applied", True):
                image = step.apply(image, params)
            records.append(params)
        return image.clamp(0, 1), records

    def __str__(self) -> str:
        return " > ".join(str(step) for step in self.steps)

    def __repr__(self) -> str:
        return f"Recipe({str(self)!r})"


def noise_pool_from_folder(folder: str | Path, size: int = 16, seed: int = 0) -> torch.Tensor:
    """The noise patches of the real LR images under ``folder`` (for ``inject``), or a clear
    error when it has no image or no flat region."""
    from cyclesr.data.noise_pool import collect_noise_pool

    paths = list_images(folder)
    if not paths:
        raise ValueError(f"{folder}: no images to take noise from")
    pool = collect_noise_pool(paths, size=size, seed=seed)
    if len(pool) == 0:
        raise ValueError(f"{folder}: no flat region found in its {len(paths)} image(s), so there is no noise "
                         f"to inject; use a recipe with a noise(...) step instead")
    return pool


def _image_rng(seed: int, name: str) -> np.random.Generator:
    """Per-image generator from (seed, relative name): results do not depend on file order."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, digest])


def _lr_name(relative: Path) -> Path:
    return relative if relative.suffix.lower() in _LOSSLESS_EXTS else relative.with_suffix(".png")


def synthesize_folder(
    hr_dir: str | Path, out_dir: str | Path, recipe: "str | list | dict | Recipe",
    scale: int | None = None, seed: int = 0, paired_hr_out: str | Path | None = None,
    progress: Callable[[Path], None] | None = None, noise_from: str | Path | None = None,
) -> list[Path]:
    """Degrade every image under `hr_dir` (recursively) into `out_dir`, keeping relative names.

    Lossless files keep their extension; JPEG/WebP inputs are written as PNG so that no
    second, unrecorded compression is added. 16-bit inputs stay 16-bit and alpha is resized
    along. Each image's randomness comes from (seed, relative name), so results do not
    depend on which other files are present. `scale` overrides the recipe's total scale.
    With `paired_hr_out`, the HR images cropped to a multiple of the scale are written there
    under the same names. Unreadable or too-small files are skipped with a warning.
    `noise_from`: a folder of real LR images that gives the noise patches of the recipe's
    ``inject`` steps (needed exactly when the recipe has one).
    Returns the LR paths written; `progress` is called with each one."""
    recipe = Recipe.parse(recipe)
    recipe = recipe.with_scale(scale) if scale else recipe
    if recipe.injects != (noise_from is not None):
        raise ValueError("the recipe's inject step needs --noise-from REAL_LR_DIR" if recipe.injects else
                         "--noise-from is only used by a recipe with an inject step, e.g. "
                         "'blur(sigma=1) > down(scale=4) > inject'")
    if noise_from is not None:
        recipe = recipe.with_noise_pool(noise_pool_from_folder(noise_from))
    hr_dir, out_dir = Path(hr_dir), Path(out_dir)
    written = []
    for path in list_images(hr_dir):
        relative = _lr_name(path.relative_to(hr_dir))
        try:
            image = read_image(path)
        except ImageReadError as err:
            warnings.warn(f"skipping {err}", stacklevel=2)
            continue
        if min(image.rgb.shape[-2:]) < recipe.scale:
            warnings.warn(f"skipping {path}: smaller than the scale {recipe.scale}", stacklevel=2)
            continue
        hr = recipe.crop_to_scale(image.rgb)
        lr, _ = recipe.apply(hr, _image_rng(seed, relative.as_posix()))
        alpha = None if image.alpha is None else recipe.crop_to_scale(image.alpha)
        lr_alpha = None if alpha is None else resize(alpha, tuple(lr.shape[-2:]), "bicubic")
        write_image(out_dir / relative, lr, lr_alpha, bit_depth=image.bit_depth, icc=image.icc)
        if paired_hr_out is not None:
            write_image(Path(paired_hr_out) / relative, hr, alpha, bit_depth=image.bit_depth, icc=image.icc)
        written.append(out_dir / relative)
        if progress is not None:
            progress(out_dir / relative)
    return written
