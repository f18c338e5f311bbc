"""Re-planning speed: the optimizer as a model-predictive controller on the Caltech week (a script).

The replay of ``bench_caltech.py`` (every 5 minutes, the sessions present, 24 h look-ahead at
most, the first step applied), timing every re-plan, for:

- ``mpc``: :func:`smartcharge.optimizer.optimize` with ``grid="mpc"`` (every step for the
  first hour, 15-minute blocks to 4 h, hours after that) and the default ``solver="auto"``,
  after :func:`smartcharge.optimizer.warm_up`;
- ``replan``: :func:`smartcharge.optimizer.replan` (the MPC grid with lazy node rows),
  each re-plan passed the previous one's warm state;
- ``full``: ``optimize`` on every step (the default grid), ``solver="auto"``;
- ``legacy``: the optimizer of another revision (``--legacy-ref``, default ``3bfe45f``, the
  revision before this work), its default options, loaded from ``git archive`` into a
  temporary folder and run in a child process on the same machine in the same run: the
  time ratios against it are what to read (absolute times on a shared machine vary 2-4x);
- ``llf``, ``edf``: least-laxity-first and earliest-deadline-first
  (:mod:`smartcharge.optimizer.baselines`, causal, one pass).

Each figure: share of the requested energy delivered, violations found by
:func:`smartcharge.optimizer.verify` on the applied plan, and per re-plan the mean, 95th
percentile and worst wall time [ms], the mean CPU time of the process [ms] (what a loaded
machine inflates least), plus the first call. ``--cold`` also times, in fresh processes
and without :func:`~smartcharge.optimizer.warm_up`, the first re-plan of the most
congested instant against the next ones.

OpenBLAS runs single-threaded here (``OPENBLAS_NUM_THREADS=1``, set before numpy loads): the
repair's small matrix products are slower multi-threaded on a loaded 2-core machine (5x
measured), for every variant alike.

Run: ``python benchmarks/bench_mpc.py [--days 7] [--capacities 20,40,70,150]
[--variants mpc,full,legacy,llf,edf] [--legacy-ref REF] [--json out.json]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _stub_reader() -> None:
    """``--worker`` runs on an older revision's library, which may have no
    ``smartcharge.sim`` (the Caltech reader ``caltech.py`` re-exports): the worker gets the
    problem as JSON from its parent and needs only ``caltech.py``'s replay."""
    import importlib
    import types

    try:
        importlib.import_module("smartcharge.sim.caltech")
    except ImportError:
        for name in ("smartcharge.sim", "smartcharge.sim.caltech"):
            mod = types.ModuleType(name)
            for attr in ("PACIFIC", "CaltechSession", "load_problem", "read_sessions",
                         "read_site", "site_nodes_evses", "tou_price", "transaction_id"):
                setattr(mod, attr, None)
            sys.modules[name] = mod


if "--worker" in sys.argv:
    _stub_reader()

# after the stub above, so these imports stay below it
from caltech import PACIFIC, load_problem, mpc_replay  # noqa: E402

from smartcharge.optimizer import optimize, verify  # noqa: E402
from smartcharge.optimizer.baselines import BASELINES  # noqa: E402
from smartcharge.optimizer.plan import Plan  # noqa: E402
from smartcharge.optimizer.problem import Problem  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "caltech-acn-2019-03"
VARIANTS = ("mpc", "replan", "full", "legacy", "llf", "edf")
HORIZON_STEPS = 288  # 24 h of 5-minute steps


def _problem(args: argparse.Namespace, cap: float) -> Problem:
    start = datetime.fromisoformat(args.start).replace(tzinfo=PACIFIC).astimezone(timezone.utc)
    problem, _ = load_problem(args.data, start, start + timedelta(days=args.days), cap)
    return problem


def replay(problem: Problem, kwargs: dict[str, Any], warm: bool = False) -> dict[str, Any]:
    """The optimizer's MPC replay with ``optimize(sub, **kwargs)`` (``warm``:
    ``replan(sub, state)``): figures and times."""
    times: list[float] = []
    cpu: list[float] = []
    state: list[Any] = [None]

    def planner(sub: Problem) -> Plan:
        t, c = time.perf_counter(), time.process_time()
        if warm:
            from smartcharge.optimizer import replan as replan_

            plan, state[0] = replan_(sub, state[0])
        else:
            plan = optimize(sub, **kwargs)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        return plan

    plan = mpc_replay(problem, planner, max_steps=HORIZON_STEPS)
    ms = 1000.0 * np.asarray(times if times else [0.0])
    net = problem.network()
    wh = float((plan.session_power_w * net.frac).sum() * net.dt_h)
    return {"share": plan.share_delivered, "kwh": wh / 1000.0,
            "violations": len(verify(problem, plan)),
            "replans": len(ms), "first_ms": float(ms[0]), "mean_ms": float(ms.mean()),
            "p95_ms": float(np.percentile(ms, 95)), "max_ms": float(ms.max()),
            "max_warm_ms": float(ms[1:].max(initial=0.0)),
            "cpu_mean_ms": 1000.0 * float(np.mean(cpu)) if cpu else 0.0,
            "cpu_p95_ms": 1000.0 * float(np.percentile(cpu, 95)) if cpu else 0.0,
            "cpu_max_ms": 1000.0 * float(np.max(cpu)) if cpu else 0.0}


_COLD = """
import pickle, sys, time
t0 = time.perf_counter()
from smartcharge.optimizer import optimize
t1 = time.perf_counter()
sub = pickle.loads(sys.stdin.buffer.read())
ts = []
for _ in range(4):
    p = sub.model_copy()
    t = time.perf_counter()
    optimize(p, grid="mpc")
    ts.append(time.perf_counter() - t)
print(t1 - t0, *ts)
"""


def cold_start(problem: Problem, runs: int = 3) -> dict[str, float]:
    """In ``runs`` fresh processes (no :func:`warm_up`): the import [ms], the first
    re-plan of the instant with the most sessions and the best of the next three [ms]."""
    import pickle

    from caltech import subproblem

    net = problem.network()
    remaining = net.need_wh.copy()
    best = None
    for t in range(net.T):  # the known instant with the most sessions (full needs)
        got = subproblem(problem, t, remaining, max_steps=HORIZON_STEPS)
        if got is not None and (best is None or len(got[0].sessions) > len(best.sessions)):
            best = got[0]
    assert best is not None
    blob = pickle.dumps(best)
    rows = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _COLD], input=blob, check=True,
                             capture_output=True, env=dict(os.environ)).stdout
        rows.append([float(x) for x in out.split()])
    a = 1000.0 * np.asarray(rows)
    first, warm = a[:, 1], a[:, 2:].min(axis=1)
    return {"sessions": float(len(best.sessions)), "import_ms": float(np.median(a[:, 0])),
            "first_ms": float(np.median(first)), "warm_ms": float(np.median(warm)),
            "ratio": float(np.median(first / warm))}


def _legacy(args: argparse.Namespace, cap: float) -> dict[str, Any]:
    """The ``legacy`` variant: this script's ``--worker`` mode on the code of
    ``--legacy-ref``, in a child process."""
    problem = _problem(args, cap).model_dump_json(exclude_defaults=True)
    with tempfile.TemporaryDirectory() as tmp:
        arc = subprocess.run(["git", "-C", str(ROOT), "archive", args.legacy_ref, "smartcharge"],
                             check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=arc, check=True)
        env = dict(os.environ, PYTHONPATH=tmp)
        out = subprocess.run(
            [sys.executable, __file__, "--worker", "--capacities", f"{cap:g}"],
            input=problem, check=True, capture_output=True, text=True, env=env,
            cwd=tmp).stdout
    row: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--start", default="2019-03-04", help="first local (Pacific) day")
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--capacities", default="20,40,70,150")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--legacy-ref", default="3bfe45f")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--cold", action="store_true", help="time a fresh process's first call")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    caps = [float(x) for x in args.capacities.split(",") if x]
    if args.worker:  # legacy code on PYTHONPATH: its defaults, the problem on stdin
        print(json.dumps(replay(Problem.model_validate_json(sys.stdin.read()), {})))
        return 0
    if args.cold:
        got = cold_start(_problem(args, caps[0]))
        print(f"# cold start ({got['sessions']:.0f} sessions, fresh processes, no warm_up): "
              f"import {got['import_ms']:.0f} ms, first re-plan {got['first_ms']:.0f} ms, "
              f"warm {got['warm_ms']:.0f} ms: first/warm {got['ratio']:.2f}x", flush=True)
    from smartcharge.optimizer import warm_up

    warm_up()
    variants = [v for v in args.variants.split(",") if v]
    rows: list[dict[str, Any]] = []
    for cap in caps:
        problem = _problem(args, cap)
        for v in variants:
            t0 = time.perf_counter()
            if v in ("llf", "edf"):
                plan = BASELINES[v](problem)
                row: dict[str, Any] = {"share": plan.share_delivered,
                                       "violations": len(verify(problem, plan))}
            elif v == "legacy":
                row = _legacy(args, cap)
            else:
                row = replay(problem, {"grid": "mpc"} if v in ("mpc", "replan") else {},
                             warm=v == "replan")
            row.update(capacity_kw=cap, variant=v, wall_s=time.perf_counter() - t0)
            rows.append(row)
            print(f"# {cap:g} kW {v:>6}: {100 * row['share']:.3f} %, violations "
                  f"{row['violations']}" + (
                      f", {row['kwh']:.2f} kWh, re-plan mean {row['mean_ms']:.1f} ms (CPU "
                      f"{row['cpu_mean_ms']:.1f}, p95 {row.get('cpu_p95_ms', 0):.0f}, max "
                      f"{row.get('cpu_max_ms', 0):.0f}), p95 {row['p95_ms']:.0f}, "
                      f"max {row['max_ms']:.0f} (warm {row['max_warm_ms']:.0f}), first "
                      f"{row['first_ms']:.0f}" if "mean_ms" in row else ""),
                  file=sys.stderr, flush=True)
    print(f"Caltech MPC replay, {args.start} + {args.days:g} days, 5-minute re-plans, "
          f"look-ahead 24 h; legacy = {args.legacy_ref}\n")
    print("| capacity [kW] | variant | delivered [%] | violations | mean [ms] | CPU mean [ms] "
          "| p95 [ms] | worst [ms] | first [ms] | mean vs legacy | mean vs mpc |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        leg = next((x for x in rows if x["variant"] == "legacy"
                    and x["capacity_kw"] == r["capacity_kw"]), None)
        ratio = (f"{leg['mean_ms'] / r['mean_ms']:.1f}x faster"
                 if leg is not None and "mean_ms" in r and r is not leg else "")
        mpc = next((x for x in rows if x["variant"] == "mpc"
                    and x["capacity_kw"] == r["capacity_kw"]), None)
        vs_mpc = (f"{mpc['mean_ms'] / r['mean_ms']:.2f}x (CPU "
                  f"{mpc['cpu_mean_ms'] / r['cpu_mean_ms']:.2f}x)"
                  if mpc is not None and "mean_ms" in r and r is not mpc
                  and "cpu_mean_ms" in r else "")
        cpu = f"{r['cpu_mean_ms']:.1f}" if "cpu_mean_ms" in r else ""
        t = (f"{r['mean_ms']:.1f} | {cpu} | {r['p95_ms']:.0f} | {r['max_ms']:.0f} | "
             f"{r['first_ms']:.0f}" if "mean_ms" in r else " | | | | ")
        print(f"| {r['capacity_kw']:g} | {r['variant']} | {100 * r['share']:.3f} | "
              f"{r['violations']} | {t} | {ratio} | {vs_mpc} |")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
