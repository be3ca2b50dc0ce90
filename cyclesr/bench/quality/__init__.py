"""The quality benchmark, ``cyclesr bench quality`` (what it measures: ``benchmark``'s docstring).

``presets``: sizes, schedule and designs; ``data``: the training and test folders (and real
pairs cut into them by a split); ``baselines``: the SR-only methods (b), (d) and (e);
``blind``: Real-ESRGAN's degradation for (e); ``alternatives``: (e) and the pretrained models
(f); ``evaluate``: test scores and the checkpoint study; ``benchmark``: the benchmark and its
results; ``cli``: the command's arguments.
"""
from cyclesr.bench.quality.alternatives import margin_over_best_alternative, score_anchors, train_blind_synthetic
from cyclesr.bench.quality.benchmark import METHODS, gap_closure, markdown_table, run_quality_bench
from cyclesr.bench.quality.blind import RealEsrganDegradation
from cyclesr.bench.quality.cli import add_parsers, run
from cyclesr.bench.quality.data import PAIRED_SETS, check_disjoint, prepare_data, split_paired_set
from cyclesr.bench.quality.evaluate import checkpoint_study, curve_images, joint_checkpoints, score_test_set
from cyclesr.bench.quality.presets import PRESETS, cyclesr_layout, load_design, sr_updates

__all__ = ["add_parsers", "run", "run_quality_bench", "gap_closure", "markdown_table", "METHODS",
           "margin_over_best_alternative", "score_anchors", "train_blind_synthetic", "RealEsrganDegradation",
           "check_disjoint", "prepare_data", "split_paired_set", "PAIRED_SETS", "score_test_set",
           "curve_images", "joint_checkpoints", "checkpoint_study", "PRESETS", "cyclesr_layout", "load_design",
           "sr_updates"]
