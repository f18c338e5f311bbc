"""OCPP 1.6 stations: ChargingProfiles and smart-charging messages, translated to and from 2.0.1.

Most chargers in the field still speak OCPP 1.6. This module reads and writes the 1.6 payloads
(``SetChargingProfile``, ``GetCompositeSchedule``, ``ClearChargingProfile`` and their
``.conf`` answers) and translates their ChargingProfile (``csChargingProfiles``) to and from
the 2.0.1 :class:`~smartcharge.model.ChargingProfile`, so the rest of the library only sees
2.0.1 models.

The mapping:

=============================== ===================================================
OCPP 1.6                        OCPP 2.0.1
=============================== ===================================================
``connectorId`` (0 = station)   ``evseId`` (0 = station)
``chargingProfileId``           ``id``
``ChargePointMaxProfile``       ``ChargingStationMaxProfile``
``transactionId`` (integer)     ``transactionId`` (string of that integer)
``chargingSchedule`` (one)      ``chargingSchedule`` (a list of one)
(no schedule id)                ``chargingSchedule[0].id`` (``schedule_id``, default 0)
=============================== ===================================================

What 1.6 cannot say raises :class:`~smartcharge.errors.TranslationError` naming the field:
the ChargingStationExternalConstraints purpose, more than one schedule, a ``transactionId``
that is not an integer, ``phaseToUse``, ``salesTariff`` and ``customData``. The 2.0.1 schedule
``id`` is the one field dropped without an error: it names the schedule and has no effect on
charging.

>>> p16 = {"chargingProfileId": 5, "stackLevel": 1, "transactionId": 42,
...        "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
...        "chargingSchedule": {"chargingRateUnit": "A",
...            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}}
>>> profile = profile_from_v16(p16)
>>> profile.transaction_id, profile.charging_schedule[0].id
('42', 0)
>>> profile_to_v16(profile).to_json_dict() == p16
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import Field

from smartcharge.errors import InvalidPayloadError, TranslationError
from smartcharge.model import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingProfileStatus,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    CompositeSchedule,
    OcppModel,
    RecurrencyKind,
)
from smartcharge.model._base import NonNegInt, OneDecimal, StrictInteger, UTCDateTime
from smartcharge.ocpp import interop, v201
from smartcharge.ocpp._schema import dump, parse_model
from smartcharge.ocpp.v201 import _StrEnum

__all__ = [
    "MESSAGES16",
    "ChargingProfile16",
    "ChargingProfilePurpose16",
    "ChargingSchedule16",
    "ChargingSchedulePeriod16",
    "ClearChargingProfile16",
    "ClearChargingProfileConf16",
    "GetCompositeSchedule16",
    "GetCompositeScheduleConf16",
    "Message16",
    "SetChargingProfile16",
    "SetChargingProfileConf16",
    "clear_charging_profile_request",
    "from_ocpp",
    "from_v16",
    "get_composite_schedule_request",
    "get_composite_schedule_response",
    "parse",
    "parse_charging_profile",
    "parse_get_composite_schedule_response",
    "parse_set_charging_profile_request",
    "profile_from_v16",
    "profile_to_v16",
    "purpose_from_v16",
    "purpose_to_v16",
    "set_charging_profile_request",
    "to_ocpp",
    "to_v16",
]

Phases = Annotated[int, Field(strict=True, ge=1, le=3)]
M16 = TypeVar("M16", bound=OcppModel)
Limit = Annotated[OneDecimal, Field(ge=0)]


class ChargingProfilePurpose16(_StrEnum):
    """ChargingProfilePurposeType of OCPP 1.6."""

    ChargePointMaxProfile = "ChargePointMaxProfile"
    TxDefaultProfile = "TxDefaultProfile"
    TxProfile = "TxProfile"


class _Status16(_StrEnum):
    Accepted = "Accepted"
    Rejected = "Rejected"
    NotSupported = "NotSupported"


class _ClearStatus16(_StrEnum):
    Accepted = "Accepted"
    Unknown = "Unknown"


class _CompositeStatus16(_StrEnum):
    Accepted = "Accepted"
    Rejected = "Rejected"


class ChargingSchedulePeriod16(OcppModel):
    """ChargingSchedulePeriod of 1.6: ``startPeriod`` [s], ``limit`` (A or W), ``numberPhases``."""

    start_period: NonNegInt
    limit: Limit
    number_phases: Phases | None = None


class ChargingSchedule16(OcppModel):
    """ChargingSchedule of 1.6 (no ``id``, no ``salesTariff``; at least one period)."""

    duration: NonNegInt | None = None
    start_schedule: UTCDateTime | None = None
    charging_rate_unit: ChargingRateUnit
    charging_schedule_period: Annotated[tuple[ChargingSchedulePeriod16, ...], Field(min_length=1)]
    min_charging_rate: Limit | None = None


class ChargingProfile16(OcppModel):
    """ChargingProfile of 1.6, as in ``SetChargingProfile.req`` ``csChargingProfiles``."""

    charging_profile_id: StrictInteger
    transaction_id: StrictInteger | None = None
    stack_level: NonNegInt
    charging_profile_purpose: ChargingProfilePurpose16
    charging_profile_kind: ChargingProfileKind
    recurrency_kind: RecurrencyKind | None = None
    valid_from: UTCDateTime | None = None
    valid_to: UTCDateTime | None = None
    charging_schedule: ChargingSchedule16


class Message16(OcppModel):
    """Base of the 1.6 message models; ``action`` is the 1.6 schema's name."""

    action: ClassVar[str] = ""


class SetChargingProfile16(Message16):
    """SetChargingProfile.req of 1.6."""

    action: ClassVar[str] = "SetChargingProfile"
    connector_id: NonNegInt
    cs_charging_profiles: ChargingProfile16


class SetChargingProfileConf16(Message16):
    """SetChargingProfile.conf of 1.6: Accepted, Rejected or NotSupported."""

    action: ClassVar[str] = "SetChargingProfileResponse"
    status: _Status16


class GetCompositeSchedule16(Message16):
    """GetCompositeSchedule.req of 1.6."""

    action: ClassVar[str] = "GetCompositeSchedule"
    connector_id: NonNegInt
    duration: NonNegInt
    charging_rate_unit: ChargingRateUnit | None = None


class GetCompositeScheduleConf16(Message16):
    """GetCompositeSchedule.conf of 1.6."""

    action: ClassVar[str] = "GetCompositeScheduleResponse"
    status: _CompositeStatus16
    connector_id: NonNegInt | None = None
    schedule_start: UTCDateTime | None = None
    charging_schedule: ChargingSchedule16 | None = None


class ClearChargingProfile16(Message16):
    """ClearChargingProfile.req of 1.6 (every field optional)."""

    action: ClassVar[str] = "ClearChargingProfile"
    id: StrictInteger | None = None
    connector_id: NonNegInt | None = None
    charging_profile_purpose: ChargingProfilePurpose16 | None = None
    stack_level: NonNegInt | None = None


class ClearChargingProfileConf16(Message16):
    """ClearChargingProfile.conf of 1.6: Accepted or Unknown."""

    action: ClassVar[str] = "ClearChargingProfileResponse"
    status: _ClearStatus16


MESSAGES16: Mapping[str, type[Message16]] = {
    cls.action: cls
    for cls in (
        SetChargingProfile16,
        SetChargingProfileConf16,
        GetCompositeSchedule16,
        GetCompositeScheduleConf16,
        ClearChargingProfile16,
        ClearChargingProfileConf16,
    )
}
"""The 1.6 message models by the name of their schema in the ``ocpp`` package
(``"SetChargingProfile"``, ``"SetChargingProfileResponse"``, ...)."""


def parse(action: str, payload: object) -> Message16:
    """Validate a 1.6 payload into its 1.6 model (no translation to 2.0.1).

    Parameters
    ----------
    action
        A key of :data:`MESSAGES16`, e.g. ``"SetChargingProfile"`` or
        ``"GetCompositeScheduleResponse"``.
    payload
        The 1.6 JSON.

    Raises
    ------
    InvalidPayloadError
        When the payload breaks the 1.6 schema or a value rule, naming the JSON path; for an
        unknown action, with ``ocpp_error`` ``"NotImplemented"``.
    """
    cls = MESSAGES16.get(action)
    if cls is None:
        raise InvalidPayloadError(
            f"unknown OCPP 1.6 smart-charging action {action!r}; known: "
            f"{', '.join(sorted(MESSAGES16))}",
            rule="NotImplemented",
            ocpp_error="NotImplemented",
        )
    return _parse16(cls, payload)


def _parse16(cls: type[M16], payload: object) -> M16:
    """Validate 1.6 JSON into ``cls``; the 1.6 schemas bound no number (the spec's text does,
    so a bound is labelled ``OCPP:<field>>=<n>``)."""
    return parse_model(cls, payload, bounded=frozenset())


def _untranslatable(message: str, path: str | None, rule: str) -> TranslationError:
    return TranslationError(message, path=path, rule=rule)


def _join(prefix: str | None, path: str) -> str:
    return f"{prefix}.{path}" if prefix else path


# --------------------------------------------------------------------------------------------
# Purposes and profiles
# --------------------------------------------------------------------------------------------


def purpose_to_v16(
    purpose: ChargingProfilePurpose | str, *, path: str | None = "chargingProfilePurpose"
) -> ChargingProfilePurpose16:
    """The 1.6 purpose of a 2.0.1 purpose.

    Raises
    ------
    TranslationError
        For ChargingStationExternalConstraints, which 1.6 does not have.

    >>> purpose_to_v16("ChargingStationMaxProfile").value
    'ChargePointMaxProfile'
    """
    value = ChargingProfilePurpose(purpose)
    if value is ChargingProfilePurpose.ChargingStationMaxProfile:
        return ChargingProfilePurpose16.ChargePointMaxProfile
    if value is ChargingProfilePurpose.ChargingStationExternalConstraints:
        raise _untranslatable(
            "OCPP 1.6 has no ChargingStationExternalConstraints purpose (external limits are "
            "invisible to a 1.6 central system)",
            path,
            "v16:chargingProfilePurpose",
        )
    return ChargingProfilePurpose16(value.value)


def purpose_from_v16(purpose: ChargingProfilePurpose16 | str) -> ChargingProfilePurpose:
    """The 2.0.1 purpose of a 1.6 purpose (ChargePointMaxProfile -> ChargingStationMaxProfile).

    >>> purpose_from_v16("ChargePointMaxProfile").value
    'ChargingStationMaxProfile'
    """
    value = ChargingProfilePurpose16(purpose)
    if value is ChargingProfilePurpose16.ChargePointMaxProfile:
        return ChargingProfilePurpose.ChargingStationMaxProfile
    return ChargingProfilePurpose(value.value)


def _transaction_to_v16(transaction_id: str | None, path: str) -> int | None:
    if transaction_id is None:
        return None
    text = transaction_id
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()) or str(int(text)) != text:
        raise _untranslatable(
            f"OCPP 1.6 transactionIds are integers; {transaction_id!r} is not the decimal "
            "form of one",
            path,
            "v16:transactionId",
        )
    return int(text)


def profile_to_v16(profile: ChargingProfile, *, path: str | None = None) -> ChargingProfile16:
    """Translate a 2.0.1 ChargingProfile into the 1.6 ``csChargingProfiles``.

    Parameters
    ----------
    profile
        The 2.0.1 profile.
    path
        JSON path of the profile in its message, put in front of error paths
        (e.g. ``"chargingProfile"``).

    Raises
    ------
    TranslationError
        When the profile uses what 1.6 cannot express (see the module docstring); the error
        names the field.
    """
    if profile.custom_data is not None:
        raise _untranslatable("OCPP 1.6 has no customData", _join(path, "customData"), "v16")
    purpose = purpose_to_v16(
        profile.charging_profile_purpose, path=_join(path, "chargingProfilePurpose")
    )
    if len(profile.charging_schedule) != 1:
        raise _untranslatable(
            f"an OCPP 1.6 profile holds exactly one chargingSchedule, this one has "
            f"{len(profile.charging_schedule)}",
            _join(path, "chargingSchedule"),
            "v16:chargingSchedule",
        )
    schedule = profile.charging_schedule[0]
    where = _join(path, "chargingSchedule[0]")
    if schedule.sales_tariff is not None:
        raise _untranslatable(
            "OCPP 1.6 has no salesTariff (ISO 15118 tariffs)",
            f"{where}.salesTariff",
            "v16:salesTariff",
        )
    if schedule.custom_data is not None:
        raise _untranslatable("OCPP 1.6 has no customData", f"{where}.customData", "v16")
    periods = _periods_to_v16(schedule.charging_schedule_period, where)
    return ChargingProfile16(
        charging_profile_id=profile.id,
        transaction_id=_transaction_to_v16(profile.transaction_id, _join(path, "transactionId")),
        stack_level=profile.stack_level,
        charging_profile_purpose=purpose,
        charging_profile_kind=profile.charging_profile_kind,
        recurrency_kind=profile.recurrency_kind,
        valid_from=profile.valid_from,
        valid_to=profile.valid_to,
        charging_schedule=ChargingSchedule16(
            duration=schedule.duration,
            start_schedule=schedule.start_schedule,
            charging_rate_unit=schedule.charging_rate_unit,
            charging_schedule_period=periods,
            min_charging_rate=schedule.min_charging_rate,
        ),
    )


def _periods_to_v16(
    periods: tuple[ChargingSchedulePeriod, ...], where: str
) -> tuple[ChargingSchedulePeriod16, ...]:
    """The 1.6 periods of 2.0.1 ones (``where``: the JSON path of their schedule).

    Raises
    ------
    TranslationError
        For a period with ``phaseToUse`` or ``customData``, which 1.6 does not have.
    """
    out = []
    for index, period in enumerate(periods):
        here = f"{where}.chargingSchedulePeriod[{index}]"
        if period.phase_to_use is not None:
            raise _untranslatable(
                "OCPP 1.6 cannot choose the phase of single-phase charging (phaseToUse)",
                f"{here}.phaseToUse",
                "v16:phaseToUse",
            )
        if period.custom_data is not None:
            raise _untranslatable("OCPP 1.6 has no customData", f"{here}.customData", "v16")
        out.append(
            ChargingSchedulePeriod16(
                start_period=period.start_period,
                limit=period.limit,
                number_phases=period.number_phases,
            )
        )
    return tuple(out)


def parse_charging_profile(payload: object) -> ChargingProfile16:
    """Validate a 1.6 ``csChargingProfiles`` JSON object.

    Raises
    ------
    InvalidPayloadError
        When it breaks the 1.6 schema or a value rule (one-digit limits, ``stackLevel`` >= 0,
        at least one period), naming the JSON path.
    """
    return _parse16(ChargingProfile16, payload)


def _schedule_from_v16(schedule: ChargingSchedule16, schedule_id: int) -> ChargingSchedule:
    return ChargingSchedule(
        id=schedule_id,
        start_schedule=schedule.start_schedule,
        duration=schedule.duration,
        charging_rate_unit=schedule.charging_rate_unit,
        charging_schedule_period=_periods_from_v16(schedule),
        min_charging_rate=schedule.min_charging_rate,
    )


def _periods_from_v16(schedule: ChargingSchedule16) -> tuple[ChargingSchedulePeriod, ...]:
    return tuple(
        ChargingSchedulePeriod(
            start_period=p.start_period, limit=p.limit, number_phases=p.number_phases
        )
        for p in schedule.charging_schedule_period
    )


def profile_from_v16(
    profile: ChargingProfile16 | Mapping[str, Any], *, schedule_id: int = 0
) -> ChargingProfile:
    """Translate a 1.6 ChargingProfile (model or ``csChargingProfiles`` JSON) into 2.0.1.

    Every 1.6 profile can be expressed in 2.0.1: this raises only for an invalid payload.

    Parameters
    ----------
    profile
        The 1.6 profile.
    schedule_id
        The ``id`` to give the 2.0.1 ChargingSchedule (1.6 schedules have none).

    Raises
    ------
    InvalidPayloadError
        When a JSON ``profile`` breaks the 1.6 schema or a value rule.
    """
    p16 = parse_charging_profile(profile)
    return ChargingProfile(
        id=p16.charging_profile_id,
        stack_level=p16.stack_level,
        charging_profile_purpose=purpose_from_v16(p16.charging_profile_purpose),
        charging_profile_kind=p16.charging_profile_kind,
        recurrency_kind=p16.recurrency_kind,
        valid_from=p16.valid_from,
        valid_to=p16.valid_to,
        charging_schedule=(_schedule_from_v16(p16.charging_schedule, schedule_id),),
        transaction_id=None if p16.transaction_id is None else str(p16.transaction_id),
    )


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


def set_charging_profile_request(
    connector_id: int, profile: ChargingProfile | ChargingProfile16
) -> dict[str, Any]:
    """The 1.6 ``SetChargingProfile.req`` payload (a 2.0.1 profile is translated first).

    Raises
    ------
    TranslationError
        When a 2.0.1 profile cannot be expressed in 1.6 (paths start at ``csChargingProfiles``).
    """
    p16 = (
        profile
        if isinstance(profile, ChargingProfile16)
        else profile_to_v16(profile, path="csChargingProfiles")
    )
    payload = {"connectorId": connector_id, "csChargingProfiles": dump(p16)}
    return dump(_parse16(SetChargingProfile16, payload))


def parse_set_charging_profile_request(payload: object) -> v201.SetChargingProfileRequest:
    """Read a 1.6 ``SetChargingProfile.req`` as a 2.0.1 SetChargingProfileRequest.

    ``connectorId`` becomes ``evseId`` and the profile is translated (schedule id 0).

    Raises
    ------
    InvalidPayloadError
        When the payload breaks the 1.6 schema or a value rule.
    """
    req = _parse16(SetChargingProfile16, payload)
    return v201.SetChargingProfileRequest(
        evse_id=req.connector_id, charging_profile=profile_from_v16(req.cs_charging_profiles)
    )


def get_composite_schedule_request(
    connector_id: int, duration: int, *, unit: ChargingRateUnit | str | None = None
) -> dict[str, Any]:
    """The 1.6 ``GetCompositeSchedule.req`` payload: ``duration`` [s] on ``connector_id``."""
    payload: dict[str, Any] = {"connectorId": connector_id, "duration": duration}
    if unit is not None:
        payload["chargingRateUnit"] = ChargingRateUnit(unit).value
    return dump(_parse16(GetCompositeSchedule16, payload))


def parse_get_composite_schedule_response(
    payload: object, *, connector_id: int | None = None, duration: int | None = None
) -> v201.GetCompositeScheduleResponse:
    """Read a 1.6 ``GetCompositeSchedule.conf`` as a 2.0.1 GetCompositeScheduleResponse.

    Its ``schedule`` is a :class:`~smartcharge.model.CompositeSchedule` whose periods start at
    ``scheduleStart``, or ``None`` when the station rejected the request or sent no schedule.

    Parameters
    ----------
    payload
        The ``.conf`` JSON.
    connector_id, duration
        The connector and duration [s] of the request, used when the answer leaves
        ``connectorId`` or the schedule's ``duration`` out (both are optional in 1.6).

    Raises
    ------
    InvalidPayloadError
        When the payload breaks the 1.6 schema or a value rule.
    TranslationError
        When an Accepted schedule lacks what a 2.0.1 CompositeSchedule needs (a start
        time, a duration, a connector) and the arguments do not supply it.

    >>> r = parse_get_composite_schedule_response({"status": "Accepted", "connectorId": 1,
    ...     "scheduleStart": "2024-01-01T00:00:00Z", "chargingSchedule": {"duration": 600,
    ...     "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0,
    ...     "limit": 11000.0}]}})
    >>> r.schedule.duration, r.schedule.charging_schedule_period[0].limit
    (600, 11000.0)
    """
    conf = _parse16(GetCompositeScheduleConf16, payload)
    status = v201.GenericStatus(conf.status.value)
    schedule = conf.charging_schedule
    if status is v201.GenericStatus.Rejected or schedule is None:
        return v201.GetCompositeScheduleResponse(status=status)
    evse = conf.connector_id if conf.connector_id is not None else connector_id
    if evse is None:
        raise _untranslatable(
            "the answer has no connectorId and none was given (connector_id=)",
            "connectorId",
            "v16:compositeSchedule",
        )
    start = conf.schedule_start or schedule.start_schedule
    if start is None:
        raise _untranslatable(
            "the answer has neither scheduleStart nor chargingSchedule.startSchedule",
            "scheduleStart",
            "v16:compositeSchedule",
        )
    length = schedule.duration if schedule.duration is not None else duration
    if length is None:
        raise _untranslatable(
            "the schedule has no duration and none was given (duration=)",
            "chargingSchedule.duration",
            "v16:compositeSchedule",
        )
    composite = CompositeSchedule(
        evse_id=evse,
        duration=length,
        schedule_start=start,
        charging_rate_unit=schedule.charging_rate_unit,
        charging_schedule_period=_periods_from_v16(schedule),
    )
    return v201.GetCompositeScheduleResponse(status=status, schedule=composite)


def get_composite_schedule_response(
    schedule: CompositeSchedule | None, *, status: str | None = None
) -> dict[str, Any]:
    """The 1.6 ``GetCompositeSchedule.conf`` payload of a composite schedule (for simulators).

    ``status`` defaults to Accepted with a schedule and Rejected without one.

    Raises
    ------
    TranslationError
        When a period carries ``phaseToUse`` or ``customData``.
    """
    if schedule is None:
        return dump(_parse16(GetCompositeScheduleConf16, {"status": status or "Rejected"}))
    periods = _periods_to_v16(schedule.charging_schedule_period, "schedule")
    conf = GetCompositeScheduleConf16(
        status=_CompositeStatus16(status or "Accepted"),
        connector_id=schedule.evse_id,
        schedule_start=schedule.schedule_start,
        charging_schedule=ChargingSchedule16(
            duration=schedule.duration,
            start_schedule=schedule.schedule_start,
            charging_rate_unit=schedule.charging_rate_unit,
            charging_schedule_period=periods,
        ),
    )
    return dump(conf)


def clear_charging_profile_request(
    *,
    profile_id: int | None = None,
    connector_id: int | None = None,
    purpose: ChargingProfilePurpose | ChargingProfilePurpose16 | str | None = None,
    stack_level: int | None = None,
) -> dict[str, Any]:
    """The 1.6 ``ClearChargingProfile.req`` payload (a 2.0.1 purpose is translated).

    Raises
    ------
    TranslationError
        For the ChargingStationExternalConstraints purpose.
    """
    payload: dict[str, Any] = {}
    if profile_id is not None:
        payload["id"] = profile_id
    if connector_id is not None:
        payload["connectorId"] = connector_id
    if purpose is not None:
        text = purpose.value if isinstance(purpose, _StrEnum) else str(purpose)
        p16 = (
            ChargingProfilePurpose16(text)
            if text in ChargingProfilePurpose16.__members__
            else purpose_to_v16(text, path="chargingProfilePurpose")
        )
        payload["chargingProfilePurpose"] = p16.value
    if stack_level is not None:
        payload["stackLevel"] = stack_level
    return dump(_parse16(ClearChargingProfile16, payload))


# --------------------------------------------------------------------------------------------
# Whole messages, both ways
# --------------------------------------------------------------------------------------------


def to_v16(message: v201.Message) -> tuple[str, dict[str, Any]]:
    """The 1.6 ``(action, payload)`` of a 2.0.1 message a CSMS sends, or of an answer to one.

    Supports SetChargingProfileRequest, GetCompositeScheduleRequest,
    ClearChargingProfileRequest (the 1.6 requests), and SetChargingProfileResponse,
    ClearChargingProfileResponse, GetCompositeScheduleResponse (their ``.conf``, for station
    simulators; the action then ends with ``Response``).

    A response's ``statusInfo`` is dropped (1.6 answers carry only a status).

    Raises
    ------
    TranslationError
        When the message, or something in it, has no 1.6 equivalent.
    """
    if getattr(message, "custom_data", None) is not None:
        raise _untranslatable("OCPP 1.6 has no customData", "customData", "v16")
    if isinstance(message, v201.SetChargingProfileRequest):
        return "SetChargingProfile", {
            "connectorId": message.evse_id,
            "csChargingProfiles": dump(
                profile_to_v16(message.charging_profile, path="chargingProfile")
            ),
        }
    if isinstance(message, v201.GetCompositeScheduleRequest):
        return "GetCompositeSchedule", get_composite_schedule_request(
            message.evse_id, message.duration, unit=message.charging_rate_unit
        )
    if isinstance(message, v201.ClearChargingProfileRequest):
        criteria = message.charging_profile_criteria
        return "ClearChargingProfile", clear_charging_profile_request(
            profile_id=message.charging_profile_id,
            connector_id=None if criteria is None else criteria.evse_id,
            purpose=None if criteria is None else criteria.charging_profile_purpose,
            stack_level=None if criteria is None else criteria.stack_level,
        )
    if isinstance(message, v201.SetChargingProfileResponse):
        return "SetChargingProfileResponse", {"status": message.status.value}
    if isinstance(message, v201.ClearChargingProfileResponse):
        return "ClearChargingProfileResponse", {"status": message.status.value}
    if isinstance(message, v201.GetCompositeScheduleResponse):
        return "GetCompositeScheduleResponse", get_composite_schedule_response(
            message.schedule, status=message.status.value
        )
    raise _untranslatable(
        f"{message.schema_name()} has no OCPP 1.6 equivalent",
        None,
        "v16:message",
    )


def from_v16(action: str, payload: object) -> v201.Message:
    """Read a 1.6 smart-charging payload as the equivalent 2.0.1 message model.

    Parameters
    ----------
    action
        ``"SetChargingProfile"``, ``"GetCompositeSchedule"``, ``"ClearChargingProfile"`` (the
        requests) or the same with ``"Response"`` appended (their ``.conf``).
    payload
        The 1.6 JSON.

    Raises
    ------
    InvalidPayloadError
        When the payload breaks the 1.6 schema or a value rule, or the action is unknown.
    TranslationError
        When a composite schedule answer lacks what 2.0.1 needs (see
        :func:`parse_get_composite_schedule_response`).

    Notes
    -----
    A 1.6 ``SetChargingProfile.conf`` with status ``NotSupported`` (2.0.1 has no such status)
    reads as ``Rejected`` with ``statusInfo.reasonCode`` ``"NotSupported"``.
    """
    if action == "SetChargingProfile":
        return parse_set_charging_profile_request(payload)
    if action == "GetCompositeScheduleResponse":
        return parse_get_composite_schedule_response(payload)
    msg = parse(action, payload)
    if isinstance(msg, GetCompositeSchedule16):
        return v201.GetCompositeScheduleRequest(
            duration=msg.duration,
            charging_rate_unit=msg.charging_rate_unit,
            evse_id=msg.connector_id,
        )
    if isinstance(msg, ClearChargingProfile16):
        purpose = (
            None
            if msg.charging_profile_purpose is None
            else purpose_from_v16(msg.charging_profile_purpose)
        )
        criteria = None
        if (msg.connector_id, purpose, msg.stack_level) != (None, None, None):
            criteria = v201.ClearChargingProfileCriteria(
                evse_id=msg.connector_id,
                charging_profile_purpose=purpose,
                stack_level=msg.stack_level,
            )
        return v201.ClearChargingProfileRequest(
            charging_profile_id=msg.id, charging_profile_criteria=criteria
        )
    if isinstance(msg, SetChargingProfileConf16):
        if msg.status is _Status16.NotSupported:
            return v201.SetChargingProfileResponse(
                status=ChargingProfileStatus.Rejected,
                status_info=v201.StatusInfo(reason_code="NotSupported"),
            )
        return v201.SetChargingProfileResponse(status=ChargingProfileStatus(msg.status.value))
    assert isinstance(msg, ClearChargingProfileConf16)
    return v201.ClearChargingProfileResponse(
        status=v201.ClearChargingProfileStatus(msg.status.value)
    )


# --------------------------------------------------------------------------------------------
# Interop with the ``ocpp`` package's 1.6 dataclasses (optional; imported lazily)
# --------------------------------------------------------------------------------------------


def to_ocpp(message: v201.Message | object, payload: Mapping[str, Any] | None = None) -> Any:
    """The ``ocpp.v16.call`` (or ``call_result``) dataclass of a message.

    Ready for ``await charge_point.call(...)`` of an ``ocpp.v16.ChargePoint``, or to return
    from its ``@on(...)`` handlers.

    Parameters
    ----------
    message
        A 2.0.1 message model (translated with :func:`to_v16`), or the 1.6 action of
        ``payload``: a key of :data:`MESSAGES16` (``"SetChargingProfile"``,
        ``"GetCompositeScheduleResponse"``, ...) or the ``ocpp`` package's ``Action`` enum
        (the request).
    payload
        With an action: the 1.6 JSON a builder of this module returned (validated first).

    Raises
    ------
    TranslationError
        When the message has no 1.6 equivalent.
    InvalidPayloadError
        For a ``dict`` without an action, an unknown action, or an invalid payload.
    ImportError
        When the ``ocpp`` package is not installed (``pip install 'smartcharge[ocpp]'``).
    """
    if isinstance(message, v201.Message):
        if payload is not None:
            raise InvalidPayloadError(
                "to_ocpp takes a 2.0.1 message model, or a 1.6 action and its payload, not both",
                path="payload",
                rule="interop",
            )
        action, data = to_v16(message)
    elif payload is None:
        raise InvalidPayloadError(
            f"to_ocpp needs a 2.0.1 message model, or the 1.6 action and a payload: "
            f"to_ocpp('SetChargingProfile', payload); got a {type(message).__name__} alone",
            path="action",
            rule="interop",
            ocpp_error="FormationViolation",
        )
    else:
        action = interop.action_name(message)
        data = dump(parse(action, payload))
    return interop.ocpp_dataclass(
        "1.6", action.removesuffix("Response"), action.endswith("Response"), data
    )


def from_ocpp(message: object, action: object = None) -> v201.Message:
    """Read an ``ocpp.v16`` dataclass, or a 1.6 handler's keyword arguments, as 2.0.1.

    Parameters
    ----------
    message
        An ``ocpp.v16.call`` / ``call_result`` dataclass (what ``ChargePoint.call()``
        returns), or the snake_case keyword arguments the ``ocpp`` package passes to an
        ``@on(...)`` handler (their ``Decimal`` numbers are read as JSON numbers).
    action
        For keyword arguments: the 1.6 action, as the ``ocpp`` package's ``Action`` enum or
        a key of :data:`MESSAGES16` (a bare name is the request handlers receive).

    Raises
    ------
    InvalidPayloadError
        When the message is invalid or not a 1.6 smart-charging message.
    TranslationError
        As :func:`from_v16`.
    """
    if interop.is_ocpp_dataclass(message, "1.6"):
        suffix = "Response" if interop.is_response_dataclass(message) else ""
        return from_v16(type(message).__name__ + suffix, interop.camel_payload(message))
    if action is None or not isinstance(message, Mapping):
        raise InvalidPayloadError(
            f"from_ocpp needs an ocpp.v16 call or call_result dataclass, or a handler's "
            f"keyword arguments with action=; got {type(message).__name__}",
            path="action",
            rule="interop",
            ocpp_error="FormationViolation",
        )
    return from_v16(interop.action_name(action), interop.camel_payload(message))
