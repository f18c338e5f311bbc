"""Simple online scheduling policies to compare the optimizer with.

Each policy walks the horizon one step at a time and decides that step's power from what is
known then: the sessions plugged in, their declared departure and the energy they still
want. It returns a :class:`~smartcharge.optimizer.plan.Plan` (``Plan.from_session_power``).

- :func:`uncontrolled`: every session at its maximum from arrival until full. Ignores the
  site's limits (that is the point of the comparison) and the minimum-current rule for the
  last, partial step of a session (a real car tapers off when full).
- :func:`equal_share`: sessions are admitted at their minimum in arrival order while every
  limit holds, then all admitted sessions rise together (water-filling) until each one is
  at its maximum, its need, or under a node that is full.
- :func:`earliest_deadline_first`, :func:`least_laxity_first`: sessions in priority order
  (earliest departure; least laxity ``departure - now - remaining / max rate``), each gets
  the most it can given those before it (ACN-Sim's sorted schedulers).

The three controlled policies meet every rule that :func:`~smartcharge.optimizer.verify`
checks, at every step: node power limits and **exact** line-current magnitudes (phasor sums,
delta-wye primaries, site load included), EVSE and vehicle maximums, 0 or at least the
minimum, the session window, and never more energy than the need. Why: a step starts from
zero power, which meets every limit unless the site load alone breaks one (then nothing
below that node may charge); each increase ``x`` along a direction ``g`` keeps a line
current ``|I + x g|`` within its limit ``L`` for ``x`` up to the larger root of the
quadratic ``|g|^2 x^2 + 2 Re(conj(g) I) x + |I|^2 - L^2 = 0`` (the set of such ``x`` is an
interval containing 0, since ``|I + x g|`` is convex); current limits are taken 1e-10 below
their value so float noise never crosses them.

Ties are broken by session id (stable sorts): same input, same plan.

>>> from smartcharge.optimizer.problem import Problem
>>> from smartcharge.optimizer.verify import verify
>>> p = Problem.model_validate({
...     "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
...     "nodes": [{"id": "grid", "max_power_w": 10000}],
...     "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 7000},
...               {"id": "e2", "node": "grid", "kind": "DC", "max_power_w": 7000}],
...     "sessions": [
...         {"id": "a", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
...          "departure": "2024-01-01T01:00:00Z", "energy_wh": 7000},
...         {"id": "b", "evse": "e2", "arrival": "2024-01-01T00:00:00Z",
...          "departure": "2024-01-01T02:00:00Z", "energy_wh": 7000}]})
>>> earliest_deadline_first(p).session_power_w.tolist()
[[7000.0, 0.0], [3000.0, 4000.0]]
>>> equal_share(p).session_power_w.tolist()
[[5000.0, 0.0], [5000.0, 2000.0]]
>>> [len(verify(p, f(p))) for f in (uncontrolled, equal_share, least_laxity_first)]
[1, 0, 0]
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer.plan import Plan, SolverStatus

if TYPE_CHECKING:
    from smartcharge.optimizer._network import Network
    from smartcharge.optimizer.problem import Problem

__all__ = [
    "BASELINES",
    "earliest_deadline_first",
    "equal_share",
    "least_laxity_first",
    "uncontrolled",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ComplexArray = npt.NDArray[np.complex128]

_SHRINK = 1e-10
"""Line-current limits are used ``_SHRINK`` (relative) below their value, against the float
noise of the square roots (power sums are exact to rounding and use the limit itself)."""
_TIE = 1e-9
"""Relative tolerance for "this limit is reached" when water-filling."""
_EPS_WH = 1e-9
"""A session within this much [Wh] of its need is full."""

Policy = Literal["uncontrolled", "equal_share", "edf", "llf"]


def uncontrolled(problem: Problem) -> Plan:
    """Every session at its maximum [W] from arrival until it has its energy.

    Limits of nodes and EVSEs are **not** enforced, and the last step of a session may be
    below its minimum (the car draws what it still needs): use it as the reference of what
    happens without control, not as a safe plan.
    """
    return _run(problem, "uncontrolled")


def equal_share(problem: Problem) -> Plan:
    """Water-filling: admit sessions at their minimum in arrival order, then raise equally.

    At each step, sessions are admitted (at their minimum power) in order of arrival (then
    id) while every limit holds; the others get 0 for that step. All admitted sessions then
    rise by the same power [W] until each is at its maximum, at what it still needs, or
    under a node (or EVSE) that is full. Meets every limit (see the module docstring).
    """
    return _run(problem, "equal_share")


def earliest_deadline_first(problem: Problem) -> Plan:
    """Sessions by departure (then id); each gets the most it can after those before it.

    Meets every limit (see the module docstring); a session whose share would fall below
    its minimum gets 0 for that step.
    """
    return _run(problem, "edf")


def least_laxity_first(problem: Problem) -> Plan:
    """Sessions by laxity (then id); each gets the most it can after those before it.

    Laxity [s] at the start of a step: ``departure - now - remaining_wh / max_w * 3600``,
    the slack left if the session charged at its maximum from now on. Meets every limit
    (see the module docstring).
    """
    return _run(problem, "llf")


BASELINES: dict[str, Callable[[Problem], Plan]] = {
    "uncontrolled": uncontrolled,
    "equal_share": equal_share,
    "edf": earliest_deadline_first,
    "llf": least_laxity_first,
}
"""The policies by short name (``uncontrolled``, ``equal_share``, ``edf``, ``llf``)."""


# ---- the step-by-step engine ---------------------------------------------------------------


class _Limits:
    """Every node limit of a network as dense rows over EVSE power, for one step at a time.

    Line-current rows: ``I = A @ ep + I_base[:, t]`` (complex, one row per node and line
    with a current limit), ``|I| <= L[:, t]``. Power rows: ``P = M @ ep + P_base[:, t] <=
    Pmax[:, t]``. EVSE rows: ``ep <= evse_max``.
    """

    def __init__(self, net: Network) -> None:
        E, T = net.E, net.T
        a_rows: list[ComplexArray] = []
        l_rows: list[FloatArray] = []
        b_rows: list[ComplexArray] = []
        m_rows: list[FloatArray] = []
        p_rows: list[FloatArray] = []
        pb_rows: list[FloatArray] = []
        for n in range(net.N):
            members = net.members[n]
            base = net.base_w if net.base_under[n] else np.zeros(T)
            if np.any(np.isfinite(net.power_limit[n])):
                m = np.zeros(E)
                m[members] = 1.0
                m_rows.append(m)
                p_rows.append(net.power_limit[n].copy())
                pb_rows.append(base)
            if np.any(np.isfinite(net.current_limit[n])):
                for k in range(3):
                    a = np.zeros(E, dtype=np.complex128)
                    a[members] = net.coef[n][:, k]
                    a_rows.append(a)
                    l_rows.append(net.current_limit[n] * (1.0 - _SHRINK))
                    bc = net.base_coef[n][k] if net.base_under[n] else 0j
                    b_rows.append(bc * base.astype(np.complex128))
        self.A = np.array(a_rows, dtype=np.complex128).reshape(len(a_rows), E)
        self.L = np.array(l_rows, dtype=np.float64).reshape(len(l_rows), T)
        self.Ib = np.array(b_rows, dtype=np.complex128).reshape(len(b_rows), T)
        self.M = np.array(m_rows, dtype=np.float64).reshape(len(m_rows), E)
        self.Pmax = np.array(p_rows, dtype=np.float64).reshape(len(p_rows), T)
        self.Pb = np.array(pb_rows, dtype=np.float64).reshape(len(pb_rows), T)
        self.Aon = self.A != 0
        self.Mon = self.M != 0
        self.evse_max = net.evse_max_w.copy()

    def fits(self, ep: FloatArray, t: int) -> bool:
        """Whether EVSE powers ``ep`` meet every limit at step ``t`` (with the margin)."""
        if np.any(ep > self.evse_max):
            return False
        if len(self.A):
            mag = np.abs(self.A @ ep + self.Ib[:, t])
            on = (self.Aon @ (ep > 0)) > 0
            if np.any((mag > self.L[:, t]) & on):
                return False
        if len(self.M):
            p = self.M @ ep + self.Pb[:, t]
            on = (self.Mon @ (ep > 0)) > 0
            if np.any((p > self.Pmax[:, t]) & on):
                return False
        return True

    def room(
        self, cur: ComplexArray, pw: FloatArray, g_cur: ComplexArray, g_pw: FloatArray,
        t: int,
    ) -> tuple[FloatArray, FloatArray]:
        """Largest ``x >= 0`` per current row and per power row such that the row still
        holds after adding ``x`` times the direction (``g_cur``, ``g_pw``) to (``cur``,
        ``pw``); ``inf`` where the direction does not touch the row, 0 where the row is
        already broken (the site load alone)."""
        lim = self.L[:, t]
        a = (g_cur * g_cur.conj()).real
        b = (g_cur.conj() * cur).real
        with np.errstate(invalid="ignore", over="ignore"):
            k = (cur * cur.conj()).real - lim * lim
            disc = np.maximum(b * b - a * k, 0.0)
            x = (np.sqrt(disc) - b) / np.where(a > 0, a, 1.0)
        x = np.where(k > 0, 0.0, np.maximum(x, 0.0))
        x = np.where(np.isnan(x), np.inf, x)  # infinite limit
        x_cur = np.where(a > 0, x, np.inf)
        with np.errstate(invalid="ignore", divide="ignore"):
            xp = (self.Pmax[:, t] - pw) / np.where(g_pw > 0, g_pw, 1.0)
        xp = np.where(np.isnan(xp), np.inf, np.maximum(xp, 0.0))
        x_pw = np.where(g_pw > 0, xp, np.inf)
        return x_cur, x_pw


def _epoch(t: datetime) -> float:
    return (t - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds()


def _run(problem: Problem, policy: Policy) -> Plan:
    net: Network = problem.network()
    S, T = net.S, net.T
    sp = np.zeros((S, T))
    if S == 0 or not np.any(net.frac > 0):
        return Plan.from_session_power(problem, sp, status=SolverStatus.EMPTY,
                                       message=f"{policy}: no session in the horizon")
    lim = _Limits(net)
    t0 = _epoch(net.start)
    sessions = problem.sessions
    dep_s = np.array([_epoch(s.departure) - t0 for s in sessions], dtype=np.float64)
    arr_s = np.array([_epoch(s.arrival) - t0 for s in sessions], dtype=np.float64)
    id_rank = np.empty(S, dtype=np.int64)
    id_rank[np.argsort(np.array([s.id for s in sessions], dtype=object), kind="stable")] = (
        np.arange(S)
    )
    smax, smin = net.sess_max_w, net.sess_min_w
    remaining = net.need_wh.astype(np.float64).copy()
    for t in range(T):
        fr = net.frac[:, t]
        active = (fr > 0) & (remaining > _EPS_WH) & (smax > 0)
        if not active.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            by_need = np.where(active, remaining / np.where(fr > 0, fr, 1.0) / net.dt_h, 0.0)
        cap = np.minimum(smax, by_need)
        if policy == "uncontrolled":
            x = np.where(active, cap, 0.0)
        else:
            ok = active & (cap >= smin) & (cap > 0)
            idx = np.flatnonzero(ok)
            if len(idx) == 0:
                continue
            if policy == "equal_share":
                order = idx[np.lexsort((id_rank[idx], arr_s[idx]))]
                x = _water_fill(net, lim, t, order, cap, smin)
            else:
                now = t * net.step_s
                if policy == "edf":
                    key = dep_s[idx]
                else:
                    with np.errstate(over="ignore"):
                        key = (dep_s[idx] - now) - remaining[idx] / smax[idx] * 3600.0
                order = idx[np.lexsort((id_rank[idx], key))]
                x = _greedy(net, lim, t, order, cap, smin)
        sp[:, t] = x
        remaining = remaining - x * fr * net.dt_h
    status = SolverStatus.FEASIBLE
    msg = {
        "uncontrolled": "uncontrolled: every session at its maximum (limits not enforced)",
        "equal_share": "equal share (water-filling) under every limit",
        "edf": "earliest deadline first under every limit",
        "llf": "least laxity first under every limit",
    }[policy]
    return Plan.from_session_power(problem, sp, status=status, message=msg)


def _greedy(
    net: Network, lim: _Limits, t: int, order: IntArray, cap: FloatArray, smin: FloatArray
) -> FloatArray:
    """Sessions in ``order`` each take the most they can (0 if under their minimum)."""
    S, E = net.S, net.E
    sev = net.sess_evse
    x = np.zeros(S)
    # fast path: everyone at their cap fits
    ep = np.bincount(sev[order], weights=cap[order], minlength=E).astype(np.float64)
    if lim.fits(ep, t):
        x[order] = cap[order]
        return x
    ep = np.zeros(E)
    cur = lim.Ib[:, t].copy()
    pw = lim.Pb[:, t].copy()
    for s in order.tolist():
        e = int(sev[s])
        x_cur, x_pw = lim.room(cur, pw, lim.A[:, e], lim.M[:, e], t)
        best = min(float(cap[s]), float(lim.evse_max[e] - ep[e]),
                   float(x_cur.min(initial=np.inf)), float(x_pw.min(initial=np.inf)))
        if best <= 0 or best < smin[s]:
            continue
        x[s] = best
        ep[e] += best
        cur = cur + lim.A[:, e] * best
        pw = pw + lim.M[:, e] * best
    return x


def _water_fill(
    net: Network, lim: _Limits, t: int, order: IntArray, cap: FloatArray, smin: FloatArray
) -> FloatArray:
    """Admit ``order`` at the minimum while it fits, then raise the admitted equally."""
    S, E = net.S, net.E
    sev = net.sess_evse
    x = np.zeros(S)
    # admission at the minimum: all at once if that fits, else one by one in order
    base = np.minimum(smin, cap)
    ep = np.bincount(sev[order], weights=base[order], minlength=E).astype(np.float64)
    if lim.fits(ep, t):
        admitted = order
        x[order] = base[order]
    else:
        ep = np.zeros(E)
        cur = lim.Ib[:, t].copy()
        pw = lim.Pb[:, t].copy()
        keep: list[int] = []
        for s in order.tolist():
            e = int(sev[s])
            want = float(base[s])
            if want > 0:
                x_cur, x_pw = lim.room(cur, pw, lim.A[:, e], lim.M[:, e], t)
                room = min(float(lim.evse_max[e] - ep[e]), float(x_cur.min(initial=np.inf)),
                           float(x_pw.min(initial=np.inf)))
                if room < want:
                    continue
                x[s] = want
                ep[e] += want
                cur = cur + lim.A[:, e] * want
                pw = pw + lim.M[:, e] * want
            keep.append(s)
        admitted = np.array(keep, dtype=np.int64)
    # water-filling: every rising session gains the same power each round
    rising = admitted[x[admitted] < cap[admitted]]
    for _ in range(S + len(lim.A) + len(lim.M) + E + 1):
        if len(rising) == 0:
            break
        ep = np.bincount(sev, weights=x, minlength=E).astype(np.float64)
        cnt = np.bincount(sev[rising], minlength=E).astype(np.float64)
        cur = lim.A @ ep + lim.Ib[:, t]
        pw = lim.M @ ep + lim.Pb[:, t]
        x_cur, x_pw = lim.room(cur, pw, lim.A @ cnt, lim.M @ cnt, t)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_evse = np.where(cnt > 0, (lim.evse_max - ep) / np.where(cnt > 0, cnt, 1.0),
                              np.inf)
        x_evse = np.maximum(x_evse, 0.0)
        x_sess = cap[rising] - x[rising]
        step = min(float(x_cur.min(initial=np.inf)), float(x_pw.min(initial=np.inf)),
                   float(x_evse.min()), float(x_sess.min()))
        step = max(step, 0.0)
        x[rising] = np.minimum(x[rising] + step, cap[rising])
        reach = step * (1.0 + _TIE) + _TIE
        full_e = np.zeros(E, dtype=bool)
        full_e |= x_evse <= reach
        if len(x_cur):
            full_e |= lim.Aon[x_cur <= reach].any(axis=0)
        if len(x_pw):
            full_e |= lim.Mon[x_pw <= reach].any(axis=0)
        done = (x[rising] >= cap[rising] * (1.0 - _TIE)) | full_e[sev[rising]]
        rising = rising[~done]
    return x
