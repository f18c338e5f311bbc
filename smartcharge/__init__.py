"""smartcharge: OCPP 2.0.1 smart charging for Python.

Models of the OCPP smart-charging datatypes, composite schedules, a station model with the
spec's accept/reject rules, and an OR-Tools optimizer that allocates site power to EVSEs.
The library is I/O-free: time (``now``) is always a parameter.
"""

from smartcharge.errors import (
    InvalidPayloadError,
    InvalidProblemError,
    ScheduleError,
    SmartChargeError,
    SolverError,
    TranslationError,
    UnitConversionError,
)
from smartcharge.model import (
    ACChargingParameters,
    ChargingLimit,
    ChargingLimitSource,
    ChargingNeeds,
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingProfileStatus,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    CompositeSchedule,
    ConsumptionCost,
    Cost,
    CostKind,
    CustomData,
    DCChargingParameters,
    EnergyTransferMode,
    RecurrencyKind,
    RelativeTimeInterval,
    SalesTariff,
    SalesTariffEntry,
)
from smartcharge.units import amps_to_watts, convert, watts_to_amps

__version__ = "0.1.0"

__all__ = [
    "ACChargingParameters",
    "ChargingLimit",
    "ChargingLimitSource",
    "ChargingNeeds",
    "ChargingProfile",
    "ChargingProfileKind",
    "ChargingProfilePurpose",
    "ChargingProfileStatus",
    "ChargingRateUnit",
    "ChargingSchedule",
    "ChargingSchedulePeriod",
    "CompositeSchedule",
    "ConsumptionCost",
    "Cost",
    "CostKind",
    "CustomData",
    "DCChargingParameters",
    "EnergyTransferMode",
    "InvalidPayloadError",
    "InvalidProblemError",
    "RecurrencyKind",
    "RelativeTimeInterval",
    "SalesTariff",
    "SalesTariffEntry",
    "ScheduleError",
    "SmartChargeError",
    "SolverError",
    "TranslationError",
    "UnitConversionError",
    "__version__",
    "amps_to_watts",
    "convert",
    "watts_to_amps",
]
