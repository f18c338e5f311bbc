"""The OCPP adapter: smart-charging message payloads in and out, and OCPP 1.6 translation.

- :mod:`smartcharge.ocpp.v201`: OCPP 2.0.1 messages (SetChargingProfile, GetChargingProfiles,
  ReportChargingProfiles, ClearChargingProfile, GetCompositeSchedule, NotifyEVChargingNeeds,
  NotifyChargingLimit, ClearedChargingLimit, NotifyEVChargingSchedule): builders that return
  schema-valid JSON, parsers that raise :class:`~smartcharge.errors.InvalidPayloadError` with
  the JSON path, the rule and the OCPP CALLERROR code; interop with the ``ocpp`` package.
- :mod:`smartcharge.ocpp.v16`: OCPP 1.6 ChargingProfiles and messages, translated to and from
  the 2.0.1 models (:class:`~smartcharge.errors.TranslationError` for what 1.6 cannot say).
- :mod:`smartcharge.ocpp.v21`: OCPP 2.1 profiles (setpoints, discharge limits, per-phase
  limits, operationMode), translation to and from 2.0.1, and bidirectional (V2X) plans as 2.1
  TxProfiles.
- :mod:`smartcharge.ocpp.composite21`: OCPP 2.1 composite schedules (setpoints, discharge
  limits, per-phase limits, operationMode), as EVerest computes them.
- :mod:`smartcharge.ocpp.reconcile`: the minimal, idempotent list of SetChargingProfile /
  ClearChargingProfile requests that takes a station from what it holds to what you want
  (the module; its function is ``smartcharge.reconcile``, here also
  :func:`reconcile_station`, and ``apply`` is :func:`apply_messages`).
- :mod:`smartcharge.ocpp.reports`: GetChargingProfiles both ways, the station's
  ReportChargingProfiles grouped by EVSE and source, and the CSMS collecting them by
  ``requestId`` until ``tbc`` is false (:class:`ProfileReports`).
- :mod:`smartcharge.ocpp.interop`: the third-party ``ocpp`` package: action names and enums,
  its dataclasses and handler kwargs, and :func:`ocpp_errors`, which turns library errors in
  ``@on`` handlers into CALLERRORs of the right code.
- :mod:`smartcharge.ocpp.fallback`: profiles that keep a site within its limits when every
  station is offline, validity windows, and profiles about to expire.

The most used 2.0.1 names are re-exported here. Nothing in this package needs the third-party
``ocpp`` package at run time (only the ``from_ocpp`` / ``to_ocpp`` helpers import it, lazily).
"""

from smartcharge.ocpp import composite21, fallback, interop, reconcile, reports, v16, v21, v201
from smartcharge.ocpp.composite21 import CompositeSchedule21, composite_schedule_v21
from smartcharge.ocpp.fallback import (
    DEFAULT_DRIFT_S,
    DEFAULT_MARGIN_S,
    DEFAULT_SHARE_A,
    expiring_profiles,
    fallback_currents,
    fallback_profiles,
    fallback_violations,
    validity_window,
)
from smartcharge.ocpp.interop import ocpp_errors
from smartcharge.ocpp.reconcile import (
    MANAGED_PURPOSES,
    Compare,
    ReconcileMessage,
    payload_bytes,
    restamp,
    stable_profile_id,
)
from smartcharge.ocpp.reconcile import apply as apply_messages
from smartcharge.ocpp.reconcile import reconcile as reconcile_station
from smartcharge.ocpp.reports import ProfileReports, charging_profile_reports
from smartcharge.ocpp.v21 import plan_to_v21_profiles, profile_from_v21, profile_to_v21
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
    "DEFAULT_DRIFT_S",
    "DEFAULT_MARGIN_S",
    "DEFAULT_SHARE_A",
    "MANAGED_PURPOSES",
    "MESSAGES",
    "Compare",
    "CompositeSchedule21",
    "EnergyNeed",
    "ExternalLimit",
    "Message",
    "ProfileReports",
    "ReconcileMessage",
    "StatusInfo",
    "apply_messages",
    "charging_profile_reports",
    "composite21",
    "composite_schedule_v21",
    "energy_need",
    "expiring_profiles",
    "external_constraints",
    "fallback",
    "fallback_currents",
    "fallback_profiles",
    "fallback_violations",
    "from_ocpp",
    "interop",
    "ocpp_errors",
    "parse",
    "payload_bytes",
    "plan_to_v21_profiles",
    "profile_from_v21",
    "profile_to_v21",
    "reconcile",
    "reconcile_station",
    "reports",
    "restamp",
    "stable_profile_id",
    "to_ocpp",
    "v16",
    "v21",
    "v201",
    "validity_window",
]
