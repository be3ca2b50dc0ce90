"""The quality benchmark's data: the HR domain, the real LR domain (other scenes), the oracle's
true LR of the HR images, and the paired test set, copied or synthesised under ``out/data``;
and the check that no test image is also a training image."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Optional, Sequence

from cyclesr.data.degrade import synthesize_folder
from cyclesr.data.io import list_images, load_rgb, to_uint8

__all__ = ["prepare_data", "check_disjoint"]


def _copy_images(paths: Sequence[Path], root: Path, out: Path) -> None:
    for p in paths:
        dst = out / p.relative_to(root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dst)


def _pixel_hashes(folder: Path) -> dict[str, str]:
    return {hashlib.sha1(to_uint8(load_rgb(p)).numpy().tobytes()).hexdigest(): str(p)
            for p in list_images(folder)}


def check_disjoint(train_dirs: Sequence[Path], test_dirs: Sequence[Path]) -> None:
    """Raise if any test image (by decoded pixels) is also in a training folder."""
    train = {}
    for d in train_dirs:
        train.update(_pixel_hashes(d))
    for d in test_dirs:
        for h, path in _pixel_hashes(d).items():
            if h in train:
                raise ValueError(f"test image {path} is also a training image ({train[h]}); "
                                 "the benchmark never trains on test images")


def prepare_data(out: Path, hr_train: Path, test_hr: Sequence[Path], recipe: Optional[str],
                 real_lr: Optional[Path], oracle_lr: Optional[Path], test_lr: Optional[Path],
                 seed: int, scale: int = 4) -> dict[str, Path]:
    """Folders under ``out/data``: hr (HR domain), real_lr, oracle_lr (LR of hr, same names),
    test_hr and test_lr. With a recipe, ``hr_train`` is split by sorted name into halves: the
    first is the HR domain, the second is degraded into the real-LR domain (other scenes)."""
    data = out / "data"
    dirs = {k: data / k for k in ("hr", "real_lr", "oracle_lr", "test_hr", "test_lr")}
    if data.exists():
        shutil.rmtree(data)
    images = list_images(hr_train)
    if real_lr is None:
        if recipe is None:
            raise ValueError("give --recipe, or --real-lr with --oracle-lr")
        half = len(images) // 2
        if half < 1:
            raise ValueError(f"--hr-train {hr_train} needs at least 2 images to split")
        _copy_images(images[:half], hr_train, dirs["hr"])
        _copy_images(images[half:], hr_train, data / "hr_real_domain")
        synthesize_folder(data / "hr_real_domain", dirs["real_lr"], recipe, scale, seed=seed + 1)
        shutil.rmtree(data / "hr_real_domain")
        synthesize_folder(dirs["hr"], dirs["oracle_lr"], recipe, scale, seed=seed)
    else:
        if oracle_lr is None:
            raise ValueError("--real-lr needs --oracle-lr (LR versions of the --hr-train images)")
        _copy_images(images, hr_train, dirs["hr"])
        _copy_images(list_images(real_lr), real_lr, dirs["real_lr"])
        _copy_images(list_images(oracle_lr), oracle_lr, dirs["oracle_lr"])
    for folder in test_hr:  # one sub-folder per test set keeps names unique
        _copy_images(list_images(folder), folder, dirs["test_hr"] / Path(folder).resolve().parent.name)
    if test_lr is None:
        if recipe is None:
            raise ValueError("give --recipe, or --test-lr with --test-hr")
        raw = data / "test_hr_raw"
        dirs["test_hr"].rename(raw)
        synthesize_folder(raw, dirs["test_lr"], recipe, scale, seed=seed + 2, paired_hr_out=dirs["test_hr"])
        shutil.rmtree(raw)
    else:
        if len(test_hr) != 1:
            raise ValueError("--test-lr pairs with exactly one --test-hr folder")
        shutil.rmtree(dirs["test_hr"])
        _copy_images(list_images(test_hr[0]), test_hr[0], dirs["test_hr"])
        _copy_images(list_images(test_lr), test_lr, dirs["test_lr"])
    check_disjoint([dirs["hr"], dirs["real_lr"], dirs["oracle_lr"]], [dirs["test_hr"]])
    return dirs
