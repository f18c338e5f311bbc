"""The controller's speed-ups do not change a byte of what it sends (property tests).

:class:`~smartcharge.controller.Controller` memoises dispatch decisions
(:class:`~smartcharge.controller.DispatchMemo`) and the worst-case check per grid; the pure
:func:`~smartcharge.controller.step` without them is the reference. Random event logs on
small, tight sites (arrivals, needs, meter readings, departures, ticks; results accepted,
rejected, timed out or answered at the next step) must give the same requests, event by
event, and the same final state.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import smartcharge.controller as scc
from smartcharge.controller.safety import WorstCaseCheck, envelope_problem
from smartcharge.controller.state import ControllerState, GridLimitState
from smartcharge.optimizer import Horizon

T0 = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)


@st.composite
def sites(draw: st.DrawFn) -> scc.Site:
    """A tight grid connection, a feeder, 2-6 EVSEs of one or three phases."""
    nodes = [{"id": "grid", "max_current_a": draw(st.floats(20, 80))},
             {"id": "f", "parent": "grid",
              "max_power_w": draw(st.none() | st.floats(8_000, 30_000))}]
    evses = []
    for j in range(draw(st.integers(2, 6))):
        spec: dict[str, object] = {"evse_id": j + 1, "node": draw(st.sampled_from(["grid", "f"])),
                                   "max_current_a": 32}
        if draw(st.booleans()):
            spec.update(phases=1, connection=draw(st.sampled_from(["L1", "L2", "L3"])))
        evses.append(spec)
    return scc.Site.model_validate({"nodes": nodes, "stations": [{"id": "a", "evses": evses}]})


def _log(site: scc.Site, seed: int, memo: bool) -> list[str]:
    """Every request (JSON) of a random 2-hour log, then the final state."""
    config = scc.ControllerConfig(step_s=900, horizon_s=3 * 3600, fallback_share_a=0.0)
    c = scc.Controller(site, config)
    state = ControllerState()
    rng = np.random.default_rng(seed)
    out: list[str] = []
    held: list[str] = []

    def handle(event: scc.Event, now: datetime) -> None:
        nonlocal state
        if memo:
            todo = c.handle(event, now)
        else:
            state, todo = scc.step(site, config, state, event, now)
        while todo:
            req = todo.pop(0)
            out.append(json.dumps([req.correlation_id, req.action, req.payload],
                                  sort_keys=True))
            r = rng.random()
            if r < 0.15:
                held.append(req.correlation_id)
                continue
            outcome = "Accepted" if r < 0.8 else "Rejected" if r < 0.9 else "Timeout"
            result = scc.RequestResult(req.correlation_id, outcome)
            if memo:
                todo += c.handle(result, now)
            else:
                state, more = scc.step(site, config, state, result, now)
                todo += more

    handle(scc.StationConnected("a"), T0)
    running: dict[int, str] = {}
    energy: dict[int, float] = {}
    for k in range(8):
        now = T0 + timedelta(seconds=900 * k)
        answers, held[:] = list(held), []
        for cid in answers:
            handle(scc.RequestResult(cid, "Accepted"), now)
        t = now + timedelta(seconds=60)
        for e in site.stations[0].evses:
            n = e.evse_id
            if n in running and rng.random() < 0.7:
                energy[n] += float(rng.uniform(0, 3000))
                handle(scc.MeterReading("a", n, power_w=float(rng.uniform(0, 7000)),
                                        energy_wh=energy[n], timestamp=t), t)
            if n in running and rng.random() < 0.15:
                handle(scc.TransactionEnded("a", n, running.pop(n), t), t)
            elif n not in running and rng.random() < 0.5:
                running[n] = f"t{k}-{n}"
                energy[n] = 0.0
                handle(scc.TransactionStarted("a", n, running[n], t, 0.0), t)
                handle(scc.ChargingNeeds("a", n, energy_wh=float(rng.uniform(5e3, 40e3)),
                                         departure=t + timedelta(hours=float(
                                             rng.uniform(0.5, 4)))), t)
        handle(scc.Tick(), now + timedelta(seconds=900))
    out.append(c.state.to_json() if memo else state.to_json())
    return out


@settings(max_examples=25, deadline=None)
@given(site=sites(), seed=st.integers(0, 2**32 - 1))
def test_memoised_controller_sends_what_the_pure_step_sends(site: scc.Site, seed: int) -> None:
    assert _log(site, seed, memo=True) == _log(site, seed, memo=False)


def test_memo_is_used_and_keeps_one_grid() -> None:
    site = scc.Site.model_validate({
        "nodes": [{"id": "grid", "max_current_a": 40}],
        "stations": [{"id": "a", "evses": [{"evse_id": j, "node": "grid", "max_current_a": 32}
                                           for j in (1, 2, 3)]}]})
    c = scc.Controller(site, scc.ControllerConfig(step_s=900, horizon_s=3600,
                                                  fallback_share_a=0.0))
    memo = c._memo
    c.handle(scc.StationConnected("a"), T0)
    for j in (1, 2, 3):
        c.handle(scc.TransactionStarted("a", j, f"t{j}", T0, 0.0), T0)
    sent = c.state.seq
    assert sent > 0  # the plan went out at the arrivals (nothing answered yet)
    assert c.handle(scc.Tick(), T0) == []  # in flight: nothing more to send
    hits = memo.hits
    assert c.handle(scc.Tick(), T0) == []  # nothing changed: the decision is looked up
    assert memo.hits == hits + 1
    c.handle(scc.Tick(), T0 + timedelta(seconds=900))  # a new grid: the memo starts over
    assert len(memo.sends) == 1
    small = scc.DispatchMemo(max_bytes=10)  # keys beyond the bound: it starts over
    small.get("g", (b"12345678",))
    small.put((b"12345678",), [])
    small.put((b"abcdefgh",), [])
    assert list(small.sends) == [(b"abcdefgh",)]


@settings(max_examples=100, deadline=None)
@given(site=sites(), data=st.data())
def test_breaks_is_whether_any_node_breaks(site: scc.Site, data: st.DataObject) -> None:
    h = Horizon(start=T0, step_s=900, n_steps=3)
    limit = data.draw(st.none() | st.floats(5, 60))
    state = ControllerState() if limit is None else ControllerState(grid_limits=(
        GridLimitState(node="grid", start=T0, end=T0 + timedelta(hours=1),
                       max_current_a=limit),))
    check = WorstCaseCheck(envelope_problem(site, state, h))
    for _ in range(3):  # the node tried first changes with the answers
        w = np.array(data.draw(st.lists(st.sampled_from([0.0, 6.0, 16.0, 32.0]),
                                        min_size=3 * len(site.keys),
                                        max_size=3 * len(site.keys))),
                     dtype=np.float64).reshape(len(site.keys), 3)
        nodes = tuple(data.draw(st.lists(st.sampled_from(check.all_nodes), unique=True))
                      ) if check.all_nodes else ()
        ep = check.power(w)
        assert check.breaks(ep, nodes) == bool(check.broken_power(ep, nodes))
