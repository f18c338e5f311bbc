"""Replay one real day of the Caltech ACN garage (54 EVSEs, March 2019) with a small transformer.

Reads ``../shared/data/caltech-acn-2019-03`` (beside the repository; or pass the folder as the
first argument): the sessions arriving on Tuesday 2019-03-05 (local day from 08:00 UTC), on
the garage's electrical model (single-phase EVSEs line to line at 208 V, two 80 A pods, a
delta-wye transformer whose line currents are phasor sums), here with only 50 kW of
transformer to make it congested. Steps are 15 minutes; the day is planned at once, with the
sessions known in advance. Time-of-use price: 0.30 from 12:00 to 18:00 Pacific, 0.10 otherwise.

Run: python examples/caltech_replay.py [DATA_DIR]
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from smartcharge.optimizer import Problem, optimize, verify
from smartcharge.optimizer.baselines import least_laxity_first, uncontrolled
from smartcharge.sim.caltech import load_problem

DAY_START = datetime(2019, 3, 5, 8, tzinfo=timezone.utc)  # local midnight (PST)
STEP_S = 900
TRANSFORMER_KW = 50.0


def load_day(data: Path) -> Problem:
    """The sessions arriving in the day, on the garage's electrical model
    (:func:`smartcharge.sim.caltech.load_problem`)."""
    problem, _ = load_problem(data, DAY_START, DAY_START + timedelta(days=1), TRANSFORMER_KW,
                              step_s=STEP_S)
    return problem


def main(argv: list[str]) -> int:
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "caltech-acn-2019-03"
    data = Path(argv[1]) if len(argv) > 1 else default
    if not (data / "sessions.csv").is_file():
        print(f"the Caltech ACN data are not at {data}; pass their folder as the first argument",
              file=sys.stderr)
        return 2
    problem = load_day(data)
    need = sum(s.energy_wh for s in problem.sessions) / 1000.0
    print(f"2019-03-05: {len(problem.sessions)} sessions want {need:.0f} kWh; "
          f"{TRANSFORMER_KW:.0f} kW transformer, {problem.horizon.n_steps} steps of 15 min")
    for name, planner in (("optimizer", optimize), ("least laxity first", least_laxity_first),
                          ("uncontrolled", uncontrolled)):
        started = time.perf_counter()
        plan = planner(problem)
        took = time.perf_counter() - started
        print(f"{name:<19} delivered {plan.share_delivered:6.1%}  cost {plan.cost:6.2f}  "
              f"peak {plan.peak_w / 1000:5.1f} kW  violations {len(verify(problem, plan)):3d}  "
              f"({took:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
