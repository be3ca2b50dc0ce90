"""Nothing a user owns is overwritten by `upscale` or `degrade`: an output that would replace an
input is refused before any work, inputs that would share an output name are told apart (or
refused), bad files are skipped and reported the same way in both commands, and what a killed
run left behind is cleaned up."""
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cyclesr
from cyclesr.api.files import degrade_files, gather_inputs, plan_outputs, upscale_files
from cyclesr.cli import main
from cyclesr.ops.files import TEMP_SUFFIX, atomic_write_bytes, remove_stale_temp_files


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return cyclesr.load(tiny_model_dir, device="cpu")


def save(path: Path, seed: int = 0, size=(16, 12), fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path, format=fmt)
    return path


def hashes(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    save(folder / "a.png", 0)
    save(folder / "sub" / "b.png", 1)
    save(folder / "out" / "a.png", 2)  # e.g. the output of an earlier run into photos/out
    return folder


@pytest.mark.parametrize("output", [".", "out"])  # the input folder itself, a folder inside it
@pytest.mark.parametrize("command", ["upscale", "degrade"])
def test_an_output_inside_the_inputs_overwrites_nothing(photos, tiny_model_dir, capsys, command, output):
    before = hashes(photos)
    rc = main([command, "--checkpoint", str(tiny_model_dir), str(photos), "-o", str(photos / output)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("error: the output ")
    assert "would overwrite the input" in err and "-o folder outside" in err
    assert hashes(photos) == before  # every input byte for byte, and nothing added


def test_a_suffix_keeps_outputs_beside_their_inputs(photos, model):
    before = hashes(photos)
    (photos / "out").rename(photos.parent / "elsewhere")
    before = {k: v for k, v in before.items() if not k.startswith("out/")}
    result = upscale_files(model, gather_inputs([photos]), photos, suffix="_x2")
    assert sorted(p.relative_to(photos).as_posix() for p in result.written) == ["a_x2.png", "sub/b_x2.png"]
    assert {k: v for k, v in hashes(photos).items() if k in before} == before


def test_inputs_that_would_share_an_output_name_keep_their_extension(tmp_path, model):
    folder = tmp_path / "in"
    for i, (name, fmt) in enumerate((("a.png", "PNG"), ("a.gif", "GIF"), ("a.tga", "TGA"))):
        save(folder / name, i, fmt=fmt)
    files = [(folder / n, Path(n)) for n in ("a.png", "a.gif", "a.tga")]
    lines = []
    result = upscale_files(model, files, tmp_path / "out", log=lines.append)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.gif.png", "a.png", "a.tga.png"]
    assert len(result.written) == 3 and len(result.notes) == 2
    assert all(note in lines for note in result.notes) and "writing a.gif.png" in " ".join(result.notes)
    for name in ("a.png", "a.gif.png", "a.tga.png"):
        assert Image.open(tmp_path / "out" / name).size == (32, 24)


def test_degrade_keeps_a_png_and_a_jpg_apart(tmp_path, model):
    save(tmp_path / "hr" / "a.png", 0)
    save(tmp_path / "hr" / "a.jpg", 1)
    result = degrade_files(model, gather_inputs([tmp_path / "hr"]), tmp_path / "lr")
    assert sorted(p.name for p in result.written) == ["a.jpg.png", "a.png"] and result.notes


def test_two_folders_with_the_same_names_are_refused_before_any_work(tmp_path, tiny_model_dir, capsys):
    save(tmp_path / "one" / "a.png", 0)
    save(tmp_path / "two" / "a.png", 1)
    with pytest.raises(ValueError, match="would both be written as"):
        plan_outputs(gather_inputs([tmp_path / "one", tmp_path / "two"]), tmp_path / "out")
    for command in ("upscale", "degrade"):
        rc = main([command, "--checkpoint", str(tiny_model_dir), str(tmp_path / "one"), str(tmp_path / "two"),
                   "-o", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and "would both be written as" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["upscale", "degrade"])
def test_bad_files_are_skipped_reported_and_fail_the_exit_code(tmp_path, tiny_model_dir, capsys, command):
    save(tmp_path / "in" / "good.png", 0)
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "in" / "empty.jpg").write_bytes(b"")
    rc = main([command, "--checkpoint", str(tiny_model_dir), str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert rc == 1  # as upscale always did: the others are done, the exit code says some failed
    errors = err.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("error: ") for e in errors)
    assert any("broken.png" in e for e in errors) and any("empty.jpg" in e for e in errors)
    assert (tmp_path / "out" / "good.png").is_file() and "2 failed" in out


def test_evaluate_skips_bad_images_like_upscale(tmp_path, tiny_model_dir, capsys):
    for name in ("good", "broken"):  # the tiny model is x2
        save(tmp_path / "hr" / f"{name}.png", 0, size=(48, 40))
    save(tmp_path / "lr" / "good.png", 0, size=(24, 20))
    (tmp_path / "lr" / "broken.png").write_bytes(b"not a png")
    rc = main(["evaluate", "--checkpoint", str(tiny_model_dir), "--lr", str(tmp_path / "lr"),
               "--hr", str(tmp_path / "hr"), "--json", str(tmp_path / "eval.json")])
    out, err = capsys.readouterr()
    assert rc == 1 and "(1 images)" in out  # the good pair is scored, the exit code says one failed
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "broken.png" in errors[0]
    assert "broken" in err.splitlines()[-1] and "skipped" in err.splitlines()[-1]

def test_stale_temporary_files_of_a_killed_run_are_removed_and_no_others(tmp_path, model):
    save(tmp_path / "in" / "sub" / "a.png")
    out = tmp_path / "out" / "sub"
    out.mkdir(parents=True)
    dead = f".a.png.{2 ** 22 + 12345}.k9x2ab_1{TEMP_SUFFIX}"  # a pid above the usual pid_max
    live = f".b.png.{os.getpid()}.zzzzzzzz{TEMP_SUFFIX}"  # a writer that still runs
    for name in (dead, live, ".notes.tmp", "mine.tmp"):
        (out / name).write_bytes(b"partial")
    lines = []
    upscale_files(model, gather_inputs([tmp_path / "in"]), tmp_path / "out", log=lines.append)
    assert sorted(p.name for p in out.iterdir()) == sorted([live, ".notes.tmp", "mine.tmp", "a.png"])
    assert any("removed" in line and dead in line for line in lines)


def test_a_name_at_the_file_system_limit_can_be_written(tmp_path):
    name = "x" * 246 + ".png"  # 250 characters; the temporary name must stay under 255
    path = atomic_write_bytes(tmp_path / name, b"data")
    assert path.read_bytes() == b"data" and [p.name for p in tmp_path.iterdir()] == [name]
    assert remove_stale_temp_files(tmp_path) == []


def test_a_read_only_output_folder_is_one_line(tmp_path, tiny_model_dir, capsys):
    save(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        if os.access(out, os.W_OK):
            pytest.skip("running with rights that write into a read-only folder (root)")
        rc = main(["upscale", "--checkpoint", str(tiny_model_dir), str(tmp_path / "in"), "-o", str(out)])
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "is not writable" in err and str(out) in err


def test_upscale_shows_a_progress_bar_only_when_asked(tmp_path, model, tiny_model_dir, capsys):
    for i in range(3):
        save(tmp_path / "in" / f"{i}.png", i)
    upscale_files(model, gather_inputs([tmp_path / "in"]), tmp_path / "a")
    assert "3/3" not in capsys.readouterr().err
    upscale_files(model, gather_inputs([tmp_path / "in"]), tmp_path / "b", progress=True)
    assert "3/3" in capsys.readouterr().err
    # the CLI draws it on a terminal only (pytest's stderr is not one) and never with --no-progress
    assert main(["upscale", "--checkpoint", str(tiny_model_dir), str(tmp_path / "in"), "-o", str(tmp_path / "c")]) == 0
    assert "3/3" not in capsys.readouterr().err


def test_an_image_name_at_the_file_system_limit_can_be_written_and_its_temp_is_recognised(tmp_path, monkeypatch):
    from cyclesr.data import io
    import torch

    name = "y" * 246 + ".png"
    io.write_image(tmp_path / name, torch.zeros(3, 4, 4))
    assert [p.name for p in tmp_path.iterdir()] == [name]

    def killed(src, dst):  # the process dies between writing the temporary file and renaming it
        raise KeyboardInterrupt
    monkeypatch.setattr(io.os, "replace", killed)
    left = []
    monkeypatch.setattr(io.Path, "unlink", lambda self, missing_ok=False: left.append(self))
    with pytest.raises(KeyboardInterrupt):
        io.write_image(tmp_path / "z.png", torch.zeros(3, 4, 4))
    monkeypatch.undo()
    assert left and left[0].exists() and left[0].name.endswith(TEMP_SUFFIX)
    assert str(os.getpid()) in left[0].name  # its writer runs: kept until it does not
