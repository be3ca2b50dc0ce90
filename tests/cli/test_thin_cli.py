"""The CLI is a thin layer: flags become the options object the Python API uses (same defaults,
automatic tile size included), errors are one line, and `cyclesr --help` imports no torch."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import cyclesr
import cyclesr.api.model as api_model
from cyclesr.api.model import UpscaleOptions
from cyclesr.cli import COMMANDS, build_parser, main
from cyclesr.cli.upscale import options_from


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return tiny_model_dir


def _upscale_args(*flags):
    return build_parser("upscale").parse_args(["upscale", "--checkpoint", "m", "in.png", "-o", "out", *flags])


def test_upscale_flags_not_given_keep_the_api_defaults(capsys):
    assert options_from(_upscale_args()) == UpscaleOptions()
    asked = options_from(_upscale_args("--tile", "64", "--tile-pad", "4", "--tta", "--color-fix",
                                       "--outscale", "3", "--half"))
    assert asked == UpscaleOptions(tile=64, tile_pad=4, tta=True, color_fix=True, outscale=3.0, half=True)
    with pytest.raises(SystemExit):
        main(["upscale", "--help"])
    assert f"(default {UpscaleOptions().tile_pad})" in capsys.readouterr().out


def test_api_and_cli_choose_the_same_automatic_tile(model_dir, tmp_path, monkeypatch):
    tiles = []
    real, real_pixels = api_model.upscale_image, api_model.upscale_image_pixels
    monkeypatch.setattr(api_model, "auto_tile_size", lambda h, w, *a, **k: 8)
    monkeypatch.setattr(api_model, "upscale_image",
                        lambda *a, **k: tiles.append(k["tile"]) or real(*a, **k))
    monkeypatch.setattr(api_model, "upscale_image_pixels",  # the CLI's path: integer output
                        lambda *a, **k: tiles.append(k["tile"]) or real_pixels(*a, **k))
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 12, 3), np.uint8))
    image.save(tmp_path / "a.png")
    api_out = cyclesr.load(model_dir, device="cpu").upscale(image)
    assert main(["upscale", "--checkpoint", str(model_dir), str(tmp_path / "a.png"),
                 "-o", str(tmp_path / "out"), "--device", "cpu"]) == 0
    assert tiles == [8, 8]
    assert np.array_equal(np.asarray(api_out), np.asarray(Image.open(tmp_path / "out" / "a.png")))


def test_bad_options_and_inputs_are_one_line_errors(model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CYCLESR_DEBUG", raising=False)
    (tmp_path / "a.png").write_bytes(b"")
    for args, words in ((["--outscale", "0"], "outscale must be a positive"),
                        (["--tile", "-4"], "tile must be a positive")):
        assert main(["upscale", "--checkpoint", str(model_dir), str(tmp_path / "a.png"),
                     "-o", str(tmp_path / "o"), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1
    assert main(["degrade", "--checkpoint", str(model_dir), str(tmp_path / "missing"), "-o", "x"]) == 2
    assert "does not exist" in capsys.readouterr().err
    monkeypatch.setenv("CYCLESR_DEBUG", "1")  # the full traceback, for bug reports
    with pytest.raises(FileNotFoundError):
        main(["degrade", "--checkpoint", str(model_dir), str(tmp_path / "missing"), "-o", "x"])


def test_every_command_has_examples(capsys):
    for command in COMMANDS:
        if command == "bench":  # bench's own parsers (cyclesr.bench) list its benchmarks
            continue
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "examples:" in capsys.readouterr().out, command


def test_help_is_fast_and_lists_every_command():
    code = ("import sys; from cyclesr.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'LIGHT')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("LIGHT")
    assert all(f"    {name}" in out for name in COMMANDS)


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "cyclesr", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("cyclesr ")
