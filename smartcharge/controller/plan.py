"""From live sessions to desired envelopes: the Problem, the optimizer, stability.

:func:`build_problem` turns the state into an optimizer :class:`Problem` on the current
grid:

- one session per online EVSE with a running transaction: remaining need = requested -
  metered (>= 0); bounds = the EV's, the external limit's and the measured cap's; a car
  still plugged in within one step of its departure (or past it) is planned to stay
  ``extend_s`` more, in whole ``extend_s`` increments from its declared departure (so the
  extension is the same at every event of a step); no departure known: the transaction's
  start plus ``default_duration_s``;
- the EVSEs it does not plan (idle, or on an offline station) keep their worst case
  (:func:`smartcharge.controller.safety.worst_case`), reserved from every node above them:
  power exactly, line currents by the triangle inequality (``|a + b| <= |a| + |b|``);
- grid limits per step; the tariff's price per step.

:func:`plan_envelopes` optimizes it and **keeps the last sent plan** when it is still safe
(``verify``) and within ``keep_tolerance`` of the new plan's energy and cost: equal-value
plans do not flip (the LP has many optima; without this, an EVSE flipped between 0 and
32 A every step with no tariff). The optimizer is not changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from smartcharge.controller.feedback import remaining_need_wh
from smartcharge.controller.safety import limited_nodes, worst_case
from smartcharge.controller.site import ControllerConfig, Site
from smartcharge.controller.state import ControllerState, Envelope, EvseState
from smartcharge.optimizer import Horizon, Plan, Problem, Session, Tariff, optimize, verify

__all__ = ["build_problem", "departure_of", "envelope_of", "plan_envelopes", "planned_keys"]

FloatArray = npt.NDArray[np.float64]


def planned_keys(site: Site, state: ControllerState) -> list[str]:
    """The EVSE keys the plan controls: online station, running transaction."""
    out = []
    for key in site.keys:
        sid, _ = site.locate(key)
        ev = state.evses.get(key)
        st = state.stations.get(sid)
        if ev is not None and ev.transaction_id is not None and st is not None and st.online:
            out.append(key)
    return out


def departure_of(ev: EvseState, config: ControllerConfig, now: datetime) -> datetime:
    """The departure to plan with (see the module docstring for the extension rule)."""
    start = ev.started if ev.started is not None else now
    dep = ev.departure if ev.departure is not None else (
        start + timedelta(seconds=config.default_duration_s))
    late = (now + timedelta(seconds=config.step_s) - dep).total_seconds()
    if late >= 0:
        dep += timedelta(seconds=config.extend_s * (math.floor(late / config.extend_s) + 1))
    return dep


def _prices(state: ControllerState, h: Horizon) -> float | tuple[float, ...]:
    if not state.tariff:
        return 0.0
    out = []
    for k in range(h.n_steps):
        t = h.start + timedelta(seconds=h.step_s * k)
        price = 0.0
        for start, p in state.tariff:
            if start <= t:
                price = p
        out.append(price)
    return tuple(out)


def _min_opt(*values: float | None) -> float | None:
    got = [v for v in values if v is not None]
    return min(got) if got else None


def build_problem(site: Site, config: ControllerConfig, state: ControllerState, h: Horizon,
                  now: datetime, fallback: Mapping[str, float]) -> Problem:
    """The optimizer problem of the state at ``now`` (see the module docstring)."""
    keys = planned_keys(site, state)
    evses = site.optimizer_evses()
    # reserve what the plan does not control, at its worst case
    base = Problem(horizon=h, nodes=limited_nodes(site, (), h), evses=evses)
    net = base.network()
    worst = worst_case(site, state, h, fallback)
    unplanned = np.array([k not in keys for k in site.keys], dtype=bool)
    ep = np.where(unplanned[:, None], np.minimum(worst * net.evse_wpa[:, None],
                                                 net.evse_max_w[:, None]), 0.0)
    reserve_w = {nid: net.node_power(n, ep) for n, nid in enumerate(net.node_ids)}
    reserve_a = {nid: np.abs(net.line_currents(n, ep)).max(axis=0)
                 for n, nid in enumerate(net.node_ids)}
    nodes = limited_nodes(site, state.grid_limits, h, reserve_w, reserve_a)
    sessions = []
    for key in keys:
        ev = state.evses[key]
        sessions.append(Session(
            id=key, evse=key, arrival=h.start, departure=departure_of(ev, config, now),
            energy_wh=remaining_need_wh(ev, config.default_energy_wh),
            max_current_a=_min_opt(ev.ev_max_current_a, ev.cap_a, ev.external_a),
            max_power_w=_min_opt(ev.ev_max_power_w, ev.external_w),
            min_current_a=ev.ev_min_current_a,
            transaction_id=ev.transaction_id,
        ))
    return Problem(horizon=h, nodes=nodes, evses=evses, sessions=tuple(sessions),
                   tariff=Tariff(price=_prices(state, h)))


def envelope_of(values_a: FloatArray, h: Horizon) -> Envelope:
    """An envelope from per-step currents [A per phase], rounded DOWN to 0.1 A (as
    ``Plan.to_charging_profiles``: rounding never crosses a limit)."""
    vals = np.floor(np.maximum(values_a, 0.0) * 10.0 + 1e-6) / 10.0
    return Envelope(start=h.start, step_s=h.step_s,
                    limits_a=tuple(round(float(v), 1) for v in vals))


def _incumbent(problem: Problem, targets: Mapping[str, Envelope]) -> Plan | None:
    net = problem.network()
    rows: list[FloatArray] = []
    h = problem.horizon
    for s in problem.sessions:
        env = targets.get(s.evse)
        if env is None:
            return None
        e = net.evse_index[s.evse]
        vals = np.nan_to_num(env.on_grid(h.start, h.n_steps), nan=0.0)
        rows.append(np.where(net.frac[len(rows)] > 0, vals * net.evse_wpa[e], 0.0))
    if not rows:
        return None
    plan = Plan.from_session_power(problem, np.array(rows))
    return None if verify(problem, plan) else plan


def plan_envelopes(problem: Problem, config: ControllerConfig,
                   targets: Mapping[str, Envelope]) -> tuple[dict[str, Envelope], str]:
    """Desired envelope per planned EVSE key, and the plan's status (``"kept"`` when the
    last sent plan stays)."""
    if not problem.sessions:
        return {}, "EMPTY"
    plan = optimize(problem, time_limit_s=config.time_limit_s)
    old = _incumbent(problem, targets)
    tol = config.keep_tolerance
    if old is not None:
        new_e, old_e = float(plan.energy_wh.sum()), float(old.energy_wh.sum())
        if (old_e >= (1 - tol) * new_e - 1e-6
                and old.cost <= plan.cost + tol * abs(plan.cost) + 1e-9):
            plan, status = old, "kept"
        else:
            status = str(plan.status)
    else:
        status = str(plan.status)
    h = problem.horizon
    out = {}
    for i, s in enumerate(problem.sessions):
        e = problem.network().evse_index[s.evse]
        out[s.evse] = envelope_of(plan.session_power_w[i] / problem.network().evse_wpa[e], h)
    return out, status
