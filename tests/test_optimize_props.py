"""Property tests: small generated problems, every plan safe and sensible."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharge.optimizer import Objective, Problem, SolverStatus, optimize, verify

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
CONNS = [None, "L1", "L2", "L3", "L1-L2", "L2-L3", "L3-L1"]


def _limit(draw: st.DrawFn, n: int, lo: float, hi: float) -> Any:
    kind = draw(st.sampled_from(["none", "scalar", "array"]))
    if kind == "none":
        return None
    if kind == "scalar":
        return draw(st.floats(lo, hi))
    return [draw(st.one_of(st.none(), st.floats(0.0, hi))) for _ in range(n)]


@st.composite
def problems(draw: st.DrawFn, *, with_min: bool = True) -> dict[str, Any]:
    n = draw(st.integers(1, 6))
    step = draw(st.sampled_from([900, 1800, 3600]))
    n_nodes = draw(st.integers(1, 4))
    nodes: list[dict[str, Any]] = []
    for i in range(n_nodes):
        node: dict[str, Any] = {"id": f"n{i}"}
        if i:
            node["parent"] = f"n{draw(st.integers(0, i - 1))}"
            if draw(st.booleans()) and draw(st.booleans()):
                node.update(coupling="delta-wye", ratio=draw(st.sampled_from([1.0, 2.0, 4.0])))
        node["max_power_w"] = _limit(draw, n, 0.0, 60000.0)
        node["max_current_a"] = _limit(draw, n, 0.0, 100.0)
        nodes.append(node)
    n_ev = draw(st.integers(1, 5))
    evses = []
    for i in range(n_ev):
        conn = draw(st.sampled_from(CONNS))
        ev: dict[str, Any] = {"id": f"e{i}", "node": f"n{draw(st.integers(0, n_nodes - 1))}",
                              "voltage_v": draw(st.sampled_from([120.0, 230.0]))}
        if conn is None:
            if draw(st.booleans()):
                ev.update(kind="DC", max_power_w=draw(st.floats(1000.0, 50000.0)))
            else:
                ev["max_current_a"] = draw(st.floats(6.0, 32.0))
        else:
            ev.update(phases=1, connection=conn, max_current_a=draw(st.floats(6.0, 80.0)))
        if not with_min:
            ev["min_current_a"] = 0.0
        elif draw(st.booleans()):
            ev["min_current_a"] = draw(st.sampled_from([0.0, 6.0, 10.0]))
        evses.append(ev)
    sessions = []
    horizon_s = n * step
    for i in range(n_ev):
        free = -step  # the EVSE is free from here on
        for j in range(draw(st.integers(0, 2))):
            a = free + draw(st.integers(0, horizon_s // 2))
            d = a + draw(st.integers(60, horizon_s))
            free = d
            s: dict[str, Any] = {
                "id": f"s{i}_{j}", "evse": f"e{i}",
                "arrival": (START + timedelta(seconds=a)).isoformat(),
                "departure": (START + timedelta(seconds=d)).isoformat(),
                "energy_wh": draw(st.floats(0.0, 60000.0)),
                "priority": draw(st.sampled_from([1.0, 1.0, 2.0])),
            }
            if with_min and draw(st.booleans()):
                s["min_current_a"] = draw(st.floats(0.0, 12.0))
            if draw(st.booleans()):
                s["max_current_a"] = draw(st.floats(0.0, 32.0))
            sessions.append(s)
    tariff: dict[str, Any] = {
        "price": [draw(st.floats(-0.1, 1.0)) for _ in range(n)],
    }
    if draw(st.booleans()):
        tariff["site_load_w"] = [draw(st.floats(0.0, 30000.0)) for _ in range(n)]
        tariff["site_load_node"] = f"n{draw(st.integers(0, n_nodes - 1))}"
    if draw(st.booleans()):
        tariff["demand_charge_per_kw"] = draw(st.floats(0.0, 20.0))
    if draw(st.booleans()):
        tariff["co2_g_per_kwh"] = [draw(st.floats(0.0, 800.0)) for _ in range(n)]
    return {
        "horizon": {"start": START.isoformat(), "step_s": step, "n_steps": n},
        "nodes": nodes, "evses": evses, "sessions": sessions, "tariff": tariff,
    }


@given(problems(), st.sampled_from([Objective(), Objective(fairness=0, co2_per_kg=0.2)]))
@settings(deadline=None)
def test_every_plan_is_safe(d: dict[str, Any], obj: Objective) -> None:
    p = Problem.model_validate(d)
    plan = optimize(p, obj)
    assert verify(p, plan) == [], plan.message
    assert plan.status in (SolverStatus.OPTIMAL, SolverStatus.FEASIBLE, SolverStatus.EMPTY)
    net = p.network()
    assert np.all(plan.energy_wh <= net.need_wh * (1 + 1e-9) + 1e-6)
    assert np.all(plan.session_power_w[net.frac <= 0] == 0)
    assert np.all(plan.session_power_w >= 0)
    # the profiles never allow more than the plan
    for prof in plan.to_charging_profiles("W"):
        s = net.session_ids.index(prof.session_id)
        for per in prof.profile.charging_schedule[0].charging_schedule_period:
            t = per.start_period // net.step_s
            assert per.limit <= plan.session_power_w[s, t] + 1e-6


def _scaled(d: dict[str, Any], k: float) -> dict[str, Any]:
    out = {**d, "nodes": []}
    for node in d["nodes"]:
        node = dict(node)
        for key in ("max_power_w", "max_current_a"):
            v = node.get(key)
            if isinstance(v, list):
                node[key] = [None if x is None else x * k for x in v]
            elif v is not None:
                node[key] = v * k
        out["nodes"].append(node)
    return out


@given(problems(with_min=False), st.floats(1.0, 3.0))
@settings(deadline=None)
def test_more_capacity_never_less_energy(d: dict[str, Any], k: float) -> None:
    """Exact for the LP (no minimum current to repair, fairness off): raising every node
    limit enlarges the feasible set, and energy comes first."""
    obj = Objective(fairness=0)
    a = optimize(Problem.model_validate(d), obj)
    b = optimize(Problem.model_validate(_scaled(d, k)), obj)
    need = sum(s["energy_wh"] for s in d["sessions"])
    assert b.energy_wh.sum() >= a.energy_wh.sum() - 1e-6 * need - 1e-3


@given(
    st.lists(st.floats(-180.0, 180.0), min_size=1, max_size=6),
    st.floats(1.0, 30.0),
    st.integers(0, 2**32 - 1),
)
@settings(deadline=None)
def test_chord_polygon_is_inside_the_circle(angles: list[float], chord: float,
                                             seed: int) -> None:
    """Any non-negative combination of the phasors that meets the chord rows has a magnitude
    within the limit (the polygon is an inner approximation), and the polygon reaches the
    circle at its vertices' directions (so it is not needlessly small)."""
    from smartcharge.optimizer._network import _chords

    c = np.exp(1j * np.deg2rad(np.array(angles)))
    rows = _chords(c, 0j, chord)
    coef = np.array([[np.real(x * np.exp(-1j * psi)) for x in c] for psi, _ in rows])
    rhs = np.array([cos for _, cos in rows])  # limit 1
    rng = np.random.default_rng(seed)
    w = rng.exponential(size=(200, len(c)))
    v = w @ coef.T
    scale = np.min(np.where(v > 0, rhs[None, :] / np.maximum(v, 1e-300), np.inf), axis=1)
    pts = (w * scale[:, None]) @ c  # pushed onto the polygon's boundary
    assert np.all(np.abs(pts) <= 1 + 1e-9)
    # a single phasor alone reaches at least cos(chord / 2) of the limit
    for x in c:
        vv = np.array([np.real(x * np.exp(-1j * psi)) for psi, _ in rows])
        reach = np.min(np.where(vv > 0, rhs / np.maximum(vv, 1e-300), np.inf))
        assert reach >= np.cos(np.deg2rad(chord) / 2) - 1e-9
