"""Fleet benchmark: sites per second in-process vs on a 2-worker dask LocalCluster.

    python benchmarks/bench_fleet.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_fleet.py --quick    # a smaller run
    python benchmarks/bench_fleet.py --single   # also: how large one site may grow in one process
    python benchmarks/bench_fleet.py --single-only  # only that
    python benchmarks/bench_fleet.py --single-only --transformer-kw 1.5 --lp-up-to 5000
                                                    # congested: 1.5 kW of transformer per
                                                    # EVSE, the LP forced only up to 5,000

Reports, for small (20 EVSE, one site per task and 20 per task) and large (1,000 EVSE)
workplace sites: sites per second in-process and on the cluster, the engine's overhead per
site (the cluster's worker-seconds minus the in-process planning time, per site), and the
pickled sizes of a problem and of a plan. With
``--single``, each size of one very large site is planned in a fresh process and its wall time
and peak memory are printed, twice: with the defaults (``solver="auto"``: the greedy fill of
``smartcharge.optimizer._tree`` above 100,000 power columns when it serves every need) and
with the LP forced (``solver="highs"``, what ``"auto"`` chose before). ``SMARTCHARGE_BASELINE``
(a folder with an older checkout of the package) adds a third run with that code.
``--transformer-kw`` sets the transformer per EVSE (default 7 kW; 1.5 kW is real congestion,
where the greedy fill is rejected and ``"auto"`` tries the staged max flow of
``smartcharge.optimizer._maxflow``), adds a run with ``method="tree"`` (the fill and the staged
flow at any size, even where ``"auto"`` would solve the LP) and ``--lp-up-to`` skips the forced
LP above that many EVSEs (it takes 10+ minutes at 20,000 EVSEs under congestion).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import time
from typing import Any

import smartcharge
from smartcharge.fleet import plan_fleet
from smartcharge.optimizer import Problem, optimize
from smartcharge.synthetic import workplace_site


def sites(n_sites: int, n_evse: int) -> list[Problem]:
    return [workplace_site(n_evse=n_evse, seed=1000 + i) for i in range(n_sites)]


def run_in_process(problems: list[Problem]) -> dict[str, float]:
    optimize(problems[0])  # warm-up (imports, solver start)
    started = time.perf_counter()
    results = plan_fleet(problems)
    wall = time.perf_counter() - started
    assert all(r.ok for r in results)
    return {"wall_s": wall, "sites_per_s": len(problems) / wall}


def run_on_cluster(problems: list[Problem], workers: int, chunksize: int) -> dict[str, float]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        executor = client.get_executor()
        plan_fleet(problems[: 2 * workers], executor)  # warm-up every worker
        started = time.perf_counter()
        results = plan_fleet(problems, executor, chunksize=chunksize)
        wall = time.perf_counter() - started
    assert all(r.ok for r in results)
    return {"wall_s": wall, "sites_per_s": len(problems) / wall, "chunksize": chunksize}


def sizes(problem: Problem) -> dict[str, int]:
    plan = optimize(problem)
    return {"problem_bytes": len(pickle.dumps(problem)), "plan_bytes": len(pickle.dumps(plan))}


SINGLE = """
import json, resource, sys, time
from smartcharge.synthetic import workplace_site
from smartcharge.optimizer import optimize, verify
n = int(sys.argv[1])
kwargs = json.loads(sys.argv[2])
kw = float(sys.argv[3]) if sys.argv[3] else None
t0 = time.perf_counter()
p = workplace_site(n_evse=n, seed=7, transformer_kw=None if kw is None else kw * n)
t1 = time.perf_counter()
plan = optimize(p, **kwargs); t2 = time.perf_counter()
print(json.dumps({"evses": n, "generate_s": t1 - t0, "optimize_s": t2 - t1,
                  "build_s": plan.timings.build, "solve_s": plan.timings.solve,
                  "extract_s": plan.timings.extract, "status": str(plan.status),
                  "message": plan.message, "energy_kwh": float(plan.energy_wh.sum()) / 1000,
                  "cost": plan.cost, "violations": len(verify(p, plan)),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def single_site(
    n_evse: int, kwargs: dict[str, Any] | None = None, package_dir: str | None = None,
    transformer_kw: float | None = None,
) -> dict[str, Any]:
    """One very large site planned in a fresh process (``package_dir``: import smartcharge
    from there instead; ``transformer_kw``: per EVSE [kW], ``None`` the site's default)."""
    # the package this process imported, or ``package_dir``: both on the path and as the
    # working folder (``-c`` puts the working folder first on the path)
    here = os.path.dirname(os.path.dirname(os.path.abspath(smartcharge.__file__)))
    folder = package_dir or here
    env = {**os.environ, "PYTHONPATH": folder}
    out = subprocess.run(
        [sys.executable, "-c", SINGLE, str(n_evse), json.dumps(kwargs or {}),
         "" if transformer_kw is None else str(transformer_kw)],
        capture_output=True, text=True, check=True, env=env, cwd=folder,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def run_single(
    report: dict[str, Any], transformer_kw: float | None = None, lp_up_to: int | None = None,
) -> None:
    """``--single``: each size with the defaults, with the LP forced, and (with
    ``SMARTCHARGE_BASELINE``) with an older checkout, one fresh process each; with
    ``transformer_kw`` also ``method="tree"``."""
    runs: list[tuple[str, dict[str, Any], str | None]] = [("auto", {}, None)]
    if transformer_kw is not None:
        runs.append(("tree", {"method": "tree"}, None))
    runs.append(("LP", {"solver": "highs"}, None))
    baseline = os.environ.get("SMARTCHARGE_BASELINE")
    if baseline:
        runs.append(("baseline", {}, baseline))
    report["single"] = []
    print(f"\n{'EVSEs':>7} {'run':<9} {'optimize s':>11} {'build':>7} {'solve':>7} "
          f"{'extract':>8} {'peak MB':>8} {'energy kWh':>12} {'cost':>10} status")
    for n in (1000, 5000, 10000, 20000):
        for name, kwargs, package in runs:
            if name == "LP" and lp_up_to is not None and n > lp_up_to:
                continue
            r = single_site(n, kwargs, package, transformer_kw)
            r["run"] = name
            report["single"].append(r)
            print(f"{n:>7} {name:<9} {r['optimize_s']:>11.2f} {r['build_s']:>7.2f} "
                  f"{r['solve_s']:>7.2f} {r['extract_s']:>8.2f} {r['peak_rss_mb']:>8.0f} "
                  f"{r['energy_kwh']:>12.3f} {r['cost']:>10.2f} {r['status']} "
                  f"({r['violations']} violations) {r['message']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sites")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--single", action="store_true", help="also measure one large site")
    parser.add_argument("--single-only", action="store_true", help="only the large site")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--transformer-kw", type=float,
                        help="transformer per EVSE [kW] of the large single sites")
    parser.add_argument("--lp-up-to", type=int,
                        help="force the LP on single sites only up to this many EVSEs")
    args = parser.parse_args(argv)

    scale = 4 if args.quick else 1
    cases = [("small", 20, 200 // scale, 1), ("small", 20, 200 // scale, 20),
             ("large", 1000, 8 // scale, 1)]
    report: dict[str, Any] = {"workers": args.workers, "cases": []}
    if args.single_only:
        cases = []
    print(f"{'site':<6} {'EVSEs':>6} {'sites':>6} {'chunk':>6} {'in-process/s':>13} "
          f"{'cluster/s':>10} {'speed-up':>9} {'overhead ms':>12} {'problem B':>10} "
          f"{'plan B':>9}")
    for name, n_evse, n_sites, chunksize in cases:
        problems = sites(n_sites, n_evse)
        local = run_in_process(problems)
        cluster = run_on_cluster(problems, args.workers, chunksize)
        size = sizes(problems[0])
        # what the engine adds per site: the cluster's worker-seconds beyond the planning
        # time measured in-process
        overhead = 1000.0 * (args.workers * cluster["wall_s"] - local["wall_s"]) / n_sites
        row = {"site": name, "evses": n_evse, "sites": n_sites, "in_process": local,
               "cluster": cluster, "overhead_ms_per_site": overhead, **size}
        report["cases"].append(row)
        print(f"{name:<6} {n_evse:>6} {n_sites:>6} {chunksize:>6} {local['sites_per_s']:>13.2f} "
              f"{cluster['sites_per_s']:>10.2f} "
              f"{cluster['sites_per_s'] / local['sites_per_s']:>9.2f} "
              f"{overhead:>12.1f} {size['problem_bytes']:>10} "
              f"{size['plan_bytes']:>9}", flush=True)
    if args.single or args.single_only:
        run_single(report, args.transformer_kw, args.lp_up_to)
    report["peak_rss_mb_parent"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
