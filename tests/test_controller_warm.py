"""The controller re-plans warm (``optimizer.replan``) and stays deterministic.

- the warm state (:class:`~smartcharge.optimizer.LazyRows`) survives the snapshot's JSON
  exactly (property), and a damaged one is a ``ControllerError`` naming its path;
- a snapshot taken mid-run, while the warm state is in use, restored into a new
  controller continues with byte-identical requests and state;
- on generated sites, every plan of the warm path and of the cold one (``replan_warm``
  off: ``optimize`` with every row) is safe (``verify`` finds nothing).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import smartcharge.controller as scc
from smartcharge.controller import plan as plan_mod
from smartcharge.controller.state import ControllerState
from smartcharge.controller.warm import lazy_rows, warm_doc
from smartcharge.errors import ControllerError
from smartcharge.optimizer import LazyRows, Plan, Problem, verify

T0 = datetime(2024, 3, 4, 6, tzinfo=timezone.utc)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def lazy_rows_st(draw: st.DrawFn) -> LazyRows:
    nodes = []
    for k in range(draw(st.integers(0, 3))):
        r, m = draw(st.integers(1, 6)), draw(st.integers(0, 4))
        coef = draw(hnp.arrays(np.float64, (r, m), elements=finite))
        n = draw(st.integers(0, 8))
        facet = np.sort(draw(hnp.arrays(np.int64, n, elements=st.integers(0, r - 1))))
        start = draw(hnp.arrays(np.float64, n, elements=st.floats(-1e10, 1e10)))
        length = draw(hnp.arrays(np.float64, n, elements=st.floats(1.0, 1e5)))
        order = np.lexsort((start, facet))
        nodes.append((f"n{k}", coef, facet[order], start[order], start[order] + length[order]))
    return LazyRows(tuple(nodes))


@given(lazy_rows_st())
def test_the_warm_rows_survive_the_snapshot_json_exactly(rows: LazyRows) -> None:
    state = ControllerState(warm=warm_doc(rows))
    text = state.to_json()
    back = ControllerState.from_json(text)
    assert back == state and back.to_json() == text
    got = lazy_rows(back.warm)
    assert got is not None and len(got.nodes) == len(rows.nodes)
    for a, b in zip(got.nodes, rows.nodes, strict=True):
        assert a[0] == b[0]
        for x, y in zip(a[1:], b[1:], strict=True):
            assert x.dtype == y.dtype and x.shape == y.shape
            assert x.tobytes() == y.tobytes()  # bit for bit, -0.0 included


def _warm_json() -> dict[str, Any]:
    rows = LazyRows((("grid", np.array([[1.0, 0.5], [0.5, 1.0]]), np.array([0, 1]),
                      np.array([0.0, 0.0]), np.array([300.0, 300.0])),))
    doc: dict[str, Any] = json.loads(ControllerState(warm=warm_doc(rows)).to_json())
    return doc


@pytest.mark.parametrize(("field", "value", "words"), [
    ("coef", [1.0, 0.5, 0.5], "coef_shape"),
    ("facet", [0, 2], "not below"),
    ("facet", [1, 0], "not sorted"),
    ("end_s", [300.0], "differ in length"),
    ("end_s", [0.0, 300.0], "not after"),
    ("start_s", [0.0, None], "valid number"),
    ("coef_shape", [2, -1], "greater than or equal"),
])
def test_a_damaged_warm_state_names_its_path(field: str, value: object, words: str) -> None:
    doc = _warm_json()
    doc["warm"]["nodes"][0][field] = value
    with pytest.raises(ControllerError) as err:
        ControllerState.from_json(json.dumps(doc))
    assert err.value.path.startswith("warm.nodes[0]") or err.value.path.startswith(
        "warm.nodes.0"), err.value.path
    assert words in str(err.value)


def test_version_2_snapshots_read_with_no_warm_state() -> None:
    doc = _warm_json()
    del doc["warm"]
    doc["format_version"] = 2
    got = ControllerState.from_json(json.dumps(doc))
    assert got.format_version == 3 and got.warm is None


# --- a congested run: the snapshot mid-way continues byte for byte ------------------------


def _site() -> scc.Site:
    stations = []
    for s in range(3):
        evses: list[dict[str, object]] = []
        for j in range(6):
            spec: dict[str, object] = {"evse_id": j + 1, "node": f"f{s % 2}",
                                       "max_current_a": 32}
            if j % 3 == 2:
                spec.update(phases=1, connection=("L1", "L2", "L3")[(s + j) % 3])
            evses.append(spec)
        stations.append({"id": f"cs{s}", "protocol": "2.0.1", "evses": evses})
    return scc.Site.model_validate({
        "nodes": [{"id": "grid", "max_current_a": 120},
                  {"id": "f0", "parent": "grid", "max_current_a": 90},
                  {"id": "f1", "parent": "grid", "max_power_w": 50_000}],
        "stations": stations})


def _events(site: scc.Site) -> list[tuple[scc.Event, datetime]]:
    """Arrivals with needs, meter readings, a tariff and ticks over three hours."""
    rng = np.random.default_rng(15)
    out: list[tuple[scc.Event, datetime]] = [
        (scc.StationConnected(st.id), T0) for st in site.stations]
    out.append((scc.TariffUpdate(((T0, 0.3), (T0 + timedelta(hours=2), 0.1))), T0))
    running: dict[str, str] = {}
    now = T0
    for k in range(12):
        for i, key in enumerate(site.keys):
            sid, evse = site.locate(key)
            if key not in running and rng.random() < 0.3:
                running[key] = tid = f"t{100 * k + i}"
                out.append((scc.TransactionStarted(sid, evse, tid, now, 0.0), now))
                out.append((scc.ChargingNeeds(
                    sid, evse, energy_wh=float(rng.uniform(10_000, 60_000)),
                    departure=now + timedelta(minutes=int(rng.integers(90, 480)))), now))
            elif key in running and rng.random() < 0.08:
                out.append((scc.TransactionEnded(sid, evse, running.pop(key), now), now))
        mid = now + timedelta(minutes=7)
        for key in running:
            sid, evse = site.locate(key)
            amps = float(rng.uniform(4, 16))
            out.append((scc.MeterReading(sid, evse, currents_a=(amps, amps, amps),
                                         energy_wh=float(k * 1500), timestamp=mid), mid))
        now += timedelta(seconds=900)
        out.append((scc.Tick(), now))
    return out


def _drive(c: scc.Controller, events: list[tuple[scc.Event, datetime]],
           ) -> tuple[list[str], list[str]]:
    """Every request accepted at once; the requests' JSON and the state after each event."""
    sent: list[str] = []
    states: list[str] = []
    for event, now in events:
        todo = list(c.handle(event, now))
        while todo:
            req = todo.pop(0)
            sent.append(req.to_json())
            todo += c.handle(scc.RequestResult(req.correlation_id, "Accepted"), now)
        states.append(c.state.to_json())
    return sent, states


def test_a_snapshot_mid_run_continues_byte_for_byte_with_the_warm_state() -> None:
    site = _site()
    config = scc.ControllerConfig(step_s=900, horizon_s=6 * 3600, replan_warm=True)
    assert config.grid == "mpc"
    events = _events(site)
    k = len(events) // 2
    whole = scc.Controller(site, config)
    first, _ = _drive(whole, events[:k])
    snapshot = whole.state.to_json()
    # the warm state is in use: the last re-plan's binding rows are in the snapshot
    warm = whole.state.warm
    assert warm is not None and sum(len(n.facet) for n in warm.nodes) > 0
    rest, states = _drive(whole, events[k:])
    calls: list[bool] = []
    real = plan_mod.replan

    def spy(problem: Problem, warm: LazyRows | None = None, **kw: Any) -> Any:
        calls.append(warm is not None and len(warm.nodes) > 0)
        return real(problem, warm, **kw)

    with mock.patch.object(plan_mod, "replan", spy):
        restored = scc.Controller(site, config, ControllerState.from_json(snapshot))
        rest2, states2 = _drive(restored, events[k:])
    assert rest2 == rest and states2 == states  # byte for byte, every request and state
    assert len(calls) > 5 and all(calls)  # every re-plan after the restore started warm
    assert len(first) > 0 and len(rest) > 0
    # (replaying the whole log from scratch: the stateful test of test_controller_safety)


# --- generated sites: the warm path and the cold path both plan safely --------------------


@st.composite
def sites_and_cars(draw: st.DrawFn) -> tuple[scc.Site, list[tuple[str, float, int]]]:
    n = draw(st.integers(2, 8))
    grid_a = draw(st.floats(16.0, 150.0))
    feeder_w = draw(st.one_of(st.none(), st.floats(5_000.0, 60_000.0)))
    evses: list[dict[str, object]] = []
    for j in range(n):
        spec: dict[str, object] = {"evse_id": j + 1, "node": "f" if j % 2 else "grid",
                                   "max_current_a": draw(st.sampled_from([16, 32]))}
        if draw(st.booleans()):
            spec.update(phases=1, connection=draw(st.sampled_from(["L1", "L2", "L3"])))
        evses.append(spec)
    feeder: dict[str, object] = {"id": "f", "parent": "grid"}
    if feeder_w is not None:
        feeder["max_power_w"] = feeder_w
    site = scc.Site.model_validate({
        "nodes": [{"id": "grid", "max_current_a": grid_a}, feeder],
        "stations": [{"id": "cs", "protocol": "2.0.1", "evses": evses}]})
    cars = [(key, draw(st.floats(2_000.0, 80_000.0)), draw(st.integers(1, 12)))
            for key in site.keys if draw(st.booleans())]
    return site, cars


def _plans(site: scc.Site, config: scc.ControllerConfig,
           cars: list[tuple[str, float, int]]) -> list[tuple[Problem, Plan]]:
    """Every (problem, plan) the controller solves on a run of ``cars`` (key, need [Wh],
    stay [h]) arriving at once, then ticks and readings over two hours."""
    got: list[tuple[Problem, Plan]] = []
    real = plan_mod.solve_plan

    def spy(problem: Problem, config: scc.ControllerConfig, warm: Any) -> Any:
        out = real(problem, config, warm)
        got.append((problem, out[0]))
        return out

    events: list[tuple[scc.Event, datetime]] = [(scc.StationConnected("cs"), T0)]
    for i, (key, need, stay) in enumerate(cars):
        sid, evse = site.locate(key)
        events += [(scc.TransactionStarted(sid, evse, f"t{i}", T0, 0.0), T0),
                   (scc.ChargingNeeds(sid, evse, energy_wh=need,
                                      departure=T0 + timedelta(hours=stay)), T0)]
    for k in range(1, 9):
        now = T0 + timedelta(seconds=900 * k)
        for key, need, _ in cars:
            sid, evse = site.locate(key)
            events.append((scc.MeterReading(sid, evse, currents_a=(6.0, 6.0, 6.0),
                                            energy_wh=min(need, 1000.0 * k)), now))
        events.append((scc.Tick(), now))
    with mock.patch.object(plan_mod, "solve_plan", spy):
        _drive(scc.Controller(site, config), events)
    return got


@settings(max_examples=12)
@given(sites_and_cars())
def test_the_warm_and_the_cold_path_both_plan_safely(
        case: tuple[scc.Site, list[tuple[str, float, int]]]) -> None:
    site, cars = case
    for warm in (True, False):
        config = scc.ControllerConfig(step_s=900, horizon_s=8 * 3600, replan_warm=warm)
        plans = _plans(site, config, cars)
        assert bool(plans) == bool(cars)
        for problem, plan in plans:
            assert verify(problem, plan) == [], (warm, [v.message for v in
                                                        verify(problem, plan)])
