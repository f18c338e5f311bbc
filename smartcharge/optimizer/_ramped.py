"""Ramp limits after the first solve: fixed-pattern re-solves until the plan meets them.

The ramp stage of :func:`smartcharge.optimizer.optimize` for a charging-only problem with a
``Node.max_ramp_w`` (see :func:`optimize_ramped`).
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer._lp import LpResult, SolverName
from smartcharge.optimizer._model import LpModel, solve_model
from smartcharge.optimizer._network import Network, Rows
from smartcharge.optimizer._repair import first_status, repair, safe_fallback
from smartcharge.optimizer.plan import Plan, SolverStatus, Timings
from smartcharge.optimizer.problem import Problem
from smartcharge.optimizer.verify import ramp_violations

__all__ = ["optimize_ramped"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_RAMP_ROUNDS = 20
"""LP solves at most for a problem with ramp limits (see :func:`_optimize_ramped`)."""


def optimize_ramped(
    problem: Problem, net: Network, rows: list[Rows], allowed: BoolArray, lp: LpModel,
    res: LpResult, time_limit_s: float | None, lp_path: Literal["auto", "sparse", "proto"],
    solver: SolverName, mip: bool, t0: float, t1: float, t2: float,
) -> Plan:
    """A charging-only problem with ramp limits, after the first solve.

    The minimum-current repair lowers power, which can break a ramp (a step rounded to 0
    between two steps that are on), and win-back raises it; so win-back is off and the
    repaired plan is checked against the ramps exactly (:func:`ramp_violations`). While it
    breaks one (the MIP is not re-solved):

    1. the repaired plan's on/off pattern is fixed (steps on: at least their minimum, the
       rest 0) and the LP solved again: a solution meets every row, the ramp rows included,
       with its margin, and the minimum rule by its bounds, so the repair leaves it be;
    2. if that fails (infeasible, or still a broken ramp), the steps the repair dropped are
       fixed at 0, the LP solved again and repaired: every such round fixes at least one
       more column at 0 and all-zero is always feasible, so the rounds end.

    Out of rounds (:data:`_RAMP_ROUNDS` solves), time or progress:
    :func:`~smartcharge.optimizer._repair.safe_fallback`.
    """
    assert res.x is not None
    nv = len(lp.vs)
    ub = lp.ub.copy()
    mn = np.minimum(net.sess_min_w[lp.vs], net.sess_max_w[lp.vs])
    first = repair(net, rows, allowed, lp.session_power(res.x, net))
    sp, dropped = first.sp, first.dropped
    status, msg = first_status(res, first.changed)
    solve_s = t2 - t1
    rounds = 1

    def resolve(lb_p: FloatArray, ub_p: FloatArray) -> tuple[FloatArray, BoolArray] | None:
        """The repaired plan of the LP with these power bounds and the steps the repair
        dropped, or None."""
        nonlocal rounds, solve_s
        if mip or rounds >= _RAMP_ROUNDS or (
            time_limit_s is not None and time.perf_counter() - t1 >= time_limit_s
        ):
            return None
        ta = time.perf_counter()
        lb = lp.lb.copy()
        lb[:nv] = lb_p
        ub_all = ub.copy()
        ub_all[:nv] = ub_p
        r = solve_model(lp, lb, ub_all, time_limit_s, t1, lp_path, solver)
        rounds += 1
        solve_s += time.perf_counter() - ta
        if r.x is None:
            return None
        got = repair(net, rows, allowed, lp.session_power(r.x, net))
        return got.sp, got.dropped

    while ramp_violations(net, net.evse_power(sp)):
        on = sp[lp.vs, lp.vt] > 0
        fixed = resolve(np.where(on, mn, 0.0), np.where(on, ub[:nv], 0.0))
        if fixed is not None and not ramp_violations(net, net.evse_power(fixed[0])):
            sp, status = fixed[0], SolverStatus.FEASIBLE
            break
        off = dropped[lp.vs, lp.vt] & (ub[:nv] > 0)
        closed = None
        if off.any():
            ub[:nv] = np.where(off, 0.0, ub[:nv])
            closed = resolve(lp.lb[:nv], ub[:nv])
        if closed is None:
            sp, note = safe_fallback(net, rows, allowed)
            status = SolverStatus.FALLBACK
            msg += f"; the repaired plan breaks a ramp limit after {rounds} LP round(s); {note}"
            break
        sp, dropped = closed
        status = SolverStatus.FEASIBLE
    t3 = time.perf_counter()
    if status is SolverStatus.FEASIBLE:
        msg += f"; minimum-current repair under ramp limits, {rounds} LP round(s)"
    return Plan(problem, sp, status,
                Timings(build=t1 - t0, solve=solve_s, extract=t3 - t2 - (solve_s - (t2 - t1))),
                msg)
