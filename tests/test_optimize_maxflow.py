"""The staged max flow of :mod:`smartcharge.optimizer._maxflow` for congested pure power
trees: its flows are flows (capacities, conservation), its value is the energy bound, its
plan meets every node limit and the minimum rule before any repair, it delivers the exact
min-cost-flow oracle's energy where nothing is rounded (whole steps, no minimum current),
it is deterministic byte for byte, and ``solver="auto"`` keeps it on a congested site
where the greedy fill is rejected."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from test_optimize_flow import tree_problems
from test_optimize_tree import power_trees

import smartcharge.optimizer.solve as solve_module
from smartcharge.optimizer import Objective, Plan, Problem, optimize, verify
from smartcharge.optimizer._maxflow import (
    FlowGraph,
    augment,
    energy_bound_wh,
    flow_graph,
    flow_plan,
    flows_of,
    power_of,
    session_energy,
    shed_partial,
    staged_flow,
)
from smartcharge.optimizer._network import Network
from smartcharge.optimizer._repair import allowed_mask, energy_wh, make_safe
from smartcharge.optimizer._tree import TREE_GAP, solve_tree, tree_limits
from smartcharge.synthetic import workplace_site


def _setup(d: dict[str, Any]) -> tuple[Problem, Network, Any, Any, Any, Any]:
    p = Problem.model_validate(d)
    net = p.network()
    rows = net.rows()
    limits = tree_limits(net, rows)
    assert limits is not None
    allowed = allowed_mask(net, rows)
    step_cost = net.price / 1000.0
    return p, net, rows, limits, allowed, step_cost


def _assert_is_flow(g: FlowGraph, flows: Any, cap: Any) -> None:
    assert flows.dtype == np.int64
    assert np.all(flows >= 0) and np.all(flows <= cap)
    n_nodes = g.sink + 1
    net_in = (np.bincount(g.head, flows, n_nodes) - np.bincount(g.tail, flows, n_nodes))
    inner = np.ones(n_nodes, dtype=bool)
    inner[[g.source, g.sink]] = False
    assert np.all(net_in[inner] == 0)  # conservation, exactly (integer mWh)


@given(power_trees())
@settings(deadline=None)
def test_staged_flow_is_a_max_flow_and_plans_are_flows(d: dict[str, Any]) -> None:
    _, net, rows, limits, allowed, step_cost = _setup(d)
    g = flow_graph(net, allowed, limits)
    flows = staged_flow(net, g, step_cost)
    assert flows is not None
    _assert_is_flow(g, flows, g.cap)
    value = float(flows[-net.S:].sum()) / 1000.0 if net.S else 0.0
    assert value == energy_bound_wh(net, allowed, limits)  # the last stage: a max flow
    # a safe plan's energies are a flow of the same graph
    sp = make_safe(net, rows, power_of(net, session_energy(net, g, flows)), allowed)[0]
    mine = flows_of(net, g, sp * net.frac * net.dt_h)
    _assert_is_flow(g, mine, g.cap)
    # augmenting from it: a flow again, no session's arc to the sink lowered, the max
    more = augment(g, mine, g.cap)
    assert more is not None
    _assert_is_flow(g, more, g.cap)
    assert np.all(more[-net.S:] >= mine[-net.S:]) if net.S else True
    assert int(more[-net.S:].sum()) == int(flows[-net.S:].sum()) if net.S else True


@given(power_trees())
@settings(deadline=None)
def test_flow_plan_meets_every_limit_before_repair_and_is_deterministic(
    d: dict[str, Any],
) -> None:
    p, net, rows, limits, allowed, step_cost = _setup(d)
    planned = flow_plan(net, allowed, limits, step_cost)
    assert planned is not None
    sp, bound = planned
    again = flow_plan(net, allowed, limits, step_cost)
    assert again is not None and again[0].tobytes() == sp.tobytes() and again[1] == bound
    assert np.all(sp >= 0.0) and np.all(sp[~allowed] == 0.0)
    assert np.all(sp <= net.sess_max_w[:, None])
    mn = np.minimum(net.sess_min_w, net.sess_max_w)[:, None]
    assert np.all((sp == 0.0) | (sp >= mn * (1 - 1e-9)))  # the minimum rule
    got = energy_wh(net, sp)
    assert np.all(got <= net.need_wh + 1e-3)  # never over a need (mWh rounding)
    assert float(got.sum()) <= bound + 1e-6
    # every node limit: the flow rounds capacities up to whole mWh per step
    slack = 1e-3 / net.dt_h + 1e-9 * np.abs(np.where(np.isfinite(limits), limits, 0.0))
    evse = net.evse_power(sp)
    for n in range(net.N):
        below = evse[net.members[n]].sum(axis=0)
        assert np.all(below <= np.maximum(limits[n], 0.0) + slack[n])
    # the repaired plan (what solve_tree returns on this path) passes verify
    safe = make_safe(net, rows, sp, allowed)[0]
    assert verify(p, Plan(p, safe)) == []


@given(power_trees())
@settings(deadline=None)
def test_shed_partial_lowers_only_partly_plugged_steps_until_nodes_fit(
    d: dict[str, Any],
) -> None:
    _, net, _, limits, allowed, step_cost = _setup(d)
    g = flow_graph(net, allowed, limits)
    flows = staged_flow(net, g, step_cost)
    assert flows is not None
    raw = power_of(net, session_energy(net, g, flows))
    partial = allowed & (net.frac > 0) & (net.frac < 1)
    out = shed_partial(net, limits, raw, partial)
    assert np.array_equal(out[~partial], raw[~partial])
    assert np.all(out <= raw) and np.all(out >= 0.0)
    whole = np.where(partial, 0.0, raw)
    for n in range(net.N):
        mem = np.isin(net.sess_evse, net.members[n])
        fits = whole[mem].sum(axis=0) <= limits[n]
        load = out[mem].sum(axis=0)
        assert np.all(load[fits] <= limits[n][fits] * (1 + 1e-9) + 1e-6)


@given(tree_problems())
@settings(deadline=None)
def test_flow_plan_delivers_the_oracles_energy_without_rounding(d: dict[str, Any]) -> None:
    """Whole steps, no minimum current, power limits only: nothing is shed or dropped, so
    the plan is the max flow, the min-cost-flow oracle's (= the LP's) energy."""
    p, net, rows, limits, allowed, step_cost = _setup(d)
    planned = flow_plan(net, allowed, limits, step_cost)
    assert planned is not None
    sp, bound = planned
    oracle = optimize(p, Objective(), method="flow")
    got = float(energy_wh(net, sp).sum())
    tol = 1e-6 * bound + 2e-3 * (int(allowed.sum()) + net.S + net.N * net.T)
    assert got == pytest.approx(bound, abs=tol)
    assert float(oracle.energy_wh.sum()) <= bound + tol
    assert got >= float(oracle.energy_wh.sum()) - tol
    plan, kept, _ = solve_tree(net, rows, allowed, Objective(), limits)
    assert verify(p, Plan(p, plan)) == []
    if kept:  # within the gap of the bound, so of the oracle too
        assert float(energy_wh(net, plan).sum()) >= (1 - TREE_GAP) * float(
            oracle.energy_wh.sum()) - tol


def _gap(name: str, message: str) -> float:
    """The gap [%] to the bound that ``message`` gives for ``name``."""
    found = re.search(name + r": [\d.]+ kWh, ([\d.]+) % below", message)
    assert found is not None, message
    return float(found.group(1))


def test_auto_keeps_the_staged_flow_where_the_fill_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(solve_module, "TREE_MIN_COLUMNS", 100)
    p = workplace_site(n_evse=600, seed=3, transformer_kw=2.5 * 600)  # congested
    plan = optimize(p)
    assert verify(p, plan) == []
    assert "staged max flow" in plan.message and "so the LP" not in plan.message
    fill_gap, flow_gap = _gap("greedy fill", plan.message), _gap("staged max flow",
                                                                  plan.message)
    assert fill_gap > 100 * TREE_GAP >= flow_gap
    again = optimize(p)
    assert again.session_power_w.tobytes() == plan.session_power_w.tobytes()
    lp = optimize(p, solver="highs")
    assert float(plan.energy_wh.sum()) >= (1 - TREE_GAP) * float(lp.energy_wh.sum())
    assert plan.cost <= lp.cost * 1.02  # measured: +1.8 % (the flow is cost-blind within a rank)
