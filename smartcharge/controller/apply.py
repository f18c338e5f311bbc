"""Apply one event to the state (the first stage of the pipeline).

Each event is applied *idempotently* (a value is set, never added to), so the same event
twice leaves the state as once. Documented no-ops (the state is returned unchanged):

- a meter reading for an EVSE with no transaction, or older than the last one;
- ``TransactionUpdated`` / ``TransactionEnded`` for a transaction not running (a duplicate,
  or one that ended already);
- a ``RequestResult`` whose correlation id is not pending (a duplicate, or a result for a
  request superseded by a later accepted one);
- ``StationConnected`` for a station online, ``StationDisconnected`` for one offline.

An event naming an unknown station, EVSE or node raises
:class:`~smartcharge.errors.ControllerError` and the state is not touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

import numpy as np

from smartcharge.controller.events import (
    ChargingLimitCleared,
    ChargingLimitNotified,
    ChargingNeeds,
    Event,
    GridLimit,
    MeterReading,
    RequestResult,
    StationConnected,
    StationDisconnected,
    TariffUpdate,
    Tick,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from smartcharge.controller.feedback import apply_reading
from smartcharge.controller.safety import horizon_at
from smartcharge.controller.site import ControllerConfig, Site
from smartcharge.controller.state import (
    ControllerState,
    Envelope,
    EvseState,
    GridLimitState,
    PendingRequest,
    StationState,
)
from smartcharge.errors import ControllerError

__all__ = ["apply_event", "target_envelope", "target_envelopes"]

_SESSION_RESET = dict(
    transaction_id=None, started=None, meter_start_wh=None, energy_wh=None, power_w=None,
    currents_a=None, measured_at=None, low_since=None, cap_a=None, phases_in_use=None,
    single_line=None,
    need_wh=None, departure=None, ev_max_current_a=None, ev_max_power_w=None,
    ev_min_current_a=None, acked=None, mode=None, pv_switch=None,
)


def target_envelope(state: ControllerState, station_id: str, evse_id: int,
                    transaction_id: str | None) -> Envelope | None:
    """The TxProfile envelope last sent for this transaction (the latest pending one, else
    the acknowledged one), or ``None``."""
    latest = None
    for p in state.pending:
        if (p.kind == "tx" and p.station_id == station_id and p.evse_id == evse_id
                and p.transaction_id == transaction_id):
            latest = p.envelope
    if latest is not None:
        return latest
    ev = state.evses.get(Site.evse_key(station_id, evse_id))
    return None if ev is None else ev.acked


def target_envelopes(state: ControllerState) -> dict[str, Envelope | None]:
    """:func:`target_envelope` of every EVSE key of the state for its running transaction
    (``None`` for none), in one pass over the pending requests."""
    latest: dict[tuple[str, str | None], Envelope | None] = {}
    for p in state.pending:
        if p.kind == "tx":
            latest[(Site.evse_key(p.station_id, p.evse_id), p.transaction_id)] = p.envelope
    out: dict[str, Envelope | None] = {}
    for key, ev in state.evses.items():
        env = latest.get((key, ev.transaction_id))
        out[key] = env if env is not None else ev.acked
    return out


def _evse(site: Site, state: ControllerState, station_id: str, evse_id: int) -> str:
    st = site.station(station_id)
    if evse_id not in {e.evse_id for e in st.evses}:
        raise ControllerError(f"station {station_id!r} has no EVSE {evse_id}",
                              path="evse_id", rule="known-evse")
    return site.evse_key(station_id, evse_id)


def _with_evse(state: ControllerState, key: str, ev: EvseState, *,
               dirty: bool = True) -> ControllerState:
    evses = dict(state.evses)
    evses[key] = ev
    return state.model_copy(update={"evses": evses, "dirty": state.dirty or dirty})


def _find_tx(site: Site, state: ControllerState, station_id: str,
             transaction_id: str) -> str | None:
    for e in site.station(station_id).evses:
        key = site.evse_key(station_id, e.evse_id)
        ev = state.evses.get(key)
        if ev is not None and ev.transaction_id == transaction_id:
            return key
    return None


def _end(state: ControllerState, key: str, station_id: str) -> ControllerState:
    """The transaction on ``key`` ended: the station removed its TxProfiles, and any of our
    requests for it was either applied before (and removed with it) or is rejected after."""
    ev = state.evses[key]
    tid = ev.transaction_id
    pending = tuple(p for p in state.pending
                    if not (p.kind == "tx" and p.station_id == station_id
                            and p.transaction_id == tid))
    state = state.model_copy(update={"pending": pending})
    return _with_evse(state, key, ev.model_copy(update=_SESSION_RESET))


def _start(state: ControllerState, key: str, station_id: str, tid: str,
           started: datetime, meter_wh: float | None) -> ControllerState:
    ev = state.evses.get(key, EvseState())
    if ev.transaction_id == tid:
        return state
    if ev.transaction_id is not None:  # a missed end: the old transaction is over
        state = _end(state, key, station_id)
        ev = state.evses[key]
    # needs may arrive before the transaction starts (ISO 15118): keep them
    ev = ev.model_copy(update=dict(transaction_id=tid, started=started,
                                   meter_start_wh=meter_wh, energy_wh=meter_wh))
    return _with_evse(state, key, ev)


def _station(state: ControllerState, sid: str, online: bool, site: Site) -> ControllerState:
    stations = dict(state.stations)
    stations[sid] = StationState(online=online)
    pending = tuple(p.model_copy(update={"timed_out": True}) if p.station_id == sid else p
                    for p in state.pending)
    evses = dict(state.evses)
    if online:  # the fallback TxDefaultProfiles are (re)sent at every connection
        for e in site.station(sid).evses:
            key = site.evse_key(sid, e.evse_id)
            evses[key] = evses.get(key, EvseState()).model_copy(update={"fallback": "due"})
        pending = tuple(p for p in pending if not (p.station_id == sid and p.kind == "default"))
    return state.model_copy(update={"stations": dict(sorted(stations.items())),
                                    "evses": evses, "pending": pending, "dirty": True})


def _result(site: Site, state: ControllerState, event: RequestResult) -> ControllerState:
    found = [p for p in state.pending if p.correlation_id == event.correlation_id]
    if not found:
        return state
    req = found[0]
    key = site.evse_key(req.station_id, req.evse_id)
    ev = state.evses.get(key, EvseState())
    if event.outcome == "Timeout" and req.kind == "tx":
        pending = tuple(p.model_copy(update={"timed_out": True}) if p is req else p
                        for p in state.pending)
        return state.model_copy(update={"pending": pending})

    def superseded(p: PendingRequest) -> bool:
        # the station applies requests in order: those sent before an accepted one are
        # settled (applied and replaced, or refused)
        return (p.station_id == req.station_id and p.evse_id == req.evse_id
                and p.kind == req.kind and p.seq < req.seq)

    if event.outcome == "Accepted":
        pending = tuple(p for p in state.pending if p is not req and not superseded(p))
        if req.kind == "tx":
            if req.transaction_id == ev.transaction_id:
                ev = ev.model_copy(update={"acked": req.envelope})
        else:
            ev = ev.model_copy(update={"fallback": "acked"})
    else:
        pending = tuple(p for p in state.pending if p is not req)
        if req.kind == "default":
            ev = ev.model_copy(update={"fallback": "failed"})
    state = state.model_copy(update={"pending": pending})
    return _with_evse(state, key, ev, dirty=False)


def apply_event(site: Site, config: ControllerConfig, state: ControllerState, event: Event,
                now: datetime, fallback: Mapping[str, float]) -> ControllerState:
    """The state after ``event`` at ``now`` (see the module docstring)."""
    if isinstance(event, Tick):
        return state
    if isinstance(event, RequestResult):
        return _result(site, state, event)
    if isinstance(event, (StationConnected, StationDisconnected)):
        site.station(event.station_id)
        online = isinstance(event, StationConnected)
        st = state.stations.get(event.station_id)
        if st is not None and st.online == online:
            return state
        return _station(state, event.station_id, online, site)
    if isinstance(event, TransactionStarted):
        key = _evse(site, state, event.station_id, event.evse_id)
        return _start(state, key, event.station_id, event.transaction_id,
                      event.timestamp or now, event.meter_wh)
    if isinstance(event, (TransactionUpdated, TransactionEnded)):
        found = _find_tx(site, state, event.station_id, event.transaction_id)
        if event.evse_id is not None:
            key = _evse(site, state, event.station_id, event.evse_id)
            if found is not None and found != key:
                raise ControllerError(
                    f"transaction {event.transaction_id!r} runs on {found}, not on {key}",
                    path="evse_id", rule="transaction-evse")
            if found is None and isinstance(event, TransactionUpdated):
                return _start(state, key, event.station_id, event.transaction_id,
                              event.timestamp or now, None)  # the Started was missed
        if found is None or isinstance(event, TransactionUpdated):
            return state
        return _end(state, found, event.station_id)
    if isinstance(event, MeterReading):
        key = _evse(site, state, event.station_id, event.evse_id)
        ev = state.evses.get(key)
        ts = event.timestamp or now
        if ev is None or ev.transaction_id is None or (
                ev.measured_at is not None and ts < ev.measured_at):
            return state
        env = target_envelope(state, event.station_id, event.evse_id, ev.transaction_id)
        told = fallback[key]
        if env is not None:
            h = horizon_at(config, ts)
            v = env.on_grid(h.start, 1)[0]
            told = float(v) if np.isfinite(v) else told
        new, replan = apply_reading(ev, site.spec(key), replace(event, timestamp=ts), config,
                                    told)
        return _with_evse(state, key, new, dirty=replan)
    if isinstance(event, ChargingNeeds):
        key = _evse(site, state, event.station_id, event.evse_id)
        ev = state.evses.get(key, EvseState())
        new = ev.model_copy(update=dict(
            need_wh=event.energy_wh, departure=event.departure,
            ev_max_current_a=event.max_current_a, ev_max_power_w=event.max_power_w,
            ev_min_current_a=event.min_current_a))
        return state if new == ev else _with_evse(state, key, new)
    if isinstance(event, (ChargingLimitNotified, ChargingLimitCleared)):
        spec = site.station(event.station_id)
        ids = [e.evse_id for e in spec.evses] if event.evse_id == 0 else [event.evse_id]
        for evse_id in ids:
            key = _evse(site, state, event.station_id, evse_id)
            ev = state.evses.get(key, EvseState())
            if isinstance(event, ChargingLimitNotified):
                upd = {"external_a": event.max_current_a, "external_w": event.max_power_w}
            else:
                upd = {"external_a": None, "external_w": None}
            new = ev.model_copy(update=upd)
            if new != ev:
                state = _with_evse(state, key, new)
        return state
    if isinstance(event, GridLimit):
        if event.node not in {n.id for n in site.nodes}:
            raise ControllerError(f"unknown node {event.node!r}", path="node",
                                  rule="known-node")
        g = GridLimitState(node=event.node, start=event.start, end=event.end,
                           max_power_w=event.max_power_w, max_current_a=event.max_current_a)
        if g in state.grid_limits:
            return state
        limits = tuple(sorted((*state.grid_limits, g), key=lambda x: x.model_dump_json()))
        return state.model_copy(update={"grid_limits": limits, "dirty": True})
    if isinstance(event, TariffUpdate):
        if event.prices == state.tariff:
            return state
        return state.model_copy(update={"tariff": event.prices, "dirty": True})
    raise ControllerError(f"not a controller event: {type(event).__name__}", path="$",
                          rule="event-type")
