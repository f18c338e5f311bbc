"""Damaged station snapshots: ``ChargingStation.from_json_dict`` raises a typed error with a
path (never a bare TypeError / OverflowError / KeyError), or reads a valid station."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from smartcharge.errors import SmartChargeError, StationError
from smartcharge.model import ChargingProfile
from smartcharge.station import ChargingStation

NOW = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)


def _station() -> ChargingStation:
    s = ChargingStation(2)
    s.start_transaction(1, "tx1", NOW)
    s.set_charging_profile(1, ChargingProfile.model_validate({
        "id": 7, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute", "transactionId": "tx1",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                              "startSchedule": "2024-01-01T08:00:00Z",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}]}),
        NOW)
    return s


DOC = _station().to_json_dict()


def _paths(obj: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


PATHS = [p for p in _paths(DOC) if p]
VALUES = [None, 1e30, 10**30, -(10**30), -1, 0, "x", "", [], {}, True, 1.5, float("nan"),
          [1, 2], {"a": 1}]


@given(st.sampled_from(PATHS), st.sampled_from(VALUES))
def test_damaged_snapshot_is_a_typed_error_or_a_station(path: tuple[object, ...],
                                                        value: object) -> None:
    doc = copy.deepcopy(DOC)
    node = doc
    for k in path[:-1]:
        node = node[k]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    try:
        station = ChargingStation.from_json_dict(doc)
    except StationError as exc:
        assert exc.path, str(exc)
    else:
        assert ChargingStation.from_json_dict(station.to_json_dict()) == station


def test_the_issue_s_three_cases() -> None:
    for damage in ({"transactions": None}, {"profiles": 1e30}):
        doc = {**copy.deepcopy(DOC), **damage}
        try:
            ChargingStation.from_json_dict(doc)
        except SmartChargeError as exc:
            assert exc.path == next(iter(damage))
        else:
            raise AssertionError("a damaged snapshot was read")
    doc = copy.deepcopy(DOC)
    doc["profiles"][0]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0][
        "limit"] = 10**30
    try:
        ChargingStation.from_json_dict(doc)
    except StationError as exc:
        assert exc.path and exc.path.startswith("profiles[0].chargingProfile")
