"""A plan as a JSON document (``smartcharge plan``'s ``plan.json``), plans compared as rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smartcharge.model import format_datetime
from smartcharge.optimizer.plan import Plan
from smartcharge.optimizer.verify import verify

__all__ = ["comparison_rows", "plan_to_json"]


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


def comparison_rows(plans: Mapping[str, Plan]) -> list[dict[str, Any]]:
    """One row per plan: energy delivered [kWh], share of need, cost, peak [kW], and the
    number of limit violations :func:`smartcharge.optimizer.verify` finds."""
    rows = []
    for name, plan in plans.items():
        rows.append({
            "method": name,
            "energy_kwh": round(float(plan.energy_wh.sum()) / 1000.0, 3),
            "share_delivered": round(plan.share_delivered, 6),
            "cost": round(plan.cost, 4),
            "peak_kw": round(plan.peak_w / 1000.0, 3),
            "violations": len(verify(plan.problem, plan)),
        })
    return rows
