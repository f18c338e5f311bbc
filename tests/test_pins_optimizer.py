"""Pins of issue 13, round 3: behaviours of the optimizer that the first mutation run of
``optimizer/solve``, ``_network``, ``plan``, ``problem``, ``_lp`` and ``_model`` showed
untested (docs/testing.md, "Round 3"). One test each, named for the behaviour; values worked
out by hand in the docstrings, never read back from the code under test. Everything goes
through public or stable entry points (``optimize``, ``replan``, ``verify``, ``Problem``,
``Plan``, ``Problem.network()``, ``_lp.solve_lp``), never a private helper's signature."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer import (
    EVSE,
    Objective,
    Plan,
    Problem,
    SolverStatus,
    Tariff,
    optimize,
    verify,
)
from smartcharge.optimizer.plan import Timings

_lp = importlib.import_module("smartcharge.optimizer._lp")


def _one_column(lo: float = 0.0, hi: float = 1.0, row_hi: float = 1.0) -> dict[str, Any]:
    """``min -x`` with ``lo <= x <= hi`` and one row ``0 <= x <= row_hi``: optimum
    ``x = min(hi, row_hi)``, infeasible when ``lo > row_hi``."""
    one = np.ones(1)
    return {"lb": np.array([lo]), "ub": np.array([hi]), "c": -one, "row_lb": np.zeros(1),
            "row_ub": np.array([row_hi]), "indptr": np.array([0, 1], dtype=np.int64),
            "indices": np.zeros(1, dtype=np.int64), "data": one}


@pytest.mark.parametrize("solver", ["glop", "highs", "highs-simplex"])
@pytest.mark.parametrize("path", ["sparse", "proto"])
def test_every_lp_solver_and_load_path_solves_and_says_which_path(
    solver: str, path: str
) -> None:
    """The optimum of the one-column LP is x = 0.5 (the row binds) on both load paths and
    with every LP solver; the result names the path asked for."""
    res = _lp.solve_lp(**_one_column(row_hi=0.5), path=path, solver=solver)
    assert res.status == "optimal" and res.path == path
    assert res.x is not None and res.x.tolist() == pytest.approx([0.5], abs=1e-9)
    assert res.objective == pytest.approx(-0.5, abs=1e-9)


def test_the_auto_load_path_is_the_sparse_one_when_scipy_is_there() -> None:
    pytest.importorskip("scipy.sparse")
    assert _lp.solve_lp(**_one_column(), path="auto", solver="glop").path == "sparse"


def test_without_the_sparse_helpers_auto_falls_back_to_proto_and_sparse_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No scipy (the sparse helpers missing): ``path="auto"`` solves through the public
    protocol-buffer API; ``path="sparse"`` says it is unavailable instead of switching."""
    def missing() -> tuple[Any, Any]:
        raise ImportError("no scipy here")

    monkeypatch.setattr(_lp, "_sparse_modules", missing)
    auto = _lp.solve_lp(**_one_column(), path="auto", solver="glop")
    assert auto.status == "optimal" and auto.path == "proto"
    sparse = _lp.solve_lp(**_one_column(), path="sparse", solver="glop")
    assert sparse.status == "failed" and sparse.x is None and sparse.path == "sparse"
    assert "sparse path unavailable" in sparse.message


@pytest.mark.parametrize("path", ["sparse", "proto"])
def test_an_infeasible_lp_reports_no_solution_and_true_durations(path: str) -> None:
    """x >= 2 against a row x <= 1: no x, a NaN objective, and build / solve times that
    are durations (>= 0 s and far below a minute), not clock readings."""
    res = _lp.solve_lp(**_one_column(lo=2.0, hi=3.0, row_hi=1.0), path=path, solver="highs")
    assert res.status in ("infeasible", "failed") and res.x is None
    assert np.isnan(res.objective)
    assert 0.0 <= res.build_s < 60.0 and 0.0 <= res.solve_s < 60.0


@pytest.mark.parametrize("path", ["sparse", "proto"])
def test_scip_honours_integer_columns_on_both_load_paths(path: str) -> None:
    """max x with x <= 1.5 (row) and x in [0, 3]: 1.5 as an LP, 1 with x integer (SCIP)."""
    res = _lp.solve_lp(**_one_column(hi=3.0, row_hi=1.5), path=path, solver="scip",
                       integer=np.zeros(1, dtype=np.int64))
    assert res.status == "optimal" and res.x is not None
    assert res.x.tolist() == pytest.approx([1.0], abs=1e-9)


def _wide_lp(n: int = 4000, seed: int = 0) -> dict[str, Any]:
    """A random dense-ish LP big enough that no solver finishes it in a millisecond:
    ``n`` columns in [0, 1], 40 rows of random positive coefficients."""
    rng = np.random.default_rng(seed)
    rows = 40
    data = rng.uniform(0.1, 1.0, size=rows * n)
    return {"lb": np.zeros(n), "ub": np.ones(n), "c": -rng.uniform(0.5, 1.0, size=n),
            "row_lb": np.full(rows, -np.inf), "row_ub": np.full(rows, n / 10.0),
            "indptr": np.arange(rows + 1, dtype=np.int64) * n,
            "indices": np.tile(np.arange(n, dtype=np.int64), rows), "data": data}


@pytest.mark.parametrize("path", ["sparse", "proto"])
def test_a_generous_time_limit_does_not_cut_a_solve_short(path: str) -> None:
    """A 60 s limit on an LP that takes well under a second is an optimal solve, the same
    as with no limit (a limit is a cap, never shortened)."""
    lp = _wide_lp()
    free = _lp.solve_lp(**lp, path=path, solver="glop")
    capped = _lp.solve_lp(**lp, path=path, solver="glop", time_limit_s=60.0)
    assert free.status == capped.status == "optimal"
    assert capped.objective == pytest.approx(free.objective, rel=1e-9)



@pytest.mark.parametrize("path", ["sparse", "proto"])
def test_a_time_limit_too_short_to_finish_gives_no_solution_rather_than_a_late_one(
    path: str,
) -> None:
    """A microsecond for an LP that takes a good part of a second: the solver stops at the
    (1 ms floor of the) limit and says so, no x; it does not run on to the optimum."""
    res = _lp.solve_lp(**_wide_lp(), path=path, solver="glop", time_limit_s=1e-6)
    assert res.status == "failed" and res.x is None


# ---- Plan: metrics and OCPP profiles of a hand-made power array ---------------------------

def _two_evse_problem(**tariff: Any) -> Problem:
    """Half-hour steps from midnight, four of them. EVSE ``e1``: three-phase 230 V, 16 A
    (690 W per A); ``e2``: single-phase 230 V on L1, 32 A (230 W per A). Session ``a`` on
    e1 from 00:00 to 02:00 (every step whole), wants 10 kWh, transaction ``tx-a``; session
    ``b`` on e2 from 00:15 (half of step 0) to 01:30 (steps 0-2), wants 5 kWh. Site load
    1 kW at the root (limit 50 kW). Prices 0.1-0.4 per kWh, CO2 400-100 g/kWh, demand
    charge 10 per kW."""
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 1800, "n_steps": 4},
        "nodes": [{"id": "site", "max_power_w": 50000.0}],
        "evses": [{"id": "e1", "node": "site", "max_current_a": 16.0},
                  {"id": "e2", "node": "site", "phases": 1, "max_current_a": 32.0}],
        "sessions": [
            {"id": "a", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
             "departure": "2024-01-01T02:00:00Z", "energy_wh": 10000.0,
             "transaction_id": "tx-a"},
            {"id": "b", "evse": "e2", "arrival": "2024-01-01T00:15:00Z",
             "departure": "2024-01-01T01:30:00Z", "energy_wh": 5000.0},
        ],
        "tariff": {"price": (0.1, 0.2, 0.3, 0.4), "co2_g_per_kwh": (400.0, 300.0, 200.0, 100.0),
                   "demand_charge_per_kw": 10.0, "site_load_w": 1000.0, **tariff},
    })


# a: 10 A, 6 A, 0, 4 A (x 690 W); b: 10 A, 20 A, 0, 0 (x 230 W)
_POWER = [[6900.0, 4140.0, 0.0, 2760.0], [2300.0, 4600.0, 0.0, 0.0]]


def test_plan_metrics_of_a_hand_made_array_are_the_hand_worked_ones() -> None:
    """Delivered Wh = power x plugged-in share x 0.5 h: a 3450 + 2070 + 0 + 1380 = 6900,
    b 575 (half of step 0) + 2300 = 2875; per step 4025, 4370, 0, 1380 Wh. Cost: 402.5 +
    874 + 0 + 552 = 1828.5 per 1000 = 1.8285; CO2 (1,610,000 + 1,311,000 + 138,000) / 1000
    = 3059 g. Root power (EVSE limits, whole steps, + 1 kW load): 10200, 9740, 1000, 3760:
    peak 10.2 kW, demand cost 102. Currents: e1 10, 6, 0, 4 A; e2 10, 20, 0, 0 A. Grid
    (energy-weighted: b half of step 0): 9050, 9740, 1000, 3760 W, 11,775 Wh imported, no
    export, bill (4.525 x 0.1 + 4.87 x 0.2 + 0.5 x 0.3 + 1.88 x 0.4) = 2.3285. Share:
    9775 of 15000 Wh."""
    plan = Plan.from_session_power(_two_evse_problem(), _POWER)
    assert plan.status is SolverStatus.FEASIBLE and plan.message == ""
    assert plan.timings.build == plan.timings.solve == plan.timings.extract == 0.0
    assert plan.timings.total == 0.0
    assert plan.energy_wh.tolist() == pytest.approx([6900.0, 2875.0])
    assert plan.power_w.tolist() == _POWER
    np.testing.assert_allclose(plan.current_a, [[10, 6, 0, 4], [10, 20, 0, 0]])
    assert plan.cost == pytest.approx(1.8285)
    assert plan.co2_g == pytest.approx(3059.0)
    assert plan.peak_w == pytest.approx(10200.0)
    assert plan.demand_cost == pytest.approx(102.0)
    assert plan.node_power("site").tolist() == pytest.approx([10200, 9740, 1000, 3760])
    assert plan.grid_w.tolist() == pytest.approx([9050, 9740, 1000, 3760])
    assert plan.import_wh == pytest.approx(11775.0)
    assert plan.export_wh == 0.0
    assert plan.grid_cost == pytest.approx(2.3285)
    assert plan.self_consumption == 1.0
    assert plan.energy_needed_wh == 15000.0
    assert plan.share_delivered == pytest.approx(9775.0 / 15000.0)
    assert plan.discharged_wh.tolist() == [0.0, 0.0]
    assert plan.session_ids == ("a", "b") and plan.evse_ids == ("e1", "e2")
    for name in ("session_power_w", "power_w", "current_a", "energy_wh"):
        assert not getattr(plan, name).flags.writeable, name


def test_plan_line_currents_are_the_phasor_sums_of_its_evses_and_the_site_load() -> None:
    """At step 1: e1 (three-phase) 6 A on every line, e2 (L1) 20 A on L1, the 1 kW
    balanced load 1000 / 690 A on every line, all in phase with their line voltages:
    L1 27.449 A, L2 and L3 7.449 A."""
    plan = Plan.from_session_power(_two_evse_problem(), _POWER)
    mags = np.abs(plan.line_currents("site"))[:, 1]
    load = 1000.0 / 690.0
    assert mags.tolist() == pytest.approx([26.0 + load, 6.0 + load, 6.0 + load])


def test_plan_profiles_floor_each_step_to_a_tenth_and_merge_equal_neighbours() -> None:
    """Amps: a 10, 6, 0, 4 A (three phases) -> four periods from 0, 1800, 3600, 5400 s;
    b 10, 20, 0, 0 A (one phase) -> three (the two zeros merge). Ids 1 and 2 (profile_id
    + index), stack level 0, TxProfile, Absolute from the horizon start for 7200 s, a's
    transaction id. In W the limits are the powers."""
    plan = Plan.from_session_power(_two_evse_problem(), _POWER)
    amps = plan.to_charging_profiles()
    assert [(p.evse_id, p.session_id, p.lossy_steps) for p in amps] == [
        ("e1", "a", ()), ("e2", "b", ())]
    a, b = (p.profile for p in amps)
    assert (a.id, a.stack_level, b.id) == (1, 0, 2)
    assert str(a.charging_profile_purpose) == "TxProfile"
    assert str(a.charging_profile_kind) == "Absolute"
    assert a.transaction_id == "tx-a" and b.transaction_id is None
    sa = a.charging_schedule[0]
    assert sa.duration == 7200 and sa.start_schedule == plan.problem.horizon.start
    assert [(q.start_period, q.limit, q.number_phases) for q in sa.charging_schedule_period] \
        == [(0, 10.0, 3), (1800, 6.0, 3), (3600, 0.0, 3), (5400, 4.0, 3)]
    sb = b.charging_schedule[0]
    assert [(q.start_period, q.limit, q.number_phases) for q in sb.charging_schedule_period] \
        == [(0, 10.0, 1), (1800, 20.0, 1), (3600, 0.0, 1)]
    watts = plan.to_charging_profiles("W", stack_level=3, profile_id=10)
    assert [p.profile.id for p in watts] == [10, 11]
    assert {p.profile.stack_level for p in watts} == {3}
    assert [q.limit for q in watts[1].profile.charging_schedule[0].charging_schedule_period] \
        == [2300.0, 4600.0, 0.0]


def test_plan_profiles_round_down_never_up() -> None:
    """6.99 A -> 6.9 A, 7.05 A -> 7.0 A (never 7.1), a negative value -> 0; whole tenths
    that float arithmetic puts a hair below (6 A x 690 / 690) stay whole."""
    p = _two_evse_problem()
    plan = Plan.from_session_power(p, [[6.99 * 690, 7.05 * 690, 6.0 * 690, -5.0],
                                       [0.0, 0.0, 0.0, 0.0]])
    periods = plan.to_charging_profiles()[0].profile.charging_schedule[0]
    assert [q.limit for q in periods.charging_schedule_period] == [6.9, 7.0, 6.0, 0.0]


def _with_site_assets() -> Problem:
    """:func:`_two_evse_problem` with a PV array (forecast 0, 5, 5, 0 kW), a 10 kWh
    battery at 5 kWh (3 kW both ways, lossless) and a feed-in price of 0.05."""
    base = _two_evse_problem(export_price=0.05).model_dump()
    base["generation"] = [{"id": "pv", "node": "site", "power_w": (0.0, 5000.0, 5000.0, 0.0)}]
    base["batteries"] = [{"id": "bat", "node": "site", "capacity_wh": 10000.0,
                          "initial_wh": 5000.0, "max_charge_w": 3000.0,
                          "max_discharge_w": 3000.0, "efficiency": 1.0}]
    return Problem.model_validate(base)


def test_plan_metrics_count_the_battery_and_the_generation_used() -> None:
    """Battery +2 kW, 0, -1 kW, 0; PV used 0, 4, 5, 0 kW. Root power = EVSEs + load +
    battery - PV: 12200, 5740, -5000, 3760 (peak 12.2 kW, demand cost 122); grid (energy
    weighted) 11050, 5740, -5000, 3760: 10,275 Wh in, 2,500 Wh out; bill 0.5525 + 0.574 +
    0.752 - 2.5 x 0.05 = 1.7535; 4,500 Wh of PV used, 2,500 exported: self-consumption 4/9;
    battery 6000, 6000, 5500, 5500 Wh."""
    p = _with_site_assets()
    plan = Plan(p, np.array(_POWER), battery_power_w=np.array([[2000.0, 0.0, -1000.0, 0.0]]),
                generation_w=np.array([[0.0, 4000.0, 5000.0, 0.0]]))
    assert plan.peak_w == pytest.approx(12200.0)
    assert plan.demand_cost == pytest.approx(122.0)
    assert plan.grid_w.tolist() == pytest.approx([11050, 5740, -5000, 3760])
    assert plan.import_wh == pytest.approx(10275.0)
    assert plan.export_wh == pytest.approx(2500.0)
    assert plan.grid_cost == pytest.approx(1.7535)
    assert plan.self_consumption == pytest.approx(4.0 / 9.0)
    np.testing.assert_allclose(plan.soc_wh, [[6000.0, 6000.0, 5500.0, 5500.0]])
    # not given: the battery idle, all of the forecast used
    idle = Plan(p, np.array(_POWER))
    assert idle.battery_power_w is not None and idle.generation_w is not None
    assert idle.battery_power_w.tolist() == [[0.0] * 4]
    assert idle.generation_w.tolist() == [[0.0, 5000.0, 5000.0, 0.0]]
    assert idle.peak_w == pytest.approx(10200.0)


@pytest.mark.parametrize(("field", "value"), [
    ("session_power_w", np.zeros((2, 3))),
    ("battery_power_w", np.zeros((2, 4))),
    ("generation_w", np.zeros(4)),
])
def test_a_plan_of_the_wrong_shape_is_refused_naming_the_array(field: str, value: Any) -> None:
    p = _with_site_assets()
    kwargs: dict[str, Any] = {"session_power_w": np.array(_POWER), field: value}
    with pytest.raises(InvalidProblemError) as err:
        Plan(p, **kwargs)
    assert err.value.path == field and err.value.rule == "shape"


def test_plan_profiles_skip_sessions_outside_the_horizon_unless_asked() -> None:
    """Session ``c`` arrives at 03:00, after the horizon (00:00-02:00): no profile by
    default; with ``only_active=False`` an all-zero one (id 3: problem order)."""
    data = _two_evse_problem().model_dump()
    data["sessions"] = [*data["sessions"], {
        "id": "c", "evse": "e2", "arrival": "2024-01-01T03:00:00Z",
        "departure": "2024-01-01T04:00:00Z", "energy_wh": 1000.0}]
    plan = Plan.from_session_power(Problem.model_validate(data), [*_POWER, [0.0] * 4])
    assert [p.session_id for p in plan.to_charging_profiles()] == ["a", "b"]
    every = plan.to_charging_profiles(only_active=False)
    assert [(p.session_id, p.profile.id) for p in every] == [("a", 1), ("b", 2), ("c", 3)]
    assert [q.limit for q in every[2].profile.charging_schedule[0].charging_schedule_period] \
        == [0.0]


def _alternating(n_steps: int) -> Plan:
    """One three-phase session over ``n_steps`` one-minute steps at 6 A and 7 A in turn:
    ``n_steps`` periods."""
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 60, "n_steps": n_steps},
        "nodes": [{"id": "site"}],
        "evses": [{"id": "e1", "node": "site", "max_current_a": 16.0}],
        "sessions": [{"id": "a", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-02T00:00:00Z", "energy_wh": 1e6}],
    })
    amps = np.where(np.arange(n_steps) % 2 == 0, 6.0, 7.0)
    return Plan.from_session_power(p, (amps * 690.0)[None, :])


def test_plan_profiles_hold_at_most_the_1024_periods_ocpp_allows() -> None:
    got = _alternating(1024).to_charging_profiles()
    assert len(got[0].profile.charging_schedule[0].charging_schedule_period) == 1024
    with pytest.raises(InvalidProblemError) as err:
        _alternating(1025).to_charging_profiles()
    assert (err.value.path, err.value.rule) == ("chargingSchedulePeriod", "maxItems")


def test_plan_timings_total_is_the_sum_of_the_phases() -> None:
    assert Timings(build=0.5, solve=2.0, extract=0.25).total == 2.75
    assert Timings().total == 0.0


def test_plan_profiles_list_as_lossy_only_the_discharging_steps_while_plugged_in() -> None:
    """A V2X session plugged in for steps 0-1 discharges 4 A at step 0 (OCPP 2.0.1 can only
    say 0 A there: lossy) and charges 2 A at step 1; the array also says -1 A at step 2,
    after it left: not a step of the session, so not lossy (and 0 A in the profile)."""
    data = _two_evse_problem().model_dump()
    data["sessions"] = [{**data["sessions"][0], "departure": "2024-01-01T01:00:00Z",
                         "max_discharge_w": 5000.0}]
    plan = Plan.from_session_power(Problem.model_validate(data),
                                   [[-2760.0, 1380.0, -690.0, 0.0]])
    (got,) = plan.to_charging_profiles()
    assert got.lossy_steps == (0,)
    periods = got.profile.charging_schedule[0].charging_schedule_period
    assert [(q.start_period, q.limit) for q in periods] == [(0, 0.0), (1800, 2.0), (3600, 0.0)]
    assert plan.discharged_wh.tolist() == pytest.approx([1380.0])


# ---- Problem: validation rules and derived values -----------------------------------------

def _evse(**over: Any) -> dict[str, Any]:
    return {"id": "e1", "node": "site", "max_current_a": 16.0, **over}


@pytest.mark.parametrize("line", [0.5, 1.0, 400.0])
def test_any_positive_line_voltage_gives_the_phase_voltage(line: float) -> None:
    """``line_voltage_v`` alone: ``voltage_v = line / sqrt(3)``, whatever its size."""
    e = EVSE.model_validate(_evse(line_voltage_v=line))
    assert e.voltage_v == pytest.approx(line / 3 ** 0.5)


# ---- Network: the node rows are an inner approximation of every current limit --------------

def _mixed_site(site_load_w: tuple[float, ...], v2x: bool = False) -> Problem:
    """A 20 A node with a balanced site load (per step) and five EVSEs: three-phase, L1, L2,
    L1-L2 and L3-L1 (so each line sees a cone of phasor directions, and a site load
    direction inside or outside it); with ``v2x`` the L1-L2 EVSE's session may discharge."""
    conns: list[dict[str, Any]] = [{"phases": 3}, {"phases": 1, "connection": "L1"},
                                   {"phases": 1, "connection": "L2"},
                                   {"phases": 1, "connection": "L1-L2"},
                                   {"phases": 1, "connection": "L3-L1"}]
    n = len(site_load_w)
    sessions = [{"id": f"s{i}", "evse": f"e{i}", "arrival": "2024-01-01T00:00:00Z",
                 "departure": "2024-01-02T00:00:00Z", "energy_wh": 1e5,
                 "max_discharge_w": 3000.0 if v2x and i == 3 else 0.0}
                for i in range(len(conns))]
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": n},
        "nodes": [{"id": "site", "max_current_a": 20.0}],
        "evses": [{"id": f"e{i}", "node": "site", "max_current_a": 32.0, **c}
                  for i, c in enumerate(conns)],
        "sessions": sessions,
        "tariff": {"site_load_w": site_load_w},
    })


@given(st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5), st.booleans(), st.booleans())
def test_power_at_the_edge_of_the_node_rows_never_breaks_the_exact_current_limit(
    direction: list[float], v2x: bool, flip: bool,
) -> None:
    """Any EVSE powers meeting a node's linear rows meet its exact limit (the rows are an
    INNER polygon of each line's current circle, site load included): take any direction of
    EVSE powers (the V2X EVSE's maybe negative), scale it to the edge of the rows, and the
    exact line currents there are within 20 A; and no closer than cos(5 deg) to the circle
    inside (the 10-degree polygon loses at most 0.4 % of the limit) without a site load."""
    d = np.array(direction)
    assume(d.sum() > 1e-3)
    if v2x and flip:
        d[3] = -d[3]
    loads = (0.0, 2300.0, 4600.0)
    net = _mixed_site(loads, v2x=v2x).network()
    rows = net.rows(10.0)[0]
    for t in range(len(loads)):
        ep = np.zeros((net.E, len(loads)))
        ep[net.members[0], t] = d[net.members[0]]
        lhs = rows.coef @ ep[net.members[0], t]
        pos = lhs > 1e-12
        assume(pos.any())
        scale = float(np.min(rows.rhs[pos, t] / lhs[pos]))
        assume(scale > 0)
        mags = np.abs(net.line_currents(0, ep * scale)[:, t])
        assert mags.max() <= 20.0 * (1 + 1e-9), (t, mags)
        if t == 0:
            assert mags.max() >= 20.0 * np.cos(np.radians(5.0)) - 1e-9, mags


def test_a_site_load_on_the_same_line_leaves_the_rest_of_the_limit_to_the_evse() -> None:
    """20 A node, a balanced 2.3 kW site load (2300 / 690 = 3.33 A on every line), one
    single-phase EVSE on L2 and a session wanting more than it can get: the plan gives it
    the rest of L2, 16.67 A (3833 W) less the LP's small margin, and never more."""
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "site", "max_current_a": 20.0}],
        "evses": [{"id": "e2", "node": "site", "phases": 1, "connection": "L2",
                   "max_current_a": 32.0}],
        "sessions": [{"id": "s", "evse": "e2", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T02:00:00Z", "energy_wh": 1e5}],
        "tariff": {"site_load_w": 2300.0},
    })
    plan = optimize(p)
    assert verify(p, plan) == []
    l2 = np.abs(plan.line_currents("site"))[1]
    assert np.all(l2 <= 20.0 + 1e-9)
    assert plan.current_a[0].tolist() == pytest.approx([20 - 10 / 3] * 2, abs=1e-2)


# ---- optimize: objective options and the LP's rows -------------------------------------------

def _cheap_and_dear(**session: Any) -> Problem:
    """One 16 A three-phase EVSE (11,040 W), two hourly steps at 0.40 then 0.10 per kWh,
    one session wanting 5 kWh."""
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "site"}],
        "evses": [{"id": "e1", "node": "site", "max_current_a": 16.0}],
        "sessions": [{"id": "s", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T02:00:00Z", "energy_wh": 5000.0, **session}],
        "tariff": {"price": (0.4, 0.1)},
    })


@pytest.mark.parametrize("objective", [Objective(fairness=0.0), Objective(tiers=1),
                                       Objective()])
def test_without_fairness_tiers_the_plan_is_still_optimal_energy_then_cost(
    objective: Objective,
) -> None:
    """5 kWh fit in the cheap second hour (11 kW): all of it there, none in the dear first
    hour, an optimal LP plan, whether the fairness bonus is off, has one tier, or is on."""
    plan = optimize(_cheap_and_dear(), objective)
    assert plan.status is SolverStatus.OPTIMAL, plan.message
    assert plan.session_power_w[0].tolist() == pytest.approx([0.0, 5000.0], abs=1e-3)
    assert plan.cost == pytest.approx(0.5, abs=1e-6)


def test_two_sessions_sharing_an_evse_in_one_step_share_its_maximum() -> None:
    """EVSE e1 (11,040 W) has session x from 00:00 to 01:30 and y from 01:30 to 02:00;
    both want far more than they can get. In step 1 each is there half the hour and their
    limits together may use the EVSE's maximum: 11,040 Wh in step 0 plus 5,520 Wh in step 1.
    The second EVSE (single-phase, 3,680 W, idle) has nothing to do with it."""
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "site"}],
        "evses": [{"id": "e1", "node": "site", "max_current_a": 16.0},
                  {"id": "e2", "node": "site", "phases": 1, "max_current_a": 16.0}],
        "sessions": [
            {"id": "x", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
             "departure": "2024-01-01T01:30:00Z", "energy_wh": 1e5},
            {"id": "y", "evse": "e1", "arrival": "2024-01-01T01:30:00Z",
             "departure": "2024-01-01T02:00:00Z", "energy_wh": 1e5}],
    })
    plan = optimize(p)
    assert verify(p, plan) == []
    assert float(plan.energy_wh.sum()) == pytest.approx(11040.0 + 5520.0, abs=1e-2)
    assert float(plan.session_power_w[:, 1].sum()) == pytest.approx(11040.0, abs=1e-2)


@pytest.mark.parametrize(("delta", "hour"), [(1.5e-5, 0), (4e-5, 1)])
def test_price_differences_under_a_hundred_thousandth_of_the_value_of_a_wh_are_ties(
    delta: float, hour: int
) -> None:
    """The value of a Wh is V = 10 x the dearest Wh (0.4 per kWh: V = 0.004 per Wh), and
    charge-early weighs 1e-5 V per Wh x (step + 1) / n_steps: here 5e-6 V more for the
    second hour. The second hour cheaper by ``delta`` per kWh saves delta / 4 V per Wh: a
    tie below 2e-5 (charge early, in the first hour), a saving above it (the second)."""
    p = _cheap_and_dear().model_copy(update={"tariff": Tariff(price=(0.4, 0.4 - delta))})
    plan = optimize(p)
    assert plan.session_power_w[0, hour] == pytest.approx(5000.0, abs=1e-3)
    assert plan.session_power_w[0, 1 - hour] == pytest.approx(0.0, abs=1e-3)


def test_a_ramp_without_an_initial_power_leaves_the_first_step_free() -> None:
    """A node with a 12 kW ramp and no ``initial_power_w``: the first step is not bounded
    by the power before the horizon, so a car needing one full hour at 11,040 W gets it in
    the one hour it is there (and the drop to 0 after it is within the ramp), as the LP's
    optimum: status OPTIMAL, not a fallback whose even share happens to be the same. With
    ``initial_power_w=0`` and a 5 kW ramp the same car gets at most 5 kW in that hour
    (and at least its 6 A minimum, 4,140 W)."""
    data: dict[str, Any] = {
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 3},
        "nodes": [{"id": "site", "max_ramp_w": 12000.0}],
        "evses": [{"id": "e1", "node": "site", "max_current_a": 16.0}],
        "sessions": [{"id": "s", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T01:00:00Z", "energy_wh": 11040.0}],
    }
    p = Problem.model_validate(data)
    plan = optimize(p)
    assert plan.status is SolverStatus.OPTIMAL, plan.message  # the LP's plan, no fallback
    assert verify(p, plan) == []
    assert plan.session_power_w[0].tolist() == pytest.approx([11040.0, 0.0, 0.0], abs=1e-2)
    data["nodes"] = [{"id": "site", "max_ramp_w": 5000.0, "initial_power_w": 0.0}]
    slow = Problem.model_validate(data)
    plan = optimize(slow)
    assert verify(slow, plan) == []
    assert 4140.0 <= plan.session_power_w[0, 0] <= 5000.0


def test_a_failing_min_cost_flow_falls_back_safely_with_true_durations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any trouble in the flow solver gives the safe even-share fallback (status FALLBACK,
    the error in the message, a plan verify accepts) and timings that are durations, not
    clock readings."""
    solve_mod = importlib.import_module("smartcharge.optimizer.solve")

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("flow solver crashed")

    monkeypatch.setattr(solve_mod, "solve_flow", boom)
    p = _cheap_and_dear()
    plan = optimize(p, method="flow")
    assert plan.status is SolverStatus.FALLBACK
    assert "min-cost flow error" in plan.message and "flow solver crashed" in plan.message
    assert verify(p, plan) == []
    t = plan.timings
    assert 0.0 <= t.build < 60.0 and 0.0 <= t.solve < 60.0 and 0.0 <= t.extract < 60.0


def _two_cars_one_small_feeder() -> Problem:
    """A 6 kW node, two three-phase 16 A EVSEs (6 A minimum: 4,140 W), one hour, two cars
    wanting 5 kWh each: the fair LP gives each 3 kW, below the minimum."""
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 1},
        "nodes": [{"id": "site", "max_power_w": 6000.0}],
        "evses": [{"id": f"e{i}", "node": "site", "max_current_a": 16.0} for i in (1, 2)],
        "sessions": [{"id": f"s{i}", "evse": f"e{i}", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T01:00:00Z", "energy_wh": 5000.0}
                     for i in (1, 2)],
    })


def test_the_re_solve_reuses_the_capacity_the_minimum_current_repair_freed() -> None:
    """The repair drops both 3 kW values (below 4,140 W) and wins one car back at the
    minimum (4,140 W); with its on/off pattern fixed the LP is solved again and that car
    gets all it wants (5 kW, within the 6 kW node): 5,000 Wh instead of 4,140. With one LP
    round only, the plan stays at the minimum."""
    p = _two_cars_one_small_feeder()
    plan = optimize(p)
    assert verify(p, plan) == []
    assert plan.status is SolverStatus.FEASIBLE
    assert sorted(plan.energy_wh.tolist()) == pytest.approx([0.0, 5000.0], abs=1e-3)
    one = optimize(p, max_lp_rounds=1)
    assert verify(p, one) == []
    assert sorted(one.energy_wh.tolist()) == pytest.approx([0.0, 4140.0], abs=1e-3)



@pytest.mark.parametrize("charging", ["a", "b"])
def test_a_current_constraint_lets_an_evse_on_its_cone_edge_use_the_whole_limit(
    charging: str,
) -> None:
    """A 20 A constraint ``|I_a - I_b|`` with ``a`` on L1 (0 deg) and ``b`` on L1-L2 (+30
    deg, so ``-I_b`` at -150 deg): the phasors span a 150-degree cone. The inner polygon of
    a cone narrower than 180 degrees has its vertices on the circle at the cone's edges, so
    an EVSE alone along an edge gets the full 20 A (less the LP's 1e-4 margin), not the
    cos(5 deg) = 19.92 A of a full 36-gon whose chords face the edges."""
    # catches: the "cone of 180 degrees or more" test loosened to ~123 degrees (a 36-gon)
    evses = [{"id": "a", "node": "site", "phases": 1, "connection": "L1", "max_current_a": 32.0},
             {"id": "b", "node": "site", "phases": 1, "connection": "L1-L2",
              "max_current_a": 32.0}]
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 1},
        "nodes": [{"id": "site"}],
        "evses": evses,
        "sessions": [{"id": "s", "evse": charging, "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T01:00:00Z", "energy_wh": 1e5}],
        "constraints": [{"id": "X", "coefficients": {"a": 1.0, "b": -1.0},
                         "max_current_a": 20.0}],
    })
    plan = optimize(p)
    assert verify(p, plan) == []
    assert plan.current_a[["a", "b"].index(charging), 0] == pytest.approx(20.0, abs=1e-3)
