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
FB6 = CONFIG.model_copy(update={"fallback_share_a": 6.0})  # a fallback share of 6 A


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
    c = scc.Controller(site(), FB6)
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
    others = c._fallback["a/2"] + c._fallback["b/1"]  # reserved for cars that may arrive
    assert reqs and first_limits(reqs)[("a", 1)] <= 20.0 - others + 1e-9
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
    doc["format_version"] = 4
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
    config = CONFIG
    assert config.fallback_share_a == 0.0  # the default
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


# ---- clock skew --------------------------------------------------------------------------


def test_clock_skew_bound_must_be_under_half_a_step() -> None:
    with pytest.raises(sc.InvalidProblemError) as err:
        scc.ControllerConfig(step_s=10, horizon_s=600, clock_skew_s=5)
    assert (err.value.path, err.value.rule) == ("clock_skew_s", "lt-half-step")
    assert scc.ControllerConfig(step_s=11, horizon_s=11 * 60, clock_skew_s=5).clock_skew_s == 5


@given(st.lists(st.sampled_from([0.0, 6.0, 13.5, 32.0]), min_size=1, max_size=8),
       st.integers(0, 149), st.integers(0, 3000))
def test_eroded_profile_never_exceeds_the_plan_for_a_clock_within_the_bound(
    limits: list[float], skew: int, t: int
) -> None:
    """The sent limit at t is the lowest planned over [t - skew, t + skew]: so at true time
    t a station off by d (|d| <= skew) applies p(t + d) <= plan(t); with skew 0, the plan."""
    from smartcharge.controller.messages import eroded_periods

    step = 300
    plan = np.array(limits)
    periods = eroded_periods(plan, step, skew)
    starts = np.array([p[0] for p in periods])
    vals = np.array([p[1] for p in periods])
    assert np.all(np.diff(starts) > 0) and starts[0] == 0

    def sent(x: float) -> float:
        return float(vals[np.searchsorted(starts, x, side="right") - 1])

    def planned(x: float) -> float:
        return float(plan[min(max(int(x // step), 0), len(plan) - 1)])

    t = min(t, step * len(plan) - 1)
    window = [planned(x) for x in range(max(t - skew, 0), min(t + skew, step * len(plan) - 1)
                                        + 1)]
    assert sent(t) == min(window)
    for d in {-skew, 0, skew}:
        if 0 <= t + d < step * len(plan):
            assert sent(t + d) <= planned(t)
    if skew == 0:
        assert [sent(k * step) for k in range(len(plan))] == limits


def test_sent_profiles_are_eroded_by_the_clock_skew_bound() -> None:
    config = CONFIG.model_copy(update={"clock_skew_s": 7})
    c = scc.Controller(site(40.0), config)
    online(c)
    reqs = accept_all(c, c.handle(scc.TransactionStarted("a", 1, "t1"), T0), T0)
    sched = reqs[0].payload["chargingProfile"]["chargingSchedule"][0]
    env = c.state.evses["a/1"].acked
    assert env is not None
    assert sched["duration"] == len(env.limits_a) * config.step_s - 7
    periods = sched["chargingSchedulePeriod"]
    assert len(periods) > 1 and periods[0] == {"startPeriod": 0, "limit": env.limits_a[0],
                                               "numberPhases": 3}
    for p in periods[1:]:  # a decrease starts 7 s early, an increase 7 s late
        k, rest = divmod(p["startPeriod"] + 7, config.step_s)
        assert p["limit"] == env.limits_a[k]
        assert (rest, p["limit"] < env.limits_a[k - 1]) in {(0, True), (14, False)}


# ---- phases in use -------------------------------------------------------------------------


def _one_line_site() -> scc.Site:
    """30 A per line; a three-phase EVSE and a single-phase one on L2."""
    return scc.Site.model_validate({
        "nodes": [{"id": "grid", "max_current_a": 30}],
        "stations": [{"id": "a", "evses": [
            {"evse_id": 1, "node": "grid", "max_current_a": 32},
            {"evse_id": 2, "node": "grid", "max_current_a": 32, "phases": 1,
             "connection": "L2"}]}]})


def test_a_single_phase_car_frees_the_other_lines_and_gets_them_back() -> None:
    """A 16 A car drawing on L1 alone of a three-phase EVSE is planned (and counted) on L1:
    the car on L2 gets L2's headroom (14 A -> 30 A); drawing on three phases again, it gets
    its share of L2 back (the other car lowered first). Every step of the way the worst
    case keeps the 30 A per line."""
    from smartcharge.controller.safety import measured_lines

    c = scc.Controller(_one_line_site(), CONFIG)
    online(c)
    for evse, tid, amps in ((1, "t1", 16.0), (2, "t2", None)):
        accept_all(c, c.handle(scc.TransactionStarted("a", evse, tid), T0), T0)
        accept_all(c, c.handle(scc.ChargingNeeds("a", evse, energy_wh=200_000.0,
                                                 departure=T0 + timedelta(days=1),
                                                 max_current_a=amps), T0), T0)
    h = horizon_at(CONFIG, T0)

    def first() -> tuple[float, float]:
        envs = [c.state.evses[k].acked for k in ("a/1", "a/2")]
        assert envs[0] is not None and envs[1] is not None
        return envs[0].limits_a[0], envs[1].limits_a[0]

    def safe() -> None:
        lines = measured_lines(c.site, c.state, c._fallback)
        worst = worst_case(c.site, c.state, h, c._fallback)
        assert violations(envelope_problem(c.site, c.state, h, lines), worst) == []
        assert c.state.pending == ()

    assert first() == pytest.approx((16.0, 14.0), abs=0.11)
    t = T0 + timedelta(minutes=1)
    accept_all(c, c.handle(scc.MeterReading("a", 1, currents_a=(16.0, 0.0, 0.3)), t), t)
    assert c.state.evses["a/1"].single_line == "L1"
    safe()
    assert first() == pytest.approx((16.0, 30.0), abs=0.11)  # L2 is the other car's now
    # a reading with nothing drawn tells nothing: still L1
    accept_all(c, c.handle(scc.MeterReading("a", 1, currents_a=(0.0, 0.0, 0.0)), t), t)
    assert c.state.evses["a/1"].single_line == "L1"
    # three phases again: counted as wired, its share of L2 back
    reqs = c.handle(scc.MeterReading("a", 1, currents_a=(16.0, 15.8, 16.1)), t)
    assert [r.payload["evseId"] for r in reqs] == [2]  # the lowering goes first
    accept_all(c, reqs, t)
    assert c.state.evses["a/1"].single_line is None
    safe()
    assert first() == pytest.approx((16.0, 14.0), abs=0.11)
    assert measured_lines(c.site, c.state, c._fallback) == {}


def test_single_line_needs_all_three_phases_and_a_three_phase_evse() -> None:
    from smartcharge.controller.feedback import single_line

    three = scc.EvseSpec(evse_id=1, node="g", max_current_a=32)
    one = scc.EvseSpec(evse_id=1, node="g", phases=1, max_current_a=32)
    assert single_line(three, (0.0, 12.0, 0.5), 1.0) == "L2"
    assert single_line(three, (12.0, 12.0, 0.5), 1.0, "L2") is None
    assert single_line(three, (12.0, None, None), 1.0) is None  # not all reported
    assert single_line(three, (12.0, None, None), 1.0, "L3") == "L3"
    assert single_line(three, (0.2, 0.0, 0.0), 1.0, "L1") == "L1"  # none drawing
    assert single_line(one, (12.0, 0.0, 0.0), 1.0) is None  # wired single-phase already
    ev = EvseState(single_line="L3")
    assert '"single_line":"L3"' in ev.model_dump_json()
    assert "single_line" not in EvseState().model_dump_json()


# ---- an arrival changes only what it must ----------------------------------------------------


def _fifty(grid_a: float) -> scc.Site:
    """Five stations of ten three-phase 32 A EVSEs under one connection of ``grid_a``."""
    return scc.Site.model_validate({
        "nodes": [{"id": "grid", "max_current_a": grid_a}],
        "stations": [{"id": f"cs{s}", "evses": [
            {"evse_id": j + 1, "node": "grid", "max_current_a": 32} for j in range(10)]}
            for s in range(5)]})


def _arrival(grid_a: float, keep_partial: bool) -> tuple[list[scc.Request], scc.Controller,
                                                          dict[str, scc.Envelope]]:
    """30 cars planned and acknowledged on the 4 h MPC grid, then a 31st arrives: its
    requests (with what their results release), the controller, the envelopes before."""
    config = CONFIG.model_copy(update={"step_s": 300, "keep_partial": keep_partial})
    c = scc.Controller(_fifty(grid_a), config)
    online(c)
    rng = np.random.default_rng(7)
    for key in c.site.keys[:30]:
        sid, evse = c.site.locate(key)
        accept_all(c, c.handle(scc.TransactionStarted(sid, evse, f"t-{key}"), T0), T0)
        accept_all(c, c.handle(scc.ChargingNeeds(
            sid, evse, energy_wh=float(rng.uniform(10_000, 40_000)),
            departure=T0 + timedelta(minutes=int(rng.integers(120, 480)))), T0), T0)
    before = {k: ev.acked for k, ev in c.state.evses.items() if ev.acked is not None}
    t = T0 + timedelta(minutes=1)
    sid, evse = c.site.locate(c.site.keys[30])
    reqs = accept_all(c, c.handle(scc.TransactionStarted(sid, evse, "new"), t), t)
    return reqs, c, before


@pytest.mark.parametrize("grid_a", [1200.0, 450.0])
def test_an_arrival_resends_the_new_car_and_only_the_lowered(grid_a: float) -> None:
    """With room for the new car only its profile goes; on a full site, the new car's and
    those of the cars that must give way (each lowered somewhere), far fewer than the
    re-plan as solved sends, for as much energy (within keep_tolerance)."""
    reqs, c, before = _arrival(grid_a, True)
    whole, cw, _ = _arrival(grid_a, False)
    new_key = c.site.keys[30]
    keys = [c.site.evse_key(r.station_id, r.payload["evseId"]) for r in reqs]
    for key in set(keys) - {new_key}:
        now_env = c.state.evses[key].acked
        assert now_env is not None
        h = horizon_at(c.config, T0)
        ahead = (c.config.lookahead_s or 0) // c.config.step_s
        got = now_env.on_grid(h.start, ahead)
        old = before[key].on_grid(h.start, ahead)
        assert np.any(got < old - c.config.deadband_a), key  # it gives way
    changed_whole = {cw.site.evse_key(r.station_id, r.payload["evseId"]) for r in whole}
    if grid_a == 1200.0:  # room for it: nothing else moves, as with the whole re-plan
        assert keys == [new_key] and changed_whole == {new_key}
    else:
        assert new_key in keys and len(set(keys)) < len(changed_whole) / 2
    assert c.state.plan is not None and c.state.plan.status == "kept-partly"
    h = horizon_at(c.config, T0)
    worst = worst_case(c.site, c.state, h, c._fallback)
    assert violations(envelope_problem(c.site, c.state, h), worst) == []


@given(st.lists(st.floats(0, 22_000), min_size=4, max_size=4),
       st.floats(0, 60_000))
def test_a_kept_plan_stops_at_the_need(row: list[float], need: float) -> None:
    """within_need never raises a step, never delivers more than the need, and changes
    nothing while the need is not met."""
    from smartcharge.controller.keep import within_need

    h = sc.Horizon(start=T0, step_s=3600, n_steps=4)
    problem = sc.Problem(horizon=h, nodes=(sc.Node(id="g"),),
                         evses=(sc.EVSE(id="e", node="g", max_power_w=22_000),),
                         sessions=(sc.Session(id="s", evse="e", arrival=T0,
                                              departure=T0 + timedelta(hours=4),
                                              energy_wh=need),))
    sp = np.array([row])
    got = within_need(problem, sp)
    assert np.all(got <= sp) and np.all(got >= 0)
    assert got.sum() <= max(need, 0.0) + 1e-6  # one-hour steps: W = Wh
    full = np.cumsum(sp[0]) <= need
    assert np.array_equal(got[0][full], sp[0][full])
    if sp.sum() >= need:
        assert got.sum() == pytest.approx(need, abs=1e-6)


def test_evse_spec_takes_a_line_voltage_like_the_optimizer() -> None:
    """line_voltage_v: voltage_v = line / sqrt(3), mapped into the optimizer's EVSE; both
    given must agree; a line-to-line voltage given as voltage_v is refused at its path."""
    spec = scc.EvseSpec(evse_id=1, node="grid", line_voltage_v=208, max_current_a=32,
                        phases=1, connection="L1-L2")
    assert spec.voltage_v == pytest.approx(208 / np.sqrt(3))
    assert spec.watts_per_amp == pytest.approx(208.0)
    s = scc.Site.model_validate({"nodes": [{"id": "grid", "max_current_a": 100}],
                                 "stations": [{"id": "a", "evses": [spec.model_dump()]}]})
    (e,) = s.optimizer_evses()
    assert (e.voltage_v, e.line_voltage_v) == (spec.voltage_v, 208.0)
    assert e.watts_per_amp == pytest.approx(spec.watts_per_amp)
    bad = {"nodes": [{"id": "grid", "max_current_a": 100}], "stations": [{"id": "a", "evses": [
        {"evse_id": 1, "node": "grid", "max_current_a": 32, "voltage_v": 230,
         "line_voltage_v": 208}]}]}
    with pytest.raises(sc.InvalidProblemError) as err:
        scc.Site.model_validate(bad)
    assert (err.value.path, err.value.rule) == ("stations[0].evses[0].voltage_v",
                                                "phase-voltage")
    bad["stations"][0]["evses"][0].pop("line_voltage_v")  # type: ignore[index]
    bad["stations"][0]["evses"][0]["voltage_v"] = 400  # type: ignore[index]
    with pytest.raises(sc.InvalidProblemError) as err:
        scc.Site.model_validate(bad)
    assert (err.value.path, err.value.rule) == ("stations[0].evses[0].voltage_v",
                                                "phase-voltage")
    with pytest.raises(sc.InvalidProblemError) as err:
        scc.EvseSpec(evse_id=1, node="g", line_voltage_v=-5, max_current_a=32)
    assert err.value.path == "line_voltage_v"
