"""Coarser steps further out: the LP on blocks of steps, the first steps exact.

A model-predictive controller applies only the first step of each plan, and re-plans
before the later steps come; those steps only need to be good enough to tell what the
first one should be. :func:`block_starts` groups the horizon's steps into blocks that grow
with the distance from now (by default: every step for the first hour, 15 minutes up to
four hours, then an hour; :func:`~smartcharge.optimizer.replan`'s: half an hour, two hours,
then an hour), and :func:`coarsen` makes the arrays of a
:class:`~smartcharge.optimizer._network.Network` on those blocks, so the LP has one power
column per session and block instead of per step:

- a session's share ``frac`` of a block is the sum over its steps (its energy is exact:
  ``p * sum_t frac_t * dt``);
- prices and CO2 are the means over the block, the site load its maximum;
- every node row's right-hand side is the minimum over the block's steps, and a block is
  forced off if one of its steps is.

The LP's block powers are spread back over each block's steps (:func:`expand`) and the
plan is then repaired on the real steps (:func:`smartcharge.optimizer._repair.make_safe`),
so every limit still holds exactly at every step; the coarse rows only make the LP's view
of the future approximate, never the plan unsafe.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from smartcharge.optimizer._network import Network, Rows

__all__ = ["DEFAULT_GRID", "REPLAN_GRID", "block_starts", "coarsen", "expand"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_GRID: tuple[tuple[float, float], ...] = ((3600.0, 0.0), (4 * 3600.0, 900.0),
                                                  (math.inf, 3600.0))
"""``(until [s from the horizon's start], block length [s])``: blocks of one step (0) for
the first hour, of 15 minutes up to four hours, of an hour after that (``grid="mpc"``)."""

REPLAN_GRID: tuple[tuple[float, float], ...] = ((1800.0, 0.0), (2 * 3600.0, 900.0),
                                                 (math.inf, 3600.0))
""":func:`~smartcharge.optimizer.replan`'s default grid: one step for the first half hour,
15 minutes up to two hours, an hour after that. Measured against :data:`DEFAULT_GRID`
(Caltech weeks, ``replan``, 5-minute steps, with ``urgency=4`` both): a re-plan 20-35 %
faster, delivering 75.910 against 75.702 % (2019-03-04) and 77.081 against 76.291 %
(2019-03-18) at 20 kW (docs/optimizer.md)."""


def block_starts(n_steps: int, step_s: float, grid: Sequence[tuple[float, float]]) -> IntArray:
    """The first step of every block (ascending, from 0).

    A block starting at ``t * step_s`` seconds has the length of the first grid entry whose
    ``until`` is later than that (rounded to whole steps, at least one; one step after the
    last entry), and it ends where the next entry's blocks would start at the latest.
    """
    starts: list[int] = []
    t = 0
    while t < n_steps:
        starts.append(t)
        at = t * step_s
        length = 1
        for until, block_s in grid:
            if at < until:
                length = max(1, round(block_s / step_s))
                if math.isfinite(until):  # do not run past the entry's end
                    length = max(1, min(length, math.ceil(until / step_s - 1e-9) - t))
                break
        t += length
    return np.asarray(starts, dtype=np.int64)


def coarsen(
    net: Network, rows: list[Rows], starts: IntArray, far_rows: list[Rows] | None = None
) -> tuple[Network, list[Rows]]:
    """The arrays and rows of ``net`` on the blocks beginning at ``starts`` (see the module
    docstring). The result shares everything else with ``net``; use it only to build the
    LP.

    ``far_rows`` (the same limits as ``rows`` with a coarser polygon, e.g.
    ``net.rows(20.0)``): used instead of ``rows`` for every block after the leading
    single-step ones, where the LP's view is approximate anyway; still an inner
    approximation, and the plan is repaired against ``rows`` on the real steps.
    """
    c = copy.copy(net)
    length = np.diff(np.append(starts, net.T)).astype(np.float64)
    c.T = len(starts)
    c.frac = np.add.reduceat(net.frac, starts, axis=1)
    c.price = np.add.reduceat(net.price, starts) / length
    c.co2 = np.add.reduceat(net.co2, starts) / length
    c.base_w = np.maximum.reduceat(net.base_w, starts)
    c.power_limit = np.minimum.reduceat(net.power_limit, starts, axis=1)
    c.current_limit = np.minimum.reduceat(net.current_limit, starts, axis=1)
    c._rows = {}
    lengths = np.diff(np.append(starts, net.T))
    near = int(np.argmax(lengths > 1)) if np.any(lengths > 1) else len(starts)
    out = []
    for n, r in enumerate(rows):
        rhs = _block_rhs(r, starts)
        forced = np.logical_or.reduceat(r.forced, starts)
        if far_rows is not None and near < len(starts):
            f = far_rows[n]
            far = _block_rhs(f, starts)
            rhs[:, near:] = np.inf
            far[:, :near] = np.inf
            out.append(Rows(np.vstack([r.coef, f.coef]), np.vstack([rhs, far]), forced))
        else:
            out.append(Rows(r.coef, rhs, forced))
    return c, out


def _block_rhs(r: Rows, starts: IntArray) -> FloatArray:
    """Each row's right-hand side on the blocks: its minimum over the block's steps."""
    if r.rhs.shape[0] == 0:
        return np.zeros((0, len(starts)))
    return np.asarray(np.minimum.reduceat(r.rhs, starts, axis=1), dtype=np.float64)


def expand(block_power: FloatArray, starts: IntArray, n_steps: int) -> FloatArray:
    """Block powers (S, blocks) [W] -> step powers (S, n_steps) [W], constant per block."""
    of = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n_steps)))
    return np.asarray(block_power[:, of], dtype=np.float64)
