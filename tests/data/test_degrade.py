"""Resizing, blur kernels, degradation steps, recipes and folder synthesis."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from cyclesr.data.degrade import RECIPES, Recipe, bicubic_downscale, resize, synthesize_folder
from cyclesr.data.io import read_image, write_image
from cyclesr.data.kernels import BLUR_KINDS, blur_kernel, filter2d, motion_kernel
from cyclesr.data.steps import Jpeg, Noise


def _smooth_image(h=64, w=48, seed=0):
    """A smooth colour image with some edges (more like a photo than white noise)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8 + 1, w // 8 + 1, generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")[0]


def test_bicubic_downscale_shapes_and_range():
    assert bicubic_downscale(torch.rand(3, 101, 67), 4).shape == (3, 25, 16)
    assert bicubic_downscale(torch.rand(2, 3, 40, 40), 4).shape == (2, 3, 10, 10)
    assert bicubic_downscale(torch.rand(3, 9, 9), 3).shape == (3, 3, 3)
    edges = torch.zeros(3, 32, 32)
    edges[:, :, 16:] = 1
    out = bicubic_downscale(edges, 4)
    assert out.min() >= 0 and out.max() <= 1  # clamped despite the kernel's overshoot
    flat = torch.full((3, 20, 20), 0.3)
    assert torch.allclose(bicubic_downscale(flat, 2), torch.full((3, 10, 10), 0.3), atol=1e-6)


@pytest.mark.parametrize("mode", ["bicubic", "bilinear", "area", "nearest"])
def test_resize_modes(mode):
    image = torch.rand(3, 30, 20)
    assert resize(image, 0.5, mode).shape == (3, 15, 10)
    assert resize(image, (7, 9), mode).shape == (3, 7, 9)
    assert resize(image, 2, mode).shape == (3, 60, 40)
    with pytest.raises(ValueError, match="unknown resize mode"):
        resize(image, 0.5, "lanczos")


@pytest.mark.parametrize("kind", BLUR_KINDS)
def test_blur_kernels_sum_to_one(kind):
    kernel = blur_kernel(kind, 15, 2.0, 0.7, theta=30, beta=1.5)
    assert kernel.shape == (15, 15)
    assert abs(kernel.sum().item() - 1) < 1e-5 and kernel.min() >= 0
    assert kernel[7, 7] == kernel.max()


def test_blur_kernel_geometry():
    iso = blur_kernel("iso", 9, 1.5)
    assert torch.allclose(iso, iso.T) and torch.allclose(iso, iso.flip(0))
    wide = blur_kernel("aniso", 11, 3.0, 0.5, theta=0)
    assert torch.allclose(blur_kernel("aniso", 11, 3.0, 0.5, theta=90), wide.T, atol=1e-6)
    assert wide[5].sum() > wide[:, 5].sum()  # spread along x
    line = motion_kernel(7, 0)
    centre = line.shape[0] // 2
    assert abs(line.sum().item() - 1) < 1e-5 and abs(line[centre].sum().item() - 1) < 1e-5  # one row
    assert torch.allclose(motion_kernel(7, 90), line.T, atol=1e-6)


def test_filter2d_preserves_flat_images_and_batches():
    flat = torch.full((2, 3, 10, 12), 0.4)
    assert torch.allclose(filter2d(flat, blur_kernel("iso", 7, 2.0)), flat, atol=1e-6)
    tiny = torch.rand(3, 3, 3)  # smaller than the kernel: replicate padding instead of reflect
    assert filter2d(tiny, blur_kernel("iso", 9, 2.0)).shape == (3, 3, 3)


def _noise_std(params, level=0.5):
    flat = torch.full((3, 128, 128), level)
    noisy = Noise().apply(flat, params)
    return ((noisy - flat) * 255).std().item(), noisy


def test_gaussian_noise_sigma_is_in_255_units():
    std, _ = _noise_std({"kind": "gaussian", "sigma": 10.0, "gray": False, "seed": 1})
    assert abs(std - 10) < 1.5
    _, noisy = _noise_std({"kind": "gaussian", "sigma": 10.0, "gray": True, "seed": 1})
    assert torch.equal(noisy[0], noisy[1]) and torch.equal(noisy[1], noisy[2])


def test_poisson_and_camera_noise_follow_their_variance():
    level = 128 / 255
    std, _ = _noise_std({"kind": "poisson", "scale": 1.0, "gray": False, "seed": 2}, level)
    assert abs(std - 128**0.5) < 0.15 * 128**0.5
    std, _ = _noise_std({"kind": "camera", "a": 0.5, "b": 36.0, "gray": False, "seed": 3}, level)
    expected = (0.5 * 128 + 36) ** 0.5
    assert abs(std - expected) < 0.15 * expected


def test_poisson_noise_takes_values_below_zero_as_no_light():
    """A sinc blur or a resize before the noise can leave values below 0 (Real-ESRGAN's chain)."""
    image = torch.full((3, 16, 16), 0.3)
    image[:, :4] = -0.02
    noisy = Noise().apply(image, {"kind": "poisson", "scale": 1.0, "gray": False, "seed": 4})
    assert noisy.shape == image.shape and torch.isfinite(noisy).all() and noisy.min() >= 0


def test_jpeg_step_really_reencodes_with_pillow():
    image = _smooth_image()
    out = Jpeg().apply(image, {"quality": 40})
    buffer = io.BytesIO()
    pixels = image.mul(255).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=40)
    expected = np.asarray(Image.open(buffer))
    assert np.array_equal(out.mul(255).round().byte().permute(1, 2, 0).numpy(), expected)
    assert not torch.allclose(out, image, atol=1 / 255)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_presets_give_exact_output_size_for_odd_inputs(name):
    recipe = Recipe.parse(name)
    assert recipe.scale == 4
    if recipe.injects:  # needs noise patches; any will do here
        recipe = recipe.with_noise_pool(0.02 * torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)))
    lr, params = recipe.apply(_smooth_image(101, 67), np.random.default_rng(3))
    assert lr.shape == (3, 25, 16) and lr.min() >= 0 and lr.max() <= 1
    assert len(params) == len(recipe.steps) and all("step" in p for p in params)
    assert str(Recipe.parse(str(recipe))) == str(recipe)


def test_same_seed_same_result_other_seed_differs():
    recipe = Recipe.parse("realesrgan-like")
    image = _smooth_image()
    a, params_a = recipe.apply(image, np.random.default_rng(7))
    b, params_b = recipe.apply(image, np.random.default_rng(7))
    c, _ = recipe.apply(image, np.random.default_rng(8))
    assert torch.equal(a, b) and params_a == params_b
    assert not torch.equal(a, c)


def test_drawn_parameters_replay_a_step():
    recipe = Recipe.parse("blur(kind=aniso, sigma=0.5~3, theta=0~180) > down(scale=2) > noise(sigma=5~9)")
    image = _smooth_image()
    lr, params = recipe.apply(image, 11)
    replayed = image
    for step, drawn in zip(recipe.steps, params):
        replayed = step.apply(replayed, drawn)
    assert torch.allclose(lr, replayed.clamp(0, 1))


def test_recipe_forms_and_scale():
    text = Recipe.parse("blur(sigma=0.5~1) > down(scale=2, mode=area) > jpeg(q=50)")
    listed = Recipe.parse([{"blur": {"sigma": [0.5, 1]}}, "down(scale=2, mode=area)", {"step": "jpeg", "q": 50}])
    assert str(text) == str(listed) == "blur(sigma=0.5~1) > down(scale=2, mode=area) > jpeg(quality=50)"
    assert Recipe.parse({"steps": ["down(scale=2)", "down(scale=1.5)", "down(scale=1)"]}).scale == 3
    second_order = Recipe.parse("down(scale=4) > jpeg(q=30~95) > blur(sigma=0.5) > down(scale=1) > noise > jpeg")
    assert second_order.scale == 4
    assert Recipe.parse("mild").with_scale(2).scale == 2
    assert Recipe.parse("blur(kind=iso|plateau, sigma=1~2) > down(scale=0.5) > down(scale=6)").scale == 3


@pytest.mark.parametrize("spec, message", [
    ("blurr(sigma=1)", "valid steps: blur"),
    ("blur(sigm=1)", "valid parameters: kind, sigma"),
    ("blur(kind=box)", "not one of iso, aniso"),
    ("noise(sigma=1~x)", "needs two numbers"),
    ("blur(sigma=3~1)", "low end above"),
    ("down(scale=3) > down(scale=0.5)", "whole number"),
    ("down(scale=2~4)", "fixed number"),
    ("resize(factor=0.5)", "followed by a down step"),
    ("jpeg(quality=150)", "outside"),
    ("blur sigma=1", "cannot parse"),
    ("", "empty"),
])
def test_bad_recipes_raise_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        Recipe.parse(spec)


def test_synthesize_folder(tmp_path):
    hr_dir = tmp_path / "hr"
    write_image(hr_dir / "a.png", _smooth_image(41, 50, seed=1))
    write_image(hr_dir / "sub" / "b.jpg", _smooth_image(64, 64, seed=2))
    write_image(hr_dir / "c16.png", _smooth_image(33, 30, seed=3), alpha=torch.rand(1, 33, 30), bit_depth=16)
    (hr_dir / "readme.txt").write_text("not an image")
    written = synthesize_folder(hr_dir, tmp_path / "lr", "mild", seed=5, paired_hr_out=tmp_path / "hr_cut")
    names = sorted(p.relative_to(tmp_path / "lr").as_posix() for p in written)
    assert names == ["a.png", "c16.png", "sub/b.png"]  # JPEG input written losslessly as PNG
    a_lr = read_image(tmp_path / "lr" / "a.png")
    assert a_lr.rgb.shape == (3, 10, 12)
    assert read_image(tmp_path / "hr_cut" / "a.png").rgb.shape == (3, 40, 48)
    c_lr = read_image(tmp_path / "lr" / "c16.png")
    assert c_lr.bit_depth == 16 and c_lr.alpha is not None and c_lr.rgb.shape == (3, 8, 7)

    # Per-image seeds come from the name, so another folder listing gives the same result.
    alone = tmp_path / "alone"
    write_image(alone / "a.png", read_image(hr_dir / "a.png").rgb)
    synthesize_folder(alone, tmp_path / "lr_alone", "mild", seed=5)
    assert torch.equal(read_image(tmp_path / "lr_alone" / "a.png").rgb, a_lr.rgb)
    synthesize_folder(alone, tmp_path / "lr_seed6", "mild", seed=6)
    assert not torch.equal(read_image(tmp_path / "lr_seed6" / "a.png").rgb, a_lr.rgb)
    x2 = synthesize_folder(alone, tmp_path / "lr_x2", "mild", scale=2)
    assert read_image(x2[0]).rgb.shape == (3, 20, 25)
