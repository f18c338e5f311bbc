"""Baseline strategies behind the controller's interface ``handle(event, now) -> requests``.

:class:`PlanningStrategy` is a thin CSMS: it learns sessions from the events (transactions,
declared needs, meter values), re-plans every ``replan_s`` seconds with a planner
(``smartcharge.optimize`` or a baseline of :mod:`smartcharge.optimizer.baselines`) over what
it knows, and sends each station the minimal messages (:func:`smartcharge.ocpp.reconcile`)
that install the plan as TxProfiles (stack level 1), over a TxDefault fallback (stack level
0, :func:`smartcharge.ocpp.fallback_profiles`) that keeps the site safe where no TxProfile
applies. Its mirror of each station changes only on an ``Accepted`` answer, so a lost or
rejected request is sent again at the next re-plan. A station with requests still in flight
gets nothing new until they are answered.

With ``feedback`` the energy still wanted is the declared need minus the meter register;
without, minus what the strategy's own plans gave (it believes the cars drew their plan).

:func:`baseline` builds the usual ones by name (``optimizer``, ``edf``, ``llf``,
``equal_share``, ``uncontrolled``; ``uncontrolled`` sends nothing: every car draws what its
EVSE's default limit and the car allow).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from smartcharge.errors import InvalidPayloadError, InvalidProblemError, StationError
from smartcharge.model import ChargingProfile
from smartcharge.ocpp import v16
from smartcharge.ocpp.fallback import DEFAULT_SHARE_A, fallback_profiles
from smartcharge.ocpp.reconcile import ReconcileMessage, apply, reconcile, restamp
from smartcharge.optimizer.baselines import BASELINES
from smartcharge.optimizer.plan import Plan
from smartcharge.optimizer.problem import Problem, Session
from smartcharge.optimizer.solve import optimize
from smartcharge.sim.events import (
    ChargingNeeds,
    MeterReading,
    Request,
    RequestResult,
    StationConnected,
    StationDisconnected,
    TariffUpdate,
    Tick,
    TransactionEnded,
    TransactionStarted,
)
from smartcharge.sim.site import SimSite, locate
from smartcharge.station import ChargingStation
from smartcharge.validation import EVSEInfo

__all__ = ["STRATEGIES", "Planner", "PlanningStrategy", "baseline"]

Planner = Callable[[Problem], Plan]
_EPS_WH = 1e-3


@dataclass
class _Known:
    """What the strategy knows of one running session."""

    key: str
    transaction_id: str
    energy_wh: float | None = None
    departure: datetime | None = None
    max_power_w: float | None = None
    metered_wh: float = 0.0
    planned_wh: float = 0.0


def _mirror(evses: dict[int, Any]) -> ChargingStation:
    return ChargingStation(evses={n: EVSEInfo("AC", e.phases) for n, e in evses.items()})


class PlanningStrategy:
    """A CSMS that re-plans with ``planner`` and reconciles each station.

    Parameters
    ----------
    site
        The site.
    planner
        ``Problem -> Plan``, or ``None`` to send nothing (uncontrolled).
    name
        A label (also the prefix of correlation ids).
    replan_s
        Seconds between re-plans (also the plan's step).
    horizon_s
        The most the plan looks ahead [s].
    feedback
        Use the meter registers for the energy still wanted.
    fallback_share_a
        The TxDefault share [A per phase] of :func:`fallback_profiles`; ``None``: no fallback.
    """

    def __init__(self, site: SimSite, planner: Planner | None, *, name: str = "plan",
                 replan_s: int = 300, horizon_s: int = 86_400, feedback: bool = True,
                 fallback_share_a: float | None = DEFAULT_SHARE_A) -> None:
        if isinstance(replan_s, bool) or not isinstance(replan_s, int) or replan_s <= 0:
            raise InvalidProblemError(f"must be an int > 0, got {replan_s!r}", path="replan_s",
                                      rule="range")
        if isinstance(horizon_s, bool) or not isinstance(horizon_s, int) \
                or horizon_s < replan_s:
            raise InvalidProblemError(f"must be an int >= replan_s, got {horizon_s!r}",
                                      path="horizon_s", rule="range")
        self.site = site
        self.planner = planner
        self.name = name
        self.replan_s = replan_s
        self.horizon_s = horizon_s
        self.feedback = feedback
        self.fallback_share_a = fallback_share_a
        self._stations = site.stations()
        self.mirrors = {sid: _mirror(ev) for sid, ev in self._stations.items()}
        self.online = dict.fromkeys(self._stations, False)
        self.sessions: dict[str, _Known] = {}
        self.pending: dict[str, tuple[str, ReconcileMessage]] = {}
        self.next_replan: datetime | None = None
        self.replan_seconds: list[float] = []
        self.failures: list[str] = []
        self._count = 0
        self._fallback: dict[str, ChargingProfile] | None = None
        self._synced: set[str] = set()  # idle stations known to hold what they should

    # ------------------------------------------------------------------ events

    def handle(self, event: Any, now: datetime) -> list[Request]:
        """React to one event at ``now``; return the requests to send."""
        self._synced.discard(getattr(event, "station_id", None) or "")
        if isinstance(event, RequestResult) and event.correlation_id in self.pending:
            self._synced.discard(self.pending[event.correlation_id][0])
        if isinstance(event, StationConnected):
            sid = event.station_id
            self.online[sid] = True
            # what it holds is unknown (it may have rebooted): assume nothing, keep its
            # transactions, and send everything again at once
            old = self.mirrors[sid]
            fresh = _mirror(self._stations[sid])
            for e, (tid, started) in old.transactions.items():
                fresh.start_transaction(e, tid, started)
            self.mirrors[sid] = fresh
            self.pending = {k: v for k, v in self.pending.items() if v[0] != sid}
            return self._replan(now, only=sid)
        if isinstance(event, StationDisconnected):
            self.online[event.station_id] = False
            return []
        if isinstance(event, TransactionStarted):
            key = self._key(event.station_id, event.evse_id)
            self.sessions[key] = _Known(key, event.transaction_id)
            mirror = self.mirrors[event.station_id]
            if event.evse_id in mirror.transactions:
                mirror.end_transaction(event.evse_id)
            mirror.start_transaction(event.evse_id, event.transaction_id, event.timestamp or now)
            return []
        if isinstance(event, ChargingNeeds):
            known = self.sessions.get(self._key(event.station_id, event.evse_id))
            if known is not None:
                known.energy_wh = event.energy_wh
                known.departure = event.departure
                known.max_power_w = event.max_power_w
            return []
        if isinstance(event, TransactionEnded):
            mirror = self.mirrors[event.station_id]
            for e, (tid, _) in list(mirror.transactions.items()):
                if tid == event.transaction_id:
                    mirror.end_transaction(e)
                    self.sessions.pop(self._key(event.station_id, e), None)
            return []
        if isinstance(event, TariffUpdate):  # the site's price is known already
            return []
        if isinstance(event, MeterReading):
            known = self.sessions.get(self._key(event.station_id, event.evse_id))
            if known is not None and event.energy_wh is not None:
                known.metered_wh = event.energy_wh
            return []
        if isinstance(event, RequestResult):
            sent = self.pending.pop(event.correlation_id, None)
            if sent is not None and event.outcome == "Accepted":
                sid, msg = sent
                self.mirrors[sid] = apply(self.mirrors[sid], [msg], now, strict=False)
            return []
        if isinstance(event, Tick):
            if self.next_replan is None or now >= self.next_replan:
                self.next_replan = now + timedelta(seconds=self.replan_s)
                return self._replan(now)
            return []
        raise InvalidPayloadError(f"unknown event {type(event).__name__}", path="event",
                                  rule="event")

    def _key(self, station_id: str, evse_id: int) -> str:
        e = self._stations.get(station_id, {}).get(evse_id)
        if e is not None:
            return e.id
        raise StationError(f"station {station_id!r} has no EVSE {evse_id}", path="evseId")

    # ------------------------------------------------------------------ planning

    def _remaining(self, k: _Known) -> float:
        done = k.metered_wh if self.feedback else k.planned_wh
        return max((k.energy_wh or 0.0) - done, 0.0)

    def _plan(self, now: datetime) -> dict[str, ChargingProfile]:
        """TxProfile per known session key (0 A for those the plan leaves out)."""
        step = self.replan_s
        sessions: list[Session] = []
        for k in sorted(self.sessions.values(), key=lambda x: x.key):
            left = self._remaining(k)
            if left <= _EPS_WH:
                continue
            dep = k.departure or now + timedelta(seconds=self.horizon_s)
            dep = min(max(dep, now + timedelta(seconds=step)),
                      now + timedelta(seconds=self.horizon_s))
            sessions.append(Session(id=k.key, evse=k.key, arrival=now, departure=dep,
                                    energy_wh=left, max_power_w=k.max_power_w,
                                    transaction_id=k.transaction_id))
        out: dict[str, ChargingProfile] = {}
        if sessions and self.planner is not None:
            last = max(s.departure for s in sessions)
            n = max(1, math.ceil((last - now).total_seconds() / step))
            problem = self.site.problem(now, step, n, sessions)
            t0 = time.perf_counter()
            plan = self.planner(problem)
            self.replan_seconds.append(time.perf_counter() - t0)
            first = plan.session_power_w[:, 0] * step / 3600.0
            for s, wh in zip(sessions, first.tolist(), strict=True):
                self.sessions[s.id].planned_wh += wh
            for item in plan.to_charging_profiles("A", stack_level=1, only_active=False):
                out[item.evse_id] = item.profile
        return out

    def _zero(self, k: _Known, now: datetime) -> ChargingProfile:
        return ChargingProfile.model_validate({
            "id": 1, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute", "transactionId": k.transaction_id,
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                                  "startSchedule": now.isoformat(),
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0.0}]}],
        })

    def _fallbacks(self, now: datetime) -> dict[str, ChargingProfile]:
        if self.fallback_share_a is None:
            return {}
        if self._fallback is None:
            site = self.site.problem(now, self.replan_s, 1)
            self._fallback = fallback_profiles(
                site, share_a=self.fallback_share_a,
                evse_ids={e.id: locate(e.id)[1] for e in self.site.evses})
        return self._fallback

    def _replan(self, now: datetime, only: str | None = None) -> list[Request]:
        if self.planner is None:
            return []
        tx = self._plan(now)
        fallback = self._fallbacks(now)
        busy = {sid for sid, _ in self.pending.values()}
        out: list[Request] = []
        for sid, evses in self._stations.items():
            if (only is not None and sid != only) or not self.online[sid] or sid in busy \
                    or sid in self._synced:
                continue
            desired: dict[int, list[ChargingProfile]] = {}
            for n, e in evses.items():
                profiles = [fallback[e.id]] if e.id in fallback else []
                known = self.sessions.get(e.id)
                if known is not None:
                    profiles.append(tx.get(e.id) or self._zero(known, now))
                desired[n] = profiles
            try:
                msgs = reconcile(self.mirrors[sid], restamp(desired), now=now)
            except InvalidPayloadError as exc:
                self.failures.append(f"{now.isoformat()} {sid}: {exc}")
                continue
            out.extend(self._request(sid, m) for m in msgs)
            if not msgs and not any(e.id in self.sessions for e in evses.values()):
                self._synced.add(sid)  # idle and up to date: nothing to check until it changes
        return out

    def _request(self, sid: str, msg: ReconcileMessage) -> Request:
        self._count += 1
        cid = f"{self.name}-{self._count:08d}"
        self.pending[cid] = (sid, msg)
        proto = self.site.protocol(sid)
        if proto == "1.6":
            action, payload = v16.to_v16(msg)
        else:
            action, payload = msg.action, msg.to_json_dict()
        return Request(station_id=sid, correlation_id=cid, action=action, payload=payload,
                       protocol=proto)


def _optimize(problem: Problem) -> Plan:
    return optimize(problem)


STRATEGIES: dict[str, Planner | None] = {
    "optimizer": _optimize,
    "edf": BASELINES["edf"],
    "llf": BASELINES["llf"],
    "equal_share": BASELINES["equal_share"],
    "uncontrolled": None,
}
"""Planner of each named baseline strategy (``None``: send nothing)."""


def baseline(site: SimSite, name: str, **options: Any) -> PlanningStrategy:
    """The named strategy of :data:`STRATEGIES` on ``site`` (options: see
    :class:`PlanningStrategy`).

    Raises
    ------
    InvalidProblemError
        An unknown name.
    """
    if name not in STRATEGIES:
        raise InvalidProblemError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}",
                                  path="strategy", rule="enum")
    options.setdefault("name", name)
    return PlanningStrategy(site, STRATEGIES[name], **options)


