"""The min-cost flow as an oracle for the LP: same delivered energy and cost."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer import Objective, Problem, SolverStatus, optimize, verify
from smartcharge.synthetic import synthetic_problem

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


@st.composite
def tree_problems(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 8))
    step = draw(st.sampled_from([900, 3600]))
    n_nodes = draw(st.integers(1, 4))
    nodes = []
    for i in range(n_nodes):
        node: dict[str, Any] = {"id": f"n{i}"}
        if i:
            node["parent"] = f"n{draw(st.integers(0, i - 1))}"
        if draw(st.booleans()):
            node["max_power_w"] = draw(st.floats(0.0, 40000.0))
        elif draw(st.booleans()):
            node["max_power_w"] = [draw(st.one_of(st.none(), st.floats(0.0, 40000.0)))
                                   for _ in range(n)]
        nodes.append(node)
    n_ev = draw(st.integers(1, 5))
    evses = [{"id": f"e{i}", "node": f"n{draw(st.integers(0, n_nodes - 1))}",
              "max_current_a": draw(st.floats(6.0, 32.0)), "min_current_a": 0.0}
             for i in range(n_ev)]
    sessions = []
    for i in range(n_ev):
        a = draw(st.integers(-1, n))
        d = a + draw(st.integers(1, n + 1))
        sessions.append({
            "id": f"s{i}", "evse": f"e{i}",
            "arrival": (START + timedelta(seconds=a * step)).isoformat(),
            "departure": (START + timedelta(seconds=d * step)).isoformat(),
            "energy_wh": draw(st.floats(0.0, 50000.0)),
            "priority": draw(st.sampled_from([1.0, 1.5])),
        })
    tariff: dict[str, Any] = {"price": [draw(st.floats(0.0, 0.5)) for _ in range(n)]}
    if draw(st.booleans()):
        tariff["site_load_w"] = [draw(st.floats(0.0, 20000.0)) for _ in range(n)]
    return {"horizon": {"start": START.isoformat(), "step_s": step, "n_steps": n},
            "nodes": nodes, "evses": evses, "sessions": sessions, "tariff": tariff}


@given(tree_problems(), st.sampled_from([Objective(), Objective(fairness=0)]))
@settings(deadline=None)
def test_flow_equals_lp(d: dict[str, Any], obj: Objective) -> None:
    p = Problem.model_validate(d)
    lp = optimize(p, obj, method="lp")
    fl = optimize(p, obj, method="flow")
    assert verify(p, fl) == []
    need = sum(s["energy_wh"] for s in d["sessions"])
    tol = 1e-6 * need + 0.05 * p.horizon.n_steps * (len(d["nodes"]) + len(d["sessions"]))
    assert abs(lp.energy_wh.sum() - fl.energy_wh.sum()) <= tol
    assert abs(lp.cost - fl.cost) <= 1e-4 * max(abs(lp.cost), 1.0) + tol * 1e-3


def test_flow_refuses_what_it_cannot_model() -> None:
    p = synthetic_problem(5, n_steps=8, step_s=3600, seed=1)  # feeders have current limits
    with pytest.raises(InvalidProblemError) as info:
        optimize(p, method="flow")
    assert "line-current" in str(info.value)
    plan = optimize(p, method="auto")  # falls back to the LP
    assert "via sparse" in plan.message and verify(p, plan) == []


def test_flow_on_a_hand_case() -> None:
    p = Problem.model_validate({
        "horizon": {"start": START.isoformat(), "step_s": 3600, "n_steps": 4},
        "nodes": [{"id": "g", "max_power_w": 10000}],
        "evses": [{"id": "e0", "node": "g", "max_current_a": 16, "min_current_a": 0}],
        "sessions": [{"id": "s0", "evse": "e0", "arrival": START.isoformat(),
                      "departure": (START + timedelta(hours=4)).isoformat(),
                      "energy_wh": 15000}],
        "tariff": {"price": [0.4, 0.1, 0.2, 0.3]},
    })
    plan = optimize(p, method="flow")
    assert plan.status is SolverStatus.OPTIMAL
    assert [round(x, 3) for x in plan.session_power_w[0]] == [0.0, 10000.0, 5000.0, 0.0]
