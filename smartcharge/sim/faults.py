"""Faults of a simulation: stations offline, requests lost, late or rejected, clock drift.

Everything random is drawn from one ``numpy`` generator seeded by :attr:`Faults.seed`, in
the order the requests are sent, so a simulation is the same byte for byte when run again.

- :class:`Outage`: a station is offline for ``[start, end)``: requests sent to it get no
  answer (``Timeout`` after the simulation's timeout), its events (transactions, meter
  values) wait and reach the strategy when it is back; with ``reboot`` it loses its
  TxProfiles (volatile) at the outage's start and falls back to what it keeps: its
  TxDefault / ChargingStationMax profiles, or its default limit.
- ``lost``: the share of requests lost on the way (no answer: ``Timeout``);
- ``rejected``: the share the station answers ``Rejected`` without applying;
- ``late``: the share applied and answered ``late_s`` seconds after they were sent;
- ``drift_s``: station id -> its clock's offset [s] (+: ahead). The station judges
  profiles and computes its composite schedule on its own clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np

from smartcharge.errors import InvalidProblemError

__all__ = ["Fate", "Faults", "Outage"]

Fate = Literal["ok", "lost", "rejected", "late"]


@dataclass(frozen=True)
class Outage:
    """Station ``station_id`` is offline in ``[start, end)`` (aware datetimes)."""

    station_id: str
    start: datetime
    end: datetime
    reboot: bool = True

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidProblemError("must be an aware datetime", path="start",
                                      rule="timezone")
        if self.end <= self.start:
            raise InvalidProblemError("end must be after start", path="end", rule="window")


def _share(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.0 <= float(value) <= 1.0:
        raise InvalidProblemError(f"must be a probability in [0, 1], got {value!r}",
                                  path=path, rule="range")
    return float(value)


@dataclass(frozen=True)
class Faults:
    """The faults of one simulation (none by default).

    Raises
    ------
    InvalidProblemError
        Probabilities outside [0, 1] or summing above 1, a negative delay, a non-finite
        drift (each named by its field).
    """

    outages: tuple[Outage, ...] = ()
    lost: float = 0.0
    rejected: float = 0.0
    late: float = 0.0
    late_s: int = 120
    drift_s: Mapping[str, int] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        total = sum(_share(getattr(self, n), n) for n in ("lost", "rejected", "late"))
        if total > 1.0 + 1e-12:
            raise InvalidProblemError(f"lost + rejected + late must be <= 1, got {total}",
                                      path="late", rule="range")
        if isinstance(self.late_s, bool) or not isinstance(self.late_s, int) or self.late_s < 0:
            raise InvalidProblemError(f"must be an int >= 0, got {self.late_s!r}",
                                      path="late_s", rule="range")
        for k, v in self.drift_s.items():
            if isinstance(v, bool) or not isinstance(v, int) or not math.isfinite(v):
                raise InvalidProblemError(f"must be a whole number of seconds, got {v!r}",
                                          path=f"drift_s[{k!r}]", rule="type")
        object.__setattr__(self, "outages", tuple(self.outages))

    def offline(self, station_id: str, t: datetime) -> Outage | None:
        """The outage of ``station_id`` in force at ``t``, if any."""
        for o in self.outages:
            if o.station_id == station_id and o.start <= t < o.end:
                return o
        return None

    def fate(self, rng: np.random.Generator) -> Fate:
        """What happens to the next request (one draw from ``rng`` when a share is set)."""
        if self.lost == self.rejected == self.late == 0.0:
            return "ok"
        u = float(rng.random())
        if u < self.lost:
            return "lost"
        if u < self.lost + self.rejected:
            return "rejected"
        if u < self.lost + self.rejected + self.late:
            return "late"
        return "ok"
