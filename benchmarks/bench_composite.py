"""Benchmark of :func:`smartcharge.composite.composite_schedule` (a script, not a test).

Two figures, on one core:

1. composites per second for one EVSE with 5 installed profiles (ChargingStationMaxProfile,
   two TxDefaultProfile stack levels, one TxProfile, one ChargingStationExternalConstraints;
   24 periods each) over 24 h (target >= 5,000/s);
2. the station total (EVSE 0) of a station with 1,000 EVSEs, each with its own TxDefault
   and TxProfile plus the station-wide profiles (target < 0.5 s).

Run: ``python benchmarks/bench_composite.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timedelta, timezone

from smartcharge.composite import composite_schedule
from smartcharge.model import ChargingProfile

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
TX_ID = "tx-bench"


def _profile(
    pid: int, purpose: str, stack: int, unit: str, base: float, *, tx: str | None = None
) -> ChargingProfile:
    step = 1.0 if unit == "A" else 500.0
    periods = [
        {"startPeriod": h * 3600, "limit": round(base + (h % 5) * step, 1)} for h in range(24)
    ]
    payload: dict[str, object] = {
        "id": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": unit,
                "startSchedule": (T0 - timedelta(minutes=17)).isoformat(),
                "duration": 86_400,
                "chargingSchedulePeriod": periods,
            }
        ],
    }
    if tx is not None:
        payload["transactionId"] = tx
    return ChargingProfile.model_validate(payload)


def one_evse_setup() -> dict[int, list[ChargingProfile]]:
    return {
        0: [
            _profile(1, "ChargingStationMaxProfile", 0, "W", 30_000.0),
            _profile(2, "TxDefaultProfile", 0, "A", 20.0),
            _profile(5, "ChargingStationExternalConstraints", 0, "W", 40_000.0),
        ],
        1: [
            _profile(3, "TxDefaultProfile", 1, "A", 16.0),
            _profile(4, "TxProfile", 2, "W", 9_000.0, tx=TX_ID),
        ],
    }


def bench_one_evse(repeat: int) -> tuple[float, float]:
    """(composites/s of the best batch, composites/s at the median single-call time).

    The median is robust to other processes taking the core now and then; the batch figure
    is what a loop sees on this machine right now.
    """
    installed = one_evse_setup()
    txs = {1: (TX_ID, T0 - timedelta(hours=1))}
    for _ in range(50):  # warm up
        composite_schedule(installed, 1, T0, 86_400, "A", transactions=txs)
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(repeat):
            composite_schedule(installed, 1, T0, 86_400, "A", transactions=txs)
        best = max(best, repeat / (time.perf_counter() - t))
    single = []
    for _ in range(repeat):
        t = time.perf_counter()
        composite_schedule(installed, 1, T0, 86_400, "A", transactions=txs)
        single.append(time.perf_counter() - t)
    return best, 1.0 / statistics.median(single)


def bench_station(n_evses: int) -> float:
    installed = one_evse_setup()
    txs = {}
    for e in range(1, n_evses + 1):
        installed[e] = [
            _profile(10 * e + 3, "TxDefaultProfile", 1, "A", 10.0 + e % 7),
            _profile(10 * e + 4, "TxProfile", 2, "W", 5_000.0 + 10 * (e % 13), tx=f"tx-{e}"),
        ]
        txs[e] = (f"tx-{e}", T0 - timedelta(minutes=e % 90))
    composite_schedule(installed, 0, T0, 86_400, "W", transactions=txs)  # warm up
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        composite_schedule(installed, 0, T0, 86_400, "W", transactions=txs)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--evses", type=int, default=1000)
    args = parser.parse_args()
    rate, median_rate = bench_one_evse(args.repeat)
    print(
        f"one EVSE, 5 profiles x 24 periods, 24 h: {rate:,.0f} composites/s in a loop, "
        f"{median_rate:,.0f}/s at the median call time (target >= 5,000)"
    )
    secs = bench_station(args.evses)
    print(f"station of {args.evses} EVSEs, EVSE 0 total over 24 h: {secs:.3f} s (target < 0.5)")


if __name__ == "__main__":
    main()
