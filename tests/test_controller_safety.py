"""The controller is safe at every instant: a hypothesis stateful test.

Stations are simulated as they behave on the wire: each applies our requests in the order
sent (one at a time, at a random moment), accepts or refuses them, and its answers reach
the controller late, out of order, twice, or never (the CSMS then reports a timeout);
stations disconnect (applying a random part of what was queued) and reconnect; cars come
and go (some single-phase on a three-phase EVSE), draw less than allowed, and send their
needs.

After every event we check

1. **soundness**: what every EVSE may really draw (its installed TxProfile for the running
   transaction, else the fallback; and every request still queued at its station, which it
   may yet apply), on a clock off by up to ``clock_skew_s`` either way (the profile's
   highest value over each step widened by the skew on both sides), is within the
   controller's worst case, at every step;
2. **safety**: that worst case (every combination of applied / not applied requests, since
   each EVSE's draw depends only on its own profile; a car measured on one line counted
   there) keeps every node's power and line currents within the limits, checked exactly by
   ``verify``; and so does what the stations may apply, drawn on the lines the cars use;
3. the state survives a JSON round trip unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import smartcharge.controller as scc
from smartcharge.controller.safety import (
    envelope_problem,
    horizon_at,
    measured_lines,
    violations,
    worst_case,
)
from smartcharge.controller.state import ControllerState
from smartcharge.optimizer import Horizon

SITE = scc.Site.model_validate({
    "nodes": [
        {"id": "grid", "max_current_a": 45},
        {"id": "f1", "parent": "grid", "max_power_w": 22000},
        {"id": "f2", "parent": "grid"},
    ],
    "stations": [
        {"id": "a", "protocol": "2.0.1", "evses": [
            {"evse_id": 1, "node": "f1", "max_current_a": 32},
            {"evse_id": 2, "node": "f1", "max_current_a": 32}]},
        {"id": "b", "protocol": "1.6", "evses": [
            {"evse_id": 1, "node": "f2", "max_current_a": 32}]},
        {"id": "c", "protocol": "2.0.1", "evses": [
            {"evse_id": 1, "node": "f2", "phases": 1, "connection": "L1",
             "max_current_a": 32}]},
    ],
})
CONFIG = scc.ControllerConfig(step_s=900, horizon_s=2 * 3600, feedback_after_s=600)
T0 = datetime(2024, 1, 1, 8, 0, tzinfo=timezone.utc)
KEYS = SITE.keys
STATIONS = tuple(s.id for s in SITE.stations)


@dataclass
class StationSim:
    """What a station really holds and has queued."""

    online: bool = False
    queue: list[scc.Request] = field(default_factory=list)
    tx: dict[int, str] = field(default_factory=dict)  # evseId -> running transactionId
    installed: dict[int, tuple[str, Sent]] = field(default_factory=dict)
    line: dict[int, str] = field(default_factory=dict)  # evseId -> its car's only line


@dataclass(frozen=True)
class Sent:
    """A TxProfile we sent, as the station holds it: ``limits[i]`` from ``start +
    offsets[i]`` [s] to the next period, until ``start + duration``."""

    start: datetime
    duration: int
    offsets: np.ndarray
    limits: np.ndarray

    def step_max(self, h: Horizon, fallback: float, skew_s: int) -> np.ndarray:
        """Per step of ``h``, the most a station whose clock is off by at most ``skew_s``
        [s] (either way) may apply at some true instant of the step: the highest value of
        the profile (the fallback outside it) over ``[step start - skew_s, step end +
        skew_s)`` of its own clock (the dilation of the profile, per step)."""
        t0 = (self.start - h.start).total_seconds()
        a = np.concatenate([[-np.inf], t0 + self.offsets, [t0 + self.duration]])
        b = np.concatenate([[t0], t0 + self.offsets[1:], [t0 + self.duration, np.inf]])
        v = np.concatenate([[fallback], self.limits, [fallback]])
        lo = np.arange(h.n_steps, dtype=np.float64)[:, None] * h.step_s - skew_s
        hi = lo + h.step_s + 2 * skew_s
        touches = (a[None, :] < hi) & (b[None, :] > lo) & (b > a)[None, :]
        return np.asarray(np.where(touches, v[None, :], -np.inf).max(axis=1))


def _envelope_of(req: scc.Request) -> tuple[int, str | None, Sent | None]:
    """(evseId, transactionId, the TxProfile in A) of a SetChargingProfile we sent."""
    if req.protocol == "1.6":
        evse = req.payload["connectorId"]
        prof = req.payload["csChargingProfiles"]
        sched = prof["chargingSchedule"]
        tid = None if "transactionId" not in prof else str(prof["transactionId"])
        purpose = prof["chargingProfilePurpose"]
    else:
        evse = req.payload["evseId"]
        prof = req.payload["chargingProfile"]
        sched = prof["chargingSchedule"][0]
        tid = prof.get("transactionId")
        purpose = prof["chargingProfilePurpose"]
    if purpose != "TxProfile":
        return evse, None, None
    start = datetime.fromisoformat(sched["startSchedule"].replace("Z", "+00:00"))
    periods = sched["chargingSchedulePeriod"]
    return evse, tid, Sent(start, int(sched["duration"]),
                           np.array([p["startPeriod"] for p in periods], dtype=np.float64),
                           np.array([p["limit"] for p in periods], dtype=np.float64))


class ControllerMachine(RuleBasedStateMachine):
    config = CONFIG

    def __init__(self) -> None:
        super().__init__()
        self.c = scc.Controller(SITE, self.config)
        self.now = T0
        self.sims = {s: StationSim() for s in STATIONS}
        self.transit: list[scc.RequestResult] = []  # answers on their way back
        self.next_tx = 100
        self.log: list[tuple[dict[str, object], datetime]] = []
        self.out: list[str] = []
        self.snapshots: list[tuple[str, int]] = []

    # ---- plumbing ------------------------------------------------------------------------

    def handle(self, event: scc.Event) -> None:
        self.log.append((scc.event_to_json_dict(event), self.now))
        self.snapshots.append((self.c.state.to_json(), len(self.out)))
        requests = self.c.handle(event, self.now)
        # idempotent: the same event again (same time) sends nothing new
        again = scc.step(SITE, self.config, self.c.state, event, self.now,
                         fallback=self.c._fallback)[1]
        assert again == [], [r.to_json() for r in again]
        for req in requests:
            self.out.append(req.to_json())
            sim = self.sims[req.station_id]
            if sim.online:
                sim.queue.append(req)
            # a request to an offline station is never delivered: the CSMS reports a timeout
            else:
                self.transit.append(scc.RequestResult(req.correlation_id, "Timeout"))

    def apply_head(self, sid: str, accept: bool) -> scc.RequestResult:
        sim = self.sims[sid]
        req = sim.queue.pop(0)
        evse, tid, env = _envelope_of(req)
        ok = accept
        if env is not None:
            if sim.tx.get(evse) != tid:
                ok = False  # K01: a TxProfile for a transaction not running is refused
            elif ok:
                sim.installed[evse] = (tid, env)
        return scc.RequestResult(req.correlation_id, "Accepted" if ok else "Rejected")

    # ---- rules ---------------------------------------------------------------------------

    @initialize()
    def boot(self) -> None:
        """Every station online first, so the steps go to the interesting events."""
        for sid in STATIONS:
            self.connect(sid)

    @rule(sid=st.sampled_from(STATIONS))
    def connect(self, sid: str) -> None:
        sim = self.sims[sid]
        if not sim.online:
            sim.online = True
            self.handle(scc.StationConnected(sid))

    @rule(sid=st.sampled_from(STATIONS), data=st.data())
    def disconnect(self, sid: str, data: st.DataObject) -> None:
        sim = self.sims[sid]
        if not sim.online:
            return
        applied = data.draw(st.integers(0, len(sim.queue)))
        for _ in range(applied):  # applied, but the answers are lost with the link
            self.apply_head(sid, data.draw(st.booleans()))
        sim.queue.clear()
        sim.online = False
        self.handle(scc.StationDisconnected(sid))

    @rule(key=st.sampled_from(KEYS), line=st.sampled_from([None, "L1", "L2", "L3"]))
    def car_arrives(self, key: str, line: str | None) -> None:
        sid, evse = SITE.locate(key)
        sim = self.sims[sid]
        if evse in sim.tx:
            return
        self.next_tx += 1
        sim.tx[evse] = str(self.next_tx)
        if line is not None and SITE.spec(key).phases == 3:
            sim.line[evse] = line  # a single-phase car on a three-phase EVSE
        if sim.online:
            self.handle(scc.TransactionStarted(sid, evse, str(self.next_tx), self.now))
            self.meter(key, 1.0, 0.0)  # it starts drawing, on its lines

    @rule(key=st.sampled_from(KEYS))
    def car_leaves(self, key: str) -> None:
        sid, evse = SITE.locate(key)
        sim = self.sims[sid]
        tid = sim.tx.pop(evse, None)
        if tid is None:
            return
        sim.installed.pop(evse, None)  # the station drops the TxProfile with the transaction
        sim.line.pop(evse, None)
        if sim.online:
            self.handle(scc.TransactionEnded(sid, evse, tid, self.now))

    @rule(sid=st.sampled_from(STATIONS), accept=st.booleans())
    def station_answers(self, sid: str, accept: bool) -> None:
        sim = self.sims[sid]
        if sim.online and sim.queue:
            self.transit.append(self.apply_head(sid, accept))

    @precondition(lambda self: bool(self.transit))
    @rule(data=st.data(), how=st.sampled_from(["deliver", "twice", "lose"]))
    def answer_arrives(self, data: st.DataObject, how: str) -> None:
        res = self.transit.pop(data.draw(st.integers(0, len(self.transit) - 1)))
        if how == "lose":
            res = scc.RequestResult(res.correlation_id, "Timeout")
        self.handle(res)
        if how == "twice":
            self.handle(res)

    @rule(key=st.sampled_from(KEYS), data=st.data())
    def csms_times_out(self, key: str, data: st.DataObject) -> None:
        """No answer yet from the station: the CSMS gives up on a queued request."""
        sid, _ = SITE.locate(key)
        sim = self.sims[sid]
        if sim.queue:
            req = sim.queue[data.draw(st.integers(0, len(sim.queue) - 1))]
            self.handle(scc.RequestResult(req.correlation_id, "Timeout"))

    @rule(key=st.sampled_from(KEYS), share=st.floats(0.0, 1.0), kwh=st.floats(0, 80))
    def meter(self, key: str, share: float, kwh: float) -> None:
        sid, evse = SITE.locate(key)
        sim = self.sims[sid]
        if evse not in sim.tx or not sim.online:
            return
        got = sim.installed.get(evse)
        limit = 6.0 if got is None else float(got[1].limits.max())
        amps = round(share * limit, 1)
        line = sim.line.get(evse)
        currents = tuple(amps if line in (None, f"L{n}") else 0.0 for n in (1, 2, 3))
        self.handle(scc.MeterReading(sid, evse, currents_a=currents,  # type: ignore[arg-type]
                                     energy_wh=kwh * 1000.0, timestamp=self.now))

    @rule(key=st.sampled_from(KEYS), kwh=st.floats(1, 60), hours=st.floats(0.1, 6))
    def needs(self, key: str, kwh: float, hours: float) -> None:
        sid, evse = SITE.locate(key)
        if self.sims[sid].online:
            self.handle(scc.ChargingNeeds(sid, evse, energy_wh=kwh * 1000.0,
                                          departure=self.now + timedelta(hours=hours)))

    @rule(seconds=st.integers(0, 1800))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self.handle(scc.Tick())

    # ---- invariants ----------------------------------------------------------------------

    @invariant()
    def worst_case_is_sound_and_safe(self) -> None:
        state = self.c.state
        h = horizon_at(self.config, self.now)
        worst = worst_case(SITE, state, h, self.c._fallback)
        skew = self.config.clock_skew_s
        real = np.empty_like(worst)
        for i, key in enumerate(KEYS):
            sid, evse = SITE.locate(key)
            sim = self.sims[sid]
            fb = self.c._fallback[key]
            got = sim.installed.get(evse)
            real[i] = fb
            if got is not None and sim.tx.get(evse) == got[0]:
                real[i] = np.maximum(real[i], got[1].step_max(h, fb, skew))
            for req in sim.queue:  # it may still apply any of these
                e, tid, env = _envelope_of(req)
                if e == evse and env is not None and sim.tx.get(evse) == tid:
                    real[i] = np.maximum(real[i], env.step_max(h, fb, skew))
            assert np.all(real[i] <= worst[i] + 1e-9), (key, real[i], worst[i])
        lines = measured_lines(SITE, state, self.c._fallback)
        bad = violations(envelope_problem(SITE, state, h, lines), worst)
        assert bad == [], [v.message for v in bad]
        # what the stations may apply at any true instant, whatever their clock's offset
        # within the bound (every combination of applied / pending requests), drawn by
        # the cars on the lines they really use, is within every limit
        cars = {SITE.evse_key(sid, e): line for sid, sim in self.sims.items()
                for e, line in sim.line.items()}
        bad = violations(envelope_problem(SITE, state, h, cars), real)
        assert bad == [], [v.message for v in bad]

    @invariant()
    def state_round_trips(self) -> None:
        text = self.c.state.to_json()
        assert ControllerState.from_json(text) == self.c.state
        assert ControllerState.from_json(text).to_json() == text

    def teardown(self) -> None:
        # replaying the event log from scratch gives the same requests, byte for byte
        c = scc.Controller(SITE, self.config)
        out = []
        for data, now in self.log:
            out += [r.to_json() for r in c.handle(scc.event_from_json_dict(data), now)]
        assert out == self.out
        assert c.state.to_json() == self.c.state.to_json()
        # a snapshot taken mid-sequence and restored gives the same future output
        if self.log:
            k = len(self.log) // 2
            text, done = self.snapshots[k]
            c = scc.Controller(SITE, self.config, ControllerState.from_json(text))
            out = []
            for data, now in self.log[k:]:
                out += [r.to_json() for r in c.handle(scc.event_from_json_dict(data), now)]
            assert out == self.out[done:]


_CI = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
ControllerMachine.TestCase.settings = settings(
    settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "default")),
    max_examples=40 if _CI else 15, stateful_step_count=40 if _CI else 25,
)
TestControllerSafety = ControllerMachine.TestCase


class FallbackShareMachine(ControllerMachine):
    """The same with a fallback share of 6 A and a larger clock-skew bound (120 s)."""

    config = CONFIG.model_copy(update={"fallback_share_a": 6.0, "clock_skew_s": 120})


FallbackShareMachine.TestCase.settings = settings(
    settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "default")),
    max_examples=20 if _CI else 8, stateful_step_count=40 if _CI else 25,
)
TestControllerSafetyFallbackShare = FallbackShareMachine.TestCase
