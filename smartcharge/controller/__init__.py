"""The site controller: the reactive loop a CSMS runs, from station events to requests.

- :class:`Site` (:class:`StationSpec`, :class:`EvseSpec`) and :class:`ControllerConfig`:
  what the site is and how to run it.
- Events in (:mod:`smartcharge.controller.events`), :class:`Request` s out.
- :class:`ControllerState`: one JSON snapshot; :class:`Controller` / :func:`step`
  (:class:`DispatchMemo`: the decisions a Controller keeps between events).
"""

from smartcharge.controller.controller import Controller, DispatchMemo, step
from smartcharge.controller.events import (
    ChargingLimitCleared,
    ChargingLimitNotified,
    ChargingNeeds,
    Event,
    GridLimit,
    MeterReading,
    RequestResult,
    SessionMode,
    SiteMeterReading,
    StationConnected,
    StationDisconnected,
    TariffUpdate,
    Tick,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
    event_from_json_dict,
    event_to_json_dict,
)
from smartcharge.controller.ocpp_events import events_from_ocpp
from smartcharge.controller.request import Request
from smartcharge.controller.site import (
    ControllerConfig,
    EvseSpec,
    Site,
    SiteGeneration,
    StationSpec,
)
from smartcharge.controller.state import ControllerState, Envelope

__all__ = [
    "ChargingLimitCleared",
    "ChargingLimitNotified",
    "ChargingNeeds",
    "Controller",
    "ControllerConfig",
    "ControllerState",
    "DispatchMemo",
    "Envelope",
    "Event",
    "EvseSpec",
    "GridLimit",
    "MeterReading",
    "Request",
    "RequestResult",
    "SessionMode",
    "Site",
    "SiteGeneration",
    "SiteMeterReading",
    "StationConnected",
    "StationDisconnected",
    "StationSpec",
    "TariffUpdate",
    "Tick",
    "TransactionEnded",
    "TransactionStarted",
    "TransactionUpdated",
    "event_from_json_dict",
    "event_to_json_dict",
    "events_from_ocpp",
    "step",
]
