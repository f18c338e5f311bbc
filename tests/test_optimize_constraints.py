"""Constraint sets beside the node tree (ACN-Sim's form): |sum_e a_e I_e| <= limit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer import Plan, Problem, optimize, uncontrolled, verify

PAIRS = {"AB": "L1-L2", "BC": "L2-L3", "CA": "L3-L1"}


def site(tree_limit: float | None, constraints: list[dict[str, Any]] | None = None,
         n_each: int = 3, steps: int = 6) -> Problem:
    """Single-phase 208 V EVSEs on the three line pairs, ``n_each`` per pair, one session
    each, under one node (with a line-current limit ``tree_limit``) and ``constraints``."""
    evses, sessions = [], []
    for pair, conn in PAIRS.items():
        for i in range(n_each):
            e = f"{pair}{i}"
            evses.append({"id": e, "node": "site", "phases": 1, "connection": conn,
                          "line_voltage_v": 208.0, "max_current_a": 32.0,
                          "min_current_a": 0.0})
            sessions.append({"id": f"s{e}", "evse": e, "arrival": "2024-01-01T00:00:00Z",
                             "departure": f"2024-01-01T{steps:02d}:00:00Z",
                             "energy_wh": 6656.0 * (2 + i)})
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": steps},
        "nodes": [{"id": "site", "max_current_a": tree_limit}],
        "evses": evses, "sessions": sessions, "constraints": constraints or [],
    })


def secondary_lines(limit: float, n_each: int = 3) -> list[dict[str, Any]]:
    """Line A = I_AB - I_CA, B = I_BC - I_AB, C = I_CA - I_BC, as ACN-Sim writes them."""
    def coefs(plus: str, minus: str) -> dict[str, float]:
        return {**{f"{plus}{i}": 1.0 for i in range(n_each)},
                **{f"{minus}{i}": -1.0 for i in range(n_each)}}
    return [{"id": "A", "coefficients": coefs("AB", "CA"), "max_current_a": limit},
            {"id": "B", "coefficients": coefs("BC", "AB"), "max_current_a": limit},
            {"id": "C", "coefficients": coefs("CA", "BC"), "max_current_a": limit}]


def test_line_constraints_equal_the_tree_node() -> None:
    tree = site(60.0)
    flat = site(None, secondary_lines(60.0))
    a, b = optimize(tree), optimize(flat)
    assert verify(tree, a) == [] and verify(flat, b) == []
    assert b.energy_wh.sum() == pytest.approx(a.energy_wh.sum(), rel=1e-6)
    assert b.energy_wh.sum() < 0.9 * flat.network().need_wh.sum()  # the limit binds
    # the same feasible set: each plan is safe under the other's description
    assert verify(flat, Plan.from_session_power(flat, a.session_power_w)) == []
    assert verify(tree, Plan.from_session_power(tree, b.session_power_w)) == []
    # the line currents per constraint are the tree node's L1, L2, L3
    lines = np.abs(a.line_currents("site"))
    for k, c in enumerate("ABC"):
        got = np.abs(Plan.from_session_power(flat, a.session_power_w).line_currents(c))
        assert np.allclose(got[0], lines[k]) and np.allclose(got[1:], 0.0)


def test_a_pod_on_one_pair_limits_the_sum_of_its_currents() -> None:
    # as ACN-Sim's Caltech pods (all members on AB): the phasor sum is the plain sum
    members = {f"AB{i}": 1.0 for i in range(3)}
    pod = site(None, [{"id": "pod", "coefficients": members, "max_current_a": 40.0}])
    plan = optimize(pod)
    assert verify(pod, plan) == []
    current = plan.session_power_w[:3].sum(axis=0) / 208.0  # AB EVSEs, 208 V
    assert current.max() <= 40.0 * (1 + 1e-9)
    assert current.max() >= 40.0 * 0.99  # binding: 3 x 32 A want more
    assert np.allclose(np.abs(plan.line_currents("pod")[0]), current)


def test_verify_names_a_broken_constraint() -> None:
    p = site(None, secondary_lines(20.0))
    bad = verify(p, uncontrolled(p))
    assert {v.subject for v in bad if v.kind == "node_current"} == {"A", "B", "C"}
    assert all(v.phase == "L1" for v in bad if v.kind == "node_current")


def test_per_step_limits_and_no_limit_steps() -> None:
    p = site(None, [{"id": "A", "coefficients": {"AB0": 1.0, "CA0": -1.0},
                     "max_current_a": [10.0, None, 10.0, 0.0, 40.0, 40.0]}], n_each=1)
    plan = optimize(p)
    assert verify(p, plan) == []
    assert np.abs(plan.line_currents("A")[0])[3] <= 1e-9


@pytest.mark.parametrize(("change", "rule"), [
    ({"id": "site"}, "unique-id"),
    ({"coefficients": {"nope": 1.0}}, "known-evse"),
    ({"coefficients": {"AB0": float("inf")}}, "finite"),
    ({"max_current_a": [1.0, 2.0]}, "per-step"),
    ({"coefficients": {}}, "too_short"),
])
def test_bad_constraints_are_clear_errors(change: dict[str, Any], rule: str) -> None:
    c = {"id": "A", "coefficients": {"AB0": 1.0}, "max_current_a": 10.0, **change}
    with pytest.raises(InvalidProblemError) as info:
        site(None, [c], n_each=1)
    assert info.value.rule == rule
    assert (info.value.path or "").startswith("constraints[0]")


def test_three_phase_evses_are_refused() -> None:
    d = site(None, n_each=1).model_dump(mode="json")
    d["evses"].append({"id": "tri", "node": "site", "max_current_a": 16.0})
    d["constraints"] = [{"id": "A", "coefficients": {"tri": 1.0}, "max_current_a": 10.0}]
    with pytest.raises(InvalidProblemError) as info:
        Problem.model_validate(d)
    assert info.value.rule == "single-phase"


def test_current_constraints_hold_in_the_site_model() -> None:
    """With generation and a battery (the site model), the constraints still bind the EVSE
    currents: the plan verifies and charges no more than the charging-only one allows."""
    flat = site(None, secondary_lines(60.0))
    data = flat.model_dump(mode="json")
    data["generation"] = [{"id": "pv", "node": "site", "power_w": 5000.0}]
    data["batteries"] = [{"id": "b", "node": "site", "capacity_wh": 10000.0,
                          "initial_wh": 5000.0, "max_charge_w": 3000.0,
                          "max_discharge_w": 3000.0}]
    with_site = Problem.model_validate(data)
    plan = optimize(with_site)
    assert verify(with_site, plan) == [], plan.message
    assert "site model" in plan.message
    assert plan.energy_wh.sum() <= optimize(flat).energy_wh.sum() * (1 + 1e-6)
