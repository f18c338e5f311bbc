"""OCPP 1.6 translation: round trips both ways, what 1.6 cannot say, EVerest's 1.6 fixtures."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcharge.errors import InvalidPayloadError, TranslationError
from smartcharge.model import (
    ChargingProfile,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedulePeriod,
    CompositeSchedule,
    CustomData,
    SalesTariff,
)
from smartcharge.ocpp import v16, v201
from smartcharge.testing import charging_profiles, charging_schedule_periods, utc_datetimes

T0 = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)

# 2.0.1 profiles 1.6 can express: no external constraints, one schedule, integer transactionIds
EXPRESSIBLE = charging_profiles(
    purposes=(
        ChargingProfilePurpose.ChargingStationMaxProfile,
        ChargingProfilePurpose.TxDefaultProfile,
        ChargingProfilePurpose.TxProfile,
    ),
    transaction_ids=("0", "1", "42", "-7", "123456789012"),
    max_schedules=1,
)


def valid_v16(action: str, payload: dict[str, Any], *, response: bool = False) -> None:
    """The ocpp package's own 1.6 validation (its schemas, floats read as Decimal)."""
    from ocpp.exceptions import OCPPError
    from ocpp.messages import Call, CallResult, validate_payload

    message = CallResult("1", payload, action) if response else Call("1", action, payload)
    try:
        asyncio.run(validate_payload(message, "1.6"))
    except OCPPError as exc:  # pragma: no cover - shown on failure
        pytest.fail(f"{action}: {exc}")


def profile16() -> dict[str, Any]:
    return {
        "chargingProfileId": 12,
        "transactionId": 345,
        "stackLevel": 2,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "validFrom": "2024-01-01T00:00:00Z",
        "validTo": "2024-01-02T00:00:00Z",
        "chargingSchedule": {
            "duration": 7200,
            "startSchedule": "2024-01-01T08:00:00Z",
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                {"startPeriod": 3600, "limit": 8.1, "numberPhases": 1},
            ],
            "minChargingRate": 6.0,
        },
    }


# --------------------------------------------------------------------------------------------
# Profiles both ways
# --------------------------------------------------------------------------------------------


@given(profile=EXPRESSIBLE, connector=st.integers(0, 4))
def test_v201_to_v16_to_v201_is_exact(profile: ChargingProfile, connector: int) -> None:
    p16 = v16.profile_to_v16(profile)
    assert v16.profile_from_v16(p16, schedule_id=profile.charging_schedule[0].id) == profile
    # ... also through the JSON of a SetChargingProfile.req that the 1.6 schema accepts
    payload = v16.set_charging_profile_request(connector, profile)
    valid_v16("SetChargingProfile", payload)
    back = v16.parse_set_charging_profile_request(json.loads(json.dumps(payload)))
    assert back.evse_id == connector
    assert back.charging_profile == profile.model_copy(
        update={"charging_schedule": (profile.charging_schedule[0].model_copy(update={"id": 0}),)}
    )


def test_the_field_mapping() -> None:
    profile = v16.profile_from_v16(profile16(), schedule_id=3)
    assert profile.to_json_dict() == {
        "id": 12,
        "stackLevel": 2,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "validFrom": "2024-01-01T00:00:00Z",
        "validTo": "2024-01-02T00:00:00Z",
        "transactionId": "345",
        "chargingSchedule": [
            {
                "id": 3,
                "startSchedule": "2024-01-01T08:00:00Z",
                "duration": 7200,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                    {"startPeriod": 3600, "limit": 8.1, "numberPhases": 1},
                ],
                "minChargingRate": 6.0,
            }
        ],
    }
    assert v16.profile_to_v16(profile).to_json_dict() == profile16()
    assert v16.purpose_from_v16("ChargePointMaxProfile") is (
        ChargingProfilePurpose.ChargingStationMaxProfile
    )
    assert v16.purpose_to_v16(ChargingProfilePurpose.ChargingStationMaxProfile) is (
        v16.ChargingProfilePurpose16.ChargePointMaxProfile
    )


def untranslatable(profile: ChargingProfile) -> TranslationError:
    with pytest.raises(TranslationError) as info:
        v16.profile_to_v16(profile)
    return info.value


def base_profile() -> ChargingProfile:
    return v16.profile_from_v16(profile16())


def test_what_1_6_cannot_express_is_refused_with_the_field() -> None:
    p = base_profile()
    schedule = p.charging_schedule[0]

    external = ChargingProfilePurpose.ChargingStationExternalConstraints
    err = untranslatable(p.model_copy(update={"charging_profile_purpose": external}))
    assert err.path == "chargingProfilePurpose"
    assert "ChargingStationExternalConstraints" in str(err)

    err = untranslatable(p.model_copy(update={"charging_schedule": (schedule, schedule)}))
    assert err.path == "chargingSchedule"
    assert "exactly one chargingSchedule" in str(err)

    for tx in ("tx-42", "007", "+5", "4.0", "", " 5", "٣"):
        err = untranslatable(p.model_copy(update={"transaction_id": tx}))
        assert err.path == "transactionId", tx
        assert "integer" in str(err)

    phased = schedule.charging_schedule_period[1].model_copy(update={"phase_to_use": 2})
    err = untranslatable(
        p.model_copy(
            update={
                "charging_schedule": (
                    schedule.model_copy(
                        update={
                            "charging_schedule_period": (
                                schedule.charging_schedule_period[0],
                                phased,
                            )
                        }
                    ),
                )
            }
        )
    )
    assert err.path == "chargingSchedule[0].chargingSchedulePeriod[1].phaseToUse"

    tariff = SalesTariff.model_validate(
        {"id": 1, "salesTariffEntry": [{"relativeTimeInterval": {"start": 0}}]}
    )
    err = untranslatable(
        p.model_copy(
            update={"charging_schedule": (schedule.model_copy(update={"sales_tariff": tariff}),)}
        )
    )
    assert err.path == "chargingSchedule[0].salesTariff"

    err = untranslatable(p.model_copy(update={"custom_data": CustomData(vendor_id="acme")}))
    assert err.path == "customData"
    assert isinstance(err, ValueError)


def test_errors_in_a_message_carry_the_message_path() -> None:
    p = base_profile().model_copy(update={"transaction_id": "abc"})
    with pytest.raises(TranslationError) as info:
        v16.set_charging_profile_request(1, p)
    assert info.value.path == "csChargingProfiles.transactionId"
    with pytest.raises(TranslationError) as info:
        v16.to_v16(v201.SetChargingProfileRequest(evse_id=1, charging_profile=p))
    assert info.value.path == "chargingProfile.transactionId"


@pytest.mark.parametrize(
    ("mutate", "path", "code"),
    [
        (lambda p: p.update(transactionId="345"), "transactionId", "TypeConstraintViolation"),
        (lambda p: p.update(stackLevel=-1), "stackLevel", "PropertyConstraintViolation"),
        (lambda p: p.update(chargingProfilePurpose="ChargingStationMaxProfile"),
         "chargingProfilePurpose", "PropertyConstraintViolation"),
        (lambda p: p["chargingSchedule"]["chargingSchedulePeriod"][1].update(limit=8.15),
         "chargingSchedule.chargingSchedulePeriod[1].limit", "PropertyConstraintViolation"),
        (lambda p: p["chargingSchedule"].update(chargingSchedulePeriod=[]),
         "chargingSchedule.chargingSchedulePeriod", "OccurrenceConstraintViolation"),
        (lambda p: p["chargingSchedule"].update(id=0), "chargingSchedule.id",
         "FormationViolation"),
        (lambda p: p["chargingSchedule"].pop("chargingRateUnit"),
         "chargingSchedule.chargingRateUnit", "FormationViolation"),
        (lambda p: p.update(validTo=None), "validTo", "TypeConstraintViolation"),
        (lambda p: p.update(chargingSchedule=[p["chargingSchedule"]]), "chargingSchedule",
         "TypeConstraintViolation"),
    ],
)  # fmt: skip
def test_invalid_1_6_profiles_are_refused(mutate: Any, path: str, code: str) -> None:
    payload = profile16()
    mutate(payload)
    with pytest.raises(InvalidPayloadError) as info:
        v16.profile_from_v16(payload)
    assert (info.value.path, info.value.ocpp_error) == (path, code), str(info.value)


# --------------------------------------------------------------------------------------------
# EVerest's OCPP 1.6 fixtures (real profiles): 1.6 -> 2.0.1 -> 1.6
# --------------------------------------------------------------------------------------------


def _normalise_times(value: Any) -> Any:
    """Date-times as aware datetimes, so ``...00.000Z`` equals ``...00Z``."""
    if isinstance(value, dict):
        return {k: _normalise_times(v) for k, v in value.items()}
    if isinstance(value, str) and len(value) >= 20 and value[10:11] == "T":
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def test_everest_1_6_fixtures_round_trip(shared_dir: Path) -> None:
    files = sorted((shared_dir / "conformance/everest/v16/json").glob("*.json"))
    assert len(files) >= 10
    round_tripped, refused = [], []
    for path in files:
        fixture = json.loads(path.read_text(encoding="utf-8"))
        try:
            profile = v16.profile_from_v16(fixture)
        except InvalidPayloadError as err:
            # EVerest writes a schedule "id" into some 1.6 fixtures and leaves the unit out of
            # one: both break the 1.6 schema, and the error names the field
            assert err.path in {"chargingSchedule.id", "chargingSchedule.chargingRateUnit"}, (
                path.name,
                str(err),
            )
            assert err.ocpp_error == "FormationViolation"
            refused.append(path.name)
            continue
        back = v16.profile_to_v16(profile).to_json_dict()
        assert _normalise_times(back) == _normalise_times(fixture), path.name
        payload = v16.set_charging_profile_request(0, profile)
        valid_v16("SetChargingProfile", payload)
        assert v201.set_charging_profile_request(0, profile)  # a valid 2.0.1 message too
        round_tripped.append(path.name)
    assert len(round_tripped) >= 10, round_tripped
    # the schema-breaking ones round-trip once the extra field is dropped
    for name in refused:
        fixture = json.loads((shared_dir / "conformance/everest/v16/json" / name).read_text())
        fixed = copy.deepcopy(fixture)
        fixed["chargingSchedule"].pop("id", None)
        fixed["chargingSchedule"].setdefault("chargingRateUnit", "W")
        back = v16.profile_to_v16(v16.profile_from_v16(fixed)).to_json_dict()
        assert _normalise_times(back) == _normalise_times(fixed), name


# --------------------------------------------------------------------------------------------
# Messages: GetCompositeSchedule, ClearChargingProfile, and whole-message translation
# --------------------------------------------------------------------------------------------


@st.composite
def composites(draw: st.DrawFn) -> CompositeSchedule:
    unit = draw(st.sampled_from(tuple(ChargingRateUnit)))
    periods = draw(charging_schedule_periods(unit))
    return CompositeSchedule(
        evse_id=draw(st.integers(0, 4)),
        duration=periods[-1].start_period + draw(st.integers(1, 86_400)),
        schedule_start=draw(utc_datetimes()),
        charging_rate_unit=unit,
        charging_schedule_period=periods,
    )


@given(composite=composites())
def test_composite_schedule_conf_round_trips(composite: CompositeSchedule) -> None:
    conf = v16.get_composite_schedule_response(composite)
    valid_v16("GetCompositeSchedule", conf, response=True)
    response = v16.parse_get_composite_schedule_response(json.loads(json.dumps(conf)))
    assert response.status is v201.GenericStatus.Accepted
    assert response.schedule == composite
    assert v16.from_v16("GetCompositeScheduleResponse", conf) == response


def test_composite_schedule_conf_fallbacks_and_gaps() -> None:
    schedule = {"chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}]}  # fmt: skip
    rejected = v16.parse_get_composite_schedule_response({"status": "Rejected"})
    assert (rejected.status, rejected.schedule) == (v201.GenericStatus.Rejected, None)

    conf = {"status": "Accepted", "chargingSchedule": {**schedule,
            "startSchedule": "2024-01-01T08:00:00.000Z", "duration": 900}}  # fmt: skip
    with pytest.raises(TranslationError) as info:
        v16.parse_get_composite_schedule_response(conf)
    assert info.value.path == "connectorId"
    got = v16.parse_get_composite_schedule_response(conf, connector_id=2)
    assert got.schedule == CompositeSchedule(
        evse_id=2,
        duration=900,
        schedule_start=T0,
        charging_rate_unit=ChargingRateUnit.A,
        charging_schedule_period=(ChargingSchedulePeriod(start_period=0, limit=32.0),),
    )

    conf = {"status": "Accepted", "connectorId": 1, "chargingSchedule": schedule}
    with pytest.raises(TranslationError) as info:
        v16.parse_get_composite_schedule_response(conf)
    assert info.value.path == "scheduleStart"
    conf["scheduleStart"] = "2024-01-01T08:00:00Z"
    with pytest.raises(TranslationError) as info:
        v16.parse_get_composite_schedule_response(conf)
    assert info.value.path == "chargingSchedule.duration"
    assert v16.parse_get_composite_schedule_response(conf, duration=60).schedule is not None

    with pytest.raises(InvalidPayloadError) as bad:
        v16.parse_get_composite_schedule_response({"status": "Accepted", "connectorId": -1})
    assert bad.value.path == "connectorId"


def test_request_builders_validate_against_the_1_6_schemas() -> None:
    request = v16.get_composite_schedule_request(1, 3600, unit="W")
    assert request == {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"}
    valid_v16("GetCompositeSchedule", request)
    clear = v16.clear_charging_profile_request(
        profile_id=3,
        connector_id=0,
        purpose=ChargingProfilePurpose.ChargingStationMaxProfile,
        stack_level=1,
    )
    assert clear == {"id": 3, "connectorId": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
                     "stackLevel": 1}  # fmt: skip
    valid_v16("ClearChargingProfile", clear)
    assert v16.clear_charging_profile_request(purpose="TxProfile") == {
        "chargingProfilePurpose": "TxProfile"
    }
    with pytest.raises(TranslationError):
        v16.clear_charging_profile_request(purpose="ChargingStationExternalConstraints")
    with pytest.raises(InvalidPayloadError):
        v16.get_composite_schedule_request(-1, 60)


@pytest.mark.parametrize(
    "message",
    [
        v201.SetChargingProfileRequest(
            evse_id=2, charging_profile=v16.profile_from_v16(profile16())
        ),
        v201.GetCompositeScheduleRequest(duration=600, evse_id=0),
        v201.GetCompositeScheduleRequest(duration=600, evse_id=1, charging_rate_unit="A"),
        v201.ClearChargingProfileRequest(charging_profile_id=4),
        v201.ClearChargingProfileRequest(),
        v201.ClearChargingProfileRequest(
            charging_profile_criteria=v201.ClearChargingProfileCriteria(
                evse_id=1, charging_profile_purpose="ChargingStationMaxProfile", stack_level=0
            )
        ),
        v201.SetChargingProfileResponse(status="Accepted"),
        v201.ClearChargingProfileResponse(status="Unknown"),
        v201.GetCompositeScheduleResponse(status="Rejected"),
    ],
)
def test_whole_messages_round_trip_through_1_6(message: v201.Message) -> None:
    action, payload = v16.to_v16(message)
    is_response = action.endswith("Response")
    valid_v16(action.removesuffix("Response"), payload, response=is_response)
    assert v16.from_v16(action, json.loads(json.dumps(payload))) == message


def test_message_translation_gaps() -> None:
    assert v16.from_v16("SetChargingProfileResponse", {"status": "NotSupported"}) == (
        v201.SetChargingProfileResponse(
            status="Rejected", status_info=v201.StatusInfo(reason_code="NotSupported")
        )
    )
    with pytest.raises(TranslationError) as info:
        v16.to_v16(v201.NotifyEVChargingNeedsRequest.model_validate(
            {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC"}}))  # fmt: skip
    assert "no OCPP 1.6 equivalent" in str(info.value)
    with pytest.raises(TranslationError) as info:
        v16.to_v16(v201.GetCompositeScheduleRequest(
            duration=1, evse_id=1, custom_data=CustomData(vendor_id="x")))  # fmt: skip
    assert info.value.path == "customData"
    with pytest.raises(InvalidPayloadError) as bad:
        v16.from_v16("RemoteStartTransaction", {})
    assert bad.value.ocpp_error == "NotImplemented"


@given(profile=EXPRESSIBLE, shift=st.integers(0, 10**6))
def test_translation_is_deterministic(profile: ChargingProfile, shift: int) -> None:
    one = json.dumps(v16.set_charging_profile_request(1, profile))
    two = json.dumps(v16.set_charging_profile_request(1, profile.model_copy()))
    assert one == two
    later = profile.model_copy(update={"valid_from": T0 + timedelta(seconds=shift)})
    assert v16.profile_to_v16(later).valid_from == T0 + timedelta(seconds=shift)


def test_interop_with_the_ocpp_packages_1_6_dataclasses() -> None:
    from ocpp.v16 import call, call_result

    request = v201.SetChargingProfileRequest(evse_id=1, charging_profile=base_profile())
    dataclass = v16.to_ocpp(request)
    assert isinstance(dataclass, call.SetChargingProfile)
    assert dataclass.connector_id == 1
    assert dataclass.cs_charging_profiles["charging_profile_id"] == 12
    assert dataclass.cs_charging_profiles["transaction_id"] == 345
    assert v16.from_ocpp(dataclass) == request

    conf = call_result.GetCompositeSchedule(
        status="Accepted",
        connector_id=2,
        schedule_start="2024-01-01T08:00:00Z",
        charging_schedule={"charging_rate_unit": "W", "duration": 60,
                           "charging_schedule_period": [{"start_period": 0, "limit": 7400.0}]},
    )  # fmt: skip
    answer = v16.from_ocpp(conf)
    assert isinstance(answer, v201.GetCompositeScheduleResponse)
    assert answer.schedule is not None and answer.schedule.evse_id == 2
    assert v16.to_ocpp(v201.ClearChargingProfileRequest(charging_profile_id=3)) == (
        call.ClearChargingProfile(id=3)
    )
    with pytest.raises(InvalidPayloadError):
        v16.from_ocpp(call.Heartbeat())
    with pytest.raises(InvalidPayloadError) as info:
        v16.from_ocpp(call.SetChargingProfile(connector_id=-1, cs_charging_profiles={}))
    assert info.value.path == "connectorId"
