"""Train the patch-feature network of the no-reference score (``cyclesr.eval.noref``).

The KID of ``noref_scores`` compares fake and real LR images in the feature space of a small
network. Random convolution features respond to degradations but also to image content, and
the HR and real-LR domains show different scenes. This script trains the same small network to
*measure degradations*: from 32x32 LR patches made by a broad random recipe (blur, resize
kind, noise, JPEG) it regresses how much blur, noise and JPEG each patch received. The photos
come with scikit-image (no download), so anyone can rebuild the shipped weights:

    python experiments/scripts/noref_train.py --out cyclesr/assets/noref_features.safetensors

It takes about 3 minutes on one CPU core; data, initial weights and batches are seeded.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["TRAIN_RECIPE", "degradation_targets", "make_patches", "train_features", "main"]

# Broad on purpose: the features must tell degradations apart, whatever the user's are.
TRAIN_RECIPE = ("blur(kind=iso|aniso, sigma_x=0.2~3, sigma_y=0.2~3, theta=0~180, p=0.7)"
                " > down(scale=4, mode=bicubic|bilinear|area)"
                " > noise(kind=gaussian|poisson, sigma=1~25, scale=0.05~3, gray=0.3, p=0.7)"
                " > jpeg(quality=25~95, p=0.6)")
_SHIPPED = Path(__file__).resolve().parents[2] / "cyclesr" / "assets" / "noref_features.safetensors"
# Colour and gray photos bundled with scikit-image (skimage/data).
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
          "motorcycle_right.png", "camera.png", "brick.png", "grass.png", "gravel.png",
          "coins.png", "moon.png", "page.png", "text.png", "horse.png", "color.png")


def degradation_targets(records: list[dict]) -> list[float]:
    """[blur sigma / 3, noise level / 25, JPEG strength] of one recipe draw (0 = none).
    Poisson noise counts as the Gaussian sigma it has at mid-grey."""
    blur = noise = jpeg = 0.0
    for r in records:
        if not r.get("applied", True):
            continue
        if r["step"] == "blur":
            blur = (r["sigma_x"] + r["sigma_y"]) / 2 / 3
        elif r["step"] == "noise":
            sigma = r["sigma"] if r["kind"] == "gaussian" else float(np.sqrt(r["scale"] * 128))
            noise = sigma / 25
        elif r["step"] == "jpeg":
            jpeg = (100 - r["quality"]) / 75
    return [blur, noise, jpeg]


def _photos() -> list[torch.Tensor]:
    import skimage

    from cyclesr.data.io import load_rgb

    root = Path(skimage.__file__).parent / "data"
    return [load_rgb(root / name) for name in PHOTOS if (root / name).exists()]


def make_patches(n: int, seed: int = 0, lr_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` degraded LR patches (n, 3, lr_size, lr_size) and their targets (n, 3)."""
    from cyclesr.data.degrade import Recipe

    photos = _photos()
    if not photos:
        raise FileNotFoundError("scikit-image's bundled photos are missing; reinstall scikit-image")
    recipe = Recipe.parse(TRAIN_RECIPE)
    rng = np.random.default_rng(seed)
    size = lr_size * 4
    xs, ys = [], []
    for _ in range(n):
        photo = photos[int(rng.integers(len(photos)))]
        h, w = photo.shape[-2:]
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        crop = photo[:, top:top + size, left:left + size]
        if rng.random() < 0.5:
            crop = crop.flip(-1)
        lr, records = recipe.apply(crop, rng)
        xs.append(lr)
        ys.append(degradation_targets(records))
    return torch.stack(xs), torch.tensor(ys, dtype=torch.float32)


def train_features(n_patches: int = 12000, steps: int = 3000, batch: int = 64, seed: int = 0,
                   log=print) -> tuple[nn.Module, dict]:
    """A trained ``PatchFeatures`` and its held-out regression error (mean absolute, per target)."""
    from cyclesr.eval.noref import PatchFeatures

    torch.manual_seed(seed)
    x, y = make_patches(n_patches, seed)
    hold = max(1, n_patches // 10)
    x_train, y_train, x_test, y_test = x[hold:], y[hold:], x[:hold], y[:hold]
    net = PatchFeatures(seed=seed)
    net.requires_grad_(True)
    head = nn.Linear(net.out_features, y.shape[1])
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(len(x_train), (batch,), generator=gen)
        loss = nn.functional.mse_loss(head(net.features(x_train[idx])), y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log and (step + 1) % 500 == 0:
            log(f"step {step + 1}/{steps}  loss {loss.item():.4f}")
    net.requires_grad_(False)
    with torch.no_grad():
        err = (head(net.features(x_test)) - y_test).abs().mean(0)
    scale = torch.tensor([3.0, 25.0, 75.0])  # back to sigma, 0-255 noise, JPEG quality units
    return net, dict(zip(("blur_sigma", "noise_sigma", "jpeg_quality"), (err * scale).tolist()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python experiments/scripts/noref_train.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(_SHIPPED),
                        help="weights file to write (default: the shipped one, cyclesr/assets/)")
    parser.add_argument("--patches", type=int, default=12000)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from safetensors.torch import save_file

    start = time.time()
    net, err = train_features(args.patches, args.steps, seed=args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out),
              metadata={"seed": str(args.seed), "patches": str(args.patches), "steps": str(args.steps)})
    print(f"held-out mean absolute error: blur sigma {err['blur_sigma']:.2f}, noise sigma "
          f"{err['noise_sigma']:.2f}/255, JPEG quality {err['jpeg_quality']:.1f}")
    print(f"wrote {out} in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
