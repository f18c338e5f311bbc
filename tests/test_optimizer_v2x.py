"""Bidirectional (V2X) sessions in the optimizer: hand-checked plans, verify, properties."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer import Objective, Plan, Problem, SolverStatus, optimize, verify

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _two_step(**session: Any) -> dict[str, Any]:
    s = {
        "id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
        "departure": "2024-01-01T02:00:00Z", "energy_wh": 5000.0,
        "max_discharge_w": 5000.0, "discharge_floor_wh": 3000.0, **session,
    }
    return {
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid", "max_power_w": 10000.0}],
        "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 10000.0}],
        "sessions": [s],
        "tariff": {"price": [0.5, 0.1], "site_load_w": [12000.0, 0.0]},
    }


def test_hand_checked_discharge_covers_overload_then_recharges() -> None:
    """Step 0: site load 12 kW over a 10 kW grid, price 0.5; step 1: no load, price 0.1.

    Charging is impossible in step 0 (the site load alone breaks the limit). Discharging
    2 kW covers the overload; arbitrage (0.5 - 0.1 - 0.02 wear > 0) then pushes the
    discharge to the floor: 3,000 Wh in one hour = 3 kW (below the 5 kW bound). Step 1 must
    bring the net energy to the 5,000 Wh wanted: 5,000 + 3,000 = 8 kW (under the 10 kW
    grid). Cost: -3 kWh x 0.5 + 8 kWh x 0.1 = -0.7.
    """
    p = Problem.model_validate(_two_step())
    plan = optimize(p)
    assert plan.status is SolverStatus.OPTIMAL
    np.testing.assert_allclose(plan.session_power_w, [[-3000.0, 8000.0]], rtol=1e-7)
    np.testing.assert_allclose(plan.energy_wh, [5000.0], rtol=1e-7)
    np.testing.assert_allclose(plan.discharged_wh, [3000.0], rtol=1e-7)
    assert plan.cost == pytest.approx(-0.7, rel=1e-7)
    assert verify(p, plan) == []
    (prof,) = plan.to_charging_profiles("W")
    assert prof.lossy_steps == (0,)
    limits = [x.limit for x in prof.profile.charging_schedule[0].charging_schedule_period]
    assert limits == [0.0, 8000.0]


def test_small_floor_covers_only_part_of_the_overload() -> None:
    """Floor 1,500 Wh: the EV lends 1.5 kW in step 0 (the grid stays 0.5 kW over, less than
    the site load alone, which is allowed) and charges 6.5 kW in step 1."""
    p = Problem.model_validate(_two_step(discharge_floor_wh=1500.0))
    plan = optimize(p)
    np.testing.assert_allclose(plan.session_power_w, [[-1500.0, 6500.0]], rtol=1e-7)
    assert verify(p, plan) == []


def test_no_spread_no_cycling() -> None:
    """Flat price, no overload: discharging would only wear the battery."""
    d = _two_step()
    d["tariff"] = {"price": [0.3, 0.3]}
    plan = optimize(Problem.model_validate(d))
    assert np.all(plan.session_power_w >= 0)
    assert plan.energy_wh[0] == pytest.approx(5000.0)


def test_spread_smaller_than_wear_is_not_used() -> None:
    d = _two_step()
    d["tariff"] = {"price": [0.31, 0.3]}
    plan = optimize(Problem.model_validate(d), Objective(degradation_per_kwh=0.05))
    assert np.all(plan.session_power_w >= 0)
    plan = optimize(Problem.model_validate(d), Objective(degradation_per_kwh=0.0))
    assert plan.session_power_w[0, 0] == pytest.approx(-3000.0)


def test_export_is_bounded_by_the_grid_limit() -> None:
    """Nothing wanted, a 0.4 spread: lend as much as the 4 kW grid limit lets out, and take
    it back (the LP keeps its 1e-7 + 0.1 mW margin below the limit)."""
    d = _two_step(energy_wh=0.0, max_discharge_w=9000.0, discharge_floor_wh=9000.0)
    d["nodes"][0]["max_power_w"] = 4000.0
    d["tariff"] = {"price": [0.5, 0.1]}
    plan = optimize(Problem.model_validate(d))
    np.testing.assert_allclose(plan.session_power_w, [[-4000.0, 4000.0]], rtol=1e-6)
    assert plan.energy_wh[0] == pytest.approx(0.0, abs=1e-6)


def test_verify_catches_v2x_violations() -> None:
    p = Problem.model_validate(_two_step())
    bad = Plan.from_session_power(p, [[-4000.0, 5000.0]])  # 4 kWh lent, floor 3
    kinds = {v.kind for v in verify(p, bad)}
    assert kinds == {"discharge_floor"}
    bad = Plan.from_session_power(p, [[-3000.0, 2000.0]])  # leaves with less than it came
    assert {v.kind for v in verify(p, bad)} == {"energy_below_arrival"}
    bad = Plan.from_session_power(p, [[-6000.0, 9000.0]])  # above max_discharge_w
    assert "discharge_max" in {v.kind for v in verify(p, bad)}
    bad = Plan.from_session_power(p, [[1000.0, 0.0]])  # charging at an overloaded step
    assert {v.kind for v in verify(p, bad)} == {"node_power"}
    d = _two_step(max_discharge_w=9000.0, discharge_floor_wh=9000.0)
    d["nodes"][0]["max_power_w"] = 4000.0
    d["tariff"] = {"price": [0.5, 0.1]}
    p2 = Problem.model_validate(d)
    v = verify(p2, Plan.from_session_power(p2, [[-5000.0, 4000.0]]))
    assert [x.kind for x in v] == ["energy_below_arrival", "node_export"]
    assert "exported power 5000 W > limit 4000 W" in v[1].message


def test_minimum_applies_to_discharge_too() -> None:
    d = _two_step()
    d["evses"] = [{"id": "e1", "node": "grid", "max_current_a": 16.0}]  # AC: 6 A minimum
    p = Problem.model_validate(d)
    v = verify(p, Plan.from_session_power(p, [[-1000.0, 6000.0]]))
    assert [x.kind for x in v] == ["min_current"]
    plan = optimize(p, time_limit_s=30)
    assert verify(p, plan) == []
    # lending 3 kWh at most, a 4,140 W minimum: no discharge fits in a one-hour step
    np.testing.assert_allclose(plan.session_power_w, [[0.0, 5000.0]], rtol=1e-7)
    # with 5 kWh to lend it discharges 5 kW (>= the minimum) and takes 10 kWh back
    d["sessions"][0]["discharge_floor_wh"] = 5000.0
    p = Problem.model_validate(d)
    plan = optimize(p, time_limit_s=30)
    assert verify(p, plan) == []
    np.testing.assert_allclose(plan.session_power_w, [[-5000.0, 10000.0]], rtol=1e-6)


def test_discharge_current_flows_the_other_way() -> None:
    """A single-phase V2X EVSE on L1 under a 20 A line limit, a 10 A three-phase site load
    in step 0 only, price 0.9 then 0 twice. Discharging ``x`` A in step 0 gives
    |I_L1| = |10 - x| <= 20, so x <= 30 A; two steps of 20 A can take it back. A 35 A
    discharge breaks the limit (25 A) although it lowers the site's import."""
    d: dict[str, Any] = {
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 3},
        "nodes": [{"id": "grid", "max_current_a": 20.0}],
        "evses": [{"id": "e1", "node": "grid", "phases": 1, "connection": "L1",
                   "max_current_a": 40.0, "min_current_a": 0.0}],
        "sessions": [{"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T03:00:00Z", "energy_wh": 0.0,
                      "max_discharge_w": 40 * 230.0, "discharge_floor_wh": 40 * 230.0}],
        "tariff": {"price": [0.9, 0.0, 0.0], "site_load_w": [3 * 230 * 10.0, 0.0, 0.0]},
    }
    p = Problem.model_validate(d)
    ok = [[-30 * 230.0, 15 * 230.0, 15 * 230.0]]
    assert verify(p, Plan.from_session_power(p, ok)) == []
    v = verify(p, Plan.from_session_power(p, [[-35 * 230.0, 17.5 * 230.0, 17.5 * 230.0]]))
    assert [(x.kind, x.step, round(x.value, 6)) for x in v] == [("node_current", 0, 25.0)]
    plan = optimize(p)
    assert verify(p, plan) == []
    # the exact optimum is a 30 A discharge; the 10-degree polygon gives up cos(5 deg)
    assert -30 * 230.0 <= plan.session_power_w[0, 0] <= -0.99 * 30 * 230.0
    assert plan.energy_wh[0] == pytest.approx(0.0, abs=1e-6)


def test_solver_failure_gives_a_safe_charging_only_fallback() -> None:
    p = Problem.model_validate(_two_step())
    plan = optimize(p, time_limit_s=1e-12)
    assert plan.status is SolverStatus.FALLBACK
    assert verify(p, plan) == []
    assert np.all(plan.session_power_w >= 0)
    assert plan.session_power_w[0, 0] == 0.0  # the overloaded step stays off


def test_session_fields_validate() -> None:
    d = _two_step(max_discharge_w=0.0, discharge_floor_wh=100.0)
    with pytest.raises(InvalidProblemError) as info:
        Problem.model_validate(d)
    assert info.value.path == "sessions[0].discharge_floor_wh"
    with pytest.raises(InvalidProblemError):
        Problem.model_validate(_two_step(max_discharge_w=-1.0))
    with pytest.raises(InvalidProblemError, match="V2X"):
        optimize(Problem.model_validate(_two_step()), method="flow")


def test_off_by_default_and_zero_discharge_is_charging_only() -> None:
    base = _two_step(max_discharge_w=0.0, discharge_floor_wh=0.0)
    p0 = Problem.model_validate(base)
    assert not p0.network().has_v2x
    plain = {k: v for k, v in base["sessions"][0].items()
             if k not in ("max_discharge_w", "discharge_floor_wh")}
    p1 = Problem.model_validate({**base, "sessions": [plain]})
    assert p0 == p1
    a, b = optimize(p0), optimize(p1)
    assert a.session_power_w.tobytes() == b.session_power_w.tobytes()
    assert np.all(a.session_power_w >= 0)


# ---- properties -----------------------------------------------------------------------------


@st.composite
def v2x_problems(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 5))
    step = draw(st.sampled_from([900, 3600]))
    nodes: list[dict[str, Any]] = [{"id": "n0"}]
    if draw(st.booleans()):
        nodes[0]["max_power_w"] = draw(st.floats(0.0, 40000.0))
    if draw(st.booleans()):
        nodes[0]["max_current_a"] = draw(st.floats(0.0, 80.0))
    if draw(st.booleans()):
        nodes.append({"id": "n1", "parent": "n0",
                      "max_current_a": draw(st.floats(0.0, 60.0))})
    evses, sessions = [], []
    for i in range(draw(st.integers(1, 3))):
        ev: dict[str, Any] = {"id": f"e{i}", "node": draw(st.sampled_from(nodes))["id"]}
        kind = draw(st.sampled_from(["ac3", "ac1", "dc"]))
        if kind == "dc":
            ev.update(kind="DC", max_power_w=draw(st.floats(1000.0, 30000.0)))
        elif kind == "ac1":
            ev.update(phases=1, connection=draw(st.sampled_from(["L1", "L2", "L1-L2"])),
                      max_current_a=draw(st.floats(6.0, 40.0)))
        else:
            ev["max_current_a"] = draw(st.floats(6.0, 32.0))
        evses.append(ev)
        a = draw(st.integers(0, n * step // 2))
        dep = a + draw(st.integers(60, n * step))
        s: dict[str, Any] = {
            "id": f"s{i}", "evse": f"e{i}",
            "arrival": (START + timedelta(seconds=a)).isoformat(),
            "departure": (START + timedelta(seconds=dep)).isoformat(),
            "energy_wh": draw(st.floats(0.0, 30000.0)),
        }
        if draw(st.booleans()):
            s["max_discharge_w"] = draw(st.floats(1.0, 15000.0))
            s["discharge_floor_wh"] = draw(st.floats(0.0, 20000.0))
        sessions.append(s)
    tariff: dict[str, Any] = {"price": [draw(st.floats(-0.1, 1.0)) for _ in range(n)]}
    if draw(st.booleans()):
        tariff["site_load_w"] = [draw(st.floats(0.0, 30000.0)) for _ in range(n)]
    if draw(st.booleans()):
        tariff["demand_charge_per_kw"] = draw(st.floats(0.0, 10.0))
    return {
        "horizon": {"start": START.isoformat(), "step_s": step, "n_steps": n},
        "nodes": nodes, "evses": evses, "sessions": sessions, "tariff": tariff,
    }


@given(v2x_problems())
@settings(deadline=None)
def test_every_v2x_plan_passes_verify(d: dict[str, Any]) -> None:
    p = Problem.model_validate(d)
    plan = optimize(p, time_limit_s=20)
    assert verify(p, plan) == [], plan.message
    # the V2X model's own answer, not the charging-only fallback (which always verifies)
    assert plan.status is not SolverStatus.FALLBACK, plan.message
    net = p.network()
    assert np.all(plan.session_power_w[~net.sess_v2x] >= 0)
    assert np.all(plan.energy_wh >= -1e-6)
    # the 2.0.1 profiles never allow more than the plan, and say limit 0 where it discharges
    for prof in plan.to_charging_profiles("W"):
        s = net.session_ids.index(prof.session_id)
        for per in prof.profile.charging_schedule[0].charging_schedule_period:
            t = per.start_period // net.step_s
            assert per.limit <= max(plan.session_power_w[s, t], 0.0) + 1e-6
        assert set(prof.lossy_steps) == set(
            np.flatnonzero((plan.session_power_w[s] < 0) & (net.frac[s] > 0)).tolist()
        )


def test_discharge_frees_capacity_so_lossy_201_profiles_are_unsafe() -> None:
    """A V2X EV lends 3 kW in step 0 so that a second EV, leaving after step 0, gets its
    13 kWh under a 10 kW grid limit (energy first), and takes it back in step 1. The 2.0.1
    profiles say 0 for the discharge: realised as sent, the grid would carry 13 kW, so the
    lossy step is reported, and a charging-only re-plan is safe."""
    d: dict[str, Any] = {
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid", "max_power_w": 10000.0}],
        "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 20000.0},
                  {"id": "e2", "node": "grid", "kind": "DC", "max_power_w": 20000.0}],
        "sessions": [
            {"id": "v2x", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
             "departure": "2024-01-01T02:00:00Z", "energy_wh": 0.0,
             "max_discharge_w": 3000.0, "discharge_floor_wh": 3000.0},
            {"id": "car", "evse": "e2", "arrival": "2024-01-01T00:00:00Z",
             "departure": "2024-01-01T01:00:00Z", "energy_wh": 13000.0},
        ],
        "tariff": {"price": [0.3, 0.1]},
    }
    p = Problem.model_validate(d)
    plan = optimize(p)
    assert verify(p, plan) == []
    np.testing.assert_allclose(plan.session_power_w, [[-3000.0, 3000.0], [13000.0, 0.0]],
                               rtol=1e-6)
    profiles = {x.session_id: x for x in plan.to_charging_profiles("W")}
    assert profiles["v2x"].lossy_steps == (0,)
    realised = Plan.from_session_power(p, np.maximum(plan.session_power_w, 0.0))
    broken = [v for v in verify(p, realised) if v.kind == "node_power"]
    assert [v.step for v in broken] == [0]
    assert broken[0].value == pytest.approx(13000.0)
    sessions = tuple(s.model_copy(update={"max_discharge_w": 0.0, "discharge_floor_wh": 0.0})
                     for s in p.sessions)
    again = optimize(p.model_copy(update={"sessions": sessions}))
    assert verify(p, again) == []
    assert np.all(again.session_power_w >= 0)
