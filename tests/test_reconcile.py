"""reconcile(): minimal SetChargingProfile/ClearChargingProfile lists, idempotent by
construction; stable ids; replace vs stack; apply(); properties on generated stations."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp_schemas import assert_valid

from smartcharge.errors import InvalidPayloadError
from smartcharge.model import ChargingProfile, ChargingProfilePurpose
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


def composites(station: ChargingStation) -> list[Any]:
    out = []
    for e in (0, *station.evse_ids):
        for unit in ("A", "W"):
            out.append(station.composite_schedule(e, NOW - timedelta(hours=1), 3 * 86_400, unit))
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
    current, desired, reference = case
    msgs = reconcile(current, desired, now=NOW)
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
    assert reconcile(after, desired, now=NOW) == []
    assert apply(after, msgs, NOW) == after
    # deterministic, byte for byte, whatever the order of the mapping
    again = reconcile(current.copy(), dict(reversed(list(desired.items()))), now=NOW)
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
