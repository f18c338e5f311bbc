"""What passes between the simulated stations and the strategy under test.

A strategy is any object with ``handle(event, now) -> list[Request]`` (the site controller's
interface). The simulator feeds it these events and sends the requests it returns to the
simulated stations as OCPP JSON payloads; each request's answer comes back as a
:class:`RequestResult`. The names and fields are the controller's (agreed interface); until
the controller lands they are defined here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

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
    "Tick",
    "TransactionEnded",
    "TransactionStarted",
]

Outcome = Literal["Accepted", "Rejected", "Error", "Timeout"]


@dataclass(frozen=True)
class StationConnected:
    """A station is (back) online."""

    station_id: str


@dataclass(frozen=True)
class StationDisconnected:
    """A station went offline."""

    station_id: str


@dataclass(frozen=True)
class TransactionStarted:
    """A car plugged in and a transaction started (station time ``started_at``)."""

    station_id: str
    evse_id: int
    transaction_id: str
    started_at: datetime


@dataclass(frozen=True)
class TransactionEnded:
    """A car left; ``energy_wh`` is the transaction's final meter register [Wh]."""

    station_id: str
    evse_id: int
    transaction_id: str
    ended_at: datetime
    energy_wh: float


@dataclass(frozen=True)
class ChargingNeeds:
    """What the car (or its driver) declared: energy [Wh], departure, maximum power [W]."""

    station_id: str
    evse_id: int
    energy_wh: float | None
    departure: datetime | None
    max_power_w: float | None = None
    max_current_a: float | None = None


@dataclass(frozen=True)
class MeterReading:
    """A meter value: power over the last interval [W], line currents [A], register [Wh]."""

    station_id: str
    evse_id: int
    power_w: float | None
    currents_a: tuple[float | None, float | None, float | None] | None
    energy_wh: float | None


@dataclass(frozen=True)
class RequestResult:
    """The answer to the request with ``correlation_id``."""

    correlation_id: str
    outcome: Outcome


@dataclass(frozen=True)
class Tick:
    """Time passes (one simulation step)."""


Event = (StationConnected | StationDisconnected | TransactionStarted | TransactionEnded
         | ChargingNeeds | MeterReading | RequestResult | Tick)


@dataclass(frozen=True)
class Request:
    """One OCPP request for a station: its action and JSON payload in the station's protocol."""

    station_id: str
    correlation_id: str
    action: str
    payload: dict[str, Any]
    protocol: str = "2.0.1"

    def to_json(self) -> str:
        """Deterministic compact JSON (sorted keys)."""
        return json.dumps({"station_id": self.station_id, "correlation_id": self.correlation_id,
                           "action": self.action, "payload": self.payload,
                           "protocol": self.protocol}, sort_keys=True, separators=(",", ":"))

    @property
    def payload_bytes(self) -> int:
        """Size [bytes] of the compact JSON payload (as sent, without the OCPP-J envelope)."""
        return len(json.dumps(self.payload, separators=(",", ":")).encode("utf-8"))


class Strategy(Protocol):
    """What the simulator drives: the site controller, or a baseline."""

    def handle(self, event: Any, now: datetime) -> list[Any]:
        """React to ``event`` at ``now``; return the requests to send."""
        ...
