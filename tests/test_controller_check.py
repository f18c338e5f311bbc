"""The fast worst-case check decides exactly as ``verify`` (property tests).

:class:`~smartcharge.controller.safety.WorstCaseCheck` replaces a Plan + ``verify`` per
candidate in the controller's safety gate; it must break the same nodes for any worst case
(:func:`~smartcharge.controller.safety.violations` is the reference), and
:func:`~smartcharge.controller.safety.admit` must admit what the original bisection with a
full ``verify`` per check admits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import smartcharge.controller as scc
from smartcharge.controller.safety import (
    WorstCaseCheck,
    admit,
    envelope_problem,
    violations,
)
from smartcharge.controller.state import ControllerState, GridLimitState
from smartcharge.optimizer import Horizon, Problem

T0 = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)
H = Horizon(start=T0, step_s=900, n_steps=4)


@st.composite
def sites(draw: st.DrawFn) -> scc.Site:
    """A grid connection, two feeders (a current and a power limit, or none), 2-6 EVSEs of
    one or three phases on any line."""
    nodes: list[dict[str, object]] = [
        {"id": "grid", "max_current_a": draw(st.floats(20, 120))},
        {"id": "f1", "parent": "grid",
         "max_power_w": draw(st.none() | st.floats(5_000, 40_000))},
        {"id": "f2", "parent": "grid",
         "max_current_a": draw(st.none() | st.floats(10, 80))}]
    evses = []
    for j in range(draw(st.integers(2, 6))):
        spec: dict[str, object] = {"evse_id": j + 1, "node": draw(st.sampled_from(["f1", "f2"])),
                                   "max_current_a": 32}
        if draw(st.booleans()):
            spec.update(phases=1, connection=draw(st.sampled_from(["L1", "L2", "L3"])))
        evses.append(spec)
    return scc.Site.model_validate({"nodes": nodes, "stations": [{"id": "a", "evses": evses}]})


def _state(limit_a: float | None) -> ControllerState:
    if limit_a is None:
        return ControllerState()
    return ControllerState(grid_limits=(GridLimitState(
        node="grid", start=T0, end=T0.replace(hour=9), max_current_a=limit_a),))


def _amps(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    vals = draw(st.lists(st.sampled_from([0.0, 6.0, 10.0, 16.0, 20.5, 32.0, 40.0]),
                         min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return np.array(vals, dtype=np.float64).reshape(shape)


def _node_ids(problem: Problem, w: np.ndarray) -> set[str]:
    return {v.subject for v in violations(problem, w)}


@settings(max_examples=150, deadline=None)
@given(site=sites(), limit=st.none() | st.floats(5, 60), data=st.data())
def test_check_breaks_the_nodes_verify_finds(site: scc.Site, limit: float | None,
                                             data: st.DataObject) -> None:
    problem = envelope_problem(site, _state(limit), H)
    check = WorstCaseCheck(problem)
    w = data.draw(st.composite(lambda d: _amps(d, (len(site.keys), H.n_steps)))())
    ids = problem.network().node_ids
    assert {ids[n] for n in check.broken(w)} == _node_ids(problem, w)
    rows = data.draw(st.lists(st.integers(0, len(site.keys) - 1), max_size=3, unique=True))
    nodes = check.nodes_above(rows)
    raised = w.copy()
    raised[rows] += 5.0
    ep = check.raised_power(check.power(w), raised, rows)
    assert np.array_equal(ep, check.power(raised))
    # nodes not above the raised rows keep their state
    outside = set(check.all_nodes) - set(nodes)
    assert ({n for n in check.broken(raised) if n in outside}
            == {n for n in check.broken(w) if n in outside})


def _admit_reference(problem: Problem, worst: np.ndarray,
                     candidates: Sequence[tuple[int, np.ndarray]]) -> list[int]:
    """The original gate: bisection, a Plan and a full verify per check."""
    admitted: list[int] = []
    base = worst.copy()

    def go(items: Sequence[tuple[int, np.ndarray]]) -> None:
        nonlocal base
        if not items:
            return
        w = base.copy()
        for row, env in items:
            w[row] = np.fmax(w[row], env)
        if not violations(problem, w):
            base = w
            admitted.extend(row for row, _ in items)
            return
        if len(items) > 1:
            go(items[:len(items) // 2])
            go(items[len(items) // 2:])

    go(list(candidates))
    return admitted


@settings(max_examples=150, deadline=None)
@given(site=sites(), limit=st.none() | st.floats(5, 60), data=st.data())
def test_admit_admits_what_the_full_verify_gate_admits(site: scc.Site, limit: float | None,
                                                       data: st.DataObject) -> None:
    problem = envelope_problem(site, _state(limit), H)
    n = len(site.keys)
    worst = data.draw(st.composite(lambda d: _amps(d, (n, H.n_steps)))())
    rows = data.draw(st.lists(st.integers(0, n - 1), max_size=n, unique=True))
    cands = [(r, data.draw(st.composite(lambda d: _amps(d, (H.n_steps,)))())) for r in rows]
    assert admit(WorstCaseCheck(problem), worst, cands) == _admit_reference(problem, worst,
                                                                            cands)
