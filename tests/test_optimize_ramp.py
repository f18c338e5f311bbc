"""Ramp limits (``Node.max_ramp_w``): LP rows, the repair's re-solve path, verify()."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer.plan import Plan, SolverStatus
from smartcharge.optimizer.problem import Problem
from smartcharge.optimizer.solve import optimize
from smartcharge.optimizer.verify import verify
from smartcharge.synthetic import synthetic_problem


def _morning(ramp: float | None, initial: float | None = 0.0, **session: Any) -> Problem:
    """10 three-phase 32 A EVSEs (22,080 W each); 10 cars arrive at 08:00, leave at 12:00,
    want 30 kWh each; 15-minute steps."""
    node: dict[str, Any] = {"id": "grid", "max_power_w": 250000.0}
    if ramp is not None:
        node["max_ramp_w"] = ramp
        if initial is not None:
            node["initial_power_w"] = initial
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T08:00:00Z", "step_s": 900, "n_steps": 16},
        "nodes": [node],
        "evses": [{"id": f"e{i}", "node": "grid", "max_current_a": 32.0} for i in range(10)],
        "sessions": [{"id": f"s{i}", "evse": f"e{i}", "arrival": "2024-01-01T08:00:00Z",
                      "departure": "2024-01-01T12:00:00Z", "energy_wh": 30000.0, **session}
                     for i in range(10)],
    })


def _site(plan: Plan) -> np.ndarray:
    return np.asarray(plan.session_power_w.sum(axis=0))


def test_mass_arrival_rises_at_most_the_ramp_per_step() -> None:
    """Without a ramp all ten cars start at once at full power (charge early): 220.8 kW in
    the first step. With 22 kW per step from 0 before 08:00, the site may draw at most
    22, 44, 66, ... kW; the 300 kWh asked for still fit (22 + 44 + 66 + 88 kW x 13 steps
    = 1,258 kW-steps = 314.5 kWh >= 300 kWh), so everything is delivered."""
    free = optimize(_morning(None))
    assert _site(free)[0] == pytest.approx(220800.0)
    p = _morning(22000.0)
    plan = optimize(p)
    assert plan.status is not SolverStatus.FALLBACK, plan.message
    assert verify(p, plan) == []
    site = _site(plan)
    steps = np.diff(np.concatenate([[0.0], site]))
    assert np.all(np.abs(steps) <= 22000.0 * (1 + 1e-9) + 1e-6)
    assert np.all(site <= 22000.0 * np.arange(1, 17) + 1e-6)
    assert site[0] > 0  # the first step rises from the initial 0
    assert plan.energy_wh.sum() == pytest.approx(300000.0, rel=1e-6)


def test_first_step_is_free_without_initial_power() -> None:
    p = _morning(22000.0, initial=None)
    plan = optimize(p)
    assert verify(p, plan) == []
    assert _site(plan)[0] > 22000.0  # no initial power: the first step is unconstrained
    assert np.all(np.abs(np.diff(_site(plan))) <= 22000.0 * (1 + 1e-9) + 1e-6)


def test_initial_power_allows_a_higher_start() -> None:
    p = _morning(22000.0, initial=100000.0)
    plan = optimize(p)
    assert verify(p, plan) == []
    assert _site(plan)[0] > 22000.0
    assert _site(plan)[0] <= 122000.0 + 1e-6


def test_a_minimum_above_the_ramp_keeps_the_car_off_via_resolves() -> None:
    """One car, minimum 6 A x 690 W/A = 4,140 W, ramp 1 kW per step from 0: going from 0 to
    the minimum breaks the ramp, so the only safe plan is all off. The LP ramps 1, 2, 3,
    4 kW, ...; the repair rounds those below the minimum to 0, which breaks the ramp, so
    the repaired steps are fixed at 0 and the LP solved again until nothing is left."""
    d = _morning(1000.0).model_dump(mode="json")
    d["evses"], d["sessions"] = d["evses"][:1], d["sessions"][:1]
    p = Problem.model_validate(d)
    plan = optimize(p)
    assert verify(p, plan) == []
    assert np.all(plan.session_power_w == 0.0)
    assert plan.status is SolverStatus.FEASIBLE
    assert "LP round(s)" in plan.message
    # the exact MIP agrees (all off), and also passes verify
    mip = optimize(p, min_current="mip", time_limit_s=20)
    assert verify(p, mip) == []
    np.testing.assert_allclose(mip.session_power_w, 0.0, atol=1e-6)


def test_verify_names_node_step_value_and_limit() -> None:
    p = _morning(22000.0)
    sp = np.zeros((10, 16))
    sp[:2, 0] = 16000.0  # 32 kW at 08:00 from 0: over by 10 kW
    sp[:2, 1:3] = 16000.0
    sp[:, 3] = 5000.0  # 50 kW: +18 kW, fine; then down to 0: -50 kW
    bad = [v for v in verify(p, Plan.from_session_power(p, sp)) if v.kind == "node_ramp"]
    assert [(v.subject, v.step, v.value, v.limit) for v in bad] == [
        ("grid", 0, 32000.0, 22000.0), ("grid", 4, -50000.0, 22000.0)]
    assert bad[1].message == "node grid step 4: power change -50000 W beyond ramp limit +- " \
        "22000 W"


def test_default_off_and_validation() -> None:
    with pytest.raises(InvalidProblemError) as exc:
        Problem.model_validate({
            "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 4},
            "nodes": [{"id": "grid", "initial_power_w": 1000.0}]})
    assert exc.value.path == "nodes[0].initial_power_w"
    with pytest.raises(InvalidProblemError):
        Problem.model_validate({
            "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 4},
            "nodes": [{"id": "grid", "max_ramp_w": -1.0}]})
    assert not synthetic_problem(5, seed=0).network().has_ramp
    with pytest.raises(InvalidProblemError, match="ramp"):
        optimize(_morning(22000.0), method="flow")


def test_v2x_with_a_ramp() -> None:
    """A V2X car and a 2 kW ramp: the net power moves at most 2 kW a step either way."""
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 4},
        "nodes": [{"id": "grid", "max_power_w": 10000.0, "max_ramp_w": 2000.0,
                   "initial_power_w": 0.0}],
        "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 10000.0}],
        "sessions": [{"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T04:00:00Z", "energy_wh": 3000.0,
                      "max_discharge_w": 5000.0, "discharge_floor_wh": 3000.0}],
        "tariff": {"price": [0.5, 0.1, 0.1, 0.1]},
    })
    plan = optimize(p, time_limit_s=20)
    assert verify(p, plan) == [], plan.message
    site = np.concatenate([[0.0], _site(plan)])
    assert np.all(np.diff(site) <= 2000.0 + 1e-6)
    assert np.all(np.abs(np.diff(site[1:])) <= 2000.0 + 1e-6)


@given(n=st.integers(2, 12), seed=st.integers(0, 10_000), ramp_kw=st.floats(0.0, 60.0),
       initial=st.one_of(st.none(), st.floats(0.0, 100_000.0)), cl=st.booleans(),
       feeder=st.booleans(), mip=st.booleans(), v2x=st.booleans())
@settings(deadline=None)
def test_every_plan_with_ramps_passes_verify(
    n: int, seed: int, ramp_kw: float, initial: float | None, cl: bool, feeder: bool,
    mip: bool, v2x: bool,
) -> None:
    d = synthetic_problem(n, seed=seed, n_steps=24, feeders=2, current_limits=cl).model_dump(
        mode="json")
    for i, node in enumerate(d["nodes"]):
        if i == 0 or (feeder and i == 1):
            node["max_ramp_w"] = ramp_kw * 1000.0
            node["initial_power_w"] = initial
    if v2x and n <= 5:  # a V2X session: the V2X model (a MIP), with the ramp rows on net power
        d["sessions"][0].update(max_discharge_w=7000.0, discharge_floor_wh=5000.0)
    p = Problem.model_validate(d)
    assert p.network().has_ramp
    plan = optimize(p, time_limit_s=20, min_current="mip" if mip and n <= 5 else "repair")
    assert verify(p, plan) == [], plan.message
    net = p.network()
    site = net.evse_power(plan.session_power_w)[net.members[net.root]].sum(axis=0)
    assert np.all(np.abs(np.diff(site)) <= ramp_kw * 1000.0 * (1 + 1e-9) + 1e-6)
