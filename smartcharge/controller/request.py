"""What the controller asks the CSMS to send: one OCPP request to one station."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Request"]


@dataclass(frozen=True)
class Request:
    """An OCPP CALL to send to ``station_id``, in that station's ``protocol``.

    Attributes
    ----------
    station_id
        The station to send it to.
    correlation_id
        Deterministic id (``"<station>#<n>"``); the :class:`RequestResult` of this request
        carries it back.
    action
        The OCPP action (``"SetChargingProfile"``).
    payload
        The JSON payload in the station's protocol (1.6 payloads for 1.6 stations).
    protocol
        ``"1.6"``, ``"2.0.1"`` or ``"2.1"``.
    """

    station_id: str
    correlation_id: str
    action: str
    payload: dict[str, Any]
    protocol: str

    def to_json_dict(self) -> dict[str, Any]:
        """The request as JSON-ready data."""
        return {"station_id": self.station_id, "correlation_id": self.correlation_id,
                "action": self.action, "payload": self.payload, "protocol": self.protocol}

    def to_json(self) -> str:
        """Deterministic JSON (sorted keys, compact): equal requests, equal bytes."""
        return json.dumps(self.to_json_dict(), sort_keys=True, separators=(",", ":"))
