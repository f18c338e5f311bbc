"""EVSEs of a simulation: the pilot an EVSE really signals for a limit.

A station computes its composite limit in A per phase; its EVSE turns that into a pilot
current. Some EVSEs can signal any value (``continuous``), others only a few (ClipperCreek:
0, 8, 16, 24, 32 A). The EVSE always rounds **down** to what it can do (never above the
limit), caps at its maximum current, and signals 0 below its minimum.

>>> import numpy as np
>>> PilotModel(allowed_a=(0.0, 8.0, 16.0, 24.0, 32.0)).pilot(
...     "e1", np.array([7.9, 8.0, 23.5, 40.0]), max_a=32.0, min_a=0.0).tolist()
[0.0, 8.0, 16.0, 32.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from smartcharge.errors import InvalidProblemError

__all__ = ["PilotModel"]

FloatArray = npt.NDArray[np.float64]


def _check_values(values: object, path: str) -> tuple[float, ...] | None:
    if values is None:
        return None
    if not isinstance(values, (tuple, list)) or not values:
        raise InvalidProblemError("must be a non-empty tuple of currents [A] or None",
                                  path=path, rule="type")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v < 0:
            raise InvalidProblemError(f"must be a finite current >= 0, got {v!r}",
                                      path=f"{path}[{i}]", rule="range")
        out.append(float(v))
    return tuple(sorted(set(out)))


@dataclass(frozen=True)
class PilotModel:
    """The pilot values EVSEs can signal.

    Attributes
    ----------
    allowed_a
        The values [A] every EVSE accepts, or ``None`` for continuous pilots.
    per_evse
        EVSE id (the site's key, ``"station/evse"``) -> its own allowed values (or ``None``),
        overriding ``allowed_a``.

    Raises
    ------
    InvalidProblemError
        A negative, non-finite or empty set of values (named by its path).
    """

    allowed_a: tuple[float, ...] | None = None
    per_evse: Mapping[str, tuple[float, ...] | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_a", _check_values(self.allowed_a, "allowed_a"))
        object.__setattr__(self, "per_evse", {
            str(k): _check_values(v, f"per_evse[{k!r}]") for k, v in self.per_evse.items()
        })

    def values_for(self, evse_id: str) -> tuple[float, ...] | None:
        """The allowed values of one EVSE (``None``: continuous)."""
        return self.per_evse.get(evse_id, self.allowed_a)

    def pilot(self, evse_id: str, limit_a: FloatArray, *, max_a: float,
              min_a: float) -> FloatArray:
        """The pilot [A] of EVSE ``evse_id`` for each limit in ``limit_a`` [A per phase].

        ``min(limit, max_a)`` rounded down to an allowed value; 0 below ``min_a`` (the EVSE
        cannot signal less than its minimum, so it stops).
        """
        x = np.minimum(np.maximum(np.asarray(limit_a, dtype=np.float64), 0.0), max_a)
        values = self.values_for(evse_id)
        if values is not None:
            grid = np.asarray((0.0, *values), dtype=np.float64)
            # a hair of tolerance so that 16.0 computed as 15.999999999 still gives 16
            k = np.searchsorted(grid, x + 1e-9, side="right") - 1
            x = grid[np.maximum(k, 0)]
        return np.asarray(np.where(x < min_a - 1e-9, 0.0, x), dtype=np.float64)
