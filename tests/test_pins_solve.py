"""Pins of issue 13, round 4: behaviours of ``optimizer/solve``, ``_model`` and ``_repair``
that the fourth mutation run showed untested (docs/testing.md, "Round 4"). One test each,
named for the behaviour a user relies on; values worked out by hand in the docstrings, never
read back from the code under test. Each names, in a ``# catches:`` comment, the planted bug
it was written against."""

from __future__ import annotations

import importlib
import math
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer import Objective, Problem, SolverStatus, Tariff, optimize, verify

solve_module = importlib.import_module("smartcharge.optimizer.solve")
model_module = importlib.import_module("smartcharge.optimizer._model")
repair_module = importlib.import_module("smartcharge.optimizer._repair")


def _one_car_two_hours(need_wh: float = 5000.0) -> Problem:
    """One 16 A three-phase EVSE (11,040 W), two hourly steps, one car there both hours."""
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "site", "max_power_w": 20000.0}],
        "evses": [{"id": "e1", "node": "site", "max_current_a": 16.0}],
        "sessions": [{"id": "s", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T02:00:00Z", "energy_wh": need_wh}],
    })


# ---- which path a solve takes -----------------------------------------------------------------

@pytest.mark.parametrize(("threshold", "fill"), [(2, False), (1, True)])
def test_the_greedy_fill_is_tried_only_above_its_column_threshold(
    monkeypatch: pytest.MonkeyPatch, threshold: int, fill: bool
) -> None:
    """``solver="auto"`` tries the greedy fill with MORE than ``TREE_MIN_COLUMNS`` power
    columns (docstring of ``optimize``). The one car has 2 columns: a threshold of 2 keeps
    the LP, a threshold of 1 takes the fill (which serves the whole need here)."""
    # catches: the fill threshold "> TREE_MIN_COLUMNS" -> ">="
    monkeypatch.setattr(solve_module, "TREE_MIN_COLUMNS", threshold)
    p = _one_car_two_hours()
    plan = optimize(p)
    assert verify(p, plan) == []
    assert plan.message.startswith("greedy fill") is fill, plan.message
    assert float(plan.energy_wh.sum()) == pytest.approx(5000.0, abs=1e-3)




def test_auto_keeps_the_lp_where_the_greedy_fill_does_not_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above the column threshold ``solver="auto"`` tries the fill only on a pure power tree
    without a demand charge. One car (no minimum current) wanting 5 kWh over two hours,
    a demand charge of 10 per kW: the LP plans, spreading it to 2.5 kW in each hour (the
    lowest peak), not the fill's 5 kW in the first."""
    # catches: `limits is not None and why is None` -> `or` (the fill taken anyway)
    monkeypatch.setattr(solve_module, "TREE_MIN_COLUMNS", 1)
    p = _cars_on_l1([(0, 7200, 5000.0, 7000.0)], step_s=3600, n_steps=2).model_copy(
        update={"tariff": Tariff(demand_charge_per_kw=10.0)})
    plan = optimize(p)
    assert verify(p, plan) == []
    assert not plan.message.startswith("greedy fill"), plan.message
    np.testing.assert_allclose(plan.session_power_w, [[2500.0, 2500.0]], atol=1e-3)


def _ramped(p: Problem) -> Problem:
    """``p`` with a 20 kW ramp limit on its site node."""
    return p.model_copy(update={"nodes": [p.nodes[0].model_copy(update={"max_ramp_w": 2e4})]})


@pytest.mark.parametrize(("options", "lazy"), [
    ({}, False),
    ({"node_rows": "all"}, False),
    ({"node_rows": "lazy"}, True),
    ({"node_rows": "lazy", "min_current": "mip"}, False),
    ({"node_rows": "lazy", "ramped": True}, False),
])
def test_lazy_node_rows_only_when_asked_and_only_on_the_charging_lp(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], lazy: bool
) -> None:
    """``node_rows="lazy"`` solves with lazy rows on the LP path of charging-only problems
    without ramps; ``"all"`` (the default), a MIP or a ramp limit solve the whole LP. The
    plan is the same either way here (5 kWh in the first hour: one optimum)."""
    # catches: `node_rows == "lazy" and not (...)` -> `or` (every solve lazy)
    calls: list[int] = []
    real = solve_module.solve_lazy

    def spy(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(solve_module, "solve_lazy", spy)
    opts = dict(options)
    p = _ramped(_one_car_two_hours()) if opts.pop("ramped", False) else _one_car_two_hours()
    plan = optimize(p, **opts)
    assert verify(p, plan) == []
    assert plan.session_power_w[0].tolist() == pytest.approx([5000.0, 0.0], abs=1e-3)
    assert bool(calls) is lazy


# ---- the re-solve on a coarse grid ---------------------------------------------------------

def _two_cars_arriving_in_a_block(arrival: str) -> Problem:
    """A 6 kW node, two three-phase 16 A EVSEs (6 A minimum: 4,140 W), four 15-minute steps,
    two cars wanting 5 kWh each, both arriving at ``arrival`` and leaving at 01:00."""
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 4},
        "nodes": [{"id": "site", "max_power_w": 6000.0}],
        "evses": [{"id": f"e{i}", "node": "site", "max_current_a": 16.0} for i in (1, 2)],
        "sessions": [{"id": f"s{i}", "evse": f"e{i}", "arrival": arrival,
                      "departure": "2024-01-01T01:00:00Z", "energy_wh": 5000.0}
                     for i in (1, 2)],
    })


@pytest.mark.parametrize(("arrival", "wh"), [
    ("2024-01-01T00:30:00Z", 3000.0),  # steps 2 and 3 whole: 6 kW x 30 min
    ("2024-01-01T00:40:00Z", 2000.0),  # a third of step 2, step 3 whole: 6 kW x 20 min
])
def test_on_a_coarse_grid_the_re_solve_reuses_what_the_repair_freed_for_a_late_car(
    arrival: str, wh: float
) -> None:
    """One LP block of an hour (grid ``[(inf, 3600 s)]``), the cars there only for its end.
    The block's fair LP gives each 3 kW (the 6 kW node shared), below the 4,140 W minimum:
    the repair drops both and wins one back at the minimum; the re-solve, the block's
    on/off pattern fixed from its mean power while the car is plugged in, gives that car
    the whole node, 6 kW, while it is there. Two cars together would need 8,280 W at their
    minimum, so one car at 6 kW per step is the most the minimum-current rule allows:
    ``wh`` in all (with every step its own column the cars take turns, the same total)."""
    # catches: the block mean power `sp * frac` -> `sp / frac` (the late car's block is
    # then read as off, and the re-solve keeps it at the minimum: 2,070 / 1,380 Wh)
    p = _two_cars_arriving_in_a_block(arrival)
    plan = optimize(p, grid=[(float("inf"), 3600.0)])
    assert verify(p, plan) == []
    assert sorted(plan.energy_wh.tolist()) == pytest.approx([0.0, wh], abs=1e-3)
    whole = optimize(p)  # every step its own LP column: the same total (the cars take turns)
    assert float(whole.energy_wh.sum()) == pytest.approx(wh, abs=1e-3)


# ---- the re-solve's on/off pattern (``_fixings``) ------------------------------------------

def _site(limit_w: float, cars: list[dict[str, Any]], *, n_steps: int, step_s: int) -> Problem:
    """One node of ``limit_w``; car ``i`` on its own three-phase EVSE ``e{i}`` (16 A: 11,040
    W; ``min_a`` its minimum, 6 A = 4,140 W by default), there from ``a`` to ``d`` seconds
    after 00:00, wanting ``wh``."""
    def at(s: int) -> str:
        return f"2024-01-01T{s // 3600:02d}:{s % 3600 // 60:02d}:00Z"

    return Problem.model_validate({
        "horizon": {"start": at(0), "step_s": step_s, "n_steps": n_steps},
        "nodes": [{"id": "site", "max_power_w": limit_w}],
        "evses": [{"id": f"e{i}", "node": "site", "max_current_a": 16.0,
                   "min_current_a": c.get("min_a", 6.0)} for i, c in enumerate(cars)],
        "sessions": [{"id": f"s{i}", "evse": f"e{i}", "arrival": at(c["a"]),
                      "departure": at(c["d"]), "energy_wh": c["wh"]}
                     for i, c in enumerate(cars)],
    })


def test_the_re_solve_fills_the_node_when_a_late_car_competes_for_it() -> None:
    """A 10 kW node, two 15-minute steps; cars 0 and 1 there both steps, car 2 only the
    second; each wants 4 kWh (12 kWh in all), each can draw 11,040 W. No plan gets more
    than 10 kW through the node: at most 2 x 10 kW x 0.25 h = 5,000 Wh, and 5,000 Wh is
    reachable under the minimum-current rule (4,140 + 5,860 W in each step). The plan
    delivers exactly that."""
    # catches: the promoted steps' load on the rows `pos * at` -> `pos / at` (and the
    # fit test's `pos * add` -> `/`): two cars promoted into one step break the row, the
    # re-solve is infeasible and the first plan (3,500 Wh) is kept
    p = _site(10000.0, [{"a": 0, "d": 1800, "wh": 4000.0}, {"a": 0, "d": 1800, "wh": 4000.0},
                        {"a": 900, "d": 1800, "wh": 4000.0}], n_steps=2, step_s=900)
    plan = optimize(p)
    assert verify(p, plan) == []
    assert float(plan.energy_wh.sum()) == pytest.approx(5000.0, abs=1e-2)


def test_the_re_solve_never_plans_a_car_more_minimum_steps_than_its_need_allows() -> None:
    """A 16 kW node, two hours. Car A (6 A minimum) wants 30 kWh, car C (10 A minimum:
    6,900 W) 12 kWh; both draw at most 11,040 W. Two steps of C at its minimum would be
    13,800 Wh, over its need, so C can be on in one hour only: there the node's 16 kW is
    shared (C at most 11,040 W, A the rest, at least its 4,140 W), in the other hour A alone
    draws its 11,040 W. The best plan is 16,000 + 11,040 = 27,040 Wh, and it is found: the
    re-solve turns C on in one hour (the fair LP's 6 kW for C in both was below its minimum)."""
    # catches: the promotion's need test `e + gain > need` -> `e - gain > need` (both of
    # C's hours promoted at 6,900 W: the re-solve is infeasible and the 22,080 Wh plan kept)
    p = _site(16000.0, [{"a": 0, "d": 7200, "wh": 30000.0},
                        {"a": 0, "d": 7200, "wh": 12000.0, "min_a": 10.0}],
              n_steps=2, step_s=3600)
    plan = optimize(p)
    assert verify(p, plan) == []
    assert float(plan.energy_wh.sum()) == pytest.approx(27040.0, abs=1e-2)
    assert int((plan.session_power_w[1] > 0).sum()) == 1  # C on in one hour only


# ---- replan: its fixed options -------------------------------------------------------------

def test_replan_re_solves_after_the_minimum_current_repair() -> None:
    """A 6 kW node, one hour, two cars (6 A minimum: 4,140 W) wanting 5 kWh each: the fair
    LP's 3 kW each are below the minimum, the repair keeps one car at 4,140 W, and the
    re-solve (replan's ``resolve_share`` 0.1 %: 860 Wh lost is far above it) gives that car
    its whole 5 kWh (within the 6 kW node), as ``optimize`` does."""
    # catches: replan's resolve_share 1e-3 -> 1.001 (never re-solves: 4,140 Wh)
    p = _site(6000.0, [{"a": 0, "d": 3600, "wh": 5000.0}] * 2, n_steps=1, step_s=3600)
    plan, _ = solve_module.replan(p)
    assert verify(p, plan) == []
    assert sorted(plan.energy_wh.tolist()) == pytest.approx([0.0, 5000.0], abs=1e-3)


def _a_remainder_only_the_first_step_can_serve() -> Problem:
    """One car on a 230 V single-phase EVSE (6 A minimum: 1,380 W; the car draws at most
    6,600 W), nine 5-minute steps, wanting 600 Wh. The node allows 20 kW in the first step
    and 1 kW (below the minimum) after it: only the first step can charge, at most
    6,600 W x 5 min = 550 Wh."""
    d: dict[str, Any] = {
        "horizon": {"start": "2026-03-02T08:00:00Z", "step_s": 300, "n_steps": 9},
        "nodes": [{"id": "site", "max_power_w": [20000.0] + [1000.0] * 8}],
        "evses": [{"id": "e", "node": "site", "voltage_v": 230.0, "phases": 1,
                   "connection": "L1", "max_current_a": 32.0, "min_current_a": 6.0}],
        "sessions": [{"id": "car", "evse": "e", "arrival": "2026-03-02T08:00:00Z",
                      "departure": "2026-03-02T08:45:00Z", "energy_wh": 600.0,
                      "max_power_w": 6600.0}],
    }
    return Problem.model_validate(d)


def test_replan_leaves_a_remainder_one_minimum_step_can_serve() -> None:
    """Re-planning applies only the first step. 6,600 W now would leave 50 Wh, less than
    one 5-minute step at the minimum (115 Wh): no later step could ever serve it. So replan
    lowers the first step to leave exactly 115 Wh: (600 - 115) Wh x 12 / h = 5,820 W."""
    # catches: replan's first_step_only True -> False (no unstrand: 6,600 W)
    p = _a_remainder_only_the_first_step_can_serve()
    plan, _ = solve_module.replan(p)
    assert verify(p, plan) == []
    assert plan.session_power_w[0].tolist() == pytest.approx([5820.0] + [0.0] * 8, abs=1e-6)


def test_optimize_plans_the_whole_horizon_and_keeps_the_first_step_at_its_most() -> None:
    """``optimize`` is not a re-plan: the plan is applied whole, so the first step keeps
    its 6,600 W (550 Wh, the most this horizon allows)."""
    # catches: `_optimize`'s first_step_only default False -> True (optimize unstrands)
    p = _a_remainder_only_the_first_step_can_serve()
    plan = optimize(p)
    assert verify(p, plan) == []
    assert plan.session_power_w[0].tolist() == pytest.approx([6600.0] + [0.0] * 8, abs=1e-6)
    assert float(plan.energy_wh.sum()) == pytest.approx(550.0, abs=1e-6)


# ---- the objective: urgency and the front load (``_model``) ---------------------------------

def _cars_on_l1(cars: list[tuple[int, int, float, float]], *, step_s: int, n_steps: int,
                limit_w: float | None = None, price: list[float] | None = None) -> Problem:
    """Cars on their own 230 V single-phase 32 A EVSEs (no minimum current): ``(arrival
    [s], departure [s], need [Wh], max power [W])`` each; an optional site limit."""
    def at(s: int) -> str:
        return f"2024-01-01T{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}Z"

    node: dict[str, Any] = {"id": "site"}
    if limit_w is not None:
        node["max_power_w"] = limit_w
    return Problem.model_validate({
        "horizon": {"start": at(0), "step_s": step_s, "n_steps": n_steps},
        "nodes": [node],
        "evses": [{"id": f"e{i}", "node": "site", "voltage_v": 230.0, "phases": 1,
                   "connection": "L1", "max_current_a": 32.0, "min_current_a": 0.0}
                  for i in range(len(cars))],
        "sessions": [{"id": f"s{i}", "evse": f"e{i}", "arrival": at(a), "departure": at(d),
                      "energy_wh": w, "max_power_w": m} for i, (a, d, w, m) in enumerate(cars)],
        "tariff": {"price": price or [0.3] * n_steps},
    })


def test_urgency_is_need_over_what_full_power_gives_in_the_window_clipped_to_0_1() -> None:
    """15-minute steps over an hour. Car 0: 3.5 kWh in an hour at 7 kW: 0.5. Car 1: 30 kWh
    (more than its 7 kWh window): 1. Car 2: one second at 1 kW (0.2778 Wh) wanting 0.1 Wh:
    0.36. Car 3: plugged in only after the horizon (no hour it may charge): 0."""
    # catches: the hours' `* dt_h` and `frac * allowed` made divisions, `full > 0` -> `>=`
    # or `> 1`, the `0.0` of an empty window -> 1, the clip's bounds 0 -> 1 and 1 -> 2
    p = _cars_on_l1([(0, 3600, 3500.0, 7000.0), (0, 3600, 30000.0, 7000.0),
                     (0, 1, 0.1, 1000.0), (3600, 7200, 100.0, 7000.0)],
                    step_s=900, n_steps=4)
    net = p.network()
    allowed = repair_module.allowed_mask(net, net.rows(10.0))
    assert model_module.urgency(net, allowed).tolist() == pytest.approx(
        [0.5, 1.0, 0.36, 0.0], abs=1e-12)


def test_the_largest_front_load_still_serves_every_need_that_fits() -> None:
    """``front_load`` 0.5: a Wh at the horizon's end worth half a Wh now, never nothing.
    One car, one hour, 5 kWh of its 7 kWh: all of it; over two hours, all of it in the
    first."""
    # catches: the front load's step factor `(t + 1) / T` -> `(t + 2) / T` (a Wh of the
    # last step worth nothing) or `* T`, and the term's `* max(eps, front_load)` -> `/`
    obj = Objective(front_load=0.5)
    one = _cars_on_l1([(0, 3600, 5000.0, 7000.0)], step_s=3600, n_steps=1)
    np.testing.assert_allclose(optimize(one, obj).session_power_w, [[5000.0]], atol=1e-3)
    two = _cars_on_l1([(0, 7200, 5000.0, 7000.0)], step_s=3600, n_steps=2)
    np.testing.assert_allclose(optimize(two, obj, grid="all").session_power_w,
                               [[5000.0, 0.0]], atol=1e-3)


def test_urgency_with_a_front_load_serves_the_urgent_car_first_and_every_need() -> None:
    """A 7 kW site, two hours, car A wanting 6 kWh (urgency 6/14), car B 3 kWh (3/14);
    ``front_load`` 0.1 with ``urgency`` 4 (0.1 x 5 = 0.5, the most allowed). The site can
    serve both (9 of 14 kWh): it does, the first hour full (front-loaded) and A, which has
    less slack, first: A 6 kW then 0, B 1 kW then 2 kW."""
    # catches: the urgency factor `1 + urgency * u` -> `1 - ...` or `/ u`, its
    # `early * (...)` -> `/`, the `if urgency > 0` negated
    p = _cars_on_l1([(0, 7200, 6000.0, 7000.0), (0, 7200, 3000.0, 7000.0)],
                    step_s=3600, n_steps=2, limit_w=7000.0)
    plan = optimize(p, Objective(front_load=0.1, urgency=4.0), grid="all")
    assert verify(p, plan) == []
    np.testing.assert_allclose(plan.session_power_w, [[6000.0, 0.0], [1000.0, 2000.0]],
                               atol=1e-3)


def test_front_load_times_one_plus_urgency_above_half_is_rejected_by_name() -> None:
    """The most urgent car's last Wh loses ``front_load * (1 + urgency)`` of its value: at
    0.2 x 5 = 1 a late Wh would be worth nothing (the LP then left 2 kWh of the case above
    unserved: A 4 kW, B 3 kW, the second hour empty). Rejected; 0.1 x 5 is accepted."""
    # a real bug found by the round-4 run: Objective(front_load=0.5, urgency=4) was accepted
    with pytest.raises(InvalidProblemError, match="urgency") as err:
        Objective(front_load=0.2, urgency=4.0)
    assert err.value.path == "front_load"
    assert Objective(front_load=0.1, urgency=4.0).front_load == 0.1


def test_a_front_load_scaled_by_a_little_urgency_trades_against_price_as_documented() -> None:
    """One car, two hours at 0.40 then 0.06 per kWh, wanting 700 Wh of its 14 kWh window
    (urgency u = 0.05); ``front_load`` 0.1, ``urgency`` 4. In units of the value of a Wh
    (V = 10 x 0.4 / 1000 per Wh), a Wh costs 0.1 (price) + 0.1 x 1/2 x (1 + 4 x 0.05) =
    0.16 in the first hour and 0.015 + 0.1 x 2/2 x 1.2 = 0.135 in the second: it waits."""
    # catches: the urgency factor `1.0 + urgency * u` -> `2.0 + ...` (0.21 against 0.235:
    # it would charge now)
    p = _cars_on_l1([(0, 7200, 700.0, 7000.0)], step_s=3600, n_steps=2, price=[0.4, 0.06])
    plan = optimize(p, Objective(front_load=0.1, urgency=4.0), grid="all")
    np.testing.assert_allclose(plan.session_power_w, [[0.0, 700.0]], atol=1e-3)


def test_an_urgency_below_one_still_orders_the_cars() -> None:
    """Any positive urgency weights the tie-break: with ``urgency`` 1 car A (10 kWh in 3 h
    at 7 kW: u = 10/21) still finishes before B (7 kWh: 1/3) behind a 7 kW site, as with 4:
    A 7 then 3 kW."""
    # catches: `if obj.urgency > 0` -> `> 1`
    p = _cars_on_l1([(0, 10800, 10000.0, 7000.0), (0, 10800, 7000.0, 7000.0)],
                    step_s=3600, n_steps=4, limit_w=7000.0, price=[0.0] * 4)
    plan = optimize(p, Objective(urgency=1.0), grid="all")
    np.testing.assert_allclose(plan.session_power_w,
                               [[7000.0, 3000.0, 0.0, 0.0], [0.0, 4000.0, 3000.0, 0.0]],
                               atol=1e-2)


@pytest.mark.parametrize(("co2", "hour"), [(0.5, 1), (3.0, 0)])
def test_the_value_of_a_wh_counts_the_co2_price_at_the_highest_real_intensity(
    co2: float, hour: int
) -> None:
    """One car wanting 5 kWh (11,040 W), two hours at 0.4 then 0.39994 per kWh, a CO2 price
    of 1,000 per kg and the same intensity ``co2`` g/kWh in both hours (CO2 favours neither).
    The value of a Wh is V = 10 x (0.4 / 1000 + 1000 x co2 / 1e6) per Wh, and charging early
    favours the first hour by 1e-5 x V / 2 per Wh against the second hour's 6e-8 cheaper Wh.
    At 0.5 g/kWh: V = 0.009, 4.5e-8 < 6e-8, the price wins (second hour); at 3 g/kWh: V =
    0.034, 1.7e-7 > 6e-8, a tie, charged early (first hour)."""
    # catches: the CO2 term's `np.max(co2, initial=0.0)` -> `initial=1` (at 0.5 g/kWh V
    # would be 0.014: 7e-8 > 6e-8, the first hour)
    p = _one_car_two_hours().model_copy(update={"tariff": Tariff(
        price=(0.4, 0.4 - 6e-5), co2_g_per_kwh=(co2, co2))})
    plan = optimize(p, Objective(co2_per_kg=1000.0))
    assert plan.session_power_w[0, hour] == pytest.approx(5000.0, abs=1e-3)
    assert plan.session_power_w[0, 1 - hour] == pytest.approx(0.0, abs=1e-3)


def test_replan_approximates_a_line_current_by_the_default_10_degree_polygon() -> None:
    """A bidirectional (V2X) car alone on L1 (230 V) under a 10 A node limit: its current
    may point either way, so the node's L1 circle is approximated by the full polygon of
    360 / 10 = 36 chords, one facet centred on the car's phasor: it may charge at most
    2,300 W x cos 5 deg = 2,291.25 W (a 33-chord polygon, 11 degrees, would allow
    2,300 x cos(180/33 deg) = 2,289.59 W). The LP's safety margin takes a few hundredths of
    a watt more."""
    # catches: replan's max_chord_deg 10.0 -> 11.0
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 2},
        "nodes": [{"id": "site", "max_current_a": 10.0}],
        "evses": [{"id": "e", "node": "site", "voltage_v": 230.0, "phases": 1,
                   "connection": "L1", "max_current_a": 32.0}],
        "sessions": [{"id": "car", "evse": "e", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T00:30:00Z", "energy_wh": 1e5,
                      "max_discharge_w": 7000.0}],
    })
    plan, _ = solve_module.replan(p)
    assert verify(p, plan) == []
    edge = 2300.0 * math.cos(math.radians(5.0))
    np.testing.assert_allclose(plan.session_power_w, [[edge, edge]], atol=0.1)


# ---- unstrand: a re-plan's first step never strands a remainder (``_repair``) --------------

_T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


def _five_minute_site(
    cars: list[dict[str, Any]], *, steps: int = 9, limit: Any = None,
    current_a: float | None = None, sub_w: float | None = None,
) -> Problem:
    """5-minute steps from 08:00; car ``i`` on EVSE ``e{i}`` (230 V, L1, ``evse_a`` 32 A:
    7,360 W; ``min_a`` 6 A: 1,380 W, one 5-minute step at it 115 Wh; the car draws at most
    ``mx`` 6,600 W), there from ``arr`` to ``dep`` seconds (the whole horizon by default),
    or on EVSE ``c["evse"]``. The site may have a power limit ``limit`` (a number or a
    series), a current limit, and a child node ``sub`` of ``sub_w`` holding the EVSEs."""
    site: dict[str, Any] = {"id": "site"}
    if limit is not None:
        site["max_power_w"] = limit
    if current_a is not None:
        site["max_current_a"] = current_a
    nodes = [site] + ([{"id": "sub", "parent": "site", "max_power_w": sub_w}]
                      if sub_w is not None else [])
    n_evse = max([c.get("evse", i) for i, c in enumerate(cars)]) + 1
    return Problem.model_validate({
        "horizon": {"start": _T0.isoformat(), "step_s": 300, "n_steps": steps},
        "nodes": nodes,
        "evses": [{"id": f"e{i}", "node": nodes[-1]["id"], "voltage_v": 230.0, "phases": 1,
                   "connection": "L1", "max_current_a": 32.0,
                   "min_current_a": cars[min(i, len(cars) - 1)].get("min_a", 6.0)}
                  for i in range(n_evse)],
        "sessions": [{"id": f"c{i}", "evse": f"e{c.get('evse', i)}",
                      "arrival": (_T0 + timedelta(seconds=c.get("arr", 0))).isoformat(),
                      "departure": (_T0 + timedelta(seconds=c.get("dep", 300 * steps))
                                    ).isoformat(),
                      "energy_wh": c["need"], "max_power_w": c.get("mx", 6600.0)}
                     for i, c in enumerate(cars)],
    })


def _first_step_after_unstrand(p: Problem, plan: list[list[float]]) -> list[float]:
    net = p.network()
    sp = np.zeros((net.S, net.T))
    for s, row in enumerate(plan):
        sp[s, :len(row)] = row
    out = repair_module.unstrand(net, net.rows(10.0), sp)
    assert np.array_equal(out[:, 1:], sp[:, 1:])  # only the first step ever changes
    return [float(x) for x in out[:, 0]]


@pytest.mark.parametrize(("cars", "site", "plan", "first"), [
    # two steps are enough: 607 Wh, 6,600 W now leaves 57 Wh: (607 - 115) x 12 = 5,904 W
    ([{"need": 607.0}], {"steps": 2}, [[6600.0]], [5904.0]),
    # the car leaves with the first step: nothing later to strand, nothing changes
    ([{"need": 607.0, "dep": 300}], {}, [[6600.0]], [6600.0]),
    # something is planned later (a minimum step): left alone
    ([{"need": 607.0}], {}, [[6600.0, 1380.0]], [6600.0]),
    # there half of the first step (from 08:02:30): 6,600 W gives 275 Wh, 25 left; the
    # whole 300 Wh would need 7,200 W: (300 - 115) x 24 = 4,440 W
    ([{"need": 300.0, "arr": 150}], {}, [[6600.0]], [4440.0]),
    # there for half of the second step only: still a later step, 57 Wh left: 5,904 W
    ([{"need": 607.0, "dep": 450}], {}, [[6600.0]], [5904.0]),
    # nothing now: nothing to raise or lower, whatever the need
    ([{"need": 50.0}], {}, [[0.0]], [0.0]),
    # 0.5 Wh left: 550.5 Wh would need 6,606 W: (550.5 - 115) x 12 = 5,226 W
    ([{"need": 550.5}], {}, [[6600.0]], [5226.0]),
    # a remainder 0.5 mWh above one minimum step is servable: left exactly alone
    ([{"need": 665.0000005}], {}, [[6600.0]], [6600.0]),
    # the whole need at exactly the car's maximum: 550 Wh x 12 = 6,600 W, raised
    ([{"need": 550.0}], {}, [[6000.0]], [6600.0]),
    # raising to 2,760 W breaks the 2,500 W site; one minimum step left is exactly the
    # minimum: (230 - 115) x 12 = 1,380 W
    ([{"need": 230.0}], {"limit": 2500.0}, [[2000.0]], [1380.0]),
    # the 5,500 W site is the parent of a 20 kW node: 6,000 W breaks it, 4,620 W
    ([{"need": 500.0}], {"limit": 5500.0, "sub_w": 20000.0}, [[5000.0]], [4620.0]),
    # the limit of the FIRST step counts (5,500 W now, 20 kW later): 4,620 W
    ([{"need": 500.0}], {"limit": [5500.0] + [20000.0] * 8}, [[5000.0]], [4620.0]),
    # a site with a power row and current rows: breaking the power row alone is enough
    ([{"need": 500.0}], {"limit": 5500.0, "current_a": 100.0}, [[5000.0]], [4620.0]),
    # two cars behind 12.5 kW, each 40 Wh short at 6,000 W: the first is raised to
    # 6,480 W (12,480 W in all), the second then does not fit and is lowered to
    # (540 - 115) x 12 = 5,100 W
    ([{"need": 540.0}, {"need": 540.0}], {"limit": 12500.0}, [[6000.0], [6000.0]],
     [6480.0, 5100.0]),
    # a 1 mA minimum (0.23 W; 0.0192 Wh a step): 0.5 W now leaves 0.01 Wh, raised to
    # the whole need, 0.62 W; with 0.5 W planned later too, left alone
    ([{"need": 0.5 / 12 + 0.01, "min_a": 0.001}], {}, [[0.5]], [0.62]),
    ([{"need": 0.5 / 12 + 0.01, "min_a": 0.001}], {}, [[0.5, 0.5]], [0.5]),
    # two sessions on one EVSE in the first step (x leaves at 08:02:30, y arrives): y's
    # whole 180 Wh needs 4,320 W, with x's 4,000 W over the EVSE's 7,360 W: lowered to
    # (180 - 115) x 24 = 1,560 W; with x at 3,040 W it fits exactly: raised to 4,320 W
    ([{"need": 1e4, "dep": 150}, {"need": 180.0, "arr": 150, "evse": 0}], {},
     [[4000.0], [3000.0]], [4000.0, 1560.0]),
    ([{"need": 1e4, "dep": 150}, {"need": 180.0, "arr": 150, "evse": 0}], {},
     [[3040.0], [3000.0]], [3040.0, 4320.0]),
])
def test_unstrand_worked_examples(
    cars: list[dict[str, Any]], site: dict[str, Any], plan: list[list[float]],
    first: list[float],
) -> None:
    """Worked by hand (see each case): a remainder after the first step of more than 0 and
    less than one 5-minute step at the minimum (115 Wh at 6 A) is served in the first step
    if everything allows the whole need there, else the first step is lowered to leave
    exactly one minimum step; nothing else changes."""
    # catches: unstrand's `T < 2` -> `<=`/`< 3`, the first step's column `[:, 0]` -> 1,
    # `later`'s `frac[:, 1:].sum() > 0` -> `>=`/`> 1`/`[:, 2:]`, `any` -> `all` and
    # `sp[:, 1:] > 0` -> `> 1`, `p0 > 0` -> `>=`/`> 1`, `left > 1e-6` -> `> 1.000001`,
    # `mstep - 1e-6` -> `+`, `full <= max` -> `<`, `low >= min` -> `>`, the EVSE test's
    # `(1 + 1e-12)` -> `(2 + ...)`/`(1 - ...)`/`/`, a node's rows `.any()` -> `.all()`,
    # the first step's right-hand side `rhs[:, 0]` -> 1, `ep[:, 0] = new_ep` -> column 1
    p = _five_minute_site(cars, **site)
    assert _first_step_after_unstrand(p, plan) == pytest.approx(first, abs=1e-6)


# ---- what a plan says about its solve --------------------------------------------------------

def test_a_plan_says_when_the_minimum_current_repair_and_re_solves_made_it() -> None:
    """The two cars behind 6 kW (3 kW each from the LP, below the 4,140 W minimum): the
    plan is FEASIBLE and its message names the repair and the two LP solves; one car with
    room to spare needs no repair: OPTIMAL, and the message says nothing of a repair."""
    # catches: `if status is not SolverStatus.OPTIMAL` negated (the note on the wrong plans)
    p = _site(6000.0, [{"a": 0, "d": 3600, "wh": 5000.0}] * 2, n_steps=1, step_s=3600)
    plan = optimize(p)
    assert plan.status is SolverStatus.FEASIBLE
    assert plan.message.endswith("; minimum-current repair, 2 LP round(s)"), plan.message
    easy = optimize(_one_car_two_hours())
    assert easy.status is SolverStatus.OPTIMAL
    assert "repair" not in easy.message and "round" not in easy.message, easy.message


def test_a_plans_timings_are_at_most_the_time_optimize_took() -> None:
    """Build, solve and extract are parts of one call: their sum is at most its wall time
    (measured around it), re-solves included."""
    # catches: the re-solve stage's solve time starting at 1 s instead of 0
    p = _site(6000.0, [{"a": 0, "d": 3600, "wh": 5000.0}] * 2, n_steps=1, step_s=3600)
    t0 = time.perf_counter()
    plan = optimize(p)
    wall = time.perf_counter() - t0
    t = plan.timings
    assert t.build >= 0.0 and t.solve >= 0.0 and t.extract >= 0.0
    assert t.solve <= wall and t.build + t.solve + t.extract <= wall


def test_a_generous_time_limit_leaves_room_for_the_re_solve() -> None:
    """With a minute to spare the re-solve still runs: the two cars behind 6 kW get
    5,000 Wh, as without a limit (not the first plan's 4,140 Wh)."""
    # catches: the re-solve's time test `now - start >= limit` -> `now + start >= limit`
    p = _site(6000.0, [{"a": 0, "d": 3600, "wh": 5000.0}] * 2, n_steps=1, step_s=3600)
    plan = optimize(p, time_limit_s=60.0)
    assert verify(p, plan) == []
    assert sorted(plan.energy_wh.tolist()) == pytest.approx([0.0, 5000.0], abs=1e-3)


def test_a_grid_entry_needs_only_a_positive_until() -> None:
    """A grid's ``until`` only has to be above 0 s: half a second of single steps, then
    hour blocks, is a valid grid (the one car still gets its 5 kWh); 0 s is refused by
    name."""
    # catches: the grid check `until > 0` -> `until > 1`
    p = _one_car_two_hours()
    plan = optimize(p, grid=[(0.5, 0.0), (math.inf, 3600.0)])
    assert float(plan.energy_wh.sum()) == pytest.approx(5000.0, abs=1e-3)
    with pytest.raises(InvalidProblemError, match="grid") as err:
        optimize(p, grid=[(0.0, 0.0)])
    assert err.value.path == "grid[0]"


def test_the_far_blocks_polygon_is_never_finer_than_the_plans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``far_chord_deg`` is "at least ``max_chord_deg``": asking for 5 degrees with the
    default 10 builds the 10-degree rows only (and the plan is safe)."""
    # catches: `max(max_chord_deg, far_chord_deg)` -> `min` (a 5-degree polygon built)
    network_cls = importlib.import_module("smartcharge.optimizer._network").Network
    asked: list[float] = []
    real = network_cls.rows

    def spy(self: Any, max_chord_deg: float = 10.0) -> Any:
        asked.append(max_chord_deg)
        return real(self, max_chord_deg)

    monkeypatch.setattr(network_cls, "rows", spy)
    p = _two_cars_arriving_in_a_block("2024-01-01T00:30:00Z")
    plan = optimize(p, grid=[(900.0, 0.0), (math.inf, 1800.0)], far_chord_deg=5.0)
    assert verify(p, plan) == []
    assert asked and set(asked) == {10.0}


@pytest.mark.parametrize(("solver", "second_try"), [("glop", False), ("auto", True)])
def test_only_the_auto_solver_gets_highs_as_a_second_try_after_glop(
    monkeypatch: pytest.MonkeyPatch, solver: str, second_try: bool
) -> None:
    """GLOP failing: ``solver="glop"`` asked for GLOP only, so the plan is the safe
    fallback; ``"auto"`` (GLOP for a problem this small) tries HiGHS next and gets the
    LP's plan (5 kWh in the first hour)."""
    # catches: `solver == "auto" and first == "glop"` -> `or` (HiGHS tried after an
    # explicitly chosen GLOP)
    real = model_module.solve_lp

    def glop_fails(*a: Any, **k: Any) -> Any:
        if k.get("solver") == "glop":
            raise RuntimeError("glop crashed")
        return real(*a, **k)

    monkeypatch.setattr(model_module, "solve_lp", glop_fails)
    p = _one_car_two_hours()
    plan = optimize(p, solver=solver)  # type: ignore[arg-type]
    assert verify(p, plan) == []
    assert (plan.status is SolverStatus.FALLBACK) is not second_try, plan.message
    assert "glop crashed" in plan.message or second_try
    if second_try:
        np.testing.assert_allclose(plan.session_power_w, [[5000.0, 0.0]], atol=1e-3)


@pytest.mark.parametrize(("demand_per_kw", "step"), [(1.0, 0), (0.0, 1)])
def test_the_value_of_a_wh_counts_the_demand_charge_of_one_step_of_its_length(
    demand_per_kw: float, step: int
) -> None:
    """Three 15-minute steps; a 50 kW site load in the last sets the peak whatever the car
    does (so the demand charge favours no step); the car (2 kWh, 11,040 W) is there for the
    first two, at 0.4 then 0.39994 per kWh. V = 10 x (0.4 / 1000 + demand / 1000 / 0.25 h)
    per Wh: with 1 per kW, V = 0.044 and charge-early's 1e-5 x V / 3 = 1.5e-7 per Wh beats
    the second step's 6e-8 saving (the first step); without a demand charge, V = 0.004,
    1.3e-8 < 6e-8 (the second)."""
    # catches: the demand charge per Wh `/ 1000 / dt_h` -> `/ 1000 * dt_h` (V = 0.0065:
    # 2.2e-8 < 6e-8, the second step)
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 3},
        "nodes": [{"id": "site"}],
        "evses": [{"id": "e1", "node": "site", "max_current_a": 16.0}],
        "sessions": [{"id": "s", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T00:30:00Z", "energy_wh": 2000.0}],
        "tariff": {"price": [0.4, 0.4 - 6e-5, 0.4], "site_load_w": [0.0, 0.0, 50000.0],
                   "demand_charge_per_kw": demand_per_kw},
    })
    plan = optimize(p)
    assert plan.session_power_w[0, step] == pytest.approx(8000.0, abs=1e-3)
    assert plan.session_power_w[0, 1 - step] == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize(("tariff", "objective", "value"), [
    ({"price": [0.4, 0.1]}, {}, 10 * 0.4 / 1000),  # the dearest Wh: 0.0004
    ({"price": [-0.5, 0.2]}, {}, 10 * 0.5 / 1000),  # the largest price in size
    ({"price": [0.4, 0.1]}, {"cost": 2.0}, 10 * 2 * 0.4 / 1000),
    ({"price": [0.4, 0.1], "co2_g_per_kwh": [100.0, 300.0]}, {"co2_per_kg": 0.1},
     10 * (0.4 / 1000 + 0.1 * 300 / 1e6)),  # + the dearest CO2 per Wh
    ({"price": [0.4, 0.1], "demand_charge_per_kw": 2.0}, {},
     10 * (0.4 / 1000 + 2.0 / 1000 / 0.25)),  # + a kW's demand charge within one step
    ({"price": [0.4, 0.1], "demand_charge_per_kw": 2.0}, {"demand": False}, 10 * 0.4 / 1000),
    ({"price": [0.0, 0.0]}, {}, 1e-3),  # at least 1 per kWh
])
def test_the_value_of_a_wh_is_ten_times_the_dearest_wh(
    tariff: dict[str, Any], objective: dict[str, Any], value: float
) -> None:
    """``V`` [currency/Wh] (the optimizer's docstring): ten times the most a Wh can cost:
    its price (in size), its CO2 at the CO2 price, and the demand charge of delivering it
    within one step (15 minutes here), at least 1e-3."""
    # catches: in `energy_value`, the price's `cost *` -> `/`, `initial=0.0` -> 1, the
    # `/ 1000.0` -> `/ 1001.0` or `*`, the CO2 term's `/ 1e6` -> `*` or `+=` -> `-=`, the
    # demand term's `/ dt_h` -> `* dt_h`
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 2},
        "nodes": [{"id": "site"}],
        "evses": [{"id": "e1", "node": "site", "max_current_a": 16.0}],
        "sessions": [{"id": "s", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T00:30:00Z", "energy_wh": 2000.0}],
        "tariff": tariff,
    })
    v = model_module.energy_value(p.network(), Objective(**objective))
    assert v == pytest.approx(value, rel=1e-12)


def test_the_re_solve_may_plan_a_car_exactly_its_need_at_the_minimum() -> None:
    """As above, but car C wants 13,800 Wh: exactly two hours at its 6,900 W minimum. Then
    C can be on in both hours (C 6,900 W and A 9,100 W in each): the node's whole 2 x
    16 kWh = 32,000 Wh, the most any plan can deliver, and the plan does."""
    # catches: the promotion's need test `e + gain > need` -> `>=` (C's second hour not
    # promoted: 27,040 Wh)
    p = _site(16000.0, [{"a": 0, "d": 7200, "wh": 30000.0},
                        {"a": 0, "d": 7200, "wh": 13800.0, "min_a": 10.0}],
              n_steps=2, step_s=3600)
    plan = optimize(p)
    assert verify(p, plan) == []
    assert float(plan.energy_wh.sum()) == pytest.approx(32000.0, abs=1e-2)


def test_the_min_cost_flow_plan_says_when_the_minimum_current_repair_changed_it() -> None:
    """The two cars behind 6 kW through the min-cost flow: its 3 kW each are below the
    4,140 W minimum, the repair keeps one car at the minimum (the flow has no re-solve):
    FEASIBLE, 4,140 Wh, and the message says so."""
    # catches: `message += "; minimum-current repair"` -> `-=` (a TypeError)
    p = _site(6000.0, [{"a": 0, "d": 3600, "wh": 5000.0}] * 2, n_steps=1, step_s=3600)
    plan = optimize(p, method="flow")
    assert verify(p, plan) == []
    assert plan.status is SolverStatus.FEASIBLE
    assert plan.message.endswith("; minimum-current repair"), plan.message
    assert sorted(plan.energy_wh.tolist()) == pytest.approx([0.0, 4140.0], abs=1e-3)


@given(st.floats(0.0, 0.5), st.floats(0.0, 20.0), st.integers(1, 4),
       st.floats(0.05, 1.0), st.sampled_from([0.0, 0.1, 0.4]))
@settings(deadline=None)
def test_any_accepted_front_load_and_urgency_serve_every_need_that_fits(
    front_load: float, urgency: float, n_steps: int, share: float, price: float
) -> None:
    """Energy first: with every (``front_load``, ``urgency``) that ``Objective`` accepts,
    two cars (no minimum current) that together fit a 7 kW site get their whole needs
    (``share`` of the site's energy over ``n_steps`` hours, split 2:1)."""
    assume(front_load * (1.0 + urgency) <= 0.5)
    total = 7000.0 * n_steps * share
    p = _cars_on_l1([(0, 3600 * n_steps, 2 * total / 3, 7000.0),
                     (0, 3600 * n_steps, total / 3, 7000.0)],
                    step_s=3600, n_steps=n_steps, limit_w=7000.0,
                    price=[price + 0.01 * t for t in range(n_steps)])
    plan = optimize(p, Objective(front_load=front_load, urgency=urgency), grid="all")
    assert verify(p, plan) == []
    np.testing.assert_allclose(plan.energy_wh, [2 * total / 3, total / 3], rtol=1e-6)


def test_a_ramp_binds_between_the_two_steps_of_a_two_step_horizon() -> None:
    """A 5 kW ramp, two hours at 0.1 then 0.4 per kWh, one car (no minimum current) wanting
    11,040 Wh, no power before the horizon (the first step is free). As much as possible
    in the cheap hour, the drop to the second at most 5 kW: x + y = 11,040, x - y = 5,000:
    8,020 then 3,020 W, the LP's optimum (not the even fallback)."""
    # catches: ramp_rows' `if T > 1` -> `T > 2`, `np.full(2 * (T - 1), cap)` -> `2 * (T - 2)`
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "site", "max_ramp_w": 5000.0}],
        "evses": [{"id": "e1", "node": "site", "max_current_a": 16.0, "min_current_a": 0.0}],
        "sessions": [{"id": "s", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T02:00:00Z", "energy_wh": 11040.0}],
        "tariff": {"price": [0.1, 0.4]},
    })
    plan = optimize(p)
    assert verify(p, plan) == []
    assert plan.status is SolverStatus.OPTIMAL, plan.message
    np.testing.assert_allclose(plan.session_power_w, [[8020.0, 3020.0]], atol=1e-2)


# ---- make_safe: the snap to the minimum (``_repair``) --------------------------------------

def _one_evse_at(limit_w: float | None) -> Problem:
    """One 16 A three-phase EVSE (6 A minimum: 4,140 W) alone on the site, one hour; the
    site limited to ``limit_w``."""
    node: dict[str, Any] = {"id": "site"}
    if limit_w is not None:
        node["max_power_w"] = limit_w
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 1},
        "nodes": [node],
        "evses": [{"id": "e1", "node": "site", "max_current_a": 16.0}],
        "sessions": [{"id": "s", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T01:00:00Z", "energy_wh": 1e5}],
    })


def test_a_power_within_1e_9_below_the_minimum_snaps_up_to_it() -> None:
    """``make_safe`` snaps a power within 1e-9 (relative) below the minimum up to it,
    exactly at the edge too: 4,140 x (1 - 1e-9) W becomes 4,140 W, not 0."""
    # catches: the snap's `sp >= mn * (1 - 1e-9)` -> `>`
    p = _one_evse_at(None)
    net = p.network()
    rows = net.rows(10.0)
    mn = float(net.sess_min_w[0])
    out, _ = repair_module.make_safe(net, rows, np.array([[mn * (1 - 1e-9)]]),
                                     repair_module.allowed_mask(net, rows))
    assert out.tolist() == [[mn]]


def test_a_snap_up_to_the_minimum_that_breaks_a_one_row_node_turns_the_step_off() -> None:
    """The site's one row allows exactly 4,140 x (1 - 1e-9) W; the plan draws that. The
    snap would raise it to the 4,140 W minimum, over the row: the step goes to 0 (the
    second pass checks every node after a snap, one row or many)."""
    # catches: the second pass skipping nodes with `coef.shape[0] == 1` instead of 0
    mn = 4140.0
    p = _one_evse_at(mn * (1 - 1e-9))
    net = p.network()
    rows = net.rows(10.0)
    assert float(net.sess_min_w[0]) == mn and rows[0].coef.shape[0] == 1
    out, changed = repair_module.make_safe(net, rows, np.array([[float(rows[0].rhs[0, 0])]]),
                                           repair_module.allowed_mask(net, rows))
    assert out.tolist() == [[0.0]] and changed


@pytest.mark.parametrize(("step_s", "departure", "need_wh", "even_w"), [
    (3600, "2024-01-01T02:00:00Z", 10000.0, 5000.0),  # 10 kWh over 2 of 3 hours
    (900, "2024-01-01T00:30:00Z", 3000.0, 6000.0),  # 3 kWh over 30 of 45 minutes
])
def test_the_fallback_spreads_each_need_evenly_over_its_own_window(
    step_s: int, departure: str, need_wh: float, even_w: float
) -> None:
    """The solver-free fallback: need over the hours the car may charge, in each of its
    steps, nothing after it leaves (both shares are above the 4,140 W minimum and below
    the 11,040 W maximum)."""
    # catches: the fallback's hours `frac * allowed` -> `frac / allowed` (NaN outside the
    # window: every step at the minimum instead)
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": step_s, "n_steps": 3},
        "nodes": [{"id": "site"}],
        "evses": [{"id": "e1", "node": "site", "max_current_a": 16.0}],
        "sessions": [{"id": "s", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": departure, "energy_wh": need_wh}],
    })
    net = p.network()
    rows = net.rows(10.0)
    out = repair_module.fallback_plan(net, rows, repair_module.allowed_mask(net, rows))
    np.testing.assert_allclose(out, [[even_w, even_w, 0.0]], atol=1e-9)


def test_a_plans_energy_per_session_counts_step_hours_and_the_part_of_a_step_there() -> None:
    """15-minute steps: 4,000 W for a whole step is 1,000 Wh; a car there for the last
    third of a step (from 00:10) at 6,000 W gets 500 Wh of it."""
    # catches: `energy_wh`'s `* dt_h` -> `/ dt_h` (16 times too much with 15-minute steps)
    p = _site(50000.0, [{"a": 0, "d": 900, "wh": 1e5}, {"a": 600, "d": 900, "wh": 1e5}],
              n_steps=1, step_s=900)
    net = p.network()
    got = repair_module.energy_wh(net, np.array([[4000.0], [6000.0]]))
    np.testing.assert_allclose(got, [1000.0, 500.0], rtol=1e-12)
