"""Issue 13, round 4: behaviours of the min-cost flow (``method="flow"``), the greedy
tree fill and the staged max flow (``method="tree"``), the lazy node rows and the
baseline policies, each pinned on a small problem whose answer is worked out by hand.

Each test names the behaviour a user relies on; a ``# catches:`` comment names the
planted bug (a mutant of ``benchmarks/mutation/mutate.py``) it was written against.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings

import smartcharge.optimizer._lazy as lazy_module
import smartcharge.optimizer.solve as solve_module
from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer import Objective, Problem, SolverStatus, optimize, verify
from smartcharge.optimizer._lazy import LazyRows, initial_rows, solve_lazy, tight_rows
from smartcharge.optimizer._maxflow import (
    arc_rank,
    augment,
    flow_graph,
    flow_plan,
    flows_of,
    power_of,
    session_energy,
    shed_partial,
    staged_flow,
)
from smartcharge.optimizer._model import build_lp, solve_model
from smartcharge.optimizer._repair import allowed_mask, energy_wh
from smartcharge.optimizer._tree import _take_back, fill, tree_limits
from smartcharge.optimizer.baselines import (
    earliest_deadline_first,
    equal_share,
    least_laxity_first,
    uncontrolled,
)
from smartcharge.synthetic import synthetic_problem
from tests.test_optimize_tree import power_trees

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _at(step_s: int, k: float) -> str:
    return (START + timedelta(seconds=k * step_s)).isoformat()


def site(
    n_steps: int, sessions: list[tuple[str, float, float, float]], *, step_s: int = 3600,
    node_w: float | None = 50_000.0, evse_w: float = 11_000.0,
    min_w: float | None = None, **tariff: Any,
) -> Problem:
    """One node (``node_w``), one DC EVSE per session (``evse_w``, minimum ``min_w``);
    sessions ``(id, arrival step, departure step, energy Wh)``."""
    evses: list[dict[str, Any]] = []
    for i, _ in enumerate(sessions):
        e: dict[str, Any] = {"id": f"e{i}", "node": "g", "kind": "DC", "max_power_w": evse_w}
        if min_w is not None:
            e["min_power_w"] = min_w
        evses.append(e)
    node: dict[str, Any] = {"id": "g"}
    if node_w is not None:
        node["max_power_w"] = node_w
    return Problem.model_validate({
        "horizon": {"start": START.isoformat(), "step_s": step_s, "n_steps": n_steps},
        "nodes": [node], "evses": evses,
        "sessions": [{"id": sid, "evse": f"e{i}", "arrival": _at(step_s, a),
                      "departure": _at(step_s, d), "energy_wh": wh}
                     for i, (sid, a, d, wh) in enumerate(sessions)],
        "tariff": {"price": 0.2, **tariff},
    })


def _on(plan_row: Any) -> list[int]:
    return [int(t) for t in np.flatnonzero(plan_row > 1e-6)]


# ---- the min-cost flow (optimizer/_flow) ------------------------------------------------


def test_flow_charges_first_on_a_flat_tariff_over_a_long_horizon() -> None:
    # 96 quarter hours, 5,500 Wh at 11 kW: two steps, and the charge-early tie-break
    # (1e-5 of a Wh's value spread over 96 steps) must pick the first two
    p = site(96, [("a", 0, 96, 5500.0)], step_s=900)
    plan = optimize(p, method="flow")
    assert plan.status is SolverStatus.OPTIMAL and verify(p, plan) == []
    assert _on(plan.session_power_w[0]) == [0, 1]
    assert plan.session_power_w[0, :2].tolist() == pytest.approx([11000.0, 11000.0])
    # catches: the fine cost scale "T / early" -> "T * early" (tie-break rounded away)
    # catches: "sp is None and fine > scale" -> "or" (always re-solved at the coarse scale)


def test_flow_weighs_price_and_co2_as_the_objective_says() -> None:
    # cost of a Wh = price / 1000 + co2_per_kg * g/kWh / 1e6 [currency/Wh], co2_per_kg = 1
    # (a) CO2 outweighs price: step 0: 0.0003 + 0.0001 = 0.0004 < step 1: 0.0001 + 0.0004
    co2_wins = site(2, [("a", 0, 2, 11000.0)], price=[0.3, 0.1], co2_g_per_kwh=[100, 400])
    plan = optimize(co2_wins, Objective(co2_per_kg=1.0), method="flow")
    assert _on(plan.session_power_w[0]) == [0]
    # catches: "price / 1000 + co2 / 1e6" -> "-" (cleaner steps made dearer)
    # (b) price outweighs CO2: step 0: 0.0003 + 0.0001 = 0.0004 > step 1: 0.0001 + 0.00015
    price_wins = site(2, [("a", 0, 2, 11000.0)], price=[0.3, 0.1], co2_g_per_kwh=[100, 150])
    plan = optimize(price_wins, Objective(co2_per_kg=1.0), method="flow")
    assert _on(plan.session_power_w[0]) == [1]
    # catches: "co2 / 1e6" -> "co2 * 1e6" (CO2 a million times too heavy)
    for p in (co2_wins, price_wins):  # the LP agrees
        lp = optimize(p, Objective(co2_per_kg=1.0), method="lp")
        assert _on(lp.session_power_w[0]) == _on(
            optimize(p, Objective(co2_per_kg=1.0), method="flow").session_power_w[0])


def test_flow_charge_early_never_outweighs_a_cheaper_late_step() -> None:
    # 96 quarter hours at 0.20, the last at 0.19: one step of energy goes to the last step
    # (the tie-break is worth at most 1e-5 of a Wh's value; the price gap 0.5 % of it)
    price = [0.2] * 95 + [0.19]
    p = site(96, [("a", 0, 96, 2750.0)], step_s=900, price=price)
    plan = optimize(p, method="flow")
    assert _on(plan.session_power_w[0]) == [95]
    assert plan.session_power_w[0, 95] == pytest.approx(11000.0)
    # catches: the tie-break "early * (t + 1) / T" -> "* T" (worth 0.9 of a Wh at T = 96)


def _two_on_one_step(pa: float, pb: float, need_wh: float = 22000.0) -> Problem:
    """Two sessions of ``need_wh`` each under an 11 kW node for one hour."""
    d = site(1, [("a", 0, 1, need_wh), ("b", 0, 1, need_wh)], node_w=11000.0,
             evse_w=22000.0).model_dump(mode="json")
    d["sessions"][0]["priority"], d["sessions"][1]["priority"] = pa, pb
    return Problem.model_validate(d)


def test_flow_two_fairness_tiers_share_a_scarce_node_equally() -> None:
    # each session's first half of need (5,500 Wh) is worth 1 + fairness, the second 1:
    # the two first halves take the whole 11 kW, so they go half and half
    p = _two_on_one_step(1.0, 1.0, need_wh=11000.0)
    for method in ("flow", "lp"):
        plan = optimize(p, Objective(fairness=0.2, tiers=2), method=method)
        assert plan.status is SolverStatus.OPTIMAL
        assert plan.session_power_w[:, 0].tolist() == pytest.approx([5500.0, 5500.0])
    # catches: the tier bonus "if K > 1" -> "K > 2" (two tiers: one bonus for two arcs)


def test_flow_fairness_bonus_scales_with_priority() -> None:
    # four tiers of 5,500 Wh, fairness 0.4: a tier's value is priority x (1 + 0.4 x
    # (3 - k) / 3). a (priority 1.12): 1.568, 1.419, ...; b (1.0): 1.4, 1.267, ...
    # 11,000 Wh = two tiers: a's second (1.419) beats b's first (1.4), so a takes both
    p = _two_on_one_step(1.12, 1.0)
    for method in ("flow", "lp"):
        plan = optimize(p, Objective(fairness=0.4, tiers=4), method=method)
        assert plan.session_power_w[:, 0].tolist() == pytest.approx([11000.0, 0.0])
    # at priority 1.05 a's second tier (1.33) loses to b's first: 5,500 Wh each
    plan = optimize(_two_on_one_step(1.05, 1.0), Objective(fairness=0.4, tiers=4),
                    method="flow")
    assert plan.session_power_w[:, 0].tolist() == pytest.approx([5500.0, 5500.0])
    # catches: the tier value "priority * bonus" -> "priority / bonus" (a's second tier
    # 1.12 / 1.133 = 0.988 then loses to b's first, 1.0)


# ---- the greedy tree fill (optimizer/_tree) ---------------------------------------------


def test_tree_refuses_single_phase_evses_on_one_line_and_the_lp_plans_them() -> None:
    # two 16 A single-phase EVSEs on L1 under a 20 A node: L2 and L3 carry nothing, their
    # rows are all zero, not power limits, so the tree fill does not apply
    two_hours = "2024-01-01T02:00:00+00:00"
    p = Problem.model_validate({
        "horizon": {"start": START.isoformat(), "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "g", "max_current_a": 20}],
        "evses": [{"id": f"e{i}", "node": "g", "max_current_a": 16, "phases": 1}
                  for i in range(2)],
        "sessions": [{"id": s, "evse": f"e{i}", "arrival": START.isoformat(),
                      "departure": two_hours, "energy_wh": 7360}
                     for i, s in enumerate("ab")]})
    with pytest.raises(InvalidProblemError) as info:
        optimize(p, method="tree")
    assert info.value.path == "method" and "power limit" in str(info.value)
    # catches: the sign test "any(c0 <= 0)" -> "all" (the zero rows then divide by 0
    # and give the node a limit of -inf)
    plan = optimize(p)  # the LP: 20 A x 230 V = 4,600 W on L1 in each step
    assert plan.session_power_w.sum(axis=0) == pytest.approx([4600.0, 4600.0], abs=0.05)
    assert verify(p, plan) == []


def _three_phase_node(**node: Any) -> Problem:
    """Three 32 A three-phase EVSEs (22,080 W each) under one node, two 1-hour steps,
    each session wanting 44,160 Wh (both steps at its maximum)."""
    return Problem.model_validate({
        "horizon": {"start": START.isoformat(), "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "g", **node}],
        "evses": [{"id": f"e{i}", "node": "g", "max_current_a": 32} for i in range(3)],
        "sessions": [{"id": f"s{i}", "evse": f"e{i}", "arrival": START.isoformat(),
                      "departure": _at(3600, 2), "energy_wh": 44160} for i in range(3)]})


def test_tree_takes_the_tighter_of_a_nodes_power_and_current_limit_in_each_step() -> None:
    # 40 A on each line of three-phase EVSEs = 3 x 230 V x 40 A = 27,600 W; the power
    # limit is 20,000 W in step 0 and 50,000 W in step 1
    p = _three_phase_node(max_power_w=[20000, 50000], max_current_a=40)
    net = p.network()
    limits = tree_limits(net, net.rows())
    assert limits is not None
    assert limits[0].tolist() == pytest.approx([20000.0, 27600.0])
    # catches: the tightest row "np.min(rhs / c0)" -> "np.max"
    plan = optimize(p, method="tree")
    assert verify(p, plan) == []
    assert plan.session_power_w.sum(axis=0) == pytest.approx([20000.0, 27600.0], rel=1e-6)


def _fill_alone(p: Problem, *, finish: bool = False) -> Any:
    """The greedy fill from zero power, cheapest then earliest steps, on ``p``."""
    net = p.network()
    rows = net.rows()
    limits = tree_limits(net, rows)
    assert limits is not None
    return fill(net, limits, allowed_mask(net, rows), np.zeros((net.S, net.T)),
                net.price / 1000.0, finish=finish)


def test_fill_gives_a_scarce_node_to_the_session_leaving_first() -> None:
    # an 11 kW node, flat price; a stays for steps 0-2, b leaves after step 1, both want
    # two steps at 11 kW: earliest departure first, so b gets steps 0 and 1, a step 2
    p = site(4, [("a", 0, 3, 22000.0), ("b", 0, 2, 22000.0)], node_w=11000.0)
    sp = _fill_alone(p)
    assert sp.tolist() == [pytest.approx([0.0, 0.0, 11000.0, 0.0], rel=1e-6),
                           pytest.approx([11000.0, 11000.0, 0.0, 0.0], rel=1e-6)]
    # catches: the last plugged-in step read from "allowed[:, ::-1]" -> "[:, ::-2]"
    # (a's and b's departures then tie, and a, first by index, took steps 0 and 1)


def test_fill_serves_a_need_of_exactly_one_step_at_the_minimum() -> None:
    # minimum 4,000 W, need 4,000 Wh in 1-hour steps: one step at exactly the minimum
    p = site(2, [("a", 0, 2, 4000.0)], min_w=4000.0)
    for finish in (False, True):
        assert _fill_alone(p, finish=finish).tolist() == [[4000.0, 0.0]]
    plan = optimize(p, method="tree")
    assert plan.message == "greedy fill: every need served"
    assert plan.session_power_w.tolist() == [[4000.0, 0.0]]
    # catches: the minimum test "head < pmin" -> "<=" (a grant of exactly the minimum
    # refused)


def test_tree_weighs_price_and_co2_as_the_objective_says() -> None:
    # as the flow's test: CO2 outweighs price in (a), price outweighs CO2 in (b)
    obj = Objective(co2_per_kg=1.0)
    for co2, step in (([100, 400], 0), ([100, 150], 1)):
        p = site(2, [("a", 0, 2, 10000.0)], price=[0.3, 0.1], co2_g_per_kwh=co2)
        plan = optimize(p, obj, method="tree")
        assert plan.message == "greedy fill: every need served"
        assert _on(plan.session_power_w[0]) == [step]
    # catches: the step cost's "co2 / 1e6" -> "co2 * 1e6"


# ---- the staged max flow (optimizer/_maxflow) -------------------------------------------


def _graph(p: Problem) -> tuple[Any, Any, Any, Any]:
    net = p.network()
    rows = net.rows()
    limits = tree_limits(net, rows)
    assert limits is not None
    allowed = allowed_mask(net, rows)
    return net, limits, allowed, flow_graph(net, allowed, limits)


def test_arc_rank_orders_cheap_dear_and_partly_plugged_steps() -> None:
    # plugged in from 0.4 of step 0 (frac 0.6) to 0.3 of step 3 (frac 0.3); prices 0.1,
    # 0.3, 0.1, 0.1: the median of the arcs' step costs is 0.1, so step 2 is cheap (0),
    # step 1 dear (1), step 0 plugged at least half (2), step 3 less (3)
    p = site(4, [("a", 0.4, 3.3, 20000.0)], price=[0.1, 0.3, 0.1, 0.1])
    net, _, allowed, g = _graph(p)
    assert allowed.tolist() == [[True, True, True, True]]
    assert net.frac[0].tolist() == pytest.approx([0.6, 1.0, 1.0, 0.3])
    assert arc_rank(net, g, net.price / 1000.0).tolist() == [2, 1, 0, 3]
    # catches: the "less than half plugged" threshold "frac < 0.5" -> "< 1.5"


def test_augment_moves_even_a_single_mwh_to_reach_the_max_flow() -> None:
    # a 1 W node: 1 Wh (1,000 mWh) per 1-hour step. a (1 mWh, steps 0-1) holds 1 mWh of
    # step 0; b (1 Wh, step 0 only) needs all of step 0: the max flow, 1,001 mWh, moves a
    # to step 1, which needs the 1 mWh on a's arc in step 0 taken back
    # (four steps: the graph's 4 node arcs come before its 3 session arcs)
    p = site(4, [("a", 0, 2, 0.001), ("b", 0, 1, 1.0)], node_w=1.0)
    net, _, _, g = _graph(p)
    start = flows_of(net, g, np.array([[0.001, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
    assert int(start[-2:].sum()) == 1
    done = augment(g, start, g.cap)
    assert done is not None
    assert done[-2:].tolist() == [1, 1000]  # mWh to a and b
    assert session_energy(net, g, done).tolist() == [[0.0, 0.001, 0.0, 0.0],
                                                     [1.0, 0.0, 0.0, 0.0]]
    # catches: the residual graph's back arcs "flows > 0" -> "> 1", and their range
    # "first session arc + number of session arcs" -> "-" (no back arc on a's arcs)


def test_flow_plan_keeps_a_step_at_exactly_the_minimum_and_drops_one_below() -> None:
    # one 1-hour step, minimum 4,000 W: a need of 4,000 Wh is one step at the minimum
    for need, power in ((4000.0, 4000.0), (2000.0, 0.0)):
        p = site(1, [("a", 0, 1, need)], min_w=4000.0)
        net, limits, allowed, _ = _graph(p)
        planned = flow_plan(net, allowed, limits, net.price / 1000.0)
        assert planned is not None
        assert planned[0].tolist() == [[power]]
        assert planned[1] == need  # the bound: the max flow, before the minimum rule
    # catches: the minimum test "sp < mn * (1 - 1e-9)" -> "mn / (1 - 1e-9)" (4,000 W
    # dropped) and "1e-9" -> "1 + 1e-9" (2,000 W kept below the minimum)


def test_shed_partial_leaves_a_node_with_room_alone() -> None:
    # plugged in for half of step 0 at 11 kW under a 50 kW node: nothing to shed
    p = site(2, [("a", 0.5, 2, 20000.0)])
    net, limits, allowed, _ = _graph(p)
    partial = allowed & (net.frac > 0) & (net.frac < 1)
    assert partial.tolist() == [[True, False]]
    sp = np.array([[11000.0, 11000.0]])
    assert shed_partial(net, limits, sp, partial).tolist() == [[11000.0, 11000.0]]
    # over the limit: a 15 kW node with 11 kW of whole-step load sheds the partial step
    # to the 4 kW left
    two = site(1, [("a", 0.5, 1, 5000.0), ("b", 0, 1, 11000.0)], node_w=15000.0)
    net, limits, allowed, _ = _graph(two)
    partial = allowed & (net.frac > 0) & (net.frac < 1)
    out = shed_partial(net, limits, np.array([[11000.0], [11000.0]]), partial)
    assert out.tolist() == [[4000.0], [11000.0]]
    # catches: the cut's floor "clip(over - before, 0, p)" -> "clip(..., 1, p)" (1 W shed
    # from every partly plugged step)


def _min_site(n_steps: int, sessions: list[tuple[str, float, float, float]],
              price: list[float]) -> tuple[Any, Any, Any]:
    """An 11 kW node; 11 kW EVSEs with a 4 kW minimum."""
    p = site(n_steps, sessions, node_w=11000.0, min_w=4000.0, price=price)
    net, limits, allowed, _ = _graph(p)
    return net, limits, allowed


def test_flow_plan_serves_every_need_when_the_node_fits_them_exactly() -> None:
    # 2 x 11 kWh of node for a (6,000 Wh) and b (16,000 Wh): the bound is every need;
    # the staged shares (half, three quarters, all) leave a in one step at 6 kW
    net, limits, allowed = _min_site(2, [("a", 0, 2, 6000.0), ("b", 0, 2, 16000.0)],
                                     [0.2, 0.2])
    planned = flow_plan(net, allowed, limits, net.price / 1000.0)
    assert planned is not None
    sp, bound = planned
    assert bound == 22000.0
    assert energy_wh(net, sp).tolist() == pytest.approx([6000.0, 16000.0])
    # catches: the passes' ranks "(0, 1)" -> "(1, 1)" above half a need (the 3/4 share
    # skipped: a spread over both steps below its minimum, then dropped: 16,000 Wh)


def test_flow_plan_gives_a_session_back_what_the_minimum_rule_took() -> None:
    # a (9,000 Wh) and b (20,000 Wh) under an 11 kW node over three hours, minimum 4 kW:
    # the first flow spreads a below its minimum in some step, and that step is dropped;
    # the re-augment gives each session back up to what it had first (a: 9,000 Wh),
    # which the graph allows (a 9,000 in step 0; b 2,000 + 11,000 + 7,000)
    net, limits, allowed = _min_site(3, [("a", 0, 3, 9000.0), ("b", 0, 3, 20000.0)],
                                     [0.1, 0.2, 0.3])
    first = flow_plan(net, allowed, limits, net.price / 1000.0, rounds=0)
    again = flow_plan(net, allowed, limits, net.price / 1000.0)
    assert first is not None and again is not None
    assert energy_wh(net, first[0])[0] < 9000.0  # the drop this test is about
    assert energy_wh(net, again[0])[0] == pytest.approx(9000.0)
    assert energy_wh(net, again[0]).sum() > energy_wh(net, first[0]).sum()
    mn = 4000.0 * (1 - 1e-9)
    assert np.all((again[0] == 0.0) | (again[0] >= mn))
    # catches: the re-augment's failure test "got is None" negated (the first plan
    # returned as it was, a at 6,000 Wh)


# ---- lazy node rows (optimizer/_lazy) ---------------------------------------------------


def _lazy_lp(p: Problem) -> tuple[Any, Any, Any]:
    net = p.network()
    rows = net.rows(10.0)
    return net, rows, build_lp(net, rows, allowed_mask(net, rows), Objective())


def _dense_values(lp: Any, x: Any) -> Any:
    """``A x`` row by row from the CSR arrays (an oracle independent of the module)."""
    return np.array([float(np.dot(lp.data[a:b], x[lp.indices[a:b]]))
                     for a, b in zip(lp.indptr[:-1], lp.indptr[1:], strict=True)])


def test_a_replan_starts_with_exactly_the_rows_that_were_tight_one_step_earlier() -> None:
    p = synthetic_problem(6, n_steps=8, step_s=900, seed=2, feeders=2, congestion=0.4)
    net, rows, lp = _lazy_lp(p)
    x = solve_model(lp, lp.lb, lp.ub, None, 0.0, "auto", "glop").x
    assert x is not None
    slack = lp.row_ub - _dense_values(lp, x)
    tight = (lp.row_node >= 0) & (slack <= 0.03 * (np.abs(lp.row_ub) + 1.0))
    assert 0 < tight.sum() < (lp.row_node >= 0).sum()  # some node rows, not all
    warm = tight_rows(lp, x, net, rows, None, net.T)
    t0 = p.horizon.start.timestamp()
    for _, _, _, s0, s1 in warm.nodes:  # each row's step [s since the epoch]
        assert np.all(s1 - s0 == 900.0) and np.all((s0 - t0) % 900.0 == 0.0)
        assert np.all((s0 >= t0) & (s1 <= t0 + 8 * 900.0))
    # catches: the block spans "first * step_s" -> "first / step_s"
    # the same problem again: the non-node rows and exactly the tight ones
    again = initial_rows(lp, net, rows, None, net.T, warm)
    assert np.array_equal(again, (lp.row_node < 0) | tight)
    # catches: the slack "ub - act" -> "ub + act", the facet "key // T" -> "key * T" in
    # either function, the node, facet and span matches "==" -> "!=", "k - 1" -> "k + 1"
    # one step later (the next re-plan): a row is kept when the same node's same facet
    # was tight in the block holding this block's start, i.e. one step further on
    T = net.T
    was = {(int(lp.row_node[i]), int(lp.row_key[i]) // T, int(lp.row_key[i]) % T)
           for i in np.flatnonzero(tight)}
    nxt = _shifted_one_step(p)
    net1, rows1, lp1 = _lazy_lp(nxt)
    T1 = net1.T
    expect = np.array([lp1.row_node[i] < 0 or (
        int(lp1.row_node[i]), int(lp1.row_key[i]) // T1, int(lp1.row_key[i]) % T1 + 1) in was
        for i in range(len(lp1.row_ub))])
    assert np.array_equal(initial_rows(lp1, net1, rows1, None, T1, warm), expect)
    assert expect.sum() > (lp1.row_node < 0).sum()
    # a warm state of another site (an unknown node): nothing but the non-node rows
    other = LazyRows(tuple(("elsewhere", *node[1:]) for node in warm.nodes))
    assert np.array_equal(initial_rows(lp, net, rows, None, net.T, other), lp.row_node < 0)
    # catches: the skip test "n is None or ..." -> "and" (looked the unknown node up)


def _shifted_one_step(p: Problem) -> Problem:
    """``p`` one step later (the next re-plan): its series without their first value."""
    h = p.horizon

    def cut(v: Any) -> Any:
        return v[1:] if isinstance(v, tuple) else v

    nodes = [x.model_copy(update={"max_power_w": cut(x.max_power_w),
                                  "max_current_a": cut(x.max_current_a)}) for x in p.nodes]
    tf = p.tariff
    tariff = tf.model_copy(update={"price": cut(tf.price), "site_load_w": cut(tf.site_load_w),
                                   "co2_g_per_kwh": cut(tf.co2_g_per_kwh)})
    return Problem(horizon={"start": h.start + timedelta(seconds=h.step_s),
                            "step_s": h.step_s, "n_steps": h.n_steps - 1},
                   nodes=nodes, evses=p.evses, sessions=p.sessions, tariff=tariff)


def test_solve_lazy_counts_its_rounds_and_adds_every_row_after_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = synthetic_problem(6, n_steps=8, step_s=900, seed=2, feeders=2, congestion=0.4)
    net, rows, lp = _lazy_lp(p)
    cold = initial_rows(lp, net, rows, None, net.T, None)
    full = solve_model(lp, lp.lb, lp.ub, None, 0.0, "auto", "glop")
    # started with every row: one round, nothing to add
    res, keep, rounds = solve_lazy(lp, lp.lb, lp.ub, np.ones_like(cold), None, 0.0,
                                   "auto", "glop")
    assert rounds == 1 and keep.all() and res.objective == pytest.approx(full.objective)
    # catches: the round counter starting at 1 instead of 0
    # no subset round allowed: the first round already solves with every row
    calls: list[int] = []
    real = lazy_module.solve_model

    def counted(sub: Any, *args: Any) -> Any:
        calls.append(len(sub.row_ub))
        assert len(calls) <= 3, "lazy rows do not stop"
        return real(sub, *args)

    monkeypatch.setattr(lazy_module, "solve_model", counted)
    monkeypatch.setattr(lazy_module, "MAX_ROUNDS", 0)
    res, keep, rounds = solve_lazy(lp, lp.lb, lp.ub, cold, None, 0.0, "auto", "glop")
    assert rounds == 1 and keep.all() and calls == [len(lp.row_ub)]
    assert res.objective == pytest.approx(full.objective)
    # catches: "keep[:] = True" -> "False" after the last subset round (never ends)


def test_solve_lazy_returns_a_failed_first_round_as_it_is() -> None:
    # a column's lower bound above its EVSE's maximum (a row every round has): infeasible
    p = synthetic_problem(6, n_steps=8, step_s=900, seed=2, feeders=2, congestion=0.4)
    net, rows, lp = _lazy_lp(p)
    lb = lp.lb.copy()
    lb[0] = 1e9
    ub = np.maximum(lp.ub, lb)
    cold = initial_rows(lp, net, rows, None, net.T, None)
    res, keep, rounds = solve_lazy(lp, lb, ub, cold, None, 0.0, "auto", "glop")
    assert res.x is None and rounds == 1 and np.array_equal(keep, cold)
    # catches: "res.x is None or keep.all()" -> "and" (the row values of no solution)


def test_tree_takes_the_staged_flow_where_the_greedy_fill_falls_short() -> None:
    # an 11 kW node, prices 0.3, 0.1, 0.3, 0.3: a (11,000 Wh) in steps 0-1, b (22,000
    # Wh) in steps 1-2, c (0.5 Wh) in step 3. The fill visits the cheap step 1 first and
    # gives it to a (leaving first): 22,000.5 Wh. The optimum gives a step 0 and b steps
    # 1 and 2: every need, 33,000.5 Wh, which the staged max flow finds
    p = site(4, [("a", 0, 2, 11000.0), ("b", 1, 3, 22000.0), ("c", 3, 4, 0.5)],
             node_w=11000.0, price=[0.3, 0.1, 0.3, 0.3])
    plan = optimize(p, method="tree")
    assert verify(p, plan) == []
    assert plan.session_power_w.tolist() == [[11000.0, 0.0, 0.0, 0.0],
                                             [0.0, 11000.0, 11000.0, 0.0],
                                             [0.0, 0.0, 0.0, 0.5]]
    assert plan.message == (
        "greedy fill: 22.000 kWh, 33.333 % below the bound 33.001 kWh; staged max flow: "
        "33.001 kWh, 0.000 % below it, every session at least 100.0 % of its need")
    # catches: the share's guard "reachable > 0" -> "> 1" (c's 0.5 Wh divided by 1 Wh:
    # "at least 50.0 %")


def test_tree_keeps_the_fill_when_the_staged_flow_is_no_better_and_auto_then_solves_the_lp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # one 11 kW EVSE, a plugged in for the first half hour, b for the second, 5,500 Wh
    # each: the EVSE's maximum holds for the two together, so 5,500 Wh in all; the bound
    # (which ignores that sharing) says 11,000. The fill gives a (leaving first) 11 kW;
    # the staged flow also reaches only 5,500 Wh, so the fill stays, and is not kept
    p = site(1, [("a", 0, 0.5, 5500.0), ("b", 0.5, 1, 5500.0)])
    d = p.model_dump(mode="json")
    d["sessions"][1]["evse"] = "e0"
    p = Problem.model_validate(d)
    plan = optimize(p, method="tree")
    assert plan.session_power_w.tolist() == [[11000.0], [0.0]]
    assert plan.message == "greedy fill: 5.500 kWh, 50.000 % below the bound 11.000 kWh"
    # catches: "fgot <= got" -> "<" (the flow's equal plan, 5,500 W each, taken)
    monkeypatch.setattr(solve_module, "TREE_MIN_COLUMNS", 1)
    auto = optimize(p)
    assert "so the LP" in auto.message and verify(p, auto) == []
    assert float(auto.energy_wh.sum()) == pytest.approx(5500.0)
    # catches: the flow-no-better branch's "False" -> "True" (the fill kept by auto)


# ---- the baseline policies (optimizer/baselines) ----------------------------------------


def test_equal_share_stops_each_session_at_its_own_limit_and_raises_the_rest() -> None:
    # all rise together from 0 W: e stops at its EVSE's 3 kW; a and b at their feeders'
    # 5 kW (both full at once); c at its feeder's 16 A x 3 x 230 V = 11,040 W; d, under
    # the unlimited root only, at its EVSE's 32 A x 3 x 230 V = 22,080 W
    feeders = {"a": {"max_power_w": 5000}, "b": {"max_power_w": 5000},
               "c": {"max_current_a": 16}}
    p = Problem.model_validate({
        "horizon": {"start": START.isoformat(), "step_s": 3600, "n_steps": 1},
        "nodes": [{"id": "g"}] + [{"id": f"f{k}", "parent": "g", **v}
                                  for k, v in feeders.items()],
        "evses": [{"id": f"e{k}", "node": f"f{k}", "max_current_a": 32} for k in feeders]
        + [{"id": "ed", "node": "g", "max_current_a": 32},
           {"id": "ee", "node": "g", "kind": "DC", "max_power_w": 3000}],
        "sessions": [{"id": k, "evse": f"e{k}", "arrival": START.isoformat(),
                      "departure": _at(3600, 1), "energy_wh": 50000} for k in "abcde"]})
    plan = equal_share(p)
    assert plan.session_power_w[:, 0].tolist() == pytest.approx(
        [5000.0, 5000.0, 11040.0, 22080.0, 3000.0], rel=1e-9)
    assert verify(p, plan) == []
    # catches: "cnt > 0" -> ">= 0" for the EVSE room (e's full EVSE then held everyone
    # at 3 kW), full power rows matched with ".any" -> ".all" (a's and b's feeders full
    # together: no EVSE in both, everyone held at 5 kW), the current rows' EVSE mask
    # "A != 0" -> "A != 1" (c's full feeder then stopped d at 11,040 W)


def _min_sessions(root_w: float) -> Problem:
    """Three sessions, minimum 4 kW, maximum 11 kW, under a feeder of 20 kW under a root
    of ``root_w``; one 1-hour step."""
    p = site(1, [(k, 0, 1, 20000.0) for k in "abc"], min_w=4000.0).model_dump(mode="json")
    p["nodes"] = [{"id": "r", "max_power_w": root_w},
                  {"id": "g", "parent": "r", "max_power_w": 20000}]
    return Problem.model_validate(p)


def test_equal_share_admits_at_the_minimum_in_arrival_order_while_it_fits() -> None:
    # 3 x 4 kW does not fit in 8 kW: a is admitted (room 8 kW), b (room exactly 4 kW),
    # c not (room 0); nothing is left to rise
    plan = equal_share(_min_sessions(8000.0))
    assert plan.session_power_w[:, 0].tolist() == [4000.0, 4000.0, 0.0]
    # catches: the admission test "room < want" -> "<=" (b refused at exactly its
    # minimum: a alone rose to 8 kW), the room's tightest power row ".min" -> ".max"
    # (the feeder's 20 kW: all three admitted, 12 kW under the 8 kW root), the minimum
    # test "want > 0" negated (all admitted at 0 W and raised to 2,667 W each)
    plan = equal_share(_min_sessions(10000.0))  # two admitted, then 5 kW each
    assert plan.session_power_w[:, 0].tolist() == [5000.0, 5000.0, 0.0]


def test_edf_gives_a_shared_evse_to_the_session_leaving_first() -> None:
    # one 11 kW EVSE: a until half past, b from half past, 5,500 Wh each: together they
    # may draw 11 kW in the step; a (leaving first) gets them
    d = site(1, [("a", 0, 0.5, 5500.0), ("b", 0.5, 1, 5500.0)]).model_dump(mode="json")
    d["sessions"][1]["evse"] = "e0"
    p = Problem.model_validate(d)
    plan = earliest_deadline_first(p)
    assert plan.session_power_w[:, 0].tolist() == [11000.0, 0.0]
    assert verify(p, plan) == []
    # catches: "fits" returning True for powers over an EVSE's maximum, the EVSE room
    # "evse_max - ep" -> "+ ep"


def test_baselines_deliver_what_a_partly_plugged_step_needs() -> None:
    # a quarter-hour step, a arrives half way through: 500 Wh in 7.5 minutes is 4,000 W
    p = site(1, [("a", 0.5, 1, 500.0)], step_s=900)
    for policy in (earliest_deadline_first, least_laxity_first, equal_share, uncontrolled):
        plan = policy(p)
        assert plan.session_power_w.tolist() == [[4000.0]]
        assert plan.energy_wh.tolist() == [500.0]
    # catches: the power a need asks for "remaining / frac / dt": "/ frac" -> "* frac"
    # and "/ dt" -> "* dt"
    # a need of 0.5 Wh in a 1-hour step: 0.5 W, under every policy
    tiny = site(1, [("a", 0, 1, 0.5)])
    for policy in (earliest_deadline_first, least_laxity_first, equal_share):
        assert policy(tiny).session_power_w.tolist() == [[0.5]]
    # catches: the admission test "cap > 0" -> "cap > 1"


def test_controlled_baselines_never_charge_under_a_node_the_site_load_overloads() -> None:
    # a 5 kW node carrying 6 kW of site load: nothing may charge below it, not even the
    # 0.5 W a 0.5 Wh need asks for
    p = site(1, [("a", 0, 1, 0.5)], node_w=5000.0, site_load_w=6000.0)
    for policy in (earliest_deadline_first, least_laxity_first, equal_share):
        assert policy(p).session_power_w.tolist() == [[0.0]]
    assert uncontrolled(p).session_power_w.tolist() == [[0.5]]  # limits not enforced
    # catches: a power row counted as in use only above 1 W ("ep > 0" -> "ep > 1")


def test_tree_finishes_the_staged_flows_remainder_at_the_minimum() -> None:
    # as above with a 4 kW minimum and b wanting 24,000 Wh in steps 1-3: every need fits
    # (a 11,000 in step 0; b e.g. 4,000 + 11,000 + 9,000), but b's last 2,000 Wh are
    # below a step at its minimum: the top-up fill must start a step at 4 kW and take
    # the excess back from b's other steps
    p = site(4, [("a", 0, 2, 11000.0), ("b", 1, 4, 24000.0)], node_w=11000.0,
             min_w=4000.0, price=[0.3, 0.1, 0.3, 0.3])
    plan = optimize(p, method="tree")
    assert verify(p, plan) == []
    assert plan.energy_wh.tolist() == pytest.approx([11000.0, 24000.0], rel=1e-9)
    assert "staged max flow: 35.000 kWh, 0.000 % below it" in plan.message
    # catches: the top-up's "finish=True" -> "False" (b left at 22,000 Wh)


def test_a_row_exactly_three_percent_from_binding_is_passed_on_and_one_beyond_is_not() -> None:
    # TIGHT_REL: a row is passed on when its slack is AT MOST 3 % of |rhs| + 1. One
    # column on, set so that a node row's slack is exactly that (searched float by float)
    p = synthetic_problem(6, n_steps=8, step_s=900, seed=2, feeders=2, congestion=0.4)
    net, rows, lp = _lazy_lp(p)
    for r in np.flatnonzero(lp.row_node >= 0).tolist():
        a, b = int(lp.indptr[r]), int(lp.indptr[r + 1])
        j, c, ub = int(lp.indices[a]), float(lp.data[a]), float(lp.row_ub[r])
        if b == a or c <= 0.0:
            continue
        limit = 0.03 * (abs(ub) + 1.0)
        x0 = (ub - limit) / c
        exact = [x0 + k * float(np.spacing(x0)) for k in range(-50, 51)
                 if ub - c * (x0 + k * float(np.spacing(x0))) == limit]
        if exact:
            break
    else:
        pytest.fail("no node row with an exact 3 % slack")
    for xj, passed in ((exact[0], True), (exact[0] * (1 - 1e-9), False)):
        x = np.zeros(len(lp.lb))
        x[j] = xj
        warm = tight_rows(lp, x, net, rows, None, net.T)
        assert bool(initial_rows(lp, net, rows, None, net.T, warm)[r]) is passed
    # catches: the tight test "slack <= TIGHT_REL * ..." -> "<"


@given(power_trees())
@settings(deadline=None, max_examples=60)
def test_flow_plan_without_a_drop_is_the_staged_flows_power(d: dict[str, Any]) -> None:
    """When the minimum rule drops no step, the plan is the staged flow's energies as
    powers (capped at each maximum), partly plugged steps shed: nothing is re-solved."""
    p = Problem.model_validate(d)
    net, limits, allowed, g = _graph(p)
    step_cost = net.price / 1000.0
    flows = staged_flow(net, g, step_cost)
    assert flows is not None
    raw = np.minimum(power_of(net, session_energy(net, g, flows)), net.sess_max_w[:, None])
    partial = allowed & (net.frac > 0) & (net.frac < 1)
    sp = shed_partial(net, limits, raw, partial)
    mn = np.minimum(net.sess_min_w, net.sess_max_w)[:, None]
    assume(not np.any((sp > 0) & (sp < mn * (1 - 1e-9))))
    planned = flow_plan(net, allowed, limits, step_cost)
    assert planned is not None
    assert planned[0].tobytes() == sp.tobytes()
    # catches: the loop's exit "k == rounds or not dropped.any()" -> "and" (a re-solve
    # after a round that dropped nothing)


def test_solve_lazy_stops_at_exactly_its_time_limit_with_the_relaxations_solution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # started with no node row, round 1 breaks node rows; the clock (as _lazy reads it)
    # then says exactly the time limit has passed: stop there ("at least the limit")
    p = synthetic_problem(6, n_steps=8, step_s=900, seed=2, feeders=2, congestion=0.4)
    net, rows, lp = _lazy_lp(p)
    cold = initial_rows(lp, net, rows, None, net.T, None)
    t_start = time.perf_counter()
    now = t_start + 1000.0
    limit = now - t_start  # what _lazy computes: the elapsed time equals the limit
    monkeypatch.setattr(lazy_module, "time", SimpleNamespace(perf_counter=lambda: now))
    res, keep, rounds = solve_lazy(lp, lp.lb, lp.ub, cold, limit, t_start, "auto", "glop")
    assert rounds == 1 and np.array_equal(keep, cold)
    assert res.status == "feasible" and res.message.endswith("; lazy rows: time limit")
    # catches: the time test "elapsed >= limit" -> ">"


def test_edf_gives_every_session_exactly_its_maximum_when_all_maxima_fit() -> None:
    # EVSEs of 7,515.9 W and 8,887.2 W under a node of 16,403.1 W: both maxima fit (their
    # float sum is the limit), so each session gets its maximum exactly. (Granted one by
    # one, b's room would be 16,403.1 - 7,515.9 = 8,887.199999999999 W in floats.)
    d = site(1, [("a", 0, 1, 50000.0), ("b", 0, 1, 50000.0)],
             node_w=16403.1).model_dump(mode="json")
    d["evses"][0]["max_power_w"], d["evses"][1]["max_power_w"] = 7515.9, 8887.2
    p = Problem.model_validate(d)
    for policy in (earliest_deadline_first, least_laxity_first):
        assert policy(p).session_power_w[:, 0].tolist() == [7515.9, 8887.2]
    # catches: "fits" refusing powers at exactly an EVSE's maximum ("ep > max" -> ">=")


def test_take_back_counts_a_remainder_of_at_most_1e9_wh_as_taken_back() -> None:
    # step 0 was started at 3e-9 W for a need of 2e-9 Wh, step 1 holds 1e-9 W: the
    # excess, 2e-9 Wh, comes off step 1 (dearest: latest among equals) down to 0, which
    # leaves 1e-9 Wh, exactly the tolerance: the started step stays
    p = site(2, [("a", 0, 2, 2e-9)])
    net = p.network()
    sp = np.array([[3 * 1e-9, 1e-9]])
    assert energy_wh(net, sp)[0] - net.need_wh[0] == 2e-9  # floats chosen to be exact
    out = _take_back(net, sp.copy(), np.array([[True, False]]), np.zeros(1), np.arange(2))
    assert out.tolist() == [[3 * 1e-9, 0.0]]
    # with more left over than the tolerance the started step is undone instead
    out = _take_back(net, np.array([[4e-9, 1e-9]]), np.array([[True, False]]),
                     np.zeros(1), np.arange(2))
    assert out.tolist() == [[0.0, 1e-9]]
    # catches: the final test "left <= 1e-9" -> "<"


def test_baselines_charge_a_session_whose_maximum_is_below_one_watt() -> None:
    # a session limited to 0.5 W (its own max_power_w) wanting 1 Wh: 0.5 W for the step
    d = site(1, [("a", 0, 1, 1.0)]).model_dump(mode="json")
    d["sessions"][0]["max_power_w"] = 0.5
    p = Problem.model_validate(d)
    for policy in (earliest_deadline_first, least_laxity_first, equal_share, uncontrolled):
        assert policy(p).session_power_w.tolist() == [[0.5]]
    # catches: the active test "smax > 0" -> "smax > 1"


def _two_feeders(feeder_w: float, need_a: float) -> Problem:
    """a (minimum 4 kW) under a feeder of ``feeder_w``; b (minimum 4 kW) under the
    unlimited root; 11 kW EVSEs, one 1-hour step, b wanting 20,000 Wh."""
    d = site(1, [("a", 0, 1, need_a), ("b", 0, 1, 20000.0)], node_w=None,
             min_w=4000.0).model_dump(mode="json")
    d["nodes"].append({"id": "f", "parent": "g", "max_power_w": feeder_w})
    d["evses"][0]["node"] = "f"
    return Problem.model_validate(d)


def test_equal_share_keeps_raising_the_others_after_a_limit_less_than_1_w_away() -> None:
    # both admitted at 4 kW; a's feeder is full 0.5 W later; b goes on to its 11 kW
    plan = equal_share(_two_feeders(4000.5, 20000.0))
    assert plan.session_power_w[:, 0].tolist() == [4000.5, 11000.0]
    # (written against "step * (1 + tie)" -> "(1 - tie)", which it does not catch: that
    # mutant only spends one more round, of a zero step, per limit reached)


def test_equal_share_raises_into_the_last_nanowatts_of_a_node() -> None:
    # a needs exactly its minimum (4,000 Wh: its cap), b is admitted at 4 kW too; the
    # feeder (a and b both below it here) has 4e-10 W left, and b rises into it
    d = _two_feeders(8000.0 + 4e-10, 4000.0).model_dump(mode="json")
    d["evses"][1]["node"] = "f"
    plan = equal_share(Problem.model_validate(d))
    a, b = plan.session_power_w[:, 0].tolist()
    assert a == 4000.0 and 4000.0 < b <= 4000.0 + 1e-9
    # catches: the rising set "x < cap" -> "<=" (a, already at its cap, joined the first
    # round with no room to rise: a zero step, and the feeder within 1e-9 W marked full)


def test_flow_weighs_a_tiny_priority_against_the_charge_early_term_as_the_lp_does() -> None:
    # price 0, fairness 0, four 1-hour steps: a Wh is worth priority x V, and step t costs
    # the tie-break 1e-5 x (t + 1) / 4 x V = 2.5e-6, 5e-6, 7.5e-6, 1e-5 of V. Priority 3e-6
    # pays for step 0 only, 6e-6 for steps 0 and 1
    for priority, steps in ((3e-6, [0]), (6e-6, [0, 1])):
        d = site(4, [("a", 0, 4, 40000.0)], node_w=None, price=0.0).model_dump(mode="json")
        d["sessions"][0]["priority"] = priority
        p = Problem.model_validate(d)
        for method in ("flow", "lp"):
            plan = optimize(p, Objective(fairness=0), method=method)
            assert _on(plan.session_power_w[0]) == steps
    # catches: the flow's tie-break "(t + 1)" -> "(t + 2)" (step 0 then costs 5e-6)


def test_a_node_without_a_limit_never_caps_the_energy_bound_or_the_flow_plan() -> None:
    """"No limit" is no limit at any size: one session wanting 2 TWh in one hour on a 5 TW
    DC charger under a node without a limit -- the max-flow bound is the whole need, and
    the min-cost flow plan delivers it (a fixed "large" capacity of 2**50 mWh, 1.1 TWh per
    step, understated both)."""
    # catches: the unlimited node capacity as a fixed constant (2**50 -> 2**51 moved it)
    from smartcharge.optimizer._flow import solve_flow
    from smartcharge.optimizer._maxflow import energy_bound_wh
    from smartcharge.optimizer._model import EPS_EARLY, energy_value

    need = 2e12
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 1},
        "nodes": [{"id": "grid"}],
        "evses": [{"id": "e", "node": "grid", "kind": "DC", "max_power_w": 5e12}],
        "sessions": [{"id": "s", "evse": "e", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T01:00:00Z", "energy_wh": need}]})
    net, limits, allowed, _ = _graph(p)
    assert energy_bound_wh(net, allowed, limits) == need
    obj = Objective()
    sp, message = solve_flow(net, allowed, obj, energy_value(net, obj), EPS_EARLY)
    assert sp is not None, message
    assert float(sp[0, 0]) == pytest.approx(need, rel=1e-12)


def test_the_energy_bound_rounds_a_need_up_to_a_whole_mwh() -> None:
    """The max flow counts whole mWh and must bound every plan, so a need of 1.0004 Wh is a
    1.001 Wh arc (rounded up), never 1.000 Wh (below what a plan may deliver)."""
    # catches: the sink arcs' `ceil(need * 1000)` -> `floor`
    from smartcharge.optimizer._maxflow import energy_bound_wh

    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 1},
        "nodes": [{"id": "grid"}],
        "evses": [{"id": "e", "node": "grid", "kind": "DC", "max_power_w": 10.0}],
        "sessions": [{"id": "s", "evse": "e", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T01:00:00Z", "energy_wh": 1.0004}]})
    net, limits, allowed, _ = _graph(p)
    assert energy_bound_wh(net, allowed, limits) == pytest.approx(1.001, abs=1e-12)
