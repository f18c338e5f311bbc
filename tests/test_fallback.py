"""Offline fallback: safe on generated sites (verify), 6 A where the site allows it and 0 where
not, round-robin by feeder, schema-valid profiles a station accepts; validity windows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp_schemas import assert_valid

from smartcharge.errors import InvalidProblemError
from smartcharge.model import ChargingProfile
from smartcharge.ocpp.fallback import (
    DEFAULT_MARGIN_S,
    expiring_profiles,
    fallback_currents,
    fallback_profiles,
    fallback_violations,
    validity_window,
)
from smartcharge.ocpp.reconcile import apply, reconcile, stable_profile_id
from smartcharge.ocpp.v201 import SetChargingProfileRequest
from smartcharge.optimizer import Problem
from smartcharge.station import ChargingStation
from smartcharge.synthetic import workplace_site
from smartcharge.validation import EVSEInfo

NOW = datetime(2024, 1, 1, 6, tzinfo=timezone.utc)
H = {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 4}


def site(nodes: list[dict[str, Any]], evses: list[dict[str, Any]], **extra: Any) -> Problem:
    return Problem.model_validate({"horizon": H, "nodes": nodes, "evses": evses, **extra})


def target(e: Any, share: float = 6.0) -> float:
    return max(share, e.min_w / e.watts_per_amp)


# ------------------------------------------------------------------------ generated sites

limit = st.one_of(st.none(), st.integers(0, 200).map(float))


@st.composite
def sites(draw: st.DrawFn) -> Problem:
    n_nodes = draw(st.integers(1, 5))
    nodes: list[dict[str, Any]] = []
    for i in range(n_nodes):
        node: dict[str, Any] = {"id": f"n{i}"}
        if i:
            node["parent"] = f"n{draw(st.integers(0, i - 1))}"
        if draw(st.booleans()):
            node["max_current_a"] = draw(st.one_of(
                st.integers(0, 200).map(float),
                st.lists(limit, min_size=4, max_size=4).map(tuple)))
        if draw(st.booleans()):
            node["max_power_w"] = draw(st.integers(0, 80_000).map(float))
        if i and draw(st.integers(0, 5)) == 0:
            node["coupling"], node["ratio"] = "delta-wye", 2.0
        nodes.append(node)
    evses: list[dict[str, Any]] = []
    for j in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(("AC3", "AC1", "ACLL", "DC")))
        ev: dict[str, Any] = {"id": f"e{j}", "node": f"n{draw(st.integers(0, n_nodes - 1))}",
                              "max_current_a": float(draw(st.integers(0, 40)))}
        if kind == "AC1":
            ev.update(phases=1, connection=draw(st.sampled_from(("L1", "L2", "L3"))))
        elif kind == "ACLL":
            ev.update(phases=1, connection=draw(st.sampled_from(("L1-L2", "L2-L3", "L3-L1"))))
        elif kind == "DC":
            ev.update(kind="DC", max_power_w=float(draw(st.integers(0, 50_000))))
        if draw(st.booleans()):
            ev["min_current_a"] = draw(st.integers(0, 100).map(lambda x: x / 10))
        evses.append(ev)
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["tariff"] = {"site_load_w": tuple(draw(st.lists(
            st.integers(0, 8_000).map(float), min_size=4, max_size=4)))}
    return site(nodes, evses, **extra)


@given(sites(), st.sampled_from((6.0, 10.0)))
def test_property_fallback_is_safe_and_maximal(p: Problem, share: float) -> None:
    cur = fallback_currents(p, share_a=share)
    assert list(cur) == [e.id for e in p.evses]
    assert fallback_violations(p, cur) == []
    for e in p.evses:
        a = cur[e.id]
        want = target(e, share)
        assert a == 0.0 or (a >= want - 1e-9 and a * e.watts_per_amp <= e.max_w + 1e-6)
        if a == 0.0 and round(want, 1) * e.watts_per_amp <= e.max_w and want > 0:
            # 0 only where the site does not allow the share with the others served
            more = {**cur, e.id: round(want + 0.049, 1)}
            assert fallback_violations(p, more), e.id
    assert fallback_currents(p, share_a=share) == cur  # deterministic


@given(sites())
def test_property_profiles_valid_and_accepted(p: Problem) -> None:
    vf, vt = validity_window(NOW, 86_400)
    profiles = fallback_profiles(p, valid_from=vf, valid_to=vt)
    cur = fallback_currents(p)
    evses = {}
    for i, e in enumerate(p.evses, start=1):
        evses[i] = EVSEInfo("DC") if e.kind == "DC" else EVSEInfo("AC", e.phases)
    station = ChargingStation(evses)
    for i, e in enumerate(p.evses, start=1):
        prof = profiles[e.id]
        assert_valid("v201", "SetChargingProfileRequest",
                     SetChargingProfileRequest(evse_id=i, charging_profile=prof).to_json_dict())
        assert station.set_charging_profile(i, prof, NOW).accepted
        c = station.composite_schedule(i, NOW, 3600, "W" if e.kind == "DC" else "A")
        lim = c.charging_schedule_period[0].limit
        if e.kind == "DC":
            assert abs(lim - cur[e.id] * e.watts_per_amp) <= 0.1
        else:
            assert lim == cur[e.id]


# ------------------------------------------------------------------------ examples


def test_six_amps_where_the_site_allows_it() -> None:
    p = workplace_site(n_evse=20, seed=3)
    cur = fallback_currents(p)
    assert set(cur.values()) == {6.0}
    assert fallback_violations(p, cur) == []


def test_round_robin_by_feeder_when_not_all_fit() -> None:
    # 3-phase EVSEs at 6 A draw 6 A per line: 20 A fit three
    p = site([{"id": "g", "max_current_a": 20}, {"id": "f1", "parent": "g"},
              {"id": "f2", "parent": "g"}],
             [{"id": f"a{i}", "node": "f1", "max_current_a": 32} for i in range(3)]
             + [{"id": f"b{i}", "node": "f2", "max_current_a": 32} for i in range(3)])
    assert fallback_currents(p) == {"a0": 6.0, "a1": 6.0, "a2": 0.0,
                                    "b0": 6.0, "b1": 0.0, "b2": 0.0}


def test_zero_where_the_site_cannot() -> None:
    p = site([{"id": "g", "max_current_a": 5}], [{"id": "e", "node": "g", "max_current_a": 32}])
    assert fallback_currents(p) == {"e": 0.0}
    # an EVSE whose maximum is below its minimum, or whose share does not fit its maximum
    p = site([{"id": "g"}], [{"id": "e", "node": "g", "max_current_a": 5},
                             {"id": "f", "node": "g", "max_current_a": 16,
                              "min_current_a": 8}])
    assert fallback_currents(p) == {"e": 0.0, "f": 8.0}
    # the site load alone fills a node at some step: nothing below it may draw
    p = site([{"id": "g", "max_power_w": 10_000}], [{"id": "e", "node": "g",
                                                    "max_current_a": 32}],
             tariff={"site_load_w": (0.0, 0.0, 10_500.0, 0.0)})
    assert fallback_currents(p) == {"e": 0.0}


def test_time_varying_limits_use_the_minimum() -> None:
    # 14 A at one step only: two 6 A EVSEs fit, a third does not, at every moment
    p = site([{"id": "g", "max_current_a": (40.0, 14.0, None, 40.0)}],
             [{"id": f"e{i}", "node": "g", "max_current_a": 32} for i in range(3)])
    cur = fallback_currents(p)
    assert cur == {"e0": 6.0, "e1": 6.0, "e2": 0.0}
    # the step-by-step check alone would accept the third EVSE at steps 0, 2, 3 but not 1
    assert fallback_violations(p, {**cur, "e2": 6.0})


def test_single_phase_evses_share_lines_by_phasor() -> None:
    # three single-phase EVSEs on three different lines: 6 A each on a 6 A node
    p = site([{"id": "g", "max_current_a": 6}],
             [{"id": f"e{k}", "node": "g", "phases": 1, "connection": f"L{k}",
               "max_current_a": 32} for k in (1, 2, 3)])
    assert fallback_currents(p) == {"e1": 6.0, "e2": 6.0, "e3": 6.0}
    p = site([{"id": "g", "max_current_a": 6}],
             [{"id": f"e{k}", "node": "g", "phases": 1, "connection": "L1",
               "max_current_a": 32} for k in (1, 2)])
    assert fallback_currents(p) == {"e1": 6.0, "e2": 0.0}


def test_profile_shapes() -> None:
    p = site([{"id": "g"}], [{"id": "ac", "node": "g", "max_current_a": 32},
                             {"id": "dc", "node": "g", "kind": "DC", "max_power_w": 50_000}])
    rec = fallback_profiles(p, evse_ids={"ac": 3, "dc": 4})
    ac, dc = rec["ac"].to_json_dict(), rec["dc"].to_json_dict()
    assert ac["id"] == stable_profile_id(3, "TxDefaultProfile")
    assert ac["chargingProfileKind"] == "Recurring" and ac["recurrencyKind"] == "Daily"
    assert ac["chargingSchedule"][0]["duration"] == 86_400
    assert ac["chargingSchedule"][0]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 6.0, "numberPhases": 3}]
    assert dc["chargingSchedule"][0]["chargingRateUnit"] == "W"
    assert dc["chargingSchedule"][0]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 4140.0}]
    vf, vt = validity_window(NOW, 3600)
    ab = fallback_profiles(p, kind="Absolute", valid_from=vf, valid_to=vt,
                           purpose="ChargingStationMaxProfile", stack_level=2)["ac"]
    j = ab.to_json_dict()
    assert j["chargingProfileKind"] == "Absolute" and "duration" not in j["chargingSchedule"][0]
    assert j["chargingSchedule"][0]["startSchedule"] == "2024-01-01T05:55:00Z"
    assert (ab.id, ab.stack_level) == (stable_profile_id(0, "ChargingStationMaxProfile"), 2)
    assert ChargingStation(1).set_charging_profile(0, ab, NOW).accepted


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"share_a": -1.0}, "share_a"),
        ({"share_a": float("nan")}, "share_a"),
        ({"kind": "Relative"}, "kind"),
        ({"purpose": "TxProfile"}, "purpose"),
        ({"valid_from": NOW, "valid_to": NOW}, "valid_to"),
        ({"evse_ids": {}}, "evse_ids['e']"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, Any], path: str) -> None:
    p = site([{"id": "g"}], [{"id": "e", "node": "g", "max_current_a": 32}])
    with pytest.raises(InvalidProblemError) as err:
        fallback_profiles(p, **kwargs)
    assert err.value.path == path


def test_fallback_violations_checks_its_input() -> None:
    p = site([{"id": "g", "max_power_w": 1000}], [{"id": "e", "node": "g",
                                                  "max_current_a": 32}])
    with pytest.raises(InvalidProblemError) as err:
        fallback_violations(p, {})
    assert err.value.path == "currents_a['e']"
    with pytest.raises(InvalidProblemError):
        fallback_violations(p, {"e": -1.0})
    bad = fallback_violations(p, {"e": 6.0})
    assert bad and {v.kind for v in bad} == {"node_power"}


def test_fallback_reconciles_like_any_plan() -> None:
    p = workplace_site(n_evse=4, seed=0)
    vf, vt = validity_window(NOW, 86_400)
    desired = {i: [prof] for i, prof in enumerate(
        fallback_profiles(p, valid_from=vf, valid_to=vt).values(), start=1)}
    station = ChargingStation(4)
    msgs = reconcile(station, desired, now=NOW)
    assert len(msgs) == 4
    station = apply(station, msgs, NOW)
    assert reconcile(station, desired, now=NOW) == []


# ------------------------------------------------------------------------ validity


def prof(pid: int, valid_to: datetime | None, purpose: str = "TxDefaultProfile"
         ) -> ChargingProfile:
    d: dict[str, Any] = {
        "id": pid, "stackLevel": pid, "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}]}]}
    if valid_to is not None:
        d["validTo"] = valid_to.isoformat()
    return ChargingProfile.model_validate(d)


def test_expiring_profiles_within_the_margin() -> None:
    soon = prof(1, NOW + timedelta(seconds=600))
    later = prof(2, NOW + timedelta(seconds=DEFAULT_MARGIN_S + 1))
    never = prof(3, None)
    gone = prof(4, NOW - timedelta(seconds=1))
    ext = prof(5, NOW, "ChargingStationExternalConstraints")
    installed = {0: [soon, later, never, ext], 1: [gone]}
    assert expiring_profiles(installed, NOW) == [(1, gone), (0, soon)]
    assert expiring_profiles(installed, NOW, 0) == [(1, gone)]
    assert [p.id for _, p in expiring_profiles(installed, NOW, 10_000)] == [4, 1, 2]
    assert [p.id for _, p in expiring_profiles(
        installed, NOW, 0, purposes=["ChargingStationExternalConstraints"])] == [5]
    station = ChargingStation(1)
    assert station.set_charging_profile(0, soon, NOW).accepted
    assert [(e, p.id) for e, p in expiring_profiles(station, NOW)] == [(0, 1)]
    with pytest.raises(InvalidProblemError) as err:
        expiring_profiles(installed, NOW, -1)
    assert err.value.path == "margin_s"


def test_validity_window_absorbs_clock_drift() -> None:
    vf, vt = validity_window(NOW, 3600, drift_s=120)
    p = prof(1, vt).model_copy(update={"valid_from": vf})
    # a station 2 minutes behind the CSMS applies the profile at once
    behind = ChargingStation(1)
    assert behind.set_charging_profile(0, p, NOW - timedelta(seconds=120)).accepted
    assert behind.composite_schedule(0, NOW - timedelta(seconds=120), 60, "A") \
        .charging_schedule_period[0].limit == 6.0
    with pytest.raises(InvalidProblemError):
        validity_window(NOW, 0)
    with pytest.raises(InvalidProblemError):
        validity_window(NOW, 10, drift_s=-1)


def test_exactly_at_the_limit_fits() -> None:
    # three three-phase EVSEs at 6 A on an 18 A, 12,420 W node: a limit is reached, not broken
    p = site([{"id": "g", "max_current_a": 18, "max_power_w": 3 * 6 * 690}],
             [{"id": f"e{i}", "node": "g", "max_current_a": 32} for i in range(3)])
    assert fallback_currents(p) == {"e0": 6.0, "e1": 6.0, "e2": 6.0}
