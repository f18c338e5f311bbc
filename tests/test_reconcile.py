"""reconcile(): minimal SetChargingProfile/ClearChargingProfile lists, idempotent by
construction; stable ids; replace vs stack; apply(); properties on generated stations."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp_schemas import assert_valid

from smartcharge.errors import InvalidPayloadError
from smartcharge.model import ChargingProfile, ChargingProfileKind, ChargingProfilePurpose
from smartcharge.ocpp.reconcile import (
    MANAGED_PURPOSES,
    ReconcileMessage,
    apply,
    payload_bytes,
    reconcile,
    restamp,
    stable_profile_id,
)
from smartcharge.ocpp.v201 import ClearChargingProfileRequest, SetChargingProfileRequest
from smartcharge.station import ChargingStation
from smartcharge.testing import charging_profiles
from smartcharge.validation import EVSEInfo

NOW = datetime(2025, 1, 1, 8, tzinfo=timezone.utc)
P = ChargingProfilePurpose
EXT_ID = 1000


def prof(pid: int, purpose: str = "TxDefaultProfile", stack: int = 0, amps: float = 16.0,
         **extra: Any) -> ChargingProfile:
    d: dict[str, Any] = {
        "id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [{
            "id": 1, "chargingRateUnit": "A", "startSchedule": "2025-01-01T08:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps},
                                       {"startPeriod": 1800, "limit": amps / 2}]}],
    }
    d.update(extra)
    return ChargingProfile.model_validate(d)


def dump(msgs: list[ReconcileMessage]) -> bytes:
    return json.dumps([[m.action, m.to_json_dict()] for m in msgs]).encode()


def composites(station: ChargingStation, start: datetime = NOW - timedelta(hours=1)
               ) -> list[Any]:
    out = []
    for e in (0, *station.evse_ids):
        for unit in ("A", "W"):
            out.append(station.composite_schedule(e, start, 3 * 86_400, unit))
    return out


def managed(station: ChargingStation) -> dict[int, list[ChargingProfile]]:
    return {e: [p for p in ps if p.charging_profile_purpose in MANAGED_PURPOSES]
            for e, ps in station.installed.items()}


# ------------------------------------------------------------------------ generated stations


def base_station(n: int, with_tx: tuple[bool, ...], ext: bool) -> ChargingStation:
    s = ChargingStation({e: EVSEInfo("AC", 3 if e % 2 else 1) for e in range(1, n + 1)})
    for e in range(1, n + 1):
        if with_tx[e - 1]:
            s.start_transaction(e, f"tx-{e}", NOW - timedelta(minutes=30))
    if ext:
        r = s.set_external_constraints(0, prof(EXT_ID, "ChargingStationExternalConstraints",
                                               amps=40.0), NOW)
        assert r.accepted
    return s


def install_valid(s: ChargingStation, items: list[tuple[int, ChargingProfile]]
                  ) -> dict[int, list[ChargingProfile]]:
    """Install in order, keep what the station accepts (one profile per id)."""
    kept: dict[int, list[ChargingProfile]] = {}
    seen: set[int] = set()
    for e, p in items:
        if p.id in seen:
            continue
        if s.set_charging_profile(e, p, NOW).accepted:
            seen.add(p.id)
            kept.setdefault(e, []).append(p)
    return kept


@st.composite
def scenario(draw: st.DrawFn) -> tuple[ChargingStation, dict[int, list[ChargingProfile]],
                                       ChargingStation]:
    """(current station, desired profiles, a fresh station holding exactly the desired)."""
    n = draw(st.integers(1, 3))
    with_tx = tuple(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    ext = draw(st.booleans())

    def items(k: int) -> list[tuple[int, ChargingProfile]]:
        out = []
        for _ in range(k):
            e = draw(st.integers(0, n))
            p = draw(charging_profiles(
                purposes=tuple(MANAGED_PURPOSES), ids=st.integers(1, 30),
                stack_levels=st.integers(0, 3), transaction_ids=(f"tx-{e}",), max_periods=3))
            out.append((e, p))
        return out

    current = base_station(n, with_tx, ext)
    installed = install_valid(current, items(draw(st.integers(0, 6))))
    # desired: some installed ones (maybe with a new id or a new limit), plus new ones
    wish: list[tuple[int, ChargingProfile]] = []
    for e, ps in installed.items():
        for p in ps:
            action = draw(st.sampled_from(("keep", "drop", "reid", "relimit")))
            if action == "keep":
                wish.append((e, p))
            elif action == "reid":
                wish.append((e, p.model_copy(update={"id": p.id + 100})))
            elif action == "relimit":
                s0 = p.charging_schedule[0]
                per = s0.charging_schedule_period[0].model_copy(update={"limit": 3.3})
                s0 = s0.model_copy(update={"charging_schedule_period": (
                    per, *s0.charging_schedule_period[1:])})
                wish.append((e, p.model_copy(update={"charging_schedule": (
                    s0, *p.charging_schedule[1:])})))
    wish.extend(items(draw(st.integers(0, 4))))
    wish = draw(st.permutations(wish))
    reference = base_station(n, with_tx, ext)
    desired = install_valid(reference, wish)
    return current, desired, reference


@given(scenario())
def test_property_reconcile_reaches_desired_and_is_idempotent(
    case: tuple[ChargingStation, dict[int, list[ChargingProfile]], ChargingStation],
) -> None:
    """compare="content": exactly the desired profiles, composites before now included."""
    current, desired, reference = case
    msgs = reconcile(current, desired, now=NOW, compare="content")
    after = apply(current, msgs, NOW)
    # exactly the desired composite schedules, every EVSE and the station total, A and W
    assert composites(after) == composites(reference)
    # the managed profiles are the desired ones (ids aside), external constraints untouched
    def contents(m: dict[int, list[ChargingProfile]]) -> list[tuple[int, str]]:
        return sorted((e, json.dumps({**p.to_json_dict(), "id": 0}, sort_keys=True))
                      for e, ps in m.items() for p in ps)
    assert contents(managed(after)) == contents(managed(reference))
    assert after.get_charging_profiles(purpose="ChargingStationExternalConstraints") == \
        current.get_charging_profiles(purpose="ChargingStationExternalConstraints")
    # nothing re-sent when nothing changed; twice = once
    assert reconcile(after, desired, now=NOW, compare="content") == []
    assert reconcile(after, desired, now=NOW) == []  # equal content: equal effect
    assert apply(after, msgs, NOW) == after
    # deterministic, byte for byte, whatever the order of the mapping
    again = reconcile(current.copy(), dict(reversed(list(desired.items()))), now=NOW,
                      compare="content")
    assert dump(again) == dump(msgs)
    # schema-valid, never clears external constraints, at most one message per profile
    for m in msgs:
        assert_valid("v201", m.action + "Request", m.to_json_dict())
        if isinstance(m, ClearChargingProfileRequest):
            assert m.charging_profile_id != EXT_ID
    n_installed = sum(len(v) for v in managed(current).values())
    n_desired = sum(len(v) for v in desired.values())
    assert len(msgs) <= n_installed + n_desired
    # no message for a profile already installed as it is
    have = {(e, p) for e, ps in current.installed.items() for p in ps}
    for m in msgs:
        if isinstance(m, SetChargingProfileRequest):
            assert (m.evse_id, m.charging_profile) not in have


@given(scenario())
def test_property_equal_but_for_id_costs_nothing(
    case: tuple[ChargingStation, dict[int, list[ChargingProfile]], ChargingStation],
) -> None:
    current, _, _ = case
    shifted = {e: [p.model_copy(update={"id": p.id + 500}) for p in ps]
               for e, ps in managed(current).items()}
    assert reconcile(current, shifted, now=NOW) == []
    assert reconcile(current, managed(current), now=NOW) == []


@given(scenario())
def test_property_reported_profiles_give_the_same_list(
    case: tuple[ChargingStation, dict[int, list[ChargingProfile]], ChargingStation],
) -> None:
    current, desired, _ = case
    ctx = current.context()
    from_report = reconcile(dict(current.installed), desired, context=ctx)
    assert dump(from_report) == dump(reconcile(current, desired))


# ------------------------------------------------------------------------ examples


def test_changed_profile_is_replaced_by_id_without_clear() -> None:
    s = ChargingStation(2)
    s = apply(s, reconcile(s, {1: [prof(1)], 2: [prof(2)]}, now=NOW), NOW)
    msgs = reconcile(s, {1: [prof(1, amps=20.0)], 2: [prof(2)]}, now=NOW)
    assert [type(m) for m in msgs] == [SetChargingProfileRequest]
    assert msgs[0].to_json_dict()["chargingProfile"]["id"] == 1


def test_order_clears_before_sets_and_unwanted_are_cleared() -> None:
    s = ChargingStation(2)
    s = apply(s, reconcile(s, {1: [prof(1)], 2: [prof(2)]}, now=NOW), NOW)
    # a new id at the stack level profile 1 holds: the clear must come first (K01.FR.52)
    msgs = reconcile(s, {1: [prof(3, amps=10.0)]}, now=NOW)
    assert [m.to_json_dict() for m in msgs][:2] == [{"chargingProfileId": 1},
                                                    {"chargingProfileId": 2}]
    after = apply(s, msgs, NOW)
    assert [(e, p.id) for e, p in after.get_charging_profiles()] == [(1, 3)]


def test_swapped_stack_levels_fall_back_to_clear_then_set() -> None:
    s = ChargingStation(1)
    s = apply(s, reconcile(s, {1: [prof(1, stack=0), prof(2, stack=1, amps=8.0)]}, now=NOW),
              NOW)
    want = {1: [prof(1, stack=1), prof(2, stack=0, amps=8.0)]}
    # without the mirror, replacing 1 first would clash with 2 at stack level 1
    blind = reconcile(dict(s.installed), want)
    with pytest.raises(InvalidPayloadError) as err:
        apply(s, blind, NOW)
    assert err.value.path is not None and err.value.path.startswith("messages[0]")
    msgs = reconcile(s, want, now=NOW)
    assert [m.action for m in msgs] == ["ClearChargingProfile"] * 2 + ["SetChargingProfile"] * 2
    after = apply(s, msgs, NOW)
    assert reconcile(after, want, now=NOW) == []


def test_infeasible_desired_state_is_reported() -> None:
    s = ChargingStation(1)
    with pytest.raises(InvalidPayloadError) as err:
        reconcile(s, {1: [prof(1), prof(2)]}, now=NOW)  # same purpose and stack level
    assert err.value.rule is not None and err.value.rule.startswith("K01")
    with pytest.raises(InvalidPayloadError, match="transaction"):
        reconcile(s, {1: [prof(3, "TxProfile", transactionId="nope")]}, now=NOW)


def test_external_constraints_are_never_touched() -> None:
    s = ChargingStation(1)
    s.set_external_constraints(0, prof(7, "ChargingStationExternalConstraints"), NOW)
    assert reconcile(s, {}, now=NOW) == []
    with pytest.raises(InvalidPayloadError) as err:
        reconcile(s, {0: [prof(8, "ChargingStationExternalConstraints")]})
    assert err.value.rule == "managed-purpose"
    assert err.value.path == "desired[0][0].chargingProfilePurpose"
    with pytest.raises(InvalidPayloadError) as err:
        reconcile(s, {0: [prof(9, "ChargingStationMaxProfile")], 1: [prof(8), prof(7, stack=1)]})
    assert (err.value.rule, err.value.path) == ("id-out-of-scope", "desired[1][1].id")
    with pytest.raises(InvalidPayloadError, match=r"energy manager"):
        reconcile(s, {}, purposes=["ChargingStationExternalConstraints"])


def test_purposes_limit_the_scope() -> None:
    s = ChargingStation(1)
    s = apply(s, [SetChargingProfileRequest(evse_id=0, charging_profile=prof(
        1, "ChargingStationMaxProfile", amps=32.0))], NOW)
    assert reconcile(s, {}, purposes=["TxDefaultProfile"]) == []
    assert len(reconcile(s, {})) == 1


@pytest.mark.parametrize(
    ("args", "kwargs", "path", "rule"),
    [
        (({1: [prof(1), prof(1, stack=1)]},), {}, "desired[1][1].id", "unique-id"),
        (({-1: [prof(1)]},), {}, "desired[-1]", "evseId"),
        (({1: ["x"]},), {}, "desired[1][0]", "type"),
        (({},), {"strategy": "swap"}, "strategy", "enum"),
        (({},), {"purposes": ["Nope"]}, "purposes", "enum"),
    ],
)
def test_bad_input_names_the_field(args: tuple[Any, ...], kwargs: dict[str, Any], path: str,
                                   rule: str) -> None:
    with pytest.raises(InvalidPayloadError) as err:
        reconcile(ChargingStation(1), *args, **kwargs)
    assert (err.value.path, err.value.rule) == (path, rule)


def test_bad_current_names_the_field() -> None:
    with pytest.raises(InvalidPayloadError) as err:
        reconcile([prof(1)], {})  # type: ignore[arg-type]
    assert err.value.path == "current"
    with pytest.raises(InvalidPayloadError) as err:
        reconcile({1: [object()]}, {})  # type: ignore[list-item]
    assert err.value.path == "current[1][0]"


def test_apply_strict_and_lenient() -> None:
    s = ChargingStation(1)
    bad = [SetChargingProfileRequest(evse_id=5, charging_profile=prof(1))]
    with pytest.raises(InvalidPayloadError) as err:
        apply(s, bad, NOW)
    assert err.value.path is not None and err.value.path.startswith("messages[0]")
    assert apply(s, bad, NOW, strict=False) == s
    with pytest.raises(InvalidPayloadError) as err:
        apply(s, ["Set"], NOW)  # type: ignore[list-item]
    assert err.value.path == "messages[0]"
    # criteria clears are applied as the station would
    s2 = apply(s, [SetChargingProfileRequest(evse_id=1, charging_profile=prof(1))], NOW)
    crit = ClearChargingProfileRequest.model_validate(
        {"chargingProfileCriteria": {"chargingProfilePurpose": "TxDefaultProfile"}})
    assert apply(s2, [crit], NOW) == s
    assert apply(s2, [ClearChargingProfileRequest()], NOW) == s
    assert s2 != s  # apply works on a copy


# ------------------------------------------------------------------------ ids and strategies


def test_stable_ids_are_distinct_and_bounded() -> None:
    ids = {stable_profile_id(e, p, slot, layer=layer)
           for e in (0, 1, 99_999) for p in MANAGED_PURPOSES for slot in (0, 99)
           for layer in (0, 9)}
    assert len(ids) == 3 * 3 * 2 * 2
    assert max(ids) < 2**31 - 1
    for kwargs in ({"evse_id": -1}, {"evse_id": 100_000}, {"slot": 100}, {"layer": 10},
                   {"evse_id": True}):
        args: dict[str, Any] = {"evse_id": 1, "purpose": "TxProfile", **kwargs}
        with pytest.raises(InvalidPayloadError) as err:
            stable_profile_id(**args)
        assert err.value.rule == "range"
    with pytest.raises(InvalidPayloadError) as err:
        stable_profile_id(1, "ChargingStationExternalConstraints")
    assert err.value.rule == "managed-purpose"


def test_restamped_replans_replace_in_place() -> None:
    s = ChargingStation(3)
    for e in (1, 2, 3):
        s.start_transaction(e, f"tx-{e}", NOW)
    sent = []
    for k, amps in enumerate((16.0, 16.0, 12.0, 12.0, 20.0)):
        # EVSE 3 stays at 10 A except in the third plan (12 A)
        plan = {e: [prof(99, "TxProfile", amps=amps if e != 3 or k == 2 else 10.0,
                         transactionId=f"tx-{e}")] for e in (1, 2, 3)}
        want = restamp(plan)
        msgs = reconcile(s, want, now=NOW)
        assert all(isinstance(m, SetChargingProfileRequest) for m in msgs)  # never a clear
        s = apply(s, msgs, NOW)
        sent.append(len(msgs))
    assert sent == [3, 0, 3, 1, 2]
    assert sorted(p.id for _, p in s.get_charging_profiles()) == [
        stable_profile_id(e, "TxProfile") for e in (1, 2, 3)]


def test_stack_layer_keeps_the_base() -> None:
    s = ChargingStation(1)
    base = restamp({1: [prof(0, amps=32.0)]})
    s = apply(s, reconcile(s, base, now=NOW), NOW)
    cap = restamp({1: [prof(0, amps=10.0)]}, layer=1, stack_level=1)
    msgs = reconcile(s, cap, now=NOW, strategy="stack")
    assert [m.action for m in msgs] == ["SetChargingProfile"]
    capped = apply(s, msgs, NOW)
    c = capped.composite_schedule(1, NOW, 600, "A")
    assert c.charging_schedule_period[0].limit == 10.0
    assert len(capped.get_charging_profiles()) == 2
    # a new cap replaces the old one in place; the base is not in the stack's scope
    cap2 = restamp({1: [prof(0, amps=8.0)]}, layer=1, stack_level=1)
    msgs2 = reconcile(capped, cap2, now=NOW, strategy="stack")
    assert [m.to_json_dict()["chargingProfile"]["id"] for m in msgs2] == [
        stable_profile_id(1, "TxDefaultProfile", layer=1)]
    # lifting the cap: reconcile the base with "replace"
    lifted = apply(capped, reconcile(capped, base, now=NOW), NOW)
    assert lifted == s
    # "replace" with the cap alone would clear the base; "stack" would not
    assert [m.action for m in reconcile(capped, cap, now=NOW)] == ["ClearChargingProfile"]
    assert reconcile(capped, cap, now=NOW, strategy="stack") == []
    with pytest.raises(InvalidPayloadError) as err:  # the cap may not reuse the base's id
        reconcile(capped, {1: [prof(base[1][0].id, stack=1)]}, strategy="stack")
    assert err.value.rule == "id-out-of-scope"


def test_payload_bytes_counts_compact_json() -> None:
    msgs: list[ReconcileMessage] = [SetChargingProfileRequest(evse_id=1,
                                                              charging_profile=prof(1))]
    text = json.dumps(msgs[0].to_json_dict(), separators=(",", ":"))
    assert payload_bytes(msgs) == len(text.encode())
    assert payload_bytes([]) == 0


# ------------------------------------------------------------------------ compare="effect"


def same_from_now(p: ChargingProfile, draw: Callable[[st.SearchStrategy[int]], int]
                  ) -> ChargingProfile | None:
    """A profile with ``p``'s effect from NOW on but other content (None if none is known):
    a Recurring one shifted by whole recurrences, an Absolute one restarted at the period
    that runs at NOW (its earlier periods dropped, its duration shortened to match)."""
    s = p.charging_schedule[0]
    if s.start_schedule is None:
        return None
    if p.charging_profile_kind.value == "Recurring":
        days = 1 if p.recurrency_kind is not None and p.recurrency_kind.value == "Daily" else 7
        shift = timedelta(days=days * draw(st.sampled_from((-2, -1, 1, 3))))
        return p.model_copy(update={"charging_schedule": (
            s.model_copy(update={"start_schedule": s.start_schedule + shift}),
            *p.charging_schedule[1:])})
    if p.charging_profile_kind.value != "Absolute":
        return None
    ps = s.charging_schedule_period
    begun = [i for i, q in enumerate(ps) if s.start_schedule + timedelta(
        seconds=q.start_period) <= NOW]
    if not begun or begun[-1] == 0:
        return None
    k = begun[-1]
    off = ps[k].start_period
    if s.duration is not None and s.duration <= off:
        return None
    s2 = s.model_copy(update={
        "start_schedule": s.start_schedule + timedelta(seconds=off),
        "duration": None if s.duration is None else s.duration - off,
        "charging_schedule_period": tuple(
            q.model_copy(update={"start_period": q.start_period - off}) for q in ps[k:])})
    return p.model_copy(update={"charging_schedule": (s2, *p.charging_schedule[1:])})


@st.composite
def effect_scenario(draw: st.DrawFn) -> tuple[ChargingStation, dict[int, list[ChargingProfile]],
                                              ChargingStation, int]:
    """scenario(), where some desired profiles are installed ones with the same effect from
    NOW on but another content (and maybe another id); also how many such."""
    current, desired, _ = draw(scenario())
    n = max((e for e in current.evse_ids), default=0)
    wish: list[tuple[int, ChargingProfile]] = []
    reshaped = 0
    for e, ps in desired.items():
        for p in ps:
            q = same_from_now(p, draw) if draw(st.booleans()) else None
            if q is not None and q != p:
                reshaped += 1
                p = q.model_copy(update={"id": q.id + 200}) if draw(st.booleans()) else q
            wish.append((e, p))
    if draw(st.booleans()):  # a plan-like profile that runs at NOW, maybe restarted later
        e = draw(st.integers(1, n))
        step = draw(st.sampled_from((300, 900)))
        lims = draw(st.lists(st.sampled_from((0.0, 6.0, 16.0)), min_size=2, max_size=6))
        running = draw(st.integers(0, len(lims) - 1))
        start = NOW - timedelta(seconds=running * step + draw(st.integers(0, step - 1)))
        plan = stepped(40, start, lims, step, purpose="TxDefaultProfile", stackLevel=5,
                       with_duration=draw(st.booleans()))
        assert current.set_charging_profile(e, plan, NOW).accepted
        action = draw(st.sampled_from(("keep", "restart", "drop")))
        q = same_from_now(plan, draw) if action == "restart" else None
        if q is not None:
            reshaped += 1
            wish.append((e, q.model_copy(update={"id": 41}) if draw(st.booleans()) else q))
        elif action != "drop":
            wish.append((e, plan))
    with_tx = tuple(e in current.transactions for e in range(1, n + 1))
    ext = bool(current.get_charging_profiles(purpose="ChargingStationExternalConstraints"))
    reference = base_station(n, with_tx, ext)
    return current, install_valid(reference, wish), reference, reshaped


@given(effect_scenario())
def test_property_effect_reaches_desired_from_now_and_is_idempotent(
    case: tuple[ChargingStation, dict[int, list[ChargingProfile]], ChargingStation, int],
) -> None:
    current, desired, reference, _ = case
    msgs = reconcile(current, desired, now=NOW)
    assert dump(msgs) == dump(reconcile(current, desired, now=NOW, compare="effect"))
    after = apply(current, msgs, NOW)
    # the composites from now on are the desired ones (before now they may differ: an
    # installed profile kept for its equal future still has its own past)
    assert composites(after, NOW) == composites(reference, NOW)
    assert reconcile(after, desired, now=NOW) == []
    assert apply(after, msgs, NOW) == after
    again = reconcile(current.copy(), dict(reversed(list(desired.items()))), now=NOW)
    assert dump(again) == dump(msgs)
    for m in msgs:
        assert_valid("v201", m.action + "Request", m.to_json_dict())
        if isinstance(m, ClearChargingProfileRequest):
            assert m.charging_profile_id != EXT_ID
    # never more messages than comparing content
    assert len(msgs) <= len(reconcile(current, desired, now=NOW, compare="content"))


@given(scenario(), st.data())
def test_property_same_effect_costs_nothing(
    case: tuple[ChargingStation, dict[int, list[ChargingProfile]], ChargingStation],
    data: st.DataObject,
) -> None:
    """Installed profiles wanted again with the same effect from NOW on (other content,
    same or other id): nothing to send; with compare="content", one Set per such profile."""
    current, _, _ = case
    same: dict[int, list[ChargingProfile]] = {}
    changed = 0
    for e, ps in managed(current).items():
        for p in ps:
            q = same_from_now(p, data.draw)
            if q is not None and q != p:
                changed += 1
                if data.draw(st.booleans()):
                    q = q.model_copy(update={"id": q.id + 500})
            same.setdefault(e, []).append(q or p)
    assert reconcile(current, same, now=NOW) == []
    content = reconcile(current, same, now=NOW, compare="content")
    assert sum(isinstance(m, SetChargingProfileRequest) for m in content) == changed


def stepped(pid: int, start: datetime, limits: list[float], step: int, *,
            purpose: str = "TxProfile", with_duration: bool = True, kind: str = "Absolute",
            **extra: Any) -> ChargingProfile:
    """A plan-like profile: ``limits[i]`` from ``start + i * step``."""
    sched: dict[str, Any] = {
        "id": 1, "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": i * step, "limit": v}
                                   for i, v in enumerate(limits)]}
    if kind != "Relative":
        sched["startSchedule"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    if with_duration:
        sched["duration"] = len(limits) * step
    d: dict[str, Any] = {"id": pid, "stackLevel": 1, "chargingProfilePurpose": purpose,
                         "chargingProfileKind": kind, "chargingSchedule": [sched]}
    if purpose == "TxProfile":
        d["transactionId"] = "tx-1"
    d.update(extra)
    return ChargingProfile.model_validate(d)


def tx_station() -> ChargingStation:
    s = ChargingStation(2)
    s.start_transaction(1, "tx-1", NOW - timedelta(hours=3))
    return s


@given(
    step=st.sampled_from((60, 300, 900)),
    limits=st.lists(st.sampled_from((0.0, 6.0, 8.5, 16.0)), min_size=2, max_size=12),
    data=st.data(),
)
def test_property_shifted_by_whole_periods_costs_nothing(
    step: int, limits: list[float], data: st.DataObject
) -> None:
    n = len(limits)
    running = data.draw(st.integers(0, n - 1), label="period running at NOW")
    into = data.draw(st.integers(0, step - 1), label="seconds into it")
    start = NOW - timedelta(seconds=running * step + into)
    with_duration = data.draw(st.booleans())
    installed = stepped(7, start, limits, step, with_duration=with_duration)
    s = apply(tx_station(), [SetChargingProfileRequest(evse_id=1, charging_profile=installed)],
              NOW)
    j = data.draw(st.integers(1, running)) if running else 0  # whole periods shifted
    pid = data.draw(st.sampled_from((7, 8)), label="desired id")
    later = stepped(pid, start + timedelta(seconds=j * step), limits[j:], step,
                    with_duration=with_duration)
    assert reconcile(s, {1: [later]}, now=NOW) == []
    # comparing content: a Set when shifted (and a Clear of the old id under a new one)
    assert len(reconcile(s, {1: [later]}, now=NOW, compare="content")) == (
        0 if j == 0 else 1 if pid == 7 else 2)
    # a limit that still matters from NOW on changes: one Set, replacing in place
    i = data.draw(st.integers(running, n - 1), label="changed period")
    bumped = limits[j:]
    bumped[i - j] += 1.0
    changed = stepped(7, start + timedelta(seconds=j * step), bumped, step,
                      with_duration=with_duration)
    msgs = reconcile(s, {1: [changed]}, now=NOW)
    assert [(m.action, m.to_json_dict()["chargingProfile"]["id"]) for m in msgs] == [
        ("SetChargingProfile", 7)]
    ref = apply(tx_station(), [SetChargingProfileRequest(evse_id=1, charging_profile=changed)],
                NOW)
    assert composites(apply(s, msgs, NOW), NOW) == composites(ref, NOW)
    # a limit that changes only before NOW costs nothing
    if running:
        past = list(limits)
        past[data.draw(st.integers(0, running - 1))] += 1.0
        assert reconcile(s, {1: [stepped(7, start, past, step,
                                         with_duration=with_duration)]}, now=NOW) == []
    # the same limits, but the last one lasts for ever instead of ending (or the reverse):
    # "no limit" after the end is not a limit of 0 A, a message
    other_end = stepped(7, start, limits, step, with_duration=not with_duration)
    assert len(reconcile(s, {1: [other_end]}, now=NOW)) == 1


def test_recurring_shifted_by_whole_days_costs_nothing() -> None:
    daily: dict[str, Any] = dict(purpose="TxDefaultProfile", kind="Recurring",
                                 recurrencyKind="Daily",
                 with_duration=False)
    base = stepped(5, NOW - timedelta(days=3, hours=2), [16.0, 8.0, 10.0], 3600, **daily)
    s = apply(ChargingStation(1), [SetChargingProfileRequest(evse_id=1, charging_profile=base)],
              NOW)
    for days in (-20, -1, 1, 30):  # also a startSchedule in the future (EVerest's rule)
        shifted = stepped(5, NOW - timedelta(days=3 - days, hours=2), [16.0, 8.0, 10.0], 3600,
                          **daily)
        assert reconcile(s, {1: [shifted]}, now=NOW) == []
        assert len(reconcile(s, {1: [shifted]}, now=NOW, compare="content")) == 1
    hour = stepped(5, NOW - timedelta(days=3, hours=1), [16.0, 8.0, 10.0], 3600, **daily)
    assert len(reconcile(s, {1: [hour]}, now=NOW)) == 1
    weekly = stepped(5, NOW - timedelta(days=3, hours=2), [16.0, 8.0, 10.0], 3600,
                     purpose="TxDefaultProfile", kind="Recurring", recurrencyKind="Weekly",
                     with_duration=False)
    assert len(reconcile(s, {1: [weekly]}, now=NOW)) == 1  # the limit of 10 A lasts a week
    # the same daily effect written as a weekly profile of seven days
    week = stepped(5, NOW - timedelta(days=3, hours=2), [16.0, 8.0, 10.0], 3600,
                   purpose="TxDefaultProfile", kind="Recurring", recurrencyKind="Weekly",
                   with_duration=False)
    periods = [{"startPeriod": d * 86_400 + h * 3600, "limit": v}
               for d in range(7) for h, v in ((0, 16.0), (1, 8.0), (2, 10.0))]
    s0 = week.charging_schedule[0].model_validate(
        {**week.charging_schedule[0].to_json_dict(), "chargingSchedulePeriod": periods})
    week = week.model_copy(update={"charging_schedule": (s0,)})
    assert reconcile(s, {1: [week]}, now=NOW) == []


def test_validity_window_clips_the_effect() -> None:
    def win(vf: timedelta, vt: timedelta) -> ChargingProfile:
        return stepped(3, NOW - timedelta(hours=1), [16.0, 8.0], 1800, with_duration=False,
                       validFrom=(NOW + vf).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       validTo=(NOW + vt).strftime("%Y-%m-%dT%H:%M:%SZ"))
    s = apply(tx_station(), [SetChargingProfileRequest(
        evse_id=1, charging_profile=win(timedelta(hours=-2), timedelta(hours=1)))], NOW)
    # validFrom differs only before NOW: equal; validTo differs: a message
    assert reconcile(s, {1: [win(timedelta(hours=-1), timedelta(hours=1))]}, now=NOW) == []
    assert len(reconcile(s, {1: [win(timedelta(hours=-2), timedelta(hours=2))]},
                         now=NOW)) == 1
    assert len(reconcile(s, {1: [win(timedelta(minutes=5), timedelta(hours=1))]},
                         now=NOW)) == 1
    # equal to a profile without validity whose schedule ends at validTo
    ends = stepped(3, NOW - timedelta(minutes=30), [8.0, 8.0, 8.0], 1800)
    assert reconcile(s, {1: [ends]}, now=NOW) == []


def test_open_ended_last_period_is_compared_for_ever() -> None:
    s = apply(tx_station(), [SetChargingProfileRequest(evse_id=1, charging_profile=stepped(
        4, NOW - timedelta(hours=1), [16.0, 8.0], 1800, with_duration=False))], NOW)
    tail = stepped(4, NOW - timedelta(minutes=30), [8.0], 1800, with_duration=False)
    assert reconcile(s, {1: [tail]}, now=NOW) == []
    for other in (stepped(4, NOW - timedelta(minutes=30), [8.0], 1800),  # ends after 30 min
                  stepped(4, NOW - timedelta(minutes=30), [8.0, 8.0, 7.9], 86_400,
                          with_duration=False)):  # changes in a day
        assert len(reconcile(s, {1: [other]}, now=NOW)) == 1


def test_static_fields_must_match() -> None:
    s = apply(tx_station(), [SetChargingProfileRequest(evse_id=1, charging_profile=stepped(
        4, NOW - timedelta(hours=1), [16.0, 8.0], 1800, with_duration=False))], NOW)
    tail = stepped(4, NOW - timedelta(minutes=30), [8.0], 1800, with_duration=False)
    s0 = tail.charging_schedule[0]
    for variant in (
        tail.model_copy(update={"stack_level": 2}),
        tail.model_copy(update={"charging_schedule": (s0.model_copy(update={"id": 2}),)}),
        tail.model_copy(update={"charging_schedule": (s0.model_copy(
            update={"min_charging_rate": 6.0}),)}),
        tail.model_copy(update={"charging_schedule": (s0.model_copy(update={
            "charging_schedule_period": (s0.charging_schedule_period[0].model_copy(
                update={"number_phases": 1}),)}),)}),
    ):
        assert len(reconcile(s, {1: [variant]}, now=NOW)) == 1
    # the same effect on another EVSE is another profile (the Set moves it there by id)
    moved = tail.model_copy(update={"transaction_id": None,
                                    "charging_profile_purpose": P.TxDefaultProfile})
    msgs = reconcile(s, {2: [moved]}, now=NOW)
    assert [(m.action, m.to_json_dict()["evseId"]) for m in msgs] == [("SetChargingProfile", 2)]
    assert [(e, p.id) for e, p in apply(s, msgs, NOW).get_charging_profiles()] == [(2, 4)]


def test_relative_profiles_compare_by_effect_only_when_anchored() -> None:
    s = tx_station()  # tx-1 started 3 h before NOW on EVSE 1
    rel = stepped(6, NOW, [16.0, 8.0, 10.0], 3 * 3600 - 600, kind="Relative",
                  with_duration=False)
    s = apply(s, [SetChargingProfileRequest(evse_id=1, charging_profile=rel)], NOW)
    # anchored at the transaction's start: the Absolute profile of its future is equal
    absolute = stepped(6, NOW - timedelta(minutes=10), [8.0, 10.0], 3 * 3600 - 600,
                       with_duration=False)
    assert reconcile(s, {1: [absolute]}, now=NOW) == []
    assert len(reconcile(s, {1: [absolute.model_copy(update={"charging_schedule": (
        absolute.charging_schedule[0].model_copy(update={"start_schedule": NOW}),)})]},
        now=NOW)) == 1
    # a TxDefaultProfile re-anchors at every transaction: only its content counts
    d = stepped(9, NOW, [16.0, 8.0], 3 * 3600, kind="Relative", purpose="TxDefaultProfile",
                with_duration=False, stackLevel=0)
    s = apply(s, [SetChargingProfileRequest(evse_id=1, charging_profile=d)], NOW)
    d8 = stepped(9, NOW, [8.0], 3 * 3600, kind="Relative", purpose="TxDefaultProfile",
                 with_duration=False, stackLevel=0)
    got = reconcile(s, {1: [absolute, d8]}, now=NOW)
    assert [m.to_json_dict()["chargingProfile"]["id"] for m in got] == [9]
    # without a mirror the transaction is unknown: the Relative TxProfile counts by content
    assert len(reconcile(dict(s.installed), {1: [absolute, d]}, context=s.context().__class__(
        evses=s.context().evses), now=NOW)) == 1


def test_compare_argument_is_checked() -> None:
    with pytest.raises(InvalidPayloadError) as err:
        reconcile(ChargingStation(1), {}, now=NOW, compare="bytes")  # type: ignore[arg-type]
    assert (err.value.path, err.value.rule) == ("compare", "enum")
    with pytest.raises(InvalidPayloadError) as err:
        reconcile(ChargingStation(1), {}, compare="effect")
    assert (err.value.path, err.value.rule) == ("now", "required")


def test_effect_of_malformed_reported_profiles_is_never_equal() -> None:
    good = stepped(4, NOW - timedelta(minutes=30), [8.0], 1800, with_duration=False)
    s0 = good.charging_schedule[0]
    no_start = good.model_copy(update={"charging_schedule": (
        s0.model_copy(update={"start_schedule": None}),)})
    late_first = stepped(4, NOW - timedelta(hours=1), [16.0, 8.0], 1800, with_duration=False)
    l0 = late_first.charging_schedule[0]
    late_first = late_first.model_copy(update={"charging_schedule": (l0.model_copy(update={
        "charging_schedule_period": tuple(q.model_copy(update={"start_period": q.start_period
                                                              + 5})
                                          for q in l0.charging_schedule_period)}),)})
    no_kind = good.model_copy(update={"charging_profile_kind": ChargingProfileKind.Recurring})
    for reported in (no_start, late_first, no_kind):
        msgs = reconcile({1: [reported]}, {1: [good]}, now=NOW)
        assert [m.action for m in msgs] == ["SetChargingProfile"]
