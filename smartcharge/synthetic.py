"""Deterministic synthetic sites for demos, tests and benchmarks.

Real sites differ, but these capture what makes smart charging hard: a shared transformer, a
feeder per group of EVSEs, a morning mass arrival, and an evening price peak. The same
arguments always give the same :class:`~smartcharge.optimizer.Problem` (a seeded
``numpy.random.Generator``; no clock is read).

>>> from smartcharge.synthetic import workplace_site
>>> p = workplace_site(n_evse=4, seed=1)
>>> len(p.evses), p.horizon.n_steps, p.horizon.step_s
(4, 96, 900)
>>> workplace_site(n_evse=4, seed=1) == p
True

Two generators: :func:`workplace_site` (the demo's site: a morning mass arrival, an evening
price peak) and :func:`synthetic_problem` (the optimizer benchmarks' site: arrivals spread over
the day, a mix of 11/22 kW and single-phase EVSEs, congestion set by a parameter).

>>> q = synthetic_problem(20, n_steps=96, seed=1)
>>> len(q.evses), len(q.sessions), q.horizon.n_steps
(20, 20, 96)
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer import EVSE, Horizon, Node, Problem, Session, Tariff

__all__ = ["DEFAULT_START", "synthetic_problem", "time_of_use_price", "workplace_site"]

DEFAULT_START = datetime(2024, 3, 4, 0, 0, tzinfo=timezone.utc)
"""Midnight UTC of a Monday: the default horizon start."""


def time_of_use_price(
    start: datetime,
    step_s: int,
    n_steps: int,
    *,
    off_peak: float = 0.20,
    peak: float = 0.45,
    peak_hours: tuple[int, int] = (17, 21),
) -> tuple[float, ...]:
    """Price per step [currency/kWh]: ``peak`` from ``peak_hours[0]`` to ``peak_hours[1]``
    (UTC hour of the step's start), ``off_peak`` otherwise.

    >>> p = time_of_use_price(DEFAULT_START, 3600, 24)
    >>> p[16], p[17], p[20], p[21]
    (0.2, 0.45, 0.45, 0.2)
    """
    t0 = start.timestamp()
    hours = ((t0 + np.arange(n_steps) * step_s) // 3600) % 24
    lo, hi = peak_hours
    price = np.where((hours >= lo) & (hours < hi), peak, off_peak)
    return tuple(float(x) for x in price)


def workplace_site(
    n_evse: int = 40,
    *,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    step_s: int = 900,
    n_steps: int = 96,
    evses_per_feeder: int = 10,
    transformer_kw: float | None = None,
    feeder_a: float | None = None,
    evse_a: float = 32.0,
    occupancy: float = 1.0,
) -> Problem:
    """A workplace: EVSEs on feeders behind one transformer, cars arriving around 08:00.

    Parameters
    ----------
    n_evse
        Number of three-phase 230 V EVSEs (``evse_a`` [A] each, so 22 kW at 32 A).
    seed
        Seed of the random arrivals, stays and energies (same seed, same site).
    start, step_s, n_steps
        The horizon (default: one day in 15-minute steps from a Monday 00:00 UTC).
    evses_per_feeder
        EVSEs per feeder node.
    transformer_kw
        Transformer limit [kW]; default 7 kW per EVSE (a third of their total rating), so
        the site is congested at the morning arrival.
    feeder_a
        Feeder limit [A per line]; default 60% of its EVSEs' total current.
    evse_a
        Each EVSE's maximum current [A per phase].
    occupancy
        Share of EVSEs that receive a car (0..1).

    Returns
    -------
    Problem
        With a time-of-use price (17:00-21:00 UTC peak), a 15% demand-free building load of
        the transformer, and one session per occupied EVSE: arrival around 08:00 (some at
        17:00 for the evening shift), stays of 4-10 h, needs of 10-40 kWh.
    """
    if n_evse < 1:
        raise InvalidProblemError("a site needs at least one EVSE", path="n_evse", rule=">=1")
    if not 0.0 <= occupancy <= 1.0:
        raise InvalidProblemError("occupancy is a share in 0..1", path="occupancy", rule="0..1")
    rng = np.random.default_rng(seed)
    transformer_w = (transformer_kw if transformer_kw is not None else 7.0 * n_evse) * 1000.0
    nodes = [Node(id="transformer", max_power_w=transformer_w)]
    evses = []
    n_feeders = -(-n_evse // evses_per_feeder)
    for f in range(n_feeders):
        members = min(evses_per_feeder, n_evse - f * evses_per_feeder)
        limit_a = feeder_a if feeder_a is not None else round(0.6 * members * evse_a, 1)
        nodes.append(Node(id=f"feeder{f + 1}", parent="transformer", max_current_a=limit_a))
        for k in range(members):
            i = f * evses_per_feeder + k
            evses.append(
                EVSE(id=f"evse{i + 1:03d}", node=f"feeder{f + 1}", max_current_a=evse_a)
            )
    horizon_end = start + timedelta(seconds=step_s * n_steps)
    occupied = rng.random(n_evse) < occupancy
    evening = rng.random(n_evse) < 0.2
    arrive_h = np.where(evening, 17.0, 8.0) + rng.normal(0.0, 0.5, n_evse)
    stay_h = rng.uniform(4.0, 10.0, n_evse)
    energy_kwh = rng.uniform(10.0, 40.0, n_evse)
    sessions = []
    for i in np.flatnonzero(occupied).tolist():
        arrival = start + timedelta(seconds=round(float(arrive_h[i]) * 3600 / 60) * 60)
        departure = min(arrival + timedelta(seconds=round(float(stay_h[i]) * 3600)), horizon_end)
        if departure <= arrival:
            continue
        sessions.append(
            Session(
                id=f"s{i + 1:03d}",
                evse=evses[i].id,
                arrival=arrival,
                departure=departure,
                energy_wh=round(float(energy_kwh[i]) * 1000.0),
                transaction_id=f"tx-{seed}-{i + 1:03d}",
            )
        )
    hours = ((start.timestamp() + np.arange(n_steps) * step_s) // 3600) % 24
    office = (hours >= 7) & (hours < 19)
    building = np.where(office, 0.15, 0.05) * transformer_w
    tariff = Tariff(
        price=time_of_use_price(start, step_s, n_steps),
        site_load_w=tuple(float(x) for x in building),
    )
    return Problem(
        horizon=Horizon(start=start, step_s=step_s, n_steps=n_steps),
        nodes=tuple(nodes),
        evses=tuple(evses),
        sessions=tuple(sessions),
        tariff=tariff,
    )


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
