"""The charge-early tie-break survives every solver's tolerances (objective scaling)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharge.optimizer import EVSE, Horizon, Node, Problem, Session, Tariff, optimize, verify
from smartcharge.optimizer._model import EPS_EARLY, TIE_RESOLUTION, objective_scale

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
METHODS: list[Any] = ["highs", "highs-simplex", "glop", "flow"]


def lone_car(n_steps: int, step_s: int, need_wh: float, max_w: float, flat: bool) -> Problem:
    """One car on a site with no limit, plugged in for the whole horizon."""
    end = START + timedelta(seconds=n_steps * step_s)
    return Problem(
        horizon=Horizon(start=START, step_s=step_s, n_steps=n_steps),
        nodes=(Node(id="grid"),),
        evses=(EVSE(id="e", node="grid", phases=3, max_current_a=32.0, min_current_a=0.0),),
        sessions=(Session(id="s", evse="e", arrival=START, departure=end, energy_wh=need_wh,
                          max_power_w=max_w),),
        tariff=Tariff(price=0.1) if flat else Tariff(),
    )


def _plan(p: Problem, how: str) -> np.ndarray:
    plan = optimize(p, method="flow") if how == "flow" else optimize(p, solver=how)
    assert verify(p, plan) == []
    return np.asarray(plan.session_power_w[0])


@pytest.mark.parametrize("how", METHODS)
def test_lone_car_starts_at_its_maximum(how: str) -> None:
    # HiGHS (interior point and simplex) gave 0 W in the first two steps here, and
    # 1315 W in the third, before the objective was scaled
    p = lone_car(582, 900, 58078.8, 11000.0, flat=False)
    sp = _plan(p, how)
    full = int(58078.8 // (11000.0 * 0.25))
    assert np.allclose(sp[:full], 11000.0, atol=0.05)  # the flow: whole mWh per step
    assert np.all(sp[full + 1:] == 0.0)


@given(
    n_steps=st.integers(2, 600),
    step_s=st.sampled_from([60, 300, 900, 3600]),
    need_kwh=st.floats(0.1, 80.0),
    max_w=st.sampled_from([3300.0, 6600.0, 7400.0, 11000.0, 22080.0]),
    flat=st.booleans(),
    how=st.sampled_from(METHODS),
)
@settings(deadline=None, max_examples=60)
def test_lone_car_charges_as_early_as_it_can(
    n_steps: int, step_s: int, need_kwh: float, max_w: float, flat: bool, how: str
) -> None:
    """At full power from step 0 until its need is met, then nothing, with every solver."""
    p = lone_car(n_steps, step_s, need_kwh * 1000.0, max_w, flat)
    sp = _plan(p, how)
    cap = min(max_w, 3 * 230.0 * 32.0)
    dt_h = step_s / 3600.0
    need = need_kwh * 1000.0
    full = min(int(need // (cap * dt_h)), n_steps)
    slack_w = 1e-3 / dt_h + 1e-6  # one mWh per step (the flow floors to whole mWh)
    assert np.all(sp[:full] >= cap - slack_w)
    assert np.all(sp[full + 1:] == 0.0)
    assert abs(sp.sum() * dt_h - min(need, n_steps * cap * dt_h)) <= 1e-3 * (n_steps + 1)


def test_objective_scale_resolves_one_step_of_the_tie_break() -> None:
    p = lone_car(288, 300, 10000.0, 7400.0, flat=True)
    net = p.network()
    one_step = EPS_EARLY * net.dt_h / net.T  # per W, unscaled
    assert one_step * objective_scale(net) == pytest.approx(TIE_RESOLUTION)
    assert objective_scale(lone_car(1, 3600, 1.0, 7400.0, True).network()) >= 1.0
