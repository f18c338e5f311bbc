"""Pins of issue 13, round 4: behaviours of the site's charging modes that the first
mutation run of ``optimizer/surplus`` (the rule-based surplus controller),
``optimizer/hysteresis`` (the PV start/stop switch) and ``optimizer/export`` (plans as JSON
and comparison rows) showed untested. One test each, named for the behaviour a user relies
on; every expected value is worked out by hand in the docstring or comment, never read back
from the code under test."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcharge.optimizer import Plan, Problem, SurplusHysteresis, SwitchState, surplus_rules
from smartcharge.optimizer.export import comparison_rows

T0 = datetime(2024, 6, 1, 10, tzinfo=timezone.utc)


def _problem(**extra: Any) -> Problem:
    """One 20 kW grid connection, one 16 A three-phase EVSE (11,040 W), hourly steps from
    10:00, 0.30 per kWh; ``extra`` replaces top-level keys."""
    doc: dict[str, Any] = {
        "horizon": {"start": "2024-06-01T10:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid", "max_power_w": 20000.0}],
        "evses": [{"id": "e1", "node": "grid", "max_current_a": 16.0}],
        "tariff": {"price": 0.30},
        "sessions": [{"id": "car", "evse": "e1", "arrival": "2024-06-01T10:00:00Z",
                      "departure": "2024-06-01T12:00:00Z", "energy_wh": 10000.0}],
    }
    doc.update(extra)
    return Problem.model_validate(doc)


# ---------------------------------------------------------------- export: comparison rows


def test_comparison_row_rounds_each_metric_to_its_documented_unit() -> None:
    """5,678.1234 W for one hour: 5,678.1234 Wh = 5.678 kWh (3 decimals), 0.567812 of the
    10 kWh need (6 decimals), 5.6781234 kWh x 0.30 = 1.7034 (4 decimals), a peak of
    5.678 kW (3 decimals), no violation (20 kW grid, 11,040 W EVSE, above its 6 A
    minimum of 4,140 W)."""
    plan = Plan(_problem(), np.array([[5678.1234, 0.0]]))
    # catches: a digit more in any round() (5.6781, 0.5678123, 1.70344, 5.6781), kWh as
    # "* 1000" or "/ 1001"
    assert comparison_rows({"hand": plan}) == [{
        "method": "hand", "energy_kwh": 5.678, "share_delivered": 0.567812, "cost": 1.7034,
        "peak_kw": 5.678, "violations": 0}]


def test_comparison_row_peak_counts_the_site_load_in_kw() -> None:
    """A 2,500 W site load under 5,678.1234 W of charging: the root's peak is 8,178.1234 W
    = 8.178 kW, the energy still 5.678 kWh (the site load is not charging)."""
    plan = Plan(_problem(tariff={"price": 0.30, "site_load_w": 2500.0}),
                np.array([[5678.1234, 0.0]]))
    row = comparison_rows({"load": plan})[0]
    # catches: the peak's kW as "* 1000", "/ 1001" or rounded to 4 decimals (8.1781)
    assert (row["energy_kwh"], row["peak_kw"]) == (5.678, 8.178)


# ---------------------------------------------------------------- hysteresis


def _minutes(*minutes: float) -> list[datetime]:
    return [T0 + timedelta(minutes=m) for m in minutes]


def test_default_holds_start_after_five_minutes_and_stop_after_ten() -> None:
    """The defaults are 300 s to start and 600 s to stop: readings at 0, 4:59 and 5:00 min
    of a 5 kW surplus switch on at exactly 5:00; then readings below the minimum at 6, 15:59
    and 16:00 min switch off at exactly 16:00 (600 s after 6:00)."""
    rule = SurplusHysteresis(start_w=4140.0, stop_w=4140.0)
    times = _minutes(0, 4 + 59 / 60, 5, 6, 15 + 59 / 60, 16)
    on = rule.run(times, [5000.0, 5000.0, 5000.0, 1000.0, 1000.0, 1000.0])
    # catches: a default start hold of 301 s or a stop hold of 601 s
    assert on.tolist() == [False, False, True, True, True, False]


def test_a_surplus_exactly_at_the_start_threshold_starts() -> None:
    """"Start when the surplus stays >= start_w": readings of exactly 4,140 W with no hold
    switch on at the first reading."""
    rule = SurplusHysteresis(start_w=4140.0, stop_w=3000.0, start_hold_s=0.0, stop_hold_s=0.0)
    # catches: the start test ">= start_w" -> "> start_w"
    assert rule.step(SwitchState(), T0, 4140.0).on


def test_a_surplus_exactly_at_the_stop_threshold_keeps_charging() -> None:
    """"Stop when it stays < stop_w": a running car seeing exactly 3,000 W (= stop_w) with
    no hold stays on; 2,999.9 W stops it."""
    rule = SurplusHysteresis(start_w=4140.0, stop_w=3000.0, start_hold_s=0.0, stop_hold_s=0.0)
    # catches: the stop test "< stop_w" -> "<= stop_w"
    assert rule.step(SwitchState(on=True), T0, 3000.0).on
    assert not rule.step(SwitchState(on=True), T0, 2999.9).on


def test_two_readings_at_the_same_instant_are_not_time_running_backwards() -> None:
    """Time may stand still (two meters read in the same second): only ``now`` before the
    last reading is refused. Two 5 kW readings at 10:00 with no start hold: on."""
    rule = SurplusHysteresis(start_w=4140.0, stop_w=4140.0, start_hold_s=0.0)
    state = rule.step(SwitchState(), T0, 1000.0)
    # catches: the monotonic check "now < last" -> "now <= last"
    assert rule.step(state, T0, 5000.0).on


# ---------------------------------------------------------------- surplus_rules

SIX_A = 6.0 * 690.0  # the default 6 A minimum of a three-phase 230 V EVSE [W]


def _site(step_s: int, n: int, sessions: list[dict[str, Any]], **extra: Any) -> Problem:
    """One 40 kW grid connection, one 16 A three-phase EVSE (11,040 W, minimum 6 A =
    4,140 W), ``n`` steps of ``step_s`` from 10:00, no price; ``extra`` adds top-level
    keys (generation, batteries, tariff, nodes)."""
    doc: dict[str, Any] = {
        "horizon": {"start": "2024-06-01T10:00:00Z", "step_s": step_s, "n_steps": n},
        "nodes": [{"id": "grid", "max_power_w": 40000.0}],
        "evses": [{"id": "e1", "node": "grid", "max_current_a": 16.0}],
        "sessions": sessions,
    }
    doc.update(extra)
    return Problem.model_validate(doc)


def _car(mode: str, energy_wh: float, *, arrival: str = "10:00", departure: str = "18:00",
         **extra: Any) -> dict[str, Any]:
    return {"id": "car", "evse": "e1", "arrival": f"2024-06-01T{arrival}:00Z",
            "departure": f"2024-06-01T{departure}:00Z", "energy_wh": energy_wh,
            "mode": mode, **extra}


def test_rules_fast_car_on_quarter_hour_steps_stops_at_its_need() -> None:
    """Quarter-hour steps (0.25 h). A fast car needing 4,000 Wh: 11,040 W in the first step
    (2,760 Wh), then the 1,240 Wh left at 1,240 / 0.25 = 4,960 W (above the 4,140 W
    minimum), then nothing. Needing 3,500 Wh, the 740 Wh left would take 2,960 W, below the
    minimum: that last step is skipped."""
    # catches: the room "left / (frac * dt)" -> "left / (frac / dt)" (0 W everywhere), and
    # the need left "p * frac * dt" -> "p * frac / dt" (the second step lost)
    plan = surplus_rules(_site(900, 4, [_car("fast", 4000.0)]))
    np.testing.assert_allclose(plan.session_power_w[0], [11040.0, 4960.0, 0.0, 0.0])
    plan = surplus_rules(_site(900, 4, [_car("fast", 3500.0)]))
    np.testing.assert_allclose(plan.session_power_w[0], [11040.0, 0.0, 0.0, 0.0])


def test_rules_fast_car_with_a_tiny_maximum_still_charges_at_it() -> None:
    """A fast car capped at 0.5 W (its own ``max_power_w``) on an EVSE with no minimum: it
    draws 0.5 W in every step of its window (two hours; 1 Wh of its 100 Wh)."""
    # catches: "sess_max_w > 0" -> "sess_max_w > 1" (a session under 1 W never present)
    plan = surplus_rules(_site(3600, 3, [_car("fast", 100.0, departure="12:00",
                                              max_power_w=0.5)],
                               evses=[{"id": "e1", "node": "grid", "max_current_a": 16.0,
                                       "min_current_a": 0.0}]))
    np.testing.assert_allclose(plan.session_power_w[0], [0.5, 0.5, 0.0])


def test_rules_min_pv_car_takes_its_minimum_and_the_surplus_above_it() -> None:
    """A min_pv car with a 1 kW site load and PV of 0, 8 and 3 kW: 4,140 W at every step
    (from any source), plus at 11:00 the surplus 8,000 - 1,000 - 4,140 = 2,860 W: 7,000 W;
    at 12:00 the 3 kW do not cover load and minimum, so no extra."""
    # catches: the min_pv extra's condition negated, "mode == min_pv" -> "!=", and
    # "p += extra" -> "p -= extra"
    p = _site(3600, 3, [_car("min_pv", 40000.0)], tariff={"site_load_w": 1000.0},
              generation=[{"id": "pv", "node": "grid", "power_w": [0.0, 8000.0, 3000.0]}])
    np.testing.assert_allclose(surplus_rules(p).session_power_w[0], [SIX_A, 7000.0, SIX_A])


_NO_MINIMUM = [{"id": "e1", "node": "grid", "max_current_a": 16.0, "min_current_a": 0.0}]
_AT_MINIMUM = [{"id": "e1", "node": "grid", "max_current_a": 6.0}]  # maximum = minimum


def test_rules_min_pv_car_without_a_minimum_takes_the_surplus() -> None:
    """A min_pv car on an EVSE with no minimum (0 A): its minimum is 0 W, and above it the
    pv rule gives it the surplus, like the optimizer: nothing at 10:00 (no sun), at 11:00
    the 8 kW of PV minus the 1 kW site load, 7,000 W. (Fixed in round 4: the extra needed
    the minimum itself to be above 0 W, so such a car never charged.)"""
    p = _site(3600, 2, [_car("min_pv", 40000.0)], evses=_NO_MINIMUM,
              tariff={"site_load_w": 1000.0},
              generation=[{"id": "pv", "node": "grid", "power_w": [0.0, 8000.0]}])
    # catches: the extra's "p > 0" -> "p > 1", and the bug it had (a 0 W minimum)
    np.testing.assert_allclose(surplus_rules(p).session_power_w[0], [0.0, 7000.0])


def test_rules_min_pv_car_gets_even_half_a_watt_of_surplus() -> None:
    """PV of 4,140.5 W and no load: the min_pv car takes its 4,140 W minimum and the
    0.5 W surplus on top."""
    p = _site(3600, 1, [_car("min_pv", 40000.0)],
              generation=[{"id": "pv", "node": "grid", "power_w": 4140.5}])
    # catches: "surplus > 0" -> "surplus > 1" in the min_pv extra
    np.testing.assert_allclose(surplus_rules(p).session_power_w[0], [4140.5])


def test_rules_min_pv_car_never_charges_below_its_minimum() -> None:
    """A min_pv car needing 6,000 Wh: 4,140 W at 10:00 (no sun), 1,860 Wh left; at 11:00
    that would take 1,860 W, below its 4,140 W minimum, so it waits even with 8 kW of
    surplus (the surplus only ever goes on top of the minimum)."""
    p = _site(3600, 2, [_car("min_pv", 6000.0)],
              generation=[{"id": "pv", "node": "grid", "power_w": [0.0, 8000.0]}])
    # catches: the extra's "p > 0" -> "p >= 0" (1,860 W from the surplus)
    np.testing.assert_allclose(surplus_rules(p).session_power_w[0], [SIX_A, 0.0])


@pytest.mark.parametrize("mode", ["fast", "min_pv"])
def test_rules_car_whose_maximum_is_its_minimum_charges_at_it(mode: str) -> None:
    """A 6 A EVSE (maximum = minimum = 4,140 W), no sun: a fast or min_pv car needing
    4,140 Wh charges at 4,140 W for the first hour, then is full."""
    p = _site(3600, 2, [_car(mode, SIX_A)], evses=_AT_MINIMUM)
    # catches: "top >= low" -> "top > low" for grid-first and for min_pv sessions
    np.testing.assert_allclose(surplus_rules(p).session_power_w[0], [SIX_A, 0.0])


def test_rules_needs_above_the_tolerance_are_charged_down_to_half_a_watt_hour() -> None:
    """On an EVSE without a minimum, a fast car needing 0.5 Wh draws 0.5 W for the first
    hour; one needing 1e-9 Wh (the tolerance of a met need) draws nothing."""
    p = _site(3600, 2, [_car("fast", 0.5)], evses=_NO_MINIMUM)
    # catches: the met-need tolerance "left > 1e-9" -> "left > 1.000000001"
    np.testing.assert_allclose(surplus_rules(p).session_power_w[0], [0.5, 0.0])
    p = _site(3600, 2, [_car("fast", 1e-9)], evses=_NO_MINIMUM)
    # catches: "left > 1e-9" -> "left >= 1e-9"
    assert surplus_rules(p).session_power_w[0].tolist() == [0.0, 0.0]


def test_rules_pv_car_there_half_a_step_leaves_the_battery_half_its_draw() -> None:
    """A pv car arriving at 10:30 (there half of the hourly step) under 8 kW of PV, no
    holds: it draws the 8,000 W surplus while there, 4,000 W on average over the step, so
    the battery (lossless, 5 kW charge) takes the other 4,000 W."""
    # catches: the pv car's share "surplus -= p * frac" -> "p / frac" (the battery
    # discharging 8 kW instead)
    p = _site(3600, 1, [_car("pv", 40000.0, arrival="10:30")],
              generation=[{"id": "pv", "node": "grid", "power_w": 8000.0}],
              batteries=[{"id": "b", "node": "grid", "capacity_wh": 10000.0,
                          "initial_wh": 0.0, "max_charge_w": 5000.0,
                          "max_discharge_w": 5000.0, "efficiency": 1.0}])
    plan = surplus_rules(p, start_hold_s=0.0, stop_hold_s=0.0)
    np.testing.assert_allclose(plan.session_power_w[0], [8000.0])
    np.testing.assert_allclose(plan.battery_power_w[0], [4000.0])


def test_rules_min_pv_car_there_half_a_step_leaves_the_battery_the_rest() -> None:
    """A min_pv car arriving at 10:30 under 8 kW of PV: its 4,140 W minimum for half the
    step takes 2,070 W of the step's average, leaving 5,930 W; it takes them on top
    (10,070 W, under its 11,040 W maximum), half the step again: 2,965 W, so the battery
    (lossless) charges the other 2,965 W."""
    # catches: the min_pv extra's share "surplus -= extra * frac" -> "+=" or "extra / frac"
    p = _site(3600, 1, [_car("min_pv", 40000.0, arrival="10:30")],
              generation=[{"id": "pv", "node": "grid", "power_w": 8000.0}],
              batteries=[{"id": "b", "node": "grid", "capacity_wh": 10000.0,
                          "initial_wh": 0.0, "max_charge_w": 5000.0,
                          "max_discharge_w": 5000.0, "efficiency": 1.0}])
    plan = surplus_rules(p)
    np.testing.assert_allclose(plan.session_power_w[0], [10070.0])
    np.testing.assert_allclose(plan.battery_power_w[0], [2965.0])


def test_rules_fast_car_there_half_a_step_counts_half_its_energy() -> None:
    """A fast car needing 10,000 Wh arriving at 10:30: 11,040 W for half an hour gives
    5,520 Wh; the 4,480 Wh left take 4,480 W at 11:00; then it is full."""
    # catches: the need left "p * frac * dt" -> "p / frac * dt"
    plan = surplus_rules(_site(3600, 3, [_car("fast", 10000.0, arrival="10:30")]))
    np.testing.assert_allclose(plan.session_power_w[0], [11040.0, 4480.0, 0.0])


def test_rules_battery_fills_up_on_half_hour_steps() -> None:
    """Half-hour steps, 3 kW of PV, a lossless 2,000 Wh battery from empty with a 3 kW
    charge limit: 3,000 W (1,500 Wh), then the 500 Wh of room at 1,000 W, then full."""
    # catches: the charge's "soc += x * eta * dt" -> "x * eta / dt"
    p = _site(1800, 3, [], generation=[{"id": "pv", "node": "grid", "power_w": 3000.0}],
              batteries=[{"id": "b", "node": "grid", "capacity_wh": 2000.0,
                          "initial_wh": 0.0, "max_charge_w": 3000.0,
                          "max_discharge_w": 3000.0, "efficiency": 1.0}])
    np.testing.assert_allclose(surplus_rules(p).battery_power_w[0], [3000.0, 1000.0, 0.0],
                               atol=1e-9)


def test_rules_pv_car_on_an_evse_limited_to_its_minimum_charges_at_it() -> None:
    """A pv car on a 6 A EVSE (maximum = minimum = 4,140 W) under a 5 kW surplus, no holds:
    it charges at exactly 4,140 W (the surplus clipped to its one possible power)."""
    # catches: the pv car's "top >= low" -> "top > low" (it never charges)
    p = _site(3600, 1, [_car("pv", 40000.0)],
              evses=[{"id": "e1", "node": "grid", "max_current_a": 6.0}],
              generation=[{"id": "pv", "node": "grid", "power_w": 5000.0}])
    plan = surplus_rules(p, start_hold_s=0.0, stop_hold_s=0.0)
    np.testing.assert_allclose(plan.session_power_w[0], [SIX_A])


def test_rules_default_holds_on_five_minute_steps() -> None:
    """Five-minute steps, 5 kW of PV for 15 minutes then none, the default holds (300 s to
    start, 600 s to stop): the reading at 10:00 starts the hold, the one at 10:05 switches
    on (5,000 W until 10:15); from 10:15 the car imports its 4,140 W minimum for the 600 s
    stop hold and is off at 10:25."""
    # catches: a default start hold of 301 s (on at 10:10) or a stop hold of 601 s (still
    # on at 10:25)
    p = _site(300, 6, [_car("pv", 40000.0)],
              generation=[{"id": "pv", "node": "grid",
                           "power_w": [5000.0, 5000.0, 5000.0, 0.0, 0.0, 0.0]}])
    np.testing.assert_allclose(surplus_rules(p).session_power_w[0],
                               [0.0, 5000.0, 5000.0, SIX_A, SIX_A, 0.0])


def test_rules_battery_discharges_with_losses_down_to_its_floor() -> None:
    """Half-hour steps (0.5 h), a 1 kW site load, a battery at 1,000 Wh with a 400 Wh floor,
    efficiency 0.81 (0.9 each way). 10:00: 600 Wh above the floor give at most
    600 x 0.9 / 0.5 = 1,080 W, so it covers the 1 kW load and loses 1,000 / 0.9 x 0.5 =
    555.6 Wh (444.4 Wh left); 10:30: 44.4 Wh give 44.4 x 0.9 / 0.5 = 80 W; 11:00: at the
    floor, nothing. 11:30: 5 kW of PV leave 4 kW, the battery takes its 3 kW maximum
    (under (2,000 - 400) / (0.9 x 0.5) = 3,556 W of room)."""
    # catches: the discharge room's "* eta / dt" -> "/ eta" or "* dt", "soc - soc_min" ->
    # "+", "max(..., 0)" -> "max(..., 1)"; the discharge's "soc += x / eta * dt" -> "-=",
    # "/ dt" or "* eta"
    p = _site(1800, 4, [], tariff={"site_load_w": 1000.0},
              generation=[{"id": "pv", "node": "grid", "power_w": [0.0, 0.0, 0.0, 5000.0]}],
              batteries=[{"id": "b", "node": "grid", "capacity_wh": 2000.0,
                          "initial_wh": 1000.0, "min_wh": 400.0, "max_charge_w": 3000.0,
                          "max_discharge_w": 3000.0, "efficiency": 0.81}])
    plan = surplus_rules(p)
    np.testing.assert_allclose(plan.battery_power_w[0], [-1000.0, -80.0, 0.0, 3000.0],
                               atol=1e-6)


def test_rules_battery_charges_a_half_watt_surplus_within_its_charge_limit() -> None:
    """0.5 W of PV, no load, no car: the battery (charge limit 0.2 W) charges 0.2 W; the
    other 0.3 W is exported."""
    p = _site(3600, 1, [], generation=[{"id": "pv", "node": "grid", "power_w": 0.5}],
              batteries=[{"id": "b", "node": "grid", "capacity_wh": 1000.0,
                          "initial_wh": 0.0, "max_charge_w": 0.2, "max_discharge_w": 0.2}])
    plan = surplus_rules(p)
    # catches: the charge branch "surplus > 0" -> "surplus > 1" (the discharge branch then
    # "discharges" -0.5 W, past the charge limit)
    np.testing.assert_allclose(plan.battery_power_w[0], [0.2])
    np.testing.assert_allclose(plan.grid_w, [-0.3])


def test_rules_curtail_generation_to_the_export_limit_in_listed_order() -> None:
    """A 2.5 kW export limit, a 1 kW load, PV units of 3 and 4 kW at 10:00: 6 kW would go
    out, 3.5 kW too much; the first unit is cut to 0 (3 kW), the second by the other 0.5 kW
    (3.5 kW left). At 11:00 (1 + 1 kW, 1 kW out) nothing is cut."""
    # catches: the excess "surplus - cap" -> "+", the cut "gen -= cut" -> "+=", "excess -=
    # cut" -> "+=", and "isfinite(cap) and surplus > cap" -> "or" (a negative cut raising
    # the PV under the limit)
    p = _site(3600, 2, [], tariff={"site_load_w": 1000.0},
              nodes=[{"id": "grid", "max_power_w": 40000.0, "max_export_w": 2500.0}],
              generation=[{"id": "a", "node": "grid", "power_w": [3000.0, 1000.0]},
                          {"id": "b", "node": "grid", "power_w": [4000.0, 1000.0]}])
    np.testing.assert_allclose(surplus_rules(p).generation_w, [[0.0, 1000.0], [3500.0, 1000.0]])


@st.composite
def _rule_sites(draw: st.DrawFn) -> Problem:
    """Small sites for the rule-based controller: 1-6 steps of 15, 30 or 60 minutes, two
    16 A EVSEs with a session each (any mode, arriving on a step or half-way through one),
    a site load, PV, maybe an export limit and a lossy battery with a floor."""
    step_s = draw(st.sampled_from([900, 1800, 3600]))
    n = draw(st.integers(1, 6))
    sessions = []
    for k in (1, 2):
        a = draw(st.integers(0, 2 * n - 1))  # in half steps
        d = draw(st.integers(a + 1, 2 * n))
        sessions.append({
            "id": f"s{k}", "evse": f"e{k}", "mode": draw(st.sampled_from(
                ["fast", "planned", "pv", "min_pv"])),
            "arrival": (T0 + timedelta(seconds=a * step_s // 2)).isoformat(),
            "departure": (T0 + timedelta(seconds=d * step_s // 2)).isoformat(),
            "energy_wh": draw(st.sampled_from([0.0, 1000.0, 5000.0, 30000.0]))})
    node: dict[str, Any] = {"id": "grid", "max_power_w": 60000.0}
    if draw(st.booleans()):
        node["max_export_w"] = draw(st.sampled_from([0.0, 1500.0]))
    doc: dict[str, Any] = {
        "horizon": {"start": T0.isoformat(), "step_s": step_s, "n_steps": n},
        "nodes": [node],
        "evses": [{"id": f"e{k}", "node": "grid", "max_current_a": 16.0} for k in (1, 2)],
        "sessions": sessions,
        "tariff": {"price": draw(st.lists(st.sampled_from([0.1, 0.3]), min_size=n,
                                          max_size=n)),
                   "site_load_w": draw(st.sampled_from([0.0, 800.0]))},
        "generation": [{"id": "pv", "node": "grid", "power_w": draw(st.lists(
            st.sampled_from([0.0, 3000.0, 6000.0, 12000.0]), min_size=n, max_size=n))}],
    }
    if draw(st.booleans()):
        doc["batteries"] = [{"id": "b", "node": "grid", "capacity_wh": 4000.0,
                             "initial_wh": draw(st.sampled_from([500.0, 2000.0])),
                             "min_wh": 500.0, "max_charge_w": 2500.0,
                             "max_discharge_w": 2000.0,
                             "efficiency": draw(st.sampled_from([0.81, 1.0]))}]
    return Problem.model_validate(doc)


@given(_rule_sites())
def test_rules_plan_stays_within_every_bound_it_controls(p: Problem) -> None:
    """Whatever the site: the same plan twice (byte for byte); each session between 0 and
    its maximum, nothing outside its window, never more than its need; the battery within
    its power limits and, by the documented state-of-charge formula (``eta`` = sqrt of the
    efficiency each way), within ``[min_wh, capacity]``; generation used between 0 and the
    forecast; and the export never above the export limit."""
    plan = surplus_rules(p)
    again = surplus_rules(p)
    for a, b in ((plan.session_power_w, again.session_power_w),
                 (plan.battery_power_w, again.battery_power_w),
                 (plan.generation_w, again.generation_w)):
        assert a is not None and b is not None and a.tobytes() == b.tobytes()
    net = p.network()
    sp = plan.session_power_w
    assert np.all(sp >= 0.0) and np.all(sp <= net.sess_max_w[:, None] + 1e-9)
    assert np.all(sp[net.frac == 0] == 0.0)
    dt = p.horizon.step_h
    delivered = (sp * net.frac).sum(axis=1) * dt
    assert np.all(delivered <= np.array([s.energy_wh for s in p.sessions]) + 1e-6)
    bat, gen = plan.battery_power_w, plan.generation_w
    assert bat is not None and gen is not None
    for k, b in enumerate(p.batteries):
        x = bat[k]
        assert np.all(x <= b.max_charge_w + 1e-9) and np.all(x >= -b.max_discharge_w - 1e-9)
        eta = np.sqrt(b.efficiency)
        soc = b.initial_wh + np.cumsum(np.where(x > 0, x * eta, x / eta) * dt)
        assert np.all(soc >= b.min_wh - 1e-6) and np.all(soc <= b.capacity_wh + 1e-6)
    forecast = np.array([p.series(g.power_w) for g in p.generation])
    assert np.all(gen >= 0.0) and np.all(gen <= forecast + 1e-9)
    cap = p.nodes[0].max_export_w
    if cap is not None:
        assert np.all(-plan.grid_w <= float(np.asarray(cap)) + 1e-6)


def test_rules_curtail_only_what_the_battery_does_not_take() -> None:
    """No export allowed, 5 kW of PV, no load, a lossless battery charging at most 3 kW:
    the battery takes 3,000 W and only the other 2,000 W of PV are curtailed (3,000 W
    used)."""
    # catches: the battery's share "surplus -= x" -> "+=" (all the PV curtailed)
    p = _site(3600, 1, [], nodes=[{"id": "grid", "max_power_w": 40000.0, "max_export_w": 0.0}],
              generation=[{"id": "pv", "node": "grid", "power_w": 5000.0}],
              batteries=[{"id": "b", "node": "grid", "capacity_wh": 10000.0,
                          "initial_wh": 0.0, "max_charge_w": 3000.0,
                          "max_discharge_w": 3000.0, "efficiency": 1.0}])
    plan = surplus_rules(p)
    np.testing.assert_allclose(plan.battery_power_w[0], [3000.0])
    np.testing.assert_allclose(plan.generation_w, [[3000.0]])


def test_rules_planned_car_on_half_hour_steps_takes_enough_cheap_steps() -> None:
    """Half-hour steps priced 0.5, 0.1, 0.1, 0.5; a planned car needing 8,280 Wh (a step
    at full power gives 11,040 x 0.5 = 5,520 Wh): both cheap steps, the second for the
    2,760 Wh left at 5,520 W."""
    # catches: a step's energy at full power "frac * dt * max" -> "frac / dt * max" (one
    # cheap step taken as enough)
    p = _site(1800, 4, [_car("planned", 8280.0, departure="12:00")],
              tariff={"price": [0.5, 0.1, 0.1, 0.5]})
    np.testing.assert_allclose(surplus_rules(p).session_power_w[0],
                               [0.0, 11040.0, 5520.0, 0.0])
