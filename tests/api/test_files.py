"""`cyclesr.api.files` from Python: what `cyclesr upscale`, `degrade` and `evaluate` run."""
import numpy as np
import pytest
from PIL import Image

import cyclesr
from cyclesr.api.files import (EvaluateOptions, degrade_files, evaluate_folder, gather_inputs,
                               upscale_files)
from cyclesr.api.model import UpscaleOptions


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return cyclesr.load(tiny_model_dir, device="cpu")


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        Image.fromarray(rng.integers(0, 256, (24, 16, 3), dtype=np.uint8)).save(tmp_path / "in" / name)
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    return tmp_path / "in"


def test_upscale_files_reports_what_it_did(model, folder, tmp_path):
    files = gather_inputs([folder])
    assert sorted(rel.as_posix() for _, rel in files) == ["a.png", "broken.png", "sub/b.png"]
    lines, errors = [], []
    result = upscale_files(model, files, tmp_path / "out", UpscaleOptions(outscale=3), suffix="_x3",
                           log=lines.append, on_error=lambda src, why: errors.append(src.name))
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in result.written) == ["a_x3.png", "sub/b_x3.png"]
    assert Image.open(tmp_path / "out" / "a_x3.png").size == (48, 72)
    assert errors == ["broken.png"] and [s.name for s, _ in result.failed] == ["broken.png"]
    assert len(lines) == 2


def test_degrade_and_evaluate_folders(model, folder, tmp_path):
    (folder / "broken.png").unlink()
    result = degrade_files(model, gather_inputs([folder]), tmp_path / "lr")
    assert len(result.written) == 2 and Image.open(tmp_path / "lr" / "sub" / "b.png").size == (8, 12)
    (tmp_path / "hr").mkdir()
    for name in ("a", "b"):
        Image.fromarray(np.zeros((24, 16, 3), np.uint8)).save(tmp_path / "hr" / f"{name}.png")
    (tmp_path / "flat").mkdir()
    for path in (tmp_path / "lr").rglob("*.png"):
        Image.open(path).save(tmp_path / "flat" / path.name)
    scores = evaluate_folder(model, tmp_path / "flat", tmp_path / "hr", EvaluateOptions(crop_border=0))
    assert scores["count"] == 2 and set(scores["mean"]["cyclesr"]) >= {"psnr_y", "ssim_y"}


def test_missing_inputs_are_named():
    with pytest.raises(FileNotFoundError, match="'nowhere' does not exist"):
        gather_inputs(["nowhere"])
