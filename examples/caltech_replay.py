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

import csv
import json
import math
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from smartcharge.optimizer import EVSE, Horizon, Node, Problem, Session, Tariff, optimize, verify
from smartcharge.optimizer.baselines import least_laxity_first, uncontrolled

DAY_START = datetime(2019, 3, 5, 8, tzinfo=timezone.utc)  # local midnight (PST)
STEP_S = 900
TRANSFORMER_KW = 50.0
PACIFIC = ZoneInfo("America/Los_Angeles")


def load_day(data: Path) -> Problem:
    """The sessions arriving in the day, on the garage's electrical model."""
    site = json.loads((data / "site.json").read_text(encoding="utf-8"))
    pods = {m: c["name"] for c in site["constraints"] if "members" in c for m in c["members"]}
    cap = TRANSFORMER_KW * 1000.0 / 3.0
    nodes = [Node(id="primary", coupling="delta-wye", ratio=4.0, voltage_v=277.0,
                  max_current_a=cap / 277.0),
             Node(id="secondary", parent="primary", voltage_v=120.0, max_current_a=cap / 120.0)]
    nodes += [Node(id=c["name"], parent="secondary", voltage_v=120.0,
                   max_current_a=float(c["limit_a"]))
              for c in site["constraints"] if "members" in c]
    line = {"AB": "L1-L2", "BC": "L2-L3", "CA": "L3-L1"}
    evses = [EVSE(id=e["id"], node=pods.get(e["id"], "secondary"), phases=1,
                  connection=line[e["connection"]], voltage_v=208.0 / math.sqrt(3.0),
                  max_current_a=32.0, min_current_a=6.0 if e["type"] == "AeroVironment" else 8.0)
             for e in site["evses"]]
    day_end = DAY_START + timedelta(days=1)

    def on_grid(text: str, up: bool) -> datetime:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        k = (t - DAY_START).total_seconds() / STEP_S
        return DAY_START + timedelta(seconds=STEP_S * (math.ceil(k) if up else math.floor(k)))

    sessions = []
    with (data / "sessions.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            arrival, departure = on_grid(row["arrival"], True), on_grid(row["departure"], False)
            if not DAY_START <= arrival < day_end or departure <= arrival:
                continue
            sessions.append(Session(id=row["session_id"], evse=row["station_id"],
                                    arrival=arrival, departure=departure,
                                    energy_wh=float(row["energy_kwh"]) * 1000.0,
                                    max_power_w=float(row["max_power_kw"]) * 1000.0))
    end = max([day_end, *(s.departure for s in sessions)])
    n_steps = math.ceil((end - DAY_START).total_seconds() / STEP_S)
    local_hours = [(DAY_START + timedelta(seconds=k * STEP_S)).astimezone(PACIFIC).hour
                   for k in range(n_steps)]
    price = tuple(0.30 if 12 <= h < 18 else 0.10 for h in local_hours)
    return Problem(horizon=Horizon(start=DAY_START, step_s=STEP_S, n_steps=n_steps),
                   nodes=tuple(nodes), evses=tuple(evses), sessions=tuple(sessions),
                   tariff=Tariff(price=price))


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
