"""cyclesr.model builds the five networks from the specs: F mirrors G, D_X and D_Y take each
domain's channels, SR gets dataset.upscale where its constructor takes it."""
import pytest
import torch

from cyclesr.config import ConfigError, config_from_dict
from cyclesr.model import build_model, sr_kwargs

TINY = {"G": {"name": "ResnetGenerator", "input_nc": 1, "output_nc": 3, "ngf": 4, "n_blocks": 1,
              "n_downsampling": 0},
        "D": {"name": "HighPassDiscriminator", "ndf": 4, "n_layers": 1, "out_channels": 1},
        "sr": {"name": "VDSR", "SR_nb": 1, "SR_nf": 4, "input_nc": 3, "output_nc": 3}}


def test_mirrored_networks_and_domain_channels():
    model = build_model(config_from_dict({"dataset": {"upscale": 2}, "model": TINY}))
    assert model.G(torch.rand(1, 1, 8, 8)).shape[1] == 3 and model.F(torch.rand(1, 3, 8, 8)).shape[1] == 1
    assert model.D_X.model[0].in_channels == 2 * 1 and model.D_Y.model[0].in_channels == 2 * 3
    assert model.SR.scale == 2


def test_sr_without_an_upscale_argument(tmp_path):
    file = tmp_path / "fixed.py"
    file.write_text("from torch import nn\n"
                    "class FixedX2(nn.Module):\n"
                    "    scale = 2\n"
                    "    def __init__(self, width=4):\n"
                    "        super().__init__()\n"
                    "        self.conv = nn.Conv2d(3, 12, 3, padding=1)\n"
                    "        self.up = nn.PixelShuffle(2)\n"
                    "    def forward(self, x):\n"
                    "        return self.up(self.conv(x))\n")
    cfg = config_from_dict({"dataset": {"upscale": 2}, "model": {**TINY, "sr": {"name": f"{file}:FixedX2"}}})
    assert sr_kwargs(cfg) == {}
    assert build_model(cfg).SR.scale == 2


def test_camera_generator_takes_no_resnet_keys():
    model = build_model(config_from_dict({"model": {**TINY, "G": {"name": "CameraJpegGenerator"}}}))
    assert type(model.F).__name__ == "CameraJpegGenerator" and model.D_X.model[0].in_channels == 6


@pytest.mark.parametrize("spec, words", [
    ({"G": {"name": "ResnetGenerator", "norm": "group"}}, ["model.G", "norm"]),
    ({"G": {"name": "CameraJpegGenerator", "ngf": 16}}, ["model.G", "ngf"]),
    ({"D": {"name": "NoSuchD"}}, ["model.D", "NoSuchD"]),
])
def test_build_errors_name_file_and_key(spec, words):
    cfg = config_from_dict({"model": {**TINY, **spec}}, "mine.yml")
    with pytest.raises(ConfigError) as err:
        build_model(cfg)
    assert all(w in str(err.value) for w in ["mine.yml", *words])


def test_registered_only_refuses_import_paths():
    cfg = config_from_dict({"model": {**TINY, "sr": {"name": "cyclesr.nets.edsr:EDSR"}}}, "stored")
    assert type(build_model(cfg).SR).__name__ == "EDSR"  # product import paths read as the registered name
    cfg = config_from_dict({"model": {**TINY, "sr": {"name": "os:system"}}}, "stored")
    with pytest.raises(ConfigError, match="stored.*os:system"):
        build_model(cfg, registered_only=True)
