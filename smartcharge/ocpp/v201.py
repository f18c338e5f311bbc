"""OCPP 2.0.1 smart-charging messages: payloads in, payloads out (pure functions, no sockets).

Each message has a small frozen model (``SetChargingProfileRequest``, ...; snake_case attributes,
the official camelCase JSON as aliases), a builder that returns the JSON ``dict`` to send
(``set_charging_profile_request(evse_id, profile)``), and a parser that validates a received
JSON payload (``parse_set_charging_profile_request(payload)``). Every built payload validates
against the official schema of its action. A received payload that breaks the schema or one of
the spec's value rules raises :class:`~smartcharge.errors.InvalidPayloadError` naming the JSON
path, the rule, and the OCPP CALLERROR code to answer with (``err.ocpp_error``).

>>> from smartcharge.model import ChargingProfile
>>> profile = ChargingProfile.model_validate({
...     "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
...     "chargingProfileKind": "Relative", "chargingSchedule": [{"id": 1,
...     "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}]})
>>> payload = set_charging_profile_request(1, profile)
>>> parse_set_charging_profile_request(payload).charging_profile == profile
True
>>> bad = {"evseId": 1, "chargingProfile": {**payload["chargingProfile"], "stackLevel": "0"}}
>>> try:
...     parse_set_charging_profile_request(bad)
... except InvalidPayloadError as err:
...     print(err.path, err.ocpp_error)
chargingProfile.stackLevel TypeConstraintViolation

Interop with the ``ocpp`` package (optional extra ``smartcharge[ocpp]``, imported lazily):
:func:`from_ocpp` reads its ``ocpp.v201.call`` / ``call_result`` dataclasses, or a handler's
snake_case keyword arguments with ``action=`` (a name or the package's ``Action`` enum), and
:func:`to_ocpp` returns the dataclass of a message model, or of an action and a builder's
payload (``to_ocpp("SetChargingProfileResponse", payload)``). See the how-to "Wire it to
the ocpp package".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, ClassVar, Protocol, TypeVar

from pydantic import Field, StrictBool, StrictStr

from smartcharge.errors import InvalidPayloadError
from smartcharge.model import (
    ChargingLimit,
    ChargingLimitSource,
    ChargingNeeds,
    ChargingProfile,
    ChargingProfilePurpose,
    ChargingProfileStatus,
    ChargingRateUnit,
    ChargingSchedule,
    ClearChargingProfileStatus,
    CompositeSchedule,
    CustomData,
    EnergyTransferMode,
    OcppModel,
    format_datetime,
)
from smartcharge.model._base import NonNegInt, StrictInteger, UTCDateTime
from smartcharge.ocpp import interop
from smartcharge.ocpp._schema import OCCURRENCE, PROPERTY, dump, parse_model
from smartcharge.units import convert

__all__ = [
    "MESSAGES",
    "ChargingProfileCriterion",
    "ClearChargingProfileCriteria",
    "ClearChargingProfileRequest",
    "ClearChargingProfileResponse",
    "ClearChargingProfileStatus",
    "ClearedChargingLimitRequest",
    "ClearedChargingLimitResponse",
    "EnergyNeed",
    "ExternalLimit",
    "GenericStatus",
    "GetChargingProfileStatus",
    "GetChargingProfilesRequest",
    "GetChargingProfilesResponse",
    "GetCompositeScheduleRequest",
    "GetCompositeScheduleResponse",
    "Message",
    "NotifyChargingLimitRequest",
    "NotifyChargingLimitResponse",
    "NotifyEVChargingNeedsRequest",
    "NotifyEVChargingNeedsResponse",
    "NotifyEVChargingNeedsStatus",
    "NotifyEVChargingScheduleRequest",
    "NotifyEVChargingScheduleResponse",
    "ReportChargingProfilesRequest",
    "ReportChargingProfilesResponse",
    "SetChargingProfileRequest",
    "SetChargingProfileResponse",
    "StatusInfo",
    "StatusResponseBuilder",
    "clear_charging_profile_request",
    "clear_charging_profile_response",
    "cleared_charging_limit_request",
    "energy_need",
    "external_constraints",
    "from_ocpp",
    "get_charging_profiles_request",
    "get_charging_profiles_response",
    "get_composite_schedule_request",
    "get_composite_schedule_response",
    "message_class",
    "notify_charging_limit_request",
    "notify_ev_charging_needs_request",
    "notify_ev_charging_needs_response",
    "notify_ev_charging_schedule_request",
    "notify_ev_charging_schedule_response",
    "parse",
    "parse_clear_charging_profile_request",
    "parse_clear_charging_profile_response",
    "parse_cleared_charging_limit_request",
    "parse_cleared_charging_limit_response",
    "parse_get_charging_profiles_request",
    "parse_get_charging_profiles_response",
    "parse_get_composite_schedule_request",
    "parse_get_composite_schedule_response",
    "parse_notify_charging_limit_request",
    "parse_notify_charging_limit_response",
    "parse_notify_ev_charging_needs_request",
    "parse_notify_ev_charging_needs_response",
    "parse_notify_ev_charging_schedule_request",
    "parse_notify_ev_charging_schedule_response",
    "parse_report_charging_profiles_request",
    "parse_report_charging_profiles_response",
    "parse_set_charging_profile_request",
    "parse_set_charging_profile_response",
    "report_charging_profiles_request",
    "set_charging_profile_request",
    "set_charging_profile_response",
    "to_ocpp",
]

PosInt = Annotated[int, Field(strict=True, gt=0)]
"""An evseId that may not be 0 (the spec's rule for messages about one EV)."""

CustomDataField = Annotated[CustomData | None, Field(default=None)]


# --------------------------------------------------------------------------------------------
# Enumerations only these messages use
# --------------------------------------------------------------------------------------------


class _StrEnum(str, Enum):
    def __str__(self) -> str:
        return str(self.value)


class GenericStatus(_StrEnum):
    """GenericStatusEnumType."""

    Accepted = "Accepted"
    Rejected = "Rejected"


class GetChargingProfileStatus(_StrEnum):
    """GetChargingProfileStatusEnumType."""

    Accepted = "Accepted"
    NoProfiles = "NoProfiles"


class NotifyEVChargingNeedsStatus(_StrEnum):
    """NotifyEVChargingNeedsStatusEnumType."""

    Accepted = "Accepted"
    Rejected = "Rejected"
    Processing = "Processing"


# --------------------------------------------------------------------------------------------
# Datatypes and messages
# --------------------------------------------------------------------------------------------


class StatusInfo(OcppModel):
    """StatusInfoType: a reason code (<= 20 chars) and optional text (<= 512 chars)."""

    reason_code: Annotated[StrictStr, Field(max_length=20)]
    additional_info: Annotated[StrictStr, Field(max_length=512)] | None = None
    custom_data: CustomDataField


class Message(OcppModel):
    """Base of the message models; ``action`` and ``direction`` name the OCPP message."""

    action: ClassVar[str] = ""
    direction: ClassVar[str] = ""  # "Request" or "Response"

    def check_rules(self) -> None:
        """Check the spec's rules the field types cannot say (raises InvalidPayloadError)."""

    @classmethod
    def schema_name(cls) -> str:
        """The official schema's name, e.g. ``"SetChargingProfileRequest"``."""
        return cls.action + cls.direction


class _Request(Message):
    direction: ClassVar[str] = "Request"


class _Response(Message):
    direction: ClassVar[str] = "Response"


class SetChargingProfileRequest(_Request):
    """SetChargingProfileRequest: install ``charging_profile`` on EVSE ``evse_id`` (0 = station)."""

    action: ClassVar[str] = "SetChargingProfile"
    evse_id: NonNegInt
    charging_profile: ChargingProfile
    custom_data: CustomDataField


class SetChargingProfileResponse(_Response):
    """SetChargingProfileResponse: Accepted or Rejected."""

    action: ClassVar[str] = "SetChargingProfile"
    status: ChargingProfileStatus
    status_info: StatusInfo | None = None
    custom_data: CustomDataField


class ChargingProfileCriterion(OcppModel):
    """ChargingProfileCriterionType: which installed profiles GetChargingProfiles reports."""

    charging_profile_purpose: ChargingProfilePurpose | None = None
    stack_level: NonNegInt | None = None
    charging_profile_id: Annotated[tuple[StrictInteger, ...], Field(min_length=1)] | None = None
    charging_limit_source: (
        Annotated[tuple[ChargingLimitSource, ...], Field(min_length=1, max_length=4)] | None
    ) = None
    custom_data: CustomDataField


class GetChargingProfilesRequest(_Request):
    """GetChargingProfilesRequest: ask a station to report its installed profiles."""

    action: ClassVar[str] = "GetChargingProfiles"
    request_id: StrictInteger
    evse_id: NonNegInt | None = None
    charging_profile: ChargingProfileCriterion
    custom_data: CustomDataField


class GetChargingProfilesResponse(_Response):
    """GetChargingProfilesResponse: Accepted (reports follow) or NoProfiles."""

    action: ClassVar[str] = "GetChargingProfiles"
    status: GetChargingProfileStatus
    status_info: StatusInfo | None = None
    custom_data: CustomDataField


class ReportChargingProfilesRequest(_Request):
    """ReportChargingProfilesRequest: installed profiles of one EVSE and one limit source."""

    action: ClassVar[str] = "ReportChargingProfiles"
    request_id: StrictInteger
    charging_limit_source: ChargingLimitSource
    charging_profile: Annotated[tuple[ChargingProfile, ...], Field(min_length=1)]
    tbc: StrictBool | None = None
    evse_id: NonNegInt
    custom_data: CustomDataField


class ReportChargingProfilesResponse(_Response):
    """ReportChargingProfilesResponse (empty)."""

    action: ClassVar[str] = "ReportChargingProfiles"
    custom_data: CustomDataField


class ClearChargingProfileCriteria(OcppModel):
    """ClearChargingProfileType: which profiles ClearChargingProfile removes."""

    evse_id: NonNegInt | None = None
    charging_profile_purpose: ChargingProfilePurpose | None = None
    stack_level: NonNegInt | None = None
    custom_data: CustomDataField


class ClearChargingProfileRequest(_Request):
    """ClearChargingProfileRequest: by profile id, or by criteria."""

    action: ClassVar[str] = "ClearChargingProfile"
    charging_profile_id: StrictInteger | None = None
    charging_profile_criteria: ClearChargingProfileCriteria | None = None
    custom_data: CustomDataField


class ClearChargingProfileResponse(_Response):
    """ClearChargingProfileResponse: Accepted or Unknown."""

    action: ClassVar[str] = "ClearChargingProfile"
    status: ClearChargingProfileStatus
    status_info: StatusInfo | None = None
    custom_data: CustomDataField


class GetCompositeScheduleRequest(_Request):
    """GetCompositeScheduleRequest: the composite schedule of ``evse_id`` over ``duration`` [s]."""

    action: ClassVar[str] = "GetCompositeSchedule"
    duration: NonNegInt
    charging_rate_unit: ChargingRateUnit | None = None
    evse_id: NonNegInt
    custom_data: CustomDataField


class GetCompositeScheduleResponse(_Response):
    """GetCompositeScheduleResponse: a status and, when Accepted, the composite schedule."""

    action: ClassVar[str] = "GetCompositeSchedule"
    status: GenericStatus
    status_info: StatusInfo | None = None
    schedule: CompositeSchedule | None = None
    custom_data: CustomDataField

    def check_rules(self) -> None:
        """A composite schedule's ``duration`` [s] is not negative."""
        if self.schedule is not None and self.schedule.duration < 0:
            raise InvalidPayloadError(
                f"must be >= 0 s, got {self.schedule.duration}",
                path="schedule.duration",
                rule="value:duration>=0",
                ocpp_error=PROPERTY,
            )


class NotifyEVChargingNeedsRequest(_Request):
    """NotifyEVChargingNeedsRequest: an EV's needs on EVSE ``evse_id`` (> 0)."""

    action: ClassVar[str] = "NotifyEVChargingNeeds"
    max_schedule_tuples: StrictInteger | None = None
    charging_needs: ChargingNeeds
    evse_id: PosInt
    custom_data: CustomDataField


class NotifyEVChargingNeedsResponse(_Response):
    """NotifyEVChargingNeedsResponse: Accepted, Rejected or Processing."""

    action: ClassVar[str] = "NotifyEVChargingNeeds"
    status: NotifyEVChargingNeedsStatus
    status_info: StatusInfo | None = None
    custom_data: CustomDataField


class NotifyChargingLimitRequest(_Request):
    """NotifyChargingLimitRequest: an external limit (EMS, SO, ...) and perhaps its schedules."""

    action: ClassVar[str] = "NotifyChargingLimit"
    charging_schedule: Annotated[tuple[ChargingSchedule, ...], Field(min_length=1)] | None = None
    evse_id: PosInt | None = None
    charging_limit: ChargingLimit
    custom_data: CustomDataField


class NotifyChargingLimitResponse(_Response):
    """NotifyChargingLimitResponse (empty)."""

    action: ClassVar[str] = "NotifyChargingLimit"
    custom_data: CustomDataField


class ClearedChargingLimitRequest(_Request):
    """ClearedChargingLimitRequest: an external limit of ``charging_limit_source`` is gone."""

    action: ClassVar[str] = "ClearedChargingLimit"
    charging_limit_source: ChargingLimitSource
    evse_id: NonNegInt | None = None
    custom_data: CustomDataField


class ClearedChargingLimitResponse(_Response):
    """ClearedChargingLimitResponse (empty)."""

    action: ClassVar[str] = "ClearedChargingLimit"
    custom_data: CustomDataField


class NotifyEVChargingScheduleRequest(_Request):
    """NotifyEVChargingScheduleRequest: the schedule the EV computed, from ``time_base``."""

    action: ClassVar[str] = "NotifyEVChargingSchedule"
    time_base: UTCDateTime
    charging_schedule: ChargingSchedule
    evse_id: PosInt
    custom_data: CustomDataField


class NotifyEVChargingScheduleResponse(_Response):
    """NotifyEVChargingScheduleResponse: Accepted or Rejected."""

    action: ClassVar[str] = "NotifyEVChargingSchedule"
    status: GenericStatus
    status_info: StatusInfo | None = None
    custom_data: CustomDataField


_MESSAGE_TYPES: tuple[type[Message], ...] = (
    SetChargingProfileRequest,
    SetChargingProfileResponse,
    GetChargingProfilesRequest,
    GetChargingProfilesResponse,
    ReportChargingProfilesRequest,
    ReportChargingProfilesResponse,
    ClearChargingProfileRequest,
    ClearChargingProfileResponse,
    GetCompositeScheduleRequest,
    GetCompositeScheduleResponse,
    NotifyEVChargingNeedsRequest,
    NotifyEVChargingNeedsResponse,
    NotifyChargingLimitRequest,
    NotifyChargingLimitResponse,
    ClearedChargingLimitRequest,
    ClearedChargingLimitResponse,
    NotifyEVChargingScheduleRequest,
    NotifyEVChargingScheduleResponse,
)

MESSAGES: Mapping[str, type[Message]] = {cls.schema_name(): cls for cls in _MESSAGE_TYPES}
"""Every message model by its schema name (``"SetChargingProfileRequest"``, ...)."""

MsgT = TypeVar("MsgT", bound=Message)


def _parse(cls: type[MsgT], payload: object) -> MsgT:
    if _is_ocpp_dataclass(payload):
        return _from_ocpp_as(cls, payload)
    message = parse_model(cls, payload)
    message.check_rules()
    return message


def parse(action: object, payload: object) -> Message:
    """Validate a received payload of ``action`` (a schema name, or an action and direction).

    Parameters
    ----------
    action
        ``"SetChargingProfileRequest"`` (the schema name), or ``"SetChargingProfile"`` or
        the ``ocpp`` package's ``Action.set_charging_profile``, which mean the request.
    payload
        The JSON payload (camelCase), or an ``ocpp.v201`` call/call_result dataclass.

    Raises
    ------
    InvalidPayloadError
        When the payload breaks the schema or a value rule; for an unknown action, with
        ``ocpp_error`` ``"NotImplemented"``.
    """
    return _parse(message_class(action), payload)


# --------------------------------------------------------------------------------------------
# Parsers, one per message
# --------------------------------------------------------------------------------------------


def _snake(name: str) -> str:
    """``"NotifyEVChargingNeedsRequest"`` -> ``"notify_ev_charging_needs_request"``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _parser(cls: type[MsgT]) -> Callable[[object], MsgT]:
    """The named parser of one message: ``parse_<schema name in snake_case>(payload)``."""

    def parse_payload(payload: object) -> MsgT:
        return _parse(cls, payload)

    name = f"parse_{_snake(cls.schema_name())}"
    parse_payload.__name__ = parse_payload.__qualname__ = name
    parse_payload.__doc__ = (
        f"Validate a received {cls.schema_name()} payload (its camelCase JSON, an "
        f"``ocpp.v201`` dataclass, or a {cls.__name__}) into a :class:`{cls.__name__}`.\n\n"
        "Raises :class:`~smartcharge.errors.InvalidPayloadError` naming the JSON path, the "
        "rule and the CALLERROR code."
    )
    return parse_payload


# one parser per message, generated from the message table (the names users call)
parse_set_charging_profile_request = _parser(SetChargingProfileRequest)
parse_set_charging_profile_response = _parser(SetChargingProfileResponse)
parse_get_charging_profiles_request = _parser(GetChargingProfilesRequest)
parse_get_charging_profiles_response = _parser(GetChargingProfilesResponse)
parse_report_charging_profiles_request = _parser(ReportChargingProfilesRequest)
parse_report_charging_profiles_response = _parser(ReportChargingProfilesResponse)
parse_clear_charging_profile_request = _parser(ClearChargingProfileRequest)
parse_clear_charging_profile_response = _parser(ClearChargingProfileResponse)
parse_get_composite_schedule_request = _parser(GetCompositeScheduleRequest)
parse_get_composite_schedule_response = _parser(GetCompositeScheduleResponse)
parse_notify_ev_charging_needs_request = _parser(NotifyEVChargingNeedsRequest)
parse_notify_ev_charging_needs_response = _parser(NotifyEVChargingNeedsResponse)
parse_notify_charging_limit_request = _parser(NotifyChargingLimitRequest)
parse_notify_charging_limit_response = _parser(NotifyChargingLimitResponse)
parse_cleared_charging_limit_request = _parser(ClearedChargingLimitRequest)
parse_cleared_charging_limit_response = _parser(ClearedChargingLimitResponse)
parse_notify_ev_charging_schedule_request = _parser(NotifyEVChargingScheduleRequest)
parse_notify_ev_charging_schedule_response = _parser(NotifyEVChargingScheduleResponse)


# --------------------------------------------------------------------------------------------
# Builders: arguments in, a schema-valid JSON dict out
# --------------------------------------------------------------------------------------------


def _json(value: object) -> object:
    """Models to their JSON; enums to their values; sequences to lists."""
    if isinstance(value, OcppModel):
        return dump(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, datetime):
        return format_datetime(value)
    return value


def _build(cls: type[Message], **fields: object) -> dict[str, Any]:
    """Assemble a payload from camelCase fields (``None`` left out), validate it, return JSON."""
    payload = {key: _json(value) for key, value in fields.items() if value is not None}
    return dump(_parse(cls, payload))


def _status_info(info: StatusInfo | str | None) -> StatusInfo | dict[str, str] | None:
    if isinstance(info, str):
        return {"reasonCode": info}  # validated (<= 20 characters) with the message
    return info


class StatusResponseBuilder(Protocol):
    """A builder of a response that holds a status and an optional StatusInfo."""

    def __call__(
        self, status: Enum | str, *, status_info: StatusInfo | str | None = None
    ) -> dict[str, Any]: ...


def _status_response(cls: type[Message]) -> StatusResponseBuilder:
    """The named builder of a status response: ``<action>_response(status, *, status_info)``."""

    def build(status: Enum | str, *, status_info: StatusInfo | str | None = None) -> dict[str, Any]:
        return _build(cls, status=status, statusInfo=_status_info(status_info))

    build.__name__ = build.__qualname__ = _snake(cls.schema_name())
    build.__doc__ = (
        f"{cls.schema_name()} payload: ``status`` and, optionally, ``status_info`` (a "
        "StatusInfo, or just its reasonCode of at most 20 characters)."
    )
    return build


# the responses that hold just a status, generated from the message table
set_charging_profile_response = _status_response(SetChargingProfileResponse)
get_charging_profiles_response = _status_response(GetChargingProfilesResponse)
clear_charging_profile_response = _status_response(ClearChargingProfileResponse)
notify_ev_charging_needs_response = _status_response(NotifyEVChargingNeedsResponse)
notify_ev_charging_schedule_response = _status_response(NotifyEVChargingScheduleResponse)


def set_charging_profile_request(
    evse_id: int, profile: ChargingProfile, *, custom_data: CustomData | None = None
) -> dict[str, Any]:
    """SetChargingProfileRequest payload: install ``profile`` on ``evse_id`` (0 = station)."""
    return _build(
        SetChargingProfileRequest,
        evseId=evse_id,
        chargingProfile=profile,
        customData=custom_data,
    )


def get_charging_profiles_request(
    request_id: int,
    *,
    evse_id: int | None = None,
    purpose: ChargingProfilePurpose | str | None = None,
    stack_level: int | None = None,
    profile_ids: Iterable[int] | None = None,
    limit_sources: Iterable[ChargingLimitSource | str] | None = None,
) -> dict[str, Any]:
    """GetChargingProfilesRequest payload; every criterion is optional (none = all profiles)."""
    criterion = {
        "chargingProfilePurpose": _json(purpose),
        "stackLevel": stack_level,
        "chargingProfileId": None if profile_ids is None else list(profile_ids),
        "chargingLimitSource": None if limit_sources is None else _json(list(limit_sources)),
    }
    return _build(
        GetChargingProfilesRequest,
        requestId=request_id,
        evseId=evse_id,
        chargingProfile={k: v for k, v in criterion.items() if v is not None},
    )


def report_charging_profiles_request(
    request_id: int,
    source: ChargingLimitSource | str,
    evse_id: int,
    profiles: Iterable[ChargingProfile],
    *,
    tbc: bool | None = None,
) -> dict[str, Any]:
    """ReportChargingProfilesRequest payload (``tbc``: more reports follow)."""
    return _build(
        ReportChargingProfilesRequest,
        requestId=request_id,
        chargingLimitSource=source,
        chargingProfile=list(profiles),
        tbc=tbc,
        evseId=evse_id,
    )


def clear_charging_profile_request(
    *,
    profile_id: int | None = None,
    evse_id: int | None = None,
    purpose: ChargingProfilePurpose | str | None = None,
    stack_level: int | None = None,
) -> dict[str, Any]:
    """ClearChargingProfileRequest payload: by ``profile_id`` and/or criteria."""
    criteria = {
        "evseId": evse_id,
        "chargingProfilePurpose": _json(purpose),
        "stackLevel": stack_level,
    }
    criteria = {k: v for k, v in criteria.items() if v is not None}
    return _build(
        ClearChargingProfileRequest,
        chargingProfileId=profile_id,
        chargingProfileCriteria=criteria or None,
    )


def get_composite_schedule_request(
    evse_id: int, duration: int, *, unit: ChargingRateUnit | str | None = None
) -> dict[str, Any]:
    """GetCompositeScheduleRequest payload: ``duration`` [s] on ``evse_id`` (0 = grid)."""
    return _build(
        GetCompositeScheduleRequest, duration=duration, chargingRateUnit=unit, evseId=evse_id
    )


def get_composite_schedule_response(
    status: GenericStatus | str,
    *,
    schedule: CompositeSchedule | None = None,
    status_info: StatusInfo | str | None = None,
) -> dict[str, Any]:
    """GetCompositeScheduleResponse payload (``schedule`` when Accepted)."""
    return _build(
        GetCompositeScheduleResponse,
        status=status,
        statusInfo=_status_info(status_info),
        schedule=schedule,
    )


def notify_ev_charging_needs_request(
    evse_id: int, needs: ChargingNeeds, *, max_schedule_tuples: int | None = None
) -> dict[str, Any]:
    """NotifyEVChargingNeedsRequest payload (``evse_id`` > 0)."""
    return _build(
        NotifyEVChargingNeedsRequest,
        maxScheduleTuples=max_schedule_tuples,
        chargingNeeds=needs,
        evseId=evse_id,
    )


def notify_charging_limit_request(
    limit: ChargingLimit,
    *,
    evse_id: int | None = None,
    schedules: Iterable[ChargingSchedule] | None = None,
) -> dict[str, Any]:
    """NotifyChargingLimitRequest payload (``evse_id`` > 0 when given)."""
    return _build(
        NotifyChargingLimitRequest,
        chargingSchedule=None if schedules is None else list(schedules),
        evseId=evse_id,
        chargingLimit=limit,
    )


def cleared_charging_limit_request(
    source: ChargingLimitSource | str, *, evse_id: int | None = None
) -> dict[str, Any]:
    """ClearedChargingLimitRequest payload."""
    return _build(ClearedChargingLimitRequest, chargingLimitSource=source, evseId=evse_id)


def notify_ev_charging_schedule_request(
    evse_id: int, time_base: datetime, schedule: ChargingSchedule
) -> dict[str, Any]:
    """NotifyEVChargingScheduleRequest payload (``evse_id`` > 0)."""
    return _build(
        NotifyEVChargingScheduleRequest,
        timeBase=time_base,
        chargingSchedule=schedule,
        evseId=evse_id,
    )


# --------------------------------------------------------------------------------------------
# For the optimizer and the station model
# --------------------------------------------------------------------------------------------

_AC_PHASES = {
    EnergyTransferMode.AC_single_phase: 1,
    EnergyTransferMode.AC_two_phase: 2,
    EnergyTransferMode.AC_three_phase: 3,
}


@dataclass(frozen=True)
class EnergyNeed:
    """What an EV asks for, in the terms the optimizer uses (from NotifyEVChargingNeeds).

    Attributes
    ----------
    evse_id
        The EVSE the EV is connected to (> 0).
    energy_amount
        Energy requested [Wh], or ``None`` when the EV did not say (DC without
        ``energyAmount`` and without capacity and state of charge).
    departure_time
        Estimated departure (UTC), or ``None``.
    min_rate, max_rate
        The EV's rate range in ``charging_rate_unit``: [A per phase] on AC, [W] on DC.
    charging_rate_unit
        ``A`` on AC (from ``evMinCurrent``/``evMaxCurrent``), ``W`` on DC.
    number_phases
        Phases in use on AC (1..3, from ``requestedEnergyTransfer``); ``None`` on DC.
    requested_energy_transfer
        The energy transfer mode the EV asked for.
    max_schedule_tuples
        Most periods per schedule the EV accepts, or ``None``.
    """

    evse_id: int
    energy_amount: float | None
    departure_time: datetime | None
    min_rate: float
    max_rate: float
    charging_rate_unit: ChargingRateUnit
    number_phases: int | None
    requested_energy_transfer: EnergyTransferMode
    max_schedule_tuples: int | None = None

    def rates(
        self, unit: ChargingRateUnit | str = ChargingRateUnit.W, voltage: float = 230.0
    ) -> tuple[float, float]:
        """``(min_rate, max_rate)`` in ``unit``, converted at ``voltage`` [V] on AC.

        Raises
        ------
        UnitConversionError
            When asked for amperes of a DC need (no phases), or for a bad voltage.
        """
        phases = 3 if self.number_phases is None else self.number_phases
        if self.number_phases is None and ChargingRateUnit(unit) is not self.charging_rate_unit:
            from smartcharge.errors import UnitConversionError

            raise UnitConversionError(
                "a DC need is in W; it has no per-phase current",
                path="chargingNeeds.dcChargingParameters",
                rule="units",
            )
        low = convert(self.min_rate, self.charging_rate_unit, unit, phases, voltage)
        high = convert(self.max_rate, self.charging_rate_unit, unit, phases, voltage)
        return low, high


def _need_error(message: str, path: str, ocpp_error: str = PROPERTY) -> InvalidPayloadError:
    return InvalidPayloadError(message, path=path, rule="ChargingNeeds", ocpp_error=ocpp_error)


def energy_need(request: NotifyEVChargingNeedsRequest | object) -> EnergyNeed:
    """The energy [Wh], departure and rate range of a NotifyEVChargingNeedsRequest.

    Parameters
    ----------
    request
        A parsed request, its JSON payload, or an ``ocpp.v201.call.NotifyEVChargingNeeds``.

    Raises
    ------
    InvalidPayloadError
        When the payload is invalid, or its parameters do not fit its transfer mode (AC
        without ``acChargingParameters``, DC without ``dcChargingParameters``), or a value is
        negative, or the minimum current exceeds the maximum.

    >>> need = energy_need({"evseId": 2, "chargingNeeds": {
    ...     "requestedEnergyTransfer": "AC_three_phase",
    ...     "departureTime": "2024-01-01T17:00:00Z",
    ...     "acChargingParameters": {"energyAmount": 20000, "evMinCurrent": 6,
    ...                              "evMaxCurrent": 16, "evMaxVoltage": 400}}})
    >>> need.energy_amount, need.min_rate, need.max_rate, need.number_phases
    (20000.0, 6.0, 16.0, 3)
    >>> need.rates("W")
    (4140.0, 11040.0)
    """
    req = _parse(NotifyEVChargingNeedsRequest, request)
    needs = req.charging_needs
    mode = needs.requested_energy_transfer
    base = "chargingNeeds"
    if mode is EnergyTransferMode.DC:
        dc = needs.dc_charging_parameters
        if dc is None:
            raise _need_error(
                "DC energy transfer needs dcChargingParameters",
                f"{base}.dcChargingParameters",
                OCCURRENCE,
            )
        where = f"{base}.dcChargingParameters"
        for name, value in (
            ("evMaxCurrent", dc.ev_max_current),
            ("evMaxVoltage", dc.ev_max_voltage),
            ("energyAmount", dc.energy_amount),
            ("evMaxPower", dc.ev_max_power),
            ("evEnergyCapacity", dc.ev_energy_capacity),
        ):
            if value is not None and value < 0:
                raise _need_error(f"must be >= 0, got {value}", f"{where}.{name}")
        max_power = (
            float(dc.ev_max_power)
            if dc.ev_max_power is not None
            else float(dc.ev_max_current) * float(dc.ev_max_voltage)
        )
        energy: float | None = None
        if dc.energy_amount is not None:
            energy = float(dc.energy_amount)
        elif dc.ev_energy_capacity is not None and dc.state_of_charge is not None:
            target = 100 if dc.full_soc is None else dc.full_soc
            energy = max(0.0, (target - dc.state_of_charge) / 100.0 * dc.ev_energy_capacity)
        return EnergyNeed(
            evse_id=req.evse_id,
            energy_amount=energy,
            departure_time=needs.departure_time,
            min_rate=0.0,
            max_rate=max_power,
            charging_rate_unit=ChargingRateUnit.W,
            number_phases=None,
            requested_energy_transfer=mode,
            max_schedule_tuples=req.max_schedule_tuples,
        )
    ac = needs.ac_charging_parameters
    if ac is None:
        raise _need_error(
            f"{mode.value} energy transfer needs acChargingParameters",
            f"{base}.acChargingParameters",
            OCCURRENCE,
        )
    where = f"{base}.acChargingParameters"
    for name, value in (
        ("energyAmount", ac.energy_amount),
        ("evMinCurrent", ac.ev_min_current),
        ("evMaxCurrent", ac.ev_max_current),
        ("evMaxVoltage", ac.ev_max_voltage),
    ):
        if value < 0:
            raise _need_error(f"must be >= 0, got {value}", f"{where}.{name}")
    if ac.ev_min_current > ac.ev_max_current:
        raise _need_error(
            f"evMinCurrent ({ac.ev_min_current} A) exceeds evMaxCurrent ({ac.ev_max_current} A)",
            f"{where}.evMinCurrent",
        )
    return EnergyNeed(
        evse_id=req.evse_id,
        energy_amount=float(ac.energy_amount),
        departure_time=needs.departure_time,
        min_rate=float(ac.ev_min_current),
        max_rate=float(ac.ev_max_current),
        charging_rate_unit=ChargingRateUnit.A,
        number_phases=_AC_PHASES[mode],
        requested_energy_transfer=mode,
        max_schedule_tuples=req.max_schedule_tuples,
    )


@dataclass(frozen=True)
class ExternalLimit:
    """An external charging limit as the station reports it (NotifyChargingLimit / Cleared...).

    Attributes
    ----------
    source
        Who set the limit (EMS, SO, CSO, Other).
    evse_id
        The EVSE it applies to, or ``None`` for the whole station.
    schedules
        The limit's ChargingSchedules (may be empty: the station did not say).
    is_grid_critical
        Whether the limit is critical for the grid, when the station says.
    cleared
        ``True`` for ClearedChargingLimit: the source no longer limits the EVSE/station.
    """

    source: ChargingLimitSource
    evse_id: int | None
    schedules: tuple[ChargingSchedule, ...] = ()
    is_grid_critical: bool | None = None
    cleared: bool = False


def external_constraints(
    request: NotifyChargingLimitRequest | ClearedChargingLimitRequest | object,
) -> ExternalLimit:
    """The external limit a NotifyChargingLimit or ClearedChargingLimit request reports.

    A raw payload is read as NotifyChargingLimitRequest when it has ``chargingLimit``, else as
    ClearedChargingLimitRequest; ``ocpp.v201.call`` dataclasses are read by their class.

    Raises
    ------
    InvalidPayloadError
        When the payload is invalid.

    >>> limit = external_constraints({"chargingLimitSource": "EMS", "evseId": 1})
    >>> limit.source.value, limit.evse_id, limit.schedules, limit.cleared
    ('EMS', 1, (), True)
    """
    if isinstance(request, (NotifyChargingLimitRequest, ClearedChargingLimitRequest)):
        req: NotifyChargingLimitRequest | ClearedChargingLimitRequest = request
    elif (isinstance(request, Mapping) and "chargingLimit" in request) or (
        _is_ocpp_dataclass(request) and type(request).__name__ == "NotifyChargingLimit"
    ):
        req = _parse(NotifyChargingLimitRequest, request)
    else:
        req = _parse(ClearedChargingLimitRequest, request)
    if isinstance(req, NotifyChargingLimitRequest):
        return ExternalLimit(
            source=req.charging_limit.charging_limit_source,
            evse_id=req.evse_id,
            schedules=req.charging_schedule or (),
            is_grid_critical=req.charging_limit.is_grid_critical,
        )
    return ExternalLimit(source=req.charging_limit_source, evse_id=req.evse_id, cleared=True)


# --------------------------------------------------------------------------------------------
# Interop with the ``ocpp`` package (optional; imported lazily)
# --------------------------------------------------------------------------------------------


def _is_ocpp_dataclass(value: object) -> bool:
    return interop.is_ocpp_dataclass(value, "2.0.1")


def _from_ocpp_as(cls: type[MsgT], message: object) -> MsgT:
    return _parse(cls, interop.camel_payload(message))


def message_class(action: object, *, response: bool = False) -> type[Message]:
    """The message model of ``action``: a schema name, a bare action or the ``Action`` enum.

    Parameters
    ----------
    action
        ``"SetChargingProfileResponse"`` (a schema name), ``"SetChargingProfile"`` or the
        ``ocpp`` package's ``Action.set_charging_profile`` (a bare action).
    response
        For a bare action: the response's model instead of the request's.

    Raises
    ------
    InvalidPayloadError
        For an action that is not a smart-charging message (``ocpp_error`` NotImplemented).

    >>> message_class("SetChargingProfile").__name__
    'SetChargingProfileRequest'
    >>> message_class("SetChargingProfile", response=True).__name__
    'SetChargingProfileResponse'
    """
    name = interop.action_name(action)
    cls = MESSAGES.get(name) or MESSAGES.get(name + ("Response" if response else "Request"))
    if cls is None:
        raise InvalidPayloadError(
            f"unknown smart-charging action {name!r}; known: {', '.join(sorted(MESSAGES))}",
            path="action",
            rule="NotImplemented",
            ocpp_error="NotImplemented",
        )
    return cls


def from_ocpp(message: object, action: object = None) -> Message:
    """Read an ``ocpp.v201`` dataclass, or a handler's snake_case keyword arguments.

    Parameters
    ----------
    message
        An ``ocpp.v201.call.X`` or ``ocpp.v201.call_result.X`` instance (what
        ``ChargePoint.call()`` returns), or a ``dict`` of snake_case fields as the ``ocpp``
        package passes them to an ``@on(...)`` handler.
    action
        For a ``dict``: the action, as the ``ocpp`` package's ``Action`` enum, a bare name
        (``"NotifyEVChargingNeeds"``: the request, which is what handlers receive) or a
        schema name (``"NotifyEVChargingNeedsRequest"``). Taken from the class otherwise.

    Raises
    ------
    InvalidPayloadError
        When the message is invalid (an explicit ``None`` in the keyword arguments is
        reported as a ``null``, with its path), or its action is not a smart-charging
        message.
    """
    if _is_ocpp_dataclass(message):
        response = interop.is_response_dataclass(message)
        return _from_ocpp_as(message_class(type(message).__name__, response=response), message)
    if action is None:
        raise InvalidPayloadError(
            "from_ocpp needs an ocpp.v201 call or call_result dataclass, "
            f"or action= with a dict; got {type(message).__name__}",
            path="action",
            rule="interop",
            ocpp_error="FormationViolation",
        )
    return _from_ocpp_as(message_class(action), message)


def to_ocpp(message: Message | object, payload: Mapping[str, Any] | None = None) -> Any:
    """The ``ocpp.v201.call`` (request) or ``call_result`` (response) dataclass of a message.

    Its fields are snake_case, nested values snake_case dicts, as the ``ocpp`` package expects:
    ready for ``await charge_point.call(...)``, or to return from an ``@on(...)`` handler.

    Parameters
    ----------
    message
        A message model (:class:`SetChargingProfileRequest`, ...), or the action of
        ``payload``: a schema name (``"SetChargingProfileResponse"``), a bare action
        (``"SetChargingProfile"``: the request) or the ``ocpp`` package's ``Action`` enum.
    payload
        With an action: the camelCase JSON a builder returned (it is validated first).

    Raises
    ------
    InvalidPayloadError
        For a ``dict`` without an action, an unknown action, or an invalid payload.

    Examples
    --------
    >>> from smartcharge.model import ChargingProfile
    >>> call = to_ocpp("SetChargingProfileResponse", set_charging_profile_response("Accepted"))
    >>> type(call).__module__, type(call).__name__, call.status
    ('ocpp.v201.call_result', 'SetChargingProfile', 'Accepted')
    """
    if isinstance(message, Message):
        if payload is not None:
            raise InvalidPayloadError(
                "to_ocpp takes a message model, or an action and its payload, not both",
                path="payload",
                rule="interop",
            )
        model = message
    elif payload is None:
        raise InvalidPayloadError(
            f"to_ocpp needs a message model, or the action and a payload: "
            f"to_ocpp('SetChargingProfile', payload); got a {type(message).__name__} alone",
            path="action",
            rule="interop",
            ocpp_error="FormationViolation",
        )
    else:
        model = _parse(message_class(message), payload)
    return interop.ocpp_dataclass(
        "2.0.1", model.action, model.direction == "Response", dump(model)
    )
