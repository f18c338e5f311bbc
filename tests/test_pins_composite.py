"""Pins of issue 13, round 4: behaviours of ``composite`` and ``station`` that a fresh
mutation sample (seed 1) showed untested. One test each, named for the behaviour a user
relies on; the expected values are worked out by hand in the docstrings, never read back
from the code under test."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcharge.composite import composite_schedule
from smartcharge.errors import StationError
from smartcharge.model import ChargingProfile
from smartcharge.station import ChargingStation
from smartcharge.validation import EVSEInfo

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


def test_a_long_composite_starts_at_zero_and_merges_equal_neighbours() -> None:
    """A TxDefaultProfile of 80 one-minute periods whose limits come in equal pairs (10,
    10, 16, 16, ...): over 80 minutes the composite has 80 cells, more than the 64 above
    which equal neighbours are merged in numpy, and gives 40 periods of two minutes, the
    first at 0 with 10 A, then 16 A at 120 s, 10 A at 240 s, ..."""
    periods = [{"startPeriod": 60 * k, "limit": 10.0 if (k // 2) % 2 == 0 else 16.0}
               for k in range(80)]
    profile = ChargingProfile.model_validate({
        "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                              "startSchedule": "2024-01-01T08:00:00Z",
                              "chargingSchedulePeriod": periods}]})
    c = composite_schedule({1: [profile]}, 1, T0, 80 * 60, "A", evse_ids=[1])
    # catches: the numpy merge's first cell not marked as a change ("change[0] = True" ->
    # "change[1] = True": the first period lost whenever np.empty's garbage is False)
    assert [(p.start_period, p.limit) for p in c.charging_schedule_period] == [
        (120 * k, 10.0 if k % 2 == 0 else 16.0) for k in range(40)]


# ---------------------------------------------------------------- station


def test_station_evse_map_reports_a_bad_numbered_evse_before_a_stray_key() -> None:
    """An EVSE map with a bad numbered key (0) and a stray non-integer key: the error names
    the numbered one, ``evses[0]``, whichever was inserted first (numbered EVSEs are
    checked first, then the other keys)."""
    for evses in ({"x": EVSEInfo(), 0: EVSEInfo()}, {0: EVSEInfo(), "x": EVSEInfo()}):
        with pytest.raises(StationError) as err:
            ChargingStation(evses=evses)  # type: ignore[arg-type]
        # catches: the key order's "not isinstance(k, int)" -> "isinstance" (stray keys
        # first: evses['x'])
        assert err.value.path == "evses[0]"


def test_station_unknown_evse_error_lists_the_evses_it_has() -> None:
    """Starting a transaction on EVSE 9 of a two-EVSE station names both EVSEs it has; on a
    station without EVSEs it says so."""
    with pytest.raises(StationError) as err:
        ChargingStation(evses=2).start_transaction(9, "tx", T0)
    # catches: the list "join(...) or 'none'" -> "and 'none'" (always "none")
    assert (err.value.path, err.value.rule) == ("evseId", "K01.FR.28")
    assert "(EVSEs: 1, 2)" in err.value.message
    with pytest.raises(StationError) as err:
        ChargingStation(evses=0).start_transaction(1, "tx", T0)
    assert "(EVSEs: none)" in err.value.message


def _external(pid: int, periods: list[dict[str, float]], start: str) -> ChargingProfile:
    return ChargingProfile.model_validate({
        "id": pid, "stackLevel": 0, "chargingProfilePurpose":
        "ChargingStationExternalConstraints", "chargingProfileKind": "Absolute",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "startSchedule": start,
                              "chargingSchedulePeriod": periods}]})


@pytest.mark.parametrize("minutes", [4, 400])
def test_same_level_tie_goes_to_the_period_that_started_earlier(minutes: int) -> None:
    """"Two periods at the same level: the one that started earlier wins." EVSE 1's
    external constraint changes every minute from 08:00 (10, 11, 10, ... A); EVSE 0's, at
    the same stack level, holds 20 A since 07:00. At every instant EVSE 0's period started
    earlier, so the whole window is 20 A: one period. With 400 minutes (400 cells x 401
    segments, above the one-matrix limit) the composite takes its per-profile path, with 4
    the one-matrix path."""
    own = _external(7, [{"startPeriod": 60 * k, "limit": 10.0 + k % 2}
                        for k in range(minutes)], "2024-01-01T08:00:00Z")
    station = _external(3, [{"startPeriod": 0, "limit": 20.0}], "2024-01-01T07:00:00Z")
    c = composite_schedule({1: [own], 0: [station]}, 1, T0, 60 * minutes, "A", evse_ids=[1])
    # catches: the per-profile path's "if ties:" negated (the lower rank, EVSE 1's own
    # profile, wins every tie)
    assert [(p.start_period, p.limit) for p in c.charging_schedule_period] == [(0, 20.0)]
