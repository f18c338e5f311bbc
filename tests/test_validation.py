"""K01 SetChargingProfile validation: one test per rule, plus properties."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from ocpp_schemas import assert_valid

from smartcharge.errors import InvalidPayloadError, SmartChargeError
from smartcharge.model import (
    ChargingLimitSource,
    ChargingProfile,
    ChargingProfilePurpose,
    ChargingProfileStatus,
    ChargingRateUnit,
)
from smartcharge.validation import (
    ADDITIONAL_INFO_MAX,
    REASON_CODE_MAX,
    EVSEInfo,
    ProfileRejection,
    StationContext,
    ValidationResult,
    conform_profile,
    validate_profile,
)

R = ProfileRejection
NOW = datetime(2024, 1, 1, 10, 5, tzinfo=timezone.utc)
TX = "f1522902-1170-416f-8e43-9e3bce28fde7"


def profile(**changes: Any) -> ChargingProfile:
    """A valid TxDefaultProfile (Absolute, A), with JSON-level changes applied."""
    d: dict[str, Any] = {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "startSchedule": "2024-01-01T00:00:00Z",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0},
                    {"startPeriod": 600, "limit": 10.0},
                    {"startPeriod": 1200, "limit": 8.0},
                    {"startPeriod": 1800, "limit": 6.0},
                ],
            }
        ],
    }
    sched = changes.pop("schedule", None)
    periods = changes.pop("periods", None)
    d.update(changes)
    d = {k: v for k, v in d.items() if v is not None}
    if sched is not None:
        d["chargingSchedule"][0].update(sched)
        d["chargingSchedule"][0] = {
            k: v for k, v in d["chargingSchedule"][0].items() if v is not None
        }
    if periods is not None:
        d["chargingSchedule"][0]["chargingSchedulePeriod"] = periods
    return ChargingProfile.model_validate(d)


def tx_profile(**changes: Any) -> ChargingProfile:
    base: dict[str, Any] = {"chargingProfilePurpose": "TxProfile", "transactionId": TX}
    base.update(changes)
    return profile(**base)


def ctx(**kw: Any) -> StationContext:
    kw.setdefault("evses", {1: EVSEInfo(), 2: EVSEInfo()})
    return StationContext(**kw)


def check(
    evse_id: int, p: ChargingProfile, c: StationContext, reason: ProfileRejection | None
) -> ValidationResult:
    r = validate_profile(evse_id, p, c, now=NOW)
    assert r.reason is reason, r.message
    if reason is None:
        assert r.status is ChargingProfileStatus.Accepted
        assert r.accepted
        assert r.to_json_dict() == {"status": "Accepted"}
    else:
        assert r.status is ChargingProfileStatus.Rejected
        assert not r.accepted
        assert r.rule == reason.rule
        assert r.rule in r.message
        if r.path:
            assert r.message.startswith(r.path + ": ")
    return r


# ----------------------------------------------------------------------------- accepted


def test_valid_tx_default_profile_on_station_and_evse() -> None:
    check(0, profile(), ctx(), None)
    check(1, profile(), ctx(), None)


def test_valid_tx_profile_with_running_transaction() -> None:
    c = ctx(transactions={1: (TX, NOW)})
    check(1, tx_profile(), c, None)


# ----------------------------------------------------------------------------- periods


def test_k01_fr_31_first_start_period_must_be_zero() -> None:
    p = profile(periods=[{"startPeriod": 60, "limit": 16.0}])
    r = check(1, p, ctx(), R.ChargingProfileFirstStartScheduleIsNotZero)
    assert r.path == "chargingSchedule[0].chargingSchedulePeriod[0].startPeriod"
    assert r.rule == "K01.FR.31"
    assert r.reason_code == "InvalidSchedule"


def test_k01_fr_35_start_periods_strictly_increasing() -> None:
    p = profile(
        periods=[
            {"startPeriod": 0, "limit": 16.0},
            {"startPeriod": 600, "limit": 10.0},
            {"startPeriod": 1200, "limit": 8.0},
            {"startPeriod": 900, "limit": 6.0},
        ]
    )
    r = check(1, p, ctx(), R.ChargingSchedulePeriodsOutOfOrder)
    assert r.path == "chargingSchedule[0].chargingSchedulePeriod[3].startPeriod"
    assert "900" in r.message and "1200" in r.message


def test_k01_fr_35_equal_start_periods_rejected() -> None:
    p = profile(periods=[{"startPeriod": 0, "limit": 16.0}, {"startPeriod": 0, "limit": 8.0}])
    r = check(1, p, ctx(), R.ChargingSchedulePeriodsOutOfOrder)
    assert r.path == "chargingSchedule[0].chargingSchedulePeriod[1].startPeriod"


def test_k01_fr_35_second_schedule_is_checked_too() -> None:
    d = profile().to_json_dict()
    second = copy.deepcopy(d["chargingSchedule"][0])
    second["id"] = 2
    second["chargingSchedulePeriod"][1]["startPeriod"] = 0
    d["chargingSchedule"].append(second)
    r = check(1, ChargingProfile.model_validate(d), ctx(), R.ChargingSchedulePeriodsOutOfOrder)
    assert r.path == "chargingSchedule[1].chargingSchedulePeriod[1].startPeriod"


def test_empty_schedule_and_periods_built_without_validation() -> None:
    good = profile()
    no_sched = good.model_copy(update={"charging_schedule": ()})
    check(1, no_sched, ctx(), R.ChargingProfileEmptyChargingSchedules)
    sched = good.charging_schedule[0].model_copy(update={"charging_schedule_period": ()})
    no_periods = good.model_copy(update={"charging_schedule": (sched,)})
    r = check(1, no_periods, ctx(), R.ChargingProfileNoChargingSchedulePeriods)
    assert r.path == "chargingSchedule[0].chargingSchedulePeriod"


# ----------------------------------------------------------------------------- kinds


@pytest.mark.parametrize("kind", ["Absolute", "Recurring"])
def test_k01_fr_40_absolute_and_recurring_need_start_schedule(kind: str) -> None:
    p = profile(chargingProfileKind=kind, recurrencyKind="Daily" if kind == "Recurring" else None)
    p = p.model_copy(
        update={
            "charging_schedule": (
                p.charging_schedule[0].model_copy(update={"start_schedule": None}),
            )
        }
    )
    r = check(1, p, ctx(), R.ChargingProfileMissingRequiredStartSchedule)
    assert r.path == "chargingSchedule[0].startSchedule"


def test_k01_fr_41_relative_must_not_have_start_schedule() -> None:
    p = profile(chargingProfileKind="Relative")
    r = check(1, p, ctx(), R.ChargingProfileExtraneousStartSchedule)
    assert r.path == "chargingSchedule[0].startSchedule"
    check(1, profile(chargingProfileKind="Relative", schedule={"startSchedule": None}), ctx(), None)


def test_recurring_needs_recurrency_kind() -> None:
    r = check(
        1, profile(chargingProfileKind="Recurring"), ctx(), R.ChargingProfileMissingRecurrencyKind
    )
    assert r.path == "recurrencyKind"
    assert r.reason_code == "MissingParam"
    check(1, profile(chargingProfileKind="Recurring", recurrencyKind="Weekly"), ctx(), None)


# ----------------------------------------------------------------------------- station max


def test_k04_fr_03_station_max_profile_only_on_evse_0() -> None:
    p = profile(chargingProfilePurpose="ChargingStationMaxProfile")
    check(0, p, ctx(), None)
    r = check(1, p, ctx(), R.ChargingStationMaxProfileEvseIdGreaterThanZero)
    assert r.rule == "K04.FR.03"


def test_k01_fr_38_station_max_profile_never_relative() -> None:
    p = profile(
        chargingProfilePurpose="ChargingStationMaxProfile",
        chargingProfileKind="Relative",
        schedule={"startSchedule": None},
    )
    check(0, p, ctx(), R.ChargingStationMaxProfileCannotBeRelative)
    rec = profile(
        chargingProfilePurpose="ChargingStationMaxProfile",
        chargingProfileKind="Recurring",
        recurrencyKind="Daily",
    )
    check(0, rec, ctx(), None)


# ----------------------------------------------------------------------------- TxProfile


def test_k01_fr_16_tx_profile_needs_evse_above_zero() -> None:
    r = check(
        0, tx_profile(), ctx(transactions={1: (TX, NOW)}), R.TxProfileEvseIdNotGreaterThanZero
    )
    assert r.reason_code == "InvalidValue"


def test_k01_fr_03_tx_profile_needs_transaction_id() -> None:
    r = check(
        1,
        tx_profile(transactionId=None),
        ctx(transactions={1: (TX, NOW)}),
        R.TxProfileMissingTransactionId,
    )
    assert r.path == "transactionId"
    assert r.reason_code == "MissingParam"


def test_k01_fr_09_tx_profile_needs_active_transaction_on_evse() -> None:
    r = check(1, tx_profile(), ctx(), R.TxProfileEvseHasNoActiveTransaction)
    assert r.reason_code == "TxNotFound"
    # a transaction on another EVSE does not help
    check(1, tx_profile(), ctx(transactions={2: (TX, NOW)}), R.TxProfileEvseHasNoActiveTransaction)


def test_k01_fr_33_tx_profile_transaction_must_run_on_that_evse() -> None:
    c = ctx(transactions={1: ("other-tx", NOW), 2: (TX, NOW)})
    r = check(1, tx_profile(), c, R.TxProfileTransactionNotOnEvse)
    assert r.reason_code == "TxNotFound"
    assert "other-tx" in r.message


def test_k01_fr_39_tx_profile_stack_level_unique_per_transaction() -> None:
    installed = {1: [tx_profile(id=5, stackLevel=2)]}
    c = ctx(transactions={1: (TX, NOW)}, installed=installed)
    r = check(1, tx_profile(id=6, stackLevel=2), c, R.TxProfileConflictingStackLevel)
    assert r.reason_code == "InvalidStackLevel"
    check(1, tx_profile(id=6, stackLevel=3), c, None)  # other stack level
    check(1, tx_profile(id=5, stackLevel=2), c, None)  # same id: a replacement
    # a TxProfile of another (ended) transaction at that level does not clash
    c2 = ctx(
        transactions={1: (TX, NOW)},
        installed={1: [tx_profile(id=5, stackLevel=2, transactionId="old")]},
    )
    check(1, tx_profile(id=6, stackLevel=2), c2, None)


# ----------------------------------------------------------------------------- duplicates


def _windowed(pid: int, frm: str | None, to: str | None, **kw: Any) -> ChargingProfile:
    return profile(id=pid, validFrom=frm, validTo=to, **kw)


@pytest.mark.parametrize(
    ("existing", "incoming"),
    [
        ((None, None), ("2024-01-02T13:00:00Z", "2024-03-01T13:00:00Z")),
        (("2024-01-01T13:00:00Z", None), (None, "2024-01-01T13:00:01Z")),
        (("2024-02-01T13:00:00Z", None), ("2024-01-31T13:00:00Z", None)),
        (("2024-01-01T13:00:00Z", "2024-02-01T13:00:00Z"), (None, None)),
        (
            ("2024-01-01T13:00:00Z", "2024-02-01T13:00:00Z"),
            ("2024-01-15T13:00:00Z", "2024-01-16T13:00:00Z"),
        ),
    ],
)
def test_k01_fr_06_overlapping_validity_same_purpose_stack_evse(
    existing: tuple[str | None, str | None], incoming: tuple[str | None, str | None]
) -> None:
    c = ctx(installed={1: [_windowed(1, *existing)]})
    r = check(1, _windowed(2, *incoming), c, R.DuplicateProfileValidityPeriod)
    assert r.reason_code == "DuplicateProfile"
    assert "profile 1" in r.message


def test_k01_fr_06_no_clash_when_windows_touch_or_differ() -> None:
    c = ctx(installed={1: [_windowed(1, "2024-01-01T13:00:00Z", "2024-02-01T13:00:00Z")]})
    # half-open windows: ends exactly when the other begins
    check(1, _windowed(2, "2024-02-01T13:00:00Z", None), c, None)
    check(1, _windowed(2, None, "2024-01-01T13:00:00Z"), c, None)
    # other stack level, other EVSE, other purpose
    check(1, _windowed(2, None, None, stackLevel=1), c, None)
    check(2, _windowed(2, None, None), c, None)
    mx = profile(id=2, chargingProfilePurpose="ChargingStationMaxProfile")
    check(0, mx, ctx(installed={0: [profile(id=1)]}), None)


def test_k01_fr_06_station_max_profiles() -> None:
    mx = {"chargingProfilePurpose": "ChargingStationMaxProfile"}
    c = ctx(installed={0: [profile(id=1, **mx)]})
    check(0, profile(id=2, **mx), c, R.DuplicateProfileValidityPeriod)
    check(0, profile(id=1, **mx), c, None)


def test_k01_fr_05_same_id_replaces_so_no_self_clash() -> None:
    c = ctx(installed={1: [profile(id=1)]})
    check(1, profile(id=1, schedule={"chargingRateUnit": "W"}), c, None)
    # the same id installed elsewhere is replaced, wherever it is
    check(0, profile(id=1), c, None)


@pytest.mark.parametrize(
    ("installed_on", "new_on", "new_id", "new_stack", "expected"),
    [
        (1, 0, 2, 0, R.DuplicateTxDefaultProfileFound),  # K01.FR.52
        (1, 0, 1, 0, None),
        (1, 0, 2, 1, None),
        (0, 1, 2, 0, R.DuplicateTxDefaultProfileFound),  # K01.FR.53
        (0, 1, 1, 0, None),
        (0, 1, 2, 1, None),
        (1, 2, 2, 0, None),  # other EVSE: not checked by FR.52/53
    ],
)
def test_k01_fr_52_53_tx_default_stack_level_across_scopes(
    installed_on: int, new_on: int, new_id: int, new_stack: int, expected: ProfileRejection | None
) -> None:
    # disjoint validity windows, so that only FR.52/53 can apply
    old = _windowed(1, "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z")
    new = _windowed(new_id, "2024-06-01T00:00:00Z", "2024-12-01T00:00:00Z", stackLevel=new_stack)
    c = ctx(installed={installed_on: [old]})
    r = check(new_on, new, c, expected)
    if expected is not None:
        assert r.reason_code == "DuplicateProfile"
        assert r.rule == "K01.FR.52/53"


# ----------------------------------------------------------------------------- external constraints


def test_k01_fr_22_csms_cannot_set_external_constraints() -> None:
    p = profile(chargingProfilePurpose="ChargingStationExternalConstraints")
    r = check(1, p, ctx(), R.ChargingStationExternalConstraintsInSetChargingProfileRequest)
    assert r.to_json_dict()["statusInfo"]["reasonCode"] == "InvalidValue"
    # the site's energy manager can
    assert validate_profile(1, p, ctx(), now=NOW, source="EMS").accepted


def test_ems_may_only_set_external_constraints() -> None:
    r = validate_profile(1, profile(), ctx(), now=NOW, source="EMS")
    assert r.reason is R.InvalidProfileType


def test_k01_fr_05_installed_external_constraints_not_replaceable_by_id() -> None:
    ext = profile(id=3, chargingProfilePurpose="ChargingStationExternalConstraints")
    c = ctx(installed={0: [ext]})
    r = check(1, profile(id=3), c, R.ExistingChargingStationExternalConstraints)
    assert r.reason_code == "DuplicateProfile"
    # the EMS may update its own constraint, but not take over a CSMS profile's id
    assert validate_profile(0, ext, c, now=NOW, source="EMS").accepted
    c2 = ctx(installed={1: [profile(id=3)]})
    r2 = validate_profile(0, ext, c2, now=NOW, source=ChargingLimitSource.EMS)
    assert r2.reason is R.ExternalConstraintsIdInUse


# ----------------------------------------------------------------------------- station context


def test_k01_fr_28_unknown_evse() -> None:
    r = check(3, profile(), ctx(), R.EvseDoesNotExist)
    assert r.path == "evseId"
    assert "1, 2" in r.message
    check(-1, profile(), ctx(), R.EvseDoesNotExist)
    check(2, profile(), ctx(), None)


def test_k01_fr_26_unsupported_rate_unit() -> None:
    c = ctx(rate_units=frozenset({ChargingRateUnit.A}))
    r = check(
        1,
        profile(schedule={"chargingRateUnit": "W"}),
        c,
        R.ChargingScheduleChargingRateUnitUnsupported,
    )
    assert r.reason_code == "UnsupportedRateUnit"
    assert r.path == "chargingSchedule[0].chargingRateUnit"
    check(1, profile(), c, None)


def test_k01_fr_19_phase_to_use_needs_one_phase() -> None:
    c = ctx(phase_switching=True)
    bad = [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3, "phaseToUse": 1}]
    r = check(1, profile(periods=bad), c, R.ChargingSchedulePeriodInvalidPhaseToUse)
    assert r.path == "chargingSchedule[0].chargingSchedulePeriod[0].phaseToUse"
    absent = [{"startPeriod": 0, "limit": 16.0, "phaseToUse": 1}]
    check(1, profile(periods=absent), c, R.ChargingSchedulePeriodInvalidPhaseToUse)
    good = [{"startPeriod": 0, "limit": 16.0, "numberPhases": 1, "phaseToUse": 2}]
    check(1, profile(periods=good), c, None)


def test_k01_fr_20_phase_to_use_needs_phase_switching() -> None:
    good = [{"startPeriod": 0, "limit": 16.0, "numberPhases": 1, "phaseToUse": 2}]
    check(
        1,
        profile(periods=good),
        ctx(phase_switching=False),
        R.ChargingSchedulePeriodPhaseToUseACPhaseSwitchingUnsupported,
    )


@pytest.mark.parametrize("field", ["numberPhases", "phaseToUse"])
def test_k01_fr_44_no_phase_values_on_dc(field: str) -> None:
    period = {"startPeriod": 0, "limit": 100.0, field: 1}
    c = ctx(evses={1: EVSEInfo("DC"), 2: EVSEInfo()}, phase_switching=True)
    r = check(1, profile(periods=[period]), c, R.ChargingSchedulePeriodExtraneousPhaseValues)
    assert r.path == f"chargingSchedule[0].chargingSchedulePeriod[0].{field}"
    check(1, profile(periods=[{"startPeriod": 0, "limit": 100.0}]), c, None)
    # EVSE 0 of a DC-supplied station
    dc_station = ctx(supply_phases=0, phase_switching=True)
    check(0, profile(periods=[period]), dc_station, R.ChargingSchedulePeriodExtraneousPhaseValues)


def test_k01_fr_45_number_phases_within_supply() -> None:
    three = [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]
    c = ctx(evses={1: EVSEInfo("AC", 1), 2: EVSEInfo()})
    r = check(1, profile(periods=three), c, R.ChargingSchedulePeriodUnsupportedNumberPhases)
    assert r.path == "chargingSchedule[0].chargingSchedulePeriod[0].numberPhases"
    check(2, profile(periods=three), c, None)
    check(
        0,
        profile(periods=three),
        ctx(supply_phases=1),
        R.ChargingSchedulePeriodUnsupportedNumberPhases,
    )


def test_k01_fr_49_conform_fills_three_phases_on_ac_only() -> None:
    p = profile()
    c = ctx(evses={1: EVSEInfo(), 2: EVSEInfo("DC")})
    conformed = conform_profile(1, p, c)
    assert all(
        per.number_phases == 3 for per in conformed.charging_schedule[0].charging_schedule_period
    )
    assert conformed.id == p.id and conformed.charging_schedule[0].charging_rate_unit == "A"
    assert conform_profile(2, p, c) is p  # DC: untouched
    assert conform_profile(1, conformed, c) is conformed  # nothing left to fill in
    assert validate_profile(1, conformed, c, now=NOW).accepted
    # only absent values are filled in
    mixed = profile(
        periods=[
            {"startPeriod": 0, "limit": 6.0, "numberPhases": 1},
            {"startPeriod": 60, "limit": 6.0},
        ]
    )
    out = conform_profile(0, mixed, c).charging_schedule[0].charging_schedule_period
    assert [per.number_phases for per in out] == [1, 3]


# ----------------------------------------------------------------------------- validity


def test_valid_to_must_follow_valid_from() -> None:
    p = _windowed(1, "2024-03-01T00:00:00Z", "2024-02-01T00:00:00Z")
    r = check(1, p, ctx(), R.InvalidValidityPeriod)
    assert r.path == "validTo"
    check(
        1,
        _windowed(1, "2024-03-01T00:00:00Z", "2024-03-01T00:00:00Z"),
        ctx(),
        R.InvalidValidityPeriod,
    )


def test_expired_profile_names_clock_drift() -> None:
    p = _windowed(1, None, "2024-01-01T10:00:00Z")
    r = check(1, p, ctx(), R.ChargingProfileExpired)
    assert (
        "validTo 2024-01-01T10:00:00Z is before the station's clock 2024-01-01T10:05:00Z:"
        " check clock drift between CSMS and station" in r.message
    )
    # exactly at validTo it is no longer valid; a second later than now it is
    check(1, _windowed(1, None, "2024-01-01T10:05:00Z"), ctx(), R.ChargingProfileExpired)
    check(1, _windowed(1, None, "2024-01-01T10:05:01Z"), ctx(), None)
    # validFrom in the future is fine
    check(1, _windowed(1, "2025-01-01T00:00:00Z", None), ctx(), None)


# ----------------------------------------------------------------------------- the result


def test_response_payload_limits() -> None:
    for reason in ProfileRejection:
        assert len(reason.reason_code) <= REASON_CODE_MAX
        assert reason.value == reason.name
        assert reason.rule
    long = ValidationResult.reject(R.EvseDoesNotExist, "x" * 2000)
    info = long.to_json_dict()["statusInfo"]
    assert len(info["additionalInfo"]) == ADDITIONAL_INFO_MAX
    assert info["reasonCode"] == "InvalidValue"


@pytest.mark.parametrize("evse_id", [1, 3])
def test_response_validates_against_ocpp_schema(evse_id: int) -> None:
    r = validate_profile(evse_id, profile(), ctx(), now=NOW)
    assert_valid("v201", "SetChargingProfileResponse", r.to_json_dict())
    if evse_id == 3:
        assert r.to_json_dict()["statusInfo"]["reasonCode"] == "InvalidValue"


def test_context_rejects_bad_configuration() -> None:
    with pytest.raises(InvalidPayloadError):
        StationContext(evses={0: EVSEInfo()})
    with pytest.raises(InvalidPayloadError):
        StationContext(supply_phases=4)
    with pytest.raises(SmartChargeError):
        EVSEInfo("XC")  # type: ignore[arg-type]
    with pytest.raises(SmartChargeError):
        EVSEInfo("AC", 0)
    with pytest.raises(InvalidPayloadError):
        validate_profile("1", profile(), ctx(), now=NOW)  # type: ignore[arg-type]
    with pytest.raises(InvalidPayloadError, match="source"):
        validate_profile(1, profile(), ctx(), now=NOW, source="Grid")


def test_context_is_a_snapshot() -> None:
    installed: dict[int, list[ChargingProfile]] = {1: []}
    c = ctx(installed=installed)
    installed[0] = [profile(id=9, chargingProfilePurpose="ChargingStationMaxProfile")]
    check(0, profile(id=10, chargingProfilePurpose="ChargingStationMaxProfile"), c, None)


# ----------------------------------------------------------------------------- properties


@st.composite
def valid_profiles(draw: st.DrawFn) -> ChargingProfile:
    n = draw(st.integers(1, 5))
    gaps = draw(st.lists(st.integers(1, 3600), min_size=n - 1, max_size=n - 1))
    starts = [0]
    for g in gaps:
        starts.append(starts[-1] + g)
    kind = draw(st.sampled_from(["Absolute", "Recurring", "Relative"]))
    periods = [{"startPeriod": s, "limit": draw(st.integers(0, 320)) / 10} for s in starts]
    return profile(
        id=draw(st.integers(1, 50)),
        stackLevel=draw(st.integers(0, 3)),
        chargingProfileKind=kind,
        recurrencyKind="Daily" if kind == "Recurring" else None,
        schedule={"startSchedule": None} if kind == "Relative" else None,
        periods=periods,
    )


@given(valid_profiles())
def test_property_generated_valid_profiles_are_accepted(p: ChargingProfile) -> None:
    r = validate_profile(1, p, ctx(), now=NOW)
    assert r.accepted, r.message


@given(valid_profiles(), st.data())
def test_property_shuffled_periods_are_rejected_with_a_path(
    p: ChargingProfile, data: st.DataObject
) -> None:
    periods = list(p.charging_schedule[0].charging_schedule_period)
    assume(len(periods) >= 2)  # one period has no other order
    perm = data.draw(st.permutations(periods))
    if list(perm) == periods:  # the identity: rotate by one instead (every draw tests)
        perm = [*periods[1:], periods[0]]
    sched = p.charging_schedule[0].model_copy(update={"charging_schedule_period": tuple(perm)})
    bad = p.model_copy(update={"charging_schedule": (sched,)})
    r = validate_profile(1, bad, ctx(), now=NOW)
    assert r.reason in (
        R.ChargingProfileFirstStartScheduleIsNotZero,
        R.ChargingSchedulePeriodsOutOfOrder,
    )
    assert r.path is not None and r.path.startswith("chargingSchedule[0].chargingSchedulePeriod[")


@given(valid_profiles(), valid_profiles())
def test_property_validation_is_deterministic_and_pure(
    a: ChargingProfile, b: ChargingProfile
) -> None:
    c = ctx(installed={1: [a]})
    before = c.installed[1][0].model_dump_json()
    r1 = validate_profile(1, b, c, now=NOW)
    r2 = validate_profile(1, b, c, now=NOW)
    assert r1 == r2
    assert c.installed[1][0].model_dump_json() == before
    if a.id == b.id:
        assert r1.accepted  # a replacement never clashes with what it replaces


@given(valid_profiles())
def test_property_tx_default_profile_also_valid_as_tx_profile(p: ChargingProfile) -> None:
    # a TxDefault accepted on EVSE 1 is also accepted as TxProfile while its transaction runs
    tx = p.model_copy(
        update={"charging_profile_purpose": ChargingProfilePurpose.TxProfile, "transaction_id": TX}
    )
    assert validate_profile(
        1, tx, ctx(transactions={1: (TX, NOW - timedelta(hours=1))}), now=NOW
    ).accepted


def test_k01_fr_49_conform_on_single_phase_supply_uses_its_phases() -> None:
    c = ctx(evses={1: EVSEInfo("AC", 1)}, supply_phases=3)
    conformed = conform_profile(1, profile(), c)
    assert {
        per.number_phases for per in conformed.charging_schedule[0].charging_schedule_period
    } == {1}
    assert validate_profile(1, conformed, c, now=NOW).accepted  # re-validates (K01.FR.45)
    station_1ph = ctx(supply_phases=1)
    out = conform_profile(0, profile(), station_1ph).charging_schedule[0].charging_schedule_period
    assert {per.number_phases for per in out} == {1}


@given(valid_profiles(), st.sampled_from([0, 1, 2]), st.integers(1, 3))
def test_property_conformed_profiles_still_validate(
    p: ChargingProfile, evse: int, phases: int
) -> None:
    c = ctx(evses={1: EVSEInfo("AC", phases), 2: EVSEInfo("DC")}, supply_phases=phases)
    assume(validate_profile(evse, p, c, now=NOW).accepted)
    conformed = conform_profile(evse, p, c)
    assert validate_profile(evse, conformed, c, now=NOW).accepted
    assert conform_profile(evse, conformed, c) is conformed
