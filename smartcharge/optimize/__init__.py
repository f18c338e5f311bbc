"""The site power optimizer: allocate a site's power to EVSEs over a horizon.

- :class:`Problem` (with :class:`Horizon`, :class:`Node`, :class:`EVSE`, :class:`Session`,
  :class:`Tariff`, :class:`Objective`): the input, JSON-loadable.
- :func:`optimize`: ``Problem -> Plan`` (an LP through OR-Tools with HiGHS or GLOP, or a
  min-cost flow; a min-current repair; a safe fallback; see docs/optimizer.md).
- :class:`Plan`: power/current per EVSE per step, energy, cost, peak, status, timings, and
  ``to_charging_profiles()`` for OCPP TxProfiles.
- :func:`verify`: ``(Problem, Plan) -> list[Violation]``, exact and solver-independent.
"""

from smartcharge.optimize.plan import EvseProfile, Plan, SolverStatus, Timings
from smartcharge.optimize.problem import (
    EVSE,
    Horizon,
    Node,
    Objective,
    Problem,
    Session,
    Tariff,
    limits_from_schedule,
)
from smartcharge.optimize.solve import optimize
from smartcharge.optimize.verify import Violation, verify

__all__ = [
    "EVSE",
    "EvseProfile",
    "Horizon",
    "Node",
    "Objective",
    "Plan",
    "Problem",
    "Session",
    "SolverStatus",
    "Tariff",
    "Timings",
    "Violation",
    "limits_from_schedule",
    "optimize",
    "verify",
]
