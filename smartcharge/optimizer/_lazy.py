"""Lazy node rows: the LP solved with the node rows likely to bind, checked against all.

Most rows of a congested re-plan are the facets of the line currents' polygons (36 per
line, at every block), and only a few bind at the optimum (about 100 of 1,600 on a
congested Caltech instant). :func:`solve_lazy` solves the LP with a subset of the node rows
(every other row always: energy, EVSE, peak and ramp rows), computes every node row's
value at the solution, adds the violated ones and solves again, until none is violated.
The subset LP is a relaxation of the whole one, so its optimum, once it meets every row,
is an optimum of the whole LP: the same objective value (the vertex may differ where the
optimum is not unique). After :data:`MAX_ROUNDS` rounds every row is added, so it always
ends with the whole LP's optimum.

Which rows to start with: for the re-solve of :func:`smartcharge.optimizer.solve._resolve`
(the same LP, other column bounds), the rows the first solve ended with; for a re-plan,
the rows that bound or nearly bound (within :data:`TIGHT_REL`) at the previous re-plan's
first solution (:class:`LazyRows` from :func:`tight_rows`, matched by
:func:`initial_rows` by node, polygon facet and time: consecutive re-plans differ by one
step and a few sessions); without it, no node row.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer._lp import LpResult, SolverName
from smartcharge.optimizer._model import LpModel, solve_model
from smartcharge.optimizer._network import Network, Rows

__all__ = ["MAX_ROUNDS", "LazyRows", "initial_rows", "solve_lazy", "tight_rows"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MAX_ROUNDS = 8
"""Rounds with a subset of the rows; the next one solves with all of them."""
VIOLATION_REL = 1e-9
"""A left-out row is violated when its value exceeds its right-hand side by more than
this times ``|rhs| + 1``."""
NEIGHBOURS = 4
"""With each violated row, the rows of the same node and step this many facets on either
side are added too."""
TIGHT_REL = 0.03
"""A row is passed on to the next re-plan when its slack at the solution is at most this
times ``|rhs| + 1``: the rows that bind and those within 3 % of binding. Measured on the
Caltech weekday at 20 kW (190 re-plans, CPU time): binding rows only (1e-6) 31 ms a
re-plan, most first solves in 2-9 rounds; 1 % 33 ms; 2 % 21-24 ms; 3 % 22.5 ms, 139 of
the 190 first solves in one round, none above five; 5 % 26 ms; 10 % 26.5 ms."""


@dataclass(frozen=True)
class LazyRows:
    """The node rows that bound at a re-plan's LP solution, to start the next one with.

    For each node (by id) with such rows: its polygon's coefficients (a later problem's
    rows match only if its node has the same ones), and the facet index and the time span
    [s since the epoch] of the block of every binding row.
    """

    nodes: tuple[tuple[str, FloatArray, IntArray, FloatArray, FloatArray], ...]


def _epoch_s(t: datetime) -> float:
    return t.timestamp()


def _block_spans(net: Network, starts: IntArray | None, fine_T: int) -> tuple[FloatArray,
                                                                               FloatArray]:
    """Start and end [s since the epoch] of each LP step (block)."""
    first = np.arange(net.T, dtype=np.int64) if starts is None else starts
    ends = np.append(first[1:], fine_T)
    t0 = _epoch_s(net.start)
    return t0 + first * net.step_s, t0 + ends * net.step_s


def initial_rows(
    lp: LpModel, net: Network, rows: Sequence[Rows], starts: IntArray | None, fine_T: int,
    warm: LazyRows | None,
) -> BoolArray:
    """Rows to start with: every row that is not a node row, and the node rows of ``warm``
    (same node, same polygon, facet, the block containing this block's start)."""
    assert lp.row_node is not None and lp.row_key is not None
    keep = lp.row_node < 0
    if warm is None:
        return np.asarray(keep, dtype=bool)
    T = net.T
    begin, _ = _block_spans(net, starts, fine_T)
    for node_id, coef, facet, s0, s1 in warm.nodes:
        n = net.node_index.get(node_id)
        if n is None or rows[n].coef.shape != coef.shape or not np.array_equal(
            rows[n].coef, coef
        ):
            continue
        mine = np.flatnonzero(lp.row_node == n)
        r = lp.row_key[mine] // T
        a = begin[lp.row_key[mine] % T]
        for f in np.unique(facet).tolist():
            sel = facet == f
            lo, hi = s0[sel], s1[sel]  # sorted by start (tight_rows sorts)
            j = np.flatnonzero(r == f)
            k = np.searchsorted(lo, a[j], side="right") - 1
            hit = (k >= 0) & (a[j] < hi[np.maximum(k, 0)])
            keep[mine[j[hit]]] = True
    return np.asarray(keep, dtype=bool)


def tight_rows(
    lp: LpModel, x: FloatArray, net: Network, rows: Sequence[Rows], starts: IntArray | None,
    fine_T: int,
) -> LazyRows:
    """The node rows binding or nearly binding (:data:`TIGHT_REL`) at ``x``, in or out of
    the LP that gave ``x``, as a :class:`LazyRows`."""
    assert lp.row_node is not None and lp.row_key is not None
    act = _row_values(lp, x)
    slack = lp.row_ub - act
    tight = (lp.row_node >= 0) & (slack <= TIGHT_REL * (np.abs(lp.row_ub) + 1.0))
    begin, end = _block_spans(net, starts, fine_T)
    T = net.T
    out = []
    for n in np.unique(lp.row_node[tight]).tolist():
        i = np.flatnonzero(tight & (lp.row_node == n))
        r, t = lp.row_key[i] // T, lp.row_key[i] % T
        order = np.lexsort((begin[t], r))
        out.append((net.node_ids[n], rows[n].coef, r[order], begin[t][order], end[t][order]))
    return LazyRows(tuple(out))


def _row_values(lp: LpModel, x: FloatArray) -> FloatArray:
    """``A x`` from the CSR arrays [row units]."""
    prod = lp.data * x[lp.indices]
    sums = np.zeros(len(lp.row_ub))
    counts = np.diff(lp.indptr)
    nz = counts > 0
    if len(prod):
        sums[nz] = np.add.reduceat(prod, lp.indptr[:-1][nz])
    return sums


def _subset(lp: LpModel, keep: BoolArray) -> LpModel:
    """``lp`` with only the rows ``keep`` (same columns)."""
    counts = np.diff(lp.indptr)
    entry = np.repeat(keep, counts)
    indptr = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
    np.cumsum(counts[keep], out=indptr[1:])
    return LpModel(lp.lb, lp.ub, lp.c, lp.row_lb[keep], lp.row_ub[keep], indptr,
                   lp.indices[entry], lp.data[entry], lp.vs, lp.vt, lp.value_wh, lp.integer,
                   n_steps=lp.n_steps)


def solve_lazy(
    lp: LpModel, lb: FloatArray, ub: FloatArray, keep: BoolArray, time_limit_s: float | None,
    t_start: float, lp_path: Literal["auto", "sparse", "proto"], solver: SolverName,
) -> tuple[LpResult, BoolArray, int]:
    """Solve ``lp`` (column bounds ``lb``, ``ub``) starting with the rows ``keep``; add the
    violated rows until none is (see the module docstring). Returns the result (an
    optimum of the whole LP, or the failure of a round), the rows used and the rounds."""
    keep = keep.copy()
    rounds = 0
    while True:
        rounds += 1
        if rounds > MAX_ROUNDS:
            keep[:] = True
        res = solve_model(_subset(lp, keep), lb, ub, time_limit_s, t_start, lp_path, solver)
        if res.x is None or keep.all():
            return res, keep, rounds
        act = _row_values(lp, res.x)
        bad = ~keep & (act > lp.row_ub + VIOLATION_REL * (np.abs(lp.row_ub) + 1.0))
        if not bad.any():
            return res, keep, rounds
        if time_limit_s is not None and time.perf_counter() - t_start >= time_limit_s:
            # out of time: a relaxation's solution, which the repair makes safe
            return replace(res, status="feasible",
                           message=f"{res.message}; lazy rows: time limit"), keep, rounds
        keep |= bad
