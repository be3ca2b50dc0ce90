"""Config loading: the three layouts, network specs, overrides, and clear errors."""
from pathlib import Path

import pytest
import yaml

from cyclesr.config import ConfigError, NetSpec, config_from_dict, load_config

REPO = Path(__file__).resolve().parents[2]
VEGA = REPO.parent / "shared" / "reference" / "vega-layout-cyclesr.yml"

SEED_FLAT = """
cyclegan: {input_nc: 3, output_nc: 3, ngf: 64, ndf: 64, n_layers_D: 3, norm: instance,
           lambda_cycle: 10.0, lambda_identity: 0.5, buffer_size: 50, up_mode: transpose}
VDSR: {name: VDSR, SR_nb: 20, SR_nf: 64, SR_norm_type: batch, upscale: 4, input_nc: 3, output_nc: 3}
trainer: {type: Trainer, callbacks: CyclesrTrainerCallback, lazy_built: True, n_epoch: 100,
          n_epoch_decay: 100, val_ps_offset: 10, lr_policy: linear}
model:
  model_desc:
    modules: ["custom"]
    custom: {type: CycleSRModel, SR_lam: 1000, cycleSR_lam: 1000, grad_clip: 50,
             cyc_lr: !!float 2e-4, SR_lr: !!float 1e-4}
"""


@pytest.mark.skipif(not VEGA.is_file(), reason="shared reference config not present")
def test_vega_layout_loads():
    cfg = load_config(VEGA)
    assert cfg.dataset.upscale == 4
    assert cfg.dataset.train.crop_size == 32 and cfg.dataset.train.batch_size == 16
    assert cfg.dataset.test.val_ps_offset == 10
    assert cfg.model.SR_lam == 1000 and cfg.model.cyc_lr == pytest.approx(2e-4)
    assert cfg.model.G.name == "ResnetGenerator"
    assert cfg.model.G.kwargs["ngf"] == 64 and cfg.model.G.kwargs["up_mode"] == "transpose"
    assert cfg.model.D == NetSpec("NLayerDiscriminator", {"ndf": 64, "n_layers": 3, "norm": "instance"})
    assert cfg.model.sr.name == "VDSR" and cfg.model.sr.kwargs["SR_nb"] == 20
    assert cfg.trainer.n_epoch == 100 and cfg.trainer.eval_epoch == 5


def test_seed_flat_layout_loads():
    cfg = config_from_dict(yaml.safe_load(SEED_FLAT), "seed.yml")
    assert cfg.model.cycleSR_lam == 1000 and cfg.model.SR_lr == pytest.approx(1e-4)
    assert cfg.model.cyclegan.lambda_identity == 0.5
    assert cfg.model.sr.kwargs["SR_norm_type"] == "batch"
    assert cfg.trainer.lr_policy == "linear"


def test_shipped_reference_config_equals_seed():
    ours = load_config(REPO / "configs" / "cyclesr_x4.yml")
    flat = config_from_dict(yaml.safe_load(SEED_FLAT), "seed.yml")
    assert ours.model.cyclegan == flat.model.cyclegan
    assert ours.model.G == flat.model.G and ours.model.D == flat.model.D
    for key in ("SR_lam", "cycleSR_lam", "grad_clip", "cyc_lr", "SR_lr"):
        assert getattr(ours.model, key) == getattr(flat.model, key)
    flat_sr = {k: v for k, v in flat.model.sr.kwargs.items() if k != "upscale"}
    assert ours.model.sr.name == flat.model.sr.name and ours.model.sr.kwargs == flat_sr
    assert ours.trainer == flat.trainer


@pytest.mark.parametrize("name", ["cyclesr_x4.yml", "cpu_small.yml", "demo.yml", "camera_cpu.yml",
                                  "camera_fit_cpu.yml"])
def test_shipped_configs_load_and_build(name):
    from cyclesr.model import build_model

    cfg = load_config(REPO / "configs" / name)
    assert set(cfg.model.cyclegan.__dataclass_fields__) == {"lambda_cycle", "lambda_identity",
                                                           "lambda_lowfreq", "buffer_size"}
    if name != "cyclesr_x4.yml":  # the reference's networks are large; their kwargs build in test_nets
        build_model(cfg)


@pytest.mark.parametrize("design", ["camera-jpeg", "camera-fit"])
def test_camera_config_matches_the_benchmarked_design(design):
    """camera_cpu.yml / camera_fit_cpu.yml train what `cyclesr bench quality --preset cpu-small
    --design camera-jpeg / camera-fit` measures (networks, schedule, sizes)."""
    from cyclesr.bench.quality.presets import PRESETS, PRODUCT_DESIGNS, cyclesr_layout

    dirs = ["dataset.train.HR_dir=hr", "dataset.train.LR_dir=lr"]
    ours = load_config(REPO / "configs" / PRODUCT_DESIGNS[design], dirs)
    theirs = config_from_dict(cyclesr_layout(PRESETS["cpu-small"], design, "hr", "lr", 0))
    assert ours.model == theirs.model
    for key in ("n_epoch", "n_epoch_decay", "warmup_epochs", "pretrain_epochs"):
        assert getattr(ours.trainer, key) == getattr(theirs.trainer, key), key
    for key in ("batch_size", "crop_size", "iters_per_epoch", "HR_dir", "LR_dir"):
        assert getattr(ours.dataset.train, key) == getattr(theirs.dataset.train, key), key


def test_overrides_are_typed():
    cfg = load_config(REPO / "configs" / "cyclesr_x4.yml",
                      ["trainer.n_epoch=3", "model.cyc_lr=1e-3", "dataset.train.shuffle=false",
                       "model.sr.SR_nb=4"])
    assert cfg.trainer.n_epoch == 3 and cfg.model.cyc_lr == pytest.approx(1e-3)
    assert cfg.dataset.train.shuffle is False and cfg.model.sr.kwargs["SR_nb"] == 4


@pytest.mark.skipif(not VEGA.is_file(), reason="shared reference config not present")
def test_vega_path_override():
    cfg = load_config(VEGA, ["fully_train.dataset.train.HR_dir=/data/hr"])
    assert cfg.dataset.train.HR_dir == "/data/hr"


@pytest.mark.parametrize("override, key", [
    ("dataset.train.crop_size=30", "dataset.train.crop_size"),
    ("dataset.upscale=3", "dataset.upscale"),
    ("model.G.n_downsampling=-1", "model.G.n_downsampling"),
    ("model.D.n_layers=0", "model.D.n_layers"),
    ("model.D.input_nc=1", "model.D.input_nc"),
    ("model.G.n_downsampling=6", "dataset.train.crop_size"),
    ("model.G=3", "model.G"),
    ("model.cyclegan.ngf=16", "model.G"),
    ("trainer.lr_policy=exp", "trainer.lr_policy"),
    ("trainer.n_epoch=ten", "trainer.n_epoch"),
    ("trainer.not_a_key=1", "trainer.not_a_key"),
    ("model.cyc_lr=-1", "model.cyc_lr"),
    ("model.sr.upscale=2", "model.sr.upscale"),
    ("model.synth_mix=1.5", "model.synth_mix"),
    ("model.synth_mix_end=-0.1", "model.synth_mix_end"),
])
def test_bad_values_name_key_and_file(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(REPO / "configs" / "cyclesr_x4.yml", [override])
    assert key in str(err.value) and "cyclesr_x4.yml" in str(err.value)


def test_frozen_transfer_needs_no_feedback_and_no_warmup():
    """model.cyc_lr: 0 keeps G as calibrated: an SR loss fed back into G, or warm-up epochs
    (which would train nothing), are configuration errors that say what to set."""
    base = REPO / "configs" / "camera_cpu.yml"
    cfg = load_config(base, ["model.cyc_lr=0", "trainer.warmup_epochs=0"])
    assert cfg.model.cyc_lr == 0
    with pytest.raises(ConfigError, match="trainer.warmup_epochs.*0 when model.cyc_lr is 0"):
        load_config(base, ["model.cyc_lr=0"])
    with pytest.raises(ConfigError, match="model.cycleSR_lam.*0 when model.cyc_lr is 0"):
        load_config(base, ["model.cyc_lr=0", "trainer.warmup_epochs=0", "model.cycleSR_lam=10"])


def test_missing_folder_is_reported(tmp_path):
    from cyclesr.config.validate import validate_paths
    cfg = load_config(REPO / "configs" / "cyclesr_x4.yml",
                      [f"dataset.train.HR_dir={tmp_path}", f"dataset.train.LR_dir={tmp_path / 'nope'}"])
    with pytest.raises(ConfigError, match="dataset.train.LR_dir"):
        validate_paths(cfg)


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="key.path=value"):
        load_config(REPO / "configs" / "cyclesr_x4.yml", ["trainer.n_epoch"])


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("does/not/exist.yml")


def test_synth_recipe_is_not_parsed_by_the_config():
    """The recipe grammar belongs to the data pipeline, which checks it before training."""
    cfg = load_config(REPO / "configs" / "cyclesr_x4.yml", ["model.synth_mix=0.5", "model.synth_recipe=fit"])
    assert cfg.model.synth_recipe == "fit"
    from cyclesr.config import is_fit
    assert is_fit(cfg.model.synth_recipe) and is_fit(" FIT ") and not is_fit("generic") and not is_fit(None)
