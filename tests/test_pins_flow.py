"""Issue 13, round 4: behaviours of the min-cost flow (``method="flow"``), the greedy
tree fill and the staged max flow (``method="tree"``), the lazy node rows and the
baseline policies, each pinned on a small problem whose answer is worked out by hand.

Each test names the behaviour a user relies on; a ``# catches:`` comment names the
planted bug (a mutant of ``benchmarks/mutation/mutate.py``) it was written against.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from smartcharge.optimizer import Objective, Problem, SolverStatus, optimize, verify

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _at(step_s: int, k: float) -> str:
    return (START + timedelta(seconds=k * step_s)).isoformat()


def site(
    n_steps: int, sessions: list[tuple[str, float, float, float]], *, step_s: int = 3600,
    node_w: float | None = 50_000.0, evse_w: float = 11_000.0,
    min_w: float | None = None, **tariff: Any,
) -> Problem:
    """One node (``node_w``), one DC EVSE per session (``evse_w``, minimum ``min_w``);
    sessions ``(id, arrival step, departure step, energy Wh)``."""
    evses: list[dict[str, Any]] = []
    for i, _ in enumerate(sessions):
        e: dict[str, Any] = {"id": f"e{i}", "node": "g", "kind": "DC", "max_power_w": evse_w}
        if min_w is not None:
            e["min_power_w"] = min_w
        evses.append(e)
    node: dict[str, Any] = {"id": "g"}
    if node_w is not None:
        node["max_power_w"] = node_w
    return Problem.model_validate({
        "horizon": {"start": START.isoformat(), "step_s": step_s, "n_steps": n_steps},
        "nodes": [node], "evses": evses,
        "sessions": [{"id": sid, "evse": f"e{i}", "arrival": _at(step_s, a),
                      "departure": _at(step_s, d), "energy_wh": wh}
                     for i, (sid, a, d, wh) in enumerate(sessions)],
        "tariff": {"price": 0.2, **tariff},
    })


def _on(plan_row: Any) -> list[int]:
    return [int(t) for t in np.flatnonzero(plan_row > 1e-6)]


# ---- the min-cost flow (optimizer/_flow) ------------------------------------------------


def test_flow_charges_first_on_a_flat_tariff_over_a_long_horizon() -> None:
    # 96 quarter hours, 5,500 Wh at 11 kW: two steps, and the charge-early tie-break
    # (1e-5 of a Wh's value spread over 96 steps) must pick the first two
    p = site(96, [("a", 0, 96, 5500.0)], step_s=900)
    plan = optimize(p, method="flow")
    assert plan.status is SolverStatus.OPTIMAL and verify(p, plan) == []
    assert _on(plan.session_power_w[0]) == [0, 1]
    assert plan.session_power_w[0, :2].tolist() == pytest.approx([11000.0, 11000.0])
    # catches: the fine cost scale "T / early" -> "T * early" (tie-break rounded away)
    # catches: "sp is None and fine > scale" -> "or" (always re-solved at the coarse scale)


def test_flow_weighs_price_and_co2_as_the_objective_says() -> None:
    # cost of a Wh = price / 1000 + co2_per_kg * g/kWh / 1e6 [currency/Wh], co2_per_kg = 1
    # (a) CO2 outweighs price: step 0: 0.0003 + 0.0001 = 0.0004 < step 1: 0.0001 + 0.0004
    co2_wins = site(2, [("a", 0, 2, 11000.0)], price=[0.3, 0.1], co2_g_per_kwh=[100, 400])
    plan = optimize(co2_wins, Objective(co2_per_kg=1.0), method="flow")
    assert _on(plan.session_power_w[0]) == [0]
    # catches: "price / 1000 + co2 / 1e6" -> "-" (cleaner steps made dearer)
    # (b) price outweighs CO2: step 0: 0.0003 + 0.0001 = 0.0004 > step 1: 0.0001 + 0.00015
    price_wins = site(2, [("a", 0, 2, 11000.0)], price=[0.3, 0.1], co2_g_per_kwh=[100, 150])
    plan = optimize(price_wins, Objective(co2_per_kg=1.0), method="flow")
    assert _on(plan.session_power_w[0]) == [1]
    # catches: "co2 / 1e6" -> "co2 * 1e6" (CO2 a million times too heavy)
    for p in (co2_wins, price_wins):  # the LP agrees
        lp = optimize(p, Objective(co2_per_kg=1.0), method="lp")
        assert _on(lp.session_power_w[0]) == _on(
            optimize(p, Objective(co2_per_kg=1.0), method="flow").session_power_w[0])


def test_flow_charge_early_never_outweighs_a_cheaper_late_step() -> None:
    # 96 quarter hours at 0.20, the last at 0.19: one step of energy goes to the last step
    # (the tie-break is worth at most 1e-5 of a Wh's value; the price gap 0.5 % of it)
    price = [0.2] * 95 + [0.19]
    p = site(96, [("a", 0, 96, 2750.0)], step_s=900, price=price)
    plan = optimize(p, method="flow")
    assert _on(plan.session_power_w[0]) == [95]
    assert plan.session_power_w[0, 95] == pytest.approx(11000.0)
    # catches: the tie-break "early * (t + 1) / T" -> "* T" (worth 0.9 of a Wh at T = 96)


def _two_on_one_step(pa: float, pb: float, need_wh: float = 22000.0) -> Problem:
    """Two sessions of ``need_wh`` each under an 11 kW node for one hour."""
    d = site(1, [("a", 0, 1, need_wh), ("b", 0, 1, need_wh)], node_w=11000.0,
             evse_w=22000.0).model_dump(mode="json")
    d["sessions"][0]["priority"], d["sessions"][1]["priority"] = pa, pb
    return Problem.model_validate(d)


def test_flow_two_fairness_tiers_share_a_scarce_node_equally() -> None:
    # each session's first half of need (5,500 Wh) is worth 1 + fairness, the second 1:
    # the two first halves take the whole 11 kW, so they go half and half
    p = _two_on_one_step(1.0, 1.0, need_wh=11000.0)
    for method in ("flow", "lp"):
        plan = optimize(p, Objective(fairness=0.2, tiers=2), method=method)
        assert plan.status is SolverStatus.OPTIMAL
        assert plan.session_power_w[:, 0].tolist() == pytest.approx([5500.0, 5500.0])
    # catches: the tier bonus "if K > 1" -> "K > 2" (two tiers: one bonus for two arcs)


def test_flow_fairness_bonus_scales_with_priority() -> None:
    # four tiers of 5,500 Wh, fairness 0.4: a tier's value is priority x (1 + 0.4 x
    # (3 - k) / 3). a (priority 1.12): 1.568, 1.419, ...; b (1.0): 1.4, 1.267, ...
    # 11,000 Wh = two tiers: a's second (1.419) beats b's first (1.4), so a takes both
    p = _two_on_one_step(1.12, 1.0)
    for method in ("flow", "lp"):
        plan = optimize(p, Objective(fairness=0.4, tiers=4), method=method)
        assert plan.session_power_w[:, 0].tolist() == pytest.approx([11000.0, 0.0])
    # at priority 1.05 a's second tier (1.33) loses to b's first: 5,500 Wh each
    plan = optimize(_two_on_one_step(1.05, 1.0), Objective(fairness=0.4, tiers=4),
                    method="flow")
    assert plan.session_power_w[:, 0].tolist() == pytest.approx([5500.0, 5500.0])
    # catches: the tier value "priority * bonus" -> "priority / bonus" (a's second tier
    # 1.12 / 1.133 = 0.988 then loses to b's first, 1.0)
