"""Offline safety: fallback profiles that keep a site within its limits with no CSMS at all.

A station that loses its connection keeps running on the profiles it holds. Its TxProfiles
end with the plan they came from; after that (and for every car that arrives while it is
offline) its TxDefaultProfile applies. :func:`fallback_profiles` computes TxDefaultProfiles
(one per EVSE, in A) such that **every EVSE of the site drawing its fallback at the same time**
keeps every node of the electrical tree within its power and line-current limits:

- each EVSE gets a safe share (6 A by default, raised to the EVSE's own minimum) or 0 - an
  EVSE cannot usefully charge between 0 and its minimum (IEC 61851-1);
- when not every EVSE can have it, EVSEs are served round-robin by feeder (the node they hang
  from, in the order the nodes are declared; within a feeder in declaration order), so a
  constrained site spreads its fallback capacity over its feeders instead of filling the
  first feeder;
- limits that vary over time are taken at their minimum over the horizon and the site load
  at both its minimum and maximum (a line current's magnitude is convex in the site load, so
  the two ends bound it): the profiles hold at every moment, also past the horizon;
- the result is checked with :func:`smartcharge.optimizer.verify` on the site with one session
  per EVSE drawing its fallback at every step; a violation raises (never a silent clamp).

Validity windows: profiles carry ``validFrom``/``validTo`` in UTC. Clock drift between the
station and the CSMS is the commonest cause of "Expired" rejections (K01: ``validTo`` before
the station's clock), so :func:`validity_window` starts a window ``drift_s`` in the past and
:func:`expiring_profiles` renews profiles ``margin_s`` before they end. Margin rule:
``margin_s >= max clock drift + re-plan interval + delivery time`` (default 300 + 300 + 300 s).

>>> site = Problem.model_validate({
...     "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 4},
...     "nodes": [{"id": "grid", "max_current_a": 16},
...               {"id": "f1", "parent": "grid"}, {"id": "f2", "parent": "grid"}],
...     "evses": [{"id": "a", "node": "f1", "max_current_a": 32},
...               {"id": "b", "node": "f1", "max_current_a": 32},
...               {"id": "c", "node": "f2", "max_current_a": 32}]})
>>> fallback_currents(site)  # 16 A fit two EVSEs at 6 A: one per feeder first
{'a': 6.0, 'b': 0.0, 'c': 6.0}
>>> p = fallback_profiles(site)["a"]
>>> p.charging_profile_purpose.value, p.charging_profile_kind.value, p.id
('TxDefaultProfile', 'Recurring', 200000100)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from smartcharge.errors import InvalidProblemError, SolverError
from smartcharge.model import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    RecurrencyKind,
)
from smartcharge.ocpp.reconcile import MANAGED_PURPOSES, stable_profile_id
from smartcharge.optimizer import Horizon, Plan, Problem, Session, Tariff, Violation, verify
from smartcharge.station import ChargingStation

__all__ = [
    "DEFAULT_DRIFT_S",
    "DEFAULT_MARGIN_S",
    "DEFAULT_SHARE_A",
    "expiring_profiles",
    "fallback_currents",
    "fallback_profiles",
    "fallback_violations",
    "validity_window",
]

DEFAULT_SHARE_A = 6.0
"""The fallback share [A per phase]: the IEC 61851-1 minimum, the least that charges."""

DEFAULT_DRIFT_S = 300
"""Clock drift [s] assumed between a station and the CSMS (stations without NTP drift by
minutes)."""

DEFAULT_MARGIN_S = 900
"""Renewal margin [s]: drift (300) + one 5-minute re-plan (300) + delivery and retries (300)."""

_TXD = ChargingProfilePurpose.TxDefaultProfile
_MAX = ChargingProfilePurpose.ChargingStationMaxProfile
_DAY_S = 86_400


def _min_limit(site: Problem, value: object) -> float | None:
    arr = site.series(value)  # type: ignore[arg-type]
    low = float(np.min(arr))
    return None if math.isinf(low) else low


def _worst_case(site: Problem) -> Problem:
    """Two steps: every limit at its minimum, the site load at its minimum then maximum."""
    load = site.series(site.tariff.site_load_w, missing=0.0)
    nodes = tuple(
        n.model_copy(
            update={
                "max_power_w": _min_limit(site, n.max_power_w),
                "max_current_a": _min_limit(site, n.max_current_a),
            }
        )
        for n in site.nodes
    )
    return Problem(
        horizon=Horizon(start=site.horizon.start, step_s=site.horizon.step_s, n_steps=2),
        nodes=nodes,
        evses=site.evses,
        tariff=Tariff(
            site_load_w=(float(load.min()), float(load.max())),
            site_load_node=site.tariff.site_load_node,
        ),
    )


def _round_robin(site: Problem) -> list[int]:
    """EVSE indices: first EVSE of each feeder (nodes in declaration order), then the second..."""
    by_node: dict[str, list[int]] = {n.id: [] for n in site.nodes}
    for i, e in enumerate(site.evses):
        by_node[e.node].append(i)
    queues = [q for q in by_node.values() if q]
    order: list[int] = []
    for k in range(max((len(q) for q in queues), default=0)):
        order.extend(q[k] for q in queues if k < len(q))
    return order


def _check_share(share_a: float) -> float:
    if isinstance(share_a, bool) or not isinstance(share_a, (int, float)):
        raise InvalidProblemError(f"must be a number, got {share_a!r}", path="share_a",
                                  rule="type")
    if not math.isfinite(share_a) or share_a < 0:
        raise InvalidProblemError(
            f"must be a finite number >= 0, got {share_a!r}", path="share_a", rule="non-negative"
        )
    return float(share_a)


def _over(value: npt.NDArray[np.float64], limit: npt.NDArray[np.float64]) -> bool:
    return bool(np.any(value > limit * (1 + 1e-12) + 1e-9))


def fallback_currents(site: Problem, *, share_a: float = DEFAULT_SHARE_A) -> dict[str, float]:
    """The fallback current [A per phase] of every EVSE of ``site`` (sessions ignored).

    Each EVSE, in round-robin order by feeder, gets ``max(share_a, its minimum)`` rounded up
    to 0.1 A if that is within its maximum and every node above it stays within its limits
    (at their minimum over the horizon, with the site load at its minimum and at its maximum)
    with all EVSEs served so far drawing theirs; else 0.

    Parameters
    ----------
    site
        The optimizer problem: its tree, EVSEs and site load are used; sessions are ignored.
    share_a
        The share [A per phase] each EVSE should get (default 6 A).

    Returns
    -------
    dict
        EVSE id -> current [A per phase] (0 or at least the EVSE's minimum), in problem order.
    """
    share = _check_share(share_a)
    worst = _worst_case(site)
    net = worst.network()
    E = net.E
    # running line currents (3, 2) and powers (2,) per node, site load included
    cur = [
        net.base_coef[n][:, None] * net.base_w[None, :] if net.base_under[n]
        else np.zeros((3, 2), dtype=np.complex128)
        for n in range(net.N)
    ]
    pw = [net.base_w.copy() if net.base_under[n] else np.zeros(2) for n in range(net.N)]
    above: list[list[tuple[int, int]]] = [[] for _ in range(E)]  # (node, row in coef[node])
    for n in range(net.N):
        for row, e in enumerate(net.members[n].tolist()):
            above[e].append((n, row))
    out = np.zeros(E)
    for e in _round_robin(site):
        wpa = float(net.evse_wpa[e])
        amps = math.ceil(max(share, float(net.evse_min_w[e]) / wpa) * 10.0 - 1e-9) / 10.0
        power = amps * wpa
        if amps <= 0 or power > float(net.evse_max_w[e]) * (1 + 1e-12):
            continue
        trial = []
        ok = True
        for n, row in above[e]:
            c = cur[n] + net.coef[n][row][:, None] * power
            p = pw[n] + power
            # float noise only (1e-9 A or W); verify()'s own tolerance is 1e-6
            if _over(p, net.power_limit[n]) or _over(np.abs(c), net.current_limit[n]):
                ok = False
                break
            trial.append((n, c, p))
        if ok:
            for n, c, p in trial:
                cur[n], pw[n] = c, p
            out[e] = amps
    return {x.id: float(out[i]) for i, x in enumerate(site.evses)}


def _drawing(site: Problem, currents_a: Mapping[str, float]) -> tuple[Problem, Plan]:
    """``site`` with one session per EVSE over the horizon, each drawing its fallback."""
    h = site.horizon
    hours = h.n_steps * h.step_h
    sessions = tuple(
        Session(id=f"fallback:{e.id}", evse=e.id, arrival=h.start, departure=h.end,
                energy_wh=e.max_w * hours + 1.0 if math.isfinite(e.max_w) else 1e12)
        for e in site.evses
    )
    problem = Problem(horizon=h, nodes=site.nodes, evses=site.evses, sessions=sessions,
                      tariff=site.tariff)
    power = np.array([[currents_a[e.id] * e.watts_per_amp] * h.n_steps for e in site.evses],
                     dtype=np.float64).reshape(len(site.evses), h.n_steps)
    return problem, Plan.from_session_power(problem, power)


def fallback_violations(site: Problem, currents_a: Mapping[str, float]) -> list[Violation]:
    """Every limit broken when every EVSE draws ``currents_a`` at once (empty: safe).

    Checked with :func:`smartcharge.optimizer.verify` twice: on ``site`` at every step of its
    horizon, and on its worst case (every limit at its minimum over the horizon, the site
    load at its minimum and at its maximum), which bounds every moment.

    Raises
    ------
    InvalidProblemError
        ``currents_a`` misses an EVSE of the site or has a negative or non-finite value.
    """
    for e in site.evses:
        if e.id not in currents_a:
            raise InvalidProblemError(f"no fallback current for EVSE {e.id!r}",
                                      path=f"currents_a[{e.id!r}]", rule="required")
        v = currents_a[e.id]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v < 0:
            raise InvalidProblemError(f"must be a finite number >= 0, got {v!r}",
                                      path=f"currents_a[{e.id!r}]", rule="non-negative")
    out: list[Violation] = []
    for problem in (site, _worst_case(site)):
        drawn, plan = _drawing(problem, currents_a)
        out.extend(verify(drawn, plan))
    return out


def fallback_profiles(
    site: Problem,
    *,
    share_a: float = DEFAULT_SHARE_A,
    kind: Literal["Recurring", "Absolute"] = "Recurring",
    start: datetime | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    purpose: Literal["TxDefaultProfile", "ChargingStationMaxProfile"] = "TxDefaultProfile",
    stack_level: int = 0,
    evse_ids: Mapping[str, int] | None = None,
) -> dict[str, ChargingProfile]:
    """Fallback profiles (one per EVSE) that are safe with every station offline at once.

    The limits are :func:`fallback_currents`, checked by :func:`fallback_violations`. AC EVSEs
    get a limit in A per phase (``numberPhases`` = the EVSE's phases); DC EVSEs, whose limit
    in A would be ambiguous, get the same power in W (rounded down to 0.1 W).

    Parameters
    ----------
    site
        The optimizer problem (tree, EVSEs, site load; sessions ignored).
    share_a
        The share [A per phase] each EVSE should get.
    kind
        ``"Recurring"`` (Daily, one 24 h schedule) or ``"Absolute"`` (one open-ended period).
    start
        ``startSchedule`` (default: ``valid_from``, else the horizon's start).
    valid_from, valid_to
        The validity window (UTC), e.g. from :func:`validity_window`; ``None`` = unbounded.
    purpose
        ``"TxDefaultProfile"`` (per EVSE: what a station uses when no TxProfile applies) or
        ``"ChargingStationMaxProfile"`` (caps everything, TxProfiles included: only for
        stations with one EVSE, installed on evseId 0, as the hard offline cap).
    stack_level
        The profiles' ``stackLevel``.
    evse_ids
        Problem EVSE id -> OCPP evseId, for the profile ids :func:`stable_profile_id`
        ``(evse, purpose)`` (default: position in the problem, from 1). With
        ChargingStationMaxProfile the id uses evseId 0.

    Returns
    -------
    dict
        Problem EVSE id -> ChargingProfile, in problem order.

    Raises
    ------
    SolverError
        The fallback would break a limit (never expected: the currents are built to hold).
    InvalidProblemError
        A bad argument, named by its path.
    """
    purpose_enum = ChargingProfilePurpose(purpose)
    if purpose_enum not in (_TXD, _MAX):
        raise InvalidProblemError(f"purpose must be TxDefaultProfile or"
                                  f" ChargingStationMaxProfile, got {purpose!r}",
                                  path="purpose", rule="enum")
    if kind not in ("Recurring", "Absolute"):
        raise InvalidProblemError(f"kind must be 'Recurring' or 'Absolute', got {kind!r}",
                                  path="kind", rule="enum")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise InvalidProblemError("valid_to must be after valid_from", path="valid_to",
                                  rule="K01.FR.35")
    currents = fallback_currents(site, share_a=share_a)
    bad = fallback_violations(site, currents)
    if bad:
        raise SolverError(f"the fallback breaks {len(bad)} limit(s): {bad[0].message}",
                          path="fallback", rule="verify")
    ids = dict(evse_ids) if evse_ids is not None else {
        e.id: i + 1 for i, e in enumerate(site.evses)
    }
    anchor = start or valid_from or site.horizon.start
    recurring = kind == "Recurring"
    out: dict[str, ChargingProfile] = {}
    for e in site.evses:
        if e.id not in ids:
            raise InvalidProblemError(f"no OCPP evseId for EVSE {e.id!r}",
                                      path=f"evse_ids[{e.id!r}]", rule="required")
        amps = currents[e.id]
        unit = ChargingRateUnit.W if e.kind == "DC" else ChargingRateUnit.A
        phases = None if e.kind == "DC" else e.phases
        limit_f = math.floor(amps * e.watts_per_amp * 10) / 10.0 if e.kind == "DC" else amps
        pid = stable_profile_id(0 if purpose_enum is _MAX else ids[e.id], purpose_enum)
        sched = ChargingSchedule(
            id=1, start_schedule=anchor, duration=_DAY_S if recurring else None,
            charging_rate_unit=unit,
            charging_schedule_period=(ChargingSchedulePeriod(
                start_period=0, limit=limit_f, number_phases=phases),),
        )
        out[e.id] = ChargingProfile(
            id=pid, stack_level=stack_level, charging_profile_purpose=purpose_enum,
            charging_profile_kind=(ChargingProfileKind.Recurring if recurring
                                   else ChargingProfileKind.Absolute),
            recurrency_kind=RecurrencyKind.Daily if recurring else None,
            valid_from=valid_from, valid_to=valid_to, charging_schedule=(sched,),
        )
    return out


def validity_window(
    now: datetime, lifetime_s: int, *, drift_s: int = DEFAULT_DRIFT_S
) -> tuple[datetime, datetime]:
    """``(validFrom, validTo)`` for a profile sent at ``now`` that should last ``lifetime_s``.

    ``validFrom`` is ``drift_s`` in the past, so a station whose clock is behind the CSMS's
    applies the profile at once; ``validTo`` is ``now + lifetime_s``: renew it with
    :func:`expiring_profiles` ``margin_s`` before (a station whose clock is ahead by up to
    ``drift_s`` sees it end that much earlier).

    >>> from datetime import datetime, timezone
    >>> a, b = validity_window(datetime(2024, 1, 1, 8, tzinfo=timezone.utc), 86_400)
    >>> a.isoformat(), b.isoformat()
    ('2024-01-01T07:55:00+00:00', '2024-01-02T08:00:00+00:00')
    """
    if lifetime_s <= 0 or drift_s < 0:
        raise InvalidProblemError(
            f"lifetime_s must be > 0 and drift_s >= 0, got {lifetime_s!r}, {drift_s!r}",
            path="lifetime_s" if lifetime_s <= 0 else "drift_s", rule="positive",
        )
    return now - timedelta(seconds=drift_s), now + timedelta(seconds=lifetime_s)


def expiring_profiles(
    installed: ChargingStation | Mapping[int, Iterable[ChargingProfile]],
    now: datetime,
    margin_s: float = DEFAULT_MARGIN_S,
    *,
    purposes: Iterable[ChargingProfilePurpose | str] = MANAGED_PURPOSES,
) -> list[tuple[int, ChargingProfile]]:
    """Installed profiles whose ``validTo`` falls before ``now + margin_s`` (renew them now).

    Profiles without ``validTo`` never expire. Already expired ones are included (a station
    drops them; the CSMS must send new ones). External constraints are not the CSMS's to renew
    and are left out by default.

    Parameters
    ----------
    installed
        A station mirror, or EVSE id -> profiles (e.g. from ReportChargingProfiles).
    now
        The CSMS's clock (UTC).
    margin_s
        How long before expiry to renew [s] (see the module's margin rule).
    purposes
        The purposes to look at (default: those the CSMS manages).

    Returns
    -------
    list of (evse id, profile), sorted by ``validTo``, then EVSE id and profile id.
    """
    if isinstance(margin_s, bool) or not isinstance(margin_s, (int, float)) or not (
        math.isfinite(margin_s) and margin_s >= 0
    ):
        raise InvalidProblemError(f"must be a finite number >= 0, got {margin_s!r}",
                                  path="margin_s", rule="non-negative")
    wanted = frozenset(ChargingProfilePurpose(p) for p in purposes)
    items = installed.installed if isinstance(installed, ChargingStation) else installed
    horizon = now + timedelta(seconds=margin_s)
    out = [
        (e, p)
        for e in sorted(items)
        for p in items[e]
        if p.charging_profile_purpose in wanted and p.valid_to is not None
        and p.valid_to <= horizon
    ]
    return sorted(out, key=lambda x: (x[1].valid_to, x[0], x[1].id))
