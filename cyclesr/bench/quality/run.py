"""``cyclesr bench quality``: does CycleSR beat an SR network trained on bicubic pairs, and how
close does it come to the same network trained on the true pairs?

Four methods, evaluated on a paired test set degraded like the real LR (PSNR/SSIM on Y with
crop border = scale, and RGB PSNR):

- ``bicubic``: bicubic upsampling of the test LR;
- ``bicubic_pairs`` (b): the SR network trained on (bicubic(HR), HR) crops;
- ``cyclesr`` (c): CycleSR on unpaired data: HR images and real LR from *other* images;
- ``oracle`` (d): the SR network trained on the true (degraded LR, HR) crops.

Equal budget: (b), (c) and (d) use the same SR network (same initial weights), LR patch,
batch, optimizer (Adam, same betas, learning rate and schedule per epoch, gradient clipping)
and the same number of SR updates: CycleSR's pretrain + joint iterations. CycleSR's transfer
networks train on top of that budget (its warm-up and the transfer half of each joint step).

``gap_closure = (c - b) / (d - b)`` on Y-PSNR. Across CycleSR's per-epoch checkpoints the
no-reference score (``cyclesr.eval.noref``: KID of G(X) against real LR) is compared with the
test PSNR by Spearman correlation.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as nnf

from cyclesr.bench.quality_presets import DESIGNS, PRESETS, cyclesr_layout, sr_updates
from cyclesr.config import config_from_dict
from cyclesr.data.degrade import bicubic_downscale, synthesize_folder
from cyclesr.data.io import list_images, load_rgb, to_uint8
from cyclesr.ops.device import resolve_device
from cyclesr.ops.resize import crop_to_multiple
from cyclesr.engine.checkpoint import load_checkpoint
from cyclesr.engine.schedule import learning_rates, phase_at
from cyclesr.eval.paired import evaluate_sr
from cyclesr.model import build_model
from cyclesr.eval.noref import generate_fake_lr, noref_scores, pseudo_psnr, sample_images, spearman

__all__ = ["add_parsers", "run", "run_quality_bench", "gap_closure", "markdown_table", "METHODS"]

METHODS = ("bicubic", "bicubic_pairs", "cyclesr", "oracle")
_LABELS = {"bicubic": "(a) bicubic upsampling", "bicubic_pairs": "(b) SR on bicubic pairs",
           "cyclesr": "(c) CycleSR, unpaired", "oracle": "(d) SR on true pairs (oracle)"}
DEFAULT_HR_TRAIN = "../shared/data/BSD100/HR"
DEFAULT_TEST_HR = ("../shared/data/Set14/HR", "../shared/data/Set5/HR")


def gap_closure(b: float, c: float, d: float) -> float:
    """(c - b) / (d - b): 0 = no better than bicubic pairs, 1 = as good as the oracle."""
    return (c - b) / (d - b) if d != b else float("nan")


# ---------------------------------------------------------------- data
def _copy_images(paths: Sequence[Path], root: Path, out: Path) -> None:
    for p in paths:
        dst = out / p.relative_to(root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dst)


def _pixel_hashes(folder: Path) -> dict[str, str]:
    return {hashlib.sha1(to_uint8(load_rgb(p)).numpy().tobytes()).hexdigest(): str(p)
            for p in list_images(folder)}


def check_disjoint(train_dirs: Sequence[Path], test_dirs: Sequence[Path]) -> None:
    """Raise if any test image (by decoded pixels) is also in a training folder."""
    train = {}
    for d in train_dirs:
        train.update(_pixel_hashes(d))
    for d in test_dirs:
        for h, path in _pixel_hashes(d).items():
            if h in train:
                raise ValueError(f"test image {path} is also a training image ({train[h]}); "
                                 "the benchmark never trains on test images")


def prepare_data(out: Path, hr_train: Path, test_hr: Sequence[Path], recipe: Optional[str],
                 real_lr: Optional[Path], oracle_lr: Optional[Path], test_lr: Optional[Path],
                 seed: int, scale: int = 4) -> dict[str, Path]:
    """Folders under ``out/data``: hr (HR domain), real_lr, oracle_lr (LR of hr, same names),
    test_hr and test_lr. With a recipe, ``hr_train`` is split by sorted name into halves: the
    first is the HR domain, the second is degraded into the real-LR domain (other scenes)."""
    data = out / "data"
    dirs = {k: data / k for k in ("hr", "real_lr", "oracle_lr", "test_hr", "test_lr")}
    if data.exists():
        shutil.rmtree(data)
    images = list_images(hr_train)
    if real_lr is None:
        if recipe is None:
            raise ValueError("give --recipe, or --real-lr with --oracle-lr")
        half = len(images) // 2
        if half < 1:
            raise ValueError(f"--hr-train {hr_train} needs at least 2 images to split")
        _copy_images(images[:half], hr_train, dirs["hr"])
        _copy_images(images[half:], hr_train, data / "hr_real_domain")
        synthesize_folder(data / "hr_real_domain", dirs["real_lr"], recipe, scale, seed=seed + 1)
        shutil.rmtree(data / "hr_real_domain")
        synthesize_folder(dirs["hr"], dirs["oracle_lr"], recipe, scale, seed=seed)
    else:
        if oracle_lr is None:
            raise ValueError("--real-lr needs --oracle-lr (LR versions of the --hr-train images)")
        _copy_images(images, hr_train, dirs["hr"])
        _copy_images(list_images(real_lr), real_lr, dirs["real_lr"])
        _copy_images(list_images(oracle_lr), oracle_lr, dirs["oracle_lr"])
    for folder in test_hr:  # one sub-folder per test set keeps names unique
        _copy_images(list_images(folder), folder, dirs["test_hr"] / Path(folder).resolve().parent.name)
    if test_lr is None:
        if recipe is None:
            raise ValueError("give --recipe, or --test-lr with --test-hr")
        raw = data / "test_hr_raw"
        dirs["test_hr"].rename(raw)
        synthesize_folder(raw, dirs["test_lr"], recipe, scale, seed=seed + 2, paired_hr_out=dirs["test_hr"])
        shutil.rmtree(raw)
    else:
        if len(test_hr) != 1:
            raise ValueError("--test-lr pairs with exactly one --test-hr folder")
        shutil.rmtree(dirs["test_hr"])
        _copy_images(list_images(test_hr[0]), test_hr[0], dirs["test_hr"])
        _copy_images(list_images(test_lr), test_lr, dirs["test_lr"])
    check_disjoint([dirs["hr"], dirs["real_lr"], dirs["oracle_lr"]], [dirs["test_hr"]])
    return dirs


# ---------------------------------------------------------------- SR-only baselines
class _PairCrops:
    """Aligned random (LR, HR) crops with the 8 flips/rotations; LR = bicubic(HR) when no LR
    folder is given (baseline b), else the image of the same name (oracle d)."""

    def __init__(self, hr_dir: Path, lr_dir: Optional[Path], crop: int, scale: int, seed: int):
        self.hr = [load_rgb(p) for p in list_images(hr_dir)]
        if lr_dir is None:
            self.lr = None
        else:
            by_name = {p.relative_to(lr_dir).with_suffix("").as_posix(): p for p in list_images(lr_dir)}
            names = [p.relative_to(hr_dir).with_suffix("").as_posix() for p in list_images(hr_dir)]
            missing = [n for n in names if n not in by_name]
            if missing:
                raise ValueError(f"--oracle-lr has no image for {missing[:5]} (matched by name)")
            self.lr = [load_rgb(by_name[n]) for n in names]
        self.crop, self.scale = crop, scale
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        lrs, hrs = [], []
        c, s = self.crop, self.scale
        for _ in range(size):
            i = int(self.rng.integers(len(self.hr)))
            hr = self.hr[i]
            if self.lr is None:
                h, w = hr.shape[-2] // s, hr.shape[-1] // s
            else:
                h, w = self.lr[i].shape[-2:]
            top, left = int(self.rng.integers(0, h - c + 1)), int(self.rng.integers(0, w - c + 1))
            hr_crop = hr[:, top * s:(top + c) * s, left * s:(left + c) * s]
            lr_crop = (bicubic_downscale(hr_crop, s) if self.lr is None
                       else self.lr[i][:, top:top + c, left:left + c])
            k, flip = int(self.rng.integers(4)), bool(self.rng.integers(2))
            for t, dst in ((lr_crop, lrs), (hr_crop, hrs)):
                t = t.flip(-1) if flip else t
                dst.append(torch.rot90(t, k, (-2, -1)))
        return torch.stack(lrs), torch.stack(hrs)


def train_sr_only(cfg, hr_dir: Path, lr_dir: Optional[Path], seed: int, device: torch.device,
                  log=print) -> torch.nn.Module:
    """The SR network alone, with CycleSR's SR budget: one update per iteration of every epoch
    in which CycleSR trains its SR network, at the same learning rate per epoch."""
    torch.manual_seed(cfg.trainer.seed)
    sr = build_model(cfg).SR.to(device)  # same initial weights as CycleSR's SR network
    m, t, tr = cfg.model, cfg.trainer, cfg.dataset.train
    opt = torch.optim.Adam(sr.parameters(), lr=m.SR_lr, betas=(m.beta1, m.beta2))
    data = _PairCrops(hr_dir, lr_dir, tr.crop_size, cfg.upscale, seed)
    sr.train()
    steps = 0
    for epoch in range(1, cfg.total_epochs + 1):
        if not phase_at(epoch, t).train_sr:
            continue
        lr = learning_rates(epoch, t, m.cyc_lr, m.SR_lr)["sr"]
        for g in opt.param_groups:
            g["lr"] = lr
        total = 0.0
        for _ in range(tr.iters_per_epoch):
            lr_b, hr_b = data.batch(tr.batch_size)
            loss = nnf.mse_loss(sr(lr_b.to(device)), hr_b.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if m.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(sr.parameters(), m.grad_clip)
            opt.step()
            total += float(loss.detach())
            steps += 1
        log(f"  epoch {epoch}: sr loss {total / tr.iters_per_epoch:.5f} (lr {lr:.2e}, {steps} updates)")
    return sr.eval()


# ---------------------------------------------------------------- evaluation
def _metrics(sr_net, dirs: dict, device, max_images=None) -> tuple[dict, dict]:
    res = evaluate_sr(sr_net, dirs["test_lr"], dirs["test_hr"], 4, device=device, max_images=max_images)
    keep = ("psnr_y", "ssim_y", "psnr_rgb")
    return ({k: res["mean"]["cyclesr"][k] for k in keep}, {k: res["mean"]["bicubic"][k] for k in keep})


def curve_images(dirs: dict, n: int) -> tuple[list, list]:
    """The fixed images of the checkpoint study (a seeded choice of ``n`` each): clean LR
    (bicubic x4 of HR-domain images cropped to a multiple of 4) and real LR images."""
    rng = np.random.default_rng(0)

    def pick(paths):
        return [paths[i] for i in sorted(rng.choice(len(paths), min(n, len(paths)), replace=False))]

    clean = [bicubic_downscale(crop_to_multiple(load_rgb(path), 4), 4) for path in pick(list_images(dirs["hr"]))]
    return clean, [load_rgb(path) for path in pick(list_images(dirs["real_lr"]))]


def joint_checkpoints(run_dir: Path, cfg):
    """(epoch, checkpoint state) of every joint-phase checkpoint of a run, oldest first."""
    for ckpt in sorted((run_dir / "checkpoints").glob("epoch_*.pt")):
        epoch = int(ckpt.stem.split("_")[1])
        if phase_at(epoch, cfg.trainer).name == "joint":
            yield epoch, load_checkpoint(ckpt)


def _checkpoint_curve(run_dir: Path, cfg, dirs: dict, device, p: dict, log=print) -> dict:
    """Test PSNR, no-reference KID and pseudo-PSNR of every joint-phase checkpoint; Spearman
    of -KID and of the pseudo-PSNR with the test PSNR. The pseudo-PSNR scores each checkpoint's
    SR network on pairs made from HR-domain images by one G for all: the checkpoint's G with
    the lowest KID (the most realistic degradation; each checkpoint's own G would mix how
    strong G degrades into the score)."""
    model = build_model(cfg).to(device)
    clean, real = curve_images(dirs, p["noref_images"])
    rows, states = [], []
    for epoch, state in joint_checkpoints(run_dir, cfg):
        states.append({k: state["nets"][k] for k in ("G", "SR")})
        model.SR.load_state_dict(state["nets"]["SR"])
        model.G.load_state_dict(state["nets"]["G"])
        psnr, _ = _metrics(model.SR, dirs, device, p.get("max_test"))
        score = noref_scores(generate_fake_lr(model.G, clean, seed=0), real, patch=p["noref_patch"], seed=0)
        rows.append({"epoch": epoch, **psnr, "kid": score["kid"], "fake": score["fake"], "real": score["real"]})
    if not rows:
        return {"checkpoints": [], "spearman_neg_kid_vs_psnr_y": float("nan"),
                "spearman_pseudo_psnr_vs_psnr_y": float("nan"), "pseudo_psnr_G_epoch": None}
    ref = min(range(len(rows)), key=lambda i: rows[i]["kid"])
    model.G.load_state_dict(states[ref]["G"])
    hr = sample_images(dirs["hr"], p["noref_images"], seed=2, multiple=4)
    for row, state in zip(rows, states):
        model.SR.load_state_dict(state["SR"])
        row["pseudo_psnr"] = pseudo_psnr(model.SR, model.G, hr, 4, seed=0, device=device)
        log(f"  checkpoint epoch {row['epoch']}: psnr_y {row['psnr_y']:.3f}  pseudo-psnr {row['pseudo_psnr']:.3f}  "
            f"kid {row['kid']:.4f}  noise {row['fake']['noise']:.2f}/{row['real']['noise']:.2f}")
    ok = len(rows) > 1
    truth = [r["psnr_y"] for r in rows]
    return {"checkpoints": rows, "pseudo_psnr_G_epoch": rows[ref]["epoch"],
            "spearman_neg_kid_vs_psnr_y": spearman([-r["kid"] for r in rows], truth) if ok else float("nan"),
            "spearman_pseudo_psnr_vs_psnr_y": spearman([r["pseudo_psnr"] for r in rows], truth) if ok else float("nan")}


# ---------------------------------------------------------------- the benchmark
def run_quality_bench(out: str | Path, *, hr_train: str | Path = DEFAULT_HR_TRAIN,
                      test_hr: Sequence[str | Path] = DEFAULT_TEST_HR, recipe: Optional[str] = None,
                      real_lr=None, oracle_lr=None, test_lr=None, preset: str = "cpu-small",
                      design: str = "camera-jpeg", seed: int = 0, overrides: Optional[list[str]] = None,
                      device: Optional[str] = None, checkpoint_curve: bool = True,
                      reuse_baselines: Optional[str | Path] = None, baselines_only: bool = False,
                      log=print) -> dict:
    """Prepare the data, train (b), (c), (d), evaluate all four; write ``results.json`` and
    ``results.md`` under ``out`` and return the results dict. ``baselines_only``: stop after
    (a), (b), (d) and return what ``baselines.json`` holds. ``reuse_baselines``: a
    results.json of an earlier run with the same preset, recipe, seed and SR settings whose
    (a), (b), (d) are taken as they are (for ablations of the transfer design only)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    pathify = lambda v: None if v is None else Path(v)  # noqa: E731
    dirs = prepare_data(out, Path(hr_train), [Path(t) for t in test_hr], recipe, pathify(real_lr),
                        pathify(oracle_lr), pathify(test_lr), seed)
    raw = cyclesr_layout(p, design, str(dirs["hr"]), str(dirs["real_lr"]), seed)
    cfg = config_from_dict(raw, source=f"bench quality preset {preset}", overrides=overrides)
    dev = resolve_device(device)
    times: dict[str, float] = {}
    results: dict = {}

    if reuse_baselines and baselines_only:
        raise ValueError("--baselines-only and --reuse-baselines exclude each other")
    if reuse_baselines:
        prev = json.loads(Path(reuse_baselines).read_text())
        same = {k: prev["settings"][k] for k in ("preset", "recipe", "seed", "sr_net", "sr_kwargs")}
        if same != {"preset": preset, "recipe": recipe, "seed": seed, "sr_net": cfg.model.sr.name,
                    "sr_kwargs": dict(cfg.model.sr.kwargs)}:
            raise ValueError(f"--reuse-baselines {reuse_baselines}: its settings {same} differ from this run's")
        results.update({k: prev[k] for k in ("bicubic", "bicubic_pairs", "oracle")})
        log(f"[quality] (a), (b), (d) taken from {reuse_baselines}")
    else:
        log(f"[quality] (b) SR on bicubic pairs: {sr_updates(p)} updates")
        t0 = time.time()
        net_b = train_sr_only(cfg, dirs["hr"], None, seed, dev, log)
        results["bicubic_pairs"], results["bicubic"] = _metrics(net_b, dirs, dev, p["max_test"])
        times["bicubic_pairs"] = time.time() - t0
        log(f"  (a) bicubic {results['bicubic']}\n  (b) {results['bicubic_pairs']}")

        log(f"[quality] (d) oracle: SR on true pairs: {sr_updates(p)} updates")
        t0 = time.time()
        net_d = train_sr_only(cfg, dirs["hr"], dirs["oracle_lr"], seed, dev, log)
        results["oracle"], _ = _metrics(net_d, dirs, dev, p["max_test"])
        times["oracle"] = time.time() - t0
        log(f"  (d) {results['oracle']}")
        baselines = {**results, "settings": _settings(p, cfg, dirs, preset, design, recipe, seed,
                                                       overrides, dev, None)}
        (out / "baselines.json").write_text(json.dumps(baselines, indent=2))
        if baselines_only:
            log(f"[quality] baselines written to {out / 'baselines.json'}; measure designs with "
                f"--reuse-baselines {out / 'baselines.json'}")
            return baselines

    log(f"[quality] (c) CycleSR ({design} design), unpaired")
    t0 = time.time()
    from cyclesr.engine.trainer import train  # local: the trainer pulls in logging extras
    run_dir = out / "cyclesr_run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    train(cfg, run_dir, device=str(dev), progress=False)
    model = build_model(cfg).to(dev)
    model.SR.load_state_dict(load_checkpoint(run_dir / "checkpoints" / "latest.pt")["nets"]["SR"])
    results["cyclesr"], _ = _metrics(model.SR.eval(), dirs, dev, p["max_test"])
    times["cyclesr"] = time.time() - t0
    log(f"  (c) {results['cyclesr']}")

    b, c, d = (results[k]["psnr_y"] for k in ("bicubic_pairs", "cyclesr", "oracle"))
    results.update(gap_closure=gap_closure(b, c, d), gain_over_bicubic_pairs_db=c - b, oracle_gap_db=d - b)
    results["settings"] = settings = _settings(p, cfg, dirs, preset, design, recipe, seed, overrides,
                                              dev, reuse_baselines)
    (out / "results.json").write_text(json.dumps(results, indent=2))  # again below with the curve
    if checkpoint_curve:
        log("[quality] no-reference score vs test PSNR across CycleSR checkpoints")
        t0 = time.time()
        results["noref"] = _checkpoint_curve(run_dir, cfg, dirs, dev, p, log)
        times["noref"] = time.time() - t0
    settings["seconds"] = {**times, "total": time.time() - start}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown_table(results))
    log(markdown_table(results))
    return results


def _settings(p, cfg, dirs, preset, design, recipe, seed, overrides, dev, reuse_baselines) -> dict:
    return {
        "preset": preset, "design": design, "recipe": recipe, "seed": seed, "overrides": overrides or [],
        "sr_updates": sr_updates(p), "batch": p["batch"], "lr_patch": p["crop"],
        "sr_net": cfg.model.sr.name, "sr_kwargs": dict(cfg.model.sr.kwargs),
        "train_hr_images": len(list_images(dirs["hr"])), "real_lr_images": len(list_images(dirs["real_lr"])),
        "test_images": len(list_images(dirs["test_lr"])), "device": str(dev),
        "command": " ".join(sys.argv), "baselines_from": str(reuse_baselines) if reuse_baselines else None,
    }


def markdown_table(results: dict) -> str:
    lines = ["| method | PSNR-Y | SSIM-Y | PSNR-RGB |", "| --- | ---: | ---: | ---: |"]
    for k in METHODS:
        r = results[k]
        lines.append(f"| {_LABELS[k]} | {r['psnr_y']:.2f} | {r['ssim_y']:.4f} | {r['psnr_rgb']:.2f} |")
    lines.append("")
    lines.append(f"gap closure (c-b)/(d-b) on PSNR-Y: **{results['gap_closure']:.2f}**; "
                 f"CycleSR - (b): {results['gain_over_bicubic_pairs_db']:+.2f} dB; "
                 f"oracle - (b): {results['oracle_gap_db']:+.2f} dB")
    nr = results.get("noref")
    if nr:
        lines.append(f"\nOver {len(nr['checkpoints'])} checkpoints, Spearman with the test PSNR-Y of "
                     f"the pseudo-PSNR (no ground truth; G of epoch {nr['pseudo_psnr_G_epoch']}): "
                     f"{nr['spearman_pseudo_psnr_vs_psnr_y']:.2f}; "
                     f"of -KID of G(X) vs real LR: {nr['spearman_neg_kid_vs_psnr_y']:.2f}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- CLI
def add_parsers(bench_sub) -> None:
    q = bench_sub.add_parser(
        "quality", help="bicubic vs SR on bicubic pairs vs CycleSR vs oracle, at equal budget",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("--hr-train", default=DEFAULT_HR_TRAIN,
                   help="HR training images (with --recipe: split by name into HR / real-LR halves)")
    q.add_argument("--recipe", help="degradation recipe or preset name (mild, aniso-jpeg, ...) for "
                                    "the real LR, the oracle pairs and the test LR")
    q.add_argument("--real-lr", help="folder of real LR images of other scenes (instead of --recipe)")
    q.add_argument("--oracle-lr", help="LR versions of the --hr-train images, matched by name")
    q.add_argument("--test-hr", nargs="+", default=list(DEFAULT_TEST_HR), help="test HR folder(s)")
    q.add_argument("--test-lr", help="test LR folder matched by name with --test-hr (instead of --recipe)")
    q.add_argument("--preset", default="cpu-small", choices=sorted(PRESETS))
    q.add_argument("--design", default="camera-jpeg", choices=DESIGNS,
                   help="CycleSR transfer design: a camera model as G (blur kernel, noise, and JPEG at "
                        "the quality measured on the real LR: camera-jpeg, the default; camera: without "
                        "JPEG), the improved generator with synthetic degradations mixed into SR training "
                        "(improved-mix), the improved one alone, or the reference's")
    q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of the generated CycleSR config (also the baselines' "
                        "shared SR settings), e.g. model.cycleSR_lam=1000")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--device", default=None)
    q.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    q.add_argument("--no-curve", action="store_true", help="skip the per-checkpoint no-reference study")
    q.add_argument("--reuse-baselines", metavar="RESULTS_JSON",
                   help="take (a), (b), (d) from an earlier run's results.json with the same preset, "
                        "recipe, seed and SR settings (ablations of the CycleSR transfer design)")
    q.add_argument("--baselines-only", action="store_true",
                   help="train and evaluate (a), (b), (d) only and write baselines.json")
    q.add_argument("--out", default="bench/results/quality", help="output folder")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        run_quality_bench(args.out, hr_train=args.hr_train, test_hr=args.test_hr, recipe=args.recipe,
                          real_lr=args.real_lr, oracle_lr=args.oracle_lr, test_lr=args.test_lr,
                          preset=args.preset, design=args.design, seed=args.seed,
                          overrides=args.overrides, device=args.device,
                          checkpoint_curve=not args.no_curve, reuse_baselines=args.reuse_baselines,
                          baselines_only=args.baselines_only)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
