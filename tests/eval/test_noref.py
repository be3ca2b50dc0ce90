"""No-reference statistics: each responds to the degradation it is meant to measure."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from cyclesr.nets.camera import CameraJpegGenerator
from cyclesr.eval.noref import (PatchFeatures, blockiness, generate_fake_lr, kid, noise_color, noise_sigma, noref_scores,
                           sharpness, spearman)


def _smooth(seed, size=64):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    f = rng.uniform(1, 4, 3)
    img = np.stack([0.5 + 0.3 * np.sin(f[c] * (xx + (c + 1) * yy) * 3.1) for c in range(3)])
    return torch.from_numpy(img).float()


def _noisy(img, sigma, seed):
    g = torch.Generator().manual_seed(seed)
    return (img + torch.randn(img.shape, generator=g) * sigma / 255).clamp(0, 1)


def _jpeg(img, quality):
    buf = io.BytesIO()
    Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return torch.from_numpy(np.array(Image.open(buf).convert("RGB"))).permute(2, 0, 1).float() / 255


def test_noise_sigma_tracks_added_noise():
    img = _smooth(0)
    assert noise_sigma(img) < 1.0
    est = noise_sigma(_noisy(img, 10, 0))
    assert 8.5 < est < 11.5


def test_blockiness_and_sharpness():
    rng = np.random.default_rng(0)
    tex = torch.from_numpy(rng.uniform(0.2, 0.8, (3, 66, 66))).float()
    tex = torch.nn.functional.avg_pool2d(tex[None], 3, 1)[0]  # no padding: no edge artefacts
    assert abs(blockiness(tex) - 1) < 0.1
    assert blockiness(_jpeg(tex, 10)) > 1.2
    blurred = torch.nn.functional.avg_pool2d(tex[None], 5, 1)[0]
    assert sharpness(blurred) < sharpness(tex)


def test_kid_zero_for_same_distribution_and_positive_otherwise():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 8, generator=gen), torch.randn(300, 8, generator=gen)
    same, _ = kid(a, b)
    diff, _ = kid(a + 1.0, b)
    assert abs(same) < 0.05 and diff > 10 * max(abs(same), 1e-3)


def test_noref_scores_rank_closer_fakes_better():
    real = [_noisy(_smooth(i), 8, i) for i in range(6)]
    near = [_noisy(_smooth(10 + i), 7, 10 + i) for i in range(6)]
    far = [_smooth(20 + i) for i in range(6)]
    s_near, s_far = noref_scores(near, real, patch=32, per_image=8), noref_scores(far, real, patch=32, per_image=8)
    assert s_near["kid"] < s_far["kid"]
    assert s_far["fake"]["noise"] < s_far["real"]["noise"]
    assert set(s_near) == {"kid", "kid_std", "fake", "real", "stat_gap"}


def test_features_are_fixed_by_seed():
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(PatchFeatures(seed=3)(x), PatchFeatures(seed=3)(x))
    assert PatchFeatures()(x).shape == (2, 2 * (16 + 32 + 64))


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-6)


def test_generate_fake_lr_is_seeded_and_keeps_the_size():
    G = CameraJpegGenerator(kernel_size=3)
    x = torch.rand(1, 3, 17, 23)
    a, b = (generate_fake_lr(G, [x[0]], seed=1)[0] for _ in range(2))
    assert a.shape == x[0].shape and torch.equal(a, b)


def test_evaluate_noref_without_hr(tmp_path):
    from cyclesr.data.io import save_rgb
    from cyclesr.nets.edsr import EDSR
    from cyclesr.eval.noref import evaluate_noref

    for i in range(3):
        save_rgb(_noisy(_smooth(i, 24), 5, i), tmp_path / "real" / f"real_{i}.png")
    sr = EDSR(num_feat=4, num_block=1, upscale=2)
    out = evaluate_noref(sr, CameraJpegGenerator(kernel_size=3), tmp_path / "real", 2, n_images=3)
    assert out["kid"] == out["kid"] and out["real"]["noise"] > 0 and "pseudo_psnr" not in out
    for i in range(2):
        save_rgb(_smooth(10 + i, 48), tmp_path / "sharp" / f"hr_{i}.png")
    out = evaluate_noref(sr, CameraJpegGenerator(kernel_size=3), tmp_path / "real", 2,
                         clean_hr_dir=tmp_path / "sharp", n_images=3)
    assert 5 < out["pseudo_psnr"] < 60


def test_high_pass_discriminator_shape():
    from cyclesr.nets.cyclegan import HighPassDiscriminator, NLayerDiscriminator

    x = torch.rand(2, 3, 24, 24)
    D = HighPassDiscriminator(ndf=8, n_layers=2, out_channels=1)
    assert D(x).shape == NLayerDiscriminator(ndf=8, n_layers=2, out_channels=1)(x).shape


def test_shipped_features_are_trained_and_rebuildable(tmp_path):
    trained = PatchFeatures.trained()
    x = torch.rand(2, 3, 32, 32)
    assert not torch.allclose(trained(x), PatchFeatures(seed=0)(x))
    with pytest.raises(FileNotFoundError, match="noref_train"):
        PatchFeatures.trained(tmp_path / "missing.safetensors")


def _photo_like(seed, size=64):
    """Smooth shapes plus fine texture: something with edges for blur/JPEG to act on."""
    g = torch.Generator().manual_seed(seed)
    low = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=(size, size), mode="bicubic")
    return (low[0] + 0.05 * torch.rand(3, size, size, generator=g)).clamp(0, 1)


@pytest.mark.parametrize("degrade", ["noise", "jpeg"])
def test_trained_kid_prefers_the_matching_degradation(degrade):
    """With the shipped features the KID is smallest for fakes degraded like the real set."""
    apply = (lambda im, level, i: _noisy(im, level, i)) if degrade == "noise" else (lambda im, level, i: _jpeg(im, level))
    levels = (3, 12, 30) if degrade == "noise" else (95, 35, 10)
    real = [apply(_photo_like(i), levels[1], i) for i in range(8)]
    kids = [noref_scores([apply(_photo_like(100 + i), level, 100 + i) for i in range(8)], real,
                         patch=32, per_image=8)["kid"] for level in levels]
    assert kids[1] < kids[0] and kids[1] < kids[2], kids


def test_noref_feature_training_runs_and_measures(tmp_path):
    from experiments.scripts.noref_train import degradation_targets, main

    records = [{"step": "blur", "sigma_x": 1.5, "sigma_y": 1.5}, {"step": "down", "scale": 4},
               {"step": "noise", "kind": "gaussian", "sigma": 10.0}, {"step": "jpeg", "applied": False}]
    assert degradation_targets(records) == pytest.approx([0.5, 0.4, 0.0])
    out = tmp_path / "f.safetensors"
    assert main(["--out", str(out), "--patches", "40", "--steps", "3"]) == 0
    assert PatchFeatures.trained(out)(torch.rand(1, 3, 32, 32)).shape == (1, 224)


def test_noise_color_tells_independent_gray_and_chroma_noise_apart():
    base = _smooth(3)
    g = torch.Generator().manual_seed(0)
    n = torch.randn(3, 64, 64, generator=g) * 10 / 255
    independent = (base + n).clamp(0, 1)
    gray = (base + n[:1].expand(3, -1, -1)).clamp(0, 1)
    chroma = (base + torch.stack([n[0], -n[0], n[1]])).clamp(0, 1)  # R and G move against each other
    assert abs(noise_color(independent)) < 0.15
    assert noise_color(gray) > 0.8
    assert noise_color(chroma) < noise_color(independent) - 0.2
    stats = noref_scores([chroma] * 2, [independent] * 2, patch=16, per_image=2)
    assert stats["stat_gap"]["noise_color"] == pytest.approx(stats["fake"]["noise_color"] - stats["real"]["noise_color"])


def test_pseudo_psnr_scores_the_sr_network_on_pairs_g_makes():
    from cyclesr.eval.noref import pseudo_psnr

    class Up(torch.nn.Module):
        def __init__(self, mode):
            super().__init__()
            self.mode, self.scale = mode, 4

        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=4, mode=self.mode)

    class Noise(torch.nn.Module):  # a G that adds noise: pairs harder to invert
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            return (x + 0.08 * torch.randn_like(x)).clamp(0, 1)

    hr = [_smooth(i, 96) for i in range(3)] + [_smooth(9, 300)[:, :290]]  # one larger than max_side
    clean_g = torch.nn.Identity()
    clean_g.register_parameter("p", torch.nn.Parameter(torch.zeros(())))  # generate_fake_lr reads the device
    bicubic, nearest = (pseudo_psnr(Up(m), clean_g, hr, 4) for m in ("bicubic", "nearest"))
    assert bicubic > nearest > 20
    noisy = pseudo_psnr(Up("bicubic"), Noise(), hr, 4)
    assert noisy < bicubic - 5
    assert noisy == pytest.approx(pseudo_psnr(Up("bicubic"), Noise(), hr, 4))  # seeded
    with pytest.raises(ValueError, match="sharp"):
        pseudo_psnr(Up("bicubic"), Noise(), [], 4)
