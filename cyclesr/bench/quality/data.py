"""The quality benchmark's data: the HR domain, the real LR domain (other scenes), the oracle's
true LR of the HR images, and the paired test set, copied or synthesised under ``out/data``;
the three roles cut from one set of real LR/HR pairs (``split_paired_set``); and the check that
no test image is also a training image."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Optional, Sequence

from cyclesr.data.degrade import synthesize_folder
from cyclesr.data.io import list_images, load_rgb, to_uint8

__all__ = ["prepare_data", "check_disjoint", "PAIRED_SETS", "parse_split", "split_paired_set"]

# Named paired sets: folder (with HR/ and LR/ matched by name) and the split of its README's
# real-world protocol (HR domain, real-LR domain, test; disjoint scenes).
PAIRED_SETS = {"realsr-canon": ("../shared/data/real-paired/RealSR-Canon", "1-20,21-40,41-50")}
_ROLES = ("HR domain", "real-LR domain", "test")


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


def parse_split(text: str) -> list[range]:
    """``"1-20,21-40,41-50"`` -> the three 1-based, inclusive position ranges (HR domain,
    real-LR domain, test); raises ValueError unless there are three disjoint, non-empty ones."""
    parts = [part.strip() for part in str(text).split(",")]
    spans = []
    for part in parts:
        first, _, last = part.partition("-")
        try:
            first, last = int(first), int(last or first)
        except ValueError:
            raise ValueError(f"--split {text!r}: {part!r} is not a range like 1-20") from None
        if not 1 <= first <= last:
            raise ValueError(f"--split {text!r}: {part!r} must be FIRST-LAST with 1 <= FIRST <= LAST")
        spans.append(range(first, last + 1))
    if len(spans) != 3:
        raise ValueError(f"--split {text!r}: give three ranges ({', '.join(_ROLES)}), e.g. 1-20,21-40,41-50")
    for i in range(3):
        for j in range(i + 1, 3):
            if set(spans[i]) & set(spans[j]):
                raise ValueError(f"--split {text!r}: the {_ROLES[i]} and {_ROLES[j]} ranges overlap")
    return spans


def split_paired_set(paired: Path, split: str, staging: Path) -> dict[str, Path]:
    """Cut a folder of real pairs (``HR/`` and ``LR/``, matched by name) into the benchmark's
    roles by the 1-based positions of the sorted names: ``staging/{hr, oracle_lr}`` (HR and
    LR of the first range), ``real_lr`` (LR of the second), ``test_hr``, ``test_lr`` (the
    third). Returns those folders."""
    hr_root, lr_root = paired / "HR", paired / "LR"
    for folder in (hr_root, lr_root):
        if not folder.is_dir():
            raise ValueError(f"--paired-set {paired}: no folder {folder.name}/ (expected HR/ and LR/ "
                             "with images matched by name)")
    key = lambda root, p: p.relative_to(root).with_suffix("").as_posix()  # noqa: E731
    hr = {key(hr_root, p): p for p in list_images(hr_root)}
    lr = {key(lr_root, p): p for p in list_images(lr_root)}
    names = sorted(set(hr) & set(lr))
    unmatched = sorted(set(hr) ^ set(lr))
    if unmatched:
        raise ValueError(f"--paired-set {paired}: {len(unmatched)} image(s) without a partner, e.g. "
                         f"{unmatched[:3]}")
    spans = parse_split(split)
    if spans and max(s[-1] for s in spans) > len(names):
        raise ValueError(f"--split {split!r}: the set has only {len(names)} pairs")
    picked = [[names[i - 1] for i in span] for span in spans]
    dirs = {k: staging / k for k in ("hr", "oracle_lr", "real_lr", "test_hr", "test_lr")}
    if staging.exists():
        shutil.rmtree(staging)
    for role, (source, group) in {"hr": (hr, 0), "oracle_lr": (lr, 0), "real_lr": (lr, 1),
                                  "test_hr": (hr, 2), "test_lr": (lr, 2)}.items():
        root = hr_root if source is hr else lr_root
        _copy_images([source[n] for n in picked[group]], root, dirs[role])
    return dirs


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
