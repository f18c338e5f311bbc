"""Check a plan against every limit of its problem, exactly, with plain numpy.

Independent of the solver: line currents are exact phasor magnitudes (not the solver's
polygon), so :func:`verify` also checks plans obtained elsewhere (baselines, replays).

>>> from smartcharge.optimizer.problem import Problem
>>> from smartcharge.optimizer.plan import Plan
>>> p = Problem.model_validate({
...     "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
...     "nodes": [{"id": "grid", "max_power_w": 5000}],
...     "evses": [{"id": "e1", "node": "grid", "max_power_w": 11000}],
...     "sessions": [{"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
...                   "departure": "2024-01-01T02:00:00Z", "energy_wh": 20000}]})
>>> [v.message for v in verify(p, Plan.from_session_power(p, [[6000.0, 5000.0]]))]
['node grid step 0: power 6000 W > limit 5000 W']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer._site import (
    MODES,
    SiteArrays,
    node_flows,
    site_arrays,
    soc_wh,
    uses_site_model,
)

if TYPE_CHECKING:
    from smartcharge.optimizer._network import Network
    from smartcharge.optimizer.plan import Plan
    from smartcharge.optimizer.problem import Problem

__all__ = ["Violation", "ramp_violations", "verify"]

FloatArray = npt.NDArray[np.float64]
_LINES = ("L1", "L2", "L3")


@dataclass(frozen=True)
class Violation:
    """One broken rule.

    Attributes
    ----------
    kind
        ``node_power``, ``node_current``, ``evse_max``, ``session_max``, ``min_current``,
        ``outside_window``, ``energy_above_need``, ``negative`` or ``not_finite``; with V2X
        sessions also ``node_export`` (exported power above a node's power limit),
        ``discharge_max``, ``discharge_floor`` (net energy since arrival below
        ``-discharge_floor_wh``) and ``energy_below_arrival`` (negative net energy at the
        end); with ramp limits ``node_ramp`` (the change of a node's EV power from the step
        before, value signed, above ``Node.max_ramp_w``); with generation and batteries
        ``generation_range`` (used power outside 0 .. the forecast), ``battery_power``
        (charge or discharge above its limit; value signed) and ``battery_soc`` (state of
        charge outside ``[min_wh, max_wh]``); with ``pv`` / ``min_pv`` sessions
        ``surplus_import`` (the site imports at a step the session draws surplus power)
        and ``surplus_battery`` (a battery discharges then).
    subject
        The node, EVSE or session id.
    step
        The step index (``None`` for whole-horizon rules such as energy).
    value, limit
        What was found and what is allowed, in ``unit``.
    unit
        ``W``, ``A`` or ``Wh``.
    phase
        ``L1``/``L2``/``L3`` for a line current, else ``None``.
    """

    kind: str
    subject: str
    step: int | None
    value: float
    limit: float
    unit: str
    phase: str | None = None

    @property
    def message(self) -> str:
        """A human sentence."""
        where = {
            "node_power": "node", "node_current": "node", "evse_max": "EVSE",
            "node_export": "node", "node_ramp": "node", "generation_range": "generator",
            "battery_power": "battery", "battery_soc": "battery",
        }.get(self.kind, "session")
        at = "" if self.step is None else f" step {self.step}"
        what = {
            "node_power": "power", "node_current": f"{self.phase} current",
            "evse_max": "power", "session_max": "power", "min_current": "power",
            "outside_window": "power outside the session", "energy_above_need": "energy",
            "negative": "power", "not_finite": "power", "node_export": "exported power",
            "discharge_max": "discharge power", "discharge_floor": "net energy since arrival",
            "energy_below_arrival": "net energy", "node_ramp": "power change",
            "generation_range": "power used", "battery_power": "power",
            "battery_soc": "state of charge", "surplus_import": "site import while on surplus",
            "surplus_battery": "battery discharge while on surplus",
        }[self.kind]
        rel = {
            "min_current": "below minimum", "outside_window": "> allowed",
            "negative": "< allowed", "discharge_floor": "< floor",
            "energy_below_arrival": "< allowed", "node_ramp": "beyond ramp limit +-",
            "generation_range": "outside 0 ..", "battery_soc": "outside bound",
        }.get(self.kind, "> limit")
        if self.kind == "not_finite":
            return f"{where} {self.subject}{at}: power is not a finite number"
        return (
            f"{where} {self.subject}{at}: {what} {self.value:.6g} {self.unit} {rel} "
            f"{self.limit:.6g} {self.unit}"
        )


def verify(
    problem: Problem, plan: Plan, *, rtol: float = 1e-9, atol: float = 1e-6
) -> list[Violation]:
    """Every violation of ``problem``'s rules by ``plan`` (empty list: the plan is safe).

    Checks, at every step: each node's total power and each of its line currents (exact
    phasor magnitudes, site load included; if the site load alone already exceeds a limit,
    EV power below that node must be zero there), each EVSE's maximum, each session's
    maximum (EVSE and vehicle), the minimum-current rule (0 or at least the minimum), no
    power outside a session's window, non-negative finite power; and over the horizon, no
    session above its energy need; with ramp limits, no node's EV power changing by more
    than ``Node.max_ramp_w`` between steps (see :func:`ramp_violations`).

    V2X sessions (``max_discharge_w > 0``) may have negative power (discharging), at most
    ``max_discharge_w`` and the EVSE's maximum; the minimum-current rule applies to the
    magnitude (0 or at least the minimum either way); their net energy since arrival must
    stay >= ``-discharge_floor_wh`` at the end of every step and be >= 0 at the end. Node
    limits apply to the net power: a node's power limit bounds imports and exports, its
    current limit the exact line currents of the net powers. Where the site load alone
    breaks a node's limit, the EVs below may not charge there, and a plan breaks the limit
    only if it makes it worse than the site load alone (a discharge that covers part of
    the overload is allowed).

    Generation and batteries (balanced three-phase flows at their nodes) count in every
    node's power and line currents; a node's export is bounded by ``max_export_w`` (or
    its ``max_power_w``). Generation used must lie within ``[0, forecast]``, battery power
    within its charge and discharge limits, and the state of charge (computed from the
    plan's signed battery powers, so a battery cannot charge and discharge in one step)
    within ``[min_wh, max_wh]`` at the end of every step. At every step where a ``pv``
    session draws power (a ``min_pv`` session more than its minimum), the instantaneous
    power at the root (EVs while plugged in, site load, batteries, generation) must be
    <= 0 (no import) and no battery may discharge. The ``fast`` / ``min_pv`` rates and a
    battery's ``final_wh`` are soft targets, like energy, and are not checked.

    Parameters
    ----------
    rtol, atol
        Tolerances: a value ``v`` breaks a limit ``L`` when ``v > L * (1 + rtol) + atol``
        (``atol`` in W, A or Wh).
    """
    net = problem.network()
    sp = np.asarray(plan.session_power_w, dtype=np.float64)
    out: list[Violation] = []
    sid, eid, nid = net.session_ids, net.evse_ids, net.node_ids

    def over(v: FloatArray, lim: FloatArray) -> npt.NDArray[np.bool_]:
        return np.asarray(v > lim * (1 + rtol) + atol)

    bad = ~np.isfinite(sp)
    for s, t in np.argwhere(bad):
        out.append(Violation("not_finite", sid[s], int(t), float("nan"), 0.0, "W"))
    sp = np.where(bad, 0.0, sp)
    v2x = net.sess_v2x[:, None]
    for s, t in np.argwhere((sp < -atol) & ~v2x):
        out.append(Violation("negative", sid[s], int(t), float(sp[s, t]), 0.0, "W"))
    dmax = np.broadcast_to(net.sess_dis_max_w[:, None], sp.shape)
    for s, t in np.argwhere(v2x & over(-sp, dmax) & (net.frac > 0)):
        out.append(Violation("discharge_max", sid[s], int(t), float(-sp[s, t]),
                             float(net.sess_dis_max_w[s]), "W"))
    for s, t in np.argwhere((net.frac <= 0) & ((sp > atol) | (v2x & (sp < -atol)))):
        out.append(Violation("outside_window", sid[s], int(t), float(sp[s, t]), 0.0, "W"))
    smax = np.broadcast_to(net.sess_max_w[:, None], sp.shape)
    for s, t in np.argwhere(over(sp, smax) & (net.frac > 0)):
        out.append(Violation("session_max", sid[s], int(t), float(sp[s, t]),
                             float(net.sess_max_w[s]), "W"))
    smin = net.sess_min_w[:, None]
    mag_sp = np.where(v2x, np.abs(sp), sp)
    low = (mag_sp > atol) & (mag_sp < smin * (1 - rtol) - atol) & (net.frac > 0)
    for s, t in np.argwhere(low):
        out.append(Violation("min_current", sid[s], int(t), float(sp[s, t]),
                             float(net.sess_min_w[s]), "W"))
    energy = (sp * net.frac).sum(axis=1) * net.dt_h
    for s in np.flatnonzero(over(energy, net.need_wh)):
        out.append(Violation("energy_above_need", sid[s], None, float(energy[s]),
                             float(net.need_wh[s]), "Wh"))
    if net.has_v2x:
        cum = np.cumsum(sp * net.frac * net.dt_h, axis=1)
        floor = net.sess_floor_wh[:, None]
        below = v2x & (cum < -floor * (1 + rtol) - atol)
        for s in np.flatnonzero(below.any(axis=1)):
            t = int(np.argmax(below[s]))
            out.append(Violation("discharge_floor", sid[s], t, float(cum[s, t]),
                                 -float(net.sess_floor_wh[s]), "Wh"))
        for s in np.flatnonzero(net.sess_v2x & (energy < -atol)):
            out.append(Violation("energy_below_arrival", sid[s], None, float(energy[s]),
                                 0.0, "Wh"))
    ep = net.evse_power(np.maximum(sp, 0.0))
    # net power per EVSE: V2X sessions count signed; others as charging only (a negative
    # value of a charging-only session is reported above and ignored here)
    ep_net = net.evse_power(np.where(v2x, sp, np.maximum(sp, 0.0))) if net.has_v2x else ep
    for e, t in np.argwhere(over(ep_net, net.evse_max_w[:, None])):
        out.append(Violation("evse_max", eid[e], int(t), float(ep_net[e, t]),
                             float(net.evse_max_w[e]), "W"))
    if net.has_v2x:
        for e, t in np.argwhere(over(-ep_net, net.evse_max_w[:, None])):
            out.append(Violation("evse_max", eid[e], int(t), float(-ep_net[e, t]),
                                 float(net.evse_max_w[e]), "W"))
    zero = np.zeros_like(ep_net)
    site = site_arrays(problem) if problem.generation or problem.batteries else None
    flow_p: FloatArray | None = None
    flow_i: npt.NDArray[np.complex128] | None = None
    if site is not None:
        assert plan.battery_power_w is not None and plan.generation_w is not None
        flow_p, flow_i = node_flows(site, np.nan_to_num(plan.battery_power_w),
                                    np.nan_to_num(plan.generation_w))
    for n in range(net.N):
        members = net.members[n]
        ev_on = ep[members].sum(axis=0) > atol if len(members) else np.zeros(net.T, bool)
        plim, elim = net.power_limit[n], net.export_limit[n]
        if np.any(np.isfinite(plim)) or np.any(np.isfinite(elim)):
            pw = net.node_power(n, ep_net)
            if flow_p is not None:
                pw = pw + flow_p[n]
            worse = ev_on | (pw > net.node_power(n, zero) + atol)
            for t in np.flatnonzero(over(pw, plim) & worse):
                out.append(Violation("node_power", nid[n], int(t), float(pw[t]),
                                     float(plim[t]), "W"))
            for t in np.flatnonzero(over(-pw, elim)):
                out.append(Violation("node_export", nid[n], int(t), float(-pw[t]),
                                     float(elim[t]), "W"))
        clim = net.current_limit[n]
        if np.any(np.isfinite(clim)):
            cur = net.line_currents(n, ep_net)
            if flow_i is not None:
                cur = cur + flow_i[n]
            mag = np.abs(cur)
            worse_k = ev_on[None, :] | (mag > np.abs(net.line_currents(n, zero)) + atol)
            for k, t in np.argwhere(over(mag, clim[None, :]) & worse_k):
                out.append(Violation("node_current", nid[n], int(t), float(mag[k, t]),
                                     float(clim[t]), "A", _LINES[k]))
    if uses_site_model(problem):
        out += _site_violations(problem, plan, site or site_arrays(problem), sp, flow_p,
                                rtol, atol)
    out += ramp_violations(net, ep_net, rtol=rtol, atol=atol)
    return out


def _site_violations(
    problem: Problem, plan: Plan, site: SiteArrays, sp: FloatArray,
    flow_p: FloatArray | None, rtol: float, atol: float,
) -> list[Violation]:
    """Generation within its forecast, batteries within their power and state-of-charge
    bounds, and the session modes' surplus rule (see :func:`verify`)."""
    net = problem.network()
    out: list[Violation] = []

    def over(v: FloatArray, lim: FloatArray) -> npt.NDArray[np.bool_]:
        return np.asarray(v > lim * (1 + rtol) + atol)

    gen = np.asarray(plan.generation_w, dtype=np.float64)
    for g, t in np.argwhere(~np.isfinite(gen) | over(gen, site.gen_w) | (gen < -atol)):
        out.append(Violation("generation_range", problem.generation[g].id, int(t),
                             float(gen[g, t]), float(site.gen_w[g, t]), "W"))
    bat = np.asarray(plan.battery_power_w, dtype=np.float64)
    for b, t in np.argwhere(~np.isfinite(bat)):
        out.append(Violation("not_finite", problem.batteries[b].id, int(t), float("nan"),
                             0.0, "W"))
    bat = np.nan_to_num(bat)
    cmax = np.broadcast_to(site.charge_max[:, None], bat.shape)
    dmax = np.broadcast_to(site.discharge_max[:, None], bat.shape)
    for b, t in np.argwhere(over(bat, cmax) | over(-bat, dmax)):
        lim = cmax[b, t] if bat[b, t] > 0 else dmax[b, t]
        out.append(Violation("battery_power", problem.batteries[b].id, int(t),
                             float(bat[b, t]), float(lim), "W"))
    soc = soc_wh(site, bat, net.dt_h)
    hi = np.broadcast_to(site.soc_max[:, None], soc.shape)
    lo = np.broadcast_to(site.soc_min[:, None], soc.shape)
    for b, t in np.argwhere(over(soc, hi) | (soc < lo - (np.abs(lo) * rtol + atol))):
        lim = hi[b, t] if soc[b, t] > hi[b, t] else lo[b, t]
        out.append(Violation("battery_soc", problem.batteries[b].id, int(t),
                             float(soc[b, t]), float(lim), "Wh"))
    # the surplus rule: where a pv session draws power (a min_pv session more than its
    # minimum), the site imports nothing and no battery discharges
    surplus_only = (site.mode == MODES.index("pv"))[:, None] & (sp > atol)
    above_min = (sp > net.sess_min_w[:, None] * (1 + rtol) + atol)
    surplus_only |= (site.mode == MODES.index("min_pv"))[:, None] & above_min
    steps = np.flatnonzero(surplus_only.any(axis=0))
    if len(steps):
        root = net.node_power(net.root, net.evse_power(np.maximum(sp, 0.0)))
        if flow_p is not None:
            root = root + flow_p[net.root]
        discharging = np.asarray((bat < -atol).any(axis=0), dtype=bool)
        for t in steps.tolist():
            s = int(np.argmax(surplus_only[:, t]))
            if root[t] > atol:
                out.append(Violation("surplus_import", net.session_ids[s], t,
                                     float(root[t]), 0.0, "W"))
            if discharging[t]:
                out.append(Violation("surplus_battery", net.session_ids[s], t,
                                     float(-bat[:, t].min()), 0.0, "W"))
    return out


def ramp_violations(
    net: Network, evse_power: FloatArray, *, rtol: float = 1e-9, atol: float = 1e-6
) -> list[Violation]:
    """The broken ramp limits (``node_ramp``) of the (net) EVSE powers (E, T) [W].

    ``P[n, t]``, the sum of the EVSE powers below node ``n``, breaks the ramp ``r`` at step
    ``t >= 1`` when ``|P[t] - P[t-1]| > r (1 + rtol) + atol``, and at step 0 when the node
    has an initial power ``P0`` and ``P[0] - P0 > r (1 + rtol) + atol``. The violation's
    value is the change [W] (negative for a drop), its limit ``r``.
    """
    out: list[Violation] = []
    for n in np.flatnonzero(np.isfinite(net.ramp_w)).tolist():
        r = float(net.ramp_w[n])
        p = evse_power[net.members[n]].sum(axis=0)
        change = np.diff(p, prepend=np.nan)
        if np.isfinite(net.initial_w[n]):
            change[0] = max(p[0] - net.initial_w[n], 0.0) if net.T else 0.0
        bad = np.abs(np.nan_to_num(change)) > r * (1 + rtol) + atol
        for t in np.flatnonzero(bad).tolist():
            out.append(Violation("node_ramp", net.node_ids[n], t, float(change[t]), r, "W"))
    return out
