"""Conversions between current [A] and power [W], in one place, vectorised over numpy arrays.

OCPP expresses AC limits either as current per phase [A] or as total power [W]. For a
balanced AC supply with ``n`` phases at a phase-to-neutral voltage ``V`` [V]:

    P [W] = I [A] * V [V] * n

The defaults are the usual European supply: 230 V, 3 phases. Functions accept scalars or
numpy arrays (``phases`` may vary per element) and return ``float`` for scalar input and
``numpy.ndarray`` otherwise. NaN ("no limit") stays NaN.

>>> amps_to_watts(16.0)
11040.0
>>> watts_to_amps(7360.0, phases=1)
32.0
>>> convert(11040.0, "W", "A")
16.0
"""

from __future__ import annotations

from typing import overload

import numpy as np
import numpy.typing as npt

from smartcharge.errors import UnitConversionError
from smartcharge.model.enums import ChargingRateUnit

__all__ = [
    "DEFAULT_PHASES",
    "DEFAULT_VOLTAGE",
    "amps_to_watts",
    "convert",
    "watts_to_amps",
]

DEFAULT_VOLTAGE: float = 230.0
"""Default phase-to-neutral supply voltage [V]."""
DEFAULT_PHASES: int = 3
"""Default number of phases of an AC supply."""

ArrayLike = float | int | npt.NDArray[np.floating] | npt.NDArray[np.integer]


def _factor(phases: ArrayLike, voltage: float) -> npt.NDArray[np.float64]:
    v = np.asarray(voltage, dtype=np.float64)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise UnitConversionError(
            f"supply voltage must be a positive finite number [V], got {voltage!r}",
            path="supply_voltage",
            rule="positive",
        )
    ph = np.asarray(phases, dtype=np.float64)
    if np.any(~np.isin(ph, (1.0, 2.0, 3.0))):
        raise UnitConversionError(
            f"number of phases must be 1, 2 or 3, got {phases!r}",
            path="phases",
            rule="1..3",
        )
    return np.asarray(ph * v, dtype=np.float64)


@overload
def amps_to_watts(amps: float, phases: int = ..., voltage: float = ...) -> float: ...
@overload
def amps_to_watts(
    amps: npt.NDArray[np.floating], phases: ArrayLike = ..., voltage: float = ...
) -> npt.NDArray[np.float64]: ...
def amps_to_watts(
    amps: ArrayLike, phases: ArrayLike = DEFAULT_PHASES, voltage: float = DEFAULT_VOLTAGE
) -> float | npt.NDArray[np.float64]:
    """Total power [W] of ``amps`` [A per phase] on ``phases`` phases at ``voltage`` [V]."""
    out = np.asarray(amps, dtype=np.float64) * _factor(phases, voltage)
    return float(out) if out.ndim == 0 else out


@overload
def watts_to_amps(watts: float, phases: int = ..., voltage: float = ...) -> float: ...
@overload
def watts_to_amps(
    watts: npt.NDArray[np.floating], phases: ArrayLike = ..., voltage: float = ...
) -> npt.NDArray[np.float64]: ...
def watts_to_amps(
    watts: ArrayLike, phases: ArrayLike = DEFAULT_PHASES, voltage: float = DEFAULT_VOLTAGE
) -> float | npt.NDArray[np.float64]:
    """Current [A per phase] that gives ``watts`` [W] on ``phases`` phases at ``voltage`` [V]."""
    out = np.asarray(watts, dtype=np.float64) / _factor(phases, voltage)
    return float(out) if out.ndim == 0 else out


@overload
def convert(
    value: float,
    from_unit: ChargingRateUnit | str,
    to_unit: ChargingRateUnit | str,
    phases: int = ...,
    voltage: float = ...,
) -> float: ...
@overload
def convert(
    value: npt.NDArray[np.floating],
    from_unit: ChargingRateUnit | str,
    to_unit: ChargingRateUnit | str,
    phases: ArrayLike = ...,
    voltage: float = ...,
) -> npt.NDArray[np.float64]: ...
def convert(
    value: ArrayLike,
    from_unit: ChargingRateUnit | str,
    to_unit: ChargingRateUnit | str,
    phases: ArrayLike = DEFAULT_PHASES,
    voltage: float = DEFAULT_VOLTAGE,
) -> float | npt.NDArray[np.float64]:
    """Convert ``value`` from ``from_unit`` to ``to_unit`` (each ``"A"`` or ``"W"``)."""
    src, dst = rate_unit(from_unit), rate_unit(to_unit)
    if src is dst:
        out = np.asarray(value, dtype=np.float64)
        _factor(phases, voltage)  # still validate the arguments
        return float(out) if out.ndim == 0 else out.copy()
    if src is ChargingRateUnit.A:
        return amps_to_watts(value, phases, voltage)  # type: ignore[arg-type]
    return watts_to_amps(value, phases, voltage)  # type: ignore[arg-type]


def rate_unit(unit: ChargingRateUnit | str) -> ChargingRateUnit:
    """Coerce ``"A"``/``"W"`` into a :class:`ChargingRateUnit`, with a clear error otherwise."""
    try:
        return ChargingRateUnit(unit)
    except ValueError:
        raise UnitConversionError(
            f"charging rate unit must be 'A' or 'W', got {unit!r}",
            path="chargingRateUnit",
            rule="enum",
        ) from None
