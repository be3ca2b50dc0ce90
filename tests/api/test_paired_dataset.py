"""`cyclesr degrade --paired`: hr/ and lr/ with the same names, BasicSR's meta_info.txt, and
config snippets for traiNNer-redux and neosr that point at them."""
import tomllib

import numpy as np
import pytest
import yaml
from PIL import Image

from cyclesr.cli import main
from cyclesr.data.io import read_image


@pytest.fixture
def hr_folder(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "hr_in" / "sub").mkdir(parents=True)
    for name, (h, w) in {"a.png": (24, 16), "sub/b.jpg": (21, 19)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / "hr_in" / name)
    return tmp_path / "hr_in"


def test_paired_dataset_layout_and_configs(tiny_model_dir, hr_folder, tmp_path):
    out = tmp_path / "pairs"
    assert main(["degrade", "--checkpoint", str(tiny_model_dir), str(hr_folder), "-o", str(out),
                 "--paired", "--lq-size", "32"]) == 0
    names = sorted(p.relative_to(out / "hr").as_posix() for p in (out / "hr").rglob("*.png"))
    assert names == ["a.png", "sub/b.png"]
    assert names == sorted(p.relative_to(out / "lr").as_posix() for p in (out / "lr").rglob("*.png"))
    scale = yaml.safe_load((out / "traiNNer-redux.yml").read_text())["scale"]
    for name in names:
        hr, lr = read_image(out / "hr" / name).rgb, read_image(out / "lr" / name).rgb
        assert hr.shape[1:] == (lr.shape[1] * scale, lr.shape[2] * scale)
    meta = (out / "meta_info.txt").read_text().splitlines()
    assert meta == ["a.png (24,16,3)", f"sub/b.png ({21 // scale * scale},{19 // scale * scale},3)"]
    redux = yaml.safe_load((out / "traiNNer-redux.yml").read_text())["datasets"]["train"]
    assert redux["dataroot_gt"] == [(out / "hr").resolve().as_posix()] and redux["lq_size"] == 32
    neosr = tomllib.loads((out / "neosr.toml").read_text())
    assert neosr["scale"] == scale and neosr["datasets"]["train"]["dataroot_lq"] == (out / "lr").resolve().as_posix()


def test_never_writes_into_an_input_folder(tiny_model_dir, hr_folder, capsys):
    before = sorted(hr_folder.rglob("*"))
    assert main(["degrade", "--checkpoint", str(tiny_model_dir), str(hr_folder), "-o",
                 str(hr_folder / "pairs"), "--paired"]) != 0
    assert "inside the input folder" in capsys.readouterr().err
    assert sorted(hr_folder.rglob("*")) == before


def test_synth_writes_the_same_paired_layout_from_a_recipe(hr_folder, tmp_path, capsys):
    out = tmp_path / "synth_pairs"
    assert main(["synth", "--hr", str(hr_folder), "-o", str(out), "--recipe", "blur(sigma=1) > down(scale=2)",
                 "--paired", "--lq-size", "16"]) == 0
    names = sorted(p.relative_to(out / "hr").as_posix() for p in (out / "hr").rglob("*.png"))
    assert names == ["a.png", "sub/b.png"]
    assert names == sorted(p.relative_to(out / "lr").as_posix() for p in (out / "lr").rglob("*.png"))
    for name in names:
        hr, lr = read_image(out / "hr" / name).rgb, read_image(out / "lr" / name).rgb
        assert hr.shape[1:] == (lr.shape[1] * 2, lr.shape[2] * 2)
    assert (out / "meta_info.txt").read_text().splitlines() == ["a.png (24,16,3)", "sub/b.png (20,18,3)"]
    redux = yaml.safe_load((out / "traiNNer-redux.yml").read_text())
    assert redux["scale"] == 2 and redux["datasets"]["train"]["lq_size"] == 16
    assert tomllib.loads((out / "neosr.toml").read_text())["scale"] == 2
    before = sorted(hr_folder.rglob("*"))  # and never into its input folder
    assert main(["synth", "--hr", str(hr_folder), "-o", str(hr_folder / "x"), "--recipe", "mild", "--paired"]) == 2
    assert "inside the input folder" in capsys.readouterr().err and sorted(hr_folder.rglob("*")) == before
