"""Benchmark the site optimizer: build, solve and extract times, end to end with profiles.

Usage: ``python benchmarks/bench_optimize.py [n_evse ...]`` (default 100 1000 5000).
Synthetic sites from :func:`smartcharge.synthetic.synthetic_problem`: a grid
connection, 10 feeders with power (and line-current) limits, a time-of-use tariff, a building
load, 96 steps of 15 minutes, congested (about two thirds of the energy asked for can be
served). Three cases per size: the LP with line-current limits, the LP with power limits
only, and the min-cost flow on that power-only site (same model, see _flow.py).
"""

from __future__ import annotations

import sys
import time

from smartcharge.optimizer import optimize, verify
from smartcharge.synthetic import synthetic_problem


def run(n: int, *, method: str = "lp", current_limits: bool = True) -> dict[str, float]:
    t0 = time.perf_counter()
    problem = synthetic_problem(n, seed=7, current_limits=current_limits)
    t1 = time.perf_counter()
    plan = optimize(problem, method=method)  # type: ignore[arg-type]
    t2 = time.perf_counter()
    profiles = plan.to_charging_profiles("A")
    t3 = time.perf_counter()
    bad = verify(problem, plan)
    t4 = time.perf_counter()
    return {
        "n_evse": n, "validate_s": t1 - t0, "network_build_s": plan.timings.build,
        "solve_s": plan.timings.solve, "extract_s": plan.timings.extract,
        "optimize_s": t2 - t1, "profiles_s": t3 - t2,
        "end_to_end_s": t3 - t1, "verify_s": t4 - t3,
        "share": plan.share_delivered, "violations": len(bad), "profiles": len(profiles),
        "status": str(plan.status), "message": plan.message,  # type: ignore[dict-item]
    }


def main(argv: list[str]) -> None:
    sizes = [int(x) for x in argv] or [100, 1000, 5000]
    run(10)  # warm up imports (scipy.sparse, ortools)
    run(10, method="flow", current_limits=False)
    print(f"{'case':>24} {'build':>7} {'solve':>7} {'extract':>8} {'profiles':>8} {'e2e':>7}"
          f" {'verify':>7} {'share':>6} viol status")
    cases = [("lp, current limits", "lp", True), ("lp, power limits", "lp", False),
             ("flow, power limits", "flow", False)]
    for n in sizes:
        for name, method, cur in cases:
            r = run(n, method=method, current_limits=cur)
            print(f"{name + ' ' + str(n):>24} {r['network_build_s']:7.3f} {r['solve_s']:7.3f}"
                  f" {r['extract_s']:8.3f} {r['profiles_s']:8.3f} {r['end_to_end_s']:7.3f}"
                  f" {r['verify_s']:7.3f} {r['share']:6.1%} {r['violations']:4d}"
                  f" {r['status']} ({r['message']})")


if __name__ == "__main__":
    main(sys.argv[1:])
