"""Add the checkpoint study to a finished ``cyclesr bench quality --no-curve`` output folder.

For every joint-phase checkpoint of the folder's ``cyclesr_run``: the test PSNR-Y, the
no-reference KID of G(X) against the real LR, and the pseudo-PSNR (the SR network on pairs
that checkpoint's G makes from HR-domain images); the Spearman correlation of each score with
the test PSNR-Y. The same as the benchmark without ``--no-curve``; rewrites ``results.json``
(key ``noref``) and ``results.md``.

    cyclesr bench quality --no-curve --out OUT ...
    python experiments/scripts/checkpoint_curve.py OUT
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from cyclesr.bench.quality import PRESETS, checkpoint_study, markdown_table
from cyclesr.config import load_config

__all__ = ["main"]


def main(folder: str) -> None:
    torch.set_num_threads(1)
    out = Path(folder)
    results = json.loads((out / "results.json").read_text())
    run = out / "cyclesr_run"
    if not (run / "checkpoints").is_dir():
        sys.exit(f"{run / 'checkpoints'} not found: run the benchmark into {out} first")
    dirs = {k: out / "data" / k for k in ("hr", "real_lr", "test_lr", "test_hr")}
    results["noref"] = checkpoint_study(run, load_config(run / "config.yml"), dirs, "cpu",
                                        PRESETS[results["settings"]["preset"]])
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown_table(results))
    print(markdown_table(results))
    print(f"written to {out / 'results.json'} and {out / 'results.md'}")


if __name__ == "__main__":
    main(sys.argv[1])
