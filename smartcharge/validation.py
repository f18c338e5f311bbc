"""Would a charging station accept this profile? SetChargingProfile (OCPP 2.0.1 use case K01).

:func:`validate_profile` is a pure function of the profile, the EVSE it is sent to, a
:class:`StationContext` (the station's EVSEs, supply, supported units, installed profiles and
running transactions) and ``now`` (the station's clock). It returns a
:class:`ValidationResult`: ``Accepted``, or ``Rejected`` with a :class:`ProfileRejection`
reason (named as EVerest libocpp's ``ProfileValidationResultEnum``, carrying the requirement
id and the StatusInfo ``reasonCode`` a station sends) and a human sentence that names the
JSON path of the offending field.

The pydantic model already enforces the schema-level rules (lengths, ranges, one decimal
digit); this module checks the rules that depend on the station and on the order of values:

=======================  ==================================================================
Requirement              Rule
=======================  ==================================================================
K01.FR.22                the CSMS cannot set ChargingStationExternalConstraints
K01.FR.28                the EVSE must exist
K01.FR.05                an installed ChargingStationExternalConstraints cannot be replaced
validity                 ``validTo`` after ``validFrom``, and not already past (``now``)
K01.FR.26                the schedule's rate unit is supported
K01.FR.40 / FR.41        Absolute/Recurring need ``startSchedule``; Relative must not have one
K01.FR.31 / FR.35        the first ``startPeriod`` is 0; start periods increase strictly
K01.FR.44                no ``numberPhases`` / ``phaseToUse`` on DC
K01.FR.19 / FR.20        ``phaseToUse`` only with ``numberPhases`` = 1 and phase switching
K01.FR.45                ``numberPhases`` not above the supply's phases
recurrency               Recurring needs ``recurrencyKind``
K04.FR.03 / K01.FR.38    ChargingStationMaxProfile only on EVSE 0 and never Relative
K01.FR.16/03/09/33/39    TxProfile: EVSE > 0, a ``transactionId`` running on that EVSE, and a
                         stack level no other TxProfile of the transaction uses
K01.FR.06                no second profile of the same purpose, EVSE and stack level whose
                         validity overlaps (a profile with the same id replaces, K01.FR.05)
K01.FR.52 / FR.53        no TxDefaultProfile at the same stack level on the *other* scope
                         (EVSE 0 vs. a specific EVSE)
=======================  ==================================================================

The first broken rule, in the order of this table, is reported. :func:`conform_profile`
applies K01.FR.49 (absent ``numberPhases`` on AC means 3) to a profile before it is stored.

Validity windows are half-open, ``[validFrom, validTo)``: a profile stops being valid *at*
``validTo``, so a profile that ends when the next begins does not overlap it (EVerest compares
closed intervals and rejects such a pair).

>>> from datetime import datetime, timezone
>>> from smartcharge.model import ChargingProfile
>>> ctx = StationContext(evses={1: EVSEInfo()})
>>> p = ChargingProfile.model_validate({
...     "id": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
...     "chargingProfileKind": "Relative",
...     "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
...         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0},
...                                    {"startPeriod": 0, "limit": 8.0}]}]})
>>> now = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> r = validate_profile(1, p, ctx, now=now)
>>> r.status.value, r.reason.name, r.reason_code
('Rejected', 'ChargingSchedulePeriodsOutOfOrder', 'InvalidSchedule')
>>> r.path
'chargingSchedule[0].chargingSchedulePeriod[1].startPeriod'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Any, Literal

from smartcharge.errors import InvalidPayloadError
from smartcharge.model import (
    ChargingLimitSource,
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingProfileStatus,
    ChargingRateUnit,
    format_datetime,
)
from smartcharge.units import rate_unit

__all__ = [
    "ADDITIONAL_INFO_MAX",
    "REASON_CODE_MAX",
    "EVSEInfo",
    "ProfileRejection",
    "StationContext",
    "ValidationResult",
    "conform_profile",
    "validate_profile",
]

REASON_CODE_MAX = 20
"""StatusInfoType.reasonCode is a CiString20."""
ADDITIONAL_INFO_MAX = 512
"""StatusInfoType.additionalInfo is a CiString512."""

_EXT = ChargingProfilePurpose.ChargingStationExternalConstraints
_MAX = ChargingProfilePurpose.ChargingStationMaxProfile
_TXD = ChargingProfilePurpose.TxDefaultProfile
_TX = ChargingProfilePurpose.TxProfile
_AC_DEFAULT_PHASES = 3  # K01.FR.49


class ProfileRejection(str, Enum):
    """Why a station rejects a profile.

    Member names (and values) are EVerest libocpp's ``ProfileValidationResultEnum`` names, the
    names station engineers know; members this library adds (validity window, recurrency,
    K01.FR.22) are named in the same style. Each member carries

    - ``rule``: the requirement id (``"K01.FR.31"``) or a short name of the rule;
    - ``reason_code``: the StatusInfo ``reasonCode`` a station answers with (EVerest's mapping).

    >>> ProfileRejection.ChargingSchedulePeriodsOutOfOrder.rule
    'K01.FR.35'
    >>> ProfileRejection.TxProfileEvseHasNoActiveTransaction.reason_code
    'TxNotFound'
    """

    rule: str
    reason_code: str

    def __new__(cls, value: str, rule: str, reason_code: str) -> ProfileRejection:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.rule = rule
        obj.reason_code = reason_code
        return obj

    def __str__(self) -> str:
        return str(self.value)

    # --- station / EVSE / id
    ChargingStationExternalConstraintsInSetChargingProfileRequest = (
        "ChargingStationExternalConstraintsInSetChargingProfileRequest",
        "K01.FR.22",
        "InvalidValue",
    )
    EvseDoesNotExist = ("EvseDoesNotExist", "K01.FR.28", "InvalidValue")
    ExistingChargingStationExternalConstraints = (
        "ExistingChargingStationExternalConstraints",
        "K01.FR.05",
        "DuplicateProfile",
    )
    InvalidProfileType = ("InvalidProfileType", "K01.FR.22", "InvalidValue")
    """A profile from the site's energy manager that is not ChargingStationExternalConstraints."""
    ExternalConstraintsIdInUse = ("ExternalConstraintsIdInUse", "K01.FR.05", "DuplicateProfile")
    """External constraints would replace (by id) a profile the CSMS installed."""
    # --- validity window
    InvalidValidityPeriod = ("InvalidValidityPeriod", "validTo>validFrom", "InvalidValue")
    ChargingProfileExpired = ("ChargingProfileExpired", "validTo>now", "InvalidValue")
    # --- schedules
    ChargingProfileEmptyChargingSchedules = (
        "ChargingProfileEmptyChargingSchedules",
        "schema:minItems",
        "InvalidSchedule",
    )
    ChargingScheduleChargingRateUnitUnsupported = (
        "ChargingScheduleChargingRateUnitUnsupported",
        "K01.FR.26",
        "UnsupportedRateUnit",
    )
    ChargingProfileMissingRequiredStartSchedule = (
        "ChargingProfileMissingRequiredStartSchedule",
        "K01.FR.40",
        "InvalidSchedule",
    )
    ChargingProfileExtraneousStartSchedule = (
        "ChargingProfileExtraneousStartSchedule",
        "K01.FR.41",
        "InvalidSchedule",
    )
    ChargingProfileNoChargingSchedulePeriods = (
        "ChargingProfileNoChargingSchedulePeriods",
        "schema:minItems",
        "InvalidSchedule",
    )
    ChargingProfileFirstStartScheduleIsNotZero = (
        "ChargingProfileFirstStartScheduleIsNotZero",
        "K01.FR.31",
        "InvalidSchedule",
    )
    ChargingSchedulePeriodsOutOfOrder = (
        "ChargingSchedulePeriodsOutOfOrder",
        "K01.FR.35",
        "InvalidSchedule",
    )
    ChargingSchedulePeriodExtraneousPhaseValues = (
        "ChargingSchedulePeriodExtraneousPhaseValues",
        "K01.FR.44",
        "InvalidSchedule",
    )
    ChargingSchedulePeriodInvalidPhaseToUse = (
        "ChargingSchedulePeriodInvalidPhaseToUse",
        "K01.FR.19",
        "InvalidSchedule",
    )
    ChargingSchedulePeriodPhaseToUseACPhaseSwitchingUnsupported = (
        "ChargingSchedulePeriodPhaseToUseACPhaseSwitchingUnsupported",
        "K01.FR.20",
        "InvalidSchedule",
    )
    ChargingSchedulePeriodUnsupportedNumberPhases = (
        "ChargingSchedulePeriodUnsupportedNumberPhases",
        "K01.FR.45",
        "InvalidSchedule",
    )
    ChargingProfileMissingRecurrencyKind = (
        "ChargingProfileMissingRecurrencyKind",
        "recurrencyKind",
        "MissingParam",
    )
    # --- purpose specific
    ChargingStationMaxProfileEvseIdGreaterThanZero = (
        "ChargingStationMaxProfileEvseIdGreaterThanZero",
        "K04.FR.03",
        "InvalidValue",
    )
    ChargingStationMaxProfileCannotBeRelative = (
        "ChargingStationMaxProfileCannotBeRelative",
        "K01.FR.38",
        "InvalidValue",
    )
    TxProfileEvseIdNotGreaterThanZero = (
        "TxProfileEvseIdNotGreaterThanZero",
        "K01.FR.16",
        "InvalidValue",
    )
    TxProfileMissingTransactionId = ("TxProfileMissingTransactionId", "K01.FR.03", "MissingParam")
    TxProfileEvseHasNoActiveTransaction = (
        "TxProfileEvseHasNoActiveTransaction",
        "K01.FR.09",
        "TxNotFound",
    )
    TxProfileTransactionNotOnEvse = ("TxProfileTransactionNotOnEvse", "K01.FR.33", "TxNotFound")
    TxProfileConflictingStackLevel = (
        "TxProfileConflictingStackLevel",
        "K01.FR.39",
        "InvalidStackLevel",
    )
    DuplicateProfileValidityPeriod = (
        "DuplicateProfileValidityPeriod",
        "K01.FR.06",
        "DuplicateProfile",
    )
    DuplicateTxDefaultProfileFound = (
        "DuplicateTxDefaultProfileFound",
        "K01.FR.52/53",
        "DuplicateProfile",
    )


@dataclass(frozen=True)
class ValidationResult:
    """A station's verdict on one SetChargingProfile.

    Attributes
    ----------
    status
        ``Accepted`` or ``Rejected``.
    reason
        Why it was rejected; ``None`` when accepted.
    message
        A human sentence naming the JSON path and the rule (empty when accepted).
    path
        JSON path of the offending field inside the ``chargingProfile``, or ``None``.

    >>> ValidationResult.accept().to_json_dict()
    {'status': 'Accepted'}
    """

    status: ChargingProfileStatus
    reason: ProfileRejection | None = None
    message: str = ""
    path: str | None = None

    @classmethod
    def accept(cls) -> ValidationResult:
        """The Accepted result."""
        return _ACCEPTED

    @classmethod
    def reject(
        cls, reason: ProfileRejection, message: str, path: str | None = None
    ) -> ValidationResult:
        """A Rejected result for ``reason``."""
        return cls(ChargingProfileStatus.Rejected, reason, message, path)

    @property
    def accepted(self) -> bool:
        """True when the station accepts the profile."""
        return self.status is ChargingProfileStatus.Accepted

    @property
    def rule(self) -> str | None:
        """The requirement id of the broken rule (``"K01.FR.35"``), or ``None``."""
        return None if self.reason is None else self.reason.rule

    @property
    def reason_code(self) -> str | None:
        """The StatusInfo ``reasonCode`` (at most 20 characters), or ``None`` when accepted."""
        return None if self.reason is None else self.reason.reason_code

    @property
    def additional_info(self) -> str | None:
        """The StatusInfo ``additionalInfo``: the message, cut to 512 characters."""
        if self.reason is None:
            return None
        text = self.message or self.reason.value
        if len(text) > ADDITIONAL_INFO_MAX:
            text = text[: ADDITIONAL_INFO_MAX - 3] + "..."
        return text

    def to_json_dict(self) -> dict[str, Any]:
        """The SetChargingProfileResponse payload a station would send.

        >>> r = ValidationResult.reject(ProfileRejection.EvseDoesNotExist, "EVSE 9 ...")
        >>> r.to_json_dict()
        {'status': 'Rejected', 'statusInfo': {'reasonCode': 'InvalidValue', 'additionalInfo': 'EVSE 9 ...'}}
        """  # noqa: E501
        out: dict[str, Any] = {"status": self.status.value}
        if self.reason is not None:
            out["statusInfo"] = {
                "reasonCode": self.reason.reason_code,
                "additionalInfo": self.additional_info,
            }
        return out


_ACCEPTED = ValidationResult(ChargingProfileStatus.Accepted)


CurrentType = Literal["AC", "DC"]


@dataclass(frozen=True)
class EVSEInfo:
    """What a station knows about one of its EVSEs.

    Attributes
    ----------
    current_type
        ``"AC"`` or ``"DC"``.
    supply_phases
        Phases wired to an AC EVSE (1..3); ignored for DC.
    """

    current_type: CurrentType = "AC"
    supply_phases: int = 3

    def __post_init__(self) -> None:
        if self.current_type not in ("AC", "DC"):
            raise InvalidPayloadError(
                f"current type must be 'AC' or 'DC', got {self.current_type!r}",
                path="current_type",
                rule="AC|DC",
            )
        if (
            isinstance(self.supply_phases, bool)
            or not isinstance(self.supply_phases, int)
            or not 1 <= self.supply_phases <= 3
        ):
            raise InvalidPayloadError(
                f"supply phases must be 1..3, got {self.supply_phases!r}",
                path="supply_phases",
                rule="1..3",
            )

    @property
    def is_dc(self) -> bool:
        """True for a DC EVSE."""
        return self.current_type == "DC"


def _frozen_map(m: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(m))


@dataclass(frozen=True)
class StationContext:
    """The station state that decides whether a profile is accepted.

    Attributes
    ----------
    evses
        The EVSEs by id (ids >= 1).
    supply_phases
        The station's supply phases (``ChargingStation.SupplyPhases``): 1..3 for AC, 0 for a DC
        supply. Decides AC/DC and the phase limit for EVSE 0 (station-wide) profiles.
    rate_units
        Supported ``chargingRateUnit`` values (``ChargingScheduleChargingRateUnit``).
    phase_switching
        ``ACPhaseSwitchingSupported``: whether ``phaseToUse`` may be used.
    installed
        Installed profiles per EVSE id (0 = station-wide).
    transactions
        Running transactions: EVSE id -> (transactionId, started at).
    """

    evses: Mapping[int, EVSEInfo] = field(default_factory=lambda: {1: EVSEInfo()})
    supply_phases: int = 3
    rate_units: frozenset[ChargingRateUnit] = frozenset(ChargingRateUnit)
    phase_switching: bool = False
    installed: Mapping[int, Sequence[ChargingProfile]] = field(default_factory=dict)
    transactions: Mapping[int, tuple[str, datetime]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for k, info in self.evses.items():
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise InvalidPayloadError(
                    f"EVSE ids must be ints >= 1, got {k!r}", path=f"evses[{k!r}]", rule="evseId>=1"
                )
            if not isinstance(info, EVSEInfo):
                raise InvalidPayloadError(
                    f"must be an EVSEInfo, got {type(info).__name__}",
                    path=f"evses[{k}]",
                    rule="type",
                )
        if (
            isinstance(self.supply_phases, bool)
            or not isinstance(self.supply_phases, int)
            or not 0 <= self.supply_phases <= 3
        ):
            raise InvalidPayloadError(
                f"supply phases must be 0 (DC) or 1..3, got {self.supply_phases!r}",
                path="supply_phases",
                rule="0..3",
            )
        units = frozenset(rate_unit(u) for u in self.rate_units)
        object.__setattr__(self, "rate_units", units)
        object.__setattr__(self, "evses", _frozen_map(self.evses))
        object.__setattr__(self, "installed", _frozen_map(self.installed))
        object.__setattr__(self, "transactions", _frozen_map(self.transactions))

    def is_dc(self, evse_id: int) -> bool:
        """Whether ``evse_id`` (0 = the station, DC when its supply phases are 0) is DC."""
        if evse_id == 0:
            return self.supply_phases == 0
        return self.evses[evse_id].is_dc

    def max_phases(self, evse_id: int) -> int:
        """The most phases a profile on ``evse_id`` may ask for (AC)."""
        if evse_id == 0:
            return self.supply_phases
        return min(self.evses[evse_id].supply_phases, self.supply_phases or 3)

    def all_installed(self) -> Iterator[tuple[int, ChargingProfile]]:
        """Every installed (EVSE id, profile), in a deterministic order."""
        for evse_id in sorted(self.installed):
            for p in self.installed[evse_id]:
                yield evse_id, p


# ----------------------------------------------------------------------------- helpers


def _fmt(dt: datetime | None) -> str:
    return "-" if dt is None else format_datetime(dt)


def _overlaps(a: ChargingProfile, b: ChargingProfile) -> bool:
    """Half-open validity windows [validFrom, validTo) overlap (absent = unbounded)."""
    a_before_b_ends = a.valid_from is None or b.valid_to is None or a.valid_from < b.valid_to
    b_before_a_ends = b.valid_from is None or a.valid_to is None or b.valid_from < a.valid_to
    return a_before_b_ends and b_before_a_ends


def _window(p: ChargingProfile) -> str:
    return f"[{_fmt(p.valid_from)}, {_fmt(p.valid_to)})"


def _others(
    installed: Iterable[tuple[int, ChargingProfile]], profile: ChargingProfile
) -> Iterator[tuple[int, ChargingProfile]]:
    """Installed profiles other than the one ``profile`` replaces (same id, K01.FR.05)."""
    return ((e, p) for e, p in installed if p.id != profile.id)


def _reject(reason: ProfileRejection, what: str, path: str | None = None) -> ValidationResult:
    where = f"{path}: " if path else ""
    return ValidationResult.reject(reason, f"{where}{what} ({reason.rule})", path)


# ----------------------------------------------------------------------------- the checks


def _check_schedules(
    evse_id: int, profile: ChargingProfile, ctx: StationContext
) -> ValidationResult | None:
    R = ProfileRejection
    if len(profile.charging_schedule) == 0:
        return _reject(
            R.ChargingProfileEmptyChargingSchedules,
            "a profile needs at least one charging schedule",
            "chargingSchedule",
        )
    dc = ctx.is_dc(evse_id)
    max_phases = ctx.max_phases(evse_id)
    relative = profile.charging_profile_kind is ChargingProfileKind.Relative
    for s, sched in enumerate(profile.charging_schedule):
        sp = f"chargingSchedule[{s}]"
        if sched.charging_rate_unit not in ctx.rate_units:
            units = ", ".join(sorted(u.value for u in ctx.rate_units)) or "none"
            return _reject(
                R.ChargingScheduleChargingRateUnitUnsupported,
                f"rate unit {sched.charging_rate_unit.value} is not supported by the station"
                f" (supported: {units})",
                f"{sp}.chargingRateUnit",
            )
        if not relative and sched.start_schedule is None:
            return _reject(
                R.ChargingProfileMissingRequiredStartSchedule,
                f"a {profile.charging_profile_kind.value} profile needs a startSchedule",
                f"{sp}.startSchedule",
            )
        if relative and sched.start_schedule is not None:
            return _reject(
                R.ChargingProfileExtraneousStartSchedule,
                "a Relative profile must not have a startSchedule (it starts with the transaction)",
                f"{sp}.startSchedule",
            )
        periods = sched.charging_schedule_period
        if len(periods) == 0:
            return _reject(
                R.ChargingProfileNoChargingSchedulePeriods,
                "a schedule needs at least one period",
                f"{sp}.chargingSchedulePeriod",
            )
        previous = -1
        for i, period in enumerate(periods):
            pp = f"{sp}.chargingSchedulePeriod[{i}]"
            start = period.start_period
            if i == 0 and start != 0:
                return _reject(
                    R.ChargingProfileFirstStartScheduleIsNotZero,
                    f"the first startPeriod must be 0, got {start}",
                    f"{pp}.startPeriod",
                )
            if i > 0 and start <= previous:
                return _reject(
                    R.ChargingSchedulePeriodsOutOfOrder,
                    f"startPeriod {start} is not after the previous startPeriod {previous};"
                    " start periods must increase strictly",
                    f"{pp}.startPeriod",
                )
            previous = start
            if dc and (period.number_phases is not None or period.phase_to_use is not None):
                name = "numberPhases" if period.number_phases is not None else "phaseToUse"
                where = "the station's DC supply" if evse_id == 0 else f"DC EVSE {evse_id}"
                return _reject(
                    R.ChargingSchedulePeriodExtraneousPhaseValues,
                    f"{name} makes no sense on {where}",
                    f"{pp}.{name}",
                )
            if period.phase_to_use is not None:
                if period.number_phases != 1:
                    return _reject(
                        R.ChargingSchedulePeriodInvalidPhaseToUse,
                        "phaseToUse is only allowed with numberPhases = 1, got numberPhases"
                        f" {'absent' if period.number_phases is None else period.number_phases}",
                        f"{pp}.phaseToUse",
                    )
                if not ctx.phase_switching:
                    return _reject(
                        R.ChargingSchedulePeriodPhaseToUseACPhaseSwitchingUnsupported,
                        "phaseToUse needs AC phase switching, which the station does not support",
                        f"{pp}.phaseToUse",
                    )
            if not dc and period.number_phases is not None and period.number_phases > max_phases:
                return _reject(
                    R.ChargingSchedulePeriodUnsupportedNumberPhases,
                    f"numberPhases {period.number_phases} exceeds the {max_phases} supply"
                    f" phase(s) of {'the station' if evse_id == 0 else f'EVSE {evse_id}'}",
                    f"{pp}.numberPhases",
                )
    if (
        profile.charging_profile_kind is ChargingProfileKind.Recurring
        and profile.recurrency_kind is None
    ):
        return _reject(
            R.ChargingProfileMissingRecurrencyKind,
            "a Recurring profile needs a recurrencyKind (Daily or Weekly)",
            "recurrencyKind",
        )
    return None


def _check_duplicate_validity(
    evse_id: int, profile: ChargingProfile, ctx: StationContext
) -> ValidationResult | None:
    """K01.FR.06 for every purpose but TxProfile (K01.FR.39 covers those)."""
    for e, other in _others(ctx.all_installed(), profile):
        if (
            e == evse_id
            and other.charging_profile_purpose is profile.charging_profile_purpose
            and other.stack_level == profile.stack_level
            and _overlaps(profile, other)
        ):
            return _reject(
                ProfileRejection.DuplicateProfileValidityPeriod,
                f"profile {other.id} ({other.charging_profile_purpose.value}, stackLevel"
                f" {other.stack_level}) is already installed on EVSE {e} and its validity"
                f" {_window(other)} overlaps {_window(profile)}",
                "stackLevel",
            )
    return None


def _check_purpose(
    evse_id: int, profile: ChargingProfile, ctx: StationContext
) -> ValidationResult | None:
    R = ProfileRejection
    purpose = profile.charging_profile_purpose
    if purpose is _MAX:
        if evse_id != 0:
            return _reject(
                R.ChargingStationMaxProfileEvseIdGreaterThanZero,
                f"a ChargingStationMaxProfile must be set on EVSE 0, not EVSE {evse_id}",
                "chargingProfilePurpose",
            )
        if profile.charging_profile_kind is ChargingProfileKind.Relative:
            return _reject(
                R.ChargingStationMaxProfileCannotBeRelative,
                "a ChargingStationMaxProfile cannot be Relative",
                "chargingProfileKind",
            )
        return _check_duplicate_validity(evse_id, profile, ctx)
    if purpose is _TXD:
        dup = _check_duplicate_validity(evse_id, profile, ctx)
        if dup is not None:
            return dup
        for e, other in _others(ctx.all_installed(), profile):
            if (
                other.charging_profile_purpose is _TXD
                and other.stack_level == profile.stack_level
                and (e == 0) != (evse_id == 0)
            ):
                rule = "EVSE 0 (station-wide)" if e == 0 else f"EVSE {e}"
                return _reject(
                    R.DuplicateTxDefaultProfileFound,
                    f"TxDefaultProfile {other.id} on {rule} already uses stackLevel"
                    f" {other.stack_level}; a station-wide and an EVSE TxDefaultProfile"
                    " cannot share a stack level",
                    "stackLevel",
                )
        return None
    if purpose is _TX:
        if evse_id <= 0:
            return _reject(
                R.TxProfileEvseIdNotGreaterThanZero,
                "a TxProfile must be set on an EVSE (evseId > 0), not on EVSE 0",
                "chargingProfilePurpose",
            )
        tx_id = profile.transaction_id
        if tx_id is None:
            return _reject(
                R.TxProfileMissingTransactionId,
                "a TxProfile needs a transactionId",
                "transactionId",
            )
        running = ctx.transactions.get(evse_id)
        if running is None:
            return _reject(
                R.TxProfileEvseHasNoActiveTransaction,
                f"no transaction runs on EVSE {evse_id} (transactionId {tx_id!r})",
                "transactionId",
            )
        if running[0] != tx_id:
            return _reject(
                R.TxProfileTransactionNotOnEvse,
                f"transaction {tx_id!r} is not the one running on EVSE {evse_id} ({running[0]!r})",
                "transactionId",
            )
        for e, other in _others(ctx.all_installed(), profile):
            if (
                other.charging_profile_purpose is _TX
                and other.transaction_id == tx_id
                and other.stack_level == profile.stack_level
            ):
                return _reject(
                    R.TxProfileConflictingStackLevel,
                    f"TxProfile {other.id} on EVSE {e} already uses stackLevel"
                    f" {other.stack_level} for transaction {tx_id!r}",
                    "stackLevel",
                )
        return None
    # ChargingStationExternalConstraints (only from the site's energy manager)
    return _check_duplicate_validity(evse_id, profile, ctx)


def validate_profile(
    evse_id: int,
    profile: ChargingProfile,
    context: StationContext,
    *,
    now: datetime,
    source: ChargingLimitSource | str = ChargingLimitSource.CSO,
) -> ValidationResult:
    """Decide whether a station would accept ``profile`` on ``evse_id`` (K01).

    Parameters
    ----------
    evse_id
        The ``evseId`` of the SetChargingProfileRequest (0 = station-wide).
    profile
        The profile as received (not yet conformed).
    context
        The station's EVSEs, supply, supported units, installed profiles and transactions.
    now
        The station's clock (aware datetime, UTC).
    source
        Who sets the profile: ``CSO`` (the CSMS, via SetChargingProfile; the default) or, for
        ChargingStationExternalConstraints from the site's own energy manager, ``EMS``,
        ``SO`` or ``Other``.

    Returns
    -------
    ValidationResult
        ``Accepted``, or ``Rejected`` with the first broken rule (see the module table).
    """
    R = ProfileRejection
    try:
        src = ChargingLimitSource(source)
    except ValueError:
        raise InvalidPayloadError(
            f"unknown charging limit source {source!r} (EMS, Other, SO or CSO)",
            path="chargingLimitSource",
            rule="enum",
        ) from None
    purpose = profile.charging_profile_purpose
    from_csms = src is ChargingLimitSource.CSO
    if from_csms and purpose is _EXT:
        return _reject(
            R.ChargingStationExternalConstraintsInSetChargingProfileRequest,
            "ChargingStationExternalConstraints come from the site's energy manager and"
            " cannot be set by the CSMS",
            "chargingProfilePurpose",
        )
    if not from_csms and purpose is not _EXT:
        return _reject(
            R.InvalidProfileType,
            f"a limit from {src.value} must be ChargingStationExternalConstraints,"
            f" not {purpose.value}",
            "chargingProfilePurpose",
        )
    if isinstance(evse_id, bool) or not isinstance(evse_id, int):
        raise InvalidPayloadError(
            f"evse id must be an int, got {evse_id!r}", path="evseId", rule="type"
        )
    if evse_id < 0 or (evse_id != 0 and evse_id not in context.evses):
        known = ", ".join(str(e) for e in sorted(context.evses)) or "none"
        return _reject(
            R.EvseDoesNotExist,
            f"EVSE {evse_id} does not exist on this station (EVSEs: {known})",
            "evseId",
        )
    for e, other in context.all_installed():
        if other.id != profile.id:
            continue
        if from_csms and other.charging_profile_purpose is _EXT:
            return _reject(
                R.ExistingChargingStationExternalConstraints,
                f"id {profile.id} belongs to ChargingStationExternalConstraints on EVSE {e},"
                " which the CSMS cannot replace",
                "id",
            )
        if not from_csms and other.charging_profile_purpose is not _EXT:
            return _reject(
                R.ExternalConstraintsIdInUse,
                f"id {profile.id} belongs to a {other.charging_profile_purpose.value} the CSMS"
                f" installed on EVSE {e}; external constraints must use another id",
                "id",
            )
    if (
        profile.valid_from is not None
        and profile.valid_to is not None
        and profile.valid_to <= profile.valid_from
    ):
        return _reject(
            R.InvalidValidityPeriod,
            f"validTo {_fmt(profile.valid_to)} must be after validFrom {_fmt(profile.valid_from)}",
            "validTo",
        )
    if profile.valid_to is not None and profile.valid_to <= now:
        return _reject(
            R.ChargingProfileExpired,
            f"validTo {_fmt(profile.valid_to)} is before the station's clock {_fmt(now)}:"
            " check clock drift between CSMS and station",
            "validTo",
        )
    bad = _check_schedules(evse_id, profile, context)
    if bad is not None:
        return bad
    bad = _check_purpose(evse_id, profile, context)
    if bad is not None:
        return bad
    return _ACCEPTED


def conform_profile(
    evse_id: int, profile: ChargingProfile, context: StationContext
) -> ChargingProfile:
    """``profile`` as a station stores it: absent ``numberPhases`` on AC becomes 3 (K01.FR.49).

    On an EVSE (or station) whose supply has fewer than 3 phases the absent value becomes that
    number instead: a stored 3 would break K01.FR.45 and the profile would fail re-validation
    (as it does in EVerest). DC EVSEs (and EVSE 0 of a DC-supplied station) are left unchanged.
    The profile is returned as is (the same object) when nothing needs filling in.

    >>> from smartcharge.model import ChargingProfile
    >>> p = ChargingProfile.model_validate({
    ...     "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
    ...     "chargingProfileKind": "Relative",
    ...     "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
    ...         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}]})
    >>> conform_profile(0, p, StationContext()).charging_schedule[0].charging_schedule_period[0]
    ChargingSchedulePeriod(start_period=0, limit=16.0, number_phases=3, phase_to_use=None, custom_data=None)
    """  # noqa: E501
    if context.is_dc(evse_id):
        return profile
    phases = min(_AC_DEFAULT_PHASES, context.max_phases(evse_id))
    changed = False
    schedules = []
    for sched in profile.charging_schedule:
        periods = []
        for period in sched.charging_schedule_period:
            if period.number_phases is None:
                period = period.model_copy(update={"number_phases": phases})
                changed = True
            periods.append(period)
        schedules.append(sched.model_copy(update={"charging_schedule_period": tuple(periods)}))
    if not changed:
        return profile
    return profile.model_copy(update={"charging_schedule": tuple(schedules)})
