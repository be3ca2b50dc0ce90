"""Earlier layouts: network keys in a ``cyclegan:`` block map onto model.G / model.D; configs
stored by earlier versions (checkpoints) keep loading; our layout round-trips."""
import pytest

from cyclesr.config import ConfigError, NetSpec, config_from_dict, dump_config
from cyclesr.config.layouts import legacy_net

import yaml

# what the previous version stored in a camera-jpeg checkpoint (its dump of the old dataclasses)
OLD_CAMERA_DUMP = {
    "dataset": {"upscale": 4},
    "model": {
        "cycleSR_lam": 0.0,
        "cyclegan": {"input_nc": 3, "output_nc": 3, "ngf": 16, "ndf": 32, "n_layers_D": 2, "norm": "instance",
                     "lambda_cycle": 0.0, "lambda_identity": 0.0, "lambda_lowfreq": 0.0, "buffer_size": 50,
                     "up_mode": "transpose", "n_blocks": 2, "n_downsampling": 0, "d_out_channels": 1,
                     "generator": "cyclesr.nets.degrader:CameraJpegGenerator",
                     "discriminator": "cyclesr.nets.degrader:HighPassDiscriminator"},
        "sr": {"name": "cyclesr.nets.fastsr:BicubicResidualSR", "kwargs": {"num_feat": 48, "num_block": 8}},
    },
}


def test_old_layout_maps_onto_specs_with_the_old_defaults():
    cfg = config_from_dict({"model": {"cyclegan": {"ngf": 4, "n_layers_D": 2, "d_out_channels": None,
                                                   "norm": "batch", "lambda_cycle": 5.0}}})
    assert cfg.model.G == NetSpec("ResnetGenerator", {"input_nc": 3, "output_nc": 3, "ngf": 4, "n_blocks": 9,
                                                      "norm": "batch", "up_mode": "transpose",
                                                      "n_downsampling": 2})
    assert cfg.model.D == NetSpec("NLayerDiscriminator", {"ndf": 64, "n_layers": 2, "norm": "batch"})
    assert cfg.model.cyclegan.lambda_cycle == 5.0


def test_a_checkpoint_config_of_the_previous_version_loads():
    cfg = config_from_dict(OLD_CAMERA_DUMP, "old.pt")
    assert cfg.model.G == NetSpec("CameraJpegGenerator", {"input_nc": 3, "output_nc": 3})
    assert cfg.model.D == NetSpec("HighPassDiscriminator",
                                  {"ndf": 32, "n_layers": 2, "norm": "instance", "out_channels": 1})
    assert cfg.model.sr == NetSpec("BicubicResidualSR", {"num_feat": 48, "num_block": 8})
    assert cfg.model.cyclegan.lambda_cycle == 0.0


def test_another_generator_with_resnet_keys_is_refused():
    raw = {"model": {"cyclegan": {"generator": "my_nets.py:MyG", "ngf": 16, "n_blocks": 2}}}
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw, "mine.yml")
    message = str(err.value)
    assert "mine.yml" in message and "model.cyclegan.ngf" in message and "model.G: {name: my_nets.py:MyG" in message
    cfg = config_from_dict({"model": {"cyclegan": {"generator": "my_nets.py:MyG", "norm": "batch"}}})
    assert cfg.model.G == NetSpec("my_nets.py:MyG", {}) and cfg.model.D.kwargs["norm"] == "batch"


def test_old_jpeg_generator_had_to_work_at_full_resolution():
    raw = {"model": {"cyclegan": {"generator": "CameraJpegGenerator", "n_downsampling": 2}}}
    with pytest.raises(ConfigError, match="n_downsampling must be 0"):
        config_from_dict(raw, "old.yml")
    assert legacy_net("cyclesr.nets.degrader:CameraJpegGenerator", {"ngf": 16, "n_downsampling": 0}, "x") \
        == ("CameraJpegGenerator", {})
    assert legacy_net("ResnetGenerator", {"ngf": 16}, "x") == ("ResnetGenerator", {"ngf": 16})


def test_set_refines_a_network_of_an_earlier_layout_and_conflicts_are_named():
    raw = {"cyclegan": {"ngf": 64, "n_blocks": 9}}  # the seed's flat layout
    cfg = config_from_dict(raw, "seed.yml", ["model.G.ngf=8", "model.D.ndf=8"])
    assert cfg.model.G.name == "ResnetGenerator" and cfg.model.G.kwargs["ngf"] == 8
    assert cfg.model.G.kwargs["n_blocks"] == 9 and cfg.model.D.kwargs["ndf"] == 8
    with pytest.raises(ConfigError, match="seed.yml.*model.G"):
        config_from_dict(raw, "seed.yml", ["model.G.name=ResnetGenerator"])


def test_specs_without_a_name_use_the_default_network():
    cfg = config_from_dict({"model": {"G": {"ngf": 8}, "sr": {"SR_nb": 2}}})
    assert cfg.model.G == NetSpec("ResnetGenerator", {"ngf": 8})
    assert cfg.model.sr == NetSpec("VDSR", {"SR_nb": 2})


def test_our_layout_round_trips_as_yaml():
    cfg = config_from_dict(OLD_CAMERA_DUMP, "old.pt")
    text = dump_config(cfg)
    assert yaml.safe_load(text)["model"]["G"] == {"name": "CameraJpegGenerator", "input_nc": 3, "output_nc": 3}
    again = config_from_dict(yaml.safe_load(text), "old.pt")
    assert again == cfg and config_from_dict(cfg.to_dict(), "old.pt") == cfg
