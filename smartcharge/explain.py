"""Why a composite schedule is what it is: the limit each installed profile sets per period."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

from smartcharge.expand import expand_profile
from smartcharge.model import ChargingProfile, CompositeSchedule, format_datetime
from smartcharge.schedule import epoch_seconds

__all__ = ["explain_composite"]


def explain_composite(
    result: CompositeSchedule,
    installed: Mapping[int, Sequence[ChargingProfile]],
    *,
    transactions: Mapping[int, tuple[str, datetime]] | None = None,
    supply_voltage: float = 230.0,
    default_number_phases: int = 3,
) -> list[str]:
    """One line per period of ``result``: its start, its limit, and the limit each installed
    profile of the EVSE (and of EVSE 0) sets at that instant, in the result's unit.

    Profiles whose limit, rounded down to 0.1 like the result, equals the result's are
    marked ``*``: they are the ones that bind (for EVSE 0 the result is a sum, so usually
    none is marked). A profile that sets no limit at that instant is left out.
    """
    txs = transactions or {}
    unit = result.charging_rate_unit
    t0 = epoch_seconds(result.schedule_start)
    keys = [result.evse_id] if result.evse_id == 0 else [result.evse_id, 0]
    lines = []
    for period in result.charging_schedule_period:
        t = t0 + period.start_period
        parts = []
        for key in keys:
            tx = txs.get(key)
            for p in sorted(installed.get(key, ()), key=lambda q: (q.stack_level, q.id)):
                s = expand_profile(p, t, t + 1, transaction_start=None if tx is None else tx[1])
                if len(s) == 0 or math.isnan(float(s.values[0])):
                    continue
                value = float(s.to_unit(unit, voltage=supply_voltage,
                                        default_phases=default_number_phases).values[0])
                floored = math.floor(value * 10 + 1e-6) / 10
                mark = "*" if abs(floored - period.limit) < 1e-9 else " "
                parts.append(f"{mark}EVSE {key} #{p.id} {p.charging_profile_purpose.value} "
                             f"L{p.stack_level}: {value:.1f} {unit.value}")
        when = format_datetime(datetime.fromtimestamp(t, tz=timezone.utc))
        lines.append(f"{when}  {period.limit:.1f} {unit.value}  <- "
                     + ("; ".join(parts) if parts else "no profile: the default limit"))
    return lines
