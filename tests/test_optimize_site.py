"""Generation, stationary batteries, export limits and session modes: hand-checked plans."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer import (
    Plan,
    Problem,
    SolverStatus,
    optimize,
    surplus_rules,
    verify,
)

SIX_A = 6.0 * 690.0  # the 6 A minimum of a three-phase 230 V EVSE [W]


def _site(n: int = 6, **extra: Any) -> dict[str, Any]:
    """One grid connection, one 16 A three-phase EVSE, hourly steps from 10:00."""
    base: dict[str, Any] = {
        "horizon": {"start": "2024-06-01T10:00:00Z", "step_s": 3600, "n_steps": n},
        "nodes": [{"id": "grid", "max_power_w": 20000.0}],
        "evses": [{"id": "e1", "node": "grid", "max_current_a": 16.0}],
        "tariff": {"price": 0.30},
    }
    for key, value in extra.items():
        if key == "nodes":
            base["nodes"] = value
        elif key == "tariff":
            base["tariff"] = {**base["tariff"], **value}
        else:
            base[key] = value
    return base


def _car(mode: str, energy_wh: float, *, arrival: str = "10", departure: str = "16",
         sid: str = "car") -> dict[str, Any]:
    return {"id": sid, "evse": "e1", "arrival": f"2024-06-01T{arrival}:00:00Z",
            "departure": f"2024-06-01T{departure}:00:00Z", "energy_wh": energy_wh,
            "mode": mode}


def _plan(data: dict[str, Any]) -> tuple[Problem, Plan]:
    p = Problem.model_validate(data)
    plan = optimize(p)
    assert plan.status in (SolverStatus.OPTIMAL, SolverStatus.FEASIBLE), plan.message
    assert verify(p, plan) == []
    return p, plan


def test_sunny_midday_fills_a_pv_only_car() -> None:
    """PV 9 kW from 11:00 to 14:00, site load 1 kW: 8 kW of surplus for three hours (24
    kWh). A pv-only car wanting 20 kWh gets all of it in those hours, never more than the
    surplus, nothing at 10:00 (no sun) or after 14:00; the site imports only its load."""
    pv = (0.0, 9000.0, 9000.0, 9000.0, 0.0, 0.0)
    _, plan = _plan(_site(generation=[{"id": "pv", "node": "grid", "power_w": pv}],
                          tariff={"site_load_w": 1000.0, "export_price": 0.05},
                          sessions=[_car("pv", 20000.0)]))
    sp = plan.session_power_w[0]
    assert plan.energy_wh[0] == pytest.approx(20000.0, abs=1e-3)
    assert np.all(sp[[0, 4, 5]] == 0.0)
    assert np.all(sp[1:4] <= 8000.0 + 1e-6)  # surplus only
    on = sp > 0
    assert np.all(plan.grid_w[on] <= 1e-6)  # no import while the car charges
    assert plan.import_wh == pytest.approx(1000.0 * 3, abs=1e-3)  # the load at 10, 14, 15


def test_pv_only_car_gets_nothing_without_sun() -> None:
    _, plan = _plan(_site(generation=[{"id": "pv", "node": "grid", "power_w": 0.0}],
                          sessions=[_car("pv", 20000.0)]))
    assert np.all(plan.session_power_w == 0.0)


def test_surplus_below_the_minimum_does_not_start_a_pv_car() -> None:
    """3 kW of surplus is below the 4.14 kW minimum: the pv car stays off, a min_pv car
    charges at its minimum from arrival and takes the surplus above it only when the
    surplus covers everything it draws above the minimum."""
    pv = (3000.0,) * 6
    _, plan = _plan(_site(generation=[{"id": "pv", "node": "grid", "power_w": pv}],
                          sessions=[_car("pv", 20000.0)]))
    assert np.all(plan.session_power_w == 0.0)
    _, plan = _plan(_site(generation=[{"id": "pv", "node": "grid", "power_w": pv}],
                          sessions=[_car("min_pv", 5 * SIX_A)]))
    # the minimum from arrival until the need is met (the surplus never covers more)
    np.testing.assert_allclose(plan.session_power_w[0], [SIX_A] * 5 + [0.0], rtol=1e-9)


def test_min_pv_charges_at_the_minimum_then_takes_the_surplus() -> None:
    """No sun for two hours, then 10 kW: min_pv charges its 4.14 kW minimum from arrival
    (from the grid), then from the surplus: at most 10 kW (its maximum is 11.04 kW, but
    above the minimum the site may not import)."""
    pv = (0.0, 0.0, 10000.0, 10000.0, 10000.0, 10000.0)
    _, plan = _plan(_site(generation=[{"id": "pv", "node": "grid", "power_w": pv}],
                          sessions=[_car("min_pv", 30000.0)]))
    sp = plan.session_power_w[0]
    np.testing.assert_allclose(sp[:2], SIX_A, rtol=1e-9)
    assert np.all(sp[2:] <= 10000.0 + 1e-6)
    assert plan.energy_wh[0] == pytest.approx(30000.0, abs=1e-3)


def test_zero_export_site_never_exports() -> None:
    """12 kW of PV, 1 kW of load, a 5 kWh battery, no car: the battery fills, the rest is
    curtailed, nothing leaves the site."""
    pv = (12000.0,) * 6
    _, plan = _plan(_site(nodes=[{"id": "grid", "max_power_w": 20000.0, "max_export_w": 0.0}],
                          generation=[{"id": "pv", "node": "grid", "power_w": pv}],
                          batteries=[{"id": "b", "node": "grid", "capacity_wh": 5000.0,
                                      "initial_wh": 0.0, "max_charge_w": 3000.0,
                                      "max_discharge_w": 3000.0}],
                          tariff={"site_load_w": 1000.0}))
    assert np.all(plan.grid_w >= -1e-6)
    assert plan.export_wh == pytest.approx(0.0, abs=1e-6)
    assert plan.soc_wh[0, -1] == pytest.approx(5000.0, abs=1e-2)
    # all that was used: load + what the battery took in [Wh]
    used = plan.generation_w.sum() * 1.0
    assert used == pytest.approx(6 * 1000.0 + 5000.0 / np.sqrt(0.9), abs=1e-2)


def test_export_limit_bounds_export_and_curtails() -> None:
    """A 3 kW export limit: 12 kW of PV, 1 kW of load: 3 kW exported, 8 kW curtailed."""
    p, plan = _plan(_site(n=2, nodes=[{"id": "grid", "max_power_w": 20000.0,
                                       "max_export_w": 3000.0}],
                          generation=[{"id": "pv", "node": "grid", "power_w": 12000.0}],
                          tariff={"site_load_w": 1000.0, "export_price": 0.08}))
    np.testing.assert_allclose(plan.grid_w, [-3000.0, -3000.0], atol=1e-6)
    assert plan.grid_cost == pytest.approx(-2 * 3 * 0.08, abs=1e-9)
    # the same plan with every kW exported breaks the limit: verify says so
    full = Plan(p, plan.session_power_w, generation_w=np.full((1, 2), 12000.0))
    kinds = {v.kind for v in verify(p, full)}
    assert kinds == {"node_export"}


def test_battery_shifts_pv_to_the_evening_peak() -> None:
    """Midday PV 6 kW (load 1 kW, feed-in 0.05), evening load 2 kW at 0.60 (day 0.30).

    Without a battery the 5 kW surplus is exported at 0.05 and the evening load imported
    at 0.60. A 4 kWh battery (90 % round trip, 0.02 wear) charges from PV at midday and
    discharges at the evening peak: its 4 kWh give 4 x 0.9 = 3.6 kWh, worth 0.60 each,
    against 4 / sqrt(0.9) kWh of PV not exported at 0.05 and 3.6 x 0.02 of wear.
    """
    pv = (6000.0, 6000.0, 0.0, 0.0, 0.0, 0.0)
    load = (1000.0, 1000.0, 2000.0, 2000.0, 2000.0, 1000.0)
    price = (0.30, 0.30, 0.60, 0.60, 0.60, 0.30)
    common = dict(generation=[{"id": "pv", "node": "grid", "power_w": pv}],
                  tariff={"site_load_w": load, "price": price, "export_price": 0.05})
    _, without = _plan(_site(**common))
    _, plan = _plan(_site(**common, batteries=[{
        "id": "b", "node": "grid", "capacity_wh": 4000.0, "initial_wh": 0.0,
        "max_charge_w": 5000.0, "max_discharge_w": 2000.0, "efficiency": 0.9,
        "cost_per_kwh": 0.02}]))
    bat = plan.battery_power_w[0]
    assert np.all(bat[:2] >= -1e-9) and np.all(bat[2:5] <= 1e-9)  # charge, then discharge
    assert -bat[2:5].sum() == pytest.approx(4000.0 * np.sqrt(0.9), rel=1e-6)
    assert np.all(bat[5] == 0.0)  # not at the 0.30 hour: the peak pays more
    assert plan.soc_wh[0, 1] == pytest.approx(4000.0, abs=2e-3)
    charged_kwh = 4.0 / np.sqrt(0.9)
    out_kwh = 4.0 * np.sqrt(0.9)
    gain = out_kwh * 0.60 - charged_kwh * 0.05
    assert without.grid_cost - plan.grid_cost == pytest.approx(gain, rel=1e-6)
    assert plan.self_consumption > without.self_consumption


def test_fast_charges_at_once_planned_waits_for_the_cheap_hours() -> None:
    price = (0.50, 0.50, 0.50, 0.10, 0.10, 0.10)
    fast = _plan(_site(tariff={"price": price, "export_price": 0.0},
                       sessions=[_car("fast", 11040.0)]))[1]
    np.testing.assert_allclose(fast.session_power_w[0], [11040.0, 0, 0, 0, 0, 0], atol=1e-6)
    planned = _plan(_site(tariff={"price": price, "export_price": 0.0},
                          sessions=[_car("planned", 11040.0)]))[1]
    assert planned.session_power_w[0, :3].sum() == pytest.approx(0.0, abs=1e-6)
    assert planned.energy_wh[0] == pytest.approx(11040.0, abs=1e-3)


def test_battery_discharge_never_feeds_a_pv_car() -> None:
    """A full battery and a pv car, no sun: the car gets nothing (a battery is not surplus);
    the battery still covers the site load."""
    _, plan = _plan(_site(generation=[{"id": "pv", "node": "grid", "power_w": 0.0}],
                          batteries=[{"id": "b", "node": "grid", "capacity_wh": 10000.0,
                                      "initial_wh": 10000.0, "max_charge_w": 5000.0,
                                      "max_discharge_w": 5000.0}],
                          tariff={"site_load_w": 500.0}, sessions=[_car("pv", 10000.0)]))
    assert np.all(plan.session_power_w == 0.0)
    assert np.all(plan.battery_power_w[0] <= 1e-9)


def test_battery_obeys_a_feeder_current_limit() -> None:
    """A battery on a 10 A feeder (230 V, three-phase: 6.9 kW) may not discharge its 10 kW
    at the evening peak: at most 6.9 kW x cos(5 deg) (the polygon inside the circle)."""
    _, plan = _plan(_site(n=2, nodes=[{"id": "grid"},
                                      {"id": "f", "parent": "grid", "max_current_a": 10.0}],
                          batteries=[{"id": "b", "node": "f", "capacity_wh": 20000.0,
                                      "initial_wh": 20000.0, "max_charge_w": 10000.0,
                                      "max_discharge_w": 10000.0, "cost_per_kwh": 0.0}],
                          tariff={"site_load_w": 10000.0, "export_price": 0.30}))
    assert np.all(-plan.battery_power_w[0] <= 6900.0 + 1e-6)
    assert -plan.battery_power_w[0].min() > 6800.0


def test_site_plans_are_deterministic_and_pickle() -> None:
    data = _site(generation=[{"id": "pv", "node": "grid", "power_w": 7000.0}],
                 batteries=[{"id": "b", "node": "grid", "capacity_wh": 5000.0,
                             "initial_wh": 1000.0, "max_charge_w": 3000.0,
                             "max_discharge_w": 3000.0}],
                 tariff={"export_price": 0.05}, sessions=[_car("min_pv", 15000.0)])
    a = optimize(Problem.model_validate(data))
    b = optimize(Problem.model_validate(data))
    for x, y in ((a.session_power_w, b.session_power_w), (a.battery_power_w,
                                                          b.battery_power_w),
                 (a.generation_w, b.generation_w)):
        assert x.tobytes() == y.tobytes()
    c = pickle.loads(pickle.dumps(a))
    assert c.battery_power_w.tobytes() == a.battery_power_w.tobytes()
    assert c.grid_cost == a.grid_cost


@pytest.mark.parametrize(("change", "path", "rule"), [
    ({"batteries": [{"id": "b", "node": "x", "capacity_wh": 1.0, "initial_wh": 0.0,
                     "max_charge_w": 1.0, "max_discharge_w": 1.0}]},
     "batteries[0].node", "known-node"),
    ({"batteries": [{"id": "b", "node": "grid", "capacity_wh": 1000.0,
                     "initial_wh": 2000.0, "max_charge_w": 1.0, "max_discharge_w": 1.0}]},
     "batteries[0].initial_wh", "soc-bounds"),
    ({"batteries": [{"id": "b", "node": "grid", "capacity_wh": 1000.0, "min_wh": 800.0,
                     "max_wh": 500.0, "initial_wh": 600.0, "max_charge_w": 1.0,
                     "max_discharge_w": 1.0}]}, "batteries[0].min_wh", "min<=max"),
    ({"batteries": [{"id": "b", "node": "grid", "capacity_wh": 1000.0, "initial_wh": 0.0,
                     "max_charge_w": 1.0, "max_discharge_w": 1.0, "efficiency": 1.2}]},
     "batteries[0].efficiency", "less_than_equal"),
    ({"generation": [{"id": "pv", "node": "grid", "power_w": [1.0, 2.0]}]},
     "generation[0].power_w", "per-step"),
    ({"generation": [{"id": "pv", "node": "grid", "power_w": -1.0}]},
     "generation[0].power_w", "ge0"),
    ({"tariff": {"export_price": [0.1, 0.1, 0.5, 0.1, 0.1, 0.1]}},
     "tariff.export_price[2]", "export<=import"),
    ({"sessions": [{**_car("pv", 1.0), "mode": "solar"}]}, "sessions[0].mode",
     "literal_error"),
    ({"nodes": [{"id": "grid", "max_export_w": -1.0}]}, "nodes[0].max_export_w",
     "greater_than_equal"),
])
def test_bad_site_input_names_the_field_and_rule(
    change: dict[str, Any], path: str, rule: str
) -> None:
    with pytest.raises(InvalidProblemError) as err:
        Problem.model_validate(_site(**change))
    assert err.value.path == path
    assert err.value.rule == rule


def test_v2x_with_a_site_model_is_refused_clearly() -> None:
    s = {**_car("planned", 1000.0), "max_discharge_w": 3000.0}
    p = Problem.model_validate(_site(generation=[{"id": "pv", "node": "grid",
                                                   "power_w": 1.0}], sessions=[s]))
    with pytest.raises(InvalidProblemError) as err:
        optimize(p)
    assert err.value.path == "sessions[0].max_discharge_w"
    with pytest.raises(InvalidProblemError):
        optimize(p, method="flow")


def test_plan_checks_the_shapes_of_battery_and_generation() -> None:
    p = Problem.model_validate(_site(generation=[{"id": "pv", "node": "grid",
                                                   "power_w": 1.0}]))
    with pytest.raises(InvalidProblemError) as err:
        Plan(p, np.zeros((0, 6)), generation_w=np.zeros((2, 6)))
    assert err.value.path == "generation_w"


def test_verify_reports_battery_and_surplus_violations() -> None:
    p = Problem.model_validate(_site(
        n=2, generation=[{"id": "pv", "node": "grid", "power_w": 5000.0}],
        batteries=[{"id": "b", "node": "grid", "capacity_wh": 1000.0, "initial_wh": 500.0,
                    "max_charge_w": 2000.0, "max_discharge_w": 2000.0}],
        sessions=[_car("pv", 20000.0, departure="12")]))
    # the car takes 8 kW with 5 kW of sun (imports), the battery discharges meanwhile,
    # beyond its power limit, then drains below 0; generation above the forecast
    plan = Plan(p, np.array([[8000.0, 0.0]]), battery_power_w=np.array([[-2500.0, 0.0]]),
                generation_w=np.array([[5000.0, 6000.0]]))
    kinds = sorted({v.kind for v in verify(p, plan)})
    assert kinds == ["battery_power", "battery_soc", "generation_range", "surplus_battery",
                     "surplus_import"]
    assert all(v.message for v in verify(p, plan))


def test_rule_based_controller_runs_and_charges_from_surplus() -> None:
    pv = (0.0, 9000.0, 9000.0, 9000.0, 0.0, 0.0)
    p = Problem.model_validate(_site(
        generation=[{"id": "pv", "node": "grid", "power_w": pv}],
        batteries=[{"id": "b", "node": "grid", "capacity_wh": 5000.0, "initial_wh": 0.0,
                    "max_charge_w": 3000.0, "max_discharge_w": 3000.0}],
        tariff={"site_load_w": 1000.0}, sessions=[_car("pv", 22000.0)]))
    plan = surplus_rules(p, start_hold_s=0.0, stop_hold_s=0.0)
    # hourly readings, no hold: on from 11:00 to 13:00 at the 8 kW surplus, 6 kW left
    np.testing.assert_allclose(plan.session_power_w[0], [0, 8000, 8000, 6000, 0, 0])
    # 2 kW left over at 13:00 go to the battery; it covers the load afterwards
    assert plan.battery_power_w[0, 3] == pytest.approx(2000.0)
    assert plan.battery_power_w[0, 4] == pytest.approx(-1000.0)
    assert verify(p, plan) == []
    # 5 min to start, 10 min to stop, readings every hour: starts an hour late (12:00),
    # stops an hour late (15:00), and at 14:00 draws its minimum with no sun (from the
    # battery and the grid)
    held = surplus_rules(p)
    np.testing.assert_allclose(held.session_power_w[0], [0, 0, 8000, 8000, SIX_A, 0])
    assert {v.kind for v in verify(p, held)} == {"surplus_import", "surplus_battery"}


def test_rule_based_controller_charges_planned_cars_in_the_cheapest_hours() -> None:
    """A planned car wanting two hours at full power, prices 0.5 0.5 0.1 0.5 0.1 0.1: it
    charges at 12:00 and 14:00 (the two cheapest, earliest first); a fast car at once."""
    price = (0.5, 0.5, 0.1, 0.5, 0.1, 0.1)
    full = 11040.0
    p = Problem.model_validate(_site(tariff={"price": price},
                                     sessions=[_car("planned", 2 * full)]))
    np.testing.assert_allclose(surplus_rules(p).session_power_w[0],
                               [0, 0, full, 0, full, 0])
    p = Problem.model_validate(_site(tariff={"price": price},
                                     sessions=[_car("fast", 2 * full)]))
    np.testing.assert_allclose(surplus_rules(p).session_power_w[0],
                               [full, full, 0, 0, 0, 0])


def test_zero_export_site_with_a_pv_car_sits_at_exactly_zero() -> None:
    """No export allowed and a pv car that must not import: where it charges, the root is
    at exactly 0 (the car takes the surplus, 6.5 kW of 7.5 kW PV minus 1 kW load); the
    model holds both with no margin and removes the solver's noise."""
    pv = (0.0, 7500.0, 7500.0, 7500.0, 0.0, 0.0)
    _, plan = _plan(_site(nodes=[{"id": "grid", "max_power_w": 20000.0, "max_export_w": 0.0}],
                          generation=[{"id": "pv", "node": "grid", "power_w": pv}],
                          tariff={"site_load_w": 1000.0}, sessions=[_car("pv", 40000.0)]))
    np.testing.assert_allclose(plan.session_power_w[0], [0, 6500, 6500, 6500, 0, 0], atol=1e-6)
    on = plan.session_power_w[0] > 0
    assert np.all(np.abs(plan.grid_w[on]) <= 1e-6)
    assert plan.export_wh == pytest.approx(0.0, abs=1e-6)
