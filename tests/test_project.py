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
    ("composite", "expand"),
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
