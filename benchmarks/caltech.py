"""Caltech ACN data -> :class:`smartcharge.optimizer.problem.Problem`, and an MPC replay driver.

Not part of the library (it reads files): used by ``benchmarks/bench_caltech.py`` and
``tests/test_caltech_loader.py``. The data format is the one in
``shared/data/caltech-acn-2019-03`` (``sessions.csv`` + ``site.json``, see its README).

Site model (as ACN-Sim models the Caltech garage, ``site.json``):

- root ``primary``: the transformer's 480 V delta primary (``coupling="delta-wye"``, current
  ratio 4), each line current at most ``capacity_kw * 1000 / 3 / 277`` [A];
- ``secondary``: its 120/208 V wye side, each line current at most
  ``capacity_kw * 1000 / 3 / 120`` [A];
- the two 80 A pods (``CC pod``, ``AV pod``) below the secondary, the other EVSEs directly on
  the secondary;
- EVSEs single-phase line to line at 208 V (AB -> ``L1-L2``, BC -> ``L2-L3``, CA ->
  ``L3-L1``), 32 A; minimum 6 A (AeroVironment) or 8 A (ClipperCreek). Simplification: the
  pilots are continuous (ClipperCreek's real pilots are only 0/8/16/24/32 A, AeroVironment's
  whole amperes).
- sessions: the vehicle's maximum (``max_power_kw``, 6.6 kW) and the requested energy.

Time-of-use tariff (``tou_price``): 0.30 currency/kWh from 12:00 to 18:00 local Pacific time
(America/Los_Angeles, daylight saving time included), 0.10 otherwise.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from smartcharge.ocpp.reconcile import payload_bytes, reconcile, restamp
from smartcharge.ocpp.v201 import SetChargingProfileRequest
from smartcharge.optimizer.plan import Plan
from smartcharge.optimizer.problem import EVSE, Horizon, Node, Problem, Session, Tariff

FloatArray = npt.NDArray[np.float64]

PACIFIC = ZoneInfo("America/Los_Angeles")
PEAK_HOURS = (12, 18)
"""Local hours [start, end) of the peak price."""
PEAK_PRICE = 0.30
OFF_PEAK_PRICE = 0.10
"""Prices [currency/kWh]."""
VOLTAGE_LL_V = 208.0
_CONNECTION = {"AB": "L1-L2", "BC": "L2-L3", "CA": "L3-L1"}
_MIN_A = {"AeroVironment": 6.0, "ClipperCreek": 8.0}
_EPS_WH = 1e-6


@dataclass(frozen=True)
class CaltechSession:
    """One row of ``sessions.csv`` (times UTC)."""

    id: str
    station: str
    arrival: datetime
    departure: datetime
    energy_wh: float
    max_power_w: float


def _utc(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"time without a zone: {text!r}")
    return t.astimezone(timezone.utc)


def read_sessions(data_dir: Path) -> list[CaltechSession]:
    """Every session of ``data_dir/sessions.csv``, in file order."""
    out: list[CaltechSession] = []
    with (Path(data_dir) / "sessions.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            out.append(CaltechSession(
                id=row["session_id"], station=row["station_id"],
                arrival=_utc(row["arrival"]), departure=_utc(row["departure"]),
                energy_wh=float(row["energy_kwh"]) * 1000.0,
                max_power_w=float(row["max_power_kw"]) * 1000.0,
            ))
    return out


def read_site(data_dir: Path) -> dict[str, Any]:
    """``data_dir/site.json`` as a dict."""
    with (Path(data_dir) / "site.json").open() as fh:
        site: dict[str, Any] = json.load(fh)
    return site


def site_nodes_evses(site: dict[str, Any], capacity_kw: float) -> tuple[list[Node], list[EVSE]]:
    """The electrical tree (transformer of ``capacity_kw`` [kW]) and the 54 EVSEs."""
    pods = {c["name"]: c for c in site["constraints"] if "members" in c}
    pod_of: dict[str, str] = {}
    nodes = [
        Node(id="primary", coupling="delta-wye", ratio=4.0, voltage_v=277.0,
             max_current_a=capacity_kw * 1000.0 / 3.0 / 277.0),
        Node(id="secondary", parent="primary", voltage_v=120.0,
             max_current_a=capacity_kw * 1000.0 / 3.0 / 120.0),
    ]
    for name, c in pods.items():
        node_id = name.lower().replace(" ", "-")
        nodes.append(Node(id=node_id, parent="secondary", voltage_v=120.0,
                          max_current_a=float(c["limit_a"])))
        for m in c["members"]:
            pod_of[m] = node_id
    v_phase = VOLTAGE_LL_V / math.sqrt(3.0)
    evses = [
        EVSE(id=e["id"], node=pod_of.get(e["id"], "secondary"), phases=1,
             connection=_CONNECTION[e["connection"]], voltage_v=v_phase,
             max_current_a=float(site["evse_max_current_a"]),
             min_current_a=_MIN_A[e["type"]])
        for e in site["evses"]
    ]
    return nodes, evses


def tou_price(start: datetime, step_s: int, n_steps: int) -> FloatArray:
    """Price [currency/kWh] of each step: peak from 12:00 to 18:00 Pacific time.

    A step's price is the price at its start.
    """
    out = np.empty(n_steps)
    for k in range(n_steps):
        hour = (start + timedelta(seconds=k * step_s)).astimezone(PACIFIC).hour
        out[k] = PEAK_PRICE if PEAK_HOURS[0] <= hour < PEAK_HOURS[1] else OFF_PEAK_PRICE
    return out


def transaction_id(session_id: str) -> str:
    """A short deterministic OCPP transactionId (at most 36 characters) for a session id."""
    return "acn-" + hashlib.sha1(session_id.encode("utf-8")).hexdigest()[:20]


def _ceil_to(t: datetime, start: datetime, step_s: int) -> datetime:
    k = math.ceil((t - start).total_seconds() / step_s - 1e-9)
    return start + timedelta(seconds=k * step_s)


def _floor_to(t: datetime, start: datetime, step_s: int) -> datetime:
    k = math.floor((t - start).total_seconds() / step_s + 1e-9)
    return start + timedelta(seconds=k * step_s)


def load_problem(
    data_dir: Path,
    start: datetime,
    end: datetime,
    capacity_kw: float,
    *,
    step_s: int = 300,
) -> tuple[Problem, list[CaltechSession]]:
    """The sessions arriving in ``[start, end)`` on the Caltech site, as one Problem.

    Arrivals are rounded up and departures down to the ``step_s`` grid from ``start`` (a
    car is only counted while it is surely there; the data are already on a 5-minute grid,
    so with ``step_s=300`` nothing moves); sessions left with no step are dropped. The
    horizon runs from ``start`` to the last departure (at least to ``end``). Tariff:
    :func:`tou_price`. Returns the problem and the kept sessions (problem order).
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    if end <= start:
        raise ValueError("end must be after start")
    site = read_site(data_dir)
    nodes, evses = site_nodes_evses(site, capacity_kw)
    evse_ids = {e.id for e in evses}
    kept: list[CaltechSession] = []
    sessions: list[Session] = []
    for s in read_sessions(data_dir):
        if not (start <= s.arrival < end):
            continue
        if s.station not in evse_ids:
            raise ValueError(f"session {s.id!r}: unknown station {s.station!r}")
        arr = _ceil_to(s.arrival, start, step_s)
        dep = _floor_to(s.departure, start, step_s)
        if dep <= arr:
            continue
        kept.append(s)
        sessions.append(Session(id=s.id, evse=s.station, arrival=arr, departure=dep,
                                energy_wh=s.energy_wh, max_power_w=s.max_power_w,
                                transaction_id=transaction_id(s.id)))
    last = max([end] + [x.departure for x in sessions])
    n_steps = math.ceil((last - start).total_seconds() / step_s)
    price = tou_price(start, step_s, n_steps)
    problem = Problem(
        horizon=Horizon(start=start, step_s=step_s, n_steps=n_steps),
        nodes=tuple(nodes), evses=tuple(evses), sessions=tuple(sessions),
        tariff=Tariff(price=tuple(float(p) for p in price)),
    )
    return problem, kept


# ---- model-predictive replay ---------------------------------------------------------------

Planner = Callable[[Problem], Plan]


def _slice(value: Any, t: int, n: int) -> Any:
    return value[t:t + n] if isinstance(value, tuple) else value


def subproblem(
    problem: Problem, t: int, remaining_wh: FloatArray, *, max_steps: int | None = None
) -> tuple[Problem, list[int]] | None:
    """What is known at the start of step ``t``: the sessions plugged in by then (arrival
    at or before it), not yet gone, still wanting energy, with their remaining need, over a
    horizon from step ``t`` to the last of their departures (at most ``max_steps``).

    Returns the problem and the indices (in ``problem.sessions``) of its sessions, or
    ``None`` when no session is known.
    """
    h = problem.horizon
    now = h.start + timedelta(seconds=t * h.step_s)
    net = problem.network()
    idx = [
        i for i, s in enumerate(problem.sessions)
        if s.arrival <= now < s.departure and remaining_wh[i] > _EPS_WH
        and net.sess_max_w[i] > 0
    ]
    if not idx:
        return None
    last = max(problem.sessions[i].departure for i in idx)
    n = min(math.ceil((last - now).total_seconds() / h.step_s), h.n_steps - t)
    if max_steps is not None:
        n = min(n, max_steps)
    nodes = tuple(
        x.model_copy(update={"max_power_w": _slice(x.max_power_w, t, n),
                             "max_current_a": _slice(x.max_current_a, t, n)})
        for x in problem.nodes
    )
    tf = problem.tariff
    tariff = tf.model_copy(update={
        "price": _slice(tf.price, t, n), "co2_g_per_kwh": _slice(tf.co2_g_per_kwh, t, n),
        "site_load_w": _slice(tf.site_load_w, t, n),
    })
    sessions = tuple(
        problem.sessions[i].model_copy(update={"energy_wh": float(remaining_wh[i])})
        for i in idx
    )
    sub = Problem(horizon=Horizon(start=now, step_s=h.step_s, n_steps=n), nodes=nodes,
                  evses=problem.evses, sessions=sessions, tariff=tariff)
    return sub, idx


def mpc_replay(
    problem: Problem, planner: Planner, *, max_steps: int | None = None,
    on_step: Callable[[int, Plan], None] | None = None,
) -> Plan:
    """Re-plan at every step with only what is known then; apply the plan's first step.

    At step ``t`` the planner sees :func:`subproblem` (sessions that have arrived, their
    declared departure and remaining energy); its first step's power is applied and the
    delivered energy subtracted. Returns the applied powers as a Plan of ``problem``
    (check it with :func:`smartcharge.optimizer.verify.verify`).
    """
    net = problem.network()
    sp = np.zeros((net.S, net.T))
    remaining = net.need_wh.astype(np.float64).copy()
    for t in range(net.T):
        got = subproblem(problem, t, remaining, max_steps=max_steps)
        if got is None:
            continue
        sub, idx = got
        plan = planner(sub)
        if on_step is not None:
            on_step(t, plan)
        sp[idx, t] = plan.session_power_w[:, 0]
        remaining -= sp[:, t] * net.frac[:, t] * net.dt_h
    return Plan.from_session_power(problem, sp, message="MPC replay")


@dataclass(frozen=True)
class ReplayRow:
    """One strategy at one transformer capacity."""

    strategy: str
    capacity_kw: float
    share_delivered: float
    energy_kwh: float
    cost: float
    peak_kw: float
    violations: int
    seconds: float


def summarize(
    strategy: str, capacity_kw: float, problem: Problem, plan: Plan, violations: int,
    seconds: float,
) -> ReplayRow:
    """The figures of one replay."""
    return ReplayRow(strategy, capacity_kw, plan.share_delivered,
                     float(plan.energy_wh.sum()) / 1000.0, plan.cost, plan.peak_w / 1000.0,
                     violations, seconds)


def format_table(rows: Sequence[ReplayRow]) -> str:
    """A Markdown table of replay rows."""
    out = ["| capacity [kW] | strategy | delivered [% of requested] | energy [kWh] | "
           "cost | cost per kWh | peak [kW] | violations | time [s] |",
           "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        per_kwh = r.cost / r.energy_kwh if r.energy_kwh > 0 else 0.0
        out.append(f"| {r.capacity_kw:g} | {r.strategy} | {100 * r.share_delivered:.1f} | "
                   f"{r.energy_kwh:.1f} | {r.cost:.2f} | {per_kwh:.4f} | {r.peak_kw:.1f} | "
                   f"{r.violations} | {r.seconds:.1f} |")
    return "\n".join(out)


# ---- OCPP traffic of the re-plans ----------------------------------------------------------


class OcppTraffic:
    """Bytes sent to the station on each re-plan: everything again, or only what changed.

    Use as ``mpc_replay(..., on_step=meter)``. At each re-plan, every session plugged in
    gets one TxProfile (A, stack level 1) anchored on the replay's fixed horizon: the power
    applied so far, then the new plan, then 0 (:meth:`Plan.to_charging_profiles` of the
    whole horizon, so a profile whose future did not change is identical). Profiles get
    stable ids per EVSE (:func:`smartcharge.ocpp.reconcile.restamp`).

    - ``plain``: the plan as it comes (``to_charging_profiles`` of the re-plan, starting
      now), a SetChargingProfile per session on every re-plan;
    - ``full``: a SetChargingProfile for every anchored profile on every re-plan;
    - ``reconciled``: the messages of :func:`smartcharge.ocpp.reconcile.reconcile` against
      what the station holds after the previous re-plan (a TxProfile disappears when its
      transaction ends, as the station drops it, so it costs no ClearChargingProfile).

    Sizes are compact JSON payloads (:func:`payload_bytes`), without the OCPP-J envelope.
    """

    def __init__(self, problem: Problem) -> None:
        from smartcharge.validation import EVSEInfo, StationContext

        self.problem = problem
        net = problem.network()
        self.net = net
        self.sid = {s.id: i for i, s in enumerate(problem.sessions)}
        self.evse_no = {e.id: k + 1 for k, e in enumerate(problem.evses)}
        self.context = StationContext(
            evses={k + 1: EVSEInfo("AC", 1 if e.phases == 1 else 3)
                   for k, e in enumerate(problem.evses)},
        )
        self.applied = np.zeros((net.S, net.T))
        self.installed: dict[int, tuple[Any, ...]] = {}
        self.tx_on: dict[int, str] = {}
        self.replans = 0
        self.full_messages = 0
        self.full_bytes = 0
        self.messages = 0
        self.bytes = 0
        self.plain_bytes = 0

    def __call__(self, t: int, plan: Plan) -> None:
        """Account for the re-plan ``plan`` made at step ``t``."""
        h = self.problem.horizon
        now = h.start + timedelta(seconds=t * h.step_s)
        rows = [self.sid[s.id] for s in plan.problem.sessions]
        sp = self.applied.copy()
        n = plan.session_power_w.shape[1]
        sp[rows, t:t + n] = plan.session_power_w
        self.applied[rows, t] = plan.session_power_w[:, 0]
        plugged = [i for i, s in enumerate(self.problem.sessions)
                   if s.arrival <= now < s.departure]
        sub = Problem(horizon=h, nodes=self.problem.nodes, evses=self.problem.evses,
                      sessions=tuple(self.problem.sessions[i] for i in plugged))
        anchored = Plan.from_session_power(sub, sp[plugged])
        desired: dict[int, list[Any]] = {}
        for item in anchored.to_charging_profiles("A", stack_level=1, only_active=False):
            desired.setdefault(self.evse_no[item.evse_id], []).append(item.profile)
        want = restamp(desired)
        # the station drops the TxProfile of a transaction that ended
        tx_now = {self.evse_no[self.problem.sessions[i].evse]:
                  str(self.problem.sessions[i].transaction_id) for i in plugged}
        current = {e: ps for e, ps in self.installed.items()
                   if self.tx_on.get(e) == tx_now.get(e)}
        msgs = reconcile(current, want, context=self.context)
        full = [SetChargingProfileRequest(evse_id=e, charging_profile=p)
                for e in sorted(want) for p in want[e]]
        plain = [SetChargingProfileRequest(evse_id=self.evse_no[x.evse_id],
                                           charging_profile=x.profile)
                 for x in plan.to_charging_profiles("A", stack_level=1)]
        self.plain_bytes += payload_bytes(plain)
        self.replans += 1
        self.full_messages += len(full)
        self.full_bytes += payload_bytes(full)
        self.messages += len(msgs)
        self.bytes += payload_bytes(msgs)
        self.installed = dict(want)
        self.tx_on = tx_now
