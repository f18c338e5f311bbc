"""The site model: generation, stationary batteries, export limits and session modes.

A problem with generation, a battery, a feed-in price or a session mode other than
``"planned"`` is solved here instead of the charging-only pipeline (which stays byte for
byte the same for the problems it had). One mixed-integer model (:func:`solve_site`),
solved exactly (HiGHS' branch and bound) up to :data:`AUTO_MIP_BINARIES` binaries or with
``min_current="mip"``, else by a dive (LP relaxation; the binaries whose rule it breaks
rounded and fixed; again, until no rule is broken: ``OPTIMAL`` if the first LP broke none,
else ``FEASIBLE``, safe and maybe not optimal). Then every binary is fixed and the LP
re-solved (clean continuous values), snapped within solver noise and checked with
:func:`~smartcharge.optimizer.verify`; a plan that fails the check, or a solver failure,
gives a safe fallback (grid-only charging of the ``planned`` and ``fast`` sessions,
batteries idle, generation off).

Columns, per step ``t``: the power ``p[s,t]`` of each session while plugged in, the tiers
``y[s,k]`` of the energy (as in the charging-only model), the root's import ``gi[t]`` and
export ``ge[t]`` (average power over the step), the generation used ``g[i,t] <=``
forecast (the rest curtailed), each battery's charge ``bc[b,t]``, discharge ``bd[b,t]`` and
state of charge ``soc[b,t]`` [Wh], and binaries: ``w[b,t]`` (1: the battery may charge, 0:
it may discharge, so never both at once), ``u[t]`` (1: a surplus step) and ``z[s,t]`` (the
0-or-at-least-the-minimum rule).

Rows (all linear, built from whole arrays):

- energy ``sum_t p frac dt = sum_k y <= need``; EVSE maxima where sessions share a step;
- every node: ``P_n = EV power below + site load below + sum (bc - bd - g) below``;
  ``P_n <= max_power_w`` and ``-P_n <= max_export_w`` (or ``max_power_w``), and each line
  current inside an inscribed polygon of its circle whose cone covers the EVSE phasors,
  the site load and both directions of the balanced battery / generation phasors (so the
  exact line currents of every signed flow stay within the limit); where the site load
  alone breaks a row, the EVs below are off and a penalised slack lets the batteries
  cover what they can;
- grid balance ``gi - ge = sum p frac + site load + sum (bc - bd - g)`` (averages);
- battery ``soc[t] = soc[t-1] + (eta bc - bd / eta) dt`` within ``[min_wh, max_wh]``,
  ``bc <= max_charge w``, ``bd <= max_discharge (1 - w)``;
- surplus rule (``pv`` sessions and the part above the minimum of ``min_pv`` ones):
  ``p <= base + (max - base) u`` (``base`` 0 or the minimum), and on a surplus step the
  instantaneous net power at the root is below 0 and no battery discharges:
  ``root power + M u <= M - margin``, ``bd + max_discharge u <= max_discharge``;
- modes ``fast`` (target rate: the maximum) and ``min_pv`` (the minimum): the energy
  delivered by the end of step ``k`` plus a shortfall ``sigma[s,k] >= 0`` is at least
  ``min(need, rate x plugged-in hours up to k)``; each Wh-step of shortfall costs half the
  value of a Wh, more than any price spread, so these sessions charge at their rate from
  arrival whenever the limits allow (a soft target, like the energy);
- ``peak >= root power`` for a demand charge; the ramp rows of the EV power.

Objective (minimised, in units of the value of a Wh ``V``): ``- sum y`` (tiers as in
:mod:`._model`) ``+ (price gi - export_price ge) dt / 1000 + CO2 on gi + wear bd dt / 1000 +
demand charge + shortfalls + a battery's missed final target (1 per Wh)``, plus two
tie-breakers: charge early, and use generation rather than curtail it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer._lp import LpResult, SolverName
from smartcharge.optimizer._model import (
    EPS_EARLY,
    LpModel,
    RowBuilder,
    energy_rows,
    energy_value,
    evse_rows,
    margin,
    objective_scale,
    onoff_rows,
    ramp_rows,
    solve_model,
    tiers,
)
from smartcharge.optimizer._network import Network, Rows, _chords
from smartcharge.optimizer._repair import allowed_mask, safe_fallback
from smartcharge.optimizer._site import MODES, SiteArrays, site_arrays
from smartcharge.optimizer.plan import Plan, SolverStatus, Timings
from smartcharge.optimizer.problem import Objective, Problem
from smartcharge.optimizer.verify import verify

__all__ = ["SiteLP", "build_site", "optimize_site", "solve_site"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SHORTFALL_COST = 0.5
"""Cost of one Wh-step behind a ``fast`` / ``min_pv`` target, in values of a Wh."""
FINAL_COST = 1.0
"""Cost of one Wh below a battery's final target, in values of a Wh."""
SLACK_COST = 20.0
"""Cost of one W of a node row the site load alone breaks, per hour of the step, in values
of a Wh (covering an overload comes before energy)."""
SOC_MARGIN_WH = 1e-3
"""The model keeps the state of charge this far [Wh] inside its bounds."""
USE_GENERATION = 1e-6
"""Tie-breaker [values of a Wh per Wh]: use generation rather than curtail it."""
AUTO_MIP_BINARIES = 600
"""Up to this many binaries the site model is solved as the full MIP (exact; a 10-EVSE
workplace over a day with 446 binaries took 2 s, a 20-EVSE one with 733 ran past 60 s on
the loaded 2-core machine), above by the dive. Size decides, not time: plans stay
deterministic."""
NOISE_W = 1e-6
"""Powers at most this [W] count as 0 (solver noise)."""
MAX_DIVES = 30
"""LP rounds of the dive before every binary left is rounded at once (and as many again
for the rounds that turn infeasible fixings off)."""



class _Cols:
    """Columns of the model: bounds and costs, allocated block by block."""

    def __init__(self) -> None:
        self.lb: list[FloatArray] = []
        self.ub: list[FloatArray] = []
        self.c: list[FloatArray] = []
        self.n = 0

    def add(self, lb: FloatArray, ub: FloatArray, c: FloatArray) -> IntArray:
        """``len(lb)`` new columns; returns their indices."""
        idx = self.n + np.arange(len(lb), dtype=np.int64)
        self.lb.append(np.asarray(lb, dtype=np.float64))
        self.ub.append(np.asarray(ub, dtype=np.float64))
        self.c.append(np.asarray(c, dtype=np.float64))
        self.n += len(lb)
        return idx


@dataclass
class SiteLP:
    """The site model and where its columns are (``lp.integer`` is ``None``: which binaries
    are integer is decided by :func:`solve_site`)."""

    lp: LpModel
    p: IntArray  # power columns (vs, vt in lp)
    g: IntArray  # (G, T) generation columns
    bc: IntArray  # (B, T) battery charge columns
    bd: IntArray  # (B, T) battery discharge columns
    z: IntArray  # on/off binaries of the power columns with a minimum
    z_of: IntArray  # the position in p of each z
    w: IntArray  # (B, T) battery direction binaries
    u: IntArray  # surplus-step binaries
    u_steps: IntArray  # the step of each u
    pv: IntArray  # positions in p of the pv / min_pv columns
    pv_base: FloatArray  # their base [W] (0 or the minimum)
    fcols: IntArray  # (F, T) balanced-flow columns (charge, discharge, generation)
    fsign: FloatArray  # (F,) +1 consumes, -1 feeds in


def optimize_site(
    problem: Problem, net: Network, rows: list[Rows], obj: Objective,
    time_limit_s: float | None, lp_path: Literal["auto", "sparse", "proto"],
    solver: SolverName, t0: float, max_chord_deg: float, exact: bool | None = None,
) -> Plan:
    """Solve a problem with generation, batteries, a feed-in price or session modes (see
    the module docstring). ``exact``: the full MIP (``True``), the dive (``False``), or
    by size (``None``: the MIP up to :data:`AUTO_MIP_BINARIES` binaries)."""
    if net.has_v2x:
        s = int(np.flatnonzero(net.sess_v2x)[0])
        raise InvalidProblemError(
            "V2X sessions are not combined with generation, batteries, a feed-in price or "
            "session modes yet", path=f"sessions[{s}].max_discharge_w", rule="site-model")
    site = site_arrays(problem)
    m = build_site(net, rows, site, obj, max_chord_deg)
    t1 = time.perf_counter()
    if exact is None:
        exact = len(m.z) + m.w.size + len(m.u) <= AUTO_MIP_BINARIES
    x, status, msg, path = solve_site(m, net, time_limit_s, lp_path, solver, exact)
    t2 = time.perf_counter()
    if x is not None:
        sp, bat, gen = _snap_balance(net, site, *_extract(net, site, m, x))
        plan = Plan(problem, sp, SolverStatus.OPTIMAL if status == "optimal" else
                    SolverStatus.FEASIBLE, Timings(build=t1 - t0, solve=t2 - t1,
                                                   extract=time.perf_counter() - t2),
                    f"{msg} via {path}; site model", bat, gen)
        bad = verify(problem, plan)
        if not bad:
            return plan
        msg = f"{msg}; site solution failed verify ({bad[0].message})"
    grid_only = site.mode == MODES.index("planned")
    grid_only |= site.mode == MODES.index("fast")
    sp, note = safe_fallback(net, rows, allowed_mask(net, rows) & grid_only[:, None])
    return Plan(problem, sp, SolverStatus.FALLBACK,
                Timings(build=t1 - t0, solve=t2 - t1, extract=time.perf_counter() - t2),
                f"{msg}; {note} (grid only: batteries idle, generation off)",
                np.zeros((site.B, net.T)), np.zeros((site.G, net.T)))


def solve_site(
    m: SiteLP, net: Network, time_limit_s: float | None,
    lp_path: Literal["auto", "sparse", "proto"], solver: SolverName, exact: bool = False,
) -> tuple[FloatArray | None, str, str, str]:
    """Solve stage: the binaries' values, then the LP with them all fixed (clean values).

    ``exact``: the full MIP (HiGHS' branch and bound; the example's two days in 4 s, but a
    20-EVSE workplace ran past 60 s). Otherwise a dive: solve the LP with the binaries
    relaxed; the binaries whose rule the solution breaks (a surplus step on which the site
    imports or a battery discharges; when there is none, a power below its minimum or a
    battery charging and discharging) are fixed by :func:`_rounded_binaries` and the LP
    solved again,
    until no rule is broken (at most ``MAX_DIVES`` rounds, then every binary is rounded).
    Unbroken at the first round: optimal; else feasible, maybe not optimal. A failed
    round (rounding a power up to its minimum can make the LP infeasible) sets those
    binaries to 0 (always feasible) and tries again. Returns the solution (``None``: none),
    its status (``"optimal"`` only when proven), a message and the load path.
    """
    lp = m.lp
    binaries = np.concatenate([m.z, m.w.reshape(-1), m.u])
    nz = len(m.z)
    t1 = time.perf_counter()

    def run(lb: FloatArray, ub: FloatArray, integer: IntArray | None) -> LpResult:
        model = LpModel(lb, ub, lp.c, lp.row_lb, lp.row_ub, lp.indptr, lp.indices, lp.data,
                        lp.vs, lp.vt, lp.value_wh, integer)
        # HiGHS' branch and bound (dual simplex) for the MIP: 4 s where SCIP ran past 120 s
        return solve_model(model, lb, ub, time_limit_s, t1, lp_path,
                           "highs-simplex" if integer is not None else solver)

    def with_fixed(mask: BoolArray, values: FloatArray) -> LpResult:
        lb, ub = lp.lb.copy(), lp.ub.copy()
        lb[binaries[mask]] = ub[binaries[mask]] = values[mask]
        return run(lb, ub, None)

    x: FloatArray | None = None
    status, msg, path = "failed", "not solved", "none"
    if not exact:
        fixed = np.zeros(len(binaries), dtype=bool)
        values = np.zeros(len(binaries))
        last = np.zeros(len(binaries), dtype=bool)
        at_min = np.zeros(len(binaries), dtype=bool)
        is_w = (np.arange(len(binaries)) >= nz) & (np.arange(len(binaries)) < nz + m.w.size)
        rounds = 0
        while rounds < 2 * MAX_DIVES:
            rounds += 1
            res = with_fixed(fixed, values)
            if res.x is None:
                ups = last & (values > 0.5) & (np.arange(len(binaries)) < nz) & ~at_min
                if not ups.any():  # minima that were below their minimum, then all
                    ups = last & (values > 0.5) & (np.arange(len(binaries)) < nz)
                if not ups.any():
                    ups = last & (values > 0.5) & ~is_w  # then surplus steps
                if not ups.any():
                    msg = f"{res.message}; dive failed after {rounds} round(s)"
                    break
                # a minimum or a surplus step of the last round did not fit: off instead
                # (0 is always feasible for them: all-zero EV power meets every row)
                values[ups] = 0.0
                last[:] = False
                continue
            x, path = res.x, res.path
            status = res.status if rounds == 1 else "feasible"
            bad = _broken_binaries(m, net, x) & ~fixed
            msg = f"{res.message}; {rounds} LP round(s), {int(fixed.sum())} of " \
                  f"{len(binaries)} binaries fixed by rounding"
            if not bad.any():
                break
            is_u = np.arange(len(binaries)) >= len(binaries) - len(m.u)
            if (bad & is_u).any():
                bad &= is_u  # surplus steps first: the powers' rounding depends on them
            if rounds >= MAX_DIVES:
                bad = ~fixed  # enough rounds: round every binary left at once
            values[bad] = _rounded_binaries(m, net, x)[bad]
            at_min = np.zeros(len(binaries), dtype=bool)
            zmin = np.minimum(net.sess_min_w[lp.vs[m.z_of]], net.sess_max_w[lp.vs[m.z_of]])
            at_min[:nz] = x[m.p[m.z_of]] >= zmin * (1 - 1e-6)
            fixed |= bad
            last = bad
            x = None
    if exact:
        full = run(lp.lb, lp.ub, binaries)
        msg = f"{full.message}; MIP"
        x, status, path = full.x, full.status, full.path
    if x is None:
        return None, status, msg, path
    final = with_fixed(np.ones(len(binaries), dtype=bool), _implied_binaries(m, net, x))
    if final.x is not None:
        return final.x, status, f"{msg}; binaries fixed, {final.message}", path
    return x, status, f"{msg}; binaries fixed: {final.message} (kept as solved)", path


def _rounded_binaries(m: SiteLP, net: Network, x: FloatArray) -> FloatArray:
    """A value for every binary (z, w, u) from a relaxed solution, for the dive: a surplus
    step where the site would import nothing without the pv sessions' power above their
    base and without battery discharge (then those sessions can take the surplus); on
    wherever the power is above 0 (rounded up to the minimum: the LP lowers other steps
    to keep within the need; where the minimum does not fit, the dive tries off); a
    battery's direction by its larger flow."""
    above = _pv_above(m, net, x)
    root = _root_power(m, net, x)
    dis = x[m.bd].sum(axis=0) if m.bd.size else np.zeros(net.T)
    u = (root - above + dis)[m.u_steps] <= NOISE_W
    z = x[m.p[m.z_of]] > NOISE_W
    # a pv session (base 0) is off wherever the step is not a surplus step
    surplus = np.zeros(net.T, dtype=bool)
    surplus[m.u_steps] = u
    pv_only = np.zeros(len(m.p), dtype=bool)
    pv_only[m.pv[m.pv_base == 0]] = True
    z &= ~(pv_only[m.z_of] & ~surplus[m.lp.vt[m.z_of]])
    w = (x[m.bc] > x[m.bd]).reshape(-1)
    return np.concatenate([z, w, u]).astype(np.float64)


def _pv_above(m: SiteLP, net: Network, x: FloatArray) -> FloatArray:
    """(T,) power [W] the pv / min_pv sessions draw above their base, per step."""
    above = np.maximum(x[m.p[m.pv]] - m.pv_base, 0.0)
    return np.asarray(np.bincount(m.lp.vt[m.pv], weights=above, minlength=net.T),
                      dtype=np.float64)


def _root_power(m: SiteLP, net: Network, x: FloatArray) -> FloatArray:
    """(T,) instantaneous power [W] at the root of a solution (EVs while plugged in)."""
    ev = np.bincount(m.lp.vt, weights=x[m.p], minlength=net.T)
    flows = (m.fsign[:, None] * x[m.fcols]).sum(axis=0) if m.fcols.size else 0.0
    return np.asarray(ev + flows + net.base_w, dtype=np.float64)


def _broken_binaries(m: SiteLP, net: Network, x: FloatArray) -> BoolArray:
    """Which binaries (z, w, u, in that order) stand for a rule the solution breaks."""
    mn = np.minimum(net.sess_min_w[m.lp.vs[m.z_of]], net.sess_max_w[m.lp.vs[m.z_of]])
    pz = x[m.p[m.z_of]]
    bad_z = (pz > NOISE_W) & (pz < mn * (1 - 1e-6))
    bad_w = np.minimum(x[m.bc], x[m.bd]).reshape(-1) > NOISE_W
    bad_u = np.zeros(len(m.u), dtype=bool)
    if len(m.u):
        above = _pv_above(m, net, x)[m.u_steps] > NOISE_W
        root = _root_power(m, net, x)[m.u_steps] > NOISE_W
        dis = (x[m.bd][:, m.u_steps] > NOISE_W).any(axis=0) if m.bd.size else False
        bad_u = above & (root | dis)
    return np.concatenate([bad_z, bad_w, bad_u])


def _implied_binaries(m: SiteLP, net: Network, x: FloatArray) -> FloatArray:
    """The binaries (z, w, u) a rule-abiding solution implies: on where it draws power,
    charging where it charges more than it discharges, surplus where a pv session draws
    above its base."""
    z = x[m.p[m.z_of]] > NOISE_W
    w = (x[m.bc] > x[m.bd]).reshape(-1)
    u = _pv_above(m, net, x)[m.u_steps] > NOISE_W if len(m.u) else np.zeros(0, dtype=bool)
    return np.concatenate([z, w, u]).astype(np.float64)


def _extract(
    net: Network, site: SiteArrays, m: SiteLP, x: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Session powers, signed battery powers and generation used from a solution, with
    solver noise removed (|v| <= 1e-6 W is 0, values within 1e-6 below a minimum are the
    minimum, everything clipped to its bounds by at most noise)."""
    sp = np.zeros((net.S, net.T))
    sp[m.lp.vs, m.lp.vt] = x[m.p]
    sp = np.where(np.abs(sp) <= 1e-6, 0.0, sp)
    mn = net.sess_min_w[:, None]
    near = (sp > 0) & (sp < mn) & (sp >= mn * (1 - 1e-6))
    sp = np.where(near, np.broadcast_to(mn, sp.shape), sp)
    sp = np.where(net.frac > 0, np.clip(sp, 0.0, net.sess_max_w[:, None]), 0.0)
    bat = x[m.bc] - x[m.bd] if site.B else np.zeros((0, net.T))
    bat = np.where(np.abs(bat) <= 1e-6, 0.0, bat)
    bat = np.clip(bat, -site.discharge_max[:, None], site.charge_max[:, None])
    gen = x[m.g] if site.G else np.zeros((0, net.T))
    gen = np.clip(np.where(gen <= 1e-6, 0.0, gen), 0.0, site.gen_w)
    return sp, bat, gen


def _snap_balance(
    net: Network, site: SiteArrays, sp: FloatArray, bat: FloatArray, gen: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Remove solver noise from the balances the model holds with no margin (a zero-export
    site on surplus has exactly 0 at the root): where a node exports more than its limit,
    curtail the generation below it by the excess; then, at a surplus step where the root
    imports, use more of the forecast, and lower the ``pv`` / ``min_pv`` sessions' power
    above their base by what is left. Every change is of the size of the noise."""
    gen = gen.copy()
    sp = sp.copy()
    flows = np.zeros((net.N, net.T))
    np.add.at(flows, site.bat_node, bat)
    ev = net.evse_power(sp)
    for n in net.order.tolist():
        lim = net.export_limit[n]
        under = np.flatnonzero(site.below[n, site.gen_node])
        if not np.any(np.isfinite(lim)) or len(under) == 0:
            continue
        power = (net.node_power(n, ev) + site.below[n].astype(np.float64) @ flows
                 - gen[under].sum(axis=0))
        excess = np.maximum(-power - lim, 0.0)
        for i in under.tolist():  # curtail generator by generator
            cut = np.minimum(excess, gen[i])
            gen[i] -= cut
            excess -= cut
    pv = (site.mode == MODES.index("pv")) | (site.mode == MODES.index("min_pv"))
    if not pv.any():
        return sp, bat, gen
    base = np.where(site.mode == MODES.index("min_pv"), net.sess_min_w, 0.0)[:, None]
    above = np.where(pv[:, None], np.maximum(sp - base, 0.0), 0.0)
    root = net.node_power(net.root, ev) + bat.sum(axis=0) - gen.sum(axis=0)
    surplus = above.sum(axis=0) > 0
    left = np.where(surplus, np.maximum(root, 0.0), 0.0)
    for i in range(site.G):
        more = np.minimum(left, site.gen_w[i] - gen[i])
        gen[i] += more
        left -= more
    for s in np.flatnonzero(pv).tolist():
        cut = np.minimum(left, above[s])
        sp[s] -= cut
        left -= cut
    return sp, bat, gen


def _value(net: Network, site: SiteArrays, obj: Objective) -> float:
    """The value of a Wh ``V``: as in the charging-only model, also above ten times the
    feed-in price and a battery's wear."""
    v = energy_value(net, obj)
    extra = obj.cost * float(np.max(np.abs(site.export_price), initial=0.0)) / 1000.0
    extra += float(np.max(site.wear_per_wh, initial=0.0))
    return max(v, 10.0 * extra)


def _node_rows(
    net: Network, site: SiteArrays, n: int, fnode: IntArray, fsign: FloatArray,
    max_chord_deg: float,
) -> tuple[FloatArray, FloatArray, FloatArray, BoolArray]:
    """Node ``n``'s rows over its EVSEs and the balanced flows below it: coefficients
    (R, members) and (R, F), right-hand sides (R, T) (``inf``: not binding), and which
    rows the model keeps with no margin (the export row: a zero-export site on surplus
    sits at exactly 0; the generation's curtailment absorbs the noise)."""
    m = len(net.members[n])
    base = net.base_w if net.base_under[n] else np.zeros(net.T)
    F = len(fnode)
    inside = site.below[n, fnode] if F else np.zeros(0, dtype=bool)
    ce: list[FloatArray] = []
    cf: list[FloatArray] = []
    rh: list[FloatArray] = []
    fs = np.where(inside, fsign, 0.0)
    if np.any(np.isfinite(net.power_limit[n])):
        ce.append(np.ones(m))
        cf.append(fs)
        rh.append(net.power_limit[n] - base)
    exact: list[bool] = [False] * len(ce)
    if np.any(np.isfinite(net.export_limit[n])) and inside.any():
        ce.append(-np.ones(m))
        cf.append(-fs)
        rh.append(net.export_limit[n] + base)
        exact.append(True)
    limit = net.current_limit[n]
    if np.any(np.isfinite(limit)):
        for k in range(3):
            c = net.coef[n][:, k]
            ph = np.where(inside, site.bal[n, fnode, k] * fsign, 0.0)
            b = net.base_coef[n][k] if net.base_under[n] else 0j
            cone = np.concatenate([c, ph[inside], -ph[inside]])  # flows go both ways
            for psi, cos_half in _chords(cone, b, max_chord_deg):
                rot = np.exp(-1j * psi)
                ce.append((c * rot).real.copy())
                cf.append((ph * rot).real.copy())
                rh.append(limit * cos_half - (b * rot).real * base)
                exact.append(False)
    if not ce:
        return (np.zeros((0, m)), np.zeros((0, F)), np.zeros((0, net.T)),
                np.zeros(0, dtype=bool))
    rhs = np.stack(rh)
    return (np.stack(ce), np.stack(cf), np.where(np.isnan(rhs), np.inf, rhs),
            np.array(exact, dtype=bool))


def build_site(
    net: Network, rows: list[Rows], site: SiteArrays, obj: Objective, max_chord_deg: float
) -> SiteLP:
    """The site model of the module docstring."""
    T, dt = net.T, net.dt_h
    V = _value(net, site, obj)
    scale = 1.0 / V
    cols = _Cols()
    m = RowBuilder()

    # node rows first: the steps they force off
    fnode = np.concatenate([site.bat_node, site.bat_node, site.gen_node]).astype(np.int64)
    fsign = np.concatenate([np.ones(site.B), -np.ones(site.B), -np.ones(site.G)])
    node_rows = [_node_rows(net, site, n, fnode, fsign, max_chord_deg) for n in range(net.N)]
    forced = np.zeros((net.E, T), dtype=bool)
    for n, (_, _, rhs, _) in enumerate(node_rows):
        bad = np.any(margin(rhs) < 0, axis=0)
        if bad.any():
            forced[np.ix_(net.members[n], np.flatnonzero(bad))] = True

    # (columns) session power, tiers
    ok = allowed_mask(net, rows) & ~forced[net.sess_evse]
    vs, vt = (a.astype(np.int64) for a in np.nonzero(ok))
    nv = len(vs)
    wh = net.frac[vs, vt] * dt
    c_p = wh * EPS_EARLY * (vt + 1) / T if obj.early else np.zeros(nv)
    p = cols.add(np.zeros(nv), net.sess_max_w[vs], c_p)
    active = np.flatnonzero(ok.any(axis=1))
    K, c_y, ub_y = tiers(net, obj, active)
    cols.add(np.zeros(len(ub_y)), ub_y, c_y)
    energy_rows(m, net, active, K, vs, wh)
    evse_rows(m, net, vs, vt, np.ones(nv), both_ways=False)

    # (columns) grid, generation, batteries
    unit = dt / 1000.0 * scale  # currency per W over a step, in values of a Wh
    gi = cols.add(np.zeros(T), np.full(T, np.inf),
                  unit * (obj.cost * net.price + obj.co2_per_kg * net.co2 / 1000.0))
    ge = cols.add(np.zeros(T), np.full(T, np.inf), -unit * obj.cost * site.export_price)
    G, B = site.G, site.B
    g = cols.add(np.zeros(G * T), site.gen_w.reshape(-1),
                 np.full(G * T, -USE_GENERATION * dt)).reshape(G, T)
    bc = cols.add(np.zeros(B * T), np.repeat(site.charge_max, T), np.zeros(B * T)).reshape(B, T)
    bd = cols.add(np.zeros(B * T), np.repeat(site.discharge_max, T),
                  np.repeat(site.wear_per_wh * dt * scale, T)).reshape(B, T)
    # within the bounds by the margin, but never excluding the initial state (idle)
    mid = (site.soc_min + site.soc_max) / 2
    lo = np.minimum(np.minimum(site.soc_min + SOC_MARGIN_WH, mid), site.soc0)
    hi = np.maximum(np.maximum(site.soc_max - SOC_MARGIN_WH, mid), site.soc0)
    soc = cols.add(np.repeat(lo, T), np.repeat(hi, T), np.zeros(B * T)).reshape(B, T)
    fcols = np.concatenate([bc, bd, g]).astype(np.int64)  # (F, T)

    # grid balance: gi - ge - sum p frac - sum (bc - bd - g) = site load
    _balance(m, net, vs, vt, p, gi, ge, fcols, fsign)
    # node rows, a slack where the site load alone breaks one
    for n, (ce, cf, rhs, exact) in enumerate(node_rows):
        _add_node_rows(m, cols, net, n, ce, cf, rhs, exact, vs, vt, p, fcols,
                       SLACK_COST * dt * max(1.0, float(net.evse_wpa.max(initial=1.0))))
    _battery_rows(m, cols, site, bc, bd, soc, dt)
    _mode_targets(m, cols, net, site, vs, vt, p, wh)
    if obj.demand and net.demand_charge > 0:  # peak >= instantaneous root power
        peak = cols.add(np.zeros(1), np.full(1, np.inf),
                        np.full(1, net.demand_charge / 1000.0 * scale))
        _root_rows(m, net, vs, vt, p, fcols, fsign, extra=(np.full(T, peak[0]), -np.ones(T)),
                   hi=-net.base_w)
    if net.has_ramp:
        ramp_rows(m, net, vs, vt, np.ones(nv))

    # integers: 0 or at least the minimum; battery direction; surplus steps
    mx = net.sess_max_w[vs]
    mn = np.minimum(net.sess_min_w[vs], mx)
    needs = np.flatnonzero(mn > 0)
    z = cols.add(np.zeros(len(needs)), np.ones(len(needs)), np.zeros(len(needs)))
    if len(needs):
        onoff_rows(m, p[needs], z, mx[needs], mn[needs])
    w = cols.add(np.zeros(B * T), np.ones(B * T), np.zeros(B * T)).reshape(B, T)
    if B:
        r = np.arange(B * T)
        m.add([r, r], [bc.reshape(-1), w.reshape(-1)],
              [np.ones(B * T), -np.repeat(site.charge_max, T)],
              np.full(B * T, -np.inf), np.zeros(B * T))
        m.add([r, r], [bd.reshape(-1), w.reshape(-1)],
              [np.ones(B * T), np.repeat(site.discharge_max, T)],
              np.full(B * T, -np.inf), np.repeat(site.discharge_max, T))
    u, u_steps, pv, pv_base = _surplus_rows(m, cols, net, site, vs, vt, p, bd, fcols, fsign)

    lb, ub, c = (np.concatenate(a) for a in (cols.lb, cols.ub, cols.c))
    lp = LpModel(lb, ub, c * objective_scale(net), *m.csr(), vs, vt, V, None)
    return SiteLP(lp, p, g, bc, bd, z, needs, w, u, u_steps, pv, pv_base, fcols, fsign)


def _balance(
    m: RowBuilder, net: Network, vs: IntArray, vt: IntArray, p: IntArray, gi: IntArray,
    ge: IntArray, fcols: IntArray, fsign: FloatArray,
) -> None:
    """``gi - ge - sum p frac - sum sign f = site load`` at every step (average powers)."""
    T = net.T
    F = fcols.shape[0]
    tt = np.arange(T)
    m.add([tt, tt, vt, np.tile(tt, F)],
          [gi, ge, p, fcols.reshape(-1)],
          [np.ones(T), -np.ones(T), -net.frac[vs, vt], -np.repeat(fsign, T)],
          net.base_w.copy(), net.base_w.copy())


def _root_rows(
    m: RowBuilder, net: Network, vs: IntArray, vt: IntArray, p: IntArray, fcols: IntArray,
    fsign: FloatArray, extra: tuple[IntArray | FloatArray, FloatArray], hi: FloatArray,
) -> None:
    """``sum p + sum sign f + coef * extra <= hi`` at every step: the instantaneous root
    power (site load on the right-hand side) plus one more column per step."""
    T = net.T
    F = fcols.shape[0]
    tt = np.arange(T)
    ecol, ecoef = extra
    m.add([vt, np.tile(tt, F), tt], [p, fcols.reshape(-1), np.asarray(ecol, np.int64)],
          [np.ones(len(vt)), np.repeat(fsign, T), ecoef], np.full(T, -np.inf), hi)


def _add_node_rows(
    m: RowBuilder, cols: _Cols, net: Network, n: int, ce: FloatArray, cf: FloatArray,
    rhs: FloatArray, exact: BoolArray, vs: IntArray, vt: IntArray, p: IntArray, fcols: IntArray,
    penalty: float,
) -> None:
    """Node ``n``'s rows at every step where they are finite (lowered by the LP's margin
    unless ``exact``); a slack in ``[0, -cap]`` where the right-hand side is negative."""
    R, T = rhs.shape
    if R == 0:
        return
    posn = np.full(net.E, -1, dtype=np.int64)
    posn[net.members[n]] = np.arange(len(net.members[n]))
    J = np.flatnonzero(posn[net.sess_evse[vs]] >= 0)
    ev_vals = ce[:, posn[net.sess_evse[vs[J]]]]  # (R, |J|)
    ev_keys = np.arange(R)[:, None] * T + vt[J][None, :]
    ev_cols = np.broadcast_to(p[J][None, :], ev_keys.shape)
    F = fcols.shape[0]
    f_keys = (np.arange(R)[:, None, None] * T + np.arange(T)[None, None, :]).repeat(F, 1)
    f_vals = np.broadcast_to(cf[:, :, None], (R, F, T))
    f_cols = np.broadcast_to(fcols[None, :, :], (R, F, T))
    keys = np.concatenate([ev_keys.reshape(-1), f_keys.reshape(-1)])
    cc = np.concatenate([ev_cols.reshape(-1), f_cols.reshape(-1)])
    vals = np.concatenate([ev_vals.reshape(-1), f_vals.reshape(-1)])
    b = rhs.reshape(-1)
    keep = np.isfinite(b[keys]) & (vals != 0.0)
    if not keep.any():
        return
    used, rid = np.unique(keys[keep], return_inverse=True)
    cap = np.where(exact[used // T], b[used], margin(b[used]))
    cap = np.where(b[used] >= 0, np.maximum(cap, 0.0), cap)
    neg = np.flatnonzero(cap < 0)
    rid_l, col_l, val_l = [rid], [cc[keep]], [vals[keep]]
    if len(neg):
        s = cols.add(np.zeros(len(neg)), -cap[neg], np.full(len(neg), penalty))
        rid_l.append(neg)
        col_l.append(s)
        val_l.append(-np.ones(len(neg)))
    m.add(rid_l, col_l, val_l, np.full(len(used), -np.inf), cap)


def _battery_rows(
    m: RowBuilder, cols: _Cols, site: SiteArrays, bc: IntArray, bd: IntArray, soc: IntArray,
    dt: float,
) -> None:
    """``soc[t] - soc[t-1] - eta bc dt + bd dt / eta = 0`` (``soc[-1]`` the initial state)
    and the final target ``soc[T-1] + phi >= final`` (``phi`` penalised)."""
    B, T = bc.shape
    if B == 0:
        return
    r = np.arange(B * T)
    prev = (r % T) > 0
    eta = np.repeat(site.eta, T)
    rhs = np.where(prev, 0.0, np.repeat(site.soc0, T))
    m.add([r, r[prev], r, r], [soc.reshape(-1), soc.reshape(-1)[r[prev] - 1],
                               bc.reshape(-1), bd.reshape(-1)],
          [np.ones(B * T), -np.ones(int(prev.sum())), -eta * dt, dt / eta], rhs, rhs.copy())
    target = np.flatnonzero(np.isfinite(site.soc_final))
    if len(target):
        k = len(target)
        phi = cols.add(np.zeros(k), np.full(k, np.inf), np.full(k, FINAL_COST))
        m.add([np.arange(k), np.arange(k)], [soc[target, T - 1], phi],
              [np.ones(k), np.ones(k)], site.soc_final[target], np.full(k, np.inf))


def _mode_targets(
    m: RowBuilder, cols: _Cols, net: Network, site: SiteArrays, vs: IntArray, vt: IntArray,
    p: IntArray, wh: FloatArray,
) -> None:
    """``fast`` and ``min_pv``: energy by the end of step ``k`` plus a shortfall is at
    least ``min(need, rate x plugged-in hours so far)`` (the steps it may charge)."""
    rate = np.where(site.mode == MODES.index("fast"), net.sess_max_w,
                    np.where(site.mode == MODES.index("min_pv"),
                             np.minimum(net.sess_min_w, net.sess_max_w), 0.0))
    for s in np.flatnonzero(rate > 0).tolist():
        mine = np.flatnonzero(vs == s)
        if len(mine) == 0:
            continue
        steps = vt[mine]  # sorted: columns are in (session, step) order
        target = np.minimum(net.need_wh[s], np.cumsum(rate[s] * wh[mine]))
        k = len(mine)
        sigma = cols.add(np.zeros(k), np.full(k, np.inf),
                         np.full(k, SHORTFALL_COST))
        kk, jj = np.nonzero(steps[None, :] <= steps[:, None])  # row k: columns j <= k
        m.add([kk, np.arange(k)], [p[mine[jj]], sigma], [wh[mine[jj]], np.ones(k)],
              target, np.full(k, np.inf))


def pos_of(steps: IntArray, T: int) -> IntArray:
    """(T,) the position of each step in ``steps`` (-1 if absent)."""
    pos = np.full(T, -1, dtype=np.int64)
    pos[steps] = np.arange(len(steps))
    return pos


def _surplus_rows(
    m: RowBuilder, cols: _Cols, net: Network, site: SiteArrays, vs: IntArray, vt: IntArray,
    p: IntArray, bd: IntArray, fcols: IntArray, fsign: FloatArray,
) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """The surplus rule: ``p <= base + (max - base) u[t]`` for ``pv`` (base 0) and
    ``min_pv`` (base: the minimum) columns; on a surplus step (``u = 1``) the root's
    instantaneous power is at most 0 and no battery discharges (no margin: a zero-export
    site on surplus sits at exactly 0; :func:`_snap_balance` removes the solver's noise)."""
    mode = site.mode[vs]
    pv = (mode == MODES.index("pv")) | (mode == MODES.index("min_pv"))
    if not pv.any():
        none = np.zeros(0, dtype=np.int64)
        return none, none, none, np.zeros(0)
    T = net.T
    base = np.where(mode == MODES.index("min_pv"),
                    np.minimum(net.sess_min_w[vs], net.sess_max_w[vs]), 0.0)[pv]
    steps = np.unique(vt[pv])
    k = len(steps)
    u_of = np.full(T, -1, dtype=np.int64)
    u = cols.add(np.zeros(k), np.ones(k), np.zeros(k))
    u_of[steps] = u
    J = np.flatnonzero(pv)
    r = np.arange(len(J))
    # on a surplus step the root imports nothing, so the power above the bases is at most
    # the generation left after the site load: a tighter (still valid) bound than the
    # session's own, which makes the relaxation much closer to the rule
    room = np.maximum(site.gen_w.sum(axis=0) - net.base_w, 0.0)
    cap = np.minimum(net.sess_max_w[vs[J]] - base, room[vt[J]])
    m.add([r, r], [p[J], u_of[vt[J]]], [np.ones(len(J)), -cap],
          np.full(len(J), -np.inf), base)
    # and together: sum over the step of (p - base) <= room u
    m.add([pos_of(steps, T)[vt[J]], np.arange(k)], [p[J], u_of[steps]],
          [np.ones(len(J)), -room[steps]], np.full(k, -np.inf),
          np.asarray(np.bincount(pos_of(steps, T)[vt[J]], weights=base, minlength=k),
                     dtype=np.float64))
    # root power + M u <= M - margin - site load, on the steps with a u
    big = (net.base_w + np.bincount(vt, weights=net.sess_max_w[vs], minlength=T)
           + float(site.charge_max.sum()) + 1.0)
    on = np.zeros(T, dtype=bool)
    on[steps] = True
    sel = on[vt]
    F = fcols.shape[0]
    pos = np.full(T, -1, dtype=np.int64)
    pos[steps] = np.arange(k)
    fmask = np.tile(on, F)
    m.add([pos[vt[sel]], np.tile(pos, F)[fmask], np.arange(k)],
          [p[sel], fcols.reshape(-1)[fmask], u_of[steps]],
          [np.ones(int(sel.sum())), np.repeat(fsign, T)[fmask], big[steps]],
          np.full(k, -np.inf), big[steps] - net.base_w[steps])
    B = site.B
    if B:
        rb = np.arange(B * k)
        dmax = np.repeat(site.discharge_max, k)
        m.add([rb, rb], [bd[:, steps].reshape(-1), np.tile(u_of[steps], B)],
              [np.ones(B * k), dmax], np.full(B * k, -np.inf), dmax)
    return u, steps.astype(np.int64), J.astype(np.int64), base
