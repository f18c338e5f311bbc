"""The OCPP requests the controller sends, in each station's protocol.

- a TxProfile per EVSE with a transaction: Absolute, ``startSchedule`` = the envelope's
  start, one period per change, id :func:`~smartcharge.ocpp.reconcile.stable_profile_id`
  ``(evseId, TxProfile)`` so each new one replaces the last in place (K01.FR.05); in A per
  phase with ``numberPhases`` for AC, in W for DC (rounded down to 0.1 W);
- the fallback TxDefaultProfile per EVSE (:func:`~smartcharge.ocpp.fallback.fallback_profiles`,
  daily recurring), sent at every connection.

2.0.1 and 2.1 stations get the 2.0.1 ``SetChargingProfileRequest`` payload (valid in 2.1);
1.6 stations its translation (:func:`smartcharge.ocpp.v16.to_v16`: ``connectorId``,
``csChargingProfiles``, integer ``transactionId``).
"""

from __future__ import annotations

import math
from typing import Any

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

__all__ = ["set_profile_payload", "tx_profile"]



def tx_profile(spec: EvseSpec, envelope: Envelope, transaction_id: str) -> ChargingProfile:
    """The TxProfile of ``envelope`` for ``transaction_id`` on ``spec``'s EVSE."""
    dc = spec.kind == "DC"
    vals = [math.floor(v * spec.watts_per_amp * 10) / 10 if dc else v for v in envelope.limits_a]
    periods = []
    for k, v in enumerate(vals):
        if k == 0 or v != vals[k - 1]:
            periods.append(ChargingSchedulePeriod(
                start_period=k * envelope.step_s, limit=v,
                number_phases=None if dc else spec.phases))
    pid = stable_profile_id(spec.evse_id, ChargingProfilePurpose.TxProfile)
    return ChargingProfile(
        id=pid, stack_level=0, charging_profile_purpose=ChargingProfilePurpose.TxProfile,
        charging_profile_kind=ChargingProfileKind.Absolute, transaction_id=transaction_id,
        charging_schedule=(ChargingSchedule(
            id=1, start_schedule=envelope.start,
            duration=envelope.step_s * len(envelope.limits_a),
            charging_rate_unit=ChargingRateUnit.W if dc else ChargingRateUnit.A,
            charging_schedule_period=tuple(periods)),),
    )


def set_profile_payload(protocol: Protocol, evse_id: int,
                        profile: ChargingProfile) -> tuple[str, dict[str, Any]]:
    """``(action, payload)`` of SetChargingProfile in ``protocol``."""
    payload = v201.set_charging_profile_request(evse_id, profile)
    if protocol == "1.6":
        return v16.to_v16(v201.parse_set_charging_profile_request(payload))
    return "SetChargingProfile", payload
