"""``cyclesr bench quality``'s arguments, turned into one ``run_quality_bench`` call."""
from __future__ import annotations

import argparse
import sys

import torch

from cyclesr.bench.quality import benchmark
from cyclesr.bench.quality.data import PAIRED_SETS
from cyclesr.bench.quality.presets import DEFAULT_DESIGN, PRESETS, PRODUCT_DESIGNS
from cyclesr.bench.quality.benchmark import DEFAULT_HR_TRAIN, DEFAULT_TEST_HR, run_quality_bench

__all__ = ["add_parsers", "run"]


def add_parsers(bench_sub) -> None:
    q = bench_sub.add_parser(
        "quality", help="CycleSR vs bicubic, SR on bicubic / blind synthetic / true pairs, "
                        "pretrained Real-ESRGAN, at equal budget",
        description=benchmark.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("--hr-train", default=DEFAULT_HR_TRAIN,
                   help="HR training images (with --recipe: split by name into HR / real-LR halves)")
    q.add_argument("--recipe", help="degradation recipe or preset name (mild, aniso-jpeg, ...) for "
                                    "the real LR, the oracle pairs and the test LR")
    q.add_argument("--real-lr", help="folder of real LR images of other scenes (instead of --recipe)")
    q.add_argument("--oracle-lr", help="LR versions of the --hr-train images, matched by name")
    q.add_argument("--test-hr", nargs="+", default=list(DEFAULT_TEST_HR), help="test HR folder(s)")
    q.add_argument("--test-lr", help="test LR folder matched by name with --test-hr (instead of --recipe)")
    q.add_argument("--paired-set", metavar="DIR_OR_NAME",
                   help="real LR/HR pairs (DIR/HR, DIR/LR matched by name) cut into the three roles by "
                        f"--split, instead of the folder flags; or a named set: {', '.join(PAIRED_SETS)} "
                        "(its protocol's split)")
    q.add_argument("--split", metavar="HR,REAL_LR,TEST",
                   help="with --paired-set: 1-based positions of the sorted names, e.g. 1-20,21-40,41-50 = "
                        "HR domain (their LR: the oracle's pairs), real-LR domain, test")
    q.add_argument("--preset", default="cpu-small", choices=sorted(PRESETS))
    q.add_argument("--design", default=DEFAULT_DESIGN, metavar="NAME_OR_YAML",
                   help=f"CycleSR transfer design: {', '.join(PRODUCT_DESIGNS)} (the model sections "
                        "of configs/cyclesr_x4.yml, camera_cpu.yml and camera_fit_cpu.yml: Vega's design; "
                        "a camera model as G trained against a discriminator; the same model fitted to "
                        "the two folders' spectra and kept, the default), or a YAML design file such as "
                        "experiments/designs/improved-mix.yml")
    q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of the generated CycleSR config (also the baselines' "
                        "shared SR settings), e.g. model.cycleSR_lam=1000")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--device", default=None)
    q.add_argument("--threads", type=int, default=None, help="torch CPU threads (and the ncnn anchors')")
    q.add_argument("--no-anchors", action="store_true",
                   help="leave out the pretrained Real-ESRGAN rows (f) (they need pip install -e .[anchors])")
    q.add_argument("--no-curve", action="store_true", help="skip the per-checkpoint no-reference study")
    q.add_argument("--reuse-baselines", metavar="RESULTS_JSON",
                   help="take the rows other than (c) from an earlier run's results.json with the same preset, "
                        "recipe, seed and SR settings (ablations of the CycleSR transfer design)")
    q.add_argument("--baselines-only", action="store_true",
                   help="train and evaluate the rows other than (c) only and write baselines.json")
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
                          baselines_only=args.baselines_only, paired_set=args.paired_set,
                          split=args.split, anchors=not args.no_anchors, threads=args.threads)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
