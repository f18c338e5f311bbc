"""Session modes and live PV surplus in the controller: the switch and the plan.

A session's mode is its EVSE's default (:attr:`EvseSpec.mode`) unless a
:class:`~smartcharge.controller.events.SessionMode` event set another for the running
transaction (it is forgotten when the transaction ends). ``planned`` and ``fast`` sessions
go to the optimizer as they are (``fast`` with its mode). ``pv`` and ``min_pv`` sessions
have a **surplus switch**, per session, in the state:

1. at every :class:`~smartcharge.controller.events.SiteMeterReading` (the grid connection's
   exchange ``R`` [W], import positive) the surplus of these sessions is ``S = sum of
   their draws - R``: the export plus what their cars draw now (each one's last meter
   reading [W]), as :mod:`smartcharge.optimizer.hysteresis` defines it for one car. Several
   share it in site order, first those switched on, then the others: each sees ``S`` less
   the minimum powers of those before it (for a session switched off, only of those on,
   or about to be: a start pending), so two cars do not both start on a surplus that
   carries one, and the last one on sheds first. Each session's share goes through a
   :class:`~smartcharge.optimizer.SurplusHysteresis` whose thresholds are the session's
   minimum power (its minimum current, else the EVSE's, else 6 A on AC; at least its
   fallback current; times the EVSE's W per A) plus ``config.pv_start_margin_w`` to
   start, minus ``config.pv_stop_margin_w`` to stop, held ``config.pv_start_hold_s`` /
   ``pv_stop_hold_s``. Readings are the only clock of the switch (a hold completes at the
   first reading past it); a reading not after the last one is ignored (the same event
   twice is applied once). A reading
   re-plans when a switch flips, or when a switch is on and the import rose (the surplus
   fell) since the last reading, or fell by more than ``config.deadband_w`` (a smaller
   rise of the surplus waits for the next step's re-plan: the plan is never made with
   more surplus than the last reading's);
2. switch **off**: a ``pv`` session is planned at 0 A, a ``min_pv`` one at its minimum;
3. switch **on**: both are planned as the optimizer's ``min_pv`` mode (the minimum from any
   source, more only where the site would otherwise export), so a cloud shorter than the
   stop hold keeps the car at its minimum instead of cycling it (the car may import up to
   its minimum power while a stop is pending: the price of not cycling the contactor);
   when the surplus is at least the minimum power, the planned step imports nothing.

A session that charges is planned above its fallback like any other (so its minimum is at
least the fallback); a ``pv`` session switched off is planned at 0 A, below its fallback (a
decrease, always safe: the worst case still counts the fallback, which a car arriving after
this one would draw).

**Generation in the plan.** The net generation the EVs may use at the current step is
measured: ``N0 = sum of the EV draws - R`` (PV less the load no EVSE meters), from a
reading at most ``config.pv_reading_max_age_s`` old. The Problem gets a generator whose
power is ``N0`` at the first step, then the site's forecast (:class:`SiteGeneration`,
summed); without a forecast, ``N0`` for the whole horizon (persistence: what the site has
now, it keeps). Less, for the optimizer, the fallback power of every session planned above
its fallback (drawn outside the optimizer's columns).

**Safety rule: PV relieves no limit.** The generator is placed at a node added above the
grid connection (the Problem's new root, without limits): node power and line-current
limits are met by the EVs alone, as if the PV dropped to 0 at once (a cloud can remove it
instantly); and the worst-case gate, which knows no generation, is unchanged. The PV only
decides *which* cars charge and when, never how much the nodes carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
import numpy.typing as npt

from smartcharge.controller.events import SessionMode, SiteMeterReading
from smartcharge.controller.site import ControllerConfig, EvseSpec, Site
from smartcharge.controller.state import ControllerState, EvseState, SiteMeterState, SwitchDoc
from smartcharge.errors import ControllerError
from smartcharge.optimizer import Generation, Node, Problem, Session, SurplusHysteresis
from smartcharge.optimizer.hysteresis import SwitchState
from smartcharge.optimizer.problem import DEFAULT_AC_MIN_CURRENT_A

__all__ = [
    "PV_MODES",
    "apply_pv_event",
    "draw_w",
    "live_surplus_w",
    "min_current_a",
    "min_power_a",
    "pv_problem",
    "session_mode",
    "switch_rule",
]

FloatArray = npt.NDArray[np.float64]
PV_MODES = frozenset({"pv", "min_pv"})
"""The modes with a surplus switch."""
SURPLUS_ID = "surplus"
"""The id of the Problem's generator (the live surplus and the forecast)."""


def session_mode(site: Site, state: ControllerState, key: str) -> str:
    """The mode of the session on EVSE ``key``: the event's, else the EVSE's default."""
    ev = state.evses.get(key)
    if ev is not None and ev.mode is not None:
        return ev.mode
    return site.spec(key).mode


def min_current_a(spec: EvseSpec, ev: EvseState) -> float:
    """The least current [A per phase] the car charges at: the EV's minimum, else the
    EVSE's (current, else power over W per A), else 6 A on AC (IEC 61851-1), 0 on DC."""
    if ev.ev_min_current_a is not None:
        return ev.ev_min_current_a
    if spec.min_current_a is not None:
        return spec.min_current_a
    if spec.min_power_w is not None:
        return spec.min_power_w / spec.watts_per_amp
    return DEFAULT_AC_MIN_CURRENT_A if spec.kind == "AC" else 0.0


def min_power_a(spec: EvseSpec, ev: EvseState, fallback_a: float) -> float:
    """The least current [A per phase] a ``pv`` / ``min_pv`` session charges at when it
    charges: :func:`min_current_a`, at least its fallback (a profile above the fallback
    never goes below it)."""
    return max(min_current_a(spec, ev), fallback_a)


def switch_rule(config: ControllerConfig, spec: EvseSpec, ev: EvseState,
                fallback_a: float) -> SurplusHysteresis:
    """The hysteresis of a session (module docstring: thresholds from its minimum power)."""
    low = min_power_a(spec, ev, fallback_a) * spec.watts_per_amp
    return SurplusHysteresis(start_w=low + config.pv_start_margin_w,
                             stop_w=max(low - config.pv_stop_margin_w, 0.0),
                             start_hold_s=float(config.pv_start_hold_s),
                             stop_hold_s=float(config.pv_stop_hold_s))


def draw_w(spec: EvseSpec, ev: EvseState) -> float:
    """What the car draws now [W]: its last power reading, else its highest phase current
    times the EVSE's W per A, else 0."""
    if ev.power_w is not None:
        return ev.power_w
    if ev.currents_a is not None:
        got = [c for c in ev.currents_a if c is not None]
        if got:
            return max(got) * spec.watts_per_amp
    return 0.0


def _root(site: Site) -> str:
    return next(n.id for n in site.nodes if n.parent is None)


def _evse_key(site: Site, station_id: str, evse_id: int) -> str:
    if evse_id not in {e.evse_id for e in site.station(station_id).evses}:
        raise ControllerError(f"station {station_id!r} has no EVSE {evse_id}",
                              path="evse_id", rule="known-evse")
    return site.evse_key(station_id, evse_id)


def apply_pv_event(site: Site, config: ControllerConfig, state: ControllerState,
                   event: SessionMode | SiteMeterReading, now: datetime,
                   fallback: Mapping[str, float]) -> ControllerState:
    """The state after a :class:`SessionMode` or a :class:`SiteMeterReading` (idempotent:
    the same event twice leaves the state as once); ``fallback``: the fallback current of
    every EVSE key [A per phase].

    Raises
    ------
    ControllerError
        An unknown station or EVSE; a reading at a node that is not the grid connection
        (rule ``grid-connection``: only the root's exchange is a surplus).
    """
    if isinstance(event, SessionMode):
        key = _evse_key(site, event.station_id, event.evse_id)
        ev = state.evses.get(key, EvseState())
        update: dict[str, object] = {"mode": event.mode}
        if event.departure is not None:
            update["departure"] = event.departure
        if event.energy_wh is not None:
            update["need_wh"] = event.energy_wh
        if event.mode not in PV_MODES:
            update["pv_switch"] = None
        new = ev.model_copy(update=update)
        if new == ev:
            return state
        return _with_evses(state, {key: new}, dirty=True)
    if event.node not in {n.id for n in site.nodes}:
        raise ControllerError(f"unknown node {event.node!r}", path="node", rule="known-node")
    if event.node != _root(site):
        raise ControllerError(
            f"node {event.node!r} is not the grid connection {_root(site)!r}: only the "
            "exchange at the root measures the site's surplus", path="node",
            rule="grid-connection")
    ts = event.timestamp or now
    if state.site_meter is not None and ts <= state.site_meter.at:
        return state
    reading = SiteMeterState(node=event.node, power_w=event.power_w, at=ts)
    # less surplus (more import) re-plans at once; more surplus only beyond the deadband
    moved = state.site_meter is None or not (
        -config.deadband_w <= event.power_w - state.site_meter.power_w <= 0.0)
    keys = [k for k in site.keys if (found := state.evses.get(k)) is not None
            and found.transaction_id is not None and session_mode(site, state, k) in PV_MODES]
    switches = {k: state.evses[k].pv_switch or SwitchDoc() for k in keys}
    total = sum(draw_w(site.spec(k), state.evses[k]) for k in keys) - event.power_w
    changed: dict[str, EvseState] = {}
    dirty, taken = False, 0.0
    for key in sorted(keys, key=lambda k: not switches[k].on):  # on first, in site order
        ev, spec, old = state.evses[key], site.spec(key), switches[key]
        rule = switch_rule(config, spec, ev, fallback[key])
        got = rule.step(SwitchState(old.on, old.since, old.last), ts, total - taken)
        if got.on or got.since is not None:  # on, or about to be: its minimum is taken
            taken += min_power_a(spec, ev, fallback[key]) * spec.watts_per_amp
        changed[key] = ev.model_copy(update={"pv_switch": SwitchDoc(
            on=got.on, since=got.since, last=got.last)})
        dirty = dirty or got.on != old.on or (got.on and moved)
    state = state.model_copy(update={"site_meter": reading})
    return _with_evses(state, changed, dirty=dirty)


def _with_evses(state: ControllerState, changed: Mapping[str, EvseState], *,
                dirty: bool) -> ControllerState:
    if not changed:
        return state
    evses = dict(state.evses)
    evses.update(changed)
    return state.model_copy(update={"evses": evses, "dirty": state.dirty or dirty})


def _step_values(points: tuple[tuple[datetime, float], ...], start: datetime, step_s: int,
                 n_steps: int) -> FloatArray:
    """A step function ``((t0, v0), ...)`` (0 before ``t0``) at each step's start."""
    if not points:
        return np.zeros(n_steps)
    starts = np.array([(t - start).total_seconds() for t, _ in points])
    values = np.array([0.0, *(v for _, v in points)])
    at = np.searchsorted(starts, np.arange(n_steps, dtype=np.float64) * step_s, side="right")
    return np.asarray(values[at], dtype=np.float64)


def live_surplus_w(site: Site, config: ControllerConfig, state: ControllerState,
                   now: datetime) -> float | None:
    """``N0`` [W]: the EVs' draws less the grid connection's import (PV less the load no
    EVSE meters), from a reading at most ``config.pv_reading_max_age_s`` old (``None``:
    no such reading)."""
    m = state.site_meter
    if m is None or (now - m.at).total_seconds() > config.pv_reading_max_age_s:
        return None
    draws = sum(draw_w(site.spec(k), ev) for k, ev in state.evses.items()
                if ev.transaction_id is not None)
    return float(draws - m.power_w)


def _pv_session(session: Session, low_a: float, fallback_a: float, on: bool,
                mode: str) -> tuple[Session, float]:
    """A ``pv`` / ``min_pv`` session with its switch (module docstring) and the current it
    is planned above [A per phase]. ``session`` is planned above ``fallback_a`` (bounds
    lowered by it, as :func:`~smartcharge.controller.plan.build_problem` does), and
    ``low_a`` is its minimum (at least the fallback)."""
    if not on and mode == "pv":
        return session.model_copy(update=dict(max_current_a=0.0, min_current_a=None,
                                              min_power_w=None, mode="planned")), 0.0
    extra = max(low_a - fallback_a, 0.0)
    top = session.max_current_a
    if not on:  # min_pv, off: its minimum only
        top = extra if top is None else min(top, extra)
    return session.model_copy(update=dict(
        max_current_a=top, min_current_a=extra if extra > 0 else None, min_power_w=None,
        mode="min_pv")), fallback_a


def pv_problem(site: Site, config: ControllerConfig, state: ControllerState,
               problem: Problem, now: datetime, fallback: Mapping[str, float],
               ) -> tuple[Problem, dict[str, float]]:
    """``problem`` (from :func:`~smartcharge.controller.plan.build_problem`) with the
    sessions' modes, the surplus switches and the generation (module docstring), and the
    current [A per phase] each session's plan is above (its fallback; 0 for a ``pv``
    session switched off, planned at 0 A). Unchanged without modes and generation."""
    modes = {s.evse: session_mode(site, state, s.evse) for s in problem.sessions}
    offsets = dict(fallback)
    live = live_surplus_w(site, config, state, now)
    has_gen = bool(site.generation) or live is not None
    if all(m == "planned" for m in modes.values()) and not has_gen:
        return problem, offsets
    sessions = []
    for s in problem.sessions:
        mode = modes[s.evse]
        if mode in PV_MODES:
            ev = state.evses[s.evse]
            on = ev.pv_switch is not None and ev.pv_switch.on
            low = min_power_a(site.spec(s.evse), ev, fallback[s.evse])
            s, offsets[s.evse] = _pv_session(s, low, fallback[s.evse], on, mode)
        elif mode == "fast":
            s = s.model_copy(update={"mode": "fast"})
        sessions.append(s)
    update: dict[str, object] = {"sessions": tuple(sessions)}
    if has_gen:
        update.update(_generation(site, state, problem, live, offsets))
    return Problem(**{**dict(problem), **update}), offsets


def _generation(site: Site, state: ControllerState, problem: Problem, live: float | None,
                offsets: Mapping[str, float]) -> dict[str, object]:
    """The new root above the grid connection and the generator on it."""
    h = problem.horizon
    series = np.zeros(h.n_steps)
    for g in site.generation:
        series += _step_values(g.forecast_w, h.start, h.step_s, h.n_steps)
    if live is not None:
        outside = sum(offsets[s.evse] * site.spec(s.evse).watts_per_amp
                      for s in problem.sessions)
        g0 = max(live - outside, 0.0)
        if site.generation:
            series[0] = g0
        else:
            series[:] = g0
    ids = {n.id for n in problem.nodes}
    top = "grid~"
    while top in ids:
        top += "~"
    nodes = (Node(id=top), *(n.model_copy(update={"parent": top}) if n.parent is None else n
                              for n in problem.nodes))
    power: float | tuple[float, ...] = (float(series[0]) if np.all(series == series[0])
                                        else tuple(series.tolist()))
    return {"nodes": nodes, "generation": (Generation(id=SURPLUS_ID, node=top,
                                                      power_w=power),)}
