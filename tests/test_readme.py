"""README is the manual: every config key is documented, and CI runs README's test command."""
import dataclasses
import re
from pathlib import Path

from cyclesr import config as C

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_every_config_key_is_documented():
    missing = []
    for cls in (C.DatasetConfig, C.TrainDataConfig, C.TestDataConfig, C.ModelConfig, C.CycleGANConfig,
                C.TrainerConfig):
        for f in dataclasses.fields(cls):
            if f.name in ("train", "test", "cyclegan", "sr"):
                continue
            if not re.search(rf"`[^`]*\b{re.escape(f.name)}\b[^`]*`", README):
                missing.append(f"{cls.__name__}.{f.name}")
    assert not missing, f"config keys missing from README: {missing}"


def test_ci_runs_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in README
