"""GetChargingProfiles both ways: the station's reports and the CSMS's collector (K09)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcharge.errors import InvalidPayloadError
from smartcharge.model import ChargingLimitSource, ChargingProfile
from smartcharge.ocpp import ProfileReports, charging_profile_reports, v201
from smartcharge.station import ChargingStation

NOW = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)
PURPOSES = ("TxDefaultProfile", "ChargingStationMaxProfile", "ChargingStationExternalConstraints")


def profile(pid: int, purpose: str, level: int) -> ChargingProfile:
    return ChargingProfile.model_validate({
        "id": pid, "stackLevel": level, "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative", "chargingSchedule": [{"id": 1,
        "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0,
                                                             "limit": 16.0}]}]})  # fmt: skip


@st.composite
def stations(draw: st.DrawFn) -> ChargingStation:
    """A 3-EVSE station with CSMS profiles and EMS/SO external constraints."""
    station = ChargingStation(evses=3)
    n = draw(st.integers(0, 8))
    for pid in range(1, n + 1):
        purpose = draw(st.sampled_from(PURPOSES))
        evse = 0 if purpose == "ChargingStationMaxProfile" else draw(st.integers(0, 3))
        level = draw(st.integers(0, 3))
        p = profile(pid, purpose, level)
        if purpose == "ChargingStationExternalConstraints":
            source = draw(st.sampled_from(("EMS", "SO")))
            station.set_external_constraints(evse, p, NOW, source=source)
        else:
            station.set_charging_profile(evse, p, NOW)
    return station


@st.composite
def requests(draw: st.DrawFn) -> dict[str, object]:
    return v201.get_charging_profiles_request(
        draw(st.integers(0, 5)),
        evse_id=draw(st.none() | st.integers(0, 3)),
        purpose=draw(st.none() | st.sampled_from(PURPOSES)),
        stack_level=draw(st.none() | st.integers(0, 3)),
        limit_sources=draw(st.none() | st.lists(st.sampled_from(("CSO", "EMS", "SO")),
                                                min_size=1, max_size=3, unique=True)),
    )  # fmt: skip


@given(stations(), requests())
def test_reports_round_trip_to_what_the_station_holds(
    station: ChargingStation, request: dict[str, object]
) -> None:
    req = v201.parse_get_charging_profiles_request(request)
    response, reports = charging_profile_reports(station, request)
    expected = station.get_charging_profiles(
        evse_id=req.evse_id,
        purpose=req.charging_profile.charging_profile_purpose,
        stack_level=req.charging_profile.stack_level,
        sources=req.charging_profile.charging_limit_source,
    )
    collector = ProfileReports(req.request_id)
    if not expected:
        assert response == {"status": "NoProfiles"} and reports == []
        assert collector.answer(response) and collector.profiles == {}
        return
    assert response == {"status": "Accepted"}
    assert not collector.answer(response)
    # one report per (EVSE, source), tbc on all but the last
    keys = [(r["evseId"], r["chargingLimitSource"]) for r in reports]
    assert keys == sorted(set(keys))
    assert [r.get("tbc", False) for r in reports] == [True] * (len(reports) - 1) + [False]
    done = [collector.add(r) for r in reports]
    assert done == [False] * (len(reports) - 1) + [True]
    got = sorted((e, p.id) for e, ps in collector.profiles.items() for p in ps)
    assert got == sorted((e, p.id) for e, p in expected)
    for e, p in expected:
        assert collector.source_of(p.id) == station.source_of(p.id)
        assert p in collector.profiles[e]
    # deterministic: same input, same payloads
    assert charging_profile_reports(station, request) == (response, reports)


def test_the_collector_ignores_other_requests_and_refuses_late_reports() -> None:
    station = ChargingStation(evses=2)
    station.set_charging_profile(1, profile(1, "TxDefaultProfile", 0), NOW)
    station.set_external_constraints(1, profile(2, "ChargingStationExternalConstraints", 0),
                                     NOW, source="EMS")  # fmt: skip
    _, reports = charging_profile_reports(station, v201.get_charging_profiles_request(5))
    assert [r["chargingLimitSource"] for r in reports] == ["CSO", "EMS"]
    collector = ProfileReports(6)
    assert not collector.add(reports[0])  # requestId 5: not ours
    assert collector.profiles == {}
    mine = ProfileReports(5)
    assert [mine.add(r) for r in reports] == [False, True]
    assert mine.source_of(2) is ChargingLimitSource.EMS
    with pytest.raises(InvalidPayloadError) as info:
        mine.add(reports[-1])
    assert info.value.path == "tbc"
    with pytest.raises(InvalidPayloadError):
        ProfileReports("5")  # type: ignore[arg-type]
    with pytest.raises(InvalidPayloadError) as bad:
        mine.add({**reports[0], "chargingProfile": []})
    assert bad.value.path == "chargingProfile"
