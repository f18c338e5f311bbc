"""Piecewise-constant schedules over absolute UTC time, as numpy arrays.

A :class:`Schedule` is a sequence of contiguous segments ``[edges[i], edges[i+1])`` on the
time axis (int64 epoch seconds, UTC), each with a ``value`` (float64, in the schedule's
``unit``) and a number of ``phases`` (int8). Two conventions run through the module:

- ``NaN`` in ``values`` means **no limit here**. Outside ``[edges[0], edges[-1])`` a schedule
  is NaN too, so a gap between profiles is simply a NaN segment.
- ``0`` in ``phases`` means **unspecified** (OCPP's absent ``numberPhases``).

Every operation is vectorised: two schedules are put on the union of their breakpoints
(``np.union1d`` + ``np.searchsorted``) and combined element-wise. Results are not merged
automatically; call :meth:`Schedule.merged` to join equal neighbours.

>>> a = Schedule.from_segments([0, 60], [60, 120], [16.0, 10.0], unit="A")
>>> b = Schedule.constant(30, 90, 12.0, unit="A")
>>> m = a.minimum(b).merged()
>>> m.edges.tolist(), m.values.tolist()
([0, 30, 60, 120], [16.0, 12.0, 10.0])
>>> a.minimum(b).merged().value_at(45)
12.0
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Literal

import numpy as np
import numpy.typing as npt

from smartcharge.errors import ScheduleError
from smartcharge.model import CompositeSchedule
from smartcharge.model.enums import ChargingRateUnit
from smartcharge.units import DEFAULT_PHASES, DEFAULT_VOLTAGE, rate_unit

__all__ = ["Schedule", "epoch_seconds"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
PhaseArray = npt.NDArray[np.int8]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def epoch_seconds(t: datetime | int | np.integer) -> int:
    """Whole epoch seconds [s] of ``t``, floored (a naive datetime is read as UTC).

    >>> epoch_seconds(datetime(2024, 1, 1, 0, 0, 0, 900000, tzinfo=timezone.utc))
    1704067200
    >>> epoch_seconds(5)
    5
    """
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        d = t - _EPOCH  # a timedelta is normalised (0 <= seconds < 86 400, microseconds
        return d.days * 86_400 + d.seconds  # >= 0), so this floors to whole seconds
    if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
        return int(t)
    raise ScheduleError(
        f"a time must be a datetime or int epoch seconds, got {type(t).__name__}",
        path="time",
        rule="type",
    )


def _rebuild(
    edges: IntArray, values: FloatArray, phases: PhaseArray, unit: ChargingRateUnit
) -> Schedule:
    """Construct without validation (internal: the arrays are known to be consistent)."""
    s = object.__new__(Schedule)
    for arr in (edges, values, phases):
        arr.setflags(write=False)
    object.__setattr__(s, "edges", edges)
    object.__setattr__(s, "values", values)
    object.__setattr__(s, "phases", phases)
    object.__setattr__(s, "unit", unit)
    return s


def _same_unit(a: Schedule, b: Schedule) -> ChargingRateUnit:
    if a.unit is not b.unit:
        raise ScheduleError(
            f"cannot combine a schedule in {a.unit} with one in {b.unit}; convert first",
            path="unit",
            rule="same-unit",
        )
    return a.unit


def _on(s: Schedule, cells: IntArray) -> tuple[FloatArray, PhaseArray]:
    """Values and phases of ``s`` at the left ends ``cells`` (NaN / 0 outside its domain)."""
    n = s.values.size
    if n == 0:
        return np.full(cells.size, np.nan), np.zeros(cells.size, dtype=np.int8)
    idx = np.searchsorted(s.edges, cells, side="right") - 1
    inside = (idx >= 0) & (idx < n)
    idx = np.clip(idx, 0, n - 1)
    return (
        np.where(inside, s.values[idx], np.nan),
        np.where(inside, s.phases[idx], 0).astype(np.int8),
    )


def _align(
    a: Schedule, b: Schedule
) -> tuple[IntArray, FloatArray, PhaseArray, FloatArray, PhaseArray]:
    edges = np.union1d(a.edges, b.edges).astype(np.int64)
    cells = edges[:-1]
    va, pa = _on(a, cells)
    vb, pb = _on(b, cells)
    return edges, va, pa, vb, pb


class Schedule:
    """A piecewise-constant limit over absolute time.

    Attributes
    ----------
    edges
        Segment boundaries [s since the epoch, UTC], int64, strictly increasing, length
        ``n + 1`` (or 0 for the empty schedule).
    values
        Limit of each segment, float64, length ``n``, in ``unit`` ([A] per phase or [W] in
        total). ``NaN`` means no limit (undefined). Finite values must be >= 0.
    phases
        ``numberPhases`` of each segment, int8 in 0..3, length ``n``; 0 = unspecified.
    unit
        The unit of ``values``.

    Equality (``==``) compares the arrays exactly (NaN equal to NaN) and the unit.
    """

    __slots__ = ("edges", "phases", "unit", "values")

    edges: IntArray
    values: FloatArray
    phases: PhaseArray
    unit: ChargingRateUnit

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Schedule is immutable")

    def __init__(
        self,
        edges: Sequence[int] | IntArray,
        values: Sequence[float] | FloatArray,
        phases: Sequence[int] | npt.NDArray[np.integer] | None = None,
        unit: ChargingRateUnit | str = ChargingRateUnit.A,
    ) -> None:
        e = np.asarray(edges, dtype=np.int64).reshape(-1)
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        p = (
            np.zeros(v.size, dtype=np.int8)
            if phases is None
            else np.asarray(phases, dtype=np.int64).reshape(-1)
        )
        if v.size == 0:
            if e.size > 1:
                raise ScheduleError("an empty schedule has no edges", path="edges", rule="n+1")
            e = np.zeros(0, dtype=np.int64)
        elif e.size != v.size + 1:
            raise ScheduleError(
                f"need len(values) + 1 = {v.size + 1} edges, got {e.size}",
                path="edges",
                rule="n+1",
            )
        if p.size != v.size:
            raise ScheduleError(
                f"need one phases entry per segment ({v.size}), got {p.size}",
                path="phases",
                rule="length",
            )
        if e.size and np.any(np.diff(e) <= 0):
            raise ScheduleError(
                "edges must be strictly increasing", path="edges", rule="increasing"
            )
        if np.any(np.isinf(v)) or np.any(v < 0):
            raise ScheduleError(
                "values must be finite and >= 0, or NaN for no limit",
                path="values",
                rule="finite>=0",
            )
        if np.any((p < 0) | (p > 3)):
            raise ScheduleError(
                "phases must be 0 (unspecified) or 1..3", path="phases", rule="0..3"
            )
        for arr in (e, v):
            arr.setflags(write=False)
        p8 = p.astype(np.int8)
        p8.setflags(write=False)
        object.__setattr__(self, "edges", e)
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "phases", p8)
        object.__setattr__(self, "unit", rate_unit(unit))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def empty(cls, unit: ChargingRateUnit | str = ChargingRateUnit.A) -> Schedule:
        """A schedule with no segments (NaN everywhere)."""
        return cls([], [], [], unit)

    @classmethod
    def constant(
        cls,
        start: int | datetime,
        end: int | datetime,
        value: float,
        phases: int = 0,
        unit: ChargingRateUnit | str = ChargingRateUnit.A,
    ) -> Schedule:
        """One segment ``[start, end)`` with ``value`` and ``phases``."""
        return cls([epoch_seconds(start), epoch_seconds(end)], [value], [phases], unit)

    @classmethod
    def from_composite(cls, composite: CompositeSchedule) -> Schedule:
        """The schedule of a GetCompositeSchedule answer: its periods over its window.

        Segments cover ``[scheduleStart, scheduleStart + duration)``; ``numberPhases`` 0 where
        a period does not say. Compare a station's reported composite with a plan's with
        :meth:`minimum`, :meth:`sample` or :meth:`values_at`.

        >>> from smartcharge.model import CompositeSchedule
        >>> c = CompositeSchedule.model_validate({"evseId": 1, "duration": 600,
        ...     "scheduleStart": "1970-01-01T00:00:00Z", "chargingRateUnit": "A",
        ...     "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0},
        ...                                {"startPeriod": 300, "limit": 10.0,
        ...                                 "numberPhases": 1}]})
        >>> Schedule.from_composite(c)
        Schedule(edges=[0, 300, 600], values=[16.0, 10.0], phases=[0, 1], unit='A')
        """
        t0 = epoch_seconds(composite.schedule_start)
        periods = composite.charging_schedule_period
        starts = np.fromiter((p.start_period for p in periods), np.int64, len(periods))
        limits = np.fromiter((p.limit for p in periods), np.float64, len(periods))
        phases = np.fromiter((p.number_phases or 0 for p in periods), np.int64, len(periods))
        ends = np.append(starts[1:], max(composite.duration, int(starts[-1])))
        ends = np.minimum(ends, composite.duration)
        return cls.from_segments(
            t0 + starts, t0 + ends, limits, phases, composite.charging_rate_unit
        ).merged()

    @classmethod
    def from_segments(
        cls,
        starts: Sequence[int] | IntArray,
        ends: Sequence[int] | IntArray,
        values: Sequence[float] | FloatArray,
        phases: Sequence[int] | npt.NDArray[np.integer] | None = None,
        unit: ChargingRateUnit | str = ChargingRateUnit.A,
    ) -> Schedule:
        """Build from sorted, non-overlapping segments ``[starts[i], ends[i])``.

        Gaps between segments become NaN segments; empty segments are dropped.

        >>> s = Schedule.from_segments([0, 100], [50, 200], [6.0, 8.0], [1, 3])
        >>> s.edges.tolist(), s.values.tolist(), s.phases.tolist()
        ([0, 50, 100, 200], [6.0, nan, 8.0], [1, 0, 3])
        """
        st = np.asarray(starts, dtype=np.int64).reshape(-1)
        en = np.asarray(ends, dtype=np.int64).reshape(-1)
        va = np.asarray(values, dtype=np.float64).reshape(-1)
        ph = (
            np.zeros(va.size, dtype=np.int64)
            if phases is None
            else np.asarray(phases, dtype=np.int64).reshape(-1)
        )
        if not (st.size == en.size == va.size == ph.size):
            raise ScheduleError(
                "starts, ends, values and phases must have equal lengths",
                path="segments",
                rule="length",
            )
        keep = en > st
        st, en, va, ph = st[keep], en[keep], va[keep], ph[keep]
        if st.size == 0:
            return cls.empty(unit)
        if np.any(st[1:] < en[:-1]):
            raise ScheduleError(
                "segments must be sorted and must not overlap", path="segments", rule="disjoint"
            )
        gap = st[1:] > en[:-1]
        n = st.size + int(gap.sum())
        edges = np.empty(n + 1, dtype=np.int64)
        vals = np.full(n, np.nan)
        phs = np.zeros(n, dtype=np.int64)
        # position of each real segment in the output: shift by the gaps before it
        pos = np.arange(st.size) + np.concatenate(([0], np.cumsum(gap)))
        edges[pos] = st
        vals[pos] = va
        phs[pos] = ph
        edges[pos + 1] = en  # a gap segment starts where the previous one ends
        return cls(edges, vals, phs, unit)

    # ------------------------------------------------------------------ properties
    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def start(self) -> int | None:
        """Start of the domain [epoch s], or None when empty."""
        return int(self.edges[0]) if self.edges.size else None

    @property
    def end(self) -> int | None:
        """End of the domain [epoch s] (exclusive), or None when empty."""
        return int(self.edges[-1]) if self.edges.size else None

    @property
    def starts(self) -> IntArray:
        """Segment starts [epoch s]."""
        return self.edges[:-1]

    @property
    def ends(self) -> IntArray:
        """Segment ends [epoch s] (exclusive)."""
        return self.edges[1:]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return (
            self.unit is other.unit
            and np.array_equal(self.edges, other.edges)
            and np.array_equal(self.values, other.values, equal_nan=True)
            and np.array_equal(self.phases, other.phases)
        )

    def __hash__(self) -> int:
        return hash((self.unit, self.edges.tobytes(), self.values.tobytes(), self.phases.tobytes()))

    def __repr__(self) -> str:
        return (
            f"Schedule(edges={self.edges.tolist()}, values={self.values.tolist()}, "
            f"phases={self.phases.tolist()}, unit={self.unit.value!r})"
        )

    # ------------------------------------------------------------------ evaluation
    def value_at(self, t: int | datetime) -> float:
        """The value at instant ``t`` (NaN where no limit or outside the domain)."""
        v, _ = _on(self, np.asarray([epoch_seconds(t)], dtype=np.int64))
        return float(v[0])

    def values_at(self, times: Sequence[int] | IntArray) -> FloatArray:
        """Values at many instants [epoch s], vectorised."""
        v, _ = _on(self, np.asarray(times, dtype=np.int64).reshape(-1))
        return v

    def phases_at(self, t: int | datetime) -> int:
        """``numberPhases`` at instant ``t`` (0 = unspecified or outside the domain)."""
        _, p = _on(self, np.asarray([epoch_seconds(t)], dtype=np.int64))
        return int(p[0])

    def sample(
        self,
        start: int | datetime,
        step: int,
        n: int,
        how: Literal["min", "max", "start"] = "min",
    ) -> FloatArray:
        """Values on a regular grid of ``n`` steps of ``step`` [s] from ``start``.

        ``how="min"`` (default, what a safe optimizer needs) gives the **minimum over each
        step** ``[start + k*step, start + (k+1)*step)``, NaN only where the whole step has no
        limit; ``how="max"`` the maximum over each step (to check that a station's reported
        composite never exceeds a plan); ``how="start"`` the value at each step's start.

        >>> s = Schedule.from_segments([0, 30], [30, 120], [10.0, 6.0])
        >>> s.sample(0, 60, 2).tolist(), s.sample(0, 60, 2, how="start").tolist()
        ([6.0, 6.0], [10.0, 6.0])
        >>> s.sample(0, 60, 2, how="max").tolist()
        [10.0, 6.0]
        """
        if step <= 0 or n < 0:
            raise ScheduleError(
                f"need step > 0 and n >= 0, got step={step}, n={n}", path="step", rule="positive"
            )
        t0 = epoch_seconds(start)
        grid = t0 + step * np.arange(n + 1, dtype=np.int64)
        if how == "start":
            return self.values_at(grid[:-1])
        if how not in ("min", "max"):
            raise ScheduleError(
                f"how must be 'min', 'max' or 'start', got {how!r}", path="how", rule="enum"
            )
        if n == 0:
            return np.zeros(0)
        inner = self.edges[(self.edges > grid[0]) & (self.edges < grid[-1])]
        cuts = np.union1d(grid, inner)
        vals = self.values_at(cuts[:-1])
        first = np.searchsorted(cuts, grid[:-1])
        reduce = np.fmin if how == "min" else np.fmax
        out: FloatArray = reduce.reduceat(vals, first)
        return out

    def energy(self) -> float:
        """Integral of the schedule over its domain [unit * h]: [Wh] for W, [Ah] for A.

        Raises ScheduleError where a segment has no limit (NaN): its energy is unbounded.

        >>> Schedule.constant(0, 1800, 7000.0, unit="W").energy()
        3500.0
        """
        if np.any(np.isnan(self.values)):
            raise ScheduleError(
                "the energy of a schedule with NaN (no limit) segments is unbounded",
                path="values",
                rule="finite",
            )
        return float(np.dot(self.values, np.diff(self.edges).astype(np.float64)) / 3600.0)

    # ------------------------------------------------------------------ algebra
    def minimum(self, other: Schedule) -> Schedule:
        """Pointwise minimum; NaN is no limit, so ``min(NaN, x) = x``.

        ``phases`` is the smallest specified one (0 only where both are unspecified).
        """
        unit = _same_unit(self, other)
        edges, va, pa, vb, pb = _align(self, other)
        pa16 = np.where(pa == 0, 99, pa)
        pb16 = np.where(pb == 0, 99, pb)
        ph = np.minimum(pa16, pb16)
        ph = np.where(ph == 99, 0, ph).astype(np.int8)
        return _rebuild(edges, np.fmin(va, vb), ph, unit)

    def add(self, other: Schedule, *, fill: float | None = None) -> Schedule:
        """Pointwise sum.

        With ``fill=None`` (default) NaN propagates: "no limit" plus any limit is "no
        limit", the honest upper bound of a total. With a number, a NaN operand counts as
        ``fill`` (what EVSE-0 totals do with the configured default limit), and the result
        is NaN only where both operands are NaN (so, unlike the default, it is not
        associative: chain it over many schedules in one fixed order). ``phases`` is the
        largest specified one.
        """
        unit = _same_unit(self, other)
        edges, va, pa, vb, pb = _align(self, other)
        if fill is None:
            out = va + vb
        else:
            both = np.isnan(va) & np.isnan(vb)
            out = np.where(
                both, np.nan, np.where(np.isnan(va), fill, va) + np.where(np.isnan(vb), fill, vb)
            )
        return _rebuild(edges, out, np.maximum(pa, pb).astype(np.int8), unit)

    def override(self, lower: Schedule) -> Schedule:
        """``self`` where it has a limit, ``lower`` showing through where ``self`` is NaN."""
        unit = _same_unit(self, lower)
        edges, va, pa, vb, pb = _align(self, lower)
        top = ~np.isnan(va)
        return _rebuild(edges, np.where(top, va, vb), np.where(top, pa, pb).astype(np.int8), unit)

    def clip(self, start: int | datetime, end: int | datetime) -> Schedule:
        """The part of the schedule inside ``[start, end)``; the domain becomes that window.

        Parts of the window outside the schedule's domain become NaN segments.
        """
        t0, t1 = epoch_seconds(start), epoch_seconds(end)
        if t1 <= t0:
            return _rebuild(
                np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int8), self.unit
            )
        inner = self.edges[(self.edges > t0) & (self.edges < t1)]
        edges = np.concatenate(([t0], inner, [t1])).astype(np.int64)
        v, p = _on(self, edges[:-1])
        return _rebuild(edges, v, p, self.unit)

    def merged(self) -> Schedule:
        """Join neighbouring segments with equal value (NaN equal to NaN) and phases.

        Never changes the value at any instant.
        """
        n = self.values.size
        if n <= 1:
            return self
        v, p = self.values, self.phases
        same = ((v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1]))) & (p[1:] == p[:-1])
        if not same.any():
            return self
        keep = np.concatenate(([True], ~same))
        edges = np.concatenate((self.edges[:-1][keep], self.edges[-1:]))
        return _rebuild(edges, v[keep], p[keep], self.unit)

    def to_unit(
        self,
        unit: ChargingRateUnit | str,
        *,
        voltage: float = DEFAULT_VOLTAGE,
        default_phases: int = DEFAULT_PHASES,
    ) -> Schedule:
        """Convert between [A] per phase and [W] total with each segment's phases.

        Segments with unspecified phases (0) use ``default_phases``; NaN stays NaN.

        >>> Schedule.constant(0, 10, 16.0, phases=1).to_unit("W").values.tolist()
        [3680.0]
        """
        from smartcharge.units import convert

        target = rate_unit(unit)
        if target is self.unit:
            return self
        ph = np.where(self.phases == 0, default_phases, self.phases)
        vals = (
            convert(self.values, self.unit, target, ph, voltage)
            if self.values.size
            else self.values
        )
        return _rebuild(self.edges, np.asarray(vals, dtype=np.float64), self.phases, target)

    def shift(self, seconds: int) -> Schedule:
        """The same schedule moved by ``seconds`` [s] on the time axis."""
        return _rebuild(self.edges + np.int64(seconds), self.values, self.phases, self.unit)
