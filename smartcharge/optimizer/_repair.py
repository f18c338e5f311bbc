"""Make any power array safe, enforce the minimum-current rule, and win back lost energy.

All functions work on the session power array ``sp`` (S, T) [W] and the linear rows of
:meth:`Network.rows` (an inner approximation of every node limit). Why the result is safe:

1. clip to ``[0, session max]`` and to the session's window; scale a session down if it
   would get more than its need; scale the sessions of an EVSE down where they share a step
   over the EVSE's maximum;
2. visit nodes children first; where a row ``v <= rhs`` of node ``n`` is broken at step
   ``t``, scale every session below ``n`` at ``t`` by ``alpha = min rhs / v``. A row already
   met below stays met: ``rhs >= 0`` and ``v <= rhs`` give ``alpha * v <= rhs`` for
   ``0 <= alpha <= 1`` (both for ``v >= 0`` and ``v < 0``), and scaling down keeps steps 1;
3. set every power below the session's minimum to 0 (the 0-or-at-least-minimum rule);
4. visit nodes children first again; where a row is broken (possible only through a
   negative coefficient, i.e. a phasor pointing against the line), set every session
   below the node at that step to 0. All-zero meets every row (``rhs >= 0``), a zero
   subtree meets its own rows, and ancestors are visited later.

Steps with ``rhs < 0`` (the site load alone breaks a limit) are excluded beforehand
(``allowed``), so ``rhs >= 0`` holds wherever anything can flow.

Ramp limits (``Node.max_ramp_w``) are NOT among these rows, and steps 2-4 and
:func:`win_back` can break them (lowering one step between two others can make a drop and a
rise too steep): with ramps, :func:`smartcharge.optimizer._ramped.optimize_ramped` checks the
result exactly and re-solves, and win-back is off.

The repair stage of the pipeline is :func:`repair` (LP solution -> :class:`Repaired`), the
win-back stage :func:`win_back_stage` (:class:`Repaired` -> :class:`Repaired`), the last
resort :func:`safe_fallback`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer._lp import LpResult
from smartcharge.optimizer._network import Network, Rows
from smartcharge.optimizer.plan import SolverStatus
from smartcharge.optimizer.verify import ramp_violations

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_REL = 1e-12  # float noise allowed when re-checking a row that was just enforced


def forced_off(net: Network, rows: list[Rows]) -> BoolArray:
    """(E, T): True where a node above the EVSE is forced off at that step (the site load
    alone breaks one of its rows)."""
    forbid = np.zeros((net.E, net.T), dtype=bool)
    for n in range(net.N):
        f = rows[n].forced
        if f.any():
            forbid[np.ix_(net.members[n], np.flatnonzero(f))] = True
    return forbid


def allowed_mask(net: Network, rows: list[Rows]) -> BoolArray:
    """(S, T): where a session may draw power at all."""
    ok = (net.frac > 0) & (net.sess_max_w[:, None] > 0) & (net.need_wh[:, None] > 0)
    return np.asarray(ok & ~forced_off(net, rows)[net.sess_evse], dtype=bool)


def _row_values(net: Network, rows: Rows, n: int, ep: FloatArray) -> FloatArray:
    """``coef @ P`` of node ``n``'s rows. ``einsum``, not ``@``: these products are small
    (tens of rows, tens of EVSEs, hundreds of steps) and a multi-threaded BLAS made them
    60x slower on a loaded 2-core machine (32 ms against 0.56 ms for 36 x 54 x 288); a
    library cannot set the BLAS threads of its caller's process."""
    k = net.active_members(n)
    if k is None:
        return np.asarray(np.einsum("rm,mt->rt", rows.coef, ep[net.members[n]]),
                          dtype=np.float64)
    return np.asarray(np.einsum("rm,mt->rt", rows.coef[:, k], ep[net.members[n][k]]),
                      dtype=np.float64)


def _broken(v: FloatArray, rhs: FloatArray) -> BoolArray:
    return np.asarray(v > rhs + _REL * (np.abs(rhs) + 1.0), dtype=bool)


def _sessions_under(net: Network, n: int) -> BoolArray:
    inside = np.zeros(net.E, dtype=bool)
    inside[net.members[n]] = True
    return np.asarray(inside[net.sess_evse], dtype=bool)


def make_safe(
    net: Network, rows: list[Rows], sp: FloatArray, allowed: BoolArray
) -> tuple[FloatArray, bool]:
    """A safe version of ``sp`` (see module docstring) and whether anything changed beyond
    float noise."""
    orig = sp
    sp = np.where(allowed, np.clip(sp, 0.0, net.sess_max_w[:, None]), 0.0)
    # energy never above need
    energy = (sp * net.frac).sum(axis=1) * net.dt_h
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        f = np.where(energy > net.need_wh, net.need_wh / energy, 1.0)
    sp = sp * f[:, None]
    # EVSEs shared by two sessions within a step
    ep = net.evse_power(sp)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g = np.where(ep > net.evse_max_w[:, None], net.evse_max_w[:, None] / ep, 1.0)
    sp = sp * g[net.sess_evse]
    ep = net.evse_power(sp)
    # nodes, children first: scale down
    for n in net.order.tolist():
        r = rows[n]
        if r.coef.shape[0] == 0 or len(net.members[n]) == 0:
            continue
        v = _row_values(net, r, n, ep)
        bad = _broken(v, r.rhs) & (v > 0)
        if not bad.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.where(bad, np.maximum(r.rhs, 0.0) / v, 1.0)
        alpha = np.clip(ratio.min(axis=0), 0.0, 1.0)
        under = _sessions_under(net, n)
        sp[under] *= alpha[None, :]
        ep[net.members[n]] *= alpha[None, :]
    # minimum current: 0 or at least the minimum (values within 1e-9 of it snap to it)
    mn = net.sess_min_w[:, None]
    near = (sp > 0) & (sp < mn) & (sp >= mn * (1 - 1e-9))
    snapped = bool(near.any())
    if snapped:
        sp = np.where(near, np.broadcast_to(mn, sp.shape), sp)
    sp = np.where((sp > 0) & (sp < mn), 0.0, sp)
    ep = net.evse_power(sp)
    # nodes, children first: a row broken now (negative coefficients) zeroes the subtree;
    # constraint sets (not a tree: zeroing one's members can break another's row through a
    # negative coefficient) repeat the pass until none is broken: each repeat zeroes more,
    # and all-zero meets every row, so it ends. Where nothing was raised (no snap) and a
    # node's rows have no negative coefficient, setting powers to 0 only lowered every row
    # value from one that held: no row of it can be broken, so it is not checked again.
    again = True
    while again:
        again = False
        for n in net.order.tolist():
            r = rows[n]
            if r.coef.shape[0] == 0 or len(net.members[n]) == 0:
                continue
            if not snapped and not net.has_constraints and not (r.coef < 0.0).any():
                continue
            bad_t = _broken(_row_values(net, r, n, ep), r.rhs).any(axis=0)
            if bad_t.any():
                under = _sessions_under(net, n)
                sp[np.ix_(under, bad_t)] = 0.0
                ep[np.ix_(net.members[n], bad_t)] = 0.0
                again = net.has_constraints
    changed = bool(np.any(np.abs(sp - orig) > 1e-6 * (np.abs(orig) + 1.0)))
    return sp, changed


def fallback_plan(net: Network, rows: list[Rows], allowed: BoolArray) -> FloatArray:
    """A safe plan without a solver: each session spreads its need evenly over its window
    (at most its maximum), then :func:`make_safe` scales it down under every limit."""
    hours = (net.frac * allowed).sum(axis=1) * net.dt_h
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        even = np.where(hours > 0, net.need_wh / hours, 0.0)
    even = np.maximum(np.minimum(even, net.sess_max_w), np.minimum(net.sess_min_w,
                                                                    net.sess_max_w))
    sp = np.where(allowed, even[:, None], 0.0)
    return make_safe(net, rows, sp, allowed)[0]


def ancestors(net: Network, rows: list[Rows]) -> list[list[tuple[int, int]]]:
    """For each EVSE: the nodes above it and the constraint sets naming it that have rows,
    with its column in their rows (cached on ``net`` by which nodes have rows, all it
    depends on besides the members: the repair, the win-back and the re-solve's fixings of
    one plan, on the real steps and on blocks, ask for it several times; callers do not
    change it)."""
    has_rows = tuple(r.coef.shape[0] > 0 for r in rows)
    cache = net.ancestors_cache
    for key, got in cache:
        if key == has_rows:
            return got
    anc = _ancestors(net, rows)
    cache.append((has_rows, anc))
    return anc


def _ancestors(net: Network, rows: list[Rows]) -> list[list[tuple[int, int]]]:
    pos = [dict(zip(net.members[n].tolist(), range(len(net.members[n])), strict=True))
           for n in range(net.N)]
    anc: list[list[tuple[int, int]]] = []
    for e in range(net.E):
        chain = []
        n = int(net.evse_node[e])
        while n >= 0:
            if rows[n].coef.shape[0]:
                chain.append((n, pos[n][e]))
            n = int(net.parent[n])
        for n in range(net.n_tree, net.N):  # constraint sets naming this EVSE
            if rows[n].coef.shape[0] and e in pos[n]:
                chain.append((n, pos[n][e]))
        anc.append(chain)
    return anc


def win_back(
    net: Network, rows: list[Rows], sp: FloatArray, allowed: BoolArray, dropped: BoolArray
) -> FloatArray:
    """Turn steps dropped by the minimum-current rule back on at the minimum where every
    row still holds, for sessions short of their need.

    Greedy, sessions in order, steps early first. Raising a step to the minimum may give a
    session more than its need; the excess is then taken off its latest other steps (never
    below the minimum). A change is kept only if every row of every node above the EVSE,
    at every step it touches, still holds (and the EVSE's own maximum), so the result stays
    safe.
    """
    sp = sp.copy()
    ep = net.evse_power(sp)
    anc = ancestors(net, rows)
    # what each row may still take before _broken calls it broken
    slack = [
        r.rhs + _REL * (np.abs(r.rhs) + 1.0) - _row_values(net, r, n, ep)
        if r.coef.shape[0] else np.zeros((0, net.T))
        for n, r in enumerate(rows)
    ]
    evse_room = net.evse_max_w * (1 + 1e-12)
    energy = (sp * net.frac).sum(axis=1) * net.dt_h
    dt = net.dt_h
    for s in np.flatnonzero(dropped.any(axis=1)).tolist():
        e = int(net.sess_evse[s])
        mn = float(net.sess_min_w[s])
        steps = np.flatnonzero(dropped[s] & allowed[s] & (sp[s] <= 0))
        if len(steps) == 0:
            continue
        # whether turning each step on at the minimum keeps the EVSE and every row above it:
        # one test for all of the session's steps (turning one on changes no other step's
        # column, and the session's own steps lowered below are never among these)
        fits = ep[e, steps] + mn <= evse_room[e]
        for n, p in anc[e]:
            c = rows[n].coef[:, p:p + 1] * mn
            fits &= ~np.any(c > slack[n][:, steps], axis=0)
        need = float(net.need_wh[s])
        gains = (mn * net.frac[s, steps] * dt).tolist()
        for i, t in enumerate(steps.tolist()):
            short = need - float(energy[s])
            if short <= 1e-6:
                break
            excess = gains[i] - short
            if excess <= 0:  # the usual case: one step changes
                if not fits[i]:
                    continue
                for n, p in anc[e]:
                    slack[n][:, t] -= rows[n].coef[:, p] * mn
                sp[s, t] += mn
                ep[e, t] += mn
                energy[s] = float((sp[s] * net.frac[s]).sum() * dt)
                continue
            # more than the need: the excess comes off the latest steps above the minimum
            change = {t: mn}
            for u in np.flatnonzero(sp[s] > mn)[::-1].tolist():
                if excess <= 0:
                    break
                room = (sp[s, u] - mn) * net.frac[s, u] * dt
                take = min(room, excess)
                change[u] = sp[s, u] - take / (net.frac[s, u] * dt)
                excess -= take
            if excess > 1e-9:
                continue
            idx = np.array(sorted(change), dtype=np.int64)
            delta = np.array([change[k] - sp[s, k] for k in idx.tolist()])
            if np.any(ep[e, idx] + delta > evse_room[e]):
                continue
            if any(np.any(rows[n].coef[:, p:p + 1] * delta[None, :] > slack[n][:, idx])
                   for n, p in anc[e]):
                continue
            for n, p in anc[e]:
                slack[n][:, idx] -= rows[n].coef[:, p:p + 1] * delta[None, :]
            sp[s, idx] += delta
            ep[e, idx] += delta
            energy[s] = float((sp[s] * net.frac[s]).sum() * dt)
    return sp


# ---- the pipeline's stages --------------------------------------------------------------


@dataclass(frozen=True)
class Repaired:
    """A safe plan made from an LP solution.

    Attributes
    ----------
    sp
        Session power (S, T) [W], safe (every row, EVSE and session limit, the minimum
        rule).
    changed
        Whether the repair changed the LP solution beyond float noise.
    dropped
        (S, T): steps the LP gave power that the repair set to 0.
    lp_wh
        The LP solution's own energy [Wh] (an upper bound for the re-solves).
    """

    sp: FloatArray
    changed: bool
    dropped: BoolArray
    lp_wh: float


def energy_wh(net: Network, sp: FloatArray) -> FloatArray:
    """Energy (S,) [Wh] of each session under the session power ``sp`` [W]."""
    return np.asarray((sp * net.frac).sum(axis=1) * net.dt_h, dtype=np.float64)


def repair(net: Network, rows: list[Rows], allowed: BoolArray, raw: FloatArray) -> Repaired:
    """Repair stage: the LP's (or the flow's) session power ``raw`` -> a safe plan
    (:func:`make_safe`)."""
    sp, changed = make_safe(net, rows, raw, allowed)
    dropped = (raw > 1e-6) & (sp == 0.0) & allowed
    lp_wh = float(energy_wh(net, np.clip(raw, 0.0, None)).sum())
    return Repaired(sp, changed, dropped, lp_wh)


def win_back_stage(
    net: Network, rows: list[Rows], allowed: BoolArray, rep: Repaired
) -> Repaired:
    """Win-back stage: the dropped steps turned back on at the minimum where every row
    still holds (:func:`win_back`)."""
    if not rep.dropped.any():
        return rep
    return replace(rep, sp=win_back(net, rows, rep.sp, allowed, rep.dropped))


def first_status(res: LpResult, changed: bool) -> tuple[SolverStatus, str]:
    """Status and message of the first LP's repaired plan: optimal only if the LP was and
    the repair changed nothing."""
    status = SolverStatus.OPTIMAL if (res.status == "optimal" and not changed) else (
        SolverStatus.FEASIBLE
    )
    return status, f"{res.message} via {res.path}"


def safe_fallback(
    net: Network, rows: list[Rows], allowed: BoolArray
) -> tuple[FloatArray, str]:
    """Fallback stage: the safe even-share plan of :func:`fallback_plan`; with ramp limits,
    all off if the even share breaks one (all-zero meets every ramp row: ``P0 >= 0``)."""
    sp = fallback_plan(net, rows, allowed)
    if net.has_ramp and ramp_violations(net, net.evse_power(sp)):
        return np.zeros_like(sp), "safe fallback: all off (the even share breaks a ramp limit)"
    return sp, "safe even-share fallback"


def allowed_mask_any(net: Network, rows: list[Rows]) -> BoolArray:
    """(S, T): True where no node above the session's EVSE is forced off at that step
    (the site load alone breaks one of its rows)."""
    return np.asarray(~forced_off(net, rows)[net.sess_evse], dtype=bool)


def unstrand(net: Network, rows: list[Rows], sp: FloatArray) -> FloatArray:
    """Re-planning stage (only the first step is applied): no session is left with a
    remainder it can never get.

    A session still plugged in after the first step, whose need after that step would be
    more than 0 but less than one step at its minimum (57 Wh against 104 Wh at 6 A, 208 V
    and 5-minute steps), can never be served: every later step is either off or at least
    the minimum, and the plan may not exceed the need. Its first step is raised to serve
    the whole need if its maximum, its EVSE's and every row at that step allow; else it is
    lowered (never below the minimum) so that exactly one step at the minimum is left,
    which a later re-plan can give. A change is kept only if every row still holds at the
    first step (lowering can break a row through a negative coefficient), so the result
    stays safe. Only sessions with nothing planned after the first step are changed (the
    usual case: whatever is planned later is at least one minimum step).
    """
    if net.T < 2:
        return sp
    dt = net.dt_h
    f0 = net.frac[:, 0]
    p0 = sp[:, 0]
    wh0 = f0 * dt
    left = net.need_wh - p0 * wh0  # need after the first step [Wh]
    mstep = net.sess_min_w * dt  # one whole step at the minimum [Wh]
    later = (net.frac[:, 1:].sum(axis=1) > 0) & ~(sp[:, 1:] > 0).any(axis=1)
    cand = np.flatnonzero((p0 > 0) & later & (left > 1e-6) & (left < mstep - 1e-6)
                          & (f0 > 0))
    if len(cand) == 0:
        return sp
    out: FloatArray = sp.copy()
    ep = net.evse_power(out)
    for s in cand.tolist():
        e = int(net.sess_evse[s])
        full = float(net.need_wh[s] / wh0[s])  # the whole need in the first step [W]
        low = float((net.need_wh[s] - mstep[s]) / wh0[s])  # one minimum step left [W]
        tries = [full] if full <= net.sess_max_w[s] else []
        if low >= net.sess_min_w[s]:
            tries.append(low)
        for p in tries:
            new_ep = ep[:, 0].copy()
            new_ep[e] += p - out[s, 0]
            if new_ep[e] > net.evse_max_w[e] * (1 + 1e-12) or any(
                _broken(np.einsum("rm,m->r", rows[n].coef, new_ep[net.members[n]]),
                        rows[n].rhs[:, 0]).any()
                for n in range(net.N) if rows[n].coef.shape[0]
            ):
                continue
            out[s, 0] = p
            ep[:, 0] = new_ep
            break
    return out
