"""Keep what was sent: a re-plan changes only the sessions it must.

A new plan of a site full of equal optima (the same energy delivered at many different
moments) moves many sessions that did not need to move: at an arrival the last plan cannot
be kept whole (the new car has none), and the coarse MPC grid picks another optimum for
hundreds of sessions. So, when the last plan cannot be kept whole
(:func:`smartcharge.controller.plan.plan_envelopes`), the sessions are split:

1. **fixed**: sessions with a last sent plan keep it (on the new grid, continued by the new
   plan past its end: :func:`incumbent_rows`; stopped once it meets the remaining need:
   :func:`within_need`), and the sessions with none (the new car)
   take the new plan's (what a re-plan gives them, no less); their power is reserved on
   every node above them (power exactly; line currents by the triangle inequality
   ``|a + b| <= |a| + |b|``);
2. **free**: the sessions the new plan lowers the most (beyond the deadband within the
   lookahead), in growing groups (none, then 1, 2, 4, 8, 16 of them, largest lowering
   first), are planned again on what is left, on every step (:func:`partial_keep`: small
   LPs of the freed sessions only): those make room.

The first split whose plan keeps every rule (``verify``) and is as good as the new plan
(within ``keep_tolerance`` in energy and cost, as the whole keep) wins; with none, the new
plan goes as solved (a change that must move more than 16 sessions moves as many as the
new plan does). Deterministic: the order is the moves' (stable sort by index on ties).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from smartcharge.controller.site import ControllerConfig
from smartcharge.controller.state import Envelope
from smartcharge.optimizer import Node, Plan, Problem, optimize, verify

__all__ = ["as_good", "incumbent_rows", "leftover_nodes", "partial_keep", "within_need"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def incumbent_rows(problem: Problem, targets: Mapping[str, Envelope], new: Plan,
                   fallback: Mapping[str, float]) -> tuple[FloatArray, BoolArray]:
    """(S, T) the last sent plan's session power [W] above the fallback on the new grid
    (``new``'s where a session had none or it had ended), and per session whether it had
    one."""
    net = problem.network()
    sp = np.array(new.session_power_w, dtype=np.float64)
    has = np.zeros(net.S, dtype=bool)
    h = problem.horizon
    for i, s in enumerate(problem.sessions):
        env = targets.get(s.evse)
        if env is None:
            continue
        has[i] = True
        e = net.evse_index[s.evse]
        vals = env.on_grid(h.start, h.n_steps)
        covered = np.isfinite(vals) & (net.frac[i] > 0)
        above = np.maximum(np.nan_to_num(vals) - fallback[s.evse], 0.0)
        sp[i] = np.where(covered, above * net.evse_wpa[e], sp[i])
    return sp, has


def within_need(problem: Problem, session_power_w: FloatArray) -> FloatArray:
    """``session_power_w`` (S, T) [W] stopped once each session has its need: a last plan
    made for a larger remaining need (the car drew its limit meanwhile) ends early instead
    of breaking the need."""
    net = problem.network()
    delivered = session_power_w * net.frac * net.dt_h  # [Wh] per step
    before = np.cumsum(delivered, axis=1) - delivered
    room = np.maximum(net.need_wh[:, None] - before, 0.0)
    scale = np.ones_like(delivered)
    np.divide(room, delivered, out=scale, where=delivered > room)  # only there: < 1
    return np.asarray(session_power_w * scale, dtype=np.float64)


def _bill(plan: Plan) -> float:
    """What a plan costs the site: its charging cost, or with generation (or batteries) the
    grid's bill, where PV energy is free (:attr:`~smartcharge.optimizer.Plan.grid_cost`)."""
    p = plan.problem
    return plan.grid_cost if (p.generation or p.batteries) else plan.cost


def as_good(plan: Plan, than: Plan, tolerance: float) -> bool:
    """Whether ``plan`` delivers at least ``1 - tolerance`` of ``than``'s energy at no more
    than ``than``'s cost plus ``tolerance`` times its magnitude (the stability rule's "as
    good"); with generation the cost is the grid's bill, so a kept plan that charges from
    the grid before the sun is not "as good" as one that waits for it."""
    new_e, old_e = float(than.energy_wh.sum()), float(plan.energy_wh.sum())
    mine, theirs = _bill(plan), _bill(than)
    return (old_e >= (1 - tolerance) * new_e - 1e-6
            and mine <= theirs + tolerance * abs(theirs) + 1e-9)


def _limit(arr: FloatArray) -> float | tuple[float | None, ...] | None:
    if np.all(np.isinf(arr)):
        return None
    if np.all(arr == arr[0]):
        return float(arr[0])
    return tuple(None if math.isinf(v) else float(v) for v in arr)


def leftover_nodes(problem: Problem, session_power_w: FloatArray) -> tuple[Node, ...]:
    """``problem``'s nodes less what the sessions' power ``session_power_w`` (S, T) [W]
    takes through each (power exactly; each line's current magnitude, which bounds its
    share of the sum), never below 0."""
    net = problem.network()
    ep = net.evse_power(session_power_w)
    zero = np.zeros_like(ep)
    out = []
    for node in problem.nodes:
        n = net.node_index[node.id]
        used_w = net.node_power(n, ep) - net.node_power(n, zero)
        used_a = np.abs(net.line_currents(n, ep) - net.line_currents(n, zero)).max(axis=0)
        out.append(node.model_copy(update={
            "max_power_w": _limit(np.maximum(net.power_limit[n] - used_w, 0.0)),
            "max_current_a": _limit(np.maximum(net.current_limit[n] - used_a, 0.0))}))
    return tuple(out)


Smooth = Callable[[Problem, Plan], Plan]


def _fill(problem: Problem, config: ControllerConfig, fixed_sp: FloatArray,
          free: BoolArray, smooth: Smooth) -> Plan | None:
    """The sessions at ``fixed_sp`` but the ``free`` ones, planned on what is left on every
    step (and ``smooth``-ed); ``None`` if that breaks a rule."""
    idx = np.flatnonzero(free)
    fixed = np.where(free[:, None], 0.0, fixed_sp)
    if len(idx):
        # every step: the leftover varies from step to step (a coarse block would take its
        # lowest), and the few free sessions make a small LP
        sub = problem.model_copy(update={
            "nodes": leftover_nodes(problem, fixed),
            "sessions": tuple(problem.sessions[i] for i in idx.tolist())})
        got = smooth(sub, optimize(sub, time_limit_s=config.time_limit_s, grid="all",
                                   solver=config.solver))
        fixed[idx] = np.asarray(got.session_power_w, dtype=np.float64)
    plan = Plan.from_session_power(problem, fixed)
    return None if verify(problem, plan) else plan


_GROUPS = (1, 2, 4, 8, 16)
"""How many sessions are freed, in turn (more: the new plan goes as solved)."""


def partial_keep(problem: Problem, config: ControllerConfig, old_sp: FloatArray,
                 has: BoolArray, new: Plan, smooth: Smooth) -> Plan | None:
    """The plan keeping the most sessions at their last sent plan ``old_sp`` (where ``has``;
    the others at ``new``'s) that is as good as ``new`` (module docstring), or ``None``.
    ``smooth``: what is done to each plan of the freed sessions (the controller's
    levelling)."""
    net = problem.network()
    old_sp = within_need(problem, old_sp)
    ahead = max(1, (config.lookahead_s or config.horizon_s) // config.step_s)
    wpa = net.evse_wpa[net.sess_evse]
    band = np.maximum(config.deadband_a, config.deadband_w / wpa)
    new_sp = np.asarray(new.session_power_w, dtype=np.float64)
    lower = (old_sp - new_sp)[:, :ahead].max(axis=1) / wpa  # [A per phase]
    order = np.argsort(-lower, kind="stable")
    lowered = [int(i) for i in order if has[i] and lower[i] > band[i] + 1e-9]
    sizes = sorted({0, *(m for m in _GROUPS if m < len(lowered)),
                    min(len(lowered), _GROUPS[-1])})
    for m in sizes:
        free = np.zeros(net.S, dtype=bool)
        free[lowered[:m]] = True
        got = _fill(problem, config, old_sp, free, smooth)
        if got is not None and as_good(got, new, config.keep_tolerance):
            return got
    return None
