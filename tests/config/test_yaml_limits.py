"""A YAML alias bomb (a few lines that stand for hundreds of millions of values) is refused with
one short message before anything expands or prints it; long values are shortened in messages."""
import subprocess
import sys
import textwrap

import pytest

from cyclesr.config import ConfigError, config_from_dict


def _bomb(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\ntrainer: {{n_epoch: *l{levels - 1}}}\n"


_UNDER_LIMITS = textwrap.dedent("""
    import resource, sys
    from cyclesr.config import ConfigError, load_config
    limit = 1536 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        load_config(sys.argv[1])
    except ConfigError as err:
        print(err)
""")


def test_an_alias_bomb_under_a_typed_key_is_refused_in_one_short_line(tmp_path):
    path = tmp_path / "bomb.yml"
    path.write_text(_bomb())
    run = subprocess.run([sys.executable, "-c", _UNDER_LIMITS, str(path)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    message = run.stdout.strip()
    assert "bomb.yml" in message and "expands to more than" in message
    assert len(message) < 300 and "\n" not in message


def test_a_shared_structure_in_a_dict_is_refused_too():
    leaf = list(range(10))
    for _ in range(6):
        leaf = [leaf] * 10  # what a checkpoint's stored config could hold: 10 million values
    with pytest.raises(ConfigError, match="stored.pt: the document expands"):
        config_from_dict({"trainer": {"n_epoch": leaf}}, source="stored.pt")


def test_an_override_bomb_is_refused():
    levels = ["&l0 [" + ", ".join(["1"] * 10) + "]"]
    levels += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 6)]
    with pytest.raises(ConfigError, match="trainer.n_epoch: the document expands") as info:
        config_from_dict({}, overrides=["trainer.n_epoch=[" + ", ".join(levels) + "]"])
    assert len(str(info.value)) < 300


def test_long_values_are_shortened_in_messages():
    with pytest.raises(ConfigError) as info:
        config_from_dict({"trainer": {"n_epoch": "x" * 100_000}})
    assert "n_epoch" in str(info.value) and len(str(info.value)) < 300
    with pytest.raises(ConfigError) as info:
        config_from_dict({"trainer": {"n_epoch": [list(range(1000))] * 50}})
    assert len(str(info.value)) < 300
