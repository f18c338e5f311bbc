"""What passes between the simulated stations and the strategy under test.

A strategy is any object with ``handle(event, now) -> list[Request]``: the site controller
(:class:`smartcharge.controller.Controller`) or a baseline
(:mod:`smartcharge.sim.strategies`). The simulator feeds it the controller's events and sends
the requests it returns to the simulated stations as OCPP JSON payloads; each request's
answer comes back as a :class:`RequestResult`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol

from smartcharge.controller.events import (
    ChargingNeeds,
    Event,
    MeterReading,
    Outcome,
    RequestResult,
    StationConnected,
    StationDisconnected,
    TariffUpdate,
    Tick,
    TransactionEnded,
    TransactionStarted,
)
from smartcharge.controller.request import Request

__all__ = [
    "ChargingNeeds",
    "Event",
    "MeterReading",
    "Outcome",
    "Request",
    "RequestResult",
    "StationConnected",
    "StationDisconnected",
    "Strategy",
    "TariffUpdate",
    "Tick",
    "TransactionEnded",
    "TransactionStarted",
    "payload_bytes",
]


def payload_bytes(request: Request) -> int:
    """Size [bytes] of a request's compact JSON payload (as sent, without the OCPP-J
    envelope)."""
    return len(json.dumps(request.payload, separators=(",", ":")).encode("utf-8"))


class Strategy(Protocol):
    """What the simulator drives: the site controller, or a baseline."""

    def handle(self, event: Any, now: datetime) -> list[Any]:
        """React to ``event`` at ``now``; return the requests to send."""
        ...
