"""One ChargingProfile -> absolute, non-overlapping segments in a time window.

The rules are those of OCPP 2.0.1 K01/K08 as EVerest's libocpp applies them (its
``calculate_start`` / ``calculate_profile_entry`` / ``calculate_profile``), which the
conformance tests reproduce:

- **Absolute**: the schedule starts at ``startSchedule``.
- **Relative**: the schedule starts at the transaction's start, or at ``now`` (the window
  start) when no transaction runs.
- **Recurring** (Daily = 86 400 s, Weekly = 604 800 s): occurrences are aligned on
  ``startSchedule`` modulo the recurrence period; the first is the latest occurrence at or
  before ``now`` -- even when ``startSchedule`` itself lies in the future (EVerest's
  behaviour; only ``validFrom`` keeps a profile from applying early) -- then one per period
  while it starts at or before the window end. An occurrence is cut by the next one.
- A period lasts until the next period's ``startPeriod``, cut by the schedule's
  ``duration`` (from the occurrence start), by the next occurrence and by ``validTo``; its
  start is moved forward to ``validFrom``. Periods that end up empty, that end at or before
  ``now``, or that start after the window end are dropped.

Only the **first** ``chargingSchedule`` of a profile is used: OCPP 2.0.1 allows up to three
only for ISO 15118, where the EV picks one; the station (and EVerest) applies the first.

Times are int epoch seconds [s, UTC] or aware datetimes (floored to whole seconds).

>>> from smartcharge.model import ChargingProfile
>>> p = ChargingProfile.model_validate({
...     "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
...     "chargingProfileKind": "Relative",
...     "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "duration": 600,
...         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0},
...                                    {"startPeriod": 300, "limit": 8.0, "numberPhases": 1}]}]})
>>> s = expand_profile(p, 1000, 2000)
>>> s.edges.tolist(), s.values.tolist(), s.phases.tolist()
([1000, 1300, 1600, 2000], [16.0, 8.0, nan], [0, 1, 0])
>>> expand_profile(p, 1000, 2000, transaction_start=900).edges.tolist()
[1000, 1200, 1500, 2000]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import accumulate, chain
from operator import attrgetter
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from smartcharge.errors import ScheduleError
from smartcharge.model import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingSchedule,
    ChargingSchedulePeriod,
    RecurrencyKind,
)
from smartcharge.schedule import Schedule, epoch_seconds

__all__ = [
    "RECURRENCE_SECONDS",
    "Segments",
    "batch_entries",
    "expand_profile",
    "occurrence_starts",
    "period_entries",
    "profile_segments",
]

IntArray = npt.NDArray[np.int64]

RECURRENCE_SECONDS: dict[RecurrencyKind, int] = {
    RecurrencyKind.Daily: 86_400,
    RecurrencyKind.Weekly: 7 * 86_400,
}
"""Length [s] of one recurrence."""

_FOREVER = 2**31 - 1  # EVerest's "forever" for an open-ended period [s]
_NEVER = -(2**62)  # "no validFrom"
_RECURRING = ChargingProfileKind.Recurring  # (module constants: cheaper to look up)
_RELATIVE = ChargingProfileKind.Relative
_START = attrgetter("start_period")
_LIMIT = attrgetter("limit")
_PHASES = attrgetter("number_phases")


class Segments(NamedTuple):
    """Absolute segments of one profile, sorted by start and non-overlapping.

    Attributes
    ----------
    starts, ends
        ``[starts[i], ends[i])`` [epoch s]; ``starts`` already moved forward to ``validFrom``.
    limits
        Limit of each segment in the schedule's unit (float64).
    phases
        ``numberPhases`` of each segment (int8, 0 = absent).
    period_index
        Index of the ``chargingSchedulePeriod`` each segment comes from.
    """

    starts: IntArray
    ends: IntArray
    limits: npt.NDArray[np.float64]
    phases: npt.NDArray[np.int8]
    period_index: IntArray


class _Flat:
    """The segments of several profiles, profile after profile, in shared arrays (internal).

    ``flat[k]`` is profile k's :class:`Segments` (views); ``bounds[k]:bounds[k + 1]`` its
    slice of the arrays.
    """

    __slots__ = ("bounds", "ends", "limits", "period_index", "phases", "starts")

    def __init__(
        self,
        starts: IntArray,
        ends: IntArray,
        limits: npt.NDArray[np.float64],
        phases: npt.NDArray[np.int8],
        period_index: IntArray,
        bounds: list[int],
    ) -> None:
        self.starts = starts
        self.ends = ends
        self.limits = limits
        self.phases = phases
        self.period_index = period_index
        self.bounds = bounds

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def __getitem__(self, k: int) -> Segments:
        a, b = self.bounds[k], self.bounds[k + 1]
        return Segments(
            self.starts[a:b],
            self.ends[a:b],
            self.limits[a:b],
            self.phases[a:b],
            self.period_index[a:b],
        )

    def size(self, k: int) -> int:
        """The number of profile k's segments."""
        return self.bounds[k + 1] - self.bounds[k]


class _Table(NamedTuple):
    schedule: ChargingSchedule
    start_period: IntArray
    dur: IntArray  # end of each period from the occurrence start [s]
    limit: npt.NDArray[np.float64]
    phases: npt.NDArray[np.int8]


def _table(profile: ChargingProfile) -> _Table:
    sched = profile.charging_schedule[0]
    periods = sched.charging_schedule_period
    rows = [(p.start_period, p.limit, p.number_phases or 0) for p in periods]
    arr = np.array(rows, dtype=np.float64)
    sp = arr[:, 0].astype(np.int64)
    if sp[0] != 0:
        raise ScheduleError(
            f"the first period must start at 0, got {int(sp[0])}",
            path="chargingSchedule[0].chargingSchedulePeriod[0].startPeriod",
            rule="K01.FR.31",
        )
    dur = np.empty(sp.size, dtype=np.int64)
    dur[-1] = _FOREVER
    if sp.size > 1:
        dur[:-1] = sp[1:]
        if np.any(dur[:-1] <= sp[:-1]):
            i = int(np.flatnonzero(dur[:-1] <= sp[:-1])[0]) + 1
            raise ScheduleError(
                "startPeriod values must increase strictly",
                path=f"chargingSchedule[0].chargingSchedulePeriod[{i}].startPeriod",
                rule="K01.FR.35",
            )
    if sched.duration is not None:  # a period is cut by the schedule's duration
        dur = np.minimum(dur, sched.duration)
    return _Table(sched, sp, dur, arr[:, 1].copy(), arr[:, 2].astype(np.int8))


def _opt_epoch(t: datetime | int | None) -> int | None:
    return None if t is None else epoch_seconds(t)


def occurrence_starts(
    profile: ChargingProfile,
    now: datetime | int,
    end: datetime | int,
    *,
    session_start: datetime | int | None = None,
) -> IntArray:
    """Start times [epoch s] of the occurrences of ``profile``'s schedule that matter in
    ``[now, end]`` (EVerest's ``calculate_start``).

    Absolute: ``[startSchedule]``; Relative: ``[session_start]`` or ``[now]``; Recurring:
    the latest occurrence at or before ``now``, then one per day/week while ``<= end`` (this
    may return occurrences before ``validFrom`` or ``startSchedule``; the period rules
    discard what is not valid).
    """
    t_now = epoch_seconds(now)
    t_end = epoch_seconds(end)
    sched = profile.charging_schedule[0]
    kind = profile.charging_profile_kind
    if kind is ChargingProfileKind.Relative:
        anchor = t_now if session_start is None else epoch_seconds(session_start)
        return np.array([anchor], dtype=np.int64)
    if sched.start_schedule is None:
        raise ScheduleError(
            f"a {kind.value} profile needs startSchedule",
            path="chargingSchedule[0].startSchedule",
            rule="K01.FR.40",
        )
    ss = epoch_seconds(sched.start_schedule)
    if kind is ChargingProfileKind.Absolute:
        return np.array([ss], dtype=np.int64)
    if profile.recurrency_kind is None:
        raise ScheduleError(
            "a Recurring profile needs recurrencyKind", path="recurrencyKind", rule="required"
        )
    period = RECURRENCE_SECONDS[profile.recurrency_kind]
    first = t_now - (t_now - ss) % period
    if first > t_end:
        return np.zeros(0, dtype=np.int64)
    count = (t_end - first) // period + 1
    return first + period * np.arange(count, dtype=np.int64)


def period_entries(
    profile: ChargingProfile,
    now: datetime | int,
    end: datetime | int,
    *,
    session_start: datetime | int | None = None,
    period_index: int | None = None,
) -> Segments:
    """The absolute entries of one period (``period_index``) or of all periods, in
    ``[now, end]`` (EVerest's ``calculate_profile_entry`` / ``calculate_profile``).

    Entries that end at or before ``now`` are dropped; with ``period_index=None`` so are
    entries starting after ``end``. The result is sorted by start.
    """
    tab = _table(profile)
    t_now = epoch_seconds(now)
    t_end = epoch_seconds(end)
    occ = occurrence_starts(profile, t_now, t_end, session_start=session_start)
    m = tab.start_period.size
    if period_index is not None and not 0 <= period_index < m:
        raise ScheduleError(
            f"period index {period_index} out of range 0..{m - 1}",
            path="chargingSchedule[0].chargingSchedulePeriod",
            rule="index",
        )
    vf = None if profile.valid_from is None else epoch_seconds(profile.valid_from)
    vt = None if profile.valid_to is None else epoch_seconds(profile.valid_to)
    if occ.size == 1:  # Absolute, Relative: one occurrence, 1-D arrays
        o = int(occ[0])
        starts = tab.start_period + o
        d = tab.dur if vt is None else np.minimum(tab.dur, vt - o)
        ends = d + o
        if vf is not None and vf > o:
            starts = np.maximum(starts, vf)
    else:  # Recurring: occurrences x periods, each occurrence cut by the next one
        k = occ.size
        nxt = np.full(k, _FOREVER, dtype=np.int64)
        if k > 1:
            nxt[:-1] = np.diff(occ)
        d2 = np.minimum(tab.dur[None, :], nxt[:, None])
        if vt is not None:
            d2 = np.minimum(d2, vt - occ[:, None])
        starts = (occ[:, None] + tab.start_period[None, :]).reshape(-1)
        ends = (occ[:, None] + d2).reshape(-1)
        if vf is not None:
            starts = np.maximum(starts, vf)
    valid = (ends > starts) & (ends > t_now)
    if period_index is None:
        valid &= starts <= t_end
        if valid.all():  # row-major order is start order: entries are disjoint
            i = np.arange(starts.size, dtype=np.int64) % m
            if occ.size == 1:
                return Segments(starts, ends, tab.limit, tab.phases, i)
            return Segments(starts, ends, tab.limit[i], tab.phases[i], i)
    else:
        valid &= (np.arange(starts.size) % m) == period_index
    sel = np.flatnonzero(valid)
    i = sel % m
    return Segments(starts[sel], ends[sel], tab.limit[i], tab.phases[i], i)


def batch_entries(
    profiles: Sequence[ChargingProfile],
    now: datetime | int,
    end: datetime | int,
    *,
    session_starts: Sequence[datetime | int | None] | None = None,
) -> list[Segments]:
    """:func:`period_entries` of many profiles at once (one numpy pass for all Absolute and
    Relative profiles; Recurring ones are expanded one by one).

    ``session_starts[k]`` anchors ``profiles[k]`` when it is Relative. The result is the
    list of each profile's segments, in the order of ``profiles``.
    """
    return _batch(profiles, now, end, session_starts)[0]


def _batch(
    profiles: Sequence[ChargingProfile],
    now: datetime | int,
    end: datetime | int,
    session_starts: Sequence[datetime | int | None] | None,
) -> tuple[list[Segments], list[IntArray]]:
    """:func:`batch_entries`, plus the arrays holding every segment's start and end (in no
    particular order; for laying a grid over all breakpoints)."""
    flat = _batch_flat(profiles, now, end, session_starts)
    return [flat[k] for k in range(len(flat))], [flat.starts, flat.ends]


def _batch_flat(
    profiles: Sequence[ChargingProfile],
    now: datetime | int,
    end: datetime | int,
    session_starts: Sequence[datetime | int | None] | None,
) -> _Flat:
    """:func:`batch_entries` in shared arrays, profile after profile."""
    t_now = epoch_seconds(now)
    t_end = epoch_seconds(end)
    anchors = list(session_starts) if session_starts is not None else [None] * len(profiles)
    recs: dict[int, Segments] = {}
    plist: list[Sequence[ChargingSchedulePeriod]] = []
    counts: list[int] = []
    origins: list[int] = []
    caps: list[int] = []  # end of the schedule from its start: duration and validTo [s]
    froms: list[int] = []
    batch: list[int] = []
    for k, p in enumerate(profiles):
        kind = p.charging_profile_kind
        if kind is _RECURRING:
            recs[k] = period_entries(p, t_now, t_end, session_start=anchors[k])
            continue
        sched = p.charging_schedule[0]
        if kind is _RELATIVE:
            a = anchors[k]
            o = t_now if a is None else epoch_seconds(a)
        elif sched.start_schedule is None:
            raise ScheduleError(
                f"a {kind.value} profile needs startSchedule",
                path="chargingSchedule[0].startSchedule",
                rule="K01.FR.40",
            )
        else:
            o = epoch_seconds(sched.start_schedule)
        periods = sched.charging_schedule_period
        if periods[0].start_period != 0:
            raise ScheduleError(
                f"the first period must start at 0, got {periods[0].start_period}",
                path="chargingSchedule[0].chargingSchedulePeriod[0].startPeriod",
                rule="K01.FR.31",
            )
        plist.append(periods)
        counts.append(len(periods))
        origins.append(o)
        cap = _FOREVER if sched.duration is None else sched.duration
        if p.valid_to is not None:
            cap = min(cap, epoch_seconds(p.valid_to) - o)
        caps.append(cap)
        froms.append(_NEVER if p.valid_from is None else epoch_seconds(p.valid_from))
        batch.append(k)
    if batch:
        # one pass per field over all the batch's periods (list -> array beats numpy on rows)
        allp = list(chain.from_iterable(plist))
        total = len(allp)
        sp = np.array(list(map(_START, allp)), dtype=np.int64)
        lim = np.array(list(map(_LIMIT, allp)), dtype=np.float64)
        phl = list(map(_PHASES, allp))
        if phl.count(None) == total:
            ph = np.zeros(total, dtype=np.int8)
        else:
            ph = np.array([x or 0 for x in phl], dtype=np.int8)
        bounds = list(accumulate(counts, initial=0))
        last = [b - 1 for b in bounds[1:]]
        nxt = np.empty_like(sp)
        nxt[:-1] = sp[1:]
        nxt[last] = _FOREVER
        bad = nxt <= sp
        if np.count_nonzero(bad):  # (cheaper than .any() on small arrays)
            i = int(np.flatnonzero(bad)[0])
            j = i - bounds[int(np.searchsorted(last, i))]  # index in its profile
            raise ScheduleError(
                "startPeriod values must increase strictly",
                path=f"chargingSchedule[0].chargingSchedulePeriod[{j + 1}].startPeriod",
                rule="K01.FR.35",
            )
        per = np.array((origins, caps, froms), dtype=np.int64).repeat(counts, axis=1)
        starts = per[0] + sp
        if froms.count(_NEVER) < len(froms):  # some validFrom
            np.maximum(starts, per[2], out=starts)
        ends = np.minimum(nxt, per[1])
        ends += per[0]
        valid = ends > np.maximum(starts, t_now)
        valid &= starts <= t_end
        # index of each period in its profile
        idx = np.arange(total, dtype=np.int64)
        idx -= np.array(bounds[:-1], dtype=np.int64).repeat(counts)
        if np.count_nonzero(valid) == total:
            s_, e_, l_, p_, i_ = starts, ends, lim, ph, idx
        else:
            sel = np.flatnonzero(valid)
            bounds = sel.searchsorted(bounds).tolist()
            s_, e_, l_, p_, i_ = starts[sel], ends[sel], lim[sel], ph[sel], idx[sel]
        if not recs:
            return _Flat(s_, e_, l_, p_, i_, bounds)
    # some Recurring profiles (or none at all): each profile's segments in turn
    pos = {k: j for j, k in enumerate(batch)}
    empty = np.zeros(0, dtype=np.int64)
    parts = [Segments(empty, empty, np.zeros(0), np.zeros(0, dtype=np.int8), empty)]  # dtypes
    for k in range(len(profiles)):
        if k in recs:
            parts.append(recs[k])
        else:
            a, b = bounds[pos[k]], bounds[pos[k] + 1]
            parts.append(Segments(s_[a:b], e_[a:b], l_[a:b], p_[a:b], i_[a:b]))
    sizes = [part.starts.size for part in parts[1:]]
    return _Flat(
        np.concatenate([part[0] for part in parts]),
        np.concatenate([part[1] for part in parts]),
        np.concatenate([part[2] for part in parts]),
        np.concatenate([part[3] for part in parts]),
        np.concatenate([part[4] for part in parts]),
        list(accumulate(sizes, initial=0)),
    )


def profile_segments(
    profile: ChargingProfile,
    now: datetime | int,
    end: datetime | int,
    *,
    session_start: datetime | int | None = None,
) -> Segments:
    """All entries of ``profile`` that matter in ``[now, end]``, sorted and disjoint."""
    return period_entries(profile, now, end, session_start=session_start)


def expand_profile(
    profile: ChargingProfile,
    window_start: datetime | int,
    window_end: datetime | int,
    *,
    transaction_start: datetime | int | None = None,
) -> Schedule:
    """The schedule of ``profile`` inside ``[window_start, window_end)``.

    Parameters
    ----------
    profile
        Any ChargingProfile (its first chargingSchedule is used).
    window_start, window_end
        The window [aware datetime or epoch s]; also the "now" of the expansion: periods
        ending at or before ``window_start`` are gone.
    transaction_start
        Start of the running transaction, the anchor of a Relative profile; without it a
        Relative profile is anchored at ``window_start``.

    Returns
    -------
    Schedule
        Domain exactly ``[window_start, window_end)`` (empty if the window is), in the
        schedule's ``chargingRateUnit``, NaN where the profile sets no limit, ``phases`` the
        period's ``numberPhases`` (0 where absent).
    """
    t0 = epoch_seconds(window_start)
    t1 = epoch_seconds(window_end)
    seg = period_entries(profile, t0, t1, session_start=_opt_epoch(transaction_start))
    unit = profile.charging_schedule[0].charging_rate_unit
    s = Schedule.from_segments(
        np.maximum(seg.starts, t0), np.minimum(seg.ends, t1), seg.limits, seg.phases, unit
    )
    return s.clip(t0, t1)
