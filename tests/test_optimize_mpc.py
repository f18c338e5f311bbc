"""Re-planning fast: coarser steps further out (grid), the solver by size, warm-up."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer import Problem, optimize, verify, warm_up
from smartcharge.optimizer._coarse import DEFAULT_GRID, block_starts, coarsen, expand
from smartcharge.optimizer._lp import AUTO_GLOP_MAX_COLUMNS, pick_solver
from smartcharge.optimizer._repair import allowed_mask
from smartcharge.synthetic import synthetic_problem
from tests.test_optimize_props import problems


def test_default_grid_on_a_day_of_five_minute_steps() -> None:
    s = block_starts(288, 300, DEFAULT_GRID)
    assert s[:12].tolist() == list(range(12))  # the first hour: every step
    assert s[12:24].tolist() == list(range(12, 48, 3))  # 15 minutes up to 4 h
    assert s[24:].tolist() == list(range(48, 288, 12))  # hours after that
    assert len(s) == 12 + 12 + 20


@given(n=st.integers(1, 400), step=st.sampled_from([60, 300, 900, 3600]),
       grid=st.lists(st.tuples(st.floats(1.0, 5e4), st.floats(0.0, 7200.0)), max_size=4))
def test_blocks_cover_the_horizon_in_order(
    n: int, step: int, grid: list[tuple[float, float]]
) -> None:
    grid = [*sorted(grid), (math.inf, 1800.0)]
    s = block_starts(n, step, grid)
    assert s[0] == 0 and np.all(np.diff(s) >= 1) and s[-1] < n
    # a block never runs past the step boundary at or after its entry's end
    ends = np.append(s[1:], n) * step
    for until, _ in grid[:-1]:
        before = s * step < until
        assert np.all(ends[before] <= math.ceil(until / step - 1e-9) * step)


def test_coarse_energy_is_exact_and_rows_are_the_block_minimum() -> None:
    p = synthetic_problem(12, n_steps=96, step_s=900, seed=5)
    net = p.network()
    rows = net.rows(10.0)
    starts = block_starts(net.T, net.step_s, ((3600.0, 0.0), (math.inf, 3600.0)))
    c, crows = coarsen(net, rows, starts)
    rng = np.random.default_rng(0)
    block_power = rng.uniform(0, 5000, (net.S, c.T))
    fine = np.where(net.frac > 0, expand(block_power, starts, net.T), 0.0)
    e_fine = (fine * net.frac).sum(axis=1) * net.dt_h
    e_coarse = (block_power * c.frac).sum(axis=1) * c.dt_h
    assert np.allclose(e_fine, e_coarse, rtol=1e-12)
    for r, cr in zip(rows, crows, strict=True):
        for b, a in enumerate(starts.tolist()):
            z = starts[b + 1] if b + 1 < len(starts) else net.T
            assert np.array_equal(cr.rhs[:, b], r.rhs[:, a:z].min(axis=1, initial=np.inf))
    assert allowed_mask(c, crows).shape == (net.S, c.T)


@given(problems(), st.sampled_from([
    "mpc", ((900.0, 0.0), (math.inf, 1800.0)), ((1.0, 0.0), (math.inf, 7200.0)),
]))
@settings(deadline=None)
def test_plans_on_a_coarse_grid_are_safe(d: dict[str, Any], grid: Any) -> None:
    p = Problem.model_validate(d)
    plan = optimize(p, grid=grid)
    assert verify(p, plan) == [], plan.message
    assert plan.session_power_w.shape == (len(p.sessions), p.horizon.n_steps)


def test_coarse_grid_keeps_most_of_the_energy_and_is_smaller() -> None:
    p = synthetic_problem(40, n_steps=96, step_s=900, seed=2)
    full = optimize(p)
    coarse = optimize(p, grid=((3600.0, 0.0), (math.inf, 3600.0)))
    assert verify(p, coarse) == []
    assert coarse.energy_wh.sum() >= 0.97 * full.energy_wh.sum()


@pytest.mark.parametrize("grid", ["fine", ((0.0, 900.0),), ((3600.0, -1.0),),
                                  ((3600.0, math.nan),)])
def test_a_bad_grid_is_a_clear_error(grid: Any) -> None:
    p = synthetic_problem(3, n_steps=8, seed=0)
    with pytest.raises(InvalidProblemError) as info:
        optimize(p, grid=grid)
    assert info.value.path is not None and info.value.path.startswith("grid")
    assert info.value.rule == "grid"


def test_solver_by_size() -> None:
    assert pick_solver("auto", 750) == "glop"
    assert pick_solver("auto", AUTO_GLOP_MAX_COLUMNS + 1) == "highs"
    assert pick_solver("highs-simplex", 10) == "highs-simplex"
    p = synthetic_problem(5, n_steps=8, seed=1)
    assert optimize(p).message.startswith("glop")


def test_warm_up_loads_the_solvers() -> None:
    assert warm_up() >= 0.0
    assert warm_up(("glop",)) >= 0.0


def test_far_blocks_get_the_coarser_polygon() -> None:
    p = synthetic_problem(12, n_steps=96, step_s=900, seed=5)
    net = p.network()
    fine, far = net.rows(10.0), net.rows(20.0)
    # 15-minute steps: single steps for 4 h (the 15-minute blocks are single steps), then hours
    starts = block_starts(net.T, net.step_s, DEFAULT_GRID)
    assert starts[:17].tolist() == [*range(16), 16] and starts[17] == 20
    _, crows = coarsen(net, fine, starts, far)
    for n, r in enumerate(crows):
        k = fine[n].coef.shape[0]
        assert np.array_equal(r.coef, np.vstack([fine[n].coef, far[n].coef]))
        assert np.all(np.isinf(r.rhs[:k, 16:])) and np.all(np.isinf(r.rhs[k:, :16]))
        assert np.array_equal(r.rhs[:k, :16], fine[n].rhs[:, :16])
