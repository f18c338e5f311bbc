"""Synthetic problems for benchmarks and tests (deterministic for a given seed).

>>> p = synthetic_problem(20, n_steps=96, seed=1)
>>> len(p.evses), len(p.sessions), p.horizon.n_steps
(20, 20, 96)
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np

from smartcharge.optimize.problem import Problem

__all__ = ["synthetic_problem"]


def synthetic_problem(
    n_evse: int,
    *,
    n_steps: int = 96,
    step_s: int = 900,
    feeders: int = 10,
    congestion: float = 0.7,
    single_phase_share: float = 0.2,
    seed: int = 0,
    current_limits: bool = True,
    start: datetime = datetime(2024, 1, 1, tzinfo=timezone.utc),
) -> Problem:
    """A site with a grid connection, ``feeders`` feeders and ``n_evse`` EVSEs, one session
    each, a time-of-use tariff and a building load.

    EVSEs are three-phase 16 A or 32 A (11 / 22 kW) or, for ``single_phase_share`` of them,
    single-phase 32 A on L1/L2/L3 in turn. Sessions arrive over the first 60 % of the
    horizon, stay 2 to 10 h and want 5 to 40 kWh. The grid limit (above the building load)
    is ``congestion`` times the smaller of the peak of serving everyone at a uniform rate
    over their stays and the average power the needs ask for while any car is present
    (0.7 serves about two thirds of the energy asked for); each feeder may carry 60 % of
    its EVSEs' maximum, and (``current_limits``) each feeder's line currents are limited
    too. Sessions start and end on step boundaries.
    """
    rng = np.random.default_rng(seed)
    n_feed = max(1, min(feeders, n_evse))
    feeder = np.arange(n_evse) % n_feed
    single = rng.random(n_evse) < single_phase_share
    amps = np.where(rng.random(n_evse) < 0.7, 16.0, 32.0)
    amps = np.where(single, 32.0, amps)
    wpa = np.where(single, 230.0, 690.0)
    pmax = amps * wpa
    horizon_h = n_steps * step_s / 3600.0
    arrival_h = rng.uniform(0.0, 0.6 * horizon_h, n_evse)
    stay_h = rng.uniform(2.0, 10.0, n_evse)
    departure_h = np.minimum(arrival_h + stay_h, horizon_h + 2.0)
    step_h = step_s / 3600.0
    arrival_h = np.floor(arrival_h / step_h) * step_h
    departure_h = np.maximum(np.ceil(departure_h / step_h) * step_h, arrival_h + step_h)
    stay_h = departure_h - arrival_h
    need = np.minimum(rng.uniform(5000.0, 40000.0, n_evse), pmax * stay_h * 0.9)
    need = np.round(need)
    t = np.arange(n_steps) * step_s / 3600.0
    hour = (t + 0.0) % 24
    price = np.where((hour >= 7) & (hour < 22), 0.30, 0.12) + 0.02 * np.sin(t / 3.0)
    building = 20000.0 + 10000.0 * np.sin(np.pi * hour / 24.0) ** 2 * (n_evse / 100.0)
    # demand served at a uniform rate: average load over time
    load = np.zeros(n_steps)
    for a, d, e in zip(arrival_h, departure_h, need, strict=True):
        lo = int(a * 3600 // step_s)
        hi = min(math.ceil(d * 3600 / step_s), n_steps)
        if hi > lo:
            load[lo:hi] += e / (d - a)
    # congestion < 1 also caps the energy the grid can pass while cars are present
    busy_h = float((load > 0).sum()) * step_s / 3600.0
    grid = float(min(congestion * load.max(), congestion * need.sum() / max(busy_h, 1.0))
                 + building.max())
    nodes: list[dict[str, object]] = [{"id": "grid", "max_power_w": round(grid)}]
    for f in range(n_feed):
        cap = 0.6 * pmax[feeder == f].sum()
        node: dict[str, object] = {"id": f"feeder{f}", "parent": "grid",
                                   "max_power_w": round(cap)}
        if current_limits:
            node["max_current_a"] = round(cap / 690.0 * 1.05, 1)
        nodes.append(node)
    phases = ("L1", "L2", "L3")
    evses = []
    for i in range(n_evse):
        ev: dict[str, object] = {
            "id": f"evse{i}", "node": f"feeder{feeder[i]}", "max_current_a": float(amps[i]),
        }
        if single[i]:
            ev.update(phases=1, connection=phases[i % 3])
        evses.append(ev)
    sessions = [
        {
            "id": f"s{i}", "evse": f"evse{i}",
            "arrival": (start + timedelta(hours=float(arrival_h[i]))).isoformat(),
            "departure": (start + timedelta(hours=float(departure_h[i]))).isoformat(),
            "energy_wh": float(need[i]), "transaction_id": f"tx{i}",
        }
        for i in range(n_evse)
    ]
    return Problem.model_validate({
        "horizon": {"start": start.isoformat(), "step_s": step_s, "n_steps": n_steps},
        "nodes": nodes, "evses": evses, "sessions": sessions,
        "tariff": {"price": tuple(float(x) for x in np.round(price, 4)),
                   "site_load_w": tuple(float(x) for x in np.round(building))},
    })
