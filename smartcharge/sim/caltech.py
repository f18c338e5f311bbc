"""The Caltech ACN data set (``caltech-acn-2019-03`` format) as sites and session logs.

The library ships no data: give the folder that holds ``sessions.csv`` and ``site.json``
(see that folder's README). :func:`parse_sessions` and :func:`site_nodes_evses` are pure (text
and dicts in); :func:`read_sessions`, :func:`read_site` and :func:`load_problem` read the
folder you name, the one place outside the command line where the library opens files.

Site model (as ACN-Sim models the Caltech garage, ``site.json``):

- root ``primary``: the transformer's 480 V delta primary (``coupling="delta-wye"``, current
  ratio 4), each line current at most ``capacity_kw * 1000 / 3 / 277`` [A];
- ``secondary``: its 120/208 V wye side, each line current at most
  ``capacity_kw * 1000 / 3 / 120`` [A];
- the two 80 A pods (``cc-pod``, ``av-pod``) below the secondary, the other EVSEs directly on
  the secondary;
- EVSEs single-phase line to line at 208 V (AB -> ``L1-L2``, BC -> ``L2-L3``, CA ->
  ``L3-L1``), 32 A; minimum 6 A (AeroVironment) or 8 A (ClipperCreek). The optimizer's model
  takes pilots as continuous; :data:`PILOTS` lists what each make really accepts (use it with
  :class:`smartcharge.sim.evse.PilotModel` in a simulation).
- sessions: the vehicle's maximum (``max_power_kw``, 6.6 kW) and the requested energy.

Time-of-use tariff (:func:`tou_price`): 0.30 currency/kWh from 12:00 to 18:00 local Pacific
time (America/Los_Angeles, daylight saving time included), 0.10 otherwise.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from smartcharge.controller.site import Site
from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer.problem import EVSE, Horizon, Node, Problem, Session, Tariff
from smartcharge.sim.evse import PilotModel

__all__ = [
    "OFF_PEAK_PRICE",
    "PACIFIC",
    "PEAK_HOURS",
    "PEAK_PRICE",
    "PILOTS",
    "VOLTAGE_LL_V",
    "CaltechSession",
    "controller_site",
    "load_problem",
    "parse_sessions",
    "pilot_model",
    "price_at",
    "read_sessions",
    "read_site",
    "session_log",
    "site_nodes_evses",
    "tou_price",
    "transaction_id",
]

FloatArray = npt.NDArray[np.float64]

PACIFIC = ZoneInfo("America/Los_Angeles")
PEAK_HOURS = (12, 18)
"""Local hours [start, end) of the peak price."""
PEAK_PRICE = 0.30
OFF_PEAK_PRICE = 0.10
"""Prices [currency/kWh]."""
VOLTAGE_LL_V = 208.0
"""Line-to-line voltage [V] of the garage's EVSEs."""
PILOTS: Mapping[str, tuple[float, ...] | None] = {
    "ClipperCreek": (0.0, 8.0, 16.0, 24.0, 32.0),
    "AeroVironment": tuple(float(a) for a in (0, *range(6, 33))),
}
"""Pilot values [A] each EVSE make accepts (ACN-Sim's models of the Caltech EVSEs)."""
_CONNECTION = {"AB": "L1-L2", "BC": "L2-L3", "CA": "L3-L1"}
_MIN_A = {"AeroVironment": 6.0, "ClipperCreek": 8.0}
_COLUMNS = ("session_id", "station_id", "arrival", "departure", "energy_kwh", "max_power_kw")


@dataclass(frozen=True)
class CaltechSession:
    """One row of ``sessions.csv`` (times UTC, energy [Wh], power [W])."""

    id: str
    station: str
    arrival: datetime
    departure: datetime
    energy_wh: float
    max_power_w: float


def _bad(message: str, path: str, rule: str = "caltech") -> InvalidProblemError:
    return InvalidProblemError(message, path=path, rule=rule)


def _utc(text: str, path: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"not an ISO 8601 time: {text!r}", path, "date-time") from None
    if t.tzinfo is None:
        raise _bad(f"time without a zone: {text!r}", path, "date-time")
    return t.astimezone(timezone.utc)


def _number(text: str, path: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _bad(f"not a number: {text!r}", path, "number") from None
    if not math.isfinite(value) or value < 0:
        raise _bad(f"must be a finite number >= 0, got {text!r}", path, "number")
    return value


def parse_sessions(text: str) -> list[CaltechSession]:
    """Every session of a ``sessions.csv`` text, in file order.

    Raises
    ------
    InvalidProblemError
        A missing column, a bad time or number (``path`` = ``sessions.csv[row].column``), or a
        departure not after its arrival.
    """
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise _bad(f"missing columns {missing}", "sessions.csv", "columns")
    out: list[CaltechSession] = []
    for k, row in enumerate(reader):
        at = f"sessions.csv[{k}]"
        s = CaltechSession(
            id=row["session_id"], station=row["station_id"],
            arrival=_utc(row["arrival"], f"{at}.arrival"),
            departure=_utc(row["departure"], f"{at}.departure"),
            energy_wh=_number(row["energy_kwh"], f"{at}.energy_kwh") * 1000.0,
            max_power_w=_number(row["max_power_kw"], f"{at}.max_power_kw") * 1000.0,
        )
        if s.departure <= s.arrival:
            raise _bad("departure must be after arrival", f"{at}.departure", "window")
        out.append(s)
    return out


def read_sessions(data_dir: Path | str) -> list[CaltechSession]:
    """Every session of ``data_dir/sessions.csv``, in file order (:func:`parse_sessions`)."""
    return parse_sessions((Path(data_dir) / "sessions.csv").read_text(encoding="utf-8"))


def read_site(data_dir: Path | str) -> dict[str, Any]:
    """``data_dir/site.json`` as a dict."""
    site: dict[str, Any] = json.loads((Path(data_dir) / "site.json").read_text(encoding="utf-8"))
    return site


def site_nodes_evses(site: Mapping[str, Any], capacity_kw: float) -> tuple[list[Node], list[EVSE]]:
    """The electrical tree (transformer of ``capacity_kw`` [kW]) and the EVSEs of ``site``.

    Raises
    ------
    InvalidProblemError
        A ``site.json`` without the expected keys, or an unknown EVSE make or connection.
    """
    try:
        pods = {c["name"]: c for c in site["constraints"] if "members" in c}
        evse_rows = list(site["evses"])
        max_a = float(site["evse_max_current_a"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(f"site.json lacks or mangles {exc}", "site.json", "site") from None
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
    evses = []
    for k, e in enumerate(evse_rows):
        if e.get("type") not in _MIN_A or e.get("connection") not in _CONNECTION:
            raise _bad(f"unknown make {e.get('type')!r} or connection {e.get('connection')!r}",
                       f"site.json.evses[{k}]", "site")
        evses.append(EVSE(id=e["id"], node=pod_of.get(e["id"], "secondary"), phases=1,
                          connection=_CONNECTION[e["connection"]], voltage_v=v_phase,
                          max_current_a=max_a, min_current_a=_MIN_A[e["type"]]))
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
    data_dir: Path | str,
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

    Raises
    ------
    InvalidProblemError
        Naive or empty window, a session on an unknown station, or a bad data file.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise _bad("start and end must be aware datetimes", "start", "timezone")
    if end <= start:
        raise _bad("end must be after start", "end", "window")
    nodes, evses = site_nodes_evses(read_site(data_dir), capacity_kw)
    evse_ids = {e.id for e in evses}
    kept: list[CaltechSession] = []
    sessions: list[Session] = []
    for s in read_sessions(data_dir):
        if not (start <= s.arrival < end):
            continue
        if s.station not in evse_ids:
            raise _bad(f"session {s.id!r}: unknown station {s.station!r}", "station_id",
                       "unknown-evse")
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


# ---- the same site and sessions for the simulator and the site controller ------------------


def price_at(t: datetime) -> float:
    """The time-of-use price [currency/kWh] at instant ``t`` (see :func:`tou_price`)."""
    hour = t.astimezone(PACIFIC).hour
    return PEAK_PRICE if PEAK_HOURS[0] <= hour < PEAK_HOURS[1] else OFF_PEAK_PRICE


def controller_site(site: Mapping[str, Any], capacity_kw: float) -> Site:
    """The garage as a site controller's :class:`~smartcharge.controller.Site`: one 2.0.1
    station per EVSE (station id = the EVSE's id, evseId 1), the tree of
    :func:`site_nodes_evses`. Its EVSE keys are ``"<id>/1"``."""
    nodes, evses = site_nodes_evses(site, capacity_kw)
    return Site.model_validate({"nodes": nodes, "stations": [
        {"id": e.id, "protocol": "2.0.1", "evses": [{
            "evse_id": 1, "node": e.node, "phases": e.phases, "connection": e.connection,
            "voltage_v": e.voltage_v, "max_current_a": e.max_current_a,
            "min_current_a": e.min_current_a}]}
        for e in evses]})


def pilot_model(site: Mapping[str, Any]) -> PilotModel:
    """Each EVSE's real pilot values (:data:`PILOTS` by make), keyed ``"<id>/1"``."""
    return PilotModel(per_evse={f"{e['id']}/1": PILOTS[e["type"]] for e in site["evses"]})


def session_log(rows: list[CaltechSession], start: datetime, end: datetime) -> list[Session]:
    """The sessions arriving in ``[start, end)`` as a simulator's session log (EVSE keys
    ``"<station>/1"``, transaction ids :func:`transaction_id`)."""
    return [Session(id=s.id, evse=f"{s.station}/1", arrival=s.arrival, departure=s.departure,
                    energy_wh=s.energy_wh, max_power_w=s.max_power_w,
                    transaction_id=transaction_id(s.id))
            for s in rows if start <= s.arrival < end]
