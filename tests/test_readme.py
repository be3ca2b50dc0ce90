"""README is the manual: its API list is the public API, every config key is documented in the
configuration reference it links, and CI runs README's test command."""
import dataclasses
import re
from pathlib import Path

import cyclesr
from cyclesr import config as C

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
CONFIG_DOC = REPO / "docs" / "config.md"


def _sections(cfg: C.Config) -> dict:
    """The config's key tables: each section object, by the name the reference uses for it."""
    return {"dataset": cfg.dataset, "dataset.train": cfg.dataset.train, "dataset.test": cfg.dataset.test,
            "model": cfg.model, "model.cyclegan": cfg.model.cyclegan, "trainer": cfg.trainer}


def test_every_config_key_is_documented():
    assert "docs/config.md" in README
    doc = CONFIG_DOC.read_text()
    missing = []
    for section, obj in _sections(C.Config()).items():
        for f in dataclasses.fields(obj):
            if dataclasses.is_dataclass(getattr(obj, f.name)) and f.name not in ("G", "D", "sr"):
                continue  # a sub-section, documented by its own keys
            if not re.search(rf"`[^`]*\b{re.escape(f.name)}\b[^`]*`", doc):
                missing.append(f"{section}.{f.name}")
    assert not missing, f"config keys missing from docs/config.md: {missing}"


def _readme_api_names() -> list[str]:
    block = re.search(r"<!-- public-api:start.*?-->(.*?)<!-- public-api:end -->", README, re.S)
    assert block, "README's Python API section has no public-api:start/end list"
    return re.findall(r"^\| `cyclesr\.(\w+)", block.group(1), re.M)


def test_readme_api_section_lists_exactly_the_public_api():
    documented = _readme_api_names()
    assert len(documented) == len(set(documented)), f"listed twice: {documented}"
    assert sorted(documented) == sorted(cyclesr.__all__)
    for name in cyclesr.__all__:
        assert getattr(cyclesr, name) is not None


def test_ci_runs_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in README and "make demo" in README


def test_readme_is_a_manual_not_a_lab_notebook():
    lines = README.count("\n")
    assert lines <= 460, f"README has {lines} lines; move reference detail to docs/, research to experiments/"
    for link in ("docs/config.md", "docs/ARCHITECTURE.md", "experiments/README.md"):
        assert link in README and (REPO / link).is_file(), link


def test_relative_links_in_docs_resolve():
    broken = []
    for md in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "experiments" / "README.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", md.read_text()):
            if "://" not in target and not (md.parent / target).exists():
                broken.append(f"{md.relative_to(REPO)} -> {target}")
    assert not broken, broken


def test_readme_config_example_loads_and_builds():
    import yaml

    from cyclesr.model import build_model

    block = re.search(r"## Configuration.*?```yaml\n(.*?)```", README, re.S)
    assert block, "README's Configuration section has no YAML example"
    cfg = cyclesr.config_from_dict(yaml.safe_load(block.group(1)), source="README.md")
    model = build_model(cfg)
    assert (cfg.model.G.name, cfg.model.D.name) == ("CameraJpegGenerator", "HighPassDiscriminator")
    assert type(model.G).__name__ == cfg.model.G.name
