"""Config loading: the three layouts, overrides, and clear errors."""
from pathlib import Path

import pytest
import yaml

from cyclesr.config import ConfigError, config_from_dict, load_config

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
    assert cfg.model.cyclegan.ngf == 64 and cfg.model.cyclegan.up_mode == "transpose"
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
    for key in ("SR_lam", "cycleSR_lam", "grad_clip", "cyc_lr", "SR_lr"):
        assert getattr(ours.model, key) == getattr(flat.model, key)
    flat_sr = {k: v for k, v in flat.model.sr.kwargs.items() if k != "upscale"}
    assert ours.model.sr.name == flat.model.sr.name and ours.model.sr.kwargs == flat_sr
    assert ours.trainer == flat.trainer


@pytest.mark.parametrize("name", ["cyclesr_x4.yml", "cpu_small.yml", "demo.yml", "improved_cpu.yml",
                                  "improved_x4.yml", "camera_cpu.yml"])
def test_shipped_configs_load(name):
    load_config(REPO / "configs" / name)


@pytest.mark.parametrize("name, preset, design", [("improved_cpu.yml", "cpu-small", "improved-mix"),
                                                  ("improved_x4.yml", "gpu", "improved-mix"),
                                                  ("camera_cpu.yml", "cpu-small", "camera-jpeg")])
def test_improved_configs_match_the_benchmarked_design(name, preset, design):
    """The shipped improved configs train what `cyclesr bench quality --preset P` measures."""
    import dataclasses

    from cyclesr.bench.quality_presets import PRESETS, cyclesr_layout
    from cyclesr.config import config_from_dict
    from cyclesr.nets.registry import resolve_net

    dirs = ["dataset.train.HR_dir=hr", "dataset.train.LR_dir=lr"]
    ours = load_config(REPO / "configs" / name, dirs)
    bench = config_from_dict(cyclesr_layout(PRESETS[preset], design, "hr", "lr", 0))

    def nets_by_class(model):  # registry name or import path: the same class
        gan = dataclasses.replace(model.cyclegan, generator=resolve_net(model.cyclegan.generator),
                                  discriminator=resolve_net(model.cyclegan.discriminator))
        sr = dataclasses.replace(model.sr, name=resolve_net(model.sr.name))
        return dataclasses.replace(model, cyclegan=gan, sr=sr)

    assert nets_by_class(ours.model) == nets_by_class(bench.model)
    for key in ("n_epoch", "n_epoch_decay", "warmup_epochs", "pretrain_epochs"):
        assert getattr(ours.trainer, key) == getattr(bench.trainer, key), key
    for key in ("batch_size", "crop_size", "iters_per_epoch", "HR_dir", "LR_dir"):
        assert getattr(ours.dataset.train, key) == getattr(bench.dataset.train, key), key


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
    ("model.cyclegan.norm=group", "model.cyclegan.norm"),
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


def test_synth_recipe_is_checked_when_mixing():
    base = REPO / "configs" / "cyclesr_x4.yml"
    assert load_config(base, ["model.synth_recipe=nonsense(x=1)"]).model.synth_mix == 0  # unused: fine
    cfg = load_config(base, ["model.synth_mix=0.5"])
    assert cfg.model.synth_recipe == "generic"
    with pytest.raises(ConfigError, match="model.synth_recipe"):
        load_config(base, ["model.synth_mix=0.5", "model.synth_recipe=nonsense(x=1)"])
