"""Generation, stationary batteries and the grid exchange, compiled into numpy arrays.

Private: shared by the site model (:mod:`._storage`), :func:`~smartcharge.optimizer.verify`
and :class:`~smartcharge.optimizer.plan.Plan`'s site metrics.

Generation and batteries are balanced three-phase flows at their node, at that node's
``voltage_v``, exactly like the site load: a flow ``f`` [W] at node ``m`` (positive
consumed, negative fed in) adds ``f`` to the power of ``m`` and of every node above it, and
``bal[n, m] * f`` to the line current phasors [A] of node ``n`` (``bal`` follows the
transformer couplings on the way up, as :class:`~._network.Network` does for the EVSEs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer._network import _DELTA_WYE, _LINE

if TYPE_CHECKING:
    from smartcharge.optimizer.problem import Problem

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ComplexArray = npt.NDArray[np.complex128]

MODES = ("planned", "fast", "pv", "min_pv")
"""Session modes, in the order of their codes in :attr:`SiteArrays.mode`."""


@dataclass(frozen=True)
class SiteArrays:
    """The site's generation, batteries, prices and modes as arrays.

    Shapes: ``G`` generators, ``B`` batteries, ``N`` nodes, ``T`` steps, ``S`` sessions.
    """

    gen_node: IntArray  # (G,)
    gen_w: FloatArray  # (G, T) available power [W]
    bat_node: IntArray  # (B,)
    soc0: FloatArray  # (B,) [Wh]
    soc_min: FloatArray  # (B,) [Wh]
    soc_max: FloatArray  # (B,) [Wh]
    soc_final: FloatArray  # (B,) target [Wh], nan: none
    charge_max: FloatArray  # (B,) [W]
    discharge_max: FloatArray  # (B,) [W]
    eta: FloatArray  # (B,) one-way efficiency, sqrt of the round trip
    wear_per_wh: FloatArray  # (B,) [currency/Wh discharged]
    export_price: FloatArray  # (T,) [currency/kWh]
    mode: IntArray  # (S,) index into MODES
    below: BoolArray  # (N, N): below[n, m] is True when node m is n or under n
    bal: ComplexArray  # (N, N, 3) line currents [A] at node n per W balanced at node m

    @property
    def G(self) -> int:
        """Number of generators."""
        return len(self.gen_node)

    @property
    def B(self) -> int:
        """Number of batteries."""
        return len(self.bat_node)


def uses_site_model(problem: Problem) -> bool:
    """True when the problem needs the site model: generation, a battery, a feed-in price
    or a session mode other than ``"planned"``."""
    return bool(problem.generation or problem.batteries
                or problem.tariff.export_price is not None
                or any(s.mode != "planned" for s in problem.sessions))


def site_arrays(problem: Problem) -> SiteArrays:
    """Compile ``problem``'s generation, batteries, feed-in price and modes."""
    net = problem.network()
    nodes = problem.nodes
    N = net.N  # the tree's nodes, then any current constraints (EVSE currents only: no
    index = net.node_index  # flow is ever below them)
    bal = np.zeros((N, N, 3), dtype=np.complex128)
    below = np.zeros((N, N), dtype=bool)
    for m in range(len(nodes)):
        ph = _LINE / (3.0 * nodes[m].voltage_v)
        n = m
        while n >= 0:
            if nodes[n].coupling == "delta-wye":
                ph = (_DELTA_WYE / nodes[n].ratio) @ ph
            bal[n, m] = ph
            below[n, m] = True
            n = int(net.parent[n])
    gens, bats = problem.generation, problem.batteries
    T = net.T
    gen_w = np.stack([problem.series(g.power_w) for g in gens]) if gens else np.zeros((0, T))
    tf = problem.tariff
    ex = problem.series(tf.export_price) if tf.export_price is not None else np.zeros(T)

    def arr(values: list[float]) -> FloatArray:
        return np.array(values, dtype=np.float64)

    return SiteArrays(
        gen_node=np.array([index[g.node] for g in gens], dtype=np.int64),
        gen_w=gen_w,
        bat_node=np.array([index[b.node] for b in bats], dtype=np.int64),
        soc0=arr([b.initial_wh for b in bats]),
        soc_min=arr([b.min_wh for b in bats]),
        soc_max=arr([b.top_wh for b in bats]),
        soc_final=arr([math.nan if b.final_wh is None else b.final_wh for b in bats]),
        charge_max=arr([b.max_charge_w for b in bats]),
        discharge_max=arr([b.max_discharge_w for b in bats]),
        eta=arr([math.sqrt(b.efficiency) for b in bats]),
        wear_per_wh=arr([b.cost_per_kwh / 1000.0 for b in bats]),
        export_price=ex,
        mode=np.array([MODES.index(s.mode) for s in problem.sessions], dtype=np.int64),
        below=below,
        bal=bal,
    )


def soc_wh(site: SiteArrays, battery_w: FloatArray, dt_h: float) -> FloatArray:
    """State of charge (B, T) [Wh] at the end of every step of the signed battery powers
    ``battery_w`` (B, T) [W] (positive: charging)."""
    eta = site.eta[:, None]
    delta = np.where(battery_w > 0, battery_w * eta, battery_w / eta) * dt_h
    return np.asarray(site.soc0[:, None] + np.cumsum(delta, axis=1), dtype=np.float64)


def node_flows(
    site: SiteArrays, battery_w: FloatArray, generation_w: FloatArray
) -> tuple[FloatArray, ComplexArray]:
    """Power (N, T) [W] and line current phasors (N, 3, T) [A] that the batteries (signed,
    positive charging) and the generation used (fed in) add to every node."""
    N = site.below.shape[0]
    T = battery_w.shape[1] if battery_w.size else generation_w.shape[1]
    at = np.zeros((N, T))  # balanced flow at each node
    np.add.at(at, site.bat_node, battery_w)
    np.add.at(at, site.gen_node, -generation_w)
    power = site.below.astype(np.float64) @ at
    currents = np.einsum("nmk,mt->nkt", site.bal, at)
    return np.asarray(power, dtype=np.float64), np.asarray(currents, dtype=np.complex128)
