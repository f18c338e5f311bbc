"""Plan a depot overnight: 12 delivery vans on 50 kW DC chargers behind a 300 kW grid connection.

Vans come back between 18:00 and 20:00 and leave between 05:00 and 06:30; the night tariff
is cheaper from 23:00 to 05:00. The optimizer delivers every van's energy, keeps the site
under its connection and shifts charging into the cheap hours; charging every van flat out
on arrival (uncontrolled) would need far more than the connection.

Run: python examples/depot_overnight.py
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from smartcharge.optimizer import EVSE, Horizon, Node, Problem, Session, Tariff, optimize, verify
from smartcharge.optimizer.baselines import uncontrolled

START = datetime(2024, 5, 6, 17, tzinfo=timezone.utc)  # 17:00 UTC, 15-minute steps to 07:00
STEP_S, N_STEPS = 900, 56


def depot() -> Problem:
    """The depot's problem (deterministic)."""
    vans = 12
    evses = [EVSE(id=f"dc{i + 1:02d}", node="grid", kind="DC", max_power_w=50_000)
             for i in range(vans)]
    sessions = []
    for i in range(vans):
        back = START + timedelta(minutes=60 + 10 * i)        # 18:00 .. 19:50
        leave = START + timedelta(hours=12, minutes=7 * i)   # 05:00 .. 06:17
        need_kwh = 60 + 5 * (i % 7)                          # 60 .. 90 kWh
        sessions.append(Session(id=f"van{i + 1:02d}", evse=evses[i].id, arrival=back,
                                departure=leave, energy_wh=need_kwh * 1000.0,
                                transaction_id=f"depot-{i + 1:02d}"))
    hours = [(START + timedelta(seconds=k * STEP_S)).hour for k in range(N_STEPS)]
    price = tuple(0.12 if h >= 23 or h < 5 else 0.28 for h in hours)
    return Problem(
        horizon=Horizon(start=START, step_s=STEP_S, n_steps=N_STEPS),
        nodes=(Node(id="grid", max_power_w=300_000),),
        evses=tuple(evses), sessions=tuple(sessions),
        tariff=Tariff(price=price, site_load_w=20_000),  # the depot's own lights and offices
    )


def main() -> None:
    problem = depot()
    plan = optimize(problem)
    base = uncontrolled(problem)
    print(f"optimizer:    {plan.summary().split(', build')[0]}, "
          f"{len(verify(problem, plan))} violations")
    print(f"uncontrolled: {base.summary().split(', build')[0]}, "
          f"{len(verify(problem, base))} violations")
    print(f"saved {base.cost - plan.cost:.2f} ({1 - plan.cost / base.cost:.0%}) on the night")
    print(f"{'van':<6} {'needed kWh':>10} {'got kWh':>8}  its TxProfile from 23:00 (UTC)")
    profiles = {p.session_id: p.profile for p in plan.to_charging_profiles("W")}
    for k, sess in enumerate(problem.sessions):
        periods = profiles[sess.id].charging_schedule[0].charging_schedule_period
        night = [p for p in periods if p.start_period >= 6 * 3600][:4]
        steps = ", ".join(
            f"{(START + timedelta(seconds=p.start_period)):%H:%M} {p.limit / 1000:.0f} kW"
            for p in night)
        print(f"{sess.id:<6} {sess.energy_wh / 1000:>10.1f} {plan.energy_wh[k] / 1000:>8.1f}"
              f"  {steps}")


if __name__ == "__main__":
    main()
