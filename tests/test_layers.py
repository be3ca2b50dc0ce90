"""The package's layers hold: imports go one way (function-local imports included), there are no
import cycles between modules, the product never imports the lab, and loading a config imports
neither torch nor the data pipeline."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "cyclesr"

# lowest first; a module may import its own layer or a lower one (docs/ARCHITECTURE.md)
LAYERS = [
    ("config",),
    ("ops", "nets", "data"),
    ("model",),
    ("eval", "inference"),
    ("engine",),
    ("modelfile", "report"),
    ("api", "demo", "bench"),
    ("cli", "__main__"),
]
_RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every cyclesr (or experiments) module a file imports, at any depth of the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from cyclesr.eval import metrics` imports the submodule cyclesr.eval.metrics
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in ("cyclesr", "experiments")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        # keep only targets that are modules of the package (drop `from x import function`)
        graph[name] = {m for m in _imports(path) if m in modules or m.startswith("experiments")}
        graph[name].discard(name)
    return graph


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return _RANK.get(parts[1]) if len(parts) > 1 else None


def test_every_top_level_part_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())) and p.stem != "__init__"}
    assert parts <= set(_RANK), f"give these a layer in tests/test_layers.py: {sorted(parts - set(_RANK))}"


def test_imports_go_one_way():
    back_edges = []
    for module, targets in _graph().items():
        for target in targets:
            if target.startswith("experiments"):
                back_edges.append(f"{module} -> {target} (the product never imports the lab)")
                continue
            low, high = _layer(module), _layer(target)
            if low is None or high is None:  # the package root (lazy public names) is exempt
                continue
            if high > low:
                back_edges.append(f"{module} (layer {low}) -> {target} (layer {high})")
    assert not back_edges, "imports against the layer order:\n" + "\n".join(sorted(back_edges))


def test_no_import_cycles():
    graph = _graph()
    # a package's __init__ re-exporting its own modules is not a cycle of behaviour
    edges = {m: {t for t in ts if not m.startswith(t + ".") and not t.startswith(m + ".") or m == "cyclesr"}
             for m, ts in graph.items() if m != "cyclesr"}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("config", ["cyclesr_x4.yml", "camera_cpu.yml", "camera_fit_cpu.yml"])
def test_loading_a_config_imports_neither_torch_nor_the_data_pipeline(config):
    code = (f"import sys; from cyclesr.config import load_config; "
            f"load_config({str(PACKAGE / 'configs' / config)!r}); "
            "heavy = {m if m.startswith('cyclesr') else m.split('.')[0] for m in sys.modules "
            "if m.split('.')[0] in ('torch', 'numpy') or m.startswith(('cyclesr.data', 'cyclesr.nets', "
            "'cyclesr.eval', 'cyclesr.model', 'cyclesr.engine'))}; print(','.join(sorted(heavy)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"loading a config imported: {out.stdout.strip()}"
