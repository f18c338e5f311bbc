"""A home with rooftop PV, a battery and two cars over two summer days, from real weather.

PV power comes from a typical meteorological year (TMY3) file that ships with ``pvlib``
(Greensboro, North Carolina): a 10 kWp south-facing roof at 25 degrees, the sun's position,
the irradiance on the plane, the cell temperature and PVWatts' DC and inverter models, hour
by hour, held over each hour's four 15-minute steps. The home: a 300 W base load with
morning and evening peaks, a 10 kWh / 5 kW battery (90 % round trip), a 7 kW export limit,
a time-of-use tariff (0.20 at night, 0.30 by day, 0.45 from 17:00 to 21:00) and a 0.08
feed-in price. Car ``a`` is home by day and charges on surplus only (``pv``); car ``b``
charges at its minimum by day plus the surplus (``min_pv``), then plugs in overnight and
wants 20 kWh by 07:00 (``planned``).

It compares the optimizer with and without the battery, and without the modes (every car
``planned``), against a rule-based surplus controller (:func:`smartcharge.surplus_rules`)
with and without the battery: self-consumption, the grid bill, energy delivered and the
limits broken. ``--plot FILE`` draws PV, battery, EVs and grid exchange (needs matplotlib).

Run: python examples/solar_home_battery.py [--plot solar.png]
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from smartcharge.optimizer import Plan, Problem, optimize, surplus_rules, verify

DAY = "2024-06-08"  # a clear day followed by a cloudy one in the TMY file
UTC_OFFSET_H = 5  # the file is in UTC-5: local midnight is 05:00 UTC
STEP_S = 900
N_STEPS = 2 * 96


def pv_power_w(kwp: float = 10.0) -> tuple[datetime, np.ndarray]:
    """PV AC power [W] per 15-minute step over two days from local midnight of ``DAY``, and
    that start (UTC)."""
    import pandas as pd
    import pvlib

    path = Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"
    weather, meta = pvlib.iotools.read_tmy3(path, coerce_year=2024, map_variables=True)
    # TMY3 labels each hour by its end: the sun's position is taken mid-hour
    mid = weather.index - pd.Timedelta(minutes=30)
    site = pvlib.location.Location(meta["latitude"], meta["longitude"],
                                   altitude=meta["altitude"])
    sun = site.get_solarposition(mid)
    poa = pvlib.irradiance.get_total_irradiance(
        surface_tilt=25.0, surface_azimuth=180.0, solar_zenith=sun["apparent_zenith"].values,
        solar_azimuth=sun["azimuth"].values, dni=weather["dni"].values,
        ghi=weather["ghi"].values, dhi=weather["dhi"].values)
    cell = pvlib.temperature.faiman(poa["poa_global"], weather["temp_air"].values,
                                    weather["wind_speed"].values)
    dc = pvlib.pvsystem.pvwatts_dc(poa["poa_global"], cell, pdc0=kwp * 1000.0,
                                   gamma_pdc=-0.004)
    ac = np.asarray(pvlib.inverter.pvwatts(dc, pdc0=kwp * 1000.0 / 0.96), dtype=np.float64)
    ac = np.nan_to_num(np.maximum(ac, 0.0))
    first = int(np.flatnonzero(weather.index.strftime("%Y-%m-%d") == DAY)[0])
    # the hour ending 01:00 local is the first of the day: 48 hours, four steps each
    hourly = ac[first: first + 48]
    start = datetime.fromisoformat(DAY).replace(tzinfo=timezone.utc) + timedelta(
        hours=UTC_OFFSET_H)
    return start, np.repeat(hourly, 4)


def _local(start: datetime, hour: float) -> str:
    return (start + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")


def home(start: datetime, pv_w: np.ndarray, *, battery: bool = True,
         modes: bool = True) -> Problem:
    """The home of the module docstring (hours are local, from the first midnight)."""
    hour = np.arange(N_STEPS) * STEP_S / 3600.0 % 24
    load = 300.0 + np.where((hour >= 7) & (hour < 8), 1200.0, 0.0) + np.where(
        (hour >= 17) & (hour < 22), 1500.0, 0.0)
    price = np.where((hour >= 22) | (hour < 7), 0.20,
                     np.where((hour >= 17) & (hour < 21), 0.45, 0.30))

    def car(sid: str, evse: str, a: float, d: float, wh: float, mode: str) -> dict[str, Any]:
        return {"id": sid, "evse": evse, "arrival": _local(start, a),
                "departure": _local(start, d), "energy_wh": wh,
                "mode": mode if modes else "planned"}

    data: dict[str, Any] = {
        "horizon": {"start": start.isoformat(), "step_s": STEP_S, "n_steps": N_STEPS},
        "nodes": [{"id": "home", "max_power_w": 17000.0, "max_export_w": 7000.0}],
        "evses": [{"id": "e1", "node": "home", "max_current_a": 16.0},
                  {"id": "e2", "node": "home", "max_current_a": 16.0}],
        "sessions": [
            car("a-day1", "e1", 9, 17, 20000.0, "pv"),
            car("a-day2", "e1", 33, 41, 20000.0, "pv"),
            car("b-day1", "e2", 9, 16, 15000.0, "min_pv"),
            car("b-night", "e2", 18, 31, 20000.0, "planned"),
        ],
        "tariff": {"price": tuple(price.tolist()), "export_price": 0.08,
                   "site_load_w": tuple(load.tolist())},
        "generation": [{"id": "roof", "node": "home", "power_w": tuple(pv_w.tolist())}],
    }
    if battery:
        data["batteries"] = [{"id": "battery", "node": "home", "capacity_wh": 10000.0,
                              "min_wh": 1000.0, "initial_wh": 3000.0, "final_wh": 3000.0,
                              "max_charge_w": 5000.0, "max_discharge_w": 5000.0,
                              "efficiency": 0.9, "cost_per_kwh": 0.02}]
    return Problem.model_validate(data)


def plot(plans: dict[str, Plan], path: Path) -> None:
    """PV, battery, EVs and grid exchange of each plan over the two days."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(plans), 1, figsize=(11, 3.2 * len(plans)), sharex=True)
    for ax, (name, plan) in zip(np.atleast_1d(axes), plans.items(), strict=True):
        p = plan.problem
        h = np.arange(p.horizon.n_steps) * p.horizon.step_h
        pv = p.series(p.generation[0].power_w) / 1000.0
        ev = plan.power_w.sum(axis=0) / 1000.0
        ax.fill_between(h, pv, step="post", color="gold", alpha=0.35, label="PV forecast")
        ax.step(h, plan.generation_w.sum(axis=0) / 1000.0, where="post", color="orange",
                label="PV used")
        ax.step(h, ev, where="post", color="tab:blue", label="EVs")
        ax.step(h, plan.battery_power_w.sum(axis=0) / 1000.0, where="post", color="tab:green",
                label="battery (+ charging)")
        ax.step(h, plan.grid_w / 1000.0, where="post", color="black", lw=0.9,
                label="grid (+ import)")
        ax.axhline(0.0, color="grey", lw=0.5)
        ax.set_ylabel("kW")
        ax.set_title(name, loc="left", fontsize=10)
        if plan.battery_power_w.size:
            twin = ax.twinx()
            twin.plot(np.arange(1, len(h) + 1) * p.horizon.step_h,
                      plan.soc_wh[0] / 1000.0, color="tab:green", ls=":", lw=1.0)
            twin.set_ylabel("battery kWh (dotted)")
        ax.legend(loc="upper left", fontsize=7, ncol=5)
    np.atleast_1d(axes)[-1].set_xlabel("hours from local midnight")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", type=Path, help="write a PNG of the plans here")
    args = parser.parse_args(argv)
    start, pv_w = pv_power_w()
    print(f"PV from pvlib's TMY3 (Greensboro NC), {DAY} and the day after: "
          f"{pv_w.sum() * STEP_S / 3.6e6:.1f} kWh, peak {pv_w.max() / 1000:.1f} kW")
    with_bat, without_bat = home(start, pv_w), home(start, pv_w, battery=False)
    plans = {
        "optimizer": optimize(with_bat),
        "optimizer, no battery": optimize(without_bat),
        "optimizer, no modes": optimize(home(start, pv_w, modes=False)),
        "rule-based": surplus_rules(with_bat),
        "rule-based, no battery": surplus_rules(without_bat),
    }
    need = plans["optimizer"].energy_needed_wh / 1000.0
    print(f"2 cars want {need:.0f} kWh in 4 sessions; battery 10 kWh / 5 kW; export <= 7 kW")
    print(f"{'method':<24} {'EV kWh':>7} {'import':>7} {'export':>7} {'self-use':>8} "
          f"{'bill':>6} {'battery end':>11} {'violations':>10}")
    for name, plan in plans.items():
        bad = verify(plan.problem, plan)
        end = f"{plan.soc_wh[0, -1] / 1000:.1f} kWh" if plan.soc_wh.size else "-"
        print(f"{name:<24} {plan.energy_wh.sum() / 1000:7.1f} {plan.import_wh / 1000:7.1f} "
              f"{plan.export_wh / 1000:7.1f} {plan.self_consumption:8.1%} "
              f"{plan.grid_cost:6.2f} {end:>11} {len(bad):10d}")
    if args.plot is not None:
        plot({k: plans[k] for k in ("optimizer", "rule-based")}, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
