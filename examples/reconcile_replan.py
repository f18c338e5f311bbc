"""Re-plan a site every 5 minutes and send each station only the messages that changed.

A workplace site of 8 EVSEs (one charging station, EVSEs 1..8); cars arrive from about
07:30. Every 5 minutes from 07:00 to 09:00 the CSMS plans the day again with the sessions it
knows, gives the TxProfiles stable ids, and reconciles them with its mirror of the station:
when nothing changed it sends nothing; when a car arrives it sends that car's profile and
the profiles of the cars whose share changed, each replacing its predecessor in place.

Run: python examples/reconcile_replan.py
"""

from __future__ import annotations

from datetime import timedelta

from smartcharge import reconcile
from smartcharge.ocpp.reconcile import apply, payload_bytes, restamp
from smartcharge.optimizer import Problem, optimize
from smartcharge.station import ChargingStation
from smartcharge.synthetic import DEFAULT_START, workplace_site


def main() -> None:
    site = workplace_site(n_evse=8, seed=5)
    evse_number = {e.id: k + 1 for k, e in enumerate(site.evses)}
    station = ChargingStation(len(site.evses))          # the CSMS's mirror of the station
    sent = total_bytes = 0
    started: set[str] = set()
    now = DEFAULT_START + timedelta(hours=7)
    while now <= DEFAULT_START + timedelta(hours=9):
        known = tuple(s for s in site.sessions if s.arrival <= now)
        for s in known:                                  # TransactionEvent(Started) seen
            if s.id not in started and s.transaction_id is not None:
                station.start_transaction(evse_number[s.evse], s.transaction_id, s.arrival)
                started.add(s.id)
        problem = Problem(horizon=site.horizon, nodes=site.nodes, evses=site.evses,
                          sessions=known, tariff=site.tariff)
        plan = optimize(problem)
        desired: dict[int, list] = {}
        for item in plan.to_charging_profiles("A", stack_level=1):
            desired.setdefault(evse_number[item.evse_id], []).append(item.profile)
        messages = reconcile(station, restamp(desired), now=now)
        station = apply(station, messages, now)          # as the station will, once accepted
        sent += len(messages)
        total_bytes += payload_bytes(messages)
        actions = [m.action for m in messages]
        print(f"{now:%H:%M} {len(known)} session(s): {actions.count('SetChargingProfile')} Set, "
              f"{actions.count('ClearChargingProfile')} Clear, {payload_bytes(messages)} bytes")
        assert reconcile(station, restamp(desired), now=now) == []   # idempotent
        now += timedelta(minutes=5)
    print(f"{sent} messages ({total_bytes} bytes) in 25 re-plans; "
          f"{len(station.get_charging_profiles())} profiles installed")


if __name__ == "__main__":
    main()
