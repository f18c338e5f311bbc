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
- grid limits per step; the tariff's price per step;
- a car measured on one line of a three-phase EVSE
  (:func:`~smartcharge.controller.safety.measured_lines`) is planned single-phase on that
  line (its EVSE's power per ampere is one phase's), so the other lines go to the others.

:func:`plan_envelopes` optimizes it -- on a block grid with
:func:`smartcharge.optimizer.replan`, warm from the previous re-plan's rows (the state's
``warm``, :mod:`smartcharge.controller.warm`; ``ControllerConfig.replan_warm``), else with
``optimize`` -- then for stability (the optimizer is not changed):

- :func:`level`: each session's power is averaged over runs of steps where nothing
  changes, so one plan does not alternate between equal optima;
- **the last sent plan is kept** (continued by the new one past its end) when it is still
  safe (``verify``) and within ``keep_tolerance`` of the new plan's energy and cost, so
  re-plans of equal value do not flip schedules;
- else (an arrival, a departure, a cap), **as much of it as can be**
  (:mod:`smartcharge.controller.keep`, ``keep_partial``): the sessions it need not move
  keep their plan, the others are planned on what is left.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from smartcharge.controller.feedback import remaining_need_wh
from smartcharge.controller.keep import as_good, incumbent_rows, partial_keep
from smartcharge.controller.safety import (
    evses_on_lines,
    limited_nodes,
    measured_lines,
    worst_case,
)
from smartcharge.controller.site import ControllerConfig, Site
from smartcharge.controller.state import ControllerState, Envelope, EvseState, WarmDoc
from smartcharge.controller.warm import lazy_rows, warm_doc
from smartcharge.optimizer import (
    Horizon,
    Plan,
    Problem,
    Session,
    Tariff,
    optimize,
    replan,
    verify,
)

__all__ = [
    "build_problem",
    "departure_of",
    "envelope_of",
    "level",
    "plan_envelopes",
    "planned_keys",
    "solve_plan",
]

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
    # the price of each step's start: the last entry starting at or before it (the entries
    # ascend, events.check_event); 0 before the first
    starts = np.array([(t - h.start).total_seconds() for t, _ in state.tariff])
    prices = np.array([0.0, *(p for _, p in state.tariff)])
    at = np.searchsorted(starts, np.arange(h.n_steps, dtype=np.float64) * h.step_s,
                         side="right")
    return tuple(prices[at].tolist())


def _min_opt(*values: float | None) -> float | None:
    got = [v for v in values if v is not None]
    return min(got) if got else None


def _less(value: float | None, by: float) -> float | None:
    return None if value is None else max(value - by, 0.0)


def build_problem(site: Site, config: ControllerConfig, state: ControllerState, h: Horizon,
                  now: datetime, fallback: Mapping[str, float]) -> Problem:
    """The optimizer problem of the state at ``now`` (see the module docstring).

    Planned EVSEs are planned **above their fallback**: an EVSE may draw its fallback at any
    instant (a car may arrive before the CSMS hears of it), so that share is reserved on
    every node for every EVSE, and the optimizer shares out what is left, as extra current
    on top of the fallback (EVSE and vehicle bounds lowered by the fallback, minimum 0 where
    the fallback already meets it). :func:`plan_envelopes` adds the fallback back. So the
    worst case of the plan (``max(fallback, plan)`` per EVSE) keeps every limit."""
    keys = set(planned_keys(site, state))
    base = Problem(horizon=h, nodes=limited_nodes(site, (), h), evses=site.optimizer_evses())
    net = base.network()
    worst = worst_case(site, state, h, fallback)
    fb = np.array([fallback[k] for k in site.keys], dtype=np.float64)
    planned = np.array([k in keys for k in site.keys], dtype=bool)
    amps = np.where(planned[:, None], fb[:, None], worst)
    ep = np.minimum(amps * net.evse_wpa[:, None], net.evse_max_w[:, None])
    reserve_w = {nid: net.node_power(n, ep) for n, nid in enumerate(net.node_ids)}
    reserve_a = {nid: np.abs(net.line_currents(n, ep)).max(axis=0)
                 for n, nid in enumerate(net.node_ids)}
    nodes = limited_nodes(site, state.grid_limits, h, reserve_w, reserve_a)
    lines = {k: v for k, v in measured_lines(site, state, fallback).items() if k in keys}
    evses = evses_on_lines(site, lines)
    wpa_of = {e.id: e.watts_per_amp for e in evses}
    above = []
    for e in evses:
        f = fallback[e.id] if e.id in keys else 0.0
        if f > 0:
            e = e.model_copy(update=dict(
                max_current_a=_less(e.max_current_a, f),
                max_power_w=_less(e.max_power_w, f * e.watts_per_amp),
                min_current_a=0.0, min_power_w=0.0))
        above.append(e)
    sessions = []
    for key in site.keys:
        if key not in keys:
            continue
        ev, f = state.evses[key], fallback[key]
        wpa = wpa_of[key]
        ev_min = ev.ev_min_current_a
        sessions.append(Session(
            id=key, evse=key, arrival=h.start, departure=departure_of(ev, config, now),
            energy_wh=remaining_need_wh(ev, config.default_energy_wh),
            max_current_a=_less(_min_opt(ev.ev_max_current_a, ev.cap_a, ev.external_a), f),
            max_power_w=_less(_min_opt(ev.ev_max_power_w, ev.external_w), f * wpa),
            min_current_a=None if ev_min is None or ev_min <= f else ev_min - f,
            transaction_id=ev.transaction_id,
        ))
    return Problem(horizon=h, nodes=nodes, evses=tuple(above), sessions=tuple(sessions),
                   tariff=Tariff(price=_prices(state, h)))


def envelope_of(values_a: FloatArray, h: Horizon) -> Envelope:
    """An envelope from per-step currents [A per phase], rounded DOWN to 0.1 A (as
    ``Plan.to_charging_profiles``: rounding never crosses a limit)."""
    vals = np.floor(np.maximum(values_a, 0.0) * 10.0 + 1e-6) / 10.0
    return Envelope(start=h.start, step_s=h.step_s,
                    limits_a=tuple(round(float(v), 1) for v in vals))


def level(problem: Problem, plan: Plan) -> Plan:
    """``plan`` with each session's power averaged over every run of steps where nothing
    changes (same sessions present, same price, same node limits, same total power [W,
    rounded]): the LP picks one of many equal optima and often alternates (27.9 A, 9.9 A,
    27.9 A, ...); the average keeps each session's energy in the run, the cost, the total
    per step (nothing is delayed), and every limit (node power and line-current magnitude
    are convex, so the average of feasible steps is feasible). A run where an average would
    fall below a session's minimum stays as solved; the result is checked with ``verify``
    (on failure the plan is returned unchanged)."""
    net = problem.network()
    if net.S == 0 or net.T < 2:
        return plan
    total = np.round(np.asarray(plan.session_power_w).sum(axis=0))
    cols = np.vstack([net.frac, net.price[None, :], net.power_limit, net.current_limit,
                      total[None, :]])
    cols = np.nan_to_num(cols, posinf=1e300)
    new_run = np.concatenate([[True], np.any(cols[:, 1:] != cols[:, :-1], axis=0)])
    starts = [*np.flatnonzero(new_run).tolist(), net.T]
    sp = np.array(plan.session_power_w, dtype=np.float64)
    smin = net.sess_min_w
    for a, b in pairwise(starts):
        if b - a < 2:
            continue
        avg = sp[:, a:b].mean(axis=1)
        if np.any((avg > 1e-9) & (avg < smin * (1 - 1e-9))):
            continue
        sp[:, a:b] = avg[:, None]
    out = Plan.from_session_power(problem, sp, status=plan.status, message=plan.message)
    return plan if verify(problem, out) else out


def solve_plan(problem: Problem, config: ControllerConfig, warm: WarmDoc | None,
          ) -> tuple[Plan, WarmDoc | None]:
    """The plan of ``problem``, and the warm state for the next re-plan.

    On a block grid (``config.grid`` ``"mpc"`` or pairs) with ``config.replan_warm``:
    :func:`~smartcharge.optimizer.replan` from ``warm`` (the state the previous call
    returned, ``None`` for a cold start), returning its new one (``None`` when it solved
    no LP: a fallback, or the site model of generation and batteries). Else
    :func:`~smartcharge.optimizer.optimize` with every row, and ``warm`` passed on as it
    was. A pure function: same arguments, same plan and warm state, byte for byte."""
    if config.replan_warm and config.grid != "all":
        plan, rows = replan(problem, lazy_rows(warm), time_limit_s=config.time_limit_s,
                            grid=config.grid, solver=config.solver)
        return plan, warm_doc(rows)
    plan = optimize(problem, time_limit_s=config.time_limit_s, grid=config.grid,
                    solver=config.solver)
    return plan, warm


def plan_envelopes(problem: Problem, config: ControllerConfig,
                   targets: Mapping[str, Envelope], fallback: Mapping[str, float],
                   warm: WarmDoc | None = None,
                   ) -> tuple[dict[str, Envelope], str, WarmDoc | None]:
    """Desired envelope per planned EVSE key (the plan plus the fallback), the plan's
    status (``"kept"`` when the last sent plan stays, ``"kept-partly"`` when part of it
    does), and the warm state for the next re-plan (:func:`solve_plan`; ``warm`` unchanged
    when there is nothing to plan)."""
    if not problem.sessions:
        return {}, "EMPTY", warm
    plan, warm = solve_plan(problem, config, warm)
    if not config.stable:
        return _envelopes(problem, plan, fallback), str(plan.status), warm
    plan = level(problem, plan)
    old_sp, has = incumbent_rows(problem, targets, plan, fallback)
    if has.all():
        old = Plan.from_session_power(problem, old_sp)
        if not verify(problem, old) and as_good(old, plan, config.keep_tolerance):
            return _envelopes(problem, old, fallback), "kept", warm
    if config.keep_partial:
        part = partial_keep(problem, config, old_sp, has, plan, level)
        if part is not None:
            return _envelopes(problem, part, fallback), "kept-partly", warm
    return _envelopes(problem, plan, fallback), str(plan.status), warm


def _envelopes(problem: Problem, plan: Plan, fallback: Mapping[str, float],
               ) -> dict[str, Envelope]:
    net = problem.network()
    out = {}
    for i, s in enumerate(problem.sessions):
        e = net.evse_index[s.evse]
        amps = plan.session_power_w[i] / net.evse_wpa[e] + fallback[s.evse]
        out[s.evse] = envelope_of(amps, problem.horizon)
    return out
