"""Re-planning never strands a remainder: :func:`smartcharge.optimizer._repair.unstrand`.

A model-predictive loop applies only a plan's first step. A car left with less than one
step at its minimum current (57 Wh against 104 Wh at 6 A, 208 V, 5-minute steps) can never
get it: every later step is off or at least the minimum, and a plan may not exceed the
need. On the Caltech week at 40 kW this lost 0.27 kWh (seven cars).
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_optimize_props import problems

from smartcharge.optimizer import Plan, Problem, verify

repair = importlib.import_module("smartcharge.optimizer._repair")

START = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
MIN_W = 6.0 * 230.0  # 1380 W: one 5-minute step is 115 Wh
MAX_W = 6600.0


def _one_car(need_wh: float, *, limit_w: float | None = None, steps: int = 9) -> Problem:
    node: dict[str, Any] = {"id": "site"}
    if limit_w is not None:
        node["max_power_w"] = limit_w
    return Problem.model_validate({
        "horizon": {"start": START.isoformat(), "step_s": 300, "n_steps": steps},
        "nodes": [node],
        "evses": [{"id": "e", "node": "site", "voltage_v": 230.0, "phases": 1,
                   "connection": "L1", "max_current_a": 32.0, "min_current_a": 6.0}],
        "sessions": [{"id": "car", "evse": "e", "arrival": START.isoformat(),
                      "departure": (START + timedelta(seconds=300 * steps)).isoformat(),
                      "energy_wh": need_wh, "max_power_w": MAX_W}],
    })


def _unstrand(p: Problem, first_w: float) -> np.ndarray[Any, Any]:
    net = p.network()
    sp = np.zeros((net.S, net.T))
    sp[0, 0] = first_w
    out: np.ndarray[Any, Any] = repair.unstrand(net, net.rows(10.0), sp)
    return out


def test_a_remainder_that_fits_the_first_step_is_served_there() -> None:
    # 500 Wh: 5000 W now leaves 83 Wh (< 115 Wh); 6000 W serves it all
    out = _unstrand(_one_car(500.0), 5000.0)
    assert out[0, 0] == 500.0 * 12 and not out[0, 1:].any()


def test_a_remainder_that_does_not_fit_leaves_one_minimum_step() -> None:
    # the Caltech case: 607 Wh, 6600 W now would leave 57 Wh; 5904 W leaves 115 Wh
    out = _unstrand(_one_car(607.0), MAX_W)
    assert abs(out[0, 0] - (607.0 - MIN_W / 12) * 12) < 1e-9
    assert abs(607.0 - out[0, 0] / 12 - MIN_W / 12) < 1e-9


def test_a_node_limit_stops_the_raise_and_the_first_step_is_lowered_instead() -> None:
    out = _unstrand(_one_car(500.0, limit_w=5500.0), 5000.0)
    assert abs(out[0, 0] - (500.0 - MIN_W / 12) * 12) < 1e-9  # 4620 W


def test_nothing_changes_when_neither_fits() -> None:
    # 180 Wh, 2098 W now leaves 5.2 Wh; 2160 W is over the 2100 W limit, and leaving a
    # minimum step needs 780 W, under the minimum
    out = _unstrand(_one_car(180.0, limit_w=2100.0), 2098.0)
    assert out[0, 0] == 2098.0


def test_a_remainder_of_zero_or_at_least_a_minimum_step_is_left_alone() -> None:
    assert _unstrand(_one_car(550.0), MAX_W)[0, 0] == MAX_W  # served exactly
    assert _unstrand(_one_car(1000.0), MAX_W)[0, 0] == MAX_W  # 450 Wh left: fine


def test_the_last_step_has_nothing_after_it() -> None:
    assert _unstrand(_one_car(607.0, steps=1), MAX_W)[0, 0] == MAX_W


@given(problems(), st.data())
@settings(deadline=None, max_examples=60)
def test_unstrand_keeps_a_safe_plan_safe_and_changes_only_the_first_step(
    d: dict[str, Any], data: st.DataObject
) -> None:
    p = Problem.model_validate(d)
    net = p.network()
    rows = net.rows(10.0)
    allowed = repair.allowed_mask(net, rows)
    raw = data.draw(st.lists(st.floats(0.0, 30000.0), min_size=net.S * net.T,
                             max_size=net.S * net.T)) if net.S * net.T else []
    sp, _ = repair.make_safe(net, rows, np.reshape(np.asarray(raw, dtype=float),
                                                   (net.S, net.T)), allowed)
    out = repair.unstrand(net, rows, sp)
    assert np.array_equal(out[:, 1:], sp[:, 1:])
    assert verify(p, Plan.from_session_power(p, out)) == []
    mn = net.sess_min_w
    changed = out[:, 0] != sp[:, 0]
    assert np.all(out[changed, 0] >= mn[changed] * (1 - 1e-12))
    if net.T > 1:
        left = net.need_wh - out[:, 0] * net.frac[:, 0] * net.dt_h
        fixed = changed & (left > 1e-6)
        assert np.all(left[fixed] >= mn[fixed] * net.dt_h * (1 - 1e-9))
