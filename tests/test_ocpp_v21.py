"""OCPP 2.1 profiles: models, 2.0.1 <-> 2.1 translation, payloads, EVerest 2.1 fixtures."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcharge.errors import InvalidPayloadError, TranslationError
from smartcharge.model import ChargingProfile, OcppModel
from smartcharge.ocpp.v21 import (
    ChargingProfile21,
    OperationMode,
    parse_charging_profile_v21,
    parse_set_charging_profile_request_v21,
    profile_from_v21,
    profile_to_v21,
    set_charging_profile_request_v21,
)
from smartcharge.testing import charging_profiles
from tests.ocpp_schemas import assert_valid, schema


def _profile21(**period: Any) -> dict[str, Any]:
    return {
        "id": 7,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "transactionId": "tx-1",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "startSchedule": "2024-01-01T00:00:00Z",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 11000.0},
                    {"startPeriod": 900, **period},
                ],
            }
        ],
    }


@given(charging_profiles(max_schedules=3))
def test_201_to_21_and_back_is_identity(profile: ChargingProfile) -> None:
    p21 = profile_to_v21(profile)
    assert profile_from_v21(p21) == profile
    payload = set_charging_profile_request_v21(2, p21)
    assert_valid("v21", "SetChargingProfileRequest", payload)
    # the 2.1 JSON of a 2.0.1 profile is the 2.0.1 JSON
    assert payload["chargingProfile"] == profile.to_json_dict()
    assert parse_set_charging_profile_request_v21(payload).charging_profile == p21


def test_v2x_period_round_trips_through_json_with_exact_names() -> None:
    raw = _profile21(
        limit=7000.0,
        limit_L2=7000.0,
        limit_L3=6000.0,
        dischargeLimit=-5000.0,
        dischargeLimit_L2=-5000.0,
        dischargeLimit_L3=-4000.0,
        setpoint=-3000.0,
        setpoint_L2=-3000.0,
        setpoint_L3=-2000.0,
        setpointReactive=100.0,
        operationMode="CentralSetpoint",
        v2xFreqWattCurve=[{"frequency": 49.8, "power": 1000.0}],
    )
    p21 = parse_charging_profile_v21(raw)
    period = p21.charging_schedule[0].charging_schedule_period[1]
    assert period.limit_l3 == 6000.0
    assert period.discharge_limit_l2 == -5000.0
    assert period.setpoint_l3 == -2000.0
    assert period.operation_mode is OperationMode.CentralSetpoint
    assert p21.to_json_dict() == raw
    assert hash(p21) == hash(parse_charging_profile_v21(raw))
    assert_valid("v21", "SetChargingProfileRequest", set_charging_profile_request_v21(1, p21))


@pytest.mark.parametrize(
    ("period", "path", "rule"),
    [
        ({"startPeriod": 0, "limit": 1.0, "dischargeLimit": 1.0}, "dischargeLimit", "maximum"),
        ({"startPeriod": 0, "limit": 1.0, "numberPhases": 4}, "numberPhases", "maximum"),
        ({"startPeriod": 0, "operationMode": "Boost"}, "operationMode", "enum"),
        ({"startPeriod": 0, "limit_l2": 3.0}, "limit_l2", "additionalProperties"),
        ({"startPeriod": 0, "v2xSignalWattCurve": []}, "v2xSignalWattCurve", "minItems"),
    ],
)
def test_schema_rules_name_the_path(period: dict[str, Any], path: str, rule: str) -> None:
    raw = _profile21()
    raw["chargingSchedule"][0]["chargingSchedulePeriod"] = [period]
    with pytest.raises(InvalidPayloadError) as info:
        parse_charging_profile_v21(raw)
    assert info.value.path == f"chargingSchedule[0].chargingSchedulePeriod[0].{path}"
    assert info.value.rule is not None and info.value.rule.endswith(rule)


@pytest.mark.parametrize(
    ("period", "field", "says"),
    [
        ({"limit": 7000.0, "setpoint": 2000.0}, "setpoint", "setpoint"),
        ({"limit": 7000.0, "dischargeLimit": -1.0}, "dischargeLimit", "discharging"),
        ({"limit": 7000.0, "operationMode": "Idle"}, "operationMode", "Idle"),
        ({"limit": 7000.0, "limit_L2": 7000.0}, "limit_L2", "per-phase"),
        ({"limit": 7000.0, "dischargeLimit_L3": -1.0}, "dischargeLimit_L3", "per-phase"),
        ({"limit": 7000.0, "setpointReactive": 5.0}, "setpointReactive", "reactive"),
        ({"operationMode": "ChargingOnly"}, "limit", "without a limit"),
        ({"limit": -100.0}, "limit", "negative"),
        ({"limit": 7000.05}, "limit", "digit fraction"),
        ({"limit": 7000.0, "numberPhases": 0}, "numberPhases", "1..3"),
        ({"limit": 7000.0, "evseSleep": True}, "evseSleep", "sleep"),
    ],
)
def test_what_201_cannot_express_is_a_translation_error(
    period: dict[str, Any], field: str, says: str
) -> None:
    p21 = parse_charging_profile_v21(_profile21(**period))
    with pytest.raises(TranslationError) as info:
        profile_from_v21(p21, path="chargingProfile")
    err = info.value
    assert err.path == f"chargingProfile.chargingSchedule[0].chargingSchedulePeriod[1].{field}"
    assert err.rule == "v2.0.1"
    assert says in err.message


def test_201_defaults_written_in_21_translate() -> None:
    """Values that mean what 2.0.1 already does translate: ChargingOnly, dischargeLimit 0."""
    raw = _profile21(
        limit=7000.0, operationMode="ChargingOnly", dischargeLimit=0.0, evseSleep=False
    )
    raw["chargingSchedule"][0]["useLocalTime"] = False
    raw["chargingSchedule"][0]["randomizedDelay"] = 0
    raw["invalidAfterOfflineDuration"] = False
    p201 = profile_from_v21(parse_charging_profile_v21(raw))
    assert p201.charging_schedule[0].charging_schedule_period[1].limit == 7000.0


@pytest.mark.parametrize(
    ("where", "value", "path"),
    [
        ("profile", {"chargingProfilePurpose": "PriorityCharging"}, "chargingProfilePurpose"),
        ("profile", {"chargingProfileKind": "Dynamic"}, "chargingProfileKind"),
        ("profile", {"maxOfflineDuration": 60}, "maxOfflineDuration"),
        ("profile", {"dynUpdateInterval": 60}, "dynUpdateInterval"),
        ("schedule", {"useLocalTime": True}, "chargingSchedule[0].useLocalTime"),
        ("schedule", {"randomizedDelay": 30}, "chargingSchedule[0].randomizedDelay"),
        ("schedule", {"limitAtSoC": {"soc": 80, "limit": 10.0}}, "chargingSchedule[0].limitAtSoC"),
        ("schedule", {"powerTolerance": 5.0}, "chargingSchedule[0].powerTolerance"),
    ],
)
def test_21_only_profile_fields_are_translation_errors(
    where: str, value: dict[str, Any], path: str
) -> None:
    raw = _profile21(limit=1.0)
    (raw if where == "profile" else raw["chargingSchedule"][0]).update(value)
    with pytest.raises(TranslationError) as info:
        profile_from_v21(parse_charging_profile_v21(raw))
    assert info.value.path == path


def test_evse_id_must_be_non_negative() -> None:
    p21 = parse_charging_profile_v21(_profile21(limit=1.0))
    with pytest.raises(InvalidPayloadError) as info:
        set_charging_profile_request_v21(-1, p21)
    assert info.value.path == "evseId"


@given(st.sampled_from([-7000.0, -0.5, 0.0, 250.0]), st.sampled_from(list(OperationMode)))
def test_any_setpoint_and_mode_is_schema_valid(setpoint: float, mode: OperationMode) -> None:
    p21 = parse_charging_profile_v21(
        _profile21(limit=7000.0, dischargeLimit=-7000.0, setpoint=setpoint, operationMode=mode)
    )
    assert_valid("v21", "SetChargingProfileRequest", set_charging_profile_request_v21(0, p21))


# --------------------------------------------------------------------------------------------
# EVerest 2.1 fixtures
# --------------------------------------------------------------------------------------------

_V21 = "conformance/everest/v21/json"


def _fixtures(shared: Path) -> list[Path]:
    files = sorted((shared / _V21).rglob("*.json"))
    assert files, "the EVerest 2.1 fixtures are missing"
    return files


def test_every_everest_v21_fixture_parses_and_round_trips(shared_dir: Path) -> None:
    translatable = 0
    for file in _fixtures(shared_dir):
        raw = json.loads(file.read_text(encoding="utf-8"))
        p21 = parse_charging_profile_v21(raw)
        assert isinstance(p21, ChargingProfile21)
        again = parse_charging_profile_v21(p21.to_json_dict())
        assert again == p21, file
        assert_valid(
            "v21", "SetChargingProfileRequest", set_charging_profile_request_v21(1, p21)
        )
        try:
            p201 = profile_from_v21(p21)
        except TranslationError as err:
            assert err.path is not None and err.rule == "v2.0.1", file
            periods = [
                period for s in raw["chargingSchedule"] for period in s["chargingSchedulePeriod"]
            ]
            v2x = {
                "setpoint",
                "setpoint_L2",
                "setpoint_L3",
                "limit_L2",
                "limit_L3",
                "dischargeLimit",
            }
            assert any(v2x & set(p) for p in periods) or any(
                p.get("operationMode", "ChargingOnly") != "ChargingOnly" or "limit" not in p
                for p in periods
            ), (file, err)
        else:
            translatable += 1
            assert profile_to_v21(p201).to_json_dict().keys() <= raw.keys()
    assert translatable >= 5  # the plain (2.0.1-expressible) fixtures, e.g. stack/, max/0/


def test_everest_setpoint_fixture_values(shared_dir: Path) -> None:
    raw = json.loads((shared_dir / _V21 / "setpoints/TxProfile_1.json").read_text())
    period = parse_charging_profile_v21(raw).charging_schedule[0].charging_schedule_period[0]
    assert (period.limit, period.discharge_limit, period.setpoint) == (1500.0, -2000.0, 1800.0)
    assert period.operation_mode is OperationMode.CentralSetpoint
    with pytest.raises(TranslationError, match=r"dischargeLimit|setpoint"):
        profile_from_v21(parse_charging_profile_v21(raw))


def test_model_fields_are_the_21_schema_properties() -> None:
    from smartcharge.ocpp import v21
    from tests.ocpp_schemas import schema

    definitions = schema("v21", "SetChargingProfileRequest")["definitions"]
    pairs: list[tuple[type[OcppModel], str]] = [
        (v21.ChargingProfile21, "ChargingProfileType"),
        (v21.ChargingSchedule21, "ChargingScheduleType"),
        (v21.ChargingSchedulePeriod21, "ChargingSchedulePeriodType"),
        (v21.LimitAtSoC, "LimitAtSoCType"),
        (v21.V2XFreqWattPoint, "V2XFreqWattPointType"),
        (v21.V2XSignalWattPoint, "V2XSignalWattPointType"),
    ]
    unmodelled = {"absolutePriceSchedule", "priceLevelSchedule"}  # documented
    for model, name in pairs:
        aliases = {f.alias for f in model.model_fields.values()}
        assert aliases == set(definitions[name]["properties"]) - unmodelled, name
    modes = definitions["OperationModeEnumType"]["enum"]
    assert [m.value for m in OperationMode] == modes


# --------------------------------------------------------------------------------------------
# Optimizer plans as 2.1 profiles
# --------------------------------------------------------------------------------------------


def _v2x_problem() -> Any:
    from smartcharge.optimizer import Problem

    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 3},
        "nodes": [{"id": "grid", "max_power_w": 10000.0}],
        "evses": [{"id": "e1", "node": "grid", "max_current_a": 16.0, "min_current_a": 0.0},
                  {"id": "e2", "node": "grid", "max_current_a": 16.0, "min_current_a": 0.0}],
        "sessions": [
            {"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
             "departure": "2024-01-01T03:00:00Z", "energy_wh": 5000.0,
             "max_discharge_w": 5000.0, "discharge_floor_wh": 3000.0,
             "transaction_id": "tx-1"},
            {"id": "s2", "evse": "e2", "arrival": "2024-01-01T01:00:00Z",
             "departure": "2024-01-01T03:00:00Z", "energy_wh": 4000.0,
             "transaction_id": "tx-2"},
        ],
        "tariff": {"price": [0.5, 0.1, 0.1], "site_load_w": [12000.0, 0.0, 0.0]},
    })


@pytest.mark.parametrize("unit", ["W", "A"])
def test_plan_discharge_becomes_a_central_setpoint(unit: Literal["A", "W"]) -> None:
    from smartcharge.ocpp.v21 import plan_to_v21_profiles
    from smartcharge.optimizer import optimize

    plan = optimize(_v2x_problem(), time_limit_s=30)
    assert plan.session_power_w[0, 0] == pytest.approx(-3000.0, rel=1e-6)  # the floor
    p201 = plan.to_charging_profiles(unit)
    p21 = plan_to_v21_profiles(plan, unit)
    assert [(x.evse_id, x.session_id) for x in p21] == [(x.evse_id, x.session_id) for x in p201]
    wpa = 3 * 230.0 if unit == "A" else 1.0
    for old, new in zip(p201, p21, strict=True):
        payload = set_charging_profile_request_v21(1, new.profile)
        assert_valid("v21", "SetChargingProfileRequest", payload)
        s = plan.session_ids.index(new.session_id)
        periods = new.profile.charging_schedule[0].charging_schedule_period
        if not old.lossy_steps:
            assert new.profile == profile_to_v21(old.profile)
            continue
        assert old.lossy_steps == (0,)
        first = periods[0]
        assert first.operation_mode is OperationMode.CentralSetpoint
        assert first.limit == 0.0
        assert first.setpoint is not None and first.setpoint < 0
        assert first.discharge_limit == first.setpoint
        # never more discharge than planned, by less than the 0.1 rounding
        planned = plan.session_power_w[s, 0] / wpa
        assert planned <= first.setpoint < planned + 0.1 + 1e-9
        # the charging periods are the 2.0.1 ones
        rest = [(p.start_period, p.limit) for p in periods[1:]]
        old_periods = old.profile.charging_schedule[0].charging_schedule_period
        assert rest == [(p.start_period, p.limit) for p in old_periods[1:]]
        with pytest.raises(TranslationError) as info:
            profile_from_v21(new.profile)
        assert info.value.path == "chargingSchedule[0].chargingSchedulePeriod[0].setpoint"


# --------------------------------------------------------------------------------------------
# Payloads drawn from the official 2.1 schema
# --------------------------------------------------------------------------------------------


# the schema-to-strategy walker of the 2.0.1/1.6 fuzz tests (imported at run time: that
# module imports ``ocpp_schemas`` by its bare name, which mypy would see twice)
_FUZZ: Any = importlib.import_module("tests.test_ocpp_fuzz")


def _v21_request_schema() -> dict[str, Any]:
    """The official 2.1 SetChargingProfileRequest schema, with the value rules the models add
    (``startPeriod``, ``duration``, ``start`` >= 0, ``amountMultiplier`` in -3..3, non-null
    vendor values; the same as for 2.0.1), without the two ISO 15118-20
    price schedules the models leave out, and arrays capped for generation."""
    sch: dict[str, Any] = _FUZZ._tighten(
        json.loads(json.dumps(schema("v21", "SetChargingProfileRequest"))),
        {
            "startPeriod": {"minimum": 0},
            "duration": {"minimum": 0},
            "start": {"minimum": 0},
            "amountMultiplier": {"minimum": -3, "maximum": 3},
        },
    )
    defs = sch["definitions"]
    for name in ("absolutePriceSchedule", "priceLevelSchedule"):
        del defs["ChargingScheduleType"]["properties"][name]
    defs["CustomDataType"]["additionalProperties"] = {"type": ["string", "integer", "boolean"]}

    def cap(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: cap(v) for k, v in node.items()}
            if out.get("type") == "array":
                out["maxItems"] = min(out.get("maxItems", 3), 3)
            return out
        if isinstance(node, list):
            return [cap(v) for v in node]
        return node

    result: dict[str, Any] = cap(sch)
    return result


_V21_REQUESTS = _FUZZ.from_schema(_v21_request_schema())


@given(st.data())
def test_schema_drawn_21_payloads_parse_round_trip_and_translate_or_say_why(
    data: st.DataObject,
) -> None:
    payload = data.draw(_V21_REQUESTS)
    assert_valid("v21", "SetChargingProfileRequest", payload)
    request = parse_set_charging_profile_request_v21(payload)
    out = set_charging_profile_request_v21(
        request.evse_id, request.charging_profile, custom_data=request.custom_data
    )
    assert_valid("v21", "SetChargingProfileRequest", out)
    assert parse_set_charging_profile_request_v21(out) == request
    p21 = request.charging_profile
    try:
        p201 = profile_from_v21(p21, path="chargingProfile")
    except TranslationError as err:
        assert err.rule == "v2.0.1" and err.path is not None
        assert err.path.startswith("chargingProfile.")
    else:
        back = profile_to_v21(p201)
        assert back.charging_schedule[0].charging_schedule_period[0].limit == (
            p21.charging_schedule[0].charging_schedule_period[0].limit
        )
        assert_valid("v201", "SetChargingProfileRequest",
                     {"evseId": 0, "chargingProfile": p201.to_json_dict()})


def test_a_201_sales_tariff_with_a_negative_id_cannot_be_21() -> None:
    raw = {
        "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [{
            "id": 1, "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
            "salesTariff": {"id": -1, "salesTariffEntry": [
                {"relativeTimeInterval": {"start": 0}}]},
        }],
    }
    with pytest.raises(TranslationError) as info:
        profile_to_v21(ChargingProfile.model_validate(raw))
    assert info.value.path == "chargingSchedule[0].salesTariff"
    assert info.value.rule == "v2.1"
