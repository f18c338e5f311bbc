"""The site controller's behaviours, one by one (the safety property is in
test_controller_safety.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import smartcharge as sc
import smartcharge.controller as scc
from smartcharge.controller.plan import departure_of
from smartcharge.controller.safety import envelope_problem, horizon_at, violations, worst_case
from smartcharge.controller.state import ControllerState, EvseState
from smartcharge.errors import ControllerError

T0 = datetime(2024, 1, 1, 8, 0, tzinfo=timezone.utc)
CONFIG = scc.ControllerConfig(step_s=900, horizon_s=4 * 3600, feedback_after_s=600)


def site(grid_a: float = 40.0) -> scc.Site:
    return scc.Site.model_validate({
        "nodes": [{"id": "grid", "max_current_a": grid_a}],
        "stations": [
            {"id": "a", "protocol": "2.0.1", "evses": [
                {"evse_id": 1, "node": "grid", "max_current_a": 32},
                {"evse_id": 2, "node": "grid", "max_current_a": 32}]},
            {"id": "b", "protocol": "1.6", "evses": [
                {"evse_id": 1, "node": "grid", "max_current_a": 32}]}]})


def accept_all(c: scc.Controller, reqs: list[scc.Request], now: datetime) -> list[scc.Request]:
    """Accept every request and whatever follows from it; every request sent."""
    sent = list(reqs)
    todo = list(reqs)
    while todo:
        r = todo.pop(0)
        more = c.handle(scc.RequestResult(r.correlation_id, "Accepted"), now)
        sent += more
        todo += more
    return sent


def online(c: scc.Controller, now: datetime = T0) -> None:
    for s in c.site.stations:
        accept_all(c, c.handle(scc.StationConnected(s.id), now), now)


def first_limits(reqs: list[scc.Request]) -> dict[tuple[str, int], float]:
    out = {}
    for r in reqs:
        if r.protocol == "1.6":
            prof, evse = r.payload["csChargingProfiles"], r.payload["connectorId"]
            sched = prof["chargingSchedule"]
        else:
            prof, evse = r.payload["chargingProfile"], r.payload["evseId"]
            sched = prof["chargingSchedule"][0]
        if prof["chargingProfilePurpose"] == "TxProfile":
            out[(r.station_id, evse)] = sched["chargingSchedulePeriod"][0]["limit"]
    return out


# ---- site -------------------------------------------------------------------------------


def test_site_maps_keys_both_ways() -> None:
    s = site()
    assert s.keys == ("a/1", "a/2", "b/1")
    assert [s.locate(k) for k in s.keys] == [("a", 1), ("a", 2), ("b", 1)]
    assert [e.id for e in s.optimizer_evses()] == list(s.keys)
    with pytest.raises(ControllerError, match="no EVSE 'x/1'"):
        s.locate("x/1")


def test_site_rejects_unknown_node_and_duplicates() -> None:
    with pytest.raises(sc.InvalidProblemError) as err:
        scc.Site.model_validate({"nodes": [{"id": "g"}], "stations": [
            {"id": "a", "evses": [{"evse_id": 1, "node": "nope", "max_current_a": 16}]}]})
    assert err.value.path == "stations[0].evses[0].node"
    with pytest.raises(sc.InvalidProblemError, match="duplicate evse_id"):
        scc.Site.model_validate({"nodes": [{"id": "g"}], "stations": [
            {"id": "a", "evses": [{"evse_id": 1, "node": "g", "max_current_a": 16},
                                  {"evse_id": 1, "node": "g", "max_current_a": 16}]}]})


# ---- the loop ---------------------------------------------------------------------------


def test_connection_sends_fallback_in_each_protocol() -> None:
    c = scc.Controller(site(), CONFIG)
    a = c.handle(scc.StationConnected("a"), T0)
    b = c.handle(scc.StationConnected("b"), T0)
    assert [r.correlation_id for r in a + b] == ["a#1", "a#2", "b#3"]
    assert a[0].payload["chargingProfile"]["chargingProfilePurpose"] == "TxDefaultProfile"
    assert b[0].payload["connectorId"] == 1
    assert b[0].payload["csChargingProfiles"]["chargingProfilePurpose"] == "TxDefaultProfile"
    # the same event again: nothing new
    assert c.handle(scc.StationConnected("a"), T0) == []


def test_transaction_gets_a_tx_profile_and_1_6_gets_integer_transaction_id() -> None:
    c = scc.Controller(site(), CONFIG)
    online(c)
    ra = c.handle(scc.TransactionStarted("a", 1, "tx-a"), T0)
    rb = accept_all(c, c.handle(scc.TransactionStarted("b", 1, "42"), T0), T0)
    assert ra and ra[0].payload["chargingProfile"]["transactionId"] == "tx-a"
    b = [r for r in rb if r.station_id == "b"]
    assert b and b[0].payload["csChargingProfiles"]["transactionId"] == 42
    assert b[0].payload["csChargingProfiles"]["chargingProfilePurpose"] == "TxProfile"


def test_increase_waits_for_the_decrease_to_be_acknowledged() -> None:
    """Lowering first: B's raise goes only once A's lowering is accepted."""
    c = scc.Controller(site(40.0), CONFIG)
    online(c)
    accept_all(c, c.handle(scc.TransactionStarted("a", 1, "t1"), T0), T0)
    limits_before = c.state.evses["a/1"].acked
    assert limits_before is not None and max(limits_before.limits_a) > 20
    reqs = c.handle(scc.TransactionStarted("a", 2, "t2"), T0)
    # a/1 goes down at once; a/2's raise above its fallback must wait if it does not fit
    h = horizon_at(CONFIG, T0)
    worst = worst_case(c.site, c.state, h, c._fallback)
    assert violations(envelope_problem(c.site, c.state, h), worst) == []
    accept_all(c, reqs, T0)
    worst = worst_case(c.site, c.state, h, c._fallback)
    assert violations(envelope_problem(c.site, c.state, h), worst) == []
    a1, a2 = c.state.evses["a/1"].acked, c.state.evses["a/2"].acked
    assert a1 is not None and a2 is not None
    assert max(a2.limits_a) > 6.0  # the second car got its raise in the end


def test_held_increase_is_released_when_the_result_arrives() -> None:
    c = scc.Controller(site(40.0), CONFIG)
    online(c)
    accept_all(c, c.handle(scc.TransactionStarted("a", 1, "t1"), T0), T0)
    reqs = c.handle(scc.TransactionStarted("a", 2, "t2"), T0)
    keys = [(r.payload["evseId"]) for r in reqs]
    assert 1 in keys  # the decrease of a/1 is sent at once
    later = []
    for r in reqs:
        later += c.handle(scc.RequestResult(r.correlation_id, "Accepted"), T0)
    sent = {(r.payload["evseId"]) for r in reqs + later}
    assert sent >= {1, 2}


def test_rejected_request_keeps_worst_case_and_error_result_is_typed_noop() -> None:
    c = scc.Controller(site(), CONFIG)
    online(c)
    reqs = c.handle(scc.TransactionStarted("a", 1, "t1"), T0)
    before = c.state
    assert c.handle(scc.RequestResult("nope#1", "Accepted"), T0) == []
    assert c.state.model_copy(update={"now": None}) == before.model_copy(update={"now": None})
    c.handle(scc.RequestResult(reqs[0].correlation_id, "Rejected"), T0)
    assert c.state.evses["a/1"].acked is None


def test_timeout_counts_as_possibly_installed() -> None:
    c = scc.Controller(site(), CONFIG)
    online(c)
    reqs = c.handle(scc.TransactionStarted("a", 1, "t1"), T0)
    c.handle(scc.RequestResult(reqs[0].correlation_id, "Timeout"), T0)
    assert [p.timed_out for p in c.state.pending] == [True]
    h = horizon_at(CONFIG, T0)
    w = worst_case(c.site, c.state, h, c._fallback)
    assert w[0].max() > 6.0  # the timed-out profile is still counted


def test_offline_station_counts_at_last_accepted_and_fallback() -> None:
    c = scc.Controller(site(), CONFIG)
    online(c)
    accept_all(c, c.handle(scc.TransactionStarted("a", 1, "t1"), T0), T0)
    acked = c.state.evses["a/1"].acked
    assert acked is not None
    c.handle(scc.StationDisconnected("a"), T0)
    h = horizon_at(CONFIG, T0)
    w = worst_case(c.site, c.state, h, c._fallback)
    assert np.array_equal(w[0], np.fmax(6.0, np.array(acked.limits_a)))


# ---- measured feedback -------------------------------------------------------------------


def test_tapering_car_is_capped_and_the_other_gets_the_capacity() -> None:
    c = scc.Controller(site(40.0), CONFIG.model_copy(update={"deadband_a": 0.5}))
    online(c)
    accept_all(c, c.handle(scc.TransactionStarted("a", 1, "t1"), T0), T0)
    accept_all(c, c.handle(scc.TransactionStarted("b", 1, "7"), T0), T0)
    before_b = c.state.plan.desired["b/1"].limits_a[0]  # type: ignore[union-attr]
    t = T0
    for _ in range(3):  # a/1 draws 8 A for 10 minutes
        t += timedelta(minutes=5)
        accept_all(c, c.handle(scc.MeterReading("a", 1, currents_a=(8.0, 8.0, 8.0)), t), t)
    assert c.state.evses["a/1"].cap_a == 10.0
    plan = c.state.plan
    assert plan is not None
    assert plan.desired["a/1"].limits_a[0] <= 10.0
    assert plan.desired["b/1"].limits_a[0] > before_b
    # it draws up to its cap again: the cap is released
    t += timedelta(minutes=1)
    accept_all(c, c.handle(scc.MeterReading("a", 1, currents_a=(9.5, 9.5, 9.5)), t), t)
    assert c.state.evses["a/1"].cap_a is None


def test_phases_in_use_and_need_from_the_register() -> None:
    c = scc.Controller(site(), CONFIG)
    online(c)
    c.handle(scc.TransactionStarted("a", 1, "t1", meter_wh=1000.0), T0)
    c.handle(scc.ChargingNeeds("a", 1, energy_wh=5000.0), T0)
    c.handle(scc.MeterReading("a", 1, currents_a=(16.0, 0.0, 0.2), energy_wh=3500.0), T0)
    ev = c.state.evses["a/1"]
    assert ev.phases_in_use == 1
    from smartcharge.controller.feedback import remaining_need_wh
    assert remaining_need_wh(ev, 0.0) == 2500.0
    c.handle(scc.MeterReading("a", 1, energy_wh=9000.0), T0)  # more than asked: need 0
    assert remaining_need_wh(c.state.evses["a/1"], 0.0) == 0.0


# ---- real sessions misbehave ---------------------------------------------------------------


def test_car_past_its_departure_is_planned_with_a_new_one() -> None:
    c = scc.Controller(site(), CONFIG)
    online(c)
    accept_all(c, c.handle(scc.TransactionStarted("a", 1, "t1"), T0), T0)
    c.handle(scc.ChargingNeeds("a", 1, energy_wh=50_000.0,
                               departure=T0 + timedelta(minutes=30)), T0)
    later = T0 + timedelta(hours=2)
    c.handle(scc.Tick(), later)
    plan = c.state.plan
    assert plan is not None and max(plan.desired["a/1"].limits_a) > 0
    ev = c.state.evses["a/1"]
    dep = departure_of(ev, CONFIG, later)
    assert dep > later and (dep - (T0 + timedelta(minutes=30))) % timedelta(hours=1) == \
        timedelta(0)


@given(st.integers(0, 10 * 3600))
def test_departure_rule_is_always_ahead(late_s: int) -> None:
    ev = EvseState(transaction_id="t", started=T0, departure=T0 + timedelta(hours=1))
    now = T0 + timedelta(hours=1) + timedelta(seconds=late_s)
    dep = departure_of(ev, CONFIG, now)
    assert dep > now + timedelta(seconds=CONFIG.step_s) - timedelta(seconds=1)
    assert dep <= now + timedelta(seconds=CONFIG.step_s + CONFIG.extend_s)


def test_ev_maximum_unknown_until_it_draws() -> None:
    c = scc.Controller(site(), CONFIG)
    online(c)
    reqs = c.handle(scc.TransactionStarted("a", 1, "t1"), T0)
    assert first_limits(reqs)[("a", 1)] > 6.0  # no EV maximum: the EVSE's applies


# ---- stability ---------------------------------------------------------------------------


def test_no_message_when_nothing_changes_over_steps() -> None:
    """Two cars that want more than the site gives: equal-value re-plans at every step
    (the horizon moves) send nothing (no flip, nothing re-sent)."""
    c = scc.Controller(site(), CONFIG)
    online(c)
    for evse, tid in ((1, "t1"), (2, "t2")):
        accept_all(c, c.handle(scc.TransactionStarted("a", evse, tid), T0), T0)
        accept_all(c, c.handle(scc.ChargingNeeds("a", evse, energy_wh=200_000.0,
                                                 departure=T0 + timedelta(days=1)), T0), T0)
    sent = []
    for k in range(1, 8):
        t = T0 + timedelta(seconds=CONFIG.step_s * k)
        sent += accept_all(c, c.handle(scc.Tick(), t), t)
    assert sent == []


def test_deadband_suppresses_small_changes_but_not_safety() -> None:
    c = scc.Controller(site(40.0), CONFIG)
    online(c)
    accept_all(c, c.handle(scc.TransactionStarted("a", 1, "t1"), T0), T0)
    # a grid limit far below the present plan: the lowering goes at once
    reqs = c.handle(scc.GridLimit("grid", T0, T0 + timedelta(hours=1), max_current_a=20.0), T0)
    assert reqs and first_limits(reqs)[("a", 1)] <= 20.0 - 12.0 + 1e-9
    accept_all(c, reqs, T0)
    h = horizon_at(CONFIG, T0)
    worst = worst_case(c.site, c.state, h, c._fallback)
    assert violations(envelope_problem(c.site, c.state, h), worst) == []


# ---- bad input ---------------------------------------------------------------------------


def test_bad_time_and_unknown_names_are_typed_errors_and_change_nothing() -> None:
    c = scc.Controller(site(), CONFIG)
    online(c)
    before = c.state.to_json()
    with pytest.raises(ControllerError) as err:
        c.handle(scc.Tick(), datetime(2024, 1, 1, 9))
    assert err.value.rule == "aware-datetime"
    with pytest.raises(ControllerError) as err:
        c.handle(scc.Tick(), T0 - timedelta(seconds=1))
    assert err.value.rule == "monotonic-time"
    with pytest.raises(ControllerError) as err:
        c.handle(scc.TransactionStarted("zz", 1, "t"), T0)
    assert err.value.path == "station_id"
    with pytest.raises(ControllerError) as err:
        c.handle(scc.TransactionStarted("a", 9, "t"), T0)
    assert err.value.path == "evse_id"
    with pytest.raises(ControllerError) as err:
        c.handle(scc.MeterReading("a", 1, power_w=-5.0), T0)
    assert err.value.path == "power_w"
    with pytest.raises(ControllerError):
        c.handle(scc.GridLimit("nope", T0, T0 + timedelta(hours=1), max_power_w=1.0), T0)
    assert c.state.to_json() == before


def test_documented_no_ops() -> None:
    c = scc.Controller(site(), CONFIG)
    online(c)
    before = c.state.to_json()
    assert c.handle(scc.MeterReading("a", 1, power_w=1000.0), T0) == []  # no transaction
    assert c.handle(scc.TransactionEnded("a", None, "unknown"), T0) == []
    assert c.handle(scc.RequestResult("a#999", "Accepted"), T0) == []
    assert c.state.to_json() == before


# ---- state document ----------------------------------------------------------------------


def _a_state() -> ControllerState:
    c = scc.Controller(site(), CONFIG)
    online(c)
    c.handle(scc.TransactionStarted("a", 1, "t1", meter_wh=10.0), T0)
    c.handle(scc.MeterReading("a", 1, currents_a=(5.0, 5.0, None), energy_wh=20.0), T0)
    c.handle(scc.GridLimit("grid", T0, T0 + timedelta(hours=1), max_power_w=20000.0), T0)
    return c.state


def _paths(obj: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


STATE_DOC = json.loads(_a_state().to_json())
STATE_PATHS = [p for p in _paths(STATE_DOC) if p]


@given(st.sampled_from(STATE_PATHS),
       st.sampled_from([None, 1e30, 10**30, -1, "x", [], {}, True, 1.5, "2024-13-01"]))
def test_damaged_state_is_a_typed_error_or_a_valid_state(path: tuple[object, ...],
                                                         value: object) -> None:
    doc = json.loads(json.dumps(STATE_DOC))
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    try:
        state = ControllerState.from_json(json.dumps(doc))
    except ControllerError as exc:
        assert exc.path
    else:
        assert ControllerState.from_json(state.to_json()) == state


def test_state_round_trip_and_version() -> None:
    s = _a_state()
    assert ControllerState.from_json(s.to_json()) == s
    doc = json.loads(s.to_json())
    doc["format_version"] = 3
    with pytest.raises(ControllerError) as err:
        ControllerState.from_json(json.dumps(doc))
    assert err.value.path == "format_version"
    with pytest.raises(ControllerError):
        ControllerState.from_json("{not json")


# ---- events from OCPP --------------------------------------------------------------------


def test_events_from_ocpp_2_0_1_transaction_event() -> None:
    ev = scc.events_from_ocpp("a", "2.0.1", "TransactionEvent", {
        "eventType": "Started", "timestamp": "2024-01-01T08:00:00Z",
        "triggerReason": "CablePluggedIn", "seqNo": 0,
        "transactionInfo": {"transactionId": "t1"}, "evse": {"id": 2, "connectorId": 1},
        "meterValue": [{"timestamp": "2024-01-01T08:00:00Z", "sampledValue": [
            {"value": 1234.0}]}]})
    assert isinstance(ev[0], scc.TransactionStarted)
    assert (ev[0].evse_id, ev[0].transaction_id, ev[0].meter_wh) == (2, "t1", 1234.0)
    assert isinstance(ev[1], scc.MeterReading) and ev[1].energy_wh == 1234.0


def test_events_from_ocpp_1_6() -> None:
    start = scc.events_from_ocpp("b", "1.6", "StartTransaction", {
        "connectorId": 1, "idTag": "X", "meterStart": 10,
        "timestamp": "2024-01-01T08:00:00Z"}, transaction_id="5")
    assert start == [scc.TransactionStarted("b", 1, "5", T0, 10.0)]
    stop = scc.events_from_ocpp("b", "1.6", "StopTransaction", {
        "transactionId": 5, "meterStop": 20, "timestamp": "2024-01-01T09:00:00Z"})
    assert isinstance(stop[0], scc.TransactionEnded) and stop[0].evse_id is None
    mv = scc.events_from_ocpp("b", "1.6", "MeterValues", {"connectorId": 1, "meterValue": [
        {"timestamp": "2024-01-01T08:00:00Z", "sampledValue": [
            {"value": "7.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
            {"value": "16.1", "measurand": "Current.Import", "phase": "L2"}]}]})
    assert mv[0].energy_wh == 7500.0 and mv[0].currents_a == (None, 16.1, None)
    with pytest.raises(ControllerError) as err:
        scc.events_from_ocpp("b", "1.6", "MeterValues", {"connectorId": 1, "meterValue": [
            {"timestamp": "2024-01-01T08:00:00Z", "sampledValue": [{"value": "abc"}]}]})
    assert err.value.path == "meterValue[0].sampledValue[0].value"
    assert scc.events_from_ocpp("b", "1.6", "Heartbeat", {}) == []


def test_events_from_ocpp_needs_and_limits() -> None:
    needs = scc.events_from_ocpp("a", "2.0.1", "NotifyEVChargingNeeds", {
        "evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase",
                                       "departureTime": "2024-01-01T12:00:00Z",
                                       "acChargingParameters": {
                                           "energyAmount": 20000, "evMinCurrent": 6,
                                           "evMaxCurrent": 16, "evMaxVoltage": 400}}})
    assert needs == [scc.ChargingNeeds("a", 1, 20000.0, T0 + timedelta(hours=4), 16.0, None,
                                       6.0)]
    lim = scc.events_from_ocpp("a", "2.0.1", "NotifyChargingLimit", {
        "evseId": 1, "chargingLimit": {"chargingLimitSource": "EMS"},
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 10.0}, {"startPeriod": 60, "limit": 8.0}]}]})
    assert lim == [scc.ChargingLimitNotified("a", 1, 8.0, None, "EMS")]


def test_event_log_round_trip() -> None:
    events: list[scc.Event] = [
        scc.StationConnected("a"), scc.TransactionStarted("a", 1, "t", T0, 5.0),
        scc.MeterReading("a", 1, 100.0, (1.0, None, 2.0), 3.0, T0),
        scc.GridLimit("grid", T0, T0 + timedelta(hours=1), 1.0, None),
        scc.TariffUpdate(((T0, 0.3), (T0 + timedelta(hours=1), 0.1))),
        scc.RequestResult("a#1", "Timeout"), scc.Tick()]
    for e in events:
        assert scc.event_from_json_dict(json.loads(json.dumps(scc.event_to_json_dict(e)))) == e
    with pytest.raises(ControllerError) as err:
        scc.event_from_json_dict({"type": "RequestResult", "correlation_id": "x",
                                  "outcome": "Maybe"})
    assert err.value.path == "outcome"


# ---- levelling ---------------------------------------------------------------------------


@given(st.integers(2, 4), st.floats(20.0, 80.0), st.lists(st.integers(1, 8), min_size=4,
                                                          max_size=4),
       st.lists(st.floats(1_000.0, 40_000.0), min_size=4, max_size=4))
def test_level_keeps_energy_cost_and_limits(n: int, grid_a: float, stays: list[int],
                                            needs: list[float]) -> None:
    from smartcharge.controller.plan import level

    h = sc.Horizon(start=T0, step_s=900, n_steps=8)
    problem = sc.Problem(
        horizon=h, nodes=(sc.Node(id="g", max_current_a=grid_a),),
        evses=tuple(sc.EVSE(id=f"e{i}", node="g", max_current_a=32.0) for i in range(n)),
        sessions=tuple(sc.Session(id=f"s{i}", evse=f"e{i}", arrival=T0,
                                  departure=T0 + timedelta(seconds=900 * stays[i]),
                                  energy_wh=needs[i]) for i in range(n)))
    plan = sc.optimize(problem)
    out = level(problem, plan)
    assert sc.verify(problem, out) == []
    assert np.allclose(out.energy_wh, plan.energy_wh, atol=1e-6)
    assert abs(out.cost - plan.cost) < 1e-6
    # levelling a levelled plan changes nothing (each run is already constant)
    assert np.allclose(level(problem, out).session_power_w, out.session_power_w, atol=1e-6)


def test_no_fallback_share_gives_the_whole_site_to_the_plan() -> None:
    config = CONFIG.model_copy(update={"fallback_share_a": 0.0})
    c = scc.Controller(site(40.0), config)
    reqs = c.handle(scc.StationConnected("a"), T0)
    periods = reqs[0].payload["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"]
    assert [p["limit"] for p in periods] == [0.0]
    accept_all(c, reqs, T0)
    accept_all(c, c.handle(scc.StationConnected("b"), T0), T0)
    for sid, evse, tid in (("a", 1, "t1"), ("a", 2, "t2"), ("b", 1, "3")):
        accept_all(c, c.handle(scc.TransactionStarted(sid, evse, tid), T0), T0)
    acked = [c.state.evses[k].acked for k in ("a/1", "a/2", "b/1")]
    first = sum(e.limits_a[0] for e in acked if e is not None)
    assert 38.0 <= first <= 40.0  # the plan uses the 40 A, no share is held back
    h = horizon_at(config, T0)
    worst = worst_case(c.site, c.state, h, c._fallback)
    assert violations(envelope_problem(c.site, c.state, h), worst) == []
