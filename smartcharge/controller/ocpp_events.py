"""Controller events from OCPP messages a station sends (2.0.1, 2.1 and 1.6 JSON payloads).

:func:`events_from_ocpp` ``(station_id, protocol, action, payload)`` reads:

=========================  ================================================================
BootNotification           :class:`StationConnected`
TransactionEvent           Started / Updated / Ended, and a :class:`MeterReading` of its
                           meter values (2.0.1, 2.1)
StartTransaction           :class:`TransactionStarted` (1.6: pass the ``transaction_id`` the
                           CSMS assigned in its answer)
StopTransaction            :class:`TransactionEnded` (1.6)
MeterValues                :class:`MeterReading` (power, per-phase currents, energy register)
NotifyEVChargingNeeds      :class:`ChargingNeeds` (the adapter's ``energy_need``)
NotifyChargingLimit        :class:`ChargingLimitNotified` (the lowest limit of its schedules)
ClearedChargingLimit       :class:`ChargingLimitCleared`
=========================  ================================================================

Any other action gives ``[]`` (nothing for the controller). A malformed payload raises
:class:`~smartcharge.errors.ControllerError` (or the adapters'
:class:`~smartcharge.errors.InvalidPayloadError`) naming the field.

>>> events_from_ocpp("cs1", "2.0.1", "MeterValues", {"evseId": 1, "meterValue": [
...     {"timestamp": "2024-01-01T08:00:00Z", "sampledValue": [
...         {"value": 7.2, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "kW"}},
...         {"value": 10.4, "measurand": "Current.Import", "phase": "L1"}]}]})
... # doctest: +NORMALIZE_WHITESPACE
[MeterReading(station_id='cs1', evse_id=1, power_w=7200.0, currents_a=(10.4, None, None),
 energy_wh=None, timestamp=datetime.datetime(2024, 1, 1, 8, 0, tzinfo=datetime.timezone.utc))]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from smartcharge.controller.events import (
    ChargingLimitCleared,
    ChargingLimitNotified,
    ChargingNeeds,
    Event,
    MeterReading,
    StationConnected,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
    check_event,
)
from smartcharge.errors import ControllerError, SmartChargeError
from smartcharge.model._base import parse_datetime
from smartcharge.ocpp.v201 import energy_need, external_constraints

__all__ = ["events_from_ocpp"]

_SCALE = {"Wh": 1.0, "kWh": 1000.0, "W": 1.0, "kW": 1000.0, "A": 1.0}
_PHASES = {"L1": 0, "L2": 1, "L3": 2, "L1-N": 0, "L2-N": 1, "L3-N": 2}


def _bad(message: str, path: str, rule: str = "type") -> ControllerError:
    return ControllerError(message, path=path, rule=rule)


def _get(obj: object, key: str, path: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise _bad(f"missing field {key!r}", path, "required")
    return obj[key]


def _int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(f"must be an integer >= 0, got {value!r}", path)
    return value


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(f"must be an array, got {type(value).__name__}", path)
    return value


def _readings(station_id: str, evse_id: int, values: object,
              path: str) -> list[MeterReading]:
    out = []
    for i, mv in enumerate(_list(values, path)):
        p = f"{path}[{i}]"
        try:
            ts = parse_datetime(_get(mv, "timestamp", f"{p}.timestamp"))
        except (ValueError, TypeError) as exc:
            raise _bad(str(exc), f"{p}.timestamp", "date-time") from None
        power = energy = None
        currents: list[float | None] = [None, None, None]
        for j, sv in enumerate(_list(_get(mv, "sampledValue", f"{p}.sampledValue"),
                                     f"{p}.sampledValue")):
            q = f"{p}.sampledValue[{j}]"
            raw = _get(sv, "value", f"{q}.value")
            try:
                value = float(raw) if not isinstance(raw, bool) else math.nan
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value):
                raise _bad(f"must be a finite number, got {raw!r}", f"{q}.value")
            measurand = sv.get("measurand", "Energy.Active.Import.Register")
            unit_obj = sv.get("unitOfMeasure")
            unit = (unit_obj.get("unit") if isinstance(unit_obj, Mapping)
                    else sv.get("unit")) or ("A" if measurand == "Current.Import" else
                                             "W" if measurand.startswith("Power") else "Wh")
            if unit not in _SCALE:
                raise _bad(f"unsupported unit {unit!r}", f"{q}.unitOfMeasure.unit", "enum")
            value *= _SCALE[unit]
            if value < 0:
                raise _bad(f"must be >= 0, got {raw!r}", f"{q}.value", "ge0")
            if measurand == "Energy.Active.Import.Register" and "phase" not in sv:
                energy = value
            elif measurand == "Power.Active.Import" and "phase" not in sv:
                power = value
            elif measurand == "Current.Import" and sv.get("phase") in _PHASES:
                currents[_PHASES[sv["phase"]]] = value
        if power is None and energy is None and currents == [None, None, None]:
            continue
        out.append(MeterReading(
            station_id, evse_id, power_w=power, energy_wh=energy, timestamp=ts,
            currents_a=None if currents == [None, None, None] else
            (currents[0], currents[1], currents[2])))
    return out


def _lowest(limit: Any) -> tuple[float | None, float | None]:
    amps: list[float] = []
    watts: list[float] = []
    for sched in limit.schedules:
        lims = [float(p.limit) for p in sched.charging_schedule_period]
        (amps if sched.charging_rate_unit.value == "A" else watts).extend(lims)
    return (min(amps) if amps else None), (min(watts) if watts else None)


def events_from_ocpp(station_id: str, protocol: str, action: str, payload: object, *,
                     transaction_id: str | None = None) -> list[Event]:
    """The controller events of one message a station sent (see the module docstring).

    Parameters
    ----------
    station_id
        The sender.
    protocol
        ``"1.6"``, ``"2.0.1"`` or ``"2.1"``.
    action, payload
        The OCPP action and its JSON payload.
    transaction_id
        For a 1.6 StartTransaction: the transactionId the CSMS answers with.
    """
    if protocol not in ("1.6", "2.0.1", "2.1"):
        raise _bad(f"unknown protocol {protocol!r}", "protocol", "enum")
    if not isinstance(payload, Mapping):
        raise _bad(f"a payload is an object, got {type(payload).__name__}", "$")
    events: list[Event] = []
    try:
        events = _read(station_id, protocol, action, payload, transaction_id)
    except SmartChargeError:
        raise
    except (ValueError, TypeError, AttributeError) as exc:
        raise _bad(str(exc), "$", "invalid") from None
    for e in events:
        check_event(e)
    return events


def _read(station_id: str, protocol: str, action: str, payload: Mapping[str, Any],
          transaction_id: str | None) -> list[Event]:
    v16 = protocol == "1.6"
    if action == "BootNotification":
        return [StationConnected(station_id)]
    if action == "TransactionEvent" and not v16:
        kind = _get(payload, "eventType", "eventType")
        info = _get(payload, "transactionInfo", "transactionInfo")
        tid = _get(info, "transactionId", "transactionInfo.transactionId")
        ts = parse_datetime(_get(payload, "timestamp", "timestamp"))
        evse = payload.get("evse")
        evse_id = None if evse is None else _int(_get(evse, "id", "evse.id"), "evse.id")
        readings = [] if evse_id is None else _readings(
            station_id, evse_id, payload.get("meterValue", []), "meterValue")
        if kind == "Started":
            if evse_id is None:
                raise _bad("a Started TransactionEvent needs evse", "evse", "required")
            meter = next((r.energy_wh for r in readings if r.energy_wh is not None), None)
            return [TransactionStarted(station_id, evse_id, tid, ts, meter), *readings]
        if kind == "Updated":
            return [TransactionUpdated(station_id, evse_id, tid, ts), *readings]
        if kind == "Ended":
            return [*readings, TransactionEnded(station_id, evse_id, tid, ts)]
        raise _bad(f"unknown eventType {kind!r}", "eventType", "enum")
    if action == "StartTransaction" and v16:
        if transaction_id is None:
            raise _bad("a 1.6 StartTransaction needs the transaction_id the CSMS assigns",
                       "transaction_id", "required")
        connector = _int(_get(payload, "connectorId", "connectorId"), "connectorId")
        meter = _get(payload, "meterStart", "meterStart")
        ts = parse_datetime(_get(payload, "timestamp", "timestamp"))
        return [TransactionStarted(station_id, connector, transaction_id, ts,
                                   float(_int(meter, "meterStart")))]
    if action == "StopTransaction" and v16:
        tid = _int(_get(payload, "transactionId", "transactionId"), "transactionId")
        ts = parse_datetime(_get(payload, "timestamp", "timestamp"))
        return [TransactionEnded(station_id, None, str(tid), ts)]
    if action == "MeterValues":
        key = "connectorId" if v16 else "evseId"
        evse_id = _int(_get(payload, key, key), key)
        if evse_id == 0:
            return []  # the station's main meter: not an EVSE's draw
        return list(_readings(station_id, evse_id, _get(payload, "meterValue", "meterValue"),
                              "meterValue"))
    if action == "NotifyEVChargingNeeds" and not v16:
        need = energy_need(payload)
        amps = need.charging_rate_unit.value == "A"
        return [ChargingNeeds(
            station_id, need.evse_id, energy_wh=need.energy_amount,
            departure=need.departure_time,
            max_current_a=need.max_rate if amps else None,
            max_power_w=None if amps else need.max_rate,
            min_current_a=need.min_rate if amps and need.min_rate > 0 else None)]
    if action in ("NotifyChargingLimit", "ClearedChargingLimit") and not v16:
        limit = external_constraints(payload)
        evse_id = 0 if limit.evse_id is None else limit.evse_id
        if limit.cleared:
            return [ChargingLimitCleared(station_id, evse_id, limit.source.value)]
        amps_, watts = _lowest(limit)
        return [ChargingLimitNotified(station_id, evse_id, amps_, watts, limit.source.value)]
    return []
