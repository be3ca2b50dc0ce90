"""Fitting the synthetic degradation to real LR images (model.synth_recipe: fit)."""
import json

import numpy as np
import pytest
import torch

import cyclesr
from cyclesr.config import config_from_dict
from cyclesr.data.degrade import Recipe
from cyclesr.eval.fit import Candidate, _span, fit_recipe


def _scenes(seed: int, n: int, size: int = 192) -> list[torch.Tensor]:
    """Smooth colour fields with sharp-edged rectangles: textures, edges and flat regions."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        low = torch.rand(1, 3, size // 16, size // 16, generator=g)
        img = torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic")[0]
        for _ in range(12):
            y, x, h, w = (torch.randint(0, size - 8, (4,), generator=g) % (size // 2)).tolist()
            img[:, y:y + h + 4, x:x + w + 4] = torch.rand(3, 1, 1, generator=g)
        out.append(img.clamp(0, 1))
    return out


@pytest.mark.parametrize("truth, expect", [("noise(sigma=14~16)", (14, 0)),
                                           ("jpeg(quality=25~35)", (0, 30))])
def test_fit_recovers_noise_and_jpeg(truth, expect):
    """The real LR images show other scenes than the HR images; the fit still picks the
    candidate with the right noise level and JPEG quality."""
    real = [Recipe.parse(f"blur(sigma=1.2) > down(scale=4) > {truth}").apply(im, np.random.default_rng(i))[0]
            for i, im in enumerate(_scenes(1, 8))]
    result = fit_recipe(_scenes(2, 6), real, 4, top=1, blur=(1.2,), noise=(0, 3, 14, 30), jpeg=(0, 30, 90))
    best = result.best[0]
    assert (best["noise"], best["jpeg"]) == expect
    assert result.recipe == Candidate(1.2, *expect).recipe()
    Recipe.parse(result.recipe).with_scale(2)  # a valid recipe, at any scale


def test_span_covers_the_best_candidates():
    recipe = _span([Candidate(1.2, 10, 0), Candidate(2.0, 15, 90), Candidate(1.6, 15, 0)])
    assert recipe == ("blur(kind=iso|aniso, sigma=0.84~2.6, theta=0~180) > down(scale=4, mode=bicubic|bilinear|area)"
                      " > noise(sigma=7.5~18.8) > jpeg(quality=80~100, p=0.33)")
    assert "noise" not in _span([Candidate(1.2, 0, 0), Candidate(1.2, 0, 30), Candidate(1.2, 6, 0)])


def test_training_with_a_fitted_recipe(tiny_data, tmp_path):
    cfg = config_from_dict({
        "dataset": {"upscale": 4, "train": {"HR_dir": str(tiny_data["hr"]), "LR_dir": str(tiny_data["real_lr"]),
                                            "batch_size": 2, "num_workers": 0, "crop_size": 16,
                                            "iters_per_epoch": 1}},
        "model": {"synth_mix": 0.5, "synth_recipe": "fit",
                  "cyclegan": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_D": 2, "buffer_size": 2},
                  "sr": {"name": "VDSR", "SR_nb": 1, "SR_nf": 4}},
        "trainer": {"n_epoch": 3, "n_epoch_decay": 0, "warmup_epochs": 1, "pretrain_epochs": 1,
                    "eval_epoch": 3}}, "fit.yml")
    cyclesr.train(cfg, tmp_path / "run", progress=False)
    fitted = json.loads((tmp_path / "run" / "synth_recipe_fit.json").read_text())
    Recipe.parse(fitted["recipe"]).with_scale(4)
    assert len(fitted["best"]) == 3 and fitted["best"][0]["kid"] <= fitted["best"][-1]["kid"]


def test_fit_needs_images(tmp_path):
    from cyclesr.eval.fit import fit_recipe_from_folders
    (tmp_path / "hr").mkdir()
    (tmp_path / "lr").mkdir()
    with pytest.raises(ValueError, match="synth_recipe: fit needs"):
        fit_recipe_from_folders(tmp_path / "hr", tmp_path / "lr", 4, log=None)


def test_synth_cli_fits_then_writes(tiny_data, tmp_path, capsys):
    from cyclesr.cli import main
    out = tmp_path / "lr"
    assert main(["synth", "--hr", str(tiny_data["hr"]), "-o", str(out), "--recipe", "fit",
                 "--real-lr", str(tiny_data["real_lr"]), "--scale", "4"]) == 0
    fitted = json.loads((out / "synth_recipe_fit.json").read_text())
    assert "synthetic recipe = " + fitted["recipe"] in capsys.readouterr().out
    assert len(list(out.glob("*.png"))) == 4
    with pytest.raises(SystemExit, match="needs --real-lr"):
        main(["synth", "--hr", str(tiny_data["hr"]), "-o", str(out), "--recipe", "fit"])


def test_fitting_leaves_the_global_random_state_alone(tiny_data):
    """Training seeds the networks' initial weights: fitting before building them must not
    change them."""
    from cyclesr.eval.fit import fit_recipe_from_folders
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    fit_recipe_from_folders(tiny_data["hr"], tiny_data["real_lr"], 4, log=None)
    assert torch.equal(torch.random.get_rng_state(), before)
