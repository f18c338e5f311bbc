"""OCPP 2.1 ChargingProfiles (V2X): models, translation to and from 2.0.1, and payloads.

OCPP 2.1 extends a ChargingSchedulePeriod with bidirectional power: ``dischargeLimit`` (a
non-positive limit on discharging), a signed ``setpoint`` (positive charges, negative
discharges), ``setpointReactive``, per-phase values (``limit_L2``, ``dischargeLimit_L3``,
``setpoint_L2``, ...) and an ``operationMode`` (``ChargingOnly`` when absent). The models here
follow the 2.1 JSON schema field for field (JSON names as aliases, snake_case attributes:
``limit_L2`` is ``limit_l2``); they are frozen and hashable like the 2.0.1 models.

Value rules: the schema's own (``dischargeLimit* <= 0``, ``numberPhases`` and ``phaseToUse``
in 0..3, ``stackLevel``, ``signatureId`` and ``randomizedDelay`` >= 0, string lengths, 1..1024
periods, 1..3 schedules, 1..20 curve points) plus the ones smartcharge applies to 2.0.1
as well: numbers are finite, ``startPeriod`` and ``duration`` are >= 0. Rules that need a
station's context (V2X05 ``setpoint`` within ``[dischargeLimit, limit]``, the operationMode
per purpose table, ...) are K01/Q08 rules and not checked here. 2.1 dropped 2.0.1's "at most
one digit fraction" from ``limit``; a value with more digits is accepted in 2.1 and refused
when translated to 2.0.1. Not modelled: ``absolutePriceSchedule`` and ``priceLevelSchedule``
(ISO 15118-20 price schedules; a payload that holds one is refused as an unknown field).

:func:`profile_to_v21` always succeeds (2.1 can say everything 2.0.1 can; the one exception,
a sales tariff with a negative ``id``, raises :class:`~smartcharge.errors.TranslationError`).
:func:`profile_from_v21` raises :class:`~smartcharge.errors.TranslationError` naming the JSON
path for whatever 2.0.1 cannot say: a setpoint, a ``dischargeLimit < 0``, an operationMode
other than ``ChargingOnly``, per-phase values, a missing or negative ``limit``, the 2.1-only
purposes, kinds and schedule/profile fields.

:func:`plan_to_v21_profiles` turns an optimizer plan with bidirectional (V2X) sessions into
2.1 TxProfiles: discharging steps become ``CentralSetpoint`` periods with a negative
``setpoint`` and a ``dischargeLimit`` (2.0.1 profiles of the same plan can only say ``limit
0`` there, see :meth:`smartcharge.optimizer.Plan.to_charging_profiles`).

>>> p21 = parse_charging_profile_v21({
...     "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
...     "chargingProfileKind": "Relative", "transactionId": "t1",
...     "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [
...         {"startPeriod": 0, "limit": 7000.0, "dischargeLimit": -5000.0,
...          "setpoint": -3000.0, "operationMode": "CentralSetpoint"}]}]})
>>> p21.charging_schedule[0].charging_schedule_period[0].setpoint
-3000.0
>>> profile_from_v21(p21)
Traceback (most recent call last):
...
smartcharge.errors.TranslationError: chargingSchedule[0].chargingSchedulePeriod[0].setpoint: \
OCPP 2.0.1 cannot express a setpoint [v2.0.1]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field, StrictBool, StrictStr, ValidationError, field_validator

from smartcharge.errors import InvalidPayloadError, TranslationError
from smartcharge.model import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    CustomData,
    RecurrencyKind,
    SalesTariff,
)
from smartcharge.model._base import (
    FiniteFloat,
    NonNegInt,
    OcppModel,
    StrictInteger,
    UTCDateTime,
)
from smartcharge.ocpp._schema import (
    FORMATION,
    SCHEMA_BOUNDED_V21,
    dump,
    format_path,
    parse_model,
)

if TYPE_CHECKING:
    from smartcharge.optimizer.plan import Plan

__all__ = [
    "ChargingProfile21",
    "ChargingProfileKind21",
    "ChargingProfilePurpose21",
    "ChargingSchedule21",
    "ChargingSchedulePeriod21",
    "EvseProfile21",
    "LimitAtSoC",
    "OperationMode",
    "SetChargingProfileRequest21",
    "V2XFreqWattPoint",
    "V2XSignalWattPoint",
    "parse_charging_profile_v21",
    "parse_set_charging_profile_request_v21",
    "plan_to_v21_profiles",
    "profile_from_v21",
    "profile_to_v21",
    "set_charging_profile_request_v21",
]

RULE = "v2.0.1"
"""The ``rule`` of a :class:`TranslationError` raised for what OCPP 2.0.1 cannot express."""


class _StrEnum(str, Enum):
    def __str__(self) -> str:
        return str(self.value)


class OperationMode(_StrEnum):
    """OperationModeEnumType (2.1): how the EVSE runs during a period (absent = ChargingOnly)."""

    Idle = "Idle"
    ChargingOnly = "ChargingOnly"
    CentralSetpoint = "CentralSetpoint"
    ExternalSetpoint = "ExternalSetpoint"
    ExternalLimits = "ExternalLimits"
    CentralFrequency = "CentralFrequency"
    LocalFrequency = "LocalFrequency"
    LocalLoadBalancing = "LocalLoadBalancing"


class ChargingProfilePurpose21(_StrEnum):
    """ChargingProfilePurposeEnumType (2.1): 2.0.1's four plus PriorityCharging, LocalGeneration."""

    ChargingStationExternalConstraints = "ChargingStationExternalConstraints"
    ChargingStationMaxProfile = "ChargingStationMaxProfile"
    TxDefaultProfile = "TxDefaultProfile"
    TxProfile = "TxProfile"
    PriorityCharging = "PriorityCharging"
    LocalGeneration = "LocalGeneration"


class ChargingProfileKind21(_StrEnum):
    """ChargingProfileKindEnumType (2.1): 2.0.1's three plus Dynamic."""

    Absolute = "Absolute"
    Recurring = "Recurring"
    Relative = "Relative"
    Dynamic = "Dynamic"


Phases21 = Annotated[int, Field(strict=True, ge=0, le=3)]
NonPositive = Annotated[FiniteFloat, Field(le=0)]
CustomDataField = Annotated[CustomData | None, Field(default=None)]


class V2XFreqWattPoint(OcppModel):
    """V2XFreqWattPointType: ``power`` [chargingRateUnit] at grid ``frequency`` [Hz]."""

    frequency: FiniteFloat
    power: FiniteFloat
    custom_data: CustomDataField


class V2XSignalWattPoint(OcppModel):
    """V2XSignalWattPointType: ``power`` [chargingRateUnit] at an integer ``signal`` level."""

    signal: StrictInteger
    power: FiniteFloat
    custom_data: CustomDataField


class LimitAtSoC(OcppModel):
    """LimitAtSoCType: ``limit`` [chargingRateUnit] from state of charge ``soc`` [%] on."""

    soc: Annotated[int, Field(strict=True, ge=0, le=100)]
    limit: FiniteFloat
    custom_data: CustomDataField


class ChargingSchedulePeriod21(OcppModel):
    """ChargingSchedulePeriodType (2.1): one step of a schedule, possibly bidirectional.

    Attributes
    ----------
    start_period
        Start [s] from the start of the schedule (>= 0).
    limit
        Charging limit [chargingRateUnit]; optional in 2.1 (required by some operation modes).
        With ``limit_l2``/``limit_l3`` present it is phase L1's, else the total (W) or per
        phase (A).
    limit_l2, limit_l3
        Per-phase limits (JSON ``limit_L2``, ``limit_L3``).
    discharge_limit, discharge_limit_l2, discharge_limit_l3
        Discharging limits, <= 0 (JSON ``dischargeLimit``, ``dischargeLimit_L2``, ...).
    setpoint, setpoint_l2, setpoint_l3
        Signed power/current to follow: > 0 charges, < 0 discharges.
    setpoint_reactive, setpoint_reactive_l2, setpoint_reactive_l3
        Reactive power setpoints.
    operation_mode
        :class:`OperationMode`; ``None`` means ChargingOnly.
    """

    start_period: NonNegInt
    limit: FiniteFloat | None = None
    limit_l2: Annotated[FiniteFloat | None, Field(alias="limit_L2")] = None
    limit_l3: Annotated[FiniteFloat | None, Field(alias="limit_L3")] = None
    number_phases: Phases21 | None = None
    phase_to_use: Phases21 | None = None
    discharge_limit: NonPositive | None = None
    discharge_limit_l2: Annotated[NonPositive | None, Field(alias="dischargeLimit_L2")] = None
    discharge_limit_l3: Annotated[NonPositive | None, Field(alias="dischargeLimit_L3")] = None
    setpoint: FiniteFloat | None = None
    setpoint_l2: Annotated[FiniteFloat | None, Field(alias="setpoint_L2")] = None
    setpoint_l3: Annotated[FiniteFloat | None, Field(alias="setpoint_L3")] = None
    setpoint_reactive: FiniteFloat | None = None
    setpoint_reactive_l2: Annotated[FiniteFloat | None, Field(alias="setpointReactive_L2")] = (
        None
    )
    setpoint_reactive_l3: Annotated[FiniteFloat | None, Field(alias="setpointReactive_L3")] = (
        None
    )
    preconditioning_request: StrictBool | None = None
    evse_sleep: StrictBool | None = None
    v2x_baseline: Annotated[FiniteFloat | None, Field(alias="v2xBaseline")] = None
    operation_mode: OperationMode | None = None
    v2x_freq_watt_curve: Annotated[
        tuple[V2XFreqWattPoint, ...] | None,
        Field(min_length=1, max_length=20, alias="v2xFreqWattCurve"),
    ] = None
    v2x_signal_watt_curve: Annotated[
        tuple[V2XSignalWattPoint, ...] | None,
        Field(min_length=1, max_length=20, alias="v2xSignalWattCurve"),
    ] = None
    custom_data: CustomDataField


class ChargingSchedule21(OcppModel):
    """ChargingScheduleType (2.1); the 2.1-only fields are optional.

    ``absolutePriceSchedule`` and ``priceLevelSchedule`` are not modelled (refused on parse).
    """

    id: StrictInteger
    limit_at_so_c: Annotated[LimitAtSoC | None, Field(alias="limitAtSoC")] = None
    start_schedule: UTCDateTime | None = None
    duration: NonNegInt | None = None
    charging_rate_unit: ChargingRateUnit
    min_charging_rate: FiniteFloat | None = None
    power_tolerance: FiniteFloat | None = None
    signature_id: NonNegInt | None = None
    digest_value: Annotated[StrictStr, Field(max_length=88)] | None = None
    use_local_time: StrictBool | None = None
    charging_schedule_period: Annotated[
        tuple[ChargingSchedulePeriod21, ...], Field(min_length=1, max_length=1024)
    ]
    randomized_delay: NonNegInt | None = None
    sales_tariff: SalesTariff | None = None
    custom_data: CustomDataField

    @field_validator("sales_tariff")
    @classmethod
    def _tariff_ids_non_negative(cls, value: SalesTariff | None) -> SalesTariff | None:
        # 2.1 adds minimum 0 to salesTariff.id and numEPriceLevels
        if value is not None and (value.id < 0 or (value.num_e_price_levels or 0) < 0):
            raise ValueError("salesTariff id and numEPriceLevels must be >= 0 in OCPP 2.1")
        return value


class ChargingProfile21(OcppModel):
    """ChargingProfileType (2.1): a profile as sent in a 2.1 SetChargingProfileRequest."""

    id: StrictInteger
    stack_level: NonNegInt
    charging_profile_purpose: ChargingProfilePurpose21
    charging_profile_kind: ChargingProfileKind21
    recurrency_kind: RecurrencyKind | None = None
    valid_from: UTCDateTime | None = None
    valid_to: UTCDateTime | None = None
    transaction_id: Annotated[StrictStr, Field(max_length=36)] | None = None
    max_offline_duration: StrictInteger | None = None
    invalid_after_offline_duration: StrictBool | None = None
    dyn_update_interval: StrictInteger | None = None
    dyn_update_time: UTCDateTime | None = None
    price_schedule_signature: Annotated[StrictStr, Field(max_length=256)] | None = None
    charging_schedule: Annotated[
        tuple[ChargingSchedule21, ...], Field(min_length=1, max_length=3)
    ]
    custom_data: CustomDataField


class SetChargingProfileRequest21(OcppModel):
    """SetChargingProfileRequest (2.1): install ``charging_profile`` on ``evse_id`` (0: station)."""

    evse_id: NonNegInt
    charging_profile: ChargingProfile21
    custom_data: CustomDataField


# --------------------------------------------------------------------------------------------
# Parsing and payloads
# --------------------------------------------------------------------------------------------


def parse_charging_profile_v21(payload: object) -> ChargingProfile21:
    """Validate a 2.1 ChargingProfileType JSON object (camelCase, ``limit_L2`` style names).

    Raises
    ------
    InvalidPayloadError
        Naming the JSON path, the rule and the OCPP CALLERROR code.
    """
    return parse_model(ChargingProfile21, payload, bounded=SCHEMA_BOUNDED_V21)


def parse_set_charging_profile_request_v21(payload: object) -> SetChargingProfileRequest21:
    """Validate a received 2.1 SetChargingProfileRequest payload (see
    :func:`parse_charging_profile_v21`)."""
    return parse_model(SetChargingProfileRequest21, payload, bounded=SCHEMA_BOUNDED_V21)


def set_charging_profile_request_v21(
    evse_id: int, profile: ChargingProfile21, *, custom_data: CustomData | None = None
) -> dict[str, Any]:
    """The 2.1 SetChargingProfileRequest payload installing ``profile`` on ``evse_id``.

    Raises
    ------
    InvalidPayloadError
        When ``evse_id`` is not an integer >= 0 (path ``evseId``).

    >>> p = profile_to_v21(ChargingProfile.model_validate({
    ...     "id": 3, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
    ...     "chargingProfileKind": "Relative", "chargingSchedule": [{"id": 1,
    ...     "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0,
    ...     "limit": 16.0}]}]}))
    >>> set_charging_profile_request_v21(1, p)["chargingProfile"]["chargingSchedule"][0][
    ...     "chargingSchedulePeriod"]
    [{'startPeriod': 0, 'limit': 16.0}]
    """
    if isinstance(evse_id, bool) or not isinstance(evse_id, int) or evse_id < 0:
        raise InvalidPayloadError(
            f"evseId must be an integer >= 0, got {evse_id!r}",
            path="evseId",
            rule="schema:minimum",
            ocpp_error=FORMATION,
        )
    request = SetChargingProfileRequest21(
        evse_id=evse_id, charging_profile=profile, custom_data=custom_data
    )
    return dump(request)


# --------------------------------------------------------------------------------------------
# Translation 2.0.1 <-> 2.1
# --------------------------------------------------------------------------------------------


def profile_to_v21(profile: ChargingProfile) -> ChargingProfile21:
    """The 2.1 form of a 2.0.1 profile: same values, every 2.1-only field absent.

    Raises
    ------
    TranslationError
        Only for a sales tariff with a negative ``id`` or ``numEPriceLevels`` (2.1 requires
        >= 0).
    """
    data = profile.to_json_dict()
    try:
        return ChargingProfile21.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:  # only the 2.1 sales tariff minimums can get here
        err = exc.errors(include_url=False)[0]
        raise TranslationError(
            f"OCPP 2.1 cannot carry this value: {err['msg'].removeprefix('Value error, ')}",
            path=format_path(err["loc"]),
            rule="v2.1",
        ) from None


def _untranslatable(message: str, path: str) -> TranslationError:
    return TranslationError(f"OCPP 2.0.1 cannot express {message}", path=path, rule=RULE)


# (attribute, JSON name, what 2.0.1 lacks) for the 2.1-only fields that must be absent
_PROFILE_ONLY_21 = (
    ("max_offline_duration", "maxOfflineDuration", "an offline validity (maxOfflineDuration)"),
    ("dyn_update_interval", "dynUpdateInterval", "dynamic profile updates"),
    ("dyn_update_time", "dynUpdateTime", "dynamic profile updates"),
    ("price_schedule_signature", "priceScheduleSignature", "a price schedule signature"),
)
_SCHEDULE_ONLY_21 = (
    ("limit_at_so_c", "limitAtSoC", "a limit at a state of charge"),
    ("power_tolerance", "powerTolerance", "a power tolerance"),
    ("signature_id", "signatureId", "a signature id"),
    ("digest_value", "digestValue", "a digest value"),
)
_PERIOD_ONLY_21 = (
    ("limit_l2", "limit_L2", "per-phase limits"),
    ("limit_l3", "limit_L3", "per-phase limits"),
    ("discharge_limit_l2", "dischargeLimit_L2", "per-phase discharge limits"),
    ("discharge_limit_l3", "dischargeLimit_L3", "per-phase discharge limits"),
    ("setpoint", "setpoint", "a setpoint"),
    ("setpoint_l2", "setpoint_L2", "a setpoint"),
    ("setpoint_l3", "setpoint_L3", "a setpoint"),
    ("setpoint_reactive", "setpointReactive", "a reactive power setpoint"),
    ("setpoint_reactive_l2", "setpointReactive_L2", "a reactive power setpoint"),
    ("setpoint_reactive_l3", "setpointReactive_L3", "a reactive power setpoint"),
    ("v2x_baseline", "v2xBaseline", "a V2X baseline"),
    ("v2x_freq_watt_curve", "v2xFreqWattCurve", "a frequency-watt curve"),
    ("v2x_signal_watt_curve", "v2xSignalWattCurve", "a signal-watt curve"),
)


def _period_from_v21(period: ChargingSchedulePeriod21, path: str) -> ChargingSchedulePeriod:
    for attr, name, what in _PERIOD_ONLY_21:
        if getattr(period, attr) is not None:
            raise _untranslatable(what, f"{path}.{name}")
    mode = period.operation_mode
    if mode is not None and mode is not OperationMode.ChargingOnly:
        raise _untranslatable(
            f"operationMode {mode.value} (only ChargingOnly exists in 2.0.1)",
            f"{path}.operationMode",
        )
    if period.discharge_limit is not None and period.discharge_limit < 0:
        raise _untranslatable(
            f"discharging (dischargeLimit {period.discharge_limit!r} < 0)",
            f"{path}.dischargeLimit",
        )
    if period.preconditioning_request:
        raise _untranslatable("a preconditioning request", f"{path}.preconditioningRequest")
    if period.evse_sleep:
        raise _untranslatable("EVSE sleep", f"{path}.evseSleep")
    if period.limit is None:
        raise _untranslatable("a period without a limit (limit is required)", f"{path}.limit")
    if period.limit < 0:
        raise _untranslatable(
            f"a negative limit ({period.limit!r}; 2.1's legacy discharge limit)",
            f"{path}.limit",
        )
    for attr, name in (("number_phases", "numberPhases"), ("phase_to_use", "phaseToUse")):
        if getattr(period, attr) == 0:
            raise _untranslatable(f"{name} 0 (2.0.1 allows 1..3)", f"{path}.{name}")
    try:
        return ChargingSchedulePeriod(
            start_period=period.start_period,
            limit=period.limit,
            number_phases=period.number_phases,
            phase_to_use=period.phase_to_use,
            custom_data=period.custom_data,
        )
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = str(err["loc"][0]) if err["loc"] else "limit"
        name = {"number_phases": "numberPhases", "phase_to_use": "phaseToUse"}.get(field, field)
        raise _untranslatable(
            f"this value: {err['msg'].removeprefix('Value error, ')}", f"{path}.{name}"
        ) from None



def _schedule_from_v21(schedule: ChargingSchedule21, path: str) -> ChargingSchedule:
    for attr, name, what in _SCHEDULE_ONLY_21:
        if getattr(schedule, attr) is not None:
            raise _untranslatable(what, f"{path}.{name}")
    if schedule.use_local_time:
        raise _untranslatable("local-time schedules", f"{path}.useLocalTime")
    if schedule.randomized_delay:
        raise _untranslatable("a randomized delay", f"{path}.randomizedDelay")
    periods = tuple(
        _period_from_v21(p, f"{path}.chargingSchedulePeriod[{i}]")
        for i, p in enumerate(schedule.charging_schedule_period)
    )
    rate = schedule.min_charging_rate
    if rate is not None and (rate < 0 or abs(rate * 10 - round(rate * 10)) > 1e-6 * max(1, rate)):
        raise _untranslatable(
            f"minChargingRate {rate!r} (2.0.1: >= 0, one digit fraction)",
            f"{path}.minChargingRate",
        )
    return ChargingSchedule(
        id=schedule.id,
        start_schedule=schedule.start_schedule,
        duration=schedule.duration,
        charging_rate_unit=schedule.charging_rate_unit,
        charging_schedule_period=periods,
        min_charging_rate=rate,
        sales_tariff=schedule.sales_tariff,
        custom_data=schedule.custom_data,
    )


def profile_from_v21(profile: ChargingProfile21, *, path: str | None = None) -> ChargingProfile:
    """The 2.0.1 form of a 2.1 profile, when 2.0.1 can say the same thing.

    Parameters
    ----------
    profile
        The 2.1 profile.
    path
        JSON path of the profile in its message, put in front of error paths.

    Raises
    ------
    TranslationError
        Naming the JSON path of the first field 2.0.1 cannot express (rule ``"v2.0.1"``):
        a setpoint, a ``dischargeLimit < 0``, an operationMode other than ChargingOnly,
        per-phase values, a missing or negative ``limit``, a limit with more than one digit
        fraction, ``numberPhases`` 0, the purposes PriorityCharging / LocalGeneration, the kind
        Dynamic, or any other 2.1-only field with a non-default value.
    """

    def at(name: str) -> str:
        return f"{path}.{name}" if path else name

    purpose = profile.charging_profile_purpose
    if purpose.value not in ChargingProfilePurpose.__members__:
        raise _untranslatable(f"the purpose {purpose.value}", at("chargingProfilePurpose"))
    kind = profile.charging_profile_kind
    if kind.value not in ChargingProfileKind.__members__:
        raise _untranslatable(f"the kind {kind.value}", at("chargingProfileKind"))
    for attr, name, what in _PROFILE_ONLY_21:
        if getattr(profile, attr) is not None:
            raise _untranslatable(what, at(name))
    if profile.invalid_after_offline_duration:
        raise _untranslatable(
            "an offline validity (invalidAfterOfflineDuration)",
            at("invalidAfterOfflineDuration"),
        )
    schedules = tuple(
        _schedule_from_v21(s, at(f"chargingSchedule[{i}]"))
        for i, s in enumerate(profile.charging_schedule)
    )
    return ChargingProfile(
        id=profile.id,
        stack_level=profile.stack_level,
        charging_profile_purpose=ChargingProfilePurpose(purpose.value),
        charging_profile_kind=ChargingProfileKind(kind.value),
        recurrency_kind=profile.recurrency_kind,
        valid_from=profile.valid_from,
        valid_to=profile.valid_to,
        charging_schedule=schedules,
        transaction_id=profile.transaction_id,
        custom_data=profile.custom_data,
    )


# --------------------------------------------------------------------------------------------
# Plans (smartcharge.optimizer) as 2.1 profiles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvseProfile21:
    """One 2.1 TxProfile for one session on one EVSE (see :func:`plan_to_v21_profiles`)."""

    evse_id: str
    session_id: str
    profile: ChargingProfile21


def plan_to_v21_profiles(
    plan: Plan,
    unit: Literal["A", "W"] | ChargingRateUnit = "W",
    *,
    stack_level: int = 0,
    profile_id: int | Callable[[str, str], int] = 1,
    only_active: bool = True,
) -> list[EvseProfile21]:
    """One OCPP 2.1 TxProfile per session of an optimizer plan, discharging included.

    The profiles are those of :meth:`smartcharge.optimizer.Plan.to_charging_profiles` (same
    ids, transactionIds, start and duration; same arguments), in 2.1 form, except at the
    steps where a V2X session discharges: there the period has ``operationMode``
    ``CentralSetpoint``, a negative ``setpoint`` (the planned discharge, its magnitude
    rounded DOWN to 0.1 so the EV never feeds back more than planned), ``dischargeLimit``
    equal to it and ``limit`` 0 (no charging). Charging steps are plain ChargingOnly limits
    exactly as in 2.0.1 (rounded down to 0.1). Equal neighbouring periods are merged.

    Parameters
    ----------
    plan
        An optimizer plan (:func:`smartcharge.optimizer.optimize`).
    unit
        ``"W"`` (total) or ``"A"`` (per phase) for limits and setpoints.
    stack_level, profile_id, only_active
        As for :meth:`~smartcharge.optimizer.Plan.to_charging_profiles`.

    Returns
    -------
    list[EvseProfile21]
        Send each with :func:`set_charging_profile_request_v21` to a 2.1 station.
    """
    u = ChargingRateUnit(unit)
    net = plan.problem.network()
    base = plan.to_charging_profiles(
        u, stack_level=stack_level, profile_id=profile_id, only_active=only_active
    )
    index = {sid: i for i, sid in enumerate(net.session_ids)}
    out: list[EvseProfile21] = []
    for item in base:
        p21 = profile_to_v21(item.profile)
        if item.lossy_steps:
            s = index[item.session_id]
            e = int(net.sess_evse[s])
            power = np.asarray(plan.session_power_w[s], dtype=np.float64)
            vals = power / net.evse_wpa[e] if u is ChargingRateUnit.A else power
            mag = np.round(np.floor(np.abs(vals) * 10.0 + 1e-6) / 10.0, 1)
            signed = np.where(vals < 0, -mag, mag)
            schedule = p21.charging_schedule[0]
            phases = schedule.charging_schedule_period[0].number_phases
            starts = np.flatnonzero(np.concatenate([[True], signed[1:] != signed[:-1]]))
            periods = []
            for k in starts.tolist():
                v = float(signed[k])
                start = int(k) * net.step_s
                if v < 0:
                    periods.append(ChargingSchedulePeriod21(
                        start_period=start, limit=0.0, number_phases=phases,
                        discharge_limit=v, setpoint=v,
                        operation_mode=OperationMode.CentralSetpoint,
                    ))
                else:
                    periods.append(ChargingSchedulePeriod21(
                        start_period=start, limit=v, number_phases=phases
                    ))
            p21 = p21.model_copy(update={"charging_schedule": (
                schedule.model_copy(update={"charging_schedule_period": tuple(periods)}),
            )})
        out.append(EvseProfile21(item.evse_id, item.session_id, p21))
    return out
