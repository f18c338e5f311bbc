"""The optimizer's output: power per EVSE and session per step, metrics, OCPP profiles.

A :class:`Plan` can also be built from any power array (``Plan.from_session_power``), e.g.
from a baseline scheduler, and then checked with :func:`smartcharge.optimizer.verify`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from smartcharge.errors import InvalidProblemError
from smartcharge.model.enums import (
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
)
from smartcharge.model.types import ChargingProfile, ChargingSchedule, ChargingSchedulePeriod
from smartcharge.optimizer._site import site_arrays, soc_wh

if TYPE_CHECKING:
    from collections.abc import Callable

    from smartcharge.optimizer._network import Network
    from smartcharge.optimizer.problem import Problem

__all__ = ["EvseProfile", "Plan", "SolverStatus", "Timings"]

FloatArray = npt.NDArray[np.float64]


class SolverStatus(str, Enum):
    """How a plan was obtained.

    - ``OPTIMAL``: the LP optimum, no repair needed (min-current rule met as solved).
    - ``FEASIBLE``: the LP optimum after the min-current repair (safe, maybe not optimal),
      or a solver stopped early with a feasible point.
    - ``FALLBACK``: the solver failed or ran out of time; a safe equal-share plan.
    - ``EMPTY``: nothing to schedule (no session can charge in the horizon).
    """

    OPTIMAL = "OPTIMAL"
    FEASIBLE = "FEASIBLE"
    FALLBACK = "FALLBACK"
    EMPTY = "EMPTY"

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class Timings:
    """Wall-clock time [s] of each phase."""

    build: float = 0.0
    solve: float = 0.0
    extract: float = 0.0

    @property
    def total(self) -> float:
        """Sum of the phases [s]."""
        return self.build + self.solve + self.extract


@dataclass(frozen=True)
class EvseProfile:
    """One TxProfile for one session on one EVSE.

    ``lossy_steps``: the steps where the plan discharges (V2X) and the OCPP 2.0.1 profile
    can only say ``limit 0`` (empty for charging-only sessions). Send the 2.1 profiles of
    :func:`smartcharge.ocpp.v21.plan_to_v21_profiles` to stations that speak 2.1.
    """

    evse_id: str
    session_id: str
    profile: ChargingProfile
    lossy_steps: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class Plan:
    """Power per session and EVSE per step, with its metrics.

    Attributes
    ----------
    problem
        The problem it answers.
    session_power_w
        (n_sessions, n_steps) power limit [W] of each session in each step (0 outside
        its window). A session draws it only while plugged in (``frac`` of the step).
        Negative for a V2X session that discharges (feeds power back).
    power_w
        (n_evse, n_steps) [W]: sum of the EVSE's sessions.
    current_a
        (n_evse, n_steps) [A per phase / per conductor]: ``power_w / watts_per_amp``.
    energy_wh
        (n_sessions,) energy delivered [Wh], net of what V2X sessions fed back.
    cost
        Energy cost of the charging [currency] (price x energy; discharged energy counts
        as revenue). With generation or batteries the site's bill is :attr:`grid_cost`.
    co2_g
        CO2 of the charging [g] (0 without an intensity).
    peak_w
        Highest power at the root over the horizon [W], site load, batteries and
        generation included.
    demand_cost
        ``demand_charge_per_kw * peak_w / 1000`` [currency].
    status, timings, message
        How it was obtained.
    battery_power_w
        (n_batteries, n_steps) [W] of the problem's batteries, positive charging,
        negative discharging (one signed value per step: a battery never does both at
        once). ``None`` given: idle (zeros).
    generation_w
        (n_generators, n_steps) [W] of generation used (the rest of the forecast is
        curtailed). ``None`` given: all of the forecast.
    """

    problem: Problem
    session_power_w: FloatArray
    status: SolverStatus = SolverStatus.FEASIBLE
    timings: Timings = field(default_factory=Timings)
    message: str = ""
    battery_power_w: FloatArray | None = None
    generation_w: FloatArray | None = None
    power_w: FloatArray = field(init=False)
    current_a: FloatArray = field(init=False)
    energy_wh: FloatArray = field(init=False)
    cost: float = field(init=False)
    co2_g: float = field(init=False)
    peak_w: float = field(init=False)
    demand_cost: float = field(init=False)

    def __post_init__(self) -> None:
        net: Network = self.problem.network()
        sp = np.array(self.session_power_w, dtype=np.float64, order="C", copy=True)
        if sp.shape != (net.S, net.T):
            raise InvalidProblemError(
                f"session_power_w must have shape {(net.S, net.T)}, got {sp.shape}",
                path="session_power_w", rule="shape",
            )
        ep = net.evse_power(sp)
        self._site_arrays(net.T)
        delivered = sp * net.frac * net.dt_h  # Wh per session and step
        energy = delivered.sum(axis=1)
        per_step = delivered.sum(axis=0)
        root = net.node_power(net.root, ep)
        assert self.battery_power_w is not None and self.generation_w is not None
        if self.battery_power_w.size or self.generation_w.size:  # batteries, generation
            root = root + self.battery_power_w.sum(axis=0) - self.generation_w.sum(axis=0)
        for name, value in (
            ("session_power_w", sp),
            ("power_w", ep),
            ("current_a", ep / net.evse_wpa[:, None] if net.E else np.zeros((0, net.T))),
            ("energy_wh", energy),
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "cost", float(per_step @ net.price) / 1000.0)
        object.__setattr__(self, "co2_g", float(per_step @ net.co2) / 1000.0)
        peak = float(root.max()) if root.size else 0.0
        object.__setattr__(self, "peak_w", peak)
        object.__setattr__(self, "demand_cost", net.demand_charge * max(peak, 0.0) / 1000.0)

    def _site_arrays(self, T: int) -> None:
        """Battery powers (zeros if not given) and generation used (the forecast if not
        given) as read-only arrays of the right shape."""
        for name, default, what in (
            ("battery_power_w", np.zeros((len(self.problem.batteries), T)), "batteries"),
            ("generation_w", np.stack([self.problem.series(g.power_w)
                                       for g in self.problem.generation])
             if self.problem.generation else np.zeros((0, T)), "generators"),
        ):
            given = getattr(self, name)
            value = default if given is None else np.array(given, dtype=np.float64,
                                                           order="C", copy=True)
            if value.shape != default.shape:
                raise InvalidProblemError(
                    f"{name} must have shape {default.shape} (n_{what}, n_steps), got "
                    f"{value.shape}", path=name, rule="shape")
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickle only what the plan is made of; the derived arrays and metrics are recomputed
        # on arrival (a 1,000-EVSE plan travels at about a third of its in-memory size).
        return (
            type(self),
            (self.problem, self.session_power_w, self.status, self.timings, self.message,
             self.battery_power_w, self.generation_w),
        )

    # ---- site metrics (generation, batteries, grid exchange) ------------------------------

    @property
    def grid_w(self) -> FloatArray:
        """(n_steps,) average net exchange at the root [W] over each step: positive
        import, negative export (EVs while plugged in, site load, batteries, generation)."""
        net = self.problem.network()
        ev = (self.session_power_w * net.frac).sum(axis=0)
        assert self.battery_power_w is not None and self.generation_w is not None
        out = (ev + net.base_w + self.battery_power_w.sum(axis=0)
               - self.generation_w.sum(axis=0))
        return np.asarray(out, dtype=np.float64)

    @property
    def import_wh(self) -> float:
        """Energy imported at the root over the horizon [Wh]."""
        return float(np.maximum(self.grid_w, 0.0).sum() * self.problem.horizon.step_h)

    @property
    def export_wh(self) -> float:
        """Energy exported at the root over the horizon [Wh]."""
        return float(np.maximum(-self.grid_w, 0.0).sum() * self.problem.horizon.step_h)

    @property
    def grid_cost(self) -> float:
        """The site's energy bill [currency]: imports at the import price minus exports at
        the feed-in price (demand charge and battery wear not included)."""
        site = site_arrays(self.problem)
        g = self.grid_w * self.problem.horizon.step_h / 1000.0  # kWh per step
        price = self.problem.network().price
        return float(np.maximum(g, 0.0) @ price - np.maximum(-g, 0.0) @ site.export_price)

    @property
    def soc_wh(self) -> FloatArray:
        """(n_batteries, n_steps) state of charge [Wh] at the end of each step."""
        assert self.battery_power_w is not None
        return soc_wh(site_arrays(self.problem), self.battery_power_w,
                      self.problem.horizon.step_h)

    @property
    def self_consumption(self) -> float:
        """Share of the generation used that stays on site (1 - export / generation used;
        1 without generation)."""
        assert self.generation_w is not None
        used = float(self.generation_w.sum()) * self.problem.horizon.step_h
        return 1.0 if used <= 0 else 1.0 - min(self.export_wh, used) / used

    @classmethod
    def from_session_power(
        cls,
        problem: Problem,
        session_power_w: npt.ArrayLike,
        *,
        status: SolverStatus = SolverStatus.FEASIBLE,
        message: str = "",
    ) -> Plan:
        """A plan from a (n_sessions, n_steps) power array [W] obtained elsewhere."""
        return cls(problem, np.asarray(session_power_w, dtype=np.float64), status,
                   Timings(), message)

    @property
    def session_ids(self) -> tuple[str, ...]:
        """Row labels of ``session_power_w`` and ``energy_wh``."""
        return tuple(s.id for s in self.problem.sessions)

    @property
    def evse_ids(self) -> tuple[str, ...]:
        """Row labels of ``power_w`` and ``current_a``."""
        return tuple(e.id for e in self.problem.evses)

    def line_currents(self, node: str) -> npt.NDArray[np.complex128]:
        """The line current phasors (3, T) [A] of node ``node`` (lines L1, L2, L3, site
        load included) under this plan: what the node's ``max_current_a`` limits, in
        magnitude. ``abs(plan.line_currents("site"))`` gives the magnitudes.

        Raises :class:`~smartcharge.errors.InvalidProblemError` for an unknown node.
        """
        net, n = self._node(node)
        return net.line_currents(n, net.evse_power(self.session_power_w))

    def node_power(self, node: str) -> FloatArray:
        """The real power (T,) [W] through node ``node`` (site load included).

        Raises :class:`~smartcharge.errors.InvalidProblemError` for an unknown node.
        """
        net, n = self._node(node)
        return net.node_power(n, net.evse_power(self.session_power_w))

    def _node(self, node: str) -> tuple[Network, int]:
        """The network and the index of node ``node`` (InvalidProblemError if unknown)."""
        net: Network = self.problem.network()
        n = net.node_index.get(node)
        if n is None:
            raise InvalidProblemError(f"unknown node {node!r}", path="node", rule="known-node")
        return net, n

    @property
    def discharged_wh(self) -> FloatArray:
        """(n_sessions,) energy fed back by V2X sessions [Wh] (>= 0; ``energy_wh`` is net)."""
        net = self.problem.network()
        out = (np.maximum(-self.session_power_w, 0.0) * net.frac).sum(axis=1) * net.dt_h
        return np.asarray(out, dtype=np.float64)

    @property
    def energy_needed_wh(self) -> float:
        """Total energy the sessions want [Wh]."""
        return float(sum(s.energy_wh for s in self.problem.sessions))

    @property
    def share_delivered(self) -> float:
        """Delivered energy over wanted energy (1 when nothing is wanted)."""
        need = self.energy_needed_wh
        return 1.0 if need <= 0 else float(self.energy_wh.sum()) / need

    def to_charging_profiles(
        self,
        unit: Literal["A", "W"] | ChargingRateUnit = "A",
        *,
        stack_level: int = 0,
        profile_id: int | Callable[[str, str], int] = 1,
        only_active: bool = True,
    ) -> list[EvseProfile]:
        """One OCPP TxProfile per session (Absolute, ``startSchedule`` = horizon start).

        Limits are rounded DOWN to 0.1 (A per phase or W), so no rounding ever crosses a
        limit; equal neighbouring periods are merged; steps outside the session are 0.

        OCPP 2.0.1 cannot ask a vehicle to discharge: a step where a V2X session's plan is
        negative gets ``limit 0`` (the station stops charging, the EV does not feed back),
        and the step is listed in that profile's :attr:`EvseProfile.lossy_steps`. The 2.1
        profiles (setpoints and discharge limits) come from
        :func:`smartcharge.ocpp.v21.plan_to_v21_profiles`. **A plan with lossy steps is not
        safe to send as 2.0.1 profiles**: the other sessions' limits may count on the
        discharge (it frees capacity under a shared limit). For stations that speak only
        2.0.1, plan again with their sessions' ``max_discharge_w`` set to 0.

        Parameters
        ----------
        unit
            ``"A"`` (per phase) or ``"W"``.
        stack_level
            Stack level of every profile.
        profile_id
            First id (sessions numbered in problem order: ``profile_id + i``), or a function
            ``(evse_id, session_id) -> id`` for stable ids of the caller's choosing.
        only_active
            Skip sessions with no step inside the horizon.
        """
        net = self.problem.network()
        u = ChargingRateUnit(unit)
        if not isinstance(stack_level, int) or isinstance(stack_level, bool) or stack_level < 0:
            raise InvalidProblemError(f"stack level must be an int >= 0, got {stack_level!r}",
                                      path="stack_level", rule="ge0")
        out: list[EvseProfile] = []
        dur = net.T * net.step_s
        cache: dict[tuple[int, float, int | None], ChargingSchedulePeriod] = {}
        for i, sess in enumerate(self.problem.sessions):
            if only_active and not np.any(net.frac[i] > 0):
                continue
            e = int(net.sess_evse[i])
            evse = self.problem.evses[e]
            p = self.session_power_w[i]
            vals = p / net.evse_wpa[e] if u is ChargingRateUnit.A else p
            # floor to 0.1; the 1e-6 only absorbs float noise such as 6 A * 690 / 690 =
            # 5.999999999999999 (it can raise a value by at most 1e-7 of the unit)
            vals = np.round(np.floor(np.maximum(vals, 0.0) * 10.0 + 1e-6) / 10.0, 1)
            starts = np.flatnonzero(np.concatenate([[True], vals[1:] != vals[:-1]]))
            phases = None if evse.kind == "DC" else evse.phases
            # values are valid by construction (>= 0, one decimal): skip re-validation
            periods = tuple(
                _period(int(k) * net.step_s, float(vals[k]), phases, cache)
                for k in starts.tolist()
            )
            pid = profile_id(evse.id, sess.id) if callable(profile_id) else profile_id + i
            if not isinstance(pid, int) or isinstance(pid, bool):
                raise InvalidProblemError(f"profile id must be an int, got {pid!r}",
                                          path="profile_id", rule="type")
            if len(periods) > 1024:
                raise InvalidProblemError(
                    f"session {sess.id!r} needs {len(periods)} periods, OCPP allows 1024: "
                    "use fewer steps", path="chargingSchedulePeriod", rule="maxItems")
            # every field is valid by construction (checked above or by the Problem)
            sched = ChargingSchedule.model_construct(
                id=pid, start_schedule=net.start, duration=dur, charging_rate_unit=u,
                charging_schedule_period=periods, min_charging_rate=None, sales_tariff=None,
                custom_data=None,
            )
            prof = ChargingProfile.model_construct(
                id=pid, stack_level=stack_level,
                charging_profile_purpose=ChargingProfilePurpose.TxProfile,
                charging_profile_kind=ChargingProfileKind.Absolute, recurrency_kind=None,
                valid_from=None, valid_to=None, charging_schedule=(sched,),
                transaction_id=sess.transaction_id, custom_data=None,
            )
            lossy: tuple[int, ...] = ()
            if net.sess_v2x[i]:
                lossy = tuple(int(k) for k in np.flatnonzero((p < 0) & (net.frac[i] > 0)))
            out.append(EvseProfile(evse.id, sess.id, prof, lossy))
        return out

    def summary(self) -> str:
        """One line: status, share of need delivered, cost, peak and timings."""
        t = self.timings
        return (
            f"{self.status}: {self.share_delivered:.1%} of {self.energy_needed_wh / 1000:.1f} "
            f"kWh, cost {self.cost:.2f}, peak {self.peak_w / 1000:.1f} kW, build "
            f"{t.build:.3f} s, solve {t.solve:.3f} s, extract {t.extract:.3f} s"
        )


def _period(
    start: int, limit: float, phases: int | None,
    cache: dict[tuple[int, float, int | None], ChargingSchedulePeriod],
) -> ChargingSchedulePeriod:
    """A period built without re-validation (values valid by construction), shared between
    profiles (the models are frozen): ``model_construct`` costs 20 us a call."""
    key = (start, limit, phases)
    got = cache.get(key)
    if got is None:
        got = ChargingSchedulePeriod.model_construct(
            start_period=start, limit=limit, number_phases=phases, phase_to_use=None,
            custom_data=None,
        )
        cache[key] = got
    return got
