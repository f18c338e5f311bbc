"""The same model as the LP, as a min-cost flow, when the problem has that structure.

Applicable when every node limit is a total-power limit (no line-current limit), every
session is plugged in for whole steps only (``frac`` is 0 or 1) and the demand charge is
not in the objective. Then, in units of 1 mWh::

    source -> (root, t) -> (child, t) -> ... -> (node of the EVSE, t) -> session s -> sink
              cap (P_max - site load) * dt     cap p_max_s * dt, cost of energy at t
                                                                 K tier arcs, cap need/K,
                                                                 cost -value of the tier

plus a free arc source -> sink so that energy that is not worth its cost stays put. Costs
are the LP's objective coefficients scaled to integers, fine enough that one step of the
charge-early tie-break is one unit (``T / early`` units per value of a Wh, at least 1e6; if
that scale could overflow the solver's 64-bit costs, 1e6 units and the tie-break rounded),
and capacities are floored to whole mWh, so the result equals the LP's optimum within those
roundings. Solved with OR-Tools' ``SimpleMinCostFlow``; the tests use it as an oracle.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer._network import Network
from smartcharge.optimizer.problem import Objective

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_UNIT_PER_WH = 1000  # flow unit: 1 mWh
_COST_SCALE = 1e6  # integer cost per unit = value-scaled cost per Wh * scale / 1000 units


def flow_applicable(net: Network, obj: Objective) -> str | None:
    """``None`` if the flow model is exact for this problem, else the reason it is not."""
    if np.any(np.isfinite(net.current_limit)):
        return "a node has a line-current limit"
    if np.any((net.frac > 0) & (net.frac < 1)):
        return "a session is plugged in for part of a step"
    if obj.demand and net.demand_charge > 0:
        return "the demand charge couples all steps"
    if net.has_ramp:
        return "a node has a ramp limit"
    return None


def solve_flow(
    net: Network, allowed: BoolArray, obj: Objective, energy_value: float,
    early: float,
) -> tuple[FloatArray | None, str]:
    """Session power (S, T) [W] of the min-cost flow, or ``None`` and a message."""
    fine = max(_COST_SCALE, net.T / early) if obj.early and early > 0 else _COST_SCALE
    sp, message = _solve_flow(net, allowed, obj, energy_value, early, fine)
    if sp is None and fine > _COST_SCALE:
        return _solve_flow(net, allowed, obj, energy_value, early, _COST_SCALE)
    return sp, message


def _solve_flow(
    net: Network, allowed: BoolArray, obj: Objective, energy_value: float,
    early: float, cost_scale: float,
) -> tuple[FloatArray | None, str]:
    mcf: Any = importlib.import_module("ortools.graph.python.min_cost_flow")
    T, S, N = net.T, net.S, net.N
    dt = net.dt_h
    vs, vt = np.nonzero(allowed)
    # graph nodes: (n, t) -> n * T + t; sessions N*T + s; source, sink
    src, snk = N * T + S, N * T + S + 1
    tails: list[npt.NDArray[np.int64]] = []
    heads: list[npt.NDArray[np.int64]] = []
    caps: list[npt.NDArray[np.int64]] = []
    costs: list[npt.NDArray[np.int64]] = []
    tt = np.arange(T, dtype=np.int64)
    # no limit: more than every session together can take, so the arc never binds
    unlimited = float(np.ceil(net.need_wh * _UNIT_PER_WH).sum()) + 1.0
    for n in range(N):
        limit = net.power_limit[n] - (net.base_w if net.base_under[n] else 0.0)
        cap = np.where(np.isfinite(limit),
                       np.floor(np.maximum(limit, 0.0) * dt * _UNIT_PER_WH), unlimited)
        parent = int(net.parent[n])
        tails.append(np.full(T, src, dtype=np.int64) if parent < 0 else parent * T + tt)
        heads.append(n * T + tt)
        caps.append(cap.astype(np.int64))
        costs.append(np.zeros(T, dtype=np.int64))
    node_of = net.evse_node[net.sess_evse[vs]]
    scale = 1.0 / energy_value
    per_wh = (obj.cost * net.price[vt] / 1000.0 + obj.co2_per_kg * net.co2[vt] / 1e6) * scale
    if obj.early:
        per_wh = per_wh + early * (vt + 1) / T
    tails.append(node_of * T + vt)
    heads.append(N * T + vs)
    caps.append(np.floor(net.sess_max_w[vs] * dt * _UNIT_PER_WH).astype(np.int64))
    costs.append(np.round(per_wh * cost_scale).astype(np.int64))
    active = np.flatnonzero(allowed.any(axis=1))
    K = obj.tiers if obj.fairness > 0 else 1
    k = np.arange(K)
    bonus = 1.0 + (obj.fairness * (K - 1 - k) / (K - 1) if K > 1 else np.zeros(1))
    reward = net.priority[active][:, None] * bonus[None, :]
    tails.append(np.repeat(N * T + active, K))
    heads.append(np.full(len(active) * K, snk, dtype=np.int64))
    tier_cap = np.floor(net.need_wh[active] / K * _UNIT_PER_WH).astype(np.int64)
    caps.append(np.repeat(tier_cap, K))
    costs.append(np.round(-reward.reshape(-1) * cost_scale).astype(np.int64))
    supply = int(np.floor(net.need_wh[active].sum() * _UNIT_PER_WH)) + 1
    tails.append(np.array([src], dtype=np.int64))
    heads.append(np.array([snk], dtype=np.int64))
    caps.append(np.array([supply], dtype=np.int64))
    costs.append(np.zeros(1, dtype=np.int64))

    smcf = mcf.SimpleMinCostFlow()
    arcs = smcf.add_arcs_with_capacity_and_unit_cost(
        np.concatenate(tails), np.concatenate(heads), np.concatenate(caps),
        np.concatenate(costs),
    )
    supplies = np.zeros(N * T + S + 2, dtype=np.int64)
    supplies[src], supplies[snk] = supply, -supply
    smcf.set_nodes_supplies(np.arange(len(supplies), dtype=np.int64), supplies)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        return None, f"min-cost flow: status {status}"
    first = N * T
    flows = np.asarray(smcf.flows(arcs[first:first + len(vs)]), dtype=np.float64)
    sp = np.zeros((S, T))
    sp[vs, vt] = flows / _UNIT_PER_WH / dt
    return sp, "min-cost flow: OPTIMAL"
