"""The site controller: time per event, messages per hour, and what measured feedback buys.

Four figures (a script, not a test; timings vary 2x on a shared machine):

1. ``--part time``: time per event on a 50-EVSE and a 1,000-EVSE site (stations of 10
   EVSEs, feeders of 50, about 60 % of the EVSEs charging): an event that re-plans (a
   Tick at a step boundary: the Problem, the optimizer, levelling, the safety gate) and an
   event that does not (meter readings, request results).
2. ``--part caltech``: the Caltech ACN week (``../shared/data/caltech-acn-2019-03``, 50 kW
   transformer) replayed through the controller (one station per EVSE, every request
   accepted, cars drawing their limit): requests and payload bytes per hour, with and
   without the stability rules (``ControllerConfig.stable``).
3. ``--part replan``: the Caltech day(s) (``--days``) with ``ControllerConfig.replan_warm``
   on (``optimizer.replan``, warm from the last re-plan's binding rows) and off
   (``optimize`` with every row), alternating in one run: CPU time per re-plan event,
   requests per hour, energy delivered. ``--part replan-lp``: the optimizer calls of such
   a day timed again offline: ``optimize`` (every row), ``replan`` warm, ``replan`` cold.
4. ``--part feedback``: a 20-EVSE site on a 200 A connection where cars draw less than their
   limit (on-board chargers of 10-32 A the controller does not know, halving above 80 % of
   their need; 40-90 kWh each, more than the site can give): the share of the requested
   energy delivered with and without measured feedback.

Run: ``python benchmarks/bench_controller.py [--part time|caltech|replan|feedback] [--horizon-h H]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

import smartcharge as sc
from smartcharge.controller import (
    ChargingNeeds,
    MeterReading,
    Request,
    RequestResult,
    StationConnected,
    Tick,
    TransactionEnded,
    TransactionStarted,
)
from smartcharge.controller.state import ControllerState, EvseState, StationState

ROOT = Path(__file__).resolve().parent.parent
GRID_A = 200.0
"""The feedback site's connection [A per line]: 20 fallback shares of 6 A leave 80 A."""
T0 = datetime(2024, 3, 4, 6, tzinfo=timezone.utc)


def synthetic_site(n_evse: int, grid_a: float) -> sc.Site:
    """Stations of 10 three-phase 32 A EVSEs, feeders of 50 EVSEs, one grid connection."""
    feeders = (n_evse + 49) // 50
    nodes = [{"id": "grid", "max_current_a": grid_a}] + [
        {"id": f"f{k}", "parent": "grid", "max_current_a": grid_a / max(feeders, 1) * 1.5}
        for k in range(feeders)]
    stations = [{"id": f"cs{s}", "protocol": "2.0.1", "evses": [
        {"evse_id": j + 1, "node": f"f{(s * 10 + j) // 50}", "max_current_a": 32}
        for j in range(min(10, n_evse - s * 10))]} for s in range((n_evse + 9) // 10)]
    return sc.Site.model_validate({"nodes": nodes, "stations": stations})


class Driver:
    """A controller whose requests are all accepted at once (counted, with their bytes).

    With ``sample``, only the first ``sample`` results of one event's requests go through
    the controller as events (each timed, in ``result_s``); the others are acknowledged
    directly in the state (:func:`acknowledge`), as those events would (the controller
    does not see them one by one, so it does not react to each)."""

    def __init__(self, site: sc.Site, config: sc.ControllerConfig,
                 sample: int | None = None) -> None:
        self.c = sc.Controller(site, config)
        self.requests = 0
        self.bytes = 0
        self.sample = sample
        self.result_s: list[float] = []
        self.replan_cpu_s: list[float] = []
        """CPU time [s] of each event that re-planned (its own handling, not the results')."""
        self.warm_bytes: list[int] = []
        """The warm state's JSON size [bytes] after each event that re-planned."""

    def handle(self, event: object, now: datetime) -> None:
        plan = self.c.state.plan
        t0 = time.process_time()
        todo: list[Request] = self.c.handle(event, now)  # type: ignore[arg-type]
        if self.c.state.plan is not plan:  # a new PlanState: this event re-planned
            self.replan_cpu_s.append(time.process_time() - t0)
            warm = self.c.state.warm
            self.warm_bytes.append(0 if warm is None else len(warm.model_dump_json()))
        timed = 0
        direct: list[str] = []
        while todo:
            req = todo.pop(0)
            self.requests += 1
            self.bytes += len(json.dumps(req.payload, separators=(",", ":")))
            if self.sample is not None and timed >= self.sample:
                direct.append(req.correlation_id)
                continue
            t0 = time.perf_counter()
            todo += self.c.handle(RequestResult(req.correlation_id, "Accepted"), now)
            if self.sample is not None:
                self.result_s.append(time.perf_counter() - t0)
                timed += 1
        if direct:
            self.c.state = acknowledge(self.c.state, set(direct))


def _metered(d: Driver, keys: list[str], start: datetime) -> None:
    """Each car of ``keys`` drew its acknowledged limit over the step from ``start``: its
    energy register moves on (set in the state directly, as a reading would)."""
    evses = dict(d.c.state.evses)
    for key in keys:
        ev = evses[key]
        amps = 0.0 if ev.acked is None else float(np.nan_to_num(ev.acked.on_grid(start, 1))[0])
        wh = (ev.energy_wh or 0.0) + amps * d.c.site.spec(key).watts_per_amp * 300 / 3600
        evses[key] = ev.model_copy(update={"energy_wh": wh})
    d.c.state = d.c.state.model_copy(update={"evses": evses})


def acknowledge(state: ControllerState, ids: set[str]) -> ControllerState:
    """``state`` with the pending requests ``ids`` accepted (in the order sent: a later one
    for the same EVSE wins), without an event per result."""
    evses = dict(state.evses)
    keep = []
    for p in sorted(state.pending, key=lambda p: p.seq):
        if p.correlation_id not in ids:
            keep.append(p)
            continue
        key = f"{p.station_id}/{p.evse_id}"
        ev = evses[key]
        if p.kind == "tx" and p.transaction_id == ev.transaction_id:
            evses[key] = ev.model_copy(update={"acked": p.envelope})
        elif p.kind == "default":
            evses[key] = ev.model_copy(update={"fallback": "acked"})
    return state.model_copy(update={"evses": evses, "pending": tuple(keep)})


def part_time(horizon_h: float, sizes: tuple[int, ...] = (50, 1000), grid: str = "mpc",
              keep_partial: bool = True, sample: int | None = None) -> None:
    print(f"time per event (horizon {horizon_h:g} h, 5-minute steps, optimizer grid {grid}, "
          f"keep_partial={keep_partial}; "
          "median of 3 re-plans" + (f"; the first {sample} results of an event's requests "
                                    "as events, the others acknowledged directly"
                                    if sample is not None else "") + ")")
    sc.warm_up()
    for n in sizes:
        site = synthetic_site(n, grid_a=20.0 * n)
        config = sc.ControllerConfig(step_s=300, horizon_s=int(horizon_h * 3600),
                                     grid=grid, keep_partial=keep_partial)  # type: ignore[arg-type]
        rng = np.random.default_rng(1)
        active = [k for k in site.keys if rng.random() < 0.6]
        # the state of a running site, built directly (not through 600 arrivals)
        state = ControllerState(
            now=T0, stations={st.id: StationState(online=True) for st in site.stations},
            evses={k: EvseState(fallback="acked", **(
                {"transaction_id": f"t{i}", "started": T0, "need_wh": 40_000.0,
                 "departure": T0 + timedelta(hours=10), "meter_start_wh": 0.0,
                 "energy_wh": 0.0} if k in active else {}))
                for i, k in enumerate(site.keys)})
        d = Driver(site, config, sample)
        d.c.state = state
        t0 = time.perf_counter()
        d.handle(Tick(), T0)
        first = time.perf_counter() - t0
        first_results = sum(d.result_s)
        first_n = len(d.result_s)
        ticks = []
        for k in range(1, 4):
            now = T0 + timedelta(seconds=300 * k)
            _metered(d, active, now - timedelta(seconds=300))  # the cars drew their limits
            t0 = time.perf_counter()
            d.handle(Tick(), now)
            ticks.append(time.perf_counter() - t0)
        now += timedelta(seconds=60)
        m = min(100, len(active))
        t0 = time.perf_counter()
        for key in active[:m]:
            sid, evse = site.locate(key)
            d.handle(MeterReading(sid, evse, currents_a=(16.0, 16.0, 16.0),
                                  energy_wh=d.c.state.evses[key].energy_wh, timestamp=now), now)
        meter = (time.perf_counter() - t0) / m
        idle = next(k for k in site.keys if k not in active)
        sid, evse = site.locate(idle)
        before = d.requests
        t0 = time.perf_counter()
        d.handle(TransactionStarted(sid, evse, "new", now), now)
        arrival = time.perf_counter() - t0
        results = (f", a result event {1000 * np.mean(d.result_s):.0f} ms (mean of "
                   f"{len(d.result_s)}; the first plan's Tick alone {first - first_results:.2f}"
                   f" s, {first_n} of its results as events)" if d.result_s else "")
        print(f"  {n:5d} EVSEs, {len(active)} charging: first plan {first:.2f} s, re-plan at "
              f"a step {np.median(ticks):.2f} s, an arrival {arrival:.2f} s "
              f"({d.requests - before} requests), a meter reading (no re-plan) "
              f"{meter * 1000:.0f} ms{results}; {d.requests} requests, state "
              f"{len(d.c.state.to_json()) / 1000:.0f} kB", flush=True)


def _caltech(kw: float = 50.0) -> tuple[sc.Site, list[object]] | None:
    """The Caltech ACN site (``kw`` [kW] transformer, one station per EVSE) and its
    sessions."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from caltech import read_sessions, read_site, site_nodes_evses

    data = ROOT.parent / "shared" / "data" / "caltech-acn-2019-03"
    if not data.is_dir():
        print(f"the Caltech data are not at {data}")
        return None
    raw = read_site(data)
    nodes, evses = site_nodes_evses(raw, kw)
    site = sc.Site(nodes=tuple(nodes), stations=tuple(
        sc.StationSpec(id=e.id, protocol="2.0.1", evses=(sc.EvseSpec(
            evse_id=1, node=e.node, phases=e.phases, connection=e.connection,
            voltage_v=e.voltage_v, max_current_a=e.max_current_a,
            min_current_a=e.min_current_a),)) for e in evses))
    return site, sorted(read_sessions(data), key=lambda s: s.arrival)


CALTECH_START = datetime(2019, 3, 4, 8, tzinfo=timezone.utc)  # Monday 00:00 Pacific


def _in_window(site: sc.Site, sessions: list[object], days: int) -> list[object]:
    end = CALTECH_START + timedelta(days=days)
    return [s for s in sessions
            if CALTECH_START <= s.arrival < end  # type: ignore[attr-defined]
            and (s.station in site.keys or f"{s.station}/1" in site.keys)]  # type: ignore[attr-defined]


def caltech_run(site: sc.Site, sessions: list[object], config: sc.ControllerConfig,
                days: int) -> tuple[Driver, float, float, float]:
    """The Caltech sessions of ``days`` from Monday through the controller (every request
    accepted, cars drawing their acknowledged limit): the driver (requests, bytes, CPU time
    of each re-plan event), the energy delivered and requested [Wh], and the wall time [s]."""
    start = CALTECH_START
    end = start + timedelta(days=days)
    d = Driver(site, config)
    for st in site.stations:
        d.handle(StationConnected(st.id), start)
    d.requests = d.bytes = 0
    d.replan_cpu_s.clear()
    delivered: dict[str, float] = {}
    running: dict[str, tuple[str, object]] = {}
    i = 0
    now = start
    t0 = time.perf_counter()
    while now < end:
        nxt = now + timedelta(seconds=config.step_s)
        while i < len(sessions) and sessions[i].arrival < nxt:  # type: ignore[attr-defined]
            s: Any = sessions[i]
            i += 1
            key = s.station if s.station in site.keys else f"{s.station}/1"
            sid, evse = site.locate(key)
            if key in running:
                continue
            running[key] = (s.id, s)
            delivered[s.id] = 0.0
            d.handle(TransactionStarted(sid, evse, s.id[:36], now, 0.0), now)
            d.handle(ChargingNeeds(sid, evse, energy_wh=s.energy_wh, departure=s.departure,
                                   max_power_w=s.max_power_w), now)
        for key, (sid_, s) in list(running.items()):
            station, evse = site.locate(key)
            if s.departure <= now:  # type: ignore[attr-defined]
                del running[key]
                d.handle(TransactionEnded(station, evse, sid_[:36], now), now)
        limits = {}  # what each car may draw during this step: its acknowledged limit
        for key in running:
            ev = d.c.state.evses[key]
            fb = d.c._fallback[key]
            limits[key] = fb if ev.acked is None else float(np.nan_to_num(
                ev.acked.on_grid(now, 1), nan=fb)[0])
        now = nxt
        for key, (sid_, s) in running.items():
            # the car drew its acknowledged limit over the step (up to its need)
            amps = limits[key]
            spec = site.spec(key)
            wh = min(amps * spec.watts_per_amp, s.max_power_w) * config.step_s / 3600  # type: ignore[attr-defined]
            delivered[sid_] = min(delivered[sid_] + wh, s.energy_wh)  # type: ignore[attr-defined]
            station, evse = site.locate(key)
            # what the car drew during the step just ended (time-stamped inside it)
            mid = now - timedelta(seconds=config.step_s // 2)
            d.handle(MeterReading(station, evse, power_w=wh * 3600 / config.step_s,
                                  energy_wh=delivered[sid_], timestamp=mid), now)
        d.handle(Tick(), now)
    need = sum(s.energy_wh for s in sessions)  # type: ignore[attr-defined]
    return d, sum(delivered.values()), need, time.perf_counter() - t0


def part_caltech(horizon_h: float, days: int, share_a: float) -> None:
    got = _caltech()
    if got is None:
        return
    site, sessions = got
    sessions = _in_window(site, sessions, days)
    print(f"Caltech ACN {CALTECH_START:%Y-%m-%d} + {days} days: {len(sessions)} sessions, "
          f"{len(site.keys)} EVSEs, 50 kW; horizon {horizon_h:g} h, 15-minute steps, "
          f"fallback share {share_a:g} A")
    for stable, keep_partial in ((True, True), (True, False), (False, False)):
        config = sc.ControllerConfig(step_s=900, horizon_s=int(horizon_h * 3600),
                                     stable=stable, fallback_share_a=share_a,
                                     keep_partial=keep_partial)
        d, delivered, need, wall = caltech_run(site, sessions, config, days)
        hours = days * 24
        rules = "on, partial keep" if keep_partial else ("on, whole keep" if stable else "off")
        print(f"  stability {rules:16s}: {d.requests / hours:6.1f} requests/h, "
              f"{d.bytes / hours / 1000:6.1f} kB/h; delivered "
              f"{delivered / need:.1%} of {need / 1000:.0f} kWh ({wall:.0f} s)")


@contextlib.contextmanager
def _wrapped_solve_plan(wrap: Callable[[Any], Any]) -> Iterator[None]:
    """``controller.plan.solve_plan`` replaced by ``wrap(real)`` inside the block, restored
    after it (also when the block raises or returns early)."""
    from smartcharge.controller import plan as plan_mod

    real = plan_mod.solve_plan
    plan_mod.solve_plan = wrap(real)
    try:
        yield
    finally:
        plan_mod.solve_plan = real


def part_replan(horizon_h: float, days: int, repeat: int, kw: float, step_s: int) -> None:
    """The Caltech day(s) with ``replan_warm`` on and off, in the same run (alternating,
    ``repeat`` times each): CPU time per re-plan event and of its optimizer call
    (``controller.plan.solve_plan``), requests, energy delivered."""
    solve_cpu: list[float] = []

    def timed(real: Any) -> Any:
        def call(*args: Any) -> Any:
            t0 = time.process_time()
            out = real(*args)
            solve_cpu.append(time.process_time() - t0)
            return out
        return call

    got = _caltech(kw)
    if got is None:
        return
    site, sessions = got
    sessions = _in_window(site, sessions, days)
    print(f"re-planning warm (optimizer.replan) or cold (optimize): Caltech ACN "
          f"{CALTECH_START:%Y-%m-%d} + {days} days, {len(sessions)} sessions, "
          f"{len(site.keys)} EVSEs, {kw:g} kW; horizon {horizon_h:g} h, {step_s} s steps, MPC "
          "grid; CPU time (time.process_time) of each event that re-planned", flush=True)
    sc.warm_up()
    rows: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(repeat):
        for warm in (True, False):
            config = sc.ControllerConfig(step_s=step_s, horizon_s=int(horizon_h * 3600),
                                         replan_warm=warm)
            solve_cpu.clear()
            with _wrapped_solve_plan(timed):
                d, delivered, need, wall = caltech_run(site, sessions, config, days)
            cpu = np.array(d.replan_cpu_s)
            lp = np.array(solve_cpu)
            rows[warm].append((float(np.mean(cpu)), float(np.mean(lp))))
            print(f"  replan_warm={warm!s:5s}: {len(cpu)} re-plan events, CPU mean "
                  f"{1000 * cpu.mean():.1f} ms, median {1000 * np.median(cpu):.1f} ms, p95 "
                  f"{1000 * np.percentile(cpu, 95):.1f} ms (the optimizer call: "
                  f"{len(lp)}, mean {1000 * lp.mean():.1f} ms, median "
                  f"{1000 * np.median(lp):.1f} ms); {d.requests / (days * 24):.1f} "
                  f"requests/h; delivered {delivered / need:.2%} of {need / 1000:.0f} kWh "
                  f"(wall {wall:.0f} s); the warm state's JSON mean "
                  f"{np.mean(d.warm_bytes) / 1000:.1f} kB, largest "
                  f"{max(d.warm_bytes) / 1000:.1f} kB", flush=True)
    ratio = [np.mean([r[j] for r in rows[True]]) / np.mean([r[j] for r in rows[False]])
             for j in (0, 1)]
    print(f"  mean CPU warm / cold: per re-plan event {ratio[0]:.2f}, per optimizer call "
          f"{ratio[1]:.2f}")


def part_replan_lp(horizon_h: float, kw: float, step_s: int) -> None:
    """The optimizer calls of a Caltech day through the controller (``replan_warm`` on),
    each timed again offline (CPU) three ways: ``optimize(grid="mpc")`` (every row),
    ``replan`` with the warm state the controller passed, ``replan`` with none."""
    from smartcharge.controller.warm import lazy_rows

    got = _caltech(kw)
    if got is None:
        return
    site, sessions = got
    sessions = _in_window(site, sessions, 1)
    calls: list[tuple[sc.Problem, Any]] = []

    def spy(real: Any) -> Any:
        def call(problem: sc.Problem, config: sc.ControllerConfig, warm: Any) -> Any:
            calls.append((problem, warm))
            return real(problem, config, warm)
        return call

    config = sc.ControllerConfig(step_s=step_s, horizon_s=int(horizon_h * 3600))
    with _wrapped_solve_plan(spy):
        caltech_run(site, sessions, config, 1)
    sc.warm_up()
    cpu: dict[str, list[float]] = {"optimize": [], "replan, warm": [], "replan, no warm": []}
    for problem, warm in calls:
        rows = lazy_rows(warm)
        for name in cpu:
            t0 = time.process_time()
            if name == "optimize":
                sc.optimize(problem, grid="mpc")
            else:
                sc.replan(problem, rows if name == "replan, warm" else None)
            cpu[name].append(time.process_time() - t0)
    print(f"the controller's optimizer calls, Caltech day, {kw:g} kW, {step_s} s steps, "
          f"horizon {horizon_h:g} h: {len(calls)} problems, CPU per call (mean / median): "
          + ", ".join(f"{k} {1000 * np.mean(v):.1f} / {1000 * np.median(v):.1f} ms"
                      for k, v in cpu.items()), flush=True)


def part_feedback(horizon_h: float) -> None:
    rng = np.random.default_rng(7)
    n = 20
    site = synthetic_site(n, grid_a=GRID_A)
    obc = rng.uniform(10.0, 32.0, n)  # on-board charger limits [A], unknown to the CSMS
    need = rng.uniform(40_000.0, 90_000.0, n)
    hours = 8
    print(f"measured feedback: {n} EVSEs on {GRID_A:.0f} A, cars of 10-32 A, {hours} h, "
          f"{need.sum() / 1000:.0f} kWh wanted")
    for feedback in (True, False):
        config = sc.ControllerConfig(step_s=300, horizon_s=int(horizon_h * 3600),
                                     feedback_after_s=600 if feedback else 10**9)
        d = Driver(site, config)
        for st in site.stations:
            d.handle(StationConnected(st.id), T0)
        got = np.zeros(n)
        for i, key in enumerate(site.keys):
            sid, evse = site.locate(key)
            d.handle(TransactionStarted(sid, evse, f"t{i}", T0, 0.0), T0)
            d.handle(ChargingNeeds(sid, evse, energy_wh=float(need[i]),
                                   departure=T0 + timedelta(hours=hours)), T0)
        now = T0
        for _ in range(hours * 12):
            mid = now + timedelta(seconds=150)  # an instantaneous reading mid-step
            for i, key in enumerate(site.keys):
                ev = d.c.state.evses[key]
                limit = 6.0 if ev.acked is None else float(np.nan_to_num(
                    ev.acked.on_grid(now, 1), nan=6.0)[0])
                taper = 1.0 if got[i] < 0.8 * need[i] else 0.5
                amps = min(limit, obc[i] * taper) if got[i] < need[i] else 0.0
                got[i] = min(got[i] + amps * 690.0 * 300 / 3600, need[i])
                sid, evse = site.locate(key)
                d.handle(MeterReading(sid, evse, currents_a=(amps, amps, amps),
                                      energy_wh=float(got[i]), timestamp=mid), mid)
            now += timedelta(seconds=300)
            d.handle(Tick(), now)
        print(f"  feedback {'on ' if feedback else 'off'}: delivered {got.sum() / need.sum():.1%}"
              f" of the need; {d.requests} requests")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["time", "caltech", "feedback", "replan", "replan-lp",
                                       "all"],
                    default="all")
    ap.add_argument("--horizon-h", type=float, default=24.0)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--sizes", default="50,1000", help="EVSE counts of --part time")
    ap.add_argument("--sample", type=int, default=None,
                    help="--part time: only this many results of an event's requests go "
                         "through the controller (timed); the others are acknowledged "
                         "directly (a 1,000-EVSE, 24 h horizon finishes)")
    ap.add_argument("--grid", choices=["mpc", "all"], default="mpc",
                    help="the optimizer's grid (ControllerConfig.grid) in --part time")
    ap.add_argument("--whole-keep", action="store_true",
                    help="--part time with keep_partial=False (the last plan kept whole or not"
                         " at all)")
    ap.add_argument("--share-a", type=float, default=0.0,
                    help="fallback share on the Caltech site (6 A shares would reserve more"
                         " than its 50 kW transformer)")
    ap.add_argument("--kw", type=float, default=50.0,
                    help="--part replan: the Caltech transformer [kW]")
    ap.add_argument("--step-s", type=int, default=900, help="--part replan: the step [s]")
    ap.add_argument("--repeat", type=int, default=1,
                    help="--part replan: runs of each setting (alternating)")
    args = ap.parse_args(argv)
    if args.part in ("time", "all"):
        part_time(args.horizon_h, tuple(int(x) for x in args.sizes.split(",")), args.grid,
                  not args.whole_keep, args.sample)
    if args.part in ("feedback", "all"):
        part_feedback(min(args.horizon_h, 12.0))
    if args.part in ("caltech", "all"):
        part_caltech(min(args.horizon_h, 12.0), args.days, args.share_a)
    if args.part == "replan":
        part_replan(args.horizon_h, args.days, args.repeat, args.kw, args.step_s)
    if args.part == "replan-lp":
        part_replan_lp(args.horizon_h, args.kw, args.step_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
