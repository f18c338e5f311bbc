"""Minimal, idempotent SetChargingProfile / ClearChargingProfile messages for a station.

A CSMS re-plans every few minutes. Re-sending every profile each time floods the link and
makes stations rewrite flash for nothing. :func:`reconcile` compares what a station holds
(a :class:`~smartcharge.station.ChargingStation` mirror, or the profiles it reported in
ReportChargingProfiles) with what the CSMS wants on it and returns the shortest ordered list
of requests that takes the station there:

- nothing for a desired profile the station already holds, even under another id;
- one SetChargingProfile per new or changed profile (a changed profile keeps its id, so the
  station replaces it atomically, K01.FR.05);
- one ClearChargingProfile (by id) per installed profile no longer wanted.

"Already holds" depends on ``compare``. With ``now`` it defaults to ``"effect"``: an
installed profile serves a desired one when, on the same EVSE, with the same purpose, stack
level, transactionId, unit and other static fields, it sets the same limits (limit,
numberPhases, phaseToUse) at every instant from ``now`` on, validity window and recurrence
included. A re-plan whose TxProfiles only start later (``startSchedule`` = the new horizon
start) but limit alike from ``now`` on then costs nothing; the station keeps the old profile,
whose *past* differs (composite schedules before ``now`` may differ from those of the desired
profiles; from ``now`` on they are equal). ``compare="content"`` (the default without
``now``) only accepts profiles equal but for the id.

The CSMS manages ChargingStationMaxProfile, TxDefaultProfile and TxProfile;
ChargingStationExternalConstraints belong to the site's energy manager and are never touched.
Reconciling again after the messages were applied returns ``[]``; applying the messages twice
gives the same state as applying them once; the same input always gives the same list (byte
for byte in JSON).

Stable ids (:func:`stable_profile_id`, :func:`restamp`) make a new plan replace the old one
in place; ``strategy="stack"`` reconciles a temporary layer at a higher stack level and leaves
the base below it alone.

>>> from datetime import datetime, timezone
>>> from smartcharge.model import ChargingProfile
>>> from smartcharge.station import ChargingStation
>>> now = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)
>>> def default(pid: int, amps: float) -> ChargingProfile:
...     return ChargingProfile.model_validate({
...         "id": pid, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
...         "chargingProfileKind": "Relative", "chargingSchedule": [{"id": 1,
...         "chargingRateUnit": "A", "chargingSchedulePeriod": [
...             {"startPeriod": 0, "limit": amps}]}]})
>>> station = ChargingStation(2)
>>> msgs = reconcile(station, {1: [default(11, 16.0)], 2: [default(12, 10.0)]}, now=now)
>>> [(m.action, m.to_json_dict()["evseId"]) for m in msgs]
[('SetChargingProfile', 1), ('SetChargingProfile', 2)]
>>> station = apply(station, msgs, now)
>>> reconcile(station, {1: [default(11, 16.0)], 2: [default(12, 10.0)]}, now=now)
[]
>>> [m.to_json_dict() for m in reconcile(station, {1: [default(11, 20.0)]}, now=now)]
... # doctest: +NORMALIZE_WHITESPACE
[{'chargingProfileId': 12}, {'evseId': 1, 'chargingProfile': {'id': 11, 'stackLevel': 0,
  'chargingProfilePurpose': 'TxDefaultProfile', 'chargingProfileKind': 'Relative',
  'chargingSchedule': [{'id': 1, 'chargingRateUnit': 'A',
  'chargingSchedulePeriod': [{'startPeriod': 0, 'limit': 20.0}]}]}}]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal, TypeAlias

import numpy as np

from smartcharge.errors import InvalidPayloadError, ScheduleError, require_aware
from smartcharge.expand import RECURRENCE_SECONDS, period_entries
from smartcharge.model import ChargingProfile, ChargingProfileKind, ChargingProfilePurpose
from smartcharge.ocpp.v201 import ClearChargingProfileRequest, SetChargingProfileRequest
from smartcharge.schedule import epoch_seconds
from smartcharge.station import ChargingStation
from smartcharge.validation import EVSEInfo, StationContext, ValidationResult, conform_profile

__all__ = [
    "MANAGED_PURPOSES",
    "Compare",
    "ReconcileMessage",
    "Strategy",
    "apply",
    "payload_bytes",
    "reconcile",
    "restamp",
    "stable_profile_id",
]

ReconcileMessage: TypeAlias = SetChargingProfileRequest | ClearChargingProfileRequest
"""What :func:`reconcile` returns: typed requests with ``.action`` and ``.to_json_dict()``."""

Compare = Literal["effect", "content"]
"""``"effect"``: profiles are equivalent when they limit alike from ``now`` on (the default
when ``now`` is given). ``"content"``: only when equal but for the id."""

Strategy = Literal["replace", "stack"]
"""``"replace"``: the desired profiles are the whole managed state of the station.
``"stack"``: they are a layer; installed profiles below the layer's stack level stay."""

_EXT = ChargingProfilePurpose.ChargingStationExternalConstraints
_MAX = ChargingProfilePurpose.ChargingStationMaxProfile
_TXD = ChargingProfilePurpose.TxDefaultProfile
_TX = ChargingProfilePurpose.TxProfile

MANAGED_PURPOSES: frozenset[ChargingProfilePurpose] = frozenset({_MAX, _TXD, _TX})
"""The purposes a CSMS manages (never ChargingStationExternalConstraints)."""

_PURPOSE_CODE = {_MAX: 1, _TXD: 2, _TX: 3}
_MAX_EVSE = 99_999
_MAX_SLOT = 99
_MAX_LAYER = 9


def stable_profile_id(
    evse_id: int, purpose: ChargingProfilePurpose | str, slot: int = 0, *, layer: int = 0
) -> int:
    """A deterministic profile id: ``purpose * 10**8 + layer * 10**7 + evse_id * 100 + slot``.

    The same EVSE, purpose, slot and layer always give the same id, so the profile of the
    next plan replaces the one of the previous plan in place (K01.FR.05) instead of piling
    up beside it. Ids of different EVSEs, purposes, slots or layers never collide, and all
    fit OCPP's 32-bit integer (they stay below 4 * 10**8). ``purpose`` codes: 1
    ChargingStationMaxProfile, 2 TxDefaultProfile, 3 TxProfile.

    Parameters
    ----------
    evse_id
        0..99,999 (0 = station-wide).
    purpose
        ChargingStationMaxProfile, TxDefaultProfile or TxProfile.
    slot
        0..99: tells apart several profiles of one purpose on one EVSE.
    layer
        0..9: 0 for the base plan, >= 1 for temporary caps stacked above it.

    Raises
    ------
    InvalidPayloadError
        An argument out of range, or ChargingStationExternalConstraints (not the CSMS's).

    >>> stable_profile_id(7, "TxProfile")
    300000700
    >>> stable_profile_id(7, "TxDefaultProfile", 1, layer=1)
    210000701
    """
    try:
        code = _PURPOSE_CODE[ChargingProfilePurpose(purpose)]
    except (ValueError, KeyError):
        raise InvalidPayloadError(
            f"the CSMS manages ChargingStationMaxProfile, TxDefaultProfile and TxProfile,"
            f" not {purpose!r}",
            path="chargingProfilePurpose",
            rule="managed-purpose",
        ) from None
    for name, value, top in (
        ("evse_id", evse_id, _MAX_EVSE),
        ("slot", slot, _MAX_SLOT),
        ("layer", layer, _MAX_LAYER),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            raise InvalidPayloadError(
                f"must be an int in 0..{top}, got {value!r}", path=name, rule="range"
            )
    return code * 10**8 + layer * 10**7 + evse_id * 100 + slot


def restamp(
    desired: Mapping[int, Sequence[ChargingProfile]],
    *,
    layer: int = 0,
    stack_level: int | None = None,
) -> dict[int, tuple[ChargingProfile, ...]]:
    """``desired`` with stable ids (and, optionally, one stack level).

    On each EVSE, the profiles of one purpose get slots 0, 1, ... in the order given, and the
    id :func:`stable_profile_id` ``(evse, purpose, slot, layer=layer)``; their schedules are
    numbered 1, 2, 3 (ISO 15118 schedule tuple ids are 1..255). Profiles of the next plan
    then carry the ids of the previous plan's, and :func:`reconcile` sends only those whose
    content changed, each replacing its predecessor atomically.

    Parameters
    ----------
    desired
        EVSE id -> profiles (e.g. grouped from ``Plan.to_charging_profiles``).
    layer
        0 for the base plan; 1..9 for a temporary cap reconciled with ``strategy="stack"``.
    stack_level
        If given, every profile gets this ``stackLevel`` (a layer must lie above the base).

    Examples
    --------
    >>> from smartcharge.model import ChargingProfile
    >>> p = ChargingProfile.model_validate({"id": 5, "stackLevel": 0,
    ...     "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative",
    ...     "chargingSchedule": [{"id": 77, "chargingRateUnit": "A",
    ...         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}]}]})
    >>> q = restamp({3: [p]}, layer=1, stack_level=4)[3][0]
    >>> q.id, q.stack_level, q.charging_schedule[0].id
    (210000300, 4, 1)
    """
    out: dict[int, tuple[ChargingProfile, ...]] = {}
    for evse_id in sorted(desired):
        slots: dict[ChargingProfilePurpose, int] = {}
        stamped: list[ChargingProfile] = []
        for i, profile in enumerate(desired[evse_id]):
            purpose = profile.charging_profile_purpose
            slot = slots.get(purpose, 0)
            slots[purpose] = slot + 1
            try:
                pid = stable_profile_id(evse_id, purpose, slot, layer=layer)
            except InvalidPayloadError as exc:
                raise InvalidPayloadError(
                    exc.message, path=f"desired[{evse_id}][{i}].{exc.path}", rule=exc.rule
                ) from None
            update: dict[str, object] = {
                "id": pid,
                "charging_schedule": tuple(
                    s.model_copy(update={"id": k + 1})
                    for k, s in enumerate(profile.charging_schedule)
                ),
            }
            if stack_level is not None:
                update["stack_level"] = stack_level
            stamped.append(profile.model_copy(update=update))
        out[evse_id] = tuple(stamped)
    return out


# ------------------------------------------------------------------------------ reconcile


def _installed_of(
    current: ChargingStation | Mapping[int, Sequence[ChargingProfile]],
    context: StationContext | None,
) -> tuple[dict[int, tuple[ChargingProfile, ...]], StationContext]:
    if isinstance(current, ChargingStation):
        return dict(current.installed), current.context()
    if not isinstance(current, Mapping):
        raise InvalidPayloadError(
            f"expected a ChargingStation or a mapping EVSE id -> profiles,"
            f" got {type(current).__name__}",
            path="current",
            rule="type",
        )
    installed: dict[int, tuple[ChargingProfile, ...]] = {}
    for e in sorted(current, key=lambda k: (not isinstance(k, int), str(k))):
        if isinstance(e, bool) or not isinstance(e, int) or e < 0:
            raise InvalidPayloadError(
                f"EVSE ids must be ints >= 0, got {e!r}", path=f"current[{e!r}]", rule="evseId"
            )
        for i, p in enumerate(current[e]):
            if not isinstance(p, ChargingProfile):
                raise InvalidPayloadError(
                    f"expected a ChargingProfile, got {type(p).__name__}",
                    path=f"current[{e}][{i}]",
                    rule="type",
                )
        installed[e] = tuple(current[e])
    if context is None:
        context = StationContext(evses={e: EVSEInfo() for e in installed if e > 0})
    return installed, context


def _check_desired(
    desired: Mapping[int, Sequence[ChargingProfile]],
    purposes: frozenset[ChargingProfilePurpose],
    context: StationContext,
) -> list[tuple[int, ChargingProfile, ChargingProfile]]:
    """(evse, profile as given, profile as the station would store it), ids unique."""
    if not isinstance(desired, Mapping):
        raise InvalidPayloadError(
            f"expected a mapping EVSE id -> profiles, got {type(desired).__name__}",
            path="desired",
            rule="type",
        )
    out: list[tuple[int, ChargingProfile, ChargingProfile]] = []
    seen: dict[int, str] = {}
    for e in sorted(desired, key=lambda k: (not isinstance(k, int), str(k))):
        if isinstance(e, bool) or not isinstance(e, int) or e < 0:
            raise InvalidPayloadError(
                f"EVSE ids must be ints >= 0, got {e!r}", path=f"desired[{e!r}]", rule="evseId"
            )
        for i, p in enumerate(desired[e]):
            path = f"desired[{e}][{i}]"
            if not isinstance(p, ChargingProfile):
                raise InvalidPayloadError(
                    f"expected a ChargingProfile, got {type(p).__name__}", path=path, rule="type"
                )
            if p.charging_profile_purpose not in purposes:
                raise InvalidPayloadError(
                    f"{p.charging_profile_purpose.value} is not a purpose this reconciliation"
                    f" manages ({', '.join(sorted(x.value for x in purposes))})",
                    path=f"{path}.chargingProfilePurpose",
                    rule="managed-purpose",
                )
            if p.id in seen:
                raise InvalidPayloadError(
                    f"profile id {p.id} is also used by {seen[p.id]}; ids are unique per"
                    " station",
                    path=f"{path}.id",
                    rule="unique-id",
                )
            seen[p.id] = path
            # an unknown EVSE: the station will reject it; compare as given
            known = e == 0 or e in context.evses
            stored = conform_profile(e, p, context) if known else p
            out.append((e, p, stored))
    return out


def _in_scope(
    strategy: Strategy,
    purposes: frozenset[ChargingProfilePurpose],
    floors: Mapping[tuple[int, ChargingProfilePurpose], int],
    evse_id: int,
    p: ChargingProfile,
) -> bool:
    purpose = p.charging_profile_purpose
    if purpose is _EXT or purpose not in purposes:
        return False
    if strategy == "replace":
        return True
    floor = floors.get((evse_id, purpose))
    return floor is not None and p.stack_level >= floor


# ------------------------------------------------------------------------------ effect


_FOREVER = 2**31 - 1  # expand's "for ever" for an open-ended period [s from the schedule start]
_MAX_OCCURRENCES = 20_000  # beyond this many recurrences in the window: compare by content
_Piece: TypeAlias = tuple[int, int, float, int, int]  # start, end [s], limit, phases, phaseToUse


def _static_part(p: ChargingProfile) -> ChargingProfile | None:
    """``p`` without what only shapes its effect over time (id, kind, recurrency, validity,
    startSchedule, duration, periods); None when it has several schedules (ISO 15118: the EV
    picks one, so only identical content is equivalent)."""
    if len(p.charging_schedule) != 1:
        return None
    s = p.charging_schedule[0].model_copy(
        update={"start_schedule": None, "duration": None, "charging_schedule_period": ()}
    )
    return p.model_copy(
        update={
            "id": 0,
            "charging_profile_kind": ChargingProfileKind.Absolute,
            "recurrency_kind": None,
            "valid_from": None,
            "valid_to": None,
            "charging_schedule": (s,),
        }
    )


def _origin(p: ChargingProfile, anchor: int | None) -> int | None:
    """Start [epoch s] of a non-recurring profile's schedule (None for Recurring, or when
    unknown: :func:`_same_effect` checks that first)."""
    if p.charging_profile_kind is ChargingProfileKind.Recurring:
        return None
    if p.charging_profile_kind is ChargingProfileKind.Relative:
        return anchor
    start = p.charging_schedule[0].start_schedule
    return None if start is None else epoch_seconds(start)


def _breakpoints(p: ChargingProfile, anchor: int | None) -> list[int]:
    """Every instant [epoch s] where ``p``'s effect may change, except its recurrence and the
    end of an open-ended last period (which lasts for ever)."""
    out = [epoch_seconds(t) for t in (p.valid_from, p.valid_to) if t is not None]
    o = _origin(p, anchor)
    if o is not None:
        sched = p.charging_schedule[0]
        out.extend(o + q.start_period for q in sched.charging_schedule_period)
        if sched.duration is not None:
            out.append(o + sched.duration)
    return out


def _effect(p: ChargingProfile, now: int, end: int, anchor: int | None) -> list[_Piece]:
    """``p``'s limits in ``[now, end)``: disjoint sorted pieces, adjacent equal ones merged,
    gaps where it sets no limit."""
    seg = period_entries(p, now, end, session_start=anchor)
    periods = p.charging_schedule[0].charging_schedule_period
    to_use = np.array([q.phase_to_use or 0 for q in periods], dtype=np.int64)[seg.period_index]
    starts = np.maximum(seg.starts, now)
    ends = np.minimum(seg.ends, end)
    out: list[_Piece] = []
    for a, b, lim, ph, use in zip(
        starts.tolist(), ends.tolist(), seg.limits.tolist(), seg.phases.tolist(),
        to_use.tolist(), strict=True,
    ):
        if b <= a:
            continue
        if out and out[-1][1] == a and out[-1][2:] == (lim, ph, use):
            out[-1] = (out[-1][0], b, lim, ph, use)
        else:
            out.append((a, b, lim, ph, use))
    return out


def _same_effect(
    a: ChargingProfile, b: ChargingProfile, now: int, anchor: int | None
) -> bool:
    """True when ``a`` and ``b`` (as stored, on one EVSE) limit alike at every instant from
    ``now`` on.

    Their static parts (purpose, stack level, transactionId, unit, schedule id, minimum rate,
    ...) must be equal. Relative profiles need ``anchor`` (the start of the one transaction
    they can apply to), else only identical content is equivalent. The effects are compared
    on ``[now, T0 + L)``: ``T0`` the latest breakpoint of either profile (period starts,
    duration end, validFrom, validTo; at least ``now``), ``L`` the longest recurrence (1 s
    without one). After ``T0`` each profile is constant (its last period, or nothing) or
    repeats with its recurrence, so both repeat with period ``L``, and one period past ``T0``
    decides all later instants. An open-ended last period lasts for ever (expand's 2**31-1 s
    cap is treated as infinite: when the window would reach it, only content counts).
    """
    if a.same_content(b):
        return True
    sa, sb = _static_part(a), _static_part(b)
    if sa is None or sa != sb:
        return False
    for p in (a, b):  # unanchored Relative, or a reported profile the station would reject
        kind = p.charging_profile_kind
        if kind is ChargingProfileKind.Relative:
            if anchor is None:
                return False
        elif p.charging_schedule[0].start_schedule is None:
            return False
        if kind is ChargingProfileKind.Recurring and p.recurrency_kind is None:
            return False
    t0 = max([now, *_breakpoints(a, anchor), *_breakpoints(b, anchor)])
    span = max(
        (RECURRENCE_SECONDS[p.recurrency_kind] for p in (a, b)
         if p.charging_profile_kind is ChargingProfileKind.Recurring
         and p.recurrency_kind is not None),
        default=0,
    )  # a Recurring profile's occurrences repeat on the grid of its startSchedule
    end = t0 + max(span, 1)
    if span and (end - now) // span > _MAX_OCCURRENCES:
        return False
    for p in (a, b):
        o = _origin(p, anchor)
        if o is not None and end >= o + _FOREVER:
            return False
    try:
        return _effect(a, now, end, anchor) == _effect(b, now, end, anchor)
    except ScheduleError:  # a reported profile with bad periods: never equivalent
        return False


def _anchor_of(
    evse_id: int, a: ChargingProfile, b: ChargingProfile, context: StationContext
) -> int | None:
    """The transaction start [epoch s] both profiles are anchored to, if any: TxProfiles of
    the transaction running on ``evse_id`` (a TxProfile dies with its transaction, so its
    anchor never moves). TxDefaultProfiles and station-wide ones re-anchor at every new
    transaction: None."""
    tid = a.transaction_id
    if (
        a.charging_profile_purpose is not _TX
        or b.charging_profile_purpose is not _TX
        or tid is None
        or b.transaction_id != tid
    ):
        return None
    tx = context.transactions.get(evse_id)
    if tx is None or tx[0] != tid:
        return None
    return epoch_seconds(tx[1])


def reconcile(
    current: ChargingStation | Mapping[int, Sequence[ChargingProfile]],
    desired: Mapping[int, Sequence[ChargingProfile]],
    *,
    now: datetime | None = None,
    strategy: Strategy = "replace",
    purposes: Iterable[ChargingProfilePurpose | str] = MANAGED_PURPOSES,
    context: StationContext | None = None,
    compare: Compare | None = None,
) -> list[ReconcileMessage]:
    """The minimal ordered requests that take ``current`` to ``desired``.

    A desired profile costs nothing when the station holds it already (same EVSE, same
    content as stored, K01.FR.49, or with ``compare="effect"`` the same limits from ``now``
    on; the id may differ if no other desired profile claims it; equal content is preferred),
    one SetChargingProfile otherwise (replacing by id when the id is installed); every
    installed profile in scope that no desired profile matches or replaces costs one
    ClearChargingProfile by id. Order: clears, then replacements, then new profiles, each
    by (EVSE, id): clears first free stack levels that the new profiles may take (K01.FR.52).

    With a :class:`~smartcharge.station.ChargingStation` and ``now``, the list is checked by
    applying it to a copy; if the station would reject a message, the list is re-ordered to
    clear every profile that changes before setting any; if it still would reject one,
    :class:`~smartcharge.errors.InvalidPayloadError` says which and why (the desired state
    is not one the station can hold).

    Parameters
    ----------
    current
        The station mirror, or its installed profiles per EVSE id (0 = station-wide) as
        reported by ReportChargingProfiles (profiles of other purposes are ignored).
    desired
        EVSE id -> the profiles the CSMS wants there.
    now
        The station's clock (UTC), to check the list on a station mirror.
    strategy
        ``"replace"``: ``desired`` is the whole managed state (profiles of the managed
        purposes not in it are cleared). ``"stack"``: ``desired`` is a layer; on each EVSE
        and purpose it has profiles for, installed profiles at or above its lowest stack level
        are reconciled, those below (the base) and other EVSEs/purposes are left alone.
    purposes
        The purposes the CSMS manages here (never ChargingStationExternalConstraints).
    context
        For a mapping ``current``: the station's EVSEs (default: AC three-phase EVSEs, the
        mapping's keys), used to compare profiles as the station stores them, and its
        running transactions (which anchor Relative TxProfiles for ``compare="effect"``).
    compare
        ``"effect"`` (the default when ``now`` is given): installed and desired profiles are
        equivalent when their static fields (purpose, stack level, transactionId, unit,
        schedule id, minChargingRate, salesTariff, customData; a single chargingSchedule)
        are equal and they set the same limit, numberPhases and phaseToUse at every instant
        from ``now`` on. The comparison window ``[now, T0 + L)`` is provably enough: ``T0``
        is the latest breakpoint of either profile (period starts, end of ``duration``,
        validFrom, validTo), ``L`` the longest recurrence (a day, a week, 1 s without);
        past ``T0`` both profiles repeat with period ``L`` (or are constant: an open-ended
        last period lasts for ever), so one ``L`` decides every later instant. Relative
        profiles are compared by effect only when both are TxProfiles of the transaction
        running on the EVSE (its start anchors them for their whole life); otherwise, and
        when the window would reach 2**31-1 s past a schedule's start or more than 20,000
        recurrences, only equal content counts (never a false "equal"). ``"content"`` (the
        default without ``now``): equal but for the id, the behaviour before ``compare``
        existed.

    Returns
    -------
    list of SetChargingProfileRequest | ClearChargingProfileRequest

    Raises
    ------
    InvalidPayloadError
        A malformed input, a desired profile of an unmanaged purpose, two desired profiles
        with one id, ``compare="effect"`` without ``now``, a desired id that belongs to a
        profile outside the scope (external constraints, or the base under a stack layer), or
        a desired state the station would reject (the path points at the desired profile:
        ``desired[evse][index]...``).
    """
    if strategy not in ("replace", "stack"):
        raise InvalidPayloadError(
            f"strategy must be 'replace' or 'stack', got {strategy!r}",
            path="strategy",
            rule="enum",
        )
    try:
        managed = frozenset(ChargingProfilePurpose(p) for p in purposes)
    except ValueError as exc:
        raise InvalidPayloadError(str(exc), path="purposes", rule="enum") from None
    if _EXT in managed:
        raise InvalidPayloadError(
            "ChargingStationExternalConstraints belong to the site's energy manager, not the"
            " CSMS",
            path="purposes",
            rule="K01.FR.22",
        )
    require_aware(now, "now")
    if compare is None:
        compare = "content" if now is None else "effect"
    if compare not in ("effect", "content"):
        raise InvalidPayloadError(
            f"compare must be 'effect' or 'content', got {compare!r}", path="compare", rule="enum"
        )
    if compare == "effect" and now is None:
        raise InvalidPayloadError(
            "compare='effect' needs now (the effect is compared from now on)",
            path="now",
            rule="required",
        )
    installed, ctx = _installed_of(current, context)
    want = _check_desired(desired, managed, ctx)
    t_now = None if compare == "content" or now is None else epoch_seconds(now)

    def same(e: int, q: ChargingProfile, stored: ChargingProfile) -> bool:
        """Installed ``q`` (on ``e``) serves as the desired ``stored``."""
        if q.model_copy(update={"id": stored.id}) == stored:
            return True
        if t_now is None:
            return False
        return _same_effect(q, stored, t_now, _anchor_of(e, q, stored, ctx))

    floors: dict[tuple[int, ChargingProfilePurpose], int] = {}
    for e, _, p in want:
        key = (e, p.charging_profile_purpose)
        floors[key] = min(floors.get(key, p.stack_level), p.stack_level)
    by_id: dict[int, tuple[int, ChargingProfile]] = {}
    scope: dict[int, tuple[int, ChargingProfile]] = {}
    for e in sorted(installed):
        for p in installed[e]:
            by_id[p.id] = (e, p)
            if _in_scope(strategy, managed, floors, e, p):
                scope[p.id] = (e, p)

    claimed = {p.id for _, p, _ in want}
    for k, (e, p, _) in enumerate(want):
        if p.id in by_id and p.id not in scope:
            i = sum(1 for w in want[:k] if w[0] == e)
            where, other = by_id[p.id]
            raise InvalidPayloadError(
                f"id {p.id} belongs to the installed {other.charging_profile_purpose.value}"
                f" (stack level {other.stack_level}) on EVSE {where}, outside what this"
                f" reconciliation manages; use another id",
                path=f"desired[{e}][{i}].id",
                rule="id-out-of-scope",
            )

    kept: set[int] = set()
    pending: list[tuple[int, ChargingProfile, ChargingProfile]] = []
    for e, p, stored in want:
        hit = scope.get(p.id)
        if hit is not None and hit[0] == e and same(e, hit[1], stored):
            kept.add(p.id)
        else:
            pending.append((e, p, stored))
    # an installed profile under another id: equal content first, then equal effect
    for effect in (False, True) if t_now is not None else (False,):
        unmatched: list[tuple[int, ChargingProfile, ChargingProfile]] = []
        for e, p, stored in pending:
            reuse = next(
                (
                    q.id
                    for q in installed.get(e, ())
                    if q.id in scope
                    and q.id not in claimed
                    and q.id not in kept
                    and (same(e, q, stored) if effect else q.same_content(stored))
                ),
                None,
            )
            if reuse is not None:
                kept.add(reuse)
            else:
                unmatched.append((e, p, stored))
        pending = unmatched
    sets = [(e, p) for e, p, _ in pending]
    replacing = {p.id for _, p in sets}
    clears = sorted(
        (e, q.id) for q_id, (e, q) in scope.items() if q_id not in kept and q_id not in replacing
    )
    replaces = sorted(((e, p) for e, p in sets if p.id in scope), key=lambda x: (x[0], x[1].id))
    news = sorted(((e, p) for e, p in sets if p.id not in scope), key=lambda x: (x[0], x[1].id))

    def build(
        clear_ids: Sequence[int], order: Sequence[tuple[int, ChargingProfile]]
    ) -> list[ReconcileMessage]:
        msgs: list[ReconcileMessage] = [
            ClearChargingProfileRequest(charging_profile_id=i) for i in clear_ids
        ]
        msgs.extend(SetChargingProfileRequest(evse_id=e, charging_profile=p) for e, p in order)
        return msgs

    first = build([i for _, i in clears], [*replaces, *news])
    if not isinstance(current, ChargingStation) or now is None:
        return first
    if _rejection(current, first, now) is None:
        return first
    # swaps of stack levels between profiles that change: clear them all, then set
    second_clears = sorted([*clears, *((scope[p.id][0], p.id) for _, p in replaces)])
    second = build([i for _, i in second_clears], sorted(sets, key=lambda x: (x[0], x[1].id)))
    bad = _rejection(current, second, now)
    if bad is not None:
        index, result = bad
        msg = second[index]
        assert isinstance(msg, SetChargingProfileRequest)  # clears are never rejected
        e, pid = msg.evse_id, msg.charging_profile.id
        k = next(k for k, p in enumerate(desired[e]) if p.id == pid)
        sub = f".{result.path}" if result.path else ""
        raise InvalidPayloadError(
            f"the station would reject profile {pid} on EVSE {e}: {_reason(result)}",
            path=f"desired[{e}][{k}]{sub}",
            rule=result.rule,
        )
    return second


def _rejection(
    station: ChargingStation, messages: Sequence[ReconcileMessage], now: datetime
) -> tuple[int, ValidationResult] | None:
    """The index and verdict of the first message the station would reject, or ``None``."""
    out = station.copy()
    for i, msg in enumerate(messages):
        if isinstance(msg, SetChargingProfileRequest):
            result = out.set_charging_profile(msg.evse_id, msg.charging_profile, now)
            if not result.accepted:
                return i, result
        else:
            out = apply(out, [msg], now)
    return None


def _reason(result: ValidationResult) -> str:
    """The station's message without the path and rule the error states on its own."""
    text = result.message
    if result.path and text.startswith(f"{result.path}: "):
        text = text[len(result.path) + 2 :]
    if result.rule and text.endswith(f" ({result.rule})"):
        text = text[: -len(result.rule) - 3]
    return text


def apply(
    station: ChargingStation,
    messages: Iterable[ReconcileMessage],
    now: datetime,
    *,
    strict: bool = True,
) -> ChargingStation:
    """Apply requests to a copy of ``station`` (as the station would) and return the copy.

    Parameters
    ----------
    station
        The station (left unchanged).
    messages
        SetChargingProfileRequest / ClearChargingProfileRequest objects, in order.
    now
        The station's clock (UTC).
    strict
        Raise when the station would reject a SetChargingProfile (else skip it, as the
        station does).

    Raises
    ------
    InvalidPayloadError
        With ``strict``, the first rejected message: its index in ``path``, the K01 rule in
        ``rule``; also for an object that is not one of the two requests.
    """
    out = station.copy()
    for i, msg in enumerate(messages):
        if isinstance(msg, SetChargingProfileRequest):
            result = out.set_charging_profile(msg.evse_id, msg.charging_profile, now)
            if strict and not result.accepted:
                sub = f".{result.path}" if result.path else ""
                raise InvalidPayloadError(
                    f"the station would reject profile {msg.charging_profile.id} on EVSE"
                    f" {msg.evse_id}: {_reason(result)}",
                    path=f"messages[{i}].chargingProfile{sub}",
                    rule=result.rule,
                )
        elif isinstance(msg, ClearChargingProfileRequest):
            crit = msg.charging_profile_criteria
            if msg.charging_profile_id is not None:
                out.clear_charging_profile(charging_profile_id=msg.charging_profile_id)
            elif crit is not None:
                out.clear_charging_profile(
                    evse_id=crit.evse_id,
                    purpose=crit.charging_profile_purpose,
                    stack_level=crit.stack_level,
                )
            else:
                out.clear_charging_profile()
        else:
            raise InvalidPayloadError(
                f"expected a SetChargingProfileRequest or ClearChargingProfileRequest, got"
                f" {type(msg).__name__}",
                path=f"messages[{i}]",
                rule="type",
            )
    return out


def payload_bytes(messages: Iterable[ReconcileMessage]) -> int:
    """Total size [bytes] of the messages' JSON payloads (compact UTF-8, as sent on the wire).

    >>> payload_bytes([ClearChargingProfileRequest(charging_profile_id=7)])
    23
    """
    return sum(
        len(json.dumps(m.to_json_dict(), separators=(",", ":")).encode("utf-8"))
        for m in messages
    )
