"""``optimize(problem) -> Plan``: the LP, its repair, and the safe fallback.

The model (docs/optimizer.md has it as mathematics). Variables: the power ``p[s,t]`` [W] of
each session in each step it is plugged in, and for each session ``K`` tier variables
``y[s,k]`` (Wh, each at most ``need_s / K``) whose sum is the energy delivered. One weighted
objective, minimised::

    - sum_s,k V * priority_s * (1 + fairness * (K-1-k)/(K-1)) * y[s,k]        energy first
    + sum_s,t p[s,t] * frac[s,t] * dt * (cost * price_t / 1000 + co2_per_kg * co2_t / 1e6)
    + demand_charge / 1000 * peak                                            demand charge
    + sum_s,t p[s,t] * frac[s,t] * dt * eps * V * t / T                      charge early

``V`` (value of a Wh) is ten times the most a Wh can cost (highest price and CO2 price per
Wh, plus the demand charge of delivering it within one step), so an unmet Wh always costs
more than any price: energy is maximised first (**weighted, not lexicographic**: the
fairness bonus, at most ``fairness`` x V per Wh, may trade at most that fraction of energy
for a fairer split; set ``Objective(fairness=0)`` for pure energy-then-cost). The concave
tiers make the LP give every session its first ``1/K`` of need before anyone gets a second
share. ``eps = 1e-5``: price differences under a hundred-thousandth of ``V`` count as ties.

Constraints: ``0 <= p <= min(EVSE max, vehicle max)``; energy ``sum_t p frac dt = sum_k y
<= need``; per node and step the linear rows of ``Network.rows`` (total power, and each line
current's magnitude through an inscribed polygon of its circle: safe); ``peak >= root power``.

Minimum current (0 or at least the minimum): LP relaxation, then the repair of
:mod:`smartcharge.optimizer._repair` (round sub-minimum values to 0 with proofs of safety,
then turn dropped steps back on at the minimum where all rows still hold). Chosen over a MIP
because it scales to thousands of EVSEs within the time targets; the plan is then
``FEASIBLE`` (safe, possibly not optimal) unless the LP already met the rule (``OPTIMAL``).

Ramp limits (``Node.max_ramp_w``, off by default): two rows per step and node bound the
change of the EV power below the node (:func:`_ramp_rows`); the repair above does not keep
them, so with ramps win-back and the packing re-solve are off and :func:`_optimize_ramped`
re-solves with fixed on/off patterns until the plan meets them exactly.

Bidirectional (V2X) sessions (``Session.max_discharge_w > 0``; see :func:`_build_v2x`): a
problem with one is solved by a model of its own, so charging-only problems are untouched
(byte for byte). Power is ``c - d`` (charge and discharge columns, ``d`` only for V2X
sessions, at most ``max_discharge_w`` and the EVSE maximum); the energy rows use the net
energy; ``sum_{t<=k} (c - d) frac dt >= -discharge_floor_wh`` at every step ``k``; node rows
apply to the net power, a power limit bounding export as well as import, and the current
polygons cover both directions of a V2X EVSE's phasor (a discharging EVSE's current flows
the other way, so the exact line currents of the net powers stay within the limits). At a
step where the site load alone breaks a limit nobody may charge below it, and a penalised
slack lets V2X sessions cover what they can of the overload (before energy). The objective
prices signed energy (discharging at a high price earns it) plus
``Objective.degradation_per_kwh`` per discharged kWh. The minimum-current rule holds both
ways (0, or at least the minimum charging or discharging, the EVSE's pilot rule) through
binaries ``min z <= c, d <= max z`` with ``zc + zd <= 1``: the model is a MIP (SCIP)
whenever a minimum applies, so keep V2X sites small or give a time limit. There is no
repair: the solution is snapped to the minimum within solver tolerance and checked by
:func:`~smartcharge.optimizer.verify`; a failure gives the safe charging-only fallback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer._flow import flow_applicable, solve_flow
from smartcharge.optimizer._lp import LpResult, SolverName, solve_lp
from smartcharge.optimizer._network import Network, Rows
from smartcharge.optimizer._repair import (
    allowed_mask,
    ancestors,
    fallback_plan,
    forced_off,
    make_safe,
    win_back,
)
from smartcharge.optimizer.plan import Plan, SolverStatus, Timings
from smartcharge.optimizer.problem import Objective, Problem

__all__ = ["optimize"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

EPS_EARLY = 1e-5
"""Weight of the charge-early tie-breaker, relative to the value of a Wh."""
_MARGIN_REL = 1e-7
_MARGIN_ABS = 1e-4
"""The LP sees every row's right-hand side lowered by this much, so that the solver's own
feasibility tolerance cannot push a plan over a real limit."""


@dataclass
class _LP:
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


def optimize(
    problem: Problem,
    objective: Objective | None = None,
    *,
    time_limit_s: float | None = None,
    max_chord_deg: float = 10.0,
    win_back_energy: bool = True,
    max_lp_rounds: int = 2,
    resolve_share: float = 1e-3,
    lp_path: Literal["auto", "sparse", "proto"] = "auto",
    solver: SolverName = "highs",
    min_current: Literal["repair", "mip"] = "repair",
    method: Literal["lp", "flow", "auto"] = "lp",
) -> Plan:
    """Allocate the site's power to the sessions of ``problem``.

    Never fails on an infeasible or difficult input: energy is a soft target, limits are
    hard. If the solver errors or runs out of time without a solution, the plan is a safe
    even share scaled down under every limit (status ``FALLBACK``). Every plan returned
    passes :func:`smartcharge.optimizer.verify`. Same input, same plan (byte for byte).

    Parameters
    ----------
    problem
        The site, sessions and tariff.
    objective
        Weights (default :class:`Objective`): energy first, then cost, CO2, demand charge,
        fairness, early charging.
    time_limit_s
        Solver time limit [s] (``None``: no limit).
    max_chord_deg
        Angle [deg] between the polygon vertices that approximate each line current's
        circle from inside: 10 degrees loses at most 0.4 % of a line limit.
    win_back_energy
        After the minimum-current repair, turn dropped steps back on at the minimum where
        every limit still holds.
    max_lp_rounds
        LP solves at most: after the first, the on/off pattern of the repaired plan is
        fixed and the LP re-solved, so capacity freed by the repair is re-used.
    resolve_share
        Re-solve only if the repair lost more than this share of the LP's energy.
    lp_path
        ``"auto"``, ``"sparse"`` (one-call sparse load) or ``"proto"`` (public API).
    solver
        ``"highs"`` (default: HiGHS interior point with crossover, GLOP as a second try),
        ``"highs-simplex"`` or ``"glop"``. Measurements in :mod:`smartcharge.optimizer._lp`.
    min_current
        ``"repair"`` (default): LP, then the repair described above. ``"mip"``: one binary
        per session and step (``min * z <= p <= max * z``) solved by SCIP; exact but only
        for small sites (see docs/optimizer.md for measurements). Give it a time limit.
    method
        ``"lp"``; ``"flow"``: the same model as a min-cost flow (OR-Tools
        ``SimpleMinCostFlow``), exact up to 1 mWh and 1e-6 of the value of a Wh, only for
        problems with total-power limits only, whole-step sessions and no demand charge
        (else :class:`~smartcharge.errors.InvalidProblemError`); its plan gets the
        minimum-current repair without LP re-solves. ``"auto"``: the flow when it applies.

    Notes
    -----
    A node with a ramp limit (``Node.max_ramp_w``) gets ramp rows in the LP; the
    minimum-current repair is then followed by re-solves with the on/off pattern fixed
    (see :func:`_optimize_ramped`), ``win_back_energy``, ``max_lp_rounds`` and
    ``resolve_share`` do not apply, and the min-cost flow does not either.

    A problem with a V2X session (``Session.max_discharge_w > 0``) is solved by the V2X
    model of the module docstring (exact minimum-current rule, a MIP when a minimum
    applies): ``min_current``, ``max_lp_rounds``, ``resolve_share`` and
    ``win_back_energy`` do not apply to it, ``method="flow"`` raises
    :class:`~smartcharge.errors.InvalidProblemError`, and its fallback charges only.
    Measured (2-core machine, 96 steps of 15 min, synthetic sites): 20 EVSEs with 5 V2X
    sessions 2.5 s, 100 EVSEs with 10 V2X sessions 1.7 s (the charging-only LP: 0.04-0.06
    s).
    """
    obj = objective or Objective()
    t0 = time.perf_counter()
    net: Network = problem.network()
    rows = net.rows(max_chord_deg)
    if net.has_v2x:
        if method == "flow":
            raise InvalidProblemError("the min-cost flow does not apply: a session may "
                                      "discharge (V2X)", path="method", rule="flow-structure")
        return _optimize_v2x(problem, net, rows, obj, time_limit_s, lp_path, solver, t0)
    allowed = allowed_mask(net, rows)
    if not allowed.any():
        t1 = time.perf_counter()
        return Plan(problem, np.zeros((net.S, net.T)), SolverStatus.EMPTY,
                    Timings(build=t1 - t0), "no session can charge within the horizon")
    mip = min_current == "mip"
    if method != "lp" and not mip:
        why = flow_applicable(net, obj)
        if why is None:
            return _optimize_flow(problem, net, rows, allowed, obj, t0, win_back_energy)
        if method == "flow":
            raise InvalidProblemError(f"the min-cost flow does not apply: {why}",
                                      path="method", rule="flow-structure")
    lp = _build(net, rows, allowed, obj, mip=mip)
    t1 = time.perf_counter()
    res = _solve(lp, lp.lb, lp.ub, time_limit_s, t1, lp_path, "scip" if mip else solver)
    t2 = time.perf_counter()
    if res.x is None:
        sp, note = _fallback(net, rows, allowed)
        t3 = time.perf_counter()
        return Plan(problem, sp, SolverStatus.FALLBACK,
                    Timings(build=t1 - t0, solve=t2 - t1, extract=t3 - t2),
                    f"{res.message}; {note}")
    if net.has_ramp:
        return _optimize_ramped(problem, net, rows, allowed, lp, res, time_limit_s, lp_path,
                                solver, mip, t0, t1, t2)
    sp, changed, dropped, relax_wh = _extract(net, rows, allowed, lp, res.x, win_back_energy)
    status, msg = _first_status(res, changed)
    solve_s = t2 - t1
    rounds = 1
    # fix and re-solve (see _fixings): the first LP's energy is an upper bound; stop when
    # the plan is within resolve_share of it, or the rounds are used up
    while (
        not mip and rounds < max_lp_rounds
        and relax_wh - _energy(net, sp).sum() > resolve_share * relax_wh
    ):
        if time_limit_s is not None and time.perf_counter() - t1 >= time_limit_s:
            break
        ta = time.perf_counter()
        lb_p, ub_p = _fixings(net, rows, lp, sp, dropped, allowed)
        lb = lp.lb.copy()
        ub = lp.ub.copy()
        nv = len(lp.vs)
        lb[:nv] = lb_p
        ub[:nv] = ub_p
        res2 = _solve(lp, lb, ub, time_limit_s, t1, lp_path, solver)
        rounds += 1
        solve_s += time.perf_counter() - ta
        if res2.x is None:
            break
        sp2, _, dropped2, _ = _extract(net, rows, allowed, lp, res2.x, win_back_energy)
        if _energy(net, sp2).sum() <= _energy(net, sp).sum() + 1e-6:
            break  # no progress: keep what we have
        sp, dropped = sp2, dropped | dropped2
        status = SolverStatus.FEASIBLE
    t3 = time.perf_counter()
    if status is not SolverStatus.OPTIMAL:
        msg += f"; minimum-current repair, {rounds} LP round(s)"
    return Plan(problem, sp, status,
                Timings(build=t1 - t0, solve=solve_s, extract=t3 - t2 - (solve_s - (t2 - t1))),
                msg)


def _first_status(res: LpResult, changed: bool) -> tuple[SolverStatus, str]:
    """Status and message of the first LP's repaired plan: optimal only if the LP was and
    the repair changed nothing."""
    status = SolverStatus.OPTIMAL if (res.status == "optimal" and not changed) else (
        SolverStatus.FEASIBLE
    )
    return status, f"{res.message} via {res.path}"


_RAMP_ROUNDS = 20
"""LP solves at most for a problem with ramp limits (see :func:`_optimize_ramped`)."""


def _fallback(net: Network, rows: list[Rows], allowed: BoolArray) -> tuple[FloatArray, str]:
    """The safe even-share plan of :func:`fallback_plan`; with ramp limits, all off if the
    even share breaks one (all-zero meets every ramp row: ``P0 >= 0``)."""
    from smartcharge.optimizer.verify import ramp_violations

    sp = fallback_plan(net, rows, allowed)
    if net.has_ramp and ramp_violations(net, net.evse_power(sp)):
        return np.zeros_like(sp), "safe fallback: all off (the even share breaks a ramp limit)"
    return sp, "safe even-share fallback"


def _optimize_ramped(
    problem: Problem, net: Network, rows: list[Rows], allowed: BoolArray, lp: _LP,
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

    Out of rounds (:data:`_RAMP_ROUNDS` solves), time or progress: :func:`_fallback`.
    """
    from smartcharge.optimizer.verify import ramp_violations

    assert res.x is not None
    nv = len(lp.vs)
    ub = lp.ub.copy()
    mn = np.minimum(net.sess_min_w[lp.vs], net.sess_max_w[lp.vs])
    sp, changed, dropped, _ = _extract(net, rows, allowed, lp, res.x, False)
    status, msg = _first_status(res, changed)
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
        r = _solve(lp, lb, ub_all, time_limit_s, t1, lp_path, solver)
        rounds += 1
        solve_s += time.perf_counter() - ta
        if r.x is None:
            return None
        got = _extract(net, rows, allowed, lp, r.x, False)
        return got[0], got[2]

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
            sp, note = _fallback(net, rows, allowed)
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


def _optimize_flow(
    problem: Problem, net: Network, rows: list[Rows], allowed: BoolArray, obj: Objective,
    t0: float, wb: bool,
) -> Plan:
    t1 = time.perf_counter()
    try:
        raw, message = solve_flow(net, allowed, obj, energy_value(net, obj), EPS_EARLY)
    except Exception as exc:  # any solver trouble means: fall back safely
        raw, message = None, f"min-cost flow error: {exc!r}"
    t2 = time.perf_counter()
    if raw is None:
        sp, note = _fallback(net, rows, allowed)
        return Plan(problem, sp, SolverStatus.FALLBACK,
                    Timings(build=0.0, solve=t2 - t1, extract=time.perf_counter() - t2),
                    f"{message}; {note}")
    sp, changed, _, _ = _repair(net, rows, allowed, raw, wb)
    t3 = time.perf_counter()
    status = SolverStatus.FEASIBLE if changed else SolverStatus.OPTIMAL
    if changed:
        message += "; minimum-current repair"
    # the flow builds its graph inside solve_flow: build time is counted in solve
    return Plan(problem, sp, status, Timings(build=t1 - t0, solve=t2 - t1, extract=t3 - t2),
                message)


def _solve(
    lp: _LP, lb: FloatArray, ub: FloatArray, time_limit_s: float | None, t_start: float,
    lp_path: Literal["auto", "sparse", "proto"], solver: SolverName,
) -> LpResult:
    """Solve with ``solver``, then GLOP if HiGHS fails; errors become a failed result."""
    res = LpResult("failed", None, np.nan, "not solved", 0.0, 0.0, lp_path)
    notes = []
    for name in [solver] + (["glop"] if solver.startswith("highs") else []):
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
        if res.x is not None or res.status == "infeasible":
            break  # a solution, or a definite answer: no second try
        notes.append(res.message)
    if res.x is None and notes:
        res = LpResult(res.status, None, np.nan, "; ".join(notes), res.build_s, res.solve_s,
                       res.path)
    return res


def _energy(net: Network, sp: FloatArray) -> FloatArray:
    return np.asarray((sp * net.frac).sum(axis=1) * net.dt_h, dtype=np.float64)


def _extract(
    net: Network, rows: list[Rows], allowed: BoolArray, lp: _LP, x: FloatArray, wb: bool
) -> tuple[FloatArray, bool, BoolArray, float]:
    """Safe plan from an LP solution, whether the repair changed it, the steps it dropped,
    and the LP solution's own energy [Wh]."""
    raw = np.zeros((net.S, net.T))
    raw[lp.vs, lp.vt] = x[: len(lp.vs)]
    return _repair(net, rows, allowed, raw, wb)


def _repair(
    net: Network, rows: list[Rows], allowed: BoolArray, raw: FloatArray, wb: bool
) -> tuple[FloatArray, bool, BoolArray, float]:
    sp, changed = make_safe(net, rows, raw, allowed)
    dropped = (raw > 1e-6) & (sp == 0.0) & allowed
    if wb and dropped.any():
        sp = win_back(net, rows, sp, allowed, dropped)
    before = float(_energy(net, np.clip(raw, 0.0, None)).sum())
    return sp, changed, dropped, before


def _fixings(
    net: Network, rows: list[Rows], lp: _LP, sp: FloatArray, dropped: BoolArray,
    allowed: BoolArray,
) -> tuple[FloatArray, FloatArray]:
    """Bounds of the power columns for a re-solve with a fixed on/off pattern.

    Steps on in the safe plan stay on: at least their minimum (never above their current
    value). Sessions short of their need get more steps "on at the minimum": the steps the
    repair dropped, then their other free steps, early first, until the steps on could carry
    the need at full power. A step is promoted only while the lower bounds alone still
    fit every row (positive coefficients only, so conservative), the EVSE maximum and the
    session's need; the lower-bound vector is then itself feasible, so the re-solve is too
    (up to the LP's margins). Every other step stays off, so the re-solve cannot create new
    values below a minimum.
    """
    vs, vt = lp.vs, lp.vt
    mx = net.sess_max_w[vs]
    mn = np.minimum(net.sess_min_w[vs], mx)
    p = sp[vs, vt]
    on = (p >= mn * (1 - 1e-9)) & (p > 0)
    lb = np.where(on, np.minimum(mn, p), 0.0)
    lift = np.zeros(len(vs), dtype=bool)
    short = (net.need_wh - _energy(net, sp)) > 1e-6
    free = ~on & short[vs] & allowed[vs, vt]
    # dropped steps first, then the others; sessions in order, steps early first
    cand = np.flatnonzero(free)
    cand = cand[np.lexsort((vt[cand], ~dropped[vs[cand], vt[cand]], vs[cand]))]
    if len(cand):
        wh = net.frac[vs, vt] * net.dt_h
        cap = np.zeros(net.S)
        np.add.at(cap, vs[on], (mx * wh)[on])
        lb_sp = np.zeros((net.S, net.T))
        lb_sp[vs, vt] = lb
        ep = net.evse_power(lb_sp)
        load = [
            np.maximum(rows[n].coef, 0.0) @ ep[net.members[n]] if rows[n].coef.shape[0]
            else np.zeros((0, net.T))
            for n in range(net.N)
        ]
        e_lb = _energy(net, lb_sp)
        anc = ancestors(net, rows)
        for j in cand.tolist():
            s, t = int(vs[j]), int(vt[j])
            if cap[s] >= net.need_wh[s] and not dropped[s, t]:
                continue
            e = int(net.sess_evse[s])
            add = float(mn[j])
            if e_lb[s] + add * wh[j] > net.need_wh[s] or ep[e, t] + add > net.evse_max_w[e]:
                continue
            ok = True
            for n, k in anc[e]:
                r = rows[n]
                new = load[n][:, t] + np.maximum(r.coef[:, k], 0.0) * add
                if np.any(new > r.rhs[:, t] * (1 - 1e-6) - 1e-3):
                    ok = False
                    break
            if not ok:
                continue
            for n, k in anc[e]:
                load[n][:, t] += np.maximum(rows[n].coef[:, k], 0.0) * add
            ep[e, t] += add
            e_lb[s] += add * wh[j]
            cap[s] += mx[j] * wh[j]
            lb[j] = add
            lift[j] = True
    ub = np.where(on | lift, mx, 0.0)
    return lb, ub


def energy_value(net: Network, obj: Objective) -> float:
    """``V`` [currency/Wh]: ten times the most a Wh can cost, at least 1e-3 (1 per kWh)."""
    per_wh = obj.cost * float(np.max(np.abs(net.price), initial=0.0)) / 1000.0
    per_wh += obj.co2_per_kg * float(np.max(net.co2, initial=0.0)) / 1e6
    if obj.demand:
        per_wh += net.demand_charge / 1000.0 / net.dt_h
    return max(10.0 * per_wh, 1e-3)


class _Rows:
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
        order = np.lexsort((cc, rr))
        rr, cc, vv = rr[order], cc[order], vv[order]
        indptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rr, minlength=self.n), out=indptr[1:])
        return (np.concatenate(self.lo), np.concatenate(self.hi), indptr,
                cc.astype(np.int64), vv.astype(np.float64))


def _tiers(
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


def _energy_rows(
    m: _Rows, net: Network, active: IntArray, K: int, vs: IntArray, wh: FloatArray
) -> None:
    """(1) Energy of each active session = the sum of its tiers: ``sum_t wh p - sum_k y =
    0``; power columns ``0..len(vs)-1`` with energy ``wh`` [Wh per W] each, tiers next."""
    nv, ns = len(vs), len(active)
    pos = np.full(net.S, -1, dtype=np.int64)
    pos[active] = np.arange(ns)
    m.add([pos[vs], np.repeat(np.arange(ns), K)], [np.arange(nv), nv + np.arange(ns * K)],
          [wh, -np.ones(ns * K)], np.zeros(ns), np.zeros(ns))


def _evse_rows(
    m: _Rows, net: Network, vs: IntArray, vt: IntArray, sign: FloatArray, both_ways: bool
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


def _margin(b: FloatArray) -> FloatArray:
    """A right-hand side lowered by the LP's safety margin."""
    return np.asarray(b - _MARGIN_REL * np.abs(b) - _MARGIN_ABS, dtype=np.float64)


def _node_blocks(
    net: Network, rows: list[Rows], vs: IntArray, vt: IntArray, ub: FloatArray,
    sign: FloatArray | None = None,
) -> Iterator[tuple[IntArray, IntArray, FloatArray, FloatArray]]:
    """(3) The node rows that can bind, node by node: ``(row of each entry, column,
    coefficient, right-hand side of each row)``; rows are ``(row, step)`` pairs of
    :meth:`Network.rows` on the power columns ``(vs, vt)`` (times ``sign``: -1 for a
    discharge column), kept only where the columns at their upper bounds ``ub`` could
    break them."""
    T = net.T
    v_evse = net.sess_evse[vs]
    for n in range(net.N):
        r = rows[n]
        R = r.coef.shape[0]
        mm = len(net.members[n])
        if R == 0 or mm == 0:
            continue
        posn = np.full(net.E, -1, dtype=np.int64)
        posn[net.members[n]] = np.arange(mm)
        J = np.flatnonzero(posn[v_evse] >= 0)
        if len(J) == 0:
            continue
        coef = r.coef[:, posn[v_evse[J]]]  # (R, |J|)
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
        used, rid = np.unique(keys[keep], return_inverse=True)
        yield rid, cols[keep], vals[keep], rhs[used]


def _peak_rows(m: _Rows, net: Network, vt: IntArray, vals: FloatArray, col: int) -> float:
    """(4) ``peak >= root power`` at every step (site load included), the peak in column
    ``col``; returns the peak's lower bound [W]."""
    T = net.T
    base = net.base_w if net.base_under[net.root] else np.zeros(T)
    m.add([vt, np.arange(T)], [np.arange(len(vt)), np.full(T, col)], [vals, -np.ones(T)],
          np.full(T, -np.inf), -base)
    return max(float(base.max()), 0.0)


def _ramp_rows(m: _Rows, net: Network, vs: IntArray, vt: IntArray, sign: FloatArray) -> None:
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
        cap = max(r - _MARGIN_REL * r - _MARGIN_ABS, 0.0)
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
                  np.full(1, -np.inf), np.full(1, max(b - _MARGIN_REL * b - _MARGIN_ABS, 0.0)))


def _onoff_rows(
    m: _Rows, cols: IntArray, z: IntArray, mx: FloatArray, mn: FloatArray
) -> None:
    """0 or at least the minimum: ``mn z <= p <= mx z`` for power column ``cols[i]`` and
    its binary ``z[i]``."""
    k = len(cols)
    m.add([np.arange(k), np.arange(k)], [cols, z], [np.ones(k), -mx],
          np.full(k, -np.inf), np.zeros(k))
    m.add([np.arange(k), np.arange(k)], [cols, z], [np.ones(k), -mn],
          np.zeros(k), np.full(k, np.inf))



def _build(
    net: Network, rows: list[Rows], allowed: BoolArray, obj: Objective, mip: bool = False
) -> _LP:
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
        c_p = c_p + wh_per_w * EPS_EARLY * (vt + 1) / T
    active = np.flatnonzero(allowed.any(axis=1))
    K, c_y, ub_y = _tiers(net, obj, active)
    ns = len(active)
    use_peak = obj.demand and net.demand_charge > 0
    n_cols = nv + ns * K + (1 if use_peak else 0)
    lb = np.zeros(n_cols)
    ub = np.concatenate([net.sess_max_w[vs], ub_y, [np.inf] if use_peak else []])
    c = np.concatenate([c_p, c_y, [net.demand_charge / 1000.0 * scale] if use_peak else []])

    m = _Rows()
    _energy_rows(m, net, active, K, vs, wh_per_w)  # (1)
    _evse_rows(m, net, vs, vt, np.ones(nv), both_ways=False)  # (2)
    for rid, cols, vals, b in _node_blocks(net, rows, vs, vt, net.sess_max_w[vs]):  # (3)
        m.add([rid], [cols], [vals], np.full(len(b), -np.inf), np.maximum(_margin(b), 0.0))
    if use_peak:  # (4)
        lb[-1] = _peak_rows(m, net, vt, np.ones(nv), n_cols - 1)
    if net.has_ramp:
        _ramp_rows(m, net, vs, vt, np.ones(nv))

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
        _onoff_rows(m, np.arange(nv), integer, net.sess_max_w[vs], mn)

    return _LP(lb, ub, c, *m.csr(), vs, vt, V, integer)


# ---- bidirectional (V2X) sessions ----------------------------------------------------------

_V2X_PENALTY = 20.0
"""Weight of an unmet limit at a step whose site load alone breaks it, per row unit, relative
to the value of a Wh over one step (times the largest W per A): covering the overload by
discharging comes before energy."""


@dataclass
class _V2XLP:
    lp: _LP
    cs: IntArray  # session of each charge column
    ct: IntArray  # step of each charge column
    ds: IntArray  # session of each discharge column
    dt: IntArray  # step of each discharge column


def _optimize_v2x(
    problem: Problem, net: Network, rows: list[Rows], obj: Objective,
    time_limit_s: float | None, lp_path: Literal["auto", "sparse", "proto"],
    solver: SolverName, t0: float,
) -> Plan:
    """A problem with V2X sessions: one LP (a MIP when a minimum applies) over charge and
    discharge columns, with no repair. The solution is snapped to the minimum-current rule
    within solver tolerance and checked with :func:`verify`; a plan that fails the check,
    or a solver failure, gives the safe charging-only fallback."""
    from smartcharge.optimizer.verify import verify

    allowed = allowed_mask(net, rows)
    m = _build_v2x(net, rows, obj)
    t1 = time.perf_counter()
    if len(m.cs) + len(m.ds) == 0:
        return Plan(problem, np.zeros((net.S, net.T)), SolverStatus.EMPTY,
                    Timings(build=t1 - t0), "no session can charge within the horizon")
    name: SolverName = "scip" if m.lp.integer is not None else solver
    res = _solve(m.lp, m.lp.lb, m.lp.ub, time_limit_s, t1, lp_path, name)
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
    sp, note = _fallback(net, rows, allowed)
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
    K, c_y, ub_y = _tiers(net, obj, active)
    ns = len(active)
    ub_p = np.concatenate([net.sess_max_w[cs], net.sess_dis_max_w[ds]])

    extra_lb: list[FloatArray] = []
    extra_ub: list[FloatArray] = []
    extra_c: list[FloatArray] = []
    n_cols = nv + ns * K

    m = _Rows()
    _energy_rows(m, net, active, K, vs, sign * wh)  # (1) net energy = sum of the tiers
    _evse_rows(m, net, vs, vt, sign, both_ways=True)  # (2) on the net power

    # (3) node rows on the net power, slack where the site load alone breaks a row
    penalty = _V2X_PENALTY * net.dt_h * float(net.priority.max(initial=1.0)) * (
        1.0 + obj.fairness) * max(1.0, float(net.evse_wpa.max(initial=1.0)))
    for rid, cols, vals, b in _node_blocks(net, rows, vs, vt, ub_p, sign):
        cap = np.where(b >= 0, np.maximum(_margin(b), 0.0), _margin(b))
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
        extra_lb.append(np.array([_peak_rows(m, net, vt, sign, n_cols)]))
        extra_ub.append(np.array([np.inf]))
        extra_c.append(np.array([net.demand_charge / 1000.0 * scale]))
        n_cols += 1
    if net.has_ramp:  # ramp limits on the net power
        _ramp_rows(m, net, vs, vt, sign)

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
        _onoff_rows(m, needs, z, ub_p[needs], mn[needs])
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

    lp = _LP(lb, ub, c, *m.csr(), vs, vt, V, integer)
    return _V2XLP(lp, cs, ct, ds, dt)


def allowed_mask_any(net: Network, rows: list[Rows]) -> BoolArray:
    """(S, T): True where no node above the session's EVSE is forced off at that step
    (the site load alone breaks one of its rows)."""
    return np.asarray(~forced_off(net, rows)[net.sess_evse], dtype=bool)
