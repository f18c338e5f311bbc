"""The events a site controller consumes (parsed, frozen, JSON round-trip).

Every event is a frozen dataclass; :func:`event_to_json_dict` / :func:`event_from_json_dict`
write and read an event log (``{"type": "MeterReading", ...}``), so a worker can replay it.
Datetimes are aware UTC; energies [Wh], powers [W], currents [A per phase].

>>> from datetime import datetime, timezone
>>> e = MeterReading("cs1", 1, power_w=7000.0, currents_a=(10.0, 10.0, 10.2),
...                  energy_wh=1200.0)
>>> event_from_json_dict(event_to_json_dict(e)) == e
True
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias

from smartcharge.errors import ControllerError, SmartChargeError
from smartcharge.model._base import format_datetime, parse_datetime

__all__ = [
    "ChargingLimitCleared",
    "ChargingLimitNotified",
    "ChargingNeeds",
    "Event",
    "GridLimit",
    "MeterReading",
    "Outcome",
    "RequestResult",
    "SessionMode",
    "SiteMeterReading",
    "StationConnected",
    "StationDisconnected",
    "TariffUpdate",
    "Tick",
    "TransactionEnded",
    "TransactionStarted",
    "TransactionUpdated",
    "event_from_json_dict",
    "event_to_json_dict",
]

Outcome = Literal["Accepted", "Rejected", "Error", "Timeout"]
ModeName = Literal["planned", "fast", "pv", "min_pv"]
"""A session's mode (:class:`smartcharge.optimizer.Session`'s ``mode``)."""
"""What became of a request: the station's status, a CALLERROR, or no answer in time."""


@dataclass(frozen=True)
class StationConnected:
    """A station (re)connected: BootNotification, or its websocket came back."""

    station_id: str


@dataclass(frozen=True)
class StationDisconnected:
    """A station's link is lost (socket closed, heartbeats missed)."""

    station_id: str


@dataclass(frozen=True)
class TransactionStarted:
    """A transaction started on an EVSE (2.0.1 TransactionEvent Started, 1.6
    StartTransaction with the transactionId the CSMS assigned). ``meter_wh``: the energy
    register at the start, when known [Wh]."""

    station_id: str
    evse_id: int
    transaction_id: str
    timestamp: datetime | None = None
    meter_wh: float | None = None


@dataclass(frozen=True)
class TransactionUpdated:
    """A transaction is still running (2.0.1 TransactionEvent Updated); ``evse_id`` may be
    ``None`` when the message does not carry it."""

    station_id: str
    evse_id: int | None
    transaction_id: str
    timestamp: datetime | None = None


@dataclass(frozen=True)
class TransactionEnded:
    """A transaction ended (2.0.1 TransactionEvent Ended, 1.6 StopTransaction, which carries
    no connectorId: ``evse_id`` ``None``)."""

    station_id: str
    evse_id: int | None
    transaction_id: str
    timestamp: datetime | None = None


@dataclass(frozen=True)
class MeterReading:
    """Measurands of an EVSE: power [W], per-phase currents [A] (L1, L2, L3; ``None`` for a
    phase not reported), the energy import register [Wh]. ``None``: not in the message."""

    station_id: str
    evse_id: int
    power_w: float | None = None
    currents_a: tuple[float | None, float | None, float | None] | None = None
    energy_wh: float | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True)
class ChargingNeeds:
    """An EV's needs (NotifyEVChargingNeeds): energy [Wh], departure, bounds [A] / [W]."""

    station_id: str
    evse_id: int
    energy_wh: float | None = None
    departure: datetime | None = None
    max_current_a: float | None = None
    max_power_w: float | None = None
    min_current_a: float | None = None


@dataclass(frozen=True)
class ChargingLimitNotified:
    """A limit set at the station by someone else (NotifyChargingLimit: EMS, SO, ...), as
    the lowest value of its schedule [A per phase] / [W]; ``evse_id`` 0: the station."""

    station_id: str
    evse_id: int
    max_current_a: float | None = None
    max_power_w: float | None = None
    source: str = "EMS"


@dataclass(frozen=True)
class ChargingLimitCleared:
    """That external limit is gone (ClearedChargingLimit)."""

    station_id: str
    evse_id: int
    source: str = "EMS"


@dataclass(frozen=True)
class GridLimit:
    """A grid or DSO limit on a node from ``start`` to ``end`` [W] / [A per line]."""

    node: str
    start: datetime
    end: datetime
    max_power_w: float | None = None
    max_current_a: float | None = None

    @property
    def station_id(self) -> None:
        """Not about one station."""
        return None


@dataclass(frozen=True)
class TariffUpdate:
    """Import prices [currency/kWh] from each start time on, ascending: ``((t0, p0), (t1,
    p1), ...)``; before ``t0`` the price is 0. Replaces the previous tariff."""

    prices: tuple[tuple[datetime, float], ...]

    @property
    def station_id(self) -> None:
        """Not about one station."""
        return None


@dataclass(frozen=True)
class SessionMode:
    """The driver chose how a session charges (an app, a button): ``mode`` (``"planned"``,
    ``"fast"``, ``"pv"``, ``"min_pv"``) for the session on this EVSE, overriding the
    EVSE's default until the transaction ends; optionally a departure and the energy
    wanted [Wh] (as :class:`ChargingNeeds`' fields, which they replace)."""

    station_id: str
    evse_id: int
    mode: ModeName
    departure: datetime | None = None
    energy_wh: float | None = None


@dataclass(frozen=True)
class SiteMeterReading:
    """The measured exchange at the grid connection ``node`` (the site's root) [W]: import
    positive, export negative (PV surplus)."""

    node: str
    power_w: float
    timestamp: datetime | None = None

    @property
    def station_id(self) -> None:
        """Not about one station."""
        return None


@dataclass(frozen=True)
class RequestResult:
    """What became of the request with ``correlation_id``."""

    correlation_id: str
    outcome: Outcome

    @property
    def station_id(self) -> None:
        """Carried by the request, not by the result."""
        return None


@dataclass(frozen=True)
class Tick:
    """Time passed (a timer): re-plan at step boundaries."""

    @property
    def station_id(self) -> None:
        """Not about one station."""
        return None


Event: TypeAlias = (
    StationConnected | StationDisconnected | TransactionStarted | TransactionUpdated
    | TransactionEnded | MeterReading | ChargingNeeds | ChargingLimitNotified
    | ChargingLimitCleared | GridLimit | TariffUpdate | RequestResult | Tick | SessionMode
    | SiteMeterReading
)
"""Any event the controller handles."""

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (
        StationConnected, StationDisconnected, TransactionStarted, TransactionUpdated,
        TransactionEnded, MeterReading, ChargingNeeds, ChargingLimitNotified,
        ChargingLimitCleared, GridLimit, TariffUpdate, RequestResult, Tick, SessionMode,
        SiteMeterReading,
    )
}
_OUTCOMES = ("Accepted", "Rejected", "Error", "Timeout")
_MODES = ("planned", "fast", "pv", "min_pv")


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    return value


def event_to_json_dict(event: Event) -> dict[str, Any]:
    """``{"type": <class name>, <field>: <JSON value>, ...}`` (datetimes as ISO 8601 UTC)."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for f in dataclasses.fields(event):
        out[f.name] = _json_value(getattr(event, f.name))
    return out


def _bad(message: str, path: str, rule: str) -> ControllerError:
    return ControllerError(message, path=path, rule=rule)


def _number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"must be a number, got {value!r}", path, "type")
    v = float(value)
    if not math.isfinite(v):
        raise _bad(f"must be finite, got {value!r}", path, "finite")
    return v


def _check(event: Any, path: str = "$") -> None:
    """Check the fields of an event (types, signs, aware datetimes)."""
    for f in dataclasses.fields(event):
        v = getattr(event, f.name)
        p = f"{path}.{f.name}" if path != "$" else f.name
        if f.name in ("station_id", "transaction_id", "correlation_id", "node", "source"):
            if not isinstance(v, str) or not v:
                raise _bad(f"must be a non-empty string, got {v!r}", p, "type")
        elif f.name == "evse_id":
            if v is None and type(event) in (TransactionUpdated, TransactionEnded):
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise _bad(f"must be an int >= 0, got {v!r}", p, "type")
        elif f.name in ("timestamp", "departure", "start", "end"):
            if v is None and f.name in ("timestamp", "departure"):
                continue
            if not isinstance(v, datetime) or v.utcoffset() is None:
                raise _bad(f"must be an aware datetime, got {v!r}", p, "aware-datetime")
        elif f.name == "currents_a":
            if v is None:
                continue
            if not isinstance(v, tuple) or len(v) != 3:
                raise _bad("must be three values (L1, L2, L3)", p, "type")
            for k, x in enumerate(v):
                if x is not None and _number(x, f"{p}[{k}]") < 0:
                    raise _bad(f"must be >= 0, got {x!r}", f"{p}[{k}]", "ge0")
        elif f.name == "prices":
            if not isinstance(v, tuple):
                raise _bad("must be a tuple of (start, price)", p, "type")
            last: datetime | None = None
            for k, item in enumerate(v):
                if (not isinstance(item, tuple) or len(item) != 2
                        or not isinstance(item[0], datetime) or item[0].utcoffset() is None):
                    raise _bad("must be (aware datetime, price)", f"{p}[{k}]", "type")
                _number(item[1], f"{p}[{k}][1]")
                if last is not None and item[0] <= last:
                    raise _bad("start times must ascend", f"{p}[{k}][0]", "ascending")
                last = item[0]
        elif f.name == "outcome":
            if v not in _OUTCOMES:
                raise _bad(f"must be one of {', '.join(_OUTCOMES)}, got {v!r}", p, "enum")
        elif f.name == "mode":
            if v not in _MODES:
                raise _bad(f"must be one of {', '.join(_MODES)}, got {v!r}", p, "enum")
        elif f.name == "power_w" and isinstance(event, SiteMeterReading):
            _number(v, p)  # signed: import positive, export negative
        elif v is not None and _number(v, p) < 0:  # energies, powers, currents, meters
            raise _bad(f"must be >= 0, got {v!r}", p, "ge0")
    if isinstance(event, GridLimit) and event.end <= event.start:
        raise _bad("end must be after start", f"{path}.end" if path != "$" else "end",
                   "end>start")


def check_event(event: object) -> None:
    """Raise :class:`ControllerError` (with the field's path) if ``event`` is not a valid
    event."""
    if type(event) not in _TYPES.values():
        raise _bad(f"not a controller event: {type(event).__name__}", "$", "event-type")
    _check(event)


def event_from_json_dict(data: object) -> Event:
    """Read an event written by :func:`event_to_json_dict` (a :class:`ControllerError` with
    the path of the first bad field otherwise)."""
    if not isinstance(data, dict):
        raise _bad(f"expected an object, got {type(data).__name__}", "$", "type")
    name = data.get("type")
    cls = _TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise _bad(f"unknown event type {name!r}", "type", "event-type")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    extra = sorted(set(data) - set(fields) - {"type"})
    if extra:
        raise _bad(f"unknown field {extra[0]!r}", extra[0], "extra")
    kwargs: dict[str, Any] = {}
    for name_, f in fields.items():
        if name_ not in data:
            if f.default is dataclasses.MISSING:
                raise _bad(f"missing field {name_!r}", name_, "required")
            continue
        v = data[name_]
        try:
            if name_ in ("timestamp", "departure", "start", "end") and v is not None:
                v = parse_datetime(v)
            elif name_ == "currents_a" and v is not None:
                if not isinstance(v, list):
                    raise _bad("must be a list of three values", name_, "type")
                v = tuple(v)
            elif name_ == "prices":
                if not isinstance(v, list):
                    raise _bad("must be a list of [start, price]", name_, "type")
                v = tuple((parse_datetime(x[0]), x[1]) if isinstance(x, list) and len(x) == 2
                          else x for x in v)
        except SmartChargeError:
            raise
        except (ValueError, TypeError) as exc:
            raise _bad(str(exc), name_, "date-time") from None
        kwargs[name_] = v
    event: Event = cls(**kwargs)
    _check(event)
    return event
