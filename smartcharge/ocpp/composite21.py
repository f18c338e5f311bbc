"""GetCompositeSchedule for OCPP 2.1 profiles: limits, setpoints, discharge limits, modes.

:func:`composite_schedule_v21` merges installed :class:`~smartcharge.ocpp.v21.ChargingProfile21`
profiles into the :class:`CompositeSchedule21` of one EVSE (or, for EVSE 0, of the whole
station) over a window. It reproduces EVerest libocpp's 2.1 ``calculate_composite_schedule``
(``lib/ocpp/v2/profile.cpp``: ``generate_profile_from_periods``,
``merge_tx_profile_with_tx_default_profile``, ``merge_profiles_by_lowest_limit``,
``merge_profiles_by_summing_limits``, ``convert_intermediate_into_schedule``); the
conformance tests run EVerest's 2.1 cases through it. The rules:

1. **Stack levels.** Within one purpose, at each instant the period of the valid profile
   with the highest ``stackLevel`` wins outright, with all its values (limit, setpoint,
   dischargeLimit, per-phase values, numberPhases, operationMode). Two periods at the same
   level: the one that started earlier wins; then the EVSE's own profile before a
   station-wide one; then the lower profile id.
2. **Tx layer.** Where the TxProfile layer has a period that says anything (a limit, a
   dischargeLimit, a setpoint or an operationMode other than ChargingOnly) it replaces the
   TxDefaultProfile layer entirely; elsewhere the TxDefaultProfile layer shows through.
   TxProfiles count only on their own EVSE (never on EVSE 0) and only while a transaction
   with their ``transactionId`` runs there; the Tx layer counts at all only when the EVSE
   has a transaction or ``assume_transaction`` is true.
3. **Across purposes** (external constraints, Tx layer, EVSE 0's
   ChargingStationMaxProfile): per phase the *lowest* ``limit`` and the *highest* (closest
   to zero) ``dischargeLimit`` win (deliberate difference: a ``dischargeLimit`` of 0, "no
   discharging", counts; EVerest ignores it). Setpoints: a positive (charging) setpoint
   takes the smaller of the setpoints and is capped by the combined limit (V2X.03); a
   negative (discharging) one takes the larger and is capped by the combined
   dischargeLimit (V2X.04); of setpoints with different signs the later purpose's wins
   (the Tx layer's over the external constraints'). A non-ChargingOnly operationMode beats
   an absent/ChargingOnly one; between two different ones the earlier purpose (external
   constraints, then Tx, then station max) wins. ``numberPhases`` is the smallest given.
   When any contributor has per-phase values (``limit_L2`` ...), all are brought to the
   same shape first: for one phase the minimum of L1..L3 becomes the value; for more, an
   [A] value is copied to L2/L3 and a [W] value is split evenly over the phases.
4. **EVSE 0.** Each EVSE's result (step 3 without the station maximum) is summed over
   ``evse_ids`` (an EVSE without a limit counts with the default limit; setpoints and
   discharge limits are not summed; ``numberPhases`` is the largest), then capped by the
   ChargingStationMaxProfile. EVSE 0's external constraints cap each EVSE, as in EVerest
   (:func:`smartcharge.composite.composite_schedule` caps the total with them instead).
5. **Output.** Limits in [A] and [W] are kept apart until the end and converted with the
   period's ``numberPhases`` (``default_number_phases`` where absent) and
   ``supply_voltage``; where no limit is set the default limit applies. A setpoint is then
   kept within ``[dischargeLimit, limit]`` of its period (deliberate difference: EVerest
   caps a setpoint only by limits of the same unit, so a setpoint in [A] could exceed a
   limit in [W]). Periods start at 0. Values are rounded to 0.1 toward the safe side:
   ``limit`` down, ``dischargeLimit`` and ``setpoint`` toward zero; then neighbouring
   periods equal in every value (per-phase ones included) are merged (EVerest merges
   before rounding and ignores per-phase values there, which can hide a change of
   ``limit_L2``). A window with ``duration <= 0`` gives the period in force at its start.

On profiles that OCPP 2.0.1 can express the result has the same limits and numberPhases as
:func:`smartcharge.composite.composite_schedule` (except for EVSE 0 with external
constraints, see 4.). Not reproduced: the ``stackLevel`` that EVerest's test build adds
to each output period (not part of OCPP 2.1), EVerest's 32-bit float arithmetic, and the
offline validity of profiles (``maxOfflineDuration``, Q11/Q12).

Validity (EVerest re-validates every installed profile before it computes): an absent
``numberPhases`` counts as 3 (AC, K01.FR.49), and a period whose operationMode is
ChargingOnly (or absent) without a ``limit`` makes the profile invalid; such a profile raises
:class:`~smartcharge.errors.ScheduleError` unless ``ignore_invalid=True`` (then it is left
out, as EVerest does).

>>> from datetime import datetime, timezone
>>> from smartcharge.ocpp.v21 import parse_charging_profile_v21
>>> tx = parse_charging_profile_v21({
...     "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
...     "chargingProfileKind": "Absolute", "transactionId": "t1",
...     "chargingSchedule": [{"id": 1, "chargingRateUnit": "W",
...         "startSchedule": "2024-01-01T00:00:00Z", "chargingSchedulePeriod": [
...         {"startPeriod": 0, "limit": 7000.0, "dischargeLimit": -5000.0,
...          "setpoint": -3000.0, "operationMode": "CentralSetpoint", "numberPhases": 3},
...         {"startPeriod": 1800, "limit": 11000.0, "numberPhases": 3}]}]})
>>> start = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> c = composite_schedule_v21({1: [tx]}, 1, start, 3600, "W", transactions={1: ("t1", start)})
>>> [(p.start_period, p.limit, p.setpoint, p.discharge_limit, p.operation_mode)
...  for p in c.charging_schedule_period]  # doctest: +NORMALIZE_WHITESPACE
[(0, 7000.0, -3000.0, -5000.0, <OperationMode.CentralSetpoint: 'CentralSetpoint'>),
 (1800, 11000.0, None, None, None)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Annotated, Any

import numpy as np
from pydantic import Field, ValidationError

from smartcharge.composite import check_query
from smartcharge.errors import ScheduleError
from smartcharge.expand import period_entries
from smartcharge.model import ChargingProfile, ChargingRateUnit, CustomData
from smartcharge.model._base import NonNegInt, OcppModel, UTCDateTime
from smartcharge.ocpp.v21 import (
    ChargingProfile21,
    ChargingProfileKind21,
    ChargingProfilePurpose21,
    ChargingSchedulePeriod21,
    OperationMode,
)
from smartcharge.schedule import epoch_seconds
from smartcharge.units import rate_unit

__all__ = [
    "DEFAULT_LIMIT_AMPS_V21",
    "DEFAULT_LIMIT_WATTS_V21",
    "CompositeSchedule21",
    "composite_schedule_v21",
]

DEFAULT_LIMIT_AMPS_V21 = 32.0
"""Default limit [A per phase] where nothing limits (same as the 2.0.1 function's)."""
DEFAULT_LIMIT_WATTS_V21 = 22080.0
"""Default limit [W] where nothing limits (32 A x 3 phases x 230 V)."""

_FLT_MAX = 3.4028234663852886e38  # C++ std::numeric_limits<float>::max()
_NO_LIMIT = -1.0
_NO_SETPOINT = _FLT_MAX
_NO_DISCHARGE = -_FLT_MAX
_EVERYTHING_PHASES = 3  # K01.FR.49: absent numberPhases on AC


class CompositeSchedule21(OcppModel):
    """CompositeScheduleType (OCPP 2.1): periods carry setpoints, discharge limits and modes.

    Attributes
    ----------
    evse_id
        The EVSE (0 = the whole station).
    duration
        Length [s] of the window.
    schedule_start
        Start of the window (UTC, whole seconds).
    charging_rate_unit
        Unit of every period's ``limit``, ``setpoint`` and ``dischargeLimit`` (and per-phase
        values).
    charging_schedule_period
        2.1 periods, starting at 0 and merged where equal.
    """

    evse_id: NonNegInt
    duration: NonNegInt
    schedule_start: UTCDateTime
    charging_rate_unit: ChargingRateUnit
    charging_schedule_period: Annotated[
        tuple[ChargingSchedulePeriod21, ...], Field(min_length=1)
    ]
    custom_data: Annotated[CustomData | None, Field(default=None)]


# ------------------------------------------------------------------------------------------
# Intermediate representation (EVerest's IntermediatePeriod / period_entry_t)
# ------------------------------------------------------------------------------------------

Triple = list[float]  # [L1, L2, L3]; a sentinel where not specified


def _triple(value: float) -> Triple:
    return [value, value, value]


@dataclass
class _Inter:
    """One period of an intermediate profile; [A] and [W] values kept apart."""

    start: int = 0
    cur_limit: Triple = field(default_factory=lambda: _triple(_NO_LIMIT))
    pow_limit: Triple = field(default_factory=lambda: _triple(_NO_LIMIT))
    cur_dis: Triple = field(default_factory=lambda: _triple(_NO_DISCHARGE))
    pow_dis: Triple = field(default_factory=lambda: _triple(_NO_DISCHARGE))
    cur_sp: Triple = field(default_factory=lambda: _triple(_NO_SETPOINT))
    pow_sp: Triple = field(default_factory=lambda: _triple(_NO_SETPOINT))
    phases: int | None = None
    mode: OperationMode | None = None

    def copy(self) -> _Inter:
        return _Inter(
            self.start,
            list(self.cur_limit),
            list(self.pow_limit),
            list(self.cur_dis),
            list(self.pow_dis),
            list(self.cur_sp),
            list(self.pow_sp),
            self.phases,
            self.mode,
        )

    def values_key(self) -> tuple[Any, ...]:
        return (
            tuple(self.cur_limit),
            tuple(self.pow_limit),
            tuple(self.cur_dis),
            tuple(self.pow_dis),
            tuple(self.cur_sp),
            tuple(self.pow_sp),
        )


_DEFAULT_KEY = _Inter().values_key()


def _effective(mode: OperationMode | None) -> OperationMode:
    return OperationMode.ChargingOnly if mode is None else mode


@dataclass(frozen=True)
class _Entry:
    """An absolute entry of one period of one profile (EVerest's period_entry_t)."""

    start: int
    end: int
    stack_level: int
    amps: bool
    limit: tuple[float, float, float]
    dis: tuple[float, float, float]
    sp: tuple[float, float, float]
    phases: int | None
    mode: OperationMode | None


def _opt(value: float | None, missing: float) -> float:
    return missing if value is None else float(value)


def _surrogate(profile: ChargingProfile21) -> ChargingProfile:
    """A 2.0.1 profile with the same timing (kind, recurrence, validity, start, duration,
    startPeriods), to expand with :func:`smartcharge.expand.period_entries`."""
    schedule = profile.charging_schedule[0]
    kind = profile.charging_profile_kind
    data: dict[str, Any] = {
        "id": profile.id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": "TxDefaultProfile",
        # EVerest anchors a Dynamic profile at "now", like a Relative one without session
        "chargingProfileKind": "Relative" if kind is ChargingProfileKind21.Dynamic else kind.value,
        "chargingSchedule": [
            {
                "id": schedule.id,
                "chargingRateUnit": schedule.charging_rate_unit.value,
                "chargingSchedulePeriod": [
                    {"startPeriod": p.start_period, "limit": 0.0}
                    for p in schedule.charging_schedule_period
                ],
            }
        ],
    }
    if profile.recurrency_kind is not None:
        data["recurrencyKind"] = profile.recurrency_kind.value
    if profile.valid_from is not None:
        data["validFrom"] = profile.valid_from
    if profile.valid_to is not None:
        data["validTo"] = profile.valid_to
    if schedule.start_schedule is not None:
        data["chargingSchedule"][0]["startSchedule"] = schedule.start_schedule
    if schedule.duration is not None:
        data["chargingSchedule"][0]["duration"] = schedule.duration
    try:
        return ChargingProfile.model_validate(data)
    except ValidationError as exc:  # timing fields 2.0.1's model refuses
        err = exc.errors(include_url=False)[0]
        raise ScheduleError(
            f"profile {profile.id} cannot be expanded: {err['msg']}",
            path=".".join(str(x) for x in err["loc"]),
            rule="expand",
        ) from None


def _entries(
    profiles: Sequence[ChargingProfile21],
    purpose: ChargingProfilePurpose21,
    now: int,
    end: int,
    session_start: int | None,
) -> list[_Entry]:
    """EVerest's ``calculate_all_profiles``: entries of all profiles of ``purpose``, by start
    (ties: in the order of ``profiles``, then by period)."""
    out: list[tuple[int, int, int, _Entry]] = []
    for position, profile in enumerate(profiles):
        if profile.charging_profile_purpose is not purpose:
            continue
        schedule = profile.charging_schedule[0]
        amps = schedule.charging_rate_unit is ChargingRateUnit.A
        dynamic = profile.charging_profile_kind is ChargingProfileKind21.Dynamic
        seg = period_entries(
            _surrogate(profile), now, end, session_start=None if dynamic else session_start
        )
        periods = schedule.charging_schedule_period
        for s, e, i in zip(
            seg.starts.tolist(), seg.ends.tolist(), seg.period_index.tolist(), strict=True
        ):
            p = periods[i]
            limit = (
                _opt(p.limit, _NO_LIMIT),
                _opt(p.limit_l2, _NO_LIMIT),
                _opt(p.limit_l3, _NO_LIMIT),
            )
            entry = _Entry(
                start=int(s),
                end=int(e),
                stack_level=profile.stack_level,
                amps=amps,
                limit=limit,
                dis=(
                    _opt(p.discharge_limit, _NO_DISCHARGE),
                    _opt(p.discharge_limit_l2, _NO_DISCHARGE),
                    _opt(p.discharge_limit_l3, _NO_DISCHARGE),
                ),
                sp=(
                    _opt(p.setpoint, _NO_SETPOINT),
                    _opt(p.setpoint_l2, _NO_SETPOINT),
                    _opt(p.setpoint_l3, _NO_SETPOINT),
                ),
                phases=_EVERYTHING_PHASES if p.number_phases is None else p.number_phases,
                mode=p.operation_mode,
            )
            out.append((int(s), position, int(i), entry))
    out.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in out]


def _from_periods(entries: list[_Entry], now: int, end: int) -> list[_Inter]:
    """EVerest's ``generate_profile_from_periods``: highest stack level wins, gaps are empty."""
    if not entries:
        return [_Inter()]
    periods = sorted(entries, key=lambda e: -e.stack_level)  # stable: ties keep start order
    combined: list[_Inter] = []
    current = now
    while True:
        earliest = end
        next_earliest = end
        chosen: _Entry | None = None
        for e in periods:
            if e.start <= earliest and e.end > current:
                next_earliest = earliest
                earliest = e.start
                chosen = e
                if earliest <= current:
                    break
        if earliest > current or chosen is None:
            combined.append(_Inter(start=current - now))
            if chosen is None:
                break
            current = earliest
        else:
            period = _Inter(start=current - now, phases=chosen.phases, mode=chosen.mode)
            if chosen.amps:
                period.cur_limit, period.cur_sp, period.cur_dis = (
                    list(chosen.limit),
                    list(chosen.sp),
                    list(chosen.dis),
                )
            else:
                period.pow_limit, period.pow_sp, period.pow_dis = (
                    list(chosen.limit),
                    list(chosen.sp),
                    list(chosen.dis),
                )
            combined.append(period)
            current = min(chosen.end, next_earliest)
        if current >= end:
            break
    return combined


def _combine(
    profiles: Sequence[list[_Inter]], combinator: Callable[[list[_Inter]], _Inter]
) -> list[_Inter]:
    """EVerest's ``combine_list_of_profiles``: walk the intermediate profiles side by side."""
    lists = [p for p in profiles if p]
    if not lists:
        return [_Inter()]
    idx = [0] * len(lists)
    combined: list[_Inter] = []
    current = 0
    while True:
        period = combinator([lst[i] for lst, i in zip(lists, idx, strict=True)])
        period.start = current
        if (
            not combined
            or period.values_key() != combined[-1].values_key()
            or period.phases != combined[-1].phases
            or _effective(period.mode) != _effective(combined[-1].mode)
        ):
            combined.append(period)
        nxt = min(
            (
                lst[i + 1].start
                for lst, i in zip(lists, idx, strict=True)
                if i + 1 < len(lst) and lst[i + 1].start > current
            ),
            default=None,
        )
        if nxt is None:
            break
        for k, lst in enumerate(lists):
            if idx[k] + 1 < len(lst) and lst[idx[k] + 1].start == nxt:
                idx[k] += 1
        current = nxt
    return combined or [_Inter()]


def _merge_tx(tx: list[_Inter], tx_default: list[_Inter]) -> list[_Inter]:
    """EVerest's ``merge_tx_profile_with_tx_default_profile``."""

    def pick(periods: list[_Inter]) -> _Inter:
        for p in periods:
            says_something = p.values_key() != _DEFAULT_KEY
            if says_something or _effective(p.mode) is not OperationMode.ChargingOnly:
                return p.copy()
        return _Inter()

    return _combine([tx, tx_default], pick)


def _uses_three_phases(p: _Inter) -> bool:
    return (
        any(v != _NO_LIMIT for v in (*p.cur_limit[1:], *p.pow_limit[1:]))
        or any(v != _NO_DISCHARGE for v in (*p.cur_dis[1:], *p.pow_dis[1:]))
        or any(v != _NO_SETPOINT for v in (*p.cur_sp[1:], *p.pow_sp[1:]))
    )


def _phase_values(cur: Triple, pw: Triple, missing: float, phases: int | None) -> None:
    """EVerest's ``set_setpoint_limit_phase_values`` (in place)."""
    if phases == 1:
        for t in (cur, pw):
            if t[0] != missing:
                for k in (1, 2):
                    if t[k] != missing:
                        t[0] = min(t[0], t[k])
                        t[k] = missing
        return
    if phases is None or phases < 1:
        return
    if cur[0] != missing and (cur[1] == missing or cur[2] == missing):
        cur[1] = cur[0]
        cur[2] = cur[0]
    if pw[0] != missing and (pw[1] == missing or pw[2] == missing):
        share = pw[0] / phases
        pw[0], pw[1], pw[2] = share, share, share


def _min_limit(a: Triple, b: Triple, cap: Triple | None = None) -> Triple:
    out = [min(x, y) if y >= 0.0 else x for x, y in zip(a, b, strict=True)]
    if cap is not None:
        out = [min(x, c) for x, c in zip(out, cap, strict=True)]
    return out


def _max_limit(a: Triple, b: Triple, cap: Triple | None = None) -> Triple:
    out = [max(x, y) if y < 0.0 else x for x, y in zip(a, b, strict=True)]
    if cap is not None:
        out = [max(x, c) for x, c in zip(out, cap, strict=True)]
    return out


def _max_discharge(a: Triple, b: Triple) -> Triple:
    """The larger (closer to zero) discharge limit per phase; 0 counts (EVerest's
    ``get_max_limit`` skips a ``dischargeLimit`` of exactly 0, which forbids discharging)."""
    return [max(x, y) if y <= 0.0 else x for x, y in zip(a, b, strict=True)]


def _setpoint(sp1: Triple, sp2: Triple, cap_limit: Triple, cap_dis: Triple) -> Triple:
    """EVerest's ``get_set_setpoint_limit``: the combined setpoint, capped (V2X.03/04)."""
    if sp2[0] == _NO_SETPOINT and sp1[0] == _NO_SETPOINT:
        return sp1
    sp1 = list(sp1)
    if sp2[0] != _NO_SETPOINT and sp1[0] != _NO_SETPOINT:
        sp1[0] = max(sp1[0], sp2[0]) if sp1[0] < 0.0 else min(sp1[0], sp2[0])
    elif sp2[0] != _NO_SETPOINT:
        sp1[0] = sp2[0]
    if sp1[0] < 0.0:
        return _max_limit(sp1, sp2, cap_dis)  # V2X.04
    return _min_limit(sp1, sp2, cap_limit)  # V2X.03


def _replace(t: Triple, value: float, replacement: float) -> None:
    for k in range(3):
        if t[k] == value:
            t[k] = replacement


def _merge_lowest(profiles: Sequence[list[_Inter]]) -> list[_Inter]:
    """EVerest's ``merge_profiles_by_lowest_limit`` (OCPP 2.1 mode)."""

    def lowest(periods: list[_Inter]) -> _Inter:
        out = _Inter(
            cur_limit=_triple(_FLT_MAX),
            pow_limit=_triple(_FLT_MAX),
            cur_sp=_triple(_FLT_MAX),
            pow_sp=_triple(_FLT_MAX),
        )
        three = False
        for p in periods:
            if out.phases is None or (p.phases is not None and p.phases < out.phases):
                out.phases = p.phases
            three = three or _uses_three_phases(p)
        for src in periods:
            p = src.copy()
            if three:
                _phase_values(p.cur_limit, p.pow_limit, _NO_LIMIT, out.phases)
                _phase_values(p.cur_dis, p.pow_dis, _NO_DISCHARGE, out.phases)
                _phase_values(p.cur_sp, p.pow_sp, _NO_SETPOINT, out.phases)
            out.cur_limit = _min_limit(out.cur_limit, p.cur_limit)
            out.pow_limit = _min_limit(out.pow_limit, p.pow_limit)
            out.cur_dis = _max_discharge(out.cur_dis, p.cur_dis)
            out.pow_dis = _max_discharge(out.pow_dis, p.pow_dis)
            out.cur_sp = _setpoint(out.cur_sp, p.cur_sp, out.cur_limit, out.cur_dis)
            out.pow_sp = _setpoint(out.pow_sp, p.pow_sp, out.pow_limit, out.pow_dis)
            if _effective(p.mode) is not OperationMode.ChargingOnly and (
                _effective(out.mode) is OperationMode.ChargingOnly
            ):
                out.mode = p.mode
        _replace(out.cur_limit, _FLT_MAX, _NO_LIMIT)
        _replace(out.pow_limit, _FLT_MAX, _NO_LIMIT)
        return out

    return _combine(profiles, lowest)


def _merge_sum(profiles: Sequence[list[_Inter]], d_amps: float, d_watts: float) -> list[_Inter]:
    """EVerest's ``merge_profiles_by_summing_limits`` (OCPP 2.1 mode)."""

    def total(periods: list[_Inter]) -> _Inter:
        out = _Inter(cur_limit=[0.0, 0.0, 0.0], pow_limit=[0.0, 0.0, 0.0])
        three = False
        for p in periods:
            if out.phases is None or (p.phases is not None and p.phases > out.phases):
                out.phases = p.phases
            three = three or _uses_three_phases(p)
        for src in periods:
            p = src.copy()
            if three:
                _phase_values(p.cur_limit, p.pow_limit, _NO_LIMIT, out.phases)
            for mine, theirs, default in (
                (out.cur_limit, p.cur_limit, d_amps),
                (out.pow_limit, p.pow_limit, d_watts),
            ):
                for k in range(3 if three else 1):
                    mine[k] += theirs[k] if theirs[k] >= 0.0 else default
                if not three:
                    mine[1] = mine[2] = _NO_LIMIT
        return out

    return _combine(profiles, total)


def _floor_tenth(x: float) -> float:
    return float(np.round(math.floor(x * 10.0 + 1e-6) / 10.0, 1))


def _toward_zero_tenth(x: float) -> float:
    return _floor_tenth(x) if x >= 0 else -_floor_tenth(-x)


def _to_schedule(
    profile: list[_Inter],
    amps: bool,
    default_limit: float,
    default_phases: int,
    voltage: float,
) -> list[ChargingSchedulePeriod21]:
    """EVerest's ``convert_intermediate_into_schedule``, then 0.1 rounding."""
    out: list[ChargingSchedulePeriod21] = []
    last: ChargingSchedulePeriod21 | None = None
    for p in profile:
        phases = p.phases if p.phases is not None else default_phases
        no_limit = p.cur_limit[0] == _NO_LIMIT and p.pow_limit[0] == _NO_LIMIT
        limit: list[float | None] = [default_limit if no_limit else _FLT_MAX, None, None]
        dis: list[float | None] = [None, None, None]
        sp: list[float | None] = [None, None, None]
        same, other = (p.cur_limit, p.pow_limit) if amps else (p.pow_limit, p.cur_limit)
        same_d, other_d = (p.cur_dis, p.pow_dis) if amps else (p.pow_dis, p.cur_dis)
        same_s, other_s = (p.cur_sp, p.pow_sp) if amps else (p.pow_sp, p.cur_sp)
        for target, src, conv, missing, use_min in (
            (limit, same, other, _NO_LIMIT, True),
            (dis, same_d, other_d, _NO_DISCHARGE, False),
            (sp, same_s, other_s, _NO_SETPOINT, True),
        ):
            for k in range(3):  # store_limit_to_phase_limits
                if src[k] != missing:
                    target[k] = src[k]
            t = voltage  # convert_and_transform_limit_to_period_schedule
            if conv[1] == missing or conv[2] == missing:
                t *= phases
            for k in range(3):
                if conv[k] == missing:
                    continue
                v = conv[k] / t if amps else conv[k] * t
                cur = target[k]
                target[k] = v if cur is None else (min(cur, v) if use_min else max(cur, v))
        lim = limit
        for k in range(3):  # V2X.03/04 across units (EVerest caps only within one unit)
            want, hi, lo = sp[k], lim[k], dis[k]
            if want is not None and want >= 0.0 and hi is not None:
                sp[k] = min(want, hi)
            elif want is not None and want < 0.0 and lo is not None:
                sp[k] = max(want, lo)
        period = ChargingSchedulePeriod21(
            start_period=p.start,
            limit=None if lim[0] is None else _floor_tenth(lim[0]),
            limit_l2=None if lim[1] is None else _floor_tenth(lim[1]),
            limit_l3=None if lim[2] is None else _floor_tenth(lim[2]),
            number_phases=p.phases,
            discharge_limit=None if dis[0] is None else _toward_zero_tenth(dis[0]),
            discharge_limit_l2=None if dis[1] is None else _toward_zero_tenth(dis[1]),
            discharge_limit_l3=None if dis[2] is None else _toward_zero_tenth(dis[2]),
            setpoint=None if sp[0] is None else _toward_zero_tenth(sp[0]),
            setpoint_l2=None if sp[1] is None else _toward_zero_tenth(sp[1]),
            setpoint_l3=None if sp[2] is None else _toward_zero_tenth(sp[2]),
            operation_mode=p.mode,
        )
        # merged where the output is equal (all values, per-phase ones included)
        key = period.model_copy(update={"start_period": 0})
        if last is not None and key == last:
            continue
        last = key
        out.append(period)
    return out


# ------------------------------------------------------------------------------------------
# The public function
# ------------------------------------------------------------------------------------------


def _invalid_reason(profile: ChargingProfile21) -> tuple[str, str] | None:
    """(JSON path, message) of the first 2.1 validity rule ``profile`` breaks, else None."""
    for i, schedule in enumerate(profile.charging_schedule):
        for j, p in enumerate(schedule.charging_schedule_period):
            if p.limit is None and _effective(p.operation_mode) is OperationMode.ChargingOnly:
                return (
                    f"chargingSchedule[{i}].chargingSchedulePeriod[{j}].limit",
                    "a ChargingOnly period needs a limit",
                )
    return None


def _usable(
    profiles: Sequence[ChargingProfile21],
    evse: int,
    transaction_id: str | None,
    ignore_invalid: bool,
) -> list[ChargingProfile21]:
    """EVerest's ``get_valid_profiles_for_evse``: the profiles that count on ``evse``."""
    out: list[ChargingProfile21] = []
    for k, profile in enumerate(sorted(profiles, key=lambda p: p.id)):
        bad = _invalid_reason(profile)
        if bad is not None:
            if ignore_invalid:
                continue
            raise ScheduleError(
                f"profile {profile.id} on EVSE {evse} is invalid: {bad[1]}",
                path=f"installed[{evse}][{k}].{bad[0]}",
                rule="K01",
            )
        if profile.charging_profile_purpose is ChargingProfilePurpose21.TxProfile and (
            evse == 0 or transaction_id is None or profile.transaction_id != transaction_id
        ):
            continue
        out.append(profile)
    return out


def composite_schedule_v21(
    installed: Mapping[int, Sequence[ChargingProfile21]],
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
    default_limit_amps: float = DEFAULT_LIMIT_AMPS_V21,
    default_limit_watts: float = DEFAULT_LIMIT_WATTS_V21,
    ignore_invalid: bool = False,
) -> CompositeSchedule21:
    """The OCPP 2.1 composite schedule (K08) of ``evse_id`` over ``[start, start + duration)``.

    Same parameters as :func:`smartcharge.composite.composite_schedule`, with 2.1 profiles.

    Parameters
    ----------
    installed
        The installed 2.1 profiles per EVSE id (0 = station-wide). ChargingStationMaxProfiles
        count only on EVSE 0, TxProfiles only on EVSE > 0 with a matching transaction.
        PriorityCharging and LocalGeneration profiles are not combined (as in EVerest).
    evse_id
        The EVSE asked about; 0 = the station's total.
    start
        Window start (aware datetime; naive = UTC), floored to whole seconds.
    duration
        Window length [s]; ``<= 0`` gives the period in force at the start (a negative
        duration moves the start back to the end, as EVerest does).
    unit
        ``"A"`` or ``"W"``: the unit of every value of the result.
    transactions
        Running transactions: EVSE id -> (transactionId, started at).
    evse_ids
        The station's EVSEs (needed for EVSE 0 totals); default: the keys of ``installed``
        other than 0, plus the EVSEs of ``transactions``.
    assume_transaction
        Count TxDefault profiles on an EVSE without a transaction.
    supply_voltage
        Phase-to-neutral voltage [V] for A <-> W.
    default_number_phases
        Phases [1..3] used for A <-> W where no profile says.
    default_limit_amps, default_limit_watts
        The limit [A per phase] / [W] where no profile limits.
    ignore_invalid
        Leave out a profile that breaks a 2.1 validity rule (a ChargingOnly period without
        ``limit``) instead of raising.

    Returns
    -------
    CompositeSchedule21
        In ``unit``; ``evseId = evse_id``, ``scheduleStart`` = the floored start,
        ``duration = max(duration, 0)``.

    Raises
    ------
    ScheduleError
        Unknown EVSE (K08.FR.05), bad numbers, an invalid profile (path
        ``installed[evse][k]...``, rule ``K01``), or a profile that cannot be expanded.
    """
    amps = rate_unit(unit) is ChargingRateUnit.A
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

    t_end = epoch_seconds(start) + int(duration)
    t_start = min(epoch_seconds(start), t_end)

    def tx_of(evse: int) -> tuple[str | None, int | None]:
        if evse == 0 or evse not in txs:
            return None, None
        tid, began = txs[evse]
        return tid, epoch_seconds(began)

    station = _usable(installed.get(0, ()), 0, None, ignore_invalid)

    def evse_layers(evse: int) -> list[list[_Inter]]:
        tid, session = tx_of(evse)
        own = _usable(installed.get(evse, ()), evse, tid, ignore_invalid) + station
        purpose = ChargingProfilePurpose21
        ext = _entries(own, purpose.ChargingStationExternalConstraints, t_start, t_end, session)
        layers = [_from_periods(ext, t_start, t_end)]
        if session is not None or assume_transaction:
            dflt = _entries(own, purpose.TxDefaultProfile, t_start, t_end, session)
            tx = _entries(own, purpose.TxProfile, t_start, t_end, session)
            layers.append(
                _merge_tx(_from_periods(tx, t_start, t_end), _from_periods(dflt, t_start, t_end))
            )
        return layers

    if evse_id == 0:
        per_evse = [_merge_lowest(evse_layers(e)) for e in evses]
        combined = [_merge_sum(per_evse, d_amps, d_watts)]
        session = None
    else:
        combined = evse_layers(evse_id)
        session = tx_of(evse_id)[1]
    cs_max = _entries(
        station, ChargingProfilePurpose21.ChargingStationMaxProfile, t_start, t_end, session
    )
    combined.append(_from_periods(cs_max, t_start, t_end))
    result = _merge_lowest(combined)
    periods = _to_schedule(
        result, amps, d_amps if amps else d_watts, default_number_phases, voltage
    )
    return CompositeSchedule21(
        evse_id=evse_id,
        duration=max(t_end - t_start, 0),
        schedule_start=datetime.fromtimestamp(t_start, tz=timezone.utc),
        charging_rate_unit=ChargingRateUnit.A if amps else ChargingRateUnit.W,
        charging_schedule_period=tuple(periods),
    )
