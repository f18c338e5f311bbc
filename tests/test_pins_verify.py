"""verify: every rule's documented tolerance, one test per rule (issue 13's mutation study).

:func:`smartcharge.optimizer.verify` documents that a value ``v`` breaks a limit ``L`` when
``v > L (1 + rtol) + atol``; each rule below is checked on both sides of that boundary with
large tolerances (``rtol = 0.1``, ``atol = 1``), so the boundary ``1.1 L + 1`` is far from
``L`` and from ``L +- atol``, and at the limit itself with zero tolerances (a value equal to
its limit is allowed). Every expected value is worked out by hand from the problem (1-hour
steps: W and Wh per step coincide unless stated).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from smartcharge.optimizer import Plan, Problem, verify
from smartcharge.optimizer.verify import ramp_violations

RTOL, ATOL = 0.1, 1.0  # the boundary of a limit L: 1.1 L + 1
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _problem(
    *, node: dict[str, Any] | None = None, evse: dict[str, Any] | None = None,
    session: dict[str, Any] | None = None, steps: int = 2, step_s: int = 3600,
    **extra: Any,
) -> Problem:
    """One DC EVSE (10 kW unless given) under node ``grid``, one session over the whole
    horizon needing 1 MWh unless given."""
    return Problem.model_validate({
        "horizon": {"start": T0.isoformat(), "step_s": step_s, "n_steps": steps},
        "nodes": [{"id": "grid", **(node or {})}],
        "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 10000.0,
                   **(evse or {})}],
        "sessions": [{"id": "s1", "evse": "e1", "arrival": T0.isoformat(),
                      "departure": (T0 + timedelta(seconds=steps * step_s)).isoformat(),
                      "energy_wh": 1e6, **(session or {})}],
        **extra,
    })


def _found(p: Problem, sp: list[list[float]], *, rtol: float = RTOL, atol: float = ATOL,
           **site: Any) -> list[tuple[str, int | None]]:
    """The (kind, step) of every violation, sorted."""
    plan = Plan(p, np.asarray(sp, dtype=np.float64), **site)
    return sorted((v.kind, v.step) for v in verify(p, plan, rtol=rtol, atol=atol))


def _values(p: Problem, sp: list[list[float]], **site: Any) -> list[tuple[Any, ...]]:
    """(kind, subject, step, value, limit, phase) of every violation, in verify's order."""
    plan = Plan(p, np.asarray(sp, dtype=np.float64), **site)
    return [(v.kind, v.subject, v.step, v.value, v.limit, v.phase)
            for v in verify(p, plan, rtol=RTOL, atol=ATOL)]


# ---- charging-only sessions ---------------------------------------------------------------


def test_verify_an_idle_plan_breaks_nothing_even_with_zero_tolerances() -> None:
    """0 W is neither negative nor below a minimum (0 or at least the minimum)."""
    p = _problem(session={"min_power_w": 1000.0})
    assert _found(p, [[0.0, 0.0]], rtol=0.0, atol=0.0) == []


def test_verify_session_max_boundary_is_limit_times_1_plus_rtol_plus_atol() -> None:
    p = _problem(session={"max_power_w": 1000.0})  # boundary 1,101 W
    assert _found(p, [[1100.5, 0.0]]) == []
    assert _found(p, [[0.0, 1101.5]]) == [("session_max", 1)]
    assert _found(p, [[1000.0, 0.0]], rtol=0.0, atol=0.0) == []
    assert _found(p, [[1000.01, 0.0]], rtol=0.0, atol=0.0) == [("session_max", 0)]


def test_verify_evse_max_boundary() -> None:
    """The EVSE's 1 kW is also the session's maximum: both rules report."""
    p = _problem(evse={"max_power_w": 1000.0})
    assert _found(p, [[1100.5, 0.0]]) == []
    assert _found(p, [[1101.5, 0.0]]) == [("evse_max", 0), ("session_max", 0)]
    assert ("evse_max", "e1", 0, 1101.5, 1000.0, None) in _values(p, [[1101.5, 0.0]])


def test_verify_node_power_boundary() -> None:
    p = _problem(node={"max_power_w": 1000.0})
    assert _found(p, [[1100.5, 1100.5]]) == []
    assert _values(p, [[1101.5, 0.0]]) == [("node_power", "grid", 0, 1101.5, 1000.0, None)]
    assert _found(p, [[1000.0, 1000.0]], rtol=0.0, atol=0.0) == []


def test_verify_energy_above_need_counts_step_hours() -> None:
    """Quarter-hour steps: need 250 Wh, boundary 1.1 x 250 + 1 = 276 Wh. 1,100 W for one
    step is 275 Wh (allowed), 1,108 W is 277 Wh (reported, value 277 Wh)."""
    p = _problem(session={"energy_wh": 250.0}, step_s=900)
    assert _found(p, [[1100.0, 0.0]]) == []
    assert _values(p, [[1108.0, 0.0]]) == [("energy_above_need", "s1", None, 277.0, 250.0,
                                            None)]
    assert _found(p, [[500.0, 500.0]], rtol=0.0, atol=0.0) == []  # exactly 250 Wh


def test_verify_energy_counts_only_the_part_of_a_step_a_session_is_there() -> None:
    """The session leaves at 01:30: half of step 1 counts. 1,000 W + 1,000 W x 0.5 is
    1,500 Wh, exactly its need."""
    p = _problem(session={"energy_wh": 1500.0,
                          "departure": (T0 + timedelta(minutes=90)).isoformat()})
    assert _found(p, [[1000.0, 1000.0]], rtol=0.0, atol=0.0) == []
    assert _found(p, [[1000.0, 1000.5]], rtol=0.0, atol=0.0) == [("energy_above_need", None)]


def test_verify_negative_power_of_a_charging_only_session_beyond_atol() -> None:
    p = _problem()
    assert _found(p, [[-0.5, 0.0]]) == []
    assert _values(p, [[0.0, -1.5]]) == [("negative", "s1", 1, -1.5, 0.0, None)]


def test_verify_min_current_zero_or_at_least_the_minimum_within_tolerance() -> None:
    """Minimum 1,000 W: below 1,000 x 0.9 - 1 = 899 W is reported, down to atol (1 W:
    treated as off)."""
    p = _problem(session={"min_power_w": 1000.0})
    assert _found(p, [[899.5, 0.5]]) == []
    assert _found(p, [[898.5, 1.5]]) == [("min_current", 0), ("min_current", 1)]
    assert _values(p, [[898.5, 0.0]]) == [("min_current", "s1", 0, 898.5, 1000.0, None)]
    assert _found(p, [[1000.0, 0.0]], rtol=0.0, atol=0.0) == []
    assert _found(p, [[999.99, 0.0]], rtol=0.0, atol=0.0) == [("min_current", 0)]


def test_verify_outside_window_beyond_atol_and_no_other_rule_there() -> None:
    """The session arrives at 01:00: step 0 is outside its window. 1.5 W there is
    reported as outside the window only (not also above the 1 kW session maximum)."""
    p = _problem(session={"arrival": (T0 + timedelta(hours=1)).isoformat(),
                          "max_power_w": 1000.0, "min_power_w": 500.0})
    assert _found(p, [[0.5, 0.0]]) == []
    assert _values(p, [[1.5, 0.0]]) == [("outside_window", "s1", 0, 1.5, 0.0, None)]
    assert _found(p, [[5000.0, 0.0]]) == [("outside_window", 0)]
    assert _found(p, [[0.0, 0.0]], rtol=0.0, atol=0.0) == []


def test_verify_not_finite_power_is_reported_once_and_counts_as_zero_elsewhere() -> None:
    p = _problem(session={"min_power_w": 1000.0})
    got = _values(p, [[float("nan"), 2000.0]])
    assert [g[:3] + g[4:] for g in got] == [("not_finite", "s1", 0, 0.0, None)]
    assert np.isnan(got[0][3])
    # with zero tolerances: not a power below the minimum, nor energy, nor anything else
    assert _found(p, [[float("nan"), 1000.0]], rtol=0.0, atol=0.0) == [("not_finite", 0)]
    full = _problem(session={"min_power_w": 1000.0, "energy_wh": 1000.0})
    assert _found(full, [[float("nan"), 1000.0]], rtol=0.0, atol=0.0) == [("not_finite", 0)]


# ---- V2X sessions -------------------------------------------------------------------------


def _v2x(**session: Any) -> Problem:
    return _problem(session={"max_discharge_w": 1000.0, "discharge_floor_wh": 1e6,
                             "energy_wh": 1e6, **session})


def test_verify_discharge_max_boundary_and_no_negative_for_v2x() -> None:
    """Discharging is allowed down to -1,000 W (boundary -1,101 W); charging back keeps
    the net energy >= 0."""
    p = _v2x()
    assert _found(p, [[-1100.5, 1100.5]]) == []
    assert _values(p, [[-1101.5, 1101.5]]) == [("discharge_max", "s1", 0, 1101.5, 1000.0,
                                                None)]


def test_verify_v2x_discharge_outside_the_window_is_outside_window_only() -> None:
    p = _v2x(arrival=(T0 + timedelta(hours=1)).isoformat())
    assert _found(p, [[-0.5, 0.0]]) == []
    assert _found(p, [[-5000.0, 5000.0]]) == [("outside_window", 0)]
    assert _values(p, [[-1.5, 0.0]]) == [("outside_window", "s1", 0, -1.5, 0.0, None)]
    assert _found(p, [[0.0, 0.0]], rtol=0.0, atol=0.0) == []


def test_verify_discharge_floor_reports_the_first_step_below_it() -> None:
    """Floor 1,000 Wh: the net energy since arrival may go down to -1.1 x 1,000 - 1 =
    -1,101 Wh. Three steps -600, -600, +1,200 W: -600, -1,200 (reported at step 1, value
    -1,200 Wh, limit -1,000 Wh), then 0."""
    p = _v2x(discharge_floor_wh=1000.0, max_discharge_w=5000.0)
    assert _found(p, [[-550.0, -550.0]]) == [("energy_below_arrival", None)]
    got = _values(p, [[-600.0, -600.0]])
    assert got[0] == ("discharge_floor", "s1", 1, -1200.0, -1000.0, None)
    p3 = _problem(session={"max_discharge_w": 5000.0, "discharge_floor_wh": 1000.0},
                  steps=3)
    assert _values(p3, [[-600.0, -600.0, 1200.0]]) == [
        ("discharge_floor", "s1", 1, -1200.0, -1000.0, None)]
    assert _found(p3, [[-500.0, -500.0, 1000.0]], rtol=0.0, atol=0.0) == []


def test_verify_energy_below_arrival_beyond_atol() -> None:
    p = _v2x()
    assert _found(p, [[-1000.0, 999.5]]) == []
    assert _values(p, [[-1000.0, 998.5]]) == [("energy_below_arrival", "s1", None, -1.5,
                                               0.0, None)]
    assert _found(p, [[-1000.0, 1000.0]], rtol=0.0, atol=0.0) == []


def test_verify_v2x_minimum_applies_to_the_magnitude() -> None:
    p = _v2x(min_power_w=1000.0)
    assert _found(p, [[-899.5, 899.5]]) == []
    assert _found(p, [[-898.5, 898.5]]) == [("min_current", 0), ("min_current", 1)]


def test_verify_v2x_discharge_beyond_the_evse_maximum_is_evse_max() -> None:
    """A 1 kW EVSE caps the discharge at 1 kW too: -1,101.5 W breaks the EVSE's maximum
    (value 1,101.5 W, the magnitude) and the session's discharge maximum."""
    p = _problem(evse={"max_power_w": 1000.0},
                 session={"max_discharge_w": 5000.0, "discharge_floor_wh": 1e6})
    assert _found(p, [[-1100.5, 1100.5]]) == []
    got = _values(p, [[-1101.5, 1101.5]])
    assert ("evse_max", "e1", 0, 1101.5, 1000.0, None) in got
    assert sorted(g[0] for g in got) == ["discharge_max", "evse_max", "evse_max",
                                         "session_max"]


def test_verify_node_export_boundary() -> None:
    p = _problem(node={"max_export_w": 1000.0},
                 session={"max_discharge_w": 5000.0, "discharge_floor_wh": 1e6})
    assert _found(p, [[-1100.5, 1100.5]]) == []
    assert _values(p, [[-1101.5, 1101.5]]) == [("node_export", "grid", 0, 1101.5, 1000.0,
                                                None)]


# ---- line currents, site load ---------------------------------------------------------------


def _one_phase(node: dict[str, Any], **extra: Any) -> Problem:
    """A 1-phase 230 V EVSE on L1 (16 A max), under ``grid``."""
    return Problem.model_validate({
        "horizon": {"start": T0.isoformat(), "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid", **node}],
        "evses": [{"id": "e1", "node": "grid", "phases": 1, "max_current_a": 16.0,
                   "min_current_a": 0.0}],
        "sessions": [{"id": "s1", "evse": "e1", "arrival": T0.isoformat(),
                      "departure": (T0 + timedelta(hours=2)).isoformat(),
                      "energy_wh": 1e6}],
        **extra,
    })


def test_verify_node_current_boundary_on_the_evse_line() -> None:
    """10 A on L1: boundary 1.1 x 10 + 1 = 12 A = 2,760 W at 230 V."""
    p = _one_phase({"max_current_a": 10.0})
    assert _found(p, [[2755.0, 2300.0]]) == []
    got = _values(p, [[2300.0, 2765.0]])
    assert [g[:3] + g[4:] for g in got] == [("node_current", "grid", 1, 10.0, "L1")]
    assert got[0][3] == pytest.approx(2765.0 / 230.0, rel=1e-12)


def test_verify_site_load_alone_over_the_limit_is_not_the_plans_fault() -> None:
    """Site load 2,000 W at step 0 under a 1,000 W node: with the EV off that step, no
    violation, even with zero tolerances; with the EV on it is the EV's (node_power)."""
    p = _problem(node={"max_power_w": 1000.0},
                 tariff={"site_load_w": [2000.0, 0.0]})
    assert _found(p, [[0.0, 500.0]], rtol=0.0, atol=0.0) == []
    assert _found(p, [[5.0, 500.0]], rtol=0.0, atol=0.0) == [("node_power", 0)]


def test_verify_a_discharge_that_relieves_a_site_overload_is_allowed() -> None:
    """Site load 2,000 W under a 1,000 W node: a V2X discharge of 500 W leaves 1,500 W,
    still over the limit but better than the site load alone."""
    p = _problem(node={"max_power_w": 1000.0},
                 session={"max_discharge_w": 5000.0, "discharge_floor_wh": 1e6},
                 tariff={"site_load_w": [2000.0, 0.0]})
    assert _found(p, [[-500.0, 500.0]], rtol=0.0, atol=0.0) == []


def test_verify_site_load_alone_over_a_current_limit_is_not_the_plans_fault() -> None:
    """A balanced 3-phase site load of 3 x 230 V x 12 A = 8,280 W breaks a 10 A node on
    every line at step 0; the EV off there: nothing reported. The EV on (1 A): L1 reported
    (13 A), the other lines are the site load's alone."""
    p = _one_phase({"max_current_a": 10.0}, tariff={"site_load_w": [8280.0, 0.0]})
    assert _found(p, [[0.0, 1000.0]], rtol=0.0, atol=0.0) == []
    got = _values(p, [[230.0, 1000.0]])
    assert [(g[0], g[2], g[5]) for g in got] == [("node_current", 0, "L1")]
    assert got[0][3] == pytest.approx(13.0, rel=1e-9)


# ---- ramps ----------------------------------------------------------------------------------


def test_verify_ramp_boundary_both_directions() -> None:
    """Ramp 1,000 W per step: boundary 1,101 W of change, up or down (value signed)."""
    p = _problem(node={"max_ramp_w": 1000.0}, steps=3)
    assert _found(p, [[0.0, 1100.5, 0.0]]) == []
    assert _values(p, [[0.0, 1101.5, 0.0]]) == [
        ("node_ramp", "grid", 1, 1101.5, 1000.0, None),
        ("node_ramp", "grid", 2, -1101.5, 1000.0, None)]
    assert _found(p, [[0.0, 1000.0, 0.0]], rtol=0.0, atol=0.0) == []


def test_verify_ramp_from_the_initial_power_counts_rises_only() -> None:
    """Initial power 500 W: step 0 may rise to 1,601 W; a drop from it is not checked at
    step 0 (any lower power is reachable). Without an initial power step 0 is free."""
    p = _problem(node={"max_ramp_w": 1000.0, "initial_power_w": 500.0})
    assert _found(p, [[1600.5, 1600.5]]) == []
    assert _values(p, [[1601.5, 1601.5]]) == [("node_ramp", "grid", 0, 1101.5, 1000.0,
                                               None)]
    high = _problem(node={"max_ramp_w": 1000.0, "initial_power_w": 5000.0})
    assert _found(high, [[0.0, 0.0]], rtol=0.0, atol=0.0) == []
    free = _problem(node={"max_ramp_w": 1000.0})
    assert _found(free, [[5000.0, 5000.0]]) == []


# ---- generation, batteries, surplus sessions -------------------------------------------------


def _site(**extra: Any) -> Problem:
    """1 kW of generation and a battery (5 kWh of 10 kWh, 1 kW charge, 2 kW discharge,
    efficiency 1) at ``grid``."""
    site: dict[str, Any] = {
        "generation": [{"id": "pv", "node": "grid", "power_w": 1000.0}],
        "batteries": [{"id": "b1", "node": "grid", "capacity_wh": 10000.0,
                       "initial_wh": 5000.0, "min_wh": 1000.0, "max_wh": 9000.0,
                       "max_charge_w": 1000.0, "max_discharge_w": 2000.0,
                       "efficiency": 1.0}],
    }
    return _problem(**{**site, **extra})


def _site_found(p: Problem, sp: list[list[float]], bat: list[float], gen: list[float],
                **tol: float) -> list[tuple[str, int | None]]:
    return _found(p, sp, battery_power_w=np.array([bat]), generation_w=np.array([gen]),
                  **tol)


def test_verify_generation_used_within_zero_and_the_forecast() -> None:
    p = _site()
    assert _site_found(p, [[0.0, 0.0]], [0.0, 0.0], [1100.5, -0.5]) == []
    assert _site_found(p, [[0.0, 0.0]], [0.0, 0.0], [1101.5, -1.5]) == [
        ("generation_range", 0), ("generation_range", 1)]
    assert _site_found(p, [[0.0, 0.0]], [0.0, 0.0], [float("nan"), 0.0]) == [
        ("generation_range", 0)]


def test_verify_battery_power_within_its_charge_and_discharge_limits() -> None:
    """Charge 1,000 W (boundary 1,101 W), discharge 2,000 W (boundary 2,201 W); the
    violation's limit is the one on the side broken."""
    p = _site()
    assert _site_found(p, [[0.0, 0.0]], [1100.5, -2200.5], [0.0, 0.0]) == []
    plan = Plan(p, np.zeros((1, 2)), battery_power_w=np.array([[1101.5, -2201.5]]),
                generation_w=np.zeros((1, 2)))
    got = [(v.kind, v.step, v.value, v.limit) for v in verify(p, plan, rtol=RTOL, atol=ATOL)
           if v.kind == "battery_power"]
    assert got == [("battery_power", 0, 1101.5, 1000.0), ("battery_power", 1, -2201.5, 2000.0)]
    assert _values(p, [[0.0, 0.0]], battery_power_w=np.array([[float("nan"), 0.0]]),
                   generation_w=np.zeros((1, 2)))[0][1:3] == ("b1", 0)
    nan = Plan(p, np.zeros((1, 2)), battery_power_w=np.array([[float("nan"), 0.0]]),
               generation_w=np.zeros((1, 2)))
    got = [(v.kind, v.subject, v.step, v.limit) for v in verify(p, nan, rtol=0.0, atol=0.0)]
    assert got == [("not_finite", "b1", 0, 0.0)]  # and counted as idle for its charge


def test_verify_battery_state_of_charge_within_min_and_max() -> None:
    """5,000 Wh at the start, efficiency 1: +1,000 W for an hour is 6,000 Wh. The upper
    bound 9,000 Wh is checked at 1.1 x 9,000 + 1 = 9,901 Wh, the lower 1,000 Wh at
    1,000 - (0.1 x 1,000 + 1) = 899 Wh."""
    hi = _site(batteries=[{"id": "b1", "node": "grid", "capacity_wh": 20000.0,
                           "initial_wh": 9000.0, "max_wh": 9000.0, "min_wh": 1000.0,
                           "max_charge_w": 5000.0, "max_discharge_w": 9000.0,
                           "efficiency": 1.0}])
    assert _site_found(hi, [[0.0, 0.0]], [900.5, 0.0], [0.0, 0.0]) == []
    plan = Plan(hi, np.zeros((1, 2)), battery_power_w=np.array([[901.5, 0.0]]),
                generation_w=np.zeros((1, 2)))
    got = [(v.kind, v.step, v.value, v.limit) for v in verify(hi, plan, rtol=RTOL, atol=ATOL)]
    assert got == [("battery_soc", 0, 9901.5, 9000.0), ("battery_soc", 1, 9901.5, 9000.0)]
    lo = _site(batteries=[{"id": "b1", "node": "grid", "capacity_wh": 20000.0,
                           "initial_wh": 1000.0, "max_wh": 9000.0, "min_wh": 1000.0,
                           "max_charge_w": 5000.0, "max_discharge_w": 9000.0,
                           "efficiency": 1.0}])
    assert _site_found(lo, [[0.0, 0.0]], [-100.5, 0.0], [0.0, 0.0]) == []
    plan = Plan(lo, np.zeros((1, 2)), battery_power_w=np.array([[-101.5, 0.0]]),
                generation_w=np.zeros((1, 2)))
    got = [(v.kind, v.step, v.value, v.limit) for v in verify(lo, plan, rtol=RTOL, atol=ATOL)]
    assert got == [("battery_soc", 0, 898.5, 1000.0), ("battery_soc", 1, 898.5, 1000.0)]
    assert _site_found(lo, [[0.0, 0.0]], [0.0, 0.0], [0.0, 0.0], rtol=0.0, atol=0.0) == []


def test_verify_pv_session_may_not_import_or_use_the_battery() -> None:
    """A ``pv`` session on 1 kW of generation: 1,000 W is all surplus (root 0 W); 1,002 W
    imports 2 W (reported beyond atol); with the battery discharging 2 W, the battery rule
    reports too. 0.5 W drawn is within atol: not drawing, nothing checked."""
    p = _problem(session={"mode": "pv"},
                 generation=[{"id": "pv", "node": "grid", "power_w": 1000.0}],
                 batteries=[{"id": "b1", "node": "grid", "capacity_wh": 10000.0,
                             "initial_wh": 5000.0, "max_charge_w": 1000.0,
                             "max_discharge_w": 2000.0}])
    assert _site_found(p, [[1000.0, 0.0]], [0.0, 0.0], [1000.0, 0.0], rtol=0.0,
                       atol=0.0) == []
    assert _site_found(p, [[1000.5, 0.0]], [0.0, 0.0], [1000.0, 0.0]) == []
    assert _site_found(p, [[1002.0, 0.0]], [0.0, 0.0], [1000.0, 0.0]) == [
        ("surplus_import", 0)]
    assert _site_found(p, [[998.0, 0.0]], [-2.0, 0.0], [1000.0, 0.0]) == [
        ("surplus_battery", 0)]
    assert _site_found(p, [[998.0, 0.0]], [-0.5, 0.0], [1000.0, 0.0]) == []
    # not drawing (within atol): the site may import and the battery discharge
    assert _site_found(p, [[0.5, 0.0]], [-2.0, 0.0], [0.0, 0.0]) == []
    loaded = _problem(session={"mode": "pv"}, tariff={"site_load_w": 500.0},
                      generation=[{"id": "pv", "node": "grid", "power_w": 1000.0}])
    assert _found(loaded, [[0.0, 0.0]], rtol=0.0, atol=0.0,
                  generation_w=np.zeros((1, 2))) == []
    # the site load counts: 500 W of EV on 1,000 W of generation with 500 W of site load
    assert _found(loaded, [[500.0, 0.0]], rtol=0.0, atol=0.0,
                  generation_w=np.array([[1000.0, 0.0]])) == []
    assert _found(loaded, [[500.5, 0.0]], rtol=0.0, atol=0.0,
                  generation_w=np.array([[1000.0, 0.0]])) == [("surplus_import", 0)]


def test_verify_min_pv_session_may_import_for_its_minimum_only() -> None:
    """A ``min_pv`` session, minimum 1,000 W, no generation used: drawing its minimum
    from the grid is allowed (boundary 1.1 x 1,000 + 1 = 1,101 W); more must be surplus."""
    p = _problem(session={"mode": "min_pv", "min_power_w": 1000.0},
                 generation=[{"id": "pv", "node": "grid", "power_w": 0.0}])
    assert _site_found_gen(p, [[1100.5, 1000.0]]) == []
    assert _site_found_gen(p, [[1101.5, 1000.0]]) == [("surplus_import", 0)]


def _site_found_gen(p: Problem, sp: list[list[float]]) -> list[tuple[str, int | None]]:
    return _found(p, sp, generation_w=np.zeros((1, 2)))


def test_verify_default_tolerances_are_1e_9_relative_and_1e_6_absolute() -> None:
    """Defaults: a 1,000 W limit is broken above 1,000 (1 + 1e-9) + 1e-6 = 1,000.000002 W;
    the same for a ramp of 1,000 W per step."""
    p = _problem(node={"max_power_w": 1000.0, "max_ramp_w": 1000.0})
    ok = Plan.from_session_power(p, [[1000.0000015, 0.0]])
    assert verify(p, ok) == []
    bad = Plan.from_session_power(p, [[1000.0000025, 0.0]])
    assert sorted((v.kind, v.step) for v in verify(p, bad)) == [("node_power", 0),
                                                                 ("node_ramp", 1)]
    assert [v.kind for v in ramp_violations(p.network(), np.array([[0.0, 1000.0000025]]))] \
        == ["node_ramp"]
    assert ramp_violations(p.network(), np.array([[0.0, 1000.0000015]])) == []


def test_verify_discharge_floor_counts_step_hours_and_the_part_of_a_step_present() -> None:
    """Quarter-hour steps, arrival at 00:07:30 (half of step 0): -1,000 W in step 0 lends
    1,000 x 0.5 x 0.25 = 125 Wh, exactly a 125 Wh floor; -1,004 W lends 125.5 Wh."""
    p = _problem(session={"max_discharge_w": 5000.0, "discharge_floor_wh": 125.0,
                          "arrival": (T0 + timedelta(seconds=450)).isoformat()},
                 step_s=900)
    assert _found(p, [[-1000.0, 1000.0]], rtol=0.0, atol=0.0) == []
    assert _values(p, [[-1004.0, 1004.0]]) == []  # within the tolerance (1.1 x 125 + 1)
    plan = Plan.from_session_power(p, [[-1004.0, 1004.0]])
    got = [(v.kind, v.step, v.value, v.limit) for v in verify(p, plan, rtol=0.0, atol=0.0)]
    assert got == [("discharge_floor", 0, -125.5, -125.0)]


def test_verify_checks_a_limit_set_at_some_steps_only() -> None:
    """``max_power_w`` / ``max_current_a`` given per step with ``None`` (no limit) at step
    0: step 1 is still checked."""
    p = _problem(node={"max_power_w": [None, 1000.0]})
    assert _found(p, [[5000.0, 1000.0]], rtol=0.0, atol=0.0) == []
    assert _found(p, [[5000.0, 1001.0]], rtol=0.0, atol=0.0) == [("node_power", 1)]
    # the same with exports unlimited at every step
    p = _problem(node={"max_power_w": [None, 1000.0], "max_export_w": [None, None]})
    assert _found(p, [[5000.0, 1001.0]], rtol=0.0, atol=0.0) == [("node_power", 1)]
    q = _one_phase({"max_current_a": [None, 10.0]})
    assert _found(q, [[3680.0, 2300.0]], rtol=0.0, atol=0.0) == []
    assert _found(q, [[3680.0, 2310.0]], rtol=0.0, atol=0.0) == [("node_current", 1)]


def _gen_bat(node: dict[str, Any]) -> Problem:
    """The 1-phase EVSE (on L1) of :func:`_one_phase` with 2,070 W of generation and a
    2,070 W battery at ``grid``: balanced, 3 A per line (2,070 / 690 V)."""
    return _one_phase(node, generation=[{"id": "pv", "node": "grid", "power_w": 2070.0}],
                      batteries=[{"id": "b1", "node": "grid", "capacity_wh": 1e6,
                                  "initial_wh": 5e5, "max_charge_w": 2070.0,
                                  "max_discharge_w": 2070.0, "efficiency": 1.0}])


def test_verify_node_power_counts_generation_and_batteries_below_the_node() -> None:
    """A 1,000 W node: the EV's 3,070 W with 2,070 W of generation is 1,000 W (allowed,
    zero tolerances); with the battery charging 2,070 W too it is 3,070 W (reported)."""
    p = _gen_bat({"max_power_w": 1000.0})
    gen, idle, charging = np.array([[2070.0, 0.0]]), np.zeros((1, 2)), np.array([[2070.0, 0.0]])
    assert _found(p, [[3070.0, 1000.0]], rtol=0.0, atol=0.0, battery_power_w=idle,
                  generation_w=gen) == []
    assert _found(p, [[3070.0, 1000.0]], rtol=0.0, atol=0.0, battery_power_w=charging,
                  generation_w=gen) == [("node_power", 0)]


def test_verify_line_currents_count_generation_and_batteries_below_the_node() -> None:
    """A 10 A node: the EV's 12 A on L1 less the generation's balanced 3 A is 9 A
    (allowed); the battery charging its 3 A per line instead makes 15 A on L1 (reported)."""
    p = _gen_bat({"max_current_a": 10.0})
    gen, idle = np.array([[2070.0, 0.0]]), np.zeros((1, 2))
    assert _found(p, [[2760.0, 0.0]], rtol=0.0, atol=0.0, battery_power_w=idle,
                  generation_w=gen) == []
    got = _found(p, [[2760.0, 0.0]], rtol=0.0, atol=0.0,
                 battery_power_w=np.array([[2070.0, 0.0]]), generation_w=np.zeros((1, 2)))
    assert got == [("node_current", 0)]


def test_verify_a_battery_charging_at_an_overloaded_node_is_the_plans_fault() -> None:
    """Site load 2,000 W under a 1,000 W node, EV off: a battery charging 0.5 W is within
    atol (1 W) of the site load alone; charging 1.5 W makes it worse (reported)."""
    p = _one_phase({"max_power_w": 1000.0}, tariff={"site_load_w": [2000.0, 0.0]},
                   batteries=[{"id": "b1", "node": "grid", "capacity_wh": 1e6,
                               "initial_wh": 5e5, "max_charge_w": 2070.0,
                               "max_discharge_w": 2070.0, "efficiency": 1.0}])
    assert _found(p, [[0.0, 0.0]], battery_power_w=np.array([[0.5, 0.0]])) == []
    assert _found(p, [[0.0, 0.0]], battery_power_w=np.array([[1.5, 0.0]])) == [
        ("node_power", 0)]


def test_verify_zero_ramp_holds_the_power_but_a_first_step_drop_is_free() -> None:
    """``max_ramp_w = 0``: the node's EV power may not change between steps; from an
    initial 5,000 W, dropping to 0 W at step 0 is allowed (only rises are checked there)."""
    p = _problem(node={"max_ramp_w": 0.0, "initial_power_w": 5000.0})
    assert _found(p, [[0.0, 0.0]], rtol=0.0, atol=0.0) == []
    assert _found(p, [[0.0, 1.0]], rtol=0.0, atol=0.0) == [("node_ramp", 1)]
    assert _found(p, [[5001.0, 5001.0]], rtol=0.0, atol=0.0) == [("node_ramp", 0)]


def test_verify_surplus_battery_reports_the_largest_discharge() -> None:
    """Two batteries while a ``pv`` session draws surplus: one charging 5 W, one
    discharging 2 W: the violation's value is the 2 W discharged."""
    bat = {"node": "grid", "capacity_wh": 1e4, "initial_wh": 5e3, "max_charge_w": 1e3,
           "max_discharge_w": 1e3}
    p = _problem(session={"mode": "pv"},
                 generation=[{"id": "pv", "node": "grid", "power_w": 2000.0}],
                 batteries=[{"id": "b1", **bat}, {"id": "b2", **bat}])
    plan = Plan(p, np.array([[1000.0, 0.0]]), battery_power_w=np.array([[5.0, 0.0],
                                                                       [-2.0, 0.0]]),
                generation_w=np.array([[2000.0, 0.0]]))
    got = [(v.kind, v.subject, v.step, v.value) for v in verify(p, plan, rtol=0.0, atol=0.0)]
    assert got == [("surplus_battery", "s1", 0, 2.0)]
