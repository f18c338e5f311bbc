"""Mutation testing of smartcharge's core modules: a small, dependency-free AST mutator.

Each mutant is one small change of the kind a real edit introduces -- a comparison
loosened (``<`` -> ``<=``), an operator or a ``min``/``max`` swapped, a constant nudged,
a condition negated, a keyword flag flipped -- applied to one module of a private copy of
the project (the working tree is never touched). The module's own test files then run
(``pytest -x``); a mutant is *killed* when they fail or time out, and *survives* when they
pass. The score is killed / (killed + survived).

Why not mutmut or cosmic-ray: both run the whole suite per mutant (or need a baseline
per test), which on a 2-core machine shared with other jobs is hours per module. Here a
fork server imports the heavy third-party packages (numpy, pydantic, OR-Tools, hypothesis,
pytest) once; each mutant runs in a forked child that imports smartcharge afresh from the
mutated copy, so a mutant costs its tests' run time and little else. The mutator is this
file: it is pinned with the repository.

Usage (from the repository root, outside CI)::

    python benchmarks/mutation/mutate.py validation expand        # the named modules
    python benchmarks/mutation/mutate.py --all --sample 80        # 80 mutants per module
    python benchmarks/mutation/mutate.py station --list           # list mutants, run none
    python benchmarks/mutation/mutate.py station --only 12 40     # re-run mutants 12 and 40

It prints one line per mutant and a summary per module, and writes the survivors (with
their diff) to ``--out`` (default ``benchmarks/mutation/survivors.txt``). Mutants are
numbered per module in source order; ``--sample N`` picks N of them with ``--seed``
(default 0), the same N for the same source, and the summary then gives the Wilson 95 %
interval of the module's whole score (:func:`wilson`). HYPOTHESIS_PROFILE defaults to
``default`` (reproducible examples), so a run is deterministic up to timeouts. The copy
gets ``../shared`` linked beside it (the conformance tests run, not skip); a SIGTERM stops
a run cleanly (the copy removed, the survivors so far written).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# module (under smartcharge/) -> its own test files (and the pins of issue 13)
MODULES: dict[str, tuple[str, ...]] = {
    "validation": ("tests/test_validation.py", "tests/test_pins.py"),
    "expand": ("tests/test_expand.py", "tests/test_pins.py"),
    "composite": ("tests/test_pins_composite.py", "tests/test_composite.py", "tests/test_pins.py"),
    "station": ("tests/test_pins_composite.py", "tests/test_station.py", "tests/test_pins.py"),
    "optimizer/_repair": ("tests/test_pins_solve.py", "tests/test_pins_repair.py",
                          "tests/test_optimize_unstrand.py", "tests/test_pins.py",
                          "tests/test_optimize_solve.py", "tests/test_optimize_ramp.py"),
    "optimizer/verify": ("tests/test_pins_verify.py", "tests/test_pins.py",
                         "tests/test_optimize_solve.py", "tests/test_optimizer_v2x.py",
                         "tests/test_optimize_ramp.py", "tests/test_optimize_site.py",
                         "tests/test_optimize_constraints.py", "tests/test_optimize_props.py",
                         "tests/test_site_props.py"),
    "optimizer/solve": ("tests/test_pins_solve.py", "tests/test_optimize_unstrand.py",
                        "tests/test_optimize_urgency.py",
                        "tests/test_pins_optimizer.py", "tests/test_optimize_solve.py",
                        "tests/test_optimizer_v2x.py", "tests/test_optimize_ramp.py",
                        "tests/test_optimize_constraints.py", "tests/test_optimize_site.py",
                        "tests/test_pins.py", "tests/test_optimize_mpc.py",
                        "tests/test_optimize_tree.py", "tests/test_optimize_flow.py",
                        "tests/test_optimize_lazy.py"),
    "optimizer/_network": ("tests/test_pins_optimizer.py", "tests/test_optimize_problem.py",
                           "tests/test_optimize_solve.py", "tests/test_optimize_constraints.py",
                           "tests/test_optimizer_v2x.py", "tests/test_optimize_site.py",
                           "tests/test_pins.py", "tests/test_pins_verify.py"),
    "optimizer/plan": ("tests/test_pins_optimizer.py", "tests/test_optimize_site.py",
                       "tests/test_optimize_problem.py", "tests/test_optimize_solve.py",
                       "tests/test_optimizer_v2x.py", "tests/test_optimize_constraints.py",
                       "tests/test_pins_verify.py", "tests/test_ocpp_v21.py"),
    "optimizer/problem": ("tests/test_pins_optimizer.py", "tests/test_optimize_problem.py",
                          "tests/test_optimize_constraints.py", "tests/test_optimize_site.py",
                          "tests/test_optimize_solve.py", "tests/test_optimizer_v2x.py",
                          "tests/test_optimize_ramp.py", "tests/test_pins.py"),
    "optimizer/_lp": ("tests/test_pins_optimizer.py", "tests/test_optimize_solve.py",
                      "tests/test_optimize_auto.py", "tests/test_optimize_mpc.py",
                      "tests/test_optimize_early.py", "tests/test_optimize_tree.py",
                      "tests/test_pins.py"),
    "optimizer/_model": ("tests/test_pins_solve.py", "tests/test_optimize_urgency.py",
                         "tests/test_pins_optimizer.py", "tests/test_optimize_solve.py",
                         "tests/test_optimize_constraints.py", "tests/test_optimize_site.py",
                         "tests/test_optimizer_v2x.py", "tests/test_optimize_ramp.py",
                         "tests/test_optimize_early.py", "tests/test_pins.py"),
    "optimizer/_storage": ("tests/test_pins_storage.py", "tests/test_optimize_site.py",
                           "tests/test_site_props.py"),
    "optimizer/_site": ("tests/test_pins_storage.py", "tests/test_optimize_site.py",
                        "tests/test_pins_verify.py", "tests/test_site_props.py"),
    "optimizer/_v2x": ("tests/test_pins_storage.py", "tests/test_optimizer_v2x.py",
                       "tests/test_optimize_constraints.py"),
    "optimizer/_ramped": ("tests/test_pins_storage.py", "tests/test_optimize_ramp.py",
                          "tests/test_pins_repair.py"),
    "optimizer/_coarse": ("tests/test_pins_storage.py", "tests/test_optimize_mpc.py",
                          "tests/test_optimize_urgency.py"),
    "optimizer/_tree": ("tests/test_pins_flow.py", "tests/test_optimize_tree.py",
                        "tests/test_optimize_maxflow.py"),
    "optimizer/_maxflow": ("tests/test_pins_flow.py", "tests/test_optimize_maxflow.py",
                           "tests/test_optimize_tree.py"),
    "optimizer/_flow": ("tests/test_pins_flow.py", "tests/test_optimize_flow.py"),
    "optimizer/_lazy": ("tests/test_pins_flow.py", "tests/test_optimize_lazy.py"),
    "optimizer/baselines": ("tests/test_pins_flow.py", "tests/test_baselines.py"),
    "ocpp/reconcile": ("tests/test_reconcile.py", "tests/test_pins_ocpp.py"),
    "ocpp/v201": ("tests/test_ocpp_v201.py", "tests/test_pins_ocpp.py"),
    "ocpp/v16": ("tests/test_ocpp_v16.py", "tests/test_pins_ocpp.py"),
    "ocpp/v21": ("tests/test_pins_ocpp.py", "tests/test_ocpp_v21.py",
                 "tests/test_conformance_everest_v21.py"),
    "ocpp/composite21": ("tests/test_pins_ocpp.py", "tests/test_composite.py",
                         "tests/test_conformance_everest_v21.py"),
    "ocpp/fallback": ("tests/test_pins_ocpp.py", "tests/test_fallback.py"),
    "schedule": ("tests/test_pins_model.py", "tests/test_schedule.py", "tests/test_expand.py"),
    "model/types": ("tests/test_pins_model.py", "tests/test_model.py", "tests/test_validation.py"),
    "units": ("tests/test_pins_model.py", "tests/test_units.py"),
    "ocpp/reports": ("tests/test_ocpp_reports.py",),
    "ocpp/_schema": ("tests/test_pins_adapters.py", "tests/test_errors.py",
                     "tests/test_ocpp_v201.py", "tests/test_ocpp_interop.py"),
    "ocpp/interop": ("tests/test_pins_adapters.py", "tests/test_ocpp_interop.py",
                     "tests/test_pins_ocpp.py"),
    "ocpp/plans": ("tests/test_pins_adapters.py", "tests/test_cli.py::test_ocpp_evse_ids",
                   "tests/test_cli.py::test_plan_writes_plan_and_profiles",
                   "tests/test_cli.py::test_plan_json_format_is_deterministic",
                   "tests/test_cli.py::test_demo_without_plot"),
    "model/_base": ("tests/test_pins_model.py", "tests/test_pins_adapters.py",
                    "tests/test_model.py", "tests/test_ocpp_v201.py"),
    "ocpp/check": (
        "tests/test_pins_adapters.py", "tests/test_cli.py::test_validate_accepts_good_payloads",
        "tests/test_cli.py::test_validate_reports_every_problem_with_its_path",
        "tests/test_cli.py::test_validate_applies_k01_rules_in_order",
        "tests/test_cli.py::test_validate_now_decides_validity",
        "tests/test_cli.py::test_validate_json_format",
        "tests/test_cli.py::test_validate_requests_edge_cases",
        "tests/test_cli.py::test_validate_uses_the_adapter_for_the_whole_request",
        "tests/test_cli.py::test_validate_ocpp16_payloads",
    ),
    "ocpp/installed": (
        "tests/test_pins_adapters.py", "tests/test_cli.py::test_load_installed_keeps_request_order",
        "tests/test_cli.py::test_composite_prints_get_composite_schedule_response",
        "tests/test_cli.py::test_composite_in_watts_with_voltage_and_transactions",
        "tests/test_cli.py::test_composite_bad_input_is_one_line_on_stderr",
        "tests/test_cli.py::test_missing_file_and_bad_json",
    ),
    "optimizer/surplus": ("tests/test_pins_site_modes.py", "tests/test_optimize_site.py"),
    "optimizer/hysteresis": ("tests/test_pins_site_modes.py", "tests/test_hysteresis.py",
                             "tests/test_optimize_site.py"),
    "optimizer/export": ("tests/test_pins_site_modes.py",
                         "tests/test_cli.py::test_plan_writes_plan_and_profiles",
                         "tests/test_cli.py::test_plan_json_format_is_deterministic",
                         "tests/test_cli.py::test_demo_without_plot",
                         "tests/test_cli.py::test_demo_compares_optimizer_and_baselines"),
}

_CMP_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.In: ast.NotIn, ast.NotIn: ast.In,
}
_BIN_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv,
}
_NAME_SWAP = {
    "min": "max", "max": "min", "minimum": "maximum", "maximum": "minimum",
    "fmin": "fmax", "fmax": "fmin", "any": "all", "all": "any",
    "floor": "ceil", "ceil": "floor", "argmin": "argmax", "argmax": "argmin",
}


@dataclass(frozen=True)
class Mutant:
    """One change: ``index`` in the module's list, the line, and what changes."""

    index: int
    line: int
    what: str


def _skip_regions(tree: ast.AST) -> set[int]:
    """ids of nodes never mutated: annotations, docstrings, f-strings, decorators,
    ``__all__`` and ``TYPE_CHECKING`` blocks, and the messages of raised errors."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            for sub in ast.walk(node):
                skip.add(id(sub))

    for node in ast.walk(tree):
        if isinstance(node, (ast.arg, ast.AnnAssign)):
            mark(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mark(node.returns)
            for d in node.decorator_list:
                mark(d)
        elif isinstance(node, ast.ClassDef):
            for d in node.decorator_list:
                mark(d)
        elif _never_mutated(node):
            mark(node)
    return skip


def _never_mutated(node: ast.AST) -> bool:
    """f-strings, ``__all__``, ``if TYPE_CHECKING:`` blocks, and ``raise`` statements (the
    error's class, message and path: messages are not behaviour)."""
    if isinstance(node, (ast.JoinedStr, ast.Raise)):
        return True
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _sites(tree: ast.AST) -> Iterator[tuple[ast.AST, str, str]]:
    """(node, kind, description) of every mutation site, in a deterministic order."""
    skip = _skip_regions(tree)
    nodes = [n for n in ast.walk(tree) if id(n) not in skip and hasattr(n, "lineno")]
    nodes.sort(key=lambda n: (n.lineno, n.col_offset, type(n).__name__))
    for node in nodes:
        if isinstance(node, ast.Compare):
            for k, op in enumerate(node.ops):
                new = _CMP_SWAP.get(type(op))
                if new is not None:
                    yield node, f"cmp:{k}", f"{type(op).__name__} -> {new.__name__}"
        elif isinstance(node, (ast.BinOp, ast.AugAssign)):
            new_b = _BIN_SWAP.get(type(node.op))
            if new_b is not None:
                yield node, "bin", f"{type(node.op).__name__} -> {new_b.__name__}"
        elif isinstance(node, ast.BoolOp):
            yield node, "bool", "and <-> or"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "not", "drop not"
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
            if isinstance(node.value, bool):
                yield node, "const", f"{node.value} -> {not node.value}"
            elif node.value == 0:
                yield node, "const", "0 -> 1"
            else:
                yield node, "const", f"{node.value!r} -> {node.value!r} + 1"
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(
                f, ast.Attribute) else None
            if name in _NAME_SWAP:
                yield node, "call", f"{name} -> {_NAME_SWAP[name]}"
        elif isinstance(node, ast.If) and not isinstance(node.test, ast.Constant):
            yield node, "if", "negate the condition"


def _apply(node: ast.AST, kind: str) -> None:
    """Mutate ``node`` in place."""
    if kind.startswith("cmp:"):
        assert isinstance(node, ast.Compare)
        k = int(kind[4:])
        node.ops[k] = _CMP_SWAP[type(node.ops[k])]()
    elif kind == "bin":
        assert isinstance(node, (ast.BinOp, ast.AugAssign))
        node.op = _BIN_SWAP[type(node.op)]()
    elif kind == "bool":
        assert isinstance(node, ast.BoolOp)
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "not":
        assert isinstance(node, ast.UnaryOp)
        # ``not x`` -> ``not not x`` (= ``bool(x)``): the ``not`` dropped, in place
        node.operand = ast.UnaryOp(op=ast.Not(), operand=node.operand)
    elif kind == "const":
        assert isinstance(node, ast.Constant)
        v = node.value
        node.value = (not v) if isinstance(v, bool) else (1 if v == 0 else v + 1)
    elif kind == "call":
        assert isinstance(node, ast.Call)
        f = node.func
        if isinstance(f, ast.Name):
            f.id = _NAME_SWAP[f.id]
        else:
            assert isinstance(f, ast.Attribute)
            f.attr = _NAME_SWAP[f.attr]
    elif kind == "if":
        assert isinstance(node, ast.If)
        node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
    else:  # pragma: no cover - a programming error
        raise ValueError(kind)


def mutants(source: str) -> list[Mutant]:
    """Every mutant of ``source``, numbered in source order."""
    tree = ast.parse(source)
    return [Mutant(i, getattr(n, "lineno", 0), f"{kind} {desc}")
            for i, (n, kind, desc) in enumerate(_sites(tree))]


def mutated_source(source: str, index: int) -> str:
    """``source`` with mutant ``index`` applied (formatted by ``ast.unparse``)."""
    tree = ast.parse(source)
    for i, (node, kind, _) in enumerate(_sites(tree)):
        if i == index:
            _apply(node, kind)
            return ast.unparse(ast.fix_missing_locations(tree))
    raise IndexError(index)


def baseline_source(source: str) -> str:
    """``source`` round-tripped through ``ast.unparse`` (what mutants are diffed against)."""
    return ast.unparse(ast.parse(source))


# ------------------------------------------------------------------------- running


def _preload() -> None:
    """Import the heavy third-party packages once, in the fork server."""
    import hypothesis  # noqa: F401
    import numpy  # noqa: F401
    import pydantic  # noqa: F401
    import pytest  # noqa: F401

    with contextlib.suppress(ImportError):  # the tests that need them will say
        from ortools.linear_solver.python import model_builder  # noqa: F401
    with contextlib.suppress(ImportError):
        import jsonschema  # noqa: F401
        import ocpp  # noqa: F401


def _run_tests(copy_root: Path, tests: tuple[str, ...], timeout_s: float) -> str:
    """Run ``tests`` in a forked child against ``copy_root``: "killed", "survived" or
    "timeout"."""
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.chdir(copy_root)
            sys.path.insert(0, str(copy_root))
            for name in [m for m in sys.modules if m == "smartcharge" or
                         m.startswith("smartcharge.")]:
                del sys.modules[name]
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import pytest

            rc = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                              "--no-header", *tests])
            os._exit(int(rc))
        except BaseException:  # any failure in the child kills the mutant
            os._exit(99)
    start = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "survived" if os.waitstatus_to_exitcode(status) == 0 else "killed"
        if time.monotonic() - start > timeout_s:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.05)


def wilson(killed: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95 % for ``z = 1.96``) of a score ``killed / n`` measured on
    a random sample of ``n`` mutants: where the module's whole score lies."""
    if n == 0:
        return 0.0, 1.0
    p = killed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return max(0.0, centre - half), min(1.0, centre + half)


def _make_copy() -> Path:
    """A private copy of the project (sources, tests, docs, examples; no .git), with
    ``../shared`` beside it when the project has one (else its tests skip)."""
    dst = Path(tempfile.mkdtemp(prefix="smartcharge-mutation-")) / "project"
    ignore = shutil.ignore_patterns(".git", ".ci-venv", ".venv", "__pycache__", ".hypothesis",
                                    ".mypy_cache", ".ruff_cache", ".pytest_cache", "site")
    shutil.copytree(ROOT, dst, ignore=ignore)
    shared = ROOT.parent / "shared"  # ../shared (conformance cases): linked, not copied
    if shared.is_dir():
        (dst.parent / "shared").symlink_to(shared, target_is_directory=True)
    return dst


def run_module(
    module: str, copy_root: Path, *, sample: int | None, seed: int, only: list[int] | None,
    timeout_s: float, out: list[str],
) -> tuple[int, int, int]:
    """Mutate ``module`` in the copy; (killed, survived, timed out)."""
    tests = MODULES[module]
    path = copy_root / "smartcharge" / f"{module}.py"
    original = path.read_text()
    base = baseline_source(original)
    todo = mutants(original)
    if only:
        todo = [m for m in todo if m.index in set(only)]
    elif sample is not None and sample < len(todo):
        todo = sorted(random.Random(f"{seed}:{module}").sample(todo, sample),
                      key=lambda m: m.index)
    print(f"== {module}: {len(mutants(original))} mutants, running {len(todo)}"
          f" against {' '.join(tests)}", flush=True)
    try:
        path.write_text(base)  # the baseline (unparsed) must pass, else nothing counts
        t0 = time.monotonic()
        if _run_tests(copy_root, tests, timeout_s * 3) != "survived":
            raise SystemExit(f"{module}: the tests fail on the unmutated (unparsed) module")
        # every surviving mutant pays this in full: keep the map's clean run short
        print(f"  clean run {time.monotonic() - t0:5.1f} s", flush=True)
        counts = {"killed": 0, "survived": 0, "timeout": 0}
        for m in todo:
            text = mutated_source(original, m.index)
            path.write_text(text)
            t0 = time.monotonic()
            verdict = _run_tests(copy_root, tests, timeout_s)
            counts[verdict] += 1
            print(f"  #{m.index:4d} line {m.line:4d} {m.what:40s} {verdict:8s}"
                  f" {time.monotonic() - t0:5.1f} s", flush=True)
            if verdict == "survived":
                diff = difflib.unified_diff(base.splitlines(), text.splitlines(),
                                            f"{module}.py", f"{module}.py #{m.index}",
                                            n=1, lineterm="")
                out.append(f"### {module} #{m.index} (line {m.line}): {m.what}")
                out.extend(diff)
                out.append("")
    finally:
        path.write_text(original)
    return counts["killed"], counts["survived"], counts["timeout"]


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("modules", nargs="*", help=f"any of: {' '.join(MODULES)}")
    ap.add_argument("--all", action="store_true", help="every module above")
    ap.add_argument("--sample", type=int, default=None, help="mutants per module (default all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", type=int, nargs="*", help="these mutant numbers (one module)")
    ap.add_argument("--timeout", type=float, default=120.0, help="per mutant [s]")
    ap.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/mutation/survivors.txt")
    args = ap.parse_args(argv)
    names = list(MODULES) if args.all else args.modules
    unknown = [n for n in names if n not in MODULES]
    if unknown or not names:
        ap.error(f"name modules among: {' '.join(MODULES)} (or --all); got {unknown}")
    if args.list:
        for name in names:
            for m in mutants((ROOT / "smartcharge" / f"{name}.py").read_text()):
                print(f"{name} #{m.index} line {m.line}: {m.what}")
        return 0
    # a SIGTERM (a run stopped early) still removes the copy and writes the survivors
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.setdefault("HYPOTHESIS_PROFILE", "default")
    os.environ.setdefault("MPLBACKEND", "Agg")
    _preload()
    copy_root = _make_copy()
    survivors: list[str] = []
    total = [0, 0, 0]
    t0 = time.monotonic()
    try:
        for name in names:
            k, s, t = run_module(name, copy_root, sample=args.sample, seed=args.seed,
                                 only=args.only, timeout_s=args.timeout, out=survivors)
            total = [total[0] + k, total[1] + s, total[2] + t]
            score = (k + t) / max(k + s + t, 1)
            lo, hi = wilson(k + t, k + s + t)
            print(f"== {name}: killed {k}, timed out {t}, survived {s}:"
                  f" score {100 * score:.1f} % (95 % interval {100 * lo:.0f}-{100 * hi:.0f} %"
                  f" if sampled)", flush=True)
    finally:
        shutil.rmtree(copy_root.parent, ignore_errors=True)
        args.out.write_text("\n".join(survivors) + ("\n" if survivors else ""))
    k, s, t = total
    print(f"== total: killed {k}, timed out {t}, survived {s}:"
          f" score {100 * (k + t) / max(k + s + t, 1):.1f} %"
          f" in {time.monotonic() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
