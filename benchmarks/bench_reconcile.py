"""Benchmark reconcile(): messages and JSON bytes sent over a day of 5-minute re-plans.

Usage: ``python benchmarks/bench_reconcile.py [--evses N] [--seed S] [--every SECONDS]
[--end-align SECONDS]``.

A workplace site (:func:`smartcharge.synthetic.workplace_site`, 40 EVSEs by default) is
re-planned every 5 minutes from 06:00 to 22:00 UTC, model-predictive style: at each re-plan
the cars that have arrived (and not left) are sessions with their remaining energy, the
horizon is the next 12 h on the 15-minute grid (it starts at the current 15-minute boundary;
with ``--end-align A`` it ends on the last multiple of ``A`` seconds within those 12 h, so the
end moves only every ``A`` seconds: 900 = a rolling 12 h horizon, the default),
and :func:`smartcharge.optimizer.optimize` gives one TxProfile per car. Each EVSE also holds
its offline fallback TxDefaultProfile (:func:`smartcharge.ocpp.fallback.fallback_profiles`).
Energy delivered between re-plans is the planned power of the current step. Three ways to
update the stations, each on its own station mirror:

- ``resend``: SetChargingProfile for every desired profile at every re-plan (what a CSMS
  without state does);
- ``resend-tx``: every TxProfile at every re-plan, the fallbacks only when missing (a CSMS
  that keeps only the fallbacks' state);
- ``reconcile``: :func:`smartcharge.ocpp.reconcile.reconcile` with stable ids
  (:func:`stable_profile_id`: each EVSE's TxProfile keeps its id, replaced in place),
  comparing profiles by their effect from now on (the default with ``now``);
- ``reconcile-content``: the same, comparing whole profiles (``compare="content"``): a
  profile whose ``startSchedule`` moved is re-sent even if it limits alike from now on;
- ``reconcile-plain-ids``: reconcile with the plan's default ids (1, 2, ... by session order),
  which change as cars come and go: matching still avoids re-sending, but changes
  cost a ClearChargingProfile plus a SetChargingProfile.

Bytes are compact JSON payloads (no OCPP-J frame). After every re-plan, every mirror has the
same composite schedules from that re-plan on (12 h, every EVSE); the script checks it.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

import numpy as np

from smartcharge.model import ChargingProfile
from smartcharge.ocpp.fallback import fallback_profiles
from smartcharge.ocpp.reconcile import (
    ReconcileMessage,
    apply,
    payload_bytes,
    reconcile,
    stable_profile_id,
)
from smartcharge.ocpp.v201 import SetChargingProfileRequest
from smartcharge.optimizer import Horizon, Plan, Problem, Session, Tariff, optimize
from smartcharge.station import ChargingStation
from smartcharge.synthetic import workplace_site


def run(n_evse: int = 40, seed: int = 0, every_s: int = 300,
        end_align_s: int = 900) -> dict[str, dict[str, float]]:
    site = workplace_site(n_evse=n_evse, seed=seed)
    day = site.horizon.start
    step = site.horizon.step_s
    n_max = 48
    if not 0 < end_align_s <= n_max * step or end_align_s % step:
        raise SystemExit(f"--end-align must be a multiple of the step ({step} s) up to 12 h")
    align = end_align_s // step
    index = {e.id: i + 1 for i, e in enumerate(site.evses)}
    fallback = fallback_profiles(site, evse_ids=index)
    price = np.asarray(site.series(site.tariff.price))
    load = np.asarray(site.series(site.tariff.site_load_w, missing=0.0))
    delivered = {s.id: 0.0 for s in site.sessions}
    names = ("resend", "resend-tx", "reconcile", "reconcile-content", "reconcile-plain-ids")
    stations = {k: ChargingStation(n_evse) for k in names}
    stats = {k: {"messages": 0.0, "bytes": 0.0, "sets": 0.0, "clears": 0.0, "time_s": 0.0,
                 "boundary_messages": 0.0} for k in names}
    replans = 0
    t = day + timedelta(hours=6)
    end = day + timedelta(hours=22)
    while t <= end:
        # transactions as cars come and go (a station ends a transaction's TxProfiles)
        for st in stations.values():
            for s in site.sessions:
                e = index[s.evse]
                running = st.transactions.get(e)
                assert s.transaction_id is not None
                if running is not None and running[0] == s.transaction_id and s.departure <= t:
                    st.end_transaction(e)
                elif running is None and s.arrival <= t < s.departure:
                    st.start_transaction(e, s.transaction_id, s.arrival)
        k0 = int((t - day).total_seconds() // step)
        t0 = day + timedelta(seconds=k0 * step)
        n_steps = (k0 + n_max) // align * align - k0  # > 0: align <= n_max
        idx = (k0 + np.arange(n_steps)) % len(price)
        sessions = tuple(
            Session(id=s.id, evse=s.evse, arrival=t0, departure=s.departure,
                    energy_wh=s.energy_wh - delivered[s.id], transaction_id=s.transaction_id)
            for s in site.sessions
            if s.arrival <= t < s.departure and s.energy_wh - delivered[s.id] > 1.0
        )
        problem = Problem(
            horizon=Horizon(start=t0, step_s=step, n_steps=n_steps), nodes=site.nodes,
            evses=site.evses, sessions=sessions,
            tariff=Tariff(price=tuple(float(x) for x in price[idx]),
                          site_load_w=tuple(float(x) for x in load[idx])),
        )
        plan = optimize(problem)
        for i, s in enumerate(sessions):
            delivered[s.id] += float(plan.session_power_w[i, 0]) * every_s / 3600.0

        def desired(plan: Plan, stable: bool) -> dict[int, list[ChargingProfile]]:
            out: dict[int, list[ChargingProfile]] = {
                index[e]: [p] for e, p in fallback.items()
            }
            pid = ((lambda e, _s: stable_profile_id(index[e], "TxProfile")) if stable else 1)
            for ep in plan.to_charging_profiles("A", profile_id=pid, stack_level=1):
                out[index[ep.evse_id]].append(ep.profile)
            return out

        stable, plain = desired(plan, True), desired(plan, False)
        for name in names:
            c0 = time.perf_counter()
            if name == "resend":
                msgs: list[ReconcileMessage] = [
                    SetChargingProfileRequest(evse_id=e, charging_profile=p)
                    for e in sorted(stable) for p in stable[e]
                ]
            elif name == "resend-tx":
                msgs = reconcile(stations[name], {e: ps[:1] for e, ps in stable.items()},
                                 purposes=["TxDefaultProfile"], now=t)
                msgs += [SetChargingProfileRequest(evse_id=e, charging_profile=p)
                         for e in sorted(stable) for p in stable[e][1:]]
            elif name == "reconcile-content":
                msgs = reconcile(stations[name], stable, now=t, compare="content")
            else:
                want = stable if name == "reconcile" else plain
                msgs = reconcile(stations[name], want, now=t)
            stats[name]["time_s"] += time.perf_counter() - c0
            stations[name] = apply(stations[name], msgs, t)
            stats[name]["messages"] += len(msgs)
            if t == t0:
                stats[name]["boundary_messages"] += len(msgs)
            stats[name]["bytes"] += payload_bytes(msgs)
            stats[name]["sets"] += sum(m.action == "SetChargingProfile" for m in msgs)
            stats[name]["clears"] += sum(m.action == "ClearChargingProfile" for m in msgs)
        ref = [stations["resend"].composite_schedule(e, t, 12 * 3600, "A").to_json_dict()
               for e in range(n_evse + 1)]
        for name in names[1:]:
            got = [stations[name].composite_schedule(e, t, 12 * 3600, "A").to_json_dict()
                   for e in range(n_evse + 1)]
            assert got == ref, f"{name} diverged at {t}"
        replans += 1
        t += timedelta(seconds=every_s)
    for v in stats.values():
        v["replans"] = replans
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evses", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=int, default=300, help="re-plan interval [s]")
    ap.add_argument("--end-align", type=int, default=900,
                    help="the horizon ends on a multiple of this [s] (900: rolling 12 h)")
    args = ap.parse_args()
    stats = run(args.evses, args.seed, args.every, args.end_align)
    base = stats["resend"]
    n = int(base["replans"])
    print(f"{args.evses} EVSEs, {n} re-plans every {args.every} s (06:00-22:00 UTC),"
          f" horizon end aligned on {args.end_align} s")
    print(f"{'strategy':22s} {'messages':>9s} {'sets':>7s} {'clears':>7s} {'kB':>9s}"
          f" {'msg/replan':>10s} {'vs resend':>9s} {'ms/call':>8s}")
    for name, v in stats.items():
        print(f"{name:22s} {int(v['messages']):9d} {int(v['sets']):7d} {int(v['clears']):7d}"
              f" {v['bytes'] / 1000:9.1f} {v['messages'] / n:10.2f}"
              f" {v['bytes'] / base['bytes']:9.1%} {1000 * v['time_s'] / n:8.2f}")
    for name in ("reconcile", "reconcile-content"):
        r = stats[name]
        print(f"{name}: {int(r['boundary_messages'])} of {int(r['messages'])} messages at the"
              f" re-plans on a 15-minute boundary (the horizon, hence startSchedule, moves"
              f" there)")


if __name__ == "__main__":
    main()
