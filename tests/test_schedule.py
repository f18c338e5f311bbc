"""Tests of smartcharge.schedule: the piecewise-constant algebra (examples + properties)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcharge.errors import ScheduleError
from smartcharge.schedule import Schedule, epoch_seconds

# ---------------------------------------------------------------- strategies

T_MAX = 400


@st.composite
def schedules(draw: st.DrawFn, unit: str = "A", halves: bool = False) -> Schedule:
    """Small schedules on [0, T_MAX] with NaN segments and phases 0..3.

    ``halves`` draws values that are multiples of 0.5 (exact in binary), so sums are exact.
    """
    edges = draw(st.lists(st.integers(0, T_MAX), min_size=0, max_size=8, unique=True))
    edges.sort()
    if len(edges) < 2:
        return Schedule.empty(unit)
    n = len(edges) - 1
    if halves:
        value = st.integers(0, 200).map(lambda k: k / 2)
    else:
        value = st.floats(0, 1000, allow_nan=False)
    values = draw(st.lists(st.one_of(value, st.just(float("nan"))), min_size=n, max_size=n))
    phases = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    return Schedule(edges, values, phases, unit)


times = st.integers(-10, T_MAX + 10)


def same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == b


# ---------------------------------------------------------------- examples


def test_construction_and_accessors() -> None:
    s = Schedule([0, 10, 30], [16.0, float("nan")], [3, 0], "A")
    assert len(s) == 2
    assert (s.start, s.end) == (0, 30)
    assert s.starts.tolist() == [0, 10]
    assert s.ends.tolist() == [10, 30]
    assert s.value_at(5) == 16.0
    assert np.isnan(s.value_at(10))
    assert np.isnan(s.value_at(30))  # the end is exclusive
    assert np.isnan(s.value_at(-1))
    assert s.phases_at(0) == 3
    assert s.phases_at(100) == 0
    assert Schedule.empty().start is None
    assert "Schedule(" in repr(s)


def test_arrays_are_read_only() -> None:
    s = Schedule([0, 10], [1.0])
    with pytest.raises(ValueError):
        s.values[0] = 2.0
    with pytest.raises(AttributeError):
        s.unit = "W"  # type: ignore[misc]


def test_datetime_times() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    s = Schedule.constant(t0, datetime(2024, 1, 1, 1, tzinfo=timezone.utc), 6.0)
    assert s.start == epoch_seconds(t0) == 1_704_067_200
    assert s.value_at(datetime(2024, 1, 1, 0, 30, tzinfo=timezone.utc)) == 6.0
    assert epoch_seconds(datetime(2024, 1, 1)) == 1_704_067_200  # naive = UTC


@pytest.mark.parametrize(
    ("edges", "values", "phases", "path"),
    [
        ([0, 10, 10], [1.0, 2.0], None, "edges"),
        ([0, 10], [1.0, 2.0], None, "edges"),
        ([0, 10], [1.0], [1, 2], "phases"),
        ([0, 10], [-1.0], None, "values"),
        ([0, 10], [float("inf")], None, "values"),
        ([0, 10], [1.0], [4], "phases"),
        ([0, 10], [], None, "edges"),
    ],
)
def test_invalid_schedules(
    edges: list[int], values: list[float], phases: list[int] | None, path: str
) -> None:
    with pytest.raises(ScheduleError) as info:
        Schedule(edges, values, phases)
    assert info.value.path == path
    assert info.value.rule


def test_bad_time_type() -> None:
    with pytest.raises(ScheduleError, match="datetime or int"):
        epoch_seconds("2024-01-01")  # type: ignore[arg-type]


def test_units_must_match() -> None:
    a = Schedule.constant(0, 10, 1.0, unit="A")
    b = Schedule.constant(0, 10, 1.0, unit="W")
    for op in (a.minimum, a.add, a.override):
        with pytest.raises(ScheduleError, match="convert first"):
            op(b)


def test_from_segments_fills_gaps_and_rejects_overlap() -> None:
    s = Schedule.from_segments([0, 20, 20], [10, 20, 30], [1.0, 9.0, 2.0])
    assert s.edges.tolist() == [0, 10, 20, 30]  # the empty segment is dropped
    assert np.isnan(s.values[1])
    with pytest.raises(ScheduleError, match="overlap"):
        Schedule.from_segments([0, 5], [10, 20], [1.0, 2.0])
    with pytest.raises(ScheduleError, match="equal lengths"):
        Schedule.from_segments([0], [10, 20], [1.0])
    assert len(Schedule.from_segments([], [], [])) == 0


def test_minimum_nan_is_no_limit() -> None:
    a = Schedule([0, 10, 20], [16.0, float("nan")], [3, 0])
    b = Schedule([5, 15], [10.0], [1])
    m = a.minimum(b)
    assert m.edges.tolist() == [0, 5, 10, 15, 20]
    assert m.values.tolist()[:3] == [16.0, 10.0, 10.0]
    assert np.isnan(m.values[3])
    assert m.phases.tolist() == [3, 1, 1, 0]


def test_add_propagates_or_fills() -> None:
    a = Schedule([0, 10, 20], [16.0, float("nan")], [3, 0])
    b = Schedule([0, 20], [10.0], [1])
    assert a.add(b).values[0] == 26.0
    assert np.isnan(a.add(b).values[1])
    filled = a.add(b, fill=57.0)
    assert filled.values.tolist() == [26.0, 67.0]
    assert filled.phases.tolist() == [3, 1]
    both_nan = Schedule([0, 10], [float("nan")]).add(Schedule([0, 10], [float("nan")]), fill=5.0)
    assert np.isnan(both_nan.values[0])


def test_override_lower_shows_through() -> None:
    upper = Schedule([0, 10, 20], [20.0, float("nan")], [1, 0])
    lower = Schedule([0, 30], [8.0], [3])
    o = upper.override(lower)
    assert o.values.tolist() == [20.0, 8.0, 8.0]
    assert o.phases.tolist() == [1, 3, 3]


def test_clip_and_shift() -> None:
    s = Schedule([0, 10, 20], [1.0, 2.0])
    c = s.clip(5, 25)
    assert c.edges.tolist() == [5, 10, 20, 25]
    assert np.isnan(c.values[-1])
    assert len(s.clip(10, 10)) == 0
    assert s.shift(100).edges.tolist() == [100, 110, 120]


def test_unit_conversion_with_phases() -> None:
    s = Schedule([0, 10, 20, 30], [16.0, 10.0, float("nan")], [1, 0, 3], "A")
    w = s.to_unit("W", voltage=230.0, default_phases=3)
    assert w.unit.value == "W"
    assert w.values.tolist()[:2] == [16 * 230.0, 10 * 230.0 * 3]
    assert np.isnan(w.values[2])
    assert s.to_unit("A") is s
    back = w.to_unit("A")
    assert np.allclose(back.values[:2], s.values[:2])


def test_sample_min_and_start() -> None:
    s = Schedule([0, 30, 90, 200], [10.0, 6.0, float("nan")])
    assert s.sample(0, 60, 3).tolist()[:2] == [6.0, 6.0]
    assert np.isnan(s.sample(0, 60, 4)[3])  # wholly NaN step
    assert s.sample(0, 60, 2, how="start").tolist() == [10.0, 6.0]
    assert s.sample(0, 60, 0).size == 0
    with pytest.raises(ScheduleError):
        s.sample(0, 0, 3)
    with pytest.raises(ScheduleError):
        s.sample(0, 60, 3, how="mean")  # type: ignore[arg-type]


def test_energy() -> None:
    s = Schedule([0, 3600, 5400], [7000.0, 2000.0], unit="W")
    assert s.energy() == 7000.0 + 1000.0
    with pytest.raises(ScheduleError, match="unbounded"):
        Schedule([0, 10], [float("nan")]).energy()


def test_equality_and_hash() -> None:
    a = Schedule([0, 10], [float("nan")], [0])
    b = Schedule([0, 10], [float("nan")], [0])
    assert a == b
    assert hash(a) == hash(b)
    assert a != Schedule([0, 10], [float("nan")], [0], "W")
    assert a != "schedule"


# ---------------------------------------------------------------- properties


@given(schedules(), schedules())
def test_minimum_commutative(a: Schedule, b: Schedule) -> None:
    assert a.minimum(b) == b.minimum(a)


@given(schedules(), schedules(), schedules())
def test_minimum_associative(a: Schedule, b: Schedule, c: Schedule) -> None:
    assert a.minimum(b).minimum(c) == a.minimum(b.minimum(c))


@given(schedules(halves=True), schedules(halves=True))
def test_sum_commutative(a: Schedule, b: Schedule) -> None:
    assert a.add(b) == b.add(a)
    assert a.add(b, fill=7.5) == b.add(a, fill=7.5)


@given(schedules(halves=True), schedules(halves=True), schedules(halves=True))
def test_sum_associative(a: Schedule, b: Schedule, c: Schedule) -> None:
    assert a.add(b).add(c) == a.add(b.add(c))


@given(schedules(), schedules(), schedules())
def test_override_associative(a: Schedule, b: Schedule, c: Schedule) -> None:
    assert a.override(b).override(c) == a.override(b.override(c))


@given(schedules(), schedules(), st.lists(times, max_size=20))
def test_minimum_pointwise(a: Schedule, b: Schedule, ts: list[int]) -> None:
    m = a.minimum(b)
    for t in ts:
        assert same(m.value_at(t), float(np.fmin(a.value_at(t), b.value_at(t))))


@given(schedules(), st.lists(times, max_size=30))
def test_merge_never_changes_values(s: Schedule, ts: list[int]) -> None:
    m = s.merged()
    assert len(m) <= len(s)
    for t in [*ts, *s.edges.tolist()]:
        assert same(m.value_at(t), s.value_at(t))
        assert m.phases_at(t) == s.phases_at(t)
    if len(m) > 1:  # no two equal neighbours remain
        v, p = m.values, m.phases
        equal = ((v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1]))) & (p[1:] == p[:-1])
        assert not equal.any()


@given(schedules(), st.integers(-20, T_MAX), st.integers(1, 50), st.integers(0, 12))
def test_sampling_matches_pointwise(s: Schedule, start: int, step: int, n: int) -> None:
    at_start = s.sample(start, step, n, how="start")
    mins = s.sample(start, step, n)
    for k in range(n):
        t = start + k * step
        assert same(at_start[k], s.value_at(t))
        brute = np.array([s.value_at(x) for x in range(t, t + step)])
        expected = np.nan if np.all(np.isnan(brute)) else float(np.nanmin(brute))
        assert same(mins[k], expected)


@given(schedules(), st.integers(-20, T_MAX + 20), st.integers(-20, T_MAX + 20), times)
def test_clip_then_evaluate(s: Schedule, lo: int, hi: int, t: int) -> None:
    c = s.clip(lo, hi)
    if lo <= t < hi:
        assert same(c.value_at(t), s.value_at(t))
        assert c.phases_at(t) == s.phases_at(t)
    else:
        assert np.isnan(c.value_at(t))
    if hi > lo:
        assert (c.start, c.end) == (lo, hi)


@given(schedules(unit="A"))
def test_conversion_round_trip(s: Schedule) -> None:
    back = s.to_unit("W", voltage=230.0).to_unit("A", voltage=230.0)
    assert np.allclose(back.values, s.values, equal_nan=True)
    assert np.array_equal(back.edges, s.edges)


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-9, minutes=-30))]),
    )
)
def test_epoch_seconds_floors(t: datetime) -> None:
    """Whole seconds, floored (also before 1970 and with sub-second parts), in any zone."""
    exact = (t - datetime(1970, 1, 1, tzinfo=timezone.utc)) / timedelta(microseconds=1)
    assert epoch_seconds(t) == int(exact) // 10**6
    assert epoch_seconds(t.astimezone(timezone.utc)) == epoch_seconds(t)
