"""GetCompositeSchedule (OCPP 2.0.1 use case K08) as a pure function.

:func:`composite_schedule` merges a station's installed ChargingProfiles into the limit that
really applies to one EVSE (or, for EVSE 0, to the whole station) over a window. The rules,
which reproduce EVerest libocpp's ``calculate_composite_schedule`` (see the conformance
tests) for OCPP 2.0.1:

1. **Stack levels.** Within one purpose, at each instant the period of the valid profile
   with the highest ``stackLevel`` wins outright; where it has no period the next level
   shows through. (Two periods at the same level: the one that started earlier wins; then
   the EVSE's own profile before a station-wide one; then the lower profile id.)
2. **Tx layer.** A TxProfile overrides the TxDefaultProfile wherever it has a period, even
   when the TxDefaultProfile's limit is higher. TxDefaultProfiles of the EVSE and of EVSE 0
   compete by stack level. A TxProfile counts only on its own EVSE (never on EVSE 0) and
   only while a transaction with its ``transactionId`` runs there. The Tx layer counts at
   all only when the EVSE has a transaction or ``assume_transaction`` is true (what a CSMS
   asking GetCompositeSchedule wants: "what would a session get").
3. **EVSE n.** The minimum of the ChargingStationExternalConstraints layer (the EVSE's and
   EVSE 0's), the Tx layer and the ChargingStationMaxProfile (EVSE 0's only). Limits in [A]
   and in [W] are kept apart and only compared at the end, per segment, with the
   segment's ``numberPhases`` (absent = 3 on AC, K01.FR.49) and ``supply_voltage``.
4. **EVSE 0.** Each EVSE's external+Tx result, summed over ``evse_ids`` (an EVSE without a
   limit at an instant counts with the default limit), then capped by EVSE 0's external
   constraints and ChargingStationMaxProfile. ``numberPhases`` of a total is the largest
   of the EVSEs'.
5. **Defaults.** Where nothing limits, the configured default limit applies
   (``default_limit_amps`` / ``default_limit_watts``; the library's defaults are 32 A and
   22 080 W, a 22 kW three-phase point at 230 V -- EVerest's test configuration uses 57 A
   and 55 612 W). Segments whose limit no profile set carry no ``numberPhases``.
6. **Output.** Periods start at 0, are merged where limit and ``numberPhases`` are equal,
   and limits are rounded **down** to 0.1 (OCPP allows one decimal; rounding up could
   exceed a limit). A window with ``duration <= 0`` gives the single period in force at
   its start (a negative duration moves the start back to the end, as EVerest does).

Deliberate difference from EVerest: for EVSE 0 the station-wide external constraints cap
the *total* (EVerest only caps each EVSE with them), which is what K08 describes.

>>> from datetime import datetime, timezone
>>> from smartcharge.model import ChargingProfile
>>> tx_default = ChargingProfile.model_validate({
...     "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
...     "chargingProfileKind": "Absolute",
...     "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
...         "startSchedule": "2024-01-01T00:00:00Z",
...         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0},
...                                    {"startPeriod": 1800, "limit": 10.0}]}]})
>>> c = composite_schedule({1: [tx_default]}, 1, datetime(2024, 1, 1, tzinfo=timezone.utc),
...                        3600, "W")
>>> [(p.start_period, p.limit, p.number_phases) for p in c.charging_schedule_period]
[(0, 11040.0, 3), (1800, 6900.0, 3)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from itertools import accumulate
from typing import Any, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from smartcharge.errors import ScheduleError, require_aware
from smartcharge.expand import _batch_flat, _Flat
from smartcharge.model import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedulePeriod,
    CompositeSchedule,
    OcppModel,
)
from smartcharge.schedule import epoch_seconds
from smartcharge.units import rate_unit

__all__ = [
    "DEFAULT_LIMIT_AMPS",
    "DEFAULT_LIMIT_WATTS",
    "check_query",
    "composite_schedule",
]

DEFAULT_LIMIT_AMPS: float = 32.0
"""Library default [A per phase] where no profile limits (a 32 A / 22 kW AC point)."""
DEFAULT_LIMIT_WATTS: float = 22_080.0
"""Library default [W] where no profile limits (32 A x 3 phases x 230 V)."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
PhaseArray = npt.NDArray[np.int8]

_EXT = ChargingProfilePurpose.ChargingStationExternalConstraints
_MAX = ChargingProfilePurpose.ChargingStationMaxProfile
_TXD = ChargingProfilePurpose.TxDefaultProfile
_TX = ChargingProfilePurpose.TxProfile
_AMPS = ChargingRateUnit.A  # (enum members as module constants: cheaper to look up)
_RELATIVE = ChargingProfileKind.Relative
_AC_PHASES = 3  # absent numberPhases on AC (K01.FR.49)
_CONFORM_PHASES = np.array([_AC_PHASES, 1, 2, 3], dtype=np.int8)  # numberPhases -> phases
_TX_BOOST = 1 << 40  # added to a TxProfile's stack level: it outranks every TxDefaultProfile


class _Item(NamedTuple):
    stack: int
    rank: int  # tie-break among equal stack levels: lower wins
    amps: bool  # unit of the limits
    src: int  # index of the profile's expansion


class _Layer(NamedTuple):
    amps: FloatArray  # [A] per phase, NaN = no limit
    watts: FloatArray  # [W], NaN = no limit
    phases: PhaseArray  # 0 = unspecified


def _empty_layer(n: int) -> _Layer:
    return _Layer(np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=np.int8))


def _resolve(
    items: list[_Item], segs: _Flat, cells: IntArray
) -> tuple[_Layer, npt.NDArray[np.bool_]]:
    """Stack-level resolution of one purpose on the cells (left edges)."""
    n = cells.size
    layer = _empty_layer(n)
    have = np.zeros(n, dtype=bool)
    if not items:
        return layer, have
    items = sorted(items, key=lambda it: (-it.stack, it.rank))
    ties = len({it.stack for it in items}) < len(items)
    best_stack = np.full(n, -1, dtype=np.int64)
    best_start = np.zeros(n, dtype=np.int64)
    for it in items:
        seg = segs[it.src]
        if seg.starts.size == 0:
            continue
        idx = np.searchsorted(seg.starts, cells, side="right") - 1
        np.maximum(idx, 0, out=idx)
        cov = (cells >= seg.starts[0]) & (cells < seg.ends[idx])
        if ties:
            sstart = seg.starts[idx]
            win = cov & (~have | ((best_stack == it.stack) & (sstart < best_start)))
            best_stack[win] = it.stack
            best_start[win] = sstart[win]
        else:
            win = cov & ~have
        if not win.any():
            continue
        sel = idx[win]
        if it.amps:
            layer.amps[win] = seg.limits[sel]
            if ties:
                layer.watts[win] = np.nan
        else:
            layer.watts[win] = seg.limits[sel]
            if ties:
                layer.amps[win] = np.nan
        layer.phases[win] = seg.phases[sel]
        have |= win
    # absent numberPhases on AC means 3 (K01.FR.49)
    layer.phases[have & (layer.phases == 0)] = _AC_PHASES
    return layer, have


_MATRIX_LIMIT = 100_000  # cells x segments up to which one boolean matrix resolves all layers


class _Columns(NamedTuple):
    """Resolved layers side by side: column g is group g (n cells x G groups)."""

    amps: npt.NDArray[np.float64]
    watts: npt.NDArray[np.float64]
    phases: npt.NDArray[np.int8]
    have: npt.NDArray[np.bool_]


_KEYED = True  # use _resolve_keyed where it applies (tests switch it off to compare paths)
_KEY_SHIFT = 2**40  # separates the items' time axes in one sorted key array [s]
_NAN1 = np.array([np.nan])
_PH0 = np.array([0], dtype=np.int8)


def _resolve_keyed(
    flat: list[tuple[int, _Item]], ng: int, segs: _Flat, cells: IntArray
) -> _Columns:
    """:func:`_resolve_groups` when no two items of a group share a stack level.

    ``flat`` is sorted by (group, stack descending, rank). All items' segments go into one
    sorted key array (item number * shift + start), so a single ``searchsorted`` finds, for
    every cell and item, the item's segment that may cover the cell; the first covering
    item of each group (the highest stack level) wins. Cost: cells x items, not cells x
    segments. The limit and phase arrays end with a sentinel segment (no limit), which the
    cells no item covers pick.
    """
    n = cells.size
    k = len(flat)
    bounds = segs.bounds
    firsts = [bounds[it.src] for _, it in flat]
    counts = [bounds[it.src + 1] - bounds[it.src] for _, it in flat]
    at = list(accumulate(counts[:-1], initial=0))  # item j's first segment in `order`
    size = at[-1] + counts[-1]  # index of the sentinel
    stride = size + 1
    # the items' segments, item after item, as indices into the shared arrays
    order = np.arange(size, dtype=np.int64)
    order += np.array([f - a for f, a in zip(firsts, at, strict=True)]).repeat(counts)
    base = int(cells[0])
    cols = np.arange(k, dtype=np.int64)
    shifted = cols * _KEY_SHIFT
    keys = segs.starts[order]
    np.maximum(keys, base, out=keys)
    keys -= base
    keys += shifted.repeat(counts)
    queries = shifted + (cells - base)[:, None]
    idx = keys.searchsorted(queries.ravel(), side="right").reshape(n, k)
    idx -= 1
    # the query of item j never passes item j's block: its segment is item j's if idx is
    # at or after the block's first segment
    cover = idx >= np.array(at, dtype=np.int64)
    cover &= cells[:, None] < segs.ends[order][idx]
    # code: the column's rank (higher stack first) then the segment, so that the smallest
    # code of a group is its winner; "none" is above every covering code and maps to the
    # sentinel
    code = np.where(cover, idx + cols * stride, k * stride + size)
    present: list[int] = []
    heads: list[int] = []  # each group's first item
    for j, (gi, _) in enumerate(flat):
        if not present or present[-1] != gi:
            present.append(gi)
            heads.append(j)
    seg = np.minimum.reduceat(code, heads, axis=1)
    seg %= stride
    hit = seg != size
    lim = np.concatenate((segs.limits[order], _NAN1))
    is_a = np.array([*(it.amps for _, it in flat), False], dtype=bool).repeat([*counts, 1])
    lim_a = np.where(is_a, lim, np.nan)
    lim_w = np.where(is_a, np.nan, lim)
    # absent numberPhases on AC means 3 (K01.FR.49); 0 where no profile limits
    ph = _CONFORM_PHASES[np.concatenate((segs.phases[order], _PH0))]
    ph[size] = 0
    a_, w_, p_ = lim_a[seg], lim_w[seg], ph[seg]
    if len(present) == ng:
        return _Columns(a_, w_, p_, hit)
    amps = np.full((n, ng), np.nan)
    watts = amps.copy()
    phases = np.zeros((n, ng), dtype=np.int8)
    have = np.zeros((n, ng), dtype=bool)
    amps[:, present] = a_
    watts[:, present] = w_
    phases[:, present] = p_
    have[:, present] = hit
    return _Columns(amps, watts, phases, have)


def _resolve_groups(groups: list[list[_Item]], segs: _Flat, cells: IntArray) -> _Columns:
    """Stack-level resolution of several purposes ("groups") at once.

    Same result as :func:`_resolve` per group: at each cell the covering segment with the
    highest stack level wins, then the earliest segment start, then the lowest rank. Small
    problems use one cells x segments coverage matrix (few numpy calls); large ones fall
    back on the per-profile loop.
    """
    n, ng = cells.size, len(groups)
    b = segs.bounds
    flat = [(g, it) for g, items in enumerate(groups) for it in items if b[it.src + 1] > b[it.src]]
    if (
        flat
        and _KEYED
        and all(len(items) < 2 or len({it.stack for it in items}) == len(items) for items in groups)
    ):  # no two profiles of a purpose share a stack level: the common, fast case
        flat.sort(key=lambda gi: (gi[0], -gi[1].stack, gi[1].rank))
        return _resolve_keyed(flat, ng, segs, cells)
    total = sum(segs.size(it.src) for _, it in flat)
    if n * total > _MATRIX_LIMIT:
        cols = [_resolve(items, segs, cells) for items in groups]
        return _Columns(
            np.stack([c[0].amps for c in cols], axis=1),
            np.stack([c[0].watts for c in cols], axis=1),
            np.stack([c[0].phases for c in cols], axis=1),
            np.stack([c[1] for c in cols], axis=1),
        )
    amps = np.full((n, ng), np.nan)
    if not flat:
        return _Columns(amps, amps.copy(), np.zeros((n, ng), np.int8), np.zeros((n, ng), bool))
    parts = [segs[it.src] for _, it in flat]
    counts = [p.starts.size for p in parts]
    meta = np.repeat(
        np.array([(gi, -it.stack, it.rank, it.amps) for gi, it in flat], dtype=np.int64),
        counts,
        axis=0,
    )
    st = np.concatenate([p.starts for p in parts])
    order = np.lexsort((meta[:, 2], st, meta[:, 1], meta[:, 0]))
    st = st[order]
    en = np.concatenate([p.ends for p in parts])[order]
    lim = np.concatenate([p.limits for p in parts])[order]
    ph = np.concatenate([p.phases for p in parts])[order]
    ph[ph == 0] = _AC_PHASES  # absent numberPhases on AC means 3 (K01.FR.49)
    is_a = meta[order, 3].astype(bool)
    # blocks of the sorted segments, one per group that has any
    per_group: dict[int, int] = {}
    for (gi, _), cnt in zip(flat, counts, strict=True):
        per_group[gi] = per_group.get(gi, 0) + cnt
    present = sorted(per_group)
    bounds = [0]
    for gi in present[:-1]:
        bounds.append(bounds[-1] + per_group[gi])
    size = st.size
    c = cells[:, None]
    pos = np.where((st <= c) & (c < en), np.arange(size), size)
    first = np.minimum.reduceat(pos, bounds, axis=1)
    hit = first < size
    w = np.minimum(first, size - 1)
    lw, aw = lim[w], is_a[w]
    a_ = np.where(hit & aw, lw, np.nan)
    w_ = np.where(hit & ~aw, lw, np.nan)
    p_ = np.where(hit, ph[w], 0).astype(np.int8)
    if len(present) == ng:
        return _Columns(a_, w_, p_, hit)
    watts = amps.copy()
    phases = np.zeros((n, ng), dtype=np.int8)
    have = np.zeros((n, ng), dtype=bool)
    amps[:, present] = a_
    watts[:, present] = w_
    phases[:, present] = p_
    have[:, present] = hit
    return _Columns(amps, watts, phases, have)


def _sorted_unique(x: IntArray) -> IntArray:
    """``np.unique`` for small int arrays, without its overhead (sort, drop repeats)."""
    g = x.copy()
    g.sort()
    keep = np.empty(g.size, dtype=bool)
    keep[:1] = True
    np.not_equal(g[1:], g[:-1], out=keep[1:])
    out: IntArray = g[keep]
    return out


def _local_grid(groups: Sequence[list[_Item]], segs: _Flat, t0: int, t1: int) -> IntArray:
    """Breakpoints in [t0, t1] of the segments the groups use (always t0 and t1)."""
    srcs = sorted({it.src for grp in groups for it in grp})
    cuts = [np.array([t0, t1], dtype=np.int64)]
    for k in srcs:
        cuts.append(segs[k].starts)
        cuts.append(segs[k].ends)
    return _sorted_unique(_clip(np.concatenate(cuts), t0, t1))


def _clip(x: IntArray, lo: int, hi: int) -> IntArray:
    """``np.clip`` in place, without its per-call overhead."""
    np.maximum(x, lo, out=x)
    np.minimum(x, hi, out=x)
    return x


def _add_ranges(n: int, lo: IntArray, hi: IntArray, values: FloatArray) -> FloatArray:
    """Sum of ``values[k]`` over the cell ranges ``[lo[k], hi[k])`` of n cells, exact for
    values with one decimal (summed as integer tenths), otherwise in float."""
    tenths = np.rint(values * 10.0)
    if np.all(np.abs(tenths - values * 10.0) < 1e-6) and np.all(np.abs(tenths) < 2**52):
        d = np.zeros(n + 1, dtype=np.int64)
        t = tenths.astype(np.int64)
        np.add.at(d, lo, t)
        np.add.at(d, hi, -t)
        out: FloatArray = np.cumsum(d)[:-1] / 10.0
        return out
    df = np.zeros(n + 1)
    np.add.at(df, lo, values)
    np.add.at(df, hi, -values)
    outf: FloatArray = np.cumsum(df)[:-1]
    return outf


def _station_total(
    per_evse: list[tuple[list[_Item], list[_Item]]],
    segs: _Flat,
    grid: IntArray,
    d_amps: float,
    d_watts: float,
) -> tuple[FloatArray, FloatArray, PhaseArray]:
    """The EVSEs' limits summed per cell of ``grid`` (an EVSE without a limit counts with
    the default); ``numberPhases`` is the largest of the EVSEs'. Each EVSE is resolved on
    its own breakpoints and added as ranges, so a station's cost grows with its EVSEs'
    segments, not with EVSEs x all the station's breakpoints."""
    n = grid.size - 1
    if not per_evse:
        return np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=np.int8)
    t0, t1 = int(grid[0]), int(grid[-1])
    lo_l: list[IntArray] = []
    hi_l: list[IntArray] = []
    a_l: list[FloatArray] = []
    w_l: list[FloatArray] = []
    p_l: list[PhaseArray] = []
    for groups in per_evse:
        local = _local_grid(groups, segs, t0, t1)
        r = _combine(_resolve_groups(list(groups), segs, local[:-1]))
        pos = np.searchsorted(grid, local)
        lo_l.append(pos[:-1])
        hi_l.append(pos[1:])
        a_l.append(np.where(np.isnan(r.amps), d_amps, r.amps))
        w_l.append(np.where(np.isnan(r.watts), d_watts, r.watts))
        p_l.append(r.phases)
    lo = np.concatenate(lo_l)
    hi = np.concatenate(hi_l)
    ph = np.concatenate(p_l)
    phases = np.zeros(n, dtype=np.int8)
    for k in (1, 2, 3):  # the largest phases present in each cell
        sel = ph == k
        if sel.any():
            d = np.zeros(n + 1, dtype=np.int64)
            np.add.at(d, lo[sel], 1)
            np.add.at(d, hi[sel], -1)
            phases[np.cumsum(d)[:-1] > 0] = k
    return (
        _add_ranges(n, lo, hi, np.concatenate(a_l)),
        _add_ranges(n, lo, hi, np.concatenate(w_l)),
        phases,
    )


_PH_RANK = np.array([4, 1, 2, 3], dtype=np.int8)  # phases -> order: unspecified (0) last
_PH_BACK = np.array([0, 1, 2, 3, 0], dtype=np.int8)  # order -> phases


def _min_phases_cols(p: npt.NDArray[np.int8]) -> PhaseArray:
    """Row-wise smallest specified phases (0 = none specified)."""
    out: PhaseArray = _PH_BACK[np.minimum.reduce(_PH_RANK[p], axis=1)]
    return out


def _combine(cols: _Columns) -> _Layer:
    """The minimum over the resolved layers (columns), [A] and [W] kept apart; phases: the
    smallest specified."""
    return _Layer(
        np.fmin.reduce(cols.amps, axis=1),
        np.fmin.reduce(cols.watts, axis=1),
        _min_phases_cols(cols.phases),
    )


def _sorted_profiles(profiles: Sequence[ChargingProfile]) -> list[ChargingProfile]:
    """Profiles in a canonical order (by id), so the input order never matters."""
    out = sorted(profiles, key=lambda p: (p.id, p.stack_level))
    keys = [(p.id, p.stack_level) for p in out]
    if len(set(keys)) != len(keys):  # ties: fall back on the full content
        out = sorted(out, key=lambda p: (p.id, p.stack_level, p.model_dump_json()))
    return out


_new = object.__new__
_set = object.__setattr__
_PERIOD_FIELDS = frozenset({"start_period", "limit", "number_phases"})


def _slot_setter(name: str) -> Callable[[object, object], None]:
    """The setter of BaseModel's slot ``name`` (cheaper than ``object.__setattr__``)."""
    slot = BaseModel.__dict__.get(name)
    if slot is None or not hasattr(slot, "__set__"):  # pragma: no cover - a future pydantic
        return lambda obj, value: _set(obj, name, value)
    setter: Callable[[object, object], None] = slot.__set__
    return setter


_set_fields_set = _slot_setter("__pydantic_fields_set__")
_set_extra = _slot_setter("__pydantic_extra__")
_set_private = _slot_setter("__pydantic_private__")


def _period_fast(start: int, limit: float, phases: int | None) -> ChargingSchedulePeriod:
    """A ChargingSchedulePeriod without re-validation (the values are valid by construction:
    int offsets >= 0, limits >= 0 floored to 0.1, phases 1..3 or None). Same as pydantic's
    ``model_construct``, minus its generic overhead."""
    obj = _new(ChargingSchedulePeriod)
    _set(
        obj,
        "__dict__",
        {
            "start_period": start,
            "limit": limit,
            "number_phases": phases,
            "phase_to_use": None,
            "custom_data": None,
        },
    )
    _set_fields_set(obj, set(_PERIOD_FIELDS))
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def _period_checked(start: int, limit: float, phases: int | None) -> ChargingSchedulePeriod:
    return ChargingSchedulePeriod(start_period=start, limit=limit, number_phases=phases)


_B = TypeVar("_B", bound=Callable[..., OcppModel])


def _pick_builder(fast: _B, checked: _B, samples: Sequence[tuple[Any, ...]]) -> _B:
    """Use the fast builder only if it makes exactly what validation makes on ``samples``
    (pydantic keeps these internals stable across v2, but check rather than trust)."""
    try:
        for args in samples:
            a, b = fast(*args), checked(*args)
            if a != b or a.to_json_dict() != b.to_json_dict():
                return checked
            if hash(a) != hash(b) or repr(a) != repr(b):
                return checked
    except Exception:  # pragma: no cover - a future pydantic
        return checked
    return fast


_period = _pick_builder(_period_fast, _period_checked, [(0, 16.0, 3), (60, 0.1, None)])

_COMPOSITE_FIELDS = frozenset(
    {"evse_id", "duration", "schedule_start", "charging_rate_unit", "charging_schedule_period"}
)


def _composite_checked(
    evse_id: int,
    duration: int,
    start: datetime,
    unit: ChargingRateUnit,
    periods: tuple[ChargingSchedulePeriod, ...],
) -> CompositeSchedule:
    return CompositeSchedule.model_validate(
        {
            "evse_id": evse_id,
            "duration": duration,
            "schedule_start": start,
            "charging_rate_unit": unit,
            "charging_schedule_period": periods,
        }
    )


def _composite_fast(
    evse_id: int,
    duration: int,
    start: datetime,
    unit: ChargingRateUnit,
    periods: tuple[ChargingSchedulePeriod, ...],
) -> CompositeSchedule:
    """A CompositeSchedule without re-validation (valid by construction, see _period_fast)."""
    obj = _new(CompositeSchedule)
    _set(
        obj,
        "__dict__",
        {
            "evse_id": evse_id,
            "duration": duration,
            "schedule_start": start,
            "charging_rate_unit": unit,
            "charging_schedule_period": periods,
            "custom_data": None,
        },
    )
    _set_fields_set(obj, set(_COMPOSITE_FIELDS))
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


_composite = _pick_builder(
    _composite_fast,
    _composite_checked,
    [
        (
            1,
            60,
            datetime(2024, 1, 1, tzinfo=timezone.utc),
            ChargingRateUnit.W,
            (_period_checked(0, 16.0, 3), _period_checked(30, 0.0, None)),
        )
    ],
)


def check_query(
    installed: Mapping[int, Sequence[Any]],
    evse_id: int,
    duration: int,
    *,
    transactions: Mapping[int, tuple[str, datetime]] | None,
    evse_ids: Iterable[int] | None,
    supply_voltage: float,
    default_number_phases: int,
    default_limit_amps: float,
    default_limit_watts: float,
) -> tuple[float, float, float, Mapping[int, tuple[str, datetime]], list[int]]:
    """The argument rules of GetCompositeSchedule, shared by the 2.0.1 and 2.1 composites.

    Returns ``(supply_voltage, default_limit_amps, default_limit_watts, transactions,
    evse_ids)`` checked, with the station's EVSEs sorted (default: those with profiles or a
    transaction). Raises :class:`~smartcharge.errors.ScheduleError` naming the argument.
    """
    if isinstance(evse_id, bool) or not isinstance(evse_id, int) or evse_id < 0:
        raise ScheduleError(
            f"evse id must be an int >= 0, got {evse_id!r}", path="evseId", rule="type"
        )
    if isinstance(duration, bool) or not isinstance(duration, (int, np.integer)):
        raise ScheduleError(
            f"duration must be an int [s], got {duration!r}", path="duration", rule="type"
        )
    voltage = _check_number(supply_voltage, "supply_voltage", positive=True)
    d_amps = _check_number(default_limit_amps, "default_limit_amps")
    d_watts = _check_number(default_limit_watts, "default_limit_watts")
    if default_number_phases not in (1, 2, 3):
        raise ScheduleError(
            f"default_number_phases must be 1..3, got {default_number_phases!r}",
            path="default_number_phases",
            rule="1..3",
        )
    txs: Mapping[int, tuple[str, datetime]] = transactions or {}
    if evse_ids is None:
        evses = sorted({k for k in installed if k != 0} | {k for k in txs if k != 0})
    else:
        evses = sorted(set(evse_ids))
    if evse_id != 0 and evse_id not in evses:
        raise ScheduleError(f"unknown EVSE {evse_id}", path="evseId", rule="K08.FR.05")
    return voltage, d_amps, d_watts, txs, evses


def _check_number(value: float, path: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ScheduleError(f"must be a number, got {value!r}", path=path, rule="type")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ScheduleError(
            f"must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}",
            path=path,
            rule="positive" if positive else "non-negative",
        )
    return v


_NUMPY_MERGE = 64  # cells above which equal neighbours are merged in numpy, not in Python


def _floor_tenth(x: FloatArray) -> FloatArray:
    """Round down to 0.1, forgiving float noise below 1e-6 of a tenth."""
    out: FloatArray = np.floor(x * 10.0 + 1e-6) / 10.0
    return out


def composite_schedule(
    installed: Mapping[int, Sequence[ChargingProfile]],
    evse_id: int,
    start: datetime,
    duration: int,
    unit: ChargingRateUnit | str,
    *,
    transactions: Mapping[int, tuple[str, datetime]] | None = None,
    evse_ids: Sequence[int] | None = None,
    assume_transaction: bool = True,
    supply_voltage: float = 230.0,
    default_number_phases: int = 3,
    default_limit_amps: float = DEFAULT_LIMIT_AMPS,
    default_limit_watts: float = DEFAULT_LIMIT_WATTS,
) -> CompositeSchedule:
    """The composite schedule (K08) of ``evse_id`` over ``[start, start + duration)``.

    Parameters
    ----------
    installed
        The installed profiles per EVSE id (0 = station-wide). They are taken as valid
        (K01 checks belong to :mod:`smartcharge.validation`); ChargingStationMaxProfiles
        count only on EVSE 0, TxProfiles only on EVSE > 0.
    evse_id
        The EVSE asked about; 0 = the station's total.
    start
        Window start (aware datetime), floored to whole seconds.
    duration
        Window length [s]; ``<= 0`` gives the single period in force at the start.
    unit
        ``"A"`` or ``"W"``: the unit of the result.
    transactions
        Running transactions: EVSE id -> (transactionId, started at). The start anchors
        Relative profiles; the id enables that EVSE's TxProfiles.
    evse_ids
        The station's EVSEs (needed for EVSE 0 totals); default: the keys of ``installed``
        other than 0, plus the EVSEs of ``transactions``.
    assume_transaction
        Count TxDefault (and matching Tx) profiles on an EVSE without a transaction.
    supply_voltage
        Phase-to-neutral voltage [V] for A <-> W.
    default_number_phases
        Phases [1..3] used for A <-> W where no profile says.
    default_limit_amps, default_limit_watts
        The limit [A per phase] / [W] where no profile limits.

    Returns
    -------
    CompositeSchedule
        In ``unit``; ``evseId = evse_id``, ``scheduleStart`` = the floored start,
        ``duration = max(duration, 0)``.

    Raises
    ------
    ScheduleError
        Unknown EVSE (K08.FR.05), bad numbers, or a profile that cannot be expanded.
    """
    out_unit = rate_unit(unit)
    voltage, d_amps, d_watts, txs, evses = check_query(
        installed,
        evse_id,
        duration,
        transactions=transactions,
        evse_ids=evse_ids,
        supply_voltage=supply_voltage,
        default_number_phases=default_number_phases,
        default_limit_amps=default_limit_amps,
        default_limit_watts=default_limit_watts,
    )

    require_aware(start, "start")
    t_start = epoch_seconds(start)
    dur = int(duration)
    if dur < 0:  # start after end: the start moves to the end
        t_start += dur
    t0 = t_start
    t1 = t0 + max(dur, 1)

    station = _sorted_profiles(installed.get(0, ()))
    src_index: dict[tuple[int, int | None], int] = {}
    src_profiles: list[ChargingProfile] = []
    src_anchors: list[int | None] = []

    def segments(p: ChargingProfile, anchor: int | None) -> int:
        if p.charging_profile_kind is not _RELATIVE:
            anchor = None  # the anchor only matters to Relative profiles
        key = (id(p), anchor)
        k = src_index.get(key)
        if k is None:
            k = src_index[key] = len(src_profiles)
            src_profiles.append(p)
            src_anchors.append(anchor)
        return k

    def items_for(evse: int) -> tuple[list[_Item], list[_Item]]:
        """The (external constraints, Tx layer) items that count on ``evse`` (0: only the
        station-wide external constraints). In the Tx layer, TxProfiles rank above every
        TxDefaultProfile (their stack level is raised by _TX_BOOST): a TxProfile overrides
        the TxDefaultProfile wherever it has a period."""
        tx = txs.get(evse) if evse else None
        anchor = epoch_seconds(tx[1]) if tx is not None else None
        active = evse != 0 and (tx is not None or assume_transaction)
        ext: list[_Item] = []
        txd: list[_Item] = []
        own = _sorted_profiles(installed.get(evse, ())) if evse else []
        rank = 0
        for scope, profiles in ((evse, own), (0, station)):
            for p in profiles:
                rank += 1
                boost = 0
                purpose = p.charging_profile_purpose
                if purpose is _EXT:
                    dest = ext
                elif not active or purpose is _MAX:
                    continue
                elif purpose is _TXD:
                    dest = txd
                elif scope == 0 or tx is None or p.transaction_id != tx[0]:
                    continue  # a TxProfile of another transaction, or on EVSE 0
                else:
                    dest = txd
                    boost = _TX_BOOST
                amps = p.charging_schedule[0].charging_rate_unit is _AMPS
                dest.append(_Item(p.stack_level + boost, rank, amps, segments(p, anchor)))
        return ext, txd

    def max_items() -> list[_Item]:
        return [
            _Item(
                p.stack_level,
                i,
                p.charging_schedule[0].charging_rate_unit is _AMPS,
                segments(p, None),
            )
            for i, p in enumerate(station)
            if p.charging_profile_purpose is _MAX
        ]

    # Expand everything first, then lay one grid over all breakpoints.
    wanted = evses if evse_id == 0 else [evse_id]
    per_evse = {e: items_for(e) for e in wanted}
    station_ext = items_for(0)[0] if evse_id == 0 else []
    maxes = max_items()
    segs = _batch_flat(src_profiles, t0, t1, src_anchors)
    cuts = np.concatenate((segs.starts, segs.ends, np.array([t0, t1], dtype=np.int64)))
    grid = _sorted_unique(_clip(cuts, t0, t1))
    cells = grid[:-1]
    n = cells.size

    if evse_id == 0:
        amps, watts, phases = _station_total(
            [per_evse[e] for e in evses], segs, grid, d_amps, d_watts
        )
        caps = _resolve_groups([station_ext, maxes], segs, cells)
        result = _Layer(
            np.fmin(amps, np.fmin.reduce(caps.amps, axis=1)),
            np.fmin(watts, np.fmin.reduce(caps.watts, axis=1)),
            _min_phases_cols(np.concatenate((phases[:, None], caps.phases), axis=1)),
        )
    else:
        result = _combine(_resolve_groups([*per_evse[evse_id], maxes], segs, cells))

    # Convert to the requested unit, per segment.
    # [V * phases] per segment; unspecified phases (0) use the default
    factor = np.array([voltage * default_number_phases, voltage, voltage * 2.0, voltage * 3.0])
    factor = factor[result.phases]
    if out_unit is _AMPS:
        limit = np.fmin(result.amps, result.watts / factor)
        default = d_amps
    else:
        limit = np.fmin(result.watts, result.amps * factor)
        default = d_watts
    limit[np.isnan(limit)] = default
    limit = _floor_tenth(limit)

    phs, starts = result.phases, cells
    if dur <= 0:
        limit, phs, starts = limit[:1], phs[:1], starts[:1]
    elif n > _NUMPY_MERGE:  # many cells: merge in numpy first
        change = np.empty(n, dtype=bool)
        change[0] = True
        np.not_equal(limit[1:], limit[:-1], out=change[1:])
        change[1:] |= phs[1:] != phs[:-1]
        limit, phs, starts = limit[change], phs[change], starts[change]
    # merge equal neighbours (limit and numberPhases) while building the periods
    periods: list[ChargingSchedulePeriod] = []
    last: tuple[float, int] | None = None
    for o, v, p in zip((starts - t0).tolist(), limit.tolist(), phs.tolist(), strict=True):
        if (v, p) != last:
            last = (v, p)
            periods.append(_period(o, v, p or None))
    return _composite(
        evse_id,
        max(dur, 0),
        datetime.fromtimestamp(t0, tz=timezone.utc),
        out_unit,
        tuple(periods),
    )
