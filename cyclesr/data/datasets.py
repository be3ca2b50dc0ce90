"""Datasets: the unpaired training set (HR crops, their bicubic LR, independent real-LR crops)
and the paired evaluation set (real LR with optional HR matched by name)."""

from __future__ import annotations

import re
from collections import Counter
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from cyclesr.data.io import ImageReadError, from_uint8, list_images, load_rgb, to_uint8
from cyclesr.data.sampling import usable_images
from cyclesr.ops.resize import bicubic_downscale

__all__ = ["UnpairedDataset", "PairedDataset", "pil_bicubic_downscale"]

def _hr_flips(image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random horizontal and vertical flips (the reference's augmentation of HR)."""
    if rng.random() < 0.5:
        image = image.flip(-1)
    if rng.random() < 0.5:
        image = image.flip(-2)
    return image


def pil_bicubic_downscale(image: torch.Tensor, scale: int) -> torch.Tensor:
    """The reference's X: the 8-bit image resized by PIL's bicubic to (W // scale, H // scale)."""
    if scale == 1:
        return image
    pil = Image.fromarray(to_uint8(image).permute(1, 2, 0).numpy())
    small = pil.resize((pil.width // scale, pil.height // scale), Image.BICUBIC)
    return from_uint8(np.array(small)).permute(2, 0, 1).contiguous()


def _augment(image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random horizontal flip, vertical flip and transpose: all 8 square symmetries."""
    if rng.random() < 0.5:
        image = image.flip(-1)
    if rng.random() < 0.5:
        image = image.flip(-2)
    if rng.random() < 0.5:
        image = image.transpose(-1, -2)
    return image


def _random_crop(image: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    height, width = image.shape[-2:]
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    return image[..., top: top + size, left: left + size]


class UnpairedDataset(Dataset):
    """Unpaired training samples for CycleSR.

    Item `index` uses HR image `index % n_hr` (shuffle with the DataLoader): a random
    `crop_size * scale` crop of the full image ("hr"), its antialiased bicubic downscale
    ("clean_lr", `crop_size`), and an independent random `crop_size` crop of a random real-LR
    image ("real_lr"); all (3, h, w) float32 in [0, 1]. Gray and RGBA inputs become RGB.
    `augment`: "dihedral" (or True): hr/clean_lr share one random flip/transpose and real_lr
    gets its own; "hr_flips" (the reference's): random horizontal and vertical flips of hr
    (and so clean_lr) only, real_lr untouched; "none" (or False): none. `x_resize`: "torch"
    makes clean_lr by the float antialiased bicubic (``ops.resize.bicubic_downscale``), "pil"
    by PIL's bicubic on the 8-bit hr crop, as the reference does.

    Randomness comes only from a generator seeded by (seed, epoch, index): call
    `set_epoch(epoch)` each epoch, or pass `(epoch, index)` pairs as indices (safe with
    persistent workers, which do not see `set_epoch`). Too-small or unreadable files are
    skipped with one warning; a file that fails to decode later is warned about once and
    replaced by another image. `cache=True` keeps decoded images in memory as uint8
    (per worker process). `length` overrides the number of items per epoch.

    With `synth_recipe` (a degradation recipe or preset, see `cyclesr.data.degrade`), each
    item also has "synth_lr": the HR crop degraded by the recipe (its total scale set to
    `scale`, so it has clean_lr's size), and "use_synth": a (1, 1, 1) float flag, 1 with
    probability `synth_mix` (a number, or a function of the epoch). Both come from their own
    generator seeded by (seed, epoch, index, 1), so hr, clean_lr and real_lr are the same as
    without a recipe."""

    def __init__(self, hr_dir: str | Path, lr_dir: str | Path, crop_size: int, scale: int,
                 augment: bool | str = True, cache: bool = False, length: int | None = None, seed: int = 0,
                 synth_recipe=None, synth_mix: float = 1.0, x_resize: str = "torch"):
        if crop_size < 1 or scale < 1:
            raise ValueError(f"crop_size and scale must be >= 1, got {crop_size} and {scale}")
        self.crop_size, self.scale = int(crop_size), int(scale)
        self.augment = {True: "dihedral", False: "none"}.get(augment, augment)
        if self.augment not in ("dihedral", "hr_flips", "none") or x_resize not in ("torch", "pil"):
            raise ValueError(f"augment must be dihedral, hr_flips or none and x_resize torch or pil, "
                             f"got {augment!r} and {x_resize!r}")
        self.x_resize = x_resize
        self.cache, self.length, self.seed, self.epoch = cache, length, seed, 0
        self.synth_recipe = None
        if synth_recipe is not None:
            from cyclesr.data.degrade import Recipe  # local: degrade imports the steps stack
            self.synth_recipe = Recipe.parse(synth_recipe).with_scale(self.scale)
        # a number, or a function of the epoch (cyclesr.engine.schedule.MixRamp)
        self.synth_mix = synth_mix if callable(synth_mix) else float(synth_mix)
        self.hr_paths, hr_skipped = usable_images(hr_dir, crop_size * scale, "HR")
        self.lr_paths, lr_skipped = usable_images(lr_dir, crop_size, "real-LR")
        if hr_skipped or lr_skipped:
            lines = "\n  ".join(hr_skipped + lr_skipped)
            warnings.warn(f"skipping {len(hr_skipped) + len(lr_skipped)} image(s):\n  {lines}", stacklevel=2)
        self._images: dict[Path, torch.Tensor] = {}
        self._broken: set[Path] = set()
        if self.synth_recipe is not None and self.synth_recipe.injects:
            from cyclesr.data.degrade import noise_pool_from_folder

            pool = noise_pool_from_folder(lr_dir, size=min(16, self.crop_size), seed=seed)
            self.synth_recipe = self.synth_recipe.with_noise_pool(pool)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length if self.length is not None else len(self.hr_paths)

    def _load(self, path: Path, min_size: int) -> torch.Tensor | None:
        if path in self._images:
            return from_uint8(self._images[path])
        try:
            image = load_rgb(path)
        except (ImageReadError, OSError) as err:
            reason = str(err)
        else:
            if min(image.shape[-2:]) >= min_size:
                if not self.cache:
                    return image
                self._images[path] = to_uint8(image)  # also on first use, so every epoch agrees
                return from_uint8(self._images[path])
            reason = f"{path}: {image.shape[-1]}x{image.shape[-2]} is smaller than the {min_size}px crop"
        if path not in self._broken:
            self._broken.add(path)
            warnings.warn(f"skipping an image that cannot be used: {reason}", stacklevel=3)
        return None

    def _sample(self, paths: list[Path], first: int, size: int, rng: np.random.Generator,
                augment=None) -> torch.Tensor:
        """A `size` crop from paths[first], or from random other images if that one fails."""
        index = first
        for _ in range(10 * len(paths) + 10):
            if paths[index] not in self._broken:
                image = self._load(paths[index], size)
                if image is not None:
                    crop = _random_crop(image, size, rng)
                    return (augment(crop, rng) if augment else crop).contiguous()
            index = int(rng.integers(len(paths)))
        raise RuntimeError(f"no readable image left among {len(paths)} in {paths[0].parent}")

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        rng = np.random.default_rng([self.seed, epoch, index])
        hr_aug = {"dihedral": _augment, "hr_flips": _hr_flips}.get(self.augment)
        hr = self._sample(self.hr_paths, index % len(self.hr_paths), self.crop_size * self.scale, rng, hr_aug)
        real_lr = self._sample(self.lr_paths, int(rng.integers(len(self.lr_paths))), self.crop_size, rng,
                               _augment if self.augment == "dihedral" else None)
        downscale = pil_bicubic_downscale if self.x_resize == "pil" else bicubic_downscale
        item = {"hr": hr, "clean_lr": downscale(hr, self.scale), "real_lr": real_lr}
        if self.synth_recipe is not None:
            synth_rng = np.random.default_rng([self.seed, epoch, index, 1])
            mix = self.synth_mix(epoch) if callable(self.synth_mix) else self.synth_mix
            use = synth_rng.random() < mix
            item["synth_lr"] = self.synth_recipe.apply(hr, synth_rng)[0].contiguous()
            item["use_synth"] = torch.full((1, 1, 1), float(use))
        return item


_SCALE_SUFFIX = re.compile(r"([_-](lr|hr|lrbi|bicubic)|[_-]?x\d+)+$", re.IGNORECASE)


def _stem_key(relative: Path) -> str:
    return relative.with_suffix("").as_posix()


def _loose_key(key: str) -> str:
    """Name without a trailing scale/role tag ("0801x4" -> "0801", "baby_LR" -> "baby")."""
    head, _, name = key.rpartition("/")
    stripped = _SCALE_SUFFIX.sub("", name) or name
    return f"{head}/{stripped}" if head else stripped


class PairedDataset(Dataset):
    """Full-size evaluation images: item {"lr", "hr" (when `hr_dir` is given), "name"}.

    HR images are matched to LR images by relative path without extension ("name"); names
    that differ only by a trailing tag such as x4, _LR or _HR also match. Use batch_size 1
    (images differ in size)."""

    def __init__(self, lr_dir: str | Path, hr_dir: str | Path | None = None):
        self.lr_dir = Path(lr_dir)
        self.lr_paths = list_images(self.lr_dir)
        if not self.lr_paths:
            raise ValueError(f"no images found in LR folder {self.lr_dir}")
        self.names = [_stem_key(p.relative_to(self.lr_dir)) for p in self.lr_paths]
        self.hr_paths: list[Path] | None = None
        if hr_dir is not None:
            self.hr_paths = self._match(Path(hr_dir))

    def _match(self, hr_dir: Path) -> list[Path]:
        by_name = {_stem_key(p.relative_to(hr_dir)): p for p in list_images(hr_dir)}
        loose = [_loose_key(name) for name in by_name]
        counts = Counter(loose)
        by_loose = {key: p for key, p in zip(loose, by_name.values()) if counts[key] == 1}
        matched, missing = [], []
        for name in self.names:
            path = by_name.get(name) or by_loose.get(_loose_key(name))
            (matched if path else missing).append(path or name)
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise ValueError(f"{len(missing)} LR image(s) in {self.lr_dir} have no HR image with the "
                             f"same name in {hr_dir}: {shown}")
        return matched

    def __len__(self) -> int:
        return len(self.lr_paths)

    def __getitem__(self, index: int) -> dict:
        item = {"lr": load_rgb(self.lr_paths[index]), "name": self.names[index]}
        if self.hr_paths is not None:
            item["hr"] = load_rgb(self.hr_paths[index])
        return item
