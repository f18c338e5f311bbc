"""The OCPP 2.0.1 models: exact JSON round trips, schema constraints, value rules, date-times."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp_schemas import assert_valid
from pydantic import ValidationError

from smartcharge import (
    ChargingLimit,
    ChargingNeeds,
    ChargingProfile,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedulePeriod,
    CompositeSchedule,
    SalesTariff,
)
from smartcharge.model import format_datetime, parse_datetime
from smartcharge.testing import charging_profiles


def base_payload() -> dict[str, Any]:
    return {
        "id": 7,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "transactionId": "tx-42",
        "validFrom": "2024-01-01T00:00:00Z",
        "validTo": "2024-01-02T00:00:00Z",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": "2024-01-01T08:00:00Z",
                "duration": 7200,
                "chargingRateUnit": "A",
                "minChargingRate": 6.0,
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                    {"startPeriod": 1800, "limit": 8.1, "numberPhases": 1, "phaseToUse": 2},
                ],
            }
        ],
    }


def test_payload_round_trips_exactly() -> None:
    payload = base_payload()
    profile = ChargingProfile.model_validate(payload)
    assert profile.to_json_dict() == payload
    assert (
        profile.model_dump(mode="json", by_alias=True, exclude_none=True) == payload
    )
    assert profile.charging_schedule[0].charging_schedule_period[1].phase_to_use == 2
    assert profile.purpose is ChargingProfilePurpose.TxProfile


@given(charging_profiles(max_schedules=3))
def test_generated_profiles_round_trip_and_match_official_schema(profile: ChargingProfile) -> None:
    dumped = profile.to_json_dict()
    # through real JSON text, as a message would travel
    again = ChargingProfile.model_validate(json.loads(json.dumps(dumped)))
    assert again == profile
    assert again.to_json_dict() == dumped
    assert hash(again) == hash(profile)
    assert_valid("v201", "SetChargingProfileRequest", {"evseId": 1, "chargingProfile": dumped})


def test_custom_data_is_carried_through_unchanged() -> None:
    payload = base_payload()
    payload["customData"] = {"vendorId": "com.example", "tariff": {"zone": [1, 2]}}
    payload["chargingSchedule"][0]["chargingSchedulePeriod"][0]["customData"] = {
        "vendorId": "x",
        "n": 1,
    }
    profile = ChargingProfile.model_validate(payload)
    assert profile.to_json_dict() == payload
    hash(profile)


def test_models_are_frozen_and_hashable() -> None:
    profile = ChargingProfile.model_validate(base_payload())
    with pytest.raises(ValidationError):
        profile.id = 8  # type: ignore[misc]
    twin = ChargingProfile.model_validate(copy.deepcopy(base_payload()))
    assert profile == twin and len({profile, twin}) == 1
    assert profile.same_content(profile.model_copy(update={"id": 99}))


def _set(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set (or with ``...`` delete) a dotted path such as ``chargingSchedule.0.duration``."""
    out = copy.deepcopy(payload)
    node: Any = out
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        node = node[key]
    if value is ...:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return out


P0 = "chargingSchedule.0.chargingSchedulePeriod.0"

INVALID = {
    "limit with two decimals": (f"{P0}.limit", 8.15),
    "limit NaN": (f"{P0}.limit", float("nan")),
    "limit infinite": (f"{P0}.limit", float("inf")),
    "limit negative": (f"{P0}.limit", -1.0),
    "limit as string": (f"{P0}.limit", "16"),
    "numberPhases 0": (f"{P0}.numberPhases", 0),
    "numberPhases 4": (f"{P0}.numberPhases", 4),
    "phaseToUse 4": (f"{P0}.phaseToUse", 4),
    "startPeriod negative": (f"{P0}.startPeriod", -1),
    "startPeriod float": (f"{P0}.startPeriod", 1.5),
    "startPeriod bool": (f"{P0}.startPeriod", True),
    "stackLevel negative": ("stackLevel", -1),
    "duration negative": ("chargingSchedule.0.duration", -1),
    "no schedules": ("chargingSchedule", []),
    "four schedules": ("chargingSchedule", [base_payload()["chargingSchedule"][0]] * 4),
    "no periods": ("chargingSchedule.0.chargingSchedulePeriod", []),
    "1025 periods": (
        "chargingSchedule.0.chargingSchedulePeriod",
        [{"startPeriod": i, "limit": 6.0} for i in range(1025)],
    ),
    "transactionId too long": ("transactionId", "x" * 37),
    "unknown purpose": ("chargingProfilePurpose", "TxProfil"),
    "unknown unit": ("chargingSchedule.0.chargingRateUnit", "kW"),
    "missing id": ("id", ...),
    "missing stackLevel": ("stackLevel", ...),
    "missing limit": (f"{P0}.limit", ...),
    "extra field": ("colour", "blue"),
    "extra field in period": (f"{P0}.colour", "blue"),
    "bad date-time": ("validFrom", "yesterday"),
    "date only": ("validFrom", "2024-01-01"),
    "minChargingRate two decimals": ("chargingSchedule.0.minChargingRate", 6.05),
    "customData without vendorId": ("customData", {"x": 1}),
    "vendorId too long": ("customData", {"vendorId": "v" * 256}),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_schema_and_value_rules_are_enforced(case: str) -> None:
    path, value = INVALID[case]
    with pytest.raises(ValidationError):
        ChargingProfile.model_validate(_set(base_payload(), path, value))


def test_limit_with_one_decimal_and_integers_are_accepted() -> None:
    for limit in (0, 6, 8.1, 0.3, 22000.5):
        period = ChargingSchedulePeriod.model_validate({"startPeriod": 0, "limit": limit})
        assert period.limit == float(limit)


def test_datetimes_are_utc_and_serialised_with_z() -> None:
    payload = _set(base_payload(), "validFrom", "2024-01-01T02:00:00+02:00")
    payload = _set(payload, "validTo", "2024-01-02T00:00:00")  # no offset: read as UTC
    profile = ChargingProfile.model_validate(payload)
    assert profile.valid_from == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert profile.valid_to == datetime(2024, 1, 2, tzinfo=timezone.utc)
    dumped = profile.to_json_dict()
    assert dumped["validFrom"] == "2024-01-01T00:00:00Z"
    assert dumped["validTo"] == "2024-01-02T00:00:00Z"


@given(st.datetimes(timezones=st.just(timezone.utc)))
def test_datetime_format_parse_round_trip(dt: datetime) -> None:
    text = format_datetime(dt)
    assert text.endswith("Z")
    assert parse_datetime(text) == dt


def test_milliseconds_are_kept() -> None:
    dt = parse_datetime("2024-01-01T12:00:00.250Z")
    assert format_datetime(dt) == "2024-01-01T12:00:00.250Z"
    assert dt + timedelta(milliseconds=750) == parse_datetime("2024-01-01T12:00:01Z")


def test_other_smart_charging_types_round_trip_against_official_schemas() -> None:
    needs = {
        "requestedEnergyTransfer": "DC",
        "departureTime": "2024-01-01T17:00:00Z",
        "dcChargingParameters": {
            "evMaxCurrent": 200,
            "evMaxVoltage": 800,
            "energyAmount": 40000,
            "stateOfCharge": 20,
            "fullSoC": 100,
            "bulkSoC": 80,
        },
    }
    parsed = ChargingNeeds.model_validate(needs)
    assert parsed.dc_charging_parameters is not None
    assert parsed.dc_charging_parameters.full_soc == 100
    assert parsed.to_json_dict() == needs
    assert_valid("v201", "NotifyEVChargingNeedsRequest", {"evseId": 1, "chargingNeeds": needs})

    limit = {"chargingLimitSource": "SO", "isGridCritical": True}
    assert ChargingLimit.model_validate(limit).to_json_dict() == limit
    assert_valid("v201", "NotifyChargingLimitRequest", {"chargingLimit": limit})

    tariff = {
        "id": 1,
        "salesTariffDescription": "peak",
        "numEPriceLevels": 2,
        "salesTariffEntry": [
            {
                "relativeTimeInterval": {"start": 0, "duration": 3600},
                "ePriceLevel": 1,
                "consumptionCost": [
                    {"startValue": 0.0, "cost": [{"costKind": "RelativePricePercentage",
                                                  "amount": 120, "amountMultiplier": -1}]}
                ],
            }
        ],
    }
    assert SalesTariff.model_validate(tariff).to_json_dict() == tariff
    payload = _set(base_payload(), "chargingSchedule.0.salesTariff", tariff)
    assert ChargingProfile.model_validate(payload).to_json_dict() == payload

    composite = {
        "evseId": 1,
        "duration": 3600,
        "scheduleStart": "2024-01-01T00:00:00Z",
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0, "numberPhases": 3}],
    }
    parsed_c = CompositeSchedule.model_validate(composite)
    assert parsed_c.charging_rate_unit is ChargingRateUnit.W
    assert parsed_c.to_json_dict() == composite
    response = {"status": "Accepted", "schedule": composite}
    assert_valid("v201", "GetCompositeScheduleResponse", response)


def test_everest_fixtures_parse_and_round_trip(shared_dir: Any) -> None:
    """Every 2.0.1 fixture of the EVerest suite parses; 2.1-only ones are refused."""
    folder = shared_dir / "conformance" / "everest" / "v2" / "json"
    files = sorted(folder.rglob("*.json"))
    assert len(files) > 30
    refused = []
    for path in files:
        payload = json.loads(path.read_text())
        try:
            profile = ChargingProfile.model_validate(payload)
        except ValidationError as exc:
            assert "operationMode" in str(exc) or "setpoint" in str(exc), path
            refused.append(path.name)
            continue
        # the same profile, with date-times normalised (".000Z" -> "Z")
        assert ChargingProfile.model_validate(profile.to_json_dict()) == profile
    assert len(refused) <= 3


@given(charging_profiles(purposes=["TxProfile"], kinds=["Recurring"], units=["W"]))
def test_strategies_accept_plain_strings(profile: ChargingProfile) -> None:
    assert profile.purpose is ChargingProfilePurpose.TxProfile
    assert profile.recurrency_kind is not None
    assert profile.charging_schedule[0].charging_rate_unit is ChargingRateUnit.W


def test_huge_and_out_of_range_values_give_validation_errors_not_crashes() -> None:
    assert ChargingSchedulePeriod(start_period=0, limit=1e308).limit == 1e308
    for field, text in (("validFrom", "0001-01-01T00:00:00+01:00"),
                        ("validTo", "9999-12-31T23:00:00-02:00")):
        with pytest.raises(ValidationError):
            ChargingProfile.model_validate(_set(base_payload(), field, text))


def test_vendor_null_values_in_custom_data_are_kept() -> None:
    payload = _set(base_payload(), "customData", {"vendorId": "v", "a": None, "b": {"c": None}})
    assert ChargingProfile.model_validate(payload).to_json_dict() == payload


def test_composite_duration_is_not_negative() -> None:
    with pytest.raises(ValidationError):
        CompositeSchedule.model_validate({
            "evseId": 1, "duration": -1, "scheduleStart": "2024-01-01T00:00:00Z",
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}],
        })
