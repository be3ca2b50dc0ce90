"""What a user would run instead of CycleSR, as rows of the quality benchmark:

- (e) ``blind_synthetic``: the SR network trained, at the baselines' budget, on pairs that
  Real-ESRGAN's second-order degradation makes from the HR images on the fly (``blind``): the
  recipe a user follows who cannot pair their data;
- (f) ``realesrgan_x4plus`` and ``realesr_animevideov3``: Real-ESRGAN's released x4 models run
  with ncnn on the CPU (``cyclesr.bench.anchors``; the optional extra ``anchors``), left out
  with one line saying how to get them when the extra is missing.

Every row is scored by ``score_test_set``, as (b), (c) and (d) are.
"""
from __future__ import annotations

import torch

from cyclesr.bench import anchors
from cyclesr.bench.quality.baselines import train_sr_only
from cyclesr.bench.quality.blind import RealEsrganDegradation
from cyclesr.bench.quality.evaluate import score_test_set

__all__ = ["BLIND_KEY", "ANCHOR_KEYS", "train_blind_synthetic",
           "score_anchors", "margin_over_best_alternative"]

BLIND_KEY = "blind_synthetic"
ANCHOR_KEYS = tuple(anchors.ANCHORS)


def train_blind_synthetic(cfg, dirs: dict, seed: int, device, max_test=None, log=print) -> dict:
    """(e): train the SR network on Real-ESRGAN-degraded pairs of the HR domain and score it."""
    degrade = RealEsrganDegradation(cfg.upscale)
    net = train_sr_only(cfg, dirs["hr"], None, seed, device, log, degrade=degrade)
    scores, _ = score_test_set(net, dirs, device, max_test)
    return scores


def score_anchors(dirs: dict, scale: int, threads=None, max_test=None, log=print) -> dict:
    """(f): the scores of each pretrained anchor, or {} (with one line saying why) when the
    anchors extra is missing or the scale is not theirs."""
    if scale != anchors.ANCHOR_SCALE:
        log(f"[quality] (f) left out: the pretrained anchors are x{anchors.ANCHOR_SCALE} only, "
            f"this run is x{scale}")
        return {}
    missing = anchors.anchors_available()
    if missing is not None:
        log(f"[quality] (f) {' and '.join(ANCHOR_KEYS)} left out: they need the anchors extra: "
            f"{anchors.INSTALL_HINT} ({missing})")
        return {}
    rows = {}
    for key in ANCHOR_KEYS:
        net = anchors.load_anchor(key, threads=threads or torch.get_num_threads(), log=log)
        rows[key], _ = score_test_set(net, dirs, torch.device("cpu"), max_test, tile=anchors.ANCHOR_TILE)
        log(f"  (f) {key} ({net.threads} ncnn threads): {rows[key]}")
    return rows


def margin_over_best_alternative(results: dict) -> tuple[float, str]:
    """c - max(b, e, f) on PSNR-Y over the alternatives present, and which one is the best."""
    present = [k for k in ("bicubic_pairs", BLIND_KEY, *ANCHOR_KEYS) if k in results]
    best = max(present, key=lambda k: results[k]["psnr_y"])
    return results["cyclesr"]["psnr_y"] - results[best]["psnr_y"], best
