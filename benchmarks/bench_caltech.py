"""Real-data replay: the optimizer (MPC) against the baselines on the Caltech ACN (a script).

One week of real sessions (default 2019-03-04 00:00 Pacific, 7 x 24 h) on the Caltech garage
as ACN-Sim models it (``benchmarks/caltech.py``), for transformer capacities from 20 to
150 kW. Each strategy decides every step (5 minutes) with only what is known then:

- ``optimizer``: model-predictive control; at every step :func:`smartcharge.optimizer.optimize`
  plans the sessions present (declared departure, remaining energy) over the next
  ``--horizon-h`` hours at most, and the first step is applied;
- ``uncontrolled``, ``equal_share``, ``edf``, ``llf``: the policies of
  :mod:`smartcharge.optimizer.baselines`. They are causal (each step uses only the sessions
  plugged in and their remaining need), so one pass over the week is the same as
  re-deciding every step (``tests/test_caltech_loader.py`` checks it;
  ``--replay-baselines`` replays them step by step anyway).

Reported per strategy and capacity: share of the requested energy delivered, the energy,
its cost under the time-of-use tariff of ``caltech.tou_price`` (0.30/kWh 12:00-18:00
Pacific time, 0.10 otherwise), the peak [kW], violations found by
:func:`smartcharge.optimizer.verify` over the whole replay, and the wall time.

Run: ``python benchmarks/bench_caltech.py [--quick] [--days N] [--capacities 20,40]
[--step 300] [--data DIR] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from caltech import (
    PACIFIC,
    OcppTraffic,
    ReplayRow,
    format_table,
    load_problem,
    mpc_replay,
    summarize,
)

from smartcharge.optimizer.baselines import BASELINES
from smartcharge.optimizer.plan import Plan
from smartcharge.optimizer.problem import Problem
from smartcharge.optimizer.solve import optimize
from smartcharge.optimizer.verify import verify

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "caltech-acn-2019-03"
STRATEGIES = ("optimizer", "uncontrolled", "equal_share", "edf", "llf")


def run_one(
    problem: Problem, strategy: str, *, horizon_steps: int, replay: bool,
    lp_rounds: int | None = None, meter: OcppTraffic | None = None,
) -> Plan:
    """The applied plan of one strategy over the whole replay."""
    if strategy == "optimizer":
        def planner(sub: Problem) -> Plan:
            if lp_rounds is None:
                return optimize(sub)
            return optimize(sub, max_lp_rounds=lp_rounds)

        return mpc_replay(problem, planner, max_steps=horizon_steps, on_step=meter)
    policy = BASELINES[strategy]
    return mpc_replay(problem, policy) if replay else policy(problem)


def _traffic_row(cap: float, m: OcppTraffic) -> str:
    saved = 1.0 - m.bytes / m.full_bytes if m.full_bytes else 0.0
    return (f"| {cap:g} | {m.replans} | {m.plain_bytes / 1e6:.2f} | {m.full_bytes / 1e6:.2f} "
            f"({m.full_messages}) | {m.bytes / 1e6:.2f} ({m.messages}) | {100 * saved:.0f} % |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--start", default="2019-03-04", help="first local (Pacific) day")
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--capacities", default="20,40,60,80,100,150",
                    help="transformer capacities [kW], comma-separated")
    ap.add_argument("--step", type=int, default=300, help="step and re-plan period [s]")
    ap.add_argument("--horizon-h", type=float, default=24.0,
                    help="longest look-ahead of the optimizer [h]")
    ap.add_argument("--lp-rounds", type=int, default=None,
                    help="optimize(max_lp_rounds=...): LP solves per re-plan at most "
                         "(default: optimize's own)")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--replay-baselines", action="store_true",
                    help="re-decide baselines through the MPC driver too (slower, same result)")
    ap.add_argument("--quick", action="store_true",
                    help="one weekday (2019-03-05) at 20 and 60 kW")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    ap.add_argument("--ocpp", action="store_true",
                    help="also measure the optimizer's OCPP traffic: re-send everything on "
                         "each re-plan or only what changed (smartcharge.ocpp.reconcile)")
    args = ap.parse_args(argv)
    if args.quick:
        args.start, args.days, args.capacities = "2019-03-05", 1.0, "20,60"
    day = datetime.fromisoformat(args.start)
    start = day.replace(tzinfo=PACIFIC).astimezone(timezone.utc)
    end = start + timedelta(days=args.days)
    caps = [float(x) for x in args.capacities.split(",") if x]
    strategies = [s for s in args.strategies.split(",") if s]
    for s in strategies:
        if s not in STRATEGIES:
            ap.error(f"unknown strategy {s!r} (choose from {', '.join(STRATEGIES)})")
    horizon_steps = max(1, round(args.horizon_h * 3600 / args.step))

    rows: list[ReplayRow] = []
    traffic: list[str] = []
    t_all = time.perf_counter()
    for cap in caps:
        problem, kept = load_problem(args.data, start, end, cap, step_s=args.step)
        need = sum(s.energy_wh for s in problem.sessions) / 1000.0
        print(f"# {cap:g} kW: {len(kept)} sessions, {need:.1f} kWh requested, "
              f"{problem.horizon.n_steps} steps", file=sys.stderr, flush=True)
        for strategy in strategies:
            meter = OcppTraffic(problem) if args.ocpp and strategy == "optimizer" else None
            t0 = time.perf_counter()
            plan = run_one(problem, strategy, horizon_steps=horizon_steps,
                           replay=args.replay_baselines, lp_rounds=args.lp_rounds, meter=meter)
            dt = time.perf_counter() - t0
            if meter is not None:
                traffic.append(_traffic_row(cap, meter))
            n_bad = len(verify(problem, plan))
            row = summarize(strategy, cap, problem, plan, n_bad, dt)
            rows.append(row)
            print(f"#   {strategy:>12}: {100 * row.share_delivered:5.1f} %  cost "
                  f"{row.cost:7.2f}  peak {row.peak_kw:5.1f} kW  violations {n_bad:5d}  "
                  f"{dt:6.1f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - t_all
    print(f"Caltech ACN replay, {start.isoformat()} + {args.days:g} days, step {args.step} s, "
          f"optimizer look-ahead {args.horizon_h:g} h, LP rounds {args.lp_rounds or 'default'}; "
          f"{datetime.now(timezone.utc):%Y-%m-%d}, "
          f"{platform.machine()} {platform.python_version()}, total {total:.0f} s\n")
    print(format_table(rows))
    if traffic:
        print("\nOCPP traffic of the optimizer's re-plans (compact JSON payloads):\n")
        print("| capacity [kW] | re-plans | plan as is [MB] | anchored, all [MB] (messages) "
              "| reconciled [MB] (messages) | saved (vs anchored, all) |")
        print("|---:|---:|---:|---:|---:|---:|")
        print("\n".join(traffic))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
