"""The quality benchmark, ``cyclesr bench quality`` (what it measures: ``benchmark``'s docstring).

``presets``: sizes, schedule and designs; ``data``: the training and test folders;
``baselines``: the SR-only methods (b) and (d); ``evaluate``: test scores and the checkpoint
study; ``benchmark``: the benchmark and its results; ``cli``: the command's arguments.
"""
from cyclesr.bench.quality.benchmark import METHODS, gap_closure, markdown_table, run_quality_bench
from cyclesr.bench.quality.cli import add_parsers, run
from cyclesr.bench.quality.data import check_disjoint, prepare_data
from cyclesr.bench.quality.evaluate import checkpoint_study, curve_images, joint_checkpoints, score_test_set
from cyclesr.bench.quality.presets import PRESETS, cyclesr_layout, load_design, sr_updates

__all__ = ["add_parsers", "run", "run_quality_bench", "gap_closure", "markdown_table", "METHODS",
           "check_disjoint", "prepare_data", "score_test_set", "curve_images", "joint_checkpoints",
           "checkpoint_study", "PRESETS", "cyclesr_layout", "load_design", "sr_updates"]
