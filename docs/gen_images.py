"""Generate the pictures of the Concepts page (docs/img/*.png) with smartcharge.plot.

Run ``python docs/gen_images.py [OUTDIR]`` (default: docs/img). tests/test_docs.py runs it
into a temporary directory to keep it working.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from smartcharge.composite import composite_schedule
from smartcharge.model import ChargingProfile
from smartcharge.optimizer import optimize
from smartcharge.plot import plot_composite, plot_plan
from smartcharge.synthetic import workplace_site

START = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)


def profile(pid: int, purpose: str, stack: int, periods: list[tuple[int, float]], *,
            unit: str = "A", duration: int | None = None, **extra: Any) -> ChargingProfile:
    """An Absolute profile starting at 08:00 UTC."""
    schedule: dict[str, Any] = {
        "id": pid, "chargingRateUnit": unit, "startSchedule": "2024-01-01T08:00:00Z",
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in periods]}
    if duration is not None:
        schedule["duration"] = duration
    return ChargingProfile.model_validate({
        "id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute", "chargingSchedule": [schedule], **extra})


def stack_levels() -> dict[int, list[ChargingProfile]]:
    """Two TxDefaultProfiles: stack level 1 wins where it has a period, 0 shows through."""
    return {1: [
        profile(1, "TxDefaultProfile", 0, [(0, 16.0)]),
        profile(2, "TxDefaultProfile", 1, [(0, 32.0), (3600, 10.0)], duration=7200),
    ]}


def purposes() -> dict[int, list[ChargingProfile]]:
    """Station max, external constraints, TxDefault and a TxProfile: the minimum wins."""
    return {
        0: [profile(1, "ChargingStationMaxProfile", 0, [(0, 32.0), (10800, 20.0)]),
            profile(2, "ChargingStationExternalConstraints", 0,
                    [(0, 32.0), (5400, 12.0), (9000, 32.0)])],
        1: [profile(3, "TxDefaultProfile", 0, [(0, 16.0)]),
            profile(4, "TxProfile", 0, [(0, 25.0), (1800, 6.0)], duration=3600,
                    transactionId="tx-1")],
    }


def generate(outdir: Path) -> list[Path]:
    """Write every picture into ``outdir``; returns the paths."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    transactions = {1: ("tx-1", START)}
    cases = [
        ("stack-levels.png", stack_levels(), "Stack levels: the highest level with a period wins"),
        ("purposes.png", purposes(), "Purposes: Tx over TxDefault, then the minimum of the layers"),
    ]
    for name, installed, title in cases:
        comp = composite_schedule(installed, 1, START, 4 * 3600, "A", transactions=transactions)
        fig = plot_composite(comp, installed, transactions=transactions, title=title)
        path = outdir / name
        fig.savefig(path, metadata={"Software": None})
        written.append(path)
    # the plan of `smartcharge demo` (its default site)
    fig = plot_plan(optimize(workplace_site()))
    path = outdir / "demo-site-load.png"
    fig.savefig(path, metadata={"Software": None})
    written.append(path)
    return written


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("img")
    for path in generate(out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
