"""A home's site controller through a cloudy day: a surplus-only car with start/stop hysteresis.

A home with an 8 kWp roof (a clear-sky curve; clouds of 1 to 12 minutes, drawn from a
seeded generator, take 70 % of it while they pass) and a 400 W base load, a 32 A grid
connection and one 16 A three-phase wallbox whose car charges on surplus only (mode
``"pv"``). Every minute from 09:00 to 16:00 the car reports what it draws and the grid
meter reports the exchange; the controller (:class:`smartcharge.controller.Controller`)
answers with the TxProfiles to send, which the station accepts at once and the car follows.

Run three times: with the hysteresis (start after 5 minutes of surplus, stop after 10
without, the defaults), with a short stop hold (2 minutes), and without (both holds 0). It
prints, per run, how often the car was started, the TxProfiles sent, the energy the car
took from the PV and from the grid (while a stop is pending the car stays at its minimum
and imports what the cloud took: the price of not cycling the contactor), and the time the
controller took (all runs in the same process: compare them, not across machines).

Run: python examples/solar_controller.py
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import numpy as np

import smartcharge.controller as scc
from smartcharge.controller.safety import horizon_at

START = datetime(2024, 6, 8, 9, tzinfo=timezone.utc)
MINUTES = 7 * 60
WPA = 3 * 230.0  # W per A on three phases
KEY = "wallbox/1"


def surplus_w(seed: int = 7) -> np.ndarray:
    """PV less the base load [W], one value per minute from ``START``."""
    rng = np.random.default_rng(seed)
    hour = 9.0 + np.arange(MINUTES) / 60.0
    clear = 8000.0 * np.clip(np.sin(np.pi * (hour - 6.0) / 14.0), 0.0, None) ** 1.5
    shade = np.ones(MINUTES)
    m = 0
    while m < MINUTES:
        m += int(rng.integers(3, 25))  # clear sky between clouds [min]
        length = int(rng.integers(1, 13))
        shade[m:m + length] = 0.3
        m += length
    return np.asarray(clear * shade - 400.0)


def run(surplus: np.ndarray, start_hold_s: int, stop_hold_s: int) -> dict[str, float]:
    """Drive the controller minute by minute; what the car did."""
    site = scc.Site.model_validate({
        "nodes": [{"id": "home", "max_current_a": 32}],
        "stations": [{"id": "wallbox", "evses": [
            {"evse_id": 1, "node": "home", "max_current_a": 16, "mode": "pv"}]}]})
    config = scc.ControllerConfig(step_s=300, horizon_s=3 * 3600, pv_start_hold_s=start_hold_s,
                                  pv_stop_hold_s=stop_hold_s)
    c = scc.Controller(site, config)
    sent: list[float] = []  # the first limit of every TxProfile [A]

    def handle(event: scc.Event, now: datetime) -> None:
        todo = c.handle(event, now)
        while todo:
            req = todo.pop(0)
            profile = req.payload["chargingProfile"]
            if profile["chargingProfilePurpose"] == "TxProfile":
                sent.append(profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]
                            ["limit"])
            todo += c.handle(scc.RequestResult(req.correlation_id, "Accepted"), now)

    handle(scc.StationConnected("wallbox"), START)
    handle(scc.TransactionStarted("wallbox", 1, "t1", START, 0.0), START)
    handle(scc.ChargingNeeds("wallbox", 1, energy_wh=40_000.0,
                             departure=START + timedelta(hours=9)), START)
    pv_wh = grid_wh = 0.0
    draws = []
    began = time.perf_counter()
    for m, s in enumerate(surplus.tolist()):
        now = START + timedelta(minutes=m)
        env = c.state.evses[KEY].acked  # the car follows its TxProfile
        limit = 0.0 if env is None else float(env.on_grid(horizon_at(config, now).start, 1)[0])
        draw = min(np.nan_to_num(limit), 16.0) * WPA
        draws.append(draw)
        pv_wh += min(draw, max(s, 0.0)) / 60.0
        grid_wh += max(draw - max(s, 0.0), 0.0) / 60.0
        handle(scc.MeterReading("wallbox", 1, power_w=draw, timestamp=now), now)
        handle(scc.SiteMeterReading("home", draw - s, now), now)
    on = np.asarray(draws) > 0
    return {"starts": float(np.sum(on[1:] & ~on[:-1]) + on[0]), "profiles": float(len(sent)),
            "pv_kwh": pv_wh / 1000.0, "grid_kwh": grid_wh / 1000.0,
            "seconds": time.perf_counter() - began}


def main() -> None:
    surplus = surplus_w()
    low = (surplus < 6.0 * WPA).astype(int)
    clouds = int(np.sum(np.diff(low) == 1))
    print(f"{MINUTES} minutes, surplus {np.sum(np.maximum(surplus, 0)) / 60000:.1f} kWh, "
          f"{clouds} dips below the car's 4140 W minimum")
    print(f"{'':24} {'starts':>6} {'profiles':>8} {'PV kWh':>7} {'grid kWh':>8} {'time s':>7}")
    for name, holds in (("hysteresis 5 / 10 min", (300, 600)),
                        ("hysteresis 5 / 2 min", (300, 120)), ("no hysteresis", (0, 0))):
        r = run(surplus, *holds)
        print(f"{name:24} {r['starts']:6.0f} {r['profiles']:8.0f} {r['pv_kwh']:7.1f} "
              f"{r['grid_kwh']:8.1f} {r['seconds']:7.1f}")


if __name__ == "__main__":
    main()
