"""The site power optimizer: allocate a site's power to EVSEs over a horizon.

- :class:`Problem` (with :class:`Horizon`, :class:`Node`, :class:`EVSE`, :class:`Session`,
  :class:`Tariff`, :class:`Objective`): the input, JSON-loadable.
- :func:`optimize`: ``Problem -> Plan`` (an LP through OR-Tools with HiGHS or GLOP, or a
  min-cost flow; a min-current repair; a safe fallback; see docs/optimizer.md).
- :class:`Plan`: power/current per EVSE per step, energy, cost, peak, status, timings, and
  ``to_charging_profiles()`` for OCPP TxProfiles.
- :func:`verify`: ``(Problem, Plan) -> list[Violation]``, exact and solver-independent.
- Baselines to compare with (:mod:`smartcharge.optimizer.baselines`): :func:`uncontrolled`,
  :func:`equal_share`, :func:`earliest_deadline_first`, :func:`least_laxity_first`.
"""

from smartcharge.optimizer.baselines import (
    BASELINES,
    earliest_deadline_first,
    equal_share,
    least_laxity_first,
    uncontrolled,
)
from smartcharge.optimizer.hysteresis import SurplusHysteresis, SwitchState
from smartcharge.optimizer.plan import EvseProfile, Plan, SolverStatus, Timings
from smartcharge.optimizer.problem import (
    EVSE,
    Battery,
    Generation,
    Horizon,
    Node,
    Objective,
    Problem,
    Session,
    Tariff,
    limits_from_schedule,
)
from smartcharge.optimizer.solve import optimize
from smartcharge.optimizer.surplus import surplus_rules
from smartcharge.optimizer.verify import Violation, verify

__all__ = [
    "BASELINES",
    "EVSE",
    "Battery",
    "EvseProfile",
    "Generation",
    "Horizon",
    "Node",
    "Objective",
    "Plan",
    "Problem",
    "Session",
    "SolverStatus",
    "SurplusHysteresis",
    "SwitchState",
    "Tariff",
    "Timings",
    "Violation",
    "earliest_deadline_first",
    "equal_share",
    "least_laxity_first",
    "limits_from_schedule",
    "optimize",
    "surplus_rules",
    "uncontrolled",
    "verify",
]
