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
The solver sees the objective multiplied by :func:`~smartcharge.optimizer._model.objective_scale`
so that one step of the charge-early tie-break stays above its tolerances.

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

Generation, batteries, export limits, a feed-in price and session modes: the site model of
:mod:`smartcharge.optimizer._storage` (a problem without them never goes there).

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

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer._coarse import DEFAULT_GRID, REPLAN_GRID, block_starts, coarsen, expand
from smartcharge.optimizer._flow import flow_applicable, solve_flow
from smartcharge.optimizer._lazy import LazyRows, initial_rows, solve_lazy, tight_rows
from smartcharge.optimizer._lp import SolverName
from smartcharge.optimizer._model import EPS_EARLY, LpModel, build_lp, energy_value, solve_model
from smartcharge.optimizer._network import Network, Rows
from smartcharge.optimizer._ramped import optimize_ramped
from smartcharge.optimizer._repair import (
    Repaired,
    allowed_mask,
    ancestors,
    energy_wh,
    first_status,
    repair,
    safe_fallback,
    unstrand,
    win_back_stage,
)
from smartcharge.optimizer._site import uses_site_model
from smartcharge.optimizer._storage import optimize_site
from smartcharge.optimizer._tree import (
    TREE_MIN_COLUMNS,
    solve_tree,
    tree_applicable,
    tree_limits,
)
from smartcharge.optimizer._v2x import optimize_v2x
from smartcharge.optimizer.plan import Plan, SolverStatus, Timings
from smartcharge.optimizer.problem import Objective, Problem

__all__ = ["optimize", "replan"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


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
    solver: SolverName = "auto",
    min_current: Literal["repair", "mip"] = "repair",
    method: Literal["lp", "flow", "auto", "tree"] = "lp",
    grid: Literal["all", "mpc"] | Sequence[tuple[float, float]] = "all",
    far_chord_deg: float | None = None,
    node_rows: Literal["all", "lazy"] = "all",
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
        ``"auto"`` (default: GLOP up to 20,000 LP columns, HiGHS interior point above,
        the other as a second try; see
        :data:`~smartcharge.optimizer._lp.AUTO_GLOP_MAX_COLUMNS`), ``"highs"`` (HiGHS
        interior point with crossover, GLOP as a second try), ``"highs-simplex"`` or
        ``"glop"``. Measurements in :mod:`smartcharge.optimizer._lp`. With ``"auto"``
        and more than :data:`~smartcharge.optimizer._tree.TREE_MIN_COLUMNS` power
        columns on a pure power tree (no demand charge), the greedy fill of
        :mod:`smartcharge.optimizer._tree` first, kept if it serves every session's need
        (then no plan delivers more energy) or comes within 0.1 % of a proven upper bound
        on the energy, else the LP.
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
        ``"tree"``: the greedy fill of :mod:`smartcharge.optimizer._tree` (every node
        limit a power limit, no demand charge, else
        :class:`~smartcharge.errors.InvalidProblemError`; fast and exactly safe, its
        energy checked against a proven bound, not optimal under congestion).
    grid
        The LP's time grid. ``"all"``: every step. ``"mpc"``: every step for the first
        hour, 15-minute blocks up to four hours, hours after that
        (:data:`~smartcharge.optimizer._coarse.DEFAULT_GRID`); or a sequence of ``(until
        [s from the start], block length [s])``. With blocks the LP is smaller (one
        column per session and block) and its view of later steps approximate (see
        :mod:`smartcharge.optimizer._coarse`); the plan is spread over the real steps and
        repaired there, so it stays exactly safe; a re-solve fixes the blocks' on/off
        pattern from their mean powers. Made for re-planning (model-predictive control),
        where only the first steps are applied. Ignored with ramp limits, V2X
        sessions, ``min_current="mip"``, the flow and the greedy fill.
    far_chord_deg
        With blocks: a coarser polygon's chord angle [deg] for the blocks after the
        leading single steps (at least ``max_chord_deg``; ``None``: the same polygon). In
        the LP's view only: the plan is repaired against ``max_chord_deg``'s polygon.
        Measured on a Caltech day at 20 kW: 20 degrees (half the rows) made re-plans
        about a quarter faster but delivered 77.01 % instead of 77.27 %, so it is off by
        default.
    node_rows
        ``"all"``: the LP has every node row that can bind. ``"lazy"``: it starts with the
        rows that bound before (:func:`replan`'s warm state, the first solve's for the
        re-solve) and adds the violated ones until none is
        (:mod:`smartcharge.optimizer._lazy`): the same LP optimum (objective value), in
        less solver time when few rows bind, but possibly another vertex of it, so
        another plan after the repair. Only on the LP path of charging-only problems
        without ramps (elsewhere ignored).

    Notes
    -----
    A node with a ramp limit (``Node.max_ramp_w``) gets ramp rows in the LP; the
    minimum-current repair is then followed by re-solves with the on/off pattern fixed
    (see :func:`~smartcharge.optimizer._ramped.optimize_ramped`), ``win_back_energy``,
    ``max_lp_rounds`` and ``resolve_share`` do not apply, and the min-cost flow does not
    either.

    A problem with generation, a battery, a feed-in price or a session ``mode`` other
    than ``"planned"`` is solved by the site model of
    :mod:`smartcharge.optimizer._storage` (exact MIP up to 600 binaries or with
    ``min_current="mip"``, else a deterministic dive); ``max_lp_rounds``,
    ``resolve_share`` and ``win_back_energy`` do not apply, ``method="flow"`` and V2X
    sessions raise :class:`~smartcharge.errors.InvalidProblemError`.

    A problem with a V2X session (``Session.max_discharge_w > 0``) is solved by the V2X
    model of the module docstring (exact minimum-current rule, a MIP when a minimum
    applies): ``min_current``, ``max_lp_rounds``, ``resolve_share`` and
    ``win_back_energy`` do not apply to it, ``method="flow"`` raises
    :class:`~smartcharge.errors.InvalidProblemError`, and its fallback charges only.
    Measured (2-core machine, 96 steps of 15 min, synthetic sites): 20 EVSEs with 5 V2X
    sessions 2.5 s, 100 EVSEs with 10 V2X sessions 1.7 s (the charging-only LP: 0.04-0.06
    s).
    """
    return _optimize(problem, objective, time_limit_s=time_limit_s,
                     max_chord_deg=max_chord_deg, win_back_energy=win_back_energy,
                     max_lp_rounds=max_lp_rounds, resolve_share=resolve_share,
                     lp_path=lp_path, solver=solver, min_current=min_current, method=method,
                     grid=grid, far_chord_deg=far_chord_deg, node_rows=node_rows,
                     warm=None)[0]


REPLAN_OBJECTIVE = Objective(urgency=4.0, front_load=0.03)
""":func:`replan`'s objective when none is given: the default weights, energy delivered
sooner worth a little more (``front_load`` 0.03: a Wh at the horizon's end is worth 3 %
less than now) and the sessions with the least slack charging first (``urgency`` 4). On
the Caltech week 2019-03-04 at 20 kW: 76.291 % against 75.910 % with the urgency alone and
75.735 % with neither (docs/optimizer.md)."""


def replan(
    problem: Problem, warm: LazyRows | None = None, objective: Objective | None = None, *,
    grid: Literal["all", "mpc"] | Sequence[tuple[float, float]] = REPLAN_GRID,
    node_rows: Literal["all", "lazy"] = "lazy", solver: SolverName = "auto",
    time_limit_s: float | None = None, max_lp_rounds: int = 3,
) -> tuple[Plan, LazyRows | None]:
    """One re-plan of a model-predictive loop: :func:`optimize` with ``grid="mpc"`` and lazy
    node rows started from the rows that bound at the previous re-plan.

    Pure: the warm state is what the previous call returned, passed back by the caller
    (``None`` for the first); nothing is kept between calls. Same problem and same
    ``warm``, same plan (byte for byte).

    Parameters
    ----------
    problem
        The site, sessions and tariff now.
    warm
        The second item returned by the previous call, or ``None``.
    objective
        As for :func:`optimize`; when ``None``, :data:`REPLAN_OBJECTIVE` (the default
        weights with ``front_load=0.03``, energy sooner worth a little more, and
        ``urgency=4``, the sessions with the least slack first).
    grid
        As for :func:`optimize`; by default
        :data:`~smartcharge.optimizer._coarse.REPLAN_GRID` (every step for the first half
        hour, 15-minute blocks up to two hours, hours after that), coarser than
        ``"mpc"``.
    node_rows, solver, time_limit_s
        As for :func:`optimize`.
    max_lp_rounds
        As for :func:`optimize`, but 3 by default (two re-solves at most): with lazy rows
        a re-solve is cheap (3.7 ms of CPU on average over the Caltech weekday at 20 kW),
        and the second one won energy back on the Caltech week (docs/optimizer.md).

    Returns
    -------
    plan, warm
        The plan, and the state to pass to the next call (``None`` when the LP was not
        solved: a fallback, or a problem solved by another model).
    """
    return _optimize(problem, objective or REPLAN_OBJECTIVE, time_limit_s=time_limit_s,
                     max_chord_deg=10.0,
                     win_back_energy=True, max_lp_rounds=max_lp_rounds, resolve_share=1e-3,
                     lp_path="auto", solver=solver, min_current="repair", method="lp",
                     grid=grid, far_chord_deg=None, node_rows=node_rows, warm=warm,
                     first_step_only=True)


def _optimize(
    problem: Problem, objective: Objective | None, *, time_limit_s: float | None,
    max_chord_deg: float, win_back_energy: bool, max_lp_rounds: int, resolve_share: float,
    lp_path: Literal["auto", "sparse", "proto"], solver: SolverName,
    min_current: Literal["repair", "mip"], method: Literal["lp", "flow", "auto", "tree"],
    grid: Literal["all", "mpc"] | Sequence[tuple[float, float]],
    far_chord_deg: float | None, node_rows: Literal["all", "lazy"], warm: LazyRows | None,
    first_step_only: bool = False,
) -> tuple[Plan, LazyRows | None]:
    """:func:`optimize`, and the lazy rows' state for the next re-plan (:func:`replan`)."""
    if node_rows not in ("all", "lazy"):
        raise InvalidProblemError(f"unknown node_rows {node_rows!r} (all or lazy)",
                                  path="node_rows", rule="node-rows")
    obj = objective or Objective()
    t0 = time.perf_counter()
    # compile: the problem's arrays and every node's rows
    net: Network = problem.network()
    rows = net.rows(max_chord_deg)
    if uses_site_model(problem):  # generation, batteries, feed-in, modes
        if method == "flow":
            raise InvalidProblemError("the min-cost flow does not apply: the problem has "
                                      "generation, batteries, a feed-in price or session "
                                      "modes", path="method", rule="flow-structure")
        return optimize_site(problem, net, rows, obj, time_limit_s, lp_path, solver, t0,
                             max_chord_deg, exact=True if min_current == "mip" else None), None
    if net.has_v2x:
        if method == "flow":
            raise InvalidProblemError("the min-cost flow does not apply: a session may "
                                      "discharge (V2X)", path="method", rule="flow-structure")
        return optimize_v2x(problem, net, rows, obj, time_limit_s, lp_path, solver, t0), None
    allowed = allowed_mask(net, rows)
    if not allowed.any():
        t1 = time.perf_counter()
        return Plan(problem, np.zeros((net.S, net.T)), SolverStatus.EMPTY,
                    Timings(build=t1 - t0), "no session can charge within the horizon"), None
    mip = min_current == "mip"
    tried = ""  # large pure power trees: the greedy fill, kept if near-optimal (proven)
    if method == "tree" or (solver == "auto" and method != "flow" and not mip
                            and int(allowed.sum()) > TREE_MIN_COLUMNS):
        limits = tree_limits(net, rows)
        why = tree_applicable(net, obj, limits)
        if method == "tree" and why is not None:
            raise InvalidProblemError(f"the greedy fill does not apply: {why}",
                                      path="method", rule="tree-structure")
        if limits is not None and why is None:
            t1 = time.perf_counter()
            sp, fill_kept, tried = solve_tree(net, rows, allowed, obj, limits)
            t2 = time.perf_counter()
            if fill_kept or method == "tree":
                return Plan(problem, sp, SolverStatus.FEASIBLE,
                            Timings(build=t1 - t0, solve=t2 - t1), tried), None
            tried = f"{tried} in {t2 - t1:.2f} s, so the LP; "
    if method != "lp" and not mip:
        why = flow_applicable(net, obj) or (
            "the charge-early term is weighted by urgency or front-loaded"
            if (obj.urgency > 0 or obj.front_load > 0) and obj.early else None)
        if why is None:
            return _optimize_flow(problem, net, rows, allowed, obj, t0, win_back_energy), None
        if method == "flow":
            raise InvalidProblemError(f"the min-cost flow does not apply: {why}",
                                      path="method", rule="flow-structure")
    # (coarse blocks) -> build -> solve
    starts = None if (mip or net.has_ramp) else _blocks(grid, net)
    lnet, lrows, lallowed = net, rows, allowed
    if starts is not None:
        far = None if far_chord_deg is None else net.rows(max(max_chord_deg, far_chord_deg))
        lnet, lrows = coarsen(net, rows, starts, far)
        lallowed = allowed_mask(lnet, lrows)
    view = _View(lnet, lrows, lallowed, starts, net)
    lp = build_lp(lnet, lrows, lallowed, obj, mip=mip)
    t1 = time.perf_counter()
    keep: BoolArray | None = None
    new_warm: LazyRows | None = None
    if node_rows == "lazy" and not (mip or net.has_ramp):
        res, keep, _ = solve_lazy(lp, lp.lb, lp.ub,
                                  initial_rows(lp, lnet, lrows, starts, net.T, warm),
                                  time_limit_s, t1, lp_path, solver)
        if res.x is not None:
            new_warm = tight_rows(lp, res.x, lnet, lrows, starts, net.T)
    else:
        res = solve_model(lp, lp.lb, lp.ub, time_limit_s, t1, lp_path,
                          "scip" if mip else solver)
    t2 = time.perf_counter()
    if res.x is None:  # fallback
        sp, note = safe_fallback(net, rows, allowed)
        t3 = time.perf_counter()
        return Plan(problem, sp, SolverStatus.FALLBACK,
                    Timings(build=t1 - t0, solve=t2 - t1, extract=t3 - t2),
                    f"{res.message}; {note}"), None
    if net.has_ramp:
        return optimize_ramped(problem, net, rows, allowed, lp, res, time_limit_s, lp_path,
                               solver, mip, t0, t1, t2), None
    # (spread blocks over their steps) -> repair -> win back
    raw = view.up(lp.session_power(res.x, lnet), allowed)
    first = _repaired(net, rows, allowed, raw, win_back_energy)
    status, msg = first_status(res, first.changed)
    # re-solve with the repaired on/off pattern fixed (then repair -> win back again)
    again = _resolve(view, rows, allowed, lp, first, max_lp_rounds=0 if mip else max_lp_rounds,
                     resolve_share=resolve_share, wb=win_back_energy,
                     time_limit_s=time_limit_s, t_start=t1, lp_path=lp_path, solver=solver,
                     keep=keep)
    if again.improved:
        status = SolverStatus.FEASIBLE
    solve_s = (t2 - t1) + again.solve_s
    t3 = time.perf_counter()
    if status is not SolverStatus.OPTIMAL:
        msg += f"; minimum-current repair, {again.rounds} LP round(s)"
    # a re-plan applies only the first step: leave no session a remainder it can never get
    sp = unstrand(net, rows, again.plan.sp) if first_step_only else again.plan.sp
    return Plan(problem, sp, status,
                Timings(build=t1 - t0, solve=solve_s, extract=t3 - t2 - again.solve_s),
                tried + msg), new_warm


@dataclass(frozen=True)
class _View:
    """The LP's view of the problem: the arrays, rows and allowed mask it is built from,
    on the real steps (``starts is None``) or on blocks of steps (:mod:`._coarse`)."""

    net: Network
    rows: list[Rows]
    allowed: BoolArray
    starts: IntArray | None
    fine: Network

    def up(self, sp: FloatArray, allowed: BoolArray) -> FloatArray:
        """LP power (S, LP steps) -> power on the real steps [W]."""
        if self.starts is None:
            return sp
        return np.where(allowed, expand(sp, self.starts, self.fine.T), 0.0)

    def down(self, sp: FloatArray) -> FloatArray:
        """Power on the real steps -> the LP's steps: each block's mean power while
        plugged in [W]."""
        if self.starts is None:
            return sp
        f = self.fine.frac
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.add.reduceat(sp * f, self.starts, axis=1) / self.net.frac
        return np.asarray(np.where(self.net.frac > 0, mean, 0.0), dtype=np.float64)

    def down_mask(self, m: BoolArray) -> BoolArray:
        """A (S, T) mask on the real steps -> the LP's steps (any step of a block)."""
        if self.starts is None:
            return m
        return np.asarray(np.logical_or.reduceat(m, self.starts, axis=1), dtype=bool)


def _blocks(
    grid: Literal["all", "mpc"] | Sequence[tuple[float, float]], net: Network
) -> IntArray | None:
    """The first step of each LP block, or ``None`` for every step (``grid="all"``, or a
    grid whose blocks are all single steps)."""
    if isinstance(grid, str):
        if grid == "all":
            return None
        if grid != "mpc":
            raise InvalidProblemError(f"unknown grid {grid!r} (all, mpc or a sequence)",
                                      path="grid", rule="grid")
        grid = DEFAULT_GRID
    for i, (until, block_s) in enumerate(grid):
        if not (until > 0 and block_s >= 0 and math.isfinite(block_s)):
            raise InvalidProblemError(
                f"grid entry {i} must be (until > 0 s, block length >= 0 s), got "
                f"({until}, {block_s})", path=f"grid[{i}]", rule="grid")
    starts = block_starts(net.T, net.step_s, grid)
    return None if len(starts) == net.T else starts


def _repaired(
    net: Network, rows: list[Rows], allowed: BoolArray, raw: FloatArray, wb: bool
) -> Repaired:
    """Repair, then (if ``wb``) win back: an LP solution's power -> a safe plan."""
    rep = repair(net, rows, allowed, raw)
    return win_back_stage(net, rows, allowed, rep) if wb else rep


@dataclass(frozen=True)
class _Resolved:
    """What the re-solve stage returns: the best safe plan, the LP solves in all (the first
    included), the time spent in the re-solves [s], and whether one of them improved it."""

    plan: Repaired
    rounds: int
    solve_s: float
    improved: bool


def _resolve(
    view: _View, rows: list[Rows], allowed: BoolArray, lp: LpModel, first: Repaired, *,
    max_lp_rounds: int, resolve_share: float, wb: bool, time_limit_s: float | None,
    t_start: float, lp_path: Literal["auto", "sparse", "proto"], solver: SolverName,
    keep: BoolArray | None = None,
) -> _Resolved:
    """Re-solve stage: fix the repaired plan's on/off pattern (:func:`_fixings`), solve the
    LP again, repair and win back. The first LP's energy is an upper bound: stop when the
    plan is within ``resolve_share`` of it, the rounds are used up, the time is, or a
    round makes no progress. On blocks (``view``), the fixings are made on the blocks'
    mean powers and the solution spread back over the steps. With ``keep`` (lazy node
    rows), each re-solve starts from those rows."""
    net = view.fine
    best, dropped = first.sp, first.dropped
    relax_wh = first.lp_wh
    rounds, solve_s, improved = 1, 0.0, False
    while rounds < max_lp_rounds and relax_wh - energy_wh(net, best).sum() > (
        resolve_share * relax_wh
    ):
        if time_limit_s is not None and time.perf_counter() - t_start >= time_limit_s:
            break
        ta = time.perf_counter()
        lb_p, ub_p = _fixings(view.net, view.rows, lp, view.down(best),
                              view.down_mask(dropped), view.allowed)
        lb = lp.lb.copy()
        ub = lp.ub.copy()
        nv = len(lp.vs)
        lb[:nv] = lb_p
        ub[:nv] = ub_p
        if keep is None:
            res = solve_model(lp, lb, ub, time_limit_s, t_start, lp_path, solver)
        else:
            res, keep, _ = solve_lazy(lp, lb, ub, keep, time_limit_s, t_start, lp_path, solver)
        rounds += 1
        solve_s += time.perf_counter() - ta
        if res.x is None:
            break
        nxt = _repaired(net, rows, allowed, view.up(lp.session_power(res.x, view.net), allowed),
                        wb)
        if energy_wh(net, nxt.sp).sum() <= energy_wh(net, best).sum() + 1e-6:
            break  # no progress: keep what we have
        best, dropped = nxt.sp, dropped | nxt.dropped
        improved = True
    return _Resolved(Repaired(best, first.changed, dropped, relax_wh), rounds, solve_s,
                     improved)


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
        sp, note = safe_fallback(net, rows, allowed)
        return Plan(problem, sp, SolverStatus.FALLBACK,
                    Timings(build=0.0, solve=t2 - t1, extract=time.perf_counter() - t2),
                    f"{message}; {note}")
    got = _repaired(net, rows, allowed, raw, wb)
    sp, changed = got.sp, got.changed
    t3 = time.perf_counter()
    status = SolverStatus.FEASIBLE if changed else SolverStatus.OPTIMAL
    if changed:
        message += "; minimum-current repair"
    # the flow builds its graph inside solve_flow: build time is counted in solve
    return Plan(problem, sp, status, Timings(build=t1 - t0, solve=t2 - t1, extract=t3 - t2),
                message)


def _fixings(
    net: Network, rows: list[Rows], lp: LpModel, sp: FloatArray, dropped: BoolArray,
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
    short = (net.need_wh - energy_wh(net, sp)) > 1e-6
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
        pos = [np.maximum(r.coef, 0.0) for r in rows]
        room = [r.rhs * (1 - 1e-6) - 1e-3 for r in rows]  # what the lower bounds may use
        load = [
            np.einsum("rm,mt->rt", pos[n], ep[net.members[n]])
            if rows[n].coef.shape[0]
            else np.zeros((0, net.T))
            for n in range(net.N)
        ]
        e_lb = energy_wh(net, lb_sp)
        anc = ancestors(net, rows)
        need = net.need_wh
        # candidates the loop below would skip anyway (cap and e_lb only grow): a session
        # already able to carry its need (a step the repair dropped still counts), or a
        # step whose minimum alone would put the session over its need
        js0, ss0 = cand, vs[cand]
        drop0 = dropped[ss0, vt[js0]]
        cand = cand[((cap[ss0] < need[ss0]) | drop0)
                    & (e_lb[ss0] + mn[js0] * wh[js0] <= need[ss0])]
        # sessions one after the other (cand is sorted by session); within a session each
        # step is one column, so promoting one step changes no other step's test: the
        # EVSE and row tests of all its candidate steps are made at once
        bounds = np.flatnonzero(np.diff(vs[cand])) + 1
        for js in np.split(cand, bounds) if len(cand) else []:
            s = int(vs[js[0]])
            e = int(net.sess_evse[s])
            ts = vt[js]
            add = mn[js]
            fits = ep[e, ts] + add <= net.evse_max_w[e]
            for n, k in anc[e]:
                fits &= ~np.any(load[n][:, ts] + pos[n][:, k:k + 1] * add[None, :]
                                > room[n][:, ts], axis=0)
            drop_s = dropped[s, ts].tolist()
            gain = (add * wh[js]).tolist()
            capg = (mx[js] * wh[js]).tolist()
            ok = fits.tolist()
            cap_s, e_s, need_s = float(cap[s]), float(e_lb[s]), float(need[s])
            took: list[int] = []
            for i in range(len(js)):
                if (cap_s >= need_s and not drop_s[i]) or not ok[i] or e_s + gain[i] > need_s:
                    continue
                e_s += gain[i]
                cap_s += capg[i]
                took.append(i)
            if not took:
                continue
            ti = np.asarray(took, dtype=np.int64)
            jt, tt, at = js[ti], ts[ti], add[ti]
            for n, k in anc[e]:
                load[n][:, tt] += pos[n][:, k:k + 1] * at[None, :]
            ep[e, tt] += at
            e_lb[s], cap[s] = e_s, cap_s
            lb[jt] = at
            lift[jt] = True
    ub = np.where(on | lift, mx, 0.0)
    return lb, ub
