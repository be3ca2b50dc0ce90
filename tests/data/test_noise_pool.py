"""Noise injection: patches from flat regions of real LR images, the inject step, its users."""
import numpy as np
import pytest
import torch

from cyclesr.cli import main
from cyclesr.data.datasets import UnpairedDataset
from cyclesr.data.degrade import Recipe, synthesize_folder
from cyclesr.data.io import load_rgb, write_image
from cyclesr.data.noise_pool import collect_noise_pool, flat_patches, tile_noise


def _noisy_flat_and_edge(sigma: float, seed: int = 0) -> torch.Tensor:
    """Left half flat grey, right half a strong vertical stripe pattern; Gaussian noise on all."""
    g = torch.Generator().manual_seed(seed)
    img = torch.full((3, 64, 96), 0.5)
    img[:, :, 48:] = 0.2 + 0.6 * (torch.arange(48) // 3 % 2).float()
    return img + sigma / 255 * torch.randn(img.shape, generator=g)


@pytest.mark.parametrize("sigma", [5.0, 15.0, 30.0])
def test_flat_patches_measure_the_noise_of_flat_regions(sigma):
    patches = flat_patches(_noisy_flat_and_edge(sigma), size=16, per_image=8)
    assert len(patches) == 8
    assert patches.mean(dim=(-1, -2)).abs().max() < 1e-6  # zero mean per patch and channel
    # the stripes (std ~76/255) are never taken: the patches hold the noise level only
    assert patches.std(dim=(1, 2, 3)).mul(255).sub(sigma).abs().max() < 0.2 * sigma


def test_no_patches_from_images_without_flat_regions():
    stripes = 0.2 + 0.6 * (torch.arange(64) // 2 % 2).float().expand(3, 64, 64)
    ramp = torch.linspace(0, 1, 64).expand(3, 64, 64)
    assert len(flat_patches(stripes.contiguous())) == 0
    assert len(flat_patches(ramp.contiguous())) == 0
    assert len(flat_patches(torch.rand(3, 8, 8))) == 0  # smaller than a patch
    assert collect_noise_pool([stripes.contiguous()]).shape == (0, 3, 16, 16)


def test_tile_noise_shape_and_determinism():
    pool = torch.randn(5, 3, 16, 16)
    a = tile_noise(pool, 24, 40, np.random.default_rng(1))
    b = tile_noise(pool, 24, 40, np.random.default_rng(1))
    assert a.shape == (3, 24, 40) and torch.equal(a, b)
    with pytest.raises(ValueError, match="empty"):
        tile_noise(pool[:0], 8, 8, np.random.default_rng(0))


def test_inject_step_adds_pool_noise_and_needs_a_pool():
    recipe = Recipe.parse("down(scale=4) > inject")
    assert recipe.injects and not Recipe.parse("generic").injects
    flat = torch.full((3, 96, 96), 0.5)
    with pytest.raises(ValueError, match="inject.*noise patches"):
        recipe.apply(flat, 0)
    pool = flat_patches(_noisy_flat_and_edge(10.0), per_image=8)
    with_pool = recipe.with_noise_pool(pool)
    out, records = with_pool.apply(flat, 0)
    assert out.shape == (3, 24, 24) and records[-1]["step"] == "inject"
    assert abs(float(out.std()) * 255 - 10.0) < 2.5
    assert torch.equal(out, with_pool.apply(flat, 0)[0])  # seeded
    assert Recipe.parse("generic-inject").steps[-1].name == "inject"  # last: patches are final noise


def test_synth_noise_from_folder(tmp_path):
    write_image(tmp_path / "real" / "a.png", _noisy_flat_and_edge(12.0).clamp(0, 1))
    write_image(tmp_path / "hr" / "h.png", torch.full((3, 64, 64), 0.4))
    assert main(["synth", "--hr", str(tmp_path / "hr"), "-o", str(tmp_path / "lr"),
                 "--recipe", "down(scale=4) > inject", "--noise-from", str(tmp_path / "real")]) == 0
    lr = load_rgb(tmp_path / "lr" / "h.png")
    assert lr.shape == (3, 16, 16) and 6 < float(lr.std()) * 255 < 18
    with pytest.raises(ValueError, match="needs --noise-from"):
        synthesize_folder(tmp_path / "hr", tmp_path / "lr2", "down(scale=4) > inject")
    with pytest.raises(ValueError, match="only used by a recipe with an inject step"):
        synthesize_folder(tmp_path / "hr", tmp_path / "lr2", "mild", noise_from=tmp_path / "real")


def test_dataset_injects_real_noise(tiny_data, tmp_path):
    for i in range(2):
        write_image(tmp_path / "real" / f"r{i}.png", _noisy_flat_and_edge(8.0, seed=i).clamp(0, 1))
    ds = UnpairedDataset(tiny_data["hr"], tmp_path / "real", 16, 4, seed=0,
                         synth_recipe="down(scale=4) > inject", synth_mix=1.0)
    item = ds[0]
    resid = item["synth_lr"] - item["clean_lr"]  # clean_lr is the same bicubic downscale
    assert 5 < float(resid.std()) * 255 < 11
    # tiny_data's real LR images vary everywhere: no flat region, a clear error
    with pytest.raises(ValueError, match="no flat region"):
        UnpairedDataset(tiny_data["hr"], tiny_data["real_lr"], 16, 4, synth_recipe="generic-inject")
