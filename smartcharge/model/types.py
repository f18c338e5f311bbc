"""OCPP 2.0.1 smart-charging datatypes as frozen pydantic v2 models.

Field names are the spec's, in snake_case (``charging_schedule_period``); the camelCase
JSON names are the aliases, so ``ChargingProfile.model_validate(payload)`` reads the official
JSON and ``profile.to_json_dict()`` (or ``model_dump(mode="json", by_alias=True,
exclude_none=True)``) writes it back exactly.

Beyond the JSON schema, the value rules that the schema only describes are enforced here:
limits have at most one decimal digit and are finite and non-negative, ``numberPhases`` and
``phaseToUse`` lie in 1..3, ``stackLevel``, ``startPeriod`` and durations are >= 0. The rules
that depend on a station's context (use case K01) live in :mod:`smartcharge.validation`.
"""

from __future__ import annotations

import bisect
import math
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictStr,
    model_serializer,
)

from smartcharge.errors import ScheduleError, require_aware
from smartcharge.model._base import (
    FiniteFloat,
    NonNegInt,
    OcppModel,
    OneDecimal,
    StrictInteger,
    UTCDateTime,
)
from smartcharge.model.enums import (
    ChargingLimitSource,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    CostKind,
    EnergyTransferMode,
    RecurrencyKind,
)

__all__ = [
    "ACChargingParameters",
    "ChargingLimit",
    "ChargingNeeds",
    "ChargingProfile",
    "ChargingSchedule",
    "ChargingSchedulePeriod",
    "CompositeSchedule",
    "ConsumptionCost",
    "Cost",
    "CustomData",
    "DCChargingParameters",
    "RelativeTimeInterval",
    "SalesTariff",
    "SalesTariffEntry",
]

Phases = Annotated[int, Field(strict=True, ge=1, le=3)]
Percent = Annotated[int, Field(strict=True, ge=0, le=100)]


class CustomData(OcppModel):
    """CustomDataType: a vendor id plus any vendor properties, carried through unchanged."""

    model_config = ConfigDict(extra="allow")

    vendor_id: Annotated[StrictStr, Field(max_length=255)]

    @model_serializer(mode="wrap")
    def _keep_null_vendor_values(self, handler: SerializerFunctionWrapHandler) -> Any:
        # ``exclude_none`` drops None fields; a vendor's own null values are data: keep them.
        data = handler(self)
        if isinstance(data, dict):
            for key, value in (self.__pydantic_extra__ or {}).items():
                if value is None:
                    data[key] = None
        return data

    def __hash__(self) -> int:
        return hash((type(self), self.vendor_id))


CustomDataField = Annotated[CustomData | None, Field(default=None)]


class ChargingSchedulePeriod(OcppModel):
    """ChargingSchedulePeriodType: one step of a schedule.

    Attributes
    ----------
    start_period
        Start of the period [s] from the start of the schedule (>= 0).
    limit
        Rate limit in the schedule's ``chargingRateUnit`` ([A] per phase or [W] in total),
        finite, >= 0, at most one decimal digit.
    number_phases
        Phases that may be used, 1..3 (absent means 3 on AC, K01.FR.49).
    phase_to_use
        1..3, only with ``number_phases == 1`` on stations that can switch phases.
    """

    start_period: NonNegInt
    limit: Annotated[OneDecimal, Field(ge=0)]
    number_phases: Phases | None = None
    phase_to_use: Phases | None = None
    custom_data: CustomDataField


class Cost(OcppModel):
    """CostType: ``amount * 10**amount_multiplier`` per kWh of a kind."""

    cost_kind: CostKind
    amount: StrictInteger
    amount_multiplier: Annotated[int, Field(strict=True, ge=-3, le=3)] | None = None
    custom_data: CustomDataField


class ConsumptionCost(OcppModel):
    """ConsumptionCostType: a consumption block [kWh] and its 1..3 costs."""

    start_value: FiniteFloat
    cost: Annotated[tuple[Cost, ...], Field(min_length=1, max_length=3)]
    custom_data: CustomDataField


class RelativeTimeInterval(OcppModel):
    """RelativeTimeIntervalType: ``start`` [s] from now and an optional ``duration`` [s]."""

    start: NonNegInt
    duration: NonNegInt | None = None
    custom_data: CustomDataField


class SalesTariffEntry(OcppModel):
    """SalesTariffEntryType."""

    relative_time_interval: RelativeTimeInterval
    e_price_level: NonNegInt | None = None
    consumption_cost: (
        Annotated[tuple[ConsumptionCost, ...], Field(min_length=1, max_length=3)] | None
    ) = None
    custom_data: CustomDataField


class SalesTariff(OcppModel):
    """SalesTariffType (ISO 15118-2 sales tariff)."""

    id: StrictInteger
    sales_tariff_description: Annotated[StrictStr, Field(max_length=32)] | None = None
    num_e_price_levels: StrictInteger | None = None
    sales_tariff_entry: Annotated[
        tuple[SalesTariffEntry, ...], Field(min_length=1, max_length=1024)
    ]
    custom_data: CustomDataField


class ChargingSchedule(OcppModel):
    """ChargingScheduleType: periods of limits in one unit.

    Attributes
    ----------
    id
        Identifies the schedule.
    start_schedule
        Anchor of an Absolute or Recurring schedule (UTC); absent for Relative.
    duration
        Length of the schedule [s]; absent means the last period lasts for ever
        (until the profile's ``validTo`` or the next recurrence).
    charging_rate_unit
        ``A`` (per phase) or ``W`` (total).
    charging_schedule_period
        1..1024 periods.
    min_charging_rate
        The lowest rate the EV charges efficiently at, in the schedule's unit.
    """

    id: StrictInteger
    start_schedule: UTCDateTime | None = None
    duration: NonNegInt | None = None
    charging_rate_unit: ChargingRateUnit
    charging_schedule_period: Annotated[
        tuple[ChargingSchedulePeriod, ...], Field(min_length=1, max_length=1024)
    ]
    min_charging_rate: Annotated[OneDecimal, Field(ge=0)] | None = None
    sales_tariff: SalesTariff | None = None
    custom_data: CustomDataField


class ChargingProfile(OcppModel):
    """ChargingProfileType: one profile as sent in SetChargingProfileRequest.

    >>> p = ChargingProfile.model_validate({
    ...     "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
    ...     "chargingProfileKind": "Absolute",
    ...     "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
    ...         "startSchedule": "2024-01-01T00:00:00Z",
    ...         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}]})
    >>> p.charging_schedule[0].charging_schedule_period[0].limit
    16.0
    >>> p.to_json_dict()["chargingSchedule"][0]["startSchedule"]
    '2024-01-01T00:00:00Z'
    """

    id: StrictInteger
    stack_level: NonNegInt
    charging_profile_purpose: ChargingProfilePurpose
    charging_profile_kind: ChargingProfileKind
    recurrency_kind: RecurrencyKind | None = None
    valid_from: UTCDateTime | None = None
    valid_to: UTCDateTime | None = None
    charging_schedule: Annotated[
        tuple[ChargingSchedule, ...], Field(min_length=1, max_length=3)
    ]
    transaction_id: Annotated[StrictStr, Field(max_length=36)] | None = None
    custom_data: CustomDataField

    @property
    def purpose(self) -> ChargingProfilePurpose:
        """Short for ``charging_profile_purpose``."""
        return self.charging_profile_purpose

    @property
    def kind(self) -> ChargingProfileKind:
        """Short for ``charging_profile_kind``."""
        return self.charging_profile_kind

    def same_content(self, other: ChargingProfile) -> bool:
        """True when ``other`` equals this profile except, perhaps, for its ``id``."""
        return self.model_copy(update={"id": other.id}) == other


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class CompositeSchedule(OcppModel):
    """CompositeScheduleType: the limit that really applies, as GetCompositeSchedule returns it.

    Attributes
    ----------
    evse_id
        The EVSE (0 = the whole station).
    duration
        Length [s] of the window.
    schedule_start
        Start of the window (UTC, whole seconds).
    charging_rate_unit
        Unit of every period's ``limit``.
    charging_schedule_period
        The periods, starting at 0 and merged where equal.
    """

    evse_id: NonNegInt
    duration: NonNegInt
    schedule_start: UTCDateTime
    charging_rate_unit: ChargingRateUnit
    charging_schedule_period: Annotated[
        tuple[ChargingSchedulePeriod, ...], Field(min_length=1)
    ]
    custom_data: CustomDataField

    def offset_of(self, t: datetime | int) -> int:
        """Seconds [s] from ``scheduleStart`` to ``t`` (aware datetime or epoch seconds), floored.

        Raises
        ------
        NaiveDatetimeError
            When ``t`` is a datetime without a timezone.
        """
        require_aware(t, "t")
        if isinstance(t, datetime):
            delta = t - self.schedule_start
            return delta.days * 86_400 + delta.seconds
        if isinstance(t, bool) or not isinstance(t, int):
            raise ScheduleError(
                f"a time must be an aware datetime or int epoch seconds, got {type(t).__name__}",
                path="t",
                rule="type",
            )
        start = self.schedule_start - _EPOCH
        return t - (start.days * 86_400 + start.seconds)

    def period_at(self, t: datetime | int) -> ChargingSchedulePeriod | None:
        """The period in force at ``t``, or ``None`` outside ``[scheduleStart, +duration)``."""
        offset = self.offset_of(t)
        if offset < 0 or offset >= self.duration:
            return None
        starts = [p.start_period for p in self.charging_schedule_period]
        index = bisect.bisect_right(starts, offset) - 1
        return self.charging_schedule_period[index] if index >= 0 else None

    def value_at(self, t: datetime | int) -> float:
        """The limit [``charging_rate_unit``] at ``t``; NaN outside the window.

        >>> from datetime import datetime, timezone
        >>> c = CompositeSchedule.model_validate({"evseId": 1, "duration": 600,
        ...     "scheduleStart": "2024-01-01T08:00:00Z", "chargingRateUnit": "W",
        ...     "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0},
        ...                                {"startPeriod": 300, "limit": 7400.0}]})
        >>> c.value_at(datetime(2024, 1, 1, 8, 5, tzinfo=timezone.utc))
        7400.0
        >>> c.value_at(datetime(2024, 1, 1, 8, 10, tzinfo=timezone.utc))
        nan
        """
        period = self.period_at(t)
        return math.nan if period is None else float(period.limit)


class ACChargingParameters(OcppModel):
    """ACChargingParametersType: what an AC EV asks for (NotifyEVChargingNeeds).

    ``energy_amount`` [Wh], ``ev_min_current`` / ``ev_max_current`` [A per phase],
    ``ev_max_voltage`` [V].
    """

    energy_amount: StrictInteger
    ev_min_current: StrictInteger
    ev_max_current: StrictInteger
    ev_max_voltage: StrictInteger
    custom_data: CustomDataField


class DCChargingParameters(OcppModel):
    """DCChargingParametersType: what a DC EV asks for.

    Currents [A], voltages [V], ``energy_amount`` and ``ev_energy_capacity`` [Wh],
    ``ev_max_power`` [W], states of charge [%].
    """

    ev_max_current: StrictInteger
    ev_max_voltage: StrictInteger
    energy_amount: StrictInteger | None = None
    ev_max_power: StrictInteger | None = None
    state_of_charge: Percent | None = None
    ev_energy_capacity: StrictInteger | None = None
    full_soc: Annotated[Percent | None, Field(alias="fullSoC")] = None
    bulk_soc: Annotated[Percent | None, Field(alias="bulkSoC")] = None
    custom_data: CustomDataField


class ChargingNeeds(OcppModel):
    """ChargingNeedsType: an EV's needs as reported in NotifyEVChargingNeedsRequest."""

    ac_charging_parameters: ACChargingParameters | None = None
    dc_charging_parameters: DCChargingParameters | None = None
    requested_energy_transfer: EnergyTransferMode
    departure_time: UTCDateTime | None = None
    custom_data: CustomDataField


class ChargingLimit(OcppModel):
    """ChargingLimitType: the source of an external limit (NotifyChargingLimitRequest)."""

    charging_limit_source: ChargingLimitSource
    is_grid_critical: StrictBool | None = None
    custom_data: CustomDataField

