"""``cyclesr demo``: CycleSR end to end on photos bundled with scikit-image, no user data.

HR domain: some bundled photos. Real-LR domain: *other* photos degraded with a camera-like
recipe (blur, downscale, noise, JPEG), so the two domains never show the same scene. One more
photo is held out as a paired test image (same degradation). The demo trains the demo config
within a time budget, then compares CycleSR with bicubic on the held-out image and writes an
HTML page with the images side by side.
"""
from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from cyclesr.config import load_config
from cyclesr.data.degrade import Recipe
from cyclesr.data.io import load_rgb, write_image
from cyclesr.report.html import png_data_uri

__all__ = ["run_demo", "prepare_demo_data", "DEMO_RECIPE"]

HR_PHOTOS = ("astronaut.png", "coffee.png", "motorcycle_left.png", "hubble_deep_field.jpg", "ihc.png")
REAL_LR_PHOTOS = ("retina.jpg", "motorcycle_right.png", "rocket.jpg", "brick.png", "grass.png",
                  "gravel.png", "color.png")
HELD_OUT = "chelsea.png"
# a moderate phone-camera chain: optics blur, sensor downsampling, noise, JPEG
DEMO_RECIPE = ("blur(sigma=0.8~1.6) > down(scale=4, mode=bicubic|bilinear|area) "
               "> noise(sigma=3~8, gray=0.3) > jpeg(quality=60~90)")


def _bundled(name: str) -> Path:
    import skimage
    path = Path(skimage.__file__).parent / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"scikit-image's bundled photo '{name}' is missing; reinstall "
                                "scikit-image (pip install --force-reinstall scikit-image)")
    return path


def prepare_demo_data(root: Path, seed: int = 0) -> dict[str, Path]:
    """Write the unpaired training domains and the held-out pair under ``root``."""
    recipe = Recipe.parse(DEMO_RECIPE)
    dirs = {k: root / k for k in ("hr", "real_lr", "test_lr", "test_hr")}
    for name in HR_PHOTOS:
        write_image(dirs["hr"] / f"{Path(name).stem}.png", load_rgb(_bundled(name)))
    for i, name in enumerate(REAL_LR_PHOTOS):
        lr, _ = recipe.apply(load_rgb(_bundled(name)), np.random.default_rng([seed, i]))
        write_image(dirs["real_lr"] / f"{Path(name).stem}.png", lr)
    hr = recipe.crop_to_scale(load_rgb(_bundled(HELD_OUT)))
    lr, _ = recipe.apply(hr, np.random.default_rng([seed, 999]))
    write_image(dirs["test_hr"] / "chelsea.png", hr)
    write_image(dirs["test_lr"] / "chelsea.png", lr)
    return dirs


def _step_seconds(cfg) -> dict[str, float]:
    """Seconds per iteration of each phase for this config, measured on random data."""
    from cyclesr.engine.timing import time_step
    return {phase: time_step(cfg, phase, iters=2, warmup=1)["ms_per_iter"] / 1000
            for phase in ("transfer", "pretrain", "joint")}


def _fit_budget(cfg, minutes: float):
    """Set iters_per_epoch so that the whole schedule fits the time budget."""
    t = cfg.trainer
    sec = _step_seconds(cfg)
    joint_epochs = cfg.total_epochs - t.warmup_epochs - t.pretrain_epochs
    per_iter_epoch = (t.warmup_epochs * sec["transfer"] + t.pretrain_epochs * sec["pretrain"]
                      + joint_epochs * sec["joint"])
    budget = minutes * 60 * 0.8  # leave room for data loading, validation and the page
    iters = int(max(5, min(400, budget / per_iter_epoch)))
    from cyclesr.config import config_from_dict
    return config_from_dict(cfg.to_dict(), cfg.source, [f"dataset.train.iters_per_epoch={iters}"])


def write_demo_page(path: Path, panels: dict[str, torch.Tensor], metrics: dict, note: str) -> Path:
    """A self-contained HTML page: the images side by side and the metrics table."""
    cells = "".join(
        f'<figure><img src="{png_data_uri(img)}" alt="{html.escape(name)}">'
        f"<figcaption>{html.escape(name)}</figcaption></figure>" for name, img in panels.items())
    rows = "".join(
        f"<tr><td>{k}</td><td>{m['psnr_rgb']:.2f}</td><td>{m['psnr_y']:.2f}</td>"
        f"<td>{m['ssim_y']:.4f}</td></tr>" for k, m in metrics.items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>CycleSR demo</title>
<style>body{{font-family:sans-serif;margin:2em}} figure{{display:inline-block;margin:4px}}
img{{width:360px;image-rendering:pixelated}} table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:4px 10px;text-align:right}}</style></head><body>
<h1>CycleSR demo</h1><p>{html.escape(note)}</p>{cells}
<h2>Held-out image (PSNR/SSIM on the Y channel, crop border = scale)</h2>
<table><tr><th>method</th><th>PSNR-RGB</th><th>PSNR-Y</th><th>SSIM-Y</th></tr>{rows}</table>
</body></html>"""
    path.write_text(page)
    return path


def run_demo(out_dir: str | Path = "demo_out", minutes: float = 4.0, device: Optional[str] = None,
             seed: int = 0, progress: bool = True) -> dict:
    from cyclesr.api.model import load
    from cyclesr.api.train import train
    from cyclesr.eval.paired import bicubic_upscale, evaluate_sr

    start = time.time()
    out = Path(out_dir)
    print(f"preparing demo data from scikit-image's bundled photos in {out / 'data'}")
    dirs = prepare_demo_data(out / "data", seed)
    cfg = load_config(Path(__file__).parent / "configs" / "demo.yml", [
        f"dataset.train.HR_dir={dirs['hr']}", f"dataset.train.LR_dir={dirs['real_lr']}",
        f"dataset.test.LR_dir={dirs['test_lr']}", f"dataset.test.HR_dir={dirs['test_hr']}",
        f"trainer.seed={seed}", "trainer.device=" + (device or "auto")])
    cfg = _fit_budget(cfg, minutes)
    print(f"training the demo config: {cfg.total_epochs} epochs x "
          f"{cfg.dataset.train.iters_per_epoch} iterations (budget {minutes:g} min)")
    summary = train(cfg, out / "run", progress=progress)
    ckpt = summary["best_checkpoint"] or summary["latest"]
    model = load(ckpt, device=device)
    result = evaluate_sr(model.sr, dirs["test_lr"], dirs["test_hr"], model.scale,
                         out_dir=out / "upscaled")
    lr = load_rgb(dirs["test_lr"] / "chelsea.png")
    hr = load_rgb(dirs["test_hr"] / "chelsea.png")
    sr = load_rgb(out / "upscaled" / "chelsea.png")
    bic = bicubic_upscale(lr, model.scale)
    write_image(out / "upscaled" / "chelsea_bicubic.png", bic)
    lr_big = torch.nn.functional.interpolate(lr[None], scale_factor=model.scale, mode="nearest")[0]
    panels = {"real LR (nearest)": lr_big, "bicubic": bic, "CycleSR": sr, "HR": hr}
    mean = result["mean"]
    note = (f"Trained for {summary['seconds']:.0f} s on {str(model.device)} without any paired "
            f"data; the held-out photo was degraded with: {DEMO_RECIPE}")
    page = write_demo_page(out / "index.html", panels, mean, note)
    (out / "results.json").write_text(json.dumps(result, indent=2))
    c, b = mean["cyclesr"], mean["bicubic"]
    print(f"\nheld-out image  PSNR-Y  bicubic {b['psnr_y']:.2f} dB   CycleSR {c['psnr_y']:.2f} dB"
          f"   (SSIM-Y {b['ssim_y']:.3f} -> {c['ssim_y']:.3f})")
    print(f"page:        {page}")
    print(f"images:      {out / 'upscaled'}")
    print(f"checkpoint:  {ckpt}")
    print(f"total time:  {time.time() - start:.0f} s")
    print(f"next: open {page} in a browser, or upscale your own photos with\n"
          f"      cyclesr upscale --checkpoint {ckpt} YOUR_IMAGES -o upscaled/")
    return {"page": str(page), "checkpoint": ckpt, "metrics": mean, "train": summary}
