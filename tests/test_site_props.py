"""Properties of the site model (generation, batteries, export limits, modes) on random sites."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharge.optimizer import Objective, Problem, optimize, verify
from smartcharge.optimizer._site import site_arrays
from smartcharge.optimizer._storage import build_site, optimize_site, solve_site

START = "2024-06-01T00:00:00Z"
MODES = ("planned", "fast", "pv", "min_pv")


def _hours(k: int) -> str:
    return f"2024-06-01T{k:02d}:00:00Z"


@st.composite
def sites(draw: st.DrawFn) -> dict[str, Any]:
    """Hourly steps (3-7), a root and maybe a feeder, 1-2 EVSEs, 0-2 sessions in any mode,
    0-1 generator, 0-1 battery, per-step prices with feed-in at most the import price."""
    T = draw(st.integers(3, 7))
    power = st.floats(0.0, 20000.0, allow_nan=False)
    nodes: list[dict[str, Any]] = [{
        "id": "grid",
        "max_power_w": draw(st.none() | st.floats(5000.0, 30000.0)),
        "max_export_w": draw(st.sampled_from([None, 0.0, 2000.0, 10000.0])),
    }]
    if draw(st.booleans()):
        nodes.append({"id": "f", "parent": "grid",
                      "max_current_a": draw(st.floats(10.0, 40.0)),
                      "max_export_w": draw(st.sampled_from([None, 0.0]))})
    node_ids = [n["id"] for n in nodes]
    n_evse = draw(st.integers(1, 2))
    evses = [{"id": f"e{i}", "node": draw(st.sampled_from(node_ids)),
              "phases": draw(st.sampled_from([1, 3])),
              "max_current_a": draw(st.sampled_from([16.0, 32.0]))} for i in range(n_evse)]
    sessions = []
    for i in range(draw(st.integers(0, 2))):
        a = draw(st.integers(0, T - 1))
        d = draw(st.integers(a + 1, T))
        sessions.append({"id": f"s{i}", "evse": f"e{i % n_evse}", "arrival": _hours(a),
                         "departure": _hours(d),
                         "energy_wh": draw(st.floats(0.0, 40000.0)),
                         "mode": draw(st.sampled_from(MODES))})
    if n_evse == 1 and len(sessions) == 2:  # one EVSE: the second session after the first
        sessions = sessions[:1]
    price = [draw(st.sampled_from([0.1, 0.3, 0.6])) for _ in range(T)]
    feed = [draw(st.sampled_from([0.0, 0.05, p])) for p in price]
    data: dict[str, Any] = {
        "horizon": {"start": START, "step_s": 3600, "n_steps": T},
        "nodes": nodes, "evses": evses, "sessions": sessions,
        "tariff": {"price": price, "export_price": feed,
                   "site_load_w": [draw(st.floats(0.0, 3000.0)) for _ in range(T)]},
    }
    if draw(st.booleans()):
        data["generation"] = [{"id": "pv", "node": draw(st.sampled_from(node_ids)),
                               "power_w": [draw(power) for _ in range(T)]}]
    if draw(st.booleans()):
        cap = draw(st.floats(1000.0, 20000.0))
        lo = draw(st.floats(0.0, 0.3)) * cap
        data["batteries"] = [{
            "id": "b", "node": draw(st.sampled_from(node_ids)), "capacity_wh": cap,
            "min_wh": lo, "initial_wh": draw(st.floats(lo, cap)),
            "final_wh": draw(st.none() | st.floats(lo, cap)),
            "max_charge_w": draw(st.floats(0.0, 10000.0)),
            "max_discharge_w": draw(st.floats(0.0, 10000.0)),
            "efficiency": draw(st.floats(0.7, 1.0)),
            "cost_per_kwh": draw(st.sampled_from([0.0, 0.02])),
        }]
    return data


def _root_power(p: Problem, sp: np.ndarray, bat: np.ndarray, gen: np.ndarray) -> np.ndarray:
    """Instantaneous power at the root [W] (EVs while plugged in)."""
    net = p.network()
    return np.asarray(sp.sum(axis=0) + net.base_w + bat.sum(axis=0) - gen.sum(axis=0))


@settings(max_examples=40, deadline=None)
@given(sites())
def test_site_plans_verify_soc_in_bounds_and_pv_never_imports(data: dict[str, Any]) -> None:
    p = Problem.model_validate(data)
    plan = optimize(p)
    assert verify(p, plan) == [], plan.message
    site = site_arrays(p)
    soc = plan.soc_wh
    tol = 1e-6
    assert np.all(soc >= site.soc_min[:, None] - tol)
    assert np.all(soc <= site.soc_max[:, None] + tol)
    # PV-only sessions never cause import: wherever one draws power, the site imports
    # nothing (instantaneous, at the root) and no battery discharges
    root = _root_power(p, plan.session_power_w, plan.battery_power_w, plan.generation_w)
    pv = np.array([s.mode == "pv" for s in p.sessions], dtype=bool)
    if pv.any():
        on = (plan.session_power_w[pv] > 0).any(axis=0)
        assert np.all(root[on] <= tol)
        assert np.all(plan.battery_power_w[:, on] >= -tol)
    # a zero-export root never exports
    if p.nodes[0].max_export_w == 0.0:
        assert np.all(plan.grid_w >= -tol)
    # generation within its forecast
    assert np.all(plan.generation_w >= 0.0)
    assert np.all(plan.generation_w <= site.gen_w + tol)


@settings(max_examples=25, deadline=None)
@given(sites())
def test_the_model_never_charges_and_discharges_a_battery_in_one_step(
    data: dict[str, Any]
) -> None:
    """The raw solution (before the plan keeps one signed power): charge x discharge = 0."""
    data.setdefault("batteries", [{"id": "b", "node": "grid", "capacity_wh": 5000.0,
                                   "initial_wh": 2500.0, "max_charge_w": 5000.0,
                                   "max_discharge_w": 5000.0, "cost_per_kwh": 0.0,
                                   "efficiency": 1.0}])
    p = Problem.model_validate(data)
    net = p.network()
    m = build_site(net, net.rows(10.0), site_arrays(p), Objective(), 10.0)
    x, _, msg, _ = solve_site(m, net, None, "auto", "highs")
    assert x is not None, msg
    assert np.all(np.minimum(x[m.bc], x[m.bd]) <= 1e-6)


@settings(max_examples=15, deadline=None)
@given(sites())
def test_site_plans_are_deterministic(data: dict[str, Any]) -> None:
    a = optimize(Problem.model_validate(data))
    b = optimize(Problem.model_validate(data))
    assert a.session_power_w.tobytes() == b.session_power_w.tobytes()
    assert a.battery_power_w.tobytes() == b.battery_power_w.tobytes()
    assert a.generation_w.tobytes() == b.generation_w.tobytes()


@settings(max_examples=30, deadline=None)
@given(sites())
def test_the_dive_gives_safe_plans_too(data: dict[str, Any]) -> None:
    """Large sites are solved by the dive (relax, round what breaks a rule, repeat): its
    plans keep every rule as well, and never deliver more than the exact MIP's."""
    p = Problem.model_validate(data)
    net = p.network()
    dive = optimize_site(p, net, net.rows(10.0), Objective(), None, "auto", "highs", 0.0, 10.0,
                         exact=False)
    assert verify(p, dive) == [], dive.message
    exact = optimize(p, min_current="mip")
    assert dive.energy_wh.sum() <= exact.energy_wh.sum() * (1 + 1e-6) + 1e-3
