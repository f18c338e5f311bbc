"""Pins of issue 13, round 4: the site model (generation, batteries, modes), its arrays, the
V2X model, the ramp stage and the coarse (MPC) grid.

Each test pins a behaviour a user relies on, with values worked out by hand; the comment
``# catches:`` names the planted bug (a mutant of ``benchmarks/mutation/mutate.py``) it was
written for. Small problems only: the whole file runs in a few seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from smartcharge.optimizer import Objective, Plan, Problem, SolverStatus, optimize, verify
from smartcharge.optimizer._coarse import DEFAULT_GRID, REPLAN_GRID, block_starts, coarsen
from smartcharge.optimizer._site import uses_site_model
from smartcharge.optimizer._v2x import _build_v2x, _snap_v2x
from smartcharge.synthetic import synthetic_problem

START = "2024-06-01T00:00:00Z"


def _problem(n: int = 2, step_s: int = 3600, **extra: Any) -> dict[str, Any]:
    """One 20 kW grid connection with one 16 A three-phase EVSE, flat 0.30 price."""
    data: dict[str, Any] = {
        "horizon": {"start": START, "step_s": step_s, "n_steps": n},
        "nodes": [{"id": "grid", "max_power_w": 20000.0}],
        "evses": [{"id": "e1", "node": "grid", "max_current_a": 16.0}],
        "tariff": {"price": 0.30},
    }
    data.update(extra)
    return data


def _battery(**extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": "b", "node": "grid", "capacity_wh": 5000.0,
                           "initial_wh": 0.0, "max_charge_w": 5000.0,
                           "max_discharge_w": 5000.0, "efficiency": 1.0}
    out.update(extra)
    return out


def _ok(data: dict[str, Any]) -> tuple[Problem, Plan]:
    p = Problem.model_validate(data)
    plan = optimize(p)
    assert plan.status in (SolverStatus.OPTIMAL, SolverStatus.FEASIBLE), plan.message
    assert verify(p, plan) == []
    return p, plan


# ---------------------------------------------------------------- _site: arrays, flows


def _behind_delta_wye(ratio: float = 4.0) -> Problem:
    """A battery on the 230 V secondary of a delta-wye transformer (current ratio
    ``ratio``) whose primary carries a 10 A limit."""
    return Problem.model_validate(_problem(
        nodes=[{"id": "pri", "coupling": "delta-wye", "ratio": ratio, "max_current_a": 10.0},
               {"id": "sec", "parent": "pri"}],
        evses=[{"id": "e1", "node": "sec", "max_current_a": 16.0}],
        batteries=[_battery(node="sec", capacity_wh=100000.0, initial_wh=50000.0,
                            max_charge_w=50000.0, max_discharge_w=50000.0)]))


@pytest.mark.parametrize("ratio", [4.0, 0.5])
def test_a_battery_behind_a_delta_wye_transformer_counts_on_its_primary_current(
    ratio: float,
) -> None:
    """A balanced flow of P [W] at 230 V draws P / 690 A per line on the secondary; the
    delta-wye coupling makes the primary's line currents differences of two secondary
    ones (sqrt 3 times as large for balanced currents) divided by the ratio. So the 10 A
    primary limit allows 10 x 690 x ratio / sqrt 3 W, charging or discharging."""
    # catches: the coupling test negated or ``==`` -> ``!=`` (the matrix applied on the
    # wrong node), ``/ ratio`` -> ``* ratio``, the phasor's ``/ (3 V)`` changed, the root
    # left out of the walk up (``n >= 0`` -> ``n > 0`` / ``n >= 1``)
    p = _behind_delta_wye(ratio)
    limit_w = 10.0 * 690.0 * ratio / np.sqrt(3.0)
    for w in (limit_w * 0.999, -limit_w * 0.999):
        assert verify(p, Plan(p, np.zeros((0, 2)), battery_power_w=[[w, 0.0]])) == []
    bad = verify(p, Plan(p, np.zeros((0, 2)), battery_power_w=[[0.0, -limit_w * 1.001]]))
    assert {v.kind for v in bad} == {"node_current"}
    assert {(v.subject, v.step) for v in bad} == {("pri", 1)}
    assert max(v.value for v in bad) == pytest.approx(10.01, rel=1e-9)


def test_a_battery_counts_on_the_power_of_every_node_above_it() -> None:
    """A battery on a feeder below a 5 kW grid connection: charging at 6 kW breaks the
    grid's power limit (and only that), 4 kW does not."""
    # catches: ``below[n, m] = True`` -> ``False`` (flows counted nowhere)
    data = _problem(nodes=[{"id": "grid", "max_power_w": 5000.0}, {"id": "f", "parent": "grid"}],
                    batteries=[_battery(node="f", capacity_wh=20000.0, max_charge_w=8000.0)])
    p = Problem.model_validate(data)
    assert verify(p, Plan(p, np.zeros((0, 2)), battery_power_w=[[4000.0, 0.0]])) == []
    bad = verify(p, Plan(p, np.zeros((0, 2)), battery_power_w=[[6000.0, 0.0]]))
    got = [(v.kind, v.subject, v.step, v.value) for v in bad]
    assert got == [("node_power", "grid", 0, 6000.0)]


def test_state_of_charge_counts_losses_both_ways_per_step_hour() -> None:
    """Quarter-hour steps, 81 % round trip (90 % each way), 1,000 Wh at the start:
    charging 1,000 W stores 1000 x 0.9 / 4 = 225 Wh, discharging 900 W takes
    900 / 0.9 / 4 = 250 Wh, charging 0.5 W stores 0.1125 Wh, discharging 0.5 W takes
    0.138... Wh."""
    # catches: ``battery_w * eta`` -> ``/ eta``, ``battery_w / eta`` -> ``* eta``,
    # ``* dt_h`` -> ``/ dt_h``, the charge test ``> 0`` -> ``> 1`` (0.5 W charging counted
    # as a discharge), ``soc0 +`` -> ``-``
    p = Problem.model_validate(_problem(n=4, step_s=900, batteries=[
        _battery(capacity_wh=2000.0, initial_wh=1000.0, efficiency=0.81)]))
    plan = Plan(p, np.zeros((0, 4)), battery_power_w=[[1000.0, -900.0, 0.5, -0.5]])
    want = 1000.0 + np.cumsum([225.0, -250.0, 0.1125, -0.5 / 0.9 / 4])
    np.testing.assert_allclose(plan.soc_wh[0], want, rtol=1e-12)


def test_a_battery_reaches_its_final_target_from_the_grid() -> None:
    """An empty battery with a 3,000 Wh final target and 81 % round trip: it buys
    3000 / 0.9 = 3,333.3 Wh in the first hour (flat price: the earliest step) and ends at
    exactly the target; without the target it stays idle (charging only costs)."""
    # catches: ``final_wh is None`` -> ``is not None`` (every target dropped)
    _, plan = _ok(_problem(batteries=[_battery(final_wh=3000.0, efficiency=0.81)]))
    np.testing.assert_allclose(plan.battery_power_w[0], [3000.0 / 0.9, 0.0], rtol=1e-9)
    np.testing.assert_allclose(plan.soc_wh[0], [3000.0, 3000.0], rtol=1e-9)
    _, idle = _ok(_problem(batteries=[_battery(efficiency=0.81)]))
    assert np.all(idle.battery_power_w == 0.0)


@pytest.mark.parametrize(("spread", "cycles"), [(0.02 * (1 - 5e-4), False),
                                                (0.02 * (1 + 5e-4), True)])
def test_a_battery_cycles_only_when_the_spread_beats_its_wear(
    spread: float, cycles: bool,
) -> None:
    """A lossless 5 kWh battery with 0.02 per kWh of wear, a 5 kW site load and an import
    price rising by ``spread`` after the first hour: buying 5 kWh early to cover the load
    later gains ``spread - 0.02`` per kWh. Just below the wear (0.05 % less) it stays
    idle, just above it cycles fully (to the 1e-3 Wh margin inside its bounds)."""
    # catches: the wear's ``cost_per_kwh / 1000`` -> ``/ 1001`` or ``* 1000``
    _, plan = _ok(_problem(batteries=[_battery(cost_per_kwh=0.02)],
                           tariff={"price": [0.10, 0.10 + spread], "site_load_w": 5000.0}))
    want = [5000.0 - 1e-3, -(5000.0 - 1e-3)] if cycles else [0.0, 0.0]
    np.testing.assert_allclose(plan.battery_power_w[0], want, atol=1e-6)


def test_a_fast_session_beside_a_planned_one_still_charges_at_once() -> None:
    """Two EVSEs, the price falls from 0.50 to 0.10 after two hours: the ``fast`` car
    charges at its 11,040 W maximum from arrival, the ``planned`` one waits for the cheap
    hours. One session in a mode other than ``planned`` is enough for the site model."""
    # catches: ``any(mode != "planned")`` -> ``all(...)``
    data = _problem(n=4, evses=[{"id": "e1", "node": "grid", "max_current_a": 16.0},
                                {"id": "e2", "node": "grid", "max_current_a": 16.0}],
                    tariff={"price": [0.5, 0.5, 0.1, 0.1]},
                    sessions=[{"id": f"{m}", "evse": e, "arrival": START,
                               "departure": "2024-06-01T04:00:00Z", "energy_wh": 11040.0,
                               "mode": m} for m, e in (("fast", "e1"), ("planned", "e2"))])
    _, plan = _ok(data)
    np.testing.assert_allclose(plan.session_power_w[0], [11040.0, 0.0, 0.0, 0.0], atol=1e-6)
    assert plan.session_power_w[1, :2].sum() == pytest.approx(0.0, abs=1e-6)
    assert plan.energy_wh[1] == pytest.approx(11040.0, abs=1e-3)


def test_the_site_model_is_used_exactly_for_generation_batteries_feed_in_or_modes() -> None:
    """A charging-only problem (all sessions ``planned``, no generation, battery or
    feed-in price) keeps the charging-only pipeline; any one of those four alone sends a
    problem to the site model."""
    # catches: ``export_price is not None`` -> ``is None``, ``mode != "planned"`` -> ``==``,
    # ``or`` -> ``and`` between the four conditions
    car = {"id": "c", "evse": "e1", "arrival": START, "departure": "2024-06-01T02:00:00Z",
           "energy_wh": 5000.0}
    plain = _problem(sessions=[car])
    assert not uses_site_model(Problem.model_validate(plain))
    assert "site model" not in optimize(Problem.model_validate(plain)).message
    for extra in ({"generation": [{"id": "pv", "node": "grid", "power_w": 1000.0}]},
                  {"batteries": [_battery()]},
                  {"tariff": {"price": 0.30, "export_price": 0.05}},
                  {"sessions": [{**car, "mode": "fast"}]}):
        p = Problem.model_validate({**plain, **extra})
        assert uses_site_model(p), extra
        assert "site model" in optimize(p).message


# ---------------------------------------------------------------- _storage: the site model


def test_a_pv_car_takes_its_need_and_the_rest_of_the_surplus_is_exported() -> None:
    """9 kW of PV in the first hour, 1 kW of site load, a pv car wanting 5 kWh, feed-in
    0.05: the car takes 5 kW of the 8 kW surplus, the other 3 kW are exported (feed-in
    pays), nothing is curtailed; the second hour has no sun, so no charging."""
    # catches: the surplus snap's ``maximum(root, 0)`` -> ``minimum`` (exported surplus
    # curtailed by the snap)
    car = {"id": "c", "evse": "e1", "arrival": START, "departure": "2024-06-01T02:00:00Z",
           "energy_wh": 5000.0, "mode": "pv"}
    _, plan = _ok(_problem(generation=[{"id": "pv", "node": "grid", "power_w": [9000.0, 0.0]}],
                           sessions=[car],
                           tariff={"price": 0.30, "export_price": 0.05, "site_load_w": 1000.0}))
    np.testing.assert_allclose(plan.session_power_w[0], [5000.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(plan.generation_w[0], [9000.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(plan.grid_w, [-3000.0, 1000.0], atol=1e-6)


def test_a_battery_shaves_the_demand_peak_when_a_demand_charge_pays_for_it() -> None:
    """Site load 6 kW then 2 kW, import 0.30 then 0.40, a lossless battery holding 2 kWh
    (2 kW at most). Without a demand charge it discharges in the dearer second hour (saving
    0.80 rather than 0.60); with 10 per kW of peak, shaving the first hour's 6 kW peak to
    4 kW saves 20, so it discharges there (to the 1e-3 Wh margin above empty)."""
    # catches: the peak column's bounds of the wrong length (``np.full(2, inf)``)
    bat = _battery(initial_wh=2000.0, max_charge_w=2000.0, max_discharge_w=2000.0)
    tariff: dict[str, Any] = {"price": [0.30, 0.40], "site_load_w": [6000.0, 2000.0]}
    _, plan = _ok(_problem(batteries=[bat], tariff={**tariff, "demand_charge_per_kw": 10.0}))
    np.testing.assert_allclose(plan.battery_power_w[0], [-(2000.0 - 1e-3), 0.0], atol=1e-6)
    assert plan.peak_w == pytest.approx(4000.0 + 1e-3, abs=1e-6)
    _, flat = _ok(_problem(batteries=[bat], tariff=tariff))
    assert flat.battery_power_w[0, 0] >= 0.0  # (it may top up by the 1e-3 Wh margin)
    assert flat.battery_power_w[0, 1] == pytest.approx(-2000.0, abs=2e-3)
    assert flat.peak_w == pytest.approx(6000.0, abs=2e-3)


def test_a_battery_covers_an_overload_the_site_load_alone_causes() -> None:
    """A 5 kW grid connection with 7 kW of site load in the first hour: a full, lossless
    battery with a full final target discharges the 2 kW over the limit (plus the LP's
    margin) and buys it back in the second hour; one that discharges at most 1.5 kW covers
    what it can (the grid stays 0.5 kW over, less than the site load alone). Both plans are
    optimal and verify accepts them (the site load's own overload is not the plan's)."""
    # catches: the node row's slack not added where the site load alone breaks it
    # (``if len(neg)`` negated: infeasible when the battery cannot cover it all, the
    # battery idle in the fallback)
    for most, lend in ((3000.0, 2000.0), (1500.0, 1500.0)):
        bat = _battery(initial_wh=5000.0, final_wh=5000.0, max_charge_w=3000.0,
                       max_discharge_w=most)
        _, plan = _ok(_problem(nodes=[{"id": "grid", "max_power_w": 5000.0}],
                               batteries=[bat],
                               tariff={"price": 0.30, "site_load_w": [7000.0, 1000.0]}))
        assert plan.status is SolverStatus.OPTIMAL
        b = plan.battery_power_w[0]
        assert -lend - 1e-3 <= b[0] <= -lend + 1e-9
        assert b[1] == pytest.approx(-b[0], abs=1e-6)


def test_covering_an_overload_comes_before_energy_even_on_ten_day_steps() -> None:
    """Two 240-hour steps, a 5 kW grid connection, 7 kW of site load in the first, a full
    720 kWh battery (3 kW for 240 h, lossless) and, in the second step only, a car wanting
    more than it can get. The overload's cost grows with the step's hours like energy's
    value, so the battery still covers the 2 kW (plus the LP's margin) for the whole first
    step and gives the car the 1 kW left in the second: the car gets 5 kW + 1 kW (less the
    grid row's margin), not 5 kW + 3 kW."""
    # catches: the slack's ``SLACK_COST * dt`` -> ``SLACK_COST / dt`` (on 240 h steps an
    # overloaded W then weighs less than the 240 Wh it takes to cover it)
    bat = _battery(capacity_wh=720000.0, initial_wh=720000.0, max_charge_w=3000.0,
                   max_discharge_w=3000.0)
    car = {"id": "c", "evse": "e1", "arrival": "2024-06-11T00:00:00Z",
           "departure": "2024-06-21T00:00:00Z", "energy_wh": 1e7}
    _, plan = _ok(_problem(step_s=864000, nodes=[{"id": "grid", "max_power_w": 5000.0}],
                           evses=[{"id": "e1", "node": "grid", "max_current_a": 32.0}],
                           batteries=[bat], sessions=[car],
                           tariff={"price": 0.30, "site_load_w": [7000.0, 0.0]}))
    np.testing.assert_allclose(plan.battery_power_w[0], [-2000.0, -1000.0], atol=1e-3)
    np.testing.assert_allclose(plan.session_power_w[0], [0.0, 6000.0], atol=1e-3)


@pytest.mark.parametrize(("fairness", "car_w"), [(0.0, 0.0), (0.01, 4140.0)])
def test_a_cars_unbonused_energy_comes_after_a_batterys_final_target(
    fairness: float, car_w: float,
) -> None:
    """One hour, a 5 kW grid connection, an empty lossless battery with a 5 kWh final
    target and a car wanting 5 kWh (4,140 W minimum). A Wh below the target costs one
    value of a Wh; a car's Wh is worth one value of a Wh times its fairness bonus (four
    tiers of 1,250 Wh: 1 + fairness x 3/3, 2/3, 1/3, 0) less the charge-early term
    (1e-5 x (step + 1) / n_steps). Without fairness the battery gets the grid (less the
    LP's margin); with 0.01 the car's first three tiers (3,750 Wh) come first, raised to
    its 4,140 W minimum, and the battery takes the rest."""
    # catches: the charge-early term ``(vt + 1)`` -> ``(vt - 1)`` (the first step's Wh then
    # worth more than a value of a Wh)
    bat = _battery(capacity_wh=10000.0, final_wh=5000.0)
    car = {"id": "c", "evse": "e1", "arrival": START, "departure": "2024-06-01T01:00:00Z",
           "energy_wh": 5000.0}
    p = Problem.model_validate(_problem(n=1, nodes=[{"id": "grid", "max_power_w": 5000.0}],
                                        batteries=[bat], sessions=[car]))
    plan = optimize(p, Objective(fairness=fairness))
    assert plan.status is SolverStatus.OPTIMAL and verify(p, plan) == []
    assert plan.session_power_w[0, 0] == pytest.approx(car_w, abs=1e-6)
    assert plan.battery_power_w[0, 0] == pytest.approx(5000.0 - car_w, abs=1e-3)


def test_a_dive_out_of_rounds_rounds_every_binary_left_and_still_plans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dive (relax, round the binaries whose rule breaks, repeat) rounds every binary
    left at once after ``MAX_DIVES`` rounds. With that cut to 2, a min_pv car (12 kWh in
    three hours of 5, 5, 9 kW PV, 0.5 kW site load, a half-full 5 kWh battery) still gets
    a feasible, safe plan from the dive, not the fallback, and never more than the exact
    MIP's energy."""
    # catches: ``rounds >= MAX_DIVES`` -> ``>`` (one round too late: out of LP rounds with
    # a rule still broken, the dive fails)
    from smartcharge.optimizer import _storage

    car = {"id": "c", "evse": "e1", "arrival": START, "departure": "2024-06-01T03:00:00Z",
           "energy_wh": 12000.0, "mode": "min_pv"}
    bat = _battery(initial_wh=2500.0, max_charge_w=3000.0, max_discharge_w=3000.0,
                   efficiency=0.9)
    p = Problem.model_validate(_problem(
        n=3, nodes=[{"id": "grid", "max_power_w": 30000.0}], sessions=[car], batteries=[bat],
        generation=[{"id": "pv", "node": "grid", "power_w": [5000.0, 5000.0, 9000.0]}],
        tariff={"price": [0.1, 0.1, 0.6], "export_price": 0.05, "site_load_w": 500.0}))
    net = p.network()
    monkeypatch.setattr(_storage, "MAX_DIVES", 2)
    dive = _storage.optimize_site(p, net, net.rows(10.0), Objective(), None, "auto", "highs",
                                  0.0, 10.0, exact=False)
    assert dive.status is SolverStatus.FEASIBLE, dive.message
    assert verify(p, dive) == []
    exact = optimize(p, min_current="mip")
    assert 0.0 < dive.energy_wh.sum() <= exact.energy_wh.sum() + 1e-3


def test_a_fast_car_present_for_one_step_comes_before_a_planned_one() -> None:
    """One hour, an 11,040 W grid connection, a ``fast`` and a ``planned`` car each wanting
    11,040 Wh: the fast car's target (its maximum from arrival) takes the whole limit
    (less the LP's margin), the planned car gets nothing."""
    # catches: a fast session with exactly one step skipped by the target rows
    # (``len(mine) == 0`` -> ``== 1``)
    data = _problem(n=1, nodes=[{"id": "grid", "max_power_w": 11040.0}],
                    evses=[{"id": "e1", "node": "grid", "max_current_a": 16.0},
                           {"id": "e2", "node": "grid", "max_current_a": 16.0}],
                    sessions=[{"id": m, "evse": e, "arrival": START,
                               "departure": "2024-06-01T01:00:00Z", "energy_wh": 11040.0,
                               "mode": m} for m, e in (("fast", "e1"), ("planned", "e2"))])
    _, plan = _ok(data)
    assert plan.session_power_w[0, 0] == pytest.approx(11040.0, abs=1e-2)
    assert plan.session_power_w[1, 0] == 0.0


# ---------------------------------------------------------------- _v2x: the V2X model


def _v2x(step_s: int = 3600, **session: Any) -> dict[str, Any]:
    """A 10 kW DC V2X EVSE on a 10 kW grid, two steps, a car wanting 5 kWh that may lend
    3 kWh at up to 5 kW; the site load 12 kW in the first step (2 kW over the limit)."""
    s = {"id": "s1", "evse": "e1", "arrival": START,
         "departure": "2024-06-01T02:00:00Z", "energy_wh": 5000.0,
         "max_discharge_w": 5000.0, "discharge_floor_wh": 3000.0, **session}
    return _problem(step_s=step_s, nodes=[{"id": "grid", "max_power_w": 10000.0}],
                    evses=[{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 10000.0}],
                    sessions=[s], tariff={"price": [0.5, 0.1], "site_load_w": [12000.0, 0.0]})


@pytest.mark.parametrize(("delta", "hour"), [(1.5e-5, 0), (4e-5, 1)])
def test_v2x_price_differences_under_a_hundred_thousandth_of_a_wh_are_ties(
    delta: float, hour: int,
) -> None:
    """As in the charging-only model: V = 10 x the dearest Wh (0.4 per kWh: V = 0.004 per
    Wh); charge-early weighs 1e-5 V per Wh x (step + 1) / 2, 5e-6 V more for the second
    hour; the second hour cheaper by ``delta`` per kWh saves delta / 4 V per Wh: a tie
    below 2e-5 (the first hour), a saving above it (the second). No cycling: the spread is
    far below the 0.02 per kWh of wear."""
    # catches: the V2X costs' scale ``1 / V`` -> ``2 / V`` or ``* V``
    data = _v2x()
    data["tariff"] = {"price": [0.4, 0.4 - delta]}
    _, plan = _ok(data)
    want = [0.0, 0.0]
    want[hour] = 5000.0
    np.testing.assert_allclose(plan.session_power_w[0], want, atol=1e-3)


@pytest.mark.parametrize(("spread", "lends"), [(0.02 * (1 - 5e-4), False),
                                               (0.02 * (1 + 5e-4), True)])
def test_a_v2x_car_lends_only_when_the_spread_beats_the_wear(
    spread: float, lends: bool,
) -> None:
    """0.02 per kWh of wear, no charge-early term (so the spread alone decides), no site
    load: the first hour dearer by ``spread``. Just below the wear (0.05 % less) the car
    only charges its 5 kWh (in the cheap hour); just above it lends its 3 kWh floor in
    the dear hour and takes 8 kWh back in the cheap one."""
    # catches: the price's ``/ 1000.0`` -> ``/ 1001.0``, the wear's ``/ 1000.0`` -> ``/ 1001.0``
    data = _v2x()
    data["tariff"] = {"price": [0.3 + spread, 0.3]}
    p = Problem.model_validate(data)
    plan = optimize(p, Objective(early=False, degradation_per_kwh=0.02))
    assert plan.status is SolverStatus.OPTIMAL and verify(p, plan) == []
    want = [-3000.0, 8000.0] if lends else [0.0, 5000.0]
    np.testing.assert_allclose(plan.session_power_w[0], want, atol=1e-3)


def test_v2x_energy_counts_step_hours_on_quarter_hour_steps() -> None:
    """Two quarter-hour steps, flat price, the car there for both. Step 0: the site load
    is 2 kW over the grid's 10 kW, so the car may only discharge, and lends 2 kW (plus the
    LP's margin) to cover it: 500 Wh. Step 1: the grid's 10 kW for a quarter hour, 2,500 Wh:
    2,000 Wh net, short of the 5,000 wanted (10 kW is all the grid gives)."""
    # catches: ``wh = frac * dt_h`` -> ``frac / dt_h``, the energy rows on ``sign / wh``
    data = _v2x(step_s=900, departure="2024-06-01T00:30:00Z")
    data["tariff"]["price"] = 0.3
    _, plan = _ok(data)
    sp = plan.session_power_w[0]
    assert -2000.0 - 1e-3 <= sp[0] <= -2000.0
    assert sp[1] == pytest.approx(10000.0, abs=1e-3)
    assert plan.energy_wh[0] == pytest.approx(2000.0, abs=1e-3)


def test_a_v2x_car_covers_a_current_overload_it_cannot_win_back() -> None:
    """A 20 A three-phase grid line limit (inner 36-gon: 20 x cos 5 deg A), 24 A of site
    load (16,560 W) in the first hour, flat price, a 5 kW DC V2X EVSE: the car lends what
    brings the line back to the polygon, 16,560 - 690 x 20 cos 5 deg = 2,812.5 W (plus
    the LP's 1e-4 A margin), although it cannot win that energy back (5 kW in the second
    hour is all it gets): covering an overload comes before energy, for a row in amperes
    as for one in watts."""
    # catches: the slack penalty's ``max(1, W per A)`` -> ``min`` (an ampere of overload
    # then weighs less than the 690 Wh it takes to cover it)
    data = _v2x()
    data["nodes"] = [{"id": "grid", "max_current_a": 20.0}]
    data["evses"][0]["max_power_w"] = 5000.0
    data["tariff"] = {"price": 0.3, "site_load_w": [16560.0, 0.0]}
    _, plan = _ok(data)
    lend = 16560.0 - 690.0 * 20.0 * np.cos(np.deg2rad(5.0))
    assert lend <= -plan.session_power_w[0, 0] <= lend + 1e-4 * 690.0 + 1e-3
    assert plan.session_power_w[0, 1] == pytest.approx(5000.0, abs=1e-3)


def test_a_ramp_bounds_the_net_power_of_a_v2x_car() -> None:
    """A 3 kW ramp from 0 W before the horizon, a 0.4 spread, no site load: without the ramp
    the car would lend 3 kWh and take 8 kWh back; with it the cheapest plan whose steps
    change by at most 3 kW and deliver 5 kWh is 1 kW then 4 kW (less the ramp rows'
    margin)."""
    # catches: the ramp rows left out of the V2X model (``if net.has_ramp`` negated)
    data = _v2x()
    data["nodes"] = [{"id": "grid", "max_power_w": 10000.0, "max_ramp_w": 3000.0,
                      "initial_power_w": 0.0}]
    data["tariff"] = {"price": [0.5, 0.1]}
    _, plan = _ok(data)
    assert plan.status is SolverStatus.OPTIMAL
    np.testing.assert_allclose(plan.session_power_w[0], [1000.0, 4000.0], atol=1e-3)


def test_a_session_wanting_under_one_wh_beside_a_v2x_car_gets_it() -> None:
    """Beside the V2X car (which lends 3 kWh in the dear hour and takes 8 back), a second
    car wanting 0.5 Wh gets it in the cheap hour."""
    # catches: a charge column only for a need above 1 Wh (``need_wh > 0`` -> ``> 1``)
    data = _v2x()
    data["tariff"] = {"price": [0.5, 0.1]}
    data["evses"].append({"id": "e2", "node": "grid", "kind": "DC", "max_power_w": 10000.0})
    data["sessions"].append({"id": "s2", "evse": "e2", "arrival": START,
                             "departure": "2024-06-01T02:00:00Z", "energy_wh": 0.5})
    _, plan = _ok(data)
    np.testing.assert_allclose(plan.session_power_w, [[-3000.0, 8000.0], [0.0, 0.5]],
                               atol=1e-6)


def test_a_v2x_model_without_a_minimum_is_a_plain_lp() -> None:
    """DC EVSEs have no minimum current: the V2X model has no integer column (one LP);
    an AC EVSE's 6 A minimum makes one on/off binary per power column."""
    # catches: binaries for every column (``mn > 0`` -> ``>= 0``)
    p = Problem.model_validate(_v2x())
    net = p.network()
    assert _build_v2x(net, net.rows(10.0), Objective()).lp.integer is None
    ac = _v2x()
    ac["evses"] = [{"id": "e1", "node": "grid", "max_current_a": 16.0}]
    net = Problem.model_validate(ac).network()
    m = _build_v2x(net, net.rows(10.0), Objective())
    # step 0 (overloaded): discharge only; step 1: charge and discharge
    assert m.lp.integer is not None and len(m.lp.integer) == len(m.cs) + len(m.ds) == 3


def test_the_v2x_snap_removes_only_solver_noise() -> None:
    """An AC V2X car (4,140 W minimum, 11,040 W maximum, 5,000 W discharge) there for the
    first of two steps: |p| <= 1e-6 W becomes 0; a value within 1e-6 (relative, inclusive)
    below the minimum, either way, becomes the minimum; one further below stays (the
    verify check then reports it); values beyond the bounds by noise are clipped; nothing
    outside the window."""
    # catches: ``mag >= mn * (1 - 1e-6)`` -> ``>`` or ``* (2 - 1e-6)``; the window's
    # ``frac > 0`` -> ``>= 0``
    data = _v2x(departure="2024-06-01T01:00:00Z")
    data["evses"] = [{"id": "e1", "node": "grid", "max_current_a": 16.0}]
    net = Problem.model_validate(data).network()
    mn = 4140.0
    cases = [(1e-6, 0.0), (-1e-6, 0.0), (mn * (1 - 1e-6), mn), (-mn * (1 - 1e-7), -mn),
             (mn * (1 - 1e-5), mn * (1 - 1e-5)), (11040.0 + 1e-7, 11040.0),
             (-5000.0 - 1e-7, -5000.0), (6000.0, 6000.0)]
    for value, want in cases:
        got = _snap_v2x(net, np.array([[value, 7000.0]]))
        assert got.tolist() == [[want, 0.0]], value


# ---------------------------------------------------------------- _coarse: the MPC grid


def test_the_grids_blocks_are_exactly_their_documented_lengths_on_one_second_steps() -> None:
    """With one-second steps every block length is exact: the default grid has one step
    per block for the first hour, 15 minutes (900 steps) up to four hours, then hours;
    replan's has one step for half an hour, 15 minutes up to two hours, then hours."""
    # catches: a grid constant nudged (900 -> 901, 3600 -> 3601 in either grid, 4 x 3600
    # -> 4 / 3600)
    default = block_starts(21600, 1, DEFAULT_GRID)
    assert default.tolist() == [*range(3600), *range(3600, 14400, 900), 14400, 18000]
    replan = block_starts(18000, 1, REPLAN_GRID)
    assert replan.tolist() == [*range(1800), *range(1800, 7200, 900), 7200, 10800, 14400]


def test_a_block_that_would_run_past_its_entrys_end_is_cut_there() -> None:
    """Four-minute steps on the default grid: 15 single steps (the first hour); 15-minute
    blocks round to 4 steps (3.75) from step 15, so the last one before four hours (step
    60) starts at 59 and is cut to one step; hours (15 steps) from step 60."""
    # catches: the cut's ``ceil(until / step_s - 1e-9) - t`` with ``+ 1e-9``, ``+ t`` or
    # ``until * step_s``
    s = block_starts(90, 240, DEFAULT_GRID)
    assert s.tolist() == [*range(15), *range(15, 60, 4), 60, 75]  # ..., 55, 59, 60, 75


def test_the_far_polygon_starts_at_the_first_block_longer_than_one_step() -> None:
    """Ten-minute steps on the default grid: six single steps, then 15-minute blocks of two
    steps (1.5 rounds to 2) from block 6: the coarser polygon applies from there on, the
    fine one before it."""
    # catches: the far rows used only if some block is longer than two steps
    # (``any(lengths > 1)`` -> ``any(lengths > 2)``)
    p = synthetic_problem(12, n_steps=24, step_s=600, seed=5)
    net = p.network()
    fine, far = net.rows(10.0), net.rows(20.0)
    starts = block_starts(net.T, net.step_s, DEFAULT_GRID)
    assert starts.tolist() == [*range(6), *range(6, 24, 2)]  # no block longer than two
    _, crows = coarsen(net, fine, starts, far)
    for n, r in enumerate(crows):
        k = fine[n].coef.shape[0]
        assert np.array_equal(r.coef, np.vstack([fine[n].coef, far[n].coef]))
        assert np.all(np.isinf(r.rhs[:k, 6:])) and np.all(np.isfinite(r.rhs[:k, :6]))
        assert np.all(np.isinf(r.rhs[k:, :6])) and np.all(np.isfinite(r.rhs[k:, 6:]))


# ---------------------------------------------------------------- _ramped: the ramp stage


def _steep(n: int) -> Problem:
    """One 32 A three-phase car (minimum 4,140 W, maximum 22,080 W) wanting far more than
    it can get, quarter-hour steps, a 1 kW ramp per step from 0 W before the horizon."""
    return Problem.model_validate(_problem(
        n=n, step_s=900,
        nodes=[{"id": "grid", "max_power_w": 250000.0, "max_ramp_w": 1000.0,
                "initial_power_w": 0.0}],
        evses=[{"id": "e1", "node": "grid", "max_current_a": 32.0}],
        sessions=[{"id": "c", "evse": "e1", "arrival": START,
                   "departure": "2024-06-02T00:00:00Z", "energy_wh": 1e6}]))


def test_the_ramp_stage_closes_the_dropped_steps_two_lp_rounds_at_a_time() -> None:
    """The LP ramps 1, 2, 3, ... kW (the most energy); the repair drops the steps below the
    4,140 W minimum (the first four), which breaks the ramp (0 -> 5 kW); the fixed pattern
    is infeasible (from 0 to the minimum in one step), so those four steps are closed and
    the LP solved again, ramping from step 4, and so on: with 16 steps the last four are
    all below the minimum, so the plan is all off after 1 + 3 x 2 = 7 LP rounds."""
    # catches: ``rounds += 1`` -> ``+= 2`` (the rounds miscounted, the cap reached early)
    p = _steep(16)
    plan = optimize(p)
    assert plan.status is SolverStatus.FEASIBLE and verify(p, plan) == []
    assert np.all(plan.session_power_w == 0.0)
    assert plan.message.endswith("minimum-current repair under ramp limits, 7 LP round(s)")


@pytest.mark.parametrize(("n", "rounds"), [(40, 19), (44, 21)])
def test_the_ramp_stage_gives_up_after_twenty_lp_solves(n: int, rounds: int) -> None:
    """As above, n steps take 1 + 2 x (n - 4) / 4 LP rounds: 19 for 40 steps (within the
    20 solves the stage may use: a feasible plan, all off), 21 for 44 (out of rounds after
    20: the safe fallback, which says so)."""
    # catches: the cap ``rounds >= _RAMP_ROUNDS`` -> ``>``, ``_RAMP_ROUNDS`` 20 -> 21
    p = _steep(n)
    plan = optimize(p)
    assert verify(p, plan) == []
    if rounds <= 20:
        assert plan.status is SolverStatus.FEASIBLE
        assert plan.message.endswith(f"under ramp limits, {rounds} LP round(s)")
        assert np.all(plan.session_power_w == 0.0)
    else:
        assert plan.status is SolverStatus.FALLBACK
        assert "breaks a ramp limit after 20 LP round(s)" in plan.message


def test_a_ramp_plans_timings_are_durations_with_every_re_solve_in_solve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A clock that runs 100 s further at every LP solve (the first in ``optimize``, the
    re-solves in the ramp stage): the plan's ``solve`` time is 100 s per LP solve (7 of
    them, as above) plus real time under a second, ``build`` and ``extract`` are the real
    time around them (under a second, not negative)."""
    # catches: ``solve_s += ...`` -> ``-=``; the extract time's ``t3 - t2 - (solve_s -
    # (t2 - t1))`` with any ``-`` -> ``+``
    import time as real_time

    from smartcharge.optimizer import _ramped
    from smartcharge.optimizer import solve as solve_mod

    solves = [0]

    class Clock:
        @staticmethod
        def perf_counter() -> float:
            return real_time.perf_counter() + 100.0 * solves[0]

    for mod in (solve_mod, _ramped):
        inner = mod.solve_model

        def counted(*args: Any, _inner: Any = inner, **kwargs: Any) -> Any:
            out = _inner(*args, **kwargs)
            solves[0] += 1
            return out

        monkeypatch.setattr(mod, "solve_model", counted)
        monkeypatch.setattr(mod, "time", Clock)
    plan = optimize(_steep(16))
    assert solves[0] == 7
    t = plan.timings
    assert 700.0 <= t.solve < 701.0
    assert 0.0 <= t.build < 1.0 and 0.0 <= t.extract < 1.0


def test_a_one_watt_charger_under_a_tiny_ramp_ends_all_off_not_in_the_fallback() -> None:
    """A DC charger of 1 W with a 0.8 W minimum, a 0.1 W ramp from 0: no step can reach
    the minimum without breaking the ramp, so all off is the only safe plan; the stage gets
    there by closing the dropped steps (a feasible plan), however small their powers."""
    # catches: only columns above 1 W closed (``ub > 0`` -> ``ub > 1``: no progress, fallback)
    p = Problem.model_validate(_problem(
        n=16, step_s=900,
        nodes=[{"id": "grid", "max_power_w": 250000.0, "max_ramp_w": 0.1,
                "initial_power_w": 0.0}],
        evses=[{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 1.0,
                "min_power_w": 0.8}],
        sessions=[{"id": "c", "evse": "e1", "arrival": START,
                   "departure": "2024-06-02T00:00:00Z", "energy_wh": 1e6}]))
    plan = optimize(p)
    assert plan.status is SolverStatus.FEASIBLE, plan.message
    assert np.all(plan.session_power_w == 0.0) and verify(p, plan) == []
