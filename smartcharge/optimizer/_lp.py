"""Solve ``min c.x  s.t.  row_lb <= A x <= row_ub,  lb <= x <= ub`` through OR-Tools
(HiGHS' dual simplex or GLOP).

The only module that touches OR-Tools' linear solver. ``A`` comes in CSR form as three numpy
arrays (no scipy needed by the caller).

Two paths:

1. fast (ortools >= 9.10 with scipy importable): ``model_builder``'s helper
   ``fill_model_from_sparse_data`` loads the whole matrix in one call, and the solver helper
   returns the solution as one numpy array. Both are undocumented internals (OR-Tools calls
   the helper module internal), hence this small module, the pinned ortools range, and
2. public fallback: an ``MPModelRequest`` protocol buffer filled row by row from the CSR
   arrays, solved with ``pywraplp.Solver.SolveWithProto`` (public API, no scipy).

Solvers: ``"auto"`` (GLOP up to :data:`AUTO_GLOP_MAX_COLUMNS` columns, HiGHS interior point
above), ``"highs"`` (HiGHS interior point with crossover, serial, silent: a vertex
solution), ``"highs-simplex"`` (HiGHS dual simplex), ``"glop"`` (default parameters), and
``"scip"`` for the MIP mode. Measured on this module's models (loaded 2-core machine, 5,000
EVSEs x 96 steps, 145k columns): sessions on step boundaries (very degenerate) HiGHS IPM
4-5.6 s, HiGHS simplex 41-49 s, GLOP 16 s; sessions at arbitrary times HiGHS simplex 2 s,
GLOP 64 s. Interior point never blew up, so it is the choice for large models; GLOP is
faster on small ones (``"auto"``).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["LpResult", "pick_solver", "solve_lp", "warm_up"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Status = Literal["optimal", "feasible", "infeasible", "failed"]
SolverName = Literal["auto", "highs", "highs-simplex", "glop", "scip"]
AUTO_GLOP_MAX_COLUMNS = 20_000
"""``solver="auto"``: GLOP up to this many columns, HiGHS interior point above. Measured
(2-core machine): Caltech re-plans (about 750 columns on the MPC grid) GLOP 0.26 s, HiGHS
0.61 s; 1,000 EVSEs x 96 steps (71k columns) GLOP 0.38 s, HiGHS 0.64 s; 5,000 x 96 (357k)
GLOP 6.2-16 s, HiGHS 4-5.6 s, and 5,000 x 96 with sessions at arbitrary times GLOP 64 s
(shared/notes/solvers.md and this module's docstring): GLOP wins on small models but can
blow up on large ones, hence a threshold well below where it was measured to win."""


def pick_solver(solver: SolverName, n_columns: int) -> SolverName:
    """The solver ``"auto"`` stands for at this size; any other name unchanged."""
    if solver != "auto":
        return solver
    return "glop" if n_columns <= AUTO_GLOP_MAX_COLUMNS else "highs"
_HIGHS_PARAMS = {
    "highs": "output_flag=false\nparallel=off\nsolver=ipm",
    "highs-simplex": "output_flag=false\nparallel=off",
}


@dataclass(frozen=True)
class LpResult:
    """What the solver returned: ``x`` is ``None`` unless status is optimal/feasible."""

    status: Status
    x: FloatArray | None
    objective: float
    message: str
    build_s: float
    solve_s: float
    path: str


def solve_lp(
    lb: FloatArray,
    ub: FloatArray,
    c: FloatArray,
    row_lb: FloatArray,
    row_ub: FloatArray,
    indptr: IntArray,
    indices: IntArray,
    data: FloatArray,
    *,
    time_limit_s: float | None = None,
    path: Literal["auto", "sparse", "proto"] = "auto",
    solver: SolverName = "highs",
    integer: IntArray | None = None,
) -> LpResult:
    """Solve the LP (minimisation). Infinite bounds are allowed. Never raises on solver
    trouble: a failure comes back as ``status="failed"`` with a message. ``integer``: indices
    of integer columns (a MIP: use ``solver="scip"``)."""
    solver = pick_solver(solver, len(lb))
    if path in ("auto", "sparse"):
        try:
            return _solve_sparse(lb, ub, c, row_lb, row_ub, indptr, indices, data, time_limit_s,
                                 solver, integer)
        except (ImportError, AttributeError, TypeError) as exc:
            if path == "sparse":
                return LpResult("failed", None, np.nan, f"sparse path unavailable: {exc}",
                                0.0, 0.0, "sparse")
    return _solve_proto(lb, ub, c, row_lb, row_ub, indptr, indices, data, time_limit_s,
                        solver, integer)


def warm_up(solvers: tuple[SolverName, ...] = ("glop", "highs")) -> float:
    """Import the solver modules and solve a one-column LP with each of ``solvers``, so
    that the first real solve in this process does not pay for them; returns the time it
    took [s].

    The solver modules are imported with this module (:func:`_load_sparse_modules`), so
    a process's first :func:`optimize` is already about as fast as the next (1.07-1.12x
    measured in fresh processes); this also runs each solver once. Never raises: a
    solver that fails here fails (and falls back) later too.
    """
    t0 = time.perf_counter()
    one = np.ones(1)
    for name in solvers:
        solve_lp(np.zeros(1), one, -one, np.zeros(1), one, np.array([0, 1], dtype=np.int64),
                 np.zeros(1, dtype=np.int64), one, solver=name)
    return time.perf_counter() - t0


def _load_sparse_modules() -> tuple[Any, Any] | None:
    """``scipy.sparse`` and OR-Tools' ``model_builder_helper`` (the C++ extension), or
    ``None`` when either is missing.

    Imported when this module is: they are what a first solve used to spend most of its
    time on (about 1.5 s on a loaded 2-core machine against a 150 ms re-plan), so a
    process's first :func:`~smartcharge.optimizer.optimize` is no longer several times
    slower than the next without :func:`warm_up`. The Python ``model_builder`` module is
    not used: it imports pandas (another 2 s).
    """
    try:
        return (importlib.import_module("scipy.sparse"),
                importlib.import_module("ortools.linear_solver.python.model_builder_helper"))
    except ImportError:  # pragma: no cover - scipy is optional: the proto path then
        return None


_SPARSE = _load_sparse_modules()


def _sparse_modules() -> tuple[Any, Any]:
    if _SPARSE is None:
        raise ImportError("the sparse path needs scipy and ortools' model_builder_helper")
    return _SPARSE


def _solve_sparse(
    lb: FloatArray, ub: FloatArray, c: FloatArray, row_lb: FloatArray, row_ub: FloatArray,
    indptr: IntArray, indices: IntArray, data: FloatArray, time_limit_s: float | None,
    solver_name: SolverName, integer: IntArray | None,
) -> LpResult:
    sparse, mbh = _sparse_modules()
    t0 = time.perf_counter()
    nrows, ncols = len(row_lb), len(lb)
    mat = sparse.csr_matrix((data, indices, indptr), shape=(nrows, ncols))
    model = mbh.ModelBuilderHelper()
    model.fill_model_from_sparse_data(
        np.ascontiguousarray(lb, dtype=np.float64),
        np.ascontiguousarray(ub, dtype=np.float64),
        np.ascontiguousarray(c, dtype=np.float64),
        np.ascontiguousarray(row_lb, dtype=np.float64),
        np.ascontiguousarray(row_ub, dtype=np.float64),
        mat,
    )
    for i in (integer if integer is not None else np.zeros(0, dtype=np.int64)).tolist():
        model.set_var_integrality(i, True)
    solver = mbh.ModelSolverHelper("highs" if solver_name in _HIGHS_PARAMS else solver_name)
    if solver_name in _HIGHS_PARAMS:
        solver.set_solver_specific_parameters(_HIGHS_PARAMS[solver_name])
    if time_limit_s is not None:
        solver.set_time_limit_in_seconds(max(float(time_limit_s), 1e-3))
    t1 = time.perf_counter()
    solver.solve(model)
    status = solver.status()
    t2 = time.perf_counter()
    name = getattr(status, "name", str(status))
    if name not in ("OPTIMAL", "FEASIBLE"):
        kind: Status = "infeasible" if name == "INFEASIBLE" else "failed"
        return LpResult(kind, None, np.nan, f"{solver_name}: {name}", t1 - t0, t2 - t1, "sparse")
    x = np.asarray(solver.variable_values(), dtype=np.float64).reshape(-1)
    if x.shape != (ncols,) or not np.all(np.isfinite(x)):
        return LpResult("failed", None, np.nan, f"{solver_name} returned no usable solution",
                        t1 - t0, t2 - t1, "sparse")
    return LpResult("optimal" if name == "OPTIMAL" else "feasible", x,
                    float(solver.objective_value()), f"{solver_name}: {name}", t1 - t0, t2 - t1,
                    "sparse")


def _solve_proto(
    lb: FloatArray, ub: FloatArray, c: FloatArray, row_lb: FloatArray, row_ub: FloatArray,
    indptr: IntArray, indices: IntArray, data: FloatArray, time_limit_s: float | None,
    solver_name: SolverName, integer: IntArray | None,
) -> LpResult:
    pb: Any = importlib.import_module("ortools.linear_solver.linear_solver_pb2")
    pywraplp: Any = importlib.import_module("ortools.linear_solver.pywraplp")

    t0 = time.perf_counter()
    req = pb.MPModelRequest()
    if solver_name in _HIGHS_PARAMS:
        req.solver_type = pb.MPModelRequest.HIGHS_LINEAR_PROGRAMMING
        req.solver_specific_parameters = _HIGHS_PARAMS[solver_name]
    elif solver_name == "scip":
        req.solver_type = pb.MPModelRequest.SCIP_MIXED_INTEGER_PROGRAMMING
    else:
        req.solver_type = pb.MPModelRequest.GLOP_LINEAR_PROGRAMMING
    if time_limit_s is not None:
        req.solver_time_limit_seconds = max(float(time_limit_s), 1e-3)
    model = req.model
    lbl = np.asarray(lb, dtype=np.float64).tolist()  # the proto takes +-inf as is
    ubl = np.asarray(ub, dtype=np.float64).tolist()
    cl = np.asarray(c, dtype=np.float64).tolist()
    is_int = np.zeros(len(lbl), dtype=bool)
    if integer is not None:
        is_int[integer] = True
    for lo, hi, obj, isi in zip(lbl, ubl, cl, is_int.tolist(), strict=True):
        model.variable.add(lower_bound=lo, upper_bound=hi, objective_coefficient=obj,
                           is_integer=isi)
    rlo = np.asarray(row_lb, dtype=np.float64).tolist()
    rhi = np.asarray(row_ub, dtype=np.float64).tolist()
    idx = indices.tolist()
    val = data.tolist()
    ptr = indptr.tolist()
    for r in range(len(rlo)):
        ct = model.constraint.add(lower_bound=rlo[r], upper_bound=rhi[r])
        ct.var_index.extend(idx[ptr[r]:ptr[r + 1]])
        ct.coefficient.extend(val[ptr[r]:ptr[r + 1]])
    t1 = time.perf_counter()
    resp = pb.MPSolutionResponse()
    pywraplp.Solver.SolveWithProto(req, resp)
    t2 = time.perf_counter()
    name = pb.MPSolverResponseStatus.Name(resp.status)
    if resp.status not in (pb.MPSOLVER_OPTIMAL, pb.MPSOLVER_FEASIBLE) or len(
        resp.variable_value
    ) != len(lbl):
        kind: Status = "infeasible" if resp.status == pb.MPSOLVER_INFEASIBLE else "failed"
        return LpResult(kind, None, np.nan, f"{solver_name}: {name}", t1 - t0, t2 - t1, "proto")
    x = np.array(resp.variable_value, dtype=np.float64)
    return LpResult(
        "optimal" if resp.status == pb.MPSOLVER_OPTIMAL else "feasible", x,
        float(resp.objective_value), f"{solver_name}: {name}", t1 - t0, t2 - t1, "proto",
    )
