"""Re-planning latency: lazy node rows (exact), the warm state of ``replan``, the CSR
order, and a cold first call."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer import Problem, optimize, verify
from smartcharge.optimizer._lazy import (
    LazyRows,
    _row_values,
    _subset,
    initial_rows,
    solve_lazy,
    tight_rows,
)
from smartcharge.optimizer._model import RowBuilder, build_lp, solve_model
from smartcharge.optimizer._repair import allowed_mask
from smartcharge.optimizer.problem import Horizon, Objective
from smartcharge.optimizer.solve import replan
from smartcharge.synthetic import synthetic_problem
from tests.test_optimize_props import problems

ROOT = Path(__file__).resolve().parent.parent


def _lp(p: Problem) -> Any:
    net = p.network()
    rows = net.rows(10.0)
    allowed = allowed_mask(net, rows)
    return net, rows, build_lp(net, rows, allowed, Objective())


@given(problems())
@settings(deadline=None, max_examples=60)
def test_lazy_rows_reach_the_whole_lps_optimum(d: dict[str, Any]) -> None:
    """Started with no node row at all, the rounds end at the whole LP's optimum value,
    and the solution meets every row."""
    p = Problem.model_validate(d)
    net, rows, lp = _lp(p)
    if not allowed_mask(net, rows).any():
        return
    full = solve_model(lp, lp.lb, lp.ub, None, 0.0, "auto", "glop")
    got, keep, rounds = solve_lazy(lp, lp.lb, lp.ub, initial_rows(lp, net, rows, None,
                                                                  net.T, None),
                                   None, 0.0, "auto", "glop")
    assert full.x is not None and got.x is not None
    assert rounds >= 1 and keep[lp.row_node < 0].all()
    scale = max(1.0, abs(full.objective))
    assert abs(got.objective - full.objective) <= 1e-6 * scale
    act = _row_values(lp, got.x)
    assert np.all(act <= lp.row_ub + 1e-6 * (np.abs(lp.row_ub) + 1.0))


def test_row_values_and_subset_match_the_dense_matrix() -> None:
    p = synthetic_problem(8, n_steps=24, step_s=900, seed=3)
    _, _, lp = _lp(p)
    A = np.zeros((len(lp.row_ub), len(lp.lb)))
    for r in range(len(lp.row_ub)):
        A[r, lp.indices[lp.indptr[r]:lp.indptr[r + 1]]] = lp.data[lp.indptr[r]:lp.indptr[r + 1]]
    x = np.random.default_rng(1).uniform(0, 1000, len(lp.lb))
    assert np.allclose(_row_values(lp, x), A @ x, rtol=1e-12, atol=1e-9)
    keep = np.random.default_rng(2).random(len(lp.row_ub)) < 0.5
    sub = _subset(lp, keep)
    assert np.allclose(_row_values(sub, x), (A @ x)[keep], rtol=1e-12, atol=1e-9)
    assert np.array_equal(sub.row_ub, lp.row_ub[keep])


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 40)), min_size=1,
                max_size=200, unique=True), st.integers(0, 2**31 - 1))
def test_csr_rows_in_the_order_of_a_lexsort(pairs: list[tuple[int, int]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    rr = np.array([pairs[i][0] for i in order], dtype=np.int64)
    cc = np.array([pairs[i][1] for i in order], dtype=np.int64)
    vv = rng.normal(size=len(rr))
    n = int(rr.max()) + 1
    m = RowBuilder()
    m.add([rr], [cc], [vv], np.zeros(n), np.ones(n))
    _, _, indptr, indices, data = m.csr()
    ref = np.lexsort((cc, rr))
    assert np.array_equal(indices, cc[ref]) and np.array_equal(data, vv[ref])
    assert np.array_equal(indptr, np.concatenate([[0], np.cumsum(np.bincount(rr,
                                                                             minlength=n))]))


@given(problems())
@settings(deadline=None, max_examples=40)
def test_lazy_plans_are_safe_and_deterministic(d: dict[str, Any]) -> None:
    p = Problem.model_validate(d)
    a = optimize(p, grid="mpc", node_rows="lazy")
    assert verify(p, a) == [], a.message
    b = optimize(Problem.model_validate(d), grid="mpc", node_rows="lazy")
    assert a.session_power_w.tobytes() == b.session_power_w.tobytes()


def _shifted(p: Problem, k: int) -> Problem:
    """``p`` from its ``k``-th step on (the next re-plans of a loop)."""
    h = p.horizon

    def cut(v: Any) -> Any:
        return v[k:] if isinstance(v, tuple) else v

    nodes = tuple(x.model_copy(update={"max_power_w": cut(x.max_power_w),
                                       "max_current_a": cut(x.max_current_a)})
                  for x in p.nodes)
    tf = p.tariff
    tariff = tf.model_copy(update={"price": cut(tf.price),
                                   "co2_g_per_kwh": cut(tf.co2_g_per_kwh),
                                   "site_load_w": cut(tf.site_load_w)})
    return Problem(horizon=Horizon(start=h.start + timedelta(seconds=k * h.step_s),
                                   step_s=h.step_s, n_steps=h.n_steps - k),
                   nodes=nodes, evses=p.evses, sessions=p.sessions, tariff=tariff)


def test_replan_passes_its_warm_state_on_and_stays_pure() -> None:
    p = synthetic_problem(30, n_steps=96, step_s=300, seed=4, congestion=0.5)
    plan0, warm = replan(p)
    assert verify(p, plan0) == []
    assert isinstance(warm, LazyRows) and warm.nodes
    nxt = _shifted(p, 1)
    plan1, warm1 = replan(nxt, warm)
    assert verify(nxt, plan1) == []
    again, warm2 = replan(_shifted(p, 1), warm)  # same input, same output
    assert again.session_power_w.tobytes() == plan1.session_power_w.tobytes()
    assert warm1 is not None and warm2 is not None
    assert [n[0] for n in warm1.nodes] == [n[0] for n in warm2.nodes]
    # the warm rows are picked up: the next LP starts with more than the non-node rows
    net = nxt.network()
    rows = net.rows(10.0)
    lp = build_lp(net, rows, allowed_mask(net, rows), Objective())
    cold = initial_rows(lp, net, rows, None, net.T, None)
    hot = initial_rows(lp, net, rows, None, net.T, warm)
    assert hot.sum() > cold.sum() and np.all(hot >= cold)
    # all off: no row binds (every right-hand side is well above 0 here)
    assert tight_rows(lp, np.zeros(len(lp.lb)), net, rows, None, net.T).nodes == ()


def test_a_bad_node_rows_option_is_a_clear_error() -> None:
    p = synthetic_problem(3, n_steps=8, seed=0)
    with pytest.raises(InvalidProblemError) as info:
        optimize(p, node_rows="some")  # type: ignore[arg-type]
    assert info.value.path == "node_rows" and info.value.rule == "node-rows"


def test_a_fresh_process_first_call_needs_no_warm_up() -> None:
    """The solver modules load with the optimizer, not on the first solve; pandas (which
    OR-Tools' Python model_builder imports) is never loaded."""
    code = (
        "import sys, time\n"
        "import smartcharge.optimizer as o\n"
        "from smartcharge.synthetic import synthetic_problem\n"
        "assert 'ortools.linear_solver.python.model_builder_helper' in sys.modules\n"
        "assert 'scipy.sparse' in sys.modules\n"
        "p = synthetic_problem(10, n_steps=48, step_s=900, seed=1)\n"
        "o.optimize(p)\n"
        "assert 'pandas' not in sys.modules, 'pandas loaded'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
