"""A rule-based surplus controller: the baseline to compare the site model with.

What a typical home or small-site PV charging controller does, one step at a time, knowing
only the present (no forecast, no prices):

1. ``fast`` sessions charge at their maximum from arrival until full; ``planned`` ones at
   their maximum in the cheapest steps of their window (by import price, then earliest;
   as many as the need takes at full power, chosen at arrival from the declared
   departure); a last step that would need less than the minimum is skipped; ``min_pv``
   sessions charge at their minimum;
2. the surplus ``generation - site load - those sessions`` goes to the ``min_pv`` sessions
   (above their minimum) and the ``pv`` sessions, in arrival order (then id); a ``pv``
   session switches on and off through :class:`~.hysteresis.SurplusHysteresis` (start when
   the surplus reaches its minimum power for ``start_hold_s``, stop when it stays below it
   for ``stop_hold_s``, readings once per step); while on it draws the surplus, at least its
   minimum (importing the difference while a stop is pending) and at most its maximum;
3. every battery takes what is left over (charging) or covers what is missing
   (discharging), within its power limits and state-of-charge bounds;
4. generation is curtailed where the root would export more than its export limit.

It looks at the site as a whole: node limits below the root, line currents and the root's
import limit are **not** enforced (check with :func:`~smartcharge.optimizer.verify`), and a
``pv`` session may import during a stop hold (the price of not cycling the contactor).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer._network import Network
from smartcharge.optimizer._site import MODES, site_arrays
from smartcharge.optimizer.hysteresis import SurplusHysteresis, SwitchState
from smartcharge.optimizer.plan import Plan, SolverStatus, Timings
from smartcharge.optimizer.problem import Problem

__all__ = ["surplus_rules"]


def surplus_rules(
    problem: Problem, *, start_hold_s: float = 300.0, stop_hold_s: float = 600.0
) -> Plan:
    """The rule-based plan of the module docstring (status ``FEASIBLE``; not checked).

    Parameters
    ----------
    problem
        The site; its generation forecast is taken as the real generation.
    start_hold_s, stop_hold_s
        Hysteresis holds [s] of the ``pv`` sessions (readings once per step).
    """
    net = problem.network()
    site = site_arrays(problem)
    S, T, dt = net.S, net.T, net.dt_h
    sp = np.zeros((S, T))
    bat = np.zeros((site.B, T))
    gen = site.gen_w.copy()
    soc = site.soc0.copy()
    left = net.need_wh.copy()
    arrival = np.array([s.arrival.timestamp() for s in problem.sessions])
    order = np.lexsort((np.array(net.session_ids, dtype=object).astype(str), arrival))
    mode = site.mode
    grid_first = (mode == MODES.index("planned")) | (mode == MODES.index("fast"))
    slot = _cheapest_steps(net, mode == MODES.index("planned"))
    switches = [SurplusHysteresis(float(lo), float(lo), start_hold_s, stop_hold_s)
                for lo in np.minimum(net.sess_min_w, net.sess_max_w)]
    state = [SwitchState() for _ in range(S)]
    times = [net.start + timedelta(seconds=k * net.step_s) for k in range(T)]
    export_cap = net.export_limit[net.root]
    for t in range(T):
        here = (net.frac[:, t] > 0) & (left > 1e-9) & (net.sess_max_w > 0)
        # most each session may draw this step without passing its need [W]
        room = np.where(here, left / np.maximum(net.frac[:, t] * dt, 1e-12), 0.0)
        top = np.minimum(net.sess_max_w, room)
        low = np.minimum(net.sess_min_w, net.sess_max_w)
        p = np.where(here & grid_first & slot[:, t] & (top >= low), top, 0.0)
        # min_pv sessions charging this step: at their minimum (which may be 0 W), plus surplus
        floor_on = here & (mode == MODES.index("min_pv")) & (top >= low)
        p = np.where(floor_on, low, p)
        surplus = float(gen[:, t].sum() - net.base_w[t] - (p * net.frac[:, t]).sum())
        for s in order.tolist():
            if mode[s] == MODES.index("pv"):
                state[s] = switches[s].step(state[s], times[t], surplus if here[s] else -1.0)
                if here[s] and state[s].on and top[s] >= low[s]:
                    p[s] = float(np.clip(surplus, low[s], top[s]))
                    surplus -= p[s] * net.frac[s, t]
            elif floor_on[s] and surplus > 0:
                extra = min(surplus, top[s] - p[s])
                p[s] += extra
                surplus -= extra * net.frac[s, t]
        sp[:, t] = p
        left -= p * net.frac[:, t] * dt
        for b in range(site.B):  # what is left over charges, what is missing discharges
            eta = float(site.eta[b])
            if surplus > 0:
                x = min(surplus, float(site.charge_max[b]),
                        max(float(site.soc_max[b] - soc[b]), 0.0) / (eta * dt))
                soc[b] += x * eta * dt
            else:
                x = -min(-surplus, float(site.discharge_max[b]),
                         max(float(soc[b] - site.soc_min[b]), 0.0) * eta / dt)
                soc[b] += x / eta * dt
            bat[b, t] = x
            surplus -= x
        if np.isfinite(export_cap[t]) and surplus > export_cap[t]:
            excess = surplus - float(export_cap[t])
            for g in range(site.G):
                cut = min(excess, float(gen[g, t]))
                gen[g, t] -= cut
                excess -= cut
    return Plan(problem, sp, SolverStatus.FEASIBLE, Timings(), "rule-based surplus controller",
                bat, gen)


def _cheapest_steps(net: Network, planned: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """(S, T): the steps a session may charge in: every step for a session that is not
    ``planned``; for a ``planned`` one, the cheapest steps of its window (import price, then
    earliest) until they carry its need at full power."""
    out = np.ones((net.S, net.T), dtype=bool)
    for s in np.flatnonzero(planned).tolist():
        window = np.flatnonzero(net.frac[s] > 0)
        order = window[np.lexsort((window, net.price[window]))]
        wh = net.frac[s, order] * net.dt_h * net.sess_max_w[s]
        enough = np.cumsum(wh) - wh < net.need_wh[s]  # steps taken before the need is met
        out[s] = False
        out[s, order[enough]] = True
    return out
