"""One self-contained HTML page about a training run (``cyclesr report RUN_DIR``).

The page holds the training curves (matplotlib), the validation metrics of every evaluation, and
for each validation image of the last evaluation LR / bicubic / CycleSR / HR side by side, a
before/after slider (bicubic vs CycleSR) and zoomed crops of its most detailed region. Every
image is embedded as a data URI, so the file can be mailed or archived on its own. Training
(``cyclesr.train()``, ``cyclesr train``) writes it at the end; ``cyclesr report`` rebuilds it at
any time, also during training. The curves are drawn in ``cyclesr.report.plots``.
"""
from __future__ import annotations

import base64
import html
import io
import json
from importlib import resources
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as nnf
import yaml

from cyclesr.report.plots import plot_training, plot_validation

__all__ = ["png_data_uri", "build_report", "read_metrics"]


# ---------------------------------------------------------------- reading the run
def read_metrics(run_dir: Path) -> dict[str, list[dict]]:
    """Records of ``metrics.jsonl`` by kind, sorted by step. A resumed run logs some steps
    twice (those after its last checkpoint): the later record wins. Broken lines are skipped."""
    by_kind: dict[str, dict[int, dict]] = {}
    path = run_dir / "metrics.jsonl"
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
                by_kind.setdefault(rec["kind"], {})[int(rec["step"])] = rec
            except (ValueError, KeyError, TypeError):
                continue  # e.g. the last line of a killed run
    return {k: [v[s] for s in sorted(v)] for k, v in by_kind.items()}


def _find_dir(value: Optional[str], run_dir: Path) -> Optional[Path]:
    """A data folder named in config.yml: as written, or relative to the run folder."""
    if not value:
        return None
    for candidate in (Path(value), run_dir / value, run_dir.parent / value):
        if candidate.is_dir():
            return candidate
    return None


# ---------------------------------------------------------------- pictures
def png_data_uri(array_or_tensor) -> str:
    """A data URI of a (3, H, W) tensor in [0, 1] or of PNG bytes."""
    data = array_or_tensor
    if torch.is_tensor(data):
        from PIL import Image
        from cyclesr.data.io import to_uint8
        buf = io.BytesIO()
        Image.fromarray(to_uint8(data).permute(1, 2, 0).numpy()).save(buf, format="PNG")
        data = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _detail_box(img: torch.Tensor, scale: int) -> tuple[int, int, int]:
    """(top, left, size) in SR pixels of the most detailed square, aligned to LR pixels."""
    h, w = img.shape[-2:]
    size_lr = max(4, min(48, min(h, w) // scale // 4))
    size = size_lr * scale
    gray = img.mean(0, keepdim=True)[None]
    grad = (gray[..., 1:, :-1] - gray[..., :-1, :-1]).abs() + (gray[..., :-1, 1:] - gray[..., :-1, :-1]).abs()
    if min(grad.shape[-2:]) < size:
        return 0, 0, min(h, w) // scale * scale
    energy = nnf.avg_pool2d(grad, size, stride=scale)[0, 0]
    idx = int(energy.argmax())
    return idx // energy.shape[1] * scale, idx % energy.shape[1] * scale, size


# ---------------------------------------------------------------- sections
def _table(records: list[dict]) -> str:
    names = [f"{who}_{k}" for who in ("cyclesr", "bicubic") for k in ("psnr_rgb", "psnr_y", "ssim_y")]
    names = [n for n in names if any(n in r for r in records)]
    best = max(records, key=lambda r: r.get("cyclesr_psnr_y", float("-inf")))
    head = "".join(f"<th>{_col_title(n)}</th>" for n in names)
    rows = []
    for r in records:
        gain = r.get("cyclesr_psnr_y", float("nan")) - r.get("bicubic_psnr_y", float("nan"))
        cells = "".join("<td></td>" if n not in r else
                        f"<td>{r[n]:.4f}</td>" if "ssim" in n else f"<td>{r[n]:.2f}</td>" for n in names)
        cls = ' class="best"' if r is best else ""
        rows.append(f"<tr{cls}><td>{r['epoch']}</td><td>{r['step']}</td>{cells}<td>{gain:+.2f} dB</td></tr>")
    return (f"<table><tr><th>epoch</th><th>step</th>{head}<th>CycleSR gain PSNR-Y</th></tr>"
            + "".join(rows) + "</table>")


def _col_title(name: str) -> str:
    who, metric = name.split("_", 1)
    return f"{'CycleSR' if who == 'cyclesr' else 'bicubic'} {metric.replace('_', '-').upper()}"


def _central_window(h: int, w: int, scale: int, limit: int) -> tuple[slice, slice, bool]:
    """Rows and columns (SR pixels, aligned to LR pixels) of the central ``limit`` square that
    large images are shown through, and whether it crops anything."""
    ch, cw = min(h, limit) // scale * scale, min(w, limit) // scale * scale
    top, left = (h - ch) // 2 // scale * scale, (w - cw) // 2 // scale * scale
    return slice(top, top + ch), slice(left, left + cw), (ch, cw) != (h, w)


def _image_section(i: int, name: str, lr, sr, hr, scale: int, metrics: dict, limit: int = 1024) -> str:
    from cyclesr.eval.paired import bicubic_upscale
    full = f"{lr.shape[-1]}x{lr.shape[-2]} &rarr; {sr.shape[-1]}x{sr.shape[-2]}"
    rows, cols, cropped = _central_window(*sr.shape[-2:], scale, limit)
    bic = bicubic_upscale(lr, scale)[:, rows, cols]
    lr = lr[:, rows.start // scale:rows.stop // scale, cols.start // scale:cols.stop // scale]
    sr = sr[:, rows, cols]
    if hr is not None:
        hr = hr[:, rows, cols]
    h, w = sr.shape[-2:]
    top, left, size = _detail_box(hr if hr is not None and hr.shape[-2:] == sr.shape[-2:] else sr, scale)
    views = [("LR (input)", lr), ("bicubic", bic), ("CycleSR", sr)]
    if hr is not None:
        views.append(("HR (ground truth)", hr))
    uris = {t: png_data_uri(img) for t, img in views}
    caps = {k: f" &middot; PSNR-Y {v:.2f} dB" for k, v in metrics.items()}
    figs = "".join(
        f'<figure><img class="{"pixelated" if t.startswith("LR") else ""}" src="{uris[t]}" alt="{t}">'
        f"<figcaption>{t}{caps.get(t, '')}</figcaption></figure>" for t, _ in views)
    crops = []
    for t, img in views:
        s = scale if t.startswith("LR") else 1
        region = img[:, top // s:(top + size) // s, left // s:(left + size) // s]
        if region.numel():
            crops.append(f'<figure><img class="pixelated" src="{png_data_uri(region)}" alt="zoom {t}">'
                         f"<figcaption>{t}</figcaption></figure>")
    box = (f"left:{100 * left / w:.3f}%;top:{100 * top / h:.3f}%;"
           f"width:{100 * size / w:.3f}%;height:{100 * size / h:.3f}%")
    shown = f", central {w}x{h} shown" if cropped else ""
    return f"""
<h3>{html.escape(name)} <span class="muted">({full}{shown})</span></h3>
<div class="row">{figs}</div>
<div class="compare" style="max-width:{max(w, 400)}px">
  <img src="{uris['bicubic']}" alt="bicubic">
  <img class="top" id="cmp-top-{i}" src="{uris['CycleSR']}" alt="CycleSR">
  <div class="divider" id="cmp-line-{i}"></div>
  <div class="zoombox" style="{box}"></div>
  <span class="tag left">bicubic</span><span class="tag right">CycleSR</span>
</div>
<input class="cmp-range" type="range" min="0" max="100" value="50" style="max-width:{max(w, 400)}px"
       data-target="cmp-top-{i}" data-divider="cmp-line-{i}" aria-label="before/after {html.escape(name)}">
<p class="muted">Zoom on the yellow box ({size // scale}x{size // scale} LR pixels):</p>
<div class="row crops">{''.join(crops)}</div>"""


def _images(run_dir: Path, cfg: dict, max_images: int) -> tuple[str, int]:
    """HTML of the validation images of the last evaluation, and the epoch they come from."""
    from cyclesr.data.datasets import PairedDataset
    from cyclesr.data.io import load_rgb
    from cyclesr.eval.paired import bicubic_upscale
    from cyclesr.eval.metrics import image_metrics
    epochs = sorted(p for p in (run_dir / "val").glob("epoch_*") if any(p.rglob("*.png")))
    if not epochs:
        return '<p class="note">No validation images yet (set dataset.test.LR_dir to get them).</p>', 0
    folder = epochs[-1]
    test = (cfg.get("dataset") or {}).get("test") or {}
    scale = int((cfg.get("dataset") or {}).get("upscale", 4))
    shift = test.get("val_ps_offset")
    shift = int(((cfg.get("trainer") or {}).get("val_ps_offset", 0)) if shift is None else shift)
    lr_dir, hr_dir = _find_dir(test.get("LR_dir"), run_dir), _find_dir(test.get("HR_dir"), run_dir)
    if lr_dir is None:
        return (f'<p class="note">The validation LR folder {html.escape(str(test.get("LR_dir")))} '
                "named in config.yml is not found from here.</p>"), 0
    try:
        data = PairedDataset(lr_dir, hr_dir)
    except ValueError:
        data = PairedDataset(lr_dir)
    index = {n: i for i, n in enumerate(data.names)}
    parts = []
    for sr_path in sorted(folder.rglob("*.png"))[:max_images]:
        name = sr_path.relative_to(folder).with_suffix("").as_posix()
        if name not in index:
            continue
        item = data[index[name]]
        sr, hr = load_rgb(sr_path), item.get("hr")
        metrics = {}
        if hr is not None:  # as the validation measured them (crop border, shift search)
            bic = bicubic_upscale(item["lr"], scale)
            metrics = {"CycleSR": image_metrics(sr, hr, scale, shift)["psnr_y"],
                       "bicubic": image_metrics(bic, hr, scale, shift)["psnr_y"]}
        parts.append(_image_section(len(parts), name, item["lr"], sr, hr, scale, metrics))
    return "".join(parts), int(folder.name.split("_")[-1])


def _summary(run_dir: Path, cfg: dict, metrics: dict) -> str:
    train, val = metrics.get("train", []), metrics.get("val", [])
    t = cfg.get("trainer") or {}
    sr = ((cfg.get("model") or {}).get("sr") or {})
    total = int(t.get("n_epoch", 0)) + int(t.get("n_epoch_decay", 0))
    rows = {"run folder": str(run_dir.resolve()),
            "scale": f"x{(cfg.get('dataset') or {}).get('upscale', '?')}",
            "SR network": f"{sr.get('name', '?')} {json.dumps(sr.get('kwargs', {}))}",
            "progress": (f"epoch {train[-1]['epoch']} of {total}, step {train[-1]['step']}"
                         if train else "no training steps logged yet")}
    if val and any("cyclesr_psnr_y" in r for r in val):
        best = max(val, key=lambda r: r.get("cyclesr_psnr_y", float("-inf")))
        rows["best validation"] = (f"{best['cyclesr_psnr_y']:.2f} dB PSNR-Y at epoch {best['epoch']} "
                                   f"(bicubic {best.get('bicubic_psnr_y', float('nan')):.2f} dB)")
    pseudo = [r for r in metrics.get("noref", []) if "pseudo_psnr" in r]
    if pseudo:  # no ground truth: SR on pairs G made from the HR images
        best = max(pseudo, key=lambda r: r["pseudo_psnr"])
        rows["best pseudo-PSNR (no ground truth)"] = f"{best['pseudo_psnr']:.2f} dB PSNR-Y at epoch {best['epoch']}"
    for label, rel in (("published model", "model"), ("checkpoints", "checkpoints")):
        if (run_dir / rel).is_dir():
            rows[label] = str((run_dir / rel).resolve())
    return '<dl class="summary">' + "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in rows.items()) + "</dl>"


def build_report(run_dir: str | Path, output: Optional[str | Path] = None, max_images: int = 8) -> Path:
    """Write the run's HTML report (default ``RUN_DIR/report.html``) and return its path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder '{run_dir}' not found")
    cfg_path = run_dir / "config.yml"
    cfg = yaml.safe_load(cfg_path.read_text()) if cfg_path.is_file() else {}
    if not cfg_path.is_file() and not (run_dir / "metrics.jsonl").is_file():
        raise FileNotFoundError(f"'{run_dir}' is not a CycleSR run folder (no config.yml, no "
                                "metrics.jsonl); pass the --output-dir of a training run")
    metrics = read_metrics(run_dir)
    train, val = metrics.get("train", []), metrics.get("val", [])
    parts = [f"<h1>CycleSR training report: {html.escape(run_dir.resolve().name)}</h1>",
             _summary(run_dir, cfg or {}, metrics), "<h2>Training curves</h2>"]
    parts.append(f'<img class="plot" src="{png_data_uri(plot_training(train))}" alt="training curves">'
                 if train else '<p class="note">No training losses logged yet.</p>')
    parts.append("<h2>Validation</h2>")
    if val:
        parts.append(f'<img class="plot" src="{png_data_uri(plot_validation(val))}" alt="validation curves">')
        parts.append(_table(val))
    else:
        parts.append('<p class="note">No validation metrics (needs dataset.test.LR_dir and HR_dir).</p>')
    images, epoch = _images(run_dir, cfg or {}, max_images)
    parts.append(f"<h2>Validation images{f' at epoch {epoch}' if epoch else ''}</h2>")
    parts.append('<p class="muted">Drag the slider: bicubic on the left, CycleSR on the right.</p>'
                 if epoch else "")
    parts.append(images)
    template = resources.files("cyclesr.report").joinpath("template.html").read_text()
    page = template.replace("{{title}}", html.escape(f"CycleSR report: {run_dir.resolve().name}"))
    page = page.replace("{{body}}", "\n".join(parts))
    out = Path(output) if output else run_dir / "report.html"
    from cyclesr.ops.files import atomic_write_bytes
    atomic_write_bytes(out, page.encode("utf-8"))
    return out
