"""Files and folders through a loaded model: what ``cyclesr upscale``, ``degrade`` and
``evaluate`` run, callable from Python with the same options.

Upscaling takes every image kind in and writes the same kind out; a bad file is reported (to
``on_error``) and skipped while the good files are still processed. Small images of the same
size (and the same alpha-ness) run through the network as one batch: a folder of thumbnails or
video frames goes several times faster than image by image.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

import torch

from cyclesr.api.model import CycleSR, UpscaleOptions
from cyclesr.data.io import IMAGE_EXTS, ImageReadError, LoadedImage, list_images, read_image, write_image

__all__ = ["FilesResult", "EvaluateOptions", "gather_inputs", "upscale_files", "degrade_files",
           "evaluate_folder", "BATCH_PIXELS", "MAX_BATCH"]

BATCH_PIXELS = 256 * 256  # images up to this many pixels may share a batch
MAX_BATCH = 8

Log = Optional[Callable[[str], None]]
OnError = Optional[Callable[[Path, str], None]]


@dataclass
class FilesResult:
    """What a run over files did: outputs written, inputs that failed (with why), seconds."""

    output_dir: Path
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class EvaluateOptions:
    """``shift_search``: best integer shift within this radius; ``crop_border``: pixels ignored
    at the border (None: the scale); ``tile``: tile side in LR pixels (None: whole images)."""

    shift_search: int = 0
    crop_border: Optional[int] = None
    tile: Optional[int] = None


def gather_inputs(inputs: Iterable[str | Path]) -> list[tuple[Path, Path]]:
    """(file, path relative to its input root) for every image in the given files and folders
    (folders recursively)."""
    inputs = list(inputs)
    found = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found += [(f, f.relative_to(p)) for f in list_images(p)]
        elif p.is_file():
            found.append((p, Path(p.name)))
        else:
            raise FileNotFoundError(f"input '{item}' does not exist")
    if not found:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_EXTS))}) in {[str(i) for i in inputs]}")
    return found


@dataclass
class _Job:
    src: Path
    rel: Path
    img: LoadedImage

    @property
    def key(self) -> tuple:
        return (*self.img.rgb.shape[-2:], self.img.alpha is not None)


def _destination(out_root: Path, rel: Path, suffix: str) -> Path:
    ext = rel.suffix if rel.suffix.lower() in IMAGE_EXTS else ".png"  # e.g. a .gif given by name
    return out_root / rel.with_name(f"{rel.stem}{suffix}{ext}")


def _read_jobs(files: Iterable[tuple[Path, Path]], fail: Callable[[Path, str], None]):
    for src, rel in files:
        try:
            yield _Job(Path(src), Path(rel), read_image(src))
        except ImageReadError as exc:
            fail(Path(src), str(exc))
        except OSError as exc:
            fail(Path(src), f"cannot read {src}: {exc.strerror or exc}")


def _batches(jobs: Iterable[_Job], options: UpscaleOptions):
    """Runs of same-size small images (up to MAX_BATCH), other images alone; with a fixed
    tile size every image goes alone."""
    pending: list[_Job] = []
    for job in jobs:
        h, w = job.img.rgb.shape[-2:]
        fits = options.tile is None and h * w <= BATCH_PIXELS
        if pending and (not fits or job.key != pending[0].key or len(pending) >= MAX_BATCH):
            yield pending
            pending = []
        if fits:
            pending.append(job)
        else:
            yield [job]
    if pending:
        yield pending


def upscale_files(model: CycleSR, files: Iterable[tuple[Path, Path]], output_dir: str | Path,
                  options: Optional[UpscaleOptions] = None, *, suffix: str = "",
                  log: Log = None, on_error: OnError = None) -> FilesResult:
    """Upscale ``files`` ((source, relative name) pairs, see ``gather_inputs``) into
    ``output_dir`` under their relative names (plus ``suffix``), keeping format, bit depth,
    gray-ness, alpha, EXIF and ICC. ``log`` gets one line per file written, ``on_error`` each
    failure as it happens."""
    options = options or UpscaleOptions()
    result = FilesResult(Path(output_dir))
    start = time.time()

    def fail(src: Path, why: str) -> None:
        result.failed.append((src, why))
        if on_error:
            on_error(src, why)

    for batch in _batches(_read_jobs(files, fail), options):
        h, w = batch[0].img.rgb.shape[-2:]
        rgb = torch.stack([j.img.rgb for j in batch])
        alpha = torch.stack([j.img.alpha for j in batch]) if batch[0].img.alpha is not None else None
        try:
            out, alpha_out = model.upscale_rgb(rgb, alpha, options)
        except RuntimeError as exc:  # e.g. out of memory: the other files may still work
            for j in batch:
                fail(j.src, f"failed to upscale {j.src}: {str(exc).splitlines()[0]} (try a smaller tile)")
            continue
        for i, j in enumerate(batch):
            dest = _destination(result.output_dir, j.rel, suffix)
            try:
                write_image(dest, out[i], alpha=None if alpha_out is None else alpha_out[i],
                            bit_depth=j.img.bit_depth, gray=j.img.was_gray, exif=j.img.exif, icc=j.img.icc)
            except OSError as exc:
                fail(j.src, f"cannot write {dest}: {exc.strerror or exc}")
                continue
            result.written.append(dest)
            if log:
                log(f"{j.src} ({w}x{h}) -> {dest} ({out.shape[-1]}x{out.shape[-2]})")
    result.seconds = time.time() - start
    return result


def degrade_files(model: CycleSR, files: Iterable[tuple[Path, Path]], output_dir: str | Path,
                  *, log: Log = None) -> FilesResult:
    """Realistic LR of each HR file (``model.scale`` times smaller), written as PNG under its
    relative name. A file that cannot be read stops the run (ImageReadError)."""
    result = FilesResult(Path(output_dir))
    start = time.time()
    for src, rel in files:
        dest = write_image(result.output_dir / Path(rel).with_suffix(".png"),
                           model.degrade_rgb(read_image(src).rgb))
        result.written.append(dest)
        if log:
            log(f"{src} -> {dest}")
    result.seconds = time.time() - start
    return result


def evaluate_folder(model: CycleSR, lr_dir: str | Path, hr_dir: Optional[str | Path] = None,
                    options: Optional[EvaluateOptions] = None, *, clean_hr_dir: Optional[str | Path] = None,
                    out_dir: Optional[str | Path] = None, progress: bool = False) -> dict:
    """PSNR/SSIM of the model and of bicubic on LR images matched to HR images by file stem
    (``cyclesr.eval.paired.evaluate_sr``'s result dict). Without ``hr_dir`` the dict also
    holds ``noref`` when the model has G: how close G's fake LR is to the real LR images
    (``cyclesr.eval.noref.evaluate_noref``; pseudo-PSNR with ``clean_hr_dir``)."""
    from cyclesr.eval.noref import evaluate_noref
    from cyclesr.eval.paired import evaluate_sr

    options = options or EvaluateOptions()
    result = evaluate_sr(model.sr, lr_dir, hr_dir, model.scale, shift_search=options.shift_search,
                         crop_border=options.crop_border, device=model.device, tile=options.tile,
                         out_dir=Path(out_dir) if out_dir else None, progress=progress)
    if hr_dir is None and model.G is not None:
        result["noref"] = evaluate_noref(model.sr, model.G, lr_dir, model.scale,
                                         clean_hr_dir=clean_hr_dir, device=model.device)
    return result
