"""Tests of smartcharge.expand: one ChargingProfile -> absolute segments."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcharge.errors import ScheduleError
from smartcharge.expand import (
    RECURRENCE_SECONDS,
    batch_entries,
    expand_profile,
    occurrence_starts,
    period_entries,
    profile_segments,
)
from smartcharge.model import ChargingProfile, ChargingProfileKind
from smartcharge.schedule import epoch_seconds

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)  # a Monday
E0 = epoch_seconds(T0)
H = 3600
DAY = 86_400


def iso(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def make(
    kind: str = "Absolute",
    periods: list[tuple[int, float]] | None = None,
    *,
    start: int | None = 0,
    duration: int | None = None,
    recurrency: str | None = None,
    valid_from: int | None = None,
    valid_to: int | None = None,
    phases: list[int | None] | None = None,
    extra_schedules: int = 0,
) -> ChargingProfile:
    periods = periods or [(0, 16.0)]
    sched: dict[str, Any] = {
        "id": 1,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": sp, "limit": lim}
            | ({"numberPhases": phases[i]} if phases and phases[i] else {})
            for i, (sp, lim) in enumerate(periods)
        ],
    }
    if kind != "Relative" and start is not None:
        sched["startSchedule"] = iso(start)
    if duration is not None:
        sched["duration"] = duration
    payload: dict[str, Any] = {
        "id": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": kind,
        "chargingSchedule": [sched]
        + [
            sched | {"id": 2 + i, "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1.0}]}
            for i in range(extra_schedules)
        ],
    }
    if recurrency:
        payload["recurrencyKind"] = recurrency
    if valid_from is not None:
        payload["validFrom"] = iso(valid_from)
    if valid_to is not None:
        payload["validTo"] = iso(valid_to)
    return ChargingProfile.model_validate(payload)


def values(p: ChargingProfile, lo: int, hi: int, ts: list[int], **kw: Any) -> list[float]:
    s = expand_profile(p, E0 + lo, E0 + hi, **kw)
    return [s.value_at(E0 + t) for t in ts]


def nan_list(xs: list[float]) -> list[float | None]:
    return [None if np.isnan(x) else x for x in xs]


# ---------------------------------------------------------------- examples


def test_absolute_periods_and_duration() -> None:
    p = make(periods=[(0, 16.0), (H, 10.0)], start=H, duration=90 * 60)
    got = values(p, 0, 4 * H, [0, H, 2 * H - 1, 2 * H, 150 * 60 - 1, 150 * 60])
    assert nan_list(got) == [None, 16.0, 16.0, 10.0, 10.0, None]


def test_expand_domain_is_the_window() -> None:
    p = make(start=H, duration=H)
    s = expand_profile(p, T0, T0 + timedelta(hours=4))
    assert (s.start, s.end) == (E0, E0 + 4 * H)
    assert s.unit.value == "A"
    assert len(expand_profile(p, E0, E0)) == 0


def test_relative_with_and_without_transaction() -> None:
    p = make("Relative", [(0, 6.0), (600, 12.0)])
    # no transaction: anchored at the window start
    assert values(p, 1000, 5000, [1000, 1599, 1600]) == [6.0, 6.0, 12.0]
    # with a transaction: anchored at its start (datetime or int)
    assert values(p, 1000, 5000, [1000, 1300], transaction_start=T0 + timedelta(seconds=700)) == [
        6.0,
        12.0,
    ]
    assert values(p, 1000, 5000, [1299, 1300], transaction_start=E0 + 700) == [6.0, 12.0]


def test_recurring_daily_occurrences_cut_by_next() -> None:
    # 8:00 each day, 20 h periods without duration: the next day's occurrence cuts it
    p = make("Recurring", [(0, 16.0), (10 * H, 8.0)], start=8 * H, recurrency="Daily")
    got = values(p, 0, 3 * DAY, [0, 7 * H, 8 * H, 18 * H, DAY + 7 * H + 3599, DAY + 8 * H])
    assert got == [8.0, 8.0, 16.0, 8.0, 8.0, 16.0]


def test_recurring_weekly_with_duration() -> None:
    p = make("Recurring", [(0, 11.0)], start=2 * DAY, duration=DAY, recurrency="Weekly")
    ts = [2 * DAY, 3 * DAY - 1, 3 * DAY, 9 * DAY, 10 * DAY]
    assert nan_list(values(p, 0, 14 * DAY, ts)) == [11.0, 11.0, None, 11.0, None]


def test_recurring_occurrence_before_start_schedule_follows_everest() -> None:
    # startSchedule lies in the future: EVerest still aligns occurrences on it modulo a day
    p = make("Recurring", [(0, 9.0)], start=10 * DAY + 8 * H, duration=H, recurrency="Daily")
    assert values(p, 8 * H, 9 * H, [8 * H]) == [9.0]
    occ = occurrence_starts(p, E0 + 9 * H, E0 + 2 * DAY)
    assert (occ - E0).tolist() == [8 * H, DAY + 8 * H]
    assert RECURRENCE_SECONDS[p.recurrency_kind] == DAY  # type: ignore[index]


def test_valid_from_and_valid_to_clip() -> None:
    p = make(periods=[(0, 5.0), (2 * H, 7.0)], valid_from=H, valid_to=3 * H)
    got = values(p, 0, 4 * H, [H - 1, H, 2 * H, 3 * H - 1, 3 * H])
    assert nan_list(got) == [None, 5.0, 7.0, 7.0, None]
    seg = profile_segments(p, E0, E0 + 4 * H)
    assert (seg.starts - E0).tolist() == [H, 2 * H]  # start moved forward to validFrom


def test_expired_periods_are_dropped() -> None:
    p = make(periods=[(0, 5.0), (H, 7.0)])
    seg = period_entries(p, E0 + 2 * H, E0 + 3 * H)
    assert seg.period_index.tolist() == [1]
    assert np.isinf(seg.ends[0]) or seg.ends[0] > E0 + 3 * H


def test_only_the_first_schedule_applies() -> None:
    p = make(periods=[(0, 16.0)], extra_schedules=2)
    assert len(p.charging_schedule) == 3
    assert values(p, 0, H, [0]) == [16.0]


def test_phases_are_carried() -> None:
    p = make(periods=[(0, 16.0), (60, 10.0)], phases=[1, None])
    s = expand_profile(p, E0, E0 + 120)
    assert s.phases.tolist() == [1, 0]


def test_period_index_selection() -> None:
    p = make("Recurring", [(0, 16.0), (H, 8.0)], start=0, duration=2 * H, recurrency="Daily")
    seg = period_entries(p, E0, E0 + 2 * DAY, period_index=1)
    assert (seg.starts - E0).tolist() == [H, DAY + H, 2 * DAY + H]
    assert set(seg.limits.tolist()) == {8.0}
    with pytest.raises(ScheduleError, match="out of range"):
        period_entries(p, E0, E0 + DAY, period_index=2)


def test_invalid_period_order_is_an_error() -> None:
    base = make(periods=[(0, 1.0), (60, 2.0)])
    sched = base.charging_schedule[0]
    bad = base.model_copy(
        update={
            "charging_schedule": (
                sched.model_copy(
                    update={
                        "charging_schedule_period": (
                            sched.charging_schedule_period[1],
                            sched.charging_schedule_period[0],
                        )
                    }
                ),
            )
        }
    )
    with pytest.raises(ScheduleError) as info:
        expand_profile(bad, E0, E0 + H)
    assert info.value.rule == "K01.FR.31"
    twice = base.model_copy(
        update={
            "charging_schedule": (
                sched.model_copy(
                    update={
                        "charging_schedule_period": (
                            sched.charging_schedule_period[0],
                            sched.charging_schedule_period[0],
                        )
                    }
                ),
            )
        }
    )
    with pytest.raises(ScheduleError) as info:
        expand_profile(twice, E0, E0 + H)
    assert info.value.rule == "K01.FR.35"
    assert info.value.path == "chargingSchedule[0].chargingSchedulePeriod[1].startPeriod"


def test_missing_start_schedule_or_recurrency_is_an_error() -> None:
    with pytest.raises(ScheduleError, match="startSchedule"):
        expand_profile(make(start=None), E0, E0 + H)
    p = make("Recurring", start=0, recurrency="Daily")
    no_kind = p.model_copy(update={"recurrency_kind": None})
    with pytest.raises(ScheduleError, match="recurrencyKind"):
        expand_profile(no_kind, E0, E0 + H)


# ---------------------------------------------------------------- properties


def reference_value(
    p: ChargingProfile, t: int, window_start: int, tx_start: int | None
) -> tuple[float, int]:
    """The profile's limit at instant t, straight from the rules (slow and obvious)."""
    sched = p.charging_schedule[0]
    if p.valid_from is not None and t < epoch_seconds(p.valid_from):
        return float("nan"), 0
    if p.valid_to is not None and t >= epoch_seconds(p.valid_to):
        return float("nan"), 0
    if p.charging_profile_kind is ChargingProfileKind.Relative:
        origin = window_start if tx_start is None else tx_start
    elif p.charging_profile_kind is ChargingProfileKind.Absolute:
        assert sched.start_schedule is not None
        origin = epoch_seconds(sched.start_schedule)
    else:
        assert sched.start_schedule is not None and p.recurrency_kind is not None
        period = RECURRENCE_SECONDS[p.recurrency_kind]
        ss = epoch_seconds(sched.start_schedule)
        origin = t - (t - ss) % period
    offset = t - origin
    if offset < 0 or (sched.duration is not None and offset >= sched.duration):
        return float("nan"), 0
    chosen = None
    for period in sched.charging_schedule_period:
        if period.start_period <= offset:
            chosen = period
    assert chosen is not None
    return chosen.limit, chosen.number_phases or 0


@st.composite
def profiles(draw: st.DrawFn) -> ChargingProfile:
    kind = draw(st.sampled_from(["Absolute", "Relative", "Recurring"]))
    n = draw(st.integers(1, 5))
    gaps = draw(st.lists(st.integers(1, 8 * H), min_size=n - 1, max_size=n - 1))
    starts = [0]
    for g in gaps:
        starts.append(starts[-1] + g)
    lims = draw(st.lists(st.integers(0, 320).map(lambda k: k / 10), min_size=n, max_size=n))
    phases = draw(st.lists(st.sampled_from([None, 1, 3]), min_size=n, max_size=n))
    duration = draw(st.none() | st.integers(1, 2 * DAY))
    vf = draw(st.none() | st.integers(-DAY, 3 * DAY))
    vt = None
    if draw(st.booleans()):
        vt = (vf if vf is not None else -DAY) + draw(st.integers(1, 4 * DAY))
    return make(
        kind,
        list(zip(starts, lims, strict=True)),
        start=draw(st.integers(-3 * DAY, 3 * DAY)),
        duration=duration,
        recurrency=draw(st.sampled_from(["Daily", "Weekly"])) if kind == "Recurring" else None,
        valid_from=vf,
        valid_to=vt,
        phases=phases,
    )


@given(
    profiles(),
    st.integers(-DAY, 2 * DAY),
    st.integers(1, 2 * DAY),
    st.none() | st.integers(-2 * DAY, 2 * DAY),
    st.lists(st.integers(0, 10**6 - 1), min_size=1, max_size=25),
)
def test_expand_matches_reference(
    p: ChargingProfile, ws: int, length: int, tx: int | None, fractions: list[int]
) -> None:
    lo, hi = E0 + ws, E0 + ws + length
    txs = None if tx is None else E0 + tx
    s = expand_profile(p, lo, hi, transaction_start=txs)
    assert (s.start, s.end) == (lo, hi)
    probes = [lo + (f * length) // 10**6 for f in fractions] + s.edges[:-1].tolist()
    for t in probes:
        want, ph = reference_value(p, t, lo, txs)
        got = s.value_at(t)
        assert (np.isnan(want) and np.isnan(got)) or want == got, (t - E0, want, got)
        if not np.isnan(want):
            assert s.phases_at(t) == ph


@given(profiles(), st.integers(-DAY, 2 * DAY), st.integers(1, 3 * DAY))
def test_segments_sorted_and_disjoint(p: ChargingProfile, ws: int, length: int) -> None:
    seg = profile_segments(p, E0 + ws, E0 + ws + length)
    assert np.all(seg.ends > seg.starts)
    assert np.all(seg.starts[1:] >= seg.ends[:-1])
    assert np.all(seg.ends > E0 + ws)
    assert np.all(seg.starts <= E0 + ws + length)
    limits = {q.limit for q in p.charging_schedule[0].charging_schedule_period}
    assert set(seg.limits.tolist()) <= limits


@given(
    st.lists(profiles(), min_size=1, max_size=5),
    st.integers(-DAY, 2 * DAY),
    st.integers(1, 3 * DAY),
    st.none() | st.integers(-DAY, DAY),
)
def test_batch_entries_equal_one_by_one(
    ps: list[ChargingProfile], ws: int, length: int, tx: int | None
) -> None:
    anchors = [None if tx is None or i % 2 else E0 + tx for i in range(len(ps))]
    lo, hi = E0 + ws, E0 + ws + length
    batch = batch_entries(ps, lo, hi, session_starts=anchors)
    assert len(batch) == len(ps)
    for p, a, got in zip(ps, anchors, batch, strict=True):
        want = period_entries(p, lo, hi, session_start=a)
        for x, y in zip(got, want, strict=True):
            assert x.tolist() == y.tolist()


def test_batch_entries_reports_bad_periods() -> None:
    good = make(periods=[(0, 1.0), (60, 2.0)])
    sched = good.charging_schedule[0]
    p0, p1 = sched.charging_schedule_period
    bad = good.model_copy(
        update={
            "charging_schedule": (
                sched.model_copy(update={"charging_schedule_period": (p0, p1, p1)}),
            )
        }
    )
    with pytest.raises(ScheduleError) as info:
        batch_entries([good, bad], E0, E0 + H)
    assert info.value.path == "chargingSchedule[0].chargingSchedulePeriod[2].startPeriod"
    assert info.value.rule == "K01.FR.35"
    late = good.model_copy(
        update={
            "charging_schedule": (sched.model_copy(update={"charging_schedule_period": (p1,)}),)
        }
    )
    with pytest.raises(ScheduleError) as info:
        batch_entries([late], E0, E0 + H)
    assert info.value.rule == "K01.FR.31"
    with pytest.raises(ScheduleError, match="startSchedule"):
        batch_entries([make(start=None)], E0, E0 + H)
