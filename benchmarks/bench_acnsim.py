"""The optimizer inside ACN-Sim (Caltech's research simulator): same week, same site (a script).

Runs ``acnportal``'s ``Simulator`` on the cached Caltech event file of
``shared/data/caltech-acn-2019-03`` (the sessions arriving in the chosen days), on
``acnsim.sites.caltech_acn(basic_evse=True, voltage=208, transformer_cap=...)``, re-planning
every 5-minute period (``max_recompute=1``) with:

- ``ours``: :func:`smartcharge.optimizer.optimize` (``--options``, default ``grid="mpc"``) on
  the sessions ACN-Sim reports active (remaining demand, estimated departure), on the site
  tree of ``benchmarks/caltech.py``; the plan's first step becomes the pilots [A] (power /
  208 V);
- ``llf``: ACN-Sim's own least-laxity-first (``SortedSchedulingAlgo``).

and prints ACN-Sim's share of the requested energy delivered next to this project's own
replay (``benchmarks/bench_mpc.py``) of the same sessions. ``acnportal`` pins old
dependencies: install it in a separate virtualenv with this project's runtime dependencies
(``pip install acnportal ortools pydantic python-dateutil scipy``) and run with
``PYTHONPATH=<repo>``. Without ``acnportal`` the script says so and exits 0.

Run: ``python benchmarks/bench_acnsim.py [--start 2019-03-04] [--days 7]
[--capacities 40] [--algorithms ours,llf]``.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import math
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from caltech import PACIFIC, read_site, site_nodes_evses, tou_price

from smartcharge.optimizer import Horizon, Problem, Session, Tariff, optimize

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "caltech-acn-2019-03"
EVENTS = "caltech_20190301T000000_20190401T000000_5m_208V_6.6kW.json.gz"
T0 = datetime(2019, 3, 1, 8, 0, tzinfo=timezone.utc)  # period 0 (local midnight)
PERIOD_MIN = 5
VOLTS = 208.0
EV_MAX_W = 6600.0
"""The batteries' maximum power in the event file (the sessions' ``max_rates`` may be
infinite: ACN-Sim's battery model caps the power, not the pilot)."""


def _ours(
    acnsim: Any, algorithms: Any, site: dict[str, Any], cap: float, options: dict[str, Any]
) -> Any:
    """An ACN-Sim algorithm that plans with :func:`optimize` and applies the first step."""
    nodes, evses = site_nodes_evses(site, cap)
    known = {e.id for e in evses}

    class Ours(algorithms.BaseAlgorithm):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.max_recompute = 1
            self.times: list[float] = []

        def schedule(self, active_sessions: list[Any]) -> dict[str, list[float]]:
            now_k = self.interface.current_time
            now = T0 + timedelta(minutes=PERIOD_MIN * now_k)
            sessions = []
            for s in active_sessions:
                need = float(s.remaining_demand) * 1000.0
                dep = max(int(s.estimated_departure), now_k + 1)
                if need <= 1e-6 or s.station_id not in known:
                    continue
                sessions.append(Session(
                    id=s.session_id, evse=s.station_id, arrival=now,
                    departure=T0 + timedelta(minutes=PERIOD_MIN * dep), energy_wh=need,
                    max_power_w=min(EV_MAX_W, float(np.max(s.max_rates)) * VOLTS)))
            out = {s.station_id: [0.0] for s in active_sessions}
            if not sessions:
                return out
            n = max(math.ceil((x.departure - now).total_seconds() / 300) for x in sessions)
            n = min(n, 288)
            problem = Problem(
                horizon=Horizon(start=now, step_s=300, n_steps=n), nodes=tuple(nodes),
                evses=tuple(evses), sessions=tuple(sessions),
                tariff=Tariff(price=tuple(float(p) for p in tou_price(now, 300, n))))
            t = time.perf_counter()
            plan = optimize(problem, **options)
            self.times.append(time.perf_counter() - t)
            for i, s in enumerate(problem.sessions):
                out[s.evse] = [float(plan.session_power_w[i, 0]) / VOLTS]
            return out

    return Ours()


def run(args: argparse.Namespace, acnsim: Any, algorithms: Any, cap: float,
        name: str) -> dict[str, Any]:
    """One simulation: ACN-Sim's share delivered, its infeasible-schedule warnings, and the
    optimizer's mean re-plan time."""
    with gzip.open(args.data / EVENTS, "rt") as fh:
        text = json.load(fh)  # the cache holds the JSON text as one JSON string
    queue = acnsim.EventQueue.from_json(text if isinstance(text, str) else json.dumps(text))
    start = datetime.fromisoformat(args.start).replace(tzinfo=PACIFIC).astimezone(timezone.utc)
    k0 = round((start - T0).total_seconds() / 60 / PERIOD_MIN)
    k1 = k0 + round(args.days * 24 * 60 / PERIOD_MIN)
    kept = [e for _, e in queue.queue if k0 <= e.ev.arrival < k1]
    events = acnsim.EventQueue(kept)
    network = acnsim.sites.caltech_acn(basic_evse=True, voltage=VOLTS, transformer_cap=cap)
    site = read_site(args.data)
    sch = _ours(acnsim, algorithms, site, cap, json.loads(args.options)) if name == "ours" else (
        algorithms.SortedSchedulingAlgo(algorithms.least_laxity_first))
    if name != "ours":
        sch.max_recompute = 1
    sim = acnsim.Simulator(network, sch, events, T0, period=PERIOD_MIN, verbose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sim.run()
    bad = sum("Invalid schedule" in str(w.message) for w in caught)
    times = getattr(sch, "times", [])
    return {"capacity_kw": cap, "algorithm": name,
            "share": float(acnsim.analysis.proportion_of_energy_delivered(sim)),
            "infeasible_schedules": bad, "sessions": len(kept),
            "mean_ms": 1000.0 * float(np.mean(times)) if times else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--start", default="2019-03-04")
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--capacities", default="40")
    ap.add_argument("--algorithms", default="ours,llf")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--options", default='{"grid": "mpc"}',
                    help="optimize()'s keyword arguments for 'ours', as JSON ('{}' for an "
                         "older revision on PYTHONPATH, which has no grid)")
    args = ap.parse_args(argv)
    if importlib.util.find_spec("acnportal") is None:
        print("acnportal is not installed: nothing to compare (see the module docstring)")
        return 0
    if not (args.data / EVENTS).is_file():
        print(f"no event file {args.data / EVENTS}: nothing to compare")
        return 0
    from acnportal import acnsim, algorithms

    from smartcharge import optimizer

    if hasattr(optimizer, "warm_up"):  # older revisions have none
        optimizer.warm_up()
    rows = []
    for cap in [float(x) for x in args.capacities.split(",") if x]:
        for name in [a for a in args.algorithms.split(",") if a]:
            row = run(args, acnsim, algorithms, cap, name)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print("| capacity [kW] | algorithm | ACN-Sim delivered [%] | infeasible schedules | "
          "mean re-plan [ms] |\n|---:|---|---:|---:|---:|")
    for r in rows:
        ms = "" if r["mean_ms"] is None else f"{r['mean_ms']:.0f}"
        print(f"| {r['capacity_kw']:g} | {r['algorithm']} | {100 * r['share']:.3f} | "
              f"{r['infeasible_schedules']} | {ms} |")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
