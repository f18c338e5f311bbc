"""The charge-early tie-break weighted by urgency (``Objective.urgency``), ``replan``'s
default objective, and its grid's blocks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer import Objective, Problem, optimize, verify
from smartcharge.optimizer._coarse import REPLAN_GRID, block_starts
from smartcharge.optimizer._model import urgency
from smartcharge.optimizer._repair import allowed_mask
from smartcharge.optimizer.solve import REPLAN_OBJECTIVE, replan

START = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


def _two_cars(a: tuple[int, float] = (3, 10000.0), b: tuple[int, float] = (3, 7000.0),
              **tariff: Any) -> Problem:
    """Two 7 kW cars behind a 7 kW site, hourly steps, both arriving at the start:
    ``(hours plugged in, need [Wh])`` each. By default A needs 10 kWh in 3 h (its urgency
    10/21) and B 7 kWh in 3 h (1/3)."""
    def car(name: str, hours: int, need: float) -> dict[str, Any]:
        return {"id": name, "evse": f"e{name}", "arrival": START.isoformat(),
                "departure": (START + timedelta(hours=hours)).isoformat(),
                "energy_wh": need, "max_power_w": 7000.0}
    return Problem.model_validate({
        "horizon": {"start": START.isoformat(), "step_s": 3600, "n_steps": 4},
        "nodes": [{"id": "site", "max_power_w": 7000.0}],
        "evses": [{"id": f"e{c}", "node": "site", "voltage_v": 230.0, "phases": 1,
                   "connection": "L1", "max_current_a": 32.0, "min_current_a": 0.0}
                  for c in "AB"],
        "sessions": [car("A", *a), car("B", *b)],
        "tariff": tariff,
    })


def test_the_car_with_less_slack_charges_first_among_equally_good_plans() -> None:
    """Both cars get all they need (17 kWh in 21 kWh of room) in many equally good ways;
    the plain tie-break only asks for early charging overall (GLOP gives A 7, 0 and 3 kW).
    With urgency A, which needs the larger share of its time, finishes first: 7 then 3 kW,
    and B takes the rest: the unique optimum."""
    p = _two_cars()
    plan = optimize(p, Objective(urgency=4.0), grid="all")
    assert verify(p, plan) == []
    sp = plan.session_power_w  # rows: A, B
    np.testing.assert_allclose(sp[0], [7000.0, 3000.0, 0.0, 0.0], atol=0.01)
    np.testing.assert_allclose(sp[1], [0.0, 4000.0, 3000.0, 0.0], atol=0.01)


def test_urgency_changes_no_plans_energy_or_cost() -> None:
    p = _two_cars(price=[0.1, 0.3, 0.2, 0.2])
    a = optimize(p, Objective(), grid="all")
    b = optimize(p, Objective(urgency=4.0), grid="all")
    assert abs(a.energy_wh.sum() - b.energy_wh.sum()) < 1e-6
    assert abs(a.cost - b.cost) < 1e-9


def test_urgency_is_the_share_of_the_window_needed_at_full_power() -> None:
    p = _two_cars()
    net = p.network()
    u = urgency(net, allowed_mask(net, net.rows(10.0)))
    np.testing.assert_allclose(u, [10 / 21, 1 / 3])


def test_a_negative_urgency_is_rejected_by_name() -> None:
    with pytest.raises(InvalidProblemError, match="urgency"):
        Objective.model_validate({"urgency": -1.0})


def test_replan_uses_the_urgency_weighted_objective_by_default() -> None:
    p = _two_cars()
    plan, _ = replan(p, None)
    explicit, _ = replan(p, None, REPLAN_OBJECTIVE)
    assert REPLAN_OBJECTIVE.urgency == 4.0
    assert np.array_equal(plan.session_power_w, explicit.session_power_w)
    np.testing.assert_allclose(plan.session_power_w[0, :2], [7000.0, 3000.0], atol=0.01)


def test_the_min_cost_flow_does_not_take_an_urgency_weighted_objective() -> None:
    with pytest.raises(InvalidProblemError, match="urgency"):
        optimize(_two_cars(), Objective(urgency=1.0), method="flow")


def test_replans_grid_is_steps_for_half_an_hour_quarters_to_two_hours_then_hours() -> None:
    starts = block_starts(288, 300.0, REPLAN_GRID)  # a day of 5-minute steps
    assert starts[:7].tolist() == [0, 1, 2, 3, 4, 5, 6]  # 30 min of single steps
    assert starts[6:13].tolist() == [6, 9, 12, 15, 18, 21, 24]  # quarters to 2 h
    assert np.all(np.diff(starts[12:]) == 12)  # hours after that
    assert len(starts) == 6 + 6 + 22


def test_front_load_above_half_a_whs_value_is_rejected_by_name() -> None:
    with pytest.raises(InvalidProblemError, match="front_load"):
        Objective.model_validate({"front_load": 0.6})


def test_replans_objective_front_loads_and_weights_urgency() -> None:
    assert REPLAN_OBJECTIVE.front_load == 0.03 and REPLAN_OBJECTIVE.urgency == 4.0
    with pytest.raises(InvalidProblemError, match="front-loaded"):
        optimize(_two_cars(), Objective(front_load=0.03), method="flow")


def test_front_loading_serves_sooner_what_the_tie_break_leaves_for_later() -> None:
    """A car may charge in any of three hours, the last one a little cheaper: the plain
    objective waits for the cheap hour (charging early only breaks ties); with a front
    load the energy is worth more now than the price gap, and it charges now."""
    start = START
    p = Problem.model_validate({
        "horizon": {"start": start.isoformat(), "step_s": 3600, "n_steps": 3},
        "nodes": [{"id": "site"}],
        "evses": [{"id": "e", "node": "site", "voltage_v": 230.0, "phases": 1,
                   "connection": "L1", "max_current_a": 32.0, "min_current_a": 0.0}],
        "sessions": [{"id": "car", "evse": "e", "arrival": start.isoformat(),
                      "departure": (start + timedelta(hours=3)).isoformat(),
                      "energy_wh": 7000.0, "max_power_w": 7000.0}],
        "tariff": {"price": [0.30, 0.30, 0.29]},
    })
    waits = optimize(p, Objective(), grid="all").session_power_w[0]
    now = optimize(p, Objective(front_load=0.4), grid="all").session_power_w[0]
    np.testing.assert_allclose(waits, [0.0, 0.0, 7000.0], atol=0.01)
    np.testing.assert_allclose(now, [7000.0, 0.0, 0.0], atol=0.01)
