"""A <-> W conversions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcharge import UnitConversionError, amps_to_watts, convert, watts_to_amps


def test_known_values() -> None:
    assert amps_to_watts(16.0) == 16 * 230 * 3
    assert amps_to_watts(32.0, phases=1) == 7360.0
    assert watts_to_amps(11040.0) == 16.0
    assert watts_to_amps(2300.0, phases=1, voltage=230.0) == 10.0
    assert convert(10.0, "A", "W", phases=1, voltage=240.0) == 2400.0
    assert convert(10.0, "W", "W") == 10.0


def test_vectorised_with_per_element_phases_and_nan() -> None:
    amps = np.array([16.0, 16.0, np.nan])
    watts = amps_to_watts(amps, phases=np.array([3, 1, 3]))
    np.testing.assert_array_equal(watts[:2], [11040.0, 3680.0])
    assert np.isnan(watts[2])


@given(
    st.floats(0, 1e6, allow_nan=False),
    st.sampled_from([1, 2, 3]),
    st.floats(100, 480, allow_nan=False),
)
def test_round_trip(value: float, phases: int, voltage: float) -> None:
    back = watts_to_amps(amps_to_watts(value, phases, voltage), phases, voltage)
    assert back == pytest.approx(value, rel=1e-12, abs=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"phases": 4}, "phases"),
        ({"phases": 0}, "phases"),
        ({"voltage": 0.0}, "supply_voltage"),
        ({"voltage": float("nan")}, "supply_voltage"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(UnitConversionError) as info:
        amps_to_watts(10.0, **kwargs)  # type: ignore[arg-type]
    assert info.value.path == field
    assert isinstance(info.value, ValueError)


def test_bad_unit() -> None:
    with pytest.raises(UnitConversionError, match="'kW'"):
        convert(1.0, "kW", "A")
