"""The OCPP requests the controller sends, in each station's protocol.

- a TxProfile per EVSE with a transaction: Absolute, ``startSchedule`` = the envelope's
  start, one period per change, eroded by ``ControllerConfig.clock_skew_s``
  (:func:`eroded_periods`: decreases early, increases late, safe for a skewed clock), id
  :func:`~smartcharge.ocpp.reconcile.stable_profile_id` ``(evseId, TxProfile)`` so each
  new one replaces the last in place (K01.FR.05); in A per phase with ``numberPhases`` for
  AC, in W for DC (rounded down to 0.1 W);
- the fallback TxDefaultProfile per EVSE (:func:`~smartcharge.ocpp.fallback.fallback_profiles`,
  daily recurring), sent at every connection.

2.0.1 and 2.1 stations get the 2.0.1 ``SetChargingProfileRequest`` payload (valid in 2.1);
1.6 stations its translation (:func:`smartcharge.ocpp.v16.to_v16`: ``connectorId``,
``csChargingProfiles``, integer ``transactionId``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from smartcharge.controller.site import EvseSpec, Protocol
from smartcharge.controller.state import Envelope
from smartcharge.model import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
)
from smartcharge.ocpp import v16, v201
from smartcharge.ocpp.reconcile import stable_profile_id

__all__ = ["eroded_periods", "set_profile_payload", "tx_profile"]

FloatArray = npt.NDArray[np.float64]


def eroded_periods(limits: FloatArray, step_s: int, skew_s: int) -> list[tuple[int, float]]:
    """``(startPeriod [s], limit)`` of a per-step schedule eroded by ``skew_s`` [s]: at
    instant ``t`` the lowest of ``limits`` over ``[t - skew_s, t + skew_s]`` (a decrease
    starts ``skew_s`` early, an increase ``skew_s`` late), so a station whose clock is off
    by at most ``skew_s`` never applies more than ``limits`` at the true time. Needs
    ``2 * skew_s < step_s`` (``ControllerConfig`` checks it).

    >>> eroded_periods(np.array([16.0, 8.0, 8.0, 32.0]), 300, 5)
    [(0, 16.0), (295, 8.0), (905, 32.0)]
    """
    vals = np.asarray(limits, dtype=np.float64)
    change = np.flatnonzero(vals[1:] != vals[:-1]) + 1
    shift = np.where(vals[change] < vals[change - 1], -skew_s, skew_s)
    starts = [0, *(change * step_s + shift).tolist()]
    return list(zip((int(x) for x in starts),
                    (float(v) for v in [vals[0], *vals[change].tolist()]), strict=True))


def tx_profile(spec: EvseSpec, envelope: Envelope, transaction_id: str,
               skew_s: int = 0) -> ChargingProfile:
    """The TxProfile of ``envelope`` for ``transaction_id`` on ``spec``'s EVSE, eroded by
    ``skew_s`` [s] (:func:`eroded_periods`; it also ends ``skew_s`` early, so a station
    whose clock lags does not keep the last limit past the envelope's end)."""
    dc = spec.kind == "DC"
    vals = envelope.limits_array
    if dc:
        vals = np.floor(vals * spec.watts_per_amp * 10) / 10
    periods = tuple(
        ChargingSchedulePeriod(start_period=start, limit=v,
                               number_phases=None if dc else spec.phases)
        for start, v in eroded_periods(vals, envelope.step_s, skew_s))
    pid = stable_profile_id(spec.evse_id, ChargingProfilePurpose.TxProfile)
    return ChargingProfile(
        id=pid, stack_level=0, charging_profile_purpose=ChargingProfilePurpose.TxProfile,
        charging_profile_kind=ChargingProfileKind.Absolute, transaction_id=transaction_id,
        charging_schedule=(ChargingSchedule(
            id=1, start_schedule=envelope.start,
            duration=envelope.step_s * len(envelope.limits_a) - skew_s,
            charging_rate_unit=ChargingRateUnit.W if dc else ChargingRateUnit.A,
            charging_schedule_period=periods),),
    )


def set_profile_payload(protocol: Protocol, evse_id: int,
                        profile: ChargingProfile) -> tuple[str, dict[str, Any]]:
    """``(action, payload)`` of SetChargingProfile in ``protocol``."""
    payload = v201.set_charging_profile_request(evse_id, profile)
    if protocol == "1.6":
        return v16.to_v16(v201.parse_set_charging_profile_request(payload))
    return "SetChargingProfile", payload
