"""Project-level promises: the public API, the README and CI agree with the code."""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

import smartcharge

ROOT = Path(__file__).resolve().parent.parent


def test_all_matches_public_names() -> None:
    public = {
        name
        for name, value in vars(smartcharge).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(smartcharge.__all__) - {"__version__"} == public
    assert len(smartcharge.__all__) == len(set(smartcharge.__all__))
    for name in smartcharge.__all__:
        assert getattr(smartcharge, name) is not None


def test_package_is_typed() -> None:
    assert (ROOT / "smartcharge" / "py.typed").is_file()


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    install_and_run, tests = _readme_commands()[:2]
    test_command = tests.split("&&", 1)[1].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in [line.strip() for line in ci]
    assert 'pip install --quiet -e ".[dev]"' in "\n".join(ci)
    assert "smartcharge demo" in install_and_run


def test_readme_quick_start_runs() -> None:
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.+?)\n```", text, flags=re.S)
    assert code is not None
    result = subprocess.run(
        [sys.executable, "-c", code.group(1)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Accepted"
    assert "22080.0" in lines[1] and "11040.0" in lines[1] and "6900.0" in lines[1]


def test_no_public_name_shadows_a_subpackage() -> None:
    """``import smartcharge.x.y as m`` must give modules, never a re-exported function."""
    import importlib
    import importlib.util

    for name in smartcharge.__all__:
        assert importlib.util.find_spec(f"smartcharge.{name}") is None, name
    solve = importlib.import_module("smartcharge.optimizer.solve")
    assert isinstance(solve, types.ModuleType)
    assert callable(smartcharge.optimize) and callable(smartcharge.reconcile)


LAYERS = [
    ("errors",),
    ("model", "units", "testing"),
    ("schedule", "validation"),
    ("composite", "expand", "explain"),
    ("station",),
    ("optimizer",),
    ("fleet", "plot", "synthetic"),
    ("ocpp",),
    ("controller",),
    ("sim",),
    ("cli", "__main__"),
]


def test_each_layer_imports_only_from_layers_below() -> None:
    """The architecture of the README: no module imports from a layer above its own."""
    import ast

    layer_of = {name: i for i, names in enumerate(LAYERS) for name in names}
    package = ROOT / "smartcharge"
    problems = []
    for path in sorted(package.rglob("*.py")):
        if path == package / "__init__.py":
            continue
        top = path.relative_to(package).parts[0].removesuffix(".py")
        own = layer_of[top]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                parts = target.split(".")
                if parts[0] != "smartcharge" or len(parts) < 2:
                    continue
                if layer_of[parts[1]] > own:
                    problems.append(f"{path.relative_to(ROOT)} imports {target}")
    assert problems == []


def test_no_import_cycles() -> None:
    """No two modules of the package import each other, directly or through others
    (imports inside functions and under ``TYPE_CHECKING`` included): e.g. ``problem``
    compiles its arrays with ``_network``, which names what it compiles by a protocol."""
    import ast

    package = ROOT / "smartcharge"
    mods = {}
    for path in sorted(package.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in mods:
                # ``from pkg import submodule`` depends on the submodule, not on all of pkg
                subs = {f"{node.module}.{a.name}" for a in node.names}
                graph[m].update(subs & mods.keys() or {node.module})
                graph[m].update(
                    node.module for a in node.names if f"{node.module}.{a.name}" not in mods)
            elif isinstance(node, ast.Import):
                graph[m].update(a.name for a in node.names if a.name in mods)
        graph[m].discard(m)  # a package importing its own submodules
    # depth-first search for a back edge
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append([*trail[trail.index(t):], t])
            elif t not in state:
                visit(t, [*trail, t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []
