"""Pins found by mutation testing (issue 13, round 4) in ``ocpp/check`` (what
``smartcharge validate`` reports) and ``ocpp/installed`` (the composite command's input):
every problem of a payload reported, profiles replaced only by their own id, paths and
messages exactly as printed, in 2.0.1 and 1.6 names, and malformed transactions refused."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from smartcharge.errors import InvalidPayloadError
from smartcharge.ocpp.check import validate_requests
from smartcharge.ocpp.installed import load_installed

NOW = datetime(2024, 1, 1, 7, tzinfo=timezone.utc)


def _profile(pid: int, stack: int, periods: list[tuple[int, float]]) -> dict[str, Any]:
    return {"id": pid, "stackLevel": stack, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": pid, "chargingRateUnit": "A",
                                  "startSchedule": "2024-01-01T08:00:00Z",
                                  "chargingSchedulePeriod": [
                                      {"startPeriod": s, "limit": v} for s, v in periods]}]}


def test_validate_reports_every_unknown_field_of_a_request_not_only_the_first() -> None:
    """Two unknown top-level fields beside a valid request: two problems, in key order, with
    their own paths, rule and CALLERROR, and no K01 check of the profile."""
    # catches: `if problems or evse is None` -> `and` (the adapter's single first error instead)
    doc = {"evseId": 1, "chargingProfile": _profile(1, 0, [(0, 16.0)]), "zeta": 1, "alpha": 2}
    problems = validate_requests(doc, now=NOW)
    assert [(p.path, p.rule, p.answer) for p in problems] == [
        ("alpha", "schema:additionalProperties", "CALLERROR FormationViolation"),
        ("zeta", "schema:additionalProperties", "CALLERROR FormationViolation"),
    ]
    assert {p.message for p in problems} == {
        "unknown field (additional properties are not allowed)"}


def test_validate_keeps_earlier_profiles_installed_when_another_id_arrives() -> None:
    """Payloads are installed in order and only the SAME id replaces (K01.FR.05): id 1 at
    stack 0, id 2 at stack 1, then id 3 at stack 0 clashes with id 1 (K01.FR.06); a resend
    of id 1 with other limits replaces it (no clash with itself)."""
    # catches: the replacement filter `q.id != p.id` -> `==` (every OTHER id dropped)
    doc = [{"evseId": 1, "chargingProfile": _profile(1, 0, [(0, 16.0)])},
           {"evseId": 1, "chargingProfile": _profile(2, 1, [(0, 10.0)])},
           {"evseId": 1, "chargingProfile": _profile(3, 0, [(0, 8.0)])}]
    problems = validate_requests(doc, now=NOW)
    assert [(p.path, p.rule) for p in problems] == [
        ("[2].chargingProfile.stackLevel", "K01.FR.06")]
    assert problems[0].answer.startswith("Rejected (")
    resend = [doc[0], doc[1], {"evseId": 1, "chargingProfile": _profile(1, 0, [(0, 12.0)])}]
    assert validate_requests(resend, now=NOW) == []


def test_validate_prints_a_k01_message_once_without_its_path_and_rule() -> None:
    """The K01 message is the validator's text with the leading ``path: `` and the trailing
    `` (rule)`` taken off (both are printed in their own columns)."""
    # catches: the prefix/suffix trimming conditions and slice; `message or reason` -> `and`
    doc = [{"evseId": 1, "chargingProfile": _profile(1, 0, [(0, 16.0)])},
           {"evseId": 1, "chargingProfile": _profile(3, 0, [(0, 8.0)])}]
    (p,) = validate_requests(doc, now=NOW)
    assert p.path == "[1].chargingProfile.stackLevel" and p.rule == "K01.FR.06"
    assert p.message == ("profile 1 (TxDefaultProfile, stackLevel 0) is already installed on "
                         "EVSE 1 and its validity [-, -) overlaps [-, -)")
    assert p.answer == "Rejected (DuplicateProfile)"


def test_validate_names_1_6_schedule_fields_without_the_2_0_1_list_index() -> None:
    """A 1.6 payload rejected by a K01 rule on its schedule (periods out of order,
    K01.FR.35): the path is in 1.6's names, ``csChargingProfiles.chargingSchedule....``
    (1.6 has one schedule, not a list)."""
    # catches: the 1.6 rewrite's `sub is not None and ...` -> `sub is None and ...`
    payload = {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 5, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2024-01-01T08:00:00Z",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0},
                                                        {"startPeriod": 0, "limit": 8.0}]}}}
    problems = validate_requests(payload, now=NOW, version="1.6")
    assert [(p.path, p.rule) for p in problems] == [
        ("csChargingProfiles.chargingSchedule.chargingSchedulePeriod[1].startPeriod",
         "K01.FR.35")]


@pytest.mark.parametrize("tx", [{"startTime": "2024-01-01T08:00:00Z"},
                                ["t1", "2024-01-01T08:00:00Z"],
                                {"transactionId": 7, "startTime": "2024-01-01T08:00:00Z"}])
def test_load_installed_refuses_a_malformed_transaction_naming_its_path(tx: Any) -> None:
    """A transaction must be ``{transactionId: string, startTime: date-time}``: a missing or
    non-string id, or not an object at all, is an InvalidPayloadError at
    ``transactions.<evseId>``, never an AttributeError or a transaction without an id."""
    # catches: `not isinstance(tx, Mapping) or not isinstance(tx.get(...), str)` -> `and`
    with pytest.raises(InvalidPayloadError) as info:
        load_installed({"installed": {"1": []}, "transactions": {"1": tx}})
    assert (info.value.path, info.value.rule) == ("transactions.1", "format")


# ---- ocpp/_schema: Decimals from the ocpp package, nulls, non-finite numbers ---------------


def _request(limit: object, custom: object = None) -> dict[str, Any]:
    profile: dict[str, Any] = _profile(1, 0, [(0, 16.0)])
    profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] = limit
    req: dict[str, Any] = {"evseId": 1, "chargingProfile": profile}
    if custom is not None:
        req["customData"] = custom
    return req


def test_decimal_numbers_deep_in_a_payload_are_read_as_json_numbers() -> None:
    """The ``ocpp`` package hands 1.6 numbers on as ``Decimal``: one inside a period (a dict
    in a list in a list) is read as the JSON number it was, ``Decimal("10.5")`` -> 10.5, and a
    Decimal in vendor customData alone still makes the whole payload plain JSON."""
    # catches: the list walk's `_check_raw(...) or seen` -> `and`; the Mapping recursion
    # negated; customData's `seen or _has_decimal` -> `and`; `_has_decimal` answering False
    from decimal import Decimal

    from smartcharge.ocpp import v201

    raw = _request(Decimal("10.5"))
    raw["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0][
        "startPeriod"] = Decimal("0")  # a strict integer field: only plain JSON passes
    req = v201.parse_set_charging_profile_request(raw)
    period = req.charging_profile.charging_schedule[0].charging_schedule_period[0]
    assert (period.start_period, period.limit) == (0, 10.5)
    assert type(period.start_period) is int
    custom = {"vendorId": "acme", "gain": [{"x": Decimal("2")}, Decimal("0.5")]}
    with_custom = v201.parse_set_charging_profile_request(_request(16.0, custom))
    dumped = with_custom.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["customData"] == {"vendorId": "acme", "gain": [{"x": 2}, 0.5]}
    assert type(dumped["customData"]["gain"][0]["x"]) is int


@pytest.mark.parametrize(("value", "expected"), [
    ("10.5", 10.5), ("60", 60), ("1.0", 1.0), ("1E+1", 10), ("-0.25", -0.25)])
def test_plain_json_reads_a_decimal_as_its_json_text_would(value: str, expected: float) -> None:
    """``Decimal("60")`` (no fraction, or a positive exponent) is an int; anything with a
    fraction digit, even ``1.0``, a float, as ``json.loads`` would read the same text."""
    # catches: `is_finite() and isinstance(exponent, int) and exponent >= 0` -> `or`
    from decimal import Decimal

    from smartcharge.ocpp._schema import plain_json

    got = plain_json(Decimal(value))
    assert got == expected and type(got) is type(expected)


def test_a_null_nested_in_a_payload_names_its_path() -> None:
    """``null`` anywhere (here inside a period) is refused with its JSON path, the schema's
    type rule and TypeConstraintViolation, not left to a less precise pydantic error."""
    # catches: the Mapping recursion of the raw walk negated (nested nulls unchecked)
    from smartcharge.ocpp import v201

    req = _request(16.0)
    period = req["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]
    period["numberPhases"] = None
    with pytest.raises(InvalidPayloadError) as info:
        v201.parse_set_charging_profile_request(req)
    err = info.value
    assert err.path == "chargingProfile.chargingSchedule[0].chargingSchedulePeriod[0].numberPhases"
    assert (err.rule, err.ocpp_error) == ("schema:type", "TypeConstraintViolation")
    assert err.message == "null is not allowed (leave the field out instead)"


@pytest.mark.parametrize("limit", [float("inf"), float("nan")])
def test_a_non_finite_limit_is_a_property_constraint_violation(limit: float) -> None:
    """A NaN or infinite number (possible from Python, not from JSON text) breaks a value rule:
    rule ``value`` and PropertyConstraintViolation at the field's path."""
    # catches: `kind == "finite_number"` -> `!=`; OneDecimal's `allow_inf_nan=False` -> True
    # (the one-decimal validator's own "must be a finite number" would answer instead)
    from smartcharge.ocpp import v201

    with pytest.raises(InvalidPayloadError) as info:
        v201.parse_set_charging_profile_request(_request(limit))
    err = info.value
    assert err.path == "chargingProfile.chargingSchedule[0].chargingSchedulePeriod[0].limit"
    assert (err.rule, err.ocpp_error) == ("value", "PropertyConstraintViolation")
    assert err.message == "Input should be a finite number"  # the type's own rule, first


# ---- ocpp/interop and ocpp/plans ------------------------------------------------------------


def test_only_the_ocpp_packages_own_dataclasses_of_that_version_count_as_ocpp_messages() -> None:
    """A CSMS's own dataclass is not an OCPP message; an ``ocpp.v201.call`` dataclass is one
    for 2.0.1 and not for 1.6."""
    # catches: `module in {call, call_result} and hasattr(...)` -> `or`
    from dataclasses import dataclass

    pytest.importorskip("ocpp")
    from ocpp.v201 import call

    from smartcharge.ocpp.interop import is_ocpp_dataclass

    @dataclass
    class Mine:
        evse_id: int = 1

    assert not is_ocpp_dataclass(Mine(), "2.0.1")
    assert is_ocpp_dataclass(call.ClearChargingProfile(charging_profile_id=3), "2.0.1")
    assert not is_ocpp_dataclass(call.ClearChargingProfile(charging_profile_id=3), "1.6")


def test_camel_payload_of_handler_kwargs_is_plain_camel_case_json() -> None:
    """Handler keyword arguments (snake_case, Decimals, the package's enums, nested lists of
    objects) become the camelCase JSON the station sent: ints stay ints, 16.5 a float, enums
    their values."""
    # catches: `_plain`'s list/tuple branch negated; its enum branch negated
    from decimal import Decimal

    pytest.importorskip("ocpp")
    from ocpp.v201.enums import ChargingRateUnitEnumType

    from smartcharge.ocpp.interop import camel_payload

    kwargs = {"evse_id": Decimal("1"), "charging_profile": {
        "stack_level": 0, "charging_schedule": [{
            "id": 1, "charging_rate_unit": ChargingRateUnitEnumType.amps,
            "charging_schedule_period": [{"start_period": 0, "limit": Decimal("16.5")}]}]}}
    got = camel_payload(kwargs)
    assert got == {"evseId": 1, "chargingProfile": {"stackLevel": 0, "chargingSchedule": [{
        "id": 1, "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5}]}]}}
    unit = got["chargingProfile"]["chargingSchedule"][0]["chargingRateUnit"]
    assert type(unit) is str and type(got["evseId"]) is int


@pytest.mark.parametrize(("ids", "expected"), [
    (["1", "3"], {"1": 1, "3": 3}),          # positive integers: used as they are
    (["0", "1"], {"0": 1, "1": 2}),          # "0" would be the station: positions instead
    (["7", "x"], {"7": 1, "x": 2}),          # one name not a number: positions for all
    (["e1", "e2"], {"e1": 1, "e2": 2}),
])
def test_ocpp_evse_ids_use_positive_integer_ids_else_positions(
    ids: list[str], expected: dict[str, int],
) -> None:
    """An EVSE id is its OCPP evseId only when EVERY id is a positive integer; never 0 (the
    whole station)."""
    # catches: `all(...)` -> `any(...)`; `int(i) > 0` -> `>= 0` or `> 1`
    from smartcharge.ocpp.plans import ocpp_evse_ids
    from smartcharge.optimizer import Problem

    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 1},
        "nodes": [{"id": "grid"}],
        "evses": [{"id": i, "node": "grid", "max_current_a": 16} for i in ids],
        "sessions": []})
    assert ocpp_evse_ids(p) == expected


def test_initial_requests_put_the_fallback_at_stack_0_and_the_plan_at_stack_1() -> None:
    """What ``smartcharge demo`` sends to empty stations: per EVSE a TxDefaultProfile at stack
    level 0 (the offline fallback) and the plan's TxProfiles at stack level 1 above it."""
    # catches: the plan's `stack_level=1` -> 2
    from smartcharge.ocpp.plans import initial_requests, ocpp_evse_ids
    from smartcharge.optimizer import Problem, optimize

    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid", "max_power_w": 11040}],
        "evses": [{"id": "e1", "node": "grid", "max_current_a": 16}],
        "sessions": [{"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T02:00:00Z", "energy_wh": 11040,
                      "transaction_id": "t1"}]})
    reqs = initial_requests(optimize(p), ocpp_evse_ids(p))
    levels = sorted((r["chargingProfile"]["chargingProfilePurpose"],
                     r["chargingProfile"]["stackLevel"]) for r in reqs)
    assert levels == [("TxDefaultProfile", 0), ("TxProfile", 1)]
    assert {r["evseId"] for r in reqs} == {1}
