"""OCPP 2.0.1 smart-charging enumerations, named and valued as the specification names them.

Each enum is a ``str`` subclass, so ``ChargingRateUnit.A == "A"`` holds and members serialise
to their OCPP value.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "ChargingLimitSource",
    "ChargingProfileKind",
    "ChargingProfilePurpose",
    "ChargingProfileStatus",
    "ChargingRateUnit",
    "ClearChargingProfileStatus",
    "CostKind",
    "EnergyTransferMode",
    "RecurrencyKind",
]


class _StrEnum(str, Enum):
    def __str__(self) -> str:
        return str(self.value)


class ChargingProfilePurpose(_StrEnum):
    """ChargingProfilePurposeEnumType: what a profile is for."""

    ChargingStationExternalConstraints = "ChargingStationExternalConstraints"
    ChargingStationMaxProfile = "ChargingStationMaxProfile"
    TxDefaultProfile = "TxDefaultProfile"
    TxProfile = "TxProfile"


class ChargingProfileKind(_StrEnum):
    """ChargingProfileKindEnumType: how a schedule is anchored in time."""

    Absolute = "Absolute"
    Recurring = "Recurring"
    Relative = "Relative"


class RecurrencyKind(_StrEnum):
    """RecurrencyKindEnumType: the period of a Recurring profile."""

    Daily = "Daily"
    Weekly = "Weekly"


class ChargingRateUnit(_StrEnum):
    """ChargingRateUnitEnumType: amperes per phase (``A``) or watts in total (``W``)."""

    W = "W"
    A = "A"


class CostKind(_StrEnum):
    """CostKindEnumType."""

    CarbonDioxideEmission = "CarbonDioxideEmission"
    RelativePricePercentage = "RelativePricePercentage"
    RenewableGenerationPercentage = "RenewableGenerationPercentage"


class ChargingLimitSource(_StrEnum):
    """ChargingLimitSourceEnumType: who set an external limit."""

    EMS = "EMS"
    Other = "Other"
    SO = "SO"
    CSO = "CSO"


class ChargingProfileStatus(_StrEnum):
    """ChargingProfileStatusEnumType: a station's answer to SetChargingProfile."""

    Accepted = "Accepted"
    Rejected = "Rejected"


class ClearChargingProfileStatus(_StrEnum):
    """ClearChargingProfileStatusEnumType: ``Accepted`` when something was cleared, else
    ``Unknown``."""

    Accepted = "Accepted"
    Unknown = "Unknown"


class EnergyTransferMode(_StrEnum):
    """EnergyTransferModeEnumType (ChargingNeeds.requestedEnergyTransfer)."""

    DC = "DC"
    AC_single_phase = "AC_single_phase"
    AC_two_phase = "AC_two_phase"
    AC_three_phase = "AC_three_phase"
