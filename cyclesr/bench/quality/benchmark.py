"""``cyclesr bench quality``: does CycleSR beat what a user would run instead, and how close
does it come to the same network trained on the true pairs?

The methods, evaluated on a paired test set degraded like the real LR (PSNR/SSIM on Y with
crop border = scale, and RGB PSNR):

- ``bicubic`` (a): bicubic upsampling of the test LR;
- ``bicubic_pairs`` (b): the SR network trained on (bicubic(HR), HR) crops;
- ``cyclesr`` (c): CycleSR on unpaired data: HR images and real LR from *other* images; scored
  on the model a user gets (best.pt as training picks it without ground truth, else latest.pt;
  the EMA weights when EMA is on);
- ``oracle`` (d): the SR network trained on the true (degraded LR, HR) crops;
- ``blind_synthetic`` (e): the SR network trained on pairs made on the fly from the HR images by
  Real-ESRGAN's second-order degradation (Wang et al., ICCVW 2021);
- ``realesrgan_x4plus``, ``realesr_animevideov3`` (f): Real-ESRGAN's released x4 models (ncnn,
  CPU; the optional extra ``anchors``, left out with a note without it).

Equal budget: (b), (c), (d) and (e) use the same SR network (same initial weights), LR patch,
batch, optimizer (Adam, same betas, learning rate and schedule per epoch, gradient clipping)
and the same number of SR updates: CycleSR's pretrain + joint iterations. CycleSR's transfer
networks train on top of that budget (its warm-up and the transfer half of each joint step).

``gap_closure = (c - b) / (d - b)`` and ``margin_over_best_alternative = c - max(b, e, f)`` on
Y-PSNR. Across CycleSR's per-epoch checkpoints the no-reference score (``cyclesr.eval.noref``:
KID of G(X) against real LR) and the pseudo-PSNR are compared with the test PSNR by Spearman
correlation.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from cyclesr.bench.quality.alternatives import (ANCHOR_KEYS, BLIND_KEY, margin_over_best_alternative,
                                                score_anchors, train_blind_synthetic)
from cyclesr.bench.quality.baselines import train_sr_only
from cyclesr.bench.quality.data import PAIRED_SETS, prepare_data, split_paired_set
from cyclesr.bench.quality.evaluate import checkpoint_study, score_test_set
from cyclesr.bench.quality.presets import DEFAULT_DESIGN, PRESETS, cyclesr_layout, sr_updates
from cyclesr.config import config_from_dict
from cyclesr.config.layouts import product_name
from cyclesr.data.io import list_images
from cyclesr.engine.checkpoint import load_checkpoint, served_sr_weights
from cyclesr.model import build_model
from cyclesr.nets.registry import resolve_net
from cyclesr.ops.device import resolve_device

__all__ = ["run_quality_bench", "gap_closure", "markdown_table", "METHODS",
           "DEFAULT_HR_TRAIN", "DEFAULT_TEST_HR"]

METHODS = ("bicubic", "bicubic_pairs", "cyclesr", "oracle", BLIND_KEY, *ANCHOR_KEYS)
_LABELS = {"bicubic": "(a) bicubic upsampling", "bicubic_pairs": "(b) SR on bicubic pairs",
           "cyclesr": "(c) CycleSR, unpaired", "oracle": "(d) SR on true pairs (oracle)",
           BLIND_KEY: "(e) SR on blind synthetic pairs (Real-ESRGAN degradation)",
           "realesrgan_x4plus": "(f) Real-ESRGAN x4plus, pretrained (ncnn)",
           "realesr_animevideov3": "(f) realesr-animevideov3 x4, pretrained (ncnn)"}
DEFAULT_HR_TRAIN = "../shared/data/BSD100/HR"
DEFAULT_TEST_HR = ("../shared/data/Set14/HR", "../shared/data/Set5/HR")
_BASELINES = ("bicubic", "bicubic_pairs", "oracle", BLIND_KEY, *ANCHOR_KEYS)


def gap_closure(b: float, c: float, d: float) -> float:
    """(c - b) / (d - b): 0 = no better than bicubic pairs, 1 = as good as the oracle."""
    return (c - b) / (d - b) if d != b else float("nan")


def _reused_baselines(path, cfg, preset: str, recipe, seed: int, paired_set, split) -> dict:
    """The rows other than (c) of an earlier run, which must share this run's preset, recipe or
    paired set and split, seed and SR network."""
    prev = json.loads(Path(path).read_text())
    ours = {"preset": preset, "recipe": recipe, "seed": seed, "sr_net": cfg.model.sr.name,
            "sr_kwargs": dict(cfg.model.sr.kwargs),
            "paired_set": None if paired_set is None else str(paired_set), "split": split}
    differ = [k for k, v in ours.items() if prev["settings"].get(k) != v
              and not (k == "sr_net" and _same_net(prev["settings"].get(k), v))]
    if differ:
        found = ", ".join(f"{k} {prev['settings'].get(k)!r} (this run: {ours[k]!r})" for k in differ)
        raise ValueError(f"--reuse-baselines {path}: that run had {found}; reuse the baselines of a run "
                         "with the same preset, recipe or paired set, seed and SR network")
    return {k: prev[k] for k in _BASELINES if k in prev}


def _same_net(a, b) -> bool:
    """Whether two network names (a registry name, or the ``cyclesr.nets.<module>:Class`` an
    earlier version wrote) name the same registered class. Nothing is imported: a results file
    makes no code run."""
    try:
        return (resolve_net(product_name(a), registered_only=True)
                is resolve_net(product_name(b), registered_only=True))
    except ValueError:
        return False


def _named_paired_set(paired_set, split: Optional[str]) -> tuple[str, str]:
    """(folder, split) of a ``PAIRED_SETS`` name (its protocol's split unless one is given),
    or of a folder, which needs a split."""
    if str(paired_set) in PAIRED_SETS:
        folder, default = PAIRED_SETS[str(paired_set)]
        return folder, split or default
    if not split:
        raise ValueError(f"--paired-set {paired_set} needs --split HR,REAL_LR,TEST (e.g. 1-20,21-40,41-50)")
    return str(paired_set), split


def _train_baselines(cfg, dirs: dict, p: dict, seed: int, dev, times: dict, log, anchors: bool,
                     threads) -> dict:
    """Train and score (b), (d) and (e), score (f); (a) comes with (b)'s scores."""
    results: dict = {}
    log(f"[quality] (b) SR on bicubic pairs: {sr_updates(p)} updates")
    t0 = time.time()
    net_b = train_sr_only(cfg, dirs["hr"], None, seed, dev, log)
    results["bicubic_pairs"], results["bicubic"] = score_test_set(net_b, dirs, dev, p["max_test"])
    times["bicubic_pairs"] = time.time() - t0
    log(f"  (a) bicubic {results['bicubic']}\n  (b) {results['bicubic_pairs']}")

    log(f"[quality] (d) oracle: SR on true pairs: {sr_updates(p)} updates")
    t0 = time.time()
    net_d = train_sr_only(cfg, dirs["hr"], dirs["oracle_lr"], seed, dev, log)
    results["oracle"], _ = score_test_set(net_d, dirs, dev, p["max_test"])
    times["oracle"] = time.time() - t0
    log(f"  (d) {results['oracle']}")

    log(f"[quality] (e) blind synthetic: SR on Real-ESRGAN-degraded pairs: {sr_updates(p)} updates")
    t0 = time.time()
    results[BLIND_KEY] = train_blind_synthetic(cfg, dirs, seed, dev, p["max_test"], log)
    times[BLIND_KEY] = time.time() - t0
    log(f"  (e) {results[BLIND_KEY]}")
    if anchors:
        log("[quality] (f) pretrained Real-ESRGAN models (ncnn, CPU)")
        t0 = time.time()
        results.update(score_anchors(dirs, cfg.upscale, threads, p["max_test"], log))
        times["anchors"] = time.time() - t0
    return results


def _train_cyclesr(cfg, out: Path, dirs: dict, p: dict, dev) -> tuple[dict, Path, dict]:
    """Train CycleSR (c) and score the model a user gets: best.pt as training chose it without
    ground truth (else latest.pt), its served SR weights (the EMA's when EMA is on). Returns the
    scores, the run folder and which checkpoint was scored."""
    from cyclesr.engine.trainer import train  # local: the trainer pulls in logging extras

    run_dir = out / "cyclesr_run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    train(cfg, run_dir, device=str(dev), progress=False)
    checkpoints = run_dir / "checkpoints"
    path = checkpoints / "best.pt" if (checkpoints / "best.pt").exists() else checkpoints / "latest.pt"
    state = load_checkpoint(path)
    model = build_model(cfg).to(dev)
    model.SR.load_state_dict(served_sr_weights(state, ema=cfg.model.ema_decay > 0))
    scores, _ = score_test_set(model.SR.eval(), dirs, dev, p["max_test"])
    # a checkpoint records the next epoch to run
    published = {"checkpoint": path.name, "epoch": state["epoch"] - 1, "ema": cfg.model.ema_decay > 0}
    return scores, run_dir, published


def run_quality_bench(out: str | Path, *, hr_train: str | Path = DEFAULT_HR_TRAIN,
                      test_hr: Sequence[str | Path] = DEFAULT_TEST_HR, recipe: Optional[str] = None,
                      real_lr=None, oracle_lr=None, test_lr=None, preset: str = "cpu-small",
                      design: str | Path = DEFAULT_DESIGN, seed: int = 0,
                      overrides: Optional[list[str]] = None, device: Optional[str] = None,
                      checkpoint_curve: bool = True, reuse_baselines: Optional[str | Path] = None,
                      baselines_only: bool = False, paired_set: Optional[str | Path] = None,
                      split: Optional[str] = None, anchors: bool = True, threads: Optional[int] = None,
                      log=print) -> dict:
    """Prepare the data, train (b), (c), (d), (e), run (f), evaluate all; write ``results.json``
    and ``results.md`` under ``out`` and return the results dict. ``design``: a product design
    name or a YAML design file (``presets``). ``paired_set``: a folder of real pairs (``HR/``,
    ``LR/``) or a name of ``PAIRED_SETS``, cut by ``split`` (``"1-20,21-40,41-50"``: HR domain,
    real-LR domain, test) instead of the folder arguments. ``anchors``: run (f) when the extra is
    installed, with ``threads`` ncnn threads (default torch's). ``baselines_only``: stop after
    (a), (b), (d), (e), (f) and return what ``baselines.json`` holds. ``reuse_baselines``: a
    results.json of an earlier run with the same preset, recipe, seed and SR settings whose
    rows other than (c) are taken as they are (for ablations of the transfer design only)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    if reuse_baselines and baselines_only:
        raise ValueError("--baselines-only and --reuse-baselines exclude each other")
    p, out, start = PRESETS[preset], Path(out), time.time()
    out.mkdir(parents=True, exist_ok=True)
    pathify = lambda v: None if v is None else Path(v)  # noqa: E731
    if paired_set is not None:
        if recipe or real_lr or oracle_lr or test_lr:
            raise ValueError("--paired-set replaces --recipe, --real-lr, --oracle-lr and --test-lr")
        paired_set, split = _named_paired_set(paired_set, split)
        roles = split_paired_set(Path(paired_set), split, out / "paired_split")
        hr_train, real_lr, oracle_lr, test_lr = (roles[k] for k in ("hr", "real_lr", "oracle_lr", "test_lr"))
        test_hr = [roles["test_hr"]]
        log(f"[quality] real pairs {paired_set}, split {split} (HR domain, real-LR domain, test)")
    dirs = prepare_data(out, Path(hr_train), [Path(t) for t in test_hr], recipe, pathify(real_lr),
                        pathify(oracle_lr), pathify(test_lr), seed)
    if paired_set is not None:
        shutil.rmtree(out / "paired_split")
    raw = cyclesr_layout(p, design, str(dirs["hr"]), str(dirs["real_lr"]), seed)
    cfg = config_from_dict(raw, source=f"bench quality preset {preset}", overrides=overrides)
    dev = resolve_device(device)
    times: dict[str, float] = {}
    describe = dict(p=p, cfg=cfg, dirs=dirs, preset=preset, design=design, recipe=recipe, seed=seed,
                    overrides=overrides, dev=dev, paired_set=paired_set, split=split)

    if reuse_baselines:
        results = _reused_baselines(reuse_baselines, cfg, preset, recipe, seed, paired_set, split)
        log(f"[quality] {', '.join(results)} taken from {reuse_baselines}")
    else:
        results = _train_baselines(cfg, dirs, p, seed, dev, times, log, anchors, threads)
        baselines = {**results, "settings": _settings(**describe, reuse_baselines=None)}
        (out / "baselines.json").write_text(json.dumps(baselines, indent=2))
        if baselines_only:
            log(f"[quality] baselines written to {out / 'baselines.json'}; measure designs with "
                f"--reuse-baselines {out / 'baselines.json'}")
            return baselines

    log(f"[quality] (c) CycleSR ({design} design), unpaired")
    t0 = time.time()
    results["cyclesr"], run_dir, published = _train_cyclesr(cfg, out, dirs, p, dev)
    times["cyclesr"] = time.time() - t0
    log(f"  (c) {results['cyclesr']} (published model: {published['checkpoint']}, epoch {published['epoch']})")

    b, c, d = (results[k]["psnr_y"] for k in ("bicubic_pairs", "cyclesr", "oracle"))
    margin, best_alternative = margin_over_best_alternative(results)
    results.update(gap_closure=gap_closure(b, c, d), gain_over_bicubic_pairs_db=c - b, oracle_gap_db=d - b,
                   margin_over_best_alternative=margin, best_alternative=best_alternative)
    results["settings"] = settings = _settings(**describe, reuse_baselines=reuse_baselines)
    settings["cyclesr_published"] = published
    (out / "results.json").write_text(json.dumps(results, indent=2))  # again below with the curve
    if checkpoint_curve:
        log("[quality] no-reference score vs test PSNR across CycleSR checkpoints")
        t0 = time.time()
        results["noref"] = checkpoint_study(run_dir, cfg, dirs, dev, p, log)
        times["noref"] = time.time() - t0
    settings["seconds"] = {**times, "total": time.time() - start}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown_table(results))
    log(markdown_table(results))
    return results


def _settings(p, cfg, dirs, preset, design, recipe, seed, overrides, dev, reuse_baselines,
              paired_set, split) -> dict:
    """What a row needs to be read and reproduced, saved with its results."""
    return {
        "preset": preset, "design": str(design), "recipe": recipe, "seed": seed, "overrides": overrides or [],
        "paired_set": None if paired_set is None else str(paired_set), "split": split,
        "sr_updates": sr_updates(p), "batch": p["batch"], "lr_patch": p["crop"],
        "sr_net": cfg.model.sr.name, "sr_kwargs": dict(cfg.model.sr.kwargs),
        "train_hr_images": len(list_images(dirs["hr"])), "real_lr_images": len(list_images(dirs["real_lr"])),
        "test_images": len(list_images(dirs["test_lr"])), "device": str(dev),
        "command": " ".join(sys.argv), "baselines_from": str(reuse_baselines) if reuse_baselines else None,
    }


def markdown_table(results: dict) -> str:
    """Every method's scores, the gap closure, the margin over the best alternative and the
    checkpoint study as Markdown; rows a run left out (no anchors extra) are not shown."""
    lines = ["| method | PSNR-Y | SSIM-Y | PSNR-RGB |", "| --- | ---: | ---: | ---: |"]
    for k in (k for k in METHODS if k in results):
        r = results[k]
        lines.append(f"| {_LABELS[k]} | {r['psnr_y']:.2f} | {r['ssim_y']:.4f} | {r['psnr_rgb']:.2f} |")
    lines.append("")
    lines.append(f"gap closure (c-b)/(d-b) on PSNR-Y: **{results['gap_closure']:.2f}**; "
                 f"CycleSR - (b): {results['gain_over_bicubic_pairs_db']:+.2f} dB; "
                 f"oracle - (b): {results['oracle_gap_db']:+.2f} dB")
    lines.append(f"\nmargin over the best alternative ({_LABELS[results['best_alternative']]}) on PSNR-Y: "
                 f"**{results['margin_over_best_alternative']:+.2f} dB**")
    nr = results.get("noref")
    if nr:
        lines.append(f"\nOver {len(nr['checkpoints'])} checkpoints, Spearman with the test PSNR-Y of "
                     f"the pseudo-PSNR (no ground truth; G of epoch {nr['pseudo_psnr_G_epoch']}): "
                     f"{nr['spearman_pseudo_psnr_vs_psnr_y']:.2f}; "
                     f"of -KID of G(X) vs real LR: {nr['spearman_neg_kid_vs_psnr_y']:.2f}")
    return "\n".join(lines) + "\n"
