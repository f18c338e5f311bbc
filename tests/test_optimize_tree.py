"""The greedy fill for large pure power trees (``method="tree"``, and ``solver="auto"``
above :data:`~smartcharge.optimizer._tree.TREE_MIN_COLUMNS` power columns): exactly safe
always, the LP's energy whenever it serves every need, its energy bound a true bound, and
kept by ``"auto"`` only when it serves every need or is within 0.1 % of the bound."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import smartcharge.optimizer.solve as solve_module
from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer import Objective, Problem, SolverStatus, optimize, verify
from smartcharge.optimizer._repair import allowed_mask
from smartcharge.optimizer._tree import energy_bound_wh, fill, tree_limits
from smartcharge.synthetic import synthetic_problem, workplace_site

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


@st.composite
def power_trees(draw: st.DrawFn) -> dict[str, Any]:
    """Small sites whose limits are all power limits: node power limits, and line-current
    limits over three-phase EVSEs only (in phase, so a power limit too); sessions at any
    second (parts of steps), minimum currents, sometimes two sessions on one EVSE."""
    n = draw(st.integers(1, 10))
    step = draw(st.sampled_from([900, 3600]))
    n_nodes = draw(st.integers(1, 4))
    nodes = []
    for i in range(n_nodes):
        node: dict[str, Any] = {"id": f"n{i}"}
        if i:
            node["parent"] = f"n{draw(st.integers(0, i - 1))}"
        kind = draw(st.sampled_from(["power", "series", "current", "none"]))
        if kind == "power":
            node["max_power_w"] = draw(st.floats(0.0, 60000.0))
        elif kind == "series":
            node["max_power_w"] = [draw(st.one_of(st.none(), st.floats(0.0, 60000.0)))
                                   for _ in range(n)]
        elif kind == "current":
            node["max_current_a"] = draw(st.floats(0.0, 80.0))
        nodes.append(node)
    n_ev = draw(st.integers(1, 6))
    evses = [{"id": f"e{i}", "node": f"n{draw(st.integers(0, n_nodes - 1))}",
              "max_current_a": draw(st.floats(6.0, 32.0)),
              "min_current_a": draw(st.sampled_from([0.0, 6.0]))}
             for i in range(n_ev)]
    sessions = []
    for e in range(n_ev):  # one or two sessions per EVSE, the second after the first
        a = draw(st.integers(-step, n * step))
        for k in range(draw(st.integers(1, 2))):
            d = a + draw(st.integers(60, (n + 1) * step))
            sessions.append({
                "id": f"s{e}-{k}", "evse": f"e{e}",
                "arrival": (START + timedelta(seconds=a)).isoformat(),
                "departure": (START + timedelta(seconds=d)).isoformat(),
                "energy_wh": draw(st.floats(0.0, 60000.0)),
                "priority": draw(st.sampled_from([1.0, 1.5])),
            })
            a = d + draw(st.integers(0, step))
    tariff: dict[str, Any] = {"price": [draw(st.floats(0.0, 0.5)) for _ in range(n)]}
    if draw(st.booleans()):
        tariff["site_load_w"] = [draw(st.floats(0.0, 20000.0)) for _ in range(n)]
    return {"horizon": {"start": START.isoformat(), "step_s": step, "n_steps": n},
            "nodes": nodes, "evses": evses, "sessions": sessions, "tariff": tariff}


def _reachable_wh(p: Problem) -> float:
    net = p.network()
    allowed = allowed_mask(net, net.rows())
    window = net.sess_max_w * (net.frac * allowed).sum(axis=1) * net.dt_h
    return float(np.minimum(net.need_wh, window).sum())


@given(power_trees())
@settings(deadline=None)
def test_tree_plan_is_safe_deterministic_and_the_lps_energy_when_it_serves_all(
    d: dict[str, Any],
) -> None:
    p = Problem.model_validate(d)
    plan = optimize(p, method="tree")
    assert verify(p, plan) == []  # every limit, the minimum rule, energy <= need: exact
    again = optimize(p, method="tree")
    assert again.session_power_w.tobytes() == plan.session_power_w.tobytes()
    reach = _reachable_wh(p)
    got = float(plan.energy_wh.sum())
    assert got <= reach + 1e-6 * reach + 1e-6
    lp = optimize(p, method="lp")
    if "every need served" in plan.message:
        # the needs (capped by each window) bound every plan: the LP cannot deliver more
        assert got >= reach - 1e-6 * reach - 1e-6
        assert float(lp.energy_wh.sum()) <= got + 1e-6 * reach + 1e-3
    elif plan.status is not SolverStatus.EMPTY:
        assert "below the bound" in plan.message
    net = p.network()
    limits = tree_limits(net, net.rows())
    assert limits is not None
    allowed = allowed_mask(net, net.rows())
    bound = energy_bound_wh(net, allowed, limits)
    # the needs, capped by each window, bound it (each arc rounded up to a whole mWh)
    assert bound <= reach + 1e-3 * (int(allowed.sum()) + net.S)
    assert float(lp.energy_wh.sum()) <= bound + 1e-6 * bound + 1e-3
    assert got <= bound + 1e-6 * bound + 1e-3


@given(power_trees())
@settings(deadline=None)
def test_fill_only_adds_power_within_every_bound(d: dict[str, Any]) -> None:
    p = Problem.model_validate(d)
    net = p.network()
    rows = net.rows()
    limits = tree_limits(net, rows)
    assert limits is not None
    allowed = allowed_mask(net, rows)
    start = np.zeros((net.S, net.T))
    first = fill(net, limits, allowed, start, net.price)
    second = fill(net, limits, allowed, first, net.price)
    for sp in (first, second):
        assert np.all(sp >= 0.0) and np.all(sp[~allowed] == 0.0)
        assert np.all(sp <= net.sess_max_w[:, None])
        mn = np.minimum(net.sess_min_w, net.sess_max_w)[:, None]
        assert np.all((sp == 0.0) | (sp >= mn * (1 - 1e-12)))
        energy = (sp * net.frac).sum(axis=1) * net.dt_h
        assert np.all(energy <= net.need_wh * (1 + 1e-9) + 1e-9)
        evse = net.evse_power(sp)
        assert np.all(evse <= net.evse_max_w[:, None] * (1 + 1e-12))
        for n in range(net.N):
            below = evse[net.members[n]].sum(axis=0)
            assert np.all(below <= np.maximum(limits[n], 0.0) + 1e-9)
    assert np.all(second >= first)  # a second fill only adds


def test_workplace_site_same_energy_as_the_lp() -> None:
    p = workplace_site(n_evse=200, seed=3)
    tree = optimize(p, method="tree")
    lp = optimize(p, method="lp")
    assert "every need served" in tree.message and verify(p, tree) == []
    assert tree.energy_wh.sum() == pytest.approx(lp.energy_wh.sum(), rel=1e-9)
    assert tree.cost <= lp.cost * 1.005  # measured: +0.06 % at 5,000 EVSEs


def test_auto_keeps_the_fill_only_when_it_serves_every_need(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(solve_module, "TREE_MIN_COLUMNS", 100)
    easy = workplace_site(n_evse=40, seed=2)
    plan = optimize(easy)
    assert plan.message.startswith("greedy fill: every need served")
    assert verify(easy, plan) == []
    tight = workplace_site(n_evse=40, seed=2, transformer_kw=40.0)  # 1 kW per EVSE
    plan = optimize(tight)
    assert "below the bound" in plan.message and "so the LP" in plan.message
    assert plan.energy_wh.sum() == pytest.approx(
        optimize(tight, method="lp").energy_wh.sum(), rel=1e-9)
    # below the threshold, and with an explicit solver: the LP as before, byte for byte
    monkeypatch.setattr(solve_module, "TREE_MIN_COLUMNS", 10**9)
    small = optimize(easy)
    assert "greedy" not in small.message
    monkeypatch.setattr(solve_module, "TREE_MIN_COLUMNS", 100)
    assert "greedy" not in optimize(easy, solver="glop").message
    assert optimize(easy, solver="glop").session_power_w.tobytes() == (
        small.session_power_w.tobytes())


def test_tree_refuses_what_it_cannot_model() -> None:
    mixed = synthetic_problem(12, n_steps=8, step_s=3600, seed=1, feeders=2,
                              single_phase_share=0.5)
    with pytest.raises(InvalidProblemError) as info:
        optimize(mixed, method="tree")
    assert info.value.path == "method" and "power limit" in str(info.value)
    d = workplace_site(n_evse=5, seed=1).model_dump(mode="json")
    d["tariff"]["demand_charge_per_kw"] = 10.0
    demand = Problem.model_validate(d)
    with pytest.raises(InvalidProblemError, match="demand charge"):
        optimize(demand, method="tree")
    plan = optimize(demand, Objective(demand=False), method="tree")
    assert verify(demand, plan) == []


def test_identical_nodes_share_their_rows_computation() -> None:
    p = synthetic_problem(60, n_steps=12, step_s=3600, seed=5)
    net = p.network()
    rows = net.rows(10.0)
    for n in range(net.N):
        direct = net._node_rows(n, 10.0)
        assert np.array_equal(rows[n].coef, direct.coef)
        assert np.array_equal(rows[n].rhs, direct.rhs)
        assert np.array_equal(rows[n].forced, direct.forced)
    assert len({id(r.rhs) for r in rows}) == net.N  # copies, not one shared array
