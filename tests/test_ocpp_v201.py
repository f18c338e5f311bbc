"""OCPP 2.0.1 messages: builders give schema-valid payloads, parsers give clear errors, interop."""

from __future__ import annotations

import asyncio
import copy
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp_schemas import assert_valid

from smartcharge.errors import InvalidPayloadError, UnitConversionError
from smartcharge.model import (
    ACChargingParameters,
    ChargingLimit,
    ChargingLimitSource,
    ChargingNeeds,
    ChargingProfile,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    CompositeSchedule,
    EnergyTransferMode,
)
from smartcharge.ocpp import v201
from smartcharge.testing import charging_profiles, charging_schedules, utc_datetimes

T0 = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
DATETIME_KEYS = {"validFrom", "validTo", "startSchedule", "scheduleStart", "departureTime",
                 "timeBase"}  # fmt: skip


def profile_payload() -> dict[str, Any]:
    return {
        "id": 7,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "transactionId": "tx-42",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": "2024-01-01T08:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0},
                    {"startPeriod": 600, "limit": 10.0},
                    {"startPeriod": 1200, "limit": 8.0},
                    {"startPeriod": 1800, "limit": 6.0},
                ],
            }
        ],
    }


def set_request() -> dict[str, Any]:
    return {"evseId": 1, "chargingProfile": profile_payload()}


def check(action: str, payload: dict[str, Any]) -> None:
    """The official schema accepts it, and its date-times are OCPP's UTC form."""
    assert_valid("v201", action, payload)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in DATETIME_KEYS:
                    assert DATETIME.match(item), (key, item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(payload)


# --------------------------------------------------------------------------------------------
# Builders: schema-valid payloads that parse back to what was given
# --------------------------------------------------------------------------------------------


@given(evse=st.integers(0, 8), profile=charging_profiles(max_schedules=3))
def test_set_charging_profile_request_round_trips(evse: int, profile: ChargingProfile) -> None:
    payload = v201.set_charging_profile_request(evse, profile)
    check("SetChargingProfileRequest", payload)
    parsed = v201.parse_set_charging_profile_request(payload)
    assert (parsed.evse_id, parsed.charging_profile) == (evse, profile)


@given(
    profiles=st.lists(charging_profiles(), min_size=1, max_size=3),
    source=st.sampled_from(tuple(ChargingLimitSource)),
    tbc=st.none() | st.booleans(),
)
def test_report_charging_profiles_round_trips(
    profiles: list[ChargingProfile], source: ChargingLimitSource, tbc: bool | None
) -> None:
    payload = v201.report_charging_profiles_request(5, source, 2, profiles, tbc=tbc)
    check("ReportChargingProfilesRequest", payload)
    parsed = v201.parse_report_charging_profiles_request(payload)
    assert parsed.charging_profile == tuple(profiles)
    assert (parsed.request_id, parsed.charging_limit_source, parsed.tbc) == (5, source, tbc)


@given(
    schedule=charging_schedules(),
    time_base=utc_datetimes(),
    evse=st.integers(1, 10),
)
def test_notify_ev_charging_schedule_round_trips(
    schedule: ChargingSchedule, time_base: datetime, evse: int
) -> None:
    payload = v201.notify_ev_charging_schedule_request(evse, time_base, schedule)
    check("NotifyEVChargingScheduleRequest", payload)
    parsed = v201.parse_notify_ev_charging_schedule_request(payload)
    assert (parsed.evse_id, parsed.time_base, parsed.charging_schedule) == (
        evse,
        time_base,
        schedule,
    )


@given(schedules=st.none() | st.lists(charging_schedules(), min_size=1, max_size=2))
def test_notify_charging_limit_round_trips(schedules: list[ChargingSchedule] | None) -> None:
    limit = ChargingLimit(charging_limit_source=ChargingLimitSource.SO, is_grid_critical=True)
    payload = v201.notify_charging_limit_request(limit, evse_id=3, schedules=schedules)
    check("NotifyChargingLimitRequest", payload)
    expected = v201.ExternalLimit(
        source=ChargingLimitSource.SO,
        evse_id=3,
        schedules=tuple(schedules or ()),
        is_grid_critical=True,
        cleared=False,
    )
    assert v201.external_constraints(payload) == expected
    assert v201.external_constraints(v201.parse_notify_charging_limit_request(payload)) == expected
    from ocpp.v201 import call

    dataclass = v201.to_ocpp(v201.parse_notify_charging_limit_request(payload))
    assert isinstance(dataclass, call.NotifyChargingLimit)
    assert v201.external_constraints(dataclass) == expected


def test_every_builder_output_validates_against_its_schema() -> None:
    profile = ChargingProfile.model_validate(profile_payload())
    composite = CompositeSchedule(
        evse_id=1,
        duration=3600,
        schedule_start=T0,
        charging_rate_unit=ChargingRateUnit.W,
        charging_schedule_period=(
            ChargingSchedulePeriod(start_period=0, limit=11000.0),
            ChargingSchedulePeriod(start_period=1800, limit=7400.0, number_phases=1),
        ),
    )
    needs = ChargingNeeds(
        requested_energy_transfer=EnergyTransferMode.AC_three_phase,
        departure_time=T0 + timedelta(hours=8),
        ac_charging_parameters=ACChargingParameters(
            energy_amount=30000, ev_min_current=6, ev_max_current=32, ev_max_voltage=400
        ),
    )
    built = {
        "SetChargingProfileRequest": v201.set_charging_profile_request(0, profile),
        "SetChargingProfileResponse": v201.set_charging_profile_response(
            "Rejected", status_info=v201.StatusInfo(reason_code="TxNotFound", additional_info="x")
        ),
        "GetChargingProfilesRequest": v201.get_charging_profiles_request(
            9,
            evse_id=1,
            purpose=ChargingProfilePurpose.TxProfile,
            stack_level=2,
            profile_ids=[1, 2],
            limit_sources=["EMS", ChargingLimitSource.CSO],
        ),
        "GetChargingProfilesResponse": v201.get_charging_profiles_response("NoProfiles"),
        "ReportChargingProfilesRequest": v201.report_charging_profiles_request(
            9, "CSO", 1, [profile], tbc=False
        ),
        "ClearChargingProfileRequest": v201.clear_charging_profile_request(
            profile_id=7, evse_id=1, purpose="TxDefaultProfile", stack_level=0
        ),
        "ClearChargingProfileResponse": v201.clear_charging_profile_response(
            "Unknown", status_info="NoProfile"
        ),
        "GetCompositeScheduleRequest": v201.get_composite_schedule_request(1, 3600, unit="W"),
        "GetCompositeScheduleResponse": v201.get_composite_schedule_response(
            "Accepted", schedule=composite
        ),
        "NotifyEVChargingNeedsRequest": v201.notify_ev_charging_needs_request(
            2, needs, max_schedule_tuples=24
        ),
        "NotifyEVChargingNeedsResponse": v201.notify_ev_charging_needs_response("Processing"),
        "NotifyChargingLimitRequest": v201.notify_charging_limit_request(
            ChargingLimit(charging_limit_source="EMS")
        ),
        "ClearedChargingLimitRequest": v201.cleared_charging_limit_request("EMS", evse_id=0),
        "NotifyEVChargingScheduleRequest": v201.notify_ev_charging_schedule_request(
            2, T0, profile.charging_schedule[0]
        ),
        "NotifyEVChargingScheduleResponse": v201.notify_ev_charging_schedule_response("Accepted"),
    }
    for action, payload in built.items():
        check(action, payload)
        message = v201.parse(action, payload)
        assert message.to_json_dict() == payload, action
    assert built["ClearChargingProfileRequest"] == {
        "chargingProfileId": 7,
        "chargingProfileCriteria": {
            "evseId": 1,
            "chargingProfilePurpose": "TxDefaultProfile",
            "stackLevel": 0,
        },
    }
    assert built["GetChargingProfilesRequest"]["chargingProfile"]["chargingLimitSource"] == [
        "EMS",
        "CSO",
    ]
    assert v201.clear_charging_profile_request() == {}
    # empty responses parse too
    for action in ("ReportChargingProfiles", "NotifyChargingLimit", "ClearedChargingLimit"):
        assert v201.parse(action + "Response", {}).to_json_dict() == {}


def test_builders_refuse_bad_arguments_with_a_path() -> None:
    profile = ChargingProfile.model_validate(profile_payload())
    with pytest.raises(InvalidPayloadError) as info:
        v201.set_charging_profile_request(-1, profile)
    assert (info.value.path, info.value.ocpp_error) == ("evseId", "PropertyConstraintViolation")
    with pytest.raises(InvalidPayloadError) as info:
        v201.notify_ev_charging_schedule_request(0, T0, profile.charging_schedule[0])
    assert info.value.path == "evseId"  # "EvseId may not be 0"
    with pytest.raises(InvalidPayloadError) as info:
        v201.get_charging_profiles_request(1, limit_sources=["EMS"] * 5)
    assert info.value.path == "chargingProfile.chargingLimitSource"
    assert info.value.ocpp_error == "OccurrenceConstraintViolation"
    with pytest.raises(InvalidPayloadError) as info:
        v201.set_charging_profile_response("Maybe")
    assert (info.value.path, info.value.rule) == ("status", "schema:enum")
    with pytest.raises(InvalidPayloadError) as info:
        v201.set_charging_profile_response("Rejected", status_info="a reason code too long")
    assert (info.value.path, info.value.rule) == ("statusInfo.reasonCode", "schema:maxLength")


# --------------------------------------------------------------------------------------------
# Parsers: errors name the JSON path, the rule and the CALLERROR code
# --------------------------------------------------------------------------------------------


def periods(payload: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = payload["chargingProfile"]["chargingSchedule"][0][
        "chargingSchedulePeriod"
    ]
    return result


def refused(payload: object, action: str = "SetChargingProfileRequest") -> InvalidPayloadError:
    with pytest.raises(InvalidPayloadError) as info:
        v201.parse(action, payload)
    return info.value


P3 = "chargingProfile.chargingSchedule[0].chargingSchedulePeriod[3]"


@pytest.mark.parametrize(
    ("mutate", "path", "code", "rule"),
    [
        (lambda p: periods(p)[3].update(limit=8.15), f"{P3}.limit", "PropertyConstraintViolation",
         "OCPP:one-digit-fraction"),
        (lambda p: periods(p)[3].update(limit=-1.0), f"{P3}.limit", "PropertyConstraintViolation",
         "OCPP:limit>=0"),
        (lambda p: periods(p)[3].update(limit="6"), f"{P3}.limit", "TypeConstraintViolation",
         "schema:type"),
        (lambda p: periods(p)[3].update(limit=None), f"{P3}.limit", "TypeConstraintViolation",
         "schema:type"),
        (lambda p: periods(p)[3].pop("limit"), f"{P3}.limit", "FormationViolation",
         "schema:required"),
        (lambda p: periods(p)[3].update(numberPhases=4), f"{P3}.numberPhases",
         "PropertyConstraintViolation", "OCPP:numberPhases<=3"),
        (lambda p: periods(p)[3].update(phase=1), f"{P3}.phase", "FormationViolation",
         "schema:additionalProperties"),
        (lambda p: periods(p).extend([periods(p)[0]] * 1021),
         "chargingProfile.chargingSchedule[0].chargingSchedulePeriod",
         "OccurrenceConstraintViolation", "schema:maxItems"),
        (lambda p: p["chargingProfile"].update(transactionId="t" * 37),
         "chargingProfile.transactionId", "PropertyConstraintViolation", "schema:maxLength"),
        (lambda p: p["chargingProfile"].update(chargingProfileKind="Sometimes"),
         "chargingProfile.chargingProfileKind", "PropertyConstraintViolation", "schema:enum"),
        (lambda p: p["chargingProfile"].update(chargingProfileKind=1),
         "chargingProfile.chargingProfileKind", "TypeConstraintViolation", "schema:type"),
        (lambda p: p["chargingProfile"].update(validFrom="tomorrow"),
         "chargingProfile.validFrom", "PropertyConstraintViolation",
         "schema:format(date-time)"),
        (lambda p: p["chargingProfile"].update(validTo="0001-01-01T00:00:00+01:00"),
         "chargingProfile.validTo", "PropertyConstraintViolation", "schema:format(date-time)"),
        (lambda p: p["chargingProfile"].update(validTo=1704096000),
         "chargingProfile.validTo", "TypeConstraintViolation", "schema:type"),
        (lambda p: p["chargingProfile"].update(chargingSchedule=[]),
         "chargingProfile.chargingSchedule", "OccurrenceConstraintViolation", "schema:minItems"),
        (lambda p: p.update(evseId=True), "evseId", "TypeConstraintViolation", "schema:type"),
        (lambda p: p.update(evseId=1.0), "evseId", "TypeConstraintViolation", "schema:type"),
        (lambda p: p.pop("evseId"), "evseId", "FormationViolation", "schema:required"),
        (lambda p: p.update(unknown={}), "unknown", "FormationViolation",
         "schema:additionalProperties"),
        (lambda p: p.update(evse_id=1), "evse_id", "FormationViolation",
         "schema:additionalProperties"),
        (lambda p: p.update(customData=None), "customData", "TypeConstraintViolation",
         "schema:type"),
        (lambda p: p.update(customData={"vendor": "x"}), "customData.vendorId",
         "FormationViolation", "schema:required"),
        (lambda p: p["chargingProfile"]["chargingSchedule"][0].update(
            chargingSchedulePeriod=[None]),
         "chargingProfile.chargingSchedule[0].chargingSchedulePeriod[0]",
         "TypeConstraintViolation", "schema:type"),
    ],
)  # fmt: skip
def test_errors_name_path_rule_and_callerror(mutate: Any, path: str, code: str, rule: str) -> None:
    payload = set_request()
    mutate(payload)
    err = refused(payload)
    assert (err.path, err.ocpp_error, err.rule) == (path, code, rule), str(err)
    assert path in str(err)
    assert isinstance(err, ValueError)


def test_vendor_custom_data_is_kept_and_may_hold_anything() -> None:
    payload = set_request()
    payload["customData"] = {"vendorId": "acme", "note": None, "nested": {"a": [1, None]}}
    parsed = v201.parse_set_charging_profile_request(payload)
    assert parsed.custom_data is not None and parsed.custom_data.vendor_id == "acme"


@pytest.mark.parametrize("payload", [None, [], "{}", 3, ("evseId", 1)])
def test_a_payload_that_is_not_an_object_is_a_formation_violation(payload: object) -> None:
    err = refused(payload)
    assert (err.path, err.ocpp_error) == (None, "FormationViolation")


def test_unknown_action_is_refused_as_not_implemented() -> None:
    with pytest.raises(InvalidPayloadError) as info:
        v201.parse("Heartbeat", {})
    assert info.value.ocpp_error == "NotImplemented"
    assert v201.parse("SetChargingProfile", set_request()) == v201.parse(
        "SetChargingProfileRequest", set_request()
    )


def test_value_rules_beyond_the_schema() -> None:
    # "EvseId may not be 0" for messages about one EV
    needs = {"requestedEnergyTransfer": "DC", "dcChargingParameters": {
        "evMaxCurrent": 200, "evMaxVoltage": 500}}  # fmt: skip
    err = refused({"evseId": 0, "chargingNeeds": needs}, "NotifyEVChargingNeedsRequest")
    assert (err.path, err.ocpp_error) == ("evseId", "PropertyConstraintViolation")
    # a composite schedule cannot last a negative time
    response = v201.get_composite_schedule_response(
        "Accepted",
        schedule=CompositeSchedule(
            evse_id=1,
            duration=60,
            schedule_start=T0,
            charging_rate_unit="A",
            charging_schedule_period=(ChargingSchedulePeriod(start_period=0, limit=6.0),),
        ),
    )
    bad = copy.deepcopy(response)
    bad["schedule"]["duration"] = -60
    err = refused(bad, "GetCompositeScheduleResponse")
    assert (err.path, err.ocpp_error) == ("schedule.duration", "PropertyConstraintViolation")


def test_parsing_is_deterministic_and_does_not_touch_the_input() -> None:
    payload = set_request()
    before = copy.deepcopy(payload)
    first = v201.parse_set_charging_profile_request(payload).to_json_dict()
    assert payload == before
    assert first == v201.parse_set_charging_profile_request(payload).to_json_dict() == before


# --------------------------------------------------------------------------------------------
# Charging needs and external limits, for the optimizer
# --------------------------------------------------------------------------------------------


def needs_request(**needs: Any) -> dict[str, Any]:
    return {"evseId": 3, "maxScheduleTuples": 12, "chargingNeeds": needs}


def test_energy_need_of_an_ac_ev() -> None:
    need = v201.energy_need(
        needs_request(
            requestedEnergyTransfer="AC_single_phase",
            departureTime="2024-01-01T18:30:00+01:00",
            acChargingParameters={
                "energyAmount": 7400,
                "evMinCurrent": 6,
                "evMaxCurrent": 32,
                "evMaxVoltage": 250,
            },
        )
    )
    assert need == v201.EnergyNeed(
        evse_id=3,
        energy_amount=7400.0,
        departure_time=datetime(2024, 1, 1, 17, 30, tzinfo=timezone.utc),
        min_rate=6.0,
        max_rate=32.0,
        charging_rate_unit=ChargingRateUnit.A,
        number_phases=1,
        requested_energy_transfer=EnergyTransferMode.AC_single_phase,
        max_schedule_tuples=12,
    )
    assert need.rates("W", voltage=230.0) == (6 * 230.0, 32 * 230.0)
    assert need.rates("A") == (6.0, 32.0)


def test_energy_need_of_a_dc_ev() -> None:
    dc = {"evMaxCurrent": 200, "evMaxVoltage": 500, "evMaxPower": 50000, "energyAmount": 40000}
    need = v201.energy_need(needs_request(requestedEnergyTransfer="DC", dcChargingParameters=dc))
    assert (need.energy_amount, need.min_rate, need.max_rate) == (40000.0, 0.0, 50000.0)
    assert (need.charging_rate_unit, need.number_phases, need.departure_time) == (
        ChargingRateUnit.W,
        None,
        None,
    )
    # no energyAmount: from capacity and state of charge; no evMaxPower: current x voltage
    dc = {"evMaxCurrent": 100, "evMaxVoltage": 400, "evEnergyCapacity": 60000,
          "stateOfCharge": 20, "fullSoC": 80}  # fmt: skip
    need = v201.energy_need(needs_request(requestedEnergyTransfer="DC", dcChargingParameters=dc))
    assert need.energy_amount == pytest.approx(0.6 * 60000)
    assert need.max_rate == 40000.0
    with pytest.raises(UnitConversionError):
        need.rates("A")
    # nothing to go on: unknown energy
    dc = {"evMaxCurrent": 100, "evMaxVoltage": 400}
    need = v201.energy_need(needs_request(requestedEnergyTransfer="DC", dcChargingParameters=dc))
    assert need.energy_amount is None


@given(
    mode=st.sampled_from(
        [EnergyTransferMode.AC_single_phase, EnergyTransferMode.AC_two_phase,
         EnergyTransferMode.AC_three_phase]
    ),
    energy=st.integers(0, 200_000),
    low=st.integers(0, 32),
    extra=st.integers(0, 32),
    departure=st.none() | utc_datetimes(),
)  # fmt: skip
def test_energy_need_matches_the_request(
    mode: EnergyTransferMode, energy: int, low: int, extra: int, departure: datetime | None
) -> None:
    needs = ChargingNeeds(
        requested_energy_transfer=mode,
        departure_time=departure,
        ac_charging_parameters=ACChargingParameters(
            energy_amount=energy, ev_min_current=low, ev_max_current=low + extra, ev_max_voltage=400
        ),
    )
    payload = v201.notify_ev_charging_needs_request(5, needs)
    need = v201.energy_need(payload)
    assert need == v201.energy_need(v201.parse_notify_ev_charging_needs_request(payload))
    assert (need.energy_amount, need.departure_time) == (float(energy), departure)
    assert (need.min_rate, need.max_rate) == (float(low), float(low + extra))
    assert need.number_phases == {"AC_single_phase": 1, "AC_two_phase": 2,
                                  "AC_three_phase": 3}[mode.value]  # fmt: skip
    low_w, high_w = need.rates("W", voltage=230.0)
    assert low_w == pytest.approx(low * 230.0 * need.number_phases)
    assert high_w == pytest.approx((low + extra) * 230.0 * need.number_phases)


@pytest.mark.parametrize(
    ("needs", "path"),
    [
        ({"requestedEnergyTransfer": "AC_three_phase"}, "chargingNeeds.acChargingParameters"),
        ({"requestedEnergyTransfer": "DC", "acChargingParameters": {
            "energyAmount": 1, "evMinCurrent": 6, "evMaxCurrent": 16, "evMaxVoltage": 400}},
         "chargingNeeds.dcChargingParameters"),
        ({"requestedEnergyTransfer": "AC_two_phase", "acChargingParameters": {
            "energyAmount": 1, "evMinCurrent": 20, "evMaxCurrent": 16, "evMaxVoltage": 400}},
         "chargingNeeds.acChargingParameters.evMinCurrent"),
        ({"requestedEnergyTransfer": "AC_two_phase", "acChargingParameters": {
            "energyAmount": -5, "evMinCurrent": 6, "evMaxCurrent": 16, "evMaxVoltage": 400}},
         "chargingNeeds.acChargingParameters.energyAmount"),
        ({"requestedEnergyTransfer": "DC", "dcChargingParameters": {
            "evMaxCurrent": -1, "evMaxVoltage": 400}},
         "chargingNeeds.dcChargingParameters.evMaxCurrent"),
    ],
)  # fmt: skip
def test_energy_need_refuses_needs_it_cannot_use(needs: dict[str, Any], path: str) -> None:
    payload = {"evseId": 1, "chargingNeeds": needs}
    v201.parse_notify_ev_charging_needs_request(payload)  # schema-valid ...
    with pytest.raises(InvalidPayloadError) as info:  # ... but not usable
        v201.energy_need(payload)
    assert info.value.path == path


def test_external_constraints_of_a_cleared_limit() -> None:
    payload = v201.cleared_charging_limit_request(ChargingLimitSource.SO, evse_id=2)
    assert v201.external_constraints(payload) == v201.ExternalLimit(
        source=ChargingLimitSource.SO, evse_id=2, cleared=True
    )
    whole_station = v201.external_constraints({"chargingLimitSource": "EMS"})
    assert (whole_station.evse_id, whole_station.cleared) == (None, True)
    with pytest.raises(InvalidPayloadError) as info:
        v201.external_constraints({"chargingLimit": {"chargingLimitSource": "Grid"}})
    assert info.value.path == "chargingLimit.chargingLimitSource"


# --------------------------------------------------------------------------------------------
# Interop with the ``ocpp`` package
# --------------------------------------------------------------------------------------------


def test_to_ocpp_and_back() -> None:
    from ocpp.v201 import call, call_result

    message = v201.parse_set_charging_profile_request(set_request())
    dataclass = v201.to_ocpp(message)
    assert isinstance(dataclass, call.SetChargingProfile)
    assert dataclass.evse_id == 1
    assert dataclass.charging_profile["charging_schedule"][0]["charging_schedule_period"][1] == {
        "start_period": 600,
        "limit": 10.0,
    }
    assert v201.from_ocpp(dataclass) == message
    assert v201.parse_set_charging_profile_request(dataclass) == message

    response = call_result.GetCompositeSchedule(status="Rejected", status_info={
        "reason_code": "UnknownEVSE"})  # fmt: skip
    parsed = v201.from_ocpp(response)
    assert isinstance(parsed, v201.GetCompositeScheduleResponse)
    assert parsed.status_info == v201.StatusInfo(reason_code="UnknownEVSE")
    assert v201.to_ocpp(parsed) == response


def test_from_ocpp_reads_handler_keyword_arguments() -> None:
    # what an @on("NotifyEVChargingNeeds") handler of the ocpp package receives
    kwargs = {
        "evse_id": 2,
        "charging_needs": {
            "requested_energy_transfer": "DC",
            "dc_charging_parameters": {"ev_max_current": 100, "ev_max_voltage": 400,
                                       "full_soc": 90, "state_of_charge": 40,
                                       "ev_energy_capacity": 50000},
        },
    }  # fmt: skip
    message = v201.from_ocpp(kwargs, "NotifyEVChargingNeedsRequest")
    assert isinstance(message, v201.NotifyEVChargingNeedsRequest)
    dc = message.charging_needs.dc_charging_parameters
    assert dc is not None and dc.full_soc == 90
    assert v201.energy_need(message).energy_amount == pytest.approx(25000.0)


def test_from_ocpp_refuses_invalid_content_with_a_path() -> None:
    from ocpp.v201 import call

    bad = call.SetChargingProfile(evse_id=1, charging_profile={"id": 1, "stack_level": -1})
    with pytest.raises(InvalidPayloadError) as info:
        v201.from_ocpp(bad)
    assert info.value.path == "chargingProfile.stackLevel"
    with pytest.raises(InvalidPayloadError):
        v201.from_ocpp(call.Heartbeat())
    with pytest.raises(InvalidPayloadError):
        v201.from_ocpp({"evse_id": 1})


def test_built_payloads_pass_the_ocpp_packages_own_validation() -> None:
    from ocpp.messages import Call, CallResult, validate_payload

    profile = ChargingProfile.model_validate(profile_payload())
    asyncio.run(
        validate_payload(
            Call("1", "SetChargingProfile", v201.set_charging_profile_request(1, profile)),
            "2.0.1",
        )
    )
    asyncio.run(
        validate_payload(
            CallResult("2", v201.set_charging_profile_response("Accepted"),
                       "SetChargingProfile"),
            "2.0.1",
        )
    )  # fmt: skip


def test_the_library_does_not_need_the_ocpp_package_at_run_time() -> None:
    code = (
        "import sys; sys.modules['ocpp'] = None\n"  # makes `import ocpp` fail
        "from smartcharge.ocpp import v201, v16\n"
        "p = {'evseId': 1, 'chargingProfile': {'id': 1, 'stackLevel': 0,"
        " 'chargingProfilePurpose': 'TxDefaultProfile', 'chargingProfileKind': 'Relative',"
        " 'chargingSchedule': [{'id': 0, 'chargingRateUnit': 'A',"
        " 'chargingSchedulePeriod': [{'startPeriod': 0, 'limit': 16.0}]}]}}\n"
        "m = v201.parse_set_charging_profile_request(p)\n"
        "assert v201.set_charging_profile_request(1, m.charging_profile) == p\n"
        "assert v16.to_v16(m)[0] == 'SetChargingProfile'\n"
        "try:\n"
        "    v201.to_ocpp(m)\n"
        "except ImportError as e:\n"
        "    assert 'smartcharge[ocpp]' in str(e)\n"
        "else:\n"
        "    raise SystemExit('to_ocpp worked without the ocpp package')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_from_ocpp_reads_typed_datatypes_and_enums() -> None:
    from ocpp.v201 import call, datatypes, enums

    profile = datatypes.ChargingProfileType(
        id=1,
        stack_level=0,
        charging_profile_purpose=enums.ChargingProfilePurposeEnumType.tx_default_profile,
        charging_profile_kind=enums.ChargingProfileKindEnumType.relative,
        charging_schedule=[
            datatypes.ChargingScheduleType(
                id=1,
                charging_rate_unit=enums.ChargingRateUnitEnumType.amps,
                charging_schedule_period=[
                    datatypes.ChargingSchedulePeriodType(start_period=0, limit=16)
                ],
            )
        ],
    )
    message = v201.parse_set_charging_profile_request(
        call.SetChargingProfile(evse_id=1, charging_profile=profile)
    )
    assert message.charging_profile.charging_profile_purpose is (
        ChargingProfilePurpose.TxDefaultProfile
    )
    assert message.charging_profile.charging_schedule[0].charging_schedule_period[0].limit == 16.0
