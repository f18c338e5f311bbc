"""Pins of issue 13, round 4: behaviours of ``composite`` and ``station`` that a fresh
mutation sample (seed 1) showed untested. One test each, named for the behaviour a user
relies on; the expected values are worked out by hand in the docstrings, never read back
from the code under test."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from smartcharge.composite import composite_schedule
from smartcharge.model import ChargingProfile

T0 = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)


def _tx_default(pid: int, limit_a: float, *, stack: int = 0,
                start: str = "2024-01-01T08:00:00Z") -> ChargingProfile:
    return ChargingProfile.model_validate({
        "id": pid, "stackLevel": stack, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "startSchedule": start,
                              "chargingSchedulePeriod": [{"startPeriod": 0,
                                                          "limit": limit_a}]}]})


def _periods(installed: dict[int, list[ChargingProfile]]) -> list[tuple[int, float]]:
    c = composite_schedule(installed, 1, T0, 3600, "A", evse_ids=[1])
    return [(p.start_period, p.limit) for p in c.charging_schedule_period]


# Three profiles sharing id 7 and stack level 0 on EVSE 1 (a CSMS's duplicate, which the
# pure function accepts), all from 08:00: 10, 20 and 30 A. Ties at one stack level and one
# start go to the canonical order, which for equal (id, stackLevel) is the profiles' JSON:
# '..."limit":10.0...' sorts first, so 10 A wins whatever order they are listed in.
_DUPLICATES = [_tx_default(7, 10.0), _tx_default(7, 20.0), _tx_default(7, 30.0)]


@given(st.permutations(_DUPLICATES))
def test_composite_does_not_depend_on_the_order_of_duplicate_profiles(
    listed: list[ChargingProfile],
) -> None:
    """Same input in any order, same output: 10 A for the whole hour."""
    # catches: the tie fallback of the canonical order skipped (the first listed wins)
    assert _periods({1: list(listed)}) == [(0, 10.0)]
