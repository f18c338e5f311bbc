"""Build stage of :func:`smartcharge.optimizer.optimize`: a problem's arrays -> one LP.

The charging-only LP of the module docstring of :mod:`smartcharge.optimizer.solve` as numpy
arrays (:class:`LpModel`, CSR rows), built block by block from whole arrays (no loop over
sessions or steps), and :func:`solve_model`, the solve stage (the chosen solver, GLOP as a
second try). The row builders are shared with the V2X model (:mod:`._v2x`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer._lp import LpResult, SolverName, pick_solver, solve_lp
from smartcharge.optimizer._network import Network, Rows
from smartcharge.optimizer.problem import Objective

__all__ = [
    "EPS_EARLY", "LpModel", "RowBuilder", "build_lp", "energy_value", "objective_scale",
    "solve_model", "urgency",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

EPS_EARLY = 1e-5
"""Weight of the charge-early tie-breaker, relative to the value of a Wh."""
TIE_RESOLUTION = 1e-5
"""The smallest objective difference the solver must see [objective units per W and step]
(see :func:`objective_scale`)."""
MARGIN_REL = 1e-7
MARGIN_ABS = 1e-4
"""The LP sees every row's right-hand side lowered by this much, so that the solver's own
feasibility tolerance cannot push a plan over a real limit."""


@dataclass
class LpModel:
    lb: FloatArray
    ub: FloatArray
    c: FloatArray
    row_lb: FloatArray
    row_ub: FloatArray
    indptr: IntArray
    indices: IntArray
    data: FloatArray
    vs: IntArray  # session of each power variable
    vt: IntArray  # step of each power variable
    value_wh: float
    integer: IntArray | None = None  # binary on/off columns (MIP mode)
    row_node: IntArray | None = None
    """Node of each row (``-1``: not a node row); with :attr:`row_key`, ``r * T + t`` (row
    ``r`` of the node's :class:`Rows` at LP step ``t``): what :mod:`._lazy` needs."""
    row_key: IntArray | None = None
    n_steps: int = 0
    """LP steps ``T`` of :attr:`row_key`."""

    def session_power(self, x: FloatArray, net: Network) -> FloatArray:
        """The power columns of a solution ``x`` as a session power array (S, T) [W]."""
        raw = np.zeros((net.S, net.T))
        raw[self.vs, self.vt] = x[: len(self.vs)]
        return raw


def urgency(net: Network, allowed: BoolArray) -> FloatArray:
    """(S,) each session's need over its maximum power times its plugged-in hours where it
    may charge, in [0, 1] (1: it needs every one of them at full power; 0: no such hour)."""
    hours = (net.frac * allowed).sum(axis=1) * net.dt_h
    full = net.sess_max_w * hours  # [Wh]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(full > 0, net.need_wh / full, 0.0)
    return np.asarray(np.clip(u, 0.0, 1.0), dtype=np.float64)


def objective_scale(net: Network) -> float:
    """The factor every objective coefficient is multiplied by before the solver sees it.

    The smallest difference the objective must resolve is one step of the charge-early
    tie-break: ``EPS_EARLY * dt_h / T`` per W (3e-9 with 5-minute steps over a day), far
    below the solvers' absolute dual feasibility tolerance (1e-7 for HiGHS and GLOP), so a
    solver could stop at a vertex that charges later than it should (HiGHS did: a lone car
    at 0 W for its first steps). Scaled so that difference is :data:`TIE_RESOLUTION`, 100
    times the tolerance; the optimum is the same, only the solver's view of it changes.
    """
    return max(1.0, TIE_RESOLUTION * float(net.T) / (EPS_EARLY * float(net.dt_h)))


def energy_value(net: Network, obj: Objective) -> float:
    """``V`` [currency/Wh]: ten times the most a Wh can cost, at least 1e-3 (1 per kWh)."""
    per_wh = obj.cost * float(np.max(np.abs(net.price), initial=0.0)) / 1000.0
    per_wh += obj.co2_per_kg * float(np.max(net.co2, initial=0.0)) / 1e6
    if obj.demand:
        per_wh += net.demand_charge / 1000.0 / net.dt_h
    return max(10.0 * per_wh, 1e-3)


class RowBuilder:
    """The rows of an LP, collected block by block as coordinate triples, then sorted into
    CSR form by :meth:`csr`. Every block numbers its rows from 0; :meth:`add` shifts them."""

    def __init__(self) -> None:
        self.rows: list[IntArray] = []
        self.cols: list[IntArray] = []
        self.vals: list[FloatArray] = []
        self.lo: list[FloatArray] = []
        self.hi: list[FloatArray] = []
        self.n = 0

    def add(
        self, rid: list[IntArray], cols: list[IntArray], vals: list[FloatArray],
        lo: FloatArray, hi: FloatArray,
    ) -> None:
        """A block of ``len(lo)`` rows ``lo <= A x <= hi``: entry ``i`` of piece ``j`` is
        ``A[rid[j][i], cols[j][i]] = vals[j][i]`` (row numbers within the block)."""
        self.rows += [self.n + r for r in rid]
        self.cols += cols
        self.vals += vals
        self.lo.append(lo)
        self.hi.append(hi)
        self.n += len(lo)

    def csr(self) -> tuple[FloatArray, FloatArray, IntArray, IntArray, FloatArray]:
        """``row_lb, row_ub, indptr, indices, data``."""
        rr = np.concatenate(self.rows)
        cc = np.concatenate(self.cols)
        vv = np.concatenate(self.vals)
        # one stable sort on row * columns + column (the order of np.lexsort((cc, rr)),
        # a few times faster)
        order = np.argsort(rr * (int(cc.max(initial=0)) + 1) + cc, kind="stable")
        rr, cc, vv = rr[order], cc[order], vv[order]
        indptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rr, minlength=self.n), out=indptr[1:])
        return (np.concatenate(self.lo), np.concatenate(self.hi), indptr,
                cc.astype(np.int64), vv.astype(np.float64))


def tiers(
    net: Network, obj: Objective, active: IntArray
) -> tuple[int, FloatArray, FloatArray]:
    """``K``, the costs and the upper bounds [Wh] of the tier columns ``y[s,k]`` of the
    sessions ``active`` (session-major)."""
    K = obj.tiers if obj.fairness > 0 else 1
    tier = np.arange(K)
    bonus = 1.0 + (obj.fairness * (K - 1 - tier) / (K - 1) if K > 1 else np.zeros(1))
    c_y = -(net.priority[active][:, None] * bonus[None, :]).reshape(-1)
    ub_y = np.repeat(net.need_wh[active] / K, K)
    return K, c_y, ub_y


def energy_rows(
    m: RowBuilder, net: Network, active: IntArray, K: int, vs: IntArray, wh: FloatArray
) -> None:
    """(1) Energy of each active session = the sum of its tiers: ``sum_t wh p - sum_k y =
    0``; power columns ``0..len(vs)-1`` with energy ``wh`` [Wh per W] each, tiers next."""
    nv, ns = len(vs), len(active)
    pos = np.full(net.S, -1, dtype=np.int64)
    pos[active] = np.arange(ns)
    m.add([pos[vs], np.repeat(np.arange(ns), K)], [np.arange(nv), nv + np.arange(ns * K)],
          [wh, -np.ones(ns * K)], np.zeros(ns), np.zeros(ns))


def evse_rows(
    m: RowBuilder, net: Network, vs: IntArray, vt: IntArray, sign: FloatArray, both_ways: bool
) -> None:
    """(2) The EVSE maximum on the (net) power where two sessions share a step (columns
    of one session, e.g. its charge and discharge, count as one); ``both_ways`` bounds it
    below by minus the maximum too."""
    T = net.T
    key = net.sess_evse[vs] * T + vt
    pair = vs * T + vt
    uk, kinv = np.unique(key, return_inverse=True)
    sessions_per_key = np.bincount(kinv[np.unique(pair, return_index=True)[1]],
                                   minlength=len(uk))
    shared = sessions_per_key[kinv] > 1
    if shared.any():
        sk, sinv = np.unique(key[shared], return_inverse=True)
        emax = net.evse_max_w[sk // T]
        m.add([sinv], [np.flatnonzero(shared)], [sign[shared]],
              -emax if both_ways else np.full(len(sk), -np.inf), emax)


def margin(b: FloatArray) -> FloatArray:
    """A right-hand side lowered by the LP's safety margin."""
    return np.asarray(b - MARGIN_REL * np.abs(b) - MARGIN_ABS, dtype=np.float64)


def node_blocks(
    net: Network, rows: list[Rows], vs: IntArray, vt: IntArray, ub: FloatArray,
    sign: FloatArray | None = None,
) -> Iterator[tuple[IntArray, IntArray, FloatArray, FloatArray]]:
    """(3) The node rows that can bind, node by node: ``(row of each entry, column,
    coefficient, right-hand side of each row)``; rows are ``(row, step)`` pairs of
    :meth:`Network.rows` on the power columns ``(vs, vt)`` (times ``sign``: -1 for a
    discharge column), kept only where the columns at their upper bounds ``ub`` could
    break them."""
    for _, _, rid, cols, vals, b in node_blocks_keyed(net, rows, vs, vt, ub, sign):
        yield rid, cols, vals, b


def node_blocks_keyed(
    net: Network, rows: list[Rows], vs: IntArray, vt: IntArray, ub: FloatArray,
    sign: FloatArray | None = None,
) -> Iterator[tuple[int, IntArray, IntArray, IntArray, FloatArray, FloatArray]]:
    """:func:`node_blocks` with, first, the node ``n`` and each row's key ``r * T + t``
    (row ``r`` of ``rows[n]`` at step ``t``)."""
    T = net.T
    v_evse = net.sess_evse[vs]
    # the columns of each EVSE, ascending (one sort, not a pass over all columns per node)
    by_evse = np.argsort(v_evse, kind="stable")
    ptr = np.searchsorted(v_evse[by_evse], np.arange(net.E + 1))
    for n in range(net.N):
        r = rows[n]
        R = r.coef.shape[0]
        mm = len(net.members[n])
        if R == 0 or mm == 0:
            continue
        J, pos = _member_columns(by_evse, ptr, net.members[n])
        if len(J) == 0:
            continue
        coef = r.coef[:, pos]  # (R, |J|)
        if sign is not None:
            coef = coef * sign[J][None, :]
        keys = (np.arange(R)[:, None] * T + vt[J][None, :]).reshape(-1)
        vals = coef.reshape(-1)
        cols = np.tile(J, R)
        rhs = r.rhs.reshape(-1)  # (R*T,) indexed by key
        worst = np.bincount(keys, weights=np.maximum(vals, 0.0) * np.tile(ub[J], R),
                            minlength=R * T)
        binding = np.isfinite(rhs) & (worst > rhs)
        keep = binding[keys] & (vals != 0.0)
        if not keep.any():
            continue
        # np.unique(keys[keep], return_inverse=True) without the sort: keys are < R * T
        kk = keys[keep]
        present = np.zeros(R * T, dtype=bool)
        present[kk] = True
        used = np.flatnonzero(present)
        rid = (np.cumsum(present) - 1)[kk]
        yield n, used, rid, cols[keep], vals[keep], rhs[used]


def _member_columns(
    by_evse: IntArray, ptr: IntArray, members: IntArray
) -> tuple[IntArray, IntArray]:
    """The columns of the EVSEs ``members`` in ascending order, and for each the position
    of its EVSE in ``members``; ``by_evse`` sorts the columns by EVSE (stable), ``ptr[e]``
    is where EVSE ``e``'s columns begin in it."""
    counts = ptr[members + 1] - ptr[members]
    total = int(counts.sum())
    first = np.repeat(ptr[members] - (np.cumsum(counts) - counts), counts)
    cols = by_evse[first + np.arange(total)]
    pos = np.repeat(np.arange(len(members)), counts)
    k = np.argsort(cols, kind="stable")
    return cols[k], pos[k]


def peak_rows(m: RowBuilder, net: Network, vt: IntArray, vals: FloatArray, col: int) -> float:
    """(4) ``peak >= root power`` at every step (site load included), the peak in column
    ``col``; returns the peak's lower bound [W].

    The bound is never below 0 (a demand charge is paid on the import peak, never refunded
    on exports: :attr:`Plan.demand_cost` uses ``max(peak, 0)``). Where every coefficient is
    ``>= 0`` (charging only) the root power is at least the site load at every step, so the
    bound is the site load's own peak; where a column discharges (``vals < 0``, V2X) the
    cars may cover the site load and shave the import peak below the site load's own peak,
    so the bound is 0 (as in the storage model)."""
    T = net.T
    base = net.base_w if net.base_under[net.root] else np.zeros(T)
    m.add([vt, np.arange(T)], [np.arange(len(vt)), np.full(T, col)], [vals, -np.ones(T)],
          np.full(T, -np.inf), -base)
    if len(vals) and float(vals.min()) < 0:
        return 0.0
    return max(float(base.max()), 0.0)


def ramp_rows(m: RowBuilder, net: Network, vs: IntArray, vt: IntArray, sign: FloatArray) -> None:
    """Ramp limits: for every node with ``r = max_ramp_w`` and its EV power ``P[t]`` (the
    power columns ``(vs, vt)`` below it, times ``sign``), the two rows ``P[t] - P[t-1] <= r``
    and ``P[t-1] - P[t] <= r`` for ``t = 1..T-1`` and, with an initial power ``P0``,
    ``P[0] <= P0 + r`` (right-hand sides lowered by the margin, never below 0, so all-zero
    stays feasible)."""
    T = net.T
    v_evse = net.sess_evse[vs]
    for n in np.flatnonzero(np.isfinite(net.ramp_w)).tolist():
        inside = np.zeros(net.E, dtype=bool)
        inside[net.members[n]] = True
        J = np.flatnonzero(inside[v_evse])
        r = float(net.ramp_w[n])
        cap = max(r - MARGIN_REL * r - MARGIN_ABS, 0.0)
        if T > 1 and len(J):
            t, g = vt[J], sign[J]
            now, before = t >= 1, t <= T - 2  # column in P[t] of row t, in P[t-1] of row t+1
            up = [t[now] - 1, t[before]]  # up rows 0..T-2, down rows T-1..2T-3
            m.add(up + [T - 1 + u for u in up], [J[now], J[before]] * 2,
                  [g[now], -g[before], -g[now], g[before]],
                  np.full(2 * (T - 1), -np.inf), np.full(2 * (T - 1), cap))
        p0 = float(net.initial_w[n])
        if np.isfinite(p0) and T > 0:
            first = J[vt[J] == 0]
            b = p0 + r
            m.add([np.zeros(len(first), dtype=np.int64)], [first], [sign[first]],
                  np.full(1, -np.inf), np.full(1, max(b - MARGIN_REL * b - MARGIN_ABS, 0.0)))


def onoff_rows(
    m: RowBuilder, cols: IntArray, z: IntArray, mx: FloatArray, mn: FloatArray
) -> None:
    """0 or at least the minimum: ``mn z <= p <= mx z`` for power column ``cols[i]`` and
    its binary ``z[i]``."""
    k = len(cols)
    m.add([np.arange(k), np.arange(k)], [cols, z], [np.ones(k), -mx],
          np.full(k, -np.inf), np.zeros(k))
    m.add([np.arange(k), np.arange(k)], [cols, z], [np.ones(k), -mn],
          np.zeros(k), np.full(k, np.inf))



def build_lp(
    net: Network, rows: list[Rows], allowed: BoolArray, obj: Objective, mip: bool = False
) -> LpModel:
    T = net.T
    vs, vt = np.nonzero(allowed)
    vs = vs.astype(np.int64)
    vt = vt.astype(np.int64)
    nv = len(vs)
    V = energy_value(net, obj)
    scale = 1.0 / V  # objective in units of "Wh of value"
    wh_per_w = net.frac[vs, vt] * net.dt_h  # energy [Wh] per W in that step
    c_p = wh_per_w * (
        obj.cost * net.price[vt] / 1000.0 + obj.co2_per_kg * net.co2[vt] / 1e6
    ) * scale
    if obj.early:
        early = wh_per_w * max(EPS_EARLY, obj.front_load) * (vt + 1) / T
        if obj.urgency > 0:
            early = early * (1.0 + obj.urgency * urgency(net, allowed)[vs])
        c_p = c_p + early
    active = np.flatnonzero(allowed.any(axis=1))
    K, c_y, ub_y = tiers(net, obj, active)
    ns = len(active)
    use_peak = obj.demand and net.demand_charge > 0
    n_cols = nv + ns * K + (1 if use_peak else 0)
    lb = np.zeros(n_cols)
    ub = np.concatenate([net.sess_max_w[vs], ub_y, [np.inf] if use_peak else []])
    c = np.concatenate([c_p, c_y, [net.demand_charge / 1000.0 * scale] if use_peak else []])

    m = RowBuilder()
    energy_rows(m, net, active, K, vs, wh_per_w)  # (1)
    evse_rows(m, net, vs, vt, np.ones(nv), both_ways=False)  # (2)
    row_node, row_key = [np.full(m.n, -1, dtype=np.int64)], [np.full(m.n, -1, dtype=np.int64)]
    for n, keys, rid, cols, vals, b in node_blocks_keyed(net, rows, vs, vt,
                                                         net.sess_max_w[vs]):  # (3)
        m.add([rid], [cols], [vals], np.full(len(b), -np.inf), np.maximum(margin(b), 0.0))
        row_node.append(np.full(len(b), n, dtype=np.int64))
        row_key.append(keys.astype(np.int64))
    n_node_end = m.n
    if use_peak:  # (4)
        lb[-1] = peak_rows(m, net, vt, np.ones(nv), n_cols - 1)
    if net.has_ramp:
        ramp_rows(m, net, vs, vt, np.ones(nv))

    integer = None
    if mip:
        # z[s,t] in {0,1}: min * z <= p <= max * z
        z0 = n_cols
        mn = np.minimum(net.sess_min_w[vs], net.sess_max_w[vs])
        lb = np.concatenate([lb, np.zeros(nv)])
        ub = np.concatenate([ub, np.ones(nv)])
        c = np.concatenate([c, np.zeros(nv)])
        n_cols += nv
        integer = z0 + np.arange(nv, dtype=np.int64)
        onoff_rows(m, np.arange(nv), integer, net.sess_max_w[vs], mn)

    tail = np.full(m.n - n_node_end, -1, dtype=np.int64)
    return LpModel(lb, ub, c * objective_scale(net), *m.csr(), vs, vt, V, integer,
                   np.concatenate([*row_node, tail]), np.concatenate([*row_key, tail]), T)


def solve_model(
    lp: LpModel, lb: FloatArray, ub: FloatArray, time_limit_s: float | None, t_start: float,
    lp_path: Literal["auto", "sparse", "proto"], solver: SolverName,
) -> LpResult:
    """Solve with ``solver`` (``"auto"``: by size, :func:`pick_solver`), then GLOP if HiGHS
    fails (HiGHS if GLOP chosen by ``"auto"`` fails); errors become a failed result."""
    res = LpResult("failed", None, np.nan, "not solved", 0.0, 0.0, lp_path)
    notes = []
    first = pick_solver(solver, len(lp.lb))
    second: list[SolverName] = ["glop"] if first.startswith("highs") else (
        ["highs"] if solver == "auto" and first == "glop" else [])
    for name in [first, *second]:
        left = None if time_limit_s is None else time_limit_s - (time.perf_counter() - t_start)
        if left is not None and left <= 0:
            notes.append("time limit reached")
            break
        try:
            res = solve_lp(lb, ub, lp.c, lp.row_lb, lp.row_ub, lp.indptr, lp.indices, lp.data,
                           time_limit_s=left, path=lp_path, solver=name, integer=lp.integer)
        except Exception as exc:  # any solver trouble means: try the next, then fall back
            res = LpResult("failed", None, np.nan, f"{name} error: {exc!r}", 0.0, 0.0,
                           lp_path)
        if res.x is not None:
            break  # a solution: no second try
        # "infeasible" gets the second try too: the first LP is feasible by construction
        # (all off), so a solver that says otherwise hit its numerical limits (GLOP on an
        # energy of 5e-83 Wh next to watts)
        notes.append(res.message)
    if res.x is None and notes:
        res = LpResult(res.status, None, np.nan, "; ".join(notes), res.build_s, res.solve_s,
                       res.path)
    return res
