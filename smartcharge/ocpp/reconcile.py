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

from smartcharge.errors import InvalidPayloadError
from smartcharge.model import ChargingProfile, ChargingProfilePurpose
from smartcharge.ocpp.v201 import ClearChargingProfileRequest, SetChargingProfileRequest
from smartcharge.station import ChargingStation
from smartcharge.validation import EVSEInfo, StationContext, conform_profile

__all__ = [
    "MANAGED_PURPOSES",
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


def reconcile(
    current: ChargingStation | Mapping[int, Sequence[ChargingProfile]],
    desired: Mapping[int, Sequence[ChargingProfile]],
    *,
    now: datetime | None = None,
    strategy: Strategy = "replace",
    purposes: Iterable[ChargingProfilePurpose | str] = MANAGED_PURPOSES,
    context: StationContext | None = None,
) -> list[ReconcileMessage]:
    """The minimal ordered requests that take ``current`` to ``desired``.

    A desired profile costs nothing when the station holds it already (same EVSE, same
    content as stored, K01.FR.49; the id may differ if no other desired profile claims it),
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
        mapping's keys), used to compare profiles as the station stores them.

    Returns
    -------
    list of SetChargingProfileRequest | ClearChargingProfileRequest

    Raises
    ------
    InvalidPayloadError
        A malformed input, a desired profile of an unmanaged purpose, two desired profiles
        with one id, a desired id that belongs to a profile outside the scope (external
        constraints, or the base under a stack layer), or a list the station would reject.
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
    installed, ctx = _installed_of(current, context)
    want = _check_desired(desired, managed, ctx)

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
        if hit is not None and hit == (e, stored):
            kept.add(p.id)
        else:
            pending.append((e, p, stored))
    sets: list[tuple[int, ChargingProfile]] = []
    for e, p, stored in pending:
        reuse = next(
            (
                q.id
                for q in installed.get(e, ())
                if q.id in scope
                and q.id not in claimed
                and q.id not in kept
                and q.model_copy(update={"id": stored.id}) == stored
            ),
            None,
        )
        if reuse is not None:
            kept.add(reuse)
        else:
            sets.append((e, p))
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
        raise bad
    return second


def _rejection(
    station: ChargingStation, messages: Sequence[ReconcileMessage], now: datetime
) -> InvalidPayloadError | None:
    try:
        apply(station, messages, now)
    except InvalidPayloadError as exc:
        return exc
    return None


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
                    f" {msg.evse_id}: {result.message}",
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
