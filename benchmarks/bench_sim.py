"""The Caltech ACN week through the site simulator: realistic cars, pilots, every strategy.

Produces the "Simulated replay" tables of docs/benchmarks.md. For each transformer capacity,
vehicle model and strategy, the week's sessions are replayed through
:func:`smartcharge.sim.simulate`: real ChargingStations receive the strategy's OCPP payloads,
the cars draw what the station's composite limit, the EVSE's pilot and the vehicle allow,
and the figures are those of what was really drawn (violations by ``verify``).

Models: ``ideal`` (ideal cars, continuous pilots), ``taper`` (two-stage batteries, 60 kWh,
taper above 80 %), ``discrete`` (ideal cars, the EVSEs' real pilot values: ClipperCreek
0/8/16/24/32 A, AeroVironment 0 and 6..32 A).
Strategies: ``controller`` (smartcharge.controller with meter values), ``controller-nofb``
(no meter values reach it), ``optimizer`` (re-plan with optimize + reconcile),
``edf``, ``llf``, ``equal_share``, ``uncontrolled``.

The controller runs with ``--controller-fallback-a`` (default 0: no fallback share, the
whole site to the plan; 6 A shares would reserve more than the 40 kW transformer).

Usage::

    python benchmarks/bench_sim.py --days 1                       # a weekday, reduced
    python benchmarks/bench_sim.py --start 2019-03-04 --days 7    # the week of the docs
    python benchmarks/bench_sim.py --start 2019-03-18 --days 7    # a second, different week
    python benchmarks/bench_sim.py ... --jsonl out.jsonl          # each row as it finishes
    python benchmarks/bench_sim.py --report out.jsonl [...]       # the tables of such files

A long matrix is best run with ``--jsonl``: every finished simulation is appended at once (a
partial run keeps its rows), rows already in the file are skipped when it is run again, and
``--report`` prints the Markdown tables (one per week, the realistic models' cost against the
ideal one) from one or more such files.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from smartcharge.controller import Controller, ControllerConfig
from smartcharge.sim import (
    PilotModel,
    SimSite,
    VehicleModel,
    baseline,
    simulate,
)
from smartcharge.sim import caltech as acn
from smartcharge.sim.events import Tick

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "caltech-acn-2019-03"
STRATEGIES = ("controller", "controller-nofb", "optimizer", "edf", "llf", "equal_share",
              "uncontrolled")
MODELS = ("ideal", "taper", "discrete")


class Timed:
    """Wraps a strategy; records the seconds each event, each Tick and each re-plan took.

    A baseline re-plans at every Tick; the controller re-plans at the first event of a step
    (often a meter reading, before the Tick) and whenever something relevant changed: its
    re-plans are the events after which it holds a new plan."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.tick_s: list[float] = []
        self.event_s = 0.0
        self.events = 0
        self.replan_s: list[float] = []

    def handle(self, event: Any, now: datetime) -> list[Any]:
        state = getattr(self.inner, "state", None)
        plan = getattr(state, "plan", None)
        t0 = time.perf_counter()
        out: list[Any] = self.inner.handle(event, now)
        dt = time.perf_counter() - t0
        self.event_s += dt
        self.events += 1
        if isinstance(event, Tick):
            self.tick_s.append(dt)
        if state is not None:
            if getattr(self.inner.state, "plan", None) is not plan:
                self.replan_s.append(dt)
        elif isinstance(event, Tick):
            self.replan_s.append(dt)
        return out


def run(site_json: dict[str, Any], rows: list[acn.CaltechSession], start: datetime,
        end: datetime, cap: float, model: str, strategy: str, step_s: int,
        stop_at_end: bool = False, fallback_a: float = 0.0) -> dict[str, Any]:
    """One simulation; its figures. With ``stop_at_end``, cars still plugged in at ``end``
    leave then (their requested energy is kept: the share counts what they missed)."""
    csite = acn.controller_site(site_json, cap)
    site = SimSite.from_site(csite, price=acn.price_at)
    log = acn.session_log(rows, start, end)
    if stop_at_end:
        log = [s.model_copy(update={"departure": min(s.departure, end)}) for s in log]
    vehicles = VehicleModel(battery="taper") if model == "taper" else VehicleModel()
    pilots = acn.pilot_model(site_json) if model == "discrete" else PilotModel()
    if strategy.startswith("controller"):
        inner: Any = Controller(csite, ControllerConfig(step_s=step_s,
                                                        fallback_share_a=fallback_a))
    else:
        inner = baseline(site, strategy, replan_s=step_s)
    timed = Timed(inner)
    t0 = time.perf_counter()
    r = simulate(site, log, timed, start=start, step_s=step_s, end=end, vehicles=vehicles,
                 pilots=pilots, meter_values=strategy != "controller-nofb")
    wall = time.perf_counter() - t0
    ticks = np.array(timed.tick_s) if timed.tick_s else np.zeros(1)
    root = r.problem.network().node_ids[r.problem.network().root]
    return {
        "start": start.isoformat(), "days": (end - start).total_seconds() / 86_400,
        "step_s": step_s, "stop_at_end": stop_at_end, "capacity_kw": cap, "model": model,
        "strategy": strategy + (f" (fallback {fallback_a:g} A)"
                                if strategy.startswith("controller") and fallback_a != 0.0
                                else ""),
        "ticks": len(timed.tick_s),
        "sessions": len(r.problem.sessions), "requested_kwh": float(r.requested_wh.sum()) / 1e3,
        "share": r.share_delivered, "energy_kwh": float(r.energy_wh.sum()) / 1e3,
        "cost": r.cost, "peak_kw": r.peak_w[root] / 1e3, "violations": len(r.violations),
        "messages": r.messages, "mbytes": r.bytes / 1e6,
        "tick_mean_ms": 1e3 * float(ticks.mean()), "tick_max_ms": 1e3 * float(ticks.max()),
        "events": timed.events,
        "event_mean_ms": 1e3 * timed.event_s / max(timed.events, 1),
        "replans": len(timed.replan_s),
        "replan_mean_ms": 1e3 * float(np.mean(timed.replan_s)) if timed.replan_s else 0.0,
        "replan_max_ms": 1e3 * float(np.max(timed.replan_s)) if timed.replan_s else 0.0,
        "wall_s": wall,
    }


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of the rows."""
    out = ["| capacity [kW] | model | strategy | delivered [%] | energy [kWh] | cost | "
           "peak [kW] | violations | messages | MB | per re-plan mean / max [ms] | "
           "per event [ms] | run [s] |",
           "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "replans" in r:
            replan = f"{r['replan_mean_ms']:.0f} / {r['replan_max_ms']:.0f}"
            event = f"{r['event_mean_ms']:.1f}"
        elif r["strategy"].startswith("controller"):  # rows of an older run: not measured
            replan = event = "–"
        else:  # a baseline re-plans at every tick
            replan = f"{r['tick_mean_ms']:.0f} / {r['tick_max_ms']:.0f}"
            event = "–"
        out.append(
            f"| {r['capacity_kw']:g} | {r['model']} | {r['strategy']} | "
            f"{100 * r['share']:.1f} | {r['energy_kwh']:.1f} | {r['cost']:.2f} | "
            f"{r['peak_kw']:.1f} | {r['violations']} | {r['messages']} | {r['mbytes']:.2f} | "
            f"{replan} | {event} | {r['wall_s']:.0f} |")
    return "\n".join(out)


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["start"], row["days"], row["step_s"], row["stop_at_end"], row["capacity_kw"],
            row["model"], row["strategy"])


def read_rows(paths: list[Path]) -> list[dict[str, Any]]:
    """The rows of ``--jsonl`` files (one JSON object a line), the last of equal keys."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for path in paths:
        if path.is_file():
            for line in path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    rows[_key(row)] = row
    return list(rows.values())


def cost_table(rows: list[dict[str, Any]]) -> str:
    """Per strategy and capacity: the delivered share [%] of each model, and what the
    realistic models cost against the ideal one [percentage points]."""
    got = {(r["strategy"], r["capacity_kw"], r["model"]): r for r in rows}
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    caps = sorted({r["capacity_kw"] for r in rows})
    out = ["| strategy | capacity [kW] | ideal [%] | taper [%] | discrete [%] | "
           "taper - ideal [pp] | discrete - ideal [pp] |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for s in strategies:
        for c in caps:
            share = {m: got[(s, c, m)]["share"] if (s, c, m) in got else None
                     for m in MODELS}
            if share["ideal"] is None:
                continue
            cells = [f"{100 * v:.1f}" if v is not None else "" for v in share.values()]
            diff = [f"{100 * (share[m] - share['ideal']):+.1f}" if share[m] is not None
                    else "" for m in ("taper", "discrete")]
            out.append(f"| {s} | {c:g} | " + " | ".join(cells + diff) + " |")
    return "\n".join(out)


def report(paths: list[Path]) -> str:
    """The Markdown tables of the rows of ``paths``: one per simulated window."""
    rows = read_rows(paths)
    order = {s: i for i, s in enumerate(STRATEGIES)}
    parts = []
    for window in sorted({(r["start"], r["days"], r["step_s"]) for r in rows}):
        sel = [r for r in rows if (r["start"], r["days"], r["step_s"]) == window]
        sel.sort(key=lambda r: (r["capacity_kw"], MODELS.index(r["model"]),
                                order.get(r["strategy"].split(" ")[0], 99), r["strategy"]))
        first = datetime.fromisoformat(window[0]).astimezone(acn.PACIFIC)
        parts.append(f"### {first:%A %Y-%m-%d} (Pacific) + {window[1]:g} days, step "
                     f"{window[2]} s: "
                     f"{sel[0]['sessions']} sessions, {sel[0]['requested_kwh']:.1f} kWh "
                     f"requested\n\n{table(sel)}\n\n{cost_table(sel)}\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--start", default="2019-03-04", help="first local (Pacific) day")
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--capacities", default="20,40,70,150")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--step", type=int, default=300)
    ap.add_argument("--stop-at-end", action="store_true",
                    help="cars still plugged in at the window's end leave then (shorter runs)")
    ap.add_argument("--controller-fallback-a", type=float, default=0.0,
                    help="the controller's fallback share [A]; 0: no fallback, the whole "
                         "site to the plan")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    ap.add_argument("--jsonl", type=Path,
                    help="append each row to this file as it finishes; skip rows already in it")
    ap.add_argument("--report", type=Path, nargs="+",
                    help="print the tables of these --jsonl files and exit")
    args = ap.parse_args(argv)
    if args.report:
        print(report(args.report))
        return 0
    if not (args.data / "sessions.csv").is_file():
        print(f"no Caltech data at {args.data}", file=sys.stderr)
        return 2
    start = datetime.fromisoformat(args.start).replace(tzinfo=acn.PACIFIC).astimezone(
        timezone.utc)
    end = start + timedelta(days=args.days)
    site_json = acn.read_site(args.data)
    sessions = acn.read_sessions(args.data)
    done = {_key(r) for r in read_rows([args.jsonl])} if args.jsonl is not None else set()
    out: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    for cap in (float(x) for x in args.capacities.split(",") if x):
        for model in (m for m in args.models.split(",") if m):
            for strategy in (s for s in args.strategies.split(",") if s):
                label = strategy + (f" (fallback {args.controller_fallback_a:g} A)"
                                    if strategy.startswith("controller")
                                    and args.controller_fallback_a != 0.0 else "")
                if (start.isoformat(), args.days, args.step, args.stop_at_end, cap, model,
                        label) in done:
                    continue
                row = run(site_json, sessions, start, end, cap, model, strategy, args.step,
                          args.stop_at_end, args.controller_fallback_a)
                out.append(row)
                if args.jsonl is not None:
                    with args.jsonl.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                print(f"# {cap:g} kW {model:>8} {strategy:>15}: {100 * row['share']:5.1f} % "
                      f"viol {row['violations']:4d} msgs {row['messages']:6d} "
                      f"{row['mbytes']:6.2f} MB tick {row['tick_mean_ms']:6.0f} ms "
                      f"{row['wall_s']:5.0f} s", file=sys.stderr, flush=True)
    print(f"Caltech ACN, {args.start} (Pacific) + {args.days:g} days, step {args.step} s"
          f"{', cars leave at the end' if args.stop_at_end else ''}, "
          f"{out[0]['sessions'] if out else 0} sessions, "
          f"{out[0]['requested_kwh'] if out else 0:.1f} kWh requested; "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()} "
          f"Python {platform.python_version()}, total {time.perf_counter() - t_all:.0f} s\n")
    print(table(out))
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
