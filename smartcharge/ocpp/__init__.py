"""The OCPP adapter: smart-charging message payloads in and out, and OCPP 1.6 translation.

- :mod:`smartcharge.ocpp.v201`: OCPP 2.0.1 messages (SetChargingProfile, GetChargingProfiles,
  ReportChargingProfiles, ClearChargingProfile, GetCompositeSchedule, NotifyEVChargingNeeds,
  NotifyChargingLimit, ClearedChargingLimit, NotifyEVChargingSchedule): builders that return
  schema-valid JSON, parsers that raise :class:`~smartcharge.errors.InvalidPayloadError` with
  the JSON path, the rule and the OCPP CALLERROR code; interop with the ``ocpp`` package.
- :mod:`smartcharge.ocpp.v16`: OCPP 1.6 ChargingProfiles and messages, translated to and from
  the 2.0.1 models (:class:`~smartcharge.errors.TranslationError` for what 1.6 cannot say).

The most used 2.0.1 names are re-exported here. Nothing in this package needs the third-party
``ocpp`` package at run time (only the ``from_ocpp`` / ``to_ocpp`` helpers import it, lazily).
"""

from smartcharge.ocpp import v16, v201
from smartcharge.ocpp.v201 import (
    MESSAGES,
    EnergyNeed,
    ExternalLimit,
    Message,
    StatusInfo,
    energy_need,
    external_constraints,
    from_ocpp,
    parse,
    to_ocpp,
)

__all__ = [
    "MESSAGES",
    "EnergyNeed",
    "ExternalLimit",
    "Message",
    "StatusInfo",
    "energy_need",
    "external_constraints",
    "from_ocpp",
    "parse",
    "to_ocpp",
    "v16",
    "v201",
]
