"""optimize(): objectives on small cases with hand-computed optima, phasor limits, repair,
fallback, determinism."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from smartcharge.optimizer import Objective, Plan, Problem, SolverStatus, optimize, verify
from smartcharge.synthetic import synthetic_problem

T0 = "2024-01-01T00:00:00Z"


def hours(h: float) -> str:
    return f"2024-01-01T{int(h):02d}:{round((h % 1) * 60):02d}:00Z"


def one_node(
    sessions: list[dict[str, Any]], *, steps: int = 4, node: dict[str, Any] | None = None,
    evse: dict[str, Any] | None = None, tariff: dict[str, Any] | None = None,
) -> Problem:
    evses = []
    for s in sessions:
        e = {"id": s["evse"], "node": "grid", "phases": 1, "max_current_a": 32.0,
             "min_current_a": 0.0}
        e.update(evse or {})
        evses.append(e)
    return Problem.model_validate({
        "horizon": {"start": T0, "step_s": 3600, "n_steps": steps},
        "nodes": [{"id": "grid", **(node or {})}],
        "evses": evses,
        "sessions": sessions,
        "tariff": tariff or {},
    })


def sess(i: int, need: float, arr: float = 0, dep: float = 4, **kw: Any) -> dict[str, Any]:
    return {"id": f"s{i}", "evse": f"e{i}", "arrival": hours(arr), "departure": hours(dep),
            "energy_wh": need, **kw}


def solved(p: Problem, obj: Objective | None = None, **kw: Any) -> Plan:
    plan = optimize(p, obj, **kw)
    assert verify(p, plan) == [], plan.message
    return plan


# ---- objectives, each with an optimum known by hand ---------------------------------------


def test_time_of_use_cheapest_steps() -> None:
    # 10 kWh at up to 7.36 kW: 7.36 kWh in the cheapest hour, 2.64 kWh in the next cheapest
    p = one_node([sess(0, 10000)], tariff={"price": [0.4, 0.1, 0.2, 0.3]},
                 evse={"min_current_a": 6.0})
    plan = solved(p)
    assert np.allclose(plan.session_power_w[0], [0, 7360, 2640, 0], atol=1e-3)
    assert math.isclose(plan.cost, 7.36 * 0.1 + 2.64 * 0.2, rel_tol=1e-6)
    assert plan.status is SolverStatus.OPTIMAL


def test_energy_before_price() -> None:
    # more need than can be served: every hour at the maximum, whatever the price
    p = one_node([sess(0, 100000)], tariff={"price": [5.0, 0.1, 9.0, 0.3]})
    plan = solved(p)
    assert np.allclose(plan.session_power_w[0], 7360.0)
    assert math.isclose(plan.energy_wh[0], 4 * 7360.0)


def test_co2() -> None:
    p = one_node([sess(0, 7360 * 2)],
                 tariff={"price": 0.2, "co2_g_per_kwh": [500, 100, 300, 200]})
    plan = solved(p, Objective(co2_per_kg=0.1))
    assert np.allclose(plan.session_power_w[0], [0, 7360, 0, 7360], atol=1e-3)
    assert math.isclose(plan.co2_g, 7.36 * (100 + 200), rel_tol=1e-6)
    # without a CO2 price, the early tie-breaker decides
    plan = solved(p, Objective())
    assert np.allclose(plan.session_power_w[0], [7360, 7360, 0, 0], atol=1e-3)


def test_demand_charge_flattens_the_peak() -> None:
    p = one_node([sess(0, 8000)], tariff={"price": 0.2, "demand_charge_per_kw": 10.0,
                                          "site_load_w": [1000, 3000, 0, 0]})
    plan = solved(p)
    # site peak minimised: EV fills the valleys up to a common level L with
    # (L-1000) + (L-3000) + L + L = 8000 -> L = 3000
    assert np.allclose(plan.session_power_w[0], [2000, 0, 3000, 3000], atol=1e-3)
    assert math.isclose(plan.peak_w, 3000.0, rel_tol=1e-6)
    assert math.isclose(plan.demand_cost, 30.0, rel_tol=1e-6)
    plan = solved(p, Objective(demand=False))
    assert plan.peak_w > 3000.0


def test_charge_early_tie_breaker() -> None:
    p = one_node([sess(0, 5000)])
    plan = solved(p)
    assert np.allclose(plan.session_power_w[0], [5000, 0, 0, 0], atol=1e-3)


def test_fairness_nobody_starved() -> None:
    # 6 kWh over two hours for A (needs 20 kWh) and B (needs 4 kWh): four tiers give each
    # its first quarter (A 5 kWh, B 1 kWh) before anyone gets more.
    p = one_node([sess(0, 20000, 0, 2), sess(1, 4000, 0, 2)], steps=2,
                 node={"max_power_w": 3000})
    plan = solved(p)
    assert np.allclose(plan.energy_wh, [5000, 1000], atol=1e-2)
    # equal needs under congestion: an equal split
    p = one_node([sess(0, 10000, 0, 2), sess(1, 10000, 0, 2)], steps=2,
                 node={"max_power_w": 5000})
    plan = solved(p)
    assert np.allclose(plan.energy_wh, [5000, 5000], atol=1e-2)


def test_priority_first() -> None:
    p = one_node([sess(0, 10000, 0, 2), sess(1, 10000, 0, 2, priority=2.0)], steps=2,
                 node={"max_power_w": 5000})
    plan = solved(p)
    assert np.allclose(plan.energy_wh, [0, 10000], atol=1e-2)


def test_energy_never_above_need_and_window_respected() -> None:
    p = one_node([sess(0, 3000, 1.5, 3)], tariff={"price": [0.1, 0.1, 0.5, 0.5]})
    plan = solved(p)
    assert plan.session_power_w[0, 0] == 0 and plan.session_power_w[0, 3] == 0
    # half of hour 1 is cheap: 3 kWh at up to 7.36 kW for half an hour gives 3.68 kWh
    assert np.allclose(plan.session_power_w[0], [0, 6000, 0, 0], atol=1e-3)
    assert math.isclose(plan.energy_wh[0], 3000.0, rel_tol=1e-9)


# ---- electrical limits --------------------------------------------------------------------


def ll_site(limit_a: float, *, primary: float | None = None) -> Problem:
    nodes: list[dict[str, Any]] = [{"id": "sec", "max_current_a": limit_a}]
    if primary is not None:
        nodes = [{"id": "pri", "coupling": "delta-wye", "ratio": 4.0,
                  "max_current_a": primary}, {"id": "sec", "parent": "pri",
                                              "max_current_a": limit_a}]
    conns = ["L1-L2", "L2-L3", "L3-L1"]
    return Problem.model_validate({
        "horizon": {"start": T0, "step_s": 3600, "n_steps": 1},
        "nodes": nodes,
        "evses": [{"id": f"e{i}", "node": "sec", "phases": 1, "connection": c,
                   "voltage_v": 120.0, "max_current_a": 80.0} for i, c in enumerate(conns)],
        "sessions": [sess(i, 1e6, 0, 1) for i in range(3)],
    })


def test_line_to_line_polygon_is_safe_and_tight() -> None:
    # three equal line-to-line loads are balanced: each line carries sqrt(3) I, so the
    # exact optimum is I = L / sqrt(3) on each EVSE.
    limit = 100.0
    p = ll_site(limit)
    plan = solved(p)
    wpa = math.sqrt(3) * 120.0
    best = 3 * limit / math.sqrt(3) * wpa
    got = float(plan.session_power_w[:, 0].sum())
    assert best * (1 - 0.004) <= got <= best * (1 + 1e-9)
    lines = np.abs(p.network().line_currents(0, plan.power_w))
    assert lines.max() <= limit * (1 + 1e-9)


def test_delta_wye_primary_binds() -> None:
    p = ll_site(1000.0, primary=20.0)
    plan = solved(p)
    prim = np.abs(p.network().line_currents(0, plan.power_w))
    assert prim.max() <= 20.0 * (1 + 1e-9)
    assert prim.max() >= 20.0 * 0.99  # binding, within the polygon's loss


def test_single_phase_loads_on_three_phase_feeder() -> None:
    # two single-phase EVSEs on L1 share its 20 A, one on L2 has its own
    p = Problem.model_validate({
        "horizon": {"start": T0, "step_s": 3600, "n_steps": 1},
        "nodes": [{"id": "f", "max_current_a": 20.0}],
        "evses": [{"id": f"e{i}", "node": "f", "phases": 1, "connection": c,
                   "max_current_a": 16.0} for i, c in enumerate(["L1", "L1", "L2"])],
        "sessions": [sess(i, 1e6, 0, 1) for i in range(3)],
    })
    plan = solved(p)
    amps = plan.current_a[:, 0]
    assert math.isclose(amps[0] + amps[1], 20.0, rel_tol=1e-5)  # the LP keeps 1e-4 A spare
    assert math.isclose(amps[2], 16.0, rel_tol=1e-9)
    assert all(a == 0 or a >= 6.0 - 1e-9 for a in amps)


def test_site_load_over_limit_forces_evs_off() -> None:
    p = one_node([sess(0, 1e5)], node={"max_power_w": 10000},
                 tariff={"site_load_w": [12000, 5000, 9000, 0]})
    plan = solved(p)
    assert np.allclose(plan.session_power_w[0], [0, 5000, 1000, 7360], atol=1e-3)


def test_min_current_repair() -> None:
    # 7 kW for three cars with a 6 A (1380 W) minimum: no share below 1380 W may remain
    p = one_node([sess(i, 20000) for i in range(3)], node={"max_power_w": 7000},
                 evse={"min_current_a": 6.0})
    plan = solved(p)
    sp = plan.session_power_w
    assert np.all((sp == 0) | (sp >= 1380.0 - 1e-9))
    assert math.isclose(float(sp.sum(axis=0).max()), 7000.0, rel_tol=1e-3)


def test_min_above_available_is_off() -> None:
    p = one_node([sess(0, 20000, min_current_a=10.0)], node={"max_current_a": 8.0},
                 evse={"min_current_a": 6.0})
    plan = solved(p)
    assert plan.energy_wh[0] == 0.0


def test_shared_step_between_two_sessions() -> None:
    p = Problem.model_validate({
        "horizon": {"start": T0, "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid"}],
        "evses": [{"id": "e0", "node": "grid", "max_power_w": 10000, "kind": "DC"}],
        "sessions": [
            {"id": "a", "evse": "e0", "arrival": T0, "departure": hours(0.5),
             "energy_wh": 1e5},
            {"id": "b", "evse": "e0", "arrival": hours(0.5), "departure": hours(2),
             "energy_wh": 1e5},
        ],
    })
    plan = solved(p)
    assert plan.power_w[0, 0] <= 10000 * (1 + 1e-9)
    assert math.isclose(plan.energy_wh.sum(), 5000 + 10000, rel_tol=1e-6)


# ---- robustness ---------------------------------------------------------------------------


def test_fallback_when_the_solver_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    # the solve stage (smartcharge.optimizer._model.solve_model) calls solve_lp
    solve_mod = importlib.import_module("smartcharge.optimizer._model")

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(solve_mod, "solve_lp", boom)
    p = synthetic_problem(30, n_steps=24, step_s=3600, seed=3)
    plan = optimize(p)
    assert plan.status is SolverStatus.FALLBACK
    assert "solver crashed" in plan.message
    assert verify(p, plan) == []
    assert plan.energy_wh.sum() > 0


def test_tiny_time_limit_is_still_safe() -> None:
    p = synthetic_problem(60, n_steps=48, step_s=1800, seed=4)
    plan = optimize(p, time_limit_s=1e-6)
    assert verify(p, plan) == []


def test_empty_problem() -> None:
    p = one_node([sess(0, 0.0)])
    plan = optimize(p)
    assert plan.status is SolverStatus.EMPTY and plan.energy_wh.tolist() == [0.0]


def test_same_input_same_plan() -> None:
    p = synthetic_problem(40, n_steps=48, step_s=1800, seed=5)
    a = optimize(p)
    b = optimize(Problem.model_validate(p.model_dump(mode="json")))
    assert a.session_power_w.tobytes() == b.session_power_w.tobytes()
    pa = [x.profile.to_json_dict() for x in a.to_charging_profiles("W")]
    pb = [x.profile.to_json_dict() for x in b.to_charging_profiles("W")]
    assert pa == pb


def test_public_proto_path_agrees() -> None:
    p = synthetic_problem(25, n_steps=24, step_s=3600, seed=6)
    a = optimize(p, lp_path="sparse")
    b = optimize(p, lp_path="proto")
    assert verify(p, b) == []
    assert math.isclose(a.energy_wh.sum(), b.energy_wh.sum(), rel_tol=1e-6)


def test_synthetic_profiles_never_exceed_plan() -> None:
    p = synthetic_problem(50, n_steps=48, step_s=1800, seed=8)
    plan = solved(p)
    net = p.network()
    for prof in plan.to_charging_profiles("A"):
        s = net.session_ids.index(prof.session_id)
        e = net.sess_evse[s]
        sch = prof.profile.charging_schedule[0]
        starts = [x.start_period // 1800 for x in sch.charging_schedule_period]
        lims = np.repeat([x.limit for x in sch.charging_schedule_period],
                         np.diff([*starts, net.T]))
        assert np.all(lims <= plan.session_power_w[s] / net.evse_wpa[e] + 1e-6)
        assert np.all(lims >= plan.session_power_w[s] / net.evse_wpa[e] - 0.1 - 1e-9)


def test_mip_mode_meets_the_rule_exactly() -> None:
    # 7 kW for three cars with a 6 A (1380 W) minimum and needs of 4 kWh each over 2 h
    p = one_node([sess(i, 4000, 0, 2) for i in range(3)], steps=2,
                 node={"max_power_w": 7000}, evse={"min_current_a": 6.0})
    mip = solved(p, min_current="mip", time_limit_s=30)
    rep = solved(p)
    sp = mip.session_power_w
    assert np.all((sp == 0) | (sp >= 1380.0 - 1e-6))
    assert mip.status is SolverStatus.OPTIMAL
    # capacity 14 kWh, need 12 kWh: the MIP serves everyone
    assert math.isclose(mip.energy_wh.sum(), 12000.0, rel_tol=1e-6)
    assert rep.energy_wh.sum() <= mip.energy_wh.sum() + 1e-6
