"""Pure power trees as a max flow: the energy bound, and staged flows that are plans.

One graph, in units of 1 mWh (capacities rounded up, so its max flow bounds every plan)::

    source -> (root, t) -> ... -> (node of the EVSE, t) -> session s -> sink
              cap limit[n, t] * dt        cap max_s * frac * dt     cap need_s

A plan's energies ``p * frac * dt`` are a flow of it (a node's arc then carries
``sum p * frac * dt <= sum p * dt``, within its limit), so its max flow is an upper bound
on the energy of every plan (:func:`energy_bound_wh`). It is a relaxation in a partly
plugged step only (a node counts ``p * frac`` there instead of ``p``) and in ignoring the
EVSE maxima and the minimum-current rule.

:func:`staged_flow` makes the max flow a plan worth repairing: the flow is pushed in
passes, each a max flow on the residual graph of the previous ones (so no pass takes
energy back from a session's arc to the sink, and the last pass is a max flow of the whole
graph, i.e. the bound itself). Pass by pass each session's arc to the sink is capped at a
share of its need (:data:`LEVELS`: every session first gets up to half its need before
any gets more, and so on), and the session arcs open by rank (:func:`arc_rank`): up to half
of each need only the cheap whole steps, then the cheap, then the dearer whole steps; partly
plugged steps open only at the end, the ones plugged in at least half first (they cost the
node ``1 / frac`` W per W delivered).

:func:`flow_plan` turns it into power: ``p = e / (frac * dt)``; :func:`shed_partial` lowers
partly plugged steps where a node is then over its limit (least plugged first); steps below
the session's minimum are set to 0 and, once, their arcs are closed and the flow augmented
again without them. Measured on ``workplace_site`` with 1.5 kW of transformer per EVSE
(``docs/how-to/fleet.md``), after :mod:`._tree`'s top-up fill: 0.09 % below the bound at
5,000 EVSEs (the LP: 0.10 %), 0.07 % at 20,000.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer._network import Network

__all__ = [
    "LEVELS", "FlowGraph", "ancestors_by_depth", "augment", "energy_bound_wh", "flow_graph",
    "flow_plan", "flows_of", "power_of", "session_energy", "shed_partial", "staged_flow",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

UNIT_PER_WH = 1000.0
"""Flow unit: 1 mWh."""

LEVELS = (0.5, 0.75, 1.0)
"""The shares of each need the staged flow fills in turn. Measured at 5,000 EVSEs with
1.5 kW of transformer per EVSE (after the top-up fill; 20,000 EVSEs alike): these 0.088 %
below the bound with the least-served session at 42 % of its need, in 7 max flows;
(0.25, 0.5, 0.75, 1) 0.087 % and 39 % in 8; (0.25, 0.5, 1) 0.157 %; (0.5, 1) 0.170 %."""


@dataclass(frozen=True)
class FlowGraph:
    """The graph of the module docstring as arc arrays.

    Attributes
    ----------
    tail, head, cap
        One entry per arc [graph node, graph node, mWh]: the node arcs (N * T, node-major),
        then the session arcs (one per allowed (session, step), in ``np.nonzero`` order),
        then the sink arcs (one per session).
    vs, vt
        Session and step of each session arc.
    source, sink
        The two terminal graph nodes.
    first_session_arc
        Index of the first session arc (N * T).
    """

    tail: IntArray
    head: IntArray
    cap: IntArray
    vs: IntArray
    vt: IntArray
    source: int
    sink: int
    first_session_arc: int


def flow_graph(net: Network, allowed: BoolArray, limits: FloatArray) -> FlowGraph:
    """The graph of the module docstring for ``limits`` (N, T) [W] (``inf``: none)."""
    N, T, S = net.N, net.T, net.S
    src, snk = N * T + S, N * T + S + 1
    tt = np.arange(T, dtype=np.int64)
    fin = np.isfinite(limits)
    need_cap = np.ceil(net.need_wh * UNIT_PER_WH)
    # no limit: one mWh more than every session together can take, so the arc never binds
    unlimited = float(need_cap.sum()) + 1.0
    node_cap = np.where(fin, np.ceil(np.maximum(np.where(fin, limits, 0.0), 0.0)
                                     * net.dt_h * UNIT_PER_WH), unlimited)
    parent = net.parent[:, None]
    vs, vt = np.nonzero(allowed)
    vs, vt = vs.astype(np.int64), vt.astype(np.int64)
    tail = np.concatenate([
        np.where(parent < 0, src, parent * T + tt[None, :]).ravel(),
        net.evse_node[net.sess_evse[vs]] * T + vt,
        N * T + np.arange(S, dtype=np.int64)]).astype(np.int64)
    head = np.concatenate([
        (np.arange(N, dtype=np.int64)[:, None] * T + tt[None, :]).ravel(),
        N * T + vs, np.full(S, snk, dtype=np.int64)]).astype(np.int64)
    cap = np.concatenate([
        node_cap.ravel(),
        np.ceil(net.sess_max_w[vs] * net.frac[vs, vt] * net.dt_h * UNIT_PER_WH),
        need_cap]).astype(np.int64)
    return FlowGraph(tail, head, cap, vs, vt, src, snk, N * T)


def _max_flow(tail: IntArray, head: IntArray, cap: IntArray, src: int, snk: int
              ) -> IntArray | None:
    """The flow [mWh] on each arc of a max flow (OR-Tools' ``SimpleMaxFlow``), ``None``
    if it fails."""
    mf: Any = importlib.import_module("ortools.graph.python.max_flow")
    flow = mf.SimpleMaxFlow()
    arcs = flow.add_arcs_with_capacity(tail, head, cap)
    if flow.solve(src, snk) != flow.OPTIMAL:
        return None
    return np.asarray(flow.flows(arcs), dtype=np.int64)


def energy_bound_wh(net: Network, allowed: BoolArray, limits: FloatArray) -> float:
    """An upper bound [Wh] on the energy of every plan: the max flow of
    :func:`flow_graph` (the module docstring says why; each window bound instead if the
    solver fails)."""
    g = flow_graph(net, allowed, limits)
    f = _max_flow(g.tail, g.head, g.cap, g.source, g.sink)
    if f is None:
        window_wh = net.sess_max_w * (net.frac * allowed).sum(axis=1) * net.dt_h
        return float(np.minimum(net.need_wh, window_wh).sum())
    return float(f[-net.S:].sum()) / UNIT_PER_WH if net.S else 0.0


def augment(g: FlowGraph, flows: IntArray, cap: IntArray) -> IntArray | None:
    """A max flow [mWh per arc] of ``g`` with capacities ``cap`` (each at least
    ``flows``), found from ``flows`` on its residual graph: flow already on an arc to the
    sink is never taken back. ``None`` if the solver fails.

    The residual graph has only the arcs with room: forward where ``cap > flows``,
    backward where ``flows > 0`` (except into the source or out of the sink)."""
    first_sink = g.first_session_arc + len(g.vs)
    fwd = np.flatnonzero(cap > flows)
    back = np.flatnonzero((flows[:first_sink] > 0) & (g.tail[:first_sink] != g.source))
    tail = np.concatenate([g.tail[fwd], g.head[back]])
    head = np.concatenate([g.head[fwd], g.tail[back]])
    f = _max_flow(tail, head, np.concatenate([cap[fwd] - flows[fwd], flows[back]]),
                  g.source, g.sink)
    if f is None:
        return None
    out: IntArray = flows.copy()
    out[fwd] += f[:len(fwd)]
    out[back] -= f[len(fwd):]
    return out


def arc_rank(net: Network, g: FlowGraph, step_cost: FloatArray) -> IntArray:
    """Rank of each session arc: 0 a whole step at or below the median cost of the
    session arcs' steps, 1 a dearer whole step, 2 a step plugged in at least half of it,
    3 a step plugged in less."""
    cost_vt = step_cost[g.vt]
    rank = np.where(cost_vt <= (np.median(cost_vt) if len(g.vt) else 0.0), 0, 1)
    frac = net.frac[g.vs, g.vt]
    rank[frac < 1.0] = 2
    rank[frac < 0.5] = 3
    return rank.astype(np.int64)


def staged_flow(
    net: Network, g: FlowGraph, step_cost: FloatArray,
    levels: tuple[float, ...] = LEVELS,
) -> IntArray | None:
    """A max flow [mWh per arc] of ``g`` (:func:`flow_graph`) pushed in stages (module
    docstring); ``None`` if the solver fails. Its value is the bound of
    :func:`energy_bound_wh`.

    ``levels``: increasing shares of each session's need, the last 1. The session arcs
    open by :func:`arc_rank` (``step_cost`` (T,): the objective's cost of a Wh in each
    step): at shares up to 0.5 the cheap whole steps only, above it the cheap then the
    dear ones, partly plugged steps only in the last two passes.
    """
    S = net.S
    first = g.first_session_arc
    sess = slice(first, first + len(g.vs))
    need_cap = g.cap[-S:]
    rank = arc_rank(net, g, step_cost)
    flows: IntArray = np.zeros(len(g.tail), dtype=np.int64)
    # cheap whole steps only up to half of each need, then cheap and dear ones; partly
    # plugged steps last (measured at 5,000 EVSEs: this order served more sessions better
    # and delivered more than cheap-then-dear at every share, at the same cost)
    passes = [(level, r) for level in levels for r in ((0, 1) if level > 0.5 else (0,))]
    passes += [(1.0, 2), (1.0, 3)]
    for level, r in passes:
        if r < 3 and not (rank == r).any():
            continue
        cap = g.cap.copy()
        cap[-S:] = need_cap if level >= 1.0 else np.minimum(
            need_cap, np.ceil(level * need_cap).astype(np.int64))
        cap[sess] = np.where(rank <= r, cap[sess], np.minimum(cap[sess], flows[sess]))
        got = augment(g, flows, cap)
        if got is None:
            return None
        flows = got
    return flows


def session_energy(net: Network, g: FlowGraph, flows: IntArray) -> FloatArray:
    """Energy (S, T) [Wh] of each session in each step of ``flows`` [mWh per arc]."""
    first = g.first_session_arc
    energy = np.zeros((net.S, net.T))
    energy[g.vs, g.vt] = flows[first:first + len(g.vs)] / UNIT_PER_WH
    return energy


def flows_of(net: Network, g: FlowGraph, energy: FloatArray) -> IntArray:
    """The flow [mWh per arc] of a plan's energies (S, T) [Wh] (each floored to whole
    mWh): a flow of ``g`` when the plan is safe (a node carries ``sum p * frac * dt``,
    at most its limit times ``dt``)."""
    S, T = net.S, net.T
    e = np.floor(energy * UNIT_PER_WH)
    first = g.first_session_arc
    out = np.zeros(len(g.tail), dtype=np.int64)
    out[first:first + len(g.vs)] = e[g.vs, g.vt].astype(np.int64)
    out[-S:] = e.sum(axis=1).astype(np.int64)
    node = np.zeros((net.N, T))
    for grp in ancestors_by_depth(net):
        node += _node_sums(grp, e, net.N)
    out[:first] = node.ravel().astype(np.int64)
    return out


def ancestors_by_depth(net: Network) -> IntArray:
    """(depth levels, S): the node above each session's EVSE at each depth (-1: none),
    the root at depth 0."""
    depth = np.zeros(net.N, dtype=np.int64)
    for n in net.order[::-1].tolist():  # parents before children
        p = int(net.parent[n])
        depth[n] = 0 if p < 0 else depth[p] + 1
    cur = net.evse_node[net.sess_evse].copy()
    out = np.full((int(depth.max()) + 1, net.S), -1, dtype=np.int64)
    idx = np.arange(net.S)
    while len(cur):
        out[depth[cur], idx] = cur
        up = net.parent[cur]
        keep = up >= 0
        cur, idx = up[keep], idx[keep]
    return out


def _node_sums(group: IntArray, sp: FloatArray, n_nodes: int) -> FloatArray:
    """(n_nodes, T): the sum of ``sp`` (S, T) over the sessions of each group (-1: none)."""
    T = sp.shape[1]
    inside = group >= 0
    key = (group[inside][:, None] * T + np.arange(T)[None, :]).ravel()
    sums = np.bincount(key, sp[inside].ravel(), n_nodes * T).reshape(n_nodes, T)
    return np.asarray(sums, dtype=np.float64)


def shed_partial(
    net: Network, limits: FloatArray, sp: FloatArray, partial: BoolArray
) -> FloatArray:
    """Session power (S, T) [W] with the ``partial`` entries (partly plugged steps)
    lowered where a node is over its limit (N, T) [W], deepest nodes first, the least
    plugged-in first (they deliver the least energy per W of the node); the whole-step
    entries are left alone (a node whose whole-step load alone is over its limit stays
    over it: :func:`make_safe` then scales it).

    The flow of :func:`staged_flow` counts ``p * frac`` at a node in a partly plugged
    step; its power ``p = e / (frac * dt)`` puts ``p`` there, possibly over the limit.
    """
    T = net.T
    out: FloatArray = sp.copy()
    ps, pt = np.nonzero(partial & (sp > 0))
    if len(ps) == 0:
        return out
    fin = np.isfinite(limits)
    lim = np.where(fin, limits, 0.0)
    for g in ancestors_by_depth(net)[::-1]:
        over = np.where(fin, _node_sums(g, out, net.N) - lim, 0.0).ravel()
        keep = g[ps] >= 0
        s, t = ps[keep], pt[keep]
        key = g[s] * T + t
        o = np.lexsort((s, net.frac[s, t], key))  # per node and step, least plugged first
        s, t, key = s[o], t[o], key[o]
        p = out[s, t]
        csum = np.cumsum(p)
        first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=bool)
        start = np.maximum.accumulate(np.where(first, np.arange(len(key)), 0))
        before = csum - p - (csum[start] - p[start])
        cut = np.clip(over[key] - before, 0.0, p)
        out[s, t] = p - cut
    return out


def power_of(net: Network, energy: FloatArray) -> FloatArray:
    """Session power (S, T) [W] that delivers ``energy`` (S, T) [Wh]: ``e / (frac * dt)``
    (0 where the session is not plugged in)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(net.frac > 0, energy / (net.frac * net.dt_h), 0.0)
    return np.asarray(p, dtype=np.float64)


def flow_plan(
    net: Network, allowed: BoolArray, limits: FloatArray,
    step_cost: FloatArray, *, levels: tuple[float, ...] = LEVELS,
    rounds: int = 1,
) -> tuple[FloatArray, float] | None:
    """Session power (S, T) [W] from the staged max flow, and the max flow's value [Wh]
    (an upper bound on every plan's energy); ``None`` if the solver fails. The power
    meets every node limit, the minimum-current rule and each session's need and maximum
    (up to the flow's rounding to whole mWh), not the EVSE maxima where two sessions
    share an EVSE in a step: :func:`make_safe` it.

    1. :func:`staged_flow` (``levels``), its energies as powers (:func:`power_of`);
    2. :func:`shed_partial`; the steps the flow gave less than the session's minimum are
       set to 0 (the minimum-current rule);
    3. while 2 set steps to 0 (at most ``rounds`` times): those steps' arcs are closed,
       the partly plugged ones capped at what they carry, and the plan's flow
       (:func:`flows_of`) is augmented, first with each session's arc to the sink capped
       at what it carried before 2 (the sessions that lost energy get it back first),
       then to a max flow of that graph; then 2 again.
    """
    g = flow_graph(net, allowed, limits)
    flows = staged_flow(net, g, step_cost, levels)
    if flows is None:
        return None
    bound = float(flows[-net.S:].sum()) / UNIT_PER_WH
    partial = allowed & (net.frac > 0) & (net.frac < 1)
    sess = slice(g.first_session_arc, g.first_session_arc + len(g.vs))
    closed = np.zeros(len(g.vs), dtype=bool)
    capped = partial[g.vs, g.vt]
    mn = np.minimum(net.sess_min_w, net.sess_max_w)[:, None]
    for k in range(rounds + 1):
        raw = np.minimum(power_of(net, session_energy(net, g, flows)),
                         net.sess_max_w[:, None])  # arcs round up to a whole mWh
        sp = shed_partial(net, limits, raw, partial)
        low = (sp > 0) & (sp < mn * (1 - 1e-9))
        sp[low] = 0.0
        dropped = low[g.vs, g.vt]
        if k == rounds or not dropped.any():
            break
        closed |= dropped
        target = flows[-net.S:]  # what each session had before the drops
        flows = flows_of(net, g, sp * net.frac * net.dt_h)
        cap = g.cap.copy()
        cap[sess] = np.where(closed, 0, np.where(capped, flows[sess], cap[sess]))
        restore = cap.copy()  # first give each session back what it lost, then the rest
        restore[-net.S:] = np.minimum(cap[-net.S:], np.maximum(target, flows[-net.S:]))
        for c in (restore, cap):
            got = augment(g, flows, c)
            if got is None:
                return sp, bound
            flows = got
    return sp, bound
