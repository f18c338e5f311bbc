"""Interop with the ``ocpp`` package through its OWN validation path (not hand-made dataclasses).

The ``ocpp`` package re-reads OCPP 1.6 SetChargingProfile requests and GetCompositeSchedule
results with ``parse_float=Decimal`` and hands the Decimals on: to ``@on`` handlers (the
station side) and in ``call()`` results (the CSMS side). These tests build the messages the
way the package does: ``validate_payload`` then ``camel_to_snake_case``.
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import smartcharge as sc
from smartcharge.composite import composite_schedule
from smartcharge.errors import (
    InvalidPayloadError,
    NaiveDatetimeError,
    ScheduleError,
    SmartChargeError,
    StationError,
    TranslationError,
)
from smartcharge.model import ChargingProfile, CompositeSchedule
from smartcharge.ocpp import interop, v16, v201
from smartcharge.schedule import Schedule, epoch_seconds
from smartcharge.station import ChargingStation
from smartcharge.testing import charging_profiles

pytest.importorskip("ocpp")

from ocpp.charge_point import camel_to_snake_case
from ocpp.messages import Call, CallResult, validate_payload


def profile(limit: float = 10.5) -> ChargingProfile:
    return ChargingProfile.model_validate({
        "id": 7, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": [{"id": 0,
        "chargingRateUnit": "A", "startSchedule": "2024-01-01T08:00:00Z",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit},
                                   {"startPeriod": 600, "limit": 6.0}]}]})  # fmt: skip


def handler_kwargs(version: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What the ocpp package passes an @on(action) handler for ``payload``."""
    call = Call("1", action, payload)
    asyncio.run(validate_payload(call, version))
    kwargs: dict[str, Any] = camel_to_snake_case(call.payload)
    return kwargs


def call_result_payload(version: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The snake_case fields ``ChargePoint.call()`` builds its call_result dataclass from."""
    result = CallResult("1", payload, action)
    asyncio.run(validate_payload(result, version))
    fields: dict[str, Any] = camel_to_snake_case(result.payload)
    return fields


# --------------------------------------------------------------------------------------------
# Bug: Decimal numbers from the ocpp package's own validation
# --------------------------------------------------------------------------------------------


def test_v16_station_handler_reads_the_packages_decimals() -> None:
    payload = v16.set_charging_profile_request(1, profile())
    kwargs = handler_kwargs("1.6", "SetChargingProfile", payload)
    periods = kwargs["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"]
    assert periods[0]["limit"] == Decimal("10.5")  # what the handler really gets
    request = v16.from_ocpp(kwargs, action="SetChargingProfile")
    assert request == v201.SetChargingProfileRequest(evse_id=1, charging_profile=profile())


def test_v16_csms_reads_the_call_result_of_get_composite_schedule() -> None:
    from ocpp.v16 import call_result

    conf = {"status": "Accepted", "connectorId": 1, "scheduleStart": "2024-01-01T08:00:00Z",
            "chargingSchedule": {"duration": 900, "chargingRateUnit": "W",
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7360.5},
                                                            {"startPeriod": 600,
                                                             "limit": 4140.0}]}}  # fmt: skip
    fields = call_result_payload("1.6", "GetCompositeSchedule", conf)
    assert isinstance(fields["charging_schedule"]["charging_schedule_period"][0]["limit"],
                      Decimal)  # fmt: skip
    answer = v16.from_ocpp(call_result.GetCompositeSchedule(**fields))
    assert isinstance(answer, v201.GetCompositeScheduleResponse)
    assert answer.schedule is not None
    limits = [p.limit for p in answer.schedule.charging_schedule_period]
    assert limits == [7360.5, 4140.0]
    assert all(type(x) is float for x in limits)


def test_v201_from_ocpp_reads_decimal_numbers() -> None:
    from ocpp.v201 import call

    payload = v201.set_charging_profile_request(1, profile())
    # a CSMS that decodes JSON with parse_float=Decimal (as the package does for 1.6)
    decimal_kwargs = camel_to_snake_case(
        json.loads(json.dumps(payload), parse_float=Decimal)
    )
    expected = v201.parse_set_charging_profile_request(payload)
    assert v201.from_ocpp(decimal_kwargs, action="SetChargingProfile") == expected
    assert v201.from_ocpp(call.SetChargingProfile(**decimal_kwargs)) == expected
    assert v201.parse("SetChargingProfile", {**payload, "evseId": Decimal("1")}) == expected


@given(st.integers(-(10**6), 10**6), st.integers(0, 9))
def test_decimal_limits_read_as_the_json_text(whole: int, tenth: int) -> None:
    text = f"{whole}.{tenth}"
    p16 = v16.set_charging_profile_request(0, profile(limit=abs(float(text))))
    kwargs = handler_kwargs("1.6", "SetChargingProfile", p16)
    read = v16.from_ocpp(kwargs, action="SetChargingProfile")
    assert isinstance(read, v201.SetChargingProfileRequest)
    period = read.charging_profile.charging_schedule[0].charging_schedule_period[0]
    assert period.limit == abs(float(text))


# --------------------------------------------------------------------------------------------
# Bug: to_ocpp of a builder's dict; the one-liners both ways
# --------------------------------------------------------------------------------------------


def test_to_ocpp_of_a_builders_dict_names_the_fix() -> None:
    payload = v201.set_charging_profile_request(1, profile())
    with pytest.raises(InvalidPayloadError) as info:
        v201.to_ocpp(payload)
    assert "to_ocpp('SetChargingProfile', payload)" in str(info.value)
    with pytest.raises(InvalidPayloadError):
        v16.to_ocpp(v16.set_charging_profile_request(1, profile()))


def test_to_ocpp_of_an_action_and_a_payload() -> None:
    from ocpp.v16 import call as call16
    from ocpp.v16.enums import Action as Action16
    from ocpp.v201 import call, call_result
    from ocpp.v201.enums import Action

    payload = v201.set_charging_profile_request(1, profile())
    sent = v201.to_ocpp("SetChargingProfile", payload)
    assert isinstance(sent, call.SetChargingProfile)
    assert v201.to_ocpp(Action.set_charging_profile, payload) == sent
    assert v201.to_ocpp("SetChargingProfileRequest", payload) == sent
    assert v201.from_ocpp(sent) == v201.parse_set_charging_profile_request(payload)
    answer = v201.to_ocpp("SetChargingProfileResponse", v201.set_charging_profile_response(
        "Rejected", status_info="UnknownEVSE"))  # fmt: skip
    assert answer == call_result.SetChargingProfile(
        status="Rejected", status_info={"reason_code": "UnknownEVSE"}
    )
    with pytest.raises(InvalidPayloadError) as bad:
        v201.to_ocpp("SetChargingProfile", {**payload, "evseId": -1})
    assert bad.value.path == "evseId"
    p16 = v16.set_charging_profile_request(2, profile())
    sent16 = v16.to_ocpp(Action16.set_charging_profile, p16)
    assert isinstance(sent16, call16.SetChargingProfile) and sent16.connector_id == 2
    conf = v16.to_ocpp("SetChargingProfileResponse", {"status": "NotSupported"})
    assert type(conf).__module__ == "ocpp.v16.call_result"


def test_from_ocpp_accepts_bare_actions_and_the_action_enum() -> None:
    from ocpp.v201.enums import Action

    payload = v201.set_charging_profile_request(1, profile())
    kwargs = handler_kwargs("2.0.1", "SetChargingProfile", payload)
    expected = v201.parse_set_charging_profile_request(payload)
    for action in ("SetChargingProfile", "SetChargingProfileRequest",
                   Action.set_charging_profile):  # fmt: skip
        assert v201.from_ocpp(kwargs, action=action) == expected
    assert v201.parse(Action.set_charging_profile, payload) == expected
    with pytest.raises(InvalidPayloadError) as info:
        v201.from_ocpp(kwargs, action=Action.heartbeat)
    assert info.value.ocpp_error == "NotImplemented"
    with pytest.raises(InvalidPayloadError) as info:
        v201.from_ocpp(kwargs, action=3)
    assert info.value.path == "action"


def test_parsers_name_snake_case_keys_as_handler_kwargs() -> None:
    payload = v201.set_charging_profile_request(1, profile())
    kwargs = handler_kwargs("2.0.1", "SetChargingProfile", payload)
    with pytest.raises(InvalidPayloadError) as info:
        v201.parse_set_charging_profile_request(kwargs)
    assert "from_ocpp" in str(info.value)
    assert info.value.path in {"evse_id", "charging_profile"}
    with pytest.raises(InvalidPayloadError) as deep:
        v201.parse_set_charging_profile_request({"evseId": 1, "chargingProfile": kwargs[
            "charging_profile"]})  # fmt: skip
    assert deep.value.path is not None and deep.value.path.startswith("chargingProfile.")
    assert "from_ocpp" in str(deep.value)


def test_from_ocpp_keeps_the_null_diagnosis() -> None:
    payload = v201.set_charging_profile_request(1, profile())
    kwargs = {**camel_to_snake_case(payload), "evse_id": None}
    with pytest.raises(InvalidPayloadError) as info:
        v201.from_ocpp(kwargs, action="SetChargingProfile")
    assert (info.value.path, info.value.rule) == ("evseId", "schema:type")
    assert "null" in info.value.message


# --------------------------------------------------------------------------------------------
# Errors as the ocpp package's exceptions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ocpp_error", "version", "code"),
    [
        ("FormationViolation", "1.6", "FormationViolation"),
        ("FormationViolation", "2.0.1", "FormatViolation"),
        ("FormationViolation", "2.1", "FormatViolation"),
        ("OccurrenceConstraintViolation", "1.6", "OccurenceConstraintViolation"),
        ("OccurrenceConstraintViolation", "2.0.1", "OccurenceConstraintViolation"),
        ("OccurrenceConstraintViolation", "2.1", "OccurrenceConstraintViolation"),
        ("PropertyConstraintViolation", "2.0.1", "PropertyConstraintViolation"),
        ("TypeConstraintViolation", "1.6", "TypeConstraintViolation"),
        ("NotImplemented", "2.0.1", "NotImplemented"),
        (None, "2.0.1", "GenericError"),
    ],
)
def test_to_ocpp_exception_codes(ocpp_error: str | None, version: str, code: str) -> None:
    from ocpp.exceptions import OCPPError

    err = InvalidPayloadError("bad", path="chargingProfile.id", rule="r", ocpp_error=ocpp_error)
    exc = err.to_ocpp_exception(version)
    assert isinstance(exc, OCPPError)
    assert exc.code == code
    assert exc.details == {"message": "bad", "path": "chargingProfile.id", "rule": "r"}
    assert exc.description == str(err)


def test_to_ocpp_exception_refuses_an_unknown_version() -> None:
    with pytest.raises(TranslationError):
        StationError("x").to_ocpp_exception("1.5")
    with pytest.raises(InvalidPayloadError):
        interop.ocpp_errors("3.0")


def test_ocpp_errors_decorator_sync_and_async() -> None:
    from ocpp.exceptions import OCPPError

    def bad(**kwargs: Any) -> None:
        raise InvalidPayloadError(
            "no", path="evseId", rule="x", ocpp_error="TypeConstraintViolation"
        )

    async def bad_async(**kwargs: Any) -> None:
        bad()

    def good(*, evse_id: int) -> int:
        return evse_id

    with pytest.raises(OCPPError) as info:
        interop.ocpp_errors("2.0.1")(bad)(evse_id=1)
    assert info.value.code == "TypeConstraintViolation"
    assert isinstance(info.value.__cause__, SmartChargeError)
    with pytest.raises(OCPPError):
        asyncio.run(interop.ocpp_errors("1.6")(bad_async)())
    wrapped = interop.ocpp_errors()(good)
    assert wrapped(evse_id=3) == 3
    assert wrapped.__name__ == "good"


def test_composite_of_the_ocpp_package_round_trips() -> None:
    schedule = CompositeSchedule.model_validate({
        "evseId": 1, "duration": 600, "scheduleStart": "2024-01-01T08:00:00Z",
        "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0,
                                                             "limit": 7360.5}]})  # fmt: skip
    payload = v201.get_composite_schedule_response("Accepted", schedule=schedule)
    fields = call_result_payload("2.0.1", "GetCompositeSchedule", payload)
    from ocpp.v201 import call_result

    answer = v201.from_ocpp(call_result.GetCompositeSchedule(**fields))
    assert isinstance(answer, v201.GetCompositeScheduleResponse)
    assert answer.schedule == schedule


# --------------------------------------------------------------------------------------------
# Checking a station's reported composite schedule against the plan
# --------------------------------------------------------------------------------------------

T0 = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)


@st.composite
def composites(draw: st.DrawFn) -> CompositeSchedule:
    starts = sorted(draw(st.sets(st.integers(1, 5000), max_size=6)))
    limits = draw(st.lists(st.integers(0, 320).map(lambda x: x / 10),
                           min_size=len(starts) + 1, max_size=len(starts) + 1))  # fmt: skip
    duration = draw(st.integers(1, 6000))
    periods = [{"startPeriod": s, "limit": v} for s, v in zip([0, *starts], limits, strict=True)]
    return CompositeSchedule.model_validate({
        "evseId": 1, "duration": duration, "scheduleStart": T0, "chargingRateUnit": "A",
        "chargingSchedulePeriod": periods})  # fmt: skip


@given(composites(), st.integers(-100, 7000))
def test_value_at_agrees_with_the_schedule_and_the_periods(c: CompositeSchedule, dt: int) -> None:
    t = T0 + timedelta(seconds=dt)
    value = c.value_at(t)
    schedule = Schedule.from_composite(c)
    assert c.value_at(epoch_seconds(t)) == value or (math.isnan(value) and math.isnan(
        c.value_at(epoch_seconds(t))))  # fmt: skip
    if 0 <= dt < c.duration:
        expected = [p.limit for p in c.charging_schedule_period if p.start_period <= dt][-1]
        assert value == expected
        assert schedule.value_at(t) == expected
    else:
        assert math.isnan(value) and math.isnan(schedule.value_at(t))
    assert schedule.start == epoch_seconds(T0) and schedule.end == epoch_seconds(T0) + c.duration


@given(composites(), st.integers(1, 900))
def test_sampling_max_bounds_min_and_start(c: CompositeSchedule, step: int) -> None:
    schedule = Schedule.from_composite(c)
    n = c.duration // step
    low = schedule.sample(T0, step, n)
    high = schedule.sample(T0, step, n, how="max")
    first = schedule.sample(T0, step, n, how="start")
    assert np.all(low <= first) and np.all(first <= high)


def test_a_reported_composite_checked_against_a_station_mirror() -> None:
    station = ChargingStation(evses=1)
    assert station.set_charging_profile(1, profile(), T0).accepted
    planned = station.composite_schedule(1, T0, 1800, "A")
    reported = planned.model_copy(update={"charging_schedule_period": (
        *planned.charging_schedule_period[:-1],
        planned.charging_schedule_period[-1].model_copy(update={"limit": 16.0}))})  # fmt: skip
    plan, seen = Schedule.from_composite(planned), Schedule.from_composite(reported)
    over = seen.sample(T0, 60, 30, how="max") > plan.sample(T0, 60, 30, how="max")
    assert over.any() and not over[:10].any()


def test_value_at_refuses_naive_and_non_times() -> None:
    c = CompositeSchedule.model_validate({"evseId": 1, "duration": 60,
        "scheduleStart": T0, "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}]})  # fmt: skip
    with pytest.raises(NaiveDatetimeError):
        c.value_at(datetime(2024, 1, 1, 8))
    with pytest.raises(ScheduleError):
        c.value_at("08:00")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# A naive ``now`` is an error, not UTC; reconcile's error points at the desired profile
# --------------------------------------------------------------------------------------------


def test_naive_now_is_a_typed_error_everywhere() -> None:
    naive = datetime(2024, 1, 1, 8)
    station = ChargingStation(evses=1)
    with pytest.raises(NaiveDatetimeError) as info:
        station.set_charging_profile(1, profile(), naive)
    assert info.value.path == "now"
    with pytest.raises(NaiveDatetimeError):
        station.composite_schedule(1, naive, 60, "A")
    with pytest.raises(NaiveDatetimeError):
        composite_schedule({}, 0, naive, 60, "A")
    with pytest.raises(NaiveDatetimeError):
        sc.reconcile(station, {1: [profile()]}, now=naive)
    assert isinstance(info.value, ValueError)


def test_reconcile_error_points_at_the_desired_profile_and_states_the_rule_once() -> None:
    def default(pid: int) -> ChargingProfile:
        return profile().model_copy(update={"id": pid})

    station = ChargingStation(evses=2)
    desired = {1: [default(11)], 2: [default(13), default(12)]}
    with pytest.raises(InvalidPayloadError) as info:
        sc.reconcile(station, desired, now=T0)
    err = info.value
    assert err.path is not None and err.path.startswith("desired[2][")
    index = int(err.path.split("][")[1].split("]")[0])
    assert desired[2][index].id in {12, 13}
    assert str(err).count(err.rule or "?") == 1
    assert "messages[" not in str(err)


# --------------------------------------------------------------------------------------------
# The message table generates the named parsers and status builders
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", sorted(v201.MESSAGES))
def test_every_message_has_its_named_parser(schema: str) -> None:
    cls = v201.MESSAGES[schema]
    name = "parse_" + "".join(
        f"_{c.lower()}" if c.isupper() and i and not (schema[i - 1].isupper() and (
            i + 1 == len(schema) or schema[i + 1].isupper())) else c.lower()
        for i, c in enumerate(schema)
    )  # fmt: skip
    parser = getattr(v201, name)
    assert name in v201.__all__ and parser.__name__ == name
    assert schema in (parser.__doc__ or "")
    with pytest.raises(InvalidPayloadError) as info:
        parser([])
    assert info.value.rule == "schema:type"
    assert v201.message_class(schema) is cls


@pytest.mark.parametrize(
    ("builder", "parser", "status"),
    [
        (v201.set_charging_profile_response, v201.parse_set_charging_profile_response,
         "Rejected"),
        (v201.get_charging_profiles_response, v201.parse_get_charging_profiles_response,
         "NoProfiles"),
        (v201.clear_charging_profile_response, v201.parse_clear_charging_profile_response,
         "Unknown"),
        (v201.notify_ev_charging_needs_response, v201.parse_notify_ev_charging_needs_response,
         "Processing"),
        (v201.notify_ev_charging_schedule_response,
         v201.parse_notify_ev_charging_schedule_response, "Accepted"),
    ],
)  # fmt: skip
def test_status_builders(builder: Any, parser: Any, status: str) -> None:
    payload = builder(status, status_info="Busy")
    assert payload == {"status": status, "statusInfo": {"reasonCode": "Busy"}}
    assert parser(payload).status.value == status
    assert builder(status) == {"status": status}
    with pytest.raises(InvalidPayloadError) as info:
        builder(status, status_info="x" * 21)
    assert info.value.path == "statusInfo.reasonCode"
    with pytest.raises(InvalidPayloadError):
        builder("Maybe")


# --------------------------------------------------------------------------------------------
# Round trips through the ocpp package's own validation, for any profile
# --------------------------------------------------------------------------------------------

EXPRESSIBLE_16 = charging_profiles(
    purposes=("ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile"),
    transaction_ids=("0", "42", "-7"),
    max_schedules=1,
)


@given(charging_profiles(), st.integers(0, 8))
def test_any_profile_round_trips_through_a_v201_handler(p: ChargingProfile, evse: int) -> None:
    payload = v201.set_charging_profile_request(evse, p)
    sent = v201.to_ocpp("SetChargingProfile", payload)
    kwargs = handler_kwargs("2.0.1", "SetChargingProfile", payload)
    request = v201.from_ocpp(kwargs, action="SetChargingProfile")
    assert request == v201.from_ocpp(sent) == v201.parse_set_charging_profile_request(payload)
    assert isinstance(request, v201.SetChargingProfileRequest)
    assert v201.set_charging_profile_request(evse, request.charging_profile) == payload


@given(EXPRESSIBLE_16, st.integers(0, 8))
def test_any_expressible_profile_round_trips_through_a_v16_handler(
    p: ChargingProfile, connector: int
) -> None:
    payload = v16.set_charging_profile_request(connector, p)
    kwargs = handler_kwargs("1.6", "SetChargingProfile", payload)
    request = v16.from_ocpp(kwargs, action="SetChargingProfile")
    assert isinstance(request, v201.SetChargingProfileRequest)
    assert request.evse_id == connector
    assert v16.set_charging_profile_request(connector, request.charging_profile) == payload
