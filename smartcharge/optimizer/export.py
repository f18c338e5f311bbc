"""A plan as a JSON document (what ``smartcharge plan`` writes as ``plan.json``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smartcharge.model import format_datetime
from smartcharge.optimizer.plan import Plan
from smartcharge.optimizer.verify import verify

__all__ = ["plan_to_json"]


def plan_to_json(plan: Plan, evse_numbers: Mapping[str, int]) -> dict[str, Any]:
    """A plan as JSON: metrics, power per EVSE [W] per step, energy per session [Wh] and
    the violations :func:`smartcharge.optimizer.verify` finds (deterministic: no timings)."""
    problem = plan.problem
    h = problem.horizon
    violations = verify(problem, plan)
    return {
        "status": str(plan.status),
        "message": plan.message,
        "horizon": {"start": format_datetime(h.start), "step_s": h.step_s,
                    "n_steps": h.n_steps},
        "metrics": {
            "energy_needed_wh": plan.energy_needed_wh,
            "energy_delivered_wh": float(plan.energy_wh.sum()),
            "share_delivered": plan.share_delivered,
            "cost": plan.cost,
            "co2_g": plan.co2_g,
            "peak_w": plan.peak_w,
            "demand_cost": plan.demand_cost,
            "violations": len(violations),
        },
        "evses": [
            {"id": e.id, "evse_id": evse_numbers[e.id], "power_w": plan.power_w[k].tolist()}
            for k, e in enumerate(problem.evses)
        ],
        "sessions": [
            {"id": sess.id, "evse": sess.evse, "energy_wh": float(plan.energy_wh[k]),
             "needed_wh": sess.energy_wh}
            for k, sess in enumerate(problem.sessions)
        ],
        "violations": [
            {"kind": v.kind, "subject": v.subject, "step": v.step, "value": v.value,
             "limit": v.limit, "unit": v.unit, "phase": v.phase, "message": v.message}
            for v in violations
        ],
    }
