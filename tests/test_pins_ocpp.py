"""OCPP-layer behaviours no other test pinned down (issue 13): one test each, named for it.

Each fails on the planted one-line bug listed beside it in docs/testing.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import pytest

from smartcharge.model import ChargingProfile, ChargingRateUnit, ChargingSchedulePeriod
from smartcharge.model import CompositeSchedule as Composite
from smartcharge.ocpp import v16, v201
from smartcharge.ocpp.reconcile import reconcile
from smartcharge.ocpp.v201 import ClearChargingProfileRequest, SetChargingProfileRequest
from smartcharge.station import ChargingStation
from smartcharge.validation import EVSEInfo, StationContext

NOW = datetime(2025, 1, 1, 8, tzinfo=timezone.utc)


def _tx(pid: int, tid: str, amps: float = 16.0) -> ChargingProfile:
    return ChargingProfile.model_validate({
        "id": pid, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute", "transactionId": tid,
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                              "startSchedule": "2025-01-01T08:00:00Z",
                              "chargingSchedulePeriod": [
                                  {"startPeriod": 0, "limit": amps, "numberPhases": 3}]}],
    })


# ---- reconcile: profiles that differ only in transactionId -------------------------------


@pytest.mark.parametrize("compare", ["effect", "content"])
def test_reconcile_profiles_differing_only_in_transaction_id_are_cleared_and_set(
    compare: Literal["effect", "content"],
) -> None:
    """Installed: TxProfile 5 of transaction A. Desired: the same limits as TxProfile 6 of
    transaction B (A ended, B started). A TxProfile of another transaction is not the same
    profile: clear 5, set 6 -- not "nothing changed"."""
    ctx = StationContext(evses={1: EVSEInfo()}, transactions={1: ("B", NOW)})
    msgs = reconcile({1: [_tx(5, "A")]}, {1: [_tx(6, "B")]}, now=NOW, context=ctx,
                     compare=compare)
    assert msgs == [ClearChargingProfileRequest(charging_profile_id=5),
                    SetChargingProfileRequest(evse_id=1, charging_profile=_tx(6, "B"))]


@pytest.mark.parametrize("compare", ["effect", "content"])
def test_reconcile_same_id_other_transaction_id_is_replaced(
    compare: Literal["effect", "content"],
) -> None:
    ctx = StationContext(evses={1: EVSEInfo()}, transactions={1: ("B", NOW)})
    msgs = reconcile({1: [_tx(5, "A")]}, {1: [_tx(5, "B")]}, now=NOW, context=ctx,
                     compare=compare)
    assert msgs == [SetChargingProfileRequest(evse_id=1, charging_profile=_tx(5, "B"))]


def test_reconcile_on_a_station_after_a_new_transaction_sends_the_new_tx_profile() -> None:
    """On a station mirror: transaction A ends (its TxProfile goes with it) and B starts on
    another EVSE. The desired TxProfile for B (same limits as A's had) must be sent."""
    station = ChargingStation(2)
    station.start_transaction(1, "A", NOW - timedelta(minutes=10))
    assert station.set_charging_profile(1, _tx(5, "A"), NOW).accepted
    station.start_transaction(2, "B", NOW)
    msgs = reconcile(station, {1: [_tx(5, "A")], 2: [_tx(6, "B")]}, now=NOW)
    assert msgs == [SetChargingProfileRequest(evse_id=2, charging_profile=_tx(6, "B"))]


# ---- v201: GetChargingProfilesRequest carries the stackLevel -----------------------------


@pytest.mark.parametrize("level", [0, 3])
def test_get_charging_profiles_request_carries_the_stack_level(level: int) -> None:
    payload = v201.get_charging_profiles_request(7, evse_id=1, stack_level=level)
    assert payload == {"requestId": 7, "evseId": 1, "chargingProfile": {"stackLevel": level}}
    full = v201.get_charging_profiles_request(
        8, purpose="TxProfile", stack_level=level, profile_ids=[4], limit_sources=["EMS"]
    )
    assert full["chargingProfile"] == {
        "chargingProfilePurpose": "TxProfile", "stackLevel": level,
        "chargingProfileId": [4], "chargingLimitSource": ["EMS"],
    }
    none = v201.get_charging_profiles_request(9)
    assert none == {"requestId": 9, "chargingProfile": {}}


# ---- v16: GetCompositeSchedule.conf whose scheduleStart and startSchedule differ ----------


def test_v16_composite_answer_periods_start_at_schedule_start_not_start_schedule() -> None:
    """1.6: the composite's periods are relative to ``scheduleStart``. A station that also
    fills ``chargingSchedule.startSchedule`` (here an hour earlier) does not move them."""
    conf: dict[str, Any] = {
        "status": "Accepted", "connectorId": 1, "scheduleStart": "2025-01-01T08:00:00Z",
        "chargingSchedule": {"duration": 900, "startSchedule": "2025-01-01T07:00:00Z",
                             "chargingRateUnit": "A",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}]},
    }
    got = v16.parse_get_composite_schedule_response(conf)
    assert got.schedule == Composite(
        evse_id=1, duration=900, schedule_start=NOW, charging_rate_unit=ChargingRateUnit.A,
        charging_schedule_period=(ChargingSchedulePeriod(start_period=0, limit=32.0),),
    )
    # with startSchedule alone, that is the start
    del conf["scheduleStart"]
    alone = v16.parse_get_composite_schedule_response(conf)
    assert alone.schedule is not None
    assert alone.schedule.schedule_start == NOW - timedelta(hours=1)


@pytest.mark.parametrize("key", [-1, True, "1"])
def test_reconcile_rejects_a_bad_evse_key_of_the_installed_mapping(key: object) -> None:
    from smartcharge.errors import InvalidPayloadError

    with pytest.raises(InvalidPayloadError) as err:
        reconcile({key: []}, {})  # type: ignore[dict-item]
    assert err.value.path == f"current[{key!r}]"


def test_dc_energy_need_of_a_full_battery_is_zero_not_negative() -> None:
    """State of charge at (or above) fullSoC: nothing to charge, 0 Wh."""
    for soc in (80, 95):
        dc = {"evMaxCurrent": 100, "evMaxVoltage": 400, "evEnergyCapacity": 60000,
              "stateOfCharge": soc, "fullSoC": 80}
        need = v201.energy_need({"evseId": 1, "chargingNeeds": {
            "requestedEnergyTransfer": "DC", "dcChargingParameters": dc}})
        assert need.energy_amount == 0.0


def test_composite_response_with_a_zero_duration_schedule_is_valid() -> None:
    """duration 0 is a valid composite (the period in force at the start); < 0 is not."""
    from smartcharge.errors import InvalidPayloadError

    payload = {"status": "Accepted", "schedule": {
        "evseId": 1, "duration": 0, "scheduleStart": "2025-01-01T08:00:00Z",
        "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}}
    got = v201.GetCompositeScheduleResponse.model_validate(payload)
    assert got.schedule is not None and got.schedule.duration == 0
    with pytest.raises((InvalidPayloadError, ValueError)):
        v201.GetCompositeScheduleResponse.model_validate(
            {**payload, "schedule": {**payload["schedule"], "duration": -1}})


def test_a_received_composite_response_with_duration_0_passes_the_value_rules() -> None:
    """v201.parse runs the message's own value rules after the schema (check_rules): a
    zero-length composite (the period in force at scheduleStart) is accepted there too."""
    payload = {"status": "Accepted", "schedule": {
        "evseId": 1, "duration": 0, "scheduleStart": "2025-01-01T08:00:00Z",
        "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}}
    got = v201.parse("GetCompositeScheduleResponse", payload)
    assert isinstance(got, v201.GetCompositeScheduleResponse)
    assert got.schedule is not None and got.schedule.duration == 0


def test_fallback_profiles_default_to_stack_level_0_and_evse_ids_from_1() -> None:
    """Without ``evse_ids`` the OCPP evseIds are the positions in the problem from 1 (the
    profile ids say so); without ``stack_level`` the profiles sit at stackLevel 0, below
    any TxDefaultProfile the CSMS stacks above them."""
    from smartcharge.ocpp.fallback import fallback_profiles
    from smartcharge.ocpp.reconcile import stable_profile_id
    from smartcharge.optimizer import Problem

    site = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 4},
        "nodes": [{"id": "grid", "max_current_a": 32}],
        "evses": [{"id": "a", "node": "grid", "max_current_a": 32},
                  {"id": "b", "node": "grid", "max_current_a": 32}]})
    got = fallback_profiles(site)
    assert [(p.id, p.stack_level) for p in got.values()] == [
        (stable_profile_id(1, "TxDefaultProfile"), 0),
        (stable_profile_id(2, "TxDefaultProfile"), 0)]


def test_fallback_share_0_gives_each_evse_its_own_minimum_or_nothing() -> None:
    """share_a = 0 is allowed (">= 0"): an EVSE gets max(0, its minimum), rounded up to
    0.1 A -- 6.25 A -> 6.3 A; an EVSE without a minimum gets 0."""
    from smartcharge.ocpp.fallback import fallback_currents
    from smartcharge.optimizer import Problem

    site = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 4},
        "nodes": [{"id": "grid", "max_current_a": 32}],
        "evses": [{"id": "a", "node": "grid", "max_current_a": 32, "min_current_a": 6.25},
                  {"id": "b", "node": "grid", "max_current_a": 32, "min_current_a": 0.0}]})
    assert fallback_currents(site, share_a=0) == {"a": 6.3, "b": 0.0}
    assert fallback_currents(site, share_a=0.0) == {"a": 6.3, "b": 0.0}


# ---- OCPP 2.1: the schema's integers and minimums ------------------------------------------


def _v21_profile(period: dict[str, Any], **schedule: Any) -> dict[str, Any]:
    return {
        "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                              "chargingSchedulePeriod": [period], **schedule}],
    }


def test_v21_sales_tariff_id_0_and_0_price_levels_are_valid() -> None:
    """2.1 gives salesTariff.id and numEPriceLevels a minimum of 0: 0 itself is allowed
    (from a 2.0.1 profile as well as parsed), -1 is not."""
    from smartcharge.errors import InvalidPayloadError
    from smartcharge.ocpp.v21 import parse_charging_profile_v21, profile_to_v21

    tariff = {"id": 0, "numEPriceLevels": 0,
              "salesTariffEntry": [{"relativeTimeInterval": {"start": 0}}]}
    raw = _v21_profile({"startPeriod": 0, "limit": 16.0}, salesTariff=tariff)
    p21 = parse_charging_profile_v21(raw)
    sched = p21.charging_schedule[0]
    assert sched.sales_tariff is not None and sched.sales_tariff.id == 0
    assert profile_to_v21(ChargingProfile.model_validate(raw)) == p21
    with pytest.raises(InvalidPayloadError):
        parse_charging_profile_v21(
            _v21_profile({"startPeriod": 0, "limit": 16.0},
                         salesTariff={**tariff, "numEPriceLevels": -1}))


@pytest.mark.parametrize("phases", ["3", 3.0, True])
def test_v21_number_phases_must_be_a_json_integer(phases: object) -> None:
    """numberPhases is an integer in the 2.1 schema: "3", 3.0 or true are rejected, not
    coerced."""
    from smartcharge.errors import InvalidPayloadError
    from smartcharge.ocpp.v21 import parse_charging_profile_v21

    ok = parse_charging_profile_v21(_v21_profile({"startPeriod": 0, "limit": 16.0,
                                                  "numberPhases": 3}))
    assert ok.charging_schedule[0].charging_schedule_period[0].number_phases == 3
    with pytest.raises(InvalidPayloadError) as err:
        parse_charging_profile_v21(_v21_profile({"startPeriod": 0, "limit": 16.0,
                                                 "numberPhases": phases}))
    assert "numberPhases" in (err.value.path or "")


def test_v21_min_charging_rate_0_translates_to_201() -> None:
    """minChargingRate >= 0 with one decimal is 2.0.1's rule too: 0 translates, -0.1 and
    6.05 do not."""
    from smartcharge.errors import TranslationError
    from smartcharge.ocpp.v21 import parse_charging_profile_v21, profile_from_v21

    p = profile_from_v21(parse_charging_profile_v21(
        _v21_profile({"startPeriod": 0, "limit": 16.0}, minChargingRate=0.0)))
    assert p.charging_schedule[0].min_charging_rate == 0.0
    for bad in (-0.1, 6.05):
        with pytest.raises(TranslationError):
            profile_from_v21(parse_charging_profile_v21(
                _v21_profile({"startPeriod": 0, "limit": 16.0}, minChargingRate=bad)))


def test_v21_station_total_sums_the_evse_limits_from_zero() -> None:
    """OCPP 2.1 composite of EVSE 0: the EVSEs' limits summed (EVerest's
    merge_profiles_by_summing_limits), 10 A + 6 A = 16 A, with and without numberPhases."""
    from smartcharge.ocpp.composite21 import composite_schedule_v21
    from smartcharge.ocpp.v21 import parse_charging_profile_v21

    def default(pid: int, amps: float, phases: int | None) -> Any:
        per: dict[str, Any] = {"startPeriod": 0, "limit": amps}
        if phases is not None:
            per["numberPhases"] = phases
        return parse_charging_profile_v21({
            "id": pid, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute", "chargingSchedule": [{
                "id": 1, "chargingRateUnit": "A", "startSchedule": NOW.isoformat(),
                "chargingSchedulePeriod": [per]}]})

    for phases in (None, 1, 3):
        c = composite_schedule_v21({1: [default(1, 10.0, phases)],
                                    2: [default(2, 6.0, phases)]}, 0, NOW, 600, "A")
        assert [(q.start_period, q.limit) for q in c.charging_schedule_period] == [(0, 16.0)]


@pytest.mark.parametrize(("unit", "one", "two", "total"), [
    ("W", (3000.0, 2000.0, 1000.0), (1000.0, 1000.0, 1000.0), (4000.0, 3000.0, 2000.0)),
    ("A", (10.0, 8.0, 6.0), (6.0, 6.0, 6.0), (16.0, 14.0, 12.0)),
])
def test_v21_station_total_sums_per_phase_limits_line_by_line(
    unit: str, one: tuple[float, float, float], two: tuple[float, float, float],
    total: tuple[float, float, float],
) -> None:
    """2.1 per-phase limits (limit, limit_L2, limit_L3) of two EVSEs: EVSE 0's composite
    sums them line by line."""
    from smartcharge.ocpp.composite21 import composite_schedule_v21
    from smartcharge.ocpp.v21 import parse_charging_profile_v21

    def default(pid: int, lim: tuple[float, float, float]) -> Any:
        return parse_charging_profile_v21({
            "id": pid, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute", "chargingSchedule": [{
                "id": 1, "chargingRateUnit": unit, "startSchedule": NOW.isoformat(),
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": lim[0],
                                            "limit_L2": lim[1], "limit_L3": lim[2]}]}]})

    c = composite_schedule_v21({1: [default(1, one)], 2: [default(2, two)]}, 0, NOW, 600,
                               unit)
    q = c.charging_schedule_period[0]
    assert (q.limit, q.limit_l2, q.limit_l3) == total


# ---- round 3: reconcile, v201, v16 top-up samples ---------------------------------------


def test_stable_profile_ids_follow_the_documented_formula_and_fit_32_bits() -> None:
    """purpose x 10**8 + layer x 10**7 + evse x 100 + slot: TxProfile (3) on EVSE 7 is
    300,000,700; TxDefaultProfile (2), layer 1, EVSE 7, slot 1 is 210,000,701; the largest
    (TxProfile, layer 9, EVSE 99,999, slot 99) is 399,999,999, below 2**31."""
    from smartcharge.ocpp.reconcile import stable_profile_id

    assert stable_profile_id(7, "TxProfile") == 300_000_700
    assert stable_profile_id(7, "TxDefaultProfile", 1, layer=1) == 210_000_701
    assert stable_profile_id(0, "ChargingStationMaxProfile") == 100_000_000
    top = stable_profile_id(99_999, "TxProfile", 99, layer=9)
    assert top == 399_999_999 < 2**31


def test_a_dc_ev_with_nothing_left_to_charge_is_a_zero_need_not_an_error() -> None:
    """A full battery reports ``energyAmount`` 0 (and may report ``evMaxPower`` 0): both
    are >= 0, so the need is 0 Wh at 0 W, not a rejected request; -1 is rejected."""
    from smartcharge.errors import InvalidPayloadError

    def need(**dc: Any) -> Any:
        return v201.energy_need({"evseId": 3, "chargingNeeds": {
            "requestedEnergyTransfer": "DC", "dcChargingParameters": {
                "evMaxCurrent": 100, "evMaxVoltage": 400, **dc}}})

    got = need(energyAmount=0, evMaxPower=0)
    assert (got.energy_amount, got.min_rate, got.max_rate) == (0.0, 0.0, 0.0)
    with pytest.raises(InvalidPayloadError) as err:
        need(energyAmount=-1)
    assert err.value.path == "chargingNeeds.dcChargingParameters.energyAmount"


def test_to_ocpp_takes_an_action_and_its_payload_and_refuses_an_action_alone() -> None:
    """``to_ocpp("SetChargingProfileResponse", payload)`` builds the ``ocpp`` package's
    call result; the action without a payload is a FormationViolation naming ``action``."""
    from smartcharge.errors import InvalidPayloadError

    call = v201.to_ocpp("SetChargingProfileResponse", {"status": "Accepted"})
    assert type(call).__module__ == "ocpp.v201.call_result" and call.status == "Accepted"
    with pytest.raises(InvalidPayloadError) as err:
        v201.to_ocpp("SetChargingProfileResponse")
    assert (err.value.path, err.value.rule, err.value.ocpp_error) == (
        "action", "interop", "FormationViolation")


def test_v16_composite_answer_without_a_schedule_is_rejected_unless_told_otherwise() -> None:
    """No schedule: ``status`` defaults to Rejected; a status given is kept as given."""
    assert v16.get_composite_schedule_response(None) == {"status": "Rejected"}
    assert v16.get_composite_schedule_response(None, status="Accepted") == {
        "status": "Accepted"}


def test_v16_to_ocpp_takes_an_action_and_its_payload_and_refuses_an_action_alone() -> None:
    """``to_ocpp("SetChargingProfile", payload)`` builds the ``ocpp`` package's 1.6 call;
    the action without a payload is a FormationViolation naming ``action``."""
    from smartcharge.errors import InvalidPayloadError

    call = v16.to_ocpp("ClearChargingProfile", {"id": 7})
    assert type(call).__module__ == "ocpp.v16.call" and call.id == 7
    with pytest.raises(InvalidPayloadError) as err:
        v16.to_ocpp("ClearChargingProfile")
    assert (err.value.path, err.value.rule, err.value.ocpp_error) == (
        "action", "interop", "FormationViolation")
