"""smartcharge: OCPP 2.0.1 smart charging for Python.

Models of the OCPP smart-charging datatypes, composite schedules, a station model with the
spec's accept/reject rules, and an OR-Tools optimizer that allocates site power to EVSEs.
The library is I/O-free: time (``now``) is always a parameter.
"""

from smartcharge.composite import composite_schedule
from smartcharge.errors import (
    InvalidPayloadError,
    InvalidProblemError,
    ScheduleError,
    SmartChargeError,
    SolverError,
    TranslationError,
    UnitConversionError,
)
from smartcharge.expand import expand_profile
from smartcharge.fleet import FleetStatus, SiteResult, plan_fleet
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
from smartcharge.ocpp.fallback import fallback_profiles
from smartcharge.ocpp.reconcile import reconcile
from smartcharge.optimize import (
    EVSE,
    Horizon,
    Node,
    Objective,
    Plan,
    Problem,
    Session,
    SolverStatus,
    Tariff,
    Violation,
    optimize,
    verify,
)
from smartcharge.schedule import Schedule
from smartcharge.station import ChargingStation, StationError
from smartcharge.units import amps_to_watts, convert, watts_to_amps
from smartcharge.validation import (
    EVSEInfo,
    ProfileRejection,
    StationContext,
    ValidationResult,
    conform_profile,
    validate_profile,
)

__version__ = "0.1.0"

__all__ = [
    "EVSE",
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
    "ChargingStation",
    "CompositeSchedule",
    "ConsumptionCost",
    "Cost",
    "CostKind",
    "CustomData",
    "DCChargingParameters",
    "EVSEInfo",
    "EnergyTransferMode",
    "FleetStatus",
    "Horizon",
    "InvalidPayloadError",
    "InvalidProblemError",
    "Node",
    "Objective",
    "Plan",
    "Problem",
    "ProfileRejection",
    "RecurrencyKind",
    "RelativeTimeInterval",
    "SalesTariff",
    "SalesTariffEntry",
    "Schedule",
    "ScheduleError",
    "Session",
    "SiteResult",
    "SmartChargeError",
    "SolverError",
    "SolverStatus",
    "StationContext",
    "StationError",
    "Tariff",
    "TranslationError",
    "UnitConversionError",
    "ValidationResult",
    "Violation",
    "__version__",
    "amps_to_watts",
    "composite_schedule",
    "conform_profile",
    "convert",
    "expand_profile",
    "fallback_profiles",
    "optimize",
    "plan_fleet",
    "reconcile",
    "validate_profile",
    "verify",
    "watts_to_amps",
]
