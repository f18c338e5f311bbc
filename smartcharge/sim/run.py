"""The simulation loop: real sessions through a strategy, simulated stations and cars.

Each station of the site is a real :class:`~smartcharge.station.ChargingStation`. The
strategy's requests reach it as OCPP JSON payloads (parsed with :mod:`smartcharge.ocpp.v201`
or, for 1.6 stations, :func:`smartcharge.ocpp.v16.from_v16`), it answers them by its K01
rules, and every step it computes its composite schedule (K08) on its own clock; the EVSE
rounds that limit down to a pilot it can signal (:class:`~smartcharge.sim.evse.PilotModel`)
and the car draws what it takes of it (:class:`~smartcharge.sim.vehicles.VehicleModel`).
The limit in force over the step is read at its middle (a change at the step's start lands
seconds late or early on a drifting clock, or by the controller's clock-skew margin, not a
step late); what the cars draw at the step's first instant, under the limits in force
then, is checked against the site's limits too (:attr:`SimResult.start_w`), so a lowering
that lags another EVSE's raise on a station's clock is a violation. Meter values go back to
the strategy as events at the next step (time-stamped in the middle of the step they
measure, on the station's clock).

One step, in order (``now`` = the step's start):

1. stations whose outage starts go offline (``StationDisconnected``; a rebooting one drops
   its TxProfiles), stations whose outage ended come back (``StationConnected``) and send
   what they held back;
2. late requests that are due are applied and answered, in the order sent (a request
   sent behind a late one to the same station waits for it); lost ones time out;
3. meter values of the last step; cars that leave (``TransactionEnded``), cars that arrive
   (``TransactionStarted``, ``ChargingNeeds``), then ``Tick``; every request the strategy
   returns is sent at once, and every answer is fed back until nothing is left;
4. the cars draw: at the step's first instant (checked only) and over the step.

Commissioning: at the first step every station connects and the requests answering that
(and the first ``Tick``) are delivered without faults, so stations start with what the
strategy installs on connection (e.g. fallback profiles); faults act from then on.
Everything is deterministic: the same inputs and :attr:`Faults.seed` give the same result.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, deque
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import numpy.typing as npt

from smartcharge.errors import InvalidProblemError, SmartChargeError
from smartcharge.model import ChargingProfilePurpose, ClearChargingProfileStatus
from smartcharge.ocpp import v16, v201
from smartcharge.optimizer.problem import EVSE, Session
from smartcharge.sim.events import (
    ChargingNeeds,
    MeterReading,
    Outcome,
    Request,
    RequestResult,
    StationConnected,
    StationDisconnected,
    Strategy,
    TariffUpdate,
    Tick,
    TransactionEnded,
    TransactionStarted,
    payload_bytes,
)
from smartcharge.sim.evse import PilotModel
from smartcharge.sim.faults import Faults
from smartcharge.sim.result import SimResult
from smartcharge.sim.site import SimSite, locate
from smartcharge.sim.vehicles import Fleet, VehicleModel
from smartcharge.station import ChargingStation
from smartcharge.validation import EVSEInfo

__all__ = ["simulate"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_WINDOW_S = 6 * 3600
"""How far ahead a station's composite schedule is computed at once [s] (cached)."""
_MAX_EVENTS = 1_000_000
"""Events handled in one step before the simulation gives up (a strategy that never stops)."""


class _Station:
    """One simulated station: the OCPP state machine, its clock, its outbox."""

    def __init__(self, sid: str, evses: dict[int, EVSE], protocol: str, drift_s: int) -> None:
        self.id = sid
        self.protocol = protocol
        self.drift = timedelta(seconds=drift_s)
        first = next(iter(evses.values()))
        default_a = max((e.max_current_a if e.max_current_a is not None else 32.0)
                        for e in evses.values())
        self.station = ChargingStation(
            evses={n: EVSEInfo("AC", e.phases) for n, e in evses.items()},
            supply_voltage=first.voltage_v, default_limit_amps=default_a)
        self.online = True
        self.outbox: list[Any] = []
        self._cache: dict[int, tuple[float, FloatArray, FloatArray]] = {}

    def clock(self, now: datetime) -> datetime:
        return now + self.drift

    def changed(self) -> None:
        self._cache.clear()

    def limit_a(self, evse: int, now: datetime) -> float:
        """The composite limit [A per phase] of ``evse`` at ``now`` (simulation time)."""
        t = self.clock(now)
        ts = t.timestamp()
        got = self._cache.get(evse)
        if got is None or ts >= got[0]:
            comp = self.station.composite_schedule(evse, t, _WINDOW_S, "A",
                                                   assume_transaction=False)
            t0 = comp.schedule_start.timestamp()
            periods = comp.charging_schedule_period
            starts = np.array([t0 + p.start_period for p in periods], dtype=np.float64)
            limits = np.array([p.limit for p in periods], dtype=np.float64)
            got = (t0 + _WINDOW_S, starts, limits)
            self._cache[evse] = got
        k = int(np.searchsorted(got[1], ts, side="right")) - 1
        return float(got[2][max(k, 0)])

    def apply(self, request: Request, now: datetime) -> Outcome:
        """Handle one request as the station would; its answer."""
        try:
            if self.protocol == "1.6":
                msg = v16.from_v16(request.action, request.payload)
            else:
                msg = v201.parse(request.action, request.payload)
        except SmartChargeError:
            return "Error"
        t = self.clock(now)
        if isinstance(msg, v201.SetChargingProfileRequest):
            try:
                result = self.station.set_charging_profile(msg.evse_id, msg.charging_profile, t)
            except SmartChargeError:
                return "Error"
            if result.accepted:
                self.changed()
                return "Accepted"
            return "Rejected"
        if isinstance(msg, v201.ClearChargingProfileRequest):
            crit = msg.charging_profile_criteria
            try:
                if msg.charging_profile_id is not None:
                    status = self.station.clear_charging_profile(
                        charging_profile_id=msg.charging_profile_id)
                elif crit is not None:
                    status = self.station.clear_charging_profile(
                        evse_id=crit.evse_id, purpose=crit.charging_profile_purpose,
                        stack_level=crit.stack_level)
                else:
                    status = self.station.clear_charging_profile()
            except SmartChargeError:
                return "Error"
            self.changed()
            return "Accepted" if status is ClearChargingProfileStatus.Accepted else "Rejected"
        return "Error"

    def reboot(self) -> None:
        """Lose the TxProfiles (volatile); keep TxDefault / max profiles and transactions."""
        self.station.clear_charging_profile(purpose=ChargingProfilePurpose.TxProfile)
        self.changed()


def _grid(t: datetime, start: datetime, step_s: int, up: bool) -> int:
    x = (t - start).total_seconds() / step_s
    return math.ceil(x - 1e-9) if up else math.floor(x + 1e-9)


def simulate(
    site: SimSite,
    sessions: Sequence[Session],
    strategy: Strategy,
    *,
    start: datetime,
    step_s: int = 300,
    end: datetime | None = None,
    vehicles: VehicleModel | None = None,
    pilots: PilotModel | None = None,
    faults: Faults | None = None,
    timeout_s: int = 60,
    meter_values: bool = True,
) -> SimResult:
    """Replay ``sessions`` on ``site`` under ``strategy``; what was really drawn.

    Parameters
    ----------
    site
        The site (tree, EVSEs by station, tariff).
    sessions
        The session log: each session's EVSE (a site EVSE id), arrival, departure, the
        energy it asks for (``energy_wh``, declared to the strategy in ``ChargingNeeds`` with
        the departure and ``max_power_w``), the car's maximum power (``max_power_w``, else
        ``max_current_a`` on the EVSE's phases, else the EVSE's), and optionally its
        ``transaction_id`` (default ``"tx<n>"``; 1.6 stations get ``"<n>"``, 1.6 ids being
        integers).
    strategy
        ``handle(event, now) -> list[Request]``: the controller, or a baseline
        (:mod:`smartcharge.sim.strategies`).
    start
        The first step's start (aware).
    step_s
        The step [s]: how often stations update their pilots and the strategy gets a Tick.
    end
        Simulate at least until then (default: the last departure).
    vehicles, pilots, faults
        The models (default: ideal cars, continuous pilots, no faults).
    timeout_s
        After this many seconds an unanswered request gets a ``Timeout`` result.
    meter_values
        Send meter values to the strategy (``False``: it gets no measured feedback).

    Raises
    ------
    InvalidProblemError
        A naive ``start``, a bad step, a session on an unknown EVSE, or two sessions on one
        EVSE at once (named by ``sessions[i]``).
    """
    vehicles = vehicles or VehicleModel()
    pilots = pilots or PilotModel()
    faults = faults or Faults()
    if not isinstance(start, datetime) or start.tzinfo is None:
        raise InvalidProblemError("must be an aware datetime", path="start", rule="timezone")
    start = start.astimezone(timezone.utc)
    if isinstance(step_s, bool) or not isinstance(step_s, int) or step_s <= 0:
        raise InvalidProblemError(f"must be an int > 0, got {step_s!r}", path="step_s",
                                  rule="range")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or timeout_s < 0:
        raise InvalidProblemError(f"must be an int >= 0, got {timeout_s!r}", path="timeout_s",
                                  rule="range")
    evse_by_id = {e.id: e for e in site.evses}
    kept: list[Session] = []
    steps: list[tuple[int, int]] = []
    dropped: list[str] = []
    for i, s in enumerate(sessions):
        if s.evse not in evse_by_id:
            raise InvalidProblemError(f"unknown EVSE {s.evse!r}", path=f"sessions[{i}].evse",
                                      rule="unknown-evse")
        a, d = _grid(s.arrival, start, step_s, True), _grid(s.departure, start, step_s, False)
        if a < 0:
            raise InvalidProblemError("arrives before the simulation starts",
                                      path=f"sessions[{i}].arrival", rule="window")
        if d <= a:
            dropped.append(s.id)
            continue
        sid, n = locate(s.evse)
        tid = str(len(kept) + 1) if site.protocol(sid) == "1.6" else (
            s.transaction_id or f"tx{len(kept) + 1}")
        kept.append(s.model_copy(update={
            "arrival": start + timedelta(seconds=a * step_s),
            "departure": start + timedelta(seconds=d * step_s), "transaction_id": tid}))
        steps.append((a, d))
    by_evse: dict[str, list[int]] = {}
    for i, s in enumerate(kept):
        by_evse.setdefault(s.evse, []).append(i)
    for rows in by_evse.values():
        rows.sort(key=lambda i: steps[i])
        for x, y in itertools.pairwise(rows):
            if steps[y][0] < steps[x][1]:
                raise InvalidProblemError(
                    f"sessions {kept[x].id!r} and {kept[y].id!r} overlap on EVSE "
                    f"{kept[x].evse!r}", path=f"sessions[{y}].arrival", rule="one-car-per-evse")
    last = max([d for _, d in steps] + [1])
    if end is not None:
        last = max(last, _grid(end, start, step_s, True))
    problem = site.problem(start, step_s, last, kept)
    net = problem.network()
    S, T = net.S, net.T
    dt_h = step_s / 3600.0
    fleet = Fleet(vehicles, net.need_wh, net.sess_max_w)
    share = vehicles.phase_share(net.evse_phases[net.sess_evse]) if S else np.zeros(0)
    wpa = net.evse_wpa[net.sess_evse] if S else np.zeros(0)

    stations = {sid: _Station(sid, ev, site.protocol(sid), int(faults.drift_s.get(sid, 0)))
                for sid, ev in site.stations().items()}
    where = [locate(s.evse) for s in kept]
    arrive: dict[int, list[int]] = {}
    leave: dict[int, list[int]] = {}
    for i, (a, d) in enumerate(steps):
        arrive.setdefault(a, []).append(i)
        leave.setdefault(d, []).append(i)

    drawn = np.zeros((S, T))
    limit = np.full((S, T), np.nan)
    pilot = np.full((S, T), np.nan)
    start_w = np.zeros((S, T))
    register = np.zeros(S)
    active: list[int] = []
    rng = np.random.default_rng(faults.seed)
    queue: deque[Any] = deque()
    pending: list[tuple[datetime, int, str, Request]] = []  # (due, seq, "late"|"lost", req)
    counts: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    sent = {"messages": 0, "bytes": 0, "seq": 0}
    commissioning = True

    def emit(st: _Station, event: Any) -> None:
        if st.online:
            queue.append(event)
        else:
            st.outbox.append(event)

    def dispatch(req: Request, now: datetime) -> None:
        sent["messages"] += 1
        sent["seq"] += 1
        counts[req.action] += 1
        st = stations.get(req.station_id)
        try:
            sent["bytes"] += payload_bytes(req)
        except (TypeError, ValueError):
            queue.append(RequestResult(req.correlation_id, "Error"))
            return
        if st is None:
            queue.append(RequestResult(req.correlation_id, "Error"))
            return
        due = now + timedelta(seconds=timeout_s)
        if not st.online:
            pending.append((due, sent["seq"], "lost", req))
            return
        fate = "ok" if commissioning else faults.fate(rng)
        # OCPP-J: one CALL at a time per connection, so a request sent while an earlier one
        # to the same station is still unanswered reaches the station after it, in order
        ahead = [p[0] for p in pending if p[2] == "late" and p[3].station_id == req.station_id]
        if fate == "lost":
            pending.append((due, sent["seq"], "lost", req))
        elif fate == "rejected":
            queue.append(RequestResult(req.correlation_id, "Rejected"))
        elif fate == "late" or ahead:
            at = now + timedelta(seconds=faults.late_s) if fate == "late" else now
            pending.append((max([at, *ahead]), sent["seq"], "late", req))
        else:
            queue.append(RequestResult(req.correlation_id, st.apply(req, now)))

    def run(now: datetime) -> None:
        handled = 0
        while queue:
            event = queue.popleft()
            if isinstance(event, RequestResult):
                outcomes[event.outcome] += 1
            for req in strategy.handle(event, now) or ():
                dispatch(req, now)
            handled += 1
            if handled > _MAX_EVENTS:
                raise InvalidProblemError("the strategy keeps answering its own answers",
                                          path="strategy", rule="runaway")

    dt = timedelta(seconds=step_s)
    if site.price is not None:  # the tariff, once, before anything else
        queue.append(TariffUpdate(tuple(zip(
            (start + k * dt for k in range(T)), site.prices(start, step_s, T), strict=True))))
    def offer(at: datetime, idx: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The limits [A], pilots [A] and power offered [W] to the cars at ``at``."""
        lim = np.array([stations[where[i][0]].limit_a(where[i][1], at) for i in idx])
        pil = np.empty_like(lim)
        for j, i in enumerate(idx.tolist()):
            e = evse_by_id[kept[i].evse]
            pil[j] = pilots.pilot(e.id, lim[j:j + 1],
                                  max_a=e.max_current_a if e.max_current_a is not None
                                  else math.inf,
                                  min_a=e.min_current_a or 0.0)[0]
        car = np.where(pil < vehicles.min_current_a - 1e-9, 0.0, pil)
        return lim, pil, car * wpa[idx] * share[idx]

    for k in range(T):
        now = start + k * dt
        # 1. outages
        for sid, st in stations.items():
            outage = faults.offline(sid, now) if not commissioning else None
            if outage is not None and st.online:
                st.online = False
                if outage.reboot:
                    st.reboot()
                queue.append(StationDisconnected(sid))
            elif outage is None and not st.online:
                st.online = True
                queue.append(StationConnected(sid))
                queue.extend(st.outbox)
                st.outbox = []
            elif commissioning:
                queue.append(StationConnected(sid))
        # 2. late and lost requests
        pending.sort(key=lambda x: (x[0], x[1]))
        while pending and pending[0][0] <= now:
            _, _, kind, req = pending.pop(0)
            st = stations[req.station_id]
            if kind == "late" and st.online:
                queue.append(RequestResult(req.correlation_id, st.apply(req, now)))
            else:
                queue.append(RequestResult(req.correlation_id, "Timeout"))
        run(now)
        # 3. departures, arrivals, tick
        for i in leave.get(k, ()):
            sid, n = where[i]
            st = stations[sid]
            st.station.end_transaction(n)
            st.changed()
            active.remove(i)
            if meter_values:
                emit(st, MeterReading(sid, n, 0.0, (0.0, 0.0, 0.0), float(register[i]),
                                      st.clock(now)))
            emit(st, TransactionEnded(sid, n, str(kept[i].transaction_id), st.clock(now)))
        for i in arrive.get(k, ()):
            sid, n = where[i]
            st = stations[sid]
            s = kept[i]
            st.station.start_transaction(n, str(s.transaction_id), st.clock(now))
            st.changed()
            active.append(i)
            emit(st, TransactionStarted(sid, n, str(s.transaction_id), st.clock(now), 0.0))
            emit(st, ChargingNeeds(sid, n, s.energy_wh, s.departure,
                                   max_power_w=float(net.sess_max_w[i])))
        queue.append(Tick())
        run(now)
        commissioning = False
        # 4. the cars draw
        if active:
            idx = np.array(sorted(active), dtype=np.int64)
            # the instant the step starts (a profile's change there may lag on a station's
            # clock: what the cars draw then is checked against the limits too) ...
            start_w[idx, k] = np.minimum(offer(now, idx)[2], fleet.accept_w(idx))
            # ... and the limit in force over the step, once the changes at its start are in
            # (a station's clock drift and the controller's clock-skew margin move them by
            # seconds, not by a step)
            lim, pil, offered = offer(now + dt / 2, idx)
            power = fleet.charge(idx, offered, float(step_s))
            drawn[idx, k] = power
            limit[idx, k] = lim
            pilot[idx, k] = pil
            register[idx] += power * dt_h
            for j, i in enumerate(idx.tolist() if meter_values else ()):
                sid, n = where[i]
                amps = float(power[j] / wpa[i]) if wpa[i] > 0 else 0.0
                ph = int(net.evse_phases[net.sess_evse[i]])
                used = ph if vehicles.phases is None else min(ph, vehicles.phases)
                per = amps * ph / used if used else 0.0
                currents = tuple(per if m < used else 0.0 for m in range(3))
                st = stations[sid]
                emit(st, MeterReading(sid, n, float(power[j]),
                                      (currents[0], currents[1], currents[2]),
                                      float(register[i]), st.clock(now + dt / 2)))
    replan = tuple(float(x) for x in getattr(strategy, "replan_seconds", ()))
    return SimResult(problem=problem, drawn_w=drawn, start_w=start_w, limit_a=limit,
                     pilot_a=pilot,
                     metered_wh=register, vehicle_wh=fleet.delivered_wh.copy(),
                     messages=sent["messages"], bytes=sent["bytes"], by_action=dict(counts),
                     outcomes=dict(outcomes), replan_s=replan, dropped=tuple(dropped))
