"""The quality benchmark's designs: each is one YAML model section (a product config's, or a
lab design file), and the preset sizes it; the configs they give keep the measured designs."""
from pathlib import Path

import pytest

from cyclesr.bench.quality.presets import PRESETS, cyclesr_layout, design_file, sr_updates
from cyclesr.config import config_from_dict, load_config
from cyclesr.engine.schedule import phase_at
from cyclesr.nets.registry import resolve_net

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "experiments" / "designs"
DESIGNS = {"reference": "reference", "improved": LAB / "improved.yml",
           "improved-mix": LAB / "improved-mix.yml", "camera": LAB / "camera.yml",
           "camera-jpeg": "camera-jpeg", "camera-fit": "camera-fit"}
# design: (G class, D class, cycleSR_lam, pretrains, lambda_cycle, lambda_identity, synth_mix)
FACTS = {
    "reference": ("ResnetGenerator", "NLayerDiscriminator", 1000.0, True, 10.0, 0.5, 0.0),
    "improved": ("PixelNoiseDegradationGenerator", "HighPassDiscriminator", 0.0, True, 10.0, 0.0, 0.0),
    "improved-mix": ("PixelNoiseDegradationGenerator", "HighPassDiscriminator", 0.0, False, 10.0, 0.0, 0.75),
    "camera": ("CameraNoiseGenerator", "HighPassDiscriminator", 0.0, False, 0.0, 0.0, 0.0),
    "camera-jpeg": ("CameraJpegGenerator", "HighPassDiscriminator", 0.0, False, 0.0, 0.0, 0.0),
    "camera-fit": ("CameraJpegGenerator", "HighPassDiscriminator", 0.0, False, 0.0, 0.0, 0.0),
}


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)  # lab designs name their networks by a path from the repository root


def _config(design, preset="tiny"):
    return config_from_dict(cyclesr_layout(PRESETS[preset], DESIGNS[design], "hr", "lr", 0))


@pytest.mark.parametrize("design", list(DESIGNS))
def test_design_keeps_its_networks_losses_and_schedule(design):
    g, d, cycle_sr, pretrains, cycle, identity, mix = FACTS[design]
    cfg, p = _config(design), PRESETS["tiny"]
    m = cfg.model
    assert resolve_net(m.G.name).__name__ == g and resolve_net(m.D.name).__name__ == d
    assert m.cycleSR_lam == cycle_sr and m.synth_mix == mix
    assert (m.cyclegan.lambda_cycle, m.cyclegan.lambda_identity) == (cycle, identity)
    assert cfg.trainer.pretrain_epochs == (p["pretrain"] if pretrains else 0)
    frozen = m.cyc_lr == 0  # G kept as calibrated: no warm-up
    assert cfg.total_epochs == (0 if frozen else p["warmup"]) + p["pretrain"] + p["joint"]
    # the SR side is the preset's, shared with the baselines
    assert m.sr.name == p["sr"]["name"] and m.SR_lam == 1.0 and m.SR_lr == p["sr_lr"]
    if d == "HighPassDiscriminator":
        assert m.D.kwargs["out_channels"] == 1
    assert (m.D.kwargs["ndf"], m.D.kwargs["n_layers"]) == (8, 2)
    if g in ("ResnetGenerator", "PixelNoiseDegradationGenerator"):
        assert (m.G.kwargs["ngf"], m.G.kwargs["n_blocks"]) == (8, 1)
        assert m.G.kwargs["norm"] == "instance"


def _sr_rates(cfg) -> list:
    """The SR network's learning rate in each epoch that trains it."""
    from cyclesr.engine.schedule import learning_rates

    m = cfg.model
    return [learning_rates(e, cfg.trainer, m.cyc_lr, m.SR_lr)["sr"] for e in range(1, cfg.total_epochs + 1)
            if phase_at(e, cfg.trainer).train_sr]


def test_every_design_gives_the_sr_network_the_same_budget():
    """Designs without pretraining move those epochs to the joint phase, and a design that keeps
    G as calibrated (cyc_lr 0) has no warm-up: the same SR updates at the same learning rates in
    every design, so the baselines' budget fits all of them."""
    p = PRESETS["cpu-small"]
    by_design = {d: _config(d, "cpu-small") for d in DESIGNS}
    rates = {d: _sr_rates(c) for d, c in by_design.items()}
    assert all(len(r) * p["iters"] == sr_updates(p) for r in rates.values())
    assert len({tuple(r) for r in rates.values()}) == 1
    camera = by_design["camera"]  # no pretraining: every epoch after the warm-up is joint
    assert all(phase_at(e, camera.trainer).name == "joint" for e in range(p["warmup"] + 1, camera.total_epochs + 1))
    fit = by_design["camera-fit"]
    assert fit.model.cyc_lr == 0 and fit.trainer.warmup_epochs == 0 and fit.model.G.kwargs["spectral_fit"]


@pytest.mark.parametrize("design, name", [("camera-jpeg", "camera_cpu.yml"), ("camera-fit", "camera_fit_cpu.yml")])
def test_a_product_design_is_its_shipped_config(design, name):
    assert design_file(design) == REPO / "cyclesr" / "configs" / name
    ours = load_config(REPO / "configs" / name).model
    bench = _config(design, "cpu-small").model
    assert (bench.G, bench.D, bench.sr, bench.cyclegan, bench.SR_lr) == (ours.G, ours.D, ours.sr, ours.cyclegan,
                                                                         ours.SR_lr)


def test_unknown_design_is_refused():
    with pytest.raises(ValueError, match="unknown design 'improved'.*YAML design file"):
        design_file("improved")


@pytest.mark.parametrize("name, preset", [("improved_cpu.yml", "cpu-small"), ("improved_x4.yml", "gpu")])
def test_lab_configs_train_the_benchmarked_design(name, preset):
    """The lab's ready-to-train improved configs hold improved-mix.yml at a preset's sizes."""
    path = LAB / name
    if not path.is_file():
        pytest.skip(f"{name} is not in experiments/designs")
    ours = load_config(path, ["dataset.train.HR_dir=hr", "dataset.train.LR_dir=lr"])
    bench = config_from_dict(cyclesr_layout(PRESETS[preset], DESIGNS["improved-mix"], "hr", "lr", 0))
    for key in ("G", "D", "sr"):
        a, b = getattr(ours.model, key), getattr(bench.model, key)
        assert (resolve_net(a.name), a.kwargs) == (resolve_net(b.name), b.kwargs), key
    for key in ("cycleSR_lam", "SR_lam", "SR_lr", "synth_mix", "synth_recipe", "cyclegan"):
        assert getattr(ours.model, key) == getattr(bench.model, key), key
    for key in ("n_epoch", "n_epoch_decay", "warmup_epochs", "pretrain_epochs"):
        assert getattr(ours.trainer, key) == getattr(bench.trainer, key), key
    for key in ("batch_size", "crop_size", "iters_per_epoch"):
        assert getattr(ours.dataset.train, key) == getattr(bench.dataset.train, key), key
