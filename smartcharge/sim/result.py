"""What a simulation measured: energy, cost, peaks, exact violations, OCPP traffic.

Everything is computed from what the cars **really drew** (``drawn_w``, the mean power of
each session in each step): the violations are :func:`smartcharge.optimizer.verify` of those
powers on the site's limits, so they are exact on the simulation's grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer.plan import Plan
from smartcharge.optimizer.problem import Problem
from smartcharge.optimizer.verify import Violation, verify

__all__ = ["LIMIT_KINDS", "SimResult"]

FloatArray = npt.NDArray[np.float64]

LIMIT_KINDS = frozenset({"node_power", "node_current", "evse_max", "node_ramp"})
"""The violation kinds that are the site's limits (the others, such as ``min_current`` of a
tapering car, are about sessions)."""


@dataclass(frozen=True, eq=False)
class SimResult:
    """The outcome of :func:`smartcharge.sim.simulate`.

    Attributes
    ----------
    problem
        The site and the sessions on the simulation's grid (arrivals rounded up, departures
        down), with the tariff.
    drawn_w
        (S, T) mean power each session drew in each step [W].
    limit_a
        (S, T) the station's composite limit for the session's EVSE in force over the step
        (taken at its middle, once the changes at the step's start are in: a station's
        clock drift and the controller's clock-skew margin move them by seconds), on the
        station's clock [A per phase] (NaN outside the session).
    pilot_a
        (S, T) the pilot the EVSE signalled over the step [A] (NaN outside the session).
    metered_wh
        (S,) each transaction's final meter register [Wh] (the station's own count).
    vehicle_wh
        (S,) energy each car's battery took [Wh] (the vehicle model's count).
    messages, bytes
        Requests the strategy sent and their compact JSON payload size [bytes].
    by_action
        Action -> number of requests.
    outcomes
        Outcome (``Accepted``, ``Rejected``, ``Error``, ``Timeout``) -> number of answers.
    replan_s
        Seconds each re-plan of the strategy took (if it reports them).
    dropped
        Ids of sessions with no whole step on the grid (not simulated).
    start_w
        (S, T) the power each session drew at the instant its step started [W], under the
        limits in force at that instant (a lowering that lags on a station's clock and a
        raise that does not overlap there). Checked against the site's limits like
        ``drawn_w`` (``None``: not recorded).
    """

    problem: Problem
    drawn_w: FloatArray
    limit_a: FloatArray
    pilot_a: FloatArray
    metered_wh: FloatArray
    vehicle_wh: FloatArray
    messages: int
    bytes: int
    by_action: Mapping[str, int] = field(default_factory=dict)
    outcomes: Mapping[str, int] = field(default_factory=dict)
    replan_s: tuple[float, ...] = ()
    dropped: tuple[str, ...] = ()
    start_w: FloatArray | None = None

    @cached_property
    def plan(self) -> Plan:
        """The drawn powers as a Plan (energy, cost, peak, per-EVSE power)."""
        return Plan.from_session_power(self.problem, self.drawn_w, message="simulated")

    @cached_property
    def checks(self) -> tuple[Violation, ...]:
        """Every rule :func:`verify` finds broken by what was drawn: the steps' mean powers,
        and the site's limits (:data:`LIMIT_KINDS`) also at the instants steps start."""
        found = list(verify(self.problem, self.plan))
        if self.start_w is not None:
            seen = {(v.kind, v.subject, v.step, v.phase) for v in found}
            at_start = Plan.from_session_power(self.problem, self.start_w,
                                               message="simulated, steps' first instants")
            found += [v for v in verify(self.problem, at_start) if v.kind in LIMIT_KINDS
                      and (v.kind, v.subject, v.step, v.phase) not in seen]
        return tuple(found)

    @property
    def violations(self) -> tuple[Violation, ...]:
        """The site's limits broken by what was drawn (:data:`LIMIT_KINDS`)."""
        return tuple(v for v in self.checks if v.kind in LIMIT_KINDS)

    @property
    def energy_wh(self) -> FloatArray:
        """(S,) energy delivered to each session [Wh]."""
        return self.plan.energy_wh

    @property
    def requested_wh(self) -> FloatArray:
        """(S,) energy each session asked for [Wh]."""
        return np.array([s.energy_wh for s in self.problem.sessions], dtype=np.float64)

    @property
    def share_delivered(self) -> float:
        """Delivered over requested energy (1 when nothing was requested)."""
        return self.plan.share_delivered

    @property
    def cost(self) -> float:
        """Energy cost [currency] of what was drawn."""
        return self.plan.cost

    @cached_property
    def node_power_w(self) -> FloatArray:
        """(N, T) power through each node [W] (site load included)."""
        net = self.problem.network()
        ep = net.evse_power(self.drawn_w)
        return np.stack([net.node_power(n, ep) for n in range(net.N)]) if net.N else \
            np.zeros((0, net.T))

    @property
    def peak_w(self) -> Mapping[str, float]:
        """Node id -> highest power through it [W]."""
        ids = self.problem.network().node_ids
        return {n: float(self.node_power_w[i].max(initial=0.0)) for i, n in enumerate(ids)}

    @property
    def times(self) -> tuple[datetime, ...]:
        """The start of each step."""
        h = self.problem.horizon
        return tuple(h.start + timedelta(seconds=k * h.step_s) for k in range(h.n_steps))

    def summary(self) -> str:
        """One line of figures."""
        root = self.problem.network().node_ids[self.problem.network().root]
        return (f"{100 * self.share_delivered:.1f} % of {self.requested_wh.sum() / 1000:.1f} "
                f"kWh, cost {self.cost:.2f}, peak {self.peak_w[root] / 1000:.1f} kW, "
                f"{len(self.violations)} violations, {self.messages} messages, "
                f"{self.bytes} bytes")
