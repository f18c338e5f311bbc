"""Start/stop hysteresis of PV-only charging: flickering surplus, holds, bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer import SurplusHysteresis, SwitchState

T0 = datetime(2024, 6, 1, 10, tzinfo=timezone.utc)
MIN_W = 4140.0  # 6 A on three phases at 230 V


def _minutes(n: int) -> list[datetime]:
    return [T0 + timedelta(minutes=k) for k in range(n)]


def _flicker(n: int) -> np.ndarray:
    """A sunny 6 kW surplus with a passing cloud every 10 minutes: 4 minutes at 1 kW."""
    surplus = np.full(n, 6000.0)
    k = np.arange(n)
    surplus[(k % 10 >= 6) & (k >= 20)] = 1000.0
    return surplus


def test_a_passing_cloud_does_not_stop_a_car_within_the_hold_time() -> None:
    """Readings every minute; 5 minutes to start, 10 to stop. The car starts once, 5
    minutes after the sun, and the 4-minute clouds never stop it; without holds it would
    switch at every cloud."""
    times = _minutes(120)
    surplus = _flicker(120)
    on = SurplusHysteresis(MIN_W, MIN_W, 300.0, 600.0).run(times, surplus)
    assert not on[:5].any() and on[5:].all()
    assert int(np.count_nonzero(np.diff(on.astype(int)))) == 1
    eager = SurplusHysteresis(MIN_W, MIN_W, 0.0, 0.0).run(times, surplus)
    assert int(np.count_nonzero(np.diff(eager.astype(int)))) >= 19


def test_a_lasting_cloud_stops_the_car_after_the_hold_time() -> None:
    surplus = np.concatenate([np.full(30, 6000.0), np.full(30, 1000.0)])
    on = SurplusHysteresis(MIN_W, MIN_W, 300.0, 600.0).run(_minutes(60), surplus)
    # on from minute 5; the cloud from minute 30; off at minute 40 (10 minutes later)
    np.testing.assert_array_equal(np.flatnonzero(np.diff(on.astype(int))) + 1, [5, 40])


def test_stop_threshold_below_start_gives_a_dead_band() -> None:
    """Start at 5 kW, stop below 3 kW: 4 kW keeps a running car on and a stopped car off."""
    rule = SurplusHysteresis(5000.0, 3000.0, 0.0, 0.0)
    st_off = rule.step(SwitchState(), T0, 4000.0)
    assert not st_off.on
    st_on = rule.step(SwitchState(on=True), T0, 4000.0)
    assert st_on.on


def test_state_is_pure_and_time_may_not_run_backwards() -> None:
    rule = SurplusHysteresis(MIN_W, MIN_W)
    s1 = rule.step(SwitchState(), T0, 6000.0)
    assert rule.step(SwitchState(), T0, 6000.0) == s1  # same input, same state
    with pytest.raises(InvalidProblemError) as err:
        rule.step(s1, T0 - timedelta(seconds=1), 6000.0)
    assert err.value.path == "now" and err.value.rule == "monotonic"


@pytest.mark.parametrize(("kwargs", "path", "rule"), [
    ({"start_w": 1000.0, "stop_w": 2000.0}, "stop_w", "stop<=start"),
    ({"start_w": -1.0, "stop_w": -2.0}, "start_w", "ge0"),
    ({"start_w": 1.0, "stop_w": 1.0, "stop_hold_s": float("nan")}, "stop_hold_s", "ge0"),
])
def test_bad_settings_name_the_field(kwargs: dict[str, float], path: str, rule: str) -> None:
    with pytest.raises(InvalidProblemError) as err:
        SurplusHysteresis(**kwargs)
    assert (err.value.path, err.value.rule) == (path, rule)


def test_run_needs_one_reading_per_time() -> None:
    with pytest.raises(InvalidProblemError) as err:
        SurplusHysteresis(1.0, 1.0).run(_minutes(3), [1.0, 2.0])
    assert err.value.rule == "per-step"
    with pytest.raises(InvalidProblemError):
        SurplusHysteresis(1.0, 1.0).step(SwitchState(), T0, float("inf"))


@given(st.lists(st.floats(0.0, 10000.0), min_size=1, max_size=200),
       st.integers(0, 15), st.integers(0, 15))
def test_the_switch_never_changes_before_its_hold(
    surplus: list[float], start_min: int, stop_min: int
) -> None:
    """Switching on needs the surplus >= start_w at every reading of the last
    ``start_hold_s``; switching off needs it < stop_w at every reading of the last
    ``stop_hold_s`` (readings every minute)."""
    rule = SurplusHysteresis(MIN_W, 3000.0, 60.0 * start_min, 60.0 * stop_min)
    v = np.array(surplus)
    on = rule.run(_minutes(len(v)), v)
    before = np.concatenate([[False], on[:-1]])
    for k in np.flatnonzero(on & ~before).tolist():
        assert k >= start_min and np.all(v[k - start_min: k + 1] >= MIN_W)
    for k in np.flatnonzero(~on & before).tolist():
        assert k >= stop_min and np.all(v[k - stop_min: k + 1] < 3000.0)
    # and a switch that stays is right to stay: when the surplus held long enough, it moved
    for k in range(len(v)):
        if k >= start_min and np.all(v[k - start_min: k + 1] >= MIN_W):
            assert on[k]
        if k >= stop_min and np.all(v[k - stop_min: k + 1] < 3000.0):
            assert not on[k]
