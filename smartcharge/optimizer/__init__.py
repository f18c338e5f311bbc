"""The site power optimizer: allocate a site's power to EVSEs over a horizon.

- :class:`Problem` (with :class:`Horizon`, :class:`Node`, :class:`EVSE`, :class:`Session`,
  :class:`Tariff`, :class:`Objective`, and :class:`CurrentConstraint` for limits given as
  linear constraints on EVSE current phasors): the input, JSON-loadable.
- :func:`optimize`: ``Problem -> Plan`` (an LP through OR-Tools with HiGHS or GLOP, or a
  min-cost flow; a min-current repair; a safe fallback; see docs/optimizer.md).
- :class:`Plan`: power/current per EVSE per step, energy, cost, peak, status, timings, and
  ``to_charging_profiles()`` for OCPP TxProfiles.
- :func:`verify`: ``(Problem, Plan) -> list[Violation]``, exact and solver-independent.
- :func:`warm_up`: load the solvers once, so a re-planning loop's first call is not slow.
- :func:`replan`: ``(Problem, warm) -> (Plan, warm)``, one re-plan of a model-predictive
  loop with lazy node rows, the rows that bound passed on as an explicit state
  (:class:`LazyRows`).
- Baselines to compare with (:mod:`smartcharge.optimizer.baselines`): :func:`uncontrolled`,
  :func:`equal_share`, :func:`earliest_deadline_first`, :func:`least_laxity_first`.
"""

from smartcharge.optimizer._lazy import LazyRows
from smartcharge.optimizer._lp import warm_up
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
    CurrentConstraint,
    Generation,
    Horizon,
    Node,
    Objective,
    Problem,
    Session,
    Tariff,
    limits_from_schedule,
)
from smartcharge.optimizer.solve import optimize, replan
from smartcharge.optimizer.surplus import surplus_rules
from smartcharge.optimizer.verify import Violation, verify

__all__ = [
    "BASELINES",
    "EVSE",
    "Battery",
    "CurrentConstraint",
    "EvseProfile",
    "Generation",
    "Horizon",
    "LazyRows",
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
    "replan",
    "surplus_rules",
    "uncontrolled",
    "verify",
    "warm_up",
]
