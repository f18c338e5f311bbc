"""solver="auto": a numerical "infeasible" from the first solver gets the second try."""

from __future__ import annotations

from smartcharge import Objective, Problem, SolverStatus, optimize, verify


def test_auto_solver_retries_a_spurious_infeasible() -> None:
    # found by hypothesis (tests/test_optimize_props.py): an energy of 5e-83 Wh next to
    # watts makes GLOP report INFEASIBLE on an LP that is feasible by construction (all
    # off); "auto" must then try HiGHS, not fall back to the even share
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 3},
        "nodes": [{"id": "n0", "max_power_w": 0.0}],
        "evses": [{"id": "e0", "node": "n0", "voltage_v": 120.0, "max_current_a": 6.0}],
        "sessions": [
            {"id": "a", "evse": "e0", "arrival": "2023-12-31T23:45:00Z",
             "departure": "2024-01-01T00:29:01Z", "energy_wh": 0.0},
            {"id": "b", "evse": "e0", "arrival": "2024-01-01T00:29:01Z",
             "departure": "2024-01-01T00:30:01Z", "energy_wh": 4.8175052941214254e-83}],
        "tariff": {"price": [0.0, 0.0, 0.0]}})
    obj = Objective(cost=1.0, co2_per_kg=0.2, fairness=0.0)
    plan = optimize(p, obj)
    assert plan.status in (SolverStatus.OPTIMAL, SolverStatus.FEASIBLE), plan.message
    assert verify(p, plan) == []
