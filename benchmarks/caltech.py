"""An MPC replay driver for the Caltech ACN data (the reader lives in the library).

Used by ``benchmarks/bench_caltech.py`` and ``tests/test_caltech_loader.py``. The data reader
and site model are :mod:`smartcharge.sim.caltech` (re-exported here); this module adds the
model-predictive replay of ideal vehicles (:func:`mpc_replay`), its figures and the OCPP
traffic meter. The simulator with realistic vehicles, EVSEs and faults is
:func:`smartcharge.sim.simulate` (``benchmarks/bench_sim.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from smartcharge.ocpp.reconcile import payload_bytes, reconcile, restamp
from smartcharge.ocpp.v201 import SetChargingProfileRequest
from smartcharge.optimizer.plan import Plan
from smartcharge.optimizer.problem import Horizon, Problem
from smartcharge.sim.caltech import (  # noqa: F401  (re-exported for the scripts)
    PACIFIC,
    CaltechSession,
    load_problem,
    read_sessions,
    read_site,
    site_nodes_evses,
    tou_price,
    transaction_id,
)

FloatArray = npt.NDArray[np.float64]
_EPS_WH = 1e-6


# ---- model-predictive replay ---------------------------------------------------------------

Planner = Callable[[Problem], Plan]


def _slice(value: Any, t: int, n: int) -> Any:
    return value[t:t + n] if isinstance(value, tuple) else value


def subproblem(
    problem: Problem, t: int, remaining_wh: FloatArray, *, max_steps: int | None = None
) -> tuple[Problem, list[int]] | None:
    """What is known at the start of step ``t``: the sessions plugged in by then (arrival
    at or before it), not yet gone, still wanting energy, with their remaining need, over a
    horizon from step ``t`` to the last of their departures (at most ``max_steps``).

    Returns the problem and the indices (in ``problem.sessions``) of its sessions, or
    ``None`` when no session is known.
    """
    h = problem.horizon
    now = h.start + timedelta(seconds=t * h.step_s)
    net = problem.network()
    idx = [
        i for i, s in enumerate(problem.sessions)
        if s.arrival <= now < s.departure and remaining_wh[i] > _EPS_WH
        and net.sess_max_w[i] > 0
    ]
    if not idx:
        return None
    last = max(problem.sessions[i].departure for i in idx)
    n = min(math.ceil((last - now).total_seconds() / h.step_s), h.n_steps - t)
    if max_steps is not None:
        n = min(n, max_steps)
    nodes = tuple(
        x.model_copy(update={"max_power_w": _slice(x.max_power_w, t, n),
                             "max_current_a": _slice(x.max_current_a, t, n)})
        for x in problem.nodes
    )
    tf = problem.tariff
    tariff = tf.model_copy(update={
        "price": _slice(tf.price, t, n), "co2_g_per_kwh": _slice(tf.co2_g_per_kwh, t, n),
        "site_load_w": _slice(tf.site_load_w, t, n),
    })
    sessions = tuple(
        problem.sessions[i].model_copy(update={"energy_wh": float(remaining_wh[i])})
        for i in idx
    )
    sub = Problem(horizon=Horizon(start=now, step_s=h.step_s, n_steps=n), nodes=nodes,
                  evses=problem.evses, sessions=sessions, tariff=tariff)
    return sub, idx


def mpc_replay(
    problem: Problem, planner: Planner, *, max_steps: int | None = None,
    on_step: Callable[[int, Plan], None] | None = None,
) -> Plan:
    """Re-plan at every step with only what is known then; apply the plan's first step.

    At step ``t`` the planner sees :func:`subproblem` (sessions that have arrived, their
    declared departure and remaining energy); its first step's power is applied and the
    delivered energy subtracted. Returns the applied powers as a Plan of ``problem``
    (check it with :func:`smartcharge.optimizer.verify.verify`).
    """
    net = problem.network()
    sp = np.zeros((net.S, net.T))
    remaining = net.need_wh.astype(np.float64).copy()
    for t in range(net.T):
        got = subproblem(problem, t, remaining, max_steps=max_steps)
        if got is None:
            continue
        sub, idx = got
        plan = planner(sub)
        if on_step is not None:
            on_step(t, plan)
        sp[idx, t] = plan.session_power_w[:, 0]
        remaining -= sp[:, t] * net.frac[:, t] * net.dt_h
    return Plan.from_session_power(problem, sp, message="MPC replay")


@dataclass(frozen=True)
class ReplayRow:
    """One strategy at one transformer capacity."""

    strategy: str
    capacity_kw: float
    share_delivered: float
    energy_kwh: float
    cost: float
    peak_kw: float
    violations: int
    seconds: float


def summarize(
    strategy: str, capacity_kw: float, problem: Problem, plan: Plan, violations: int,
    seconds: float,
) -> ReplayRow:
    """The figures of one replay."""
    return ReplayRow(strategy, capacity_kw, plan.share_delivered,
                     float(plan.energy_wh.sum()) / 1000.0, plan.cost, plan.peak_w / 1000.0,
                     violations, seconds)


def format_table(rows: Sequence[ReplayRow]) -> str:
    """A Markdown table of replay rows."""
    out = ["| capacity [kW] | strategy | delivered [% of requested] | energy [kWh] | "
           "cost | cost per kWh | peak [kW] | violations | time [s] |",
           "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        per_kwh = r.cost / r.energy_kwh if r.energy_kwh > 0 else 0.0
        out.append(f"| {r.capacity_kw:g} | {r.strategy} | {100 * r.share_delivered:.1f} | "
                   f"{r.energy_kwh:.1f} | {r.cost:.2f} | {per_kwh:.4f} | {r.peak_kw:.1f} | "
                   f"{r.violations} | {r.seconds:.1f} |")
    return "\n".join(out)


# ---- OCPP traffic of the re-plans ----------------------------------------------------------


class OcppTraffic:
    """Bytes sent to the station on each re-plan: everything again, or only what changed.

    Use as ``mpc_replay(..., on_step=meter)``. At each re-plan, every session plugged in
    gets one TxProfile (A, stack level 1) anchored on the replay's fixed horizon: the power
    applied so far, then the new plan, then 0 (:meth:`Plan.to_charging_profiles` of the
    whole horizon, so a profile whose future did not change is identical). Profiles get
    stable ids per EVSE (:func:`smartcharge.ocpp.reconcile.restamp`).

    - ``plain``: the plan as it comes (``to_charging_profiles`` of the re-plan, starting
      now), a SetChargingProfile per session on every re-plan;
    - ``full``: a SetChargingProfile for every anchored profile on every re-plan;
    - ``reconciled``: the messages of :func:`smartcharge.ocpp.reconcile.reconcile` against
      what the station holds after the previous re-plan (a TxProfile disappears when its
      transaction ends, as the station drops it, so it costs no ClearChargingProfile).

    Sizes are compact JSON payloads (:func:`payload_bytes`), without the OCPP-J envelope.
    """

    def __init__(self, problem: Problem) -> None:
        from smartcharge.validation import EVSEInfo, StationContext

        self.problem = problem
        net = problem.network()
        self.net = net
        self.sid = {s.id: i for i, s in enumerate(problem.sessions)}
        self.evse_no = {e.id: k + 1 for k, e in enumerate(problem.evses)}
        self.context = StationContext(
            evses={k + 1: EVSEInfo("AC", 1 if e.phases == 1 else 3)
                   for k, e in enumerate(problem.evses)},
        )
        self.applied = np.zeros((net.S, net.T))
        self.installed: dict[int, tuple[Any, ...]] = {}
        self.tx_on: dict[int, str] = {}
        self.replans = 0
        self.full_messages = 0
        self.full_bytes = 0
        self.messages = 0
        self.bytes = 0
        self.plain_bytes = 0

    def __call__(self, t: int, plan: Plan) -> None:
        """Account for the re-plan ``plan`` made at step ``t``."""
        h = self.problem.horizon
        now = h.start + timedelta(seconds=t * h.step_s)
        rows = [self.sid[s.id] for s in plan.problem.sessions]
        sp = self.applied.copy()
        n = plan.session_power_w.shape[1]
        sp[rows, t:t + n] = plan.session_power_w
        self.applied[rows, t] = plan.session_power_w[:, 0]
        plugged = [i for i, s in enumerate(self.problem.sessions)
                   if s.arrival <= now < s.departure]
        sub = Problem(horizon=h, nodes=self.problem.nodes, evses=self.problem.evses,
                      sessions=tuple(self.problem.sessions[i] for i in plugged))
        anchored = Plan.from_session_power(sub, sp[plugged])
        desired: dict[int, list[Any]] = {}
        for item in anchored.to_charging_profiles("A", stack_level=1, only_active=False):
            desired.setdefault(self.evse_no[item.evse_id], []).append(item.profile)
        want = restamp(desired)
        # the station drops the TxProfile of a transaction that ended
        tx_now = {self.evse_no[self.problem.sessions[i].evse]:
                  str(self.problem.sessions[i].transaction_id) for i in plugged}
        current = {e: ps for e, ps in self.installed.items()
                   if self.tx_on.get(e) == tx_now.get(e)}
        msgs = reconcile(current, want, context=self.context)
        full = [SetChargingProfileRequest(evse_id=e, charging_profile=p)
                for e in sorted(want) for p in want[e]]
        plain = [SetChargingProfileRequest(evse_id=self.evse_no[x.evse_id],
                                           charging_profile=x.profile)
                 for x in plan.to_charging_profiles("A", stack_level=1)]
        self.plain_bytes += payload_bytes(plain)
        self.replans += 1
        self.full_messages += len(full)
        self.full_bytes += payload_bytes(full)
        self.messages += len(msgs)
        self.bytes += payload_bytes(msgs)
        self.installed = dict(want)
        self.tx_on = tx_now
