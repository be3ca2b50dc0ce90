"""A paired dataset in the layout other SR trainers read, from the learned degradation
(``cyclesr degrade --paired``) or a recipe (``cyclesr synth --paired``): train BasicSR,
traiNNer-redux or neosr on CycleSR's realistic LR.

    out/hr/NAME.png       the HR image, cropped to ``scale`` x the LR size (dataroot_gt)
    out/lr/NAME.png       G's realistic LR of it, the same file name (dataroot_lq)
    out/meta_info.txt     one line per pair, ``NAME.png (H,W,C)`` of the HR, as BasicSR writes it
    out/traiNNer-redux.yml, out/neosr.toml   the dataset section of a training config

The output folder must not be, or lie inside, an input folder: nothing is ever written among
the images it reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from cyclesr.api.model import CycleSR
from cyclesr.data.io import read_image, write_image

__all__ = ["PairedDataset", "write_paired_dataset", "write_trainer_files", "check_output_outside_inputs"]

TRAINNER_REDUX = """# traiNNer-redux: the dataset part of a training config (paste into a template's datasets:)
scale: {scale}
datasets:
  train:
    name: cyclesr_pairs
    type: pairedimagedataset
    dataroot_gt: [{hr}]
    dataroot_lq: [{lr}]
    meta_info: {meta}
    lq_size: {lq_size}
    use_hflip: true
    use_rot: true
    io_backend:
      type: disk
"""

NEOSR = """# neosr: the dataset part of a training config (paste into a template)
scale = {scale}

[datasets.train]
type = "paired"
dataroot_gt = '{hr}'
dataroot_lq = '{lr}'
meta_info = '{meta}'
patch_size = {lq_size}
batch_size = 8
use_hflip = true
use_rot = true
"""


@dataclass
class PairedDataset:
    """What ``write_paired_dataset`` wrote: the folders, the pairs' names, the config files."""

    root: Path
    names: list[str] = field(default_factory=list)
    configs: list[Path] = field(default_factory=list)

    @property
    def hr_dir(self) -> Path:
        return self.root / "hr"

    @property
    def lr_dir(self) -> Path:
        return self.root / "lr"


def check_output_outside_inputs(output_dir: Path, inputs: Iterable[str | Path]) -> None:
    """ValueError when ``output_dir`` is an input folder or inside one (or an input file's folder)."""
    out = Path(output_dir).resolve()
    for item in inputs:
        folder = Path(item).resolve()
        folder = folder if folder.is_dir() else folder.parent
        if out == folder or folder in out.parents:
            raise ValueError(f"output folder '{output_dir}' is inside the input folder '{item}'; "
                             "choose an output folder outside the inputs")


def write_paired_dataset(model: CycleSR, files: Iterable[tuple[Path, Path]], output_dir: str | Path,
                         inputs: Iterable[str | Path], *, lq_size: int = 64,
                         log: Optional[Callable[[str], None]] = None) -> PairedDataset:
    """Degrade every HR file with ``model.G`` and write the pairs, ``meta_info.txt`` and the two
    config snippets (see the module docstring). ``inputs``: the folders/files the user gave,
    checked against ``output_dir``; ``lq_size``: the LR patch size the snippets ask for."""
    result = PairedDataset(Path(output_dir))
    check_output_outside_inputs(result.root, inputs)
    files = list(files)
    names = [Path(rel).with_suffix(".png").as_posix() for _, rel in files]
    clash = next((n for n in names if names.count(n) > 1), None)
    if clash:
        raise ValueError(f"two inputs would both be written as '{clash}' (same name, other extension); "
                         "rename one")
    meta = []
    for (src, _), name in zip(files, names):
        hr = read_image(src).rgb
        lr = model.degrade_rgb(hr)
        hr = hr[:, : lr.shape[1] * model.scale, : lr.shape[2] * model.scale]  # exactly scale x LR
        write_image(result.hr_dir / name, hr)
        write_image(result.lr_dir / name, lr)
        meta.append(f"{name} ({hr.shape[1]},{hr.shape[2]},3)")
        result.names.append(name)
        if log:
            log(f"{src} -> {result.hr_dir / name}, {result.lr_dir / name}")
    result.configs = write_trainer_files(result, meta, model.scale, lq_size)
    return result


def write_trainer_files(dataset: PairedDataset, meta: list[str], scale: int, lq_size: int = 64) -> list[Path]:
    """``meta_info.txt`` (``meta``: its lines, ``NAME (H,W,C)``) and the traiNNer-redux and neosr
    dataset sections for the pairs in ``dataset.hr_dir`` / ``dataset.lr_dir``; returns the configs."""
    (dataset.root / "meta_info.txt").write_text("\n".join(meta) + "\n")
    paths = {"scale": scale, "hr": dataset.hr_dir.resolve().as_posix(),
             "lr": dataset.lr_dir.resolve().as_posix(), "lq_size": lq_size,
             "meta": (dataset.root / "meta_info.txt").resolve().as_posix()}
    written = []
    for name, template in (("traiNNer-redux.yml", TRAINNER_REDUX), ("neosr.toml", NEOSR)):
        (dataset.root / name).write_text(template.format(**paths))
        written.append(dataset.root / name)
    return written
