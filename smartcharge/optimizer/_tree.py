"""Very large sites on a pure power tree: a greedy fill, exact when it serves every need,
and a staged max flow under congestion.

The LP of :mod:`smartcharge.optimizer.solve` grows past what a general LP solver does in
seconds at tens of thousands of EVSEs (20,000 EVSEs x 96 steps: 650k columns, 31 s in
HiGHS' interior point alone, and its crossover as long again). When every node limit is a
power limit, or a line-current limit that is one (every EVSE below draws in phase on the
line, e.g. three-phase EVSEs only, so each row is ``c * sum p <= rhs`` with one ``c > 0``),
a plan can be built step by step without a solver (:func:`fill`, vectorised over the
sessions of a step):

1. **fill**: steps cheapest first (then earliest); within a step sessions leaving first
   get capacity first, each at most its maximum, its remaining need and, if it is off in
   that step, at least its minimum; every EVSE's and node's spare capacity is cut in that
   order, so every limit holds by construction;
2. **finish**: a session whose remainder is too small to start a step at its minimum
   (the usual leftover: less than a minimum step's energy) starts one at the minimum and
   the excess comes off its other steps, dearest first, never below the minimum;
3. **check**: :func:`~smartcharge.optimizer._repair.make_safe` on the result (it changes
   nothing but float noise).

**When it is kept.** If every session gets its whole need, no plan delivers more energy
(the needs are an upper bound), so the plan is optimal in the objective's first term, and
fairness does not arise; only the cost (the second term) may be above the LP's:
+0.06 % measured on ``workplace_site`` (5,000 EVSEs). Otherwise :func:`energy_bound_wh`
proves an upper bound on the energy of every plan (a max flow of the relaxation where a
node counts ``p * frac`` instead of ``p`` in a partly plugged step: every plan of the LP is
a flow of it), and the plan is kept if it is within :data:`TREE_GAP` of it.

**Under real congestion** a greedy is far from the LP (1,000 EVSEs at 1.5 kW per EVSE:
8.1 % below the bound where the LP is 0.2 % below it, and a session at 0.3 % of its need
where the LP gives everyone 42 %). Then :func:`solve_tree` tries the staged max flow of
:func:`~smartcharge.optimizer._maxflow.flow_plan` (the bound's own graph, pushed in
shares of each need, cheap steps first, its partly plugged and sub-minimum steps
repaired), tops it up with :func:`fill` (whole steps first, then all with ``finish``) and
:func:`make_safe`; it keeps that plan if it is within :data:`TREE_GAP` of the bound
(20,000 EVSEs at 1.5 kW per EVSE: 0.07 % below), else ``solver="auto"`` solves the LP.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer._maxflow import ancestors_by_depth, energy_bound_wh, flow_plan
from smartcharge.optimizer._network import Network, Rows
from smartcharge.optimizer._repair import energy_wh, make_safe
from smartcharge.optimizer.problem import Objective

__all__ = [
    "TREE_GAP", "TREE_MIN_COLUMNS", "energy_bound_wh", "fill", "solve_tree",
    "tree_applicable", "tree_limits",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

TREE_MIN_COLUMNS = 100_000
"""``solver="auto"`` tries the fill above this many LP power columns (sessions x steps
plugged in) when :func:`tree_applicable`, and keeps it if it serves every need; measured
in ``docs/how-to/fleet.md``."""

TREE_GAP = 1e-3
"""The fill is kept when its energy is at least ``1 - TREE_GAP`` of
:func:`energy_bound_wh` (0.1 %; 1,000 EVSEs at 3 kW per EVSE: 0.047 % below, kept)."""

_SAFE_REL = 1e-9
_SAFE_ABS = 1e-3
"""The fill leaves this much of every limit unused [relative, W], so float rounding in the
sums (cumulative sums of up to 1e9 W: rounding about 1e-7 W) cannot cross a limit."""


def tree_limits(net: Network, rows: list[Rows]) -> FloatArray | None:
    """Every node's limit as a power limit (N, T) [W] on the EV power below it (``inf``:
    none), or ``None`` if a node has a row that is not one (a phasor row with different
    coefficients, a constraint set, V2X export, ramps)."""
    if net.has_constraints or net.has_v2x or net.has_ramp:
        return None
    out = np.full((net.N, net.T), np.inf)
    for n in range(net.N):
        r = rows[n]
        if r.coef.shape[0] == 0 or r.coef.shape[1] == 0:
            continue
        c0 = r.coef[:, :1]
        if np.any(c0 <= 0.0) or np.any(np.abs(r.coef - c0) > 1e-12 * c0):
            return None
        out[n] = np.min(r.rhs / c0, axis=0)
    return out


def tree_applicable(net: Network, obj: Objective, limits: FloatArray | None) -> str | None:
    """``None`` if :func:`solve_tree` applies to this problem (``limits`` from
    :func:`tree_limits`), else the reason it does not."""
    if limits is None:
        return ("a node has a row that is not a power limit (line-to-line or mixed "
                "phasors, a constraint set, V2X or a ramp limit)")
    if obj.demand and net.demand_charge > 0:
        return "the demand charge couples all steps"
    return None


def solve_tree(
    net: Network, rows: list[Rows], allowed: BoolArray, obj: Objective, limits: FloatArray
) -> tuple[FloatArray, bool, str]:
    """Session power (S, T) [W], exactly safe, by the stages of the module docstring
    (``limits`` from :func:`tree_limits`); whether to keep it (every need served: then it
    is energy-optimal; else within :data:`TREE_GAP` of the max-flow bound); a message."""
    step_cost = obj.cost * net.price / 1000.0 + obj.co2_per_kg * net.co2 / 1e6  # per Wh
    sp = fill(net, limits, allowed, np.zeros((net.S, net.T)), step_cost)
    sp = fill(net, limits, allowed, sp, step_cost, finish=True)
    sp, _ = make_safe(net, rows, sp, allowed)
    # no plan gives a session more than its need or its maximum over its window
    window_wh = net.sess_max_w * (net.frac * allowed).sum(axis=1) * net.dt_h
    reachable = np.minimum(net.need_wh, window_wh)
    got = float(energy_wh(net, sp).sum())
    short = float(np.maximum(reachable - energy_wh(net, sp), 0.0).sum())
    if short <= 1e-6 * max(float(reachable.sum()), 1.0):
        return sp, True, "greedy fill: every need served"
    bound = energy_bound_wh(net, allowed, limits)
    gap = (bound - got) / bound if bound > 0 else 0.0
    said = (f"greedy fill: {got / 1000:.3f} kWh, {100 * gap:.3f} % below the bound "
            f"{bound / 1000:.3f} kWh")
    if gap <= TREE_GAP:
        return sp, True, said
    planned = flow_plan(net, allowed, limits, step_cost)
    if planned is None:  # the max-flow solver failed
        return sp, False, said
    fsp = planned[0]
    # top up: whole steps first (a partly plugged step delivers only frac of its power)
    partial = (net.frac > 0) & (net.frac < 1)
    fsp = fill(net, limits, allowed & ~partial, fsp, step_cost)
    fsp = fill(net, limits, allowed, fsp, step_cost, finish=True)
    fsp, _ = make_safe(net, rows, fsp, allowed)
    fgot = float(energy_wh(net, fsp).sum())
    if fgot <= got:  # never worse than the fill
        return sp, False, said
    fgap = (bound - fgot) / bound if bound > 0 else 0.0
    share = energy_wh(net, fsp) / np.where(reachable > 0, reachable, 1.0)
    return fsp, fgap <= TREE_GAP, (
        f"{said}; staged max flow: {fgot / 1000:.3f} kWh, {100 * fgap:.3f} % below it, "
        f"every session at least {100 * float(share.min(initial=1.0)):.1f} % of its need")


def _cut(a: FloatArray, group: IntArray, spare: FloatArray) -> FloatArray:
    """Grant ``a`` (sessions in priority order) while each group's ``spare`` lasts: each
    session gets ``clip(spare - granted before it in its group, 0, a)``; ``group`` -1 is
    not limited."""
    limited = group >= 0
    if not limited.any():
        return a
    j = np.flatnonzero(limited)
    g = group[j]
    o = np.argsort(g, kind="stable")  # groups together, priority order within
    jo, go, ao = j[o], g[o], a[j[o]]
    csum = np.cumsum(ao)
    first = np.r_[True, go[1:] != go[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(go)), 0))
    before = csum - ao - (csum[start] - ao[start])
    out = np.array(a, dtype=np.float64)
    out[jo] = np.clip(spare[go] - before, 0.0, ao)
    return out


def fill(
    net: Network, limits: FloatArray, allowed: BoolArray, sp: FloatArray,
    step_cost: FloatArray, *, finish: bool = False,
) -> FloatArray:
    """Give sessions short of their need more power where every limit has room (stages 1
    and, with ``finish``, 2 of the module docstring). ``limits`` (N, T) [W] from
    :func:`tree_limits`; ``sp`` (S, T) [W] must meet the minimum rule; if it is safe
    (every limit) the result is too, and an EVSE or node already over its limit gets
    nothing more (the staged max flow's plan may leave an EVSE shared by two sessions in
    a step over its maximum: :func:`make_safe` after). ``step_cost`` (T,): the
    objective's cost of a Wh in each step.

    Steps are visited cheapest first (``step_cost``), then earliest; within a step sessions
    leaving first get capacity first. A session's grant is at most
    its maximum minus its power, its remaining need over ``frac * dt``, and its EVSE's
    room; a session off in the step only gets a grant of at least its minimum. The spare
    capacity of every EVSE, then of every node (deepest first) is cut in that order, so no
    limit can break; a session whose cut grant would start it below its minimum gets none,
    and the cut is redone (at most four rounds; after those such grants are dropped, which
    only frees capacity).
    """
    S, T, dt = net.S, net.T, net.dt_h
    last = np.where(allowed.any(axis=1), T - 1 - np.argmax(allowed[:, ::-1], axis=1), -1)
    prio = np.lexsort((np.arange(S), last))  # earliest departure first
    # everything in priority order, steps as rows (one contiguous row per step)
    spt = np.ascontiguousarray(sp[prio].T)
    okt = np.ascontiguousarray((allowed & (net.frac > 0))[prio].T)
    frt = np.ascontiguousarray(net.frac[prio].T)
    anc = ancestors_by_depth(net)[:, prio]
    evse = net.sess_evse[prio]
    pmax = net.sess_max_w[prio]
    pmin = np.minimum(net.sess_min_w, net.sess_max_w)[prio]
    rem = (net.need_wh - energy_wh(net, sp))[prio]
    opened = np.zeros((T, S), dtype=bool)
    for t in np.lexsort((np.arange(T), step_cost)).tolist():
        idx = np.flatnonzero(okt[t] & (rem > 1e-6))  # the candidates, in priority order
        if len(idx) == 0:
            continue
        row = spt[t]
        f, cur = frt[t, idx], row[idx]
        head = np.maximum(np.minimum(pmax[idx] - cur, rem[idx] / (f * dt)), 0.0)
        off = cur <= 0.0
        if finish:  # a remainder too small to start a step: start it at the minimum
            head = np.where(off & (head > 0.0), np.maximum(head, pmin[idx]), head)
        head[off & (head < pmin[idx])] = 0.0
        # spare capacity of every EVSE and node in this step (node: the EV power below)
        e_spare = np.maximum(net.evse_max_w - np.bincount(evse, row, net.E), 0.0)
        e_spare *= 1 - _SAFE_REL
        below = np.zeros(net.N)
        for g in anc:
            inside = g >= 0
            below += np.bincount(g[inside], row[inside], net.N)
        fin = np.isfinite(limits[:, t])
        lim = np.where(fin, limits[:, t], 0.0)
        n_spare = np.where(fin, np.maximum(
            lim - below - _SAFE_REL * np.abs(lim) - _SAFE_ABS, 0.0), np.inf)
        groups = anc[::-1, idx]  # deepest nodes first
        for _ in range(4):
            a = _cut(head, evse[idx], e_spare)
            for g in groups:
                a = _cut(a, g, n_spare)
            bad = off & (a > 0.0) & (a < pmin[idx])
            if not bad.any():
                break
            head[bad] = 0.0
        a[off & (a < pmin[idx])] = 0.0  # dropping a grant never breaks a limit
        row[idx] = cur + a
        rem[idx] -= a * f * dt
        opened[t, idx] = off & (a > 0.0)
    out = np.empty((S, T), dtype=np.float64)
    out[prio] = spt.T
    if finish:
        start = np.empty((S, T), dtype=bool)
        start[prio] = opened.T
        out = _take_back(net, out, start, np.minimum(net.sess_min_w, net.sess_max_w),
                         np.lexsort((np.arange(T), step_cost)))
    return out


def _take_back(
    net: Network, sp: FloatArray, opened: BoolArray, pmin: FloatArray, steps: IntArray
) -> FloatArray:
    """Sessions the finishing fill took past their need (a step started at the minimum
    for a smaller remainder): the excess comes off their other steps, dearest (latest
    first among equals) first, never below the minimum; where it cannot, the step
    started is undone. Only lowers powers, so every limit still holds."""
    excess = energy_wh(net, sp) - net.need_wh
    rank = np.empty(net.T, dtype=np.int64)
    rank[steps] = np.arange(net.T)
    wh = net.frac * net.dt_h
    for s in np.flatnonzero(excess > 1e-9).tolist():
        row = sp[s].copy()
        left = float(excess[s])
        others = np.flatnonzero((row > pmin[s]) & ~opened[s] & (wh[s] > 0))
        for u in others[np.argsort(-rank[others], kind="stable")].tolist():
            take = min((row[u] - pmin[s]) * wh[s, u], left)
            row[u] -= take / wh[s, u]
            left -= take
            if left <= 1e-9:
                break
        if left <= 1e-9:
            sp[s] = row
        else:  # no room above the minimum: undo the started steps
            sp[s, opened[s]] = 0.0
    return sp
