"""Compute what a station answers to GetCompositeSchedule, for one EVSE and for the station.

Run: python examples/composite_schedule.py        (draws a PNG into a temporary directory
when matplotlib is installed)
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from smartcharge.composite import composite_schedule
from smartcharge.model import ChargingProfile

START = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)


def absolute(pid: int, purpose: str, stack: int, unit: str,
             periods: list[tuple[int, float]], **extra: object) -> ChargingProfile:
    """An Absolute profile starting at 08:00 UTC."""
    return ChargingProfile.model_validate({
        "id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute", **extra,
        "chargingSchedule": [{"id": pid, "chargingRateUnit": unit,
                              "startSchedule": "2024-01-01T08:00:00Z",
                              "chargingSchedulePeriod": [
                                  {"startPeriod": s, "limit": v} for s, v in periods]}]})


INSTALLED = {
    # the grid connection: 43 kW, 25 kW from 10:00
    0: [absolute(1, "ChargingStationMaxProfile", 0, "W", [(0, 43000.0), (7200, 25000.0)]),
        absolute(2, "TxDefaultProfile", 0, "A", [(0, 32.0)])],
    # EVSE 1: a session limited to 10 A for its first hour
    1: [absolute(3, "TxProfile", 0, "A", [(0, 10.0), (3600, 32.0)], transactionId="tx-1")],
    # EVSE 2: a stricter default of its own
    2: [absolute(4, "TxDefaultProfile", 1, "A", [(0, 16.0)])],
}
TRANSACTIONS = {1: ("tx-1", START)}


def main() -> None:
    for evse in (1, 2, 0):
        result = composite_schedule(INSTALLED, evse, START, 4 * 3600, "A",
                                    transactions=TRANSACTIONS, evse_ids=[1, 2])
        steps = [(p.start_period // 60, p.limit) for p in result.charging_schedule_period]
        print(f"EVSE {evse}: " + ", ".join(f"from +{m} min {a} A" for m, a in steps))
    response = {"status": "Accepted",
                "schedule": composite_schedule(INSTALLED, 1, START, 4 * 3600, "W",
                                               transactions=TRANSACTIONS).to_json_dict()}
    print(json.dumps(response, indent=1)[:400])
    try:
        from smartcharge.plot import plot_composite
        fig = plot_composite(composite_schedule(INSTALLED, 1, START, 4 * 3600, "A",
                                                transactions=TRANSACTIONS),
                             INSTALLED, transactions=TRANSACTIONS)
    except ImportError as err:
        print(f"no picture: {err}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "evse1.png"
        fig.savefig(path)
        print(f"drew {path.name} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
