"""Hypothesis strategies that generate valid OCPP 2.0.1 smart-charging objects.

For your own property tests (needs ``hypothesis``: ``pip install "smartcharge[testing]"``)::

    from hypothesis import given
    from smartcharge.testing import charging_profiles

    @given(charging_profiles())
    def test_my_handler_accepts_valid_profiles(profile): ...

Every generated profile passes the model's value rules and the context-free K01 rules:
the first ``startPeriod`` is 0 and start periods increase strictly; Absolute and Recurring
profiles carry ``startSchedule`` and Relative ones do not; Recurring profiles carry a
``recurrencyKind``; ChargingStationMaxProfiles are never Relative; TxProfiles carry a
``transactionId``; ``validFrom`` is before ``validTo``. Date-times are whole seconds in UTC,
limits have one decimal digit.

The strategies lean towards edges, where bugs live: date-times fall on one of a few
quarter-hours just after ``min_value`` (so independently drawn profiles and windows start at
the same instant and tie) or on a whole hour about a third of the time each; period gaps
are whole quarter-hours half of the time (so different profiles' periods end together);
``duration``, ``validFrom`` and ``validTo`` fall exactly on a period boundary of the
schedule some of the time. Every value of the full range stays reachable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from smartcharge.model import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    RecurrencyKind,
)

__all__ = [
    "charging_profiles",
    "charging_schedule_periods",
    "charging_schedules",
    "limits",
    "utc_datetimes",
]

_EPOCH_MIN = datetime(2020, 1, 1, tzinfo=timezone.utc)
_EPOCH_MAX = datetime(2030, 1, 1, tzinfo=timezone.utc)


_QUARTER = 900  # [s]
_TIE_SLOTS = 8  # quarter-hours after min_value that independent draws share


def utc_datetimes(
    min_value: datetime = _EPOCH_MIN, max_value: datetime = _EPOCH_MAX
) -> st.SearchStrategy[datetime]:
    """Timezone-aware UTC datetimes in whole seconds between ``min_value`` and ``max_value``.

    Biased to edges: one of the first few quarter-hours after ``min_value`` (independent
    draws then coincide: same-instant ties), a whole hour after ``min_value``, or any second.
    """
    span = int((max_value - min_value).total_seconds())
    offsets = st.one_of(
        st.integers(0, min(_TIE_SLOTS, span // _QUARTER)).map(lambda k: k * _QUARTER),
        st.integers(0, span // 3600).map(lambda h: h * 3600),
        st.integers(0, span),
    )
    return offsets.map(lambda s: min_value + timedelta(seconds=s))


def _gap(max_gap: int) -> st.SearchStrategy[int]:
    """A gap between period starts [s]: any second, or whole quarter-hours (when they fit)."""
    if max_gap < _QUARTER:
        return st.integers(1, max_gap)
    return st.one_of(
        st.integers(1, max_gap // _QUARTER).map(lambda k: k * _QUARTER),
        st.integers(1, max_gap),
    )


def limits(unit: ChargingRateUnit | str = ChargingRateUnit.A) -> st.SearchStrategy[float]:
    """Limits with one decimal digit: 0..80 A per phase, or 0..100 kW in W."""
    top = 800 if ChargingRateUnit(unit) is ChargingRateUnit.A else 1_000_000
    return st.integers(0, top).map(lambda tenths: tenths / 10)


@st.composite
def charging_schedule_periods(
    draw: st.DrawFn,
    unit: ChargingRateUnit | str = ChargingRateUnit.A,
    *,
    min_size: int = 1,
    max_size: int = 6,
    max_gap: int = 7200,
    with_phases: bool | None = None,
) -> tuple[ChargingSchedulePeriod, ...]:
    """Periods whose start periods begin at 0 and increase strictly (gaps up to ``max_gap`` s)."""
    n = draw(st.integers(min_size, max_size))
    gaps = draw(st.lists(_gap(max_gap), min_size=n - 1, max_size=n - 1))
    starts = [0]
    for gap in gaps:
        starts.append(starts[-1] + gap)
    phases = draw(st.booleans()) if with_phases is None else with_phases
    periods = []
    for start in starts:
        number_phases = draw(st.sampled_from((1, 3))) if phases else None
        periods.append(
            ChargingSchedulePeriod(
                start_period=start, limit=draw(limits(unit)), number_phases=number_phases
            )
        )
    return tuple(periods)


@st.composite
def charging_schedules(
    draw: st.DrawFn,
    *,
    kind: ChargingProfileKind | str = ChargingProfileKind.Absolute,
    units: Sequence[ChargingRateUnit | str] = (ChargingRateUnit.A, ChargingRateUnit.W),
    schedule_id: int | None = None,
    max_periods: int = 6,
) -> ChargingSchedule:
    """A ChargingSchedule that fits profiles of ``kind`` (startSchedule only when not Relative)."""
    unit = draw(st.sampled_from(tuple(ChargingRateUnit(u) for u in units)))
    kind = ChargingProfileKind(kind)
    periods = draw(charging_schedule_periods(unit, max_size=max_periods))
    last = periods[-1].start_period
    # no duration; ending a whole number of quarter-hours after the last period start (an
    # edge shared with other schedules); or any second after it
    duration = draw(
        st.none()
        | st.integers(1, 96).map(lambda k: last + k * _QUARTER)
        | st.integers(last + 1, last + 86_400)
    )
    start = None if kind is ChargingProfileKind.Relative else draw(utc_datetimes())
    min_rate = draw(st.none() | st.integers(0, 100).map(lambda t: t / 10))
    return ChargingSchedule(
        id=draw(st.integers(0, 1000)) if schedule_id is None else schedule_id,
        start_schedule=start,
        duration=duration,
        charging_rate_unit=unit,
        charging_schedule_period=periods,
        min_charging_rate=min_rate,
    )


@st.composite
def _validity(draw: st.DrawFn, schedule: ChargingSchedule) -> tuple[datetime, datetime]:
    """A validFrom < validTo window: anywhere, or with either end exactly on one of the
    schedule's period boundaries (start, a period start, the end of its duration)."""
    valid_from = draw(utc_datetimes())
    valid_to = valid_from + timedelta(seconds=draw(st.integers(1, 30 * 86_400)))
    if schedule.start_schedule is None or not draw(st.booleans()):
        return valid_from, valid_to
    edges = [p.start_period for p in schedule.charging_schedule_period]
    if schedule.duration is not None:
        edges.append(schedule.duration)
    edge = schedule.start_schedule + timedelta(seconds=draw(st.sampled_from(edges)))
    span = timedelta(seconds=draw(st.integers(1, 2 * 86_400)))
    if draw(st.booleans()):
        return edge, edge + span
    return edge - span, edge


@st.composite
def charging_profiles(
    draw: st.DrawFn,
    *,
    purposes: Sequence[ChargingProfilePurpose | str] = tuple(ChargingProfilePurpose),
    kinds: Sequence[ChargingProfileKind | str] = tuple(ChargingProfileKind),
    ids: st.SearchStrategy[int] | None = None,
    stack_levels: st.SearchStrategy[int] | None = None,
    transaction_ids: Sequence[str] = ("tx-1",),
    units: Sequence[ChargingRateUnit | str] = (ChargingRateUnit.A, ChargingRateUnit.W),
    max_schedules: int = 1,
    max_periods: int = 6,
    validity: bool | None = None,
) -> ChargingProfile:
    """A ChargingProfile that passes the model's rules and K01's context-free rules.

    Parameters
    ----------
    purposes, kinds
        The purposes and kinds to draw from (ChargingStationMaxProfile is never Relative).
    ids, stack_levels
        Strategies for ``id`` (default 1..10_000) and ``stackLevel`` (default 0..5).
    transaction_ids
        TxProfiles draw their ``transactionId`` from these.
    units
        Rate units to draw from.
    max_schedules
        Up to this many ChargingSchedules (1..3).
    validity
        ``True``: always a validFrom/validTo window; ``False``: never; ``None``: either.
    """
    purpose = draw(st.sampled_from(tuple(ChargingProfilePurpose(p) for p in purposes)))
    allowed = [
        k
        for k in (ChargingProfileKind(k) for k in kinds)
        if not (
            purpose is ChargingProfilePurpose.ChargingStationMaxProfile
            and k is ChargingProfileKind.Relative
        )
    ]
    kind = draw(st.sampled_from(allowed or [ChargingProfileKind.Absolute]))
    recurrency = (
        draw(st.sampled_from(tuple(RecurrencyKind)))
        if kind is ChargingProfileKind.Recurring
        else None
    )
    n_sched = draw(st.integers(1, max(1, min(3, max_schedules))))
    schedules = tuple(
        draw(charging_schedules(kind=kind, units=units, schedule_id=i, max_periods=max_periods))
        for i in range(n_sched)
    )
    with_window = draw(st.booleans()) if validity is None else validity
    valid_from = valid_to = None
    if with_window:
        valid_from, valid_to = draw(_validity(schedules[0]))
    tx = None
    if purpose is ChargingProfilePurpose.TxProfile:
        tx = draw(st.sampled_from(tuple(transaction_ids)))
    return ChargingProfile(
        id=draw(ids if ids is not None else st.integers(1, 10_000)),
        stack_level=draw(stack_levels if stack_levels is not None else st.integers(0, 5)),
        charging_profile_purpose=purpose,
        charging_profile_kind=kind,
        recurrency_kind=recurrency,
        valid_from=valid_from,
        valid_to=valid_to,
        charging_schedule=schedules,
        transaction_id=tx,
    )
