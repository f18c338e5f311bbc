"""Bidirectional (V2X) sessions: their own model, solved once, snapped and verified.

See the module docstring of :mod:`smartcharge.optimizer.solve` for the model. A problem with
a V2X session goes here instead of the charging-only pipeline (which stays byte for byte
the same for charging-only problems).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer._lp import SolverName
from smartcharge.optimizer._model import (
    EPS_EARLY,
    LpModel,
    RowBuilder,
    energy_rows,
    energy_value,
    evse_rows,
    margin,
    node_blocks,
    objective_scale,
    onoff_rows,
    peak_rows,
    ramp_rows,
    solve_model,
    tiers,
)
from smartcharge.optimizer._network import Network, Rows
from smartcharge.optimizer._repair import allowed_mask, allowed_mask_any, safe_fallback
from smartcharge.optimizer.plan import Plan, SolverStatus, Timings
from smartcharge.optimizer.problem import Objective, Problem
from smartcharge.optimizer.verify import verify

__all__ = ["optimize_v2x"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_V2X_PENALTY = 20.0
"""Weight of an unmet limit at a step whose site load alone breaks it, per row unit, relative
to the value of a Wh over one step (times the largest W per A): covering the overload by
discharging comes before energy."""


@dataclass
class _V2XLP:
    lp: LpModel
    cs: IntArray  # session of each charge column
    ct: IntArray  # step of each charge column
    ds: IntArray  # session of each discharge column
    dt: IntArray  # step of each discharge column


def optimize_v2x(
    problem: Problem, net: Network, rows: list[Rows], obj: Objective,
    time_limit_s: float | None, lp_path: Literal["auto", "sparse", "proto"],
    solver: SolverName, t0: float,
) -> Plan:
    """A problem with V2X sessions: one LP (a MIP when a minimum applies) over charge and
    discharge columns, with no repair. The solution is snapped to the minimum-current rule
    within solver tolerance and checked with :func:`verify`; a plan that fails the check,
    or a solver failure, gives the safe charging-only fallback."""
    allowed = allowed_mask(net, rows)
    m = _build_v2x(net, rows, obj)
    t1 = time.perf_counter()
    if len(m.cs) + len(m.ds) == 0:
        return Plan(problem, np.zeros((net.S, net.T)), SolverStatus.EMPTY,
                    Timings(build=t1 - t0), "no session can charge within the horizon")
    name: SolverName = "scip" if m.lp.integer is not None else solver
    res = solve_model(m.lp, m.lp.lb, m.lp.ub, time_limit_s, t1, lp_path, name)
    t2 = time.perf_counter()
    msg = res.message
    if res.x is not None:
        x = res.x
        sp = np.zeros((net.S, net.T))
        np.add.at(sp, (m.cs, m.ct), x[: len(m.cs)])
        np.add.at(sp, (m.ds, m.dt), -x[len(m.cs): len(m.cs) + len(m.ds)])
        sp = _snap_v2x(net, sp)
        plan = Plan(problem, sp, SolverStatus.OPTIMAL if res.status == "optimal" else
                    SolverStatus.FEASIBLE, Timings(build=t1 - t0, solve=t2 - t1,
                                                   extract=time.perf_counter() - t2),
                    f"{msg} via {res.path}; V2X model")
        bad = verify(problem, plan)
        if not bad:
            return plan
        msg = f"{msg}; V2X solution failed verify ({bad[0].message})"
    sp, note = safe_fallback(net, rows, allowed)
    return Plan(problem, sp, SolverStatus.FALLBACK,
                Timings(build=t1 - t0, solve=t2 - t1, extract=time.perf_counter() - t2),
                f"{msg}; {note} (charging only)")


def _snap_v2x(net: Network, sp: FloatArray) -> FloatArray:
    """Remove solver noise: |p| <= 1e-6 W becomes 0, values within 1e-6 of a minimum below
    it become the minimum, and values are clipped to their bounds (by at most noise)."""
    sp = np.where(np.abs(sp) <= 1e-6, 0.0, sp)
    mn = net.sess_min_w[:, None]
    mag = np.abs(sp)
    near = (mag > 0) & (mag < mn) & (mag >= mn * (1 - 1e-6))
    sp = np.where(near, np.sign(sp) * mn, sp)
    sp = np.clip(sp, -net.sess_dis_max_w[:, None], net.sess_max_w[:, None])
    return np.where(net.frac > 0, sp, 0.0)


def _build_v2x(net: Network, rows: list[Rows], obj: Objective) -> _V2XLP:
    """The LP of :func:`optimize` with V2X sessions (see the module docstring).

    Columns: charge ``c[s,t] >= 0`` (every session), discharge ``d[s,t] >= 0`` (V2X
    sessions, also at steps whose site load alone breaks a limit, where charging is
    forbidden), tiers ``y[s,k]``, a slack per node row and step whose right-hand side is
    negative (the site load alone breaks it; penalised so discharging covers what it can),
    the demand peak, and on/off binaries ``zc``, ``zd`` where a minimum applies (with
    ``zc + zd <= 1``). Rows: net energy ``sum (c - d) frac dt = sum y`` (so the net energy
    at departure is >= 0 and <= need); every node row on the net power ``c - d`` (the rows
    of :meth:`Network.rows`, whose polygons cover both directions of a V2X EVSE's current
    and bound exported power too); the EVSE maximum on ``|c - d|`` where sessions share a
    step; the floor ``sum_{t<=k} (c - d) frac dt >= -floor`` for every V2X session and
    step; ``peak >= root net power``.
    """
    T = net.T
    forbid = ~allowed_mask_any(net, rows)
    win = net.frac > 0
    ok_c = win & (net.sess_max_w[:, None] > 0) & (
        (net.need_wh[:, None] > 0) | net.sess_v2x[:, None]) & ~forbid
    ok_d = win & net.sess_v2x[:, None]
    cs, ct = (a.astype(np.int64) for a in np.nonzero(ok_c))
    ds, dt = (a.astype(np.int64) for a in np.nonzero(ok_d))
    ncv, ndv = len(cs), len(ds)
    vs = np.concatenate([cs, ds])
    vt = np.concatenate([ct, dt])
    sign = np.concatenate([np.ones(ncv), -np.ones(ndv)])
    nv = ncv + ndv
    V = energy_value(net, obj)
    scale = 1.0 / V
    wh = net.frac[vs, vt] * net.dt_h
    unit = (obj.cost * net.price[vt] / 1000.0 + obj.co2_per_kg * net.co2[vt] / 1e6) * scale
    c_p = sign * wh * unit
    c_p[ncv:] += wh[ncv:] * obj.degradation_per_kwh / 1000.0 * scale
    if obj.early:
        c_p[:ncv] += wh[:ncv] * EPS_EARLY * (ct + 1) / T
    active = np.flatnonzero(ok_c.any(axis=1) | ok_d.any(axis=1))
    K, c_y, ub_y = tiers(net, obj, active)
    ns = len(active)
    ub_p = np.concatenate([net.sess_max_w[cs], net.sess_dis_max_w[ds]])

    extra_lb: list[FloatArray] = []
    extra_ub: list[FloatArray] = []
    extra_c: list[FloatArray] = []
    n_cols = nv + ns * K

    m = RowBuilder()
    energy_rows(m, net, active, K, vs, sign * wh)  # (1) net energy = sum of the tiers
    evse_rows(m, net, vs, vt, sign, both_ways=True)  # (2) on the net power

    # (3) node rows on the net power, slack where the site load alone breaks a row
    penalty = _V2X_PENALTY * net.dt_h * float(net.priority.max(initial=1.0)) * (
        1.0 + obj.fairness) * max(1.0, float(net.evse_wpa.max(initial=1.0)))
    for rid, cols, vals, b in node_blocks(net, rows, vs, vt, ub_p, sign):
        cap = np.where(b >= 0, np.maximum(margin(b), 0.0), margin(b))
        neg = np.flatnonzero(cap < 0)
        if len(neg):  # slack sigma in [0, -cap]: row - sigma <= cap
            m.add([rid, neg], [cols, n_cols + np.arange(len(neg))],
                  [vals, -np.ones(len(neg))], np.full(len(b), -np.inf), cap)
            extra_lb.append(np.zeros(len(neg)))
            extra_ub.append(-cap[neg])
            extra_c.append(np.full(len(neg), penalty))
            n_cols += len(neg)
        else:
            m.add([rid], [cols], [vals], np.full(len(b), -np.inf), cap)

    # (4) floor: the net energy since arrival never below -floor (V2X sessions)
    for s in np.flatnonzero(net.sess_v2x).tolist():
        mine = np.flatnonzero(vs == s)
        if len(mine) == 0:
            continue
        steps = np.unique(vt[mine])
        below = vt[mine][None, :] <= steps[:, None]  # (k, columns)
        kk, jj = np.nonzero(below)
        m.add([kk], [mine[jj]], [(sign * wh)[mine[jj]]],
              np.full(len(steps), -float(net.sess_floor_wh[s])), np.full(len(steps), np.inf))

    # (5) peak >= root net power (site load included)
    if obj.demand and net.demand_charge > 0:
        extra_lb.append(np.array([peak_rows(m, net, vt, sign, n_cols)]))
        extra_ub.append(np.array([np.inf]))
        extra_c.append(np.array([net.demand_charge / 1000.0 * scale]))
        n_cols += 1
    if net.has_ramp:  # ramp limits on the net power
        ramp_rows(m, net, vs, vt, sign)

    lb = np.concatenate([np.zeros(nv + ns * K), *extra_lb])
    ub = np.concatenate([ub_p, ub_y, *extra_ub])
    c = np.concatenate([c_p, c_y, *extra_c])

    # (6) 0 or at least the minimum, both ways: min z <= p <= max z, zc + zd <= 1
    integer = None
    mn = np.minimum(net.sess_min_w[vs], ub_p)
    needs = np.flatnonzero(mn > 0)
    if len(needs):
        nz = len(needs)
        z = n_cols + np.arange(nz, dtype=np.int64)
        lb = np.concatenate([lb, np.zeros(nz)])
        ub = np.concatenate([ub, np.ones(nz)])
        c = np.concatenate([c, np.zeros(nz)])
        n_cols += nz
        integer = z
        onoff_rows(m, needs, z, ub_p[needs], mn[needs])
        # one direction at a time where a session may do both
        zi = np.full(nv, -1, dtype=np.int64)
        zi[needs] = z
        cpos = {(int(a), int(b)): j for j, (a, b) in enumerate(zip(cs, ct, strict=True))}
        both = [(zi[cpos[(int(a), int(b))]], zi[ncv + j])
                for j, (a, b) in enumerate(zip(ds, dt, strict=True))
                if (int(a), int(b)) in cpos and zi[cpos[(int(a), int(b))]] >= 0
                and zi[ncv + j] >= 0]
        if both:
            pairs = np.array(both, dtype=np.int64)
            nb = len(pairs)
            m.add([np.arange(nb), np.arange(nb)], [pairs[:, 0], pairs[:, 1]],
                  [np.ones(nb), np.ones(nb)], np.full(nb, -np.inf), np.ones(nb))

    lp = LpModel(lb, ub, c * objective_scale(net), *m.csr(), vs, vt, V, integer)
    return _V2XLP(lp, cs, ct, ds, dt)

