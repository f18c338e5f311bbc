"""Pins found by mutation testing (issue 13, round 4) in ``units`` and ``model/types``:
behaviours no test held before -- scalar in, float out; the voltage rule's exact edge; a
bad phase count inside an array; the strict 1..3 phases and 0..100 % fields; and
``CompositeSchedule``'s offsets and period lookup at their edges."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from smartcharge import UnitConversionError, amps_to_watts, convert, watts_to_amps
from smartcharge.model.types import (
    ChargingSchedulePeriod,
    CompositeSchedule,
    DCChargingParameters,
)

# ---- units ---------------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda x: amps_to_watts(x, 1),
    lambda x: watts_to_amps(x, 1),
    lambda x: convert(x, "A", "W", 1),
    lambda x: convert(x, "W", "A", 1),
    lambda x: convert(x, "W", "W", 1),
])
def test_a_scalar_gives_a_float_and_an_array_gives_an_array(call: Any) -> None:
    """The module's documented contract: ``float`` for scalar input (so it serialises to JSON
    and compares as a number), ``numpy.ndarray`` of the same shape otherwise."""
    # catches: the `out.ndim == 0` test of each function mutated (a 0-d array or an error)
    got = call(10.0)
    assert type(got) is float
    arr = call(np.array([10.0, 20.0]))
    assert isinstance(arr, np.ndarray)
    assert arr.shape == (2,)


def test_any_positive_voltage_is_accepted_and_zero_is_not() -> None:
    """The supply-voltage rule is "positive": 0.5 V and 1 V convert, 0 V does not."""
    # catches: the rule's edge `v <= 0` moved to `v <= 1`
    assert amps_to_watts(10.0, phases=1, voltage=0.5) == 5.0
    assert watts_to_amps(10.0, phases=1, voltage=1.0) == 10.0
    with pytest.raises(UnitConversionError) as info:
        amps_to_watts(10.0, phases=1, voltage=0.0)
    assert (info.value.path, info.value.rule) == ("supply_voltage", "positive")


def test_one_bad_phase_count_in_an_array_is_an_error_naming_phases() -> None:
    """Per-element phases: a single 4 among valid counts is refused, not converted."""
    # catches: `np.any(~isin(...))` -> `np.all(...)` (only an all-bad array refused)
    with pytest.raises(UnitConversionError) as info:
        amps_to_watts(np.array([10.0, 10.0]), phases=np.array([3, 4]))
    assert (info.value.path, info.value.rule) == ("phases", "1..3")


# ---- model/types: the strict small-integer fields -------------------------------------------


@pytest.mark.parametrize("value", ["3", 3.0, True, 0, 4])
def test_number_phases_is_a_strict_integer_from_1_to_3(value: Any) -> None:
    """numberPhases / phaseToUse are JSON integers 1..3: a string, a float or a bool is not
    coerced (the official schema's "integer"), 0 and 4 are out of range."""
    # catches: the Phases type's `strict=True` -> False (and its bounds)
    for field in ("numberPhases", "phaseToUse"):
        with pytest.raises(ValidationError):
            ChargingSchedulePeriod.model_validate(
                {"startPeriod": 0, "limit": 1.0, "numberPhases": 1, field: value})


@pytest.mark.parametrize("value", ["50", 50.0, True, -1, 101])
def test_states_of_charge_are_strict_percentages(value: Any) -> None:
    """stateOfCharge, fullSoC and bulkSoC are integers 0..100, not coerced."""
    # catches: the Percent type's `strict=True` -> False, `ge=0` -> 1, `le=100` -> 101
    for field in ("stateOfCharge", "fullSoC", "bulkSoC"):
        with pytest.raises(ValidationError):
            DCChargingParameters.model_validate(
                {"evMaxCurrent": 100, "evMaxVoltage": 400, field: value})


def test_states_of_charge_take_0_and_100() -> None:
    for field in ("stateOfCharge", "fullSoC", "bulkSoC"):
        for v in (0, 100):
            m = DCChargingParameters.model_validate(
                {"evMaxCurrent": 100, "evMaxVoltage": 400, field: v})
            assert m.model_dump(by_alias=True, exclude_none=True)[field] == v


# ---- model/types: CompositeSchedule's time lookups ------------------------------------------

START = datetime(2024, 3, 1, 8, 0, tzinfo=timezone.utc)


def _composite(duration: int = 3 * 86_400) -> CompositeSchedule:
    return CompositeSchedule.model_validate({
        "evseId": 1, "duration": duration, "scheduleStart": START.isoformat(),
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0},
                                   {"startPeriod": 86_400 + 60, "limit": 8.0}],
    })


def test_composite_offsets_count_whole_days_and_seconds_from_datetimes_and_epochs() -> None:
    """``offset_of`` is the floored seconds from scheduleStart, the same for an aware
    datetime and for its epoch seconds, across days and before the start."""
    # catches: the day length 86_400 nudged, `days * 86_400 + seconds` operators swapped, the
    # epoch's 1970-01-01 nudged (the int path)
    c = _composite()
    for dt_s in (0, 59, 86_400 + 61, 2 * 86_400 + 3_601, -1, -86_400 - 5):
        t = START + timedelta(seconds=dt_s)
        epoch = int(t.timestamp())
        assert c.offset_of(t) == dt_s
        assert c.offset_of(epoch) == dt_s
    assert c.offset_of(START + timedelta(seconds=10.75)) == 10  # floored


def test_composite_period_lookup_at_its_edges() -> None:
    """The window is [scheduleStart, scheduleStart + duration): its first second has the
    first period, the second period starts exactly at its startPeriod, the last second is
    in, the end and anything before the start are out (None, and NaN from value_at)."""
    # catches: `offset < 0 or offset >= duration` loosened or negated; the bisect's `- 1`
    # or the `index >= 0` test changed
    c = _composite()
    at = {s: c.period_at(START + timedelta(seconds=s)) for s in
          (0, 86_400 + 59, 86_400 + 60, 3 * 86_400 - 1, 3 * 86_400, -1)}
    assert at[0] is not None and at[0].limit == 16.0
    assert at[86_400 + 59] is not None and at[86_400 + 59].limit == 16.0
    assert at[86_400 + 60] is not None and at[86_400 + 60].limit == 8.0
    assert at[3 * 86_400 - 1] is not None and at[3 * 86_400 - 1].limit == 8.0
    assert at[3 * 86_400] is None and at[-1] is None
    assert c.value_at(START) == 16.0
    assert math.isnan(c.value_at(START + timedelta(days=3)))
    epoch = int(START.timestamp())
    assert c.value_at(epoch + 86_400 + 60) == 8.0
    assert math.isnan(c.value_at(epoch - 1))


# ---- schedule ------------------------------------------------------------------------------


def test_an_empty_schedule_may_be_given_one_edge_or_none() -> None:
    """No segments with a single edge (e.g. ``np.append(starts, end)`` of no periods) is the
    empty schedule; two edges and no value are an error naming ``edges``."""
    # catches: the empty case's `e.size > 1` -> `>= 1`
    from smartcharge.errors import ScheduleError
    from smartcharge.schedule import Schedule

    assert Schedule([1_000], []) == Schedule.empty()
    assert len(Schedule([1_000], [])) == 0
    with pytest.raises(ScheduleError) as info:
        Schedule([1_000, 2_000], [])
    assert (info.value.path, info.value.rule) == ("edges", "n+1")


def test_a_one_period_composite_becomes_a_one_segment_schedule_keeping_its_phases() -> None:
    """``Schedule.from_composite`` of a single period spans the whole window and keeps the
    period's numberPhases (0 where it is absent)."""
    # catches: the last end taken from `starts[-2]`; `number_phases or 0` -> `and 0`
    from smartcharge.schedule import Schedule

    c = CompositeSchedule.model_validate({
        "evseId": 1, "duration": 900, "scheduleStart": "1970-01-01T00:10:00Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0, "numberPhases": 1}],
    })
    s = Schedule.from_composite(c)
    assert s.edges.tolist() == [600, 1_500]
    assert s.values.tolist() == [10.0]
    assert s.phases.tolist() == [1]
    two = c.model_copy(update={"charging_schedule_period": (
        ChargingSchedulePeriod(start_period=0, limit=10.0),
        ChargingSchedulePeriod(start_period=300, limit=6.0, number_phases=2))})
    s2 = Schedule.from_composite(two)
    assert s2.edges.tolist() == [600, 900, 1_500]
    assert s2.phases.tolist() == [0, 2]


@pytest.mark.parametrize("t", [True, "08:00", 1.5])
def test_composite_lookups_refuse_a_time_that_is_neither_a_datetime_nor_an_int(t: Any) -> None:
    """A bool is not epoch seconds, nor a string or a float: a ScheduleError naming ``t``
    and the rule, never a bare TypeError or a lookup at second 1."""
    # catches: `isinstance(t, bool) or not isinstance(t, int)` -> `and`
    from smartcharge.errors import ScheduleError

    with pytest.raises(ScheduleError) as info:
        _composite().offset_of(t)
    assert (info.value.path, info.value.rule) == ("t", "type")


@pytest.mark.parametrize("value", ["5000", 5000.0, True])
def test_strict_integer_fields_of_the_charging_needs_take_json_integers_only(value: Any) -> None:
    """energyAmount, evMinCurrent, evMaxCurrent, evMaxVoltage are JSON integers: a string,
    a float (even a whole one) or a bool is refused, not coerced."""
    # catches: StrictInteger's `strict=True` -> False
    from smartcharge.model.types import ACChargingParameters

    good = {"energyAmount": 5000, "evMinCurrent": 6, "evMaxCurrent": 32, "evMaxVoltage": 400}
    assert ACChargingParameters.model_validate(good).energy_amount == 5000
    for field in good:
        with pytest.raises(ValidationError):
            ACChargingParameters.model_validate({**good, field: value})


def test_one_decimal_limits_tolerate_float_noise_relative_to_their_size() -> None:
    """OCPP limits have at most one fraction digit; a value computed in floating point that is
    one ulp off a one-decimal number (1,000,000,000.1 + 1 ulp: x10 is 1.9e-6 off a whole
    number) is still accepted -- the tolerance is 1e-6 of the value, at least 1e-6 -- while
    0.10000015 (1.5e-6 off after x10) has a second significant fraction and is refused."""
    # catches: the tolerance `1e-6 * max(1.0, |v|)` -> `/`, `min`, or `max(2.0, ...)`
    noisy = math.nextafter(1_000_000_000.1, math.inf)
    assert abs(noisy * 10 - round(noisy * 10)) > 1e-6  # the noise this test is about
    period = ChargingSchedulePeriod.model_validate({"startPeriod": 0, "limit": noisy})
    assert period.limit == noisy
    with pytest.raises(ValidationError, match="one digit fraction"):
        ChargingSchedulePeriod.model_validate({"startPeriod": 0, "limit": 0.10000015})


@pytest.mark.parametrize("value", ["1.5", float("nan"), float("inf"), True])
def test_a_consumption_blocks_start_value_is_a_finite_json_number(value: Any) -> None:
    """ConsumptionCost.startValue [kWh] is a finite number: not a string (not coerced), not
    NaN or infinite, not a bool."""
    # catches: FiniteFloat's `strict=True` -> False and `allow_inf_nan=False` -> True
    from smartcharge.model.types import ConsumptionCost

    cost = [{"costKind": "CarbonDioxideEmission", "amount": 1}]
    assert ConsumptionCost.model_validate({"startValue": 1.5, "cost": cost}).start_value == 1.5
    with pytest.raises(ValidationError):
        ConsumptionCost.model_validate({"startValue": value, "cost": cost})


@pytest.mark.parametrize("text", ["2024001T10", "20240101T100000Z", "2024-W01-1T10:00:00Z",
                                  "2024-01-01T10:00:00Z", " 2024-01-01T10:00:00Z "])
def test_parse_datetime_reads_the_iso_8601_forms_it_documents(text: str) -> None:
    """``parse_datetime`` accepts RFC 3339 and ISO 8601 strings (its docstring): the basic,
    ordinal and week forms of 1 January 2024, 10:00 UTC, down to the shortest, the
    10-character ordinal ``2024001T10``. Shorter strings, or strings without a ``T``, are
    refused before parsing."""
    # catches: the pre-filter `len(text) < 10` -> `<= 10` or `< 11`
    from smartcharge.model._base import parse_datetime

    assert parse_datetime(text) == datetime(2024, 1, 1, 10, tzinfo=timezone.utc)
    for bad in ("2024-01-01", "2024001T1", "T10:00:00Z"):
        with pytest.raises(ValueError, match="not an RFC 3339 date-time"):
            parse_datetime(bad)
