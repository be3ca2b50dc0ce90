"""Files and folders through a loaded model: what ``cyclesr upscale``, ``degrade`` and
``evaluate`` run, callable from Python with the same options.

Upscaling takes every image kind in and writes the same kind out; degrading writes PNG. In
both, a bad file is reported (to ``on_error``) and skipped while the good files are still
processed. Small images of the same size (and the same alpha-ness) run through the network as
one batch: a folder of thumbnails or video frames goes several times faster than image by image.

Before any work the output names are planned (``plan_outputs``): an output never replaces an
input file (refused, ValueError), two inputs that would get one output name are told apart by
their source extension (``a.gif`` -> ``a.gif.png`` beside ``a.png``, said in a note) or, when
that cannot tell them apart (the same relative name in two input folders), refused.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

import torch

from cyclesr.api.model import CycleSR, UpscaleOptions, out_of_memory_hint
from cyclesr.data.io import (IMAGE_EXTS, ImageReadError, LoadedImage, list_images, output_bit_depth,
                             read_image, write_image)
from cyclesr.ops.files import WriteError, remove_stale_temp_files

__all__ = ["FilesResult", "EvaluateOptions", "gather_inputs", "plan_outputs", "upscale_files",
           "degrade_files", "evaluate_folder", "BATCH_PIXELS", "MAX_BATCH"]

BATCH_PIXELS = 256 * 256  # images up to this many pixels may share a batch
MAX_BATCH = 8

Log = Optional[Callable[[str], None]]
OnError = Optional[Callable[[Path, str], None]]


@dataclass
class FilesResult:
    """What a run over files did: outputs written, inputs that failed (with why), seconds, and
    the notes of the planning (outputs renamed to keep their names apart)."""

    output_dir: Path
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
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


def _upscaled_ext(rel: Path) -> str:
    return rel.suffix if rel.suffix.lower() in IMAGE_EXTS else ".png"  # e.g. a .gif given by name


def _name_key(path: Path) -> str:
    """What makes two output paths the same file (case-insensitive where the system usually is)."""
    text = os.path.normcase(os.path.abspath(path))
    return text.lower() if sys.platform == "darwin" else text


def plan_outputs(files: Iterable[tuple[Path, Path]], output_dir: str | Path, suffix: str = "",
                 ext=_upscaled_ext) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(source, destination) for each (source, relative name) of ``files``: the relative name
    under ``output_dir`` with ``suffix`` and the extension ``ext(rel)``; and one note per output
    renamed. Inputs that would share an output keep their source extension in its name
    (``a.gif.png``), except the one whose extension the output has; what that cannot tell apart,
    and an output that would replace an input file, is refused (ValueError) before any work."""
    files = [(Path(src), Path(rel)) for src, rel in files]
    dests = [Path(output_dir) / rel.with_name(f"{rel.stem}{suffix}{ext(rel)}") for _, rel in files]
    groups: dict[str, list[int]] = {}
    for i, dest in enumerate(dests):
        groups.setdefault(_name_key(dest), []).append(i)
    notes = []
    for members in groups.values():
        for i in members if len(members) > 1 else ():
            src, rel = files[i]
            if rel.suffix.lower() != dests[i].suffix.lower():
                renamed = dests[i].with_name(f"{rel.name}{suffix}{dests[i].suffix}")
                notes.append(f"note: {src} would share the output {dests[i]} with another input; "
                             f"writing {renamed.name}")
                dests[i] = renamed
    first: dict[str, Path] = {}
    for (src, _), dest in zip(files, dests):
        other = first.setdefault(_name_key(dest), src)
        if other != src:
            raise ValueError(f"{other} and {src} would both be written as {dest}; give them to "
                             "separate runs with different -o folders, or rename one")
    inputs = {_name_key(Path(os.path.realpath(src))) for src, _ in files}
    inodes = {(st.st_dev, st.st_ino) for st in map(_stat, (src for src, _ in files)) if st}
    for (src, _), dest in zip(files, dests):
        st = _stat(dest)
        if _name_key(Path(os.path.realpath(dest))) in inputs or (st and (st.st_dev, st.st_ino) in inodes):
            raise ValueError(f"the output {dest} would overwrite the input {dest if st else src}: nothing "
                             "was written; choose an -o folder outside the input folders (or a --suffix)")
    return list(zip((src for src, _ in files), dests)), notes


def _stat(path: Path):
    try:
        return os.stat(path)
    except OSError:
        return None


def _prepare_output(output_dir: Path, dests: Iterable[Path], log: Log) -> None:
    """A writable output folder (WriteError, one line, before any work), without the temporary
    files that a killed earlier run left in the folders it writes."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot create the output folder '{output_dir}': {exc.strerror or exc}; "
                         "choose another -o") from None
    if not os.access(output_dir, os.W_OK | os.X_OK):
        raise WriteError(f"the output folder '{output_dir}' is not writable; choose another -o")
    for folder in sorted({d.parent for d in dests}):
        try:
            stale = remove_stale_temp_files(folder)
        except OSError:  # e.g. a path longer than PATH_MAX: writing there reports that file
            continue
        for tmp in stale:
            if log:
                log(f"removed {tmp} (an unfinished write of an earlier run)")


def _progress(enabled: bool, total: int, log: Log):
    """A tqdm bar over the files (or None) and the log function that prints above it."""
    if not enabled:
        return None, log
    from tqdm import tqdm  # local: only interactive runs draw a bar
    bar = tqdm(total=total, unit="img", desc="upscale", dynamic_ncols=True)
    return bar, (bar.write if log else None)


@dataclass
class _Job:
    src: Path
    dest: Path
    img: LoadedImage

    @property
    def key(self) -> tuple:
        return (*self.img.rgb.shape[-2:], self.img.alpha is not None)


def _read_jobs(plan: Iterable[tuple[Path, Path]], fail: Callable[[Path, str], None]):
    for src, dest in plan:
        try:
            yield _Job(Path(src), dest, read_image(src))
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


def _out_of_memory(exc: BaseException) -> bool:
    """MemoryError, or the allocation failures PyTorch raises as RuntimeError (CPU and CUDA)."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or any(
        k in text for k in ("out of memory", "not enough memory", "failed to allocate", "defaultcpuallocator"))


def upscale_files(model: CycleSR, files: Iterable[tuple[Path, Path]], output_dir: str | Path,
                  options: Optional[UpscaleOptions] = None, *, suffix: str = "",
                  log: Log = None, on_error: OnError = None, progress: bool = False) -> FilesResult:
    """Upscale ``files`` ((source, relative name) pairs, see ``gather_inputs``) into
    ``output_dir`` under their relative names (plus ``suffix``; see ``plan_outputs``), keeping
    format, bit depth, gray-ness, alpha, EXIF and ICC. ``log`` gets the planning notes and one
    line per file written, ``on_error`` each failure as it happens; ``progress``: a tqdm bar."""
    options = options or UpscaleOptions()
    result = FilesResult(Path(output_dir))
    plan, result.notes = plan_outputs(files, result.output_dir, suffix)
    _prepare_output(result.output_dir, (d for _, d in plan), log)
    bar, log = _progress(progress, len(plan), log)
    for note in result.notes:
        if log:
            log(note)
    start = time.time()

    def fail(src: Path, why: str) -> None:
        result.failed.append((src, why))
        if bar is not None:
            bar.update(1)
        if on_error:
            on_error(src, why)

    for batch in _batches(_read_jobs(plan, fail), options):
        h, w = batch[0].img.rgb.shape[-2:]
        rgb = torch.stack([j.img.rgb for j in batch])
        alpha = torch.stack([j.img.alpha for j in batch]) if batch[0].img.alpha is not None else None
        bits = max(output_bit_depth(j.dest, j.img.bit_depth) for j in batch)
        try:
            out, alpha_out = model.upscale_pixels(rgb, alpha, options, bits=bits)
        except (RuntimeError, MemoryError) as exc:  # e.g. out of memory: the other files may still work
            del rgb, alpha
            why = out_of_memory_hint(h, w, model.scale, options) if _out_of_memory(exc) else \
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__} (try a smaller --tile)"
            for j in batch:
                fail(j.src, f"failed to upscale {j.src}: {why}")
            continue
        for i, j in enumerate(batch):
            try:
                write_image(j.dest, out[i], alpha=None if alpha_out is None else alpha_out[i],
                            bit_depth=j.img.bit_depth, gray=j.img.was_gray, exif=j.img.exif, icc=j.img.icc)
            except (OSError, WriteError, MemoryError) as exc:
                reason = "not enough memory to encode it" if isinstance(exc, MemoryError) else \
                    getattr(exc, "strerror", None) or exc
                fail(j.src, f"cannot write {j.dest}: {reason}")
                continue
            result.written.append(j.dest)
            if bar is not None:
                bar.update(1)
            if log:
                log(f"{j.src} ({w}x{h}) -> {j.dest} ({out.shape[-2]}x{out.shape[-3]})")
    if bar is not None:
        bar.close()
    result.seconds = time.time() - start
    return result


def degrade_files(model: CycleSR, files: Iterable[tuple[Path, Path]], output_dir: str | Path,
                  *, log: Log = None, on_error: OnError = None) -> FilesResult:
    """Realistic LR of each HR file (``model.scale`` times smaller), written as PNG under its
    relative name (``plan_outputs``: ``a.jpg`` beside ``a.png`` becomes ``a.jpg.png``). A file
    that cannot be read or written is reported to ``on_error`` and skipped, as in upscaling."""
    result = FilesResult(Path(output_dir))
    plan, result.notes = plan_outputs(files, result.output_dir, ext=lambda rel: ".png")
    _prepare_output(result.output_dir, (d for _, d in plan), log)
    for note in result.notes:
        if log:
            log(note)
    start = time.time()
    for src, dest in plan:
        try:
            write_image(dest, model.degrade_rgb(read_image(src).rgb))
        except (ImageReadError, WriteError, OSError, RuntimeError) as exc:
            why = (f"cannot degrade {src} into {dest}: {exc.strerror or exc}" if isinstance(exc, OSError)
                   else str(exc).splitlines()[0])
            result.failed.append((Path(src), why))
            if on_error:
                on_error(Path(src), why)
            continue
        result.written.append(dest)
        if log:
            log(f"{src} -> {dest}")
    result.seconds = time.time() - start
    return result


def evaluate_folder(model: CycleSR, lr_dir: str | Path, hr_dir: Optional[str | Path] = None,
                    options: Optional[EvaluateOptions] = None, *, clean_hr_dir: Optional[str | Path] = None,
                    out_dir: Optional[str | Path] = None, progress: bool = False,
                    on_error: Optional[Callable[[str, str], None]] = None) -> dict:
    """PSNR/SSIM of the model and of bicubic on LR images matched to HR images by file stem
    (``cyclesr.eval.paired.evaluate_sr``'s result dict). Without ``hr_dir`` the dict also
    holds ``noref`` when the model has G: how close G's fake LR is to the real LR images
    (``cyclesr.eval.noref.evaluate_noref``; pseudo-PSNR with ``clean_hr_dir``)."""
    from cyclesr.eval.noref import evaluate_noref
    from cyclesr.eval.paired import evaluate_sr

    options = options or EvaluateOptions()
    result = evaluate_sr(model.sr, lr_dir, hr_dir, model.scale, shift_search=options.shift_search,
                         crop_border=options.crop_border, device=model.device, tile=options.tile,
                         out_dir=Path(out_dir) if out_dir else None, progress=progress,
                         on_error=on_error)
    if hr_dir is None and model.G is not None:
        result["noref"] = evaluate_noref(model.sr, model.G, lr_dir, model.scale,
                                         clean_hr_dir=clean_hr_dir, device=model.device)
    return result
