"""The site controller: ``step(site, config, state, event, now) -> (state, requests)``.

The pipeline, per event, top to bottom:

1. check ``now`` (aware, not before the last event) and the event's fields;
2. apply the event to the state (:mod:`smartcharge.controller.apply`; session modes and
   the grid connection's readings: :mod:`smartcharge.controller.surplus`);
3. re-plan if something relevant changed or a step boundary passed
   (:mod:`smartcharge.controller.plan`: Problem from live sessions, with modes, surplus
   switches and generation by :func:`~smartcharge.controller.surplus.pv_problem`,
   optimize -- on a block grid :func:`~smartcharge.optimizer.replan`, warm from the
   previous re-plan's binding rows, which the state keeps -- keep the last plan when it
   is as good);
4. dispatch (:func:`dispatch`): per EVSE, the desired envelope against the one last sent
   (deadband, over the next ``lookahead_s``: a profile is renewed before it runs out, not
   at every step because the horizon moved), then safety
   (:mod:`smartcharge.controller.safety`): decreases at once, increases only where the
   worst case over every state the stations may be in keeps every limit; what cannot go
   yet is lowered as far as it must and raised later, when results come back;
5. the requests, each with a deterministic correlation id ``"<station>#<n>"``.

:func:`step` is pure: same ``(state, event, now)``, same output, byte for byte.
:class:`Controller` keeps the state between calls (and caches what depends only on the site,
and the dispatch decisions of the current grid: :class:`DispatchMemo`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

import numpy as np
import numpy.typing as npt

from smartcharge.controller.apply import apply_event, target_envelopes
from smartcharge.controller.events import Event, SessionMode, SiteMeterReading, check_event
from smartcharge.controller.messages import set_profile_payload, tx_profile
from smartcharge.controller.plan import build_problem, envelope_of, plan_envelopes
from smartcharge.controller.request import Request
from smartcharge.controller.safety import (
    EPOCH,
    WorstCaseCheck,
    admit,
    envelope_problem,
    fallback_a,
    horizon_at,
    measured_lines,
    worst_case,
)
from smartcharge.controller.site import ControllerConfig, Site
from smartcharge.controller.state import (
    ControllerState,
    Envelope,
    PendingRequest,
    PlanState,
    on_grid_many,
)
from smartcharge.controller.surplus import apply_pv_event, pv_problem
from smartcharge.errors import ControllerError
from smartcharge.model import ChargingProfile
from smartcharge.ocpp.fallback import fallback_profiles
from smartcharge.optimizer import Horizon, Problem

__all__ = ["Controller", "DispatchMemo", "dispatch", "step"]

FloatArray = npt.NDArray[np.float64]
_EPS = 1e-9


def _check_now(now: object, state: ControllerState) -> datetime:
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ControllerError(f"now must be an aware datetime, got {now!r}", path="now",
                              rule="aware-datetime")
    now = now.astimezone(timezone.utc)
    if state.now is not None and now < state.now:
        raise ControllerError(
            f"time went backwards: {now.isoformat()} is before the last event's "
            f"{state.now.isoformat()}", path="now", rule="monotonic-time")
    return now


def step(site: Site, config: ControllerConfig, state: ControllerState, event: Event,
         now: datetime, *, fallback: Mapping[str, float] | None = None,
         cache: dict[object, WorstCaseCheck] | None = None,
         memo: DispatchMemo | None = None,
         ) -> tuple[ControllerState, list[Request]]:
    """Handle one event at ``now``: the new state and the requests to send now, in order.

    Parameters
    ----------
    fallback
        The fallback currents of the site (:func:`smartcharge.controller.safety.fallback_a`),
        if already computed.
    cache
        A dict kept between calls for the same site: it memoises the worst-case check
        (:class:`~smartcharge.controller.safety.WorstCaseCheck`) per grid start, grid
        limits and EVSEs counted on one line (a pure function of them; the output does not
        depend on it).
    memo
        A :class:`DispatchMemo` kept between calls for the same site and config (the
        output does not depend on it).

    Raises
    ------
    ControllerError
        A naive or earlier ``now``, a malformed event, an unknown station, EVSE or node (the
        state is not changed).
    """
    now = _check_now(now, state)
    check_event(event)
    fb = fallback if fallback is not None else fallback_a(site, config)
    h = horizon_at(config, now)
    if isinstance(event, (SessionMode, SiteMeterReading)):
        state = apply_pv_event(site, config, state, event, now, fb)
    else:
        state = apply_event(site, config, state, event, now, fb)
    state = state.model_copy(update={
        "now": now, "grid_limits": tuple(g for g in state.grid_limits if g.end > h.start)})
    if state.dirty or state.plan is None or state.plan.start != h.start:
        problem, above = pv_problem(site, config, state,
                                    build_problem(site, config, state, h, now, fb), now, fb)
        desired, status, warm = plan_envelopes(problem, config, _targets(state), above,
                                               state.warm)
        state = state.model_copy(update={
            "plan": PlanState(start=h.start, desired=desired, status=status), "dirty": False,
            "warm": warm})
    checked: WorstCaseCheck | None = None
    if cache is not None:
        lines = measured_lines(site, state, fb)
        key = (h.start, state.grid_limits, tuple(sorted(lines.items())))
        checked = cache.get(key)
        if checked is None:
            cache.clear()  # one grid at a time: the memo never grows
            checked = cache[key] = WorstCaseCheck(envelope_problem(site, state, h, lines))
    return dispatch(site, config, state, h, fb, checked, memo=memo)


class DispatchMemo:
    """The decisions of :func:`dispatch` on the current grid, by their numeric inputs.

    What :func:`dispatch` sends is a pure function of the grid ``h``, the grid limits, the
    EVSEs whose fallback is due, the worst case, the desired and the last-sent envelopes on
    the grid (and of the site, config and fallback, fixed for one memo). Many events leave
    all of them as they were (a meter reading that moves no cap; the result of an increase:
    the worst case already counted it), so the decision is looked up instead of re-run (the
    safety gate's bisection). The key holds the arrays' bytes: equal keys, equal inputs,
    byte for byte. The memo keeps one grid at a time, at most ``size`` decisions and keys of
    at most ``max_bytes`` in all (it starts over beyond), and the fallback
    TxDefaultProfiles once made.
    """

    def __init__(self, size: int = 256, max_bytes: int = 64_000_000) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._bytes = 0
        self.grid: object = None
        self.sends: dict[tuple[object, ...], list[tuple[str, Envelope | None]]] = {}
        self.hits = 0
        self.misses = 0
        self.defaults: dict[str, ChargingProfile] | None = None
        """The fallback TxDefaultProfiles (a function of the site and config only)."""

    def get(self, grid: object, key: tuple[object, ...],
            ) -> list[tuple[str, Envelope | None]] | None:
        """The sends memoised for ``key`` on ``grid`` (``None``: not known)."""
        if grid != self.grid:
            self.grid = grid
            self.sends.clear()
            self._bytes = 0
        got = self.sends.get(key)
        if got is None:
            self.misses += 1
        else:
            self.hits += 1
        return got

    def put(self, key: tuple[object, ...], sends: list[tuple[str, Envelope | None]]) -> None:
        """Remember the sends of ``key`` (on the grid of the last :meth:`get`)."""
        size = sum(len(k) for k in key if isinstance(k, bytes))
        if len(self.sends) >= self.size or self._bytes + size > self.max_bytes:
            self.sends.clear()
            self._bytes = 0
        self.sends[key] = list(sends)
        self._bytes += size


def _targets(state: ControllerState) -> dict[str, Envelope]:
    out = {}
    for key, env in target_envelopes(state).items():
        if env is not None and state.evses[key].transaction_id is not None:
            out[key] = env
    return out


def _significant(site: Site, config: ControllerConfig, keys: Sequence[str], new: FloatArray,
                 old: FloatArray, safety: bool) -> npt.NDArray[np.bool_]:
    """Per row (EVSE ``keys``): whether ``new`` differs from ``old`` beyond the deadband
    (both the A and the W one), or lowers it anywhere while the site is over a limit
    (safety goes at once)."""
    wpa = np.array([site.spec(k).watts_per_amp for k in keys], dtype=np.float64)
    if config.stable:
        band = np.maximum(config.deadband_a, config.deadband_w / wpa)[:, None]
    else:
        band = np.zeros((len(keys), 1))
    diff = np.abs(new - old)
    out = np.any(diff > band + _EPS, axis=1) | ((band[:, 0] == 0)
                                                & np.any(diff > _EPS, axis=1))
    if safety:
        out |= np.any(new < old - _EPS, axis=1)
    return np.asarray(out, dtype=bool)


def dispatch(site: Site, config: ControllerConfig, state: ControllerState, h: Horizon,
             fallback: Mapping[str, float],
             check: WorstCaseCheck | None = None, *,
             memo: DispatchMemo | None = None) -> tuple[ControllerState, list[Request]]:
    """The requests that take the stations towards the plan, safely (module docstring).
    ``check``: the worst-case check of ``h`` if already set up; ``memo``: decisions already
    made on this grid (:class:`DispatchMemo`)."""
    lines = measured_lines(site, state, fallback)
    if check is None:
        check = WorstCaseCheck(envelope_problem(site, state, h, lines))
    worst = worst_case(site, state, h, fallback)
    sends: list[tuple[str, Envelope | None]] = []
    # the fallback TxDefaultProfiles of the stations that just connected
    for key in site.keys:
        ev = state.evses.get(key)
        if ev is None or ev.fallback != "due":
            continue
        st = state.stations.get(site.locate(key)[0])
        if st is not None and st.online:
            sends.append((key, None))
    desired = state.plan.desired if state.plan is not None else {}
    keys = [k for k in site.keys if k in desired]
    targets = target_envelopes(state)
    fb = np.array([fallback[k] for k in keys], dtype=np.float64)[:, None]
    want = on_grid_many([desired[k] for k in keys], h.start, h.n_steps, 0.0)
    last = on_grid_many([targets[k] for k in keys], h.start, h.n_steps)
    last = np.where(np.isnan(last), fb, last)
    if memo is None:
        return _emit(site, config, state, _decide(site, config, h, worst, keys, want, last,
                                                  sends, check))
    # the EVSEs counted on one line change the worst-case check: part of the grid's key
    grid = (h.start, h.step_s, h.n_steps, state.grid_limits, tuple(sorted(lines.items())))
    mkey = (tuple(k for k, _ in sends), tuple(keys), worst.tobytes(), want.tobytes(),
            last.tobytes())
    got = memo.get(grid, mkey)
    if got is None:
        got = _decide(site, config, h, worst, keys, want, last, sends, check)
        memo.put(mkey, got)
    return _emit(site, config, state, got, memo)


def _decide(site: Site, config: ControllerConfig, h: Horizon, worst: FloatArray,
            keys: list[str], want: FloatArray, last: FloatArray,
            sends: list[tuple[str, Envelope | None]], check: WorstCaseCheck,
            ) -> list[tuple[str, Envelope | None]]:
    """What :func:`dispatch` sends (in order) after the fallback ``sends``: a function of the
    grid, the worst case, the desired (``want``) and last-sent (``last``) envelopes of
    ``keys`` on the grid, gated by ``check``."""
    broken = check.broken(worst)
    unsafe = bool(broken)
    row = {k: i for i, k in enumerate(site.keys)}
    ahead = max(1, (config.lookahead_s or config.horizon_s) // config.step_s)
    if not config.stable:
        ahead = h.n_steps
    sends = list(sends)
    rows = np.array([row[k] for k in keys], dtype=np.int64)
    moved = _significant(site, config, keys, want[:, :ahead], last[:, :ahead], unsafe)
    fits = np.all(want <= worst[rows] + _EPS, axis=1)
    increases: list[tuple[str, FloatArray, FloatArray]] = []
    for i in np.flatnonzero(moved).tolist():
        key, d, t = keys[i], want[i], last[i]
        if fits[i]:
            sends.append((key, envelope_of(d, h)))
        else:
            increases.append((key, d, t))
    admitted = set(admit(check, worst, [(row[k], d) for k, d, _ in increases], broken))
    later: list[tuple[str, Envelope | None]] = []
    for key, d, t in increases:
        if row[key] in admitted:
            later.append((key, envelope_of(d, h)))
            continue
        low = np.minimum(d, t)  # lower now what must be lowered; raise when it fits
        if _significant(site, config, [key], low[None, :ahead], t[None, :ahead], unsafe)[0]:
            sends.append((key, envelope_of(low, h)))
    return sends + later


def _emit(site: Site, config: ControllerConfig, state: ControllerState,
          sends: list[tuple[str, Envelope | None]], memo: DispatchMemo | None = None,
          ) -> tuple[ControllerState, list[Request]]:
    if not sends:
        return state, []
    seq = state.seq
    pending = list(state.pending)
    evses = dict(state.evses)
    out: list[Request] = []
    defaults: dict[str, ChargingProfile] | None = None
    for key, env in sends:
        sid, evse_id = site.locate(key)
        st = site.station(sid)
        spec = site.spec(key)
        seq += 1
        cid = f"{sid}#{seq}"
        ev = evses[key]
        if env is None:
            if defaults is None and memo is not None:
                defaults = memo.defaults
            if defaults is None:
                defaults = _fallback_profiles(site, config)
                if memo is not None:
                    memo.defaults = defaults
            profile = defaults[key]
            evses[key] = ev.model_copy(update={"fallback": "sent"})
            pending.append(PendingRequest(correlation_id=cid, seq=seq, station_id=sid,
                                          evse_id=evse_id, kind="default"))
        else:
            tid = ev.transaction_id
            assert tid is not None
            profile = tx_profile(spec, env, tid, config.clock_skew_s)
            pending.append(PendingRequest(correlation_id=cid, seq=seq, station_id=sid,
                                          evse_id=evse_id, kind="tx", transaction_id=tid,
                                          envelope=env))
        action, payload = set_profile_payload(st.protocol, evse_id, profile)
        out.append(Request(station_id=sid, correlation_id=cid, action=action,
                           payload=payload, protocol=st.protocol))
    return state.model_copy(update={"seq": seq, "pending": tuple(pending),
                                    "evses": evses}), out


def _fallback_profiles(site: Site, config: ControllerConfig) -> dict[str, ChargingProfile]:
    """The fallback TxDefaultProfiles (daily, anchored at the epoch: the same at every
    connection), one per EVSE key; their limits are :func:`fallback_a`'s."""
    h = Horizon(start=EPOCH, step_s=config.step_s, n_steps=1)
    problem = Problem(horizon=h, nodes=site.nodes, evses=site.optimizer_evses())
    ids = {k: site.locate(k)[1] for k in site.keys}
    out = fallback_profiles(problem, share_a=config.fallback_share_a, evse_ids=ids)
    if config.fallback_share_a == 0:  # no fallback: TxDefaultProfiles of 0
        out = {k: p.model_copy(update={"charging_schedule": tuple(
            sc.model_copy(update={"charging_schedule_period": tuple(
                q.model_copy(update={"limit": 0.0}) for q in sc.charging_schedule_period)})
            for sc in p.charging_schedule)}) for k, p in out.items()}
    return out


class Controller:
    """A site controller holding its state between events (see :func:`step`).

    >>> from datetime import datetime, timezone
    >>> site = Site.model_validate({
    ...     "nodes": [{"id": "grid", "max_current_a": 40}],
    ...     "stations": [{"id": "cs1", "evses": [{"evse_id": 1, "node": "grid",
    ...                                           "max_current_a": 32}]}]})
    >>> c = Controller(site, ControllerConfig(step_s=900, horizon_s=3600))
    >>> now = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)
    >>> from smartcharge.controller.events import StationConnected
    >>> [r.action for r in c.handle(StationConnected("cs1"), now)]
    ['SetChargingProfile']
    """

    def __init__(self, site: Site, config: ControllerConfig | None = None,
                 state: ControllerState | None = None) -> None:
        self.site = site
        self.config = config if config is not None else ControllerConfig()
        self.state = state if state is not None else ControllerState()
        self._fallback = fallback_a(site, self.config)
        self._cache: dict[object, WorstCaseCheck] = {}
        self._memo = DispatchMemo()

    def handle(self, event: Event, now: datetime) -> list[Request]:
        """Handle one event at ``now``; the new state is kept in ``self.state``."""
        self.state, requests = step(self.site, self.config, self.state, event, now,
                                    fallback=self._fallback, cache=self._cache,
                                    memo=self._memo)
        return requests
